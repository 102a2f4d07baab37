//! The replica side of a request: merging a replicated object into the store (and logging
//! it), and answering reads. Every answer waits until the log bytes it speaks for are
//! durable (`Journal::send_when_durable`); a merge that would leave an object that does not
//! fit is refused, never stored. Search rounds (`gather`, `fetch`) read the store and its
//! index and answer under the same rule: once the keys they return are durable.

use crate::codec::encoded_len;
use crate::ids::{NodeId, RequestId};
use crate::journal::Journal;
use crate::limits::KEY_BYTES_MAX;
use crate::limits::{MESSAGE_BYTES_MAX, SEARCH_CANDIDATES_MAX};
use crate::message::{KeyObject, Message, PartitionStats};
use crate::node::NodeStats;
use crate::outbox::Outbox;
use crate::search::PartitionSet;
use crate::store::Store;
use crate::version::Object;

/// The parts a replica handler touches.
pub(crate) struct Replica<'a> {
    pub store: &'a mut Store,
    pub journal: &'a mut Journal,
    pub outbox: &'a mut Outbox,
    pub stats: &'a mut NodeStats,
}

impl Replica<'_> {
    /// Merges `object` into this replica's copy of `key` and acknowledges once durable.
    pub fn replicate(&mut self, from: NodeId, req: RequestId, key: Vec<u8>, object: Object) {
        if key.len() > KEY_BYTES_MAX {
            self.stats.replicate_refused += 1;
            return;
        }
        let mut merged = self.store.get(&key).cloned().unwrap_or_default();
        // The message's object is ours to consume: its siblings move instead of copying.
        let written_at = if merged.merge_owned(object) {
            if merged.fits().is_err() {
                // Refuse rather than store what could not be sent, repaired or read back;
                // the sender counts this replica as not having acknowledged.
                self.stats.replicate_refused += 1;
                return;
            }
            let end = self.journal.append_object(&key, &merged);
            self.store.replace(key, merged);
            end
        } else {
            self.journal.written_at(&key)
        };
        let ack = Message::ReplicateAck { req };
        self.journal
            .send_when_durable(written_at, from, ack, self.outbox);
    }

    /// Sends this replica's durable copy of `key` (empty if it has none).
    pub fn read(&mut self, from: NodeId, req: RequestId, key: Vec<u8>) {
        let object = self.store.get(&key).cloned().unwrap_or_default();
        let written_at = self.journal.written_at(&key);
        let reply = Message::ReadReply { req, object };
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
        let stats = ask
            .stats_for
            .iter()
            .filter(|p| partitions.contains(**p))
            .map(|&partition| {
                let one = index.stats(terms.iter().copied(), &PartitionSet::from_iter([partition]));
                let df = one.df.into_iter().filter(|(_, df)| *df > 0).collect();
                PartitionStats {
                    partition,
                    docs: one.docs,
                    tokens: one.tokens,
                    df,
                }
            })
            .collect();
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
    pub fn fetch(&mut self, from: NodeId, req: RequestId, keys: Vec<Vec<u8>>) {
        let (objects, written_at) = if keys.len() > SEARCH_CANDIDATES_MAX {
            (None, 0)
        } else {
            let (objects, written_at) = self.copies(keys.into_iter());
            (Some(objects), written_at)
        };
        let mut reply = Message::Fetched {
            req,
            complete: objects.is_some(),
            objects: objects.unwrap_or_default(),
        };
        if encoded_len(&reply) > MESSAGE_BYTES_MAX {
            reply = Message::Fetched {
                req,
                complete: false,
                objects: Vec::new(),
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

/// What a `Message::Gather` asks of a replica.
pub(crate) struct Gather {
    pub partitions: Vec<u32>,
    pub stats_for: Vec<u32>,
    pub terms: Vec<String>,
    pub vectors: bool,
}
