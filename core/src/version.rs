//! Causality: dotted version vectors.
//!
//! Every write gets a *dot*, `(actor, seq)`, minted by the replica that coordinates it. An
//! actor is one incarnation of a node: `(node, incarnation)`, where the incarnation id is a
//! random 64-bit number drawn at boot (from the seed the driver gives, which production
//! draws from the OS), so a dot is never minted twice, not even by a node that lost its
//! whole disk and boots on an empty one. Within one actor, `seq` only grows (it counts the
//! writes the incarnation coordinated, over all keys), and the coordinator applies every dot
//! to its own copy of the key before minting the next and replicates the whole object, so
//! any copy of a key holding `actor: n` also holds every earlier dot of that actor on the
//! key, or a version that replaced it: a vector-clock entry `actor: n` taken from an object
//! covers only versions that object holds or replaced.
//!
//! A key holds an [`Object`]: a set of [`Sibling`]s, each a value (or a tombstone) with its dot
//! and the causal context the client wrote it with. A sibling is *obsolete* once another
//! sibling's context covers its dot; merging two objects keeps every sibling that no other
//! sibling makes obsolete. Merge is a join: commutative, associative and idempotent.

use crate::ids::NodeId;
use crate::limits::{OBJECT_BYTES_MAX, SIBLINGS_DECODE_MAX};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// One incarnation of a node: the node id and the random incarnation id it booted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActorId {
    pub node: NodeId,
    pub incarnation: u64,
}

/// The identity of one write: the actor that coordinated it and its sequence number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub actor: ActorId,
    pub seq: u64,
}

/// How two clocks relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    Before,
    After,
    Equal,
    Concurrent,
}

/// A vector clock: for each actor, the highest sequence number seen. Absent means zero.
///
/// Kept as a vector sorted by actor, with no zero entries: clocks are cloned, merged,
/// encoded and decoded on every replication, and a flat vector is far cheaper at that than a
/// tree. It encodes exactly like a map (a length, then actor/seq pairs in actor order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<(ActorId, u64)>", into = "Vec<(ActorId, u64)>")]
pub struct VectorClock {
    entries: Vec<(ActorId, u64)>,
}

impl From<Vec<(ActorId, u64)>> for VectorClock {
    /// Normalises decoded entries: sorted, one per actor (the highest), no zeros.
    fn from(mut entries: Vec<(ActorId, u64)>) -> VectorClock {
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            entries.dedup_by_key(|e| e.0);
        }
        entries.retain(|e| e.1 > 0);
        VectorClock { entries }
    }
}

impl From<VectorClock> for Vec<(ActorId, u64)> {
    fn from(clock: VectorClock) -> Vec<(ActorId, u64)> {
        clock.entries
    }
}

impl VectorClock {
    pub fn new() -> VectorClock {
        VectorClock::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&self, actor: ActorId) -> u64 {
        match self.entries.binary_search_by(|e| e.0.cmp(&actor)) {
            Ok(at) => self.entries[at].1,
            Err(_) => 0,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (ActorId, u64)> + '_ {
        self.entries.iter().copied()
    }

    /// True if this clock has seen `dot`.
    pub fn covers(&self, dot: Dot) -> bool {
        self.get(dot.actor) >= dot.seq
    }

    /// Records `dot` as seen.
    pub fn add(&mut self, dot: Dot) {
        if dot.seq == 0 {
            return;
        }
        match self.entries.binary_search_by(|e| e.0.cmp(&dot.actor)) {
            Ok(at) => self.entries[at].1 = self.entries[at].1.max(dot.seq),
            Err(at) => {
                self.entries.reserve_exact(1);
                self.entries.insert(at, (dot.actor, dot.seq));
            }
        }
    }

    /// Pointwise maximum: afterwards `self` has seen everything either clock had seen.
    pub fn merge(&mut self, other: &VectorClock) {
        if other.descends_entries(self) {
            self.entries.clone_from(&other.entries);
            return;
        }
        let (a, b) = (&self.entries, &other.entries);
        let mut merged = Vec::with_capacity(a.len().max(b.len()));
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                Ordering::Less => {
                    merged.push(a[i]);
                    i += 1;
                }
                Ordering::Greater => {
                    merged.push(b[j]);
                    j += 1;
                }
                Ordering::Equal => {
                    merged.push((a[i].0, a[i].1.max(b[j].1)));
                    i += 1;
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        self.entries = merged;
    }

    /// `self >= other` pointwise (the entries-level test behind `descends`).
    fn descends_entries(&self, other: &VectorClock) -> bool {
        other.iter().all(|(actor, seq)| self.get(actor) >= seq)
    }

    /// True if `self` has seen everything `other` has (`self >= other` pointwise).
    pub fn descends(&self, other: &VectorClock) -> bool {
        self.descends_entries(other)
    }

    pub fn compare(&self, other: &VectorClock) -> Causality {
        match (self.descends(other), other.descends(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (false, false) => Causality::Concurrent,
        }
    }
}

impl PartialOrd for VectorClock {
    fn partial_cmp(&self, other: &VectorClock) -> Option<Ordering> {
        match self.compare(other) {
            Causality::Before => Some(Ordering::Less),
            Causality::After => Some(Ordering::Greater),
            Causality::Equal => Some(Ordering::Equal),
            Causality::Concurrent => None,
        }
    }
}

/// One version of a key: a value (`None` for a tombstone), its dot, and the context it was
/// written with (everything the writer had seen of the key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sibling {
    pub dot: Dot,
    pub context: VectorClock,
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
}

impl Sibling {
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// Bytes this sibling takes in memory and on the wire, roughly.
    pub fn weight_bytes(&self) -> usize {
        self.value.as_ref().map_or(0, Vec::len) + 24 * (self.context.len() + 1)
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
        let mut clock = VectorClock::new();
        for sibling in &self.siblings {
            clock.merge(&sibling.context);
            clock.add(sibling.dot);
        }
        clock
    }

    /// True if this object holds `dot`, or a sibling that makes it obsolete.
    pub fn has_seen(&self, dot: Dot) -> bool {
        self.siblings
            .iter()
            .any(|s| s.dot == dot || s.context.covers(dot))
    }

    pub fn weight_bytes(&self) -> usize {
        self.siblings.iter().map(Sibling::weight_bytes).sum()
    }

    /// Bytes this object takes encoded, exactly (as postcard writes it).
    pub fn encoded_bytes(&self) -> usize {
        crate::codec::encode_body(self).len()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn actor(node: u32) -> ActorId {
        ActorId {
            node: NodeId(node),
            incarnation: 1,
        }
    }

    fn dot(node: u32, seq: u64) -> Dot {
        Dot {
            actor: actor(node),
            seq,
        }
    }

    fn clock_strategy() -> impl Strategy<Value = VectorClock> {
        proptest::collection::btree_map(0u32..4, 0u64..6, 0..4).prop_map(|m| {
            let mut clock = VectorClock::new();
            for (node, seq) in m {
                if seq > 0 {
                    clock.add(dot(node, seq));
                }
            }
            clock
        })
    }

    /// Histories of writes as the real coordinators make them: each write's context is the
    /// clock of an object that holds, for every actor, a prefix of that actor's earlier writes
    /// (a replica holding an actor's dot also holds its earlier dots on the key).
    fn history_strategy() -> impl Strategy<Value = Vec<Sibling>> {
        proptest::collection::vec((0u32..3, proptest::collection::vec(0usize..8, 3)), 1..8)
            .prop_map(|steps| {
                let mut written: Vec<Sibling> = Vec::new();
                for (node, prefixes) in steps {
                    let mut context = VectorClock::new();
                    for (actor, prefix) in prefixes.iter().enumerate() {
                        let mine = written
                            .iter()
                            .filter(|s| s.dot.actor.node == NodeId(actor as u32));
                        for earlier in mine.take(*prefix) {
                            context.merge(&earlier.context);
                            context.add(earlier.dot);
                        }
                    }
                    let seq = written
                        .iter()
                        .filter(|s| s.dot.actor.node == NodeId(node))
                        .count();
                    written.push(Sibling {
                        dot: dot(node, seq as u64 + 1),
                        context,
                        value: Some(vec![node as u8]),
                    });
                }
                written
            })
    }

    proptest! {
        #[test]
        fn clock_merge_is_commutative(a in clock_strategy(), b in clock_strategy()) {
            let mut ab = a.clone(); ab.merge(&b);
            let mut ba = b.clone(); ba.merge(&a);
            prop_assert_eq!(ab, ba);
        }

        #[test]
        fn clock_merge_is_associative(a in clock_strategy(), b in clock_strategy(), c in clock_strategy()) {
            let mut left = a.clone(); left.merge(&b); left.merge(&c);
            let mut bc = b.clone(); bc.merge(&c);
            let mut right = a.clone(); right.merge(&bc);
            prop_assert_eq!(left, right);
        }

        #[test]
        fn clock_merge_is_idempotent_and_an_upper_bound(a in clock_strategy(), b in clock_strategy()) {
            let mut aa = a.clone(); aa.merge(&a);
            prop_assert_eq!(&aa, &a);
            let mut ab = a.clone(); ab.merge(&b);
            prop_assert!(ab.descends(&a) && ab.descends(&b));
        }

        #[test]
        fn descends_is_a_partial_order(a in clock_strategy(), b in clock_strategy(), c in clock_strategy()) {
            prop_assert!(a.descends(&a));
            if a.descends(&b) && b.descends(&a) { prop_assert_eq!(&a, &b); }
            if a.descends(&b) && b.descends(&c) { prop_assert!(a.descends(&c)); }
            let flipped = match a.compare(&b) {
                Causality::Before => Causality::After,
                Causality::After => Causality::Before,
                other => other,
            };
            prop_assert_eq!(b.compare(&a), flipped);
        }

        #[test]
        fn object_merge_is_a_join(h in history_strategy(), split in any::<u64>()) {
            // Deliver the same history to three replicas in different subsets and orders.
            let mut parts = [Vec::new(), Vec::new(), Vec::new()];
            for (i, s) in h.iter().enumerate() {
                parts[((split >> (2 * (i % 32))) % 3) as usize].push(s.clone());
            }
            let [a, b, c] = parts.map(Object::from_siblings);
            let mut ab = a.clone(); ab.merge(&b);
            let mut ba = b.clone(); ba.merge(&a);
            prop_assert_eq!(&ab, &ba);
            let mut ab_c = ab.clone(); ab_c.merge(&c);
            let mut bc = b.clone(); bc.merge(&c);
            let mut a_bc = a.clone(); a_bc.merge(&bc);
            prop_assert_eq!(&ab_c, &a_bc);
            let mut again = ab_c.clone();
            prop_assert!(!again.merge(&ab_c));
            prop_assert_eq!(&again, &ab_c);
            // Nothing is lost: every write is present or made obsolete by a later one.
            for s in &h {
                prop_assert!(ab_c.has_seen(s.dot));
            }
            // The result equals the history applied in order.
            prop_assert_eq!(&ab_c, &Object::from_siblings(h.clone()));
        }
    }

    #[test]
    fn decoded_objects_are_normalised_and_bounded() {
        let a = Sibling {
            dot: dot(2, 1),
            context: VectorClock::new(),
            value: Some(b"a".to_vec()),
        };
        let mut seen = VectorClock::new();
        seen.add(dot(2, 1));
        let b = Sibling {
            dot: dot(1, 1),
            context: seen,
            value: Some(b"b".to_vec()),
        };
        // Unsorted, duplicated, and holding a sibling that another makes obsolete.
        let raw = vec![a.clone(), b.clone(), a.clone()];
        let bytes = crate::codec::encode_body(&raw);
        let object: Object = crate::codec::decode_body(&bytes).unwrap();
        assert_eq!(object.siblings(), &[b]);
        assert_eq!(
            crate::codec::encode_body(&object),
            crate::codec::encode_body(&vec![object.siblings()[0].clone()])
        );
        let many = vec![a; SIBLINGS_DECODE_MAX + 1];
        let bytes = crate::codec::encode_body(&many);
        assert!(crate::codec::decode_body::<Object>(&bytes).is_err());
    }

    #[test]
    fn decoded_clocks_are_normalised_and_round_trip() {
        let raw: Vec<(ActorId, u64)> =
            vec![(actor(2), 5), (actor(1), 3), (actor(2), 7), (actor(3), 0)];
        let bytes = crate::codec::encode_body(&raw);
        let clock: VectorClock = crate::codec::decode_body(&bytes).unwrap();
        assert_eq!(
            clock.iter().collect::<Vec<_>>(),
            vec![(actor(1), 3), (actor(2), 7)]
        );
        let again: VectorClock =
            crate::codec::decode_body(&crate::codec::encode_body(&clock)).unwrap();
        assert_eq!(again, clock);
    }

    #[test]
    fn concurrent_writes_become_siblings_and_a_context_write_replaces_them() {
        let a = Sibling {
            dot: dot(1, 1),
            context: VectorClock::new(),
            value: Some(b"a".to_vec()),
        };
        let b = Sibling {
            dot: dot(2, 1),
            context: VectorClock::new(),
            value: Some(b"b".to_vec()),
        };
        let mut object = Object::single(a);
        assert!(object.merge(&Object::single(b)));
        assert_eq!(object.siblings().len(), 2);
        let c = Sibling {
            dot: dot(3, 1),
            context: object.clock(),
            value: None,
        };
        object.insert(c.clone());
        assert_eq!(object.siblings(), &[c]);
        assert!(object.is_deleted());
    }
}
