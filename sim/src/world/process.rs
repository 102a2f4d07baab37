//! The driver loop around each node: what the production driver does, over virtual IO.
//!
//! Owns `Proc` (one node's process: its `tern_core::Node`, incarnation, disk, log writer and
//! timer state). A node starts from what its disk holds through `tern_storage::open_log`
//! and core's `Node::start`, the same code the production node runs; its log outputs are
//! queued and carried out by `tern_storage::LogWriter` one batch at a time (group commit:
//! whatever queued up while a batch's syncs ran goes in the next), with each batch's syncs
//! completing after a drawn latency. It never decides about keys, versions or quorums, and
//! never chooses when a node fails: that is `faults`.

use super::faults::{changes_files, CrashKind, Damage};
use super::{Event, Phase, World};
use crate::checker::Violation;
use crate::disk::{Cut, Disk, SyncTarget};
use crate::rng::derive_seed;
use tern_core::{Input, Node, NodeId, Output, RecoveryError, Response, Time};
use tern_storage::{open_log, started_layout, DiskCommand, LogWriter, StorageError};

#[derive(Debug)]
pub(super) struct Proc {
    pub(super) id: NodeId,
    pub(super) node: Option<tern_core::Node>,
    pub(super) incarnation: u32,
    pub(super) disk: Disk,
    /// The log writer of the running incarnation.
    writer: Option<LogWriter<String>>,
    /// Log outputs waiting for the disk (lost in a crash, as the node's channel is).
    pub(super) queue: Vec<DiskCommand>,
    /// A batch's syncs are under way.
    syncing: bool,
    /// The recovery of this node's log, run on another thread since its crash.
    pub(super) ahead: Option<super::ahead::Ahead>,
    timer_at: Option<Time>,
    /// Damage done to the disk while the node was down, until the node has rebuilt.
    pub(super) damage: Option<Damage>,
    /// The synced byte damaged (segment base, offset): recovery must find it at the next
    /// start (the oracle of `start_node`).
    pub(super) damaged_byte: Option<(u64, usize)>,
    /// A copy of the disk taken at an earlier downtime, and when (`disk_rollback`).
    pub(super) backup: Option<(Time, crate::disk::Backup)>,
    /// The disk was restored from `backup`: the next start must rebuild (the oracle of
    /// `start_node`).
    pub(super) rolled_back: bool,
    /// The clock the next start reads (its last crash): the same whether its recovery ran
    /// ahead, on another thread since the crash, or runs at the restart.
    pub(super) start_clock: Time,
}

impl Proc {
    /// A node that has not started yet, on an empty disk.
    pub(super) fn new(id: NodeId, sector_bytes: usize) -> Proc {
        Proc {
            id,
            node: None,
            incarnation: 0,
            disk: Disk::new(sector_bytes),
            writer: None,
            queue: Vec::new(),
            syncing: false,
            ahead: None,
            timer_at: None,
            damage: None,
            damaged_byte: None,
            backup: None,
            rolled_back: false,
            start_clock: Time::ZERO,
        }
    }
}

impl Proc {
    /// The process ends (a crash or a halt): its node, log writer and queued log outputs
    /// go with it; the disk stays.
    pub(super) fn stop(&mut self) -> Option<Node> {
        self.writer = None;
        self.queue.clear();
        self.syncing = false;
        self.node.take()
    }
}

impl World {
    /// The seed of node `i`'s incarnation `incarnation`: derived from the run's seed.
    pub(super) fn node_seed(&self, i: usize, incarnation: u32) -> u64 {
        let id = self.procs[i].id;
        derive_seed(self.seed, "node", u64::from(id.0), u64::from(incarnation))
    }

    pub(super) fn start_node(&mut self, i: usize) {
        self.procs[i].incarnation += 1;
        let seed = self.node_seed(i, self.procs[i].incarnation);
        let p = &mut self.procs[i];
        let (config, id, now) = (self.config.clone(), p.id, p.start_clock);
        let ahead = p.ahead.take();
        let mut used_ahead = false;
        let start = |segments: &[tern_core::Segment<'_>]| match ahead
            .and_then(|ahead| ahead.finish(segments))
        {
            Some(started) => {
                used_ahead = true;
                started
            }
            None => Node::start(config, id, seed, now, segments),
        };
        // Start-up takes no virtual time: its syncs complete at once.
        let opened = open_log(&mut p.disk, start, started_layout);
        let syncs = p.disk.take_syncs();
        p.disk.complete_sync(&syncs);
        self.faults.recoveries_ahead += u64::from(used_ahead);
        self.faults.bytes_evicted += p.disk.take_evicted_bytes();
        let opened = match opened {
            Ok(opened) => opened,
            Err(StorageError::Config(e)) => panic!("the simulator builds valid configs: {e}"),
            Err(e) => {
                self.violations.push(Violation {
                    checker: "recovery",
                    detail: format!("{} refused to start: {e}", p.id),
                });
                return;
            }
        };
        // The converse of the check below: recovery may claim synced bytes damaged (a mark
        // vouches past the bad ones) only if the disk damaged one. (A log whose first record
        // a power loss tore can be set aside undamaged, but it claims nothing synced past it.)
        if let (
            None,
            Some(RecoveryError::Corrupt {
                base,
                offset,
                synced_upto,
                ..
            }),
        ) = (p.damaged_byte, &opened.started.set_aside)
        {
            if synced_upto > offset {
                self.violations.push(Violation {
                    checker: "damage detection",
                    detail: format!(
                        "{}: recovery set the log aside for damaged synced bytes at offset \
                         {} of the segment at {base} (a mark vouches up to {synced_upto}), \
                         but the disk damaged none",
                        p.id,
                        offset - base
                    ),
                });
            }
        }
        if let Some((base, at)) = p.damaged_byte.take() {
            match opened.started.set_aside {
                Some(_) => self.faults.corruptions_detected += 1,
                None => self.violations.push(Violation {
                    checker: "damage detection",
                    detail: format!(
                        "{}: the synced byte damaged at offset {at} of the segment at {base} \
                         went undetected by recovery",
                        p.id
                    ),
                }),
            }
        }
        if opened.started.set_aside.is_some() {
            p.disk.lost_synced();
        }
        // Recovery keeps what was synced: a restart on a disk no fault damaged holds every
        // value its durable records held (or a version that superseded it).
        if p.damage.is_none() && p.disk.holds_synced() {
            self.faults.recoveries_checked += 1;
            let node = &opened.started.node;
            let seen = |key: &[u8], dot| node.object(key).is_some_and(|o| o.has_seen(dot));
            if let Some((key, dot)) = p.disk.missing_synced(seen) {
                self.violations.push(Violation {
                    checker: "recovery",
                    detail: format!(
                        "{} restarted without the version {dot:?} of key {} that its disk had \
                         synced",
                        p.id,
                        String::from_utf8_lossy(key)
                    ),
                });
            }
        }
        if std::mem::take(&mut p.rolled_back) {
            match opened.started.node.rebuilding() {
                Some(_) => self.faults.rollbacks_rebuilt += 1,
                None => self.violations.push(Violation {
                    checker: "rollback",
                    detail: format!(
                        "{} restarted on a disk restored from an older copy and counts \
                         toward R at once: it may miss writes it acknowledged",
                        p.id
                    ),
                }),
            }
        }
        let zero_tails = opened.stats.zero_tails_truncated;
        self.faults.torn_tails_truncated += opened.stats.torn_tails_truncated - zero_tails;
        self.faults.zero_tails_truncated += zero_tails;
        self.faults.bytes_truncated += opened.stats.bytes_truncated;
        p.writer = Some(opened.writer);
        p.queue.clear();
        p.syncing = false;
        p.timer_at = None;
        let mut node = opened.started.node;
        node.record_collections();
        p.node = Some(node);
        let incarnation = p.incarnation;
        if p.incarnation > 1 {
            self.restarted(i, incarnation);
        }
        self.drain(i);
    }

    pub(super) fn handle(&mut self, i: usize, input: Input) {
        let Some(node) = self.procs[i].node.as_mut() else {
            return;
        };
        node.handle(self.now, input);
        for (key, object) in node.take_collected() {
            self.graveyard
                .entry(key)
                .or_default()
                .push((self.now, object));
        }
        self.drain(i);
    }

    /// Carries out every output of node `i`, then syncs and re-arms its timer.
    fn drain(&mut self, i: usize) {
        let mut outputs = Vec::new();
        if let Some(node) = self.procs[i].node.as_mut() {
            while let Some(output) = node.poll_output() {
                outputs.push(output);
            }
        }
        for output in outputs {
            match output {
                Output::Send { to, message } => {
                    self.send(self.procs[i].id, to, &message);
                    if self.crash_mid_commit(i, &message) {
                        return; // The process is gone, and what it had yet to do with it.
                    }
                }
                Output::Reply {
                    client,
                    request,
                    result,
                } => {
                    let client = client.0 as u32;
                    match &result {
                        Ok(Response::Written { dot, .. }) => {
                            self.check_acknowledgement(client, request, *dot, false);
                        }
                        Ok(Response::BulkWritten { dot }) => {
                            self.check_acknowledgement(client, request, *dot, true);
                        }
                        _ => {}
                    }
                    let latency = self.latency();
                    self.after(
                        latency,
                        Event::ClientReply {
                            client,
                            request,
                            result,
                        },
                    );
                }
                Output::Persist { bytes, end } => {
                    self.hash.u64(end);
                    let command = DiskCommand::Persist { bytes, end };
                    self.procs[i].queue.push(command);
                }
                Output::Compact { base, bytes, end } => {
                    self.hash.u64(end);
                    let command = DiskCommand::Compact { base, bytes, end };
                    self.procs[i].queue.push(command);
                }
                Output::DropSegmentsBefore { base } => {
                    let command = DiskCommand::DropBefore { base };
                    self.procs[i].queue.push(command);
                }
                Output::SetAsideLog => {
                    self.faults.stale_logs_set_aside += 1;
                    self.procs[i].disk.lost_synced();
                    self.procs[i].queue.push(DiskCommand::SetAside);
                }
                // Core halts only after a failed sync: the process exits (the machine and
                // its page cache stay up) and restarts later.
                Output::Halt => self.crash_node(i, CrashKind::Kill),
            }
        }
        self.start_sync(i);
        self.arm_timer(i);
    }

    /// Group commit: one batch at a time; whatever queued meanwhile goes in the next. The
    /// batch's writes land in the page cache now; its syncs complete after a drawn latency.
    fn start_sync(&mut self, i: usize) {
        let p = &self.procs[i];
        if p.syncing || p.node.is_none() || p.queue.is_empty() || p.writer.is_none() {
            return;
        }
        let kill_at = self.kill_mid_batch(i);
        let p = &mut self.procs[i];
        let Some(writer) = p.writer.as_mut() else {
            return;
        };
        let mut batch = std::mem::take(&mut p.queue);
        let files_change = changes_files(&batch);
        let applied = match kill_at {
            None => writer.apply(&mut p.disk, &mut batch),
            Some((ops, prefix)) => {
                let mut disk = Cut::new(&mut p.disk, ops, prefix);
                let applied = writer.apply(&mut disk, &mut batch);
                if let Some(in_append) = disk.cut() {
                    self.faults.kills_mid_batch += 1;
                    self.faults.kills_mid_compaction += u64::from(files_change);
                    self.faults.kills_mid_append += u64::from(in_append);
                    self.crash_node(i, CrashKind::Kill);
                    return;
                }
                applied
            }
        };
        let p = &mut self.procs[i];
        let target = p.disk.take_syncs();
        let end = match applied {
            Ok(end) => end,
            Err(e) => {
                // The virtual disk refuses only what the real one would (a missing file):
                // a bug in the log code, shown as a violation rather than a panic.
                self.violations.push(Violation {
                    checker: "log files",
                    detail: format!("{} could not write its log: {e}", p.id),
                });
                self.handle(i, Input::PersistFailed);
                return;
            }
        };
        if target.is_empty() {
            return;
        }
        let incarnation = p.incarnation;
        p.syncing = true;
        self.sync_after_latency(i, incarnation, end, target);
    }

    /// The first sync of `target` ends a drawn latency from now.
    fn sync_after_latency(
        &mut self,
        i: usize,
        incarnation: u32,
        end: Option<u64>,
        target: SyncTarget,
    ) {
        let latency = self.disk_rng.range(self.scenario.disk.fsync_us);
        self.after(
            latency,
            Event::SyncDone {
                node: i,
                incarnation,
                end,
                target,
            },
        );
    }

    /// The first of the syncs of a batch of node `i` ends: it may fail (in the fault phase);
    /// otherwise what it covered is durable, and the next one starts. Once the last one is
    /// done, core learns how far the log is durable.
    pub(super) fn sync_done(
        &mut self,
        i: usize,
        incarnation: u32,
        end: Option<u64>,
        target: SyncTarget,
    ) {
        let p = &self.procs[i];
        if p.incarnation != incarnation || p.node.is_none() {
            return;
        }
        let (first, rest) = target.split_first();
        let fail =
            self.phase == Phase::Fault && self.disk_rng.chance(self.scenario.disk.fsync_failure);
        if fail {
            // The sync failed: the node must not trust anything it wrote since the
            // last sync; core answers, halts, and the node is restarted.
            self.faults.fsync_failures += 1;
            self.procs[i].disk.fail_sync(&first);
            self.handle(i, Input::PersistFailed);
            return;
        }
        self.procs[i].disk.complete_sync(&first);
        if !rest.is_empty() {
            // The log code waits for each sync before it asks for the next: a crash may
            // come between them.
            self.faults.syncs_in_steps += 1;
            if self.power_loss_between_syncs(i) {
                return;
            }
            self.sync_after_latency(i, incarnation, end, rest);
            return;
        }
        let pickup = self.scenario.disk.pickup_us;
        if pickup[1] == 0 {
            self.procs[i].syncing = false;
            match end {
                Some(upto) => self.handle(i, Input::Persisted { upto }),
                None => self.start_sync(i),
            }
            return;
        }
        // The disk thread takes the next batch a moment later: what core queues meanwhile
        // (on hearing this batch is durable, among others) goes in it.
        let delay = self.disk_rng.range(pickup);
        self.after(
            delay,
            Event::Pickup {
                node: i,
                incarnation,
            },
        );
        if let Some(upto) = end {
            self.handle(i, Input::Persisted { upto });
        }
    }

    /// Node `i`'s disk thread takes the batch that queued since its last one ended.
    pub(super) fn pickup(&mut self, i: usize, incarnation: u32) {
        let p = &mut self.procs[i];
        if p.incarnation != incarnation || p.node.is_none() {
            return;
        }
        p.syncing = false;
        self.start_sync(i);
    }

    fn arm_timer(&mut self, i: usize) {
        let p = &self.procs[i];
        let Some(at) = p.node.as_ref().and_then(|n| n.poll_timeout()) else {
            return;
        };
        let at = at.max(self.now);
        if p.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        let incarnation = p.incarnation;
        self.procs[i].timer_at = Some(at);
        self.schedule(
            at,
            Event::Timer {
                node: i,
                incarnation,
            },
        );
    }

    /// A timer of node `i` fires: tick if core's deadline has come, else re-arm for it.
    pub(super) fn timer_fired(&mut self, i: usize, incarnation: u32) {
        let p = &mut self.procs[i];
        if p.incarnation != incarnation {
            return;
        }
        if p.timer_at == Some(self.now) {
            p.timer_at = None;
        }
        let due = p
            .node
            .as_ref()
            .and_then(|n| n.poll_timeout())
            .is_some_and(|t| t <= self.now);
        if due {
            self.handle(i, Input::Tick);
        } else {
            self.arm_timer(i);
        }
    }
}
