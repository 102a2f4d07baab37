//! Everything the workload's clients observed, as the checkers read it: acknowledged writes,
//! reads, searches, every write attempt, and every version each client was shown.

use super::OpKind;
use crate::checker::{
    Attempt, BulkReadRecord, BulkWriteRecord, Observed, ReadRecord, SearchRecord, Versions,
    WriteRecord,
};
use std::collections::{BTreeMap, BTreeSet};
use tern_core::{BulkKeys, Dot, Object, Sibling};

/// Everything clients observed.
#[derive(Debug, Default)]
pub struct History {
    pub acked: Vec<WriteRecord>,
    pub reads: Vec<ReadRecord>,
    /// Every search that was answered, with its hits.
    pub searches: Vec<SearchRecord>,
    /// Every write attempt, with the context it carried and how it ended (a bulk write's
    /// items each count as one).
    pub attempts: Vec<Attempt>,
    /// Every bulk write attempt, whole.
    pub bulk_writes: Vec<BulkWriteRecord>,
    /// Every successful bulk read (each of its keys is also in `reads`).
    pub bulk_reads: Vec<BulkReadRecord>,
    /// What each client has been shown of each key: dot -> the request that first showed it.
    pub observed: Observed,
    /// Every version any client was shown, by key and dot.
    pub versions: Versions,
    /// Every value any set attempt carried.
    pub written: BTreeSet<Vec<u8>>,
    /// Every key any write attempt touched.
    pub keys_written: BTreeSet<Vec<u8>>,
    /// (op, outcome) -> count.
    pub outcomes: BTreeMap<(OpKind, &'static str), u64>,
    /// Successful latencies by op, in simulated microseconds.
    pub latencies: BTreeMap<OpKind, Vec<u64>>,
}

impl History {
    /// Records that `client` was shown `object` of `key` by the reply to `request`, and, for
    /// a write reply, the write's own `dot`. The key is copied only the first time it is seen;
    /// a version only the first time any client is shown it.
    pub(super) fn observe(
        &mut self,
        client: u32,
        request: u64,
        key: &[u8],
        own: Option<Dot>,
        object: &Object,
    ) {
        let seen = by_key(&mut self.observed, key).entry(client).or_default();
        if let Some(dot) = own {
            seen.entry(dot).or_insert(request);
        }
        let versions = by_key(&mut self.versions, key);
        for sibling in object.siblings() {
            seen.entry(sibling.dot).or_insert(request);
            versions
                .entry(sibling.dot)
                .or_insert_with(|| sibling.clone());
        }
    }
}

impl History {
    /// Records that `client` was shown, by the reply to `request`, its own bulk write
    /// `bulk_writes[b]` as `dot` on every key: the version each key now holds, as the
    /// client sent it.
    pub(super) fn own_bulk(&mut self, client: u32, request: u64, b: usize, dot: Dot) {
        let mut keys: Vec<Vec<u8>> = self.bulk_writes[b]
            .items
            .iter()
            .map(|i| i.key.clone())
            .collect();
        keys.sort();
        let keys: BulkKeys = keys.into();
        for item in &self.bulk_writes[b].items {
            by_key(&mut self.observed, &item.key)
                .entry(client)
                .or_default()
                .entry(dot)
                .or_insert(request);
            by_key(&mut self.versions, &item.key)
                .entry(dot)
                .or_insert_with(|| Sibling {
                    dot,
                    context: item.context.clone(),
                    value: item.value.clone(),
                    bulk: Some(keys.clone()),
                });
        }
    }
}

/// The entry of `key` in `map`, made empty if there is none: the key is copied only then.
fn by_key<'m, V: Default>(map: &'m mut BTreeMap<Vec<u8>, V>, key: &[u8]) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_vec(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}
