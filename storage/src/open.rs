//! Opening a log: what start-up does to the files before core trusts a byte of them.
//!
//! Core treats every byte it is handed as durable, and a cache can hold bytes that are not:
//! after a process is killed, its unsynced bytes stay readable, dirty; after a failed sync,
//! the kernel may mark the failed pages clean, readable though they never reached the
//! device. So, before any segment byte is read, every segment is synced (a killed process's
//! bytes become durable before anything trusts them, or start-up fails), then the
//! directory (the segment names themselves); each file's cached pages are dropped right
//! before it is read, so what recovery reads is what is on the device. After recovery the
//! torn tails core names are cut off (and synced) before the first append.

use crate::writer::LogWriter;
use crate::{
    parse_segment_name, parse_set_aside_name, segment_file_name, set_aside_file_name, Dir,
    Oversized, SharedBytes, StorageError, SEGMENTS_MAX, SEGMENT_BYTES_MAX,
};
use tern_core::{RecoveryError, Segment, StartError, Started, TornTail};

/// What opening did to the data directory, so that logs and tests can see that recovery
/// read only bytes that are on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenStats {
    /// Segment files synced before any segment byte was read.
    pub segments_synced: u64,
    /// The data directory was synced after the segments, before any segment byte was read.
    pub dir_synced: bool,
    /// Segment files whose cached pages were dropped right before they were read (0 where
    /// the platform cannot).
    pub segments_evicted: u64,
    /// Torn tails cut off and synced after recovery.
    pub torn_tails_truncated: u64,
    /// Bytes cut off with them.
    pub bytes_truncated: u64,
    /// Of the torn tails truncated, those that were all zeros (`TornTail::zeros`): space
    /// allocated ahead and never written, nothing lost.
    pub zero_tails_truncated: u64,
    /// Segments set aside as damaged (renamed `damaged-NNNN-...`, kept for inspection).
    pub segments_set_aside: u64,
}

/// What start-up does with the segments it found, as core decided (`Started::set_aside`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segments {
    /// Keep them: the log goes on from their valid prefix.
    Keep,
    /// Synced bytes are damaged: rename every segment out of the log, keeping its bytes for
    /// inspection, and start a new, empty log at offset 0.
    SetAside,
}

/// An opened log: what `start` built from it, the writer for its newest segment, and what
/// opening did.
#[derive(Debug)]
pub struct Opened<T, F> {
    pub started: T,
    pub writer: LogWriter<F>,
    pub stats: OpenStats,
}

/// The layout of a node core started (`Node::start`): its torn tails, its newest segment,
/// and whether its segments are set aside (core found synced bytes damaged).
pub fn started_layout(started: &Started) -> (Vec<TornTail>, u64, Segments) {
    let fate = match started.set_aside {
        Some(_) => Segments::SetAside,
        None => Segments::Keep,
    };
    (started.torn.clone(), started.segment_base, fate)
}

/// Opens the log in `dir` (creating the directory and a first segment if there are none),
/// hands every segment to `start` (core's `Node::start` or `recover_segments`), truncates
/// the torn tails `layout` names (or sets every segment aside, if it says so) and opens the
/// segment it names for appends.
pub fn open_log<D: Dir, T>(
    dir: &mut D,
    start: impl FnOnce(&[Segment<'_>]) -> Result<T, StartError>,
    layout: impl Fn(&T) -> (Vec<TornTail>, u64, Segments),
) -> Result<Opened<T, D::File>, StorageError> {
    dir.create_dir()
        .map_err(StorageError::io("create data directory", ""))?;
    let mut segments = list_segments(dir)?;
    if segments.is_empty() {
        create_first_segment(dir)?;
        segments.push(0);
    }
    let mut stats = OpenStats::default();
    // Nothing is read before everything is synced: see the module doc.
    for base in &segments {
        let name = segment_file_name(*base);
        dir.sync_name(&name)
            .map_err(StorageError::io("sync log segment before recovery", &name))?;
        stats.segments_synced += 1;
    }
    dir.sync_dir()
        .map_err(StorageError::io("sync data directory before recovery", ""))?;
    stats.dir_synced = true;
    let mut contents = Vec::with_capacity(segments.len());
    for base in &segments {
        let (bytes, evicted) = read_segment(dir, &segment_file_name(*base))?;
        stats.segments_evicted += u64::from(evicted);
        contents.push(bytes);
    }
    let views: Vec<Segment<'_>> = segments
        .iter()
        .zip(&contents)
        .map(|(base, bytes)| Segment { base: *base, bytes })
        .collect();
    let started = start(&views).map_err(|failure| {
        let error = match failure {
            StartError::Recovery(error) => error,
            StartError::Config(error) => return StorageError::Config(error),
        };
        let (base, offset) = match &error {
            RecoveryError::Corrupt { base, offset, .. }
            | RecoveryError::Unreadable { base, offset, .. } => (*base, *offset),
        };
        StorageError::Corrupt {
            file: segment_file_name(base),
            position: offset - base,
            error,
        }
    })?;
    drop(views);
    drop(contents);
    let (mut torn_tails, mut segment_base, fate) = layout(&started);
    if fate == Segments::SetAside {
        // The log starts anew: nothing of the old segments is cut or appended to.
        stats.segments_set_aside = set_aside(dir, &segments)?;
        segments = vec![0];
        (torn_tails, segment_base) = (Vec::new(), 0);
    }
    for torn in &torn_tails {
        let name = segment_file_name(torn.base);
        dir.truncate(&name, torn.offset - torn.base)
            .map_err(StorageError::io("truncate torn tail of", &name))?;
        stats.torn_tails_truncated += 1;
        stats.bytes_truncated += torn.dropped_bytes;
        stats.zero_tails_truncated += u64::from(torn.zeros);
    }
    let name = segment_file_name(segment_base);
    let file = dir
        .open_append(&name)
        .map_err(StorageError::io("open log segment for append", &name))?;
    let writer = LogWriter::new(file, name, segments);
    Ok(Opened {
        started,
        writer,
        stats,
    })
}

/// Renames every segment of `segments` to the next free set of `damaged-NNNN-` names and
/// creates an empty first segment, all durably; returns the segments set aside.
fn set_aside<D: Dir>(dir: &mut D, segments: &[u64]) -> Result<u64, StorageError> {
    rename_aside(
        dir,
        segments,
        set_aside_file_name,
        "set damaged log segment aside",
    )?;
    create_first_segment(dir)?;
    Ok(segments.len() as u64)
}

/// Renames every segment of `segments` to the next free set of names `name` gives (the
/// directory is not synced here).
pub(crate) fn rename_aside<D: Dir>(
    dir: &mut D,
    segments: &[u64],
    name: fn(u32, &str) -> String,
    op: &'static str,
) -> Result<(), StorageError> {
    let names = dir
        .list()
        .map_err(StorageError::io("read data directory", ""))?;
    let set = names
        .iter()
        .filter_map(|n| parse_set_aside_name(n))
        .max()
        .map_or(1, |last| last.saturating_add(1));
    for base in segments {
        let segment = segment_file_name(*base);
        dir.rename(&segment, &name(set, &segment))
            .map_err(StorageError::io(op, &segment))?;
    }
    Ok(())
}

/// Creates an empty segment at offset 0 and makes it and its name durable.
fn create_first_segment<D: Dir>(dir: &mut D) -> Result<(), StorageError> {
    let name = segment_file_name(0);
    let mut file = dir
        .create(&name)
        .map_err(StorageError::io("create log segment", &name))?;
    dir.sync(&mut file)
        .map_err(StorageError::io("sync new log segment", &name))?;
    dir.sync_dir()
        .map_err(StorageError::io("sync data directory", ""))
}

/// The bases of the segments in `dir`, oldest first.
fn list_segments<D: Dir>(dir: &mut D) -> Result<Vec<u64>, StorageError> {
    let names = dir
        .list()
        .map_err(StorageError::io("read data directory", ""))?;
    let mut segments: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    if segments.len() > SEGMENTS_MAX {
        return Err(StorageError::TooLarge {
            file: String::new(),
            what: Oversized::Segments { max: SEGMENTS_MAX },
        });
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Reads one segment from the device, refusing one over `SEGMENT_BYTES_MAX` without reading
/// it all. Also returns whether its cached pages were dropped first.
fn read_segment<D: Dir>(dir: &mut D, name: &str) -> Result<(SharedBytes, bool), StorageError> {
    let too_large = |bytes: u64| StorageError::TooLarge {
        file: name.to_string(),
        what: Oversized::Segment {
            bytes,
            max: SEGMENT_BYTES_MAX,
        },
    };
    let len = dir
        .len(name)
        .map_err(StorageError::io("stat log segment", name))?;
    if len > SEGMENT_BYTES_MAX {
        return Err(too_large(len));
    }
    let evicted = dir
        .evict(name)
        .map_err(StorageError::io("drop cached pages of log segment", name))?;
    // Bounded even if the file grew since its length was taken.
    let bytes = dir
        .read_shared(name, SEGMENT_BYTES_MAX + 1)
        .map_err(StorageError::io("read log segment", name))?;
    if bytes.len() as u64 > SEGMENT_BYTES_MAX {
        return Err(too_large(bytes.len() as u64));
    }
    Ok((bytes, evicted))
}
