//! A quorum write: mint a dot, apply it to this replica's copy first, send the whole object
//! to the N replicas, and answer `Written { dot, object }` once W of them have it durable
//! (`quorum::tally`). A write that would leave too many siblings or too large an object is
//! refused before a dot is minted.

use super::{Coordinator, Ctx, Pending, Phase};
use crate::ids::{NodeId, RequestId};
use crate::limits::{
    DOTS_PER_INCARNATION_MAX, LINGERING_WRITES_MAX, LINGER_RESEND_INTERVALS,
    OBJECT_WRITE_BYTES_MAX, SIBLINGS_MAX,
};
use crate::message::{Message, Oversized, RequestError, Response};
use crate::outbox::Origin;
use crate::quorum::{tally_yes, Tally};
use crate::time::{Span, Time};
use crate::version::{Dot, Sibling, VectorClock};
use std::collections::BTreeSet;

impl Coordinator {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_write(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        key: Vec<u8>,
        (value, context): (Option<Vec<u8>>, VectorClock),
        replicas: Vec<NodeId>,
        w: usize,
        timeout: Span,
    ) {
        assert!(
            ctx.booted,
            "dots are minted only after the Boot record is durable"
        );
        assert!(
            self.next_seq < DOTS_PER_INCARNATION_MAX,
            "admission refuses writes once the dots run out"
        );
        let dot = Dot {
            actor: ctx.actor,
            seq: self.next_seq,
        };
        let mut object = ctx.store.get(&key).cloned().unwrap_or_default();
        object.insert(Sibling {
            bulk: None,
            dot,
            context,
            value,
        });
        if object.siblings().len() > SIBLINGS_MAX {
            let error = RequestError::TooManySiblings {
                count: object.siblings().len() as u32,
                max: SIBLINGS_MAX as u32,
            };
            ctx.outbox.reply(origin, Err(error));
            return;
        }
        let bytes = object.encoded_bytes();
        if bytes > OBJECT_WRITE_BYTES_MAX {
            let error = RequestError::TooLarge {
                what: Oversized::Object,
                len: bytes as u64,
                max: OBJECT_WRITE_BYTES_MAX as u64,
            };
            ctx.outbox.reply(origin, Err(error));
            return;
        }
        self.next_seq += 1;
        ctx.stats.writes_coordinated += 1;
        let req = self.new_request_id(ctx.actor);
        // The coordinator is a replica: it applies first, then sends the whole object, so any
        // replica holding this dot also holds every earlier dot of this actor on the key.
        for node in &replicas {
            let message = Message::Replicate {
                req,
                key: key.clone(),
                object: object.clone(),
            };
            ctx.outbox.send(*node, message);
        }
        let phase = Phase::Write {
            object,
            dot,
            acks: BTreeSet::new(),
            w,
        };
        let pending = Pending::to_replicas(ctx, origin, key, replicas, timeout, phase);
        self.insert_pending(req, pending);
    }

    /// A replica has the write (or the repair) durable.
    pub fn handle_replicate_ack(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: RequestId) {
        let Some(pending) = self.requests.get_mut(&req) else {
            if let Some((_, missing, _)) = self.lingering.get_mut(&req) {
                missing.remove(&from);
                if missing.is_empty() {
                    self.lingering.remove(&req);
                }
            }
            return;
        };
        match &mut pending.phase {
            Phase::Write {
                object,
                dot,
                acks,
                w,
            } => {
                acks.insert(from);
                if tally_yes(&pending.replicas, *w, acks.iter()) == Tally::Won {
                    let response = Response::Written {
                        dot: *dot,
                        object: std::mem::take(object),
                    };
                    let missing = missing(&pending.replicas, acks, ctx.id);
                    let key = pending.key.clone();
                    self.finish(ctx.outbox, req, Ok(response));
                    self.linger(ctx, req, key, missing);
                }
            }
            Phase::Repair { merged, waiting } => {
                waiting.remove(&from);
                if waiting.is_empty() {
                    let object = std::mem::take(merged);
                    self.finish(ctx.outbox, req, Ok(Response::Object(object)));
                }
            }
            Phase::Read { .. } | Phase::Forward { .. } | Phase::Search(_) => {}
        }
    }
}

/// The replicas other than `me` that have not acknowledged.
pub(super) fn missing(
    replicas: &[NodeId],
    acks: &BTreeSet<NodeId>,
    me: NodeId,
) -> BTreeSet<NodeId> {
    let late = replicas.iter().filter(|n| **n != me && !acks.contains(n));
    late.copied().collect()
}

impl Coordinator {
    /// An acknowledged write's replicas that have not acknowledged yet: those the failure
    /// detector holds down are hinted now; the others get `LINGER_RESEND_INTERVALS` resend
    /// intervals to acknowledge before they are hinted (`LINGERING_WRITES_MAX` such writes
    /// at most: past it, all are hinted now).
    fn linger(&mut self, ctx: &Ctx<'_>, req: RequestId, key: Vec<u8>, missing: BTreeSet<NodeId>) {
        if !ctx.config.hinted_handoff || missing.is_empty() {
            return;
        }
        let (up, down): (BTreeSet<NodeId>, BTreeSet<NodeId>) =
            missing.into_iter().partition(|n| ctx.is_alive(*n));
        for node in down {
            self.missed.push((node, key.clone()));
        }
        if up.is_empty() {
            return;
        }
        if self.lingering.len() >= LINGERING_WRITES_MAX {
            for node in up {
                self.missed.push((node, key.clone()));
            }
            return;
        }
        let wait = ctx.config.resend_interval.micros() * LINGER_RESEND_INTERVALS;
        let until = ctx.now + Span::from_micros(wait);
        self.timers.insert((until, req));
        self.lingering.insert(req, (key, up, until));
    }

    /// Hints every replica still missing from a lingering write whose wait is over.
    pub(super) fn end_linger(&mut self, req: RequestId, now: Time) {
        if self
            .lingering
            .get(&req)
            .is_some_and(|(_, _, until)| *until <= now)
        {
            if let Some((key, missing, _)) = self.lingering.remove(&req) {
                for node in missing {
                    self.missed.push((node, key.clone()));
                }
            }
        }
    }

    /// The (replica, key) pairs that missed a write since the last call: the node's handoff
    /// keeps a hint for each.
    pub fn take_missed(&mut self) -> Vec<(NodeId, Vec<u8>)> {
        std::mem::take(&mut self.missed)
    }
}
