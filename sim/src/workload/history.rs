//! Everything the workload's clients observed, as the checkers read it: acknowledged writes,
//! reads, searches, every write attempt, and every version each client was shown.

use super::OpKind;
use crate::checker::{Attempt, Observed, ReadRecord, SearchRecord, WriteRecord};
use std::collections::{BTreeMap, BTreeSet};
use tern_core::{Dot, Object, Sibling};

/// Everything clients observed.
#[derive(Debug, Default)]
pub struct History {
    pub acked: Vec<WriteRecord>,
    pub reads: Vec<ReadRecord>,
    /// Every search that was answered, with its hits.
    pub searches: Vec<SearchRecord>,
    /// Every write attempt, with the context it carried and how it ended.
    pub attempts: Vec<Attempt>,
    /// What each client has been shown of each key: dot -> the request that first showed it.
    pub observed: Observed,
    /// Every version any client was shown, by key and dot.
    pub versions: BTreeMap<(Vec<u8>, Dot), Sibling>,
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
    /// Records that `client` was shown `object` of `key` by the reply to `request`.
    pub(super) fn observe(&mut self, client: u32, request: u64, key: &[u8], object: &Object) {
        let seen = self.observed.entry((client, key.to_vec())).or_default();
        for sibling in object.siblings() {
            seen.entry(sibling.dot).or_insert(request);
            self.versions
                .entry((key.to_vec(), sibling.dot))
                .or_insert_with(|| sibling.clone());
        }
    }
}
