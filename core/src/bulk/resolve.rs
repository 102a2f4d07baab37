//! Resolution: a bulk write whose version this replica has kept aside too long is decided
//! by asking every replica of every key of it (see the module above for the rule and why
//! its two outcomes exclude each other).

use super::{timeout_max, Bulk, Clock};
use crate::coordinator::Ctx;
use crate::ids::{NodeId, RequestId};
use crate::limits::{BULK_REFUSALS_KEEP_TIMEOUTS, BULK_RESOLUTIONS_MAX};
use crate::message::{BulkStage, Message};
use crate::time::Span;
use crate::version::Dot;
use std::collections::BTreeMap;

#[derive(Debug)]
pub(super) struct Resolution {
    dot: Dot,
    /// The key this replica keeps the version of.
    key: Vec<u8>,
    n: usize,
    w: usize,
    items: Vec<Item>,
    clock: Clock,
}

#[derive(Debug)]
struct Item {
    part: RequestId,
    key: Vec<u8>,
    replicas: Vec<NodeId>,
    answers: BTreeMap<NodeId, BulkStage>,
}

/// What a resolution's answers so far decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Commit,
    Refuse,
    Undecided,
}

impl Resolution {
    fn outcome(&self) -> Outcome {
        let count = |i: &Item, s: BulkStage| i.answers.values().filter(|a| **a == s).count();
        let committed = self
            .items
            .iter()
            .any(|i| count(i, BulkStage::Committed) > 0);
        let held = |i: &Item| count(i, BulkStage::Prepared) + count(i, BulkStage::Committed);
        if committed || self.items.iter().all(|i| held(i) >= self.w) {
            return Outcome::Commit;
        }
        let everyone = self
            .items
            .iter()
            .all(|i| i.replicas.iter().all(|n| i.answers.contains_key(n)));
        let refused = |i: &Item| count(i, BulkStage::Refused);
        if everyone && self.items.iter().any(|i| refused(i) > self.n - self.w) {
            return Outcome::Refuse;
        }
        Outcome::Undecided
    }

    fn ask(item: &Item, dot: Dot) -> Message {
        Message::BulkAsk {
            req: item.part,
            key: item.key.clone(),
            dot,
        }
    }
}

impl Bulk {
    /// Starts a resolution for every version kept aside past its window (as many as
    /// `BULK_RESOLUTIONS_MAX` allows), and forgets refusals past theirs.
    pub fn resolve_round(&mut self, ctx: &mut Ctx<'_>) {
        let longest = timeout_max(ctx.config).micros();
        let after = Span::from_micros(longest.saturating_mul(2));
        let kept = Span::from_micros(longest.saturating_mul(BULK_REFUSALS_KEEP_TIMEOUTS));
        let room = BULK_RESOLUTIONS_MAX.saturating_sub(self.resolutions.len());
        let ripe = self.aside.ripe(ctx.store, ctx.now, after, kept, room);
        // `ripe` forgot the versions committed since: the gauge counts what is left.
        ctx.stats.bulk_kept_aside = self.aside.len() as u64;
        for (key, dot, kept) in ripe {
            let Some(keys) = super::aside::bulk_keys(&kept.object, dot).cloned() else {
                continue;
            };
            let owner = self.new_id(ctx);
            let (n, w) = (usize::from(kept.n), usize::from(kept.w));
            let mut items = Vec::new();
            for other in keys.iter() {
                let part = self.new_id(ctx);
                self.parts.insert(part, (owner, items.len()));
                items.push(Item {
                    part,
                    key: other.clone(),
                    replicas: ctx.ring.preference(other, n),
                    answers: BTreeMap::new(),
                });
            }
            for item in &items {
                for node in &item.replicas {
                    Bulk::send(ctx, *node, Resolution::ask(item, dot), false);
                }
            }
            let resolution = Resolution {
                dot,
                key,
                n,
                w,
                items,
                clock: Clock::new(ctx, ctx.config.request_timeout),
            };
            self.insert_wake(owner, resolution.clock);
            self.resolutions.insert(owner, resolution);
        }
    }

    /// One replica's answer for one key. Once the answers decide, the decision goes to
    /// every replica of every key.
    pub fn handle_state(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        state: BulkStage,
    ) {
        let Some(&(owner, index)) = self.parts.get(&req) else {
            return;
        };
        let Some(resolution) = self.resolutions.get_mut(&owner) else {
            return;
        };
        let Some(item) = resolution.items.get_mut(index).filter(|i| i.part == req) else {
            return;
        };
        if !item.replicas.contains(&from) {
            return;
        }
        item.answers.insert(from, state);
        let commit = match resolution.outcome() {
            Outcome::Undecided => return,
            Outcome::Commit => true,
            Outcome::Refuse => false,
        };
        if commit {
            ctx.stats.bulk_resolved_committed += 1;
        } else {
            ctx.stats.bulk_resolved_refused += 1;
        }
        let dot = resolution.dot;
        for item in &resolution.items {
            for node in &item.replicas {
                let key = item.key.clone();
                let decided = Message::BulkDecided { key, dot, commit };
                Bulk::send(ctx, *node, decided, false);
            }
        }
        self.end_resolution(owner);
    }

    /// A resolution's deadline (undecided: the version may be resolved again) or its
    /// resend to the replicas that have not answered.
    pub(super) fn resolution_timer(&mut self, ctx: &mut Ctx<'_>, owner: RequestId) {
        let Some(resolution) = self.resolutions.get_mut(&owner) else {
            return;
        };
        if ctx.now >= resolution.clock.deadline {
            let (key, dot) = (resolution.key.clone(), resolution.dot);
            self.aside.unresolved(&key, dot);
            return self.end_resolution(owner);
        }
        resolution.clock.next_resend = ctx.now + ctx.config.resend_interval;
        for item in &resolution.items {
            for node in item
                .replicas
                .iter()
                .filter(|n| !item.answers.contains_key(n))
            {
                Bulk::send(ctx, *node, Resolution::ask(item, resolution.dot), true);
            }
        }
        let clock = resolution.clock;
        self.insert_wake(owner, clock);
    }

    fn end_resolution(&mut self, owner: RequestId) {
        let Some(resolution) = self.resolutions.remove(&owner) else {
            return;
        };
        self.remove_wake(owner, resolution.clock);
        self.forget_parts(resolution.items.iter().map(|i| i.part));
    }
}
