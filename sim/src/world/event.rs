//! Events and the queue that orders them.
//!
//! Owns `Event` (everything that can happen at an instant), `Scheduled` and `EventQueue`: a
//! heap of `(time, seq, event)` that pops the earliest event, ties broken by insertion order.
//! It never draws randomness and never looks inside an event; the world decides what each one
//! means.

use super::World;
use crate::disk::SyncTarget;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use tern_core::{ClientResult, NodeId, Request, Span, Time};

#[derive(Debug)]
pub(super) enum Event {
    Deliver {
        from: NodeId,
        to: usize,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        incarnation: u32,
    },
    SyncDone {
        node: usize,
        incarnation: u32,
        /// The log offset the batch makes durable (`None`: it only removed segments).
        end: Option<u64>,
        target: SyncTarget,
    },
    /// A client's request reaches a node; `connection` is the incarnation of the process
    /// the client's connection is to (`None` for the final reads, which use none).
    ClientArrive {
        node: usize,
        connection: Option<u32>,
        client: u32,
        request: u64,
        body: Request,
    },
    ClientReply {
        client: u32,
        request: u64,
        result: ClientResult,
    },
    ClientTimeout {
        client: u32,
        request: u64,
    },
    ClientWake {
        client: u32,
    },
    /// A client's try could not open a connection.
    ClientNotSent {
        client: u32,
        request: u64,
    },
    /// A client learns that its connection to a node's process closed.
    ClientConnectionClosed {
        client: u32,
        node: usize,
        incarnation: u32,
    },
    /// A client tries its request again, as the client rules said.
    ClientRetry {
        client: u32,
    },
    Crash,
    /// A restarted node crashes again at a dangerous moment (see `FaultSpec`).
    CrashAgain {
        node: usize,
        incarnation: u32,
    },
    PowerCut,
    Restart {
        node: usize,
    },
    PartitionStart,
    PartitionHeal {
        generation: u64,
    },
    FinalReads,
    FinalRead {
        key: Vec<u8>,
    },
    /// Send every final search (the final reads are answered).
    FinalSearches,
    /// Try final question `ask` through node `node` again.
    FinalSearch {
        node: usize,
        ask: usize,
    },
}

#[derive(Debug)]
pub(super) struct Scheduled {
    pub(super) at: Time,
    seq: u64,
    pub(super) event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Scheduled) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Scheduled) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` pops the earliest event, then the first scheduled.
    fn cmp(&self, other: &Scheduled) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Pending events, earliest first; events at one instant come out in the order they went in.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    seq: u64,
    heap: BinaryHeap<Scheduled>,
}

impl EventQueue {
    pub(super) fn push(&mut self, at: Time, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    pub(super) fn pop(&mut self) -> Option<Scheduled> {
        self.heap.pop()
    }
}

impl World {
    pub(super) fn schedule(&mut self, at: Time, event: Event) {
        self.queue.push(at, event);
    }

    pub(super) fn after(&mut self, span_us: u64, event: Event) {
        self.schedule(self.now + Span(span_us), event);
    }
}
