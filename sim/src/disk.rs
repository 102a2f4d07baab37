//! A virtual disk: log segments whose written bytes are either durable (synced) or pending.
//!
//! Writes append to the newest segment and are pending until a sync that started after them
//! completes. At a crash each pending sector is independently kept, dropped (the bytes never
//! reached the platter: zeros, and a file that ends early) or torn (a prefix of the sector
//! reached it). Durable bytes always survive. Deleting a segment takes effect at once.

use crate::rng::SimRng;
use std::collections::BTreeMap;
use tern_core::Segment;

#[derive(Clone, Debug, Default)]
struct File {
    data: Vec<u8>,
    durable_len: usize,
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
}

/// The lengths every segment had when a sync started: what it makes durable.
pub type SyncTarget = Vec<(u64, usize)>;

impl Disk {
    pub fn new(sector_bytes: usize) -> Disk {
        Disk {
            files: BTreeMap::new(),
            sector_bytes,
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
            durable_len: 0,
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

    pub fn complete_sync(&mut self, target: &SyncTarget) {
        for (base, len) in target {
            if let Some(file) = self.files.get_mut(base) {
                file.durable_len = file.durable_len.max((*len).min(file.data.len()));
            }
        }
    }

    /// Applies a crash to the pending bytes; afterwards everything on the disk is durable.
    pub fn crash(&mut self, rng: &mut SimRng, weights: [u32; 3]) -> CrashDamage {
        let mut damage = CrashDamage::default();
        let sector = self.sector_bytes;
        for file in self.files.values_mut() {
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
                        file.data[keep..end].fill(0);
                        new_len = end;
                    }
                }
                at = end;
            }
            file.data.truncate(new_len);
            file.durable_len = file.data.len();
        }
        damage
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
        let damage = disk.crash(&mut rng, [0, 1, 0]);
        assert_eq!(damage.dropped, 7); // 40..48, then six whole sectors up to 140
        assert_eq!(disk.segments()[0].bytes, &[1; 40][..]);
    }

    #[test]
    fn torn_sectors_keep_a_prefix() {
        let mut disk = Disk::new(16);
        disk.append(&[7; 32]);
        let mut rng = SimRng::new(5);
        disk.crash(&mut rng, [0, 0, 1]);
        let bytes = disk.segments()[0].bytes.to_vec();
        assert_eq!(bytes.len(), 32);
        assert!(bytes[31] == 0 && bytes[15] == 0);
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
}
