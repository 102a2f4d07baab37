//! Acknowledged means durable, checked at the moment of the acknowledgement: W replicas of
//! the key must already hold the write in their synced state (what recovery would read
//! after a power cut), not only when a later crash happens to expose it.

use super::{show, Violation};
use tern_core::{Dot, NodeId, Object, Time};

/// Checks one acknowledgement of `dot` on `key` at `now`. `synced` gives each replica's
/// synced copy of the key.
pub fn check_acknowledged_durable<'a>(
    key: &[u8],
    dot: Dot,
    now: Time,
    w: u8,
    replicas: &[NodeId],
    synced: impl Fn(NodeId) -> Option<&'a Object>,
) -> Option<Violation> {
    let holding: Vec<NodeId> = replicas
        .iter()
        .copied()
        .filter(|id| synced(*id).is_some_and(|o| o.has_seen(dot)))
        .collect();
    (holding.len() < usize::from(w)).then(|| {
        Violation::new(
            "acknowledged durable",
            format!(
                "key {} write {dot:?} was acknowledged at {now} while only {holding:?} of its replicas {replicas:?} had it synced (W={w})",
                show(key)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{dot, object};
    use tern_core::VectorClock;

    #[test]
    fn an_acknowledgement_without_w_synced_copies_is_a_violation() {
        let replicas = [NodeId(1), NodeId(2), NodeId(3)];
        let held = object(1, b"a", VectorClock::new());
        let on = |nodes: &'static [u32]| {
            let held = held.clone();
            move |id: NodeId| nodes.contains(&id.0).then(|| held.clone())
        };
        // Two of three hold it synced: fine at W=2, not at W=3.
        let two = on(&[1, 3]);
        let copies: Vec<Option<Object>> = replicas.iter().map(|id| two(*id)).collect();
        let synced = |id: NodeId| copies[id.0 as usize - 1].as_ref();
        assert!(check_acknowledged_durable(b"k", dot(1), Time(5), 2, &replicas, synced).is_none());
        let violation = check_acknowledged_durable(b"k", dot(1), Time(5), 3, &replicas, synced);
        assert_eq!(violation.map(|v| v.checker), Some("acknowledged durable"));
        // One copy, or a copy of another write, is not enough for W=2.
        let one = on(&[2]);
        let copies: Vec<Option<Object>> = replicas.iter().map(|id| one(*id)).collect();
        let synced = |id: NodeId| copies[id.0 as usize - 1].as_ref();
        assert!(check_acknowledged_durable(b"k", dot(1), Time(5), 2, &replicas, synced).is_some());
        assert!(check_acknowledged_durable(b"k", dot(2), Time(5), 1, &replicas, synced).is_some());
    }
}
