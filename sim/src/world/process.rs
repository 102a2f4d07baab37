//! The driver loop around each node: what the production driver does, over virtual IO.
//!
//! Owns `Proc` (one node's process: its `tern_core::Node`, incarnation, disk, sync and timer
//! state), starting a node from what its disk holds through core recovery, `handle` and
//! `drain` (carrying out every output), group-commit syncs and timers. It never decides
//! about keys, versions or quorums, and never chooses when a node fails: that is `faults`.

use super::faults::CrashKind;
use super::{Event, Phase, World};
use crate::checker::Violation;
use crate::disk::{Disk, SyncTarget};
use crate::rng::derive_seed;
use tern_core::{Input, Node, NodeId, Output, Response, StartError, Time};

#[derive(Debug)]
pub(super) struct Proc {
    pub(super) id: NodeId,
    pub(super) node: Option<tern_core::Node>,
    pub(super) incarnation: u32,
    pub(super) disk: Disk,
    syncing: bool,
    /// Logical log end of everything handed to the disk.
    written_end: u64,
    /// Logical log end the last started sync will report.
    sync_end: u64,
    timer_at: Option<Time>,
}

impl Proc {
    /// A node that has not started yet, on an empty disk.
    pub(super) fn new(id: NodeId, sector_bytes: usize) -> Proc {
        Proc {
            id,
            node: None,
            incarnation: 0,
            disk: Disk::new(sector_bytes),
            syncing: false,
            written_end: 0,
            sync_end: 0,
            timer_at: None,
        }
    }
}

impl World {
    pub(super) fn start_node(&mut self, i: usize) {
        let p = &mut self.procs[i];
        p.incarnation += 1;
        // As the production node does: sync what the page cache holds and evict it, so that
        // recovery reads what is on the disk, not pages a failed sync left readable.
        self.faults.bytes_evicted += p.disk.evict_cache();
        let seed = derive_seed(
            self.seed,
            "node",
            u64::from(p.id.0),
            u64::from(p.incarnation),
        );
        let started = match Node::start(self.config.clone(), p.id, seed, &p.disk.segments()) {
            Ok(started) => started,
            Err(StartError::Recovery(e)) => {
                self.violations.push(Violation {
                    checker: "recovery",
                    detail: format!("{} refused to start: {e}", p.id),
                });
                return;
            }
            Err(StartError::Config(e)) => panic!("the simulator builds valid configs: {e}"),
        };
        for torn in &started.torn {
            self.faults.torn_tails_truncated += 1;
            self.faults.bytes_truncated += torn.dropped_bytes;
            p.disk.truncate(torn.base, torn.offset);
        }
        p.written_end = started.log_end;
        p.sync_end = started.log_end;
        p.syncing = false;
        p.timer_at = None;
        p.node = Some(started.node);
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
                Output::Send { to, message } => self.send(self.procs[i].id, to, &message),
                Output::Reply {
                    client,
                    request,
                    result,
                } => {
                    let client = client.0 as u32;
                    if let Ok(Response::Written { dot, .. }) = &result {
                        self.check_acknowledgement(client, request, *dot);
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
                    let p = &mut self.procs[i];
                    p.disk.append(&bytes);
                    p.written_end = end;
                }
                Output::Compact { base, bytes, end } => {
                    self.hash.u64(end);
                    let p = &mut self.procs[i];
                    p.disk.create_segment(base, &bytes);
                    p.written_end = end;
                }
                Output::DropSegmentsBefore { base } => {
                    self.procs[i].disk.drop_segments_before(base);
                }
                // Core halts only after a failed sync: the process exits (the machine and
                // its page cache stay up) and restarts later.
                Output::Halt => self.crash_node(i, CrashKind::Kill),
            }
        }
        self.start_sync(i);
        self.arm_timer(i);
    }

    /// Group commit: one sync at a time; whatever was written meanwhile goes in the next.
    fn start_sync(&mut self, i: usize) {
        let p = &self.procs[i];
        if p.syncing || p.node.is_none() || p.written_end <= p.sync_end {
            return;
        }
        let target = p.disk.sync_target();
        let end = p.written_end;
        let incarnation = p.incarnation;
        let latency = self.disk_rng.range(self.scenario.disk.fsync_us);
        let p = &mut self.procs[i];
        p.syncing = true;
        p.sync_end = end;
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

    /// A sync of node `i` ends: it may fail (in the fault phase); otherwise its bytes are
    /// durable and core learns how far.
    pub(super) fn sync_done(&mut self, i: usize, incarnation: u32, end: u64, target: SyncTarget) {
        let p = &self.procs[i];
        if p.incarnation != incarnation || p.node.is_none() {
            return;
        }
        let fail =
            self.phase == Phase::Fault && self.disk_rng.chance(self.scenario.disk.fsync_failure);
        if fail {
            // The sync failed: the node must not trust anything it wrote since the
            // last sync; core answers, halts, and the node is restarted.
            self.faults.fsync_failures += 1;
            self.procs[i].disk.fail_sync(&target);
            self.handle(i, Input::PersistFailed);
            return;
        }
        let p = &mut self.procs[i];
        p.disk.complete_sync(&target);
        p.syncing = false;
        self.handle(i, Input::Persisted { upto: end });
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
