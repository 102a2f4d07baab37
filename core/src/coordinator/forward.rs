//! Forwarding: a node that holds no replica of a key hands the request to a live replica
//! and relays its answer; a replica takes each forwarded request once, however often the
//! network delivers it.

use super::{Arrival, Coordinator, Ctx, Effect, Pending, Phase};
use crate::ids::{NodeId, RequestId};
use crate::limits::FORWARDS_REMEMBERED_MAX;
use crate::message::{ClientResult, Message, Request, RequestError};
use crate::outbox::Origin;
use crate::time::Span;
use rand_core::RngCore;

impl Coordinator {
    pub(super) fn forward(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        mut request: Request,
        replicas: Vec<NodeId>,
        timeout: Span,
        arrival: Arrival,
    ) {
        let alive: Vec<NodeId> = replicas
            .iter()
            .copied()
            .filter(|n| ctx.is_alive(*n))
            .collect();
        if arrival == Arrival::Forwarded || alive.is_empty() {
            // A forwarded request is never forwarded again, so rings that disagree cannot loop.
            ctx.stats.unavailable += 1;
            let error = RequestError::Unavailable {
                needed: 1,
                alive: alive.len() as u8,
            };
            ctx.outbox.reply(origin, Err(error));
            return;
        }
        let to = alive[(ctx.rng.next_u32() as usize) % alive.len()];
        let req = self.new_request_id(ctx.actor);
        let effect = if request.op.is_write() {
            Effect::Write
        } else {
            Effect::Read
        };
        request.timeout_ms = Some(u32::try_from(timeout.millis()).unwrap_or(u32::MAX));
        ctx.stats.forwarded += 1;
        ctx.outbox.send(to, Message::Forward { req, request });
        // Wait a little longer than the coordinator, so its answer usually arrives first.
        let deadline = ctx.now + timeout + ctx.config.resend_interval;
        let pending = Pending {
            origin,
            key: Vec::new(),
            replicas,
            deadline,
            next_resend: deadline,
            phase: Phase::Forward { to, effect },
        };
        self.insert_pending(req, pending);
    }

    /// A peer asks this node to coordinate a request for it.
    pub fn handle_forward(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        request: Request,
    ) {
        // The network may deliver a Forward twice: run it once, or one client write would be
        // applied twice, and a refusal of the copy could reach the client while the first
        // copy applies. Request ids are unique per incarnation.
        if !self.forwards_seen.insert((from, req)) {
            ctx.stats.duplicate_forwards += 1;
            return;
        }
        self.forwards_order.push_back((from, req));
        if self.forwards_order.len() > FORWARDS_REMEMBERED_MAX {
            if let Some(old) = self.forwards_order.pop_front() {
                self.forwards_seen.remove(&old);
            }
        }
        self.handle_request(ctx, Origin::Peer { from, req }, request, Arrival::Forwarded)
    }

    /// The outcome of a request this node forwarded, from the replica it chose.
    pub fn handle_forward_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        result: ClientResult,
    ) {
        if let Some(p) = self.requests.get(&req) {
            if matches!(p.phase, Phase::Forward { to, .. } if to == from) {
                self.finish(ctx.outbox, req, result);
            }
        }
    }
}
