//! Liveness: gossip of heartbeats, and which peers count as alive (phi-accrual failure
//! detection). It never decides about keys or requests.
//!
//! Every `heartbeat_interval` a node ticks its own heartbeat and sends its whole view (for
//! every member: the generation, when that incarnation started, and its heartbeat count) to
//! one peer picked at random from the node's seeded RNG, which answers with its own view
//! (push and pull). A heartbeat newer than the one known (a later generation, or the same
//! generation and a higher count) is news of that member, from whoever relayed it: it is an
//! arrival for the member's detector (`phi`). A member is alive to this node until its
//! detector's phi reaches `phi_threshold`; silence is counted from this node's start for a
//! member never heard of. Other messages are not counted: a burst of traffic would otherwise
//! teach the detector to expect messages every millisecond.

mod phi;

use crate::ids::NodeId;
use crate::message::{Heartbeat, Message};
use crate::node::Config;
use crate::outbox::Outbox;
use crate::time::{Span, Time};
use phi::{threshold_deviations, Arrivals};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use std::collections::BTreeMap;

/// What this node knows of one member.
#[derive(Clone, Debug)]
struct Member {
    generation: u64,
    beat: u64,
    arrivals: Arrivals,
}

#[derive(Debug, Default)]
pub(crate) struct Liveness {
    /// When this node first handled an input: its generation, and where silence of members
    /// never heard of is counted from.
    started: Option<Time>,
    /// This node's own heartbeat count.
    beat: u64,
    members: BTreeMap<NodeId, Member>,
    /// y* of the configured threshold (see `phi`), computed once.
    deviations: f64,
}

/// How a member looks to this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerView {
    pub node: NodeId,
    pub alive: bool,
    /// When it is (or was) suspected, unless a heartbeat of it arrives first.
    pub suspected_at: Time,
    /// The generation and heartbeat count of the newest heartbeat of it known here.
    pub generation: u64,
    pub beat: u64,
}

impl Liveness {
    /// Records the first input; true the first time.
    pub fn start(&mut self, now: Time, config: &Config) -> bool {
        if self.started.is_some() {
            return false;
        }
        self.started = Some(now);
        self.deviations = threshold_deviations(f64::from(config.phi_threshold));
        true
    }

    fn expected(config: &Config) -> Span {
        // A member's news reaches a node about once a round, from it or through others:
        // assume two rounds until the intervals are known.
        Span(config.heartbeat_interval.micros() * 2)
    }

    /// A gossip round: tick this node's heartbeat and send the view to one random peer.
    pub fn round(
        &mut self,
        me: NodeId,
        config: &Config,
        rng: &mut ChaCha8Rng,
        outbox: &mut Outbox,
    ) {
        self.beat += 1;
        let peers: Vec<NodeId> = config.nodes.iter().copied().filter(|n| *n != me).collect();
        if peers.is_empty() {
            return;
        }
        let peer = peers[(rng.next_u64() % peers.len() as u64) as usize];
        let view = self.view(me);
        outbox.send(peer, Message::Gossip { view, reply: false });
    }

    /// This node's view, its own heartbeat included.
    fn view(&self, me: NodeId) -> Vec<Heartbeat> {
        let own = Heartbeat {
            node: me,
            generation: self.started.map_or(0, Time::micros),
            beat: self.beat,
        };
        let others = self.members.iter().map(|(node, m)| Heartbeat {
            node: *node,
            generation: m.generation,
            beat: m.beat,
        });
        std::iter::once(own).chain(others).collect()
    }

    /// A peer's view: news of members becomes arrivals; a push is answered with this node's
    /// view. Entries about non-members or this node are ignored.
    #[allow(clippy::too_many_arguments)]
    pub fn gossip(
        &mut self,
        me: NodeId,
        from: NodeId,
        view: Vec<Heartbeat>,
        reply: bool,
        now: Time,
        config: &Config,
        outbox: &mut Outbox,
    ) {
        let expected = Liveness::expected(config);
        for heartbeat in view {
            if heartbeat.node == me || !config.nodes.contains(&heartbeat.node) {
                continue;
            }
            match self.members.get_mut(&heartbeat.node) {
                Some(m) if (heartbeat.generation, heartbeat.beat) <= (m.generation, m.beat) => {}
                Some(m) if heartbeat.generation == m.generation => {
                    m.beat = heartbeat.beat;
                    m.arrivals.arrived(now);
                }
                // A new member, or a new incarnation of one: its detector starts afresh.
                _ => {
                    let member = Member {
                        generation: heartbeat.generation,
                        beat: heartbeat.beat,
                        arrivals: Arrivals::new(now, expected),
                    };
                    self.members.insert(heartbeat.node, member);
                }
            }
        }
        if !reply {
            let view = self.view(me);
            outbox.send(from, Message::Gossip { view, reply: true });
        }
    }

    /// When `node` is suspected if no news of it arrives first (`None` before this node
    /// started). A member never heard of is counted from this node's start.
    fn suspected_at(&self, node: NodeId, config: &Config) -> Option<Time> {
        let (y, min) = (self.deviations, config.phi_min_deviation);
        match self.members.get(&node) {
            Some(m) => Some(m.arrivals.suspected_at(y, min)),
            None => {
                let never_heard = Arrivals::new(self.started?, Liveness::expected(config));
                Some(never_heard.suspected_at(y, min))
            }
        }
    }

    /// The generation of the newest heartbeat of `node` known here (`None`: never heard of).
    pub fn generation(&self, node: NodeId) -> Option<u64> {
        self.members.get(&node).map(|m| m.generation)
    }

    /// The phi of `node` now: how unlikely its silence is (`None`: never heard of). For
    /// status reports; whether it is alive is `is_alive`'s answer.
    pub fn phi(&self, node: NodeId, now: Time, config: &Config) -> Option<f64> {
        let member = self.members.get(&node)?;
        Some(member.arrivals.phi(now, config.phi_min_deviation))
    }

    /// A member is alive until its phi reaches the threshold. This node is always alive to
    /// itself, and every member is before this node starts.
    pub fn is_alive(&self, me: NodeId, node: NodeId, now: Time, config: &Config) -> bool {
        node == me || self.suspected_at(node, config).is_none_or(|at| now < at)
    }

    /// How every other member looks to this node at `now`.
    pub fn peers(&self, me: NodeId, now: Time, config: &Config) -> Vec<PeerView> {
        let others = config.nodes.iter().copied().filter(|n| *n != me);
        others
            .map(|node| {
                let suspected_at = self.suspected_at(node, config).unwrap_or(now);
                let member = self.members.get(&node);
                PeerView {
                    node,
                    alive: now < suspected_at,
                    suspected_at,
                    generation: member.map_or(0, |m| m.generation),
                    beat: member.map_or(0, |m| m.beat),
                }
            })
            .collect()
    }
}
