//! A process killed in the middle of a batch: the virtual disk as the node's log code sees
//! it while its process dies between two file operations, or inside an append.
//!
//! The log code (`tern_storage::LogWriter::apply`) carries a batch out as a sequence of
//! file operations: appends, syncs, a trim, a segment's creation, removals, directory syncs.
//! A SIGKILL can land between any two of them, and inside a `write` (Linux stops a write
//! between two pages when a fatal signal is pending; `write_all` makes several calls), so
//! only a prefix of an append may reach the page cache. `Cut` lets `ops` operations through,
//! then fails the next one (after appending a prefix of its bytes, if it is an append) and
//! every one after: the log code stops at the first error, as a dead process stops. What
//! reached the page cache stays there; the caller then kills the process
//! (`Disk::kill`), and the restart reads it back.

use super::Disk;
use std::io;
use tern_storage::{Dir, SharedBytes};

#[derive(Debug)]
pub struct Cut<'a> {
    disk: &'a mut Disk,
    /// Operations still let through.
    ops: usize,
    /// Of the append the cut falls in, the share of its bytes written: `prefix / u64::MAX`.
    prefix: u64,
    /// The cut fell (the process died), and where: `Some(true)` inside an append.
    cut: Option<bool>,
}

impl<'a> Cut<'a> {
    /// A disk on which the process dies after `ops` more file operations; `prefix` (drawn)
    /// sets how much of an append it dies in is written.
    pub fn new(disk: &'a mut Disk, ops: usize, prefix: u64) -> Cut<'a> {
        Cut {
            disk,
            ops,
            prefix,
            cut: None,
        }
    }

    /// Whether the process died, and if so whether inside an append.
    pub fn cut(&self) -> Option<bool> {
        self.cut
    }

    /// Lets one operation through, or says the process is dead.
    fn pass(&mut self) -> io::Result<()> {
        if self.cut.is_some() {
            return Err(dead());
        }
        if self.ops == 0 {
            self.cut = Some(false);
            return Err(dead());
        }
        self.ops -= 1;
        Ok(())
    }
}

fn dead() -> io::Error {
    io::Error::other("the process was killed")
}

impl Dir for Cut<'_> {
    type File = String;

    fn create_dir(&mut self) -> io::Result<()> {
        self.pass()?;
        self.disk.create_dir()
    }

    fn list(&mut self) -> io::Result<Vec<String>> {
        self.disk.list()
    }

    fn create(&mut self, name: &str) -> io::Result<String> {
        self.pass()?;
        self.disk.create(name)
    }

    fn open_append(&mut self, name: &str) -> io::Result<String> {
        self.disk.open_append(name)
    }

    fn append(&mut self, file: &mut String, bytes: &[u8]) -> io::Result<()> {
        if self.cut.is_none() && self.ops == 0 {
            // The write the process dies in: a prefix of it reaches the page cache.
            self.cut = Some(true);
            let share = u128::from(self.prefix) * bytes.len() as u128 / u128::from(u64::MAX);
            let len = usize::try_from(share).unwrap_or(0).min(bytes.len());
            self.disk.append(file, &bytes[..len])?;
            return Err(dead());
        }
        self.pass()?;
        self.disk.append(file, bytes)
    }

    fn sync(&mut self, file: &mut String) -> io::Result<()> {
        self.pass()?;
        self.disk.sync(file)
    }

    fn trim(&mut self, file: &mut String) -> io::Result<()> {
        self.pass()?;
        self.disk.trim(file)
    }

    fn sync_name(&mut self, name: &str) -> io::Result<()> {
        self.pass()?;
        self.disk.sync_name(name)
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        self.pass()?;
        self.disk.sync_dir()
    }

    fn len(&mut self, name: &str) -> io::Result<u64> {
        self.disk.len(name)
    }

    fn evict(&mut self, name: &str) -> io::Result<bool> {
        self.disk.evict(name)
    }

    fn read(&mut self, name: &str, max: u64) -> io::Result<Vec<u8>> {
        self.disk.read(name, max)
    }

    fn read_shared(&mut self, name: &str, max: u64) -> io::Result<SharedBytes> {
        self.disk.read_shared(name, max)
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        self.pass()?;
        self.disk.truncate(name, len)
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        self.pass()?;
        self.disk.remove(name)
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        self.pass()?;
        self.disk.rename(from, to)
    }
}
