//! `Op::Replace`: an overwrite in one round trip. It replaces every version the
//! coordinating replica holds, and never a version that replica has not received: that one
//! stays a sibling (the harness in `harness/`).

mod harness;

use harness::Harness;
use tern_core::{NodeId, Op, Quorum, Response, Span, VectorClock};

fn replace(h: &mut Harness, at: u32, key: &str, value: Option<&str>) {
    let op = Op::Replace {
        key: key.into(),
        value: value.map(Into::into),
    };
    match h.request(NodeId(at), op, Quorum::default()) {
        Ok(Response::Written { .. }) => {}
        other => panic!("replace: {other:?}"),
    }
}

fn values(h: &mut Harness, at: u32, key: &str) -> Vec<String> {
    let mut values: Vec<String> = h
        .get(at, key)
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    values.sort();
    values
}

#[test]
fn a_replace_overwrites_every_version_its_replica_holds() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(1));
    h.set(1, "k", "a", VectorClock::new()).unwrap();
    h.set(2, "k", "b", VectorClock::new()).unwrap();
    assert_eq!(
        values(&mut h, 3, "k"),
        ["a", "b"],
        "two blind sets are siblings"
    );
    replace(&mut h, 3, "k", Some("c"));
    assert_eq!(values(&mut h, 1, "k"), ["c"]);
    replace(&mut h, 2, "k", None);
    assert!(
        h.get(1, "k").is_deleted(),
        "a replace with no value deletes"
    );
}

#[test]
fn a_replace_keeps_a_version_its_replica_has_not_received() {
    let mut h = Harness::with_config(3, |c| {
        c.anti_entropy = false;
        c.hinted_handoff = false;
    });
    h.advance(Span::from_secs(1));
    // Node 2 hears nothing from node 1 while node 1 writes "a" (acknowledged by 1 and 3).
    h.cut.insert((NodeId(1), NodeId(2)));
    h.set(1, "k", "a", VectorClock::new()).unwrap();
    replace(&mut h, 2, "k", Some("b"));
    h.cut.clear();
    assert_eq!(
        values(&mut h, 3, "k"),
        ["a", "b"],
        "the unseen version survived"
    );
}
