//! The records the checkers read: write attempts and how they ended, acknowledged writes,
//! successful reads and searches, and what each client was shown.
//!
//! Plain data the workload fills in as the run goes; it never judges anything.

use crate::workload::SearchAsk;
use std::collections::BTreeMap;
use tern_core::{Dot, Object, Scored, Sibling, Time, VectorClock};

/// How a write attempt ended, as its client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Still waiting (the run ended first).
    Pending,
    Acknowledged,
    /// A definite failure: nothing was written (unavailable, busy, starting, too large...).
    Failed,
    /// It may or may not have been applied (indeterminate, or the client gave up waiting).
    Unknown,
}

/// One write attempt: what a client sent, and how it ended.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub client: u32,
    /// The client's request number; requests of one client are numbered in order.
    pub request: u64,
    pub key: Vec<u8>,
    pub context: VectorClock,
    /// `None` for a delete.
    pub value: Option<Vec<u8>>,
    /// The dot, once acknowledged.
    pub dot: Option<Dot>,
    pub outcome: AttemptOutcome,
    /// When the client sent it, and when its outcome reached the client (`None`: pending).
    pub start: Time,
    pub end: Option<Time>,
}

/// What each client was shown of each key: key -> client -> dot -> the request whose reply
/// first showed it (a write's own dot counts as shown by its reply). Keyed by key first:
/// the workload records and the checkers ask about one key at a time, and a key looked up
/// by reference is never copied.
pub type Observed = BTreeMap<Vec<u8>, BTreeMap<u32, BTreeMap<Dot, u64>>>;

/// Every version any client was shown: key -> dot -> the version (keyed like `Observed`).
pub type Versions = BTreeMap<Vec<u8>, BTreeMap<Dot, Sibling>>;

/// An acknowledged write as the client saw it.
#[derive(Clone, Debug)]
pub struct WriteRecord {
    pub key: Vec<u8>,
    pub dot: Dot,
    /// `None` for a delete.
    pub value: Option<Vec<u8>>,
    pub start: Time,
    pub ack: Time,
}

/// A successful read as the client saw it.
#[derive(Clone, Debug)]
pub struct ReadRecord {
    pub key: Vec<u8>,
    pub start: Time,
    pub end: Time,
    pub object: Object,
}

/// An answered search as the client saw it.
#[derive(Clone, Debug)]
pub struct SearchRecord {
    pub ask: SearchAsk,
    pub start: Time,
    pub end: Time,
    pub hits: Vec<Scored>,
    /// The hits are every match: a search's `total` is the number of hits, or a similarity
    /// search returned fewer than `top_k`.
    pub complete: bool,
}

/// One key of a bulk write attempt.
#[derive(Clone, Debug)]
pub struct BulkItemRecord {
    pub key: Vec<u8>,
    /// `None` for a delete.
    pub value: Option<Vec<u8>>,
    pub context: VectorClock,
}

/// One bulk write attempt, as its client saw it. Each item is also an `Attempt` of its own
/// (the same client, request and outcome), so that the checkers of single keys judge the
/// versions it wrote like any other.
#[derive(Clone, Debug)]
pub struct BulkWriteRecord {
    pub client: u32,
    pub request: u64,
    pub items: Vec<BulkItemRecord>,
    /// The bulk write's dot (every key's version carries it), once acknowledged.
    pub dot: Option<Dot>,
    pub outcome: AttemptOutcome,
    pub start: Time,
    pub end: Option<Time>,
}

impl BulkWriteRecord {
    /// One acknowledged write per key, as the single-key checkers read them; none if the
    /// bulk write was not acknowledged.
    pub fn acknowledged(&self) -> Vec<WriteRecord> {
        let (Some(dot), Some(ack), AttemptOutcome::Acknowledged) =
            (self.dot, self.end, self.outcome)
        else {
            return Vec::new();
        };
        self.items
            .iter()
            .map(|item| WriteRecord {
                key: item.key.clone(),
                dot,
                value: item.value.clone(),
                start: self.start,
                ack,
            })
            .collect()
    }
}

/// A successful bulk read as its client saw it: the keys asked, in order, and one object
/// per key (as many as the reply held).
#[derive(Clone, Debug)]
pub struct BulkReadRecord {
    pub client: u32,
    pub keys: Vec<Vec<u8>>,
    pub objects: Vec<Object>,
    pub start: Time,
    pub end: Time,
}
