//! The fault injector: crashes, power cuts, crashes right after a restart, and the count of
//! every fault injected.
//!
//! Owns `CrashKind` (a process kill or a power loss), `FaultCounts`, and when and how a node
//! goes down: a random node every `crash_interval_ms` unless `max_down` are down, every node
//! at a power cut, a restarted node again before its first sync. Faults are injected only in
//! the fault phase. It never restarts a node except through `start_node` (core recovery), and
//! never touches a message or a client; a killed process's connections are closed through
//! `clients`, which tells the clients connected to it.

use super::{Event, Phase, World};
use crate::disk::CrashDamage;
use tern_core::Span;
use tern_storage::DiskCommand;

/// Faults injected, by kind.
#[derive(Clone, Debug, Default)]
pub struct FaultCounts {
    pub crashes: u64,
    /// Crashes that killed the process only (the page cache survived).
    pub kills: u64,
    /// Crashes that cut a machine's power, including each node a power cut struck.
    pub power_losses: u64,
    /// Of `power_losses`, those struck by a power cut of the whole cluster.
    pub power_cut_losses: u64,
    /// Crashes that struck a node during recovery or before its first sync completed.
    pub crashes_after_restart: u64,
    /// Crashes of a node right after it sent one of a bulk write's commits
    /// (`faults.crash_mid_commit`).
    pub crashes_mid_commit: u64,
    /// Power losses of a node between two syncs of one log batch
    /// (`faults.power_loss_between_syncs`).
    pub power_losses_between_syncs: u64,
    /// Kills of a node in the middle of a log batch (`faults.kill_mid_batch`), and of
    /// those, the ones inside an append (a prefix of its bytes written).
    pub kills_mid_batch: u64,
    pub kills_mid_append: u64,
    /// Of `kills_mid_batch`, those inside a batch that started a segment, removed some or
    /// set the log aside.
    pub kills_mid_compaction: u64,
    pub power_cuts: u64,
    pub fsync_failures: u64,
    pub restarts: u64,
    pub max_down: u32,
    pub partitions_symmetric: u64,
    pub partitions_asymmetric: u64,
    pub partitions_isolate: u64,
    pub messages_sent: u64,
    pub messages_lost: u64,
    pub messages_duplicated: u64,
    pub messages_blocked: u64,
    pub messages_to_down_nodes: u64,
    pub damage: CrashDamage,
    /// Torn tails truncated at start-up, tails of zeros (grown ahead) not counted.
    pub torn_tails_truncated: u64,
    /// Tails of zeros (a segment's space grown ahead of its appends) cut at start-up.
    pub zero_tails_truncated: u64,
    /// Syncs that completed with more of their batch still to sync (a compaction's new
    /// segment before its directory entry, a new mark before an old segment's removal): a
    /// crash could come between them.
    pub syncs_in_steps: u64,
    /// Bytes a failed sync left readable but never wrote, evicted before recovery read them.
    pub bytes_evicted: u64,
    pub bytes_truncated: u64,
    /// Restarts that used the recovery a second thread ran ahead (the same result).
    pub recoveries_ahead: u64,
    /// Restarts on a disk that still held everything it had synced, checked to have
    /// recovered every value of its durable records (`Disk::missing_synced`).
    pub recoveries_checked: u64,
    pub compactions: u64,
    /// For each crash: microseconds from the crash to the moment the last node up suspects
    /// the crashed one (by its failure detector, as it stands at the restart: what it would
    /// have been had the node stayed down).
    pub detections_us: Vec<u64>,
    /// Crashes whose node restarted before every node up suspected it.
    pub restarted_before_detection: u64,
    /// Searches answered from the replicas' own indexes, and those that gathered.
    pub searches_local: u64,
    pub searches_gathered: u64,
    pub read_repairs: u64,
    pub resends: u64,
    pub forwarded: u64,
    pub hints_stored: u64,
    pub hints_delivered: u64,
    pub hints_dropped: u64,
    pub hints_settled: u64,
    pub entropy_rounds: u64,
    pub entropy_keys_pushed: u64,
    pub entropy_keys_pulled: u64,
    pub tombstones_collected: u64,
    /// Bulk-write versions bulk reads fetched (one key showed a bulk write another did not
    /// yet), and resolutions of versions kept aside: committed, and refused.
    pub bulk_versions_fetched: u64,
    pub bulk_resolved_committed: u64,
    pub bulk_resolved_refused: u64,
    /// Disks replaced by empty ones, and synced bytes damaged (`disk_replace`,
    /// `corrupt_synced`); damages recovery detected (it set the log aside); rebuilds that
    /// nodes started and finished (every empty or damaged log starts one).
    pub disks_replaced: u64,
    pub corruptions: u64,
    pub corruptions_detected: u64,
    /// Disks restored from an older copy (`disk_rollback`); restarts on them that rebuilt
    /// (the oracle of `start_node` demands every one).
    pub rollbacks: u64,
    pub rollbacks_rebuilt: u64,
    /// Logs a node found, from its peers' positions, to be older copies than one that agreed
    /// to a tombstone collection, and set aside at run time (`Output::SetAsideLog`).
    pub stale_logs_set_aside: u64,
    pub rebuilds_started: u64,
    pub rebuilds_done: u64,
}

impl FaultCounts {
    /// Adds a node incarnation's counters (at its crash, or at the end of the run).
    pub(super) fn absorb(&mut self, stats: &tern_core::NodeStats) {
        self.compactions += stats.compactions;
        self.read_repairs += stats.read_repairs;
        self.resends += stats.resends;
        self.forwarded += stats.forwarded;
        self.searches_local += stats.searches_local;
        self.searches_gathered += stats.searches_gathered;
        self.hints_stored += stats.hints_stored;
        self.hints_delivered += stats.hints_delivered;
        self.hints_dropped += stats.hints_dropped;
        self.hints_settled += stats.hints_settled;
        self.entropy_rounds += stats.entropy_rounds;
        self.entropy_keys_pushed += stats.entropy_keys_pushed;
        self.entropy_keys_pulled += stats.entropy_keys_pulled;
        self.tombstones_collected += stats.tombstones_collected;
        self.bulk_versions_fetched += stats.bulk_versions_fetched;
        self.bulk_resolved_committed += stats.bulk_resolved_committed;
        self.bulk_resolved_refused += stats.bulk_resolved_refused;
        self.rebuilds_started += stats.rebuilds_started;
        self.rebuilds_done += stats.rebuilds_done;
    }
}

/// What a disk lost while its node was down, until the node has rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Damage {
    Replaced,
    Corrupted,
    RolledBack,
}

/// The chance that a downtime with no damage refreshes the node's backup (when the scenario
/// rolls disks back): backups are taken at random earlier downtimes, so that a rollback
/// loses what the node synced over a random number of its incarnations.
const BACKUP_REFRESH: f64 = 0.5;

/// How a node goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CrashKind {
    /// The process is killed; the machine, and its page cache, stay up.
    Kill = 1,
    /// The machine loses power.
    PowerLoss = 2,
}

impl World {
    /// Schedules the first crash, power cut and partition of the scenario (those it enables).
    pub(super) fn schedule_first_faults(&mut self) {
        if self.scenario.faults.crash_interval_ms[1] > 0 {
            let gap =
                Span::from_millis(self.fault_rng.range(self.scenario.faults.crash_interval_ms))
                    .micros();
            self.after(gap, Event::Crash);
        }
        if self.scenario.faults.power_cut_interval_ms[1] > 0 {
            let gap = Span::from_millis(
                self.fault_rng
                    .range(self.scenario.faults.power_cut_interval_ms),
            )
            .micros();
            self.after(gap, Event::PowerCut);
        }
        if self.scenario.faults.partition_interval_ms[1] > 0 {
            let gap = Span::from_millis(
                self.fault_rng
                    .range(self.scenario.faults.partition_interval_ms),
            )
            .micros();
            self.after(gap, Event::PartitionStart);
        }
    }

    fn down_count(&self) -> u32 {
        self.procs.iter().filter(|p| p.node.is_none()).count() as u32
    }

    pub(super) fn crash_one(&mut self) {
        if self.phase != Phase::Fault {
            return;
        }
        let faults = self.scenario.faults.clone();
        let up: Vec<usize> = (0..self.procs.len())
            .filter(|i| self.procs[*i].node.is_some())
            .collect();
        if self.down_count() < faults.max_down && !up.is_empty() {
            let i = up[self.fault_rng.index(up.len())];
            let kind = self.crash_kind();
            self.crash_node(i, kind);
        }
        let gap = Span::from_millis(self.fault_rng.range(faults.crash_interval_ms)).micros();
        self.after(gap, Event::Crash);
    }

    /// Every node loses power at the same instant.
    pub(super) fn power_cut(&mut self) {
        if self.phase != Phase::Fault {
            return;
        }
        self.faults.power_cuts += 1;
        for i in 0..self.procs.len() {
            if self.procs[i].node.is_some() {
                self.faults.power_cut_losses += 1;
                self.crash_node(i, CrashKind::PowerLoss);
            } else {
                // A node that is down loses its page cache too.
                self.power_loss(i);
            }
        }
        let gap = Span::from_millis(
            self.fault_rng
                .range(self.scenario.faults.power_cut_interval_ms),
        )
        .micros();
        self.after(gap, Event::PowerCut);
    }

    /// A single-node crash: a process kill for `kill_fraction` of them, else a power loss.
    /// Node `i` just sent `message`: if it is a bulk write's commit (to one replica), with
    /// probability `crash_mid_commit` (in the fault phase, while fewer than `max_down` nodes
    /// are down) the node crashes now. True if it did: what it was still sending is lost.
    pub(super) fn crash_mid_commit(&mut self, i: usize, message: &tern_core::Message) -> bool {
        let p = self.scenario.faults.crash_mid_commit;
        let commit = matches!(
            message,
            tern_core::Message::Commit { .. } | tern_core::Message::CommitKept { .. }
        );
        if p == 0.0
            || !commit
            || self.phase != Phase::Fault
            || self.down_count() >= self.scenario.faults.max_down
            || !self.fault_rng.chance(p)
        {
            return false;
        }
        self.faults.crashes_mid_commit += 1;
        let kind = self.crash_kind();
        self.crash_node(i, kind);
        true
    }

    /// Node `i` completed one sync of a log batch with more to come: with probability
    /// `power_loss_between_syncs` (in the fault phase, while fewer than `max_down` nodes are
    /// down) it loses power now. True if it did.
    pub(super) fn power_loss_between_syncs(&mut self, i: usize) -> bool {
        let p = self.scenario.faults.power_loss_between_syncs;
        if p == 0.0
            || self.phase != Phase::Fault
            || self.down_count() >= self.scenario.faults.max_down
            || !self.fault_rng.chance(p)
        {
            return false;
        }
        self.faults.power_losses_between_syncs += 1;
        self.crash_node(i, CrashKind::PowerLoss);
        true
    }

    /// Node `i` takes a log batch: with probability `kill_mid_batch` (`kill_mid_compaction`
    /// for a batch that starts a segment, removes some or sets the log aside; in the fault
    /// phase, while fewer than `max_down` nodes are down) its process dies inside it.
    /// Returns how many of the batch's file operations complete first (drawn from as many
    /// as it could do; a batch that does fewer completes) and how much of an append it dies
    /// in is written (`disk::Cut`).
    pub(super) fn kill_mid_batch(&mut self, i: usize) -> Option<(usize, u64)> {
        let faults = &self.scenario.faults;
        let p = if changes_files(&self.procs[i].queue) {
            faults.kill_mid_compaction
        } else {
            faults.kill_mid_batch
        };
        if p == 0.0
            || self.phase != Phase::Fault
            || self.down_count() >= self.scenario.faults.max_down
            || !self.fault_rng.chance(p)
        {
            return None;
        }
        let proc = &self.procs[i];
        let files = proc.disk.file_count();
        // The most file operations the batch can do (`LogWriter::apply`): a final append,
        // sync and directory sync; per compaction an append, a sync, a trim, a creation and
        // an append; per removal one per file and a directory sync; per set-aside an append,
        // a sync, a rename per file and a creation.
        let most = 3 + proc
            .queue
            .iter()
            .map(|command| match command {
                DiskCommand::Persist { .. } => 0,
                DiskCommand::Compact { .. } => 5,
                DiskCommand::DropBefore { .. } => files + 1,
                DiskCommand::SetAside => files + 3,
            })
            .sum::<usize>();
        Some((self.fault_rng.index(most), self.fault_rng.next_u64()))
    }

    fn crash_kind(&mut self) -> CrashKind {
        if self.fault_rng.chance(self.scenario.faults.kill_fraction) {
            CrashKind::Kill
        } else {
            CrashKind::PowerLoss
        }
    }

    /// Crashes node `i` now; it restarts later. A kill leaves its unsynced bytes readable
    /// and unsynced; a power loss keeps, drops or tears each of its unsynced sectors.
    pub(super) fn crash_node(&mut self, i: usize, kind: CrashKind) {
        let p = &mut self.procs[i];
        let dead_node = p.stop();
        if let Some(node) = &dead_node {
            self.faults.absorb(node.stats());
        }
        let dead = p.incarnation;
        p.incarnation += 1; // Stale timers and syncs of the dead incarnation are ignored.
        self.crashed_at.insert(i, self.now);
        p.start_clock = self.now;
        match kind {
            CrashKind::Kill => {
                p.disk.kill();
                self.faults.kills += 1;
                // The machine stays up and closes the process's connections.
                self.connections_closed(i, dead);
            }
            CrashKind::PowerLoss => {
                self.faults.power_losses += 1;
                self.power_loss(i);
            }
        }
        self.damage_disk(i);
        if self.second_thread {
            // The next start will be incarnation `incarnation + 1` (see `start_node`).
            let next = self.procs[i].incarnation + 1;
            let (config, id, seed) = (
                self.config.clone(),
                self.procs[i].id,
                self.node_seed(i, next),
            );
            let now = self.procs[i].start_clock;
            let start = move |segments: &[tern_core::Segment<'_>]| {
                tern_core::Node::start(config, id, seed, now, segments)
            };
            let p = &mut self.procs[i];
            p.ahead = super::ahead::Ahead::start(p.disk.segment_images(), dead_node, start);
        }
        self.faults.crashes += 1;
        self.faults.max_down = self.faults.max_down.max(self.down_count());
        self.hash.u64(0xc4a5_0000 | (i as u64) | (kind as u64) << 8);
        let delay =
            Span::from_millis(self.fault_rng.range(self.scenario.faults.restart_delay_ms)).micros();
        self.after(delay, Event::Restart { node: i });
    }

    /// While node `i` is down: with probability `disk_replace` its disk is replaced by an
    /// empty one, else with probability `corrupt_synced` one vouched-for synced byte of its
    /// log changes, else with probability `disk_rollback` its disk is restored from its
    /// backup (if it has one; else, or if not, the backup is refreshed now with probability
    /// `BACKUP_REFRESH`). Only while every other node is whole (no damage it has not rebuilt
    /// from, not rebuilding), so that every acknowledged write keeps a copy on a node that
    /// lost nothing. Draws nothing where the scenario enables none (other runs stay the
    /// same).
    fn damage_disk(&mut self, i: usize) {
        let faults = &self.scenario.faults;
        let (replace, corrupt) = (faults.disk_replace, faults.corrupt_synced);
        let rollback = faults.disk_rollback;
        if replace == 0.0 && corrupt == 0.0 && rollback == 0.0 {
            return;
        }
        self.note_rebuilt();
        let others_whole = self.procs.iter().enumerate().all(|(j, p)| {
            j == i
                || (p.damage.is_none() && p.node.as_ref().is_none_or(|n| n.rebuilding().is_none()))
        });
        if !others_whole {
            return;
        }
        let p = &mut self.procs[i];
        if self.fault_rng.chance(replace) {
            p.disk.replace();
            p.damage = Some(Damage::Replaced);
            p.damaged_byte = None;
            self.faults.disks_replaced += 1;
        } else if self.fault_rng.chance(corrupt) {
            if let Some(at) = p.disk.corrupt(&mut self.disk_rng) {
                p.damage = Some(Damage::Corrupted);
                p.damaged_byte = Some(at);
                self.faults.corruptions += 1;
            }
        } else if rollback > 0.0 {
            // Of any age: a copy older than a collection its node agreed to may hold values
            // whose tombstones every other replica has since forgotten; core must find that
            // out from its peers and set the copy aside (core's `verify`).
            match &p.backup {
                Some((_, backup)) if self.fault_rng.chance(rollback) => {
                    p.disk.restore(backup);
                    p.damage = Some(Damage::RolledBack);
                    p.rolled_back = true;
                    self.faults.rollbacks += 1;
                }
                _ => {
                    if self.fault_rng.chance(BACKUP_REFRESH) {
                        p.backup = Some((self.now, p.disk.backup()));
                    }
                }
            }
        }
    }

    /// Forgets the damage of every node that is up and no longer rebuilding.
    fn note_rebuilt(&mut self) {
        for p in &mut self.procs {
            if p.node.as_ref().is_some_and(|n| n.rebuilding().is_none()) {
                p.damage = None;
            }
        }
    }

    /// At node `i`'s restart: when every node up suspects it (or would, with no news of it
    /// before then), measured from its crash.
    pub(super) fn measure_detection(&mut self, i: usize) {
        let Some(crashed) = self.crashed_at.remove(&i) else {
            return;
        };
        let id = self.procs[i].id;
        let views = self.procs.iter().filter_map(|p| p.node.as_ref());
        let suspected = views.filter_map(|n| n.peers().into_iter().find(|v| v.node == id));
        let Some(last) = suspected.map(|v| v.suspected_at).max() else {
            return; // No node up to suspect it.
        };
        self.faults.detections_us.push(last.since(crashed).micros());
        self.faults.restarted_before_detection += u64::from(last > self.now);
    }

    fn power_loss(&mut self, i: usize) {
        let disk = &self.scenario.disk;
        let weights = [disk.crash_keep, disk.crash_drop, disk.crash_torn];
        let damage = self.procs[i].disk.power_loss(&mut self.disk_rng, weights);
        self.faults.damage.kept += damage.kept;
        self.faults.damage.dropped += damage.dropped;
        self.faults.damage.torn += damage.torn;
        self.faults.damage.files_lost += damage.files_lost;
        self.faults.damage.files_back += damage.files_back;
    }

    /// Node `i` has just restarted as `incarnation`: with probability `crash_after_restart`
    /// (in the fault phase), it crashes again soon: during recovery or before its first sync
    /// completes.
    pub(super) fn restarted(&mut self, i: usize, incarnation: u32) {
        self.faults.restarts += 1;
        if self.phase == Phase::Fault
            && self
                .fault_rng
                .chance(self.scenario.faults.crash_after_restart)
        {
            let delay = self.fault_rng.range([0, self.scenario.disk.fsync_us[1]]);
            self.after(
                delay,
                Event::CrashAgain {
                    node: i,
                    incarnation,
                },
            );
        }
    }

    /// The crash `restarted` scheduled strikes, if that incarnation is still up.
    pub(super) fn crash_again(&mut self, i: usize, incarnation: u32) {
        let p = &self.procs[i];
        if self.phase == Phase::Fault && p.incarnation == incarnation && p.node.is_some() {
            self.faults.crashes_after_restart += 1;
            let kind = self.crash_kind();
            self.crash_node(i, kind);
        }
    }
}

/// Whether a batch starts a segment, removes some or sets the log aside.
pub(super) fn changes_files(batch: &[DiskCommand]) -> bool {
    batch
        .iter()
        .any(|c| !matches!(c, DiskCommand::Persist { .. }))
}
