//! The coordinator of a bulk write: prepare every key's version on W replicas, then commit
//! each as an ordinary replicated write, then answer (see the module above).

use super::{Bulk, Clock};
use crate::coordinator::Ctx;
use crate::ids::{NodeId, RequestId};
use crate::limits::{BULK_ACTOR_BYTES_MAX, BULK_ACTOR_KEYS_MAX, OBJECT_WRITE_BYTES_MAX};
use crate::message::{BulkItem, ClientResult, Message, RequestError, Response};
use crate::node::config::Resolved;
use crate::outbox::Origin;
use crate::time::{Span, Time};
use crate::version::{ActorId, BulkKeys, Dot, Object, Sibling};
use rand_core::RngCore;
use std::collections::{BTreeMap, BTreeSet};

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
    /// The bulk write's version of the key, and the versions its actor wrote there before
    /// that it does not replace (`Actor`).
    object: Object,
    /// Replicas that answered the current phase (kept aside, then committed).
    acks: BTreeSet<NodeId>,
}

impl Item {
    fn prepare(&self, dot: Dot, n: u8, w: usize) -> Message {
        Message::Prepare {
            req: self.part,
            key: self.key.clone(),
            dot,
            object: self.object.clone(),
            n,
            w: w as u8,
        }
    }

    fn commit(&self) -> Message {
        Message::Replicate {
            req: self.part,
            key: self.key.clone(),
            object: self.object.clone(),
        }
    }
}

/// The actor of this node's bulk writes.
///
/// A dot's actor says which versions a context covers: an entry `actor: n` covers every dot
/// of that actor up to `n`. That holds for a key only if every copy of the key that holds
/// the actor's dot `n` also holds its earlier dots on the key, or versions that replaced
/// them (version/mod.rs). A node's single writes keep it by applying each dot to its own
/// copy first; a bulk write's coordinator may hold no copy of its keys, so its bulk writes
/// use an actor of their own, and keep it thus: on a key, the actor mints a new dot only
/// once its previous bulk write there is decided, and sends along (in `Prepare` and in the
/// commit) every version it wrote there that the new one does not replace. Where it cannot
/// (its previous bulk write on the key is undecided, or ended so; it wrote too many keys or
/// bytes; or it is older than `lifetime`), the node draws a new actor. Each bulk write adds a
/// clock entry to its keys' later versions only when its actor is new to them: a key
/// bulk-written again and again through one node carries one entry per actor, not one per
/// bulk write.
///
/// The versions it remembers are sent again with later bulk writes, so it must not outlive
/// what a collected tombstone assumes (`collect`: no version it replaced is sent once its
/// request ended): `lifetime` plus the longest bulk request is at most
/// `request_timeout_max`, half the grace.
#[derive(Debug, Default)]
pub(crate) struct Actor {
    id: Option<ActorId>,
    next_seq: u64,
    born: Time,
    keys: BTreeMap<Vec<u8>, Wrote>,
    bytes: usize,
}

/// What the actor wrote on one key.
#[derive(Debug)]
enum Wrote {
    /// A bulk write of it on the key is undecided.
    Open,
    /// Every version it wrote on the key that is not replaced; all decided.
    Decided(Object),
    /// A bulk write of it on the key ended undecided: its outcome is unknown here.
    Unknown,
}

impl Actor {
    /// Mints the dot of a bulk write of `keys` and gives, per key, the versions that travel
    /// with it; draws a new actor first when this one cannot keep its rule (see above), or
    /// when `fresh`.
    fn mint(
        &mut self,
        ctx: &mut Ctx<'_>,
        keys: &[Vec<u8>],
        lifetime: Span,
        fresh: bool,
    ) -> (Dot, Vec<Object>) {
        let usable = |wrote: Option<&Wrote>| matches!(wrote, None | Some(Wrote::Decided(_)));
        let keep = !fresh
            && self.id.is_some()
            && ctx.now.since(self.born).micros() < lifetime.micros()
            && self.keys.len() + keys.len() <= BULK_ACTOR_KEYS_MAX
            && self.bytes <= BULK_ACTOR_BYTES_MAX
            && keys.iter().all(|k| usable(self.keys.get(k)));
        if !keep {
            let mut incarnation = ctx.rng.next_u64();
            while incarnation == 0 || incarnation == ctx.actor.incarnation {
                incarnation = ctx.rng.next_u64();
            }
            *self = Actor {
                id: Some(ActorId {
                    node: ctx.id,
                    incarnation,
                }),
                next_seq: 1,
                born: ctx.now,
                ..Actor::default()
            };
        }
        let dot = Dot {
            actor: self.id.expect("an actor was drawn"),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let priors = keys
            .iter()
            .map(|key| match self.keys.insert(key.clone(), Wrote::Open) {
                Some(Wrote::Decided(object)) => {
                    self.bytes = self.bytes.saturating_sub(object.encoded_bytes());
                    object
                }
                _ => Object::new(),
            })
            .collect();
        (dot, priors)
    }

    /// The bulk write `dot` is decided: `object` is what its actor wrote on `key` now.
    fn decided(&mut self, dot: Dot, key: &[u8], object: &Object) {
        if self.id != Some(dot.actor) {
            return;
        }
        if let Some(wrote @ Wrote::Open) = self.keys.get_mut(key) {
            self.bytes += object.encoded_bytes();
            *wrote = Wrote::Decided(object.clone());
        }
    }

    /// The bulk write `dot` ended undecided: the actor may not write `key` again.
    fn undecided(&mut self, dot: Dot, key: &[u8]) {
        if self.id != Some(dot.actor) {
            return;
        }
        if let Some(wrote @ Wrote::Open) = self.keys.get_mut(key) {
            *wrote = Wrote::Unknown;
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
        let mut keys: Vec<Vec<u8>> = items.iter().map(|i| i.key.clone()).collect();
        keys.sort();
        let bulk: BulkKeys = keys.into();
        let ordered: Vec<Vec<u8>> = items.iter().map(|i| i.key.clone()).collect();
        let lifetime = super::actor_lifetime(ctx.config);
        let n = quorum.n as u8;
        let mut fresh = false;
        let (dot, objects) = loop {
            let (dot, priors) = self.actor.mint(ctx, &ordered, lifetime, fresh);
            let objects: Vec<Object> = items
                .iter()
                .zip(priors)
                .map(|(item, mut object)| {
                    object.insert(Sibling {
                        dot,
                        context: item.context.clone(),
                        value: item.value.clone(),
                        bulk: Some(bulk.clone()),
                    });
                    object
                })
                .collect();
            // What travels with the new versions must fit where they go; if it does not,
            // a new actor has nothing to send along.
            if fresh
                || objects
                    .iter()
                    .all(|o| o.encoded_bytes() <= OBJECT_WRITE_BYTES_MAX)
            {
                break (dot, objects);
            }
            fresh = true;
        };
        let items: Vec<Item> = items
            .into_iter()
            .zip(parts)
            .zip(objects)
            .map(|((item, part), object)| Item {
                part,
                replicas: ctx.ring.preference(&item.key, quorum.n),
                key: item.key,
                object,
                acks: BTreeSet::new(),
            })
            .collect();
        for item in &items {
            self.parts.insert(item.part, (owner, 0));
            for node in &item.replicas {
                Bulk::send(ctx, *node, item.prepare(dot, n, quorum.w), false);
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
            self.actor.decided(write.dot, &item.key, &item.object);
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
            if !write.committing {
                for item in &write.items {
                    self.actor.undecided(write.dot, &item.key);
                }
            }
            ctx.stats.indeterminate += 1;
            return self.finish_write(ctx, owner, Err(RequestError::Indeterminate));
        }
        write.clock.next_resend = ctx.now + ctx.config.resend_interval;
        for item in &write.items {
            let message = if write.committing {
                item.commit()
            } else {
                item.prepare(write.dot, write.n, write.w)
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
