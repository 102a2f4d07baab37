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
//! say nothing of the collections the later log agreed to. So each node also keeps the
//! order in which it learned of each node's logs: a log is *registered* when its node
//! starts it (`PositionAsk` with `register`, best effort, from a node on a new log) or when
//! a position of it is first recorded (it is the log that agreed). A log that another log
//! of its node was registered after is *superseded*: a restart on it is not trusted. A log
//! unknown to a peer that knows another log of its node may be older or newer (its
//! registration never arrived): that peer's answer vouches for nothing, and the restart
//! waits for another's (`verify`). Setting a log aside needlessly would lose the writes it
//! acknowledged since its start, so only a known order condemns one.

use crate::ids::NodeId;
use crate::limits::{POSITIONS_MAX, POSITIONS_PER_RECORD};
use crate::log::Record;
use std::collections::BTreeMap;

/// A node's log (its id) and how far it was durable when the node agreed (0: registered,
/// no agreement yet).
pub(crate) type Position = (NodeId, u64, u64);

/// What a node knows of another node's log (`Positions::of`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogKnown {
    pub position: u64,
    pub superseded: bool,
    pub unordered: bool,
}

/// For each node, its logs in the order this node learned of them, each with the largest
/// position recorded for it.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    logs: BTreeMap<NodeId, Vec<(u64, u64)>>,
    len: usize,
}

impl Positions {
    /// The positions recovery read back (`order`: the logs in the order they were
    /// registered).
    pub fn new(table: &BTreeMap<(NodeId, u64), u64>, order: &[(NodeId, u64)]) -> Positions {
        let mut positions = Positions::default();
        let entries: Vec<Position> = order
            .iter()
            .map(|&(n, l)| (n, l, table.get(&(n, l)).copied().unwrap_or(0)))
            .collect();
        positions.record(&entries);
        positions
    }

    /// Registers the logs of `entries` not yet known (as the newest of their node) and
    /// raises the recorded positions to theirs; returns the entries that changed anything
    /// (to be logged), empty if none did.
    pub fn record(&mut self, entries: &[Position]) -> Vec<Position> {
        let mut changed = Vec::new();
        for &(node, log_id, position) in entries {
            let logs = self.logs.entry(node).or_default();
            match logs.iter_mut().find(|(l, _)| *l == log_id) {
                Some((_, at)) if *at >= position => continue,
                Some((_, at)) => *at = position,
                None => {
                    logs.push((log_id, position));
                    self.len += 1;
                    if self.len > POSITIONS_MAX {
                        self.forget_one();
                    }
                }
            }
            changed.push((node, log_id, position));
        }
        changed
    }

    /// What this node knows of `node`'s log `log_id`: the largest position recorded for it
    /// (0: none), whether another log of `node` was registered after it (superseded), and
    /// whether it is unknown while another log of `node` is known (this node cannot order it).
    pub fn of(&self, node: NodeId, log_id: u64) -> LogKnown {
        let Some(logs) = self.logs.get(&node).filter(|l| !l.is_empty()) else {
            return LogKnown::default();
        };
        match logs.iter().position(|(l, _)| *l == log_id) {
            Some(i) => LogKnown {
                position: logs[i].1,
                superseded: i + 1 < logs.len(),
                unordered: false,
            },
            None => LogKnown {
                unordered: true,
                ..LogKnown::default()
            },
        }
    }

    /// Past `POSITIONS_MAX`: forgets the oldest log of the node with the most logs.
    fn forget_one(&mut self) {
        let most = self
            .logs
            .iter()
            .max_by_key(|(_, l)| l.len())
            .map(|(n, _)| *n);
        if let Some(logs) = most.and_then(|node| self.logs.get_mut(&node)) {
            logs.remove(0);
            self.len -= 1;
        }
    }

    /// The records of a snapshot: the whole table, each node's logs in their order.
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

    #[test]
    fn positions_only_rise_and_say_which_changed() {
        let mut positions = Positions::default();
        let a = NodeId(1);
        assert_eq!(positions.record(&[(a, 7, 100)]), vec![(a, 7, 100)]);
        assert!(positions.record(&[(a, 7, 90)]).is_empty());
        assert_eq!(positions.record(&[(a, 7, 120)]), vec![(a, 7, 120)]);
        assert_eq!(positions.of(a, 7), known(120, false, false));
        let nothing = positions.of(NodeId(2), 7);
        assert_eq!(nothing, known(0, false, false), "nothing known of node 2");
    }

    #[test]
    fn a_log_registered_before_another_is_superseded_and_an_unknown_one_unordered() {
        let mut positions = Positions::default();
        let a = NodeId(1);
        positions.record(&[(a, 7, 100)]);
        assert_eq!(
            positions.of(a, 8),
            known(0, false, true),
            "7 is known, 8 is not"
        );
        positions.record(&[(a, 8, 0)]); // Log 8 registered: node 1 started on a new disk.
        assert_eq!(positions.of(a, 8), known(0, false, false));
        assert_eq!(
            positions.of(a, 7),
            known(100, true, false),
            "7 is older than 8"
        );
        positions.record(&[(a, 7, 150)]);
        let late = positions.of(a, 7);
        assert_eq!(
            late,
            known(150, true, false),
            "a late position keeps the order"
        );
    }

    #[test]
    fn a_full_table_forgets_the_oldest_log_of_the_node_with_most_logs() {
        let mut positions = Positions::default();
        for log in 0..POSITIONS_MAX as u64 - 1 {
            positions.record(&[(NodeId(1), log, 1000 + log)]);
        }
        positions.record(&[(NodeId(2), 5, 10)]);
        positions.record(&[(NodeId(3), 5, 10)]);
        assert_eq!(positions.of(NodeId(1), 1), known(1001, true, false));
        let gone = positions.of(NodeId(1), 0);
        assert_eq!(gone, known(0, false, true), "node 1's oldest log went");
        assert_eq!(positions.of(NodeId(2), 5), known(10, false, false));
        assert_eq!(positions.of(NodeId(3), 5), known(10, false, false));
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_table_in_the_same_order() {
        let mut positions = Positions::default();
        for i in 1..=600u32 {
            let node = NodeId(i % 7);
            positions.record(&[(node, u64::from(1000 - i), u64::from(i) * 3)]);
        }
        let mut bytes = Vec::new();
        positions.snapshot(&mut bytes);
        let segments = [crate::log::Segment {
            base: 0,
            bytes: &bytes,
        }];
        let recovered = crate::log::recover_segments(&segments).unwrap();
        let back = Positions::new(&recovered.positions, &recovered.positions_order);
        assert_eq!(back.logs, positions.logs);
    }
}
