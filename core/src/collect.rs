//! Tombstone collection: a deleted key is forgotten once every node that may hold it holds
//! the same tombstones and nothing else, and has for `tombstone_grace`; it never comes back.
//!
//! Every `anti_entropy_interval` a node proposes up to `COLLECT_KEYS_PER_ROUND` of its
//! tombstoned keys (every version a tombstone) that it has held unchanged and durable for
//! the grace, and of which it is the first node in the preference list. It sends
//! `CollectAsk` with the key and its `version_hash` to every other node that may hold the
//! key (its preference list at the largest N a request may ask for,
//! `Config::replicas_max`). A node agrees (`CollectReply`, with its log's id and durable
//! end) if it holds exactly those tombstones, durable, unchanged for the grace, or holds
//! nothing of the key. Once all agree, the proposer records every agreeing node's position
//! and its own (`positions`) and sends them to the others (`CollectRecord`); once each has
//! recorded them durably (`CollectRecorded`), the proposer forgets the key and sends
//! `Collect`; each receiver forgets it if its copy is still those tombstones. Each node that
//! forgets a key logs a `Collected` record with everything the tombstones had seen: recovery
//! drops every version it covers (the tombstones, and the older versions the key's older
//! records still hold: a later write's context may name a tombstone's dot without naming
//! what the tombstone had replaced, so merging alone would not). Compaction writes no such
//! record: its snapshot holds none of those versions.
//!
//! Why nothing comes back. A version the tombstones replaced could only return in a message
//! sent before it was replaced: a replica's copy, a coordinator's write or resend, a read
//! repair. Every node that may hold the key has held the tombstones for the grace, or holds
//! nothing (it never held the older version durably, or collected it already); a coordinator
//! sends a version only while its request runs (at most half the grace,
//! `Config::request_timeout_max`), and replicas send copies only once durable. So by the
//! time all agree, no message carrying an older version can still arrive. Hints name keys,
//! not versions (`handoff`): one handed over after collection sends nothing. A node restored
//! from an older copy of its disk may hold a replaced version and not the tombstones: it
//! lets nothing out until a peer has told it that no collection it agreed to is past its
//! copy's end (`verify`), which every peer that may hold the key can tell, since each
//! recorded the positions before anyone forgot the key.

use crate::ids::{LogRef, NodeId};
use crate::journal::Journal;
use crate::limits::COLLECT_KEYS_PER_ROUND;
use crate::log::Record;
use crate::message::Message;
use crate::node::{Config, NodeStats};
use crate::outbox::Outbox;
use crate::positions::{Position, Positions};
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
    /// The others still to agree (`Agreeing`), or to record the positions (`Recording`).
    waiting: BTreeSet<NodeId>,
    stage: Stage,
    others: Vec<NodeId>,
    /// Each agreeing node's log id and durable end.
    agreed: Vec<Position>,
    deadline: Time,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Agreeing,
    Recording,
}

/// The parts of a node collection reads and changes, for one step.
pub(crate) struct Collect<'a> {
    pub me: NodeId,
    pub now: Time,
    pub config: &'a Config,
    pub ring: &'a Ring,
    pub store: &'a mut Store,
    pub journal: &'a mut Journal,
    pub positions: &'a mut Positions,
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
                stage: Stage::Agreeing,
                others,
                agreed: Vec::new(),
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
            let message = Message::CollectReply {
                keys: agreed,
                log: self.journal.log(),
                position: self.journal.durable_upto(),
            };
            self.outbox.send(from, message);
        }
    }

    /// `from` (its log `log` durable up to `position`) agrees to forget `keys`: for those
    /// every node has agreed to, record the positions and send them to the others.
    pub fn reply(
        &mut self,
        collector: &mut Collector,
        from: NodeId,
        keys: Vec<ByteBuf>,
        log: LogRef,
        position: u64,
    ) {
        let me = (self.me, self.journal.log(), self.journal.durable_upto());
        let mut tell: BTreeMap<NodeId, (Vec<ByteBuf>, BTreeSet<Position>)> = BTreeMap::new();
        let mut record = BTreeSet::new();
        for key in keys {
            let Some(asked) = collector.asked.get_mut(key.as_slice()) else {
                continue;
            };
            if asked.stage != Stage::Agreeing || !asked.waiting.remove(&from) {
                continue;
            }
            asked.agreed.push((from, log, position));
            if !asked.waiting.is_empty() {
                continue;
            }
            if !self.holds_ripe(&key, asked.hash) {
                collector.asked.remove(key.as_slice()); // Changed here since the proposal.
                continue;
            }
            asked.stage = Stage::Recording;
            asked.waiting = asked.others.iter().copied().collect();
            asked.agreed.push(me);
            for node in &asked.others {
                let (keys, positions) = tell.entry(*node).or_default();
                keys.push(key.clone());
                positions.extend(asked.agreed.iter().copied());
            }
            record.extend(asked.agreed.iter().copied());
        }
        let record: Vec<_> = record.into_iter().collect();
        self.record_positions(&record);
        for (node, (keys, positions)) in tell {
            let positions = positions.into_iter().collect();
            self.outbox
                .send(node, Message::CollectRecord { keys, positions });
        }
    }

    /// Records `positions` (logging those that rose); returns the log length that must be
    /// durable for them to be.
    fn record_positions(&mut self, positions: &[Position]) -> u64 {
        let raised = self.positions.record(positions);
        if !raised.is_empty() {
            let record = Record::Positions { entries: raised };
            self.journal.append_positions(&record);
        }
        // Positions recorded earlier may not be durable yet either.
        self.journal.end()
    }

    /// The proposer of `keys` sent the agreeing nodes' positions: record them durably, then
    /// say so.
    pub fn record(&mut self, from: NodeId, keys: Vec<ByteBuf>, positions: Vec<Position>) {
        let end = self.record_positions(&positions);
        let message = Message::CollectRecorded { keys };
        self.journal
            .send_when_durable(end, from, message, self.outbox);
    }

    /// `from` recorded the positions for `keys`: forget those every other node has recorded
    /// them for, and tell the others to forget them too.
    pub fn recorded(&mut self, collector: &mut Collector, from: NodeId, keys: Vec<ByteBuf>) {
        let mut tell: BTreeMap<NodeId, Vec<(ByteBuf, u64)>> = BTreeMap::new();
        for key in keys {
            let Some(asked) = collector.asked.get_mut(key.as_slice()) else {
                continue;
            };
            if asked.stage != Stage::Recording || !asked.waiting.remove(&from) {
                continue;
            }
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
