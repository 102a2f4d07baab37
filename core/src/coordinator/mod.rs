//! The coordinator: every request this node works on (a quorum write, a quorum read and its
//! repair, a request forwarded to a replica) is one entry in a bounded table keyed by
//! request id, holding a phase and its deadlines. This module owns the table, admission,
//! ids, expiry and resends; `write`, `read` and `forward` own their phases. It never touches
//! the log: replicas (itself included) apply what it sends them.

mod forward;
mod read;
mod search;
mod write;

pub(crate) use search::{Round, SearchReply};

use crate::ids::{NodeId, RequestId};
use crate::limits::{
    CONTEXT_ENTRIES_MAX, DOTS_PER_INCARNATION_MAX, KEY_BYTES_MAX, PENDING_REQUESTS_MAX,
    REQUESTS_PER_INCARNATION_MAX, VALUE_BYTES_MAX,
};
use crate::liveness::Liveness;
use crate::message::{ClientResult, Message, Op, Oversized, Request, RequestError};
use crate::node::config::resolve_quorum;
use crate::node::{Config, NodeStats};
use crate::outbox::{Origin, Outbox};
use crate::ring::Ring;
use crate::store::Store;
use crate::time::{Span, Time};
use crate::version::{ActorId, Dot, Object};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What a part of the coordinator may see and touch of its node for one step.
pub(crate) struct Ctx<'a> {
    pub now: Time,
    pub id: NodeId,
    pub actor: ActorId,
    /// The Boot record is durable: dots may be minted.
    pub booted: bool,
    pub config: &'a Config,
    pub ring: &'a Ring,
    pub rng: &'a mut ChaCha8Rng,
    pub liveness: &'a Liveness,
    pub store: &'a Store,
    pub outbox: &'a mut Outbox,
    pub stats: &'a mut NodeStats,
}

impl Ctx<'_> {
    pub fn is_alive(&self, node: NodeId) -> bool {
        self.liveness.is_alive(self.id, node, self.now, self.config)
    }
}

/// How a request reached this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// From a client: a node that holds no replica of the key forwards it.
    Client,
    /// Forwarded by a peer: it is never forwarded again, so rings that disagree cannot loop.
    Forwarded,
}

/// Whether a forwarded request writes: what its deadline means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Read,
    Write,
}

#[derive(Debug)]
pub(crate) enum Phase {
    Write {
        object: Object,
        dot: Dot,
        acks: BTreeSet<NodeId>,
        w: usize,
    },
    Read {
        r: usize,
        replies: BTreeMap<NodeId, Object>,
        /// Repliers that were rebuilding: merged, but not counted toward R.
        rebuilding: BTreeSet<NodeId>,
        /// Replicas asked so far (R of them at first; every one from the first resend).
        asked: BTreeSet<NodeId>,
    },
    Repair {
        merged: Object,
        waiting: BTreeSet<NodeId>,
    },
    Forward {
        to: NodeId,
        effect: Effect,
    },
    Search(Box<search::SearchState>),
}

#[derive(Debug)]
pub(crate) struct Pending {
    origin: Origin,
    key: Vec<u8>,
    replicas: Vec<NodeId>,
    deadline: Time,
    next_resend: Time,
    phase: Phase,
}

impl Pending {
    /// A request to the key's replicas that resends every `resend_interval` until
    /// `timeout` from now.
    fn to_replicas(
        ctx: &Ctx<'_>,
        origin: Origin,
        key: Vec<u8>,
        replicas: Vec<NodeId>,
        timeout: Span,
        phase: Phase,
    ) -> Pending {
        Pending {
            origin,
            key,
            replicas,
            deadline: ctx.now + timeout,
            next_resend: ctx.now + ctx.config.resend_interval,
            phase,
        }
    }

    fn wake(&self) -> Time {
        self.deadline.min(self.next_resend)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    requests: BTreeMap<RequestId, Pending>,
    /// Each request's next wake-up (its deadline or its next resend), earliest first.
    timers: BTreeSet<(Time, RequestId)>,
    next_seq: u64,
    next_req: u64,
    /// Forwarded requests already taken, newest last (`FORWARDS_REMEMBERED_MAX` of them).
    forwards_seen: BTreeSet<(NodeId, RequestId)>,
    forwards_order: VecDeque<(NodeId, RequestId)>,
    /// Acknowledged writes still waiting for their other replicas (`write::linger`): the
    /// key, the replicas missing, and when they are hinted; each wakes with the timers.
    lingering: BTreeMap<RequestId, (Vec<u8>, BTreeSet<NodeId>, Time)>,
    /// (replica, key) pairs that missed a write, for the node's handoff (`take_missed`).
    missed: Vec<(NodeId, Vec<u8>)>,
}

impl Coordinator {
    pub fn new() -> Coordinator {
        Coordinator {
            next_seq: 1,
            next_req: 1,
            ..Coordinator::default()
        }
    }

    /// Requests being coordinated or forwarded right now.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// The earliest per-request deadline or resend.
    pub fn next_deadline(&self) -> Option<Time> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Admits a request and starts it, or answers why not.
    pub fn handle_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        request: Request,
        arrival: Arrival,
    ) {
        if let Err(error) = check_request(&request) {
            ctx.outbox.reply(origin, Err(error));
            return;
        }
        let quorum = match resolve_quorum(ctx.config, request.quorum) {
            Ok(q) => q,
            Err(why) => {
                ctx.outbox
                    .reply(origin, Err(RequestError::InvalidQuorum(why)));
                return;
            }
        };
        if !ctx.booted {
            ctx.outbox.reply(origin, Err(RequestError::Starting));
            return;
        }
        if self.requests.len() >= PENDING_REQUESTS_MAX
            || self.next_req >= REQUESTS_PER_INCARNATION_MAX
            || self.next_seq >= DOTS_PER_INCARNATION_MAX
        {
            ctx.stats.busy += 1;
            ctx.outbox.reply(origin, Err(RequestError::Busy));
            return;
        }
        let timeout = self.timeout(ctx, &request);
        if request.op.is_search() {
            // Any node coordinates a search: it spans every partition, not one key's.
            let (nr, none) = ((quorum.n, quorum.r), BTreeSet::new());
            self.start_search(ctx, origin, &request.op, nr, timeout, none);
            return;
        }
        let replicas = ctx.ring.preference(request.op.key(), quorum.n);
        if !replicas.contains(&ctx.id) {
            self.forward(ctx, origin, request, replicas, timeout, arrival);
            return;
        }
        let needed = if request.op.is_write() {
            quorum.w
        } else {
            quorum.r
        };
        let alive = replicas.iter().filter(|n| ctx.is_alive(**n)).count();
        if alive < needed {
            ctx.stats.unavailable += 1;
            let error = RequestError::Unavailable {
                needed: needed as u8,
                alive: alive as u8,
            };
            ctx.outbox.reply(origin, Err(error));
            return;
        }
        match request.op {
            Op::Get { key } => self.start_read(ctx, origin, key, replicas, quorum.r, timeout),
            Op::Set {
                key,
                value,
                context,
            } => {
                let sibling = (Some(value), context);
                self.start_write(ctx, origin, key, sibling, replicas, quorum.w, timeout)
            }
            Op::Delete { key, context } => {
                let sibling = (None, context);
                self.start_write(ctx, origin, key, sibling, replicas, quorum.w, timeout)
            }
            Op::Replace { key, value } => {
                // Everything this replica holds of the key: what an overwrite replaces.
                let context = ctx.store.get(&key).map(Object::clock).unwrap_or_default();
                let sibling = (value, context);
                self.start_write(ctx, origin, key, sibling, replicas, quorum.w, timeout)
            }
            Op::Search { .. } | Op::Similar { .. } => unreachable!("searches started above"),
            // The node hands bulk requests to its bulk part before they reach here.
            Op::BulkWrite { .. } | Op::BulkGet { .. } => {
                ctx.outbox.reply(origin, Err(RequestError::Busy));
            }
        }
    }

    /// True if the request table has room for one more request, with `others` (the bulk
    /// part's) counted in, and ids left for a bulk request's every key.
    pub(crate) fn has_room(&self, others: usize) -> bool {
        let ids_needed = 2 * crate::limits::BULK_KEYS_MAX as u64 + 1;
        self.requests.len() + others < PENDING_REQUESTS_MAX
            && self.next_req + ids_needed < REQUESTS_PER_INCARNATION_MAX
    }

    /// How long `request` may take: its own timeout, or the cluster's, at most the maximum.
    pub(crate) fn timeout(&self, ctx: &Ctx<'_>, request: &Request) -> Span {
        request
            .timeout_ms
            .map_or(ctx.config.request_timeout, |ms| {
                Span::from_millis(u64::from(ms))
            })
            .min(ctx.config.request_timeout_max())
    }

    pub(crate) fn new_request_id(&mut self, actor: ActorId) -> RequestId {
        assert!(
            self.next_req < REQUESTS_PER_INCARNATION_MAX,
            "admission refuses requests once the ids run out"
        );
        let id = RequestId::new(actor.incarnation, self.next_req);
        self.next_req += 1;
        id
    }

    fn insert_pending(&mut self, req: RequestId, pending: Pending) {
        self.timers.insert((pending.wake(), req));
        self.requests.insert(req, pending);
    }

    /// Ends a request: answers its origin and forgets it.
    fn finish(&mut self, outbox: &mut Outbox, req: RequestId, result: ClientResult) {
        let Some(pending) = self.requests.remove(&req) else {
            return;
        };
        self.timers.remove(&(pending.wake(), req));
        outbox.reply(pending.origin, result);
    }

    /// Runs every request deadline and resend that is due.
    pub fn handle_timers(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        while let Some(&(wake, req)) = self.timers.first() {
            if wake > now {
                break;
            }
            self.timers.pop_first();
            let Some(pending) = self.requests.get(&req) else {
                self.end_linger(req, now);
                continue;
            };
            if now >= pending.deadline {
                if let Phase::Write { acks, .. } = &pending.phase {
                    if ctx.config.hinted_handoff {
                        for node in write::missing(&pending.replicas, acks, ctx.id) {
                            self.missed.push((node, pending.key.clone()));
                        }
                    }
                }
                let result = self.expire(ctx.stats, req);
                if let Some(pending) = self.requests.remove(&req) {
                    ctx.outbox.reply(pending.origin, result);
                }
            } else {
                self.resend(ctx, req);
            }
        }
    }

    /// Answers every pending request as its deadline would (writes `Indeterminate`, reads
    /// `Timeout`): the node is stopping.
    pub fn stop(&mut self, outbox: &mut Outbox, stats: &mut NodeStats) {
        let reqs: Vec<RequestId> = self.requests.keys().copied().collect();
        for req in reqs {
            let result = self.expire(stats, req);
            self.finish(outbox, req, result);
        }
    }

    /// The error a request ends with at its deadline.
    fn expire(&mut self, stats: &mut NodeStats, req: RequestId) -> ClientResult {
        let pending = &self.requests[&req];
        let error = match &pending.phase {
            // Every write that reached the table was applied locally: it may survive.
            Phase::Write { .. }
            | Phase::Forward {
                effect: Effect::Write,
                ..
            } => {
                stats.indeterminate += 1;
                RequestError::Indeterminate
            }
            Phase::Read { .. }
            | Phase::Repair { .. }
            | Phase::Search(_)
            | Phase::Forward {
                effect: Effect::Read,
                ..
            } => {
                stats.timeouts += 1;
                RequestError::Timeout
            }
        };
        Err(error)
    }

    /// Resends to the replicas that have not answered, in case the messages were lost.
    fn resend(&mut self, ctx: &mut Ctx<'_>, req: RequestId) {
        let Some(pending) = self.requests.get_mut(&req) else {
            return;
        };
        pending.next_resend = ctx.now + ctx.config.resend_interval;
        let wake = pending.wake();
        let key = pending.key.clone();
        let mut messages = Vec::new();
        // Messages to itself are never lost, but a read this node answered while rebuilding
        // asks itself again, as it asks every replica that did.
        let mut ask_self = false;
        match &pending.phase {
            Phase::Write { object, acks, .. } => {
                for node in pending.replicas.iter().filter(|n| !acks.contains(n)) {
                    let message = Message::Replicate {
                        req,
                        key: key.clone(),
                        object: object.clone(),
                    };
                    messages.push((*node, message));
                }
            }
            Phase::Read {
                replies,
                rebuilding,
                ..
            } => {
                // A replica that answered while rebuilding is asked again: its rebuild may
                // have ended since.
                let unanswered = |n: &&NodeId| !replies.contains_key(n) || rebuilding.contains(n);
                ask_self = rebuilding.contains(&ctx.id);
                for node in pending.replicas.iter().filter(unanswered) {
                    let message = Message::Read {
                        req,
                        key: key.clone(),
                    };
                    messages.push((*node, message));
                }
            }
            Phase::Repair { merged, waiting } => {
                for node in waiting {
                    let message = Message::Replicate {
                        req,
                        key: key.clone(),
                        object: merged.clone(),
                    };
                    messages.push((*node, message));
                }
            }
            Phase::Search(state) => messages = state.resend(req),
            Phase::Forward { .. } => {}
        }
        self.timers.insert((wake, req));
        for (to, message) in messages {
            if to != ctx.id {
                ctx.stats.resends += 1;
                ctx.outbox.send(to, message);
            } else if ask_self {
                ctx.outbox.send(to, message);
            }
        }
    }
}

/// Refuses keys, values and contexts over their limits.
fn check_request(request: &Request) -> Result<(), RequestError> {
    let key = request.op.key();
    let too_large = |what: Oversized, len: usize, max: usize| RequestError::TooLarge {
        what,
        len: len as u64,
        max: max as u64,
    };
    if key.len() > KEY_BYTES_MAX {
        return Err(too_large(Oversized::Key, key.len(), KEY_BYTES_MAX));
    }
    let value = match &request.op {
        Op::Set { value, .. }
        | Op::Replace {
            value: Some(value), ..
        } => Some(value),
        _ => None,
    };
    if let Some(value) = value {
        if value.len() > VALUE_BYTES_MAX {
            return Err(too_large(Oversized::Value, value.len(), VALUE_BYTES_MAX));
        }
    }
    if let Op::Set { context, .. } | Op::Delete { context, .. } = &request.op {
        if context.len() > CONTEXT_ENTRIES_MAX {
            let len = context.len();
            return Err(too_large(Oversized::Context, len, CONTEXT_ENTRIES_MAX));
        }
    }
    Ok(())
}
