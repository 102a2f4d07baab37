//! Siblings and objects: every live version of one key, and their merge (a join).

use super::{Dot, VectorClock};
use crate::limits::{OBJECT_BYTES_MAX, SIBLINGS_DECODE_MAX};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One version of a key: a value (`None` for a tombstone), its dot, and the context it was
/// written with (everything the writer had seen of the key). A version written by a bulk
/// write (`bulk`) also names every key that bulk write wrote, sorted: a reader that sees it
/// on one key knows which other keys must show it too (`crate::bulk`).
///
/// Encoded as (dot, context, payload), the payload an enum whose first two variants are a
/// tombstone and a value: byte for byte the `Option` a plain version always was, so only
/// bulk versions (variants 2 and 3, with their keys) cost anything more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sibling {
    pub dot: Dot,
    pub context: VectorClock,
    pub value: Option<Vec<u8>>,
    /// The keys of the bulk write this version belongs to (`None`: a single-key write).
    pub bulk: Option<BulkKeys>,
}

/// The keys of one bulk write, sorted and distinct; shared by every version it wrote.
pub type BulkKeys = Arc<[Vec<u8>]>;

/// How a sibling's value travels: the first two variants encode exactly as
/// `Option<bytes>` (0, or 1 then the bytes).
#[derive(Serialize)]
enum PayloadRef<'a> {
    Tombstone,
    Value(#[serde(with = "serde_bytes")] &'a [u8]),
    BulkTombstone(Vec<&'a serde_bytes::Bytes>),
    BulkValue(
        #[serde(with = "serde_bytes")] &'a [u8],
        Vec<&'a serde_bytes::Bytes>,
    ),
}

#[derive(Deserialize)]
enum Payload {
    Tombstone,
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    BulkTombstone(Vec<serde_bytes::ByteBuf>),
    BulkValue(
        #[serde(with = "serde_bytes")] Vec<u8>,
        Vec<serde_bytes::ByteBuf>,
    ),
}

impl Serialize for Sibling {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;

        let payload = match (&self.value, &self.bulk) {
            (None, None) => PayloadRef::Tombstone,
            (Some(v), None) => PayloadRef::Value(v),
            (None, Some(k)) => PayloadRef::BulkTombstone(key_refs(k)),
            (Some(v), Some(k)) => PayloadRef::BulkValue(v, key_refs(k)),
        };
        let mut s = serializer.serialize_struct("Sibling", 3)?;
        s.serialize_field("dot", &self.dot)?;
        s.serialize_field("context", &self.context)?;
        s.serialize_field("payload", &payload)?;
        s.end()
    }
}

fn key_refs(keys: &BulkKeys) -> Vec<&serde_bytes::Bytes> {
    keys.iter().map(|k| serde_bytes::Bytes::new(k)).collect()
}

#[derive(Deserialize)]
#[serde(rename = "Sibling")]
struct SiblingWire {
    dot: Dot,
    context: VectorClock,
    payload: Payload,
}

impl<'de> Deserialize<'de> for Sibling {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Sibling, D::Error> {
        let wire = SiblingWire::deserialize(deserializer)?;
        let keys = |keys: Vec<serde_bytes::ByteBuf>| -> BulkKeys {
            keys.into_iter()
                .map(serde_bytes::ByteBuf::into_vec)
                .collect()
        };
        let (value, bulk) = match wire.payload {
            Payload::Tombstone => (None, None),
            Payload::Value(v) => (Some(v), None),
            Payload::BulkTombstone(k) => (None, Some(keys(k))),
            Payload::BulkValue(v, k) => (Some(v), Some(keys(k))),
        };
        Ok(Sibling {
            dot: wire.dot,
            context: wire.context,
            value,
            bulk,
        })
    }
}

impl Sibling {
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// Bytes this sibling takes in memory and on the wire, roughly.
    pub fn weight_bytes(&self) -> usize {
        let bulk = self
            .bulk
            .as_ref()
            .map_or(0, |keys| keys.iter().map(|k| k.len() + 8).sum());
        self.value.as_ref().map_or(0, Vec::len) + 24 * (self.context.len() + 1) + bulk
    }
}

/// Why an object does not fit in a replica (see `Object::fits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectTooLarge {
    /// This many siblings, over `SIBLINGS_DECODE_MAX`.
    Siblings(usize),
    /// This many encoded bytes, over `OBJECT_BYTES_MAX`.
    Bytes(usize),
}

/// All live versions of one key, sorted by dot, none obsolete.
///
/// Encoded as the list of siblings. Decoding rebuilds the invariants (sorted, no duplicate,
/// none obsolete) whatever order the bytes came in, and refuses more than
/// `SIBLINGS_DECODE_MAX` siblings so that a hostile peer cannot make the rebuild quadratic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<Sibling>")]
pub struct Object {
    siblings: Vec<Sibling>,
}

impl Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.siblings.serialize(serializer)
    }
}

impl TryFrom<Vec<Sibling>> for Object {
    type Error = String;

    fn try_from(siblings: Vec<Sibling>) -> Result<Object, String> {
        if siblings.len() > SIBLINGS_DECODE_MAX {
            return Err(format!(
                "{} siblings, over SIBLINGS_DECODE_MAX ({SIBLINGS_DECODE_MAX})",
                siblings.len()
            ));
        }
        let sorted = siblings.windows(2).all(|w| w[0].dot < w[1].dot);
        let obsolete = siblings.iter().any(|s| {
            siblings
                .iter()
                .any(|o| o.dot != s.dot && o.context.covers(s.dot))
        });
        if sorted && !obsolete {
            return Ok(Object { siblings });
        }
        Ok(Object::from_siblings(siblings))
    }
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    /// An object holding exactly one sibling.
    pub fn single(sibling: Sibling) -> Object {
        Object {
            siblings: vec![sibling],
        }
    }

    /// Builds an object from any siblings, dropping duplicates and obsolete ones.
    pub fn from_siblings(siblings: Vec<Sibling>) -> Object {
        let mut object = Object::new();
        for sibling in siblings {
            object.insert(sibling);
        }
        object
    }

    pub fn siblings(&self) -> &[Sibling] {
        &self.siblings
    }

    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// The values that are not tombstones.
    pub fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.siblings.iter().filter_map(|s| s.value.as_deref())
    }

    /// True if no sibling holds a value (absent, or deleted).
    pub fn is_deleted(&self) -> bool {
        self.siblings.iter().all(Sibling::is_tombstone)
    }

    /// Everything this object has seen: every sibling's dot and context. A client writes
    /// with this context to replace all the siblings it read.
    pub fn clock(&self) -> VectorClock {
        // One sibling is the common case (and a reply's every time): its context and its
        // dot, built at its final size instead of copied and then grown by one.
        if let [only] = self.siblings.as_slice() {
            return only.context.with_dot(only.dot);
        }
        let mut clock = VectorClock::new();
        for sibling in &self.siblings {
            clock.merge(&sibling.context);
            clock.add(sibling.dot);
        }
        clock
    }

    /// True if this object holds `dot`, or a sibling that makes it obsolete.
    pub fn has_seen(&self, dot: Dot) -> bool {
        // Holding the dot itself is the common answer, and far cheaper to find than a
        // search of every context.
        self.siblings.iter().any(|s| s.dot == dot)
            || self.siblings.iter().any(|s| s.context.covers(dot))
    }

    pub fn weight_bytes(&self) -> usize {
        self.siblings.iter().map(Sibling::weight_bytes).sum()
    }

    /// Bytes this object takes encoded, exactly (as postcard writes it).
    pub fn encoded_bytes(&self) -> usize {
        super::wire::object_len(self)
    }

    /// Appends this object's encoding, byte for byte what postcard writes for it through
    /// serde (`encoded_bytes` long), without serde's generic path: for a driver that hashes
    /// or frames objects by hand.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        super::wire::put_object(self, out);
    }

    /// Whether a replica may store this object: at most `SIBLINGS_DECODE_MAX` siblings and
    /// `OBJECT_BYTES_MAX` encoded bytes. Everything that fits can be logged, recovered, and
    /// sent in any message (`MESSAGE_BYTES_MAX` has room for it): the one rule every place
    /// that accepts an object applies.
    pub fn fits(&self) -> Result<(), ObjectTooLarge> {
        if self.siblings.len() > SIBLINGS_DECODE_MAX {
            return Err(ObjectTooLarge::Siblings(self.siblings.len()));
        }
        let bytes = self.encoded_bytes();
        if bytes > OBJECT_BYTES_MAX {
            return Err(ObjectTooLarge::Bytes(bytes));
        }
        Ok(())
    }

    /// Adds one sibling unless it is known or obsolete; drops the siblings it makes obsolete.
    /// Returns true if the object changed.
    pub fn insert(&mut self, sibling: Sibling) -> bool {
        if self.has_seen(sibling.dot) {
            return false;
        }
        self.siblings.retain(|s| !sibling.context.covers(s.dot));
        let at = self
            .siblings
            .binary_search_by(|s| s.dot.cmp(&sibling.dot))
            .unwrap_or_else(|at| at);
        // Grow by exactly one: most keys hold one sibling for their whole life, and the
        // default growth (to four) would quadruple what every key costs in memory.
        self.siblings.reserve_exact(1);
        self.siblings.insert(at, sibling);
        true
    }

    /// Merges `other` into `self` (the join of the two). Returns true if `self` changed.
    pub fn merge(&mut self, other: &Object) -> bool {
        let mut changed = false;
        for sibling in &other.siblings {
            changed |= self.insert(sibling.clone());
        }
        changed
    }

    /// `merge`, taking `other` by value: its siblings move instead of being copied.
    pub fn merge_owned(&mut self, other: Object) -> bool {
        if self.siblings.is_empty() {
            // `other` keeps the invariants, so the join with nothing is `other` itself.
            let changed = !other.siblings.is_empty();
            *self = other;
            return changed;
        }
        let mut changed = false;
        for sibling in other.siblings {
            changed |= self.insert(sibling);
        }
        changed
    }
}
