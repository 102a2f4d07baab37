//! Log records: the framing (magic, length, CRC32C, type) and the three record bodies.

use crate::codec::{decode_body, encode_body, read_u32, DecodeError};
use crate::limits::RECORD_BYTES_MAX;
use crate::version::Object;
use serde::{Deserialize, Serialize};

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
