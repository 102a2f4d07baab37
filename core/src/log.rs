//! The durable log: an append-only sequence of checksummed records, and recovery from it.
//!
//! Core produces log bytes (`Output::Persist`) and is told when they are durable
//! (`Input::Persisted`); drivers only append, sync and read back. The format is in
//! docs/PROTOCOL.md:
//!
//! ```text
//! record = magic u32 LE ("TERN") | len u32 LE | crc32c u32 LE | type u8 | payload [len]
//! crc32c covers the len field, the type byte and the payload.
//! ```
//!
//! Recovery keeps the longest valid prefix. What follows the first bad byte is either a torn
//! tail (bytes that were written but never synced: truncate and go on) or corruption of
//! synced bytes (refuse to start). The two are told apart by `Durable { upto, log_id }`
//! records: core writes one at the head of each batch, saying how much of the log it knew to
//! be synced. If a mark after the bad offset says the bad offset had been synced, the damage
//! is corruption; otherwise it is a torn tail. Corruption inside the very last synced batch,
//! with no later batch to vouch for it, is indistinguishable from a torn tail and is treated
//! as one (docs/CONTRACT.md).
//!
//! Past a bad offset, records can only be found by scanning for the magic number, and a
//! scan can land inside a value: a client may store bytes that frame a valid `Durable`
//! record. So a scanned mark is believed only if it carries this log's `log_id` (a random
//! number drawn when the log was created, written in its `Boot` records and never sent to a
//! client) and vouches only for offsets before its own position. Value bytes cannot steer
//! recovery without guessing 64 random bits.

use crate::codec::{decode_body, encode_body, read_u32, DecodeError};
use crate::limits::RECORD_BYTES_MAX;
use crate::version::Object;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// "TERN" read as a little-endian u32.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"TERN");
/// magic + len + crc + type.
pub const RECORD_HEADER_BYTES: usize = 13;

const TAG_BOOT: u8 = 1;
const TAG_OBJECT: u8 = 2;
const TAG_DURABLE: u8 = 3;

/// One log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A node incarnation started: its random incarnation id (dots it mints carry it) and
    /// the log's id (drawn once, when the log was created, and kept for its whole life).
    Boot { incarnation: u64, log_id: u64 },
    /// The full object of a key after a change. Replaying merges, so order does not matter.
    Object { key: Vec<u8>, object: Object },
    /// Every log byte before `upto` had been synced when this record was written. `log_id`
    /// is the log's id, so that a mark framed inside a value is never believed.
    Durable { upto: u64, log_id: u64 },
}

#[derive(Serialize, Deserialize)]
struct BootBody {
    incarnation: u64,
    log_id: u64,
}

#[derive(Serialize, Deserialize)]
struct ObjectBody {
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    object: Object,
}

/// Encodes exactly like `ObjectBody`, without copying the key and object.
#[derive(Serialize)]
struct ObjectBodyRef<'a> {
    #[serde(with = "serde_bytes")]
    key: &'a [u8],
    object: &'a Object,
}

#[derive(Serialize, Deserialize)]
struct DurableBody {
    upto: u64,
    log_id: u64,
}

impl Record {
    /// Appends the encoded record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Record::Boot {
                incarnation,
                log_id,
            } => {
                let body = BootBody {
                    incarnation: *incarnation,
                    log_id: *log_id,
                };
                frame(TAG_BOOT, &encode_body(&body), out)
            }
            Record::Object { key, object } => Record::encode_object(key, object, out),
            Record::Durable { upto, log_id } => {
                let body = DurableBody {
                    upto: *upto,
                    log_id: *log_id,
                };
                frame(TAG_DURABLE, &encode_body(&body), out)
            }
        }
    }

    /// Appends an `Object` record for `key` without building a `Record`.
    pub fn encode_object(key: &[u8], object: &Object, out: &mut Vec<u8>) {
        frame(
            TAG_OBJECT,
            &encode_body(&ObjectBodyRef { key, object }),
            out,
        );
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Decodes the record at `at`; returns it and the offset just past it.
    pub fn decode_at(bytes: &[u8], at: usize) -> Result<(Record, usize), DecodeError> {
        let magic = read_u32(bytes, at)?;
        if magic != RECORD_MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        let len = read_u32(bytes, at + 4)? as usize;
        if len > RECORD_BYTES_MAX {
            return Err(DecodeError::TooLarge {
                len,
                max: RECORD_BYTES_MAX,
            });
        }
        let stored = read_u32(bytes, at + 8)?;
        let body_at = at + RECORD_HEADER_BYTES;
        let end = body_at + len;
        if bytes.len() < end {
            return Err(DecodeError::Truncated {
                needed: end - at,
                available: bytes.len() - at,
            });
        }
        let tag = bytes[at + 12];
        let payload = &bytes[body_at..end];
        let mut computed = crc32c::crc32c(&bytes[at + 4..at + 8]);
        computed = crc32c::crc32c_append(computed, &[tag]);
        computed = crc32c::crc32c_append(computed, payload);
        if computed != stored {
            return Err(DecodeError::BadChecksum { stored, computed });
        }
        let record = match tag {
            TAG_BOOT => {
                let body = decode_body::<BootBody>(payload)?;
                Record::Boot {
                    incarnation: body.incarnation,
                    log_id: body.log_id,
                }
            }
            TAG_OBJECT => {
                let body = decode_body::<ObjectBody>(payload)?;
                Record::Object {
                    key: body.key,
                    object: body.object,
                }
            }
            TAG_DURABLE => {
                let body = decode_body::<DurableBody>(payload)?;
                Record::Durable {
                    upto: body.upto,
                    log_id: body.log_id,
                }
            }
            other => return Err(DecodeError::UnknownTag(other)),
        };
        Ok((record, end))
    }
}

/// Frames one payload: magic, length, checksum, type, payload.
fn frame(tag: u8, payload: &[u8], out: &mut Vec<u8>) {
    assert!(
        payload.len() <= RECORD_BYTES_MAX,
        "record payload {} over RECORD_BYTES_MAX; callers bound objects first",
        payload.len()
    );
    let len = (payload.len() as u32).to_le_bytes();
    let mut crc = crc32c::crc32c(&len);
    crc = crc32c::crc32c_append(crc, &[tag]);
    crc = crc32c::crc32c_append(crc, payload);
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.push(tag);
    out.extend_from_slice(payload);
}

/// A torn tail that recovery cut off: the driver truncates the segment that starts at
/// `base` so that it ends at logical offset `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub base: u64,
    pub offset: u64,
    pub dropped_bytes: u64,
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
    /// The incarnation id of the newest `Boot` record (`None` for a new log).
    pub incarnation: Option<u64>,
    /// The log's id, from its `Boot` records (`None` for a new log).
    pub log_id: Option<u64>,
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

/// Rebuilds a node's state from one log file that starts at offset 0.
pub fn recover(bytes: &[u8]) -> Result<Recovered, RecoveryError> {
    recover_segments(&[Segment { base: 0, bytes }])
}

/// Rebuilds a node's state from all its log segments, oldest first. Replaying merges, so a
/// segment that compaction made redundant but the driver had not deleted yet does no harm.
pub fn recover_segments(segments: &[Segment<'_>]) -> Result<Recovered, RecoveryError> {
    let mut recovered = Recovered::empty();
    // Marks reached by walking valid records: believed as they are.
    let mut synced_walked = 0u64;
    // Marks found by scanning past damage: (own offset, upto, log id), believed only if
    // they carry this log's id and vouch for offsets before themselves.
    let mut scanned: Vec<(u64, u64, u64)> = Vec::new();
    let mut bad: Vec<(u64, u64, DecodeError)> = Vec::new();
    for segment in segments {
        let bytes = segment.bytes;
        let mut at = 0usize;
        while at < bytes.len() {
            match Record::decode_at(bytes, at) {
                Ok((record, next)) => {
                    if let Record::Durable { upto, .. } = record {
                        synced_walked = synced_walked.max(upto);
                    }
                    apply(&mut recovered, record);
                    recovered.records += 1;
                    at = next;
                }
                Err(reason @ (DecodeError::Malformed(_) | DecodeError::UnknownTag(_))) => {
                    // The checksum matched: these are the bytes that were written.
                    return Err(RecoveryError::Unreadable {
                        base: segment.base,
                        offset: segment.base + at as u64,
                        reason,
                    });
                }
                Err(reason) => {
                    scanned.extend(marks_after(bytes, at, segment.base));
                    bad.push((segment.base, segment.base + at as u64, reason));
                    recovered.torn.push(TornTail {
                        base: segment.base,
                        offset: segment.base + at as u64,
                        dropped_bytes: (bytes.len() - at) as u64,
                    });
                    break;
                }
            }
        }
        recovered.log_bytes += at as u64;
        recovered.segment_base = segment.base;
        recovered.log_end = segment.base + at as u64;
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

fn apply(recovered: &mut Recovered, record: Record) {
    match record {
        Record::Boot {
            incarnation,
            log_id,
        } => {
            recovered.incarnation = Some(incarnation);
            // The first Boot record names the log; every later one repeats it.
            recovered.log_id.get_or_insert(log_id);
        }
        Record::Object { key, object } => {
            recovered.objects.entry(key).or_default().merge(&object);
        }
        Record::Durable { .. } => {}
    }
}

/// The `Durable` marks that a scan finds after the bad bytes at `bad`: (own logical offset,
/// upto, log id). The caller decides which to believe.
fn marks_after(bytes: &[u8], bad: usize, base: u64) -> Vec<(u64, u64, u64)> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let mut marks = Vec::new();
    let mut at = bad + 1;
    while at + RECORD_HEADER_BYTES <= bytes.len() {
        if bytes[at..at + 4] != magic {
            at += 1;
            continue;
        }
        match Record::decode_at(bytes, at) {
            Ok((record, next)) => {
                if let Record::Durable { upto, log_id } = record {
                    marks.push((base + at as u64, upto, log_id));
                }
                at = next;
            }
            Err(_) => at += 1,
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NodeId;
    use crate::version::{ActorId, Dot, Sibling, VectorClock};
    use proptest::prelude::*;

    const LOG: u64 = 0x5eed_101d;

    fn object(seq: u64, value: &[u8]) -> Object {
        Object::single(Sibling {
            dot: Dot {
                actor: ActorId {
                    node: NodeId(1),
                    incarnation: 1,
                },
                seq,
            },
            context: VectorClock::new(),
            value: Some(value.to_vec()),
        })
    }

    fn sample_log() -> (Vec<u8>, Vec<usize>) {
        let mut log = Vec::new();
        let mut starts = Vec::new();
        let records = [
            Record::Boot {
                incarnation: 1,
                log_id: LOG,
            },
            Record::Object {
                key: b"a".to_vec(),
                object: object(1, b"one"),
            },
            Record::Durable {
                upto: 0,
                log_id: LOG,
            },
            Record::Object {
                key: b"b".to_vec(),
                object: object(2, b"two"),
            },
        ];
        for r in records {
            starts.push(log.len());
            r.encode_into(&mut log);
        }
        (log, starts)
    }

    #[test]
    fn records_round_trip() {
        let (log, starts) = sample_log();
        let (r, next) = Record::decode_at(&log, starts[1]).unwrap();
        assert_eq!(next, starts[2]);
        assert_eq!(
            r,
            Record::Object {
                key: b"a".to_vec(),
                object: object(1, b"one")
            }
        );
    }

    #[test]
    fn clean_log_recovers_everything() {
        let (log, _) = sample_log();
        let rec = recover(&log).unwrap();
        assert_eq!(rec.incarnation, Some(1));
        assert_eq!(rec.log_id, Some(LOG));
        assert_eq!(rec.objects.len(), 2);
        assert_eq!(rec.log_end, log.len() as u64);
        assert!(rec.torn.is_empty());
        assert_eq!(rec.records, 4);
    }

    #[test]
    fn torn_tail_is_truncated_at_the_last_valid_record() {
        let (log, starts) = sample_log();
        for cut in starts[3] + 1..log.len() {
            let rec = recover(&log[..cut]).unwrap();
            assert_eq!(rec.log_end, starts[3] as u64);
            assert_eq!(rec.torn[0].offset, starts[3] as u64);
            assert_eq!(rec.objects.len(), 1);
        }
        // A torn sector: the tail holds garbage, not a short record.
        let mut torn = log.clone();
        for b in &mut torn[starts[3] + 6..] {
            *b = 0;
        }
        let rec = recover(&torn).unwrap();
        assert_eq!(rec.log_end, starts[3] as u64);
    }

    #[test]
    fn corruption_before_a_synced_mark_is_an_error() {
        let (mut log, starts) = sample_log();
        // The Durable record at starts[2] claims 0 synced; write a later one claiming all of it.
        Record::Durable {
            upto: log.len() as u64,
            log_id: LOG,
        }
        .encode_into(&mut log);
        log[starts[1] + RECORD_HEADER_BYTES + 1] ^= 0x40;
        match recover(&log) {
            Err(RecoveryError::Corrupt {
                offset,
                synced_upto,
                base: 0,
                reason: DecodeError::BadChecksum { .. },
            }) => {
                assert_eq!(offset, starts[1] as u64);
                assert!(synced_upto > offset);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn damage_after_the_synced_mark_is_a_torn_tail() {
        let (mut log, starts) = sample_log();
        // starts[2] says only offset 0 is synced, so damage at starts[1] may be unsynced bytes.
        log[starts[1] + RECORD_HEADER_BYTES + 1] ^= 0x40;
        let rec = recover(&log).unwrap();
        assert_eq!(rec.log_end, starts[1] as u64);
        assert_eq!(rec.objects.len(), 0);
    }

    #[test]
    fn segments_merge_and_only_the_newest_takes_appends() {
        let (old, _) = sample_log();
        let base = old.len() as u64;
        let mut new = Vec::new();
        Record::Durable {
            upto: base,
            log_id: LOG,
        }
        .encode_into(&mut new);
        Record::Boot {
            incarnation: 2,
            log_id: LOG,
        }
        .encode_into(&mut new);
        let rec = recover_segments(&[
            Segment {
                base: 0,
                bytes: &old,
            },
            Segment { base, bytes: &new },
        ])
        .unwrap();
        assert_eq!(rec.incarnation, Some(2));
        assert_eq!(rec.objects.len(), 2);
        assert_eq!(rec.segment_base, base);
        assert_eq!(rec.log_end, base + new.len() as u64);
        assert_eq!(rec.log_bytes, base + new.len() as u64);
        // Damage in the old segment that the new segment vouches for is corruption.
        let mut damaged = old.clone();
        damaged[20] ^= 1;
        let err = recover_segments(&[
            Segment {
                base: 0,
                bytes: &damaged,
            },
            Segment { base, bytes: &new },
        ])
        .unwrap_err();
        assert!(
            matches!(err, RecoveryError::Corrupt { base: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_mark_framed_inside_a_value_cannot_make_a_torn_tail_look_like_corruption() {
        let (mut log, _) = sample_log();
        let synced = log.len();
        // A value holding a perfectly framed Durable mark that claims the whole log synced,
        // with a guessed log id: as a client could store it.
        let mut value = b"prefix:".to_vec();
        Record::Durable {
            upto: 1 << 40,
            log_id: 7,
        }
        .encode_into(&mut value);
        let start = log.len();
        Record::Object {
            key: b"evil".to_vec(),
            object: object(3, &value),
        }
        .encode_into(&mut log);
        // The record is torn: its first sector's tail never reached the disk.
        log[start + 9] ^= 0xff;
        let rec = recover(&log).expect("a torn tail, not corruption");
        assert_eq!(rec.log_end, synced as u64);
        // A mark with the right log id but claiming bytes past its own position is not
        // believed either; one with the right id vouching for earlier bytes is.
        let mut honest = log.clone();
        let here = honest.len() as u64;
        Record::Durable {
            upto: here + 100,
            log_id: LOG,
        }
        .encode_into(&mut honest);
        assert!(recover(&honest).is_ok());
        Record::Durable {
            upto: here,
            log_id: LOG,
        }
        .encode_into(&mut honest);
        assert!(matches!(
            recover(&honest),
            Err(RecoveryError::Corrupt { .. })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = recover(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(flip in 0usize..200, mask in 1u8..=255) {
            let (mut log, _) = sample_log();
            let at = flip % log.len();
            log[at] ^= mask;
            let _ = recover(&log);
        }
    }
}
