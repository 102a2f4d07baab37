//! The outbox: every output a step produces, in order, and the messages a node sends to
//! itself (it is a replica of the keys it coordinates). Parts push here; only `Node` drains.

use crate::ids::{ClientId, NodeId, RequestId};
use crate::message::{ClientResult, Message};
use crate::node::Output;
use std::collections::VecDeque;

/// Who is waiting for a request's outcome.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin {
    Client { client: ClientId, request: u64 },
    Peer { from: NodeId, req: RequestId },
}

#[derive(Debug)]
pub(crate) struct Outbox {
    id: NodeId,
    outputs: VecDeque<Output>,
    /// Messages to this node itself, handled before the step ends.
    loopback: VecDeque<Message>,
}

impl Outbox {
    pub fn new(id: NodeId) -> Outbox {
        Outbox {
            id,
            outputs: VecDeque::new(),
            loopback: VecDeque::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    pub fn push(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    pub fn pop(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Sends `message` to `to`; to this node itself through the loopback queue.
    pub fn send(&mut self, to: NodeId, message: Message) {
        if to == self.id {
            self.loopback.push_back(message);
        } else {
            self.outputs.push_back(Output::Send { to, message });
        }
    }

    /// Answers whoever waits for a request: a client, or the peer that forwarded it.
    pub fn reply(&mut self, origin: Origin, result: ClientResult) {
        match origin {
            Origin::Client { client, request } => self.outputs.push_back(Output::Reply {
                client,
                request,
                result,
            }),
            Origin::Peer { from, req } => self.send(from, Message::ForwardReply { req, result }),
        }
    }

    /// The next message this node sent itself.
    pub fn next_loopback(&mut self) -> Option<Message> {
        self.loopback.pop_front()
    }

    pub fn clear_loopback(&mut self) {
        self.loopback.clear();
    }
}
