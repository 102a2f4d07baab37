//! Log records: the framing (magic, length, CRC32C, type) and the record bodies.

use crate::codec::{decode_body, encode_body, read_u32, DecodeError};
use crate::ids::{LogRef, NodeId};
use crate::limits::{RECORD_BYTES_MAX, SIBLINGS_DECODE_MAX};
use crate::version::{wire, ActorId, Dot, Object, VectorClock};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// "TERN" read as a little-endian u32.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"TERN");
/// magic + len + crc + type.
pub const RECORD_HEADER_BYTES: usize = 13;

pub(super) const TAG_BOOT: u8 = 1;
pub(super) const TAG_OBJECT: u8 = 2;
const TAG_DURABLE: u8 = 3;
const TAG_HINT: u8 = 4;
const TAG_HINT_DONE: u8 = 5;
const TAG_COLLECTED: u8 = 6;
const TAG_REBUILDING: u8 = 7;
const TAG_REBUILT: u8 = 8;
const TAG_ASIDE: u8 = 9;
const TAG_REFUSED: u8 = 10;
/// Positions as first written, before logs were named with their start (read as started at
/// 0, before any log named so: `LogRef`).
const TAG_POSITIONS_UNSTARTED: u8 = 11;
const TAG_LOG_STARTED: u8 = 12;
const TAG_POSITIONS: u8 = 13;

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
    /// `peer` missed a write of `key`: hand the key over once it is back (`handoff`).
    Hint { peer: NodeId, key: Vec<u8> },
    /// `peer` has the key of an earlier `Hint` durable: the hint is done. Hints are replayed
    /// in log order, so a later `Hint` for the same key opens it again.
    HintDone { peer: NodeId, key: Vec<u8> },
    /// `key`'s tombstones were collected: every version `clock` covers is gone for good.
    /// Recovery drops them from whatever the older records of `key` merge into: a later
    /// write's context may name a collected tombstone's dot (one counter per actor) without
    /// naming what the tombstone had replaced.
    Collected { key: Vec<u8>, clock: VectorClock },
    /// The node is rebuilding (`rebuild`): until a later `Rebuilt`, a restart goes on
    /// rebuilding. Written after the Boot record of a rebuilding incarnation, and into
    /// every snapshot compaction takes while it rebuilds.
    Rebuilding,
    /// The rebuild is done: this replica holds what its replicas held.
    Rebuilt,
    /// Bulk write `dot`'s version of `key` (with the earlier versions of its actor that
    /// travel with it, `Message::Prepare`), kept aside until the bulk write is decided
    /// (`bulk`): not part of the key's object, never read. `n` and `w` are the bulk write's.
    /// Recovery keeps it unless a later `Refused` names it or the key's object has seen its
    /// dot (it was committed).
    Aside {
        key: Vec<u8>,
        dot: Dot,
        object: Object,
        n: u8,
        w: u8,
    },
    /// This replica promised never to keep the bulk write `dot`'s version of `key` (a
    /// resolution found it undecided, or decided against it); a kept one is forgotten.
    Refused { key: Vec<u8>, dot: Dot },
    /// Collection positions (`positions`): each `(node, log, position)` says that node
    /// `node`'s log `log` was durable up to `position` when it agreed to a tombstone
    /// collection (0: the log was registered). Recovery keeps the largest position of each
    /// (node, log). Written before this node forgets a tombstone that agreement allowed,
    /// and into every snapshot.
    Positions { entries: Vec<(NodeId, LogRef, u64)> },
    /// When this log was started, by its node's clock in microseconds (`LogRef`): written
    /// after each `Boot` record and into every snapshot. A log written before there was
    /// such a record reads as started at 0.
    LogStarted { started: u64 },
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

#[derive(Serialize, Deserialize)]
struct HintBody {
    peer: u32,
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct CollectedBody {
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    clock: VectorClock,
}

#[derive(Serialize, Deserialize)]
struct AsideBody {
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    dot: Dot,
    object: Object,
    n: u8,
    w: u8,
}

#[derive(Serialize, Deserialize)]
struct RefusedBody {
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    dot: Dot,
}

#[derive(Serialize, Deserialize)]
struct PositionsBody {
    entries: Vec<(u32, LogRef, u64)>,
}

#[derive(Serialize, Deserialize)]
struct UnstartedPositionsBody {
    entries: Vec<(u32, u64, u64)>,
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
            Record::Hint { peer, key } | Record::HintDone { peer, key } => {
                let tag = if matches!(self, Record::Hint { .. }) {
                    TAG_HINT
                } else {
                    TAG_HINT_DONE
                };
                let body = HintBody {
                    peer: peer.0,
                    key: key.clone(),
                };
                frame(tag, &encode_body(&body), out)
            }
            Record::Collected { key, clock } => {
                let body = CollectedBody {
                    key: key.clone(),
                    clock: clock.clone(),
                };
                frame(TAG_COLLECTED, &encode_body(&body), out)
            }
            Record::Rebuilding => frame(TAG_REBUILDING, &[], out),
            Record::Rebuilt => frame(TAG_REBUILT, &[], out),
            Record::Aside {
                key,
                dot,
                object,
                n,
                w,
            } => {
                let body = AsideBody {
                    key: key.clone(),
                    dot: *dot,
                    object: object.clone(),
                    n: *n,
                    w: *w,
                };
                frame(TAG_ASIDE, &encode_body(&body), out)
            }
            Record::Refused { key, dot } => {
                let body = RefusedBody {
                    key: key.clone(),
                    dot: *dot,
                };
                frame(TAG_REFUSED, &encode_body(&body), out)
            }
            Record::Positions { entries } => {
                let body = PositionsBody {
                    entries: entries.iter().map(|(n, l, p)| (n.0, *l, *p)).collect(),
                };
                frame(TAG_POSITIONS, &encode_body(&body), out)
            }
            Record::LogStarted { started } => frame(TAG_LOG_STARTED, &encode_body(started), out),
        }
    }

    /// Appends an `Object` record for `key` without building a `Record`: the body is
    /// written in place, behind room left for the header (the bytes `ObjectBody`'s postcard
    /// encoding would give, see `version::wire`).
    pub fn encode_object(key: &[u8], object: &Object, out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(RECORD_HEADER_BYTES + wire::bytes_len(key) + wire::object_len(object));
        out.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
        wire::put_bytes(key, out);
        wire::put_object(object, out);
        frame_in_place(TAG_OBJECT, out, start);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Decodes the record at `at`; returns it and the offset just past it.
    pub fn decode_at(bytes: &[u8], at: usize) -> Result<(Record, usize), DecodeError> {
        let frame = Frame::at(bytes, at)?;
        Ok((frame.decode()?, frame.end))
    }

    /// `decode_at`, except for an object record whose key and dots (read into `dots`, without
    /// building the object) `skip` accepts: that one is checked as `decode_at` would check
    /// it, and fails where it would, but comes back as `None`. For a reader that has no use
    /// for an object whose every version it already holds (merging it would change nothing).
    pub fn decode_at_unless(
        bytes: &[u8],
        at: usize,
        dots: &mut Vec<Dot>,
        skip: impl FnOnce(&[u8], &[Dot]) -> bool,
    ) -> Result<(Option<Record>, usize), DecodeError> {
        let frame = Frame::at(bytes, at)?;
        if frame.is_object() {
            dots.clear();
            let key = frame.object_dots(dots)?;
            if skip(key, dots) {
                return Ok((None, frame.end));
            }
        }
        Ok((Some(frame.decode()?), frame.end))
    }
}

/// One record's framing, checked (magic, length, checksum) but its body not decoded yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<'a> {
    pub tag: u8,
    pub payload: &'a [u8],
    /// Offset just past the record.
    pub end: usize,
}

impl<'a> Frame<'a> {
    /// Checks the framing of the record at `at`.
    pub(crate) fn at(bytes: &'a [u8], at: usize) -> Result<Frame<'a>, DecodeError> {
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
        let len = [bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]];
        let computed = record_crc(len, tag, payload);
        if computed != stored {
            return Err(DecodeError::BadChecksum { stored, computed });
        }
        Ok(Frame { tag, payload, end })
    }

    pub(crate) fn is_object(&self) -> bool {
        self.tag == TAG_OBJECT
    }

    /// Decodes the body.
    pub(crate) fn decode(&self) -> Result<Record, DecodeError> {
        let payload = self.payload;
        let record = match self.tag {
            TAG_BOOT => {
                let body = decode_body::<BootBody>(payload)?;
                Record::Boot {
                    incarnation: body.incarnation,
                    log_id: body.log_id,
                }
            }
            TAG_OBJECT => match read_object_body(payload) {
                Some((key, object)) => Record::Object {
                    key: key.to_vec(),
                    object,
                },
                // The hand-written reader refused the bytes: serde accepts them or says why.
                None => {
                    let body = decode_body::<ObjectBody>(payload)?;
                    Record::Object {
                        key: body.key,
                        object: body.object,
                    }
                }
            },
            TAG_DURABLE => {
                let body = decode_body::<DurableBody>(payload)?;
                Record::Durable {
                    upto: body.upto,
                    log_id: body.log_id,
                }
            }
            TAG_HINT => {
                let body = decode_body::<HintBody>(payload)?;
                Record::Hint {
                    peer: NodeId(body.peer),
                    key: body.key,
                }
            }
            TAG_HINT_DONE => {
                let body = decode_body::<HintBody>(payload)?;
                Record::HintDone {
                    peer: NodeId(body.peer),
                    key: body.key,
                }
            }
            TAG_COLLECTED => {
                let body = decode_body::<CollectedBody>(payload)?;
                Record::Collected {
                    key: body.key,
                    clock: body.clock,
                }
            }
            TAG_REBUILDING | TAG_REBUILT if !payload.is_empty() => {
                return Err(DecodeError::Malformed("rebuild mark with a body".into()))
            }
            TAG_REBUILDING => Record::Rebuilding,
            TAG_REBUILT => Record::Rebuilt,
            TAG_ASIDE => {
                let body = decode_body::<AsideBody>(payload)?;
                Record::Aside {
                    key: body.key,
                    dot: body.dot,
                    object: body.object,
                    n: body.n,
                    w: body.w,
                }
            }
            TAG_REFUSED => {
                let body = decode_body::<RefusedBody>(payload)?;
                Record::Refused {
                    key: body.key,
                    dot: body.dot,
                }
            }
            TAG_POSITIONS => {
                let body = decode_body::<PositionsBody>(payload)?;
                let entries = body.entries.into_iter();
                Record::Positions {
                    entries: entries.map(|(n, l, p)| (NodeId(n), l, p)).collect(),
                }
            }
            TAG_POSITIONS_UNSTARTED => {
                let body = decode_body::<UnstartedPositionsBody>(payload)?;
                let entries = body.entries.into_iter();
                let unstarted = |id| LogRef { started: 0, id };
                Record::Positions {
                    entries: entries
                        .map(|(n, l, p)| (NodeId(n), unstarted(l), p))
                        .collect(),
                }
            }
            TAG_LOG_STARTED => Record::LogStarted {
                started: decode_body::<u64>(payload)?,
            },
            other => return Err(DecodeError::UnknownTag(other)),
        };
        Ok(record)
    }

    /// For an `Object` record: its key and its siblings' dots (appended to `dots`), read
    /// without copying or allocating. Fails exactly where `decode` would (same layout,
    /// same sibling limit, no trailing bytes); the error is `decode`'s, so callers report
    /// the same thing either way.
    pub(crate) fn object_dots(&self, dots: &mut Vec<Dot>) -> Result<&'a [u8], DecodeError> {
        let mark = dots.len();
        let skimmed = skim_object(self.payload, dots);
        match skimmed {
            Some(key) => Ok(key),
            None => {
                dots.truncate(mark);
                match self.decode() {
                    Err(error) => Err(error),
                    // Not reached: the skim and the decoder read the same layout.
                    Ok(_) => Err(DecodeError::Malformed("object record skim failed".into())),
                }
            }
        }
    }
}

/// The key of an object record's body: its first field.
pub(crate) fn object_key(payload: &[u8]) -> Option<&[u8]> {
    wire::Reader::new(payload).bytes()
}

/// An object record's body read by hand (`version::wire`): `None` if the reader refuses it.
fn read_object_body(payload: &[u8]) -> Option<(&[u8], Object)> {
    let mut reader = wire::Reader::new(payload);
    let key = reader.bytes()?;
    let object = reader.object()?;
    reader.is_done().then_some((key, object))
}

fn skim_object<'a>(payload: &'a [u8], dots: &mut Vec<Dot>) -> Option<&'a [u8]> {
    let mark = dots.len();
    let mut reader = wire::Reader::new(payload);
    let key = reader.bytes();
    if let Some(key) = key {
        if reader.object_dots(dots, SIBLINGS_DECODE_MAX).is_some() && reader.is_done() {
            return Some(key);
        }
    }
    // The hand-written skim refused the bytes: serde's skim decides.
    dots.truncate(mark);
    let mut de = postcard::Deserializer::from_bytes(payload);
    let key = <&serde_bytes::Bytes>::deserialize(&mut de).ok()?;
    DotsInto(dots).deserialize(&mut de).ok()?;
    match de.finalize() {
        Ok([]) => Some(key),
        _ => None,
    }
}

/// A sibling as the skim reads it: the dot kept, the context and value passed over.
#[derive(Deserialize)]
struct SiblingSkim<'a> {
    dot: Dot,
    #[allow(dead_code)]
    context: ClockSkim,
    #[allow(dead_code)]
    #[serde(borrow)]
    value: Option<&'a serde_bytes::Bytes>,
}

/// A vector clock read and dropped entry by entry.
struct ClockSkim;

impl<'de> Deserialize<'de> for ClockSkim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ClockSkim, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = ClockSkim;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a vector clock")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClockSkim, A::Error> {
                while seq.next_element::<(ActorId, u64)>()?.is_some() {}
                Ok(ClockSkim)
            }
        }
        deserializer.deserialize_seq(Entries)
    }
}

/// An object's siblings, read into their dots.
struct DotsInto<'v>(&'v mut Vec<Dot>);

impl<'de> DeserializeSeed<'de> for DotsInto<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DotsInto<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of siblings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut count = 0usize;
        while let Some(sibling) = seq.next_element::<SiblingSkim<'de>>()? {
            count += 1;
            if count > SIBLINGS_DECODE_MAX {
                return Err(de::Error::custom("too many siblings"));
            }
            self.0.push(sibling.dot);
        }
        Ok(())
    }
}

/// The checksum of a record: CRC32C over its length field, its type byte and its payload,
/// in that order. The first two are checksummed as one five-byte piece: one call fewer a
/// record, the same value (a CRC is computed over the bytes in sequence, however split).
fn record_crc(len: [u8; 4], tag: u8, payload: &[u8]) -> u32 {
    let head = [len[0], len[1], len[2], len[3], tag];
    crc32c::crc32c_append(crc32c::crc32c(&head), payload)
}

/// Frames the payload written at `out[start + RECORD_HEADER_BYTES..]`, filling the header
/// left for it at `start`: the same bytes as `frame`.
fn frame_in_place(tag: u8, out: &mut [u8], start: usize) {
    let payload_len = out.len() - start - RECORD_HEADER_BYTES;
    assert!(
        payload_len <= RECORD_BYTES_MAX,
        "record payload {payload_len} over RECORD_BYTES_MAX; callers bound objects first"
    );
    let len = (payload_len as u32).to_le_bytes();
    let crc = record_crc(len, tag, &out[start + RECORD_HEADER_BYTES..]);
    let header = &mut out[start..start + RECORD_HEADER_BYTES];
    header[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&len);
    header[8..12].copy_from_slice(&crc.to_le_bytes());
    header[12] = tag;
}

/// Frames one payload: magic, length, checksum, type, payload.
pub(super) fn frame(tag: u8, payload: &[u8], out: &mut Vec<u8>) {
    assert!(
        payload.len() <= RECORD_BYTES_MAX,
        "record payload {} over RECORD_BYTES_MAX; callers bound objects first",
        payload.len()
    );
    let len = (payload.len() as u32).to_le_bytes();
    let crc = record_crc(len, tag, payload);
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.push(tag);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{Sibling, VectorClock};
    use proptest::prelude::*;

    /// A log written before logs were named with their start still reads: its `Positions`
    /// records (type 11) as logs started at 0, and it has no `LogStarted` (started 0).
    #[test]
    fn positions_written_before_log_starts_read_as_started_at_0() {
        let mut log = Vec::new();
        Record::Boot {
            incarnation: 1,
            log_id: 9,
        }
        .encode_into(&mut log);
        let old = UnstartedPositionsBody {
            entries: vec![(2, 77, 500)],
        };
        frame(TAG_POSITIONS_UNSTARTED, &encode_body(&old), &mut log);
        let segments = [crate::log::Segment {
            base: 0,
            bytes: &log,
        }];
        let recovered = crate::log::recover_segments(&segments).unwrap();
        assert_eq!((recovered.log_id, recovered.log_started), (Some(9), 0));
        let unstarted = LogRef { started: 0, id: 77 };
        let positions: Vec<_> = recovered.positions.into_iter().collect();
        assert_eq!(positions, vec![((NodeId(2), unstarted), 500)]);
    }

    proptest! {
        /// The record written by hand is the one serde would frame, and reads back through
        /// both the hand-written and serde's paths.
        #[test]
        fn object_records_match_serde(
            key in proptest::collection::vec(any::<u8>(), 0..200),
            values in proptest::collection::vec(
                (1u64..1 << 40, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300))),
                0..4,
            ),
        ) {
            let siblings = values.into_iter().map(|(seq, value)| Sibling {
                bulk: None,
                dot: Dot {
                    actor: ActorId { node: crate::NodeId(seq as u32 % 5), incarnation: seq << 20 },
                    seq,
                },
                context: VectorClock::new(),
                value,
            });
            let object = Object::from_siblings(siblings.collect());
            let mut by_hand = vec![7];
            Record::encode_object(&key, &object, &mut by_hand);
            let mut by_serde = vec![7];
            let body = ObjectBody { key: key.clone(), object: object.clone() };
            frame(TAG_OBJECT, &encode_body(&body), &mut by_serde);
            prop_assert_eq!(&by_hand, &by_serde);
            let frame = Frame::at(&by_hand, 1).unwrap();
            prop_assert_eq!(frame.decode().unwrap(), Record::Object { key: key.clone(), object });
            let body = decode_body::<ObjectBody>(frame.payload).unwrap();
            prop_assert_eq!(&body.key, &key);
            // Skipped or not, the same checks and the same end; damaged, the same error.
            let mut dots = Vec::new();
            let skipped = Record::decode_at_unless(&by_hand, 1, &mut dots, |k, _| k == key.as_slice());
            prop_assert_eq!(skipped, Ok((None, by_hand.len())));
            prop_assert_eq!(dots, body.object.siblings().iter().map(|s| s.dot).collect::<Vec<_>>());
            let kept = Record::decode_at_unless(&by_hand, 1, &mut Vec::new(), |_, _| false);
            prop_assert_eq!(kept, Record::decode_at(&by_hand, 1).map(|(r, end)| (Some(r), end)));
            let mut damaged = by_hand.clone();
            let last = damaged.len() - 1;
            damaged[last] ^= 0x40;
            let skip_all = Record::decode_at_unless(&damaged, 1, &mut Vec::new(), |_, _| true);
            prop_assert_eq!(skip_all.map(|(_, end)| end), Record::decode_at(&damaged, 1).map(|(_, end)| end));
        }
    }
}
