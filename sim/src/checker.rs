//! The checkers: each turns a recorded history into a verdict.
//!
//! They take plain data (what clients saw, what replicas hold), not the simulator, so that
//! tests can feed each one a history with a planted violation and watch it fail.
//!
//! - durability: every acknowledged write is in the final read (same dot, same value) or made
//!   obsolete by a version whose context has seen its dot; and no value appears that no
//!   client ever wrote;
//! - stale reads: a read that began after a write was acknowledged returns that write or a
//!   causal successor;
//! - convergence: at the end, every replica of a key holds the same versions.

use std::collections::{BTreeMap, BTreeSet};
use tern_core::{Dot, NodeId, Object, Time};

/// An acknowledged write as the client saw it.
#[derive(Clone, Debug)]
pub struct WriteRecord {
    pub key: Vec<u8>,
    pub dot: Dot,
    /// `None` for a delete.
    pub value: Option<Vec<u8>>,
    pub start: Time,
    pub ack: Time,
}

/// A successful read as the client saw it.
#[derive(Clone, Debug)]
pub struct ReadRecord {
    pub key: Vec<u8>,
    pub start: Time,
    pub end: Time,
    pub object: Object,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub checker: &'static str,
    pub detail: String,
}

impl Violation {
    fn new(checker: &'static str, detail: String) -> Violation {
        Violation { checker, detail }
    }
}

/// The durability verdict: how many acknowledged writes the final reads preserve.
#[derive(Clone, Debug, Default)]
pub struct Durability {
    pub acknowledged: u64,
    pub present: u64,
    pub superseded: u64,
    pub violations: Vec<Violation>,
}

impl Durability {
    pub fn preserved(&self) -> u64 {
        self.present + self.superseded
    }
}

/// Checks every acknowledged write against the final read of its key. `written` holds every
/// value any client ever sent (acknowledged or not): anything else in a final read is a
/// value that appeared from nowhere.
pub fn check_durability(
    acked: &[WriteRecord],
    finals: &BTreeMap<Vec<u8>, Object>,
    written: &BTreeSet<Vec<u8>>,
) -> Durability {
    let mut verdict = Durability {
        acknowledged: acked.len() as u64,
        ..Durability::default()
    };
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
        } else if object
            .siblings()
            .iter()
            .any(|s| s.context.covers(write.dot))
        {
            verdict.superseded += 1;
        } else {
            verdict.violations.push(Violation::new(
                "durability",
                format!(
                    "key {} lost the write {:?} acknowledged at {}",
                    show(&write.key),
                    write.dot,
                    write.ack
                ),
            ));
        }
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

/// Checks that no read missed a write acknowledged before the read began. Returns the number
/// of (read, earlier acknowledged write) pairs checked and the violations.
pub fn check_stale_reads(acked: &[WriteRecord], reads: &[ReadRecord]) -> (u64, Vec<Violation>) {
    let mut by_key: BTreeMap<&[u8], Vec<&WriteRecord>> = BTreeMap::new();
    for write in acked {
        by_key.entry(&write.key).or_default().push(write);
    }
    for writes in by_key.values_mut() {
        writes.sort_by_key(|w| w.ack);
    }
    let mut pairs = 0;
    let mut violations = Vec::new();
    for read in reads {
        let Some(writes) = by_key.get(read.key.as_slice()) else {
            continue;
        };
        let before = writes.partition_point(|w| w.ack < read.start);
        for write in &writes[..before] {
            pairs += 1;
            if !read.object.has_seen(write.dot) {
                violations.push(Violation::new(
                    "stale read",
                    format!(
                        "read of {} started at {} missed {:?}, acknowledged at {}",
                        show(&read.key),
                        read.start,
                        write.dot,
                        write.ack
                    ),
                ));
            }
        }
    }
    (pairs, violations)
}

/// Checks that every replica of each key holds the same object (absent counts as empty).
pub fn check_convergence(replicas: &BTreeMap<Vec<u8>, Vec<(NodeId, Object)>>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (key, copies) in replicas {
        let Some((first_node, first)) = copies.first() else {
            continue;
        };
        for (node, object) in &copies[1..] {
            if object != first {
                violations.push(Violation::new(
                    "convergence",
                    format!(
                        "key {}: {node} holds {} versions, {first_node} holds {}, and they differ",
                        show(key),
                        object.siblings().len(),
                        first.siblings().len()
                    ),
                ));
            }
        }
    }
    violations
}

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::{ActorId, Sibling, VectorClock};

    fn dot(seq: u64) -> Dot {
        Dot {
            actor: ActorId {
                node: NodeId(1),
                epoch: 1,
            },
            seq,
        }
    }

    fn write(seq: u64, value: &[u8], ack: u64) -> WriteRecord {
        WriteRecord {
            key: b"k".to_vec(),
            dot: dot(seq),
            value: Some(value.to_vec()),
            start: Time(ack - 1),
            ack: Time(ack),
        }
    }

    fn object(seq: u64, value: &[u8], context: VectorClock) -> Object {
        Object::single(Sibling {
            dot: dot(seq),
            context,
            value: Some(value.to_vec()),
        })
    }

    fn written(values: &[&[u8]]) -> BTreeSet<Vec<u8>> {
        values.iter().map(|v| v.to_vec()).collect()
    }

    #[test]
    fn durability_accepts_present_and_superseded_writes() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        let mut context = VectorClock::new();
        context.add(dot(1));
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", context))]);
        let verdict = check_durability(&acked, &finals, &written(&[b"a", b"b"]));
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!((verdict.present, verdict.superseded), (1, 1));
    }

    #[test]
    fn durability_catches_a_lost_write() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        // The final object holds write 2, which never saw write 1: write 1 is lost.
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", VectorClock::new()))]);
        let verdict = check_durability(&acked, &finals, &written(&[b"a", b"b"]));
        assert_eq!(verdict.violations.len(), 1);
        assert_eq!(verdict.preserved(), 1);
    }

    #[test]
    fn durability_catches_a_changed_and_an_invented_value() {
        let acked = [write(1, b"a", 10)];
        let finals = BTreeMap::from([(b"k".to_vec(), object(1, b"z", VectorClock::new()))]);
        let verdict = check_durability(&acked, &finals, &written(&[b"a"]));
        assert_eq!(verdict.violations.len(), 2, "{:?}", verdict.violations);
    }

    #[test]
    fn stale_read_checker_catches_a_read_that_missed_an_acknowledged_write() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        let fresh = ReadRecord {
            key: b"k".to_vec(),
            start: Time(15),
            end: Time(16),
            object: object(1, b"a", VectorClock::new()),
        };
        let stale = ReadRecord {
            start: Time(25),
            end: Time(26),
            ..fresh.clone()
        };
        let (pairs, violations) = check_stale_reads(&acked, std::slice::from_ref(&fresh));
        assert_eq!((pairs, violations.len()), (1, 0));
        let (pairs, violations) = check_stale_reads(&acked, &[fresh, stale]);
        assert_eq!((pairs, violations.len()), (3, 1));
    }

    #[test]
    fn convergence_checker_catches_diverged_replicas() {
        let same = object(1, b"a", VectorClock::new());
        let replicas = BTreeMap::from([(
            b"k".to_vec(),
            vec![(NodeId(1), same.clone()), (NodeId(2), same.clone())],
        )]);
        assert!(check_convergence(&replicas).is_empty());
        let diverged = BTreeMap::from([(
            b"k".to_vec(),
            vec![(NodeId(1), same), (NodeId(2), Object::new())],
        )]);
        assert_eq!(check_convergence(&diverged).len(), 1);
    }
}
