//! Anti-entropy catching up a replica that missed many writes: how soon it starts, how fast
//! it goes, and what the node reports about it.

mod harness;

use harness::Harness;
use tern_core::{NodeId, Span, VectorClock};

const KEYS: usize = 6_000;

fn holds(h: &Harness, node: u32) -> usize {
    let n = h.nodes[&NodeId(node)].as_ref().unwrap();
    n.objects().filter(|(k, _)| k.starts_with(b"k")).count()
}

/// A replica that was down while 6,000 keys were written gets every one back, by
/// anti-entropy alone, within half a second of (virtual) time after its restart: its peers
/// compare with it as soon as they hear of its new incarnation, and rounds that repair many
/// keys are followed at once instead of a second later. (At one round a second repairing at
/// most 1,024 keys, as before, this took six seconds.)
#[test]
fn a_restarted_replica_catches_up_on_thousands_of_writes_within_half_a_second() {
    let mut h = Harness::new(3);
    h.advance(Span::from_secs(2));
    h.crash(NodeId(3));
    h.advance(Span::from_millis(1_500));
    for k in 0..KEYS {
        let at = 1 + (k % 2) as u32;
        h.set(at, &format!("k{k:05}"), "v", VectorClock::new())
            .unwrap();
    }
    h.start(NodeId(3));
    let restarted = h.now;
    while holds(&h, 3) < KEYS && h.now.since(restarted) < Span::from_secs(30) {
        h.advance(Span::from_millis(10));
    }
    let took = h.now.since(restarted);
    println!("caught up on {KEYS} keys in {took:?}");
    assert_eq!(holds(&h, 3), KEYS, "not caught up within 30 s");
    assert!(took < Span::from_millis(500), "caught up in {took:?}");

    h.advance(Span::from_secs(2));
    let status: Vec<_> = (1..=3)
        .map(|n| h.nodes[&NodeId(n)].as_ref().unwrap().status())
        .collect();
    for s in &status {
        assert_eq!(s.digests, status[0].digests, "node {} differs", s.node);
        assert_eq!(s.keys, status[0].keys);
        assert!(s.peers.iter().all(|p| p.alive), "{:?}", s.peers);
        assert!(s.last_entropy_round.is_some());
    }
    let repaired: u64 = status
        .iter()
        .map(|s| {
            s.counter("entropy_keys_pushed").unwrap() + s.counter("entropy_keys_pulled").unwrap()
        })
        .sum();
    println!("{repaired} keys repaired");
    assert!(repaired >= KEYS as u64, "{repaired} keys repaired");
}
