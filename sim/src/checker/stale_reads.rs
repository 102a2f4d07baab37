//! The stale-read checker: a read that began after a write was acknowledged returns it or
//! a causal successor.
//!
//! Owns `check_stale_reads`; it reads only acknowledged writes and reads as clients saw them.

use super::{collected_clock, show, Graveyard, ReadRecord, Violation, WriteRecord};
use std::collections::BTreeMap;

/// Checks that no read missed a write acknowledged before the read began. Returns the number
/// of (read, earlier acknowledged write) pairs checked and the violations.
///
/// A read of a key whose tombstones some node had collected by the end of the read may miss
/// a write those tombstones had seen (`graveyard`): the key's absence stands for them.
pub fn check_stale_reads(
    acked: &[WriteRecord],
    reads: &[ReadRecord],
    graveyard: &Graveyard,
) -> (u64, Vec<Violation>) {
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
        let dead = collected_clock(graveyard, &read.key, read.end);
        for write in &writes[..before] {
            pairs += 1;
            let collected = dead.as_ref().is_some_and(|c| c.covers(write.dot));
            if !read.object.has_seen(write.dot) && !collected {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{object, write};
    use tern_core::{Time, VectorClock};

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
        let (pairs, violations) =
            check_stale_reads(&acked, std::slice::from_ref(&fresh), &Graveyard::new());
        assert_eq!((pairs, violations.len()), (1, 0));
        let (pairs, violations) = check_stale_reads(&acked, &[fresh, stale], &Graveyard::new());
        assert_eq!((pairs, violations.len()), (3, 1));
    }

    #[test]
    fn a_read_of_a_collected_key_may_miss_only_what_the_tombstones_had_seen() {
        use crate::checker::fixtures::covering;
        use tern_core::{Object, Sibling};
        // Writes 1 and 2 acknowledged; a tombstone (dot 3) that had seen write 1 only was
        // collected at time 30. An empty read after that may miss write 1, not write 2.
        let mut other = write(2, b"b", 20);
        other.dot.actor.node = tern_core::NodeId(2); // another actor: not covered by node 1's
        let acked = [write(1, b"a", 10), other];
        let tombstone = Object::single(Sibling {
            bulk: None,
            dot: crate::checker::fixtures::dot(3),
            context: covering(&[1]),
            value: None,
        });
        let graveyard = Graveyard::from([(b"k".to_vec(), vec![(Time(30), tombstone)])]);
        let empty = ReadRecord {
            key: b"k".to_vec(),
            start: Time(35),
            end: Time(36),
            object: Object::new(),
        };
        let (pairs, violations) = check_stale_reads(&acked, &[empty], &graveyard);
        assert_eq!(pairs, 2);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("NodeId(2)"), "{violations:?}");
    }
}
