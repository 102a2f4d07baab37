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

use crate::ids::NodeId;
use crate::limits::{POSITIONS_MAX, POSITIONS_PER_RECORD};
use crate::log::Record;
use std::collections::BTreeMap;

/// The largest recorded position of each (node, log id).
#[derive(Debug, Default)]
pub(crate) struct Positions {
    table: BTreeMap<(NodeId, u64), u64>,
}

impl Positions {
    /// The positions recovery read back.
    pub fn new(table: BTreeMap<(NodeId, u64), u64>) -> Positions {
        Positions { table }
    }

    /// Raises the recorded positions to `entries`; returns the entries that raised one (to
    /// be logged), empty if none did.
    pub fn record(&mut self, entries: &[(NodeId, u64, u64)]) -> Vec<(NodeId, u64, u64)> {
        let mut raised = Vec::new();
        for &(node, log_id, position) in entries {
            let current = self.table.get(&(node, log_id)).copied();
            if current.is_some_and(|c| c >= position) {
                continue;
            }
            if current.is_none() && self.table.len() >= POSITIONS_MAX {
                self.forget_one();
            }
            self.table.insert((node, log_id), position);
            raised.push((node, log_id, position));
        }
        raised
    }

    /// The largest position recorded for `node`'s log `log_id` (0: none).
    pub fn of(&self, node: NodeId, log_id: u64) -> u64 {
        self.table.get(&(node, log_id)).copied().unwrap_or(0)
    }

    /// At `POSITIONS_MAX`: forgets the lowest position of the node with the most logs.
    fn forget_one(&mut self) {
        let mut counts: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (node, _) in self.table.keys() {
            *counts.entry(*node).or_default() += 1;
        }
        let Some((&node, _)) = counts.iter().max_by_key(|(_, c)| **c) else {
            return;
        };
        let lowest = self
            .table
            .iter()
            .filter(|((n, _), _)| *n == node)
            .min_by_key(|(_, p)| **p)
            .map(|(k, _)| *k);
        if let Some(key) = lowest {
            self.table.remove(&key);
        }
    }

    /// The records of a snapshot: the whole table.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        let all: Vec<(NodeId, u64, u64)> =
            self.table.iter().map(|(&(n, l), &p)| (n, l, p)).collect();
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

    #[test]
    fn positions_only_rise_and_say_which_rose() {
        let mut positions = Positions::default();
        let a = NodeId(1);
        assert_eq!(positions.record(&[(a, 7, 100)]), vec![(a, 7, 100)]);
        assert!(positions.record(&[(a, 7, 90)]).is_empty());
        assert_eq!(positions.record(&[(a, 7, 120)]), vec![(a, 7, 120)]);
        assert_eq!(positions.of(a, 7), 120);
        assert_eq!(positions.of(a, 8), 0);
        assert_eq!(positions.of(NodeId(2), 7), 0);
    }

    #[test]
    fn a_full_table_forgets_the_oldest_log_of_the_node_with_most_logs() {
        let mut positions = Positions::default();
        for log in 0..POSITIONS_MAX as u64 - 1 {
            positions.record(&[(NodeId(1), log, 1000 + log)]);
        }
        positions.record(&[(NodeId(2), 5, 10)]);
        positions.record(&[(NodeId(3), 5, 10)]);
        assert_eq!(positions.of(NodeId(1), 0), 0, "node 1's oldest log went");
        assert_eq!(positions.of(NodeId(1), 1), 1001);
        assert_eq!(positions.of(NodeId(2), 5), 10);
        assert_eq!(positions.of(NodeId(3), 5), 10);
    }

    #[test]
    fn a_snapshot_reads_back_as_the_same_table() {
        let mut positions = Positions::default();
        for node in 1..=600u32 {
            positions.record(&[(NodeId(node), u64::from(node), u64::from(node) * 3)]);
        }
        let mut bytes = Vec::new();
        positions.snapshot(&mut bytes);
        let segments = [crate::log::Segment {
            base: 0,
            bytes: &bytes,
        }];
        let recovered = crate::log::recover_segments(&segments).unwrap();
        assert_eq!(recovered.positions, positions.table);
    }
}
