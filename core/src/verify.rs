//! Verifying a restarted log: before a node restarted on a log that is not empty lets any
//! of it out (a read reply, an anti-entropy exchange, a hint, a write it coordinates), it
//! asks its peers whether that log could be an older copy of itself that misses tombstones
//! they have since collected (`positions`).
//!
//! The log is trusted up to `trusted_end`: its end at this start, or, if a rebuild was
//! unfinished, the offset of the mark that began it (a rebuilding node agrees to no
//! collection, so nothing past that mark was ever vouched for). The node sends
//! `PositionAsk` with its log's id to every peer that shares a partition with it at the
//! largest N (`Config::replicas_max`), and asks again each heartbeat until answered. A
//! `PositionReply` names the largest position that peer recorded for this log, and whether
//! the peer learned of a later log of this node (`positions`). If the position is past
//! `trusted_end`, or the log is superseded, the log is an older copy than one that agreed to
//! a collection: the node sets it aside and starts again on an empty log, rebuilding
//! (`Node::set_aside_stale`). A peer that knows other logs of this node but not this one
//! cannot order it and vouches for nothing; so does one that knows no log of this node (its
//! disk was replaced since), and one whose own log is still being verified (its table may
//! be an older copy's). If every peer of a partition answers so, none knows of a later log
//! and the log is trusted (a copy of an earlier log whose registration reached none of them
//! is the one case this lets through).
//! Once, for every partition it replicates, one other replica answered with no such
//! position, the log is this node's own as far as collection goes: every node that may hold
//! a key records the positions before any of them forgets it, so one answer per partition
//! is enough. Until then the node answers nothing but these messages and gossip, takes no
//! request (`Starting`), and runs no anti-entropy, handoff, collection or compaction.

use crate::ids::{LogRef, NodeId};
use crate::limits::PARTITIONS;
use crate::node::Config;
use crate::positions::LogKnown;
use crate::ring::Ring;
use std::collections::BTreeSet;

/// A verification in progress.
#[derive(Clone, Debug)]
pub(crate) struct Verify {
    me: NodeId,
    pub log: LogRef,
    pub trusted_end: u64,
    /// Partitions no other replica has answered for yet.
    waiting: BTreeSet<u32>,
    /// The peer that found the log stale, and the position it named (0 if it found the log
    /// superseded).
    pub stale: Option<(NodeId, u64)>,
    /// Peers that answered they cannot order this log among the node's others.
    unordered: BTreeSet<NodeId>,
}

/// What an answer decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Waiting,
    /// Every partition had an answer that vouched for the log (or only unordered ones).
    Trusted,
    /// A peer recorded a position past the trusted end, or knows a later log.
    Stale,
}

impl Verify {
    pub fn new(me: NodeId, ring: &Ring, config: &Config, log: LogRef, trusted_end: u64) -> Self {
        let n = config.replicas_max();
        let waiting = (0..PARTITIONS)
            .filter(|p| {
                let replicas = ring.partition_replicas(*p, n);
                replicas.contains(&me) && replicas.len() > 1
            })
            .collect();
        Verify {
            me,
            log,
            trusted_end,
            waiting,
            stale: None,
            unordered: BTreeSet::new(),
        }
    }

    /// True if no partition waits for an answer (a node with no peer to ask).
    pub fn is_trusted(&self) -> bool {
        self.waiting.is_empty() && self.stale.is_none()
    }

    /// The peers that would cover a partition still waited for.
    pub fn peers_to_ask(&self, ring: &Ring, config: &Config) -> Vec<NodeId> {
        let me = self.me;
        let n = config.replicas_max();
        let mut peers = BTreeSet::new();
        for p in &self.waiting {
            peers.extend(
                ring.partition_replicas(*p, n)
                    .into_iter()
                    .filter(|x| *x != me),
            );
        }
        peers.into_iter().collect()
    }

    /// `from` answered what it knows of this node's log `log` (`Positions::of`). A peer
    /// that cannot order this log among the others it knows of this node vouches for
    /// nothing; if every peer that could cover a partition still waited for answered so,
    /// no peer knows of a later log, and the log is trusted.
    pub fn answer(
        &mut self,
        from: NodeId,
        log: LogRef,
        known: LogKnown,
        ring: &Ring,
        config: &Config,
    ) -> Verdict {
        if log != self.log {
            return Verdict::Waiting; // Meant for another log of this node.
        }
        if known.superseded || known.position > self.trusted_end {
            self.stale = Some((from, known.position));
            return Verdict::Stale;
        }
        let n = config.replicas_max();
        if known.unordered {
            self.unordered.insert(from);
        } else {
            self.waiting
                .retain(|p| !ring.partition_replicas(*p, n).contains(&from));
        }
        let (me, unordered) = (self.me, &self.unordered);
        let all_unordered = self.waiting.iter().all(|p| {
            let others = ring.partition_replicas(*p, n).into_iter();
            others.filter(|x| *x != me).all(|x| unordered.contains(&x))
        });
        if self.waiting.is_empty() || all_unordered {
            Verdict::Trusted
        } else {
            Verdict::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: LogRef = LogRef { started: 10, id: 9 };
    const OTHER: LogRef = LogRef { started: 5, id: 8 };

    fn said(position: u64, superseded: bool) -> LogKnown {
        LogKnown {
            position,
            superseded,
            unordered: false,
        }
    }

    fn nodes(count: u32) -> (Config, Ring) {
        let nodes: Vec<NodeId> = (1..=count).map(NodeId).collect();
        (Config::new(nodes.clone()), Ring::new(&nodes))
    }

    #[test]
    fn in_three_nodes_one_peer_answering_is_enough() {
        let (config, ring) = nodes(3);
        let mut verify = Verify::new(NodeId(1), &ring, &config, LOG, 500);
        assert_eq!(
            verify.peers_to_ask(&ring, &config),
            vec![NodeId(2), NodeId(3)]
        );
        assert_eq!(
            verify.answer(NodeId(3), OTHER, said(900, false), &ring, &config),
            Verdict::Waiting
        );
        assert_eq!(
            verify.answer(NodeId(3), LOG, said(500, false), &ring, &config),
            Verdict::Trusted
        );
    }

    #[test]
    fn a_position_past_the_trusted_end_is_stale() {
        let (config, ring) = nodes(3);
        let mut verify = Verify::new(NodeId(1), &ring, &config, LOG, 500);
        assert_eq!(
            verify.answer(NodeId(2), LOG, said(501, false), &ring, &config),
            Verdict::Stale
        );
        assert_eq!(verify.stale, Some((NodeId(2), 501)));
    }

    #[test]
    fn a_superseded_log_is_stale_whatever_its_position() {
        let (config, ring) = nodes(3);
        let mut verify = Verify::new(NodeId(1), &ring, &config, LOG, 500);
        let verdict = verify.answer(NodeId(2), LOG, said(0, true), &ring, &config);
        assert_eq!(verdict, Verdict::Stale);
    }

    #[test]
    fn an_unordered_answer_vouches_for_nothing_until_every_peer_gave_one() {
        let (config, ring) = nodes(3);
        let mut verify = Verify::new(NodeId(1), &ring, &config, LOG, 500);
        let unordered = LogKnown {
            unordered: true,
            ..LogKnown::default()
        };
        let first = verify.answer(NodeId(2), LOG, unordered, &ring, &config);
        assert_eq!(first, Verdict::Waiting);
        let second = verify.answer(NodeId(3), LOG, unordered, &ring, &config);
        assert_eq!(second, Verdict::Trusted, "no peer knows of a later log");
        let mut verify = Verify::new(NodeId(1), &ring, &config, LOG, 500);
        verify.answer(NodeId(2), LOG, unordered, &ring, &config);
        let known = verify.answer(NodeId(3), LOG, said(0, true), &ring, &config);
        assert_eq!(known, Verdict::Stale, "node 3 knows a later log");
    }

    #[test]
    fn past_the_largest_n_every_partition_needs_an_answer() {
        // Nine nodes: a key's largest N is 7, so a peer covers only the partitions it shares.
        let (config, ring) = nodes(9);
        let mut verify = Verify::new(NodeId(1), &ring, &config, LOG, 500);
        let peers = verify.peers_to_ask(&ring, &config);
        assert_eq!(peers.len(), 8);
        let verdict = verify.answer(peers[0], LOG, said(0, false), &ring, &config);
        assert_eq!(
            verdict,
            Verdict::Waiting,
            "one peer shares only some partitions"
        );
        let left = verify.peers_to_ask(&ring, &config);
        assert!(!left.contains(&peers[0]));
        let mut verdict = Verdict::Waiting;
        for peer in left {
            verdict = verify.answer(peer, LOG, said(0, false), &ring, &config);
        }
        assert_eq!(verdict, Verdict::Trusted);
    }
}
