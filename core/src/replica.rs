//! The replica side of a request: merging a replicated object into the store (and logging
//! it), and answering reads. Every answer waits until the log bytes it speaks for are
//! durable (`Journal::send_when_durable`); a merge that would leave an object that does not
//! fit is refused, never stored.

use crate::ids::{NodeId, RequestId};
use crate::journal::Journal;
use crate::limits::KEY_BYTES_MAX;
use crate::message::Message;
use crate::node::NodeStats;
use crate::outbox::Outbox;
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
        let written_at = if merged.merge(&object) {
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
}
