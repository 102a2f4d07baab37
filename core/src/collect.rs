//! Tombstone collection: a deleted key is forgotten once every node that may hold it holds
//! the same tombstones and nothing else, and has for `tombstone_grace`; it never comes back.
//!
//! Every `anti_entropy_interval` a node proposes up to `COLLECT_KEYS_PER_ROUND` of its
//! tombstoned keys (every version a tombstone) that it has held unchanged and durable for
//! the grace, and of which it is the first node in the preference list. It sends
//! `CollectAsk` with the key and its `version_hash` to every other node that may hold the
//! key (its preference list at the largest N a request may ask for,
//! `Config::replicas_max`). A node agrees (`CollectReply`) if it holds exactly those
//! tombstones, durable, unchanged for the grace, or holds nothing of the key. Once all
//! agree, the proposer forgets the key and sends `Collect`; each receiver forgets it if its
//! copy is still those tombstones. Each node that forgets a key logs a `Collected` record with
//! everything the tombstones had seen: recovery drops every version it covers (the
//! tombstones, and the older versions the key's older records still hold: a later write's
//! context may name a tombstone's dot without naming what the tombstone had replaced, so
//! merging alone would not). Compaction writes no such record: its snapshot holds none of
//! those versions.
//!
//! Why nothing comes back. A version the tombstones replaced could only return in a message
//! sent before it was replaced: a replica's copy, a coordinator's write or resend, a read
//! repair. Every node that may hold the key has held the tombstones for the grace, or holds
//! nothing (it never held the older version durably, or collected it already); a coordinator
//! sends a version only while its request runs (at most half the grace,
//! `Config::request_timeout_max`), and replicas send copies only once durable. So by the
//! time all agree, no message carrying an older version can still arrive. Hints name keys,
//! not versions (`handoff`): one handed over after collection sends nothing. A node restored
//! from an old copy of its disk is outside this argument (as in Cassandra, do not restore a
//! node from a copy older than the grace).

use crate::ids::NodeId;
use crate::journal::Journal;
use crate::limits::COLLECT_KEYS_PER_ROUND;
use crate::log::Record;
use crate::message::Message;
use crate::node::{Config, NodeStats};
use crate::outbox::Outbox;
use crate::ring::Ring;
use crate::store::{is_tombstoned, version_hash, Store};
use crate::time::Time;
use crate::version::Object;
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet};

/// Keys this node proposed for collection, waiting for the other nodes' agreement.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    asked: BTreeMap<Vec<u8>, Asked>,
}

#[derive(Debug)]
struct Asked {
    hash: u64,
    waiting: BTreeSet<NodeId>,
    others: Vec<NodeId>,
    deadline: Time,
}

/// The parts of a node collection reads and changes, for one step.
pub(crate) struct Collect<'a> {
    pub me: NodeId,
    pub now: Time,
    pub config: &'a Config,
    pub ring: &'a Ring,
    pub store: &'a mut Store,
    pub journal: &'a mut Journal,
    pub outbox: &'a mut Outbox,
    pub stats: &'a mut NodeStats,
    /// Where forgotten keys are reported, if the driver asked (`Node::record_collections`).
    pub collected: &'a mut Option<Vec<(Vec<u8>, Object)>>,
}

impl Collect<'_> {
    /// The time before which a tombstone has been held for the grace (`None`: never).
    fn ripe(&self) -> Option<Time> {
        let grace = self.config.tombstone_grace?;
        let now = self.now.micros();
        (now >= grace.micros()).then(|| Time(now - grace.micros()))
    }

    /// True if this node's copy of `key` is tombstones only, with `version_hash` `hash`,
    /// durable and unchanged for the grace.
    fn holds_ripe(&self, key: &[u8], hash: u64) -> bool {
        let (Some(ripe), Some(object)) = (self.ripe(), self.store.get(key)) else {
            return false;
        };
        is_tombstoned(object)
            && version_hash(key, object) == hash
            && self.store.tombstoned_at(key).is_some_and(|t| t <= ripe)
            && self.journal.is_durable(key)
    }

    /// The other nodes that may hold `key`.
    fn others(&self, key: &[u8]) -> Vec<NodeId> {
        let all = self.ring.preference(key, self.config.replicas_max());
        all.into_iter().filter(|n| *n != self.me).collect()
    }

    /// A round: propose this node's ripe tombstones (those it is first to hold).
    pub fn round(&mut self, collector: &mut Collector) {
        let now = self.now;
        collector.asked.retain(|_, a| a.deadline > now);
        let Some(ripe) = self.ripe() else {
            return;
        };
        let candidates: Vec<Vec<u8>> = self
            .store
            .tombstones_since(ripe)
            .filter(|k| !collector.asked.contains_key(*k))
            .filter(|k| self.ring.preference(k, 1).first() == Some(&self.me))
            .filter(|k| self.journal.is_durable(k))
            .take(COLLECT_KEYS_PER_ROUND)
            .cloned()
            .collect();
        let mut asks: BTreeMap<NodeId, Vec<(ByteBuf, u64)>> = BTreeMap::new();
        let deadline = now + self.config.request_timeout;
        for key in candidates {
            let hash = self.store.get(&key).map_or(0, |o| version_hash(&key, o));
            let others = self.others(&key);
            if others.is_empty() {
                self.forget(&key, hash);
                continue;
            }
            for node in &others {
                let entry = asks.entry(*node).or_default();
                entry.push((ByteBuf::from(key.clone()), hash));
            }
            let waiting = others.iter().copied().collect();
            let asked = Asked {
                hash,
                waiting,
                others,
                deadline,
            };
            collector.asked.insert(key, asked);
        }
        for (node, keys) in asks {
            self.outbox.send(node, Message::CollectAsk { keys });
        }
    }

    /// A proposal: agree to the keys this node holds as proposed (and ripe), or not at all.
    pub fn ask(&mut self, from: NodeId, keys: Vec<(ByteBuf, u64)>) {
        if self.config.tombstone_grace.is_none() {
            return;
        }
        let agreed: Vec<ByteBuf> = keys
            .into_iter()
            .filter(|(k, h)| self.store.get(k).is_none() || self.holds_ripe(k, *h))
            .map(|(k, _)| k)
            .collect();
        if !agreed.is_empty() {
            let message = Message::CollectReply { keys: agreed };
            self.outbox.send(from, message);
        }
    }

    /// `from` agrees to forget `keys`: forget those every node has agreed to, and tell them.
    pub fn reply(&mut self, collector: &mut Collector, from: NodeId, keys: Vec<ByteBuf>) {
        let mut tell: BTreeMap<NodeId, Vec<(ByteBuf, u64)>> = BTreeMap::new();
        for key in keys {
            let Some(asked) = collector.asked.get_mut(key.as_slice()) else {
                continue;
            };
            asked.waiting.remove(&from);
            if !asked.waiting.is_empty() {
                continue;
            }
            let Some(asked) = collector.asked.remove(key.as_slice()) else {
                continue;
            };
            if !self.holds_ripe(&key, asked.hash) {
                continue; // Changed here since the proposal.
            }
            self.forget(&key, asked.hash);
            for node in asked.others {
                let entry = tell.entry(node).or_default();
                entry.push((key.clone(), asked.hash));
            }
        }
        for (node, keys) in tell {
            self.outbox.send(node, Message::Collect { keys });
        }
    }

    /// Every node agreed: forget the keys still held as proposed.
    pub fn collect(&mut self, keys: Vec<(ByteBuf, u64)>) {
        if self.config.tombstone_grace.is_none() {
            return;
        }
        for (key, hash) in keys {
            let same = self
                .store
                .get(&key)
                .is_some_and(|o| is_tombstoned(o) && version_hash(&key, o) == hash);
            if same {
                self.forget(&key, hash);
            }
        }
    }

    fn forget(&mut self, key: &[u8], hash: u64) {
        let Some(object) = self.store.remove(key) else {
            return;
        };
        debug_assert_eq!(version_hash(key, &object), hash);
        // Older log records of the key may still hold versions these tombstones replaced;
        // recovery drops what this clock covers.
        let record = Record::Collected {
            key: key.to_vec(),
            clock: object.clock(),
        };
        self.journal.append_collected(&record);
        self.stats.tombstones_collected += 1;
        if let Some(collected) = self.collected.as_mut() {
            collected.push((key.to_vec(), object));
        }
    }
}
