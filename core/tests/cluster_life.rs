//! A cluster that heals itself: hinted handoff and tombstone collection on a few in-memory
//! nodes (the harness in `harness/`).

mod harness;

use harness::Harness;
use std::collections::BTreeMap;
use tern_core::{NodeId, Op, Quorum, Response, Span, VectorClock};

fn holds(h: &Harness, node: u32, prefix: &[u8]) -> usize {
    let n = h.nodes[&NodeId(node)].as_ref().unwrap();
    n.objects().filter(|(k, _)| k.starts_with(prefix)).count()
}

fn backlog(h: &Harness, node: u32) -> Vec<(NodeId, usize)> {
    h.nodes[&NodeId(node)].as_ref().unwrap().hint_backlog()
}

/// A node down while 50 keys were written gets every one back from hints, with
/// anti-entropy off and without a read; the hints survive their coordinator's crash.
#[test]
fn hints_hand_missed_writes_over_to_a_node_that_comes_back_even_after_a_crash() {
    // Hints alone: no anti-entropy, and no rebuild at restart (it compares digests too).
    let mut h = Harness::with_config(3, |c| {
        c.anti_entropy = false;
        c.rebuild_on_restart = false;
    });
    h.advance(Span::from_secs(2));
    h.crash(NodeId(3));
    h.advance(Span::from_millis(1_500)); // Past the failure detector.
    for k in 0..50 {
        h.set(1, &format!("k{k:02}"), "v", VectorClock::new())
            .unwrap();
    }
    assert_eq!(backlog(&h, 1), [(NodeId(3), 50)]);
    // The coordinator crashes and restarts: its hints come back from its log.
    h.crash(NodeId(1));
    h.start(NodeId(1));
    assert_eq!(backlog(&h, 1), [(NodeId(3), 50)]);
    h.start(NodeId(3));
    let back = h.now;
    while holds(&h, 3, b"k") < 50 && h.now.since(back) < Span::from_secs(30) {
        h.advance(Span::from_millis(100));
    }
    println!("hints handed 50 keys over in {:?}", h.now.since(back));
    assert_eq!(holds(&h, 3, b"k"), 50, "not handed over within 30 s");
    h.advance(Span::from_secs(1));
    assert_eq!(backlog(&h, 1), []);
    let stats = h.nodes[&NodeId(1)].as_ref().unwrap().stats().clone();
    assert_eq!(stats.hints_delivered, 50);
}

/// Hints whose keys anti-entropy already repaired are done without a handover: node 1 hints
/// 50 writes node 3 missed, and hands nothing over within the test (an hour between
/// handoff rounds). Anti-entropy repairs node 3; once node 3's digests equal node 1's, node
/// 1's hints are settled, none delivered.
#[test]
fn hints_are_settled_when_anti_entropy_finds_the_peer_equal() {
    let mut h = Harness::with_config(3, |c| {
        c.rebuild_on_restart = false;
        c.handoff_interval = Span::from_secs(3600);
    });
    h.advance(Span::from_secs(2));
    h.crash(NodeId(3));
    h.advance(Span::from_millis(1_500));
    for k in 0..50 {
        h.set(1, &format!("k{k:02}"), "v", VectorClock::new())
            .unwrap();
    }
    assert_eq!(backlog(&h, 1), [(NodeId(3), 50)]);
    h.start(NodeId(3));
    let back = h.now;
    while !backlog(&h, 1).is_empty() && h.now.since(back) < Span::from_secs(30) {
        h.advance(Span::from_millis(100));
    }
    assert_eq!(backlog(&h, 1), [], "hints not settled within 30 s");
    assert_eq!(holds(&h, 3, b"k"), 50);
    let stats = h.nodes[&NodeId(1)].as_ref().unwrap().stats().clone();
    assert_eq!((stats.hints_delivered, stats.hints_settled), (0, 50));
}

/// A write every replica acknowledged leaves no hint.
#[test]
fn a_write_every_replica_acknowledged_leaves_no_hint() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(2));
    for k in 0..20 {
        h.set(1, &format!("k{k:02}"), "v", VectorClock::new())
            .unwrap();
    }
    h.advance(Span::from_secs(1));
    assert_eq!(backlog(&h, 1), []);
    assert_eq!(
        h.nodes[&NodeId(1)].as_ref().unwrap().stats().hints_stored,
        0
    );
}

fn delete(h: &mut Harness, at: u32, key: &str) {
    let context = h.get(at, key).clock();
    let op = Op::Delete {
        key: key.into(),
        context,
    };
    match h.request(NodeId(at), op, Quorum::default()) {
        Ok(Response::Written { .. }) => {}
        other => panic!("delete failed: {other:?}"),
    }
}

/// Three nodes collecting tombstones after a grace of 5 s, 2 s into their life.
fn with_grace() -> Harness {
    let grace = Span::from_secs(5);
    let mut h = Harness::with_config(3, |c| c.tombstone_grace = Some(grace));
    h.advance(Span::from_secs(2));
    h
}

/// Sets `d0` to `d9` through node 1.
fn set_ten(h: &mut Harness) {
    for k in 0..10 {
        h.set(1, &format!("d{k}"), "v", VectorClock::new()).unwrap();
    }
}

/// Lets time pass (at most 30 s) until no node holds a key starting with `prefix`.
fn wait_collected(h: &mut Harness, prefix: &[u8]) {
    let since = h.now;
    while (1..=3).any(|n| holds(h, n, prefix) > 0) && h.now.since(since) < Span::from_secs(30) {
        h.advance(Span::from_millis(100));
    }
    assert!((1..=3).all(|n| holds(h, n, prefix) == 0), "never collected");
}

/// Restarts node 1 on `copy`, a copy of its log that holds `d0` to `d9` whose tombstones
/// every replica has since collected, and waits for its rebuild: no node may hold them then.
fn restore_ten(h: &mut Harness, copy: BTreeMap<u64, Vec<u8>>) {
    h.crash(NodeId(1));
    h.disks.insert(NodeId(1), copy);
    h.start(NodeId(1));
    assert_eq!(holds(h, 1, b"d"), 10, "the copy holds the deleted values");
    wait_rebuilt(h, 1);
    for node in 1..=3 {
        assert_eq!(holds(h, node, b"d"), 0, "node {node} holds a deleted key");
    }
}

/// Lets time pass (at most 10 s) until `node` is no longer rebuilding.
fn wait_rebuilt(h: &mut Harness, node: u32) {
    let rebuilding = |h: &Harness| h.nodes[&NodeId(node)].as_ref().unwrap().rebuilding();
    let since = h.now;
    while rebuilding(h).is_some() && h.now.since(since) < Span::from_secs(10) {
        h.advance(Span::from_millis(50));
    }
    assert!(
        rebuilding(h).is_none(),
        "node {node} did not rebuild within 10 s"
    );
}

/// Deleted keys are forgotten on every replica once all of them have held the tombstone for
/// the grace; not before, and not while a replica is down.
#[test]
fn tombstones_are_collected_after_the_grace_only_when_every_replica_holds_them() {
    let mut h = with_grace();
    set_ten(&mut h);
    for k in 0..10 {
        delete(&mut h, 1 + k % 3, &format!("d{k}"));
    }
    h.advance(Span::from_secs(1));
    for node in 1..=3 {
        assert_eq!(holds(&h, node, b"d"), 10, "collected before the grace");
    }
    // With node 3 down nothing is collected, however long.
    h.crash(NodeId(3));
    h.advance(Span::from_secs(10));
    assert_eq!(holds(&h, 1, b"d"), 10, "collected with a replica down");
    h.start(NodeId(3));
    let back = h.now;
    while (1..=3).any(|n| holds(&h, n, b"d") > 0) && h.now.since(back) < Span::from_secs(30) {
        h.advance(Span::from_millis(100));
    }
    println!("collected in {:?} after the restart", h.now.since(back));
    for node in 1..=3 {
        assert_eq!(holds(&h, node, b"d"), 0, "node {node} kept tombstones");
        assert_eq!(
            h.nodes[&NodeId(node)]
                .as_ref()
                .unwrap()
                .tombstones_pending(),
            0
        );
    }
    // The key reads as absent, and can be written again.
    assert!(h.get(2, "d0").is_empty());
    h.set(2, "d0", "again", VectorClock::new()).unwrap();
    assert_eq!(h.get(3, "d0").values().count(), 1);
}

/// A collected key written again by the same node: the new version's context names the
/// collected tombstone's dot (one counter per actor) but not the value it had deleted, which
/// is still in an older log record. Recovery must not bring that value back.
#[test]
fn a_restart_after_collection_does_not_bring_a_deleted_value_back() {
    let mut h = with_grace();
    h.set(3, "k", "old", VectorClock::new()).unwrap();
    delete(&mut h, 1, "k");
    wait_collected(&mut h, b"k");
    let blind = match h.set(1, "k", "new", VectorClock::new()) {
        Ok(Response::Written { object, .. }) => object.clock(),
        other => panic!("{other:?}"),
    };
    h.set(1, "k", "newer", blind).unwrap();
    h.advance(Span::from_secs(1));
    h.crash(NodeId(1));
    h.start(NodeId(1));
    let node = h.nodes[&NodeId(1)].as_ref().unwrap();
    let values: Vec<&[u8]> = node.object(b"k").unwrap().values().collect();
    assert_eq!(values, [b"newer".as_slice()], "a deleted value came back");
}

/// A node restored from a copy of its log taken before deletes whose tombstones every
/// replica has since collected: the copy holds the deleted values and no tombstone, and no
/// replica has anything left to say they were deleted. Its peers recorded how far its log
/// had come when it agreed to the collection (`positions`), so at its restart it learns the
/// copy is older, sets it aside, and rebuilds on an empty log: nothing comes back. A plain
/// restart after the same collection is vouched for and keeps its log.
#[test]
fn a_copy_older_than_a_collection_is_set_aside_and_brings_nothing_back() {
    let mut h = with_grace();
    set_ten(&mut h);
    h.set(2, "kept", "v", VectorClock::new()).unwrap();
    h.advance(Span::from_secs(1));
    let copy = h.disks[&NodeId(1)].clone();
    for k in 0..10 {
        delete(&mut h, 1 + k % 3, &format!("d{k}"));
    }
    wait_collected(&mut h, b"d");
    let stats = |h: &Harness, n: u32| h.nodes[&NodeId(n)].as_ref().unwrap().stats().clone();

    // A plain restart: its log reaches past every position its peers recorded.
    h.crash(NodeId(2));
    h.start(NodeId(2));
    h.advance(Span::from_secs(1));
    assert_eq!(stats(&h, 2).logs_verified, 1);
    assert_eq!(stats(&h, 2).stale_logs_set_aside, 0);
    assert!(!h.set_aside.contains_key(&NodeId(2)));

    // The older copy.
    restore_ten(&mut h, copy);
    for node in 1..=3 {
        assert!(h.get(node, "d3").is_empty(), "read at node {node}");
    }
    assert_eq!(h.get(1, "kept").values().count(), 1);
    assert_eq!(stats(&h, 1).stale_logs_set_aside, 1);
    assert_eq!(h.set_aside[&NodeId(1)].len(), 1, "the copy was set aside");
}

/// The copy restored is of an earlier log: node 1's disk was replaced since (a new log), and
/// only that new log agreed to the collection, so no position recorded for the old log says
/// anything. Both logs registered with the peers when they started, so the peers know the
/// old one was superseded: the copy is set aside all the same.
#[test]
fn a_copy_of_a_log_replaced_since_is_set_aside_and_brings_nothing_back() {
    let mut h = with_grace();
    set_ten(&mut h);
    h.advance(Span::from_secs(1));
    // The old log never agreed to a collection: its peers know it only because it
    // registered when it started.
    let copy = h.disks[&NodeId(1)].clone();
    h.crash(NodeId(1));
    h.disks.insert(NodeId(1), Default::default()); // A new disk: a new log.
    h.start(NodeId(1));
    wait_rebuilt(&mut h, 1);
    // The new log registered with its peers as node 1's newest: a restart on it is
    // trusted, though it agreed to no collection yet and the old log is known.
    h.crash(NodeId(1));
    h.start(NodeId(1));
    h.advance(Span::from_secs(1));
    let stats = h.nodes[&NodeId(1)].as_ref().unwrap().stats().clone();
    assert_eq!((stats.logs_verified, stats.stale_logs_set_aside), (1, 0));
    for k in 0..10 {
        delete(&mut h, 1 + k % 3, &format!("d{k}"));
    }
    wait_collected(&mut h, b"d");

    restore_ten(&mut h, copy);
    let stats = h.nodes[&NodeId(1)].as_ref().unwrap().stats().clone();
    assert_eq!(stats.stale_logs_set_aside, 1);
}

/// Every node that may hold a key records the agreeing nodes' positions before any of them
/// forgets it, so any one of them can tell a restored copy is stale: here the only peer the
/// restored node can reach is node 3, which agreed to the collection but did not propose it.
#[test]
fn a_peer_that_did_not_propose_the_collection_knows_the_copy_is_stale() {
    let mut h = with_grace();
    let key = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| h.config.replicas(k.as_bytes())[0] == NodeId(2))
        .unwrap();
    h.set(1, &key, "v", VectorClock::new()).unwrap();
    h.advance(Span::from_secs(1));
    let copy = h.disks[&NodeId(1)].clone();
    delete(&mut h, 1, &key);
    wait_collected(&mut h, key.as_bytes());

    h.crash(NodeId(1));
    h.disks.insert(NodeId(1), copy);
    h.cut.insert((NodeId(1), NodeId(2)));
    h.cut.insert((NodeId(2), NodeId(1)));
    h.start(NodeId(1));
    h.advance(Span::from_secs(1));
    h.cut.clear();
    wait_rebuilt(&mut h, 1);
    for node in 1..=3 {
        assert_eq!(
            holds(&h, node, key.as_bytes()),
            0,
            "node {node} holds {key}"
        );
    }
    let stats = h.nodes[&NodeId(1)].as_ref().unwrap().stats().clone();
    assert_eq!(stats.stale_logs_set_aside, 1);
}
