//! The resurrection checker: once a key's tombstones are collected, no version they replaced
//! is ever seen again, by a read or in any replica's final copy.
//!
//! Owns `Graveyard` (every key a node forgot, with the tombstones it held and when) and
//! `check_resurrections`; and the views the other checkers judge a collected key by, as if
//! its tombstones were still there (the state they stand for): `collected_siblings`,
//! `collected_clock`, `forgotten_or`.

use super::{show, ReadRecord, Violation};
use std::collections::BTreeMap;
use tern_core::{NodeId, Object, Sibling, Time, VectorClock};

/// Every collection the nodes reported: by key, when and what was forgotten.
pub type Graveyard = BTreeMap<Vec<u8>, Vec<(Time, Object)>>;

/// Every tombstone of `key` collected by `at`, each once. Listed, not merged: a later
/// version whose context covers a collected tombstone's dot (a version vector keeps one
/// counter per actor) would make a merge drop it, and with it what it had replaced.
pub fn collected_siblings(graveyard: &Graveyard, key: &[u8], at: Time) -> Vec<Sibling> {
    let mut siblings: Vec<Sibling> = Vec::new();
    let entries = graveyard.get(key).into_iter().flatten();
    for (_, object) in entries.filter(|(t, _)| *t <= at) {
        for sibling in object.siblings() {
            if !siblings.iter().any(|s| s.dot == sibling.dot) {
                siblings.push(sibling.clone());
            }
        }
    }
    siblings
}

/// Everything the tombstones of `key` collected by `at` had seen (their dots and contexts):
/// the versions they replaced.
pub fn collected_clock(graveyard: &Graveyard, key: &[u8], at: Time) -> Option<VectorClock> {
    let siblings = collected_siblings(graveyard, key, at);
    if siblings.is_empty() {
        return None;
    }
    let mut clock = VectorClock::new();
    for sibling in &siblings {
        clock.merge(&sibling.context);
        clock.add(sibling.dot);
    }
    Some(clock)
}

/// A replica's copy of `key` as the checkers compare it at `at`: nothing, if it is only
/// tombstones that some node has collected by then (it has not forgotten them yet).
pub fn forgotten_or(graveyard: &Graveyard, key: &[u8], at: Time, copy: Object) -> Object {
    let dead = collected_siblings(graveyard, key, at);
    let stale = !copy.is_empty()
        && copy
            .siblings()
            .iter()
            .all(|s| s.value.is_none() && dead.iter().any(|d| d.dot == s.dot));
    if stale {
        Object::new()
    } else {
        copy
    }
}

/// Values of `object` that the tombstones of `key` collected by `at` had replaced.
fn risen(graveyard: &Graveyard, key: &[u8], at: Time, object: &Object) -> Vec<String> {
    let Some(clock) = collected_clock(graveyard, key, at) else {
        return Vec::new();
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{covering, dot, object};
    use tern_core::{Sibling, VectorClock};

    fn tombstone(seq: u64, context: VectorClock) -> Object {
        Object::single(Sibling {
            bulk: None,
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
    fn a_collected_key_is_judged_with_its_tombstones() {
        let dead = vec![(Time(50), tombstone(2, covering(&[1])))];
        let graveyard = Graveyard::from([(b"k".to_vec(), dead)]);
        assert!(
            collected_clock(&graveyard, b"k", Time(40)).is_none(),
            "not collected yet"
        );
        let clock = collected_clock(&graveyard, b"k", Time(60)).unwrap();
        assert!(clock.covers(dot(1)) && clock.covers(dot(2)));
        // A replica still holding the collected tombstone holds what one that forgot holds.
        let late = forgotten_or(&graveyard, b"k", Time(60), tombstone(2, covering(&[1])));
        assert!(late.is_empty());
        let other = forgotten_or(&graveyard, b"k", Time(60), tombstone(3, covering(&[2])));
        assert!(!other.is_empty(), "a tombstone never collected is kept");
    }
}
