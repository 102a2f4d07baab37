//! Cluster settings every node must agree on, their checks, and the per-request quorum
//! (N, R, W) resolved against them. Pure data: no state of a running node lives here.

use crate::ids::NodeId;
use crate::limits::{CLUSTER_NODES_MAX, REPLICATION_N_MAX};
use crate::message::Quorum;
use crate::time::Span;
use std::collections::BTreeSet;
use std::fmt;

/// Cluster-wide settings every node must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Every member of the cluster, this node included.
    pub nodes: Vec<NodeId>,
    /// Default replication factor, read quorum and write quorum.
    pub n: u8,
    pub r: u8,
    pub w: u8,
    /// How long a coordinator works on a request before answering with an error.
    pub request_timeout: Span,
    /// How often a coordinator resends to replicas that have not answered (lost messages).
    pub resend_interval: Span,
    /// How often a node tells its peers it is alive.
    pub heartbeat_interval: Span,
    /// A peer not heard from for this long is considered down.
    pub failure_timeout: Span,
    /// The log is compacted once it holds more than this many bytes and more than twice
    /// the live data.
    pub compact_min_bytes: u64,
}

impl Config {
    /// Defaults for a cluster of `nodes`: N=3 (or fewer nodes), W=2, R=2.
    pub fn new(nodes: Vec<NodeId>) -> Config {
        let n = nodes.len().clamp(1, 3) as u8;
        let q = n / 2 + 1;
        Config {
            nodes,
            n,
            r: q,
            w: q,
            request_timeout: Span::from_millis(2_000),
            resend_interval: Span::from_millis(150),
            heartbeat_interval: Span::from_millis(100),
            failure_timeout: Span::from_millis(1_000),
            compact_min_bytes: 64 << 20,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes.is_empty() {
            return Err(ConfigError::NoNodes);
        }
        if self.nodes.len() > CLUSTER_NODES_MAX {
            return Err(ConfigError::TooManyNodes {
                count: self.nodes.len(),
                max: CLUSTER_NODES_MAX,
            });
        }
        let distinct: BTreeSet<NodeId> = self.nodes.iter().copied().collect();
        if distinct.len() != self.nodes.len() {
            return Err(ConfigError::DuplicateNode);
        }
        resolve_quorum(self, Quorum::default()).map_err(ConfigError::Quorum)?;
        let zero = [
            ("request_timeout", self.request_timeout),
            ("resend_interval", self.resend_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("failure_timeout", self.failure_timeout),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, span)| *span == Span::ZERO) {
            return Err(ConfigError::ZeroSpan(name));
        }
        Ok(())
    }
}

/// Why a `Config` (or a node's place in it) is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    NoNodes,
    TooManyNodes { count: usize, max: usize },
    DuplicateNode,
    NotAMember(NodeId),
    Quorum(String),
    ZeroSpan(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoNodes => write!(f, "the cluster has no nodes"),
            ConfigError::TooManyNodes { count, max } => {
                write!(f, "{count} nodes, over the maximum of {max}")
            }
            ConfigError::DuplicateNode => write!(f, "a node id appears twice"),
            ConfigError::NotAMember(id) => write!(f, "node {id} is not in the member list"),
            ConfigError::Quorum(why) => write!(f, "bad default quorum: {why}"),
            ConfigError::ZeroSpan(name) => write!(f, "{name} must be greater than zero"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The resolved N, R, W of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub n: usize,
    pub r: usize,
    pub w: usize,
}

pub(crate) fn resolve_quorum(config: &Config, q: Quorum) -> Result<Resolved, String> {
    let n = usize::from(q.n.unwrap_or(config.n));
    let r = usize::from(q.r.unwrap_or(config.r));
    let w = usize::from(q.w.unwrap_or(config.w));
    let members = config.nodes.len();
    if n == 0 || n > members.min(REPLICATION_N_MAX) {
        return Err(format!(
            "n={n} must be between 1 and {}",
            members.min(REPLICATION_N_MAX)
        ));
    }
    if r == 0 || r > n {
        return Err(format!("r={r} must be between 1 and n={n}"));
    }
    if w == 0 || w > n {
        return Err(format!("w={w} must be between 1 and n={n}"));
    }
    Ok(Resolved { n, r, w })
}
