//! Bulk messages from peers and bulk requests from clients, each to the bulk part's
//! coordinator side or to its replica side (`crate::bulk`).

use super::Node;
use crate::coordinator::Ctx;
use crate::ids::NodeId;
use crate::message::{Message, Request};
use crate::outbox::Origin;
use crate::rebuild::Standing;
use crate::replica::Replica;

impl Node {
    /// Starts a bulk write or bulk read coordinated here.
    pub(super) fn handle_bulk_request(&mut self, origin: Origin, request: Request) {
        let mut ctx = ctx!(self);
        self.bulk
            .handle_request(&mut ctx, &mut self.coordinator, origin, request);
    }

    /// Takes a bulk message, or a reply to one of the bulk part's requests (a `Read` or a
    /// commit's `Replicate` it sent); gives back any other message.
    pub(super) fn handle_bulk_peer(&mut self, from: NodeId, message: Message) -> Option<Message> {
        let mut replica = Replica {
            store: &mut self.store,
            journal: &mut self.journal,
            outbox: &mut self.outbox,
            stats: &mut self.stats,
        };
        let (aside, now) = (&mut self.bulk.aside, self.now);
        match message {
            Message::Prepare {
                req,
                dot,
                n,
                w,
                items,
            } => aside.prepare(&mut replica, now, from, req, dot, (n, w), items),
            Message::Commit { req, items } => aside.commit(&mut replica, from, req, items),
            Message::CommitKept { req, dot, keys } => {
                let keys = keys.into_iter().map(|k| k.into_vec()).collect();
                aside.commit_kept(&mut replica, from, req, dot, keys)
            }
            Message::BulkAsk { req, key, dot } => {
                let rebuilding = self.rebuild.is_some();
                aside.ask(&mut replica, now, rebuilding, from, req, key, dot)
            }
            Message::BulkDecided { key, dot, commit } => {
                aside.decided(&mut replica, now, key, dot, commit)
            }
            Message::BulkFetch { req, key, dot } => aside.fetch(&mut replica, from, req, key, dot),
            Message::Prepared { req, ok } => {
                let mut ctx = ctx!(self);
                self.bulk.handle_prepared(&mut ctx, from, req, ok)
            }
            Message::BulkState { req, state } => {
                let mut ctx = ctx!(self);
                self.bulk.handle_state(&mut ctx, from, req, state)
            }
            Message::BulkFetched { req, object } => {
                let mut ctx = ctx!(self);
                self.bulk.handle_fetched(&mut ctx, from, req, object)
            }
            Message::ReplicateAck { req } if self.bulk.owns(req) => {
                let mut ctx = ctx!(self);
                self.bulk.handle_commit_ack(&mut ctx, from, req)
            }
            Message::ReadReply { req, object } if self.bulk.owns(req) => {
                let mut ctx = ctx!(self);
                let standing = Standing::Whole;
                self.bulk
                    .handle_read_reply(&mut ctx, from, req, object, standing)
            }
            Message::ReadReplyRebuilding { req, object } if self.bulk.owns(req) => {
                let mut ctx = ctx!(self);
                let standing = Standing::Rebuilding;
                self.bulk
                    .handle_read_reply(&mut ctx, from, req, object, standing)
            }
            other => return Some(other),
        }
        None
    }

    /// The bulk part's deadlines and resends, and (every `anti_entropy_interval`) its
    /// resolutions of versions kept aside too long.
    pub(super) fn bulk_timers(&mut self, resolve: bool) {
        let mut ctx: Ctx<'_> = ctx!(self);
        if resolve {
            self.bulk.resolve_round(&mut ctx);
        }
        self.bulk.handle_timers(&mut ctx);
    }
}
