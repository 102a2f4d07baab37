//! Recovery: rebuilding a node's state from its log segments, telling a torn tail (cut it)
//! from corruption of synced bytes (an error: `Node::start` then sets the log aside and the
//! node rebuilds). See the `log` module documentation.

use super::record::{object_key, Frame, Record, RECORD_HEADER_BYTES, RECORD_MAGIC};
use crate::codec::DecodeError;
use crate::ids::{LogRef, NodeId};
use crate::ring::fnv1a;
use crate::version::{Dot, Object, VectorClock};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A torn tail that recovery cut off: the driver truncates the segment that starts at
/// `base` so that it ends at logical offset `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub base: u64,
    pub offset: u64,
    pub dropped_bytes: u64,
    /// Every dropped byte is zero: space a driver allocated ahead of its appends and never
    /// wrote (the node's segments grow in zero-filled steps), or sectors a power loss left
    /// unwritten. Cut off like any torn tail; drivers need not warn about it.
    pub zeros: bool,
}

/// One log file as the driver found it: its bytes, and the logical log offset of its first
/// byte. Offsets are logical so that they keep growing when compaction starts a new file.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub base: u64,
    pub bytes: &'a [u8],
}

/// What recovery rebuilt from the durable bytes; handed to `Node::new`.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Every key's object, merged from all valid records of all segments.
    pub objects: BTreeMap<Vec<u8>, Object>,
    /// Hinted keys still to hand over, by peer (`Hint` records not followed by `HintDone`).
    pub hints: BTreeMap<NodeId, BTreeSet<Vec<u8>>>,
    /// Keys whose tombstones were collected, with everything they had seen (`Collected`
    /// records): versions it covers are dropped from `objects`.
    pub collected: BTreeMap<Vec<u8>, VectorClock>,
    /// The incarnation id of the newest `Boot` record (`None` for a new log).
    pub incarnation: Option<u64>,
    /// The log's id, from its `Boot` records (`None` for a new log).
    pub log_id: Option<u64>,
    /// When the log was started, from its `LogStarted` records (0 if it has none: a log
    /// written before they existed).
    pub log_started: u64,
    /// Logical offset of the newest segment's first byte; appends go to that segment.
    pub segment_base: u64,
    /// Logical end of the newest segment's valid prefix; new records are appended here.
    pub log_end: u64,
    /// Valid bytes across all segments (what the log occupies on disk after truncation).
    pub log_bytes: u64,
    /// Segments with a torn tail cut off. The driver truncates each to its `offset`.
    pub torn: Vec<TornTail>,
    /// Number of valid records read.
    pub records: u64,
    /// The log's newest rebuild mark was `Rebuilding`: the node stopped mid-rebuild.
    pub rebuilding: bool,
    /// The logical offset of the `Rebuilding` mark that began the unfinished rebuild (the
    /// first one after the last `Rebuilt`), if the node stopped mid-rebuild. Nothing this
    /// log holds past it was vouched for to a tombstone collection (`verify`).
    pub rebuilding_since: Option<u64>,
    /// Collection positions (`Positions` records): the largest position recorded for each
    /// (node, log).
    pub positions: BTreeMap<(NodeId, LogRef), u64>,
    /// Bulk writes' versions kept aside (`Aside` records not followed by a `Refused` for the
    /// same key and dot), with their bulk write's N and W. `Node::new` drops those the
    /// key's object has seen (committed since).
    pub aside: BTreeMap<(Vec<u8>, Dot), (Object, u8, u8)>,
    /// Bulk writes' versions this replica promised never to keep (`Refused` records).
    pub refused: BTreeSet<(Vec<u8>, Dot)>,
}

impl Recovered {
    /// The state of a node that has never written anything.
    pub fn empty() -> Recovered {
        Recovered::default()
    }
}

/// Corruption that recovery will not silently cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryError {
    /// The record at logical `offset` (in the segment starting at `base`) is damaged, and a
    /// later record proves the log had been synced up to `synced_upto`, past `offset`: these
    /// were acknowledged bytes.
    Corrupt {
        base: u64,
        offset: u64,
        synced_upto: u64,
        reason: DecodeError,
    },
    /// A record passed its checksum but its body did not parse: written by a different
    /// format version, or a bug. Never truncated.
    Unreadable {
        base: u64,
        offset: u64,
        reason: DecodeError,
    },
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryError::Corrupt {
                base,
                offset,
                synced_upto,
                reason,
            } => write!(
                f,
                "log segment {base} is corrupt at byte {} ({reason}); a later record shows the log was synced up to offset {synced_upto}, so this damages acknowledged data and is not a torn write. Restore this node from its replicas (move its data directory away and let it rejoin empty) instead of truncating",
                offset - base
            ),
            RecoveryError::Unreadable {
                base,
                offset,
                reason,
            } => write!(
                f,
                "log segment {base}: the record at byte {} has a valid checksum but cannot be read ({reason}); was it written by a newer version of Tern?",
                offset - base
            ),
        }
    }
}

impl std::error::Error for RecoveryError {}

/// Log bytes per record that recovery expects when it sizes its list of object records: an
/// estimate only (a list that turns out longer grows). Object records hold a key, a value
/// and contexts of 9-to-10-byte actors: a few hundred bytes.
const RECOVERY_RECORD_BYTES_TYPICAL: usize = 256;

/// Rebuilds a node's state from one log file that starts at offset 0.
pub fn recover(bytes: &[u8]) -> Result<Recovered, RecoveryError> {
    recover_segments(&[Segment { base: 0, bytes }])
}

/// Rebuilds a node's state from all its log segments, oldest first. Replaying merges, so a
/// segment that compaction made redundant but the driver had not deleted yet does no harm.
///
/// Two passes. The first walks every segment forward, checking each record's framing,
/// decoding `Boot` and `Durable` records, and deciding torn tails and corruption. The
/// second merges the object records newest first, decoding a record in full only if it can
/// add something: merging is a join, so the order does not change the result, and a record
/// whose every dot the key's merged object has already seen changes nothing
/// (`Object::insert` would refuse each sibling). Such records are only skimmed (key and
/// dots, nothing copied). Most records of a log are older versions of a key that a later
/// record replaced.
///
/// Every record is read by one pass or the other, and the first unreadable one in log
/// order is the error, as a single forward walk that stops there would report it.
pub fn recover_segments(segments: &[Segment<'_>]) -> Result<Recovered, RecoveryError> {
    let mut recovered = Recovered::empty();
    // Marks reached by walking valid records: believed as they are.
    let mut synced_walked = 0u64;
    // Marks found by scanning past damage: (own offset, upto, log id), believed only if
    // they carry this log's id and vouch for offsets before themselves.
    let mut scanned: Vec<(u64, u64, u64)> = Vec::new();
    // Whether a scan past damage found any well-framed record at all.
    let mut records_past_damage = false;
    let mut bad: Vec<(u64, u64, DecodeError)> = Vec::new();
    // The first record (in log order) whose body cannot be read.
    let mut unreadable: Option<RecoveryError> = None;
    // Object records in log order, with room for one per `RECOVERY_RECORD_BYTES_TYPICAL`
    // of log, so that a typical log's list is never copied to grow.
    let bytes: usize = segments.iter().map(|s| s.bytes.len()).sum();
    let mut objects: Vec<ObjectRecord<'_>> =
        Vec::with_capacity(bytes / RECOVERY_RECORD_BYTES_TYPICAL);
    for segment in segments {
        let bytes = segment.bytes;
        let mut at = 0usize;
        while at < bytes.len() {
            let offset = segment.base + at as u64;
            match Frame::at(bytes, at) {
                Ok(frame) => {
                    if frame.is_object() {
                        objects.push(ObjectRecord {
                            frame,
                            base: segment.base,
                            offset,
                        });
                    } else {
                        match frame.decode() {
                            Ok(record) => {
                                if let Record::Durable { upto, .. } = record {
                                    synced_walked = synced_walked.max(upto);
                                }
                                apply(&mut recovered, record, offset);
                            }
                            Err(reason) => {
                                let error = RecoveryError::Unreadable {
                                    base: segment.base,
                                    offset,
                                    reason,
                                };
                                unreadable.get_or_insert(error);
                            }
                        }
                    }
                    recovered.records += 1;
                    at = frame.end;
                }
                Err(reason) => {
                    // Zeros hold no record to scan for (the magic is not zero).
                    let zeros = all_zeros(&bytes[at..]);
                    if !zeros {
                        let (marks, found) = marks_after(bytes, at, segment.base);
                        scanned.extend(marks);
                        records_past_damage |= found;
                    }
                    // Still bad bytes: a mark before them that vouches past them means
                    // synced bytes read back as zeros, which is damage, not a tail.
                    bad.push((segment.base, offset, reason));
                    recovered.torn.push(TornTail {
                        base: segment.base,
                        offset,
                        dropped_bytes: (bytes.len() - at) as u64,
                        zeros,
                    });
                    break;
                }
            }
        }
        recovered.log_bytes += at as u64;
        recovered.segment_base = segment.base;
        recovered.log_end = segment.base + at as u64;
    }
    let mut dots: Vec<Dot> = Vec::new();
    let mut merged = Merged::with_room(objects.len());
    for record in objects.iter().rev() {
        if let Err(reason) = merged.newer_first(record, &mut dots) {
            let error = RecoveryError::Unreadable {
                base: record.base,
                offset: record.offset,
                reason,
            };
            // Going backwards, a later find is earlier in the log.
            let earlier = match &unreadable {
                Some(RecoveryError::Unreadable { offset, .. }) => record.offset < *offset,
                _ => true,
            };
            if earlier {
                unreadable = Some(error);
            }
        }
    }
    if let Some(error) = unreadable {
        return Err(error);
    }
    recovered.objects = merged.into_map();
    for (key, clock) in &recovered.collected {
        let Some(object) = recovered.objects.get_mut(key) else {
            continue;
        };
        if object.siblings().iter().any(|s| clock.covers(s.dot)) {
            let kept = object.siblings().iter().filter(|s| !clock.covers(s.dot));
            *object = Object::from_siblings(kept.cloned().collect());
        }
        if object.is_empty() {
            recovered.objects.remove(key);
        }
    }
    // No Boot record could be walked, yet records follow the bad bytes: the damage is the
    // log's first record, and without its id no mark after it can be believed, so synced
    // records would pass for one torn tail and be cut off unseen. Such a log is as good as
    // empty either way (the node rebuilds from its replicas), so it is called damage: its
    // bytes are set aside for inspection rather than cut off.
    if recovered.log_id.is_none() && records_past_damage {
        if let Some((base, offset, reason)) = bad.first().cloned() {
            return Err(RecoveryError::Corrupt {
                base,
                offset,
                synced_upto: offset,
                reason,
            });
        }
    }
    let synced_scanned = scanned
        .iter()
        .filter(|(own, upto, log_id)| Some(*log_id) == recovered.log_id && upto <= own)
        .map(|(_, upto, _)| *upto)
        .max()
        .unwrap_or(0);
    let synced_max = synced_walked.max(synced_scanned);
    for (base, offset, reason) in bad {
        if synced_max > offset {
            return Err(RecoveryError::Corrupt {
                base,
                offset,
                synced_upto: synced_max,
                reason,
            });
        }
    }
    Ok(recovered)
}

/// The objects the second pass merged so far, and a hash table (FNV-1a of the key, open
/// addressing) that finds a key's among them. A table rather than the `BTreeMap` the result
/// is: every record asks for its key once or twice, and a tree compares whole keys at every
/// level; the table's order never shows, since `into_map` sorts by key.
struct Merged {
    objects: Vec<(Vec<u8>, Object)>,
    /// One more than an index into `objects`, or 0 for a free slot. A power of two long, at
    /// least twice the records, so it never fills.
    slots: Vec<u32>,
}

impl Merged {
    fn with_room(records: usize) -> Merged {
        Merged {
            objects: Vec::with_capacity(records),
            slots: vec![0; (records.max(1) * 2).next_power_of_two()],
        }
    }

    /// The slot of `key`: where it is, or the free slot where it goes.
    fn slot(&self, key: &[u8]) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = fnv1a(key) as usize & mask;
        loop {
            match self.slots[at] {
                0 => return at,
                i if self.objects[i as usize - 1].0 == key => return at,
                _ => at = (at + 1) & mask,
            }
        }
    }

    fn get(&self, key: &[u8]) -> Option<&Object> {
        let i = self.slots[self.slot(key)];
        (i != 0).then(|| &self.objects[i as usize - 1].1)
    }

    /// Merges `object` into `key`'s (what `apply` does with an object record).
    fn merge(&mut self, key: Vec<u8>, object: Object) {
        let at = self.slot(&key);
        match self.slots[at] {
            0 => {
                self.objects.push((key, object));
                self.slots[at] = self.objects.len() as u32;
            }
            i => {
                self.objects[i as usize - 1].1.merge_owned(object);
            }
        }
    }

    /// Merges one object record into what the newer records built, reading only as much of
    /// it as it takes to know whether it adds anything.
    fn newer_first(
        &mut self,
        record: &ObjectRecord<'_>,
        dots: &mut Vec<Dot>,
    ) -> Result<(), DecodeError> {
        let known = object_key(record.frame.payload).and_then(|key| self.get(key));
        if let Some(object) = known {
            dots.clear();
            record.frame.object_dots(dots)?;
            if dots.iter().all(|d| object.has_seen(*d)) {
                return Ok(());
            }
        }
        // An object frame decodes to an object record, or fails.
        if let Record::Object { key, object } = record.frame.decode()? {
            self.merge(key, object);
        }
        Ok(())
    }

    /// Every key's object, by key.
    fn into_map(mut self) -> BTreeMap<Vec<u8>, Object> {
        // Sorted by each key's first 16 bytes as a number (zero-padded, so in key order),
        // then by the whole key where those are equal: integers compare far cheaper than
        // keys, and moving (prefix, index) pairs cheaper than keys with their objects. Keys
        // are unique, so an unstable sort gives the one order; the map is built in bulk.
        let mut order: Vec<(u128, u32)> = (self.objects.iter().enumerate())
            .map(|(i, (key, _))| (key_prefix(key), i as u32))
            .collect();
        let objects = &self.objects;
        order.sort_unstable_by(|a, b| {
            let whole = || objects[a.1 as usize].0.cmp(&objects[b.1 as usize].0);
            a.0.cmp(&b.0).then_with(whole)
        });
        let take = |(_, i): &(u128, u32)| std::mem::take(&mut self.objects[*i as usize]);
        order.iter().map(take).collect()
    }
}

/// A key's first 16 bytes, big-endian and zero-padded: ordered as the keys are, except that
/// keys equal on them (a key and itself followed by zeros, or keys longer than 16) compare
/// equal and must be told apart whole.
fn key_prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let len = key.len().min(16);
    bytes[..len].copy_from_slice(&key[..len]);
    u128::from_be_bytes(bytes)
}

/// An object record whose framing the first pass checked, for the second to merge.
struct ObjectRecord<'a> {
    frame: Frame<'a>,
    base: u64,
    offset: u64,
}

/// Folds one record (not an object's: those merge in a second pass) found at logical
/// `offset` into `recovered`.
fn apply(recovered: &mut Recovered, record: Record, offset: u64) {
    match record {
        Record::Boot {
            incarnation,
            log_id,
        } => {
            recovered.incarnation = Some(incarnation);
            // The first Boot record names the log; every later one repeats it.
            recovered.log_id.get_or_insert(log_id);
        }
        Record::LogStarted { started } => {
            recovered.log_started = recovered.log_started.max(started);
        }
        Record::Object { key, object } => {
            recovered
                .objects
                .entry(key)
                .or_default()
                .merge_owned(object);
        }
        Record::Durable { .. } => {}
        Record::Hint { peer, key } => {
            recovered.hints.entry(peer).or_default().insert(key);
        }
        Record::Collected { key, clock } => {
            recovered.collected.entry(key).or_default().merge(&clock);
        }
        Record::HintDone { peer, key } => {
            if let Some(keys) = recovered.hints.get_mut(&peer) {
                keys.remove(&key);
            }
        }
        Record::Rebuilding => {
            recovered.rebuilding = true;
            recovered.rebuilding_since.get_or_insert(offset);
        }
        Record::Rebuilt => {
            recovered.rebuilding = false;
            recovered.rebuilding_since = None;
        }
        Record::Positions { entries } => {
            for (node, log_id, position) in entries {
                let at = recovered.positions.entry((node, log_id)).or_insert(0);
                *at = (*at).max(position);
            }
        }
        Record::Aside {
            key,
            dot,
            object,
            n,
            w,
        } => {
            recovered.aside.insert((key, dot), (object, n, w));
        }
        Record::Refused { key, dot } => {
            let entry = (key, dot);
            recovered.aside.remove(&entry);
            recovered.refused.insert(entry);
        }
    }
}

/// Whether every byte is zero. A segment's tail of zeros can be megabytes (space grown
/// ahead of the appends), so this ORs 64 bytes at a time, which the compiler vectorizes,
/// instead of stopping at each byte to ask.
pub(super) fn all_zeros(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        if chunk.iter().fold(0u8, |any, b| any | b) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|b| *b == 0)
}

/// The `Durable` marks that a scan finds after the bad bytes at `bad`: (own logical offset,
/// upto, log id), and whether it found any well-framed record. The caller decides which to
/// believe.
fn marks_after(bytes: &[u8], bad: usize, base: u64) -> (Vec<(u64, u64, u64)>, bool) {
    let magic = RECORD_MAGIC.to_le_bytes();
    let mut marks = Vec::new();
    let mut found = false;
    let mut at = bad + 1;
    while at + RECORD_HEADER_BYTES <= bytes.len() {
        if bytes[at..at + 4] != magic {
            at += 1;
            continue;
        }
        match Record::decode_at(bytes, at) {
            Ok((record, next)) => {
                found = true;
                if let Record::Durable { upto, log_id } = record {
                    marks.push((base + at as u64, upto, log_id));
                }
                at = next;
            }
            Err(_) => at += 1,
        }
    }
    (marks, found)
}
