//! tern-storage: the log's files, over a small file-system trait.
//!
//! Core says what to write (`Output::Persist`, `Compact`, `DropSegmentsBefore`) and decides
//! what the bytes mean (`tern_core::recover_segments`, `Node::start`). This crate owns the
//! file work in between, once for both drivers: which files a log is made of and how they
//! are named, what start-up does to them before trusting a byte (sync every segment, sync
//! the directory, drop cached pages, read, truncate torn tails), and how a batch of
//! commands is carried out (group commit: one sync per batch; compaction: the old segment
//! synced before the new one takes appends, the directory synced before the new segment's
//! bytes are reported durable, old segments removed only when core says so).
//!
//! It never touches a file itself: every operation goes through [`Dir`], which the node
//! implements with real files and the simulator with its virtual disk. It never decides
//! about keys, versions or recovery policy (core does), and never spawns a thread or waits
//! (the node runs [`LogWriter::apply`] on its disk thread; the simulator calls it when its
//! virtual disk is free).

mod dir;
mod error;
mod open;
mod writer;

pub use dir::{Dir, SharedBytes};
pub use error::{Oversized, StorageError};
pub use open::{open_log, started_layout, OpenStats, Opened, Segments};
pub use writer::{DiskCommand, LogWriter, WriterStats};

/// Largest log segment file recovery reads into memory, in bytes.
pub const SEGMENT_BYTES_MAX: u64 = 64 << 30;
/// Most log segment files a data directory may hold.
pub const SEGMENTS_MAX: usize = 4096;
/// The smallest step the segment that takes appends grows by, in zero bytes written ahead
/// of them (docs/PROTOCOL.md §1): a sync after an append into space the file already has
/// writes the data alone, not a new file length.
pub const SEGMENT_GROWTH_MIN: u64 = 64 << 10;
/// The largest step: a segment grows by its own length, up to this.
pub const SEGMENT_GROWTH_MAX: u64 = 4 << 20;

/// The length a segment of `allocated` bytes grows to so that `needed` bytes fit: `needed`
/// and one more step of zeros (its length so far, within `SEGMENT_GROWTH_MIN` and
/// `SEGMENT_GROWTH_MAX`). `allocated` itself if they fit already. The node's files and the
/// simulator's disk both grow by it.
pub fn grown_length(allocated: u64, needed: u64) -> u64 {
    if needed <= allocated {
        return allocated;
    }
    let step = allocated.clamp(SEGMENT_GROWTH_MIN, SEGMENT_GROWTH_MAX);
    needed.saturating_add(step)
}

const SEGMENT_PREFIX: &str = "log-";
const SEGMENT_SUFFIX: &str = ".tern";

/// The file name of the segment whose first byte has logical offset `base`
/// (docs/PROTOCOL.md §1): `log-{base:020}.tern`, so names sort as their bases do.
pub fn segment_file_name(base: u64) -> String {
    format!("{SEGMENT_PREFIX}{base:020}{SEGMENT_SUFFIX}")
}

/// The name a segment set aside as damaged takes (`Segments::SetAside`): the `set`-th set
/// aside in this directory, `damaged-{set:04}-` (more digits past 9999) before the segment's own name, which is no
/// longer a segment name, so that recovery never reads it again.
pub fn set_aside_file_name(set: u32, segment: &str) -> String {
    format!("{SET_ASIDE_PREFIX}{set:04}-{segment}")
}

/// The name a segment of a stale log takes when set aside at run time
/// (`DiskCommand::SetAside`: core found the log an older copy than one that agreed to a
/// tombstone collection): `stale-{set:04}-` before the segment's own name. Sets are
/// numbered across both kinds.
pub fn stale_file_name(set: u32, segment: &str) -> String {
    format!("{STALE_PREFIX}{set:04}-{segment}")
}

/// The number of the set a file set aside (damaged or stale) belongs to, or `None` for any
/// other file.
pub fn parse_set_aside_name(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix(SET_ASIDE_PREFIX)
        .or_else(|| name.strip_prefix(STALE_PREFIX))?;
    let (set, _) = rest.split_once('-')?;
    set.parse().ok()
}

const SET_ASIDE_PREFIX: &str = "damaged-";
const STALE_PREFIX: &str = "stale-";

/// The base of a segment file name, or `None` for any other file.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests;
