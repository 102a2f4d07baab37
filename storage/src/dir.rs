//! The file-system operations the log needs, in one data directory.

use std::io;
use std::ops::Deref;
use std::sync::Arc;

/// A segment's bytes as `Dir::read_shared` hands them over: read into a buffer of their own,
/// or shared with the directory that holds them (an in-memory one), which then never
/// changes them in place.
#[derive(Clone, Debug)]
pub enum SharedBytes {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl Deref for SharedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            SharedBytes::Owned(bytes) => bytes,
            SharedBytes::Shared(bytes) => bytes,
        }
    }
}

/// One data directory. The node implements it with real files (`std::fs`, `fsync`,
/// `posix_fadvise`); the simulator with its virtual disk, where a sync is a request that
/// completes (or fails) later in virtual time and a power loss forgets whatever was not
/// synced, names included.
///
/// Names are plain file names inside the directory. Every method may fail; the callers in
/// this crate add what they were doing and on which file.
pub trait Dir {
    /// A file open for appends.
    type File;

    /// Creates the directory if it does not exist.
    fn create_dir(&mut self) -> io::Result<()>;
    /// The names of the files in the directory, in any order.
    fn list(&mut self) -> io::Result<Vec<String>>;
    /// Creates `name` empty (truncating it if it exists), open for appends.
    fn create(&mut self, name: &str) -> io::Result<Self::File>;
    /// Opens the existing `name` for appends at its end.
    fn open_append(&mut self, name: &str) -> io::Result<Self::File>;
    /// Appends `bytes` to `file` (not durable until a sync).
    fn append(&mut self, file: &mut Self::File, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was appended to `file` durable (`fdatasync`).
    fn sync(&mut self, file: &mut Self::File) -> io::Result<()>;
    /// Gives back space a file was given ahead of its appends, if any (the node's segment
    /// files grow in zero-filled steps), so that it ends where its appends do, durably;
    /// called after a sync, when a compaction leaves the file for a new one and at a clean
    /// stop.
    fn trim(&mut self, _file: &mut Self::File) -> io::Result<()> {
        Ok(())
    }
    /// Makes the whole of `name` durable (open it and `fsync`).
    fn sync_name(&mut self, name: &str) -> io::Result<()>;
    /// Makes the directory's entries durable: files created and removed in it.
    fn sync_dir(&mut self) -> io::Result<()>;
    /// The length of `name` in bytes.
    fn len(&mut self, name: &str) -> io::Result<u64>;
    /// Drops the cached pages of `name`, so the next read comes from the device. Returns
    /// whether the platform could.
    fn evict(&mut self, name: &str) -> io::Result<bool>;
    /// Reads `name` from its start, at most `max` bytes.
    fn read(&mut self, name: &str, max: u64) -> io::Result<Vec<u8>>;
    /// `read`, for a directory that can hand over bytes it holds without copying them (the
    /// simulator's disk: start-up reads every segment at every restart).
    fn read_shared(&mut self, name: &str, max: u64) -> io::Result<SharedBytes> {
        self.read(name, max).map(SharedBytes::Owned)
    }
    /// Cuts `name` to `len` bytes and makes that durable.
    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()>;
    /// Removes `name`; a file already gone is not an error.
    fn remove(&mut self, name: &str) -> io::Result<()>;
    /// Renames `from` to `to` inside the directory (durable after `sync_dir`).
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()>;
}
