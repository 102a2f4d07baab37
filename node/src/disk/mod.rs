//! The log on disk: segment files under the data directory, read back at start-up and
//! appended to by one dedicated thread that batches syncs (group commit).
//!
//! This module does file IO and nothing else. What the bytes mean, which tail is torn and
//! which damage is corruption is decided by `tern_core::recover_segments`; when to compact
//! and which segments may go is decided by core's `Compact` and `DropSegmentsBefore`.
//!
//! A segment is named `log-{base:020}.tern`, where `base` is the logical log offset of its
//! first byte (docs/PROTOCOL.md §1).
//!
//! Recovery must read what is on the device, not what the page cache remembers. Core treats
//! every byte it is handed as durable, and the page cache can hold bytes that are not:
//!
//! - After the process is killed (SIGKILL, a panic that aborts), bytes it wrote but never
//!   synced stay in the page cache, dirty. A restart that reads them back could acknowledge
//!   what they hold as durable, and a power cut would then lose it.
//! - After a failed fsync, Linux may mark the failed dirty pages clean. They stay readable
//!   from the page cache although they never reached the device, so a restarted process
//!   reads back data that is not on disk.
//!
//! So `open`, before it reads any segment byte, syncs every segment file (the killed
//! process's bytes become durable before anything trusts them, or start-up fails), then the
//! data directory (the segment names themselves), and then drops each file's cached pages
//! with `posix_fadvise(POSIX_FADV_DONTNEED)`, so the read that follows comes from the
//! device. The pages are clean after the sync, and Linux drops clean pages, including
//! those a failed fsync marked clean. Only then are the bytes read and handed to core.

use crate::limits::{SEGMENTS_MAX, SEGMENT_BYTES_MAX};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use tern_core::{
    recover_segments, Config, ConfigError, Node, NodeId, Recovered, RecoveryError, Segment,
    StartError, Started, TornTail,
};
use tokio::sync::mpsc;

const SEGMENT_PREFIX: &str = "log-";
const SEGMENT_SUFFIX: &str = ".tern";

/// The file name of the segment whose first byte has logical offset `base`.
pub fn segment_file_name(base: u64) -> String {
    format!("{SEGMENT_PREFIX}{base:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Why the log could not be opened, read or written.
#[derive(Debug)]
pub enum DiskError {
    /// An IO call failed; `op` says which, `path` on what.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Recovery refused the log: `path` is the segment file, `position` the byte in it.
    Corrupt {
        path: PathBuf,
        position: u64,
        error: RecoveryError,
    },
    /// The data directory holds more, or larger, segments than this build will read.
    TooLarge { path: PathBuf, what: String },
    /// Another running node (process `pid`) uses this data directory.
    Locked { path: PathBuf, pid: u32 },
}

impl DiskError {
    fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DiskError + 'a {
        move |source| DiskError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::Io { op, path, source } => {
                write!(f, "{op} {}: {source}", path.display())
            }
            DiskError::Corrupt {
                path,
                position,
                error,
            } => write!(
                f,
                "refusing to start: log file {} is damaged at byte {position}: {error}",
                path.display()
            ),
            DiskError::TooLarge { path, what } => write!(f, "{}: {what}", path.display()),
            DiskError::Locked { path, pid } => write!(
                f,
                "refusing to start: {} says process {pid} runs a node on this data directory; two nodes must never share one",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DiskError {}

/// Counters the disk thread keeps, for benchmarks and logs.
#[derive(Debug, Default)]
pub struct DiskStats {
    pub syncs: AtomicU64,
    pub bytes_written: AtomicU64,
    pub batches: AtomicU64,
    pub commands: AtomicU64,
    /// What `open` did before and after recovery read the log; set once, by `open`.
    pub at_open: OpenStats,
}

/// What `open` did to the data directory, so that logs and tests can see that recovery read
/// only bytes that are on the device (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenStats {
    /// Segment files synced before any segment byte was read.
    pub segments_synced: u64,
    /// The data directory was synced after the segments, before any segment byte was read.
    pub dir_synced: bool,
    /// Segment files whose cached pages were dropped right before they were read (0 on
    /// platforms without `posix_fadvise`).
    pub segments_evicted: u64,
    /// Torn tails cut off and synced after recovery.
    pub torn_tails_truncated: u64,
}

/// The segments found in a data directory, oldest first.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, DiskError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(DiskError::io("read directory", dir))? {
        let entry = entry.map_err(DiskError::io("read directory", dir))?;
        let name = entry.file_name();
        if let Some(base) = name.to_str().and_then(parse_segment_name) {
            segments.push((base, entry.path()));
        }
        if segments.len() > SEGMENTS_MAX {
            return Err(DiskError::TooLarge {
                path: dir.to_path_buf(),
                what: format!("more than {SEGMENTS_MAX} log segments"),
            });
        }
    }
    segments.sort();
    Ok(segments)
}

/// Drops the clean cached pages of `file` so that the next read comes from the device.
/// Returns whether the platform did it.
#[cfg(target_os = "linux")]
fn evict_cached_pages(file: &File) -> io::Result<bool> {
    // A length of `None` (0 in C) means "to the end of the file".
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(true)
}

/// Tern targets Linux. Elsewhere there is no portable way to drop cached pages, so recovery
/// relies on the sync alone, which covers a killed process but not a failed fsync.
#[cfg(not(target_os = "linux"))]
fn evict_cached_pages(_file: &File) -> io::Result<bool> {
    Ok(false)
}

/// Reads one segment file from the device, refusing one over `SEGMENT_BYTES_MAX` without
/// reading it all. Also returns whether its cached pages were dropped first.
fn read_segment(path: &Path) -> Result<(Vec<u8>, bool), DiskError> {
    let file = File::open(path).map_err(DiskError::io("open log segment", path))?;
    let len = file
        .metadata()
        .map_err(DiskError::io("stat log segment", path))?
        .len();
    let too_large = |len: u64| DiskError::TooLarge {
        path: path.to_path_buf(),
        what: format!("log segment of {len} bytes, over the limit of {SEGMENT_BYTES_MAX}"),
    };
    if len > SEGMENT_BYTES_MAX {
        return Err(too_large(len));
    }
    let evicted = evict_cached_pages(&file)
        .map_err(DiskError::io("drop cached pages of log segment", path))?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // Bounded even if the file grew since the stat.
    file.take(SEGMENT_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(DiskError::io("read log segment", path))?;
    if bytes.len() as u64 > SEGMENT_BYTES_MAX {
        return Err(too_large(bytes.len() as u64));
    }
    Ok((bytes, evicted))
}

fn sync_dir(dir: &Path) -> Result<(), DiskError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(DiskError::io("sync directory", dir))
}

const LOCK_FILE: &str = "LOCK";

/// Keeps a second node off a data directory while this one runs: a `LOCK` file holding
/// the owner's process id, removed when the disk thread ends. A lock left by a process that
/// no longer runs (a crash, SIGKILL) is taken over.
#[derive(Debug)]
struct DirLock {
    path: PathBuf,
}

impl DirLock {
    fn acquire(dir: &Path) -> Result<DirLock, DiskError> {
        let path = dir.join(LOCK_FILE);
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(std::process::id().to_string().as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(DiskError::io("write lock file", &path))?;
                    return Ok(DirLock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path)
                        .ok()
                        .and_then(|text| text.trim().parse::<u32>().ok());
                    if let Some(pid) = holder.filter(|pid| runs_a_node(*pid)) {
                        return Err(DiskError::Locked { path, pid });
                    }
                    tracing::warn!(file = %path.display(), "taking over a lock left by a node that no longer runs");
                    match fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(DiskError::io("remove stale lock file", &path)(e)),
                    }
                }
                Err(e) => return Err(DiskError::io("create lock file", &path)(e)),
            }
        }
        Err(DiskError::io("create lock file", &path)(io::Error::other(
            "another process keeps creating it",
        )))
    }
}

/// True if `pid` is this process, or a live process running the same executable (a
/// process id reused by an unrelated program does not count).
fn runs_a_node(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let theirs = fs::read_link(format!("/proc/{pid}/exe"));
    let ours = fs::read_link("/proc/self/exe");
    matches!((theirs, ours), (Ok(a), Ok(b)) if a == b)
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Reads every segment of `dir` (creating the directory and a first segment if there are
/// none), runs core recovery, and truncates torn tails. Returns what core recovered and the
/// writer for the newest segment. (A node starts through `open_node`; this is for tools
/// and tests that look at the recovered state itself.)
pub fn open(dir: &Path) -> Result<(Recovered, LogWriter), DiskError> {
    let recover =
        |segments: &[Segment<'_>]| recover_segments(segments).map_err(StartError::Recovery);
    let layout = |r: &Recovered| (r.torn.clone(), r.segment_base);
    open_with(dir, recover, layout).map_err(|failure| match failure {
        StartFailure::Disk(error) => error,
        StartFailure::Config(error) => DiskError::Io {
            op: "recover the log",
            path: dir.to_path_buf(),
            source: io::Error::other(error.to_string()),
        },
    })
}

/// Why a node could not start on its data directory.
#[derive(Debug)]
pub enum StartFailure {
    Disk(DiskError),
    Config(ConfigError),
}

/// Starts node `id` on the log in `dir`: the segments are synced, evicted and read (see the
/// module doc), core's `Node::start` recovers them and builds the node, and the torn tails it
/// names are truncated before the writer opens the newest segment for appends.
pub fn open_node(
    dir: &Path,
    config: Config,
    id: NodeId,
    seed: u64,
) -> Result<(Started, LogWriter), StartFailure> {
    let start = |segments: &[Segment<'_>]| Node::start(config, id, seed, segments);
    let layout = |s: &Started| (s.torn.clone(), s.segment_base);
    open_with(dir, start, layout)
}

/// The file work around a recovery: lock, list, sync, evict and read every segment, hand
/// them to `start`, then truncate the torn tails `layout` names and open the segment it
/// names for appends.
fn open_with<T>(
    dir: &Path,
    start: impl FnOnce(&[Segment<'_>]) -> Result<T, StartError>,
    layout: impl Fn(&T) -> (Vec<TornTail>, u64),
) -> Result<(T, LogWriter), StartFailure> {
    let disk = StartFailure::Disk;

    fs::create_dir_all(dir)
        .map_err(DiskError::io("create data directory", dir))
        .map_err(disk)?;
    let lock = DirLock::acquire(dir).map_err(disk)?;
    let mut segments = list_segments(dir).map_err(disk)?;
    if segments.is_empty() {
        let path = dir.join(segment_file_name(0));
        File::create(&path)
            .and_then(|f| f.sync_all())
            .map_err(DiskError::io("create log segment", &path))
            .map_err(disk)?;
        sync_dir(dir).map_err(disk)?;
        segments.push((0, path));
    }
    let mut at_open = OpenStats::default();
    // Nothing is read before everything is synced: see the module doc. Each file is opened
    // twice so that at most one is open at a time, however many segments there are.
    for (_, path) in &segments {
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(DiskError::io("sync log segment before recovery", path))
            .map_err(disk)?;
        at_open.segments_synced += 1;
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(DiskError::io("sync data directory before recovery", dir))
        .map_err(disk)?;
    at_open.dir_synced = true;
    let mut contents = Vec::with_capacity(segments.len());
    for (_, path) in &segments {
        let (bytes, evicted) = read_segment(path).map_err(disk)?;
        at_open.segments_evicted += u64::from(evicted);
        contents.push(bytes);
    }
    let views: Vec<Segment<'_>> = segments
        .iter()
        .zip(&contents)
        .map(|((base, _), bytes)| Segment { base: *base, bytes })
        .collect();
    let started = start(&views).map_err(|failure| {
        let error = match failure {
            StartError::Recovery(error) => error,
            StartError::Config(error) => return StartFailure::Config(error),
        };
        let (base, offset) = match &error {
            RecoveryError::Corrupt { base, offset, .. }
            | RecoveryError::Unreadable { base, offset, .. } => (*base, *offset),
        };
        let path = segments
            .iter()
            .find(|(b, _)| *b == base)
            .map_or_else(|| dir.join(segment_file_name(base)), |(_, p)| p.clone());
        StartFailure::Disk(DiskError::Corrupt {
            path,
            position: offset - base,
            error,
        })
    })?;
    drop(views);
    drop(contents);
    let (torn_tails, segment_base) = layout(&started);
    for torn in &torn_tails {
        let path = dir.join(segment_file_name(torn.base));
        tracing::warn!(
            file = %path.display(),
            position = torn.offset - torn.base,
            dropped_bytes = torn.dropped_bytes,
            "truncating a torn tail (bytes written but never synced)"
        );
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| {
                f.set_len(torn.offset - torn.base)?;
                f.sync_all()
            })
            .map_err(DiskError::io("truncate torn tail of", &path))
            .map_err(disk)?;
        at_open.torn_tails_truncated += 1;
    }
    let path = dir.join(segment_file_name(segment_base));
    let file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(DiskError::io("open log segment for append", &path))
        .map_err(disk)?;
    let writer = LogWriter {
        dir: dir.to_path_buf(),
        file,
        path,
        segments: segments.into_iter().map(|(b, _)| b).collect(),
        stats: Arc::new(DiskStats {
            at_open,
            ..DiskStats::default()
        }),
        _lock: lock,
    };
    Ok((started, writer))
}

/// What the node task asks of the disk thread, in log order.
#[derive(Debug)]
pub enum DiskCommand {
    /// Append to the newest segment; report durable up to `end`.
    Persist { bytes: Vec<u8>, end: u64 },
    /// Start the segment at `base` holding `bytes`; report durable up to `end`.
    Compact { base: u64, bytes: Vec<u8>, end: u64 },
    /// Delete every segment older than `base`.
    DropBefore { base: u64 },
}

/// What the disk thread reports back.
#[derive(Debug)]
pub enum DiskEvent {
    /// Every log byte before `upto` is written and synced.
    Persisted { upto: u64 },
    /// A write or sync failed. The thread has stopped; the node must stop too, since it can
    /// no longer know which bytes are durable.
    Failed(DiskError),
}

/// Owns the newest segment file. Lives on the disk thread.
#[derive(Debug)]
pub struct LogWriter {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    /// Bases of the segments on disk, oldest first.
    segments: Vec<u64>,
    stats: Arc<DiskStats>,
    /// Held until the disk thread ends, after its last sync.
    _lock: DirLock,
}

impl LogWriter {
    pub fn stats(&self) -> Arc<DiskStats> {
        self.stats.clone()
    }

    /// Starts the disk thread. It ends, after syncing what it was given, when every sender
    /// of `commands` is dropped.
    pub fn spawn(
        self,
        commands: std_mpsc::Receiver<DiskCommand>,
        events: mpsc::UnboundedSender<DiskEvent>,
    ) -> io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("tern-disk".to_string())
            .spawn(move || self.run(commands, events))
    }

    fn run(
        mut self,
        commands: std_mpsc::Receiver<DiskCommand>,
        events: mpsc::UnboundedSender<DiskEvent>,
    ) {
        let mut batch = Vec::new();
        // Group commit: take everything that queued up while the last sync ran.
        while let Ok(first) = commands.recv() {
            batch.push(first);
            batch.extend(commands.try_iter());
            match self.apply(&mut batch) {
                Ok(Some(upto)) => {
                    if events.send(DiskEvent::Persisted { upto }).is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, "log write failed; the node stops");
                    let _ = events.send(DiskEvent::Failed(error));
                    return;
                }
            }
        }
        if let Err(error) = self.file.sync_data() {
            tracing::error!(file = %self.path.display(), %error, "final sync failed");
        }
    }

    /// Carries out one batch: writes, then one sync per touched file, then deletions.
    fn apply(&mut self, batch: &mut Vec<DiskCommand>) -> Result<Option<u64>, DiskError> {
        let mut pending: Vec<u8> = Vec::new();
        let mut upto = None;
        let mut drop_before = None;
        let mut new_segment = false;
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats
            .commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for command in batch.drain(..) {
            match command {
                DiskCommand::Persist { bytes, end } => {
                    if pending.is_empty() {
                        pending = bytes;
                    } else {
                        pending.extend_from_slice(&bytes);
                    }
                    upto = Some(end);
                }
                DiskCommand::Compact { base, bytes, end } => {
                    // The old segment's bytes come first in the log: write and sync them
                    // before the new segment takes appends.
                    self.write(&pending)?;
                    pending.clear();
                    self.sync()?;
                    let path = self.dir.join(segment_file_name(base));
                    let file = OpenOptions::new()
                        .create(true)
                        .truncate(true)
                        .write(true)
                        .open(&path)
                        .map_err(DiskError::io("create log segment", &path))?;
                    self.file = file;
                    self.path = path;
                    self.segments.push(base);
                    self.write(&bytes)?;
                    new_segment = true;
                    upto = Some(end);
                }
                DiskCommand::DropBefore { base } => drop_before = Some(base),
            }
        }
        self.write(&pending)?;
        if upto.is_some() {
            self.sync()?;
        }
        if new_segment {
            sync_dir(&self.dir)?;
        }
        if let Some(base) = drop_before {
            self.drop_before(base)?;
        }
        Ok(upto)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DiskError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(bytes)
            .map_err(DiskError::io("append to log segment", &self.path))?;
        self.stats
            .bytes_written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), DiskError> {
        self.file
            .sync_data()
            .map_err(DiskError::io("fdatasync log segment", &self.path))?;
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn drop_before(&mut self, base: u64) -> Result<(), DiskError> {
        let (old, keep): (Vec<u64>, Vec<u64>) = self.segments.iter().partition(|b| **b < base);
        for b in &old {
            let path = self.dir.join(segment_file_name(*b));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(DiskError::io("delete old log segment", &path)(e)),
            }
        }
        self.segments = keep;
        if !old.is_empty() {
            tracing::info!(
                segments = old.len(),
                base,
                "compaction done; dropped old segments"
            );
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
