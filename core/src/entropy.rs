//! Anti-entropy: replicas compare what they hold, partition by partition, and exchange exactly
//! the keys whose versions differ, so that a cluster converges without client reads.
//!
//! Every `anti_entropy_interval` a node picks one other member at random (its seeded RNG) and
//! sends `Entropy` with its digest (`store::Store::digest`: the sum of a hash of every key's
//! version dots) of each partition both of them replicate. The peer answers, for at most
//! `ENTROPY_PARTITIONS_PER_ROUND` partitions whose digests differ, `EntropyKeys` with the
//! hash of every key it holds there. The first node then compares key by key and, for at
//! most `ENTROPY_KEYS_PER_ROUND` keys that differ, pushes its copy (a `Replicate`, once that
//! copy is durable) and pulls the peer's (`EntropyPull`, answered the same way). Both sides
//! merge what they receive as any replicated write, so after the exchange both hold the
//! causal join of the two copies. A repair needs no acknowledgement: the pushes carry the
//! reserved request id `NO_REQUEST`, whose acknowledgements nobody waits for, and anything
//! lost is found again in a later round.
//!
//! The limits bound what one round costs either side, so that repair cannot starve client
//! traffic; a partition with more than `ENTROPY_PARTITION_KEYS_MAX` keys is not compared
//! (counted in `NodeStats::entropy_partitions_skipped`: a finer tree is the way past it).

use crate::ids::{NodeId, RequestId};
use crate::journal::Journal;
use crate::limits::{
    ENTROPY_KEYS_PER_ROUND, ENTROPY_PARTITIONS_PER_ROUND, ENTROPY_PARTITION_KEYS_MAX, PARTITIONS,
};
use crate::message::Message;
use crate::node::{Config, NodeStats};
use crate::outbox::Outbox;
use crate::ring::Ring;
use crate::store::Store;
use std::collections::BTreeMap;

/// The request id of anti-entropy pushes: incarnation 0, which no node ever has, so no
/// coordinator waits for it and acknowledgements to it are dropped.
pub(crate) const NO_REQUEST: RequestId = RequestId(0);

/// The partitions `a` and `b` both replicate at the default N.
fn shared(ring: &Ring, config: &Config, a: NodeId, b: NodeId) -> Vec<u32> {
    let n = usize::from(config.n);
    (0..PARTITIONS)
        .filter(|p| {
            let replicas = ring.partition_replicas(*p, n);
            replicas.contains(&a) && replicas.contains(&b)
        })
        .collect()
}

/// The parts of a node anti-entropy reads and changes.
pub(crate) struct Entropy<'a> {
    pub me: NodeId,
    pub config: &'a Config,
    pub ring: &'a Ring,
    pub store: &'a Store,
    pub journal: &'a mut Journal,
    pub outbox: &'a mut Outbox,
    pub stats: &'a mut NodeStats,
}

impl Entropy<'_> {
    /// A round: this node's digests of the partitions it shares with one peer, picked by
    /// `pick` (a draw of the node's RNG).
    pub fn round(&mut self, pick: u64) {
        let peers: Vec<NodeId> = self
            .config
            .nodes
            .iter()
            .copied()
            .filter(|n| *n != self.me)
            .collect();
        if peers.is_empty() {
            return;
        }
        let peer = peers[(pick % peers.len() as u64) as usize];
        let digests = shared(self.ring, self.config, self.me, peer)
            .into_iter()
            .map(|p| (p, self.store.digest(p)))
            .collect();
        self.stats.entropy_rounds += 1;
        self.outbox.send(peer, Message::Entropy { digests });
    }

    /// A peer's digests: the key hashes of the partitions (that both replicate) that differ.
    pub fn digests(&mut self, from: NodeId, digests: Vec<(u32, u64)>) {
        let ours = shared(self.ring, self.config, self.me, from);
        let differing = digests
            .into_iter()
            .filter(|(p, d)| ours.binary_search(p).is_ok() && self.store.digest(*p) != *d);
        for (partition, _) in differing.take(ENTROPY_PARTITIONS_PER_ROUND) {
            let keys = self.store.partition_hashes(partition);
            if keys.len() > ENTROPY_PARTITION_KEYS_MAX {
                self.stats.entropy_partitions_skipped += 1;
                continue;
            }
            let keys = keys
                .into_iter()
                .map(|(k, h)| (serde_bytes::ByteBuf::from(k), h))
                .collect();
            self.outbox
                .send(from, Message::EntropyKeys { partition, keys });
        }
    }

    /// A peer's key hashes of `partition`: push the keys it lacks or holds otherwise, pull
    /// those this replica lacks or holds otherwise (both, for a key held differently).
    pub fn keys(&mut self, from: NodeId, partition: u32, keys: Vec<(serde_bytes::ByteBuf, u64)>) {
        if shared(self.ring, self.config, self.me, from)
            .binary_search(&partition)
            .is_err()
            || keys.len() > ENTROPY_PARTITION_KEYS_MAX
        {
            return;
        }
        let theirs: BTreeMap<Vec<u8>, u64> =
            keys.into_iter().map(|(k, h)| (k.into_vec(), h)).collect();
        let ours: BTreeMap<Vec<u8>, u64> =
            self.store.partition_hashes(partition).into_iter().collect();
        let mut budget = ENTROPY_KEYS_PER_ROUND;
        let mut pull = Vec::new();
        for (key, hash) in &ours {
            if budget == 0 {
                break;
            }
            if theirs.get(key) != Some(hash) {
                budget -= 1;
                self.push(from, key);
                if theirs.contains_key(key) {
                    pull.push(serde_bytes::ByteBuf::from(key.clone()));
                }
            }
        }
        for key in theirs.keys().filter(|k| !ours.contains_key(*k)) {
            if budget == 0 {
                break;
            }
            budget -= 1;
            pull.push(serde_bytes::ByteBuf::from(key.clone()));
        }
        self.stats.entropy_keys_pulled += pull.len() as u64;
        if !pull.is_empty() {
            self.outbox.send(from, Message::EntropyPull { keys: pull });
        }
    }

    /// A peer asks for this replica's copies of `keys` (at most `ENTROPY_KEYS_PER_ROUND`).
    pub fn pull(&mut self, from: NodeId, keys: Vec<serde_bytes::ByteBuf>) {
        for key in keys.iter().take(ENTROPY_KEYS_PER_ROUND) {
            self.push(from, key);
        }
    }

    /// Sends this replica's copy of `key` to `to`, once it is durable.
    fn push(&mut self, to: NodeId, key: &[u8]) {
        let Some(object) = self.store.get(key) else {
            return;
        };
        self.stats.entropy_keys_pushed += 1;
        let message = Message::Replicate {
            req: NO_REQUEST,
            key: key.to_vec(),
            object: object.clone(),
        };
        let written_at = self.journal.written_at(key);
        self.journal
            .send_when_durable(written_at, to, message, self.outbox);
    }
}
