//! A restarted log's verification (`verify`) and a new log's registration (`positions`):
//! the node's side of `PositionAsk` and `PositionReply`, and setting a stale log aside.

use super::{Node, Output};
use crate::ids::{LogRef, NodeId};
use crate::log::{Record, Recovered};
use crate::message::Message;
use crate::outbox::Outbox;
use crate::positions::LogKnown;
use crate::rebuild::RebuildReason;
use crate::verify::Verdict;
use rand_core::RngCore;
use std::collections::BTreeSet;

impl Node {
    /// Once its Boot record is durable (nothing is in flight then): asks the peers still
    /// waited for whether this node's log is an older copy (`verify`); once it is trusted,
    /// registers it with the peers that have not confirmed it yet (`positions`). A log
    /// registers only once trusted: a peer that knew no log of this node would otherwise
    /// learn of an older copy from the copy itself, and vouch for it when asked again. And
    /// only under a durable name: a peer that recorded a name this node could restart
    /// without would find the log superseded by itself.
    pub(super) fn ask_positions(&mut self) {
        if !self.journal.booted() || (self.verify.is_none() && !self.journal.named()) {
            return;
        }
        let log = self.journal.log();
        let (asks, register) = match (&self.verify, &self.registering) {
            (Some(verify), _) => (verify.peers_to_ask(&self.ring, &self.config), false),
            (None, Some(peers)) => (peers.iter().copied().collect(), true),
            (None, None) => return,
        };
        for peer in asks {
            self.outbox
                .send(peer, Message::PositionAsk { log, register });
        }
    }

    /// A peer asks what this node knows of its log `log` (and registers it, if `register`).
    pub(super) fn position_ask(&mut self, from: NodeId, log: LogRef, register: bool) {
        // The answer is what this node knew before any registration: a log registering
        // itself says nothing of where it stands among its node's logs.
        let mut known = self.positions.of(from, log);
        let mut durable_at = 0;
        if register {
            let changed = self.positions.record(&[(from, log, 0)]);
            if !changed.is_empty() {
                let record = Record::Positions { entries: changed };
                self.journal.append_positions(&record);
            }
            durable_at = self.journal.end();
        }
        // A table on a log not yet verified may be an older copy's: it can condemn (what it
        // recorded did happen) but not vouch (it may miss a later log of the asker).
        known.unordered |= self.verify.is_some();
        let reply = Message::PositionReply {
            log,
            registered: register,
            position: known.position,
            superseded: known.superseded,
            unordered: known.unordered,
        };
        let outbox = &mut self.outbox;
        self.journal
            .send_when_durable(durable_at, from, reply, outbox);
    }

    /// A peer's answer to `PositionAsk`.
    pub(super) fn position_reply(
        &mut self,
        from: NodeId,
        log: LogRef,
        registered: bool,
        known: LogKnown,
    ) {
        if let Some(peers) = self.registering.as_mut() {
            if registered && log == self.journal.log() {
                peers.remove(&from);
            }
            if peers.is_empty() {
                self.registering = None;
            }
        }
        let Some(verify) = self.verify.as_mut() else {
            return;
        };
        if verify.stale.is_some() {
            return;
        }
        match verify.answer(from, log, known, &self.ring, &self.config) {
            Verdict::Waiting | Verdict::Stale => {}
            Verdict::Trusted => {
                self.verify = None;
                self.stats.logs_verified += 1;
                // Trusted, the log is this node's newest from now on: named as started now,
                // and registered so, a later restart on it is not found superseded by a log
                // that died before this copy was trusted (a copy taken before now is).
                self.journal.restart_log(self.now.micros());
                let peers = self.config.nodes.iter().filter(|n| **n != self.id);
                let peers: BTreeSet<NodeId> = peers.copied().collect();
                self.registering = (!peers.is_empty()).then_some(peers);
                self.entropy_at(self.now);
            }
        }
    }

    /// The log is an older copy than one that agreed to a tombstone collection (`verify`):
    /// it may hold versions whose tombstones every replica has forgotten. The driver sets
    /// every segment aside (`Output::SetAsideLog`), keeping its bytes for inspection, and
    /// the node starts again on an empty log, with a new log id and incarnation,
    /// rebuilding. It took nothing while verifying, so nothing is lost with the log that
    /// was not already lost with the copy.
    pub(super) fn set_aside_stale(&mut self) {
        let seed = self.rng.next_u64();
        let fresh = Node::new(
            self.config.clone(),
            self.id,
            seed,
            self.now,
            Recovered::empty(),
        );
        let mut fresh = fresh.expect("the configuration was valid when this node started");
        if let Some(rebuild) = fresh.rebuild.as_mut() {
            rebuild.reason = RebuildReason::Stale;
        }
        fresh.stats = std::mem::take(&mut self.stats);
        fresh.stats.stale_logs_set_aside += 1;
        fresh.stats.rebuilds_started += 1;
        fresh.collected = self.collected.take();
        fresh.now = self.now;
        let mut outbox = std::mem::replace(&mut self.outbox, Outbox::new(self.id));
        outbox.clear_loopback();
        outbox.push(Output::SetAsideLog);
        *self = fresh;
        while let Some(output) = self.outbox.pop() {
            outbox.push(output);
        }
        self.outbox = outbox;
        self.begin();
    }
}
