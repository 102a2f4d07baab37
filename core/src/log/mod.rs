//! The durable log: an append-only sequence of checksummed records, and recovery from it.
//!
//! Core produces log bytes (`Output::Persist`) and is told when they are durable
//! (`Input::Persisted`); drivers only append, sync and read back. The format is in
//! docs/PROTOCOL.md:
//!
//! ```text
//! record = magic u32 LE ("TERN") | len u32 LE | crc32c u32 LE | type u8 | payload [len]
//! crc32c covers the len field, the type byte and the payload.
//! ```
//!
//! Recovery keeps the longest valid prefix. What follows the first bad byte is either a torn
//! tail (bytes that were written but never synced: truncate and go on) or corruption of
//! synced bytes (`RecoveryError::Corrupt`: the node sets the log aside and rebuilds from its
//! replicas, `rebuild`). The two are told apart by `Durable { upto, log_id }`
//! records: core writes one at the head of each batch, saying how much of the log it knew to
//! be synced. If a mark after the bad offset says the bad offset had been synced, the damage
//! is corruption; otherwise it is a torn tail. Corruption inside the very last synced batch,
//! with no later batch to vouch for it, is indistinguishable from a torn tail and is treated
//! as one (docs/CONTRACT.md).
//!
//! Past a bad offset, records can only be found by scanning for the magic number, and a
//! scan can land inside a value: a client may store bytes that frame a valid `Durable`
//! record. So a scanned mark is believed only if it carries this log's `log_id` (a random
//! number drawn when the log was created, written in its `Boot` records and never sent to a
//! client) and vouches only for offsets before its own position. Value bytes cannot steer
//! recovery without guessing 64 random bits.

mod record;
mod recovery;
#[cfg(test)]
mod tests;

pub use record::{Record, RECORD_HEADER_BYTES, RECORD_MAGIC};
pub use recovery::{recover, recover_segments, Recovered, RecoveryError, Segment, TornTail};
