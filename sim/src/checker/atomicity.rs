//! The atomicity checker: after the calm phase, every bulk write is all-or-nothing on every
//! replica of every key it wrote, and an acknowledged one is all.
//!
//! Owns `check_atomicity` and `Atomicity` (its figures). It reads the bulk write attempts,
//! the versions tagged with a bulk write's keys that anyone saw (reads, final copies), and
//! each replica's final copy of each key; it never sees the simulator.

use super::{collected_clock, show, AttemptOutcome, BulkWriteRecord, Graveyard, Violation};
use std::collections::BTreeMap;
use tern_core::{Dot, NodeId, Object, Sibling, Time};

/// The atomicity verdict's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Atomicity {
    /// Bulk writes judged: every attempt, acknowledged or not.
    pub checked: u64,
    pub acknowledged: u64,
    /// Attempts not acknowledged (failed, indeterminate, or still waiting at the end)...
    pub unacknowledged: u64,
    /// ...of which this many are on every replica of every key (seen or replaced)...
    pub all_applied: u64,
    /// ...and this many on none.
    pub none_applied: u64,
    /// Bulk writes seen on some replicas of some keys but not on others.
    pub partial: u64,
}

/// Judges every bulk write whose dot is known: those acknowledged (`writes`), and those
/// whose versions anyone saw (`tagged`: every sibling of a read or a final copy; those
/// without a bulk write's keys are skipped). `replicas` holds each key's final copy on each
/// of its replicas, collected tombstones standing in for what they replaced
/// (`forgotten_or`). A bulk write is applied on a copy if the copy has seen its dot (holds
/// it, or a version that replaced it), or if tombstones of the key that had seen it were
/// collected by `end` (`graveyard`): the key may have been written again since, by a
/// client shown nothing of what the tombstones replaced.
///
/// A bulk write seen on some copies and missing on others is partial: a violation. An
/// acknowledged one must be on every copy. A write not acknowledged whose dot no one ever
/// saw counts as none; each dot found that no acknowledgement names accounts for one of
/// the attempts not acknowledged (one attempt runs once: the dot checker's rule).
pub fn check_atomicity<'s>(
    writes: &[BulkWriteRecord],
    tagged: impl IntoIterator<Item = &'s Sibling>,
    replicas: &BTreeMap<Vec<u8>, Vec<(NodeId, Object)>>,
    graveyard: &Graveyard,
    end: Time,
) -> (Atomicity, Vec<Violation>) {
    let mut violations = Vec::new();
    // Dot -> (the keys it wrote, acknowledged).
    let mut known: BTreeMap<Dot, (Vec<Vec<u8>>, bool)> = BTreeMap::new();
    let mut figures = Atomicity::default();
    for write in writes {
        figures.checked += 1;
        match (write.outcome, write.dot) {
            (AttemptOutcome::Acknowledged, Some(dot)) => {
                figures.acknowledged += 1;
                let mut keys: Vec<Vec<u8>> = write.items.iter().map(|i| i.key.clone()).collect();
                keys.sort();
                known.insert(dot, (keys, true));
            }
            _ => figures.unacknowledged += 1,
        }
    }
    for sibling in tagged {
        let Some(keys) = &sibling.bulk else { continue };
        match known.get(&sibling.dot) {
            Some((sent, _)) if sent.as_slice() != &keys[..] => violations.push(Violation::new(
                "atomicity",
                format!(
                    "bulk write {:?}: a version names keys [{}], its client wrote [{}]",
                    sibling.dot,
                    list(keys.iter()),
                    list(sent.iter())
                ),
            )),
            Some(_) => {}
            None => {
                known.insert(sibling.dot, (keys.to_vec(), false));
            }
        }
    }
    let empty = Vec::new();
    let mut found_unacknowledged = 0;
    for (dot, (keys, acknowledged)) in &known {
        found_unacknowledged += u64::from(!acknowledged);
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for key in keys {
            let collected = collected_clock(graveyard, key, end).is_some_and(|c| c.covers(*dot));
            let copies = replicas.get(key).unwrap_or(&empty);
            if copies.is_empty() {
                off.push(format!("{} (no copy)", show(key)));
            }
            for (node, copy) in copies {
                let at = format!("{} on {}", show(key), node.0);
                if collected || copy.has_seen(*dot) {
                    on.push(at);
                } else {
                    off.push(at);
                }
            }
        }
        let what = if *acknowledged {
            "acknowledged"
        } else {
            "not acknowledged"
        };
        if off.is_empty() {
            figures.all_applied += u64::from(!acknowledged);
        } else if on.is_empty() && !acknowledged {
            figures.none_applied += 1;
        } else {
            if !on.is_empty() {
                figures.partial += 1;
            }
            violations.push(Violation::new(
                "atomicity",
                format!(
                    "bulk write {dot:?} ({what}) of [{}] is on [{}] but not on [{}]",
                    list(keys.iter()),
                    on.join(", "),
                    off.join(", ")
                ),
            ));
        }
    }
    // Attempts not acknowledged whose dot nobody saw wrote nothing anyone can find.
    figures.none_applied += figures.unacknowledged.saturating_sub(found_unacknowledged);
    (figures, violations)
}

fn list<'k>(keys: impl Iterator<Item = &'k Vec<u8>>) -> String {
    keys.map(|k| show(k)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{bulk_object, bulk_sibling, bulk_write, covering, object};
    use tern_core::{Time, VectorClock};

    /// Final copies: key -> the object on each of nodes 1, 2, 3.
    fn copies(state: &[(&[u8], [&Object; 3])]) -> BTreeMap<Vec<u8>, Vec<(NodeId, Object)>> {
        state
            .iter()
            .map(|(key, objects)| {
                let on = (1..=3).map(|n| (NodeId(n), objects[n as usize - 1].clone()));
                (key.to_vec(), on.collect())
            })
            .collect()
    }

    #[test]
    fn atomicity_checker_catches_a_partly_applied_bulk_write() {
        let keys: [&[u8]; 2] = [b"a", b"b"];
        let a5 = bulk_object(5, b"a5", &keys, VectorClock::new());
        let b5 = bulk_object(5, b"b5", &keys, VectorClock::new());
        let b6 = object(6, b"b6", covering(&[5])); // replaced 5 on b
        let old = object(1, b"old", VectorClock::new());
        // Acknowledged 5, on every copy (b's replaced on one node): fine.
        let writes = [bulk_write(5, &keys, 10)];
        let whole = copies(&[(b"a", [&a5, &a5, &a5]), (b"b", [&b5, &b6, &b5])]);
        let (figures, violations) =
            check_atomicity(&writes, [], &whole, &Graveyard::new(), Time(100));
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!((figures.acknowledged, figures.partial), (1, 0));
        // The same bulk write missing on one copy of b: partial.
        let torn = copies(&[(b"a", [&a5, &a5, &a5]), (b"b", [&b5, &old, &b5])]);
        let (figures, violations) =
            check_atomicity(&writes, [], &torn, &Graveyard::new(), Time(100));
        assert_eq!((figures.partial, violations.len()), (1, 1));
        assert!(
            violations[0].detail.contains("not on [b on 2]"),
            "{violations:?}"
        );
        // Acknowledged, and on no copy at all: lost.
        let none = copies(&[(b"a", [&old, &old, &old]), (b"b", [&old, &old, &old])]);
        let (_, violations) = check_atomicity(&writes, [], &none, &Graveyard::new(), Time(100));
        assert_eq!(violations.len(), 1);
        // Not acknowledged: nowhere is fine, and a version a reader saw makes it known.
        let unknown = [bulk_write(5, &keys, 0)];
        let (figures, violations) =
            check_atomicity(&unknown, [], &none, &Graveyard::new(), Time(100));
        assert!(violations.is_empty());
        assert_eq!((figures.unacknowledged, figures.none_applied), (1, 1));
        let seen = bulk_sibling(5, b"a5", &keys, VectorClock::new());
        let (figures, violations) =
            check_atomicity(&unknown, [&seen], &whole, &Graveyard::new(), Time(100));
        assert!(violations.is_empty());
        assert_eq!((figures.all_applied, figures.none_applied), (1, 0));
        // Not acknowledged, on a but not on b: partial.
        let half = copies(&[(b"a", [&a5, &a5, &a5]), (b"b", [&old, &old, &old])]);
        let (figures, violations) =
            check_atomicity(&unknown, [&seen], &half, &Graveyard::new(), Time(100));
        assert_eq!((figures.partial, violations.len()), (1, 1));
        // Unless b's tombstones that had seen 5 were collected (b written again since).
        let tombstone = Object::single(Sibling {
            bulk: None,
            dot: crate::checker::fixtures::dot(7),
            context: covering(&[5]),
            value: None,
        });
        let graveyard = Graveyard::from([(b"b".to_vec(), vec![(Time(50), tombstone)])]);
        let (_, violations) = check_atomicity(&unknown, [&seen], &half, &graveyard, Time(100));
        assert!(violations.is_empty(), "{violations:?}");
        let (_, violations) = check_atomicity(&unknown, [&seen], &half, &graveyard, Time(40));
        assert_eq!(
            violations.len(),
            1,
            "collected after the end: {violations:?}"
        );
    }
}
