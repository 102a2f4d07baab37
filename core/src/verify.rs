//! Verifying a restarted log: before a node restarted on a log that is not empty lets any
//! of it out (a read reply, an anti-entropy exchange, a hint, a write it coordinates), it
//! asks its peers whether that log could be an older copy of itself that misses tombstones
//! they have since collected (`positions`).
//!
//! The log is trusted up to `trusted_end`: its end at this start, or, if a rebuild was
//! unfinished, the offset of the mark that began it (a rebuilding node agrees to no
//! collection, so nothing past that mark was ever vouched for). The node sends
//! `PositionAsk` with its log's id to every peer that shares a partition with it at the
//! largest N (`Config::replicas_max`), and asks again each heartbeat until answered. A
//! `PositionReply` names the largest position that peer recorded for this log. If one is
//! past `trusted_end`, the log is an older copy than one that agreed to a collection: the
//! node sets it aside and starts again on an empty log, rebuilding (`Node::set_aside_stale`).
//! Once, for every partition it replicates, one other replica answered with no such
//! position, the log is this node's own as far as collection goes: every node that may hold
//! a key records the positions before any of them forgets it, so one answer per partition
//! is enough. Until then the node answers nothing but these messages and gossip, takes no
//! request (`Starting`), and runs no anti-entropy, handoff, collection or compaction.

use crate::ids::NodeId;
use crate::limits::PARTITIONS;
use crate::node::Config;
use crate::ring::Ring;
use std::collections::BTreeSet;

/// A verification in progress.
#[derive(Clone, Debug)]
pub(crate) struct Verify {
    pub log_id: u64,
    pub trusted_end: u64,
    /// Partitions no other replica has answered for yet.
    waiting: BTreeSet<u32>,
    /// The largest position a peer named, and which peer (for the node's log).
    pub stale: Option<(NodeId, u64)>,
}

/// What an answer decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Waiting,
    /// Every partition had an answer and none named a position past the trusted end.
    Trusted,
    /// A peer recorded a position past the trusted end.
    Stale,
}

impl Verify {
    pub fn new(me: NodeId, ring: &Ring, config: &Config, log_id: u64, trusted_end: u64) -> Self {
        let n = config.replicas_max();
        let waiting = (0..PARTITIONS)
            .filter(|p| {
                let replicas = ring.partition_replicas(*p, n);
                replicas.contains(&me) && replicas.len() > 1
            })
            .collect();
        Verify {
            log_id,
            trusted_end,
            waiting,
            stale: None,
        }
    }

    /// True if no partition waits for an answer (a node with no peer to ask).
    pub fn is_trusted(&self) -> bool {
        self.waiting.is_empty() && self.stale.is_none()
    }

    /// The peers that would cover a partition still waited for.
    pub fn peers_to_ask(&self, me: NodeId, ring: &Ring, config: &Config) -> Vec<NodeId> {
        let n = config.replicas_max();
        let mut peers = BTreeSet::new();
        for p in &self.waiting {
            peers.extend(
                ring.partition_replicas(*p, n)
                    .into_iter()
                    .filter(|x| *x != me),
            );
        }
        peers.into_iter().collect()
    }

    /// `from` recorded `position` for this node's log `log_id`, and knows a later log of this
    /// node, or none of this one beside another, if `superseded`.
    pub fn answer(
        &mut self,
        from: NodeId,
        (log_id, position, superseded): (u64, u64, bool),
        ring: &Ring,
        config: &Config,
    ) -> Verdict {
        if log_id != self.log_id {
            return Verdict::Waiting; // Meant for another log of this node.
        }
        if superseded || position > self.trusted_end {
            self.stale = Some((from, position));
            return Verdict::Stale;
        }
        let n = config.replicas_max();
        self.waiting
            .retain(|p| !ring.partition_replicas(*p, n).contains(&from));
        if self.waiting.is_empty() {
            Verdict::Trusted
        } else {
            Verdict::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(count: u32) -> (Config, Ring) {
        let nodes: Vec<NodeId> = (1..=count).map(NodeId).collect();
        (Config::new(nodes.clone()), Ring::new(&nodes))
    }

    #[test]
    fn in_three_nodes_one_peer_answering_is_enough() {
        let (config, ring) = nodes(3);
        let mut verify = Verify::new(NodeId(1), &ring, &config, 9, 500);
        assert_eq!(
            verify.peers_to_ask(NodeId(1), &ring, &config),
            vec![NodeId(2), NodeId(3)]
        );
        assert_eq!(
            verify.answer(NodeId(3), (8, 900, false), &ring, &config),
            Verdict::Waiting
        );
        assert_eq!(
            verify.answer(NodeId(3), (9, 500, false), &ring, &config),
            Verdict::Trusted
        );
    }

    #[test]
    fn a_position_past_the_trusted_end_is_stale() {
        let (config, ring) = nodes(3);
        let mut verify = Verify::new(NodeId(1), &ring, &config, 9, 500);
        assert_eq!(
            verify.answer(NodeId(2), (9, 501, false), &ring, &config),
            Verdict::Stale
        );
        assert_eq!(verify.stale, Some((NodeId(2), 501)));
    }

    #[test]
    fn a_superseded_log_is_stale_whatever_its_position() {
        let (config, ring) = nodes(3);
        let mut verify = Verify::new(NodeId(1), &ring, &config, 9, 500);
        let verdict = verify.answer(NodeId(2), (9, 0, true), &ring, &config);
        assert_eq!(verdict, Verdict::Stale);
    }

    #[test]
    fn past_the_largest_n_every_partition_needs_an_answer() {
        // Nine nodes: a key's largest N is 7, so a peer covers only the partitions it shares.
        let (config, ring) = nodes(9);
        let mut verify = Verify::new(NodeId(1), &ring, &config, 9, 500);
        let peers = verify.peers_to_ask(NodeId(1), &ring, &config);
        assert_eq!(peers.len(), 8);
        let verdict = verify.answer(peers[0], (9, 0, false), &ring, &config);
        assert_eq!(
            verdict,
            Verdict::Waiting,
            "one peer shares only some partitions"
        );
        let left = verify.peers_to_ask(NodeId(1), &ring, &config);
        assert!(!left.contains(&peers[0]));
        let mut verdict = Verdict::Waiting;
        for peer in left {
            verdict = verify.answer(peer, (9, 0, false), &ring, &config);
        }
        assert_eq!(verdict, Verdict::Trusted);
    }
}
