//! Quorum arithmetic, as one pure function: who was asked, how many must agree, who
//! answered what; the outcome is `Won`, `Pending` or `Lost`. Votes from nodes that were not
//! asked (a stand-in holding a hint, a stray reply) never count. W acknowledgements of a
//! write and R replies of a read are tallied here; bulk prepares and compare-and-set rounds
//! will be too. The cases are a table in `quorum_cases.txt`, as raft-rs tests its majority.

use crate::ids::NodeId;
use std::collections::BTreeSet;

/// One voter's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vote {
    Yes,
    No,
}

/// Where a quorum stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tally {
    /// `needed` eligible voters said yes.
    Won,
    /// Not decided: enough eligible voters have not answered yet.
    Pending,
    /// Too many eligible voters said no (or too few were asked) for `needed` yeses.
    Lost,
}

/// Tallies `votes` from the `eligible` voters, of which `needed` must say yes. A voter
/// counts once (its last vote), and only if eligible.
pub fn tally(
    eligible: &[NodeId],
    needed: usize,
    votes: impl IntoIterator<Item = (NodeId, Vote)>,
) -> Tally {
    let eligible: BTreeSet<NodeId> = eligible.iter().copied().collect();
    let mut yes = BTreeSet::new();
    let mut no = BTreeSet::new();
    for (voter, vote) in votes {
        if !eligible.contains(&voter) {
            continue;
        }
        match vote {
            Vote::Yes => {
                no.remove(&voter);
                yes.insert(voter);
            }
            Vote::No => {
                yes.remove(&voter);
                no.insert(voter);
            }
        }
    }
    if yes.len() >= needed {
        Tally::Won
    } else if eligible.len() - no.len() < needed {
        Tally::Lost
    } else {
        Tally::Pending
    }
}

/// Tallies a set of nodes that all said yes.
pub fn tally_yes<'a>(
    eligible: &[NodeId],
    needed: usize,
    yes: impl IntoIterator<Item = &'a NodeId>,
) -> Tally {
    tally(eligible, needed, yes.into_iter().map(|n| (*n, Vote::Yes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(text: &str) -> Vec<NodeId> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| NodeId(s.trim().parse().expect("a node id")))
            .collect()
    }

    /// Every line of `quorum_cases.txt`: `eligible | needed | votes | outcome`.
    #[test]
    fn tally_follows_the_table() {
        let table = include_str!("quorum_cases.txt");
        let mut cases = 0;
        for (number, line) in table.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(fields.len(), 4, "line {}: {line}", number + 1);
            let eligible = nodes(fields[0]);
            let needed: usize = fields[1].parse().expect("needed");
            let votes: Vec<(NodeId, Vote)> = fields[2]
                .split_whitespace()
                .map(|v| {
                    let (node, vote) = v.split_once(':').expect("node:vote");
                    let vote = match vote {
                        "yes" => Vote::Yes,
                        "no" => Vote::No,
                        other => panic!("line {}: unknown vote {other}", number + 1),
                    };
                    (NodeId(node.parse().expect("a node id")), vote)
                })
                .collect();
            let expected = match fields[3] {
                "won" => Tally::Won,
                "pending" => Tally::Pending,
                "lost" => Tally::Lost,
                other => panic!("line {}: unknown outcome {other}", number + 1),
            };
            assert_eq!(
                tally(&eligible, needed, votes),
                expected,
                "line {}: {line}",
                number + 1
            );
            cases += 1;
        }
        assert!(cases >= 20, "the table has {cases} cases");
    }
}
