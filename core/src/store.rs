//! The store: every key this replica holds, its search index, and a running estimate of the
//! live data (what a snapshot would take), which decides when to compact. Built once, by
//! recovery; every change goes through `replace`, so the index never lags the objects.

use crate::limits::PARTITIONS;
use crate::log::RECORD_HEADER_BYTES;
use crate::ring::{fnv1a, partition_of};
use crate::search::{document, Index, Tokenizer};
use crate::time::Time;
use crate::version::Object;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: BTreeMap<Vec<u8>, Object>,
    live_bytes: u64,
    /// The documents of `objects`, by partition (`ring::partition_of`); `None` when the
    /// cluster keeps no search index.
    index: Option<Index>,
    /// Per partition: the sum of `version_hash` over its keys (anti-entropy compares them).
    /// A sum, so that a change updates it in one step, whatever the order of changes.
    digests: Vec<u64>,
    /// Keys whose every version is a tombstone, with when this replica's copy last changed
    /// (its own clock; recovered ones are stamped at start-up): what `collect` proposes.
    tombstones: BTreeMap<Vec<u8>, Time>,
    /// The time of the step being handled, which `replace` stamps tombstones with.
    now: Time,
    /// Per partition: every key held there and its `version_hash`, kept with `objects`, so
    /// that listing one partition for anti-entropy costs that partition, not the store.
    hashes: Vec<BTreeMap<Vec<u8>, u64>>,
}

/// A hash of what a replica holds of `key`: the key and the dots of its versions (a dot names
/// one version, so equal dots are equal objects).
pub(crate) fn version_hash(key: &[u8], object: &Object) -> u64 {
    let mut bytes = Vec::with_capacity(key.len() + 1 + object.siblings().len() * 24);
    bytes.extend_from_slice(key);
    bytes.push(0xff);
    for sibling in object.siblings() {
        let dot = sibling.dot;
        bytes.extend_from_slice(&u64::from(dot.actor.node.0).to_le_bytes());
        bytes.extend_from_slice(&dot.actor.incarnation.to_le_bytes());
        bytes.extend_from_slice(&dot.seq.to_le_bytes());
    }
    fnv1a(&bytes)
}

/// Roughly what one key costs in a snapshot.
fn live_weight(key: &[u8], object: &Object) -> u64 {
    (key.len() + object.weight_bytes() + RECORD_HEADER_BYTES) as u64
}

impl Store {
    /// A store of recovered `objects`; with a `tokenizer`, their index is built here.
    pub fn new(objects: BTreeMap<Vec<u8>, Object>, tokenizer: Option<Tokenizer>) -> Store {
        let live_bytes = objects.iter().map(|(k, o)| live_weight(k, o)).sum();
        let index = tokenizer.map(|tokenizer| {
            let mut index = Index::new(PARTITIONS, tokenizer);
            for (key, object) in &objects {
                index_object(&mut index, key, object);
            }
            index
        });
        let mut digests = vec![0u64; PARTITIONS as usize];
        let mut hashes = vec![BTreeMap::new(); PARTITIONS as usize];
        for (key, object) in &objects {
            let partition = partition_of(key) as usize;
            let hash = version_hash(key, object);
            digests[partition] = digests[partition].wrapping_add(hash);
            hashes[partition].insert(key.clone(), hash);
        }
        let tombstones = objects
            .iter()
            .filter(|(_, o)| is_tombstoned(o))
            .map(|(k, _)| (k.clone(), Time::ZERO))
            .collect();
        Store {
            objects,
            live_bytes,
            index,
            digests,
            tombstones,
            now: Time::ZERO,
            hashes,
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
        let object = self.objects.remove(key)?;
        self.live_bytes = self.live_bytes.saturating_sub(live_weight(key, &object));
        if let Some(index) = &mut self.index {
            index
                .apply(partition_of(key), key, None)
                .expect("removing a document always fits");
        }
        let partition = partition_of(key) as usize;
        if let Some(digest) = self.digests.get_mut(partition) {
            *digest = digest.wrapping_sub(version_hash(key, &object));
        }
        if let Some(hashes) = self.hashes.get_mut(partition) {
            hashes.remove(key);
        }
        self.tombstones.remove(key);
        Some(object)
    }

    /// The digest of `partition`: equal on two replicas holding the same versions of the
    /// same keys there.
    pub fn digest(&self, partition: u32) -> u64 {
        self.digests.get(partition as usize).copied().unwrap_or(0)
    }

    /// Every key of `partition` with its `version_hash`, in key order: what one
    /// anti-entropy exchange compares. Costs the keys of that partition only.
    pub fn partition_hashes(&self, partition: u32) -> &BTreeMap<Vec<u8>, u64> {
        static EMPTY: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        self.hashes.get(partition as usize).unwrap_or(&EMPTY)
    }

    /// Keys held here.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.objects.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Object)> {
        self.objects.iter()
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
        let before = self.objects.get(&key).map_or(0, |o| live_weight(&key, o));
        self.live_bytes = (self.live_bytes + live_weight(&key, &object)).saturating_sub(before);
        if let Some(index) = &mut self.index {
            index_object(index, &key, &object);
        }
        let partition = partition_of(&key) as usize;
        if let Some(digest) = self.digests.get_mut(partition) {
            if let Some(old) = self.objects.get(&key) {
                *digest = digest.wrapping_sub(version_hash(&key, old));
            }
            let hash = version_hash(&key, &object);
            *digest = digest.wrapping_add(hash);
            self.hashes[partition].insert(key.clone(), hash);
        }
        if is_tombstoned(&object) {
            self.tombstones.insert(key.clone(), self.now);
        } else {
            self.tombstones.remove(&key);
        }
        self.objects.insert(key, object);
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
            let scan: BTreeMap<Vec<u8>, u64> = store
                .iter()
                .filter(|(k, _)| partition_of(k) == p)
                .map(|(k, o)| (k.clone(), version_hash(k, o)))
                .collect();
            assert_eq!(store.partition_hashes(p), &scan, "partition {p}");
            let sum = scan.values().fold(0u64, |a, h| a.wrapping_add(*h));
            assert_eq!(store.digest(p), sum, "partition {p}");
        }
    }
}
