//! The data directory as real files: `RealDir`, `tern_storage`'s file system for the node
//! (`std::fs`, `fdatasync`, `posix_fadvise`), and `SegmentFile`, the newest segment grown
//! ahead of its appends in zeros.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use tern_storage::{grown_length, Dir, SEGMENT_GROWTH_MIN};

/// The data directory as real files: `tern_storage`'s file system for the node.
#[derive(Debug)]
pub struct RealDir {
    pub(super) path: PathBuf,
}

impl RealDir {
    pub fn new(path: &Path) -> RealDir {
        RealDir {
            path: path.to_path_buf(),
        }
    }
}

impl Dir for RealDir {
    type File = SegmentFile;

    fn create_dir(&mut self) -> io::Result<()> {
        fs::create_dir_all(&self.path)
    }

    fn list(&mut self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
            // Bounded however large the directory: the storage layer refuses anything
            // with more segments than it will read.
            if names.len() > tern_storage::SEGMENTS_MAX * 2 + 16 {
                break;
            }
        }
        Ok(names)
    }

    fn create(&mut self, name: &str) -> io::Result<SegmentFile> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(self.path.join(name))?;
        Ok(SegmentFile {
            file,
            end: 0,
            allocated: 0,
        })
    }

    fn open_append(&mut self, name: &str) -> io::Result<SegmentFile> {
        // Not O_APPEND: writes go at `end`, inside space already allocated. Start-up cut any
        // zeros allocated ahead (a tail of zeros), so the file ends where the log does.
        let file = OpenOptions::new().write(true).open(self.path.join(name))?;
        let end = file.metadata()?.len();
        Ok(SegmentFile {
            file,
            end,
            allocated: end,
        })
    }

    fn append(&mut self, file: &mut SegmentFile, bytes: &[u8]) -> io::Result<()> {
        file.append(bytes)
    }

    fn sync(&mut self, file: &mut SegmentFile) -> io::Result<()> {
        file.file.sync_data()
    }

    fn trim(&mut self, file: &mut SegmentFile) -> io::Result<()> {
        if file.allocated > file.end {
            file.file.set_len(file.end)?;
            file.file.sync_all()?;
            file.allocated = file.end;
        }
        Ok(())
    }

    fn sync_name(&mut self, name: &str) -> io::Result<()> {
        // Opened read-only and closed at once, so at most one file is open at a time
        // however many segments there are.
        File::open(self.path.join(name))?.sync_all()
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        File::open(&self.path)?.sync_all()
    }

    fn len(&mut self, name: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.path.join(name))?.len())
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path.join(from), self.path.join(to))
    }

    fn evict(&mut self, name: &str) -> io::Result<bool> {
        evict_cached_pages(&File::open(self.path.join(name))?)
    }

    fn read(&mut self, name: &str, max: u64) -> io::Result<Vec<u8>> {
        let file = File::open(self.path.join(name))?;
        let capacity = file.metadata().map_or(0, |m| m.len().min(max));
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        file.take(max).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.path.join(name))?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.path.join(name)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// The newest segment, open for appends, grown ahead of them in zero-filled steps.
///
/// An `fdatasync` after an append that makes a file longer must also commit the new length
/// (on ext4, a journal commit: more writes, more cache flushes); after a write into space
/// the file already has, it syncs the data alone: about 1.5x the syncs per second, alone or
/// three at once on one disk (reports/sync-bench.md, `node/examples/sync_bench.rs`).
/// So the file grows by writing zeros past its end (real zeros, not `fallocate`: space
/// allocated unwritten is converted at its first write, which is a metadata change again),
/// synced with the append that needed them, and appends then write inside it.
///
/// Recovery reads the zeros as a tail of zeros and start-up cuts it (`TornTail::zeros`),
/// so a segment on disk is its log bytes followed by zeros at most.
#[derive(Debug)]
pub struct SegmentFile {
    file: File,
    /// Where the next append goes: the end of the log bytes in this file.
    end: u64,
    /// The file's length: log bytes, then zeros.
    allocated: u64,
}

impl SegmentFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let len = bytes.len() as u64;
        let needed = self.end.saturating_add(len);
        if needed > self.allocated {
            let target = grown_length(self.allocated, needed);
            static ZEROS: [u8; SEGMENT_GROWTH_MIN as usize] = [0; SEGMENT_GROWTH_MIN as usize];
            let mut at = needed.max(self.allocated);
            while at < target {
                let n = (target - at).min(ZEROS.len() as u64) as usize;
                self.file.write_all_at(&ZEROS[..n], at)?;
                at += n as u64;
            }
            self.allocated = target;
        }
        self.file.write_all_at(bytes, self.end)?;
        self.end = needed;
        Ok(())
    }
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
