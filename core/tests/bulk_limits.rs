//! Atomic bulk writes at the limits of what a key's object may hold: a bulk write whose
//! version could not be merged into one of its keys' copies is refused at prepare, so it is
//! never decided, and none of its other keys ever shows it (the harness in `harness/`).

mod harness;

use harness::Harness;
use tern_core::limits::SIBLINGS_DECODE_MAX;
use tern_core::{
    ActorId, BulkItem, Dot, Input, Message, NodeId, Object, Op, Quorum, RequestId, Response,
    Sibling, Span, VectorClock,
};

/// `count` concurrent versions of `key`, each from an actor of its own, replicated to every
/// node as anti-entropy or a partitioned write's repair would bring them.
fn concurrent_versions(h: &mut Harness, key: &str, count: usize) {
    let siblings: Vec<Sibling> = (0..count as u64)
        .map(|i| Sibling {
            dot: Dot {
                actor: ActorId {
                    node: NodeId(2),
                    incarnation: 1_000 + i,
                },
                seq: 1,
            },
            context: VectorClock::new(),
            value: Some(format!("v{i}").into_bytes()),
            bulk: None,
        })
        .collect();
    let object = Object::from_siblings(siblings);
    assert!(object.fits().is_ok());
    for (to, from) in [(1u32, 2u32), (2, 3), (3, 1)] {
        let message = Message::Replicate {
            req: RequestId::new(9, 1 + u64::from(to)),
            key: key.as_bytes().to_vec(),
            object: object.clone(),
        };
        let from = NodeId(from);
        h.input(NodeId(to), Input::Peer { from, message });
    }
    h.settle();
    for node in 1..=3 {
        let n = h.nodes[&NodeId(node)].as_ref().unwrap();
        let held = n.object(key.as_bytes()).map_or(0, |o| o.siblings().len());
        assert_eq!(held, count, "node {node} holds every concurrent version");
    }
}

/// Whether `node` holds a version of a bulk write for `key`.
fn has_bulk_version(h: &Harness, node: u32, key: &str) -> bool {
    let Some(n) = h.nodes[&NodeId(node)].as_ref() else {
        return false;
    };
    n.object(key.as_bytes())
        .is_some_and(|o| o.siblings().iter().any(|s| s.bulk.is_some()))
}

/// A key whose copy holds `SIBLINGS_DECODE_MAX` versions cannot take one more: a bulk write
/// of it and another key is refused at prepare, never committed, and its other key never
/// shows it, neither right away nor after the replicas resolved what they kept aside.
#[test]
fn a_bulk_write_one_key_cannot_take_is_refused_whole() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    concurrent_versions(&mut h, "full", SIBLINGS_DECODE_MAX);
    let items = ["free", "full"]
        .iter()
        .map(|k| BulkItem {
            key: k.as_bytes().to_vec(),
            value: Some(b"bulk".to_vec()),
            context: VectorClock::new(),
        })
        .collect();
    let result = h.request(NodeId(1), Op::BulkWrite { items }, Quorum::default());
    assert!(
        !matches!(result, Ok(Response::BulkWritten { .. })),
        "a bulk write one of whose keys cannot take it was acknowledged: {result:?}"
    );
    h.advance(Span::from_secs(30));
    h.settle();
    for node in 1..=3 {
        assert!(
            !has_bulk_version(&h, node, "free"),
            "node {node} shows the bulk write on `free`, which `full` can never show"
        );
        assert!(!has_bulk_version(&h, node, "full"));
    }
}
