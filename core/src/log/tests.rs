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
        bulk: None,
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

/// A segment the node grew in zero-filled steps ends in zeros it never wrote: every record
/// before them is kept, and the zeros are a tail to cut, marked as zeros (no warning).
#[test]
fn zeros_allocated_ahead_are_a_tail_of_zeros() {
    let (mut log, starts) = sample_log();
    let end = log.len();
    log.resize(end + 65536, 0);
    let rec = recover(&log).unwrap();
    assert_eq!(rec.log_end, end as u64);
    assert_eq!(rec.objects.len(), 2);
    assert_eq!(rec.records, 4);
    assert_eq!(rec.torn.len(), 1);
    assert_eq!(rec.torn[0].offset, end as u64);
    assert_eq!(rec.torn[0].dropped_bytes, 65536);
    assert!(rec.torn[0].zeros);
    // A torn write into that space is not zeros: still cut, and told apart.
    log[end + 100] = 7;
    let rec = recover(&log).unwrap();
    assert_eq!(rec.log_end, end as u64);
    assert!(!rec.torn[0].zeros);
    // Synced bytes read back as zeros are damage, not a tail: a mark after them vouches past.
    let (mut log, _) = sample_log();
    let synced = log.len() as u64;
    Record::Durable {
        upto: synced,
        log_id: LOG,
    }
    .encode_into(&mut log);
    log.resize(log.len() + 4096, 0);
    for b in &mut log[starts[3]..synced as usize] {
        *b = 0;
    }
    assert!(matches!(recover(&log), Err(RecoveryError::Corrupt { .. })));
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

/// Damage to the log's first record (its only Boot record) leaves no log id to believe the
/// marks after it by: it must still be found, not cut off as one torn tail with everything
/// synced after it (the simulator's damage oracle found this, `replace.yaml` seed 108).
#[test]
fn damage_to_the_first_record_with_records_after_it_is_damage_not_a_torn_tail() {
    let (mut log, _) = sample_log();
    Record::Durable {
        upto: log.len() as u64,
        log_id: LOG,
    }
    .encode_into(&mut log);
    log[RECORD_HEADER_BYTES + 1] ^= 0x40;
    match recover(&log) {
        Err(RecoveryError::Corrupt { offset: 0, .. }) => {}
        other => panic!("expected damage at offset 0, got {other:?}"),
    }
    // A torn first record with nothing valid after it is an ordinary torn tail.
    let (log, starts) = sample_log();
    let mut torn = log[..starts[1]].to_vec();
    torn.truncate(starts[1] - 3);
    let rec = recover(&torn).unwrap();
    assert_eq!(rec.log_end, 0);
}

/// Rebuild marks round-trip, and the newest one says whether the node was rebuilding.
#[test]
fn the_newest_rebuild_mark_says_whether_a_rebuild_was_unfinished() {
    let (mut log, _) = sample_log();
    for (record, rebuilding) in [
        (Record::Rebuilding, true),
        (Record::Rebuilt, false),
        (Record::Rebuilding, true),
    ] {
        let at = log.len();
        record.encode_into(&mut log);
        assert_eq!(Record::decode_at(&log, at).unwrap(), (record, log.len()));
        assert_eq!(recover(&log).unwrap().rebuilding, rebuilding);
    }
}

/// A bulk write's version kept aside is recovered until a later `Refused` names it; the
/// refusal is recovered too.
#[test]
fn versions_kept_aside_are_recovered_unless_a_later_refusal_names_them() {
    let (mut log, _) = sample_log();
    let keys: crate::version::BulkKeys = vec![b"a".to_vec(), b"b".to_vec()].into();
    let version = |seq| {
        let mut sibling = object(seq, b"bulk").siblings()[0].clone();
        sibling.bulk = Some(keys.clone());
        sibling
    };
    let (first, second) = (version(7), version(8));
    for record in [
        Record::Aside {
            key: b"a".to_vec(),
            dot: first.dot,
            object: Object::single(first.clone()),
            n: 3,
            w: 2,
        },
        Record::Aside {
            key: b"b".to_vec(),
            dot: second.dot,
            object: Object::single(second.clone()),
            n: 3,
            w: 2,
        },
        Record::Refused {
            key: b"b".to_vec(),
            dot: second.dot,
        },
    ] {
        let at = log.len();
        record.encode_into(&mut log);
        assert_eq!(Record::decode_at(&log, at).unwrap(), (record, log.len()));
    }
    let recovered = recover(&log).unwrap();
    let aside: Vec<_> = recovered.aside.keys().cloned().collect();
    assert_eq!(aside, [(b"a".to_vec(), first.dot)]);
    let kept = &recovered.aside[&(b"a".to_vec(), first.dot)];
    assert_eq!(kept, &(Object::single(first), 3, 2));
    assert!(recovered.refused.contains(&(b"b".to_vec(), second.dot)));
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

/// A causal history of writes to one key, as real coordinators make them: each write's
/// context holds, for every actor, a prefix of that actor's earlier writes (with their own
/// contexts). Every sibling is a function of its dot, and no context runs in a cycle.
fn history_strategy() -> impl Strategy<Value = Vec<Sibling>> {
    let steps =
        proptest::collection::vec((0u32..3, proptest::collection::vec(0usize..6, 3)), 1..10);
    steps.prop_map(|steps| {
        let mut written: Vec<Sibling> = Vec::new();
        for (step, (node, prefixes)) in steps.into_iter().enumerate() {
            let mut context = VectorClock::new();
            for (other, prefix) in prefixes.iter().enumerate() {
                let theirs = written
                    .iter()
                    .filter(|s| s.dot.actor.node == NodeId(other as u32));
                for earlier in theirs.take(*prefix) {
                    context.merge(&earlier.context);
                    context.add(earlier.dot);
                }
            }
            let mine = written.iter().filter(|s| s.dot.actor.node == NodeId(node));
            let seq = mine.count() as u64 + 1;
            let actor = ActorId {
                node: NodeId(node),
                incarnation: 7,
            };
            written.push(Sibling {
                bulk: None,
                dot: Dot { actor, seq },
                context,
                value: (step % 4 != 3).then(|| vec![step as u8]),
            });
        }
        written
    })
}

proptest! {
    /// Recovery merges records newest first and skips those that add nothing; the result
    /// must be exactly the forward merge of every record, whatever the objects.
    #[test]
    fn recovery_equals_the_forward_merge_of_every_record(
        histories in proptest::collection::vec(history_strategy(), 3),
        records in proptest::collection::vec((0usize..3, any::<u16>()), 0..24),
    ) {
        let mut log = Record::Boot { incarnation: 1, log_id: LOG }.encode();
        let mut expected: std::collections::BTreeMap<Vec<u8>, Object> = Default::default();
        for (key, mask) in records {
            // A record holds some versions of its key's history (a replica's object at
            // some moment, or a merge of several).
            let chosen = histories[key].iter().enumerate().filter(|(i, _)| mask >> (i % 16) & 1 == 1);
            let object = Object::from_siblings(chosen.map(|(_, s)| s.clone()).collect());
            let key = vec![b'k', key as u8];
            Record::Object { key: key.clone(), object: object.clone() }.encode_into(&mut log);
            expected.entry(key).or_default().merge(&object);
        }
        let recovered = recover(&log).unwrap();
        prop_assert_eq!(recovered.objects, expected);
    }

    /// The skim that reads an object record's dots refuses exactly the bodies the decoder
    /// refuses, so recovery reports the same records as unreadable either way.
    #[test]
    fn the_object_skim_refuses_what_the_decoder_refuses(
        siblings in history_strategy(),
        cut in 0usize..64,
        flip in 0usize..64,
        mask in 0u8..=255,
        extra in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        let body = ObjectBodyForTest { key: b"k".to_vec(), object: Object::from_siblings(siblings) };
        let mut payload = crate::codec::encode_body(&body);
        if !payload.is_empty() {
            let at = flip % payload.len();
            payload[at] ^= mask;
            payload.truncate(payload.len() - cut % payload.len());
        }
        payload.extend_from_slice(&extra);
        let mut bytes = Vec::new();
        record::frame(record::TAG_OBJECT, &payload, &mut bytes);
        let frame = record::Frame::at(&bytes, 0).unwrap();
        let mut dots = Vec::new();
        let skim = frame.object_dots(&mut dots);
        let full = frame.decode();
        prop_assert_eq!(skim.is_ok(), full.is_ok(), "skim {:?}, decode {:?}", skim, full);
        if let (Ok(key), Ok(Record::Object { key: k, object })) = (skim, full) {
            prop_assert_eq!(key, &k[..]);
            let mut decoded: Vec<Dot> = object.siblings().iter().map(|s| s.dot).collect();
            let mut skimmed = dots.clone();
            decoded.sort();
            skimmed.sort();
            // The decoder drops obsolete and duplicate siblings; every dot it keeps was read.
            prop_assert!(decoded.iter().all(|d| skimmed.binary_search(d).is_ok()));
        }
    }
}

/// Encodes like an object record's body.
#[derive(serde::Serialize)]
struct ObjectBodyForTest {
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    object: Object,
}

/// A record whose checksum holds but whose body does not parse is refused, never cut; of
/// several, the first in log order is named, whichever pass of recovery reads it.
#[test]
fn the_first_unreadable_record_in_log_order_is_the_error() {
    let garbage = [0xff_u8; 12];
    let boot = Record::Boot {
        incarnation: 1,
        log_id: LOG,
    }
    .encode();
    let good = Record::Object {
        key: b"a".to_vec(),
        object: object(1, b"one"),
    }
    .encode();
    let mut bad_object = Vec::new();
    record::frame(record::TAG_OBJECT, &garbage, &mut bad_object);
    let mut bad_boot = Vec::new();
    record::frame(record::TAG_BOOT, &garbage, &mut bad_boot);

    let unreadable_at = |log: &[u8]| match recover(log) {
        Err(RecoveryError::Unreadable { offset, .. }) => offset,
        other => panic!("expected an unreadable record, got {other:?}"),
    };
    // An object record first, a Boot record later.
    let log = [&boot[..], &good, &bad_object, &good, &bad_boot].concat();
    assert_eq!(unreadable_at(&log), (boot.len() + good.len()) as u64);
    // A Boot record first, an object record later.
    let log = [&boot[..], &bad_boot, &good, &bad_object].concat();
    assert_eq!(unreadable_at(&log), boot.len() as u64);
    // Two object records: the earlier one.
    let log = [&boot[..], &bad_object, &good, &bad_object].concat();
    assert_eq!(unreadable_at(&log), boot.len() as u64);
}

/// Recovery finds each key's records among many (its table of keys, sorted at the end by
/// a 16-byte prefix, then whole keys): keys that share long prefixes, that differ only in
/// trailing zeros or length, and that come back in many records all merge as a replay of
/// every record into one map would.
#[test]
fn many_keys_merge_as_a_replay_does() {
    let mut keys: Vec<Vec<u8>> = vec![b"".to_vec(), b"ab".to_vec(), b"ab\0".to_vec()];
    keys.extend((0..40u8).map(|i| [&[7u8; 16][..], &[i % 3, i]].concat()));
    keys.extend((0..60u32).map(|i| format!("key-{:05}", i * 7919 % 1000).into_bytes()));
    let mut log = Record::Boot {
        incarnation: 1,
        log_id: LOG,
    }
    .encode();
    let mut expected: std::collections::BTreeMap<Vec<u8>, Object> = Default::default();
    for round in 0..3u64 {
        for (i, key) in keys.iter().enumerate().rev() {
            let seq = round * 1000 + i as u64 + 1;
            let mut obj = object(seq, key);
            if round == 1 {
                // A concurrent sibling from another actor: merged, not replaced.
                obj.merge(&Object::single(Sibling {
                    bulk: None,
                    dot: Dot {
                        actor: ActorId {
                            node: NodeId(2),
                            incarnation: 9,
                        },
                        seq,
                    },
                    context: VectorClock::new(),
                    value: None,
                }));
            }
            expected.entry(key.clone()).or_default().merge(&obj);
            Record::Object {
                key: key.clone(),
                object: obj,
            }
            .encode_into(&mut log);
        }
    }
    let recovered = recover(&log).unwrap();
    assert_eq!(recovered.objects, expected);
}

#[test]
fn a_tail_is_zeros_only_if_every_byte_is() {
    for len in [0usize, 1, 63, 64, 65, 200] {
        let zeros = vec![0u8; len];
        assert!(super::recovery::all_zeros(&zeros), "{len} zeros");
        for at in 0..len {
            let mut bytes = zeros.clone();
            bytes[at] = 1;
            assert!(!super::recovery::all_zeros(&bytes), "a 1 at {at} of {len}");
        }
    }
}
