//! The log on disk: segment files under the data directory, read back at start-up and
//! appended to by one dedicated thread that batches syncs (group commit).
//!
//! The file work itself (which files, in what order they are synced, read, truncated,
//! created and removed) is `tern_storage`'s, shared with the simulator, which runs the same
//! code over its virtual disk. This module supplies the real files (`RealDir`: `std::fs`,
//! `fdatasync`, `posix_fadvise`), the lock that keeps a second node off a data directory,
//! the disk thread, and errors with full paths. What the bytes mean is core's.
//!
//! Recovery must read what is on the device, not what the page cache remembers (see
//! `tern_storage`'s `open_log`): after a kill, bytes never synced stay in the page cache,
//! dirty; after a failed fsync, Linux may mark the failed pages clean, readable though they
//! never reached the device. So every segment and the directory are synced before any byte
//! is read, and each file's cached pages are dropped with
//! `posix_fadvise(POSIX_FADV_DONTNEED)` right before it is read: the pages are clean after
//! the sync, and Linux drops clean pages, including those a failed fsync marked clean.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use tern_core::{
    recover_segments, Config, ConfigError, Node, NodeId, Recovered, RecoveryError, Segment,
    StartError, Started, Time, TornTail,
};
use tern_storage::{open_log, started_layout, Opened, Segments, StorageError};
use tokio::sync::mpsc;

mod real;

pub use real::{RealDir, SegmentFile};
pub use tern_storage::{
    grown_length, segment_file_name, DiskCommand, OpenStats, Oversized, SEGMENT_GROWTH_MAX,
    SEGMENT_GROWTH_MIN,
};

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
    TooLarge { path: PathBuf, what: Oversized },
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

    /// The storage layer's error, with the data directory's path added.
    fn from_storage(dir: &Path, error: StorageError) -> Result<DiskError, ConfigError> {
        let path = |file: &str| match file {
            "" => dir.to_path_buf(),
            file => dir.join(file),
        };
        Ok(match error {
            StorageError::Io { op, file, source } => DiskError::Io {
                op,
                path: path(&file),
                source,
            },
            StorageError::Corrupt {
                file,
                position,
                error,
            } => DiskError::Corrupt {
                path: path(&file),
                position,
                error,
            },
            StorageError::TooLarge { file, what } => DiskError::TooLarge {
                path: path(&file),
                what,
            },
            StorageError::Config(error) => return Err(error),
        })
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
    /// What opening did before and after recovery read the log; set once, at open.
    pub at_open: OpenStats,
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
    let layout = |r: &Recovered| (r.torn.clone(), r.segment_base, Segments::Keep);
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

/// Starts node `id` on the log in `dir` at `now` (the wall clock): `tern_storage` syncs, evicts and reads the
/// segments, core's `Node::start` recovers them and builds the node, and the torn tails it
/// names are truncated before the writer opens the newest segment for appends.
pub fn open_node(
    dir: &Path,
    config: Config,
    id: NodeId,
    seed: u64,
    now: Time,
) -> Result<(Started, LogWriter), StartFailure> {
    let start = |segments: &[Segment<'_>]| Node::start(config, id, seed, now, segments);
    open_with(dir, start, started_layout)
}

/// Locks `dir` and opens its log through `tern_storage`.
fn open_with<T>(
    dir: &Path,
    start: impl FnOnce(&[Segment<'_>]) -> Result<T, StartError>,
    layout: impl Fn(&T) -> (Vec<TornTail>, u64, Segments),
) -> Result<(T, LogWriter), StartFailure> {
    fs::create_dir_all(dir)
        .map_err(DiskError::io("create data directory", dir))
        .map_err(StartFailure::Disk)?;
    let lock = DirLock::acquire(dir).map_err(StartFailure::Disk)?;
    let mut real = RealDir::new(dir);
    let opened =
        open_log(&mut real, start, layout).map_err(|error| {
            match DiskError::from_storage(dir, error) {
                Ok(error) => StartFailure::Disk(error),
                Err(error) => StartFailure::Config(error),
            }
        })?;
    let Opened {
        started,
        writer,
        stats,
    } = opened;
    if stats.segments_set_aside > 0 {
        tracing::error!(
            segments = stats.segments_set_aside,
            "synced log bytes are damaged: every segment was renamed damaged-NNNN-... (kept \
             for inspection) and the node starts on an empty log, rebuilding from its replicas"
        );
    }
    if stats.torn_tails_truncated > stats.zero_tails_truncated {
        tracing::warn!(
            tails = stats.torn_tails_truncated - stats.zero_tails_truncated,
            dropped_bytes = stats.bytes_truncated,
            "truncated torn tails (bytes written but never synced)"
        );
    }
    let writer = LogWriter {
        dir: real,
        writer,
        stats: Arc::new(DiskStats {
            at_open: stats,
            ..DiskStats::default()
        }),
        _lock: lock,
    };
    Ok((started, writer))
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

/// Owns the newest segment file and the directory lock. Lives on the disk thread.
#[derive(Debug)]
pub struct LogWriter {
    dir: RealDir,
    writer: tern_storage::LogWriter<SegmentFile>,
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
            let applied = self.writer.apply(&mut self.dir, &mut batch);
            self.publish_stats();
            match applied {
                Ok(Some(upto)) => {
                    if events.send(DiskEvent::Persisted { upto }).is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    let error =
                        DiskError::from_storage(&self.dir.path, error).unwrap_or_else(|config| {
                            DiskError::Io {
                                op: "write the log",
                                path: self.dir.path.clone(),
                                source: io::Error::other(config.to_string()),
                            }
                        });
                    tracing::error!(%error, "log write failed; the node stops");
                    let _ = events.send(DiskEvent::Failed(error));
                    return;
                }
            }
        }
        if let Err(error) = self.writer.sync_current(&mut self.dir) {
            tracing::error!(%error, "final sync failed");
        }
    }

    /// Mirrors the writer's counters into the shared atomics the node task reads.
    fn publish_stats(&self) {
        let now = self.writer.stats();
        self.stats.syncs.store(now.syncs, Ordering::Relaxed);
        self.stats
            .bytes_written
            .store(now.bytes_written, Ordering::Relaxed);
        self.stats.batches.store(now.batches, Ordering::Relaxed);
        self.stats.commands.store(now.commands, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
