//! Events and the queue that orders them.
//!
//! Owns `Event` (everything that can happen at an instant), `Scheduled` and `EventQueue`: a
//! heap of `(time, seq, slot)` over slots holding the events, that pops the earliest event,
//! ties broken by insertion order.
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
    /// The disk thread of node `i` takes its next batch (`disk.pickup_us`).
    Pickup {
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
    /// The scheduled outage and split (`outage`) begin and end.
    OutageStart,
    OutageEnd,
    SplitStart,
    SplitEnd,
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

/// An event as the queue hands it out.
#[derive(Debug)]
pub(super) struct Scheduled {
    pub(super) at: Time,
    pub(super) event: Event,
}

/// What the heap orders: an event's time, its place in insertion order, and the slot that
/// holds it. Events are large (over 100 bytes) and the heap moves its items at every level
/// of every push and pop, so it moves these instead.
#[derive(Debug)]
struct Key {
    at: Time,
    seq: u64,
    slot: u32,
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    /// Reversed, so that `BinaryHeap` pops the earliest event, then the first scheduled.
    fn cmp(&self, other: &Key) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Pending events, earliest first; events at one instant come out in the order they went in.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    seq: u64,
    heap: BinaryHeap<Key>,
    /// The events, each in the slot its key names; `None` for a free slot.
    slots: Vec<Option<Event>>,
    free: Vec<u32>,
}

impl EventQueue {
    pub(super) fn push(&mut self, at: Time, event: Event) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        self.heap.push(Key {
            at,
            seq: self.seq,
            slot,
        });
    }

    pub(super) fn pop(&mut self) -> Option<Scheduled> {
        let key = self.heap.pop()?;
        let event = self.slots[key.slot as usize]
            .take()
            .expect("every key names a slot holding its event");
        self.free.push(key.slot);
        Some(Scheduled { at: key.at, event })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_in_insertion_order() {
        let mut queue = EventQueue::default();
        let wake = |client| Event::ClientWake { client };
        queue.push(Time(5), wake(1));
        queue.push(Time(3), wake(2));
        queue.push(Time(5), wake(3));
        let first = queue.pop().unwrap();
        assert!(matches!(first.event, Event::ClientWake { client: 2 }));
        // A freed slot is reused; order still follows time, then insertion.
        queue.push(Time(4), wake(4));
        queue.push(Time(5), wake(5));
        let order: Vec<(u64, u32)> = std::iter::from_fn(|| queue.pop())
            .map(|s| match s.event {
                Event::ClientWake { client } => (s.at.micros(), client),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [(4, 4), (5, 1), (5, 3), (5, 5)]);
    }
}
