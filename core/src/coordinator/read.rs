//! A quorum read: ask R replicas (this node first, then the live peers in preference order),
//! merge their replies once R count (`quorum::tally`), and before answering, repair every
//! replier that was missing something (blocking read repair). A replier that is rebuilding
//! does not count, so the next replica is asked at once; a replica that has not answered by
//! the first resend, `READ_WIDEN_DIVISOR` times sooner than the others, is joined by all the
//! others (`Coordinator::resend`). Replies that merge
//! into an object too large to store are answered `TooLarge`, unrepaired.

use super::{Coordinator, Ctx, Pending, Phase};
use crate::ids::{NodeId, RequestId};
use crate::limits::{OBJECT_BYTES_MAX, READ_WIDEN_DIVISOR, SIBLINGS_DECODE_MAX};
use crate::message::{Message, Oversized, RequestError, Response};
use crate::outbox::Origin;
use crate::quorum::{tally_yes, Tally};
use crate::rebuild::Standing;
use crate::time::Span;
use crate::version::{Object, ObjectTooLarge};
use std::collections::{BTreeMap, BTreeSet};

impl Coordinator {
    pub(super) fn start_read(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        key: Vec<u8>,
        replicas: Vec<NodeId>,
        r: usize,
        timeout: Span,
    ) {
        ctx.stats.reads_coordinated += 1;
        let req = self.new_request_id(ctx.actor);
        let asked = first_asked(ctx, &replicas, r);
        for node in &asked {
            let message = Message::Read {
                req,
                key: key.clone(),
            };
            ctx.outbox.send(*node, message);
        }
        let phase = Phase::Read {
            r,
            replies: BTreeMap::new(),
            rebuilding: BTreeSet::new(),
            asked,
        };
        let mut pending = Pending::to_replicas(ctx, origin, key, replicas, timeout, phase);
        // The first resend asks the replicas not asked yet: sooner than a resend.
        let widen = ctx.config.resend_interval.micros() / READ_WIDEN_DIVISOR;
        pending.next_resend = ctx.now + Span::from_micros(widen);
        self.insert_pending(req, pending);
    }

    /// A replica's copy of the key. A rebuilding replica's copy is merged and repaired, but
    /// does not count toward R: it may miss an acknowledged write, or the whole key.
    pub fn handle_read_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        object: Object,
        standing: Standing,
    ) {
        let Some(pending) = self.requests.get_mut(&req) else {
            return;
        };
        if !pending.replicas.contains(&from) {
            return;
        }
        let key = pending.key.clone();
        let (merged, repair) = match &mut pending.phase {
            Phase::Read {
                r,
                replies,
                rebuilding,
                asked,
            } => {
                replies.insert(from, object);
                match standing {
                    Standing::Rebuilding => rebuilding.insert(from),
                    Standing::Whole => rebuilding.remove(&from),
                };
                let counted = replies.keys().filter(|n| !rebuilding.contains(n));
                if tally_yes(&pending.replicas, *r, counted) != Tally::Won {
                    if standing == Standing::Rebuilding {
                        // Its copy cannot count: ask a replica not asked yet, now rather
                        // than at the next resend.
                        let next = next_unasked(ctx, &pending.replicas, asked);
                        if let Some(node) = next {
                            asked.insert(node);
                            ctx.outbox.send(node, Message::Read { req, key });
                        }
                    }
                    return;
                }
                let mut merged = Object::new();
                for reply in replies.values() {
                    merged.merge(reply);
                }
                if let Err(too_large) = merged.fits() {
                    // Each replica's copy fits, but together they do not: no replica could
                    // store the repair, and no message could carry it.
                    ctx.stats.reads_too_large += 1;
                    let (what, len, max) = match too_large {
                        ObjectTooLarge::Siblings(n) => {
                            (Oversized::MergedSiblings, n, SIBLINGS_DECODE_MAX)
                        }
                        ObjectTooLarge::Bytes(n) => (Oversized::MergedBytes, n, OBJECT_BYTES_MAX),
                    };
                    let error = RequestError::TooLarge {
                        what,
                        len: len as u64,
                        max: max as u64,
                    };
                    self.finish(ctx.outbox, req, Err(error));
                    return;
                }
                let stale: BTreeSet<NodeId> = replies
                    .iter()
                    .filter(|(_, o)| **o != merged)
                    .map(|(n, _)| *n)
                    .collect();
                if stale.is_empty() {
                    self.finish(ctx.outbox, req, Ok(Response::Object(merged)));
                    return;
                }
                let repair: Vec<NodeId> = stale.iter().copied().collect();
                let copy = merged.clone();
                pending.phase = Phase::Repair {
                    merged,
                    waiting: stale,
                };
                (copy, repair)
            }
            // A late reply: repair it too, without waiting for it.
            Phase::Repair { merged, .. } if object != *merged => (merged.clone(), vec![from]),
            _ => return,
        };
        ctx.stats.read_repairs += repair.len() as u64;
        for node in repair {
            let message = Message::Replicate {
                req,
                key: key.clone(),
                object: merged.clone(),
            };
            ctx.outbox.send(node, message);
        }
    }
}

/// The replicas a read asks first: this node (a coordinator is always one of the key's
/// replicas), then live peers in preference order, R in all. Asking R instead of all N
/// halves a read's messages with N = 3 and R = 2; the others are asked if one of these is
/// rebuilding or silent until the first resend.
fn first_asked(ctx: &Ctx<'_>, replicas: &[NodeId], r: usize) -> BTreeSet<NodeId> {
    let mut asked = BTreeSet::new();
    if replicas.contains(&ctx.id) {
        asked.insert(ctx.id);
    }
    let live = replicas
        .iter()
        .filter(|n| **n != ctx.id && ctx.is_alive(**n));
    for node in live {
        if asked.len() >= r {
            break;
        }
        asked.insert(*node);
    }
    asked
}

/// The first replica in preference order not asked yet, live ones first.
fn next_unasked(ctx: &Ctx<'_>, replicas: &[NodeId], asked: &BTreeSet<NodeId>) -> Option<NodeId> {
    let unasked = || replicas.iter().copied().filter(|n| !asked.contains(n));
    let live = unasked().find(|n| ctx.is_alive(*n));
    live.or_else(|| unasked().next())
}
