//! Messages from peers: each goes to the part that owns it (liveness, anti-entropy,
//! collection, handoff, the replica handlers, the coordinator).

use super::{Mode, Node};
use crate::collect::Collect;
use crate::coordinator::{Ctx, Round, SearchReply};
use crate::ids::NodeId;
use crate::message::{KeyObject, Message, RequestError};
use crate::positions::LogKnown;
use crate::rebuild::Standing;
use crate::replica::{Gather, Replica};
use crate::timer::Timer;

impl Node {
    pub(super) fn handle_peer(&mut self, from: NodeId, message: Message) {
        if from != self.id && !self.config.is_peer(self.id, from) {
            return; // Not a member: ignore, as the driver should have.
        }
        let message = match message {
            Message::PositionAsk { log, register } => {
                return self.position_ask(from, log, register)
            }
            Message::PositionReply {
                log,
                registered,
                position,
                superseded,
                unordered,
            } => {
                let known = LogKnown {
                    position,
                    superseded,
                    unordered,
                };
                return self.position_reply(from, log, registered, known);
            }
            // A log not yet verified lets nothing out, and takes nothing in (`verify`).
            Message::Gossip { .. } => message,
            _ if self.verify.is_some() => return,
            other => other,
        };
        let message = match message {
            Message::Gossip { view, reply } => {
                let (me, now, config) = (self.id, self.now, &self.config);
                let liveness = &mut self.liveness;
                // A member's new incarnation (or one first heard of, as after this node
                // started) may have missed writes: compare with it at once.
                let news: Vec<NodeId> = view
                    .iter()
                    .filter(|h| config.is_peer(me, h.node))
                    .filter(|h| liveness.generation(h.node) < Some(h.generation))
                    .map(|h| h.node)
                    .collect();
                liveness.gossip(me, from, view, reply, now, config, &mut self.outbox);
                for node in news {
                    self.rounds.restarted(node);
                    self.entropy_at(now);
                }
                return;
            }
            Message::Entropy { digests } => {
                let equal = self.entropy().digests(from, digests);
                self.settle_hints(from, &equal);
                return;
            }
            Message::EntropyRebuild {
                incarnation,
                digests,
            } => {
                let digests = self.entropy().digests(from, digests);
                self.settle_hints(from, &digests);
                if !digests.is_empty() {
                    let answer = Message::EntropyEqual {
                        incarnation,
                        digests,
                    };
                    self.outbox.send(from, answer);
                }
                return;
            }
            Message::EntropyEqual {
                incarnation,
                digests,
            } => {
                if let Some(next) = self.entropy().equal(from, incarnation, digests) {
                    self.entropy_at(next);
                }
                return self.check_rebuilt();
            }
            Message::EntropyKeys { partition, keys } => {
                if let Some(next) = self.entropy().keys(from, partition, keys) {
                    self.timers.set(Timer::AntiEntropy, next);
                }
                return;
            }
            Message::EntropyPush { .. } => {
                let due = self.timers.get(Timer::AntiEntropy);
                if let Some(next) = self.entropy().copies_from(from, due) {
                    self.timers.set(Timer::AntiEntropy, next);
                }
                message
            }
            Message::EntropyPull { keys } => return self.entropy().pull(from, keys),
            // A rebuilding node may miss tombstones its replicas hold: it agrees to nothing.
            Message::CollectAsk { .. } if self.rebuild.is_some() => return,
            Message::CollectAsk { keys } => return collect!(self).ask(from, keys),
            Message::CollectReply {
                keys,
                log,
                position,
            } => {
                let collector = &mut self.collector;
                return collect!(self).reply(collector, from, keys, log, position);
            }
            Message::CollectRecord { keys, positions } => {
                return collect!(self).record(from, keys, positions)
            }
            Message::CollectRecorded { keys } => {
                let collector = &mut self.collector;
                return collect!(self).recorded(collector, from, keys);
            }
            Message::Collect { keys } => return collect!(self).collect(keys),
            Message::ReplicateAck { req }
                if self
                    .handoff
                    .acked(from, req, &mut self.journal, &mut self.stats) =>
            {
                return
            }
            other => match self.handle_bulk_peer(from, other) {
                Some(other) => other,
                None => return,
            },
        };
        let standing = match self.rebuild {
            Some(_) => Standing::Rebuilding,
            None => Standing::Whole,
        };
        // A rebuilding replica's copy may miss acknowledged writes: it answers no search,
        // since a search takes what it is not given as absent.
        if let (
            Standing::Rebuilding,
            Message::LocalSearch { req, .. }
            | Message::Gather { req, .. }
            | Message::Fetch { req, .. },
        ) = (standing, &message)
        {
            let req = *req;
            self.outbox.send(from, Message::SearchRebuilding { req });
            return;
        }
        let mut replica = Replica {
            store: &mut self.store,
            journal: &mut self.journal,
            outbox: &mut self.outbox,
            stats: &mut self.stats,
        };
        match message {
            Message::Gossip { .. }
            | Message::Entropy { .. }
            | Message::EntropyRebuild { .. }
            | Message::EntropyEqual { .. }
            | Message::EntropyKeys { .. }
            | Message::EntropyPull { .. }
            | Message::CollectAsk { .. }
            | Message::CollectReply { .. }
            | Message::CollectRecord { .. }
            | Message::CollectRecorded { .. }
            | Message::PositionAsk { .. }
            | Message::PositionReply { .. }
            | Message::Collect { .. } => unreachable!("handled before the replica"),
            Message::Replicate { req, key, object } => {
                let reserved = self.bulk.aside.reserved(&key, |dot| object.has_seen(dot));
                replica.replicate(from, req, (key, object), reserved)
            }
            Message::EntropyPush { objects } => {
                for KeyObject { key, object } in objects {
                    let reserved = self.bulk.aside.reserved(&key, |dot| object.has_seen(dot));
                    replica.merge(key, object, reserved);
                }
            }
            Message::Read { req, key } => replica.read(from, req, key, standing),
            Message::ReplicateAck { req } => {
                let mut ctx = ctx!(self);
                self.coordinator.handle_replicate_ack(&mut ctx, from, req)
            }
            Message::ReadReply { req, object } => {
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_read_reply(&mut ctx, from, req, object, Standing::Whole)
            }
            Message::ReadReplyRebuilding { req, object } => {
                let mut ctx = ctx!(self);
                let standing = Standing::Rebuilding;
                self.coordinator
                    .handle_read_reply(&mut ctx, from, req, object, standing)
            }
            Message::Forward { req, .. } if self.mode == Mode::Draining => {
                let result = Err(RequestError::ShuttingDown);
                self.outbox
                    .send(from, Message::ForwardReply { req, result });
            }
            Message::Forward { req, request } => {
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_forward(&mut ctx, from, req, request)
            }
            Message::ForwardReply { req, result } => {
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_forward_reply(&mut ctx, from, req, result)
            }
            Message::Gather {
                req,
                partitions,
                stats_for,
                terms,
                vectors,
            } => {
                let ask = Gather {
                    partitions,
                    stats_for,
                    terms,
                    vectors,
                };
                replica.gather(from, req, ask)
            }
            Message::Fetch {
                req,
                keys,
                stats_for,
                terms,
            } => {
                let keys = keys.into_iter().map(|k| k.into_vec()).collect();
                replica.fetch(from, req, keys, &stats_for, &terms)
            }
            Message::LocalSearch { req, op } => replica.local_search(from, req, op),
            Message::Prepare { .. }
            | Message::Prepared { .. }
            | Message::BulkAsk { .. }
            | Message::BulkState { .. }
            | Message::BulkDecided { .. }
            | Message::BulkFetch { .. }
            | Message::BulkFetched { .. }
            | Message::Commit { .. }
            | Message::CommitKept { .. } => unreachable!("handled by the bulk part"),
            Message::SearchRebuilding { req } => {
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_search_rebuilding(&mut ctx, from, req)
            }
            Message::LocalSearched {
                req,
                digests,
                answer,
            } => {
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_local_reply(&mut ctx, from, req, digests, answer)
            }
            Message::Gathered {
                req,
                complete,
                objects,
                stats,
            } => {
                let reply = SearchReply {
                    round: Round::Gathering,
                    complete,
                    objects,
                    stats,
                };
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_search_reply(&mut ctx, from, req, reply)
            }
            Message::Fetched {
                req,
                complete,
                objects,
                stats,
            } => {
                // Round 3 asks for statistics only, round 2 for copies only: the shape of
                // the answer tells a late answer of one from the other.
                let round = if stats.is_empty() {
                    Round::Fetching
                } else {
                    Round::Stats
                };
                let reply = SearchReply {
                    round,
                    complete,
                    objects,
                    stats,
                };
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_search_reply(&mut ctx, from, req, reply)
            }
        }
    }

    /// `from`'s digests of these partitions were equal to this node's: its hints there are
    /// done (`Handoff::settled`).
    fn settle_hints(&mut self, from: NodeId, equal: &[(u32, u64)]) {
        let partitions = equal.iter().map(|(p, _)| *p).collect();
        let (journal, stats) = (&mut self.journal, &mut self.stats);
        self.handoff.settled(from, &partitions, journal, stats);
    }
}
