//! The store: every key this replica holds, its search index, and a running estimate of the
//! live data (what a snapshot would take), which decides when to compact. Built once, by
//! recovery; every change goes through `replace`, so the index never lags the objects.

use crate::limits::PARTITIONS;
use crate::log::RECORD_HEADER_BYTES;
use crate::ring::{fnv1a, partition_of};
use crate::search::{document, Index, Tokenizer};
use crate::time::Time;
use crate::version::Object;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Every key held here, by partition (`ring::partition_of`), with its object and its
    /// `version_hash`: listing one partition for anti-entropy costs that partition, not the
    /// store, and no key is kept twice.
    partitions: Vec<BTreeMap<Vec<u8>, Held>>,
    /// Keys held, over all partitions.
    len: usize,
    live_bytes: u64,
    /// The documents of the objects, by partition; `None` when the cluster keeps no search
    /// index.
    index: Option<Index>,
    /// Per partition: the sum of `version_hash` over its keys (anti-entropy compares them).
    /// A sum, so that a change updates it in one step, whatever the order of changes.
    digests: Vec<u64>,
    /// Keys whose every version is a tombstone, with when this replica's copy last changed
    /// (its own clock; recovered ones are stamped at start-up): what `collect` proposes.
    tombstones: BTreeMap<Vec<u8>, Time>,
    /// The time of the step being handled, which `replace` stamps tombstones with.
    now: Time,
}

/// One key's object and its `version_hash`, kept together so that a change subtracts the old
/// hash from the digest without hashing the old object again.
#[derive(Debug)]
struct Held {
    object: Object,
    hash: u64,
}

/// A hash of what a replica holds of `key`: the key and the dots of its versions (a dot names
/// one version, so equal dots are equal objects).
pub(crate) fn version_hash(key: &[u8], object: &Object) -> u64 {
    hash_after_key(fnv1a(key), object)
}

/// `version_hash`, from the FNV-1a state after the key's bytes (which is `fnv1a(key)`, the
/// partition's hash too): the FNV-1a of the key, a 0xff byte and each sibling's dot (node,
/// incarnation and seq as 8 little-endian bytes each), folded without building those bytes.
fn hash_after_key(key_state: u64, object: &Object) -> u64 {
    let mut hash = fnv_byte(key_state, 0xff);
    for sibling in object.siblings() {
        let dot = sibling.dot;
        for word in [u64::from(dot.actor.node.0), dot.actor.incarnation, dot.seq] {
            for b in word.to_le_bytes() {
                hash = fnv_byte(hash, b);
            }
        }
    }
    hash
}

/// One step of FNV-1a (`ring::fnv1a`'s, byte by byte).
#[inline]
fn fnv_byte(hash: u64, b: u8) -> u64 {
    (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// The partition of a key from its `fnv1a` (`ring::partition_of`).
fn partition_from(key_state: u64) -> usize {
    (key_state % u64::from(PARTITIONS)) as usize
}

/// Roughly what one key costs in a snapshot.
fn live_weight(key: &[u8], object: &Object) -> u64 {
    (key.len() + object.weight_bytes() + RECORD_HEADER_BYTES) as u64
}

impl Store {
    /// A store of recovered `objects`; with a `tokenizer`, their index is built here.
    pub fn new(objects: BTreeMap<Vec<u8>, Object>, tokenizer: Option<Tokenizer>) -> Store {
        let index = tokenizer.map(|tokenizer| {
            let mut index = Index::new(PARTITIONS, tokenizer);
            for (key, object) in &objects {
                index_object(&mut index, key, object);
            }
            index
        });
        let len = objects.len();
        let mut live_bytes = 0u64;
        let mut digests = vec![0u64; PARTITIONS as usize];
        let mut tombstones = Vec::new();
        // Keys come in order, so each partition's keys do too: built in bulk below.
        // Room for twice a partition's share, so that few lists are copied to grow.
        let room = len / PARTITIONS as usize * 2;
        let mut sorted: Vec<Vec<(Vec<u8>, Held)>> =
            (0..PARTITIONS).map(|_| Vec::with_capacity(room)).collect();
        for (key, object) in objects {
            live_bytes += live_weight(&key, &object);
            let state = fnv1a(&key);
            let partition = partition_from(state);
            let hash = hash_after_key(state, &object);
            digests[partition] = digests[partition].wrapping_add(hash);
            if is_tombstoned(&object) {
                tombstones.push((key.clone(), Time::ZERO));
            }
            sorted[partition].push((key, Held { object, hash }));
        }
        let partitions = sorted.into_iter().map(BTreeMap::from_iter).collect();
        Store {
            partitions,
            len,
            live_bytes,
            index,
            digests,
            tombstones: BTreeMap::from_iter(tombstones),
            now: Time::ZERO,
        }
    }

    /// The time of the step being handled: what a tombstone's change is stamped with.
    pub fn set_now(&mut self, now: Time) {
        self.now = now;
    }

    /// Stamps every tombstone with `now`: the node has started, and does not know how long
    /// before its crash it had held them.
    pub fn restamp_tombstones(&mut self, now: Time) {
        for since in self.tombstones.values_mut() {
            *since = now;
        }
    }

    /// Keys whose every version is a tombstone, unchanged here since at most `before`.
    pub fn tombstones_since(&self, before: Time) -> impl Iterator<Item = &Vec<u8>> {
        let old = self.tombstones.iter().filter(move |(_, t)| **t <= before);
        old.map(|(k, _)| k)
    }

    /// When `key`'s copy here last changed, if every version of it is a tombstone.
    pub fn tombstoned_at(&self, key: &[u8]) -> Option<Time> {
        self.tombstones.get(key).copied()
    }

    /// Tombstoned keys held here (pending collection).
    pub fn tombstone_count(&self) -> usize {
        self.tombstones.len()
    }

    /// Forgets `key` altogether (a collected tombstone): its object, document and digest.
    pub fn remove(&mut self, key: &[u8]) -> Option<Object> {
        let partition = partition_from(fnv1a(key));
        let held = self.partitions.get_mut(partition)?.remove(key)?;
        self.len -= 1;
        self.live_bytes = self
            .live_bytes
            .saturating_sub(live_weight(key, &held.object));
        if let Some(index) = &mut self.index {
            index
                .apply(partition as u32, key, None)
                .expect("removing a document always fits");
        }
        self.digests[partition] = self.digests[partition].wrapping_sub(held.hash);
        self.tombstones.remove(key);
        Some(held.object)
    }

    /// The digest of `partition`: equal on two replicas holding the same versions of the
    /// same keys there.
    pub fn digest(&self, partition: u32) -> u64 {
        self.digests.get(partition as usize).copied().unwrap_or(0)
    }

    /// Every key of `partition` with its `version_hash`, in key order: what one
    /// anti-entropy exchange compares. Costs the keys of that partition only.
    pub fn partition_hashes(
        &self,
        partition: u32,
    ) -> impl ExactSizeIterator<Item = (&Vec<u8>, u64)> + Clone {
        static EMPTY: BTreeMap<Vec<u8>, Held> = BTreeMap::new();
        let held = self.partitions.get(partition as usize).unwrap_or(&EMPTY);
        held.iter().map(|(k, h)| (k, h.hash))
    }

    /// The `version_hash` of `key` if `partition` holds it.
    pub fn partition_hash(&self, partition: u32, key: &[u8]) -> Option<u64> {
        let held = self.partitions.get(partition as usize)?;
        held.get(key).map(|h| h.hash)
    }

    /// Keys held here.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        let partition = partition_from(fnv1a(key));
        let held = self.partitions.get(partition)?.get(key)?;
        Some(&held.object)
    }

    /// Every key held here with its object, in key order. Merges the partitions: for a
    /// snapshot and for tests, not for every step.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Object)> {
        let mut all: Vec<(&Vec<u8>, &Object)> = Vec::with_capacity(self.len);
        for held in &self.partitions {
            all.extend(held.iter().map(|(k, h)| (k, &h.object)));
        }
        // Keys are unique, so an unstable sort gives the one key order.
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// The search index of every key held here, if the cluster keeps one.
    pub fn index(&self) -> Option<&Index> {
        self.index.as_ref()
    }

    /// A rough size of the live data, in bytes.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Replaces the object of `key` (a merge that changed it: a write, a replicated merge, a
    /// read repair or a delete), and its document in the index in the same step.
    pub fn replace(&mut self, key: Vec<u8>, object: Object) {
        let state = fnv1a(&key);
        let partition = partition_from(state);
        let hash = hash_after_key(state, &object);
        if let Some(index) = &mut self.index {
            index_object(index, &key, &object);
        }
        if is_tombstoned(&object) {
            self.tombstones.insert(key.clone(), self.now);
        } else {
            self.tombstones.remove(&key);
        }
        let weight = live_weight(&key, &object);
        let held = Held { object, hash };
        let digest = &mut self.digests[partition];
        *digest = digest.wrapping_add(hash);
        match self.partitions[partition].entry(key) {
            Entry::Occupied(mut entry) => {
                let old = std::mem::replace(entry.get_mut(), held);
                *digest = digest.wrapping_sub(old.hash);
                let before = live_weight(entry.key(), &old.object);
                self.live_bytes = (self.live_bytes + weight).saturating_sub(before);
            }
            Entry::Vacant(entry) => {
                entry.insert(held);
                self.len += 1;
                self.live_bytes += weight;
            }
        }
    }
}

/// True if `object` holds versions and every one is a tombstone.
pub(crate) fn is_tombstoned(object: &Object) -> bool {
    !object.is_empty() && object.is_deleted()
}

fn index_object(index: &mut Index, key: &[u8], object: &Object) {
    let doc = document(object);
    index
        .apply(partition_of(key), key, doc.as_deref())
        .expect("the index takes every stored object: partitions agree, documents fit");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NodeId;
    use crate::version::{ActorId, Dot, Sibling, VectorClock};

    fn object(seq: u64) -> Object {
        let actor = ActorId {
            node: NodeId(1),
            incarnation: 7,
        };
        Object::single(Sibling {
            bulk: None,
            dot: Dot { actor, seq },
            context: VectorClock::new(),
            value: Some(seq.to_le_bytes().to_vec()),
        })
    }

    /// The per-partition hashes and digests kept on every change equal a scan of the store.
    #[test]
    fn partition_hashes_and_digests_follow_every_change() {
        let recovered = (0..50u64)
            .map(|i| (format!("r{i}").into_bytes(), object(i + 1)))
            .collect();
        let mut store = Store::new(recovered, None);
        for i in 0..300u64 {
            store.replace(format!("k{}", i % 120).into_bytes(), object(1000 + i));
        }
        store.replace(b"r3".to_vec(), object(9999));
        assert_eq!(store.len(), 170);
        for p in 0..PARTITIONS {
            let scan: Vec<(Vec<u8>, u64)> = store
                .iter()
                .filter(|(k, _)| partition_of(k) == p)
                .map(|(k, o)| (k.clone(), version_hash(k, o)))
                .collect();
            let kept: Vec<(Vec<u8>, u64)> = store
                .partition_hashes(p)
                .map(|(k, h)| (k.clone(), h))
                .collect();
            assert_eq!(kept, scan, "partition {p}");
            for (k, h) in &scan {
                assert_eq!(store.partition_hash(p, k), Some(*h));
            }
            let sum = scan.iter().fold(0u64, |a, (_, h)| a.wrapping_add(*h));
            assert_eq!(store.digest(p), sum, "partition {p}");
        }
    }
}
