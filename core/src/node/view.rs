//! Read-only views of a node, for drivers, operators and tests: its copies, its peers as
//! its failure detector sees them, and the state of its parts (hints, tombstones, rebuild).

use super::Node;
use crate::ids::NodeId;
use crate::liveness::PeerView;
use crate::rebuild::{Rebuild, RebuildStatus};
use crate::search::Index;
use crate::version::Object;

impl Node {
    /// This replica's copy of `key`, durable or not.
    pub fn object(&self, key: &[u8]) -> Option<&Object> {
        self.store.get(key)
    }

    /// Every key this node holds, in key order.
    pub fn objects(&self) -> impl Iterator<Item = (&[u8], &Object)> {
        self.store.iter().map(|(k, o)| (k.as_slice(), o))
    }

    /// This replica's search index over the keys it holds (`None` if the cluster keeps
    /// none). Read-only: for tests and the simulator's search checker.
    pub fn index(&self) -> Option<&Index> {
        self.store.index()
    }

    /// How every other member looks to this node's failure detector now.
    pub fn peers(&self) -> Vec<PeerView> {
        self.liveness.peers(self.id, self.now, &self.config)
    }

    /// The rebuild in progress, if this node may hold less than it once did (`rebuild`).
    pub fn rebuilding(&self) -> Option<RebuildStatus> {
        self.rebuild.as_ref().map(Rebuild::status)
    }

    /// Hinted keys waiting for each peer that has any (`handoff`).
    pub fn hint_backlog(&self) -> Vec<(NodeId, usize)> {
        self.handoff.backlog()
    }

    /// Keys held here whose every version is a tombstone: pending collection.
    pub fn tombstones_pending(&self) -> usize {
        self.store.tombstone_count()
    }

    /// From now on, keep every key collection forgets, with the tombstones it held, for
    /// `take_collected` (the simulator checks that nothing they replaced comes back).
    pub fn record_collections(&mut self) {
        self.collected.get_or_insert_with(Vec::new);
    }

    /// The keys forgotten since the last call, if `record_collections` was called.
    pub fn take_collected(&mut self) -> Vec<(Vec<u8>, Object)> {
        self.collected
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Requests being coordinated or forwarded right now.
    pub fn pending_requests(&self) -> usize {
        self.coordinator.len()
    }
}
