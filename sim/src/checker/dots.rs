//! The dot ledger: one dot names one version, and one write runs once.
//!
//! Owns `DotLedger`, which the world feeds every version replicas exchange, as they are
//! sent; it only records and compares, and never changes a message.

use super::{show, Violation};
use std::collections::BTreeMap;
use tern_core::{Dot, Object, Sibling};

/// Watches every version that replicas exchange: one (key, dot) must always name the same
/// version, and one value (each set attempt writes a unique one) must carry one dot: two
/// dots for one value mean the write ran twice.
#[derive(Debug, Default)]
pub struct DotLedger {
    /// By key, then dot: a key is looked up once per message, without copying it.
    versions: BTreeMap<Vec<u8>, BTreeMap<Dot, Sibling>>,
    /// Versions in `versions`, over all keys.
    count: usize,
    values: BTreeMap<Vec<u8>, (Vec<u8>, Dot)>,
    pub violations: Vec<Violation>,
}

impl DotLedger {
    /// Versions seen so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn observe(&mut self, key: &[u8], object: &Object) {
        if !self.versions.contains_key(key) {
            self.versions.insert(key.to_vec(), BTreeMap::new());
        }
        let versions = self
            .versions
            .get_mut(key)
            .expect("the key's versions were just added");
        for sibling in object.siblings() {
            match versions.get(&sibling.dot) {
                Some(known) if known != sibling => {
                    self.violations.push(Violation::new(
                        "dots",
                        format!(
                            "key {}: dot {:?} was minted twice, for two different versions",
                            show(key),
                            sibling.dot
                        ),
                    ));
                }
                Some(_) => continue,
                None => {
                    versions.insert(sibling.dot, sibling.clone());
                    self.count += 1;
                }
            }
            if let Some(value) = &sibling.value {
                match self.values.get(value) {
                    Some((k, d)) if (k.as_slice(), *d) != (key, sibling.dot) => {
                        self.violations.push(Violation::new(
                            "dots",
                            format!(
                                "key {}: one write ran twice (its value carries dots {:?} and {:?})",
                                show(key),
                                d,
                                sibling.dot
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.values
                            .insert(value.clone(), (key.to_vec(), sibling.dot));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::object;
    use tern_core::VectorClock;

    #[test]
    fn dot_ledger_catches_a_dot_minted_twice_and_a_write_run_twice() {
        let mut ledger = DotLedger::default();
        ledger.observe(b"k", &object(1, b"a", VectorClock::new()));
        ledger.observe(b"k", &object(1, b"a", VectorClock::new()));
        assert!(ledger.violations.is_empty());
        assert_eq!(ledger.len(), 1);
        // Another version under the same dot: an incarnation reused.
        ledger.observe(b"k", &object(1, b"b", VectorClock::new()));
        assert_eq!(ledger.violations.len(), 1);
        // The same value under a second dot: one write applied twice.
        ledger.observe(b"k", &object(2, b"a", VectorClock::new()));
        assert_eq!(ledger.violations.len(), 2);
        assert!(ledger.violations[1].detail.contains("ran twice"));
    }
}
