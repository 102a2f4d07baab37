//! `NodeStatus`: one node's own view of itself and the cluster, for operators (`tern status`)
//! and tests. A value built on request from the node's state; reading it changes nothing.
//!
//! Drivers send it whole (docs/PROTOCOL.md, `StatusReply`). Its fields are only ever added
//! at the end, and a reader ignores bytes after the fields it knows, so that an older client
//! reads a newer node's status. A new per-peer figure is therefore a new list at the end,
//! keyed by node (as `PeerStatus` cannot grow), and a new counter is a new entry of
//! `counters`.

use crate::entropy::RoundStatus;
use crate::ids::NodeId;
use crate::limits::PARTITIONS;
use crate::node::{Node, NodeStats};
use crate::rebuild::RebuildStatus;
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// One node's view, at `now` (its own clock).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: NodeId,
    /// The random id of this incarnation.
    pub incarnation: u64,
    /// True once the node has recovered and coordinates requests.
    pub booted: bool,
    pub now: Time,
    /// Keys this replica holds (tombstones included).
    pub keys: u64,
    /// Requests being coordinated or forwarded.
    pub pending_requests: u64,
    /// Every other member as this node's failure detector sees it.
    pub peers: Vec<PeerStatus>,
    /// The newest anti-entropy round this node started (still going on, or done).
    pub last_entropy_round: Option<RoundStatus>,
    /// Named counters since this incarnation started: `NodeStats`, then the driver's own.
    pub counters: Vec<(String, u64)>,
    /// This replica's digest of each partition (`PARTITIONS` of them): two replicas that
    /// hold the same versions of the same keys of a partition have equal digests there.
    pub digests: Vec<u64>,
    /// Hinted keys waiting for each peer that has any (`handoff`).
    pub hint_backlog: Vec<(NodeId, u64)>,
    /// Keys held here whose every version is a tombstone: pending collection (`collect`).
    pub tombstones_pending: u64,
    /// Set while the node rebuilds (`rebuild`): its read replies do not count toward R.
    pub rebuilding: Option<RebuildStatus>,
    /// True while the node waits for its peers to say its restarted log is not an older
    /// copy than one that agreed to a tombstone collection (`verify`): it serves nothing.
    pub verifying: bool,
}

/// How one member looks to the node that reports.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub node: NodeId,
    /// Alive: its phi is below the cluster's threshold.
    pub alive: bool,
    /// phi now (`None`: never heard of since this node started). Infinite once no heartbeat
    /// has arrived for far longer than usual.
    pub phi: Option<f64>,
    /// The generation (its start, in microseconds of its clock) and heartbeat count of the
    /// newest heartbeat of it known here.
    pub generation: u64,
    pub beat: u64,
}

impl Node {
    /// This node's view of itself and the cluster now (`tern status`).
    pub fn status(&self) -> NodeStatus {
        let peers = self.peers().into_iter().map(|view| PeerStatus {
            node: view.node,
            alive: view.alive,
            phi: self.liveness.phi(view.node, self.now, &self.config),
            generation: view.generation,
            beat: view.beat,
        });
        NodeStatus {
            node: self.id,
            incarnation: self.actor.incarnation,
            booted: self.is_booted(),
            now: self.now,
            keys: self.store.len() as u64,
            pending_requests: self.coordinator.len() as u64,
            peers: peers.collect(),
            last_entropy_round: self.rounds.last(),
            counters: self.stats.counters(),
            digests: (0..PARTITIONS).map(|p| self.store.digest(p)).collect(),
            hint_backlog: self
                .hint_backlog()
                .into_iter()
                .map(|(peer, keys)| (peer, keys as u64))
                .collect(),
            tombstones_pending: self.tombstones_pending() as u64,
            rebuilding: self.rebuilding(),
            verifying: self.verify.is_some(),
        }
    }
}

impl NodeStatus {
    /// The counter named `name`, if the node reports one.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

impl NodeStats {
    /// Every counter with its name, in declaration order.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let s = self;
        [
            ("writes_coordinated", s.writes_coordinated),
            ("reads_coordinated", s.reads_coordinated),
            ("forwarded", s.forwarded),
            ("read_repairs", s.read_repairs),
            ("resends", s.resends),
            ("indeterminate", s.indeterminate),
            ("unavailable", s.unavailable),
            ("timeouts", s.timeouts),
            ("busy", s.busy),
            ("replicate_refused", s.replicate_refused),
            ("compactions", s.compactions),
            ("duplicate_forwards", s.duplicate_forwards),
            ("reads_too_large", s.reads_too_large),
            ("entropy_rounds", s.entropy_rounds),
            ("entropy_keys_pushed", s.entropy_keys_pushed),
            ("entropy_keys_pulled", s.entropy_keys_pulled),
            ("entropy_partitions_skipped", s.entropy_partitions_skipped),
            ("searches_local", s.searches_local),
            ("searches_gathered", s.searches_gathered),
            ("searches_replanned", s.searches_replanned),
            ("hints_stored", s.hints_stored),
            ("hints_sent", s.hints_sent),
            ("hints_delivered", s.hints_delivered),
            ("hints_dropped", s.hints_dropped),
            ("hints_settled", s.hints_settled),
            ("tombstones_collected", s.tombstones_collected),
            ("rebuilds_started", s.rebuilds_started),
            ("rebuilds_done", s.rebuilds_done),
            ("damaged_logs_set_aside", s.damaged_logs_set_aside),
            ("logs_verified", s.logs_verified),
            ("stale_logs_set_aside", s.stale_logs_set_aside),
            ("bulk_writes_coordinated", s.bulk_writes_coordinated),
            ("bulk_reads_coordinated", s.bulk_reads_coordinated),
            ("bulk_versions_fetched", s.bulk_versions_fetched),
            ("bulk_kept_aside", s.bulk_kept_aside),
            ("bulk_resolved_committed", s.bulk_resolved_committed),
            ("bulk_resolved_refused", s.bulk_resolved_refused),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_named_once() {
        let stats = NodeStats::default();
        let counters = stats.counters();
        let mut names: Vec<&str> = counters.iter().map(|(n, _)| n.as_str()).collect();
        // Debug prints every field as `name: value`: each must be in the list.
        let debug = format!("{stats:?}");
        let fields = debug.matches(": ").count();
        assert_eq!(names.len(), fields, "a NodeStats field is missing: {debug}");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), fields);
    }
}
