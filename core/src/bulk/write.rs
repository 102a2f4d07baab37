//! The coordinator of a bulk write: prepare every key's version on W replicas, then commit
//! them, then answer (see the module above). Each phase sends each replica one message for
//! all the keys it holds (`BULK_MESSAGE_BYTES_MAX` apart), and counts W per key. The commit
//! names the keys only to a replica that said it kept their versions aside.

use super::{Bulk, Clock};
use crate::coordinator::Ctx;
use crate::ids::{NodeId, RequestId};
use crate::limits::{
    BULK_ACTOR_BYTES_MAX, BULK_ACTOR_KEYS_MAX, BULK_MESSAGE_BYTES_MAX, OBJECT_WRITE_BYTES_MAX,
};
use crate::message::{BulkItem, ClientResult, KeyObject, Message, RequestError, Response};
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
    keys: Vec<Key>,
    /// One message a phase to each replica, for all the keys it holds (split where they
    /// would not fit in one message).
    parts: Vec<Part>,
    /// Parts that answered the current phase (kept aside, then committed).
    acked: BTreeSet<usize>,
    /// Every key's version is kept aside on W replicas: the bulk write is decided.
    committing: bool,
    clock: Clock,
}

#[derive(Debug)]
struct Key {
    key: Vec<u8>,
    /// The bulk write's version of the key, and the versions its actor wrote there before
    /// that it does not replace (`Actor`).
    object: Object,
}

/// Some keys of the bulk write, for one replica that holds them.
#[derive(Debug)]
struct Part {
    req: RequestId,
    node: NodeId,
    keys: Vec<usize>,
}

impl Part {
    fn items(&self, keys: &[Key]) -> Vec<KeyObject> {
        self.keys
            .iter()
            .map(|k| KeyObject {
                key: keys[*k].key.clone(),
                object: keys[*k].object.clone(),
            })
            .collect()
    }
}

impl Write {
    fn prepare(&self, part: &Part) -> Message {
        Message::Prepare {
            req: part.req,
            dot: self.dot,
            n: self.n,
            w: self.w as u8,
            items: part.items(&self.keys),
        }
    }

    fn commit(&self, part: &Part) -> Message {
        Message::Commit {
            req: part.req,
            items: part.items(&self.keys),
        }
    }

    /// The commit of a part whose replica said it kept every version aside: the keys only,
    /// since it holds the versions (half the bytes of a bulk write, and no second decoding
    /// of them).
    fn commit_kept(&self, part: &Part) -> Message {
        Message::CommitKept {
            req: part.req,
            dot: self.dot,
            keys: part
                .keys
                .iter()
                .map(|k| serde_bytes::ByteBuf::from(self.keys[*k].key.clone()))
                .collect(),
        }
    }

    /// True once every key has W replicas among the parts that answered this phase.
    fn quorate(&self) -> bool {
        let mut count = vec![0usize; self.keys.len()];
        for part in self.acked.iter().map(|p| &self.parts[*p]) {
            for key in &part.keys {
                count[*key] += 1;
            }
        }
        count.iter().all(|c| *c >= self.w)
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
    pub(super) fn start_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        owner: RequestId,
        items: Vec<BulkItem>,
        quorum: Resolved,
        timeout: Span,
    ) {
        ctx.stats.bulk_writes_coordinated += 1;
        let mut sorted: Vec<Vec<u8>> = items.iter().map(|i| i.key.clone()).collect();
        sorted.sort();
        let bulk: BulkKeys = sorted.into();
        let ordered: Vec<Vec<u8>> = items.iter().map(|i| i.key.clone()).collect();
        let lifetime = super::actor_lifetime(ctx.config);
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
        let keys: Vec<Key> = items
            .into_iter()
            .zip(objects)
            .map(|(item, object)| Key {
                key: item.key,
                object,
            })
            .collect();
        // Each replica's keys, in messages of at most `BULK_MESSAGE_BYTES_MAX` (a key whose
        // object alone is larger goes alone: it fits in a message, as every object does).
        let mut by_node: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
        for (index, key) in keys.iter().enumerate() {
            for node in ctx.ring.preference(&key.key, quorum.n) {
                by_node.entry(node).or_default().push(index);
            }
        }
        let mut parts = Vec::new();
        for (node, indexes) in by_node {
            let mut chunk: Vec<usize> = Vec::new();
            let mut bytes = 0;
            for index in indexes {
                let size = keys[index].object.encoded_bytes() + keys[index].key.len();
                if !chunk.is_empty() && bytes + size > BULK_MESSAGE_BYTES_MAX {
                    let req = self.new_id(ctx);
                    parts.push(Part {
                        req,
                        node,
                        keys: std::mem::take(&mut chunk),
                    });
                    bytes = 0;
                }
                chunk.push(index);
                bytes += size;
            }
            let req = self.new_id(ctx);
            parts.push(Part {
                req,
                node,
                keys: chunk,
            });
        }
        let write = Write {
            origin,
            dot,
            n: quorum.n as u8,
            w: quorum.w,
            keys,
            parts,
            acked: BTreeSet::new(),
            committing: false,
            clock: Clock::new(ctx, timeout),
        };
        for (index, part) in write.parts.iter().enumerate() {
            self.parts.insert(part.req, (owner, index));
            Bulk::send(ctx, part.node, write.prepare(part), false);
        }
        self.insert_wake(owner, write.clock);
        self.writes.insert(owner, write);
    }

    /// A replica kept (or refused) its keys' versions. Once W replicas of every key kept
    /// theirs, the bulk write is decided: commit every key.
    pub fn handle_prepared(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: RequestId, ok: bool) {
        let Some(&(owner, index)) = self.parts.get(&req) else {
            return;
        };
        let Some(write) = self.writes.get_mut(&owner) else {
            return;
        };
        if write.committing || !ok || write.parts.get(index).is_none_or(|p| p.node != from) {
            return;
        }
        write.acked.insert(index);
        if !write.quorate() {
            return;
        }
        write.committing = true;
        let prepared = std::mem::take(&mut write.acked);
        for key in &write.keys {
            self.actor.decided(write.dot, &key.key, &key.object);
        }
        // A replica that kept its versions aside is sent their keys only; one that has not
        // answered yet gets the versions again. Resends carry the versions (`write_timer`).
        for (index, part) in write.parts.iter().enumerate() {
            let message = if prepared.contains(&index) {
                write.commit_kept(part)
            } else {
                write.commit(part)
            };
            Bulk::send(ctx, part.node, message, false);
        }
    }

    /// A replica has its keys' versions committed, durably. Once W replicas of every key
    /// have, the client hears `BulkWritten`.
    pub fn handle_commit_ack(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: RequestId) {
        let Some(&(owner, index)) = self.parts.get(&req) else {
            return;
        };
        let Some(write) = self.writes.get_mut(&owner) else {
            return;
        };
        if !write.committing || write.parts.get(index).is_none_or(|p| p.node != from) {
            return;
        }
        write.acked.insert(index);
        if write.quorate() {
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
                for key in &write.keys {
                    self.actor.undecided(write.dot, &key.key);
                }
            }
            ctx.stats.indeterminate += 1;
            return self.finish_write(ctx, owner, Err(RequestError::Indeterminate));
        }
        write.clock.next_resend = ctx.now + ctx.config.resend_interval;
        for (index, part) in write.parts.iter().enumerate() {
            if write.acked.contains(&index) {
                continue;
            }
            let message = if write.committing {
                write.commit(part)
            } else {
                write.prepare(part)
            };
            Bulk::send(ctx, part.node, message, true);
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
        self.forget_parts(write.parts.iter().map(|p| p.req));
        ctx.outbox.reply(write.origin, result);
    }
}
