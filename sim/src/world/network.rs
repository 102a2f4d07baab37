//! The virtual network: latency, loss, duplication, partitions and blocked links.
//!
//! Owns how a message travels: every message goes through the real codec, may be lost,
//! duplicated or blocked by a partition, and arrives after a drawn latency (which is what
//! reorders messages). Partitions come and heal here. It never reads or changes a message's
//! content, and never decides where a message goes: core names the destination.

use super::{Event, Phase, World};
use crate::checker::Violation;
use tern_core::Span;
use tern_core::{Input, Message, NodeId};

impl World {
    pub(super) fn latency(&mut self) -> u64 {
        let net = &self.scenario.network;
        if self.net_rng.chance(net.tail_probability) {
            self.net_rng.range(net.tail_latency_us)
        } else {
            self.net_rng.range(net.latency_us)
        }
    }

    pub(super) fn send(&mut self, from: NodeId, to: NodeId, message: &Message) {
        self.faults.messages_sent += 1;
        match message {
            Message::Replicate { key, object, .. } => self.dots.observe(key, object),
            // A bulk write's versions, kept aside by each replica, then committed.
            Message::Prepare { items, .. } | Message::Commit { items, .. } => {
                for item in items {
                    self.dots.observe(&item.key, &item.object);
                }
            }
            Message::EntropyPush { objects } => {
                for o in objects {
                    self.dots.observe(&o.key, &o.object);
                }
            }
            _ => {}
        }
        if self.blocked.contains(&(from, to)) {
            self.faults.messages_blocked += 1;
            return;
        }
        if self.net_rng.chance(self.scenario.network.loss) {
            self.faults.messages_lost += 1;
            return;
        }
        let copies = if self.net_rng.chance(self.scenario.network.duplicate) {
            self.faults.messages_duplicated += 1;
            2
        } else {
            1
        };
        let mut bytes = message.encode();
        let to = self.index_of(to);
        // Each copy draws its latency in turn; the last takes the bytes themselves.
        for copy in 1..=copies {
            let latency = self.latency();
            let bytes = if copy == copies {
                std::mem::take(&mut bytes)
            } else {
                bytes.clone()
            };
            self.after(latency, Event::Deliver { from, to, bytes });
        }
    }

    /// A message arrives at node `to`: decoded, as the production driver does, and handed
    /// to the node if it is up.
    pub(super) fn deliver(&mut self, from: NodeId, to: usize, bytes: Vec<u8>) {
        self.hash.u64(u64::from(from.0) << 32 | to as u64);
        self.hash.bytes(&bytes);
        if self.procs[to].node.is_none() {
            self.faults.messages_to_down_nodes += 1;
            return;
        }
        match Message::decode(&bytes) {
            Ok(message) => self.handle(to, Input::Peer { from, message }),
            Err(e) => self.violations.push(Violation {
                checker: "codec",
                detail: format!("a message from {from} failed to decode: {e}"),
            }),
        }
    }

    pub(super) fn index_of(&self, id: NodeId) -> usize {
        self.procs
            .iter()
            .position(|p| p.id == id)
            .expect("core only sends to members")
    }

    pub(super) fn start_partition(&mut self) {
        if self.phase != Phase::Fault {
            return;
        }
        let ids: Vec<NodeId> = self.procs.iter().map(|p| p.id).collect();
        self.blocked.clear();
        match self.fault_rng.index(3) {
            0 => {
                // Symmetric: a random non-trivial split.
                self.faults.partitions_symmetric += 1;
                let mut side: Vec<bool> = ids.iter().map(|_| self.fault_rng.chance(0.5)).collect();
                let first = self.fault_rng.index(ids.len());
                side[first] = true;
                let other = (first + 1 + self.fault_rng.index(ids.len() - 1)) % ids.len();
                side[other] = false;
                for (a, sa) in ids.iter().zip(&side) {
                    for (b, sb) in ids.iter().zip(&side) {
                        if sa != sb {
                            self.blocked.insert((*a, *b));
                        }
                    }
                }
            }
            1 => {
                // Asymmetric: one direction between two nodes.
                self.faults.partitions_asymmetric += 1;
                let a = self.fault_rng.index(ids.len());
                let b = (a + 1 + self.fault_rng.index(ids.len() - 1)) % ids.len();
                self.blocked.insert((ids[a], ids[b]));
            }
            _ => {
                // One node isolated from every other.
                self.faults.partitions_isolate += 1;
                let a = ids[self.fault_rng.index(ids.len())];
                for b in &ids {
                    if *b != a {
                        self.blocked.insert((a, *b));
                        self.blocked.insert((*b, a));
                    }
                }
            }
        }
        self.partition_generation += 1;
        let generation = self.partition_generation;
        let faults = self.scenario.faults.clone();
        let duration =
            Span::from_millis(self.fault_rng.range(faults.partition_duration_ms)).micros();
        self.after(duration, Event::PartitionHeal { generation });
        let gap = Span::from_millis(self.fault_rng.range(faults.partition_interval_ms)).micros();
        self.after(duration + gap, Event::PartitionStart);
    }

    /// Heals the partition of `generation`, unless a newer one has replaced it.
    pub(super) fn heal_partition(&mut self, generation: u64) {
        if generation == self.partition_generation {
            self.blocked.clear();
        }
    }
}
