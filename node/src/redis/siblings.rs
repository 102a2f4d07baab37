//! Siblings as Redis clients see them (docs/REDIS.md, "Siblings"): which value `GET`
//! returns of concurrent versions, and the context `TERN.SIBLINGS` hands out and
//! `TERN.SET ... CONTEXT` takes back. It chooses what to show; core decides what a write
//! replaces.

use crate::wire;
use tern_core::{Object, VectorClock};

/// A context as `TERN.SIBLINGS` shows it: the hex of the native encoding of the clock
/// (docs/PROTOCOL.md, "Versions"); the empty string for an empty clock.
pub(crate) fn encode_context(clock: &VectorClock) -> String {
    if clock.is_empty() {
        return String::new();
    }
    let bytes = tern_core::codec::encode_body(clock);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn decode_context(hex: &[u8]) -> Result<VectorClock, String> {
    if hex.is_empty() {
        return Ok(VectorClock::new());
    }
    if hex.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut bytes = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks(2) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => bytes.push(hi << 4 | lo),
            _ => return Err("not hex".into()),
        }
    }
    wire::decode::<VectorClock>(&bytes).map_err(|e| e.to_string())
}

/// The value `GET` returns for an object: of its siblings that hold a value, the one with
/// the greatest dot (docs/REDIS.md, "Siblings"); none if every sibling is a tombstone.
pub(crate) fn resolve(object: &Object) -> Option<&[u8]> {
    object
        .siblings()
        .iter()
        .filter_map(|s| s.value.as_deref().map(|v| (s.dot, v)))
        .max_by_key(|(dot, _)| *dot)
        .map(|(_, value)| value)
}
