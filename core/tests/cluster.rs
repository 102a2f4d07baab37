//! Request paths on a few in-memory nodes (the harness in `harness/`), one at a time.

mod harness;

use harness::Harness;
use tern_core::{
    ClientId, ClientResult, Input, Message, NodeId, Object, Op, Quorum, Request, RequestError,
    Response, Span, VectorClock,
};

fn values(object: &Object) -> Vec<String> {
    let mut v: Vec<String> = object
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    v.sort();
    v
}

fn written_context(result: ClientResult) -> VectorClock {
    match result {
        Ok(Response::Written { object, .. }) => object.clock(),
        other => panic!("write failed: {other:?}"),
    }
}

#[test]
fn a_write_on_one_node_is_read_on_every_node() {
    let mut h = Harness::new(3);
    written_context(h.set(1, "k", "v1", VectorClock::new()));
    for node in 1..=3 {
        assert_eq!(values(&h.get(node, "k")), ["v1"]);
    }
    assert!(h.get(2, "missing").is_empty());
}

#[test]
fn concurrent_writes_become_siblings_and_a_context_write_resolves_them() {
    let mut h = Harness::new(3);
    h.set(1, "k", "a", VectorClock::new()).unwrap();
    h.set(2, "k", "b", VectorClock::new()).unwrap();
    let both = h.get(3, "k");
    assert_eq!(values(&both), ["a", "b"]);
    h.set(3, "k", "c", both.clock()).unwrap();
    assert_eq!(values(&h.get(1, "k")), ["c"]);
}

#[test]
fn delete_writes_a_tombstone_that_a_read_reports_as_deleted() {
    let mut h = Harness::new(3);
    let context = written_context(h.set(1, "k", "a", VectorClock::new()));
    let op = Op::Delete {
        key: "k".into(),
        context,
    };
    assert!(matches!(
        h.request(NodeId(2), op, Quorum::default()),
        Ok(Response::Written { .. })
    ));
    let object = h.get(3, "k");
    assert!(object.is_deleted() && !object.is_empty());
}

#[test]
fn no_acknowledgement_before_the_log_is_durable() {
    let mut h = Harness::new(3);
    h.hold_sync.insert(NodeId(2));
    h.hold_sync.insert(NodeId(3));
    // Node 1 is durable at once, but W=2 needs one more durable replica.
    let request = 99;
    let input = Input::Client {
        client: ClientId(1),
        request,
        body: Request::new(Op::Set {
            key: "k".into(),
            value: "v".into(),
            context: VectorClock::new(),
        }),
    };
    h.input(NodeId(1), input);
    h.settle();
    assert!(h.replies.is_empty(), "acknowledged before W durable copies");
    let end = h.unsynced[&NodeId(2)];
    h.input(NodeId(2), Input::Persisted { upto: end });
    h.settle();
    assert!(matches!(
        h.replies.as_slice(),
        [(99, Ok(Response::Written { .. }))]
    ));
}

#[test]
fn unavailable_when_too_few_replicas_are_alive_and_indeterminate_when_they_do_not_answer() {
    let mut h = Harness::new(3);
    h.crash(NodeId(2));
    h.crash(NodeId(3));
    h.advance(Span::from_millis(1_500)); // Past the failure detector.
    let result = h.set(1, "k", "v", VectorClock::new());
    assert_eq!(
        result,
        Err(RequestError::Unavailable {
            needed: 2,
            alive: 1
        })
    );
    // Links that drop everything look alive until the detector notices: the write is tried,
    // reaches only the coordinator, and its outcome is unknown.
    let mut h = Harness::new(3);
    for peer in [2, 3] {
        h.cut.insert((NodeId(1), NodeId(peer)));
    }
    let result = h.set(1, "k", "v", VectorClock::new());
    assert_eq!(result, Err(RequestError::Indeterminate));
}

/// A read asks R replicas (itself and one live peer with R = 2 of N = 3), not all N; when
/// the peer it asked stays silent without being suspected yet, the first resend asks the
/// third replica too, and the read succeeds.
#[test]
fn a_read_asks_r_replicas_and_the_others_only_when_one_is_silent() {
    let mut h = Harness::new(3);
    h.set(1, "k", "v", VectorClock::new()).unwrap();
    // A new cluster's nodes rebuild first, and a rebuilding replier makes a read ask on.
    h.advance(Span::from_secs(3));
    let get = Request {
        op: Op::Get { key: "k".into() },
        quorum: Quorum::default(),
        timeout_ms: None,
    };
    let input = Input::Client {
        client: ClientId(1),
        request: 900,
        body: get,
    };
    h.input(NodeId(1), input);
    let asked: Vec<NodeId> = h
        .wire
        .iter()
        .filter(|(from, _, m)| *from == NodeId(1) && matches!(m, Message::Read { .. }))
        .map(|(_, to, _)| *to)
        .collect();
    assert_eq!(
        asked.len(),
        1,
        "R = 2: itself and one peer, asked {asked:?}"
    );
    h.settle();
    let answered = h.replies.iter().find(|(r, _)| *r == 900);
    assert!(
        matches!(answered, Some((_, Ok(Response::Object(o)))) if values(o) == ["v"]),
        "{answered:?}"
    );
    let silent = asked[0];
    h.cut.insert((NodeId(1), silent));
    h.cut.insert((silent, NodeId(1)));
    let before = h.now;
    assert_eq!(values(&h.get(1, "k")), ["v"]);
    // The third replica is asked well before a whole resend interval (a speculative retry).
    let took = h.now.since(before);
    assert!(took < h.config.resend_interval, "took {took:?}");
}

#[test]
fn read_repair_brings_a_stale_replica_up_to_date() {
    // Without hints, anti-entropy and the rebuild at restart, only the read repairs.
    let mut h = Harness::with_config(3, |c| {
        c.hinted_handoff = false;
        c.anti_entropy = false;
        c.rebuild_on_restart = false;
    });
    h.crash(NodeId(3));
    h.advance(Span::from_millis(1_500));
    h.set(1, "k", "v", VectorClock::new()).unwrap();
    h.start(NodeId(3));
    h.advance(Span::from_millis(300));
    assert!(h.nodes[&NodeId(3)].as_ref().unwrap().object(b"k").is_none());
    let all = Quorum {
        n: None,
        r: Some(3),
        w: None,
    };
    let object = match h.request(NodeId(1), Op::Get { key: "k".into() }, all) {
        Ok(Response::Object(o)) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(values(&object), ["v"]);
    let repaired = h.nodes[&NodeId(3)].as_ref().unwrap().object(b"k").cloned();
    assert_eq!(repaired, Some(object));
}

#[test]
fn a_restarted_node_recovers_its_data_and_a_new_incarnation() {
    let mut h = Harness::new(3);
    h.set(1, "k", "v", VectorClock::new()).unwrap();
    let before = h.nodes[&NodeId(1)].as_ref().unwrap().incarnation();
    for id in 1..=3 {
        h.crash(NodeId(id));
    }
    for id in 1..=3 {
        h.start(NodeId(id));
    }
    h.settle();
    assert_ne!(h.nodes[&NodeId(1)].as_ref().unwrap().incarnation(), before);
    assert_eq!(values(&h.get(2, "k")), ["v"]);
}

#[test]
fn five_nodes_with_n3_forward_to_a_replica_and_keep_three_copies() {
    let mut h = Harness::new(5);
    for i in 0..30 {
        let key = format!("key-{i}");
        h.set(1 + i % 5, &key, "v", VectorClock::new()).unwrap();
        assert_eq!(values(&h.get(1 + (i + 2) % 5, &key)), ["v"]);
    }
    h.advance(Span::from_millis(200));
    for i in 0..30 {
        let key = format!("key-{i}");
        let copies = h
            .nodes
            .values()
            .filter(|n| n.as_ref().unwrap().object(key.as_bytes()).is_some())
            .count();
        assert!((2..=3).contains(&copies), "{key} has {copies} copies");
    }
}

#[test]
fn bad_requests_get_typed_errors() {
    let mut h = Harness::new(3);
    let big_key = "k".repeat(tern_core::limits::KEY_BYTES_MAX + 1);
    assert!(matches!(
        h.set(1, &big_key, "v", VectorClock::new()),
        Err(RequestError::TooLarge { .. })
    ));
    let mut context = VectorClock::new();
    for incarnation in 0..=tern_core::limits::CONTEXT_ENTRIES_MAX as u64 {
        context.add(tern_core::Dot {
            actor: tern_core::ActorId {
                node: NodeId(1),
                incarnation,
            },
            seq: 1,
        });
    }
    assert!(matches!(
        h.set(1, "k", "v", context),
        Err(RequestError::TooLarge { .. })
    ));
    let bad = Quorum {
        n: Some(3),
        r: None,
        w: Some(4),
    };
    let op = Op::Get { key: "k".into() };
    assert!(matches!(
        h.request(NodeId(1), op, bad),
        Err(RequestError::InvalidQuorum(_))
    ));
}

#[test]
fn compaction_keeps_every_key_and_shrinks_the_log() {
    let mut h = Harness::new(3);
    h.config.compact_min_bytes = 4_096;
    for id in 1..=3 {
        h.crash(NodeId(id));
        h.start(NodeId(id));
    }
    h.settle();
    let mut context = VectorClock::new();
    for round in 0..200 {
        context = written_context(h.set(1, "hot", &format!("value-{round}"), context));
    }
    h.set(2, "cold", "kept", VectorClock::new()).unwrap();
    let stats = h.nodes[&NodeId(1)].as_ref().unwrap().stats().clone();
    assert!(stats.compactions > 0, "no compaction after 200 overwrites");
    let log: usize = h.disks[&NodeId(1)].values().map(Vec::len).sum();
    assert!(log < 16_384, "log is {log} bytes for two small keys");
    for id in 1..=3 {
        h.crash(NodeId(id));
        h.start(NodeId(id));
    }
    h.settle();
    assert_eq!(values(&h.get(1, "hot")), ["value-199"]);
    assert_eq!(values(&h.get(3, "cold")), ["kept"]);
}

/// Gossip and phi-accrual detection at the default settings (100 ms rounds, phi 8): a node
/// that stops is suspected by every other node within a second, a live one never is, and a
/// restarted one (a new generation) is seen alive again.
#[test]
fn a_stopped_node_is_suspected_within_a_second_and_seen_again_after_a_restart() {
    let mut h = Harness::new(5);
    let view = |h: &Harness, at: u32, of: u32| {
        let node = h.nodes[&NodeId(at)].as_ref().unwrap();
        node.peers()
            .into_iter()
            .find(|p| p.node == NodeId(of))
            .unwrap()
    };
    h.advance(Span::from_secs(5));
    for at in 1..=5 {
        for of in (1..=5).filter(|of| *of != at) {
            assert!(view(&h, at, of).alive, "{at} sees {of} down while all run");
        }
    }
    let stopped = h.now;
    h.crash(NodeId(5));
    let mut detected = Vec::new();
    while detected.len() < 4 && h.now.since(stopped) < Span::from_secs(5) {
        h.advance(Span::from_millis(10));
        for at in 1..=4 {
            if !view(&h, at, 5).alive && !detected.iter().any(|(n, _)| *n == at) {
                detected.push((at, h.now.since(stopped)));
            }
        }
    }
    println!("detection of a stopped node, each observer: {detected:?}");
    assert_eq!(
        detected.len(),
        4,
        "not every node suspects it: {detected:?}"
    );
    assert!(
        detected.iter().all(|(_, s)| *s < Span::from_secs(1)),
        "{detected:?}"
    );
    for at in 1..=4 {
        for of in (1..=4).filter(|of| *of != at) {
            assert!(view(&h, at, of).alive, "{at} suspects live {of}");
        }
    }
    h.start(NodeId(5));
    h.advance(Span::from_secs(1));
    for at in 1..=4 {
        assert!(view(&h, at, 5).alive, "{at} does not see 5 back");
    }
}

/// Anti-entropy: a replica cut off while 60 keys were written (W = 2 of 3) holds none of
/// them; once the cut heals it gets every one back without any read, and the replicas'
/// copies end equal.
#[test]
fn anti_entropy_repairs_a_replica_that_missed_writes_without_any_read() {
    // Without hints, so that anti-entropy alone does the repair.
    let mut h = Harness::with_config(3, |c| c.hinted_handoff = false);
    h.advance(Span::from_secs(2));
    for peer in [1, 2] {
        h.cut.insert((NodeId(peer), NodeId(3)));
        h.cut.insert((NodeId(3), NodeId(peer)));
    }
    for k in 0..60 {
        h.set(1 + k % 2, &format!("k{k:02}"), "v", VectorClock::new())
            .unwrap();
    }
    let holds = |h: &Harness, node: u32| {
        let n = h.nodes[&NodeId(node)].as_ref().unwrap();
        n.objects().filter(|(k, _)| k.starts_with(b"k")).count()
    };
    assert_eq!(holds(&h, 3), 0);
    h.cut.clear();
    let healed = h.now;
    while holds(&h, 3) < 60 && h.now.since(healed) < Span::from_secs(60) {
        h.advance(Span::from_millis(100));
    }
    println!("anti-entropy repaired 60 keys in {:?}", h.now.since(healed));
    assert_eq!(holds(&h, 3), 60, "not repaired within a minute");
    h.advance(Span::from_secs(2));
    let objects = |node: u32| -> Vec<(Vec<u8>, tern_core::Object)> {
        let n = h.nodes[&NodeId(node)].as_ref().unwrap();
        n.objects().map(|(k, o)| (k.to_vec(), o.clone())).collect()
    };
    assert_eq!(objects(3), objects(1));
    assert_eq!(objects(2), objects(1));
}
