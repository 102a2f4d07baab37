//! Decoding errors and the body encoding shared by the log and the wire.
//!
//! Bodies are encoded with postcard (a compact serde format with a published specification,
//! see docs/PROTOCOL.md). Decoding never panics. Every frame and record length is checked
//! against a named maximum before its body is read, so a body is never larger than that
//! maximum; inside a body, serde caps what it preallocates for a sequence (about 1 MiB), and
//! counts such as `SIBLINGS_DECODE_MAX` are checked once the list is decoded.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// Why bytes from a peer, a client or a disk could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the item did.
    Truncated { needed: usize, available: usize },
    /// A length field is over its maximum.
    TooLarge { len: usize, max: usize },
    /// The checksum does not match the bytes.
    BadChecksum { stored: u32, computed: u32 },
    /// The item does not start with the expected magic number.
    BadMagic(u32),
    /// A type or opcode this version does not know.
    UnknownTag(u8),
    /// The body does not parse as the type it claims to be.
    Malformed(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, available } => {
                write!(f, "truncated: needed {needed} bytes, {available} available")
            }
            DecodeError::TooLarge { len, max } => {
                write!(f, "length {len} is over the maximum {max}")
            }
            DecodeError::BadChecksum { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            DecodeError::BadMagic(m) => write!(f, "bad magic number {m:#010x}"),
            DecodeError::UnknownTag(t) => write!(f, "unknown type tag {t}"),
            DecodeError::Malformed(why) => write!(f, "malformed body: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Room a body's buffer starts with: most messages and replies fit, so few grow.
const BODY_BYTES_INITIAL: usize = 256;

/// Encodes a body. Encoding our own types into a Vec cannot fail.
pub fn encode_body<T: Serialize>(value: &T) -> Vec<u8> {
    let body = Body(Vec::with_capacity(BODY_BYTES_INITIAL));
    postcard::serialize_with_flavor(value, body)
        .expect("postcard encodes every Tern type into a Vec")
}

/// postcard's output into a `Vec`, as its own `AllocVec` flavor, except that the short
/// slices it hands over (every varint) are copied byte by byte rather than through a call
/// to `memcpy`, which costs more than the copy at that size.
struct Body(Vec<u8>);

impl postcard::ser_flavors::Flavor for Body {
    type Output = Vec<u8>;

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if bytes.len() <= 16 {
            self.0.reserve(bytes.len());
            for byte in bytes {
                self.0.push(*byte);
            }
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// The length `encode_body` would produce, counted without building the bytes.
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .expect("postcard measures every Tern type")
}

/// Decodes a body that must use all of `bytes`.
pub fn decode_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} trailing bytes after the body",
            rest.len()
        )));
    }
    Ok(value)
}

/// Reads a little-endian u32 at `at`, or reports how many bytes were missing.
pub fn read_u32(bytes: &[u8], at: usize) -> Result<u32, DecodeError> {
    let end = at.checked_add(4).ok_or(DecodeError::TooLarge {
        len: at,
        max: usize::MAX - 4,
    })?;
    match bytes.get(at..end) {
        Some(b) => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(DecodeError::Truncated {
            needed: end,
            available: bytes.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encode_body_writes_what_postcard_writes() {
        let value = (
            vec![b"short".to_vec(), vec![7; 300]],
            vec![(1u32, u64::MAX, 5u64); 40],
            Some(-3i64),
        );
        assert_eq!(
            super::encode_body(&value),
            postcard::to_allocvec(&value).unwrap()
        );
    }

    #[test]
    fn encoded_len_counts_what_encode_body_writes() {
        let value = (
            7u8,
            vec![1u64, 300, 70_000],
            Some(b"bytes".to_vec()),
            u128::MAX,
        );
        assert_eq!(super::encoded_len(&value), super::encode_body(&value).len());
    }
}
