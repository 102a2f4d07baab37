//! Objects in their postcard encoding, read and written by hand.
//!
//! Owns the fast paths for the bytes of an object and of an object record's body (a key,
//! then the object): reading them in full, skimming them for their dots, writing them and
//! counting them. Every log record and every recovery goes through these, and serde's
//! generic visitors cost several times what the layout needs.
//!
//! serde stays the reference. The layout is the one serde derives for `Object` (a list of
//! siblings), `Sibling` (dot, context, value), `Dot`, `ActorId` and `VectorClock` (a list of
//! actor/seq pairs), with postcard's rules: unsigned integers as varints (at most 5 bytes for
//! a `u32`, 10 for a `u64`, the last byte bounded), byte strings and lists as a varint length
//! then their items, an option as a 0 or 1 byte. A reader answers `None` for anything it
//! does not accept, and its caller then asks serde, which accepts the bytes or names the
//! error; so the readers may be stricter than serde, never looser, and tests hold them equal
//! to serde on random bytes. It never decides anything about versions.

use super::{ActorId, BulkKeys, Dot, Object, Sibling, VectorClock};
use crate::ids::NodeId;

/// Reads postcard values from a byte slice, front to back.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// True once every byte has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// A varint of at most `max_bytes` bytes (at most 10) whose last byte is at most
    /// `last_max`.
    ///
    /// One byte is the common case. Longer ones (every actor's 64-bit incarnation id takes
    /// 9 or 10 bytes, and clocks hold many) are read eight bytes at a time where eight are
    /// left: the first byte without its high bit ends the varint; `varint_tail` reads the
    /// ninth and tenth. Near the end of the bytes, `varint_from` reads byte by byte. All
    /// accept and refuse exactly the same bytes. Always inlined: clocks are read entry by
    /// entry, three varints each, and the call cost as much as the read.
    #[inline(always)]
    fn varint(&mut self, max_bytes: usize, last_max: u8) -> Option<u64> {
        let first = *self.bytes.get(self.at)?;
        if first & 0x80 == 0 {
            self.at += 1;
            return Some(u64::from(first));
        }
        let Some(chunk) = self.bytes.get(self.at..self.at + 8) else {
            return self.varint_from(0, 0, max_bytes, last_max);
        };
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let ends = !word & 0x8080_8080_8080_8080;
        if ends == 0 {
            // No end in eight bytes: seven bits from each, then the ninth and tenth byte.
            return self.varint_tail(compact(word), max_bytes, last_max);
        }
        let len = ends.trailing_zeros() as usize / 8 + 1;
        if len > max_bytes {
            return None;
        }
        let last = (word >> (8 * (len - 1))) as u8;
        if len == max_bytes && last > last_max {
            return None;
        }
        self.at += len;
        // Keep the varint's own bytes (len is 2 to 8 here).
        let mask = u64::MAX >> (64 - 8 * len);
        Some(compact(word & mask))
    }

    /// The ninth and tenth byte of a varint whose first eight (at `self.at`, not yet
    /// consumed) hold `low` and all have their high bit set. Accepts and refuses what
    /// `varint_from` would: an actor's incarnation id takes nine or ten bytes, so this is
    /// the common case of long varints and is read without a loop.
    #[inline]
    fn varint_tail(&mut self, low: u64, max_bytes: usize, last_max: u8) -> Option<u64> {
        if max_bytes <= 8 {
            return None;
        }
        let ninth = *self.bytes.get(self.at + 8)?;
        let out = low | u64::from(ninth & 0x7f) << 56;
        if ninth & 0x80 == 0 {
            if max_bytes == 9 && ninth > last_max {
                return None;
            }
            self.at += 9;
            return Some(out);
        }
        if max_bytes == 9 {
            return None;
        }
        let tenth = *self.bytes.get(self.at + 9)?;
        // Ten bytes is the longest (`max_bytes` is at most 10): the tenth must end it.
        if tenth & 0x80 != 0 || tenth > last_max {
            return None;
        }
        self.at += 10;
        // Bits past the 64th are dropped, as `varint_from` drops them.
        Some(out | u64::from(tenth) << 63)
    }

    /// Passes over a varint exactly as `varint` reads it (the same bytes accepted and
    /// refused, the same bytes consumed), without putting its value together: the skim of
    /// a clock needs only to know that each entry is well formed, and clocks hold most of
    /// an object's bytes (a 9- or 10-byte incarnation id in every entry).
    #[inline(always)]
    fn skip_varint(&mut self, max_bytes: usize, last_max: u8) -> Option<()> {
        let Some(chunk) = self.bytes.get(self.at..self.at + 8) else {
            return self.varint_from(0, 0, max_bytes, last_max).map(drop);
        };
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let ends = !word & 0x8080_8080_8080_8080;
        if ends == 0 {
            return self.varint_tail(0, max_bytes, last_max).map(drop);
        }
        let len = ends.trailing_zeros() as usize / 8 + 1;
        let last = (word >> (8 * (len - 1))) as u8;
        if len > max_bytes || (len == max_bytes && last > last_max) {
            return None;
        }
        self.at += len;
        Some(())
    }

    /// The rest of a varint byte by byte: `read` bytes of it are read already, and `out`
    /// holds their bits.
    #[inline(never)]
    fn varint_from(
        &mut self,
        read: usize,
        mut out: u64,
        max_bytes: usize,
        last_max: u8,
    ) -> Option<u64> {
        for i in read..max_bytes {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max_bytes - 1 && b > last_max {
                    return None;
                }
                return Some(out);
            }
        }
        None
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.varint(10, 1)
    }

    /// A `u128` varint: at most 19 bytes, the last at most 3.
    pub(crate) fn u128(&mut self) -> Option<u128> {
        let mut out = 0u128;
        for i in 0..19 {
            let b = self.byte()?;
            out |= u128::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == 18 && b > 3 {
                    return None;
                }
                return Some(out);
            }
        }
        None
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        // Bits past the 32nd are dropped, as postcard drops them.
        self.varint(5, 0x0f).map(|v| v as u32)
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    /// A byte string: a length, then the bytes.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.len()?;
        if len > self.remaining() {
            return None;
        }
        let bytes = &self.bytes[self.at..self.at + len];
        self.at += len;
        Some(bytes)
    }

    fn actor(&mut self) -> Option<ActorId> {
        Some(ActorId {
            node: NodeId(self.u32()?),
            incarnation: self.u64()?,
        })
    }

    fn dot(&mut self) -> Option<Dot> {
        Some(Dot {
            actor: self.actor()?,
            seq: self.u64()?,
        })
    }

    /// A list's length, refused if its items (each at least `item_min` bytes) cannot fit in
    /// what is left: a hostile length never makes a large allocation.
    fn list_len(&mut self, item_min: usize) -> Option<usize> {
        let len = self.len()?;
        (len <= self.remaining() / item_min).then_some(len)
    }

    fn clock(&mut self) -> Option<VectorClock> {
        let len = self.list_len(3)?;
        let mut entries = Vec::with_capacity(len);
        for _ in 0..len {
            entries.push((self.actor()?, self.u64()?));
        }
        Some(VectorClock::from(entries))
    }

    fn skip_clock(&mut self) -> Option<()> {
        let len = self.list_len(3)?;
        for _ in 0..len {
            // An actor (node, incarnation), then a seq: as `clock` reads them.
            self.skip_varint(5, 0x0f)?;
            self.skip_varint(10, 1)?;
            self.skip_varint(10, 1)?;
        }
        Some(())
    }

    /// A sibling's payload: its value (`None` inside for a tombstone) and, for a bulk
    /// write's version (variants 2 and 3), the bulk write's keys.
    fn payload(&mut self) -> Option<(Option<&'a [u8]>, Option<BulkKeys>)> {
        match self.byte()? {
            0 => Some((None, None)),
            1 => Some((Some(self.bytes()?), None)),
            2 => Some((None, Some(self.keys()?))),
            3 => {
                let value = self.bytes()?;
                Some((Some(value), Some(self.keys()?)))
            }
            _ => None,
        }
    }

    /// A list of byte strings (a bulk write's keys).
    fn keys(&mut self) -> Option<BulkKeys> {
        let len = self.list_len(1)?;
        let mut keys = Vec::with_capacity(len);
        for _ in 0..len {
            keys.push(self.bytes()?.to_vec());
        }
        Some(keys.into())
    }

    fn sibling(&mut self) -> Option<Sibling> {
        let dot = self.dot()?;
        let context = self.clock()?;
        let (value, bulk) = self.payload()?;
        Some(Sibling {
            dot,
            context,
            value: value.map(<[u8]>::to_vec),
            bulk,
        })
    }

    /// An object, with the invariants `Object`'s decoding rebuilds.
    pub(crate) fn object(&mut self) -> Option<Object> {
        // A sibling takes at least 5 bytes: a dot of three varints, a clock's length, a tag.
        let len = self.list_len(5)?;
        let mut siblings = Vec::with_capacity(len);
        for _ in 0..len {
            siblings.push(self.sibling()?);
        }
        Object::try_from(siblings).ok()
    }

    /// An object's dots, appended to `dots`, its contexts and values passed over. Refuses
    /// more than `max` siblings.
    pub(crate) fn object_dots(&mut self, dots: &mut Vec<Dot>, max: usize) -> Option<()> {
        let len = self.list_len(5)?;
        if len > max {
            return None;
        }
        for _ in 0..len {
            dots.push(self.dot()?);
            self.skip_clock()?;
            self.payload()?;
        }
        Some(())
    }
}

/// The low seven bits of each of `word`'s eight bytes (little-endian), packed into 56 bits:
/// the value of the varint those bytes hold.
#[inline]
fn compact(word: u64) -> u64 {
    let x = word & 0x7f7f_7f7f_7f7f_7f7f;
    let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4)
}

/// Appends `value` as a postcard varint.
///
/// Written eight bytes at once (one store, then the length cut back), the groups of seven
/// bits spread by `spread`: byte by byte, every dot's 9- or 10-byte incarnation id cost a
/// push with its capacity check per byte, in every log record and message.
#[inline]
pub(crate) fn put_varint(value: u64, out: &mut Vec<u8>) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    let len = varint_len(value);
    let start = out.len();
    // Every byte but the last has its high bit set.
    let more = 0x8080_8080_8080_8080u64 >> (8 * 9usize.saturating_sub(len));
    out.extend_from_slice(&(spread(value) | more).to_le_bytes());
    if len <= 8 {
        out.truncate(start + len);
        return;
    }
    let ninth = (value >> 56) as u8 & 0x7f;
    if len == 9 {
        out.push(ninth);
    } else {
        out.push(ninth | 0x80);
        out.push((value >> 63) as u8);
    }
}

/// The low 56 bits of `value` as eight groups of seven bits, one a byte (little-endian),
/// high bits clear: the inverse of `compact`.
#[inline]
fn spread(value: u64) -> u64 {
    let x = value & 0x00ff_ffff_ffff_ffff;
    let x = (x & 0x0000_0000_0fff_ffff) | ((x << 4) & 0x0fff_ffff_0000_0000);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x << 2) & 0x3fff_0000_3fff_0000);
    (x & 0x007f_007f_007f_007f) | ((x << 1) & 0x7f00_7f00_7f00_7f00)
}

/// Appends `value` as a postcard varint.
pub(crate) fn put_varint_u128(mut value: u128, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The bytes `put_varint` writes for `value`.
fn varint_len(value: u64) -> usize {
    // One byte per started group of 7 bits; zero takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a byte string: its length, then the bytes.
pub(crate) fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    put_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn put_actor(actor: ActorId, out: &mut Vec<u8>) {
    put_varint(u64::from(actor.node.0), out);
    put_varint(actor.incarnation, out);
}

fn actor_len(actor: ActorId) -> usize {
    varint_len(u64::from(actor.node.0)) + varint_len(actor.incarnation)
}

/// Appends `object` exactly as postcard encodes it.
pub(crate) fn put_object(object: &Object, out: &mut Vec<u8>) {
    let siblings = object.siblings();
    put_varint(siblings.len() as u64, out);
    for sibling in siblings {
        put_actor(sibling.dot.actor, out);
        put_varint(sibling.dot.seq, out);
        put_varint(sibling.context.len() as u64, out);
        for (actor, seq) in sibling.context.iter() {
            put_actor(actor, out);
            put_varint(seq, out);
        }
        match (&sibling.value, &sibling.bulk) {
            (None, None) => out.push(0),
            (Some(value), None) => {
                out.push(1);
                put_bytes(value, out);
            }
            (None, Some(keys)) => {
                out.push(2);
                put_keys(keys, out);
            }
            (Some(value), Some(keys)) => {
                out.push(3);
                put_bytes(value, out);
                put_keys(keys, out);
            }
        }
    }
}

fn put_keys(keys: &BulkKeys, out: &mut Vec<u8>) {
    put_varint(keys.len() as u64, out);
    for key in keys.iter() {
        put_bytes(key, out);
    }
}

fn keys_len(keys: &BulkKeys) -> usize {
    varint_len(keys.len() as u64) + keys.iter().map(|k| bytes_len(k)).sum::<usize>()
}

/// The bytes `put_object` writes for `object`.
pub(crate) fn object_len(object: &Object) -> usize {
    let siblings = object.siblings();
    let mut len = varint_len(siblings.len() as u64);
    for sibling in siblings {
        len += actor_len(sibling.dot.actor) + varint_len(sibling.dot.seq);
        len += varint_len(sibling.context.len() as u64);
        for (actor, seq) in sibling.context.iter() {
            len += actor_len(actor) + varint_len(seq);
        }
        len += 1 + sibling
            .value
            .as_ref()
            .map_or(0, |v| varint_len(v.len() as u64) + v.len());
        len += sibling.bulk.as_ref().map_or(0, keys_len);
    }
    len
}

/// The bytes `put_bytes` writes for `bytes`.
pub(crate) fn bytes_len(bytes: &[u8]) -> usize {
    varint_len(bytes.len() as u64) + bytes.len()
}

#[cfg(test)]
mod tests;
