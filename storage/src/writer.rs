//! Carrying out core's log outputs: batches of appends, compactions and removals.

use crate::open::rename_aside;
use crate::{segment_file_name, stale_file_name, Dir, StorageError};

/// One of core's log outputs, as a driver queues it for the writer, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskCommand {
    /// Append to the newest segment; report durable up to `end` (`Output::Persist`).
    Persist { bytes: Vec<u8>, end: u64 },
    /// Start the segment at `base` holding `bytes`; report durable up to `end`
    /// (`Output::Compact`).
    Compact { base: u64, bytes: Vec<u8>, end: u64 },
    /// Remove every segment older than `base` (`Output::DropSegmentsBefore`).
    DropBefore { base: u64 },
    /// Rename every segment out of the log (`stale-NNNN-...`, kept for inspection) and
    /// start a new, empty log at offset 0, where later appends go (`Output::SetAsideLog`).
    SetAside,
}

/// What the writer has done, for benchmarks and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub syncs: u64,
    pub bytes_written: u64,
    pub batches: u64,
    pub commands: u64,
    /// Logs set aside at run time (`DiskCommand::SetAside`).
    pub sets_aside: u64,
}

/// Owns the newest segment and knows which segments exist. The node keeps it on its disk
/// thread; the simulator in its process driver. The `Dir` is passed to each call, so the
/// files outlive a writer dropped in a crash.
#[derive(Debug)]
pub struct LogWriter<F> {
    file: F,
    name: String,
    /// Bases of the segments on disk, oldest first.
    segments: Vec<u64>,
    stats: WriterStats,
}

impl<F> LogWriter<F> {
    pub(crate) fn new(file: F, name: String, segments: Vec<u64>) -> LogWriter<F> {
        LogWriter {
            file,
            name,
            segments,
            stats: WriterStats::default(),
        }
    }

    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// The name of the segment that takes appends.
    pub fn current(&self) -> &str {
        &self.name
    }

    /// Carries out one batch (group commit: everything that queued up while the last batch
    /// ran): the appends, then one sync per file written, then the directory if a segment
    /// was created, then removals. Returns the log offset now durable, if the batch wrote
    /// anything. An error leaves the log in an unknown state: the node must stop.
    ///
    /// Compaction order: the old segment's pending bytes come first in the log, so they
    /// are written and synced (and the segment trimmed to them, `Dir::trim`) before the new
    /// segment takes appends; the new segment's
    /// name is made durable (directory sync) before its bytes are reported durable; old
    /// segments go only when core asks, after the new one is durable.
    pub fn apply<D: Dir<File = F>>(
        &mut self,
        dir: &mut D,
        batch: &mut Vec<DiskCommand>,
    ) -> Result<Option<u64>, StorageError> {
        let mut pending: Vec<u8> = Vec::new();
        let mut upto = None;
        let mut drop_before = None;
        let mut new_segment = false;
        self.stats.batches += 1;
        self.stats.commands += batch.len() as u64;
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
                    if !pending.is_empty() {
                        self.write(dir, &pending)?;
                        pending.clear();
                        self.sync(dir)?;
                    }
                    // The old segment must end where its records do before the new one takes
                    // any: space grown ahead of its appends would otherwise lie inside the
                    // log, between two segments, where recovery would take the zeros for
                    // damaged synced bytes once a later mark vouches past them.
                    dir.trim(&mut self.file)
                        .map_err(StorageError::io("trim log segment", &self.name))?;
                    let name = segment_file_name(base);
                    self.file = dir
                        .create(&name)
                        .map_err(StorageError::io("create log segment", &name))?;
                    self.name = name;
                    self.segments.push(base);
                    self.write(dir, &bytes)?;
                    new_segment = true;
                    upto = Some(end);
                }
                DiskCommand::DropBefore { base } => drop_before = Some(base),
                DiskCommand::SetAside => {
                    // What came before belongs to the old log: written and synced, never
                    // reported (core started a new log and waits for none of it).
                    if !pending.is_empty() {
                        self.write(dir, &pending)?;
                        pending.clear();
                        self.sync(dir)?;
                    }
                    let op = "set stale log segment aside";
                    rename_aside(dir, &self.segments, stale_file_name, op)?;
                    let name = segment_file_name(0);
                    self.file = dir
                        .create(&name)
                        .map_err(StorageError::io("create log segment", &name))?;
                    self.name = name;
                    self.segments = vec![0];
                    self.stats.sets_aside += 1;
                    new_segment = true;
                    upto = None;
                    drop_before = None;
                }
            }
        }
        self.write(dir, &pending)?;
        if upto.is_some() {
            self.sync(dir)?;
        }
        if new_segment {
            dir.sync_dir()
                .map_err(StorageError::io("sync data directory", ""))?;
        }
        if let Some(base) = drop_before {
            self.drop_before(dir, base)?;
        }
        Ok(upto)
    }

    /// Makes the newest segment durable, then gives back the space allocated ahead of its
    /// appends (`Dir::trim`); for a clean stop.
    pub fn sync_current<D: Dir<File = F>>(&mut self, dir: &mut D) -> Result<(), StorageError> {
        self.sync(dir)?;
        dir.trim(&mut self.file)
            .map_err(StorageError::io("trim log segment", &self.name))
    }

    fn write<D: Dir<File = F>>(&mut self, dir: &mut D, bytes: &[u8]) -> Result<(), StorageError> {
        if bytes.is_empty() {
            return Ok(());
        }
        dir.append(&mut self.file, bytes)
            .map_err(StorageError::io("append to log segment", &self.name))?;
        self.stats.bytes_written += bytes.len() as u64;
        Ok(())
    }

    fn sync<D: Dir<File = F>>(&mut self, dir: &mut D) -> Result<(), StorageError> {
        dir.sync(&mut self.file)
            .map_err(StorageError::io("fdatasync log segment", &self.name))?;
        self.stats.syncs += 1;
        Ok(())
    }

    fn drop_before<D: Dir<File = F>>(
        &mut self,
        dir: &mut D,
        base: u64,
    ) -> Result<(), StorageError> {
        let (old, keep): (Vec<u64>, Vec<u64>) = self.segments.iter().partition(|b| **b < base);
        for b in &old {
            let name = segment_file_name(*b);
            dir.remove(&name)
                .map_err(StorageError::io("delete old log segment", &name))?;
        }
        self.segments = keep;
        if !old.is_empty() {
            dir.sync_dir()
                .map_err(StorageError::io("sync data directory", ""))?;
        }
        Ok(())
    }
}
