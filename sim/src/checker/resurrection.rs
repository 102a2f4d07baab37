//! The resurrection checker: once a key's tombstones are collected, no version they replaced
//! is ever seen again, by a read or in any replica's final copy.
//!
//! Owns `Graveyard` (every key a node forgot, with the tombstones it held and when) and
//! `check_resurrections`; and `with_collected`, which lets the other checkers judge a
//! collected key as if its tombstones were still there (the state they stand for).

use super::{show, ReadRecord, Violation};
use std::collections::BTreeMap;
use tern_core::{NodeId, Object, Time};

/// Every collection the nodes reported: by key, when and what was forgotten.
pub type Graveyard = BTreeMap<Vec<u8>, Vec<(Time, Object)>>;

/// The tombstones of `key` collected by `at` (merged), if any.
pub fn collected_by(graveyard: &Graveyard, key: &[u8], at: Time) -> Option<Object> {
    let entries = graveyard.get(key)?;
    let mut merged = Object::new();
    for (_, object) in entries.iter().filter(|(t, _)| *t <= at) {
        merged.merge(object);
    }
    (!merged.is_empty()).then_some(merged)
}

/// Values of `object` that the tombstones of `key` collected by `at` had replaced.
fn risen(graveyard: &Graveyard, key: &[u8], at: Time, object: &Object) -> Vec<String> {
    let Some(dead) = collected_by(graveyard, key, at) else {
        return Vec::new();
    };
    let clock = dead.clock();
    let risen = object.siblings().iter().filter(|s| s.value.is_some());
    risen
        .filter(|s| clock.covers(s.dot))
        .map(|s| format!("{:?}", s.dot))
        .collect()
}

/// Checks every read that began after a collection of its key, and every replica's final
/// copy (`copies`, taken at `end`), for a value the collected tombstones had replaced.
/// Returns how many (read or copy, collected key) pairs were checked, and the violations.
pub fn check_resurrections(
    graveyard: &Graveyard,
    reads: &[ReadRecord],
    copies: &[(NodeId, Vec<u8>, Object)],
    end: Time,
) -> (u64, Vec<Violation>) {
    let mut checked = 0;
    let mut violations = Vec::new();
    for read in reads.iter().filter(|r| graveyard.contains_key(&r.key)) {
        checked += 1;
        for dot in risen(graveyard, &read.key, read.start, &read.object) {
            violations.push(Violation::new(
                "resurrection",
                format!(
                    "read of {} started at {} returned {dot}, replaced by tombstones already collected",
                    show(&read.key),
                    read.start
                ),
            ));
        }
    }
    for (node, key, object) in copies.iter().filter(|c| graveyard.contains_key(&c.1)) {
        checked += 1;
        for dot in risen(graveyard, key, end, object) {
            violations.push(Violation::new(
                "resurrection",
                format!(
                    "{node} ends holding {dot} of {}, replaced by tombstones it or another node collected",
                    show(key)
                ),
            ));
        }
    }
    (checked, violations)
}

/// `reads` as they would have been had no tombstone been collected: each read of a
/// collected key also holds the tombstones collected before it ended. A read that found the
/// key forgotten then shows the delete it had to see.
pub fn with_collected(reads: &[ReadRecord], graveyard: &Graveyard) -> Vec<ReadRecord> {
    let mut reads = reads.to_vec();
    for read in reads.iter_mut() {
        if let Some(dead) = collected_by(graveyard, &read.key, read.end) {
            read.object.merge(&dead);
        }
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{covering, dot, object};
    use tern_core::{Sibling, VectorClock};

    fn tombstone(seq: u64, context: VectorClock) -> Object {
        Object::single(Sibling {
            dot: dot(seq),
            context,
            value: None,
        })
    }

    fn read(start: u64, object: Object) -> ReadRecord {
        ReadRecord {
            key: b"k".to_vec(),
            start: Time(start),
            end: Time(start + 1),
            object,
        }
    }

    #[test]
    fn a_value_the_collected_tombstone_replaced_is_a_resurrection() {
        // Version 1 was deleted by tombstone 2; the tombstone was collected at time 50.
        let graveyard = Graveyard::from([(
            b"k".to_vec(),
            vec![(Time(50), tombstone(2, covering(&[1])))],
        )]);
        let old = object(1, b"a", VectorClock::new());
        let newer = object(3, b"b", VectorClock::new());
        // Before the collection a read of version 1 is none of this checker's business.
        let (_, ok) = check_resurrections(&graveyard, &[read(40, old.clone())], &[], Time(100));
        assert!(ok.is_empty());
        // After it, version 1 in a read or a final copy has come back; a new version has not.
        let reads = [read(60, old.clone()), read(70, newer.clone())];
        let copies = [
            (NodeId(2), b"k".to_vec(), old),
            (NodeId(3), b"k".to_vec(), newer),
        ];
        let (checked, found) = check_resurrections(&graveyard, &reads, &copies, Time(100));
        assert_eq!(checked, 4);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|v| v.checker == "resurrection"));
    }

    #[test]
    fn a_read_of_a_collected_key_is_judged_with_its_tombstones() {
        let graveyard = Graveyard::from([(
            b"k".to_vec(),
            vec![(Time(50), tombstone(2, covering(&[1])))],
        )]);
        let reads = with_collected(
            &[read(40, Object::new()), read(60, Object::new())],
            &graveyard,
        );
        assert!(
            reads[0].object.is_empty(),
            "collected after that read ended"
        );
        assert!(reads[1].object.has_seen(dot(2)));
    }
}
