//! A quorum write: mint a dot, apply it to this replica's copy first, send the whole object
//! to the N replicas, and answer `Written { dot, object }` once W of them have it durable
//! (`quorum::tally`). A write that would leave too many siblings or too large an object is
//! refused before a dot is minted.

use super::{Coordinator, Ctx, Pending, Phase};
use crate::ids::{NodeId, RequestId};
use crate::limits::{DOTS_PER_INCARNATION_MAX, OBJECT_WRITE_BYTES_MAX, SIBLINGS_MAX};
use crate::message::{Message, Oversized, RequestError, Response};
use crate::outbox::Origin;
use crate::quorum::{tally_yes, Tally};
use crate::time::Span;
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
                    self.finish(ctx.outbox, req, Ok(response));
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
