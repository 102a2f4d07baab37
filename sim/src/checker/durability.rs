//! The durability checker and its `Justifier`: every acknowledged write survives, or was
//! superseded by a client who had been shown it.
//!
//! Owns `check_durability`, `Durability` (the verdict) and `Provenance` (who saw what). It
//! reads only the recorded history and the final reads, never the simulator.

use super::{show, Attempt, Observed, Versions, Violation, WriteRecord};
use std::collections::{BTreeMap, BTreeSet};
use tern_core::{ActorId, Dot, Object, Sibling};

/// Everything the exact durability checker needs to know about who saw what.
#[derive(Clone, Copy, Debug)]
pub struct Provenance<'a> {
    pub attempts: &'a [Attempt],
    pub observed: &'a Observed,
    /// Every version some client was shown, by key and dot.
    pub versions: &'a Versions,
}

/// A key and a context's entries: how a delete whose dot is unknown is found.
type DeleteKey<'a> = (&'a [u8], Vec<(ActorId, u64)>);

/// Finds which attempts wrote a version, and whether a version's writer had seen a dot.
///
/// Writers are indexed by key, then dot, as the history's versions and observations are:
/// the recursion asks about one key at a time, and comparing whole keys at every step of a
/// search over all keys was most of its cost.
struct Justifier<'a> {
    p: Provenance<'a>,
    by_dot: BTreeMap<&'a [u8], BTreeMap<Dot, usize>>,
    by_value: BTreeMap<&'a [u8], usize>,
    /// Deletes whose dot the client never learned, by key and context.
    deletes: BTreeMap<DeleteKey<'a>, Vec<usize>>,
    memo: BTreeMap<(usize, Dot), bool>,
}

impl<'a> Justifier<'a> {
    fn new(p: Provenance<'a>) -> Justifier<'a> {
        let mut j = Justifier {
            p,
            by_dot: BTreeMap::new(),
            by_value: BTreeMap::new(),
            deletes: BTreeMap::new(),
            memo: BTreeMap::new(),
        };
        for (i, a) in p.attempts.iter().enumerate() {
            if let Some(dot) = a.dot {
                j.by_dot.entry(a.key.as_slice()).or_default().insert(dot, i);
            }
            match &a.value {
                Some(value) => {
                    j.by_value.insert(value.as_slice(), i);
                }
                None if a.dot.is_none() => {
                    j.deletes
                        .entry((a.key.as_slice(), a.context.iter().collect()))
                        .or_default()
                        .push(i);
                }
                None => {}
            }
        }
        j
    }

    /// The attempts that may have written `sibling` of `key` (one, except for a delete whose
    /// dot its client never learned: every such delete with the same context).
    fn writers(&self, key: &[u8], sibling: &Sibling) -> Vec<usize> {
        if let Some(i) = self.by_dot.get(key).and_then(|d| d.get(&sibling.dot)) {
            return vec![*i];
        }
        match &sibling.value {
            Some(value) => self
                .by_value
                .get(value.as_slice())
                .copied()
                .into_iter()
                .collect(),
            None => self
                .deletes
                .get(&(key, sibling.context.iter().collect::<Vec<_>>()))
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// True if the client of `attempt` had been shown `dot` before sending it, directly or
    /// through a version whose own writer legitimately superseded it.
    fn justified(&mut self, attempt: usize, key: &[u8], dot: Dot) -> bool {
        if let Some(known) = self.memo.get(&(attempt, dot)) {
            return *known;
        }
        let p = self.p;
        let a = &p.attempts[attempt];
        let mut verdict = false;
        if let Some(seen) = p.observed.get(key).and_then(|c| c.get(&a.client)) {
            let before = a.request;
            if seen.get(&dot).is_some_and(|at| *at < before) {
                verdict = true;
            } else {
                // The key's versions, found once: the search below looks up many dots.
                let versions = p.versions.get(key);
                // Newest first: the version a client overwrote is usually its latest one.
                let shown = seen
                    .iter()
                    .rev()
                    .filter(|(u, at)| **at < before && **u != dot)
                    .map(|(u, _)| *u);
                'search: for u in shown {
                    let found = versions.and_then(|v| v.get(&u));
                    let Some(version) = found else {
                        continue;
                    };
                    if !version.context.covers(dot) {
                        continue;
                    }
                    for writer in self.writers(key, version) {
                        if writer != attempt && self.justified(writer, key, dot) {
                            verdict = true;
                            break 'search;
                        }
                    }
                }
            }
        }
        self.memo.insert((attempt, dot), verdict);
        verdict
    }
}

/// The durability verdict: how many acknowledged writes the final reads preserve.
#[derive(Clone, Debug, Default)]
pub struct Durability {
    pub acknowledged: u64,
    /// Present in the final state, or a delete whose tombstone was collected.
    pub present: u64,
    pub superseded: u64,
    pub violations: Vec<Violation>,
}

impl Durability {
    pub fn preserved(&self) -> u64 {
        self.present + self.superseded
    }
}

/// Checks every acknowledged write against the final read of its key. A write missing from
/// the final object counts as superseded only if a final version that covers its dot was
/// written by a client who had been shown it (see `Justifier::justified`); a context that
/// claims a version nobody showed its client is a lost update. `written` holds every value
/// any client ever sent (acknowledged or not): anything else in a final read is a value that
/// appeared from nowhere.
///
/// `collected` holds, by key, the tombstones the nodes collected (forgot): an acknowledged
/// delete among them is preserved (its effect is the key's absence, which the resurrection
/// checker guards), and they count among the versions that may cover a write. They are
/// looked at beside the final object, not merged into it: a later version whose context
/// covers a collected tombstone's dot (a version vector holds one counter per actor) would
/// otherwise hide it.
pub fn check_durability(
    acked: &[WriteRecord],
    finals: &BTreeMap<Vec<u8>, Object>,
    collected: &BTreeMap<Vec<u8>, Vec<Sibling>>,
    written: &BTreeSet<Vec<u8>>,
    provenance: Provenance<'_>,
) -> Durability {
    let mut verdict = Durability {
        acknowledged: acked.len() as u64,
        ..Durability::default()
    };
    let mut justifier = Justifier::new(provenance);
    let empty = Object::new();
    for write in acked {
        let object = finals.get(&write.key).unwrap_or(&empty);
        if let Some(sibling) = object.siblings().iter().find(|s| s.dot == write.dot) {
            if sibling.value == write.value {
                verdict.present += 1;
            } else {
                verdict.violations.push(Violation::new(
                    "durability",
                    format!(
                        "key {} dot {:?}: final value differs from the acknowledged one",
                        show(&write.key),
                        write.dot
                    ),
                ));
            }
            continue;
        }
        let dead = collected.get(&write.key).map_or(&[][..], Vec::as_slice);
        if dead.iter().any(|s| s.dot == write.dot) {
            verdict.present += 1;
            continue;
        }
        let covering: Vec<&Sibling> = object
            .siblings()
            .iter()
            .chain(dead)
            .filter(|s| s.context.covers(write.dot))
            .collect();
        let legitimate = covering.iter().any(|s| {
            justifier
                .writers(&write.key, s)
                .into_iter()
                .any(|w| justifier.justified(w, &write.key, write.dot))
        });
        if legitimate {
            verdict.superseded += 1;
            continue;
        }
        let how = if covering.is_empty() {
            "is gone: no final version covers it"
        } else {
            "was replaced by a write whose client had never been shown it (lost update)"
        };
        verdict.violations.push(Violation::new(
            "durability",
            format!(
                "key {}: the write {:?} acknowledged at {} {how}",
                show(&write.key),
                write.dot,
                write.ack
            ),
        ));
    }
    for (key, object) in finals {
        for sibling in object.siblings() {
            if let Some(value) = &sibling.value {
                if !written.contains(value) {
                    verdict.violations.push(Violation::new(
                        "durability",
                        format!(
                            "key {} holds a value no client wrote ({:?})",
                            show(key),
                            sibling.dot
                        ),
                    ));
                }
            }
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{covering, object, write, written, Story};
    use tern_core::VectorClock;

    #[test]
    fn durability_accepts_present_and_superseded_writes() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        // Client 7 wrote a; client 8 read it (request 3), then wrote b over it.
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.show(8, 3, 1, b"a", VectorClock::new());
        story.write(8, 4, 2, b"b", covering(&[1]));
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", covering(&[1])))]);
        let verdict = check_durability(
            &acked,
            &finals,
            &BTreeMap::new(),
            &written(&[b"a", b"b"]),
            story.provenance(),
        );
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!((verdict.present, verdict.superseded), (1, 1));
    }

    #[test]
    fn durability_catches_a_lost_update_by_a_context_its_client_never_saw() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        // Client 8 never read a, yet its context claims it (as a write reply's whole-key
        // clock used to): a is replaced without anyone having seen it.
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.write(8, 4, 2, b"b", covering(&[1]));
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", covering(&[1])))]);
        let written = written(&[b"a", b"b"]);
        let verdict = check_durability(
            &acked,
            &finals,
            &BTreeMap::new(),
            &written,
            story.provenance(),
        );
        assert_eq!(verdict.violations.len(), 1, "{:?}", verdict.violations);
        assert!(verdict.violations[0].detail.contains("lost update"));
        // Seen after the write was sent is still not seen before it.
        story.show(8, 5, 1, b"a", VectorClock::new());
        let verdict = check_durability(
            &acked,
            &finals,
            &BTreeMap::new(),
            &written,
            story.provenance(),
        );
        assert_eq!(verdict.violations.len(), 1, "{:?}", verdict.violations);
    }

    #[test]
    fn durability_follows_supersession_through_versions_a_client_saw() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20), write(3, b"c", 30)];
        // 8 saw a and wrote b over it; 9 saw only b and wrote c over b (its context covers a
        // through b's): a is legitimately superseded by c.
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.show(8, 2, 1, b"a", VectorClock::new());
        story.write(8, 3, 2, b"b", covering(&[1]));
        story.show(9, 4, 2, b"b", covering(&[1]));
        story.write(9, 5, 3, b"c", covering(&[1, 2]));
        let finals = BTreeMap::from([(b"k".to_vec(), object(3, b"c", covering(&[1, 2])))]);
        let all = written(&[b"a", b"b", b"c"]);
        let verdict = check_durability(&acked, &finals, &BTreeMap::new(), &all, story.provenance());
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!(verdict.superseded, 2);
        // Had b's writer never seen a, the chain would not justify c replacing a.
        let mut bad = Story::default();
        bad.write(7, 1, 1, b"a", VectorClock::new());
        bad.write(8, 3, 2, b"b", covering(&[1]));
        bad.show(9, 4, 2, b"b", covering(&[1]));
        bad.write(9, 5, 3, b"c", covering(&[1, 2]));
        let verdict = check_durability(&acked, &finals, &BTreeMap::new(), &all, bad.provenance());
        assert_eq!(verdict.violations.len(), 1, "{:?}", verdict.violations);
    }

    #[test]
    fn durability_catches_a_lost_write() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        // The final object holds write 2, which never saw write 1: write 1 is lost.
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", VectorClock::new()))]);
        let story = Story::default();
        let verdict = check_durability(
            &acked,
            &finals,
            &BTreeMap::new(),
            &written(&[b"a", b"b"]),
            story.provenance(),
        );
        assert_eq!(verdict.violations.len(), 1);
        assert_eq!(verdict.preserved(), 1);
    }

    #[test]
    fn durability_catches_a_changed_and_an_invented_value() {
        let acked = [write(1, b"a", 10)];
        let finals = BTreeMap::from([(b"k".to_vec(), object(1, b"z", VectorClock::new()))]);
        let story = Story::default();
        let verdict = check_durability(
            &acked,
            &finals,
            &BTreeMap::new(),
            &written(&[b"a"]),
            story.provenance(),
        );
        assert_eq!(verdict.violations.len(), 2, "{:?}", verdict.violations);
    }

    #[test]
    fn a_collected_delete_is_preserved_and_covers_what_it_deleted() {
        // Client 7 wrote a; client 8 read it and deleted it (dot 2); the tombstone was
        // collected, so the key is absent at the end.
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.show(8, 3, 1, b"a", VectorClock::new());
        story.write(8, 4, 2, b"", covering(&[1]));
        let delete = WriteRecord {
            value: None,
            ..write(2, b"", 40)
        };
        let acked = [write(1, b"a", 10), delete];
        let tombstone = Sibling {
            bulk: None,
            dot: crate::checker::fixtures::dot(2),
            context: covering(&[1]),
            value: None,
        };
        let collected = BTreeMap::from([(b"k".to_vec(), vec![tombstone])]);
        let finals = BTreeMap::new();
        let all = written(&[b"a"]);
        let verdict = check_durability(&acked, &finals, &collected, &all, story.provenance());
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!((verdict.present, verdict.superseded), (1, 1));
        // Without the collection recorded, both writes are gone.
        let verdict = check_durability(&acked, &finals, &BTreeMap::new(), &all, story.provenance());
        assert_eq!(verdict.violations.len(), 2);
    }
}
