//! The store: every key this replica holds, and a running estimate of the live data (what a
//! snapshot would take), which decides when to compact. Built once, by recovery.

use crate::log::RECORD_HEADER_BYTES;
use crate::version::Object;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: BTreeMap<Vec<u8>, Object>,
    live_bytes: u64,
}

/// Roughly what one key costs in a snapshot.
fn live_weight(key: &[u8], object: &Object) -> u64 {
    (key.len() + object.weight_bytes() + RECORD_HEADER_BYTES) as u64
}

impl Store {
    pub fn new(objects: BTreeMap<Vec<u8>, Object>) -> Store {
        let live_bytes = objects.iter().map(|(k, o)| live_weight(k, o)).sum();
        Store {
            objects,
            live_bytes,
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&Object> {
        self.objects.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Object)> {
        self.objects.iter()
    }

    /// A rough size of the live data, in bytes.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Replaces the object of `key` (a merge that changed it).
    pub fn replace(&mut self, key: Vec<u8>, object: Object) {
        let before = self.objects.get(&key).map_or(0, |o| live_weight(&key, o));
        self.live_bytes = (self.live_bytes + live_weight(&key, &object)).saturating_sub(before);
        self.objects.insert(key, object);
    }
}
