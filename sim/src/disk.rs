//! A virtual disk: log segments whose written bytes are either durable (synced) or pending.
//!
//! Writes append to the newest segment and are pending until a sync that started after them
//! completes. Two kinds of crash treat pending bytes differently:
//! - a *process kill* leaves them in the page cache: a restarted process reads them back,
//!   yet they are still unsynced, and a later power loss decides their fate;
//! - a *power loss* keeps, drops (zeros, and a file that ends early) or tears (a prefix
//!   kept, the rest garbage) each pending sector independently. Durable bytes always survive.
//!
//! A *failed sync* leaves the bytes it covered readable (the kernel marked the pages clean)
//! until they are evicted, but they never reach the disk: no later sync makes them durable,
//! and a power loss drops them. Deleting a segment takes effect at once.
//!
//! The disk also keeps, for the checkers, what recovery would read after a power cut: every
//! object in its durable records (`synced`), updated as syncs complete.

use crate::rng::SimRng;
use std::collections::BTreeMap;
use tern_core::{Object, Record, Segment};

#[derive(Clone, Debug, Default)]
struct File {
    data: Vec<u8>,
    durable_len: usize,
    /// Bytes from here on went through a failed sync: readable until evicted, never durable.
    failed_from: Option<usize>,
    /// Durable records before this offset are folded into `Disk::synced`.
    decoded_upto: usize,
}

/// What a crash did to the pending sectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashDamage {
    pub kept: u64,
    pub dropped: u64,
    pub torn: u64,
}

#[derive(Debug)]
pub struct Disk {
    /// Segments by logical base offset.
    files: BTreeMap<u64, File>,
    sector_bytes: usize,
    /// Every object of every durable record: the synced state a power cut would leave.
    synced: BTreeMap<Vec<u8>, Object>,
}

/// The lengths every segment had when a sync started: what it makes durable.
pub type SyncTarget = Vec<(u64, usize)>;

impl Disk {
    pub fn new(sector_bytes: usize) -> Disk {
        Disk {
            files: BTreeMap::new(),
            sector_bytes,
            synced: BTreeMap::new(),
        }
    }

    /// Appends to the newest segment (a new disk's first write starts segment 0).
    pub fn append(&mut self, bytes: &[u8]) {
        let file = match self.files.last_entry() {
            Some(entry) => entry.into_mut(),
            None => self.files.entry(0).or_default(),
        };
        file.data.extend_from_slice(bytes);
    }

    /// Starts a new segment at logical offset `base` holding `bytes`.
    pub fn create_segment(&mut self, base: u64, bytes: &[u8]) {
        let file = File {
            data: bytes.to_vec(),
            ..File::default()
        };
        assert!(
            self.files.insert(base, file).is_none(),
            "segment {base} created twice"
        );
    }

    pub fn drop_segments_before(&mut self, base: u64) {
        self.files = self.files.split_off(&base);
    }

    pub fn sync_target(&self) -> SyncTarget {
        self.files.iter().map(|(b, f)| (*b, f.data.len())).collect()
    }

    /// A sync completed: what it covered is durable, except bytes an earlier failed sync
    /// poisoned, which never reach the disk.
    pub fn complete_sync(&mut self, target: &SyncTarget) {
        for (base, len) in target {
            if let Some(file) = self.files.get_mut(base) {
                let reachable = file.failed_from.unwrap_or(usize::MAX);
                let len = (*len).min(file.data.len()).min(reachable);
                file.durable_len = file.durable_len.max(len);
            }
        }
        self.fold_synced();
    }

    /// A sync failed: the bytes it covered stay readable but will never be durable.
    pub fn fail_sync(&mut self, target: &SyncTarget) {
        for (base, len) in target {
            if let Some(file) = self.files.get_mut(base) {
                if (*len).min(file.data.len()) > file.durable_len {
                    let from = file.failed_from.unwrap_or(usize::MAX);
                    file.failed_from = Some(from.min(file.durable_len));
                }
            }
        }
    }

    /// A process kill: the page cache survives, so nothing on the disk changes. Pending
    /// bytes stay pending.
    pub fn kill(&mut self) {}

    /// A power loss: bytes a failed sync poisoned are gone; each other pending sector is
    /// kept, dropped or torn. Afterwards everything on the disk is durable.
    pub fn power_loss(&mut self, rng: &mut SimRng, weights: [u32; 3]) -> CrashDamage {
        let mut damage = CrashDamage::default();
        let sector = self.sector_bytes;
        for file in self.files.values_mut() {
            if let Some(from) = file.failed_from.take() {
                let from = from.max(file.durable_len).min(file.data.len());
                damage.dropped += (file.data.len() - from).div_ceil(sector) as u64;
                file.data.truncate(from);
            }
            let mut at = file.durable_len;
            let mut new_len = file.durable_len;
            while at < file.data.len() {
                let sector_end = ((at / sector) + 1) * sector;
                let end = sector_end.min(file.data.len());
                match rng.weighted(&weights) {
                    0 => {
                        damage.kept += 1;
                        new_len = end;
                    }
                    1 => {
                        damage.dropped += 1;
                        file.data[at..end].fill(0);
                    }
                    _ => {
                        damage.torn += 1;
                        let keep = at + rng.index(end - at);
                        // What reached the platter is a prefix; the rest is whatever the
                        // sector held before: garbage, not zeros.
                        let mut noise = rng.next_u64();
                        for b in &mut file.data[keep..end] {
                            noise = crate::rng::mix64(noise);
                            *b = noise as u8;
                        }
                        new_len = end;
                    }
                }
                at = end;
            }
            file.data.truncate(new_len);
            file.durable_len = file.data.len();
        }
        self.fold_synced();
        damage
    }

    /// What a restarting driver does before recovery reads the log: evict cached pages, so
    /// that bytes a failed sync left readable but never wrote are read from the disk (where
    /// they are not). Returns the bytes that vanished.
    pub fn evict_cache(&mut self) -> u64 {
        let mut evicted = 0;
        for file in self.files.values_mut() {
            if let Some(from) = file.failed_from.take() {
                let from = from.max(file.durable_len).min(file.data.len());
                evicted += (file.data.len() - from) as u64;
                file.data.truncate(from);
            }
        }
        evicted
    }

    /// Every segment, oldest first, as recovery reads them.
    pub fn segments(&self) -> Vec<Segment<'_>> {
        self.files
            .iter()
            .map(|(base, f)| Segment {
                base: *base,
                bytes: &f.data,
            })
            .collect()
    }

    /// Cuts the segment starting at `base` so that it ends at logical offset `offset`.
    pub fn truncate(&mut self, base: u64, offset: u64) {
        if let Some(file) = self.files.get_mut(&base) {
            let len = usize::try_from(offset.saturating_sub(base)).unwrap_or(usize::MAX);
            file.data.truncate(len);
            file.durable_len = file.durable_len.min(file.data.len());
            file.decoded_upto = file.decoded_upto.min(file.data.len());
            if file.failed_from.is_some_and(|f| f >= file.data.len()) {
                file.failed_from = None;
            }
        }
    }

    /// The synced state of `key`: what recovery would read after a power cut now.
    pub fn synced(&self, key: &[u8]) -> Option<&Object> {
        self.synced.get(key)
    }

    /// Folds the durable records not yet seen into `synced`. A record that does not decode
    /// stops the fold for that file, as it stops recovery.
    fn fold_synced(&mut self) {
        for file in self.files.values_mut() {
            while file.decoded_upto < file.durable_len {
                let durable = &file.data[..file.durable_len];
                match Record::decode_at(durable, file.decoded_upto) {
                    Ok((record, next)) => {
                        if let Record::Object { key, object } = record {
                            self.synced.entry(key).or_default().merge(&object);
                        }
                        file.decoded_upto = next;
                    }
                    Err(_) => break,
                }
            }
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|f| f.data.len() as u64).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_bytes_survive_a_crash_and_pending_ones_may_not() {
        let mut disk = Disk::new(16);
        disk.append(&[1; 40]);
        let target = disk.sync_target();
        disk.append(&[2; 100]);
        disk.complete_sync(&target);
        let mut rng = SimRng::new(3);
        let damage = disk.power_loss(&mut rng, [0, 1, 0]);
        assert_eq!(damage.dropped, 7); // 40..48, then six whole sectors up to 140
        assert_eq!(disk.segments()[0].bytes, &[1; 40][..]);
    }

    #[test]
    fn torn_sectors_keep_a_prefix() {
        let mut disk = Disk::new(16);
        disk.append(&[7; 32]);
        let mut rng = SimRng::new(5);
        disk.power_loss(&mut rng, [0, 0, 1]);
        let bytes = disk.segments()[0].bytes.to_vec();
        assert_eq!(bytes.len(), 32);
        assert!(
            bytes[..].iter().any(|b| *b != 7),
            "each sector lost some bytes"
        );
    }

    #[test]
    fn segments_are_created_and_dropped() {
        let mut disk = Disk::new(16);
        disk.append(b"old");
        disk.create_segment(100, b"new");
        disk.append(b"er");
        assert_eq!(disk.segment_count(), 2);
        disk.drop_segments_before(100);
        let segments = disk.segments();
        assert_eq!(segments.len(), 1);
        assert_eq!((segments[0].base, segments[0].bytes), (100, &b"newer"[..]));
    }

    #[test]
    fn a_kill_keeps_pending_bytes_readable_but_unsynced() {
        let mut disk = Disk::new(16);
        disk.append(&[1; 40]);
        disk.kill();
        assert_eq!(disk.segments()[0].bytes.len(), 40);
        let mut rng = SimRng::new(3);
        disk.power_loss(&mut rng, [0, 1, 0]);
        assert!(
            disk.segments()[0].bytes.is_empty(),
            "the kill made nothing durable"
        );
    }

    #[test]
    fn a_failed_sync_never_reaches_the_disk() {
        let mut disk = Disk::new(16);
        disk.append(&[1; 20]);
        let target = disk.sync_target();
        disk.complete_sync(&target);
        disk.append(&[2; 20]);
        let target = disk.sync_target();
        disk.fail_sync(&target);
        // Still readable, and a later sync does not make it durable.
        assert_eq!(disk.segments()[0].bytes.len(), 40);
        disk.complete_sync(&disk.sync_target());
        let mut evicted = Disk::new(16);
        std::mem::swap(&mut evicted, &mut disk);
        assert_eq!(evicted.evict_cache(), 20);
        assert_eq!(evicted.segments()[0].bytes, &[1; 20][..]);
    }
}
