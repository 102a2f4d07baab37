//! The isolation checker: bulk reads are read-atomic, and a read that began after a bulk
//! write was acknowledged sees that write on every key of it that it reads.
//!
//! Owns `check_fractured_reads` and `check_reads_after_bulk`. They read only what clients
//! saw (bulk reads, reads, acknowledged bulk writes) and the keys whose tombstones a node
//! collected; they never see the simulator.

use super::{
    check_stale_reads, collected_clock, show, BulkReadRecord, BulkWriteRecord, Graveyard,
    ReadRecord, Violation, WriteRecord,
};
use tern_core::Sibling;

/// Finds fractured bulk reads: a read in which one key shows a version of bulk write T
/// while another key of T that the same read asked for shows neither T nor a version that
/// replaced it. A key whose tombstones a node had collected by the end of the read may be
/// empty where T's tombstone was (the absence stands for them). A reply with another number
/// of objects than keys asked is broken too. Returns the number of fractured reads (each
/// counted once) and one violation for each.
pub fn check_fractured_reads(
    reads: &[BulkReadRecord],
    graveyard: &Graveyard,
) -> (u64, Vec<Violation>) {
    let mut violations = Vec::new();
    for read in reads {
        if let Some(detail) = fracture(read, graveyard) {
            violations.push(Violation::new(
                "isolation",
                format!(
                    "bulk read by client {} of [{}] ({} to {}): {detail}",
                    read.client,
                    read.keys
                        .iter()
                        .map(|k| show(k))
                        .collect::<Vec<_>>()
                        .join(", "),
                    read.start,
                    read.end
                ),
            ));
        }
    }
    (violations.len() as u64, violations)
}

/// What makes `read` fractured, if anything.
fn fracture(read: &BulkReadRecord, graveyard: &Graveyard) -> Option<String> {
    if read.objects.len() != read.keys.len() {
        return Some(format!(
            "{} objects answered for {} keys",
            read.objects.len(),
            read.keys.len()
        ));
    }
    for (key, object) in read.keys.iter().zip(&read.objects) {
        for sibling in object.siblings() {
            if let Some(missed) = missing_on(read, key, sibling, graveyard) {
                return Some(format!(
                    "{} shows bulk write {:?} (keys [{}]), but {} shows neither it nor a version that replaced it",
                    show(key),
                    sibling.dot,
                    sibling.bulk.iter().flat_map(|k| k.iter()).map(|k| show(k)).collect::<Vec<_>>().join(", "),
                    show(missed)
                ));
            }
        }
    }
    None
}

/// A key of `sibling`'s bulk write, other than `key` and asked by `read`, whose object in
/// the read has not seen it.
fn missing_on<'r>(
    read: &'r BulkReadRecord,
    key: &[u8],
    sibling: &Sibling,
    graveyard: &Graveyard,
) -> Option<&'r [u8]> {
    let keys = sibling.bulk.as_ref()?;
    for other in keys.iter().filter(|k| k.as_slice() != key) {
        let Some(at) = read.keys.iter().position(|k| k == other) else {
            continue; // Not asked: nothing to compare.
        };
        if read.objects[at].has_seen(sibling.dot) {
            continue;
        }
        let collected = collected_clock(graveyard, other, read.end);
        if collected.is_some_and(|c| c.covers(sibling.dot)) {
            continue;
        }
        return Some(&read.keys[at]);
    }
    None
}

/// Checks that no read (single-key or bulk), begun after a bulk write was acknowledged,
/// missed it on a key of it: the stale-read rule, applied to each key of each acknowledged
/// bulk write. Returns the (read, earlier acknowledged bulk write) pairs checked and the
/// violations.
pub fn check_reads_after_bulk(
    writes: &[BulkWriteRecord],
    reads: &[ReadRecord],
    graveyard: &Graveyard,
) -> (u64, Vec<Violation>) {
    let acked: Vec<WriteRecord> = writes.iter().flat_map(|w| w.acknowledged()).collect();
    let (pairs, stale) = check_stale_reads(&acked, reads, graveyard);
    let violations = stale
        .into_iter()
        .map(|v| Violation::new("isolation", format!("after a bulk write: {}", v.detail)))
        .collect();
    (pairs, violations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{bulk_object, bulk_write, covering, dot, object};
    use tern_core::{Object, Time, VectorClock};

    fn read(keys: &[&[u8]], objects: Vec<Object>) -> BulkReadRecord {
        BulkReadRecord {
            client: 0,
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            objects,
            start: Time(10),
            end: Time(20),
        }
    }

    #[test]
    fn isolation_checker_catches_a_fractured_bulk_read() {
        // Bulk write 5 wrote a and b; a single write 1 wrote b before it.
        let old_b = object(1, b"b1", VectorClock::new());
        let a = bulk_object(5, b"a5", &[b"a", b"b"], VectorClock::new());
        let b = bulk_object(5, b"b5", &[b"a", b"b"], covering(&[1]));
        let whole = read(&[b"a", b"b"], vec![a.clone(), b.clone()]);
        // Key b replaced by a later write that had seen 5: not fractured.
        let later_b = object(6, b"b6", covering(&[1, 5]));
        let superseded = read(&[b"a", b"b"], vec![a.clone(), later_b]);
        // Only a asked: nothing to compare.
        let alone = read(&[b"a", b"c"], vec![a.clone(), Object::new()]);
        let graveyard = Graveyard::new();
        let (fractured, violations) =
            check_fractured_reads(&[whole, superseded, alone], &graveyard);
        assert_eq!((fractured, violations.len()), (0, 0), "{violations:?}");
        // a shows 5, b shows the version 5 replaced.
        let torn = read(&[b"b", b"a"], vec![old_b.clone(), a.clone()]);
        // a shows 5, b is empty.
        let empty = read(&[b"a", b"b"], vec![a.clone(), Object::new()]);
        // Fewer objects than keys.
        let short = read(&[b"a", b"b"], vec![a.clone()]);
        let (fractured, violations) = check_fractured_reads(&[torn, empty, short], &graveyard);
        assert_eq!(fractured, 3, "{violations:?}");
        assert!(
            violations[0].detail.contains("but b shows neither"),
            "{violations:?}"
        );
        // A tombstone of b that had seen 5 was collected before the empty read: fine.
        let tombstone = Object::single(Sibling {
            bulk: None,
            dot: dot(7),
            context: covering(&[5]),
            value: None,
        });
        let graveyard = Graveyard::from([(b"b".to_vec(), vec![(Time(15), tombstone)])]);
        let empty = read(&[b"a", b"b"], vec![a, Object::new()]);
        let (fractured, _) = check_fractured_reads(&[empty], &graveyard);
        assert_eq!(fractured, 0);
    }

    #[test]
    fn isolation_checker_catches_a_read_that_missed_an_acknowledged_bulk_write() {
        // Bulk write 5 of a and b acknowledged at 10.
        let writes = [bulk_write(5, &[b"a", b"b"], 10)];
        let fresh = ReadRecord {
            key: b"b".to_vec(),
            start: Time(15),
            end: Time(16),
            object: bulk_object(5, b"b5", &[b"a", b"b"], VectorClock::new()),
        };
        let stale = ReadRecord {
            key: b"a".to_vec(),
            object: object(1, b"a1", VectorClock::new()),
            ..fresh.clone()
        };
        let early = ReadRecord {
            start: Time(5),
            ..stale.clone()
        };
        let (pairs, violations) =
            check_reads_after_bulk(&writes, &[fresh.clone(), early], &Graveyard::new());
        assert_eq!((pairs, violations.len()), (1, 0));
        let (pairs, violations) =
            check_reads_after_bulk(&writes, &[fresh, stale], &Graveyard::new());
        assert_eq!((pairs, violations.len()), (2, 1));
        assert_eq!(violations[0].checker, "isolation");
    }
}
