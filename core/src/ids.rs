//! Identifier newtypes. Each names one kind of thing so that they cannot be mixed up.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node of the cluster. Stable across restarts; configured by the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

/// A client connection (or simulated client) as the driver numbers it. Core only echoes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

/// A request a node coordinates or forwards. Unique over the life of the cluster: the high
/// 64 bits are the node's random incarnation id, the low 64 bits count the requests of that
/// incarnation (at most `REQUESTS_PER_INCARNATION_MAX`; they never wrap). A late reply to a
/// request of an earlier life can therefore never be taken for a reply to a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u128);

impl RequestId {
    pub fn new(incarnation: u64, seq: u64) -> RequestId {
        RequestId((u128::from(incarnation) << 64) | u128::from(seq))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{:x}", self.0)
    }
}

/// One log of a node (`positions`): when the node started it, in microseconds of its own
/// clock, and the random id drawn then (`log`). A node's logs are ordered by `started`: a
/// node starts a new log (on an empty disk, or after setting one aside) only after the
/// logs before it, so no message that arrives late can make an earlier log look later.
/// Two logs with the same `started` cannot be ordered.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogRef {
    pub started: u64,
    pub id: u64,
}
