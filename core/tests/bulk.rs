//! Atomic bulk writes and read-atomic bulk reads (`bulk`): a coordinator that dies between
//! prepare and commit, or in the middle of committing, leaves all or nothing, and a bulk
//! read never shows one key's version of a bulk write without the others' (the harness in
//! `harness/`).

mod harness;

use harness::Harness;
use tern_core::{
    BulkInvalid, BulkItem, ClientId, ClientResult, Dot, Input, KeyObject, Message, NodeId,
    NodeStats, Object, Op, Oversized, Quorum, Request, RequestError, Response, Span, VectorClock,
};

fn items(pairs: &[(&str, &str)]) -> Vec<BulkItem> {
    pairs
        .iter()
        .map(|(k, v)| BulkItem {
            key: k.as_bytes().to_vec(),
            value: Some(v.as_bytes().to_vec()),
            context: VectorClock::new(),
        })
        .collect()
}

fn bulk_get(h: &mut Harness, at: u32, keys: &[&str]) -> ClientResult {
    let keys = keys.iter().map(|k| k.as_bytes().to_vec().into()).collect();
    h.request(NodeId(at), Op::BulkGet { keys }, Quorum::default())
}

fn objects(result: ClientResult) -> Vec<Object> {
    match result {
        Ok(Response::Objects(objects)) => objects,
        other => panic!("bulk read: {other:?}"),
    }
}

fn values(object: &Object) -> Vec<String> {
    object
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// Sends a bulk write to `at` without waiting, then delivers only what `keep` makes of each
/// message (`None`: drop it). Messages a node sends itself are never on the wire: they
/// always arrive. Returns the bulk write's dot and its first key's object, from a prepare.
fn bulk_write_partly(
    h: &mut Harness,
    at: u32,
    pairs: &[(&str, &str)],
    keep: impl Fn(NodeId, NodeId, Message) -> Option<Message>,
) -> Option<(Dot, Object)> {
    let request = h.next_request;
    h.next_request += 1;
    let body = Request::new(Op::BulkWrite {
        items: items(pairs),
    });
    let client = ClientId(1);
    h.input(
        NodeId(at),
        Input::Client {
            client,
            request,
            body,
        },
    );
    let mut steps = 0;
    let mut version = None;
    while let Some((from, to, message)) = h.wire.pop_front() {
        steps += 1;
        assert!(steps < 10_000);
        if let Message::Prepare { dot, items, .. } = &message {
            version.get_or_insert_with(|| (*dot, items[0].object.clone()));
        }
        if let Some(message) = keep(from, to, message) {
            h.input(to, Input::Peer { from, message });
        }
    }
    version
}

/// The bulk write's dot, from any version of it on `node`.
/// `message` with only the items whose key is `key`, if it is a `Prepare` or a commit.
fn only(key: &[u8], message: Message) -> Message {
    match message {
        Message::Prepare {
            req,
            dot,
            n,
            w,
            items,
        } => Message::Prepare {
            req,
            dot,
            n,
            w,
            items: items.into_iter().filter(|i| i.key == key).collect(),
        },
        Message::Commit { req, items } => Message::Commit {
            req,
            items: items.into_iter().filter(|i| i.key == key).collect(),
        },
        Message::CommitKept { req, dot, keys } => Message::CommitKept {
            req,
            dot,
            keys: keys.into_iter().filter(|k| k.as_slice() == key).collect(),
        },
        other => other,
    }
}

/// A counter summed over nodes 1 to 3.
fn total(h: &Harness, counter: impl Fn(&NodeStats) -> u64) -> u64 {
    (1..=3)
        .map(|n| counter(h.nodes[&NodeId(n)].as_ref().unwrap().stats()))
        .sum()
}

fn bulk_dot(h: &Harness, node: u32, key: &str) -> Option<Dot> {
    let object = h.nodes[&NodeId(node)].as_ref()?.object(key.as_bytes())?;
    object
        .siblings()
        .iter()
        .find(|s| s.bulk.is_some())
        .map(|s| s.dot)
}

#[test]
fn a_bulk_write_is_seen_whole_by_bulk_and_single_reads() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    let op = Op::BulkWrite {
        items: items(&[("a", "1"), ("b", "2"), ("c", "3")]),
    };
    let dot = match h.request(NodeId(1), op, Quorum::default()) {
        Ok(Response::BulkWritten { dot }) => dot,
        other => panic!("bulk write: {other:?}"),
    };
    // A commit forgets the versions it merged from those kept aside at once, not at the
    // next resolution round (every `anti_entropy_interval`, 1 s): under a stream of bulk
    // writes, only those in flight are kept.
    h.settle();
    assert_eq!(
        total(&h, |s| s.bulk_kept_aside),
        0,
        "kept aside after the commit"
    );
    let got = objects(bulk_get(&mut h, 2, &["c", "a", "b", "nothing"]));
    assert_eq!(values(&got[0]), ["3"]);
    assert_eq!(values(&got[1]), ["1"]);
    assert_eq!(values(&got[2]), ["2"]);
    assert!(got[3].is_empty());
    for object in &got[..3] {
        let sibling = &object.siblings()[0];
        assert_eq!(
            sibling.dot, dot,
            "every key's version has the bulk write's dot"
        );
        let keys: Vec<&[u8]> = sibling
            .bulk
            .as_ref()
            .unwrap()
            .iter()
            .map(|k| &k[..])
            .collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"c"]);
    }
    assert_eq!(values(&h.get(3, "b")), ["2"]);
    // A single write with the context read replaces the bulk write's version.
    let context = h.get(3, "b").clock();
    h.set(3, "b", "two", context).unwrap();
    let got = objects(bulk_get(&mut h, 1, &["a", "b"]));
    assert_eq!(values(&got[1]), ["two"]);
    assert!(
        got[1].has_seen(dot),
        "the later write replaced the bulk write's version"
    );
}

#[test]
fn a_concurrent_single_write_stays_a_sibling_of_the_bulk_write() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    h.set(1, "a", "single", VectorClock::new()).unwrap();
    let op = Op::BulkWrite {
        items: items(&[("a", "bulk"), ("b", "bulk")]),
    };
    h.request(NodeId(2), op, Quorum::default()).unwrap();
    let got = objects(bulk_get(&mut h, 3, &["a", "b"]));
    let mut a = values(&got[0]);
    a.sort();
    assert_eq!(
        a,
        ["bulk", "single"],
        "blind writes on one key are siblings"
    );
}

#[test]
fn bad_bulk_requests_are_refused_with_what_is_wrong() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    let empty = Op::BulkWrite { items: Vec::new() };
    assert_eq!(
        h.request(NodeId(1), empty, Quorum::default()),
        Err(RequestError::InvalidBulk(BulkInvalid::Empty))
    );
    let twice = Op::BulkWrite {
        items: items(&[("a", "1"), ("a", "2")]),
    };
    assert_eq!(
        h.request(NodeId(1), twice, Quorum::default()),
        Err(RequestError::InvalidBulk(BulkInvalid::DuplicateKey))
    );
    let many: Vec<String> = (0..=tern_core::limits::BULK_KEYS_MAX)
        .map(|i| i.to_string())
        .collect();
    let keys = many.iter().map(|k| k.as_bytes().to_vec().into()).collect();
    match h.request(NodeId(1), Op::BulkGet { keys }, Quorum::default()) {
        Err(RequestError::TooLarge {
            what: Oversized::BulkKeys,
            ..
        }) => {}
        other => panic!("too many keys: {other:?}"),
    }
}

/// The coordinator dies after every replica kept the versions aside and before any commit:
/// nothing is visible, and once the resolution window passes, the other replicas find W
/// holders for every key and commit all of it.
#[test]
fn a_coordinator_dead_before_commit_leaves_nothing_then_resolution_commits_all() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    let pairs = [("a", "1"), ("b", "2"), ("c", "3")];
    // Prepares reach everyone; nothing comes back to node 1.
    bulk_write_partly(&mut h, 1, &pairs, |_, to, m| {
        (to != NodeId(1) && matches!(m, Message::Prepare { .. })).then_some(m)
    });
    h.crash(NodeId(1));
    let got = objects(bulk_get(&mut h, 2, &["a", "b", "c"]));
    assert!(
        got.iter().all(Object::is_empty),
        "nothing committed: {got:?}"
    );
    h.advance(Span::from_secs(10));
    let got = objects(bulk_get(&mut h, 2, &["a", "b", "c"]));
    let seen: Vec<Vec<String>> = got.iter().map(values).collect();
    assert_eq!(
        seen,
        [["1"], ["2"], ["3"]],
        "resolution committed every key"
    );
    assert_eq!(values(&h.get(3, "c")), ["3"]);
}

/// The coordinator dies after committing one key only. A bulk read of both keys sees the
/// committed one and fetches the other's version instead of answering a fractured view;
/// resolution then commits the rest for single reads too.
#[test]
fn a_bulk_read_mends_a_coordinator_dead_mid_commit() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    let pairs = [("a", "1"), ("b", "2")];
    bulk_write_partly(&mut h, 1, &pairs, |_, _, m| match m {
        Message::Commit { .. } | Message::CommitKept { .. } => Some(only(b"a", m)),
        other => Some(other),
    });
    h.crash(NodeId(1));
    assert_eq!(values(&h.get(2, "a")), ["1"], "a was committed");
    assert!(h.get(2, "b").is_empty(), "b was not committed yet");
    let got = objects(bulk_get(&mut h, 3, &["b", "a"]));
    assert_eq!(values(&got[0]), ["2"], "the bulk read fetched b's version");
    assert_eq!(values(&got[1]), ["1"]);
    h.advance(Span::from_secs(10));
    h.start(NodeId(1));
    h.advance(Span::from_secs(1));
    for node in 1..=3 {
        assert_eq!(values(&h.get(node, "b")), ["2"]);
    }
    assert!(total(&h, |s| s.bulk_versions_fetched) >= 1);
}

/// The coordinator's prepare of `b` reached only itself, and it died. Once every replica
/// answers, `b` has two refusals (more than N − W): the bulk write can never have been
/// decided, so every replica forgets it, `a` included, and a late prepare is refused.
#[test]
fn a_bulk_write_prepared_on_too_few_replicas_is_refused_everywhere() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    let pairs = [("a", "1"), ("b", "2")];
    let version = bulk_write_partly(&mut h, 1, &pairs, |_, to, m| match m {
        Message::Prepare { .. } if to != NodeId(1) => Some(only(b"a", m)),
        _ => None,
    });
    let version = version.expect("prepares were sent");
    h.crash(NodeId(1));
    h.start(NodeId(1));
    let node = h.nodes[&NodeId(1)].as_ref().unwrap();
    assert_eq!(
        node.stats().bulk_kept_aside,
        2,
        "node 1 kept both aside, durably"
    );
    h.advance(Span::from_secs(12));
    let got = objects(bulk_get(&mut h, 2, &["a", "b"]));
    assert!(
        got.iter().all(Object::is_empty),
        "refused, not committed: {got:?}"
    );
    for node in 1..=3 {
        let n = h.nodes[&NodeId(node)].as_ref().unwrap();
        assert_eq!(
            n.stats().bulk_kept_aside,
            0,
            "node {node} forgot the versions"
        );
    }
    let refused: u64 = total(&h, |s| s.bulk_resolved_refused);
    assert!(refused >= 1);
    assert!(bulk_dot(&h, 2, "a").is_none());
    // A prepare of it arriving late is refused.
    let (dot, object) = version;
    let late = Message::Prepare {
        req: tern_core::RequestId::new(1, 1),
        dot,
        n: 3,
        w: 2,
        items: vec![KeyObject {
            key: b"a".to_vec(),
            object,
        }],
    };
    h.input(
        NodeId(2),
        Input::Peer {
            from: NodeId(1),
            message: late,
        },
    );
    let answer = h
        .wire
        .iter()
        .find(|(from, _, m)| *from == NodeId(2) && matches!(m, Message::Prepared { .. }));
    assert!(
        matches!(answer, Some((_, _, Message::Prepared { ok: false, .. }))),
        "a late prepare was kept: {answer:?}"
    );
}

/// Versions kept aside survive a compaction and a restart: the snapshot repeats them.
#[test]
fn versions_kept_aside_survive_compaction_and_restart() {
    // Node 1 stays down: a restart that rebuilt would wait for it, and the bulk read
    // below would hear one replica that counts.
    let mut h = Harness::with_config(3, |c| {
        c.compact_min_bytes = 4096;
        c.rebuild_on_restart = false;
    });
    h.advance(Span::from_secs(1));
    bulk_write_partly(&mut h, 1, &[("a", "1"), ("b", "2")], |_, to, m| {
        (to != NodeId(1) && matches!(m, Message::Prepare { .. })).then_some(m)
    });
    h.crash(NodeId(1));
    // Enough single writes to compact node 2's log more than once.
    for i in 0..200 {
        let value = format!("value {i} {}", "x".repeat(100));
        h.set(2, &format!("k{}", i % 20), &value, VectorClock::new())
            .ok();
    }
    let node = h.nodes[&NodeId(2)].as_ref().unwrap();
    assert!(node.stats().compactions >= 1, "no compaction happened");
    assert_eq!(node.stats().bulk_kept_aside, 2);
    h.crash(NodeId(2));
    h.start(NodeId(2));
    let node = h.nodes[&NodeId(2)].as_ref().unwrap();
    assert_eq!(
        node.stats().bulk_kept_aside,
        2,
        "the snapshot lost versions kept aside"
    );
    h.advance(Span::from_secs(10));
    let got = objects(bulk_get(&mut h, 3, &["a", "b"]));
    let seen: Vec<Vec<String>> = got.iter().map(values).collect();
    assert_eq!(seen, [["1"], ["2"]]);
}

/// A bulk write that set `a` and deleted `b`: once `b`'s tombstone is collected, no replica
/// holds the bulk write's version of `b`, and a bulk read of both still answers (`b`
/// reads as deleted, as the tombstone did, or as what was written since) instead of
/// waiting for a version that is gone.
#[test]
fn a_bulk_read_answers_after_the_bulk_writes_tombstone_was_collected() {
    let mut h = Harness::with_config(3, |c| {
        c.tombstone_grace = Some(Span::from_secs(5));
        c.request_timeout = Span::from_secs(1);
    });
    h.advance(Span::from_secs(1));
    h.set(1, "b", "old", VectorClock::new()).unwrap();
    let context = h.get(1, "b").clock();
    let items = vec![
        BulkItem {
            key: b"a".to_vec(),
            value: Some(b"new".to_vec()),
            context: VectorClock::new(),
        },
        BulkItem {
            key: b"b".to_vec(),
            value: None,
            context,
        },
    ];
    h.request(NodeId(2), Op::BulkWrite { items }, Quorum::default())
        .unwrap();
    h.advance(Span::from_secs(20));
    let collected: u64 = total(&h, |s| s.tombstones_collected);
    assert!(collected >= 1, "b's tombstone was not collected");
    let got = objects(bulk_get(&mut h, 3, &["a", "b"]));
    assert_eq!(values(&got[0]), ["new"]);
    assert!(got[1].is_empty(), "b: {:?}", got[1]);
    // Written again after the collection: its context cannot name the bulk write, yet it
    // is later, and a bulk read answers with it.
    let context = h.get(1, "b").clock();
    h.set(1, "b", "again", context).unwrap();
    let got = objects(bulk_get(&mut h, 2, &["a", "b"]));
    assert_eq!(values(&got[0]), ["new"]);
    assert_eq!(values(&got[1]), ["again"]);
}

/// Bulk writes of the same keys through one node, each with the context read, keep one
/// clock entry for their actor instead of one per bulk write; bulk writes concurrent in
/// their clients' eyes stay siblings.
#[test]
fn bulk_writes_through_one_node_share_an_actor_and_keep_contexts_short() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    for round in 0..50 {
        let got = objects(bulk_get(&mut h, 1, &["a", "b"]));
        let items = ["a", "b"]
            .iter()
            .zip(&got)
            .map(|(key, object)| BulkItem {
                key: key.as_bytes().to_vec(),
                value: Some(format!("{round}").into_bytes()),
                context: object.clock(),
            })
            .collect();
        match h.request(NodeId(2), Op::BulkWrite { items }, Quorum::default()) {
            Ok(Response::BulkWritten { .. }) => {}
            other => panic!("round {round}: {other:?}"),
        }
    }
    let got = objects(bulk_get(&mut h, 3, &["a", "b"]));
    assert_eq!(values(&got[0]), ["49"]);
    assert!(
        got[0].clock().len() <= 2,
        "50 bulk writes through one node left a context of {} entries",
        got[0].clock().len()
    );
    // Two blind bulk writes through node 2: concurrent for their clients, so siblings,
    // although one actor wrote both.
    for value in ["x", "y"] {
        let op = Op::BulkWrite {
            items: items(&[("c", value), ("d", value)]),
        };
        h.request(NodeId(2), op, Quorum::default()).unwrap();
    }
    let got = objects(bulk_get(&mut h, 1, &["c", "d"]));
    let mut c = values(&got[0]);
    c.sort();
    assert_eq!(
        c,
        ["x", "y"],
        "the second blind bulk write replaced the first"
    );
}

/// A replica that missed a bulk write of an actor gets it with the actor's next bulk write
/// of the key: no copy ever holds an actor's later dot without its earlier ones, so a
/// context taken from any one copy covers only what that copy shows.
#[test]
fn an_actors_earlier_bulk_write_travels_with_its_next_one() {
    let mut h = Harness::with_config(3, |c| {
        c.anti_entropy = false;
        c.hinted_handoff = false;
    });
    h.advance(Span::from_secs(1));
    h.cut.insert((NodeId(2), NodeId(3)));
    let op = Op::BulkWrite {
        items: items(&[("c", "x"), ("d", "x")]),
    };
    let first = match h.request(NodeId(2), op, Quorum::default()) {
        Ok(Response::BulkWritten { dot }) => dot,
        other => panic!("{other:?}"),
    };
    let node3 = |h: &Harness| h.nodes[&NodeId(3)].as_ref().unwrap().object(b"c").cloned();
    assert!(node3(&h).is_none(), "node 3 was cut off");
    h.cut.clear();
    let op = Op::BulkWrite {
        items: items(&[("c", "y"), ("d", "y")]),
    };
    h.request(NodeId(2), op, Quorum::default()).unwrap();
    let held = node3(&h).expect("node 3 has the second bulk write");
    assert!(
        held.has_seen(first),
        "node 3 holds the actor's second dot without its first: {held:?}"
    );
}

/// A replica that kept a bulk write's version aside and then saw it replaced forgets it in
/// memory only: its `Aside` record stays in the log. Once the key's tombstone is collected
/// and the replica restarts, recovery must not bring the version back (resolution would
/// then commit it: a deleted value resurrected).
#[test]
fn a_version_kept_aside_does_not_come_back_after_its_key_was_deleted_and_collected() {
    let mut h = Harness::with_config(3, |c| {
        c.tombstone_grace = Some(Span::from_secs(5));
        c.request_timeout = Span::from_secs(1);
    });
    h.advance(Span::from_secs(1));
    // Node 3 keeps "a" and "b" aside, but never hears the commit.
    bulk_write_partly(&mut h, 1, &[("a", "1"), ("b", "2")], |_, to, m| match m {
        Message::Commit { .. } | Message::CommitKept { .. } if to == NodeId(3) => None,
        other => Some(other),
    });
    h.advance(Span::from_secs(1));
    let context = h.get(1, "a").clock();
    let delete = Op::Delete {
        key: b"a".to_vec(),
        context,
    };
    h.request(NodeId(1), delete, Quorum::default()).unwrap();
    h.advance(Span::from_secs(20));
    let collected: u64 = total(&h, |s| s.tombstones_collected);
    assert!(collected >= 1, "a's tombstone was not collected");
    h.crash(NodeId(3));
    h.start(NodeId(3));
    h.advance(Span::from_secs(20));
    for node in 1..=3 {
        let held = h.nodes[&NodeId(node)]
            .as_ref()
            .unwrap()
            .object(b"a")
            .cloned();
        assert!(
            held.as_ref().is_none_or(|o| o.is_deleted()),
            "node {node} holds a deleted value again: {held:?}"
        );
    }
}

/// A `Prepare` whose bulk write names its keys out of order (not as a coordinator sends
/// them), or not this key, is refused: resolution would ask every key it names.
#[test]
fn a_prepare_with_keys_not_as_a_coordinator_sends_them_is_refused() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    let dot = Dot {
        actor: tern_core::ActorId {
            node: NodeId(1),
            incarnation: 77,
        },
        seq: 1,
    };
    for keys in [vec![b"b".to_vec(), b"a".to_vec()], vec![b"b".to_vec()]] {
        let sibling = tern_core::Sibling {
            dot,
            context: VectorClock::new(),
            value: Some(b"v".to_vec()),
            bulk: Some(keys.into()),
        };
        let prepare = Message::Prepare {
            req: tern_core::RequestId::new(9, 9),
            dot,
            n: 3,
            w: 2,
            items: vec![KeyObject {
                key: b"a".to_vec(),
                object: Object::single(sibling),
            }],
        };
        h.input(
            NodeId(2),
            Input::Peer {
                from: NodeId(1),
                message: prepare,
            },
        );
        let answer = h
            .wire
            .iter()
            .rev()
            .find(|(from, _, m)| *from == NodeId(2) && matches!(m, Message::Prepared { .. }));
        assert!(
            matches!(answer, Some((_, _, Message::Prepared { ok: false, .. }))),
            "kept: {answer:?}"
        );
        h.wire.clear();
    }
    assert_eq!(
        h.nodes[&NodeId(2)]
            .as_ref()
            .unwrap()
            .stats()
            .bulk_kept_aside,
        0
    );
}

/// A commit names the keys only to a replica that said it kept their versions aside. One
/// that lost them since (its disk) answers nothing to that, and the coordinator's resend
/// carries the versions: the client hears `BulkWritten` only once that replica has them.
#[test]
fn a_commit_names_keys_where_kept_and_carries_versions_where_lost() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    // Node 3 hears nothing from the coordinator: node 2 is the second replica of W = 2.
    h.cut.insert((NodeId(1), NodeId(3)));
    let request = h.next_request;
    h.next_request += 1;
    let body = Request::new(Op::BulkWrite {
        items: items(&[("a", "1"), ("b", "2")]),
    });
    let client = ClientId(1);
    let input = Input::Client {
        client,
        request,
        body,
    };
    h.input(NodeId(1), input);
    let (from, to, prepare) = h.wire.pop_front().unwrap();
    assert!(matches!(prepare, Message::Prepare { .. }) && to == NodeId(2));
    h.input(
        to,
        Input::Peer {
            from,
            message: prepare,
        },
    );
    let (from, to, prepared) = h.wire.pop_front().unwrap();
    assert!(matches!(prepared, Message::Prepared { ok: true, .. }) && to == NodeId(1));
    // Node 2 loses its disk before its answer arrives.
    h.crash(NodeId(2));
    h.disks.insert(NodeId(2), Default::default());
    h.start(NodeId(2));
    h.settle();
    h.input(
        to,
        Input::Peer {
            from,
            message: prepared,
        },
    );
    let commit = h.wire.iter().find(|(_, to, _)| *to == NodeId(2));
    match commit {
        Some((_, _, Message::CommitKept { keys, .. })) => {
            let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
            assert_eq!(keys, [&b"a"[..], b"b"]);
        }
        other => panic!("the commit to node 2: {other:?}"),
    }
    h.settle();
    let answered = |h: &Harness| h.replies.iter().any(|(r, _)| *r == request);
    assert!(!answered(&h), "answered before node 2 holds the versions");
    let held = |h: &Harness, key: &[u8]| {
        h.nodes[&NodeId(2)]
            .as_ref()
            .unwrap()
            .object(key)
            .map(values)
    };
    assert_eq!(held(&h, b"a"), None, "node 2 lost what it kept");
    h.advance(Span::from_secs(2));
    let reply = h.replies.iter().find(|(r, _)| *r == request);
    assert!(
        matches!(reply, Some((_, Ok(Response::BulkWritten { .. })))),
        "{reply:?}"
    );
    assert_eq!(held(&h, b"a"), Some(vec!["1".to_string()]));
    assert_eq!(held(&h, b"b"), Some(vec!["2".to_string()]));
}
