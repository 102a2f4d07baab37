//! Collection positions: how far each node's log had come when it agreed to forget a
//! tombstone, kept by every replica of the key before any of them forgets it, so that a
//! node restarted on an older copy of its log learns from any one of its peers that the
//! copy is stale (`verify`).
//!
//! A node agreeing to a collection (`collect`) holds the tombstones durably, so its log is
//! durable past them: its `CollectReply` carries its log's id and durable end. The proposer
//! records every agreeing node's position and its own (a `Positions` record), sends them to
//! every other node that may hold the key (`CollectRecord`), and forgets the key only once
//! each has answered that it recorded them durably (`CollectRecorded`). So whenever any
//! node has forgotten a tombstone, every node that may hold the key knows a position of
//! each agreeing node's log past that node's own tombstone. A copy of a log that ends
//! before such a position may hold a version the tombstone replaced and no tombstone: it
//! must not be trusted. One that ends at or past every recorded position held every
//! tombstone it agreed to forget.
//!
//! A node's log is replaced by a new one (a new id) when it starts on an empty disk or sets
//! a log aside; a copy of an earlier log may be restored after that, and its own positions
//! say nothing of the collections the later log agreed to. So each log is named with the
//! time its node started it (`LogRef`), and each node also keeps the logs it has heard of:
//! a log is *registered* when its node starts on it, once it is trusted (`PositionAsk` with
//! `register`, until each peer confirmed), or when a position of it is first recorded (it
//! is the log that agreed). A log trusted at a restart is named anew as started then
//! (`Journal::restart_log`): it is the node's newest from then on, so a peer that learns
//! of a log that died before it was trusted cannot later find it superseded (a copy of it
//! taken before the restart is, as it should be). A log that a later-started log of its node is known beside is
//! *superseded*: a restart on it is not trusted. Their start times order a node's logs
//! whatever order their messages arrive in (a position recorded late for an older log
//! cannot make the newer one look older), and a peer that knows any later log of the node
//! knows the log it is asked about is older, even if it never heard of that one.
//!
//! A peer that knows no log of the node (its own disk was replaced since, say) knows
//! nothing of the order, and one whose own log is still being verified may hold an older
//! copy's table: either's answer can condemn (what it recorded did happen) but vouches for
//! nothing, and the restart waits for another's (`verify`). So does a log started at the
//! same moment as a known other one, which cannot be ordered. Setting a log aside
//! needlessly would lose the writes it acknowledged since its start, so only a known order
//! condemns one; and trusting an older copy lets it take writes that a later verification,
//! by a peer that knows better, would set aside with it, so only a table that knows the
//! node's logs vouches for one.
//!
//! The order rests on each node's clock: a node's new log must start after its earlier
//! logs did (the production node's clock is the wall clock; one set back past the start of
//! the node's previous log would make the new log look older than it).

use crate::ids::{LogRef, NodeId};
use crate::limits::{POSITIONS_MAX, POSITIONS_PER_RECORD};
use crate::log::Record;
use std::collections::BTreeMap;

/// A node's log and how far it was durable when the node agreed (0: registered, no
/// agreement yet).
pub(crate) type Position = (NodeId, LogRef, u64);

/// What a node knows of another node's log (`Positions::of`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogKnown {
    pub position: u64,
    pub superseded: bool,
    pub unordered: bool,
}

/// For each node, the logs this node knows of, in the order they were started, each with
/// the largest position recorded for it.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    logs: BTreeMap<NodeId, BTreeMap<LogRef, u64>>,
    len: usize,
}

impl Positions {
    /// The positions recovery read back.
    pub fn new(table: &BTreeMap<(NodeId, LogRef), u64>) -> Positions {
        let mut positions = Positions::default();
        let entries: Vec<Position> = table.iter().map(|(&(n, l), &p)| (n, l, p)).collect();
        positions.record(&entries);
        positions
    }

    /// Registers the logs of `entries` not yet known and raises the recorded positions to
    /// theirs; returns the entries that changed anything (to be logged), empty if none did.
    pub fn record(&mut self, entries: &[Position]) -> Vec<Position> {
        let mut changed = Vec::new();
        for &(node, log, position) in entries {
            let logs = self.logs.entry(node).or_default();
            match logs.get_mut(&log) {
                Some(at) if *at >= position => continue,
                Some(at) => *at = position,
                None => {
                    logs.insert(log, position);
                    self.len += 1;
                    if self.len > POSITIONS_MAX {
                        self.forget_one();
                    }
                }
            }
            changed.push((node, log, position));
        }
        changed
    }

    /// What this node knows of `node`'s log `log`: the largest position recorded for it (0:
    /// none), whether a log of `node` started after it is known (superseded), and whether
    /// this node cannot tell (it knows no log of `node`, or only one started at the same
    /// moment and none later).
    pub fn of(&self, node: NodeId, log: LogRef) -> LogKnown {
        let Some(logs) = self.logs.get(&node).filter(|l| !l.is_empty()) else {
            return LogKnown {
                unordered: true,
                ..LogKnown::default()
            };
        };
        let superseded = logs.keys().any(|l| l.started > log.started);
        let twin = logs
            .keys()
            .any(|l| l.started == log.started && l.id != log.id);
        LogKnown {
            position: logs.get(&log).copied().unwrap_or(0),
            superseded,
            unordered: !superseded && twin,
        }
    }

    /// Past `POSITIONS_MAX`: forgets the earliest log of the node with the most logs (a
    /// restart on it is still found superseded, by the later ones).
    fn forget_one(&mut self) {
        let most = self
            .logs
            .iter()
            .max_by_key(|(_, l)| l.len())
            .map(|(n, _)| *n);
        if let Some(logs) = most.and_then(|node| self.logs.get_mut(&node)) {
            logs.pop_first();
            self.len -= 1;
        }
    }

    /// The records of a snapshot: the whole table.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        let all: Vec<Position> = self
            .logs
            .iter()
            .flat_map(|(n, logs)| logs.iter().map(|(l, p)| (*n, *l, *p)))
            .collect();
        for chunk in all.chunks(POSITIONS_PER_RECORD) {
            let record = Record::Positions {
                entries: chunk.to_vec(),
            };
            record.encode_into(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(position: u64, superseded: bool, unordered: bool) -> LogKnown {
        LogKnown {
            position,
            superseded,
            unordered,
        }
    }

    fn log(started: u64, id: u64) -> LogRef {
        LogRef { started, id }
    }

    #[test]
    fn positions_only_rise_and_say_which_changed() {
        let mut positions = Positions::default();
        let (a, seven) = (NodeId(1), log(10, 7));
        assert_eq!(positions.record(&[(a, seven, 100)]), vec![(a, seven, 100)]);
        assert!(positions.record(&[(a, seven, 90)]).is_empty());
        assert_eq!(positions.record(&[(a, seven, 120)]), vec![(a, seven, 120)]);
        assert_eq!(positions.of(a, seven), known(120, false, false));
        let nothing = positions.of(NodeId(2), seven);
        assert_eq!(nothing, known(0, false, true), "nothing known of node 2");
    }

    #[test]
    fn a_log_started_before_a_known_one_is_superseded_whatever_order_they_arrived_in() {
        let (a, older, newer) = (NodeId(1), log(10, 7), log(20, 8));
        let mut positions = Positions::default();
        positions.record(&[(a, older, 100)]);
        assert_eq!(
            positions.of(a, newer),
            known(0, false, false),
            "nothing later than 8 is known"
        );
        positions.record(&[(a, newer, 0)]); // Log 8 registered: node 1 started on a new disk.
        assert_eq!(positions.of(a, newer), known(0, false, false));
        assert_eq!(positions.of(a, older), known(100, true, false));
        // The other way round: the registration of 8 first, a position of 7 late.
        let mut late = Positions::default();
        late.record(&[(a, newer, 0)]);
        late.record(&[(a, older, 150)]);
        assert_eq!(
            late.of(a, newer),
            known(0, false, false),
            "8 is still the newest"
        );
        assert_eq!(late.of(a, older), known(150, true, false));
        // A log this node never heard of, older than one it knows, is superseded too.
        let unknown = late.of(a, log(5, 3));
        assert_eq!(unknown, known(0, true, false));
        // One started at the same moment as the newest known cannot be ordered.
        assert_eq!(late.of(a, log(20, 9)), known(0, false, true));
    }

    #[test]
    fn a_full_table_forgets_the_earliest_log_of_the_node_with_most_logs() {
        let mut positions = Positions::default();
        for l in 0..POSITIONS_MAX as u64 - 1 {
            positions.record(&[(NodeId(1), log(l, l), 1000 + l)]);
        }
        positions.record(&[(NodeId(2), log(5, 5), 10)]);
        positions.record(&[(NodeId(3), log(5, 5), 10)]);
        assert_eq!(positions.of(NodeId(1), log(1, 1)), known(1001, true, false));
        let gone = positions.of(NodeId(1), log(0, 0));
        assert_eq!(gone, known(0, true, false), "node 1's earliest log went");
        assert_eq!(positions.of(NodeId(2), log(5, 5)), known(10, false, false));
        assert_eq!(positions.of(NodeId(3), log(5, 5)), known(10, false, false));
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_table() {
        let mut positions = Positions::default();
        for i in 1..=600u32 {
            let node = NodeId(i % 7);
            let l = log(u64::from(i % 11), u64::from(1000 - i));
            positions.record(&[(node, l, u64::from(i) * 3)]);
        }
        let mut bytes = Vec::new();
        positions.snapshot(&mut bytes);
        let segments = [crate::log::Segment {
            base: 0,
            bytes: &bytes,
        }];
        let recovered = crate::log::recover_segments(&segments).unwrap();
        let back = Positions::new(&recovered.positions);
        assert_eq!(back.logs, positions.logs);
    }
}
