//! Vector clocks: for each actor, the highest sequence number seen; how two clocks relate.

use super::{ActorId, Dot};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

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

    /// A copy of this clock that has also seen `dot` (`clone` then `add`, with room for the
    /// dot from the start).
    pub(crate) fn with_dot(&self, dot: Dot) -> VectorClock {
        let mut entries = Vec::with_capacity(self.entries.len() + 1);
        entries.extend_from_slice(&self.entries);
        let mut clock = VectorClock { entries };
        clock.add(dot);
        clock
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
