//! One simulated client's state in the workload: the request it waits for, the write (or
//! bulk write) it retries until it is acknowledged, and the contexts it holds for each key. It chooses
//! nothing: `Workload` does, and reads and updates these.

use super::{OpKind, SearchAsk};
use std::collections::BTreeMap;
use std::ops::Range;
use tern_core::{Time, VectorClock};

/// The request a client waits for.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) request: u64,
    pub(super) kind: OpKind,
    pub(super) key: u32,
    pub(super) value: Option<Vec<u8>>,
    pub(super) start: Time,
    /// Indexes into `History::attempts` for a write: one, or one per key of a bulk write.
    pub(super) attempts: Range<usize>,
    /// What a search asked.
    pub(super) ask: Option<SearchAsk>,
    /// A bulk request's keys, in the order sent (empty for a single-key request).
    pub(super) keys: Vec<u32>,
    /// Index into `History::bulk_writes` for a bulk write.
    pub(super) bulk: Option<usize>,
}

/// Where a write takes its context from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ContextMode {
    /// Read the key first, then write with the read's context.
    Read,
    /// The context of this client's previous write reply for the key.
    Reply,
    /// No context.
    Blind,
    /// The newest context the client holds for the key.
    Latest,
}

/// A write the client has chosen and retries until it is acknowledged.
#[derive(Clone, Debug)]
pub(super) struct Planned {
    pub(super) kind: OpKind,
    pub(super) key: u32,
    pub(super) mode: ContextMode,
    /// For `ContextMode::Read`: the read before the write is done.
    pub(super) read_done: bool,
    /// A bulk write's keys, each with whether it is deleted (empty for a single write).
    pub(super) items: Vec<(u32, bool)>,
}

/// One client: its request numbers, what it waits for and plans, and its contexts.
#[derive(Debug, Default)]
pub(super) struct Client {
    pub(super) next_request: u64,
    pub(super) in_flight: Option<InFlight>,
    pub(super) planned: Option<Planned>,
    /// The newest context for each key, from a read or a write reply.
    pub(super) latest: BTreeMap<u32, VectorClock>,
    /// The context of the last successful read of each key.
    pub(super) read: BTreeMap<u32, VectorClock>,
    /// The context of the last write reply for each key.
    pub(super) reply: BTreeMap<u32, VectorClock>,
    pub(super) stopped: bool,
}
