//! The partition ring: which nodes replicate a key.
//!
//! A key hashes (FNV-1a, stable across versions and platforms) to one of `PARTITIONS` fixed
//! partitions; partition `p`'s preference list is `n` consecutive nodes of the sorted member
//! list, starting at `p mod members`. The first `n` entries are distinct whenever
//! `n <= members`, so on three nodes with N=3 every node holds every key.

use crate::ids::NodeId;
use crate::limits::PARTITIONS;

#[derive(Clone, Debug)]
pub struct Ring {
    nodes: Vec<NodeId>,
}

/// FNV-1a, 64 bits: small, stable, and good enough to spread keys over partitions.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The partition of a key: the same on every node, whatever the membership.
pub fn partition_of(key: &[u8]) -> u32 {
    (fnv1a(key) % u64::from(PARTITIONS)) as u32
}

impl Ring {
    /// `nodes` must be non-empty and free of duplicates (checked by `Config::validate`).
    pub fn new(nodes: &[NodeId]) -> Ring {
        let mut nodes = nodes.to_vec();
        nodes.sort();
        assert!(!nodes.is_empty(), "a ring needs at least one node");
        Ring { nodes }
    }

    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    pub fn partition(&self, key: &[u8]) -> u32 {
        partition_of(key)
    }

    /// The first `n` replicas of `partition`, in preference order: the same nodes
    /// `preference` gives every key of the partition.
    pub fn partition_replicas(&self, partition: u32, n: usize) -> Vec<NodeId> {
        let len = self.nodes.len();
        assert!(n <= len, "n={n} over {len} members; callers validate n");
        let start = partition as usize % len;
        (0..n).map(|i| self.nodes[(start + i) % len]).collect()
    }

    /// The `n` replicas of `key`, in preference order.
    pub fn preference(&self, key: &[u8], n: usize) -> Vec<NodeId> {
        self.partition_replicas(self.partition(key), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_partition_has_the_replicas_of_its_keys() {
        let ring = Ring::new(&(1..=5).map(NodeId).collect::<Vec<_>>());
        for i in 0..200u32 {
            let key = format!("key-{i}");
            let partition = partition_of(key.as_bytes());
            assert_eq!(
                ring.partition_replicas(partition, 3),
                ring.preference(key.as_bytes(), 3)
            );
        }
    }

    #[test]
    fn three_nodes_n3_hold_every_key() {
        let ring = Ring::new(&[NodeId(3), NodeId(1), NodeId(2)]);
        for i in 0..100u32 {
            let mut p = ring.preference(&i.to_le_bytes(), 3);
            p.sort();
            assert_eq!(p, vec![NodeId(1), NodeId(2), NodeId(3)]);
        }
    }

    #[test]
    fn five_nodes_spread_keys_over_distinct_replicas() {
        let nodes: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let ring = Ring::new(&nodes);
        let mut load: BTreeMap<NodeId, u32> = BTreeMap::new();
        for i in 0..5_000u32 {
            let p = ring.preference(format!("key-{i}").as_bytes(), 3);
            let mut distinct = p.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 3);
            for n in p {
                *load.entry(n).or_default() += 1;
            }
        }
        for (node, count) in load {
            assert!(
                (2_000..=4_000).contains(&count),
                "{node} holds {count} of 15000 copies"
            );
        }
    }
}
