//! The replica side of a request: merging a replicated object into the store (and logging
//! it), and answering reads. Every answer waits until the log bytes it speaks for are
//! durable (`Journal::send_when_durable`); a merge that would leave an object that does not
//! fit is refused, never stored. Search rounds (`gather`, `fetch`) read the store and its
//! index and answer under the same rule: once the keys they return are durable.

use crate::codec::encoded_len;
use crate::ids::{NodeId, RequestId};
use crate::journal::Journal;
use crate::limits::{KEY_BYTES_MAX, OBJECT_BYTES_MAX, SIBLINGS_DECODE_MAX};
use crate::limits::{MESSAGE_BYTES_MAX, PARTITIONS, SEARCH_CANDIDATES_MAX};
use crate::message::{KeyObject, LocalAnswer, Message, Op, Paging, PartitionStats, Scored};
use crate::node::NodeStats;
use crate::outbox::Outbox;
use crate::rebuild::Standing;
use crate::search::{Hit, Index, Page, PartitionSet};
use crate::store::Store;
use crate::version::Object;
use std::collections::BTreeMap;

/// Room a key's copy keeps free, in siblings and encoded bytes, for the versions kept aside
/// for it (`Aside::reserved`): a bulk write's commit merges them, and a decided bulk write's
/// commit must never be refused (it would show on its other keys and not on this one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reserved {
    pub siblings: usize,
    pub bytes: usize,
}

impl Reserved {
    /// Whether `object` leaves this room within the limits of `Object::fits`. The sums bound
    /// what merging the reserved versions in can make of it.
    pub fn leaves_room(self, object: &Object) -> bool {
        self == Reserved::default()
            || (object.siblings().len() + self.siblings <= SIBLINGS_DECODE_MAX
                && object.encoded_bytes() + self.bytes <= OBJECT_BYTES_MAX)
    }
}

/// The parts a replica handler touches.
pub(crate) struct Replica<'a> {
    pub store: &'a mut Store,
    pub journal: &'a mut Journal,
    pub outbox: &'a mut Outbox,
    pub stats: &'a mut NodeStats,
}

impl Replica<'_> {
    /// Merges `object` into this replica's copy of `key` (leaving `reserved` free) and
    /// acknowledges once durable.
    pub fn replicate(
        &mut self,
        from: NodeId,
        req: RequestId,
        (key, object): (Vec<u8>, Object),
        reserved: Reserved,
    ) {
        let Some(written_at) = self.merge(key, object, reserved) else {
            return;
        };
        let ack = Message::ReplicateAck { req };
        self.journal
            .send_when_durable(written_at, from, ack, self.outbox);
    }

    /// Merges `object` into this replica's copy of `key`, logging the result if it changed.
    /// Returns the log length that must be durable before the merge may be acknowledged, or
    /// `None` if it was refused (an oversized key, or a result that would not fit, or would
    /// not leave `reserved` free; counted).
    pub fn merge(&mut self, key: Vec<u8>, object: Object, reserved: Reserved) -> Option<u64> {
        if key.len() > KEY_BYTES_MAX {
            self.stats.replicate_refused += 1;
            return None;
        }
        let mut merged = self.store.get(&key).cloned().unwrap_or_default();
        // The message's object is ours to consume: its siblings move instead of copying.
        if merged.merge_owned(object) {
            if merged.fits().is_err() || !reserved.leaves_room(&merged) {
                // Refuse rather than store what could not be sent, repaired or read back;
                // the sender counts this replica as not having acknowledged.
                self.stats.replicate_refused += 1;
                return None;
            }
            let end = self.journal.append_object(&key, &merged);
            self.store.replace(key, merged);
            Some(end)
        } else {
            Some(self.journal.written_at(&key))
        }
    }

    /// Sends this replica's durable copy of `key` (empty if it has none), saying whether it
    /// counts toward R (`rebuild`).
    pub fn read(&mut self, from: NodeId, req: RequestId, key: Vec<u8>, standing: Standing) {
        let object = self.store.get(&key).cloned().unwrap_or_default();
        let written_at = self.journal.written_at(&key);
        let reply = match standing {
            Standing::Whole => Message::ReadReply { req, object },
            Standing::Rebuilding => Message::ReadReplyRebuilding { req, object },
        };
        self.journal
            .send_when_durable(written_at, from, reply, self.outbox);
    }

    /// Search round 1: the keys of `partitions` whose documents hold any of `terms`, with
    /// their objects, and the statistics of `stats_for`. Incomplete (and empty) if this
    /// replica keeps no index or the answer would not fit in one message.
    pub fn gather(&mut self, from: NodeId, req: RequestId, ask: Gather) {
        let incomplete = Message::Gathered {
            req,
            complete: false,
            objects: Vec::new(),
            stats: Vec::new(),
        };
        let Some(index) = self.store.index() else {
            self.outbox.send(from, incomplete);
            return;
        };
        let partitions: PartitionSet = ask.partitions.iter().copied().collect();
        let gathered = index.sharing(&ask.terms, &partitions);
        if gathered.candidates.len() > SEARCH_CANDIDATES_MAX {
            self.outbox.send(from, incomplete);
            return;
        }
        let mut terms: Vec<&str> = ask.terms.iter().map(String::as_str).collect();
        if ask.vectors {
            terms.extend(gathered.terms.iter().map(String::as_str));
            terms.sort_unstable();
            terms.dedup();
        }
        let stats_for = ask.stats_for.iter().copied();
        let stats = partition_stats(index, stats_for.filter(|p| partitions.contains(*p)), &terms);
        let keys = gathered.candidates.into_iter().map(|c| c.key);
        let (objects, written_at) = self.copies(keys);
        let reply = Message::Gathered {
            req,
            complete: true,
            objects,
            stats,
        };
        let reply = if encoded_len(&reply) > MESSAGE_BYTES_MAX {
            incomplete
        } else {
            reply
        };
        self.journal
            .send_when_durable(written_at, from, reply, self.outbox);
    }

    /// Search round 2: this replica's copies of `keys` (empty objects for keys not held).
    pub fn fetch(
        &mut self,
        from: NodeId,
        req: RequestId,
        keys: Vec<Vec<u8>>,
        stats_for: &[u32],
        terms: &[String],
    ) {
        let (objects, written_at) = if keys.len() > SEARCH_CANDIDATES_MAX {
            (None, 0)
        } else {
            let (objects, written_at) = self.copies(keys.into_iter());
            (Some(objects), written_at)
        };
        let terms: Vec<&str> = terms.iter().map(String::as_str).collect();
        let stats = match self.store.index() {
            Some(index) => partition_stats(index, stats_for.iter().copied(), &terms),
            None => Vec::new(),
        };
        let complete = objects.is_some() && (stats_for.is_empty() || !stats.is_empty());
        let mut reply = Message::Fetched {
            req,
            complete,
            objects: objects.unwrap_or_default(),
            stats,
        };
        if encoded_len(&reply) > MESSAGE_BYTES_MAX {
            reply = Message::Fetched {
                req,
                complete: false,
                objects: Vec::new(),
                stats: Vec::new(),
            };
        }
        self.journal
            .send_when_durable(written_at, from, reply, self.outbox);
    }

    /// The copies of `keys` and the log length that must be durable before they go out.
    fn copies(&self, keys: impl Iterator<Item = Vec<u8>>) -> (Vec<KeyObject>, u64) {
        let mut written_at = 0;
        let objects = keys
            .map(|key| {
                written_at = written_at.max(self.journal.written_at(&key));
                let object = self.store.get(&key).cloned().unwrap_or_default();
                KeyObject { key, object }
            })
            .collect();
        (objects, written_at)
    }
}

impl Replica<'_> {
    /// A search over every partition on this replica's own index (unless `op` is `None`),
    /// with its digests, sent once everything it reflects is durable.
    pub fn local_search(&mut self, from: NodeId, req: RequestId, op: Option<Op>) {
        let all = PartitionSet::all(PARTITIONS);
        let answer = self.store.index().zip(op).and_then(|(index, op)| match op {
            Op::Search { query, page } => {
                let (offset, size) = (page.offset as usize, page.size as usize);
                let found = index.search(&query, &all, Page { offset, size }).ok()?;
                Some(LocalAnswer {
                    hits: found.hits.into_iter().map(scored).collect(),
                    total: found.total as u64,
                    next: found.next.map(|p| Paging {
                        offset: p.offset as u32,
                        size: p.size as u32,
                    }),
                })
            }
            Op::Similar { text, top_k } => {
                let hits = index.similar(&text, top_k as usize, &all).ok()?;
                let total = hits.len() as u64;
                let hits = hits.into_iter().map(scored).collect();
                Some(LocalAnswer {
                    hits,
                    total,
                    next: None,
                })
            }
            _ => None,
        });
        let digests = (0..PARTITIONS).map(|p| self.store.digest(p)).collect();
        let reply = Message::LocalSearched {
            req,
            digests,
            answer,
        };
        let written_at = self.journal.written_end();
        self.journal
            .send_when_durable(written_at, from, reply, self.outbox);
    }
}

fn scored(hit: Hit) -> Scored {
    Scored {
        key: hit.key,
        score: hit.score,
    }
}

/// The statistics of each of `partitions` for `terms` (df > 0 only, by term). Costs a step
/// per partition and per term's partition or posting, never partitions times terms.
fn partition_stats(
    index: &Index,
    partitions: impl Iterator<Item = u32>,
    terms: &[&str],
) -> Vec<PartitionStats> {
    let mut out: Vec<PartitionStats> = partitions
        .map(|partition| {
            let (docs, tokens) = index.partition_size(partition);
            PartitionStats {
                partition,
                docs,
                tokens,
                df: Vec::new(),
            }
        })
        .collect();
    // Where each partition's answer is (a peer may name a partition twice or out of range).
    let mut at: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, stats) in out.iter().enumerate() {
        at.insert(stats.partition, i);
    }
    let mut terms = terms.to_vec();
    terms.sort_unstable();
    terms.dedup();
    for term in terms {
        for (partition, df) in index.df_by_partition(term) {
            if let Some(&i) = at.get(&partition) {
                out[i].df.push((term.to_string(), df));
            }
        }
    }
    out
}

/// What a `Message::Gather` asks of a replica.
pub(crate) struct Gather {
    pub partitions: Vec<u32>,
    pub stats_for: Vec<u32>,
    pub terms: Vec<String>,
    pub vectors: bool,
}
