//! Faults at fixed times, on top of the random ones: one node down for a long stretch
//! (`Outage`), and one long split of the cluster in two (`Split`). The scenarios about a
//! cluster healing itself (node-down, partition-heal) need a fault that lasts, where the
//! random faults come and go within a second.

use serde::Deserialize;

/// Node `node` goes down (its process killed) `start_ms` into the run and stays down for
/// `duration_ms` (to the calm phase if absent); random restarts leave it down meanwhile.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub node: u32,
    pub start_ms: u64,
    pub duration_ms: Option<u64>,
}

/// Every link between the nodes of `side` and the others is cut `start_ms` into the run, in
/// both directions, for `duration_ms` (to the calm phase if absent). Clients still reach
/// every node, so writes go on on both sides.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub side: Vec<u32>,
    pub start_ms: u64,
    pub duration_ms: Option<u64>,
}
