//! Tests of versions: the laws of clocks and of object merge (property-tested), and how
//! decoding normalises what it reads.

use super::*;
use crate::limits::SIBLINGS_DECODE_MAX;
use proptest::prelude::*;

fn actor(node: u32) -> ActorId {
    ActorId {
        node: NodeId(node),
        incarnation: 1,
    }
}

fn dot(node: u32, seq: u64) -> Dot {
    Dot {
        actor: actor(node),
        seq,
    }
}

fn clock_strategy() -> impl Strategy<Value = VectorClock> {
    proptest::collection::btree_map(0u32..4, 0u64..6, 0..4).prop_map(|m| {
        let mut clock = VectorClock::new();
        for (node, seq) in m {
            if seq > 0 {
                clock.add(dot(node, seq));
            }
        }
        clock
    })
}

/// Histories of writes as the real coordinators make them: each write's context is the
/// clock of an object that holds, for every actor, a prefix of that actor's earlier writes
/// (a replica holding an actor's dot also holds its earlier dots on the key).
fn history_strategy() -> impl Strategy<Value = Vec<Sibling>> {
    proptest::collection::vec((0u32..3, proptest::collection::vec(0usize..8, 3)), 1..8).prop_map(
        |steps| {
            let mut written: Vec<Sibling> = Vec::new();
            for (node, prefixes) in steps {
                let mut context = VectorClock::new();
                for (actor, prefix) in prefixes.iter().enumerate() {
                    let mine = written
                        .iter()
                        .filter(|s| s.dot.actor.node == NodeId(actor as u32));
                    for earlier in mine.take(*prefix) {
                        context.merge(&earlier.context);
                        context.add(earlier.dot);
                    }
                }
                let seq = written
                    .iter()
                    .filter(|s| s.dot.actor.node == NodeId(node))
                    .count();
                written.push(Sibling {
                    bulk: None,
                    dot: dot(node, seq as u64 + 1),
                    context,
                    value: Some(vec![node as u8]),
                });
            }
            written
        },
    )
}

proptest! {
    #[test]
    fn a_clock_with_a_dot_is_the_clock_that_added_it(
        a in clock_strategy(), node in 0u32..5, seq in 0u64..8,
    ) {
        let mut added = a.clone();
        added.add(dot(node, seq));
        prop_assert_eq!(a.with_dot(dot(node, seq)), added);
        // An object's clock, by the one-sibling shortcut and by the general fold.
        let only = Sibling { bulk: None, dot: dot(node, seq.max(1)), context: a.clone(), value: None };
        let mut folded = VectorClock::new();
        folded.merge(&only.context);
        folded.add(only.dot);
        prop_assert_eq!(Object::single(only).clock(), folded);
    }

    #[test]
    fn clock_merge_is_commutative(a in clock_strategy(), b in clock_strategy()) {
        let mut ab = a.clone(); ab.merge(&b);
        let mut ba = b.clone(); ba.merge(&a);
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn clock_merge_is_associative(a in clock_strategy(), b in clock_strategy(), c in clock_strategy()) {
        let mut left = a.clone(); left.merge(&b); left.merge(&c);
        let mut bc = b.clone(); bc.merge(&c);
        let mut right = a.clone(); right.merge(&bc);
        prop_assert_eq!(left, right);
    }

    #[test]
    fn clock_merge_is_idempotent_and_an_upper_bound(a in clock_strategy(), b in clock_strategy()) {
        let mut aa = a.clone(); aa.merge(&a);
        prop_assert_eq!(&aa, &a);
        let mut ab = a.clone(); ab.merge(&b);
        prop_assert!(ab.descends(&a) && ab.descends(&b));
    }

    #[test]
    fn descends_is_a_partial_order(a in clock_strategy(), b in clock_strategy(), c in clock_strategy()) {
        prop_assert!(a.descends(&a));
        if a.descends(&b) && b.descends(&a) { prop_assert_eq!(&a, &b); }
        if a.descends(&b) && b.descends(&c) { prop_assert!(a.descends(&c)); }
        let flipped = match a.compare(&b) {
            Causality::Before => Causality::After,
            Causality::After => Causality::Before,
            other => other,
        };
        prop_assert_eq!(b.compare(&a), flipped);
    }

    #[test]
    fn object_merge_is_a_join(h in history_strategy(), split in any::<u64>()) {
        // Deliver the same history to three replicas in different subsets and orders.
        let mut parts = [Vec::new(), Vec::new(), Vec::new()];
        for (i, s) in h.iter().enumerate() {
            parts[((split >> (2 * (i % 32))) % 3) as usize].push(s.clone());
        }
        let [a, b, c] = parts.map(Object::from_siblings);
        let mut ab = a.clone(); ab.merge(&b);
        let mut ba = b.clone(); ba.merge(&a);
        prop_assert_eq!(&ab, &ba);
        let mut ab_c = ab.clone(); ab_c.merge(&c);
        let mut bc = b.clone(); bc.merge(&c);
        let mut a_bc = a.clone(); a_bc.merge(&bc);
        prop_assert_eq!(&ab_c, &a_bc);
        let mut again = ab_c.clone();
        prop_assert!(!again.merge(&ab_c));
        prop_assert_eq!(&again, &ab_c);
        // Nothing is lost: every write is present or made obsolete by a later one.
        for s in &h {
            prop_assert!(ab_c.has_seen(s.dot));
        }
        // The result equals the history applied in order.
        prop_assert_eq!(&ab_c, &Object::from_siblings(h.clone()));
    }
}

#[test]
fn decoded_objects_are_normalised_and_bounded() {
    let a = Sibling {
        bulk: None,
        dot: dot(2, 1),
        context: VectorClock::new(),
        value: Some(b"a".to_vec()),
    };
    let mut seen = VectorClock::new();
    seen.add(dot(2, 1));
    let b = Sibling {
        bulk: None,
        dot: dot(1, 1),
        context: seen,
        value: Some(b"b".to_vec()),
    };
    // Unsorted, duplicated, and holding a sibling that another makes obsolete.
    let raw = vec![a.clone(), b.clone(), a.clone()];
    let bytes = crate::codec::encode_body(&raw);
    let object: Object = crate::codec::decode_body(&bytes).unwrap();
    assert_eq!(object.siblings(), &[b]);
    assert_eq!(
        crate::codec::encode_body(&object),
        crate::codec::encode_body(&vec![object.siblings()[0].clone()])
    );
    let many = vec![a; SIBLINGS_DECODE_MAX + 1];
    let bytes = crate::codec::encode_body(&many);
    assert!(crate::codec::decode_body::<Object>(&bytes).is_err());
}

#[test]
fn decoded_clocks_are_normalised_and_round_trip() {
    let raw: Vec<(ActorId, u64)> = vec![(actor(2), 5), (actor(1), 3), (actor(2), 7), (actor(3), 0)];
    let bytes = crate::codec::encode_body(&raw);
    let clock: VectorClock = crate::codec::decode_body(&bytes).unwrap();
    assert_eq!(
        clock.iter().collect::<Vec<_>>(),
        vec![(actor(1), 3), (actor(2), 7)]
    );
    let again: VectorClock = crate::codec::decode_body(&crate::codec::encode_body(&clock)).unwrap();
    assert_eq!(again, clock);
}

#[test]
fn concurrent_writes_become_siblings_and_a_context_write_replaces_them() {
    let a = Sibling {
        bulk: None,
        dot: dot(1, 1),
        context: VectorClock::new(),
        value: Some(b"a".to_vec()),
    };
    let b = Sibling {
        bulk: None,
        dot: dot(2, 1),
        context: VectorClock::new(),
        value: Some(b"b".to_vec()),
    };
    let mut object = Object::single(a);
    assert!(object.merge(&Object::single(b)));
    assert_eq!(object.siblings().len(), 2);
    let c = Sibling {
        bulk: None,
        dot: dot(3, 1),
        context: object.clock(),
        value: None,
    };
    object.insert(c.clone());
    assert_eq!(object.siblings(), &[c]);
    assert!(object.is_deleted());
}
