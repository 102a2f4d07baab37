//! The coordinator of a bulk read: a quorum read of every key, then fetches of the bulk
//! writes' versions some key's answer shows and another's lacks, until none is missing
//! (see the module above).

use super::{Bulk, Clock};
use crate::coordinator::Ctx;
use crate::ids::{NodeId, RequestId};
use crate::limits::{
    BULK_READ_ROUNDS_MAX, MESSAGE_BYTES_MAX, OBJECT_BYTES_MAX, SIBLINGS_DECODE_MAX,
};
use crate::message::{ClientResult, Message, Oversized, RequestError, Response};
use crate::node::config::Resolved;
use crate::outbox::Origin;
use crate::quorum::{tally_yes, Tally};
use crate::rebuild::Standing;
use crate::time::Span;
use crate::version::{Dot, Object, ObjectTooLarge};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug)]
pub(super) struct Read {
    origin: Origin,
    r: usize,
    items: Vec<Item>,
    /// Bulk-write versions being fetched: (key index, dot, request id).
    fetches: Vec<Fetch>,
    /// Bulk-write versions no replica of their key holds any more: tombstones collected
    /// since (`collect`); the key's answer is later than them (`Fetch::settled`).
    gone: BTreeSet<(usize, Dot)>,
    rounds: usize,
    clock: Clock,
}

#[derive(Debug)]
struct Item {
    part: RequestId,
    key: Vec<u8>,
    replicas: Vec<NodeId>,
    /// Replicas that answered; those rebuilding are merged but not counted toward R.
    replied: BTreeSet<NodeId>,
    rebuilding: BTreeSet<NodeId>,
    merged: Object,
    done: bool,
}

#[derive(Debug)]
struct Fetch {
    part: RequestId,
    item: usize,
    dot: Dot,
    /// Replicas that answered.
    answered: BTreeSet<NodeId>,
}

impl Fetch {
    /// The version arrived, or every replica of the key answered without it. A decided bulk
    /// write's version was kept on W replicas before any key showed it, and a replica
    /// forgets it only once its copy of the key has seen it; so only tombstone collection
    /// (`collect`: the key was all tombstones on every replica, this one among them) leaves
    /// it nowhere, and then whatever the key holds now was written after it.
    fn settled(&self, item: &Item) -> bool {
        item.merged.has_seen(self.dot) || self.answered.len() == item.replicas.len()
    }
}

impl Bulk {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_read(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        owner: RequestId,
        parts: Vec<RequestId>,
        keys: Vec<Vec<u8>>,
        quorum: Resolved,
        timeout: Span,
    ) {
        ctx.stats.bulk_reads_coordinated += 1;
        let items: Vec<Item> = keys
            .into_iter()
            .zip(parts)
            .map(|(key, part)| Item {
                part,
                replicas: ctx.ring.preference(&key, quorum.n),
                key,
                replied: BTreeSet::new(),
                rebuilding: BTreeSet::new(),
                merged: Object::new(),
                done: false,
            })
            .collect();
        for (index, item) in items.iter().enumerate() {
            self.parts.insert(item.part, (owner, index));
            for node in &item.replicas {
                let read = Message::Read {
                    req: item.part,
                    key: item.key.clone(),
                };
                Bulk::send(ctx, *node, read, false);
            }
        }
        let read = Read {
            origin,
            r: quorum.r,
            items,
            fetches: Vec::new(),
            gone: BTreeSet::new(),
            rounds: 0,
            clock: Clock::new(ctx, timeout),
        };
        self.insert_wake(owner, read.clock);
        self.reads.insert(owner, read);
    }

    /// A replica's copy of one key, for the first round.
    pub fn handle_read_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        object: Object,
        standing: Standing,
    ) {
        let Some(&(owner, index)) = self.parts.get(&req) else {
            return;
        };
        let Some(read) = self.reads.get_mut(&owner) else {
            return;
        };
        let Some(item) = read.items.get_mut(index).filter(|i| i.part == req) else {
            return;
        };
        if !item.replicas.contains(&from) {
            return;
        }
        item.merged.merge_owned(object);
        item.replied.insert(from);
        match standing {
            Standing::Rebuilding => item.rebuilding.insert(from),
            Standing::Whole => item.rebuilding.remove(&from),
        };
        let counted = item.replied.iter().filter(|n| !item.rebuilding.contains(n));
        if tally_yes(&item.replicas, read.r, counted) == Tally::Won {
            item.done = true;
        }
        self.read_progress(ctx, owner);
    }

    /// A replica's copy of a key asked for a bulk write's version.
    pub fn handle_fetched(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        object: Object,
    ) {
        let Some(&(owner, _)) = self.parts.get(&req) else {
            return;
        };
        let Some(read) = self.reads.get_mut(&owner) else {
            return;
        };
        let Some(fetch) = read.fetches.iter_mut().find(|f| f.part == req) else {
            return;
        };
        let item = &mut read.items[fetch.item];
        if !item.replicas.contains(&from) {
            return;
        }
        fetch.answered.insert(from);
        item.merged.merge_owned(object);
        self.read_progress(ctx, owner);
    }

    /// Once every key has its quorum and every fetch what it asked for: answers, unless
    /// some key's answer shows a bulk write another asked key has not seen; then fetches
    /// those versions (a new round).
    fn read_progress(&mut self, ctx: &mut Ctx<'_>, owner: RequestId) {
        let Some(read) = self.reads.get_mut(&owner) else {
            return;
        };
        if read.items.iter().any(|i| !i.done) {
            return;
        }
        if read.fetches.iter().any(|f| !f.settled(&read.items[f.item])) {
            return;
        }
        for fetch in &read.fetches {
            if !read.items[fetch.item].merged.has_seen(fetch.dot) {
                read.gone.insert((fetch.item, fetch.dot));
            }
        }
        if let Some(error) = too_large(&read.items) {
            ctx.stats.reads_too_large += 1;
            return self.finish_read(ctx, owner, Err(error));
        }
        let answers: Vec<(&[u8], &Object)> = read
            .items
            .iter()
            .map(|i| (i.key.as_slice(), &i.merged))
            .collect();
        let mut missing = fractures(&answers);
        missing.retain(|m| !read.gone.contains(m));
        if missing.is_empty() {
            let objects = read.items.iter().map(|i| i.merged.clone()).collect();
            return self.finish_read(ctx, owner, Ok(Response::Objects(objects)));
        }
        if read.rounds >= BULK_READ_ROUNDS_MAX {
            // Never a fractured view: the deadline answers `Timeout`.
            return;
        }
        read.rounds += 1;
        let ids: Vec<RequestId> = missing.iter().map(|_| self.new_id(ctx)).collect();
        let mut new_ids = ids.into_iter();
        let Some(read) = self.reads.get_mut(&owner) else {
            return;
        };
        let old: Vec<RequestId> = read.fetches.drain(..).map(|f| f.part).collect();
        let mut fetches = Vec::new();
        for (item, dot) in missing {
            ctx.stats.bulk_versions_fetched += 1;
            let part = new_ids.next().expect("ids for every fetch");
            let key = &read.items[item].key;
            for node in &read.items[item].replicas {
                let key = key.clone();
                Bulk::send(
                    ctx,
                    *node,
                    Message::BulkFetch {
                        req: part,
                        key,
                        dot,
                    },
                    false,
                );
            }
            fetches.push(Fetch {
                part,
                item,
                dot,
                answered: BTreeSet::new(),
            });
        }
        read.fetches = fetches;
        let new: Vec<(RequestId, usize)> = read.fetches.iter().map(|f| (f.part, f.item)).collect();
        self.forget_parts(old.into_iter());
        for (part, item) in new {
            self.parts.insert(part, (owner, item));
        }
    }

    /// A bulk read's deadline (`Timeout`), or its resend to the replicas not yet heard
    /// from (rebuilding ones again) and of every fetch not yet answered.
    pub(super) fn read_timer(&mut self, ctx: &mut Ctx<'_>, owner: RequestId) {
        let Some(read) = self.reads.get_mut(&owner) else {
            return;
        };
        if ctx.now >= read.clock.deadline {
            ctx.stats.timeouts += 1;
            return self.finish_read(ctx, owner, Err(RequestError::Timeout));
        }
        read.clock.next_resend = ctx.now + ctx.config.resend_interval;
        for item in read.items.iter().filter(|i| !i.done) {
            let unanswered = |n: &&NodeId| !item.replied.contains(n) || item.rebuilding.contains(n);
            for node in item.replicas.iter().filter(unanswered) {
                let message = Message::Read {
                    req: item.part,
                    key: item.key.clone(),
                };
                // A rebuilding self is asked again too: its rebuild may have ended.
                let again = *node == ctx.id && item.rebuilding.contains(node);
                Bulk::send(ctx, *node, message, !again);
            }
        }
        for fetch in &read.fetches {
            let item = &read.items[fetch.item];
            if fetch.settled(item) {
                continue;
            }
            for node in item.replicas.iter().filter(|n| !fetch.answered.contains(n)) {
                let message = Message::BulkFetch {
                    req: fetch.part,
                    key: item.key.clone(),
                    dot: fetch.dot,
                };
                Bulk::send(ctx, *node, message, true);
            }
        }
        let clock = read.clock;
        self.insert_wake(owner, clock);
    }

    pub(super) fn finish_read(
        &mut self,
        ctx: &mut Ctx<'_>,
        owner: RequestId,
        result: ClientResult,
    ) {
        let Some(read) = self.reads.remove(&owner) else {
            return;
        };
        self.remove_wake(owner, read.clock);
        let parts = read.items.iter().map(|i| i.part);
        self.forget_parts(parts.chain(read.fetches.iter().map(|f| f.part)));
        ctx.outbox.reply(read.origin, result);
    }
}

/// Every (key index, dot) where an asked key's answer lacks a bulk write another asked
/// key's answer shows: the fractures a bulk read mends before it answers.
pub(crate) fn fractures(answers: &[(&[u8], &Object)]) -> Vec<(usize, Dot)> {
    let index: BTreeMap<&[u8], usize> = answers
        .iter()
        .enumerate()
        .map(|(i, (key, _))| (*key, i))
        .collect();
    let objects: Vec<&Object> = answers.iter().map(|(_, o)| *o).collect();
    let mut missing = BTreeSet::new();
    for object in &objects {
        for sibling in object.siblings() {
            let Some(keys) = &sibling.bulk else { continue };
            for key in keys.iter() {
                if let Some(&other) = index.get(key.as_slice()) {
                    if !objects[other].has_seen(sibling.dot) {
                        missing.insert((other, sibling.dot));
                    }
                }
            }
        }
    }
    missing.into_iter().collect()
}

/// A merged answer too large to store or to send whole, as a single read would refuse it.
fn too_large(items: &[Item]) -> Option<RequestError> {
    let mut total = 0;
    for item in items {
        match item.merged.fits() {
            Err(ObjectTooLarge::Siblings(n)) => {
                return Some(RequestError::TooLarge {
                    what: Oversized::MergedSiblings,
                    len: n as u64,
                    max: SIBLINGS_DECODE_MAX as u64,
                })
            }
            Err(ObjectTooLarge::Bytes(n)) => {
                return Some(RequestError::TooLarge {
                    what: Oversized::MergedBytes,
                    len: n as u64,
                    max: OBJECT_BYTES_MAX as u64,
                })
            }
            Ok(()) => total += item.merged.encoded_bytes(),
        }
    }
    // The answer travels in one frame.
    (total > MESSAGE_BYTES_MAX).then_some(RequestError::TooLarge {
        what: Oversized::MergedBytes,
        len: total as u64,
        max: MESSAGE_BYTES_MAX as u64,
    })
}
