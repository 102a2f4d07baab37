//! Nodes that come back with less than they had: a node restarted on an empty disk, on a
//! log whose synced bytes are damaged, or on an older copy of its log, rebuilds, and its
//! read replies do not count toward R until it has (the harness in `harness/`).

mod harness;

use harness::Harness;
use tern_core::{ClientResult, NodeId, Op, Quorum, RequestError, Response, Span, VectorClock};

fn get(h: &mut Harness, at: u32, key: &str) -> ClientResult {
    let op = Op::Get { key: key.into() };
    h.request(NodeId(at), op, Quorum::default())
}

fn rebuilding(h: &Harness, node: u32) -> bool {
    h.nodes[&NodeId(node)]
        .as_ref()
        .unwrap()
        .rebuilding()
        .is_some()
}

/// Node 1 and 3 acknowledged `k` while node 2 was down (no hints, no anti-entropy: node 2
/// never gets it). Node 1's disk is then replaced, and it cannot reach node 3. A read at
/// node 2 hears only node 2 (whole, without `k`) and node 1 (empty): had node 1's reply
/// counted toward R, the read would say `k` does not exist. It must not answer until node 1
/// has rebuilt from node 3; then it answers `v`.
#[test]
fn an_empty_disk_does_not_count_toward_r_until_rebuilt_from_every_other_replica() {
    let mut h = Harness::with_config(3, |c| {
        c.anti_entropy = false;
        c.hinted_handoff = false;
    });
    h.advance(Span::from_secs(2));
    assert!(
        !rebuilding(&h, 1),
        "a new cluster rebuilds from itself at once"
    );
    h.crash(NodeId(2));
    h.advance(Span::from_millis(1_500));
    h.set(1, "k", "v", VectorClock::new()).unwrap();
    h.start(NodeId(2));
    h.advance(Span::from_secs(1));
    // A new disk for node 1, cut off from node 3.
    h.crash(NodeId(1));
    h.disks.get_mut(&NodeId(1)).unwrap().clear();
    for (a, b) in [(1, 3), (3, 1), (2, 3), (3, 2)] {
        h.cut.insert((NodeId(a), NodeId(b)));
    }
    h.start(NodeId(1));
    h.advance(Span::from_secs(1));
    assert!(rebuilding(&h, 1), "node 1 cannot have compared with node 3");
    match get(&mut h, 2, "k") {
        Err(RequestError::Timeout) => {}
        other => panic!("a read counted a rebuilding replica toward R: {other:?}"),
    }
    h.cut.clear();
    let healed = h.now;
    while rebuilding(&h, 1) && h.now.since(healed) < Span::from_secs(10) {
        h.advance(Span::from_millis(50));
    }
    assert!(
        !rebuilding(&h, 1),
        "node 1 did not rebuild within 10 s of the heal"
    );
    match get(&mut h, 2, "k") {
        Ok(Response::Object(object)) => {
            assert_eq!(object.values().collect::<Vec<_>>(), vec![&b"v"[..]]);
        }
        other => panic!("read after the rebuild: {other:?}"),
    }
    let held = h.nodes[&NodeId(1)].as_ref().unwrap().object(b"k").cloned();
    assert!(
        held.is_some_and(|o| !o.is_empty()),
        "node 1 rebuilt without k"
    );
}

/// A crash during a rebuild does not end it: the log says it was rebuilding.
#[test]
fn a_crash_during_a_rebuild_restarts_rebuilding() {
    // Restarts on a whole log trust it here, so that only the log's rebuild mark can keep
    // node 1 rebuilding.
    let mut h = Harness::with_config(3, |c| {
        c.anti_entropy = false;
        c.rebuild_on_restart = false;
    });
    h.advance(Span::from_secs(2));
    h.crash(NodeId(1));
    h.disks.get_mut(&NodeId(1)).unwrap().clear();
    h.cut.insert((NodeId(3), NodeId(1)));
    h.cut.insert((NodeId(1), NodeId(3)));
    h.start(NodeId(1));
    h.advance(Span::from_secs(1));
    assert!(rebuilding(&h, 1));
    h.crash(NodeId(1));
    h.start(NodeId(1));
    h.advance(Span::from_millis(500));
    assert!(
        rebuilding(&h, 1),
        "a restart mid-rebuild trusted its half-rebuilt log"
    );
    h.cut.clear();
    h.advance(Span::from_secs(3));
    assert!(!rebuilding(&h, 1));
    // And once rebuilt, a restart is an ordinary one.
    h.crash(NodeId(1));
    h.start(NodeId(1));
    assert!(!rebuilding(&h, 1));
}

/// Node 1 and 2 acknowledged `k` while node 3 was cut off (no hints, no anti-entropy: node 3
/// never gets it). Node 1 is then restored from a copy of its log taken before the write,
/// and restarts while node 2 is down. A read at node 3 hears node 3 (whole, without `k`)
/// and node 1 (a valid log, without `k`). Returns what that read answered, and what a read
/// answered once node 2 was back and node 1 no longer rebuilding.
fn read_after_a_rollback(rebuild_on_restart: bool) -> (ClientResult, ClientResult) {
    let mut h = Harness::with_config(3, |c| {
        c.anti_entropy = false;
        c.hinted_handoff = false;
        c.rebuild_on_restart = rebuild_on_restart;
    });
    h.advance(Span::from_secs(2));
    let backup = h.disks[&NodeId(1)].clone();
    let links = [(1, 3), (3, 1), (2, 3), (3, 2)];
    for (a, b) in links {
        h.cut.insert((NodeId(a), NodeId(b)));
    }
    h.set(1, "k", "v", VectorClock::new()).unwrap();
    h.cut.clear();
    h.crash(NodeId(1));
    h.disks.insert(NodeId(1), backup);
    h.crash(NodeId(2));
    h.start(NodeId(1));
    h.advance(Span::from_secs(1));
    assert_eq!(rebuilding(&h, 1), rebuild_on_restart);
    let during = get(&mut h, 3, "k");
    h.start(NodeId(2));
    let back = h.now;
    while (rebuilding(&h, 1) || rebuilding(&h, 2)) && h.now.since(back) < Span::from_secs(10) {
        h.advance(Span::from_millis(50));
    }
    assert!(!rebuilding(&h, 1), "node 1 did not rebuild within 10 s");
    (during, get(&mut h, 3, "k"))
}

fn values(result: &ClientResult) -> Option<Vec<Vec<u8>>> {
    match result {
        Ok(Response::Object(object)) => Some(object.values().map(<[u8]>::to_vec).collect()),
        _ => None,
    }
}

/// A restored copy of a log is valid, so nothing in it says it is old: a restarted node
/// rebuilds, and its replies do not count toward R until it has compared with every other
/// replica. Node 1 waits for node 2, the only other replica holding `k`.
#[test]
fn a_log_restored_from_an_older_copy_does_not_count_toward_r_until_rebuilt() {
    let (during, after) = read_after_a_rollback(true);
    assert!(
        matches!(during, Err(RequestError::Timeout)),
        "a read counted a restarted replica toward R: {during:?}"
    );
    assert_eq!(values(&after), Some(vec![b"v".to_vec()]));
}

/// What `Config::rebuild_on_restart` guards against: with it off, the restored node counts
/// toward R at once, and the read says `k` does not exist although W replicas acknowledged
/// it. Nothing makes node 1 whole again here (anti-entropy and hints are off), so a later
/// read that asks nodes 3 and 1 is just as stale: only the one during node 2's absence is
/// checked.
#[test]
fn with_restart_rebuilds_off_a_restored_copy_answers_a_stale_read() {
    let (during, _) = read_after_a_rollback(false);
    assert_eq!(values(&during), Some(vec![]), "{during:?}");
}
