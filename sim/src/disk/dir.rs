//! The virtual disk as `tern_storage`'s file system: the node's own log code (segment
//! files, start-up syncs and reads, group commit, compaction order, directory syncs) runs
//! on it.

use super::{Disk, File};
use std::io;
use std::sync::Arc;
use tern_storage::SharedBytes;

/// The node's log code runs on the virtual disk through the same trait as on real files.
impl tern_storage::Dir for Disk {
    type File = String;

    fn create_dir(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn list(&mut self) -> io::Result<Vec<String>> {
        Ok(self.files.keys().cloned().collect())
    }

    fn create(&mut self, name: &str) -> io::Result<String> {
        // Truncating an existing file keeps its (durable) name; a new name is pending.
        let name_durable = self.files.get(name).is_some_and(|f| f.name_durable);
        let file = File {
            name_durable,
            ..File::default()
        };
        self.files.insert(name.to_string(), file);
        Ok(name.to_string())
    }

    fn open_append(&mut self, name: &str) -> io::Result<String> {
        self.file(name)?;
        Ok(name.to_string())
    }

    fn append(&mut self, file: &mut String, bytes: &[u8]) -> io::Result<()> {
        let file = self.file(file)?;
        Arc::make_mut(&mut file.data).extend_from_slice(bytes);
        let grown = tern_storage::grown_length(file.allocated as u64, file.data.len() as u64);
        file.allocated = usize::try_from(grown).unwrap_or(usize::MAX);
        Ok(())
    }

    fn sync(&mut self, file: &mut String) -> io::Result<()> {
        let name = file.clone();
        self.sync_name(&name)
    }

    fn sync_name(&mut self, name: &str) -> io::Result<()> {
        let file = self.file(name)?;
        let (len, allocated) = (file.data.len(), file.allocated);
        self.requested.file(name, len, allocated);
        Ok(())
    }

    fn trim(&mut self, file: &mut String) -> io::Result<()> {
        // `set_len` then `sync_all`, as the node does: the length is durable at once (the
        // data's own sync was asked for before).
        let file = self.file(file)?;
        file.allocated = file.data.len();
        file.durable_allocated = file.durable_allocated.min(file.allocated);
        Ok(())
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        self.requested.dir();
        Ok(())
    }

    fn len(&mut self, name: &str) -> io::Result<u64> {
        let file = self.file(name)?;
        Ok(file.allocated.max(file.data.len()) as u64)
    }

    fn evict(&mut self, name: &str) -> io::Result<bool> {
        let file = self.file(name)?;
        if let Some(from) = file.failed_from.take() {
            let from = from.max(file.durable_len).min(file.data.len());
            let gone = (file.data.len() - from) as u64;
            Arc::make_mut(&mut file.data).truncate(from);
            self.evicted_bytes += gone;
        }
        Ok(true)
    }

    fn read(&mut self, name: &str, max: u64) -> io::Result<Vec<u8>> {
        let data = self.file(name)?.image();
        let max = usize::try_from(max).unwrap_or(usize::MAX).min(data.len());
        Ok(data[..max].to_vec())
    }

    fn read_shared(&mut self, name: &str, max: u64) -> io::Result<SharedBytes> {
        let data = self.file(name)?.image();
        if usize::try_from(max).is_ok_and(|max| max >= data.len()) {
            return Ok(SharedBytes::Shared(data));
        }
        self.read(name, max).map(SharedBytes::Owned)
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        let file = self.file(name)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len < file.data.len() {
            Arc::make_mut(&mut file.data).truncate(len);
        } else if len > file.data.len() && len <= file.allocated {
            // The log ends inside the zeros grown ahead (a record whose last bytes are zeros,
            // the rest of its sector dropped by a power loss): those zeros are the record's,
            // and the node appends after them, at `len`.
            Arc::make_mut(&mut file.data).resize(len, 0);
        }
        file.durable_len = file.durable_len.min(file.data.len());
        file.decoded_upto = file.decoded_upto.min(file.data.len());
        if file.failed_from.is_some_and(|f| f >= file.data.len()) {
            file.failed_from = None;
        }
        // `set_len` then `sync_all`: the cut is durable when the call returns, except
        // bytes a failed sync poisoned (eviction drops those before anything is cut).
        let reachable = file.failed_from.unwrap_or(usize::MAX);
        file.durable_len = file.data.len().min(reachable).max(file.durable_len);
        // The cut takes the zeros grown ahead past `len` with it (it never lengthens).
        file.allocated = len.min(file.allocated).max(file.data.len());
        file.durable_allocated = file.allocated;
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        let file = self
            .files
            .remove(from)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, from.to_string()))?;
        // Only start-up renames (to set damaged segments aside), and it syncs the directory
        // before anything else: the new name is as durable as the old one was.
        self.files.insert(to.to_string(), file);
        Ok(())
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        if let Some(file) = self.files.remove(name) {
            if file.name_durable {
                self.removed.insert(name.to_string(), file);
            }
        }
        Ok(())
    }
}
