//! Cluster settings every node must agree on, their checks, and the per-request quorum
//! (N, R, W) resolved against them. Pure data: no state of a running node lives here.

use crate::ids::NodeId;
use crate::limits::{CLUSTER_NODES_MAX, PHI_THRESHOLD_MAX, REPLICATION_N_MAX};
use crate::message::{Quorum, QuorumError};
use crate::ring::Ring;
use crate::search::Stemming;
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
    /// How often a node ticks its heartbeat and gossips with one random peer.
    pub heartbeat_interval: Span,
    /// A peer is considered down once its phi (liveness::phi) reaches this: about 10^-phi
    /// is the chance that a live peer's next heartbeat is that late. 1 to
    /// `PHI_THRESHOLD_MAX`; 8 by default, as in Cassandra.
    pub phi_threshold: u8,
    /// The least deviation the failure detector assumes of heartbeat intervals, so that
    /// perfectly regular heartbeats do not make it suspect a peer a moment late.
    pub phi_min_deviation: Span,
    /// How often a node compares its partitions with a random peer (anti-entropy), and
    /// proposes its oldest tombstones for collection.
    pub anti_entropy_interval: Span,
    /// Whether anti-entropy runs (off only to show what it repairs).
    pub anti_entropy: bool,
    /// Whether a coordinator keeps a durable hint for a replica that missed a write, and
    /// hands the key over once that replica is back (`handoff`).
    pub hinted_handoff: bool,
    /// How often a node hands hinted keys over to the peers that are up.
    pub handoff_interval: Span,
    /// How long every replica must have held a key's tombstones, and nothing else, before
    /// the key may be forgotten (`collect`); `None` keeps tombstones forever. It must be
    /// more than twice `request_timeout`, and a request's own timeout is capped at half
    /// of it: no message carrying an older version can then still be on its way.
    pub tombstone_grace: Option<Span>,
    /// The log is compacted once it holds more than this many bytes and more than twice
    /// the live data.
    pub compact_min_bytes: u64,
    /// Whether search tokens are stemmed (docs/SEARCH.md, "Tokens"). Every node of a cluster
    /// must use the same, or a query's terms would not match other nodes' indexes.
    pub stemming: Stemming,
    /// Whether each replica keeps a search index of its keys. Off, search requests are
    /// refused (`SearchOff`) and writes skip the indexing work.
    pub search_index: bool,
    /// Whether a node restarted on a log that is not empty rebuilds before its reads count
    /// toward R (`rebuild`). On by default: a node cannot tell its own log from an older
    /// copy of it (a data directory restored from a backup), which may miss writes it
    /// acknowledged. Off, a restarted node counts toward R at once: safe only where data
    /// directories are never restored from copies.
    pub rebuild_on_restart: bool,
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
            phi_threshold: 8,
            phi_min_deviation: Span::from_millis(50),
            anti_entropy_interval: Span::from_millis(1_000),
            anti_entropy: true,
            hinted_handoff: true,
            handoff_interval: Span::from_millis(200),
            tombstone_grace: Some(Span::from_secs(60)),
            compact_min_bytes: 64 << 20,
            stemming: Stemming::On,
            search_index: true,
            rebuild_on_restart: true,
        }
    }

    /// The longest a request may run: its own timeout is capped here (half the tombstone
    /// grace, so that a collected key's older versions are no longer in flight).
    pub fn request_timeout_max(&self) -> Span {
        self.tombstone_grace
            .map_or(Span::from_micros(u64::MAX), |g| {
                Span::from_micros(g.micros() / 2)
            })
    }

    /// How many nodes may hold a key: its replicas at the largest N a request may ask for.
    /// Collection asks all of them.
    pub fn replicas_max(&self) -> usize {
        self.nodes.len().min(REPLICATION_N_MAX)
    }

    /// True if `node` may speak to `me` as a peer: a member of the cluster other than `me`.
    /// Drivers admit peer connections by this rule, and core ignores anything else.
    pub fn is_peer(&self, me: NodeId, node: NodeId) -> bool {
        node != me && self.nodes.contains(&node)
    }

    /// The replicas of `key` at the default N, in preference order: where every node of this
    /// cluster places it. Drivers and checkers ask this instead of placing keys themselves.
    pub fn replicas(&self, key: &[u8]) -> Vec<NodeId> {
        Ring::new(&self.nodes).preference(key, usize::from(self.n))
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
        if usize::from(self.r) + usize::from(self.w) <= usize::from(self.n) {
            // A default read could miss a write acknowledged by the default quorum.
            return Err(ConfigError::QuorumsDoNotOverlap {
                n: self.n,
                r: self.r,
                w: self.w,
            });
        }
        let zero = [
            (Setting::RequestTimeout, self.request_timeout),
            (Setting::ResendInterval, self.resend_interval),
            (Setting::HeartbeatInterval, self.heartbeat_interval),
            (Setting::PhiMinDeviation, self.phi_min_deviation),
            (Setting::AntiEntropyInterval, self.anti_entropy_interval),
            (Setting::HandoffInterval, self.handoff_interval),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, span)| *span == Span::ZERO) {
            return Err(ConfigError::ZeroSpan(*name));
        }
        if !(1..=PHI_THRESHOLD_MAX).contains(&self.phi_threshold) {
            return Err(ConfigError::PhiThreshold {
                value: self.phi_threshold,
                max: PHI_THRESHOLD_MAX,
            });
        }
        // A request must get at least one resend before its deadline; no request may still
        // carry a version once its key's tombstones are collected.
        let mut order = vec![(
            Setting::ResendInterval,
            self.resend_interval,
            Setting::RequestTimeout,
            self.request_timeout,
        )];
        if let Some(grace) = self.tombstone_grace {
            order.push((
                Setting::RequestTimeout,
                Span::from_micros(2 * self.request_timeout.micros()),
                Setting::TombstoneGrace,
                grace,
            ));
        }
        for (shorter, a, longer, b) in order {
            if a >= b {
                return Err(ConfigError::NotShorter { shorter, longer });
            }
        }
        Ok(())
    }
}

/// A timing setting of `Config`, named as the configuration calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    RequestTimeout,
    ResendInterval,
    HeartbeatInterval,
    PhiMinDeviation,
    AntiEntropyInterval,
    HandoffInterval,
    TombstoneGrace,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::RequestTimeout => "request_timeout",
            Setting::ResendInterval => "resend_interval",
            Setting::HeartbeatInterval => "heartbeat_interval",
            Setting::PhiMinDeviation => "phi_min_deviation",
            Setting::AntiEntropyInterval => "anti_entropy_interval",
            Setting::HandoffInterval => "handoff_interval",
            Setting::TombstoneGrace => "tombstone_grace",
        })
    }
}

/// Why a `Config` (or a node's place in it) is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    NoNodes,
    TooManyNodes {
        count: usize,
        max: usize,
    },
    DuplicateNode,
    NotAMember(NodeId),
    Quorum(QuorumError),
    /// The default R + W is not above N: a read could miss an acknowledged write.
    QuorumsDoNotOverlap {
        n: u8,
        r: u8,
        w: u8,
    },
    ZeroSpan(Setting),
    /// `shorter` must be shorter than `longer`.
    NotShorter {
        shorter: Setting,
        longer: Setting,
    },
    /// `phi_threshold` must be from 1 to `max`.
    PhiThreshold {
        value: u8,
        max: u8,
    },
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
            ConfigError::QuorumsDoNotOverlap { n, r, w } => write!(
                f,
                "bad default quorum: r={r} + w={w} must be more than n={n}, or a read could miss an acknowledged write"
            ),
            ConfigError::ZeroSpan(name) => write!(f, "{name} must be greater than zero"),
            ConfigError::NotShorter {
                shorter: Setting::RequestTimeout,
                longer: Setting::TombstoneGrace,
            } => write!(f, "tombstone_grace must be more than twice request_timeout"),
            ConfigError::NotShorter { shorter, longer } => {
                write!(f, "{shorter} must be shorter than {longer}")
            }
            ConfigError::PhiThreshold { value, max } => {
                write!(f, "phi_threshold must be from 1 to {max}, not {value}")
            }
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

pub(crate) fn resolve_quorum(config: &Config, q: Quorum) -> Result<Resolved, QuorumError> {
    let (n, r, w) = (
        q.n.unwrap_or(config.n),
        q.r.unwrap_or(config.r),
        q.w.unwrap_or(config.w),
    );
    // At most CLUSTER_NODES_MAX members, so the bound fits a u8.
    let max = config.nodes.len().min(REPLICATION_N_MAX) as u8;
    if n == 0 || n > max {
        return Err(QuorumError::N { n, max });
    }
    if r == 0 || r > n {
        return Err(QuorumError::R { r, n });
    }
    if w == 0 || w > n {
        return Err(QuorumError::W { w, n });
    }
    Ok(Resolved {
        n: usize::from(n),
        r: usize::from(r),
        w: usize::from(w),
    })
}
