//! How `tern status` shows one node's answer to a status request: a few readable lines per
//! node, or why it could not be asked. Pure formatting, kept in the library so tests can
//! read it without a process.

use crate::ClientError;
use std::fmt::Write as _;
use tern_core::NodeStatus;

/// One hash over every partition digest: two nodes that hold the same versions of the same
/// keys in every partition show the same.
pub fn digest_fingerprint(status: &NodeStatus) -> u64 {
    // FNV-1a over the digests' bytes.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in status.digests.iter().flat_map(|d| d.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The lines `tern status` prints for the node at `addr`.
pub fn render(addr: &str, answer: &Result<NodeStatus, ClientError>) -> String {
    let status = match answer {
        Ok(status) => status,
        Err(error) => return format!("{addr}: unreachable ({error})\n"),
    };
    let mut out = String::new();
    let state = match (status.booted, status.rebuilding) {
        (false, _) => "starting".to_string(),
        (true, _) if status.verifying => "up, VERIFYING (asking its peers whether its restarted \
            log is an older copy than one that agreed to a tombstone collection; it serves \
            nothing yet)"
            .to_string(),
        (true, None) => "up".to_string(),
        (true, Some(rebuild)) => format!(
            "up, REBUILDING ({}; {} partitions still to compare; its reads do not count toward R)",
            rebuild.reason.describe(),
            rebuild.partitions_waiting
        ),
    };
    let _ = writeln!(
        out,
        "node {} at {addr}: {state}, incarnation {:016x}, {} keys, {} requests pending, digest {:016x}",
        status.node.0,
        status.incarnation,
        status.keys,
        status.pending_requests,
        digest_fingerprint(status)
    );
    let _ = writeln!(
        out,
        "  {:<8}{:<7}{:>8}  heartbeat",
        "member", "state", "phi"
    );
    for peer in &status.peers {
        let state = if peer.alive { "up" } else { "down" };
        let phi = match peer.phi {
            Some(phi) if phi.is_finite() => format!("{phi:.2}"),
            Some(_) => "inf".to_string(),
            None => "-".to_string(),
        };
        let heartbeat = if peer.generation == 0 {
            "never heard of".to_string()
        } else {
            format!("beat {} of generation {}", peer.beat, peer.generation)
        };
        let _ = writeln!(
            out,
            "  {:<8}{state:<7}{phi:>8}  {heartbeat}",
            peer.node.0.to_string()
        );
    }
    let counter = |name: &str| status.counter(name).unwrap_or(0);
    let last = match status.last_entropy_round {
        Some(round) => {
            let ago = status.now.since(round.started).micros() as f64 / 1e6;
            format!(
                "last round {ago:.2} s ago with node {}: {} keys pushed, {} pulled",
                round.peer.0, round.keys_pushed, round.keys_pulled
            )
        }
        None => "no round yet".to_string(),
    };
    let _ = writeln!(
        out,
        "  anti-entropy: {last}; in all {} rounds, {} keys pushed, {} pulled, {} partitions skipped",
        counter("entropy_rounds"),
        counter("entropy_keys_pushed"),
        counter("entropy_keys_pulled"),
        counter("entropy_partitions_skipped"),
    );
    let backlog = if status.hint_backlog.is_empty() {
        "no backlog".to_string()
    } else {
        let each: Vec<String> = status
            .hint_backlog
            .iter()
            .map(|(peer, keys)| format!("{keys} keys for node {}", peer.0))
            .collect();
        each.join(", ")
    };
    let _ = writeln!(
        out,
        "  hints: {backlog}; in all {} stored, {} delivered, {} dropped",
        counter("hints_stored"),
        counter("hints_delivered"),
        counter("hints_dropped"),
    );
    let _ = writeln!(
        out,
        "  tombstones: {} keys pending collection, {} collected",
        status.tombstones_pending,
        counter("tombstones_collected"),
    );
    if counter("damaged_logs_set_aside") > 0 {
        let _ = writeln!(
            out,
            "  damage: this start found synced log bytes damaged; the log was set aside \
             (damaged-NNNN-* files in the data directory) and rebuilt from the replicas"
        );
    }
    let mut line = String::from("  counters:");
    for (name, value) in &status.counters {
        let item = format!(" {name}={value}");
        if line.len() + item.len() > 100 {
            let _ = writeln!(out, "{line}");
            line = String::from("           ");
        }
        line.push_str(&item);
    }
    let _ = writeln!(out, "{line}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::rebuild::{RebuildReason, RebuildStatus};
    use tern_core::{NodeId, PeerStatus, RoundStatus, Time};

    #[test]
    fn a_status_reads_as_members_rounds_and_counters_and_a_down_node_as_unreachable() {
        let status = NodeStatus {
            node: NodeId(1),
            incarnation: 0xab,
            booted: true,
            now: Time(5_000_000),
            keys: 42,
            pending_requests: 0,
            peers: vec![
                PeerStatus {
                    node: NodeId(2),
                    alive: true,
                    phi: Some(0.25),
                    generation: 7,
                    beat: 9,
                },
                PeerStatus {
                    node: NodeId(3),
                    alive: false,
                    phi: Some(f64::INFINITY),
                    generation: 8,
                    beat: 1,
                },
            ],
            last_entropy_round: Some(RoundStatus {
                peer: NodeId(2),
                started: Time(4_500_000),
                keys_pushed: 3,
                keys_pulled: 4,
            }),
            counters: vec![
                ("entropy_rounds".to_string(), 12),
                ("hints_stored".to_string(), 9),
                ("tombstones_collected".to_string(), 2),
            ],
            digests: vec![1, 2, 3],
            hint_backlog: vec![(NodeId(3), 5)],
            tombstones_pending: 6,
            rebuilding: None,
            verifying: false,
        };
        let status_copy = status.clone();
        let text = render("127.0.0.1:7001", &Ok(status));
        assert!(text.contains("node 1 at 127.0.0.1:7001: up"), "{text}");
        assert!(text.contains("2       up         0.25"), "{text}");
        assert!(text.contains("3       down        inf"), "{text}");
        assert!(
            text.contains("last round 0.50 s ago with node 2: 3 keys pushed, 4 pulled"),
            "{text}"
        );
        assert!(text.contains("in all 12 rounds"), "{text}");
        let hints = "hints: 5 keys for node 3; in all 9 stored, 0 delivered, 0 dropped";
        assert!(text.contains(hints), "{text}");
        let tombstones = "tombstones: 6 keys pending collection, 2 collected";
        assert!(text.contains(tombstones), "{text}");
        let down = render(
            "127.0.0.1:7003",
            &Err(ClientError::Unavailable {
                tried: vec![("127.0.0.1:7003".into(), "connection refused".into())],
            }),
        );
        assert!(down.starts_with("127.0.0.1:7003: unreachable ("), "{down}");
        let rebuilding = NodeStatus {
            rebuilding: Some(RebuildStatus {
                reason: RebuildReason::EmptyLog,
                since: Time(1),
                partitions_waiting: 17,
            }),
            ..status_copy.clone()
        };
        let text = render("127.0.0.1:7002", &Ok(rebuilding));
        let expected = "up, REBUILDING (empty log; 17 partitions still to compare";
        assert!(text.contains(expected), "{text}");
        let verifying = NodeStatus {
            verifying: true,
            ..status_copy
        };
        let text = render("127.0.0.1:7002", &Ok(verifying));
        assert!(text.contains("up, VERIFYING (asking its peers"), "{text}");
    }
}
