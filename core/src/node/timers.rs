//! The node's named timers, each run when due: gossip, anti-entropy, hinted handoff,
//! tombstone collection and bulk resolution, then the parts' own deadlines.

use super::Node;
use crate::collect::Collect;
use crate::coordinator::Ctx;
use crate::handoff;
use crate::ids::NodeId;
use crate::timer::Timer;
use rand_core::RngCore;

impl Node {
    pub(super) fn handle_timers(&mut self) {
        let now = self.now;
        if self.timers.is_due(Timer::Gossip, now) {
            let (config, rng) = (&self.config, &mut self.rng);
            self.liveness.round(self.id, config, rng, &mut self.outbox);
            self.timers
                .set(Timer::Gossip, now + self.config.heartbeat_interval);
            self.ask_positions();
        }
        // Nothing of a log not yet verified goes out (`verify`): the timers run, idle.
        let verified = self.verify.is_none();
        if self.timers.is_due(Timer::AntiEntropy, now) {
            // A rebuild needs its exchanges even where anti-entropy is turned off.
            if verified && (self.config.anti_entropy || self.rebuild.is_some()) {
                let pick = self.rng.next_u64();
                self.entropy().round(pick);
            }
            self.timers
                .set(Timer::AntiEntropy, now + self.config.anti_entropy_interval);
        }
        if self.timers.is_due(Timer::Handoff, now) {
            if verified && self.config.hinted_handoff && self.journal.booted() {
                self.handoff_round();
            }
            self.timers
                .set(Timer::Handoff, now + self.config.handoff_interval);
        }
        let mut resolve = false;
        if self.timers.is_due(Timer::Collect, now) {
            if verified && self.journal.booted() && self.rebuild.is_none() {
                let collector = &mut self.collector;
                collect!(self).round(collector);
            }
            resolve = verified && self.journal.booted();
            self.timers
                .set(Timer::Collect, now + self.config.anti_entropy_interval);
        }
        self.bulk_timers(resolve);
        self.check_rebuilt();
        let mut ctx = ctx!(self);
        self.coordinator.handle_timers(&mut ctx);
    }

    /// Hands hinted keys over to the peers the failure detector holds up.
    fn handoff_round(&mut self) {
        let (me, now, config) = (self.id, self.now, &self.config);
        let up: Vec<NodeId> = config
            .nodes
            .iter()
            .copied()
            .filter(|n| *n != me && self.liveness.is_alive(me, *n, now, config))
            .collect();
        let round = handoff::Round {
            now,
            store: &self.store,
            journal: &mut self.journal,
            outbox: &mut self.outbox,
            stats: &mut self.stats,
        };
        let (coordinator, actor) = (&mut self.coordinator, self.actor);
        let deadline = now + config.request_timeout;
        self.handoff
            .round(round, &up, deadline, || coordinator.new_request_id(actor));
    }
}
