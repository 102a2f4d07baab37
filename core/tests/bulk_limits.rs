//! Atomic bulk writes at the limits of what a key's object may hold: a bulk write whose
//! version could not be merged into one of its keys' copies is refused at prepare, so it is
//! never decided, and none of its other keys ever shows it (the harness in `harness/`).

mod harness;

use harness::Harness;
use tern_core::limits::SIBLINGS_DECODE_MAX;
use tern_core::{
    ActorId, BulkItem, ClientId, Dot, Input, Message, NodeId, Object, Op, Quorum, Request,
    RequestId, Response, Sibling, Span, VectorClock,
};

/// `count` concurrent versions of `key`, each from an actor of its own (from `first` on),
/// replicated to every node as anti-entropy or a partitioned write's repair would bring
/// them.
fn replicate_concurrent(h: &mut Harness, key: &str, first: u64, count: usize) {
    let siblings: Vec<Sibling> = (first..first + count as u64)
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
}

/// `count` concurrent versions of `key` on every node.
fn concurrent_versions(h: &mut Harness, key: &str, count: usize) {
    replicate_concurrent(h, key, 0, count);
    h.settle();
    for node in 1..=3 {
        let held = siblings_held(h, node, key);
        assert_eq!(held, count, "node {node} holds every concurrent version");
    }
}

fn siblings_held(h: &Harness, node: u32, key: &str) -> usize {
    let n = h.nodes[&NodeId(node)].as_ref().unwrap();
    n.object(key.as_bytes()).map_or(0, |o| o.siblings().len())
}

fn bulk_items(keys: &[&str]) -> Vec<BulkItem> {
    keys.iter()
        .map(|k| BulkItem {
            key: k.as_bytes().to_vec(),
            value: Some(b"bulk".to_vec()),
            context: VectorClock::new(),
        })
        .collect()
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
    let items = bulk_items(&["free", "full"]);
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

/// A key one version short of `SIBLINGS_DECODE_MAX` takes a bulk write's version at
/// prepare; a concurrent version that arrives between prepare and commit would fill it, and
/// the commit would then be refused there while the bulk write's other key shows it. The
/// replicas holding the version aside keep room for it: they refuse the newcomer, and the
/// bulk write commits on both keys.
#[test]
fn a_version_kept_aside_keeps_room_in_its_keys_copy_until_committed() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    concurrent_versions(&mut h, "full", SIBLINGS_DECODE_MAX - 1);
    let request = h.next_request;
    h.next_request += 1;
    let body = Request::new(Op::BulkWrite {
        items: bulk_items(&["free", "full"]),
    });
    let client = ClientId(1);
    h.input(
        NodeId(1),
        Input::Client {
            client,
            request,
            body,
        },
    );
    let mut newcomer_sent = false;
    let mut steps = 0;
    while let Some((from, to, message)) = h.wire.pop_front() {
        steps += 1;
        assert!(steps < 10_000);
        let commit = matches!(message, Message::Commit { .. } | Message::CommitKept { .. });
        if commit && !newcomer_sent {
            // Every prepare is in, and the commits are on their way: a concurrent version of
            // `full` reaches every replica first.
            newcomer_sent = true;
            replicate_concurrent(&mut h, "full", 1_000_000, 1);
        }
        h.input(to, Input::Peer { from, message });
    }
    assert!(newcomer_sent, "the bulk write was committed");
    h.settle();
    for node in 1..=3 {
        assert_eq!(
            has_bulk_version(&h, node, "free"),
            has_bulk_version(&h, node, "full"),
            "node {node} shows the bulk write on one key only ({} versions of `full`)",
            siblings_held(&h, node, "full")
        );
        assert!(has_bulk_version(&h, node, "full"));
    }
    let result = h
        .replies
        .iter()
        .find(|(r, _)| *r == request)
        .map(|(_, r)| r.clone());
    assert!(
        matches!(result, Some(Ok(Response::BulkWritten { .. }))),
        "the bulk write was acknowledged: {result:?}"
    );
}
