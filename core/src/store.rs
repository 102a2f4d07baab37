//! The store: every key this replica holds, its search index, and a running estimate of the
//! live data (what a snapshot would take), which decides when to compact. Built once, by
//! recovery; every change goes through `replace`, so the index never lags the objects.

use crate::limits::PARTITIONS;
use crate::log::RECORD_HEADER_BYTES;
use crate::ring::partition_of;
use crate::search::{document, Index, Tokenizer};
use crate::version::Object;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: BTreeMap<Vec<u8>, Object>,
    live_bytes: u64,
    /// The documents of `objects`, by partition (`ring::partition_of`); `None` when the
    /// cluster keeps no search index.
    index: Option<Index>,
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
        Store {
            objects,
            live_bytes,
            index,
        }
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
        self.objects.insert(key, object);
    }
}

fn index_object(index: &mut Index, key: &[u8], object: &Object) {
    let doc = document(object);
    index
        .apply(partition_of(key), key, doc.as_deref())
        .expect("the index takes every stored object: partitions agree, documents fit");
}
