//! Atomic bulk writes and read-atomic bulk reads, without a leader, in the manner of RAMP
//! (Bailis et al., SIGMOD 2014): no lock a reader waits on, no coordinator everyone waits for.
//!
//! **A bulk write** `T` of keys `K` gets one dot, minted by the coordinating node's *bulk
//! actor* (`ActorId { node, incarnation: random }`, drawn anew when needed; `write::Actor`
//! says when and why a context naming its dots stays exact). Every key's new version is a
//! sibling with that dot, the context the client gave for that key, and `bulk: K`; with it
//! travel the actor's earlier versions of the key that it does not replace.
//! 1. *Prepare*: the coordinator sends each key's version to the key's N replicas, in one
//!    `Prepare` per replica for all the keys it holds. A replica keeps each aside (`aside`):
//!    durably (an `Aside` record), but out of the key's object, so no read shows it; it
//!    answers `Prepared { ok }` once all are durable. It refuses a version its copy of the
//!    key could not take (the merge would not fit: `Object::fits`), and while it holds one
//!    aside, its copy keeps room for it (`Aside::reserved`: other merges that would leave
//!    less are refused), so that every holder of a decided version can commit it.
//! 2. Once W replicas of every key kept their version aside, `T` is *decided*: nothing can
//!    stop it any more (see resolution below). The coordinator commits (one message per
//!    replica: `CommitKept`, the keys only, to a replica that said it kept their versions,
//!    else `Commit` with the versions): each key's version is merged into the key's object
//!    as a replicated write is (a concurrent single-key write stays its sibling).
//! 3. Once W replicas of every key acknowledged the commit, the client hears `BulkWritten`:
//!    every later quorum read of any key of `T` sees `T` (R + W > N, as for single writes).
//!    A deadline before that ends it `Indeterminate`: `T` is then all or nothing, never part.
//!
//! **A bulk read** reads each key from its replicas (R replies that count, as a single read),
//! then looks for fractures: a version of bulk write `T` in one key's answer, and a key of
//! `T` also asked whose answer has not seen `T`'s dot. `T` being visible means it was
//! decided, so each key of it has its version on W replicas (kept aside or committed) or
//! replaced: the reader asks that key's replicas for it (`BulkFetch`) and merges what they
//! hold, until every fracture is mended (`BULK_READ_ROUNDS_MAX` rounds, as a fetched
//! version may itself show another bulk write) or the deadline ends it as `Timeout`. It never
//! answers a fractured view.
//!
//! **Resolution.** A coordinator may die anywhere. A replica that has kept a version aside
//! for twice the longest a bulk request may run (`timeout_max`: its coordinator's deadline
//! is long past) resolves it: it
//! asks every replica of every key of `T` where `T` stands there (`BulkAsk`). A replica that
//! holds nothing of `T` for that key first promises, durably, never to keep it (a
//! `Refused` record; a later `Prepare` of it is refused), then answers `Refused`.
//! - Any replica has `T` committed (its object has seen the dot): `T` was decided: commit.
//! - Every key has W replicas holding `T` (aside or committed): `T` is decided: commit.
//! - Every replica of every key answered, none committed, and some key has N − W + 1
//!   refusals: the coordinator can never have had W `Prepared` for that key, so it never
//!   committed and never will: forget `T` everywhere (each replica records `Refused`).
//!
//! The two outcomes exclude each other: committing needs W holders of every key, refusing
//! needs N − W + 1 refusers of one, and a replica that holds `T` never refuses it. The
//! decision goes to every replica of every key (`BulkDecided`). Refusals are kept for
//! `BULK_REFUSALS_KEEP_TIMEOUTS` request timeouts, after which no message of `T`'s
//! coordinator can still be on its way; versions kept aside are forgotten once committed.
//! No replaced version is kept for readers: a key whose object replaced `T`'s version has
//! seen `T`'s dot, which is all a bulk read asks.

mod aside;
mod read;
mod resolve;
mod write;

pub(crate) use aside::Aside;

use crate::coordinator::{Coordinator, Ctx};
use crate::ids::{NodeId, RequestId};
use crate::limits::BULK_TIMEOUT_MAX_TIMEOUTS;
use crate::message::{BulkInvalid, Op, Oversized, Request, RequestError};
use crate::node::config::resolve_quorum;
use crate::node::Config;
use crate::outbox::Origin;
use crate::time::{Span, Time};
use std::collections::{BTreeMap, BTreeSet};

/// The bulk part of a node: the bulk writes, bulk reads and resolutions it coordinates, and
/// (`aside`) the versions it keeps aside as a replica.
#[derive(Debug, Default)]
pub(crate) struct Bulk {
    writes: BTreeMap<RequestId, write::Write>,
    reads: BTreeMap<RequestId, read::Read>,
    resolutions: BTreeMap<RequestId, resolve::Resolution>,
    /// Each per-key request id (one per key of a write, read or resolution, one per fetch)
    /// and the bulk request it belongs to, with the item's index.
    parts: BTreeMap<RequestId, (RequestId, usize)>,
    /// Each bulk request's next wake-up (deadline or resend), earliest first.
    wakes: BTreeSet<(Time, RequestId)>,
    next_id: u64,
    /// The actor of the bulk writes this node coordinates (`write::Actor`).
    actor: write::Actor,
    pub aside: Aside,
}

/// The high bit of the low half of this part's request ids (`Bulk::new_id`).
const BULK_IDS: u64 = 1 << 63;

/// The longest a bulk request runs: `BULK_TIMEOUT_MAX_TIMEOUTS` request timeouts, never past
/// `request_timeout_max`. Resolution waits twice this before it asks.
pub(crate) fn timeout_max(config: &Config) -> Span {
    let cap = config
        .request_timeout
        .micros()
        .saturating_mul(BULK_TIMEOUT_MAX_TIMEOUTS);
    Span::from_micros(cap.min(config.request_timeout_max().micros()))
}

/// How long one bulk actor may be used (`write::Actor`): the versions it remembers are
/// sent again with later bulk writes, at most the longest bulk request later, and nothing
/// may be sent past `request_timeout_max` after it was written (`collect`).
pub(crate) fn actor_lifetime(config: &Config) -> Span {
    let max = config.request_timeout_max().micros();
    Span::from_micros(max.saturating_sub(timeout_max(config).micros()))
}

/// Deadlines and resends of one bulk request.
#[derive(Clone, Copy, Debug)]
struct Clock {
    deadline: Time,
    next_resend: Time,
}

impl Clock {
    fn new(ctx: &Ctx<'_>, timeout: Span) -> Clock {
        Clock {
            deadline: ctx.now + timeout,
            next_resend: ctx.now + ctx.config.resend_interval,
        }
    }

    fn wake(&self) -> Time {
        self.deadline.min(self.next_resend)
    }
}

impl Bulk {
    pub fn new(aside: Aside) -> Bulk {
        Bulk {
            aside,
            ..Bulk::default()
        }
    }

    /// True if `req` is one of this part's per-key requests: its replies come here.
    pub fn owns(&self, req: RequestId) -> bool {
        self.parts.contains_key(&req)
    }

    /// Bulk requests in flight.
    pub fn len(&self) -> usize {
        self.writes.len() + self.reads.len()
    }

    /// The earliest deadline or resend of a bulk request.
    pub fn next_wake(&self) -> Option<Time> {
        self.wakes.first().map(|(t, _)| *t)
    }

    /// Admits a bulk request and starts it, or answers why not. `coordinator` gives request
    /// ids and the shared admission rules.
    pub fn handle_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        coordinator: &mut Coordinator,
        origin: Origin,
        request: Request,
    ) {
        let quorum = match resolve_quorum(ctx.config, request.quorum) {
            Ok(q) => q,
            Err(why) => {
                let error = RequestError::InvalidQuorum(why);
                return ctx.outbox.reply(origin, Err(error));
            }
        };
        if let Err(error) = check(&request.op) {
            return ctx.outbox.reply(origin, Err(error));
        }
        if !ctx.booted {
            return ctx.outbox.reply(origin, Err(RequestError::Starting));
        }
        if !coordinator.has_room(self.len()) {
            ctx.stats.busy += 1;
            return ctx.outbox.reply(origin, Err(RequestError::Busy));
        }
        let timeout = coordinator.timeout(ctx, &request);
        let keys: Vec<&[u8]> = match &request.op {
            Op::BulkWrite { items } => items.iter().map(|i| i.key.as_slice()).collect(),
            Op::BulkGet { keys } => keys.iter().map(|k| k.as_slice()).collect(),
            _ => unreachable!("only bulk requests come here"),
        };
        let needed = if request.op.is_write() {
            quorum.w
        } else {
            quorum.r
        };
        // Every key needs its quorum of live replicas, or nothing is tried.
        for key in keys {
            let replicas = ctx.ring.preference(key, quorum.n);
            let alive = replicas.iter().filter(|n| ctx.is_alive(**n)).count();
            if alive < needed {
                ctx.stats.unavailable += 1;
                let error = RequestError::Unavailable {
                    needed: needed as u8,
                    alive: alive as u8,
                };
                return ctx.outbox.reply(origin, Err(error));
            }
        }
        let timeout = timeout.min(timeout_max(ctx.config));
        let owner = self.new_id(ctx);
        match request.op {
            Op::BulkWrite { items } => self.start_write(ctx, origin, owner, items, quorum, timeout),
            Op::BulkGet { keys } => {
                let parts: Vec<RequestId> = keys.iter().map(|_| self.new_id(ctx)).collect();
                let keys = keys.into_iter().map(|k| k.into_vec()).collect();
                self.start_read(ctx, origin, owner, parts, keys, quorum, timeout)
            }
            _ => unreachable!("only bulk requests come here"),
        }
    }

    /// A request id of this part's own: the coordinator's ids stay below `BULK_IDS`, so a
    /// reply's id says which part it is for.
    fn new_id(&mut self, ctx: &Ctx<'_>) -> RequestId {
        self.next_id += 1;
        RequestId::new(ctx.actor.incarnation, BULK_IDS | self.next_id)
    }

    fn insert_wake(&mut self, owner: RequestId, clock: Clock) {
        self.wakes.insert((clock.wake(), owner));
    }

    fn remove_wake(&mut self, owner: RequestId, clock: Clock) {
        self.wakes.remove(&(clock.wake(), owner));
    }

    /// Forgets a finished request's per-key ids.
    fn forget_parts(&mut self, parts: impl Iterator<Item = RequestId>) {
        for part in parts {
            self.parts.remove(&part);
        }
    }

    /// Runs every deadline and resend that is due.
    pub fn handle_timers(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(&(wake, owner)) = self.wakes.first() {
            if wake > ctx.now {
                break;
            }
            self.wakes.pop_first();
            if self.writes.contains_key(&owner) {
                self.write_timer(ctx, owner);
            } else if self.reads.contains_key(&owner) {
                self.read_timer(ctx, owner);
            } else if self.resolutions.contains_key(&owner) {
                self.resolution_timer(ctx, owner);
            }
        }
    }

    /// Answers every bulk request as its deadline would: the node is stopping.
    pub fn stop(&mut self, ctx: &mut Ctx<'_>) {
        let writes: Vec<RequestId> = self.writes.keys().copied().collect();
        for owner in writes {
            self.finish_write(ctx, owner, Err(RequestError::Indeterminate));
        }
        let reads: Vec<RequestId> = self.reads.keys().copied().collect();
        for owner in reads {
            self.finish_read(ctx, owner, Err(RequestError::Timeout));
        }
        self.resolutions.clear();
        self.parts.clear();
        self.wakes.clear();
    }

    /// Sends `message` to `node` (itself included: messages to itself are never lost, so a
    /// resend skips it).
    fn send(ctx: &mut Ctx<'_>, node: NodeId, message: crate::message::Message, resend: bool) {
        if resend && node == ctx.id {
            return;
        }
        if resend {
            ctx.stats.resends += 1;
        }
        ctx.outbox.send(node, message);
    }
}

/// Refuses bulk requests with no key, a key twice, or anything over its limit.
fn check(op: &Op) -> Result<(), RequestError> {
    use crate::limits::{
        BULK_KEYS_MAX, BULK_KEY_BYTES_MAX, BULK_VALUE_BYTES_MAX, CONTEXT_ENTRIES_MAX,
        KEY_BYTES_MAX, VALUE_BYTES_MAX,
    };
    let too_large = |what: Oversized, len: usize, max: usize| RequestError::TooLarge {
        what,
        len: len as u64,
        max: max as u64,
    };
    let keys: Vec<&[u8]> = match op {
        Op::BulkWrite { items } => items.iter().map(|i| i.key.as_slice()).collect(),
        Op::BulkGet { keys } => keys.iter().map(|k| k.as_slice()).collect(),
        _ => return Ok(()),
    };
    if keys.is_empty() {
        return Err(RequestError::InvalidBulk(BulkInvalid::Empty));
    }
    if keys.len() > BULK_KEYS_MAX {
        return Err(too_large(Oversized::BulkKeys, keys.len(), BULK_KEYS_MAX));
    }
    if let Some(key) = keys.iter().find(|k| k.len() > KEY_BYTES_MAX) {
        return Err(too_large(Oversized::Key, key.len(), KEY_BYTES_MAX));
    }
    let distinct: BTreeSet<&[u8]> = keys.iter().copied().collect();
    if distinct.len() != keys.len() {
        return Err(RequestError::InvalidBulk(BulkInvalid::DuplicateKey));
    }
    if let Op::BulkWrite { items } = op {
        let key_bytes: usize = keys.iter().map(|k| k.len()).sum();
        if key_bytes > BULK_KEY_BYTES_MAX {
            let what = Oversized::BulkKeyBytes;
            return Err(too_large(what, key_bytes, BULK_KEY_BYTES_MAX));
        }
        let mut value_bytes = 0;
        for item in items {
            let len = item.value.as_ref().map_or(0, Vec::len);
            if len > VALUE_BYTES_MAX {
                return Err(too_large(Oversized::Value, len, VALUE_BYTES_MAX));
            }
            if item.context.len() > CONTEXT_ENTRIES_MAX {
                let len = item.context.len();
                return Err(too_large(Oversized::Context, len, CONTEXT_ENTRIES_MAX));
            }
            value_bytes += len;
        }
        if value_bytes > BULK_VALUE_BYTES_MAX {
            return Err(too_large(
                Oversized::Value,
                value_bytes,
                BULK_VALUE_BYTES_MAX,
            ));
        }
    }
    Ok(())
}
