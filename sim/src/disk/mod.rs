//! A virtual disk: one data directory of files whose written bytes are either durable
//! (synced) or pending, and whose names are durable only once the directory is synced.
//!
//! It implements `tern_storage::Dir`, so the node's own log code (segment files, start-up
//! syncs and reads, group commit, compaction order, directory syncs) runs on it. A sync is
//! a request: the call records what it covers, and the process driver completes it (or
//! fails it) later in virtual time, through `take_syncs`, `complete_sync` and `fail_sync`.
//!
//! Two kinds of crash treat pending state differently:
//! - a *process kill* leaves it in the page cache: a restarted process reads pending bytes
//!   back, yet they are still unsynced, and a later power loss decides their fate. A kill
//!   may fall inside a batch of the log code, between two of its file operations or inside
//!   an append (`Cut`);
//! - a *power loss* keeps, drops (zeros, and a file that ends early) or tears (a prefix
//!   kept, the rest garbage) each pending sector independently; a file created since the
//!   last directory sync vanishes, and a file removed since then comes back. Durable bytes
//!   and durable names always survive.
//!
//! A *failed sync* leaves the bytes it covered readable (the kernel marked the pages clean)
//! until they are evicted, but they never reach the disk: no later sync makes them durable,
//! and a power loss drops them.
//!
//! The disk also keeps, for the checkers, what recovery would read after a power cut: every
//! object in the durable records of its durably named files (`synced`), updated as syncs
//! complete.

use crate::rng::SimRng;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use tern_core::{Object, Record};

#[derive(Clone, Debug, Default)]
struct File {
    /// Shared with the copies a crash hands to recovery ahead (`segment_images`) and with
    /// what start-up reads (`read_shared`): changed only through `Arc::make_mut`, so that a
    /// copy handed out never changes.
    data: Arc<Vec<u8>>,
    durable_len: usize,
    /// Bytes from here on went through a failed sync: readable until evicted, never durable.
    failed_from: Option<usize>,
    /// Durable records before this offset are folded into `Disk::synced`.
    decoded_upto: usize,
    /// The directory entry survives a power loss.
    name_durable: bool,
    /// The file's length: `data`, then zeros grown ahead of the appends, as the node's
    /// segment files grow (`tern_storage::grown_length`). Reads see the zeros.
    allocated: usize,
    /// The length a power loss leaves (at least `data`'s, whatever of it survives).
    durable_allocated: usize,
}

impl File {
    /// The file's bytes as a read sees them: `data`, then its zeros grown ahead. Shared
    /// when there are none.
    fn image(&self) -> Arc<Vec<u8>> {
        if self.allocated <= self.data.len() {
            return self.data.clone();
        }
        let mut bytes = Vec::with_capacity(self.allocated);
        bytes.extend_from_slice(&self.data);
        bytes.resize(self.allocated, 0);
        Arc::new(bytes)
    }
}

/// A copy of a disk's durable files, taken at some moment (`Disk::backup`).
#[derive(Clone, Debug)]
pub struct Backup {
    files: Vec<(String, Arc<Vec<u8>>)>,
}

/// What a crash did to the pending sectors and names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashDamage {
    pub kept: u64,
    pub dropped: u64,
    pub torn: u64,
    /// Files created but never named durably, lost.
    pub files_lost: u64,
    /// Files removed but never durably, back.
    pub files_back: u64,
}

/// The syncs one batch asked for, in the order it asked: each one a file's (its length of
/// written bytes and its allocated length, zeros grown ahead included, when it was asked)
/// or the directory's entries. The node's log code waits for each before it goes on, so
/// they complete one after the other (`split_first`): a power loss between two of them
/// finds the first durable and the second not, as a real one would (a segment's new mark
/// durable, say, and the removal of an older segment not yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncTarget {
    steps: Vec<SyncStep>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SyncStep {
    File {
        name: String,
        len: usize,
        allocated: usize,
    },
    Dir,
}

impl SyncTarget {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The first sync, and the rest (empty if none).
    pub fn split_first(mut self) -> (SyncTarget, SyncTarget) {
        if self.steps.is_empty() {
            return (SyncTarget::default(), SyncTarget::default());
        }
        let rest = self.steps.split_off(1);
        (self, SyncTarget { steps: rest })
    }

    /// Asks for `name` to be synced up to `len` written and `allocated` long: a sync asked
    /// again of the file the last one covered takes its place.
    fn file(&mut self, name: &str, len: usize, allocated: usize) {
        if let Some(SyncStep::File {
            name: last,
            len: l,
            allocated: a,
        }) = self.steps.last_mut()
        {
            if last == name {
                (*l, *a) = (len, allocated);
                return;
            }
        }
        self.steps.push(SyncStep::File {
            name: name.to_string(),
            len,
            allocated,
        });
    }

    fn dir(&mut self) {
        if self.steps.last() != Some(&SyncStep::Dir) {
            self.steps.push(SyncStep::Dir);
        }
    }
}

#[derive(Debug)]
pub struct Disk {
    files: BTreeMap<String, File>,
    /// Files removed since the last directory sync: a power loss brings them back.
    removed: BTreeMap<String, File>,
    sector_bytes: usize,
    /// Syncs asked for and not yet handed to the driver.
    requested: SyncTarget,
    /// Bytes that vanished when their cached pages were dropped.
    evicted_bytes: u64,
    /// Every object of every durable record: the synced state a power cut would leave. It
    /// keeps what a replaced disk or a log set aside held: the "acknowledged = durable"
    /// checker asks whether a replica had synced a write when its acknowledgement was
    /// counted, and a disk lost since (while the acknowledgement was on its way) does not
    /// change that answer; whether the write survived is the durability checker's question.
    synced: BTreeMap<Vec<u8>, Object>,
    /// The log on this disk still holds all of `synced`: no replacement, restore or set-aside
    /// took any of it away (`lost_synced`). While it does, every restart must recover every
    /// version in it (`missing_synced`).
    holds_synced: bool,
}

impl Disk {
    pub fn new(sector_bytes: usize) -> Disk {
        Disk {
            files: BTreeMap::new(),
            removed: BTreeMap::new(),
            sector_bytes,
            requested: SyncTarget::default(),
            evicted_bytes: 0,
            synced: BTreeMap::new(),
            holds_synced: true,
        }
    }

    /// The syncs asked for since the last call, for the driver to complete or fail.
    pub fn take_syncs(&mut self) -> SyncTarget {
        std::mem::take(&mut self.requested)
    }

    /// A sync completed: what it covered is durable, except bytes an earlier failed sync
    /// poisoned, which never reach the disk.
    pub fn complete_sync(&mut self, target: &SyncTarget) {
        for step in &target.steps {
            match step {
                SyncStep::File {
                    name,
                    len,
                    allocated,
                } => {
                    if let Some(file) = self.files.get_mut(name) {
                        let reachable = file.failed_from.unwrap_or(usize::MAX);
                        let len = (*len).min(file.data.len()).min(reachable);
                        file.durable_len = file.durable_len.max(len);
                        let allocated = (*allocated).min(file.allocated);
                        file.durable_allocated = file.durable_allocated.max(allocated);
                    }
                }
                SyncStep::Dir => {
                    for file in self.files.values_mut() {
                        file.name_durable = true;
                    }
                    self.removed.clear();
                }
            }
        }
        self.fold_synced();
    }

    /// A sync failed: the bytes it covered stay readable but will never be durable. (A
    /// failed directory sync leaves the names as they were: not durable.)
    pub fn fail_sync(&mut self, target: &SyncTarget) {
        for step in &target.steps {
            let SyncStep::File { name, len, .. } = step else {
                continue;
            };
            if let Some(file) = self.files.get_mut(name) {
                if (*len).min(file.data.len()) > file.durable_len {
                    let from = file.failed_from.unwrap_or(usize::MAX);
                    file.failed_from = Some(from.min(file.durable_len));
                }
            }
        }
    }

    /// A process kill: the page cache survives, so nothing on the disk changes. Pending
    /// bytes stay pending, and syncs asked for but not completed are forgotten.
    pub fn kill(&mut self) {
        self.requested = SyncTarget::default();
    }

    /// A power loss: files never named durably are gone and files removed since are back;
    /// bytes a failed sync poisoned are gone; each other pending sector is kept, dropped or
    /// torn. Afterwards everything on the disk is durable.
    pub fn power_loss(&mut self, rng: &mut SimRng, weights: [u32; 3]) -> CrashDamage {
        let mut damage = CrashDamage::default();
        self.requested = SyncTarget::default();
        let before = self.files.len();
        self.files.retain(|_, f| f.name_durable);
        damage.files_lost = (before - self.files.len()) as u64;
        for (name, file) in std::mem::take(&mut self.removed) {
            damage.files_back += 1;
            self.files.insert(name, file);
        }
        let sector = self.sector_bytes;
        for file in self.files.values_mut() {
            if let Some(from) = file.failed_from.take() {
                let from = from.max(file.durable_len).min(file.data.len());
                damage.dropped += (file.data.len() - from).div_ceil(sector) as u64;
                Arc::make_mut(&mut file.data).truncate(from);
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
                        Arc::make_mut(&mut file.data)[at..end].fill(0);
                    }
                    _ => {
                        damage.torn += 1;
                        let keep = at + rng.index(end - at);
                        // What reached the platter is a prefix; the rest is whatever the
                        // sector held before: garbage, not zeros.
                        let mut noise = rng.next_u64();
                        for b in &mut Arc::make_mut(&mut file.data)[keep..end] {
                            noise = crate::rng::mix64(noise);
                            *b = noise as u8;
                        }
                        new_len = end;
                    }
                }
                at = end;
            }
            if new_len < file.data.len() {
                Arc::make_mut(&mut file.data).truncate(new_len);
            }
            // Zeros grown ahead and synced survive, after whatever of the data does.
            file.allocated = file.durable_allocated.max(file.data.len());
            file.durable_allocated = file.allocated;
            file.durable_len = file.data.len();
            file.decoded_upto = file.decoded_upto.min(file.data.len());
        }
        self.fold_synced();
        damage
    }

    /// The disk is replaced by an empty one (while its node is down): nothing is left but
    /// the record of what it had synced (`synced`).
    pub fn replace(&mut self) {
        let synced = std::mem::take(&mut self.synced);
        *self = Disk::new(self.sector_bytes);
        self.synced = synced;
        self.holds_synced = false;
    }

    /// A copy of the disk as a snapshot taken now would hold it (a backup): the durably
    /// named files, each up to its durable length. Shares the bytes (copy on write).
    pub fn backup(&self) -> Backup {
        let files = self
            .files
            .iter()
            .filter(|(_, f)| f.name_durable)
            .map(|(name, f)| {
                let mut data = f.data.clone();
                if data.len() > f.durable_len {
                    Arc::make_mut(&mut data).truncate(f.durable_len);
                }
                (name.clone(), data)
            })
            .collect();
        Backup { files }
    }

    /// The disk is restored from `backup` (while its node is down): it holds what it held
    /// then, all of it durable. What it synced since is kept only in the record of what it
    /// had synced (`synced`), as for a replaced disk.
    pub fn restore(&mut self, backup: &Backup) {
        let synced = std::mem::take(&mut self.synced);
        *self = Disk::new(self.sector_bytes);
        self.synced = synced;
        self.holds_synced = false;
        for (name, data) in &backup.files {
            let len = data.len();
            let file = File {
                data: data.clone(),
                durable_len: len,
                failed_from: None,
                // Its records were folded into `synced` when they were first synced.
                decoded_upto: len,
                name_durable: true,
                allocated: len,
                durable_allocated: len,
            };
            self.files.insert(name.clone(), file);
        }
    }

    /// Bit rot, or a misdirected write, while the node is down: one byte of a synced record
    /// that a later synced `Durable` mark vouches for (so that recovery can tell it from a
    /// torn tail) changes. Returns the segment and offset in it, or `None` if no such byte
    /// exists yet.
    pub fn corrupt(&mut self, rng: &mut SimRng) -> Option<(u64, usize)> {
        let mut vouched = 0;
        let mut segments = Vec::new();
        for (name, file) in &self.files {
            let Some(base) = tern_storage::parse_segment_name(name) else {
                continue;
            };
            let durable = &file.data[..file.durable_len];
            let mut at = 0;
            while let Ok((record, next)) = Record::decode_at(durable, at) {
                if let Record::Durable { upto, .. } = record {
                    vouched = vouched.max(upto);
                }
                at = next;
            }
            segments.push((name.clone(), base, at));
        }
        // Bytes before `vouched` in segments whose valid records reach them.
        let candidates: Vec<(String, u64, usize)> = segments
            .into_iter()
            .filter_map(|(name, base, valid)| {
                let end = (valid as u64).min(vouched.saturating_sub(base));
                (end > 0).then_some((name, base, end as usize))
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (name, base, end) = &candidates[rng.index(candidates.len())];
        let at = rng.index(*end);
        let flip = (rng.next_u64() % 255 + 1) as u8;
        let file = self.files.get_mut(name)?;
        Arc::make_mut(&mut file.data)[at] ^= flip;
        Some((*base, at))
    }

    /// Bytes that vanished when cached pages were dropped since the last call.
    pub fn take_evicted_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.evicted_bytes)
    }

    /// The log no longer holds everything the disk synced: its segments were set aside (a
    /// damaged or stale log).
    pub fn lost_synced(&mut self) {
        self.holds_synced = false;
    }

    /// Whether the log still holds everything the disk synced (see `lost_synced`).
    pub fn holds_synced(&self) -> bool {
        self.holds_synced
    }

    /// A value (not a tombstone, which collection may remove) of a durable record on this
    /// disk that a node recovered from it has not seen (`seen`: its object of the key has
    /// seen the dot), if any: recovery lost synced data. `None` as well once the log no
    /// longer holds everything synced (`lost_synced`).
    pub fn missing_synced(
        &self,
        seen: impl Fn(&[u8], tern_core::Dot) -> bool,
    ) -> Option<(&[u8], tern_core::Dot)> {
        if !self.holds_synced {
            return None;
        }
        self.synced.iter().find_map(|(key, object)| {
            let values = object.siblings().iter().filter(|s| !s.is_tombstone());
            values
                .map(|s| s.dot)
                .find(|dot| !seen(key, *dot))
                .map(|dot| (key.as_slice(), dot))
        })
    }

    /// What the disk had synced of `key`, including what a replacement or a set-aside lost.
    pub fn synced(&self, key: &[u8]) -> Option<&Object> {
        self.synced.get(key)
    }

    /// Folds the durable records not yet seen into `synced`. A record that does not decode
    /// stops the fold for that file, as it stops recovery. An object record whose every dot
    /// the key's synced object has seen is checked but not built: merging it would change
    /// nothing (over half the records: compaction rewrites what is already synced).
    fn fold_synced(&mut self) {
        let mut dots = Vec::new();
        let segments = self
            .files
            .iter_mut()
            .filter(|(name, f)| f.name_durable && tern_storage::parse_segment_name(name).is_some());
        for (_, file) in segments {
            while file.decoded_upto < file.durable_len {
                let durable = &file.data[..file.durable_len];
                let synced = &self.synced;
                let known = |key: &[u8], dots: &[tern_core::Dot]| {
                    synced.get(key).is_some_and(|o| {
                        // Most often the record is the synced object itself (compaction):
                        // the same dots, in the same (sorted) order, are all held.
                        let same = o.siblings().iter().map(|s| s.dot).eq(dots.iter().copied());
                        !o.is_empty() && (same || dots.iter().all(|d| o.has_seen(*d)))
                    })
                };
                match Record::decode_at_unless(durable, file.decoded_upto, &mut dots, known) {
                    Ok((record, next)) => {
                        if let Some(Record::Object { key, object }) = record {
                            self.synced.entry(key).or_default().merge_owned(object);
                        }
                        file.decoded_upto = next;
                    }
                    Err(_) => break,
                }
            }
        }
    }

    /// Every log segment as it is now, oldest first: (base, bytes), as start-up would list
    /// them. The bytes are shared, not copied: the disk never changes bytes handed out.
    pub fn segment_images(&self) -> Vec<(u64, Arc<Vec<u8>>)> {
        self.files
            .iter()
            .filter_map(|(name, f)| Some((tern_storage::parse_segment_name(name)?, f.image())))
            .collect()
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|f| f.data.len() as u64).sum()
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    fn file(&mut self, name: &str) -> io::Result<&mut File> {
        self.files
            .get_mut(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))
    }
}

mod cut;
mod dir;

pub use cut::Cut;

#[cfg(test)]
mod cut_tests;
#[cfg(test)]
mod tests;
