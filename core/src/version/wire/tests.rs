//! Tests of the hand-written object reader and writer against postcard through serde: the
//! same bytes written, the same bytes accepted and refused, on valid, damaged and random
//! bytes.

use super::*;
use crate::codec::{decode_body, encode_body, encoded_len};
use proptest::prelude::*;

fn object_strategy() -> impl Strategy<Value = Object> {
    let varied = prop_oneof![
        Just(0u64),
        1u64..200,
        any::<u64>(),
        Just(u64::MAX),
        Just(1 << 63)
    ];
    let actor = (any::<u32>(), varied.clone()).prop_map(|(node, incarnation)| ActorId {
        node: NodeId(node % 4 * (node >> 28).max(1)),
        incarnation,
    });
    let clock = proptest::collection::vec((actor.clone(), varied.clone()), 0..4)
        .prop_map(VectorClock::from);
    let value = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300));
    // Bulk versions (payload variants 2 and 3) too: their keys, sorted and distinct.
    let bulk = proptest::option::of(proptest::collection::btree_set(
        proptest::collection::vec(any::<u8>(), 0..20),
        1..4,
    ));
    let sibling =
        (actor, varied, clock, value, bulk).prop_map(|(actor, seq, context, value, bulk)| {
            Sibling {
                bulk: bulk.map(|keys| keys.into_iter().collect()),
                dot: Dot { actor, seq },
                context,
                value,
            }
        });
    proptest::collection::vec(sibling, 0..5).prop_map(Object::from_siblings)
}

/// The reader's answer on `bytes`, or serde's when the reader refuses them.
fn read_or_serde(bytes: &[u8]) -> Result<Object, crate::DecodeError> {
    let mut reader = Reader::new(bytes);
    match reader.object() {
        Some(object) if reader.is_done() => Ok(object),
        _ => decode_body::<Object>(bytes),
    }
}

proptest! {
    #[test]
    fn writing_matches_postcard(object in object_strategy()) {
        let mut out = Vec::new();
        put_object(&object, &mut out);
        prop_assert_eq!(&out, &encode_body(&object));
        prop_assert_eq!(object_len(&object), encoded_len(&object));
    }

    #[test]
    fn reading_matches_serde_on_valid_and_damaged_bytes(
        object in object_strategy(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        cut in any::<usize>(),
        cut_on in any::<bool>(),
    ) {
        let mut bytes = encode_body(&object);
        for (at, b) in flips {
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] = b;
            }
        }
        if cut_on && !bytes.is_empty() {
            bytes.truncate(cut % bytes.len());
        }
        let serde = decode_body::<Object>(&bytes);
        prop_assert_eq!(read_or_serde(&bytes), serde.clone());
        // Whatever the reader accepts, serde accepts, as the same object.
        let mut reader = Reader::new(&bytes);
        if let Some(read) = reader.object() {
            if reader.is_done() {
                prop_assert_eq!(Ok(read), serde);
            }
        }
        // The skim reads the same dots, where both succeed.
        let mut dots = Vec::new();
        let mut skim = Reader::new(&bytes);
        if skim.object_dots(&mut dots, usize::MAX).is_some() && skim.is_done() {
            let object = decode_body::<Object>(&bytes);
            prop_assert!(object.is_ok());
        }
    }

    #[test]
    fn varints_read_eight_bytes_at_a_time_as_byte_by_byte(
        bytes in proptest::collection::vec(
            prop_oneof![0x80u8..=0xff, any::<u8>(), Just(0x80), Just(0x01), Just(0x02)],
            0..24,
        ),
        from in 0usize..4,
    ) {
        for (max_bytes, last_max) in [(10, 1), (5, 0x0f)] {
            let mut fast = Reader::new(&bytes);
            fast.at = from.min(bytes.len());
            let mut slow = Reader::new(&bytes);
            slow.at = fast.at;
            let read = fast.varint(max_bytes, last_max);
            prop_assert_eq!(read, slow.varint_from(0, 0, max_bytes, last_max));
            if read.is_some() {
                prop_assert_eq!(fast.at, slow.at);
            }
        }
    }

    /// Eight bytes with their high bit set, then whatever: the ninth and tenth byte
    /// (`varint_tail`), where every actor's incarnation id ends.
    #[test]
    fn long_varints_read_as_byte_by_byte(
        head in proptest::collection::vec(0x80u8..=0xff, 8),
        tail in proptest::collection::vec(
            prop_oneof![0x80u8..=0xff, 0u8..=3, any::<u8>()],
            0..4,
        ),
    ) {
        let bytes: Vec<u8> = head.into_iter().chain(tail).collect();
        for (max_bytes, last_max) in [(10, 1), (5, 0x0f), (9, 0x7f), (10, 0x7f)] {
            let mut fast = Reader::new(&bytes);
            let mut slow = Reader::new(&bytes);
            let read = fast.varint(max_bytes, last_max);
            prop_assert_eq!(read, slow.varint_from(0, 0, max_bytes, last_max));
            if read.is_some() {
                prop_assert_eq!(fast.at, slow.at);
            }
        }
        let mut reader = Reader::new(&bytes);
        prop_assert_eq!(
            reader.u64().filter(|_| reader.is_done()),
            decode_body::<u64>(&bytes).ok()
        );
    }

    /// Skipping a varint accepts, refuses and consumes what reading it does, long or
    /// short, near the end of the bytes or not.
    #[test]
    fn skipping_a_varint_is_reading_it(
        bytes in proptest::collection::vec(
            prop_oneof![0x80u8..=0xff, any::<u8>(), Just(0x80), Just(0x01), Just(0x02)],
            0..24,
        ),
        long in any::<bool>(),
        from in 0usize..4,
    ) {
        let mut bytes = bytes;
        if long {
            bytes.splice(0..0, [0xffu8; 8]);
        }
        for (max_bytes, last_max) in [(10, 1), (5, 0x0f)] {
            let mut read = Reader::new(&bytes);
            read.at = from.min(bytes.len());
            let mut skip = Reader::new(&bytes);
            skip.at = read.at;
            let value = read.varint(max_bytes, last_max);
            prop_assert_eq!(skip.skip_varint(max_bytes, last_max), value.map(drop));
            if value.is_some() {
                prop_assert_eq!(skip.at, read.at);
            }
        }
    }

    /// Written eight bytes at once, a varint is what postcard writes, and reads back.
    #[test]
    fn varints_written_as_postcard_writes_them(
        value in prop_oneof![any::<u64>(), 0u64..300, (0u32..64).prop_map(|b| 1u64 << b)],
        before in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        for v in [value, value.wrapping_sub(1), value >> 1] {
            let mut out = before.clone();
            put_varint(v, &mut out);
            prop_assert_eq!(&out[..before.len()], &before[..]);
            prop_assert_eq!(&out[before.len()..], &encode_body(&v)[..]);
            prop_assert_eq!(out.len() - before.len(), varint_len(v));
            let mut reader = Reader::new(&out[before.len()..]);
            prop_assert_eq!(reader.u64(), Some(v));
            prop_assert!(reader.is_done());
        }
    }

    #[test]
    fn random_bytes_read_as_serde_reads_them(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assert_eq!(read_or_serde(&bytes), decode_body::<Object>(&bytes));
    }
}

#[test]
fn varints_at_their_limits_read_as_serde_reads_them() {
    // The longest u64 (ten bytes, the last at most 1), one over, and an overlong u32.
    let cases: [&[u8]; 6] = [
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        &[
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ],
        &[0x80, 0x00],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff, 0xff, 0xff, 0x10],
    ];
    for case in cases {
        let mut reader = Reader::new(case);
        assert_eq!(
            reader.u64().filter(|_| reader.is_done()),
            decode_body::<u64>(case).ok(),
            "{case:?}"
        );
        let mut reader = Reader::new(case);
        assert_eq!(
            reader.u32().filter(|_| reader.is_done()),
            decode_body::<u32>(case).ok(),
            "{case:?}"
        );
    }
    for value in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX,
    ] {
        assert_eq!(varint_len(value), encoded_len(&value), "{value}");
    }
    for value in [0, 1, 300, u128::from(u64::MAX) + 5, u128::MAX] {
        let mut out = Vec::new();
        put_varint_u128(value, &mut out);
        assert_eq!(out, encode_body(&value));
        assert_eq!(Reader::new(&out).u128(), Some(value));
    }
    let longest = encode_body(&u128::MAX);
    assert_eq!((longest.len(), longest[18]), (19, 3));
    let mut over = longest.clone();
    over[18] = 4;
    assert_eq!(Reader::new(&over).u128(), None);
    assert!(decode_body::<u128>(&over).is_err());
}
