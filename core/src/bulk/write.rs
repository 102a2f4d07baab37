//! The coordinator of a bulk write: prepare every key's version on W replicas, then commit
//! each as an ordinary replicated write, then answer (see the module above).

use super::{Bulk, Clock};
use crate::coordinator::Ctx;
use crate::ids::{NodeId, RequestId};
use crate::message::{BulkItem, ClientResult, Message, RequestError, Response};
use crate::node::config::Resolved;
use crate::outbox::Origin;
use crate::time::Span;
use crate::version::{ActorId, BulkKeys, Dot, Object, Sibling};
use rand_core::RngCore;
use std::collections::BTreeSet;

#[derive(Debug)]
pub(super) struct Write {
    origin: Origin,
    dot: Dot,
    n: u8,
    w: usize,
    items: Vec<Item>,
    /// Every key's version is kept aside on W replicas: the bulk write is decided.
    committing: bool,
    clock: Clock,
}

#[derive(Debug)]
struct Item {
    part: RequestId,
    key: Vec<u8>,
    replicas: Vec<NodeId>,
    sibling: Sibling,
    /// Replicas that answered the current phase (kept aside, then committed).
    acks: BTreeSet<NodeId>,
}

impl Item {
    fn prepare(&self, n: u8, w: usize) -> Message {
        Message::Prepare {
            req: self.part,
            key: self.key.clone(),
            sibling: self.sibling.clone(),
            n,
            w: w as u8,
        }
    }

    fn commit(&self) -> Message {
        Message::Replicate {
            req: self.part,
            key: self.key.clone(),
            object: Object::single(self.sibling.clone()),
        }
    }
}

impl Bulk {
    /// Mints the bulk write's dot and sends every key's version to its replicas to keep.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        owner: RequestId,
        parts: Vec<RequestId>,
        items: Vec<BulkItem>,
        quorum: Resolved,
        timeout: Span,
    ) {
        ctx.stats.bulk_writes_coordinated += 1;
        // An actor of its own: no other version shares it, so a context that names this
        // dot names exactly this bulk write (module documentation).
        let mut incarnation = ctx.rng.next_u64();
        while incarnation == 0 || incarnation == ctx.actor.incarnation {
            incarnation = ctx.rng.next_u64();
        }
        let dot = Dot {
            actor: ActorId {
                node: ctx.id,
                incarnation,
            },
            seq: 1,
        };
        let mut keys: Vec<Vec<u8>> = items.iter().map(|i| i.key.clone()).collect();
        keys.sort();
        let keys: BulkKeys = keys.into();
        let n = quorum.n as u8;
        let items: Vec<Item> = items
            .into_iter()
            .zip(parts)
            .map(|(item, part)| Item {
                part,
                replicas: ctx.ring.preference(&item.key, quorum.n),
                sibling: Sibling {
                    dot,
                    context: item.context,
                    value: item.value,
                    bulk: Some(keys.clone()),
                },
                key: item.key,
                acks: BTreeSet::new(),
            })
            .collect();
        for item in &items {
            self.parts.insert(item.part, (owner, 0));
            for node in &item.replicas {
                Bulk::send(ctx, *node, item.prepare(n, quorum.w), false);
            }
        }
        let write = Write {
            origin,
            dot,
            n,
            w: quorum.w,
            items,
            committing: false,
            clock: Clock::new(ctx, timeout),
        };
        self.insert_wake(owner, write.clock);
        self.writes.insert(owner, write);
    }

    /// A replica kept (or refused) its key's version. Once W replicas of every key kept
    /// theirs, the bulk write is decided: commit every key.
    pub fn handle_prepared(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: RequestId, ok: bool) {
        let Some(&(owner, _)) = self.parts.get(&req) else {
            return;
        };
        let Some(write) = self.writes.get_mut(&owner) else {
            return;
        };
        if write.committing || !ok {
            return;
        }
        let Some(item) = write.items.iter_mut().find(|i| i.part == req) else {
            return;
        };
        if !item.replicas.contains(&from) {
            return;
        }
        item.acks.insert(from);
        if write.items.iter().any(|i| i.acks.len() < write.w) {
            return;
        }
        write.committing = true;
        for item in &mut write.items {
            item.acks.clear();
            for node in &item.replicas {
                Bulk::send(ctx, *node, item.commit(), false);
            }
        }
    }

    /// A replica has its key's version committed, durably. Once W replicas of every key
    /// have, the client hears `BulkWritten`.
    pub fn handle_commit_ack(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: RequestId) {
        let Some(&(owner, _)) = self.parts.get(&req) else {
            return;
        };
        let Some(write) = self.writes.get_mut(&owner) else {
            return;
        };
        if !write.committing {
            return;
        }
        let Some(item) = write.items.iter_mut().find(|i| i.part == req) else {
            return;
        };
        if !item.replicas.contains(&from) {
            return;
        }
        item.acks.insert(from);
        if write.items.iter().all(|i| i.acks.len() >= write.w) {
            let dot = write.dot;
            self.finish_write(ctx, owner, Ok(Response::BulkWritten { dot }));
        }
    }

    /// A bulk write's deadline (`Indeterminate`: decided or not, it is all or nothing) or
    /// its resend to the replicas that have not answered the current phase.
    pub(super) fn write_timer(&mut self, ctx: &mut Ctx<'_>, owner: RequestId) {
        let Some(write) = self.writes.get_mut(&owner) else {
            return;
        };
        if ctx.now >= write.clock.deadline {
            ctx.stats.indeterminate += 1;
            return self.finish_write(ctx, owner, Err(RequestError::Indeterminate));
        }
        write.clock.next_resend = ctx.now + ctx.config.resend_interval;
        for item in &write.items {
            let message = if write.committing {
                item.commit()
            } else {
                item.prepare(write.n, write.w)
            };
            for node in item.replicas.iter().filter(|n| !item.acks.contains(n)) {
                Bulk::send(ctx, *node, message.clone(), true);
            }
        }
        let clock = write.clock;
        self.insert_wake(owner, clock);
    }

    pub(super) fn finish_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        owner: RequestId,
        result: ClientResult,
    ) {
        let Some(write) = self.writes.remove(&owner) else {
            return;
        };
        self.remove_wake(owner, write.clock);
        self.forget_parts(write.items.iter().map(|i| i.part));
        ctx.outbox.reply(write.origin, result);
    }
}
