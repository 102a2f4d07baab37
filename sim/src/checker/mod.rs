//! The checkers: each turns a recorded history into a verdict.
//!
//! They take plain data (what clients saw, what replicas hold), not the simulator, so that
//! tests can feed each one a history with a planted violation and watch it fail.
//!
//! - durability: every acknowledged write is in the final read (same dot, same value) or
//!   superseded by a version written by a client who had been shown it (directly, or through
//!   a version that itself legitimately superseded it); and no value appears that no client
//!   ever wrote;
//! - failed writes: a set whose outcome was a definite failure never appears in any read or
//!   in the final state;
//! - acknowledged means durable: when a write is acknowledged, W replicas hold it in their
//!   synced state (the world calls it at that moment, from `world::clients`);
//! - dots: one dot names one version, and one write attempt runs once (a value appears under
//!   one dot only);
//! - stale reads: a read that began after a write was acknowledged returns that write or a
//!   causal successor;
//! - stale searches: a search that began after a write was acknowledged reflects it (the
//!   key is a result if and only if its value then matches), where the history decides;
//! - final searches: after the calm phase, searches through every node, and on every node's
//!   own index, equal a reference computed by scanning the final data;
//! - isolation: no bulk read is fractured (one key shows bulk write T, another key of T it
//!   asked for shows neither T nor a version that replaced it), and a read that began after
//!   a bulk write was acknowledged sees it on every key of it;
//! - atomicity: after the calm phase, every bulk write is on every replica of every key it
//!   wrote or on none, and an acknowledged one on every one;
//! - convergence: at the end, every replica of a key holds the same versions;
//! - resurrection: once a key's tombstones are collected, no version they replaced is seen
//!   again, in a read or in any replica's final copy. The other checkers judge a collected
//!   key with the tombstones it was collected with (`collected_clock`, `forgotten_or`).
//!
//! This module owns `Violation`, which every checker returns; each checker has its own file,
//! with a test proving it catches a planted violation, and `history` holds the records they
//! read. None of them drives the simulation or sees the world.

mod acked_durable;
mod atomicity;
mod convergence;
mod dots;
mod durability;
mod failed_writes;
mod final_searches;
#[cfg(test)]
mod fixtures;
mod history;
mod isolation;
mod resurrection;
mod stale_reads;
mod stale_searches;

pub use acked_durable::check_acknowledged_durable;
pub use atomicity::{check_atomicity, Atomicity};
pub use convergence::check_convergence;
pub use dots::DotLedger;
pub use durability::{check_durability, Durability, Provenance};
pub use failed_writes::check_failed_writes;
pub use final_searches::{check_final_searches, check_local_index, FinalAnswer};
pub use history::{
    Attempt, AttemptOutcome, BulkItemRecord, BulkReadRecord, BulkWriteRecord, Observed, ReadRecord,
    SearchRecord, Versions, WriteRecord,
};
pub use isolation::{check_fractured_reads, check_reads_after_bulk};
pub use resurrection::{
    check_resurrections, collected_clock, collected_siblings, forgotten_or, Graveyard,
};
pub use stale_reads::check_stale_reads;
pub use stale_searches::{check_stale_searches, SearchCheck};

/// A broken promise: the checker that found it, and what it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub checker: &'static str,
    pub detail: String,
}

impl Violation {
    fn new(checker: &'static str, detail: String) -> Violation {
        Violation { checker, detail }
    }
}

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}
