//! Liveness: when each peer was last heard from, whether it counts as alive, and the
//! heartbeats that tell peers this node is. The future home of gossip and phi-accrual
//! failure detection. It never decides about keys or requests.

use crate::ids::NodeId;
use crate::message::Message;
use crate::node::Config;
use crate::outbox::Outbox;
use crate::time::Time;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Liveness {
    last_heard: BTreeMap<NodeId, Time>,
    /// When this node first handled an input: silence is counted from then.
    started: Option<Time>,
}

impl Liveness {
    /// Records the first input; true the first time.
    pub fn start(&mut self, now: Time) -> bool {
        if self.started.is_some() {
            return false;
        }
        self.started = Some(now);
        true
    }

    /// Any message from a peer counts as a sign of life.
    pub fn heard(&mut self, from: NodeId, now: Time) {
        self.last_heard.insert(from, now);
    }

    /// A peer is alive until `failure_timeout` passes without a word from it (counted from
    /// this node's start if it never spoke). This node is always alive to itself.
    pub fn is_alive(&self, me: NodeId, node: NodeId, now: Time, config: &Config) -> bool {
        if node == me {
            return true;
        }
        let heard = self
            .last_heard
            .get(&node)
            .copied()
            .or(self.started)
            .unwrap_or(now);
        now < (heard + config.failure_timeout)
    }

    /// Sends a heartbeat to every peer.
    pub fn heartbeat(me: NodeId, config: &Config, outbox: &mut Outbox) {
        for peer in &config.nodes {
            if *peer != me {
                outbox.send(*peer, Message::Heartbeat);
            }
        }
    }
}
