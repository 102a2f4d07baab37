//! The journal: this node's side of the log. It batches records into one `Persist` per step
//! (each batch headed by a `Durable` mark once the synced offset has moved), learns what is
//! durable from `Persisted`, holds back replies about a key until the log bytes that last
//! changed it are durable (and nothing before the first sync after start), and compacts.
//! It produces bytes and outputs; the driver writes and syncs them.

use crate::ids::{LogRef, NodeId};
use crate::log::Record;
use crate::message::Message;
use crate::node::{NodeStats, Output};
use crate::outbox::Outbox;
use crate::store::Store;
use crate::version::Object;
use std::collections::BTreeMap;

#[derive(Debug)]
pub(crate) struct Journal {
    /// The log: its random id, written into every `Boot` and `Durable` record, and its
    /// start, into every `LogStarted` record.
    log: LogRef,
    /// The end of this incarnation's Boot record: nothing counts as durable before the log
    /// is durable up to here.
    boot_end: u64,
    /// The end of the newest `LogStarted` record: the log's name is durable from there.
    named_end: u64,
    /// For each key whose latest change may not be durable yet, the log length after the
    /// record of that change: replies about the key wait until the log is durable up to
    /// there. Keys leave this table as `Persisted` covers them, so it stays small.
    unsynced: BTreeMap<Vec<u8>, u64>,
    /// Log length covered by `Persist` outputs already emitted.
    emitted_end: u64,
    /// Bytes appended during this step, emitted as one `Persist` at its end.
    batch: Vec<u8>,
    /// Nothing read back is trusted as durable until the first sync after start (the Boot
    /// record's), which the driver extends to every segment and the directory: after a
    /// process kill, recovery reads bytes that were never synced.
    durable_upto: u64,
    /// The `upto` of the last `Durable` record written.
    durable_marked: u64,
    /// Bytes in every segment the driver holds: with the store's live bytes, what decides
    /// when to compact.
    log_bytes: u64,
    /// A snapshot segment that is not yet durable: `(base, end)`.
    compacting: Option<(u64, u64)>,
    /// Messages to send once the log is durable up to the key.
    waiters: BTreeMap<u64, Vec<(NodeId, Message)>>,
    /// The last rebuild mark appended was `Rebuilding`: snapshots repeat it.
    rebuilding: bool,
}

impl Journal {
    /// The journal of a log recovered up to `log_end`, `log_bytes` long in all.
    pub fn new(log: LogRef, log_end: u64, log_bytes: u64) -> Journal {
        Journal {
            log,
            boot_end: 0,
            named_end: 0,
            unsynced: BTreeMap::new(),
            emitted_end: log_end,
            batch: Vec::new(),
            durable_upto: 0,
            durable_marked: 0,
            log_bytes,
            compacting: None,
            waiters: BTreeMap::new(),
            rebuilding: false,
        }
    }

    /// Appends this incarnation's Boot record (and when the log was started); replies wait
    /// until it is durable.
    pub fn boot(&mut self, incarnation: u64) {
        self.append(&Record::Boot {
            incarnation,
            log_id: self.log.id,
        });
        self.boot_end = self.append(&Record::LogStarted {
            started: self.log.started,
        });
        self.named_end = self.boot_end;
    }

    /// True once the Boot record is durable: the node may mint dots and answer.
    pub fn booted(&self) -> bool {
        self.durable_upto >= self.boot_end
    }

    /// Appends a record to this step's batch; returns the log length after it.
    fn append(&mut self, record: &Record) -> u64 {
        self.mark_durable();
        record.encode_into(&mut self.batch);
        self.emitted_end + self.batch.len() as u64
    }

    /// Appends the new object of `key`; replies about `key` wait until it is durable.
    pub fn append_object(&mut self, key: &[u8], object: &Object) -> u64 {
        self.mark_durable();
        Record::encode_object(key, object, &mut self.batch);
        let end = self.emitted_end + self.batch.len() as u64;
        self.unsynced.insert(key.to_vec(), end);
        end
    }

    /// Appends a hint, or the end of one (`handoff`). Nothing waits for it: a hint lost
    /// with the unsynced tail is a key anti-entropy repairs instead.
    pub fn append_hint(&mut self, record: &Record) {
        debug_assert!(matches!(
            record,
            Record::Hint { .. } | Record::HintDone { .. }
        ));
        self.append(record);
    }

    /// Appends a `Collected` record (`collect`). Nothing waits for it: until it is durable,
    /// the tombstones it ends are still in the log after them, so recovery keeps them.
    pub fn append_collected(&mut self, record: &Record) {
        debug_assert!(matches!(record, Record::Collected { .. }));
        self.append(record);
    }

    /// Appends a rebuild mark (`rebuild`). Nothing waits for `Rebuilt`: lost with the
    /// unsynced tail, it only makes the next start rebuild again.
    pub fn append_rebuild(&mut self, record: &Record) {
        debug_assert!(matches!(record, Record::Rebuilding | Record::Rebuilt));
        self.rebuilding = matches!(record, Record::Rebuilding);
        self.append(record);
    }

    /// Appends a bulk write's `Aside` or `Refused` record (`bulk`); returns the log length
    /// after it: the answer it speaks for waits until that is durable.
    pub fn append_bulk(&mut self, record: &Record) -> u64 {
        debug_assert!(matches!(
            record,
            Record::Aside { .. } | Record::Refused { .. }
        ));
        self.append(record)
    }

    /// The log was verified at a restart (`verify`): from now on it is named as started at
    /// `started` (a `LogStarted` record), later than any log of this node a peer may know.
    pub fn restart_log(&mut self, started: u64) {
        self.log.started = started.max(self.log.started.saturating_add(1));
        let record = Record::LogStarted {
            started: self.log.started,
        };
        self.named_end = self.append(&record);
    }

    /// True once the log's current name (`restart_log`) is durable: a restart after that
    /// comes back under it.
    pub fn named(&self) -> bool {
        self.durable_upto >= self.named_end
    }

    /// Appends a `Positions` record (`positions`). Whoever must wait for it waits for
    /// `end()`.
    pub fn append_positions(&mut self, record: &Record) {
        debug_assert!(matches!(record, Record::Positions { .. }));
        self.append(record);
    }

    /// The log's id and start.
    pub fn log(&self) -> LogRef {
        self.log
    }

    /// The log length known durable.
    pub fn durable_upto(&self) -> u64 {
        self.durable_upto
    }

    /// The log length after everything appended so far, this step's batch included.
    pub fn end(&self) -> u64 {
        self.emitted_end + self.batch.len() as u64
    }

    /// True if everything appended is durable and no compaction is under way: nothing the
    /// driver holds for this log is still to be reported.
    pub fn is_settled(&self) -> bool {
        self.batch.is_empty() && self.durable_upto == self.emitted_end && self.compacting.is_none()
    }

    /// True if the latest change of `key` is durable (or it never changed here).
    pub fn is_durable(&self, key: &[u8]) -> bool {
        !self.unsynced.contains_key(key)
    }

    fn mark_durable(&mut self) {
        if self.batch.is_empty() && self.durable_upto > self.durable_marked {
            // Vouch for what is synced, so recovery can tell corruption from a torn tail.
            Record::Durable {
                upto: self.durable_upto,
                log_id: self.log.id,
            }
            .encode_into(&mut self.batch);
            self.durable_marked = self.durable_upto;
        }
    }

    /// Emits this step's batch as one `Persist`.
    pub fn flush(&mut self, outbox: &mut Outbox) {
        if self.batch.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.batch);
        self.emitted_end += bytes.len() as u64;
        self.log_bytes += bytes.len() as u64;
        outbox.push(Output::Persist {
            bytes,
            end: self.emitted_end,
        });
    }

    /// The log is durable up to `upto`: release what waited for it, finish a compaction.
    pub fn persisted(&mut self, upto: u64, outbox: &mut Outbox) {
        assert!(
            upto <= self.emitted_end,
            "driver reported {upto} durable, but only {} bytes were emitted",
            self.emitted_end
        );
        if upto <= self.durable_upto {
            return;
        }
        self.durable_upto = upto;
        self.unsynced.retain(|_, at| *at > upto);
        if let Some((base, end)) = self.compacting {
            if upto >= end {
                self.compacting = None;
                self.log_bytes = self.emitted_end - base;
                outbox.push(Output::DropSegmentsBefore { base });
            }
        }
        let later = self.waiters.split_off(&(upto + 1));
        let ready = std::mem::replace(&mut self.waiters, later);
        for (_, messages) in ready {
            for (to, message) in messages {
                outbox.send(to, message);
            }
        }
    }

    /// Forgets everything not yet durable: the node is stopping.
    pub fn stop(&mut self) {
        self.waiters.clear();
        self.batch.clear();
        self.unsynced.clear();
    }

    /// The log length that must be durable before a reply about `key` may go out.
    pub fn written_at(&self, key: &[u8]) -> u64 {
        self.unsynced.get(key).copied().unwrap_or(0)
    }

    /// The log length that must be durable before a reply about everything this replica
    /// holds may go out.
    pub fn written_end(&self) -> u64 {
        self.unsynced.values().copied().max().unwrap_or(0)
    }

    /// Sends once the log is durable up to `offset`, and never before the first sync after
    /// start: what recovery read back may have been written but never synced.
    pub fn send_when_durable(
        &mut self,
        offset: u64,
        to: NodeId,
        message: Message,
        outbox: &mut Outbox,
    ) {
        let offset = offset.max(self.boot_end);
        if offset <= self.durable_upto {
            outbox.send(to, message);
        } else {
            self.waiters.entry(offset).or_default().push((to, message));
        }
    }

    /// Starts a new segment holding a snapshot of every key (and what `parts` writes: the
    /// records of pending hints and of bulk writes' versions kept aside) once the log is both over
    /// `compact_min_bytes` and more than twice the live data. The old segments stay until
    /// the snapshot is durable, and recovery merges whatever segments it finds, so a crash at
    /// any point of a compaction loses nothing.
    pub fn maybe_compact(
        &mut self,
        store: &Store,
        parts: &dyn Fn(&mut Vec<u8>),
        incarnation: u64,
        compact_min_bytes: u64,
        outbox: &mut Outbox,
        stats: &mut NodeStats,
    ) {
        if self.compacting.is_some()
            || self.log_bytes < compact_min_bytes
            || self.log_bytes < 2 * store.live_bytes()
        {
            return;
        }
        debug_assert!(
            self.batch.is_empty(),
            "compaction runs after the batch is flushed"
        );
        let base = self.emitted_end;
        let mut bytes = Vec::with_capacity(store.live_bytes() as usize);
        Record::Durable {
            upto: self.durable_upto,
            log_id: self.log.id,
        }
        .encode_into(&mut bytes);
        self.durable_marked = self.durable_upto;
        Record::Boot {
            incarnation,
            log_id: self.log.id,
        }
        .encode_into(&mut bytes);
        Record::LogStarted {
            started: self.log.started,
        }
        .encode_into(&mut bytes);
        if self.rebuilding {
            Record::Rebuilding.encode_into(&mut bytes);
        }
        for (key, object) in store.iter() {
            Record::encode_object(key, object, &mut bytes);
        }
        // The other parts' records: pending hints, bulk writes' versions kept aside.
        parts(&mut bytes);
        let end = base + bytes.len() as u64;
        self.emitted_end = end;
        self.log_bytes += bytes.len() as u64;
        self.compacting = Some((base, end));
        stats.compactions += 1;
        outbox.push(Output::Compact { base, bytes, end });
    }
}
