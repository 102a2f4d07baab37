//! Tests of the log: records round-trip, torn tails are cut, corruption is refused, and no
//! bytes (random, flipped, or framed inside a value) can panic or steer recovery.

use super::*;
use crate::codec::DecodeError;
use crate::ids::NodeId;
use crate::version::{ActorId, Dot, Object, Sibling, VectorClock};
use proptest::prelude::*;

const LOG: u64 = 0x5eed_101d;

fn object(seq: u64, value: &[u8]) -> Object {
    Object::single(Sibling {
        dot: Dot {
            actor: ActorId {
                node: NodeId(1),
                incarnation: 1,
            },
            seq,
        },
        context: VectorClock::new(),
        value: Some(value.to_vec()),
    })
}

fn sample_log() -> (Vec<u8>, Vec<usize>) {
    let mut log = Vec::new();
    let mut starts = Vec::new();
    let records = [
        Record::Boot {
            incarnation: 1,
            log_id: LOG,
        },
        Record::Object {
            key: b"a".to_vec(),
            object: object(1, b"one"),
        },
        Record::Durable {
            upto: 0,
            log_id: LOG,
        },
        Record::Object {
            key: b"b".to_vec(),
            object: object(2, b"two"),
        },
    ];
    for r in records {
        starts.push(log.len());
        r.encode_into(&mut log);
    }
    (log, starts)
}

#[test]
fn records_round_trip() {
    let (log, starts) = sample_log();
    let (r, next) = Record::decode_at(&log, starts[1]).unwrap();
    assert_eq!(next, starts[2]);
    assert_eq!(
        r,
        Record::Object {
            key: b"a".to_vec(),
            object: object(1, b"one")
        }
    );
}

#[test]
fn clean_log_recovers_everything() {
    let (log, _) = sample_log();
    let rec = recover(&log).unwrap();
    assert_eq!(rec.incarnation, Some(1));
    assert_eq!(rec.log_id, Some(LOG));
    assert_eq!(rec.objects.len(), 2);
    assert_eq!(rec.log_end, log.len() as u64);
    assert!(rec.torn.is_empty());
    assert_eq!(rec.records, 4);
}

#[test]
fn torn_tail_is_truncated_at_the_last_valid_record() {
    let (log, starts) = sample_log();
    for cut in starts[3] + 1..log.len() {
        let rec = recover(&log[..cut]).unwrap();
        assert_eq!(rec.log_end, starts[3] as u64);
        assert_eq!(rec.torn[0].offset, starts[3] as u64);
        assert_eq!(rec.objects.len(), 1);
    }
    // A torn sector: the tail holds garbage, not a short record.
    let mut torn = log.clone();
    for b in &mut torn[starts[3] + 6..] {
        *b = 0;
    }
    let rec = recover(&torn).unwrap();
    assert_eq!(rec.log_end, starts[3] as u64);
}

#[test]
fn corruption_before_a_synced_mark_is_an_error() {
    let (mut log, starts) = sample_log();
    // The Durable record at starts[2] claims 0 synced; write a later one claiming all of it.
    Record::Durable {
        upto: log.len() as u64,
        log_id: LOG,
    }
    .encode_into(&mut log);
    log[starts[1] + RECORD_HEADER_BYTES + 1] ^= 0x40;
    match recover(&log) {
        Err(RecoveryError::Corrupt {
            offset,
            synced_upto,
            base: 0,
            reason: DecodeError::BadChecksum { .. },
        }) => {
            assert_eq!(offset, starts[1] as u64);
            assert!(synced_upto > offset);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn damage_after_the_synced_mark_is_a_torn_tail() {
    let (mut log, starts) = sample_log();
    // starts[2] says only offset 0 is synced, so damage at starts[1] may be unsynced bytes.
    log[starts[1] + RECORD_HEADER_BYTES + 1] ^= 0x40;
    let rec = recover(&log).unwrap();
    assert_eq!(rec.log_end, starts[1] as u64);
    assert_eq!(rec.objects.len(), 0);
}

#[test]
fn segments_merge_and_only_the_newest_takes_appends() {
    let (old, _) = sample_log();
    let base = old.len() as u64;
    let mut new = Vec::new();
    Record::Durable {
        upto: base,
        log_id: LOG,
    }
    .encode_into(&mut new);
    Record::Boot {
        incarnation: 2,
        log_id: LOG,
    }
    .encode_into(&mut new);
    let rec = recover_segments(&[
        Segment {
            base: 0,
            bytes: &old,
        },
        Segment { base, bytes: &new },
    ])
    .unwrap();
    assert_eq!(rec.incarnation, Some(2));
    assert_eq!(rec.objects.len(), 2);
    assert_eq!(rec.segment_base, base);
    assert_eq!(rec.log_end, base + new.len() as u64);
    assert_eq!(rec.log_bytes, base + new.len() as u64);
    // Damage in the old segment that the new segment vouches for is corruption.
    let mut damaged = old.clone();
    damaged[20] ^= 1;
    let err = recover_segments(&[
        Segment {
            base: 0,
            bytes: &damaged,
        },
        Segment { base, bytes: &new },
    ])
    .unwrap_err();
    assert!(
        matches!(err, RecoveryError::Corrupt { base: 0, .. }),
        "{err}"
    );
}

#[test]
fn a_mark_framed_inside_a_value_cannot_make_a_torn_tail_look_like_corruption() {
    let (mut log, _) = sample_log();
    let synced = log.len();
    // A value holding a perfectly framed Durable mark that claims the whole log synced,
    // with a guessed log id: as a client could store it.
    let mut value = b"prefix:".to_vec();
    Record::Durable {
        upto: 1 << 40,
        log_id: 7,
    }
    .encode_into(&mut value);
    let start = log.len();
    Record::Object {
        key: b"evil".to_vec(),
        object: object(3, &value),
    }
    .encode_into(&mut log);
    // The record is torn: its first sector's tail never reached the disk.
    log[start + 9] ^= 0xff;
    let rec = recover(&log).expect("a torn tail, not corruption");
    assert_eq!(rec.log_end, synced as u64);
    // A mark with the right log id but claiming bytes past its own position is not
    // believed either; one with the right id vouching for earlier bytes is.
    let mut honest = log.clone();
    let here = honest.len() as u64;
    Record::Durable {
        upto: here + 100,
        log_id: LOG,
    }
    .encode_into(&mut honest);
    assert!(recover(&honest).is_ok());
    Record::Durable {
        upto: here,
        log_id: LOG,
    }
    .encode_into(&mut honest);
    assert!(matches!(
        recover(&honest),
        Err(RecoveryError::Corrupt { .. })
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = recover(&bytes);
    }

    #[test]
    fn flipped_bytes_never_panic(flip in 0usize..200, mask in 1u8..=255) {
        let (mut log, _) = sample_log();
        let at = flip % log.len();
        log[at] ^= mask;
        let _ = recover(&log);
    }
}
