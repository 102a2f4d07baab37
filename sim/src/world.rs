//! The simulated world: nodes running real `tern_core::Node`s on virtual disks, a virtual
//! network, simulated clients, a fault injector, all driven by one event queue under
//! virtual time.
//!
//! The loop pops the earliest event (ties broken by insertion order), feeds it to a node or a
//! client, and carries out whatever the node outputs, exactly as the production driver does:
//! send (encoded, through the network model), reply, append + sync. Nothing here decides
//! about keys, versions or quorums; it only injects faults and records what happened.

use crate::checker::{self, DotLedger, Durability, Provenance, Violation};
use crate::disk::{CrashDamage, Disk, SyncTarget};
use crate::rng::{derive_seed, SimRng, TraceHash};
use crate::scenario::Scenario;
use crate::workload::{OpKind, Workload};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use tern_core::codec::encode_body;
use tern_core::{
    recover_segments, ClientId, ClientResult, Config, Input, Message, NodeId, Object, Op, Output,
    Quorum, Request, Response, Span, Time,
};

/// The client id the final reads use (simulated clients count up from 0).
const CHECKER_CLIENT: u32 = u32::MAX;
/// How long the calm phase waits after healing before the final reads, beyond the request
/// and failure-detector timeouts, so that every in-flight request has ended.
const SETTLE_MARGIN: Span = Span::from_millis(500);
/// Gap between attempts of a final read that failed.
const FINAL_READ_RETRY: Span = Span::from_millis(100);

#[derive(Debug)]
enum Event {
    Deliver {
        from: NodeId,
        to: usize,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        incarnation: u32,
    },
    SyncDone {
        node: usize,
        incarnation: u32,
        end: u64,
        target: SyncTarget,
    },
    ClientArrive {
        node: usize,
        client: u32,
        request: u64,
        body: Request,
    },
    ClientReply {
        client: u32,
        request: u64,
        result: ClientResult,
    },
    ClientTimeout {
        client: u32,
        request: u64,
    },
    ClientWake {
        client: u32,
    },
    Crash,
    /// A restarted node crashes again at a dangerous moment (see `FaultSpec`).
    CrashAgain {
        node: usize,
        incarnation: u32,
    },
    PowerCut,
    Restart {
        node: usize,
    },
    PartitionStart,
    PartitionHeal {
        generation: u64,
    },
    FinalReads,
    FinalRead {
        key: Vec<u8>,
    },
}

#[derive(Debug)]
struct Scheduled {
    at: Time,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Scheduled) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Scheduled) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` pops the earliest event, then the first scheduled.
    fn cmp(&self, other: &Scheduled) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
struct Proc {
    id: NodeId,
    node: Option<tern_core::Node>,
    incarnation: u32,
    disk: Disk,
    syncing: bool,
    /// Logical log end of everything handed to the disk.
    written_end: u64,
    /// Logical log end the last started sync will report.
    sync_end: u64,
    timer_at: Option<Time>,
}

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
    pub torn_tails_truncated: u64,
    /// Bytes a failed sync left readable but never wrote, evicted before recovery read them.
    pub bytes_evicted: u64,
    pub bytes_truncated: u64,
    pub compactions: u64,
    pub read_repairs: u64,
    pub resends: u64,
    pub forwarded: u64,
}

impl FaultCounts {
    /// Adds a node incarnation's counters (at its crash, or at the end of the run).
    fn absorb(&mut self, stats: &tern_core::NodeStats) {
        self.compactions += stats.compactions;
        self.read_repairs += stats.read_repairs;
        self.resends += stats.resends;
        self.forwarded += stats.forwarded;
    }
}

/// Everything a run produced; the report is written from this.
#[derive(Debug)]
pub struct RunOutcome {
    pub seed: u64,
    pub scenario: Scenario,
    pub trace_hash: u64,
    pub events: u64,
    pub fault_phase_end: Time,
    pub end: Time,
    pub faults: FaultCounts,
    pub durability: Durability,
    pub stale_pairs: u64,
    pub reads_checked: u64,
    pub keys_converged: u64,
    /// Acknowledgements checked against the synced state of the replicas, at the moment
    /// each was sent.
    pub acks_checked: u64,
    /// Distinct versions the dot checker watched.
    pub versions_watched: u64,
    /// Sets that failed definitely, whose values the failed-write checker looked for.
    pub failed_sets: u64,
    pub violations: Vec<Violation>,
    pub outcomes: BTreeMap<(OpKind, &'static str), u64>,
    pub latencies: BTreeMap<OpKind, Vec<u64>>,
    pub acked_by_kind: BTreeMap<&'static str, u64>,
    pub disk_bytes: Vec<(NodeId, u64, usize)>,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// How a node goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashKind {
    /// The process is killed; the machine, and its page cache, stay up.
    Kill = 1,
    /// The machine loses power.
    PowerLoss = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Fault,
    Calm { since: Time },
    Done,
}

#[derive(Debug)]
pub struct World {
    scenario: Scenario,
    seed: u64,
    config: Config,
    ring: tern_core::ring::Ring,
    now: Time,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    procs: Vec<Proc>,
    net_rng: SimRng,
    disk_rng: SimRng,
    fault_rng: SimRng,
    blocked: BTreeSet<(NodeId, NodeId)>,
    partition_generation: u64,
    workload: Workload,
    phase: Phase,
    fault_phase_end: Time,
    finals: BTreeMap<Vec<u8>, Object>,
    /// Set once the final reads have started.
    final_started: bool,
    final_pending: usize,
    final_next_request: u64,
    final_requests: BTreeMap<u64, Vec<u8>>,
    faults: FaultCounts,
    violations: Vec<Violation>,
    dots: DotLedger,
    acks_checked: u64,
    hash: TraceHash,
    events: u64,
}

impl World {
    pub fn new(scenario: &Scenario, seed: u64) -> World {
        let c = &scenario.cluster;
        let ids: Vec<NodeId> = (1..=c.nodes).map(NodeId).collect();
        let mut config = Config::new(ids.clone());
        config.n = c.n;
        config.r = c.r;
        config.w = c.w;
        config.request_timeout = Span::from_millis(c.request_timeout_ms);
        config.resend_interval = Span::from_millis(c.resend_interval_ms);
        config.heartbeat_interval = Span::from_millis(c.heartbeat_interval_ms);
        config.failure_timeout = Span::from_millis(c.failure_timeout_ms);
        config.compact_min_bytes = c.compact_min_bytes;
        let procs = ids
            .iter()
            .map(|id| Proc {
                id: *id,
                node: None,
                incarnation: 0,
                disk: Disk::new(scenario.disk.sector_bytes as usize),
                syncing: false,
                written_end: 0,
                sync_end: 0,
                timer_at: None,
            })
            .collect();
        World {
            workload: Workload::new(&scenario.workload, derive_seed(seed, "workload", 0, 0)),
            scenario: scenario.clone(),
            seed,
            ring: tern_core::ring::Ring::new(&config.nodes),
            config,
            now: Time::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            procs,
            net_rng: SimRng::new(derive_seed(seed, "network", 0, 0)),
            disk_rng: SimRng::new(derive_seed(seed, "disk", 0, 0)),
            fault_rng: SimRng::new(derive_seed(seed, "faults", 0, 0)),
            blocked: BTreeSet::new(),
            partition_generation: 0,
            phase: Phase::Fault,
            fault_phase_end: Time::ZERO,
            finals: BTreeMap::new(),
            final_started: false,
            final_pending: 0,
            final_next_request: 0,
            final_requests: BTreeMap::new(),
            faults: FaultCounts::default(),
            violations: Vec::new(),
            dots: DotLedger::default(),
            acks_checked: 0,
            hash: TraceHash::default(),
            events: 0,
        }
    }

    fn schedule(&mut self, at: Time, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    fn after(&mut self, span_us: u64, event: Event) {
        self.schedule(self.now + Span(span_us), event);
    }

    /// Runs the scenario to the end and checks the history.
    pub fn run(mut self) -> RunOutcome {
        for i in 0..self.procs.len() {
            self.start_node(i);
        }
        for client in 0..self.workload.clients() {
            let think = self.workload.think();
            self.after(think, Event::ClientWake { client });
        }
        if self.scenario.faults.crash_interval_ms[1] > 0 {
            let gap = self.fault_rng.range(self.scenario.faults.crash_interval_ms) * 1_000;
            self.after(gap, Event::Crash);
        }
        if self.scenario.faults.power_cut_interval_ms[1] > 0 {
            let gap = self
                .fault_rng
                .range(self.scenario.faults.power_cut_interval_ms)
                * 1_000;
            self.after(gap, Event::PowerCut);
        }
        if self.scenario.faults.partition_interval_ms[1] > 0 {
            let gap = self
                .fault_rng
                .range(self.scenario.faults.partition_interval_ms)
                * 1_000;
            self.after(gap, Event::PartitionStart);
        }
        let fault_max = Time(self.scenario.phases.fault_max_s * 1_000_000);
        while let Some(next) = self.queue.pop() {
            self.now = next.at;
            self.events += 1;
            self.hash.u64(next.at.micros());
            self.step(next.event);
            match self.phase {
                Phase::Fault if self.workload.done() => self.enter_calm(),
                Phase::Fault if self.now > fault_max => {
                    self.violations.push(Violation {
                        checker: "liveness",
                        detail: format!(
                            "the workload did not finish in the fault phase's {} s ({} of {} writes acknowledged)",
                            self.scenario.phases.fault_max_s,
                            self.workload.acknowledged(),
                            self.scenario.workload.acknowledged_writes
                        ),
                    });
                    self.workload.stop_all();
                    self.enter_calm();
                }
                Phase::Calm { since } => {
                    let bound = since + Span(self.scenario.phases.calm_max_s * 1_000_000);
                    if self.final_pending == 0 && self.final_started {
                        self.phase = Phase::Done;
                        break;
                    }
                    if self.now > bound {
                        self.violations.push(Violation {
                            checker: "liveness",
                            detail: format!(
                                "{} final reads still unanswered {} s into the calm phase",
                                self.final_pending, self.scenario.phases.calm_max_s
                            ),
                        });
                        self.phase = Phase::Done;
                        break;
                    }
                }
                _ => {}
            }
        }
        self.finish()
    }

    fn step(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, bytes } => {
                self.hash.u64(u64::from(from.0) << 32 | to as u64);
                self.hash.bytes(&bytes);
                if self.procs[to].node.is_none() {
                    self.faults.messages_to_down_nodes += 1;
                    return;
                }
                match Message::decode(&bytes) {
                    Ok(message) => self.handle(to, Input::Peer { from, message }),
                    Err(e) => self.violations.push(Violation {
                        checker: "codec",
                        detail: format!("a message from {from} failed to decode: {e}"),
                    }),
                }
            }
            Event::Timer { node, incarnation } => {
                let p = &mut self.procs[node];
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
                    self.handle(node, Input::Tick);
                } else {
                    self.arm_timer(node);
                }
            }
            Event::SyncDone {
                node,
                incarnation,
                end,
                target,
            } => {
                let p = &self.procs[node];
                if p.incarnation != incarnation || p.node.is_none() {
                    return;
                }
                let fail = self.phase == Phase::Fault
                    && self.disk_rng.chance(self.scenario.disk.fsync_failure);
                if fail {
                    // The sync failed: the node must not trust anything it wrote since the
                    // last sync; core answers, halts, and the node is restarted.
                    self.faults.fsync_failures += 1;
                    self.procs[node].disk.fail_sync(&target);
                    self.handle(node, Input::PersistFailed);
                    return;
                }
                let p = &mut self.procs[node];
                p.disk.complete_sync(&target);
                p.syncing = false;
                self.handle(node, Input::Persisted { upto: end });
            }
            Event::ClientArrive {
                node,
                client,
                request,
                body,
            } => {
                if self.procs[node].node.is_none() {
                    return; // Lost with the node; the client will time out.
                }
                let input = Input::Client {
                    client: ClientId(u64::from(client)),
                    request,
                    body,
                };
                self.handle(node, input);
            }
            Event::ClientReply {
                client,
                request,
                result,
            } => {
                self.hash.bytes(&encode_body(&result));
                if client == CHECKER_CLIENT {
                    self.final_reply(request, Some(result));
                } else if self
                    .workload
                    .complete(client, request, Some(result), self.now)
                {
                    self.client_idle(client);
                }
            }
            Event::ClientTimeout { client, request } => {
                if client == CHECKER_CLIENT {
                    self.final_reply(request, None);
                } else if self.workload.complete(client, request, None, self.now) {
                    self.client_idle(client);
                }
            }
            Event::ClientWake { client } => self.client_next(client),
            Event::Crash => self.crash_one(),
            Event::CrashAgain { node, incarnation } => {
                let p = &self.procs[node];
                if self.phase == Phase::Fault && p.incarnation == incarnation && p.node.is_some() {
                    self.faults.crashes_after_restart += 1;
                    let kind = self.crash_kind();
                    self.crash_node(node, kind);
                }
            }
            Event::PowerCut => self.power_cut(),
            Event::Restart { node } => {
                if self.procs[node].node.is_none() {
                    self.start_node(node);
                }
            }
            Event::PartitionStart => self.start_partition(),
            Event::PartitionHeal { generation } => {
                if generation == self.partition_generation {
                    self.blocked.clear();
                }
            }
            Event::FinalReads => self.start_final_reads(),
            Event::FinalRead { key } => self.send_final_read(key),
        }
    }

    // ----- nodes -----

    fn start_node(&mut self, i: usize) {
        let p = &mut self.procs[i];
        p.incarnation += 1;
        // As the production node does: sync what the page cache holds and evict it, so that
        // recovery reads what is on the disk, not pages a failed sync left readable.
        self.faults.bytes_evicted += p.disk.evict_cache();
        let recovered = match recover_segments(&p.disk.segments()) {
            Ok(r) => r,
            Err(e) => {
                self.violations.push(Violation {
                    checker: "recovery",
                    detail: format!("{} refused to start: {e}", p.id),
                });
                return;
            }
        };
        for torn in &recovered.torn {
            self.faults.torn_tails_truncated += 1;
            self.faults.bytes_truncated += torn.dropped_bytes;
            p.disk.truncate(torn.base, torn.offset);
        }
        p.written_end = recovered.log_end;
        p.sync_end = recovered.log_end;
        p.syncing = false;
        p.timer_at = None;
        let seed = derive_seed(
            self.seed,
            "node",
            u64::from(p.id.0),
            u64::from(p.incarnation),
        );
        let node = tern_core::Node::new(self.config.clone(), p.id, seed, recovered)
            .expect("the simulator builds valid configs");
        p.node = Some(node);
        let incarnation = p.incarnation;
        if p.incarnation > 1 {
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
        self.drain(i);
    }

    fn handle(&mut self, i: usize, input: Input) {
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

    // ----- network -----

    fn latency(&mut self) -> u64 {
        let net = &self.scenario.network;
        if self.net_rng.chance(net.tail_probability) {
            self.net_rng.range(net.tail_latency_us)
        } else {
            self.net_rng.range(net.latency_us)
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, message: &Message) {
        self.faults.messages_sent += 1;
        if let Message::Replicate { key, object, .. } = message {
            self.dots.observe(key, object);
        }
        if self.blocked.contains(&(from, to)) {
            self.faults.messages_blocked += 1;
            return;
        }
        if self.net_rng.chance(self.scenario.network.loss) {
            self.faults.messages_lost += 1;
            return;
        }
        let copies = if self.net_rng.chance(self.scenario.network.duplicate) {
            self.faults.messages_duplicated += 1;
            2
        } else {
            1
        };
        let bytes = message.encode();
        let to = self.index_of(to);
        for _ in 0..copies {
            let latency = self.latency();
            let bytes = bytes.clone();
            self.after(latency, Event::Deliver { from, to, bytes });
        }
    }

    fn index_of(&self, id: NodeId) -> usize {
        self.procs
            .iter()
            .position(|p| p.id == id)
            .expect("core only sends to members")
    }

    // ----- faults -----

    fn down_count(&self) -> u32 {
        self.procs.iter().filter(|p| p.node.is_none()).count() as u32
    }

    fn crash_one(&mut self) {
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
        let gap = self.fault_rng.range(faults.crash_interval_ms) * 1_000;
        self.after(gap, Event::Crash);
    }

    /// Every node loses power at the same instant.
    fn power_cut(&mut self) {
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
        let gap = self
            .fault_rng
            .range(self.scenario.faults.power_cut_interval_ms)
            * 1_000;
        self.after(gap, Event::PowerCut);
    }

    /// A single-node crash: a process kill for `kill_fraction` of them, else a power loss.
    fn crash_kind(&mut self) -> CrashKind {
        if self.fault_rng.chance(self.scenario.faults.kill_fraction) {
            CrashKind::Kill
        } else {
            CrashKind::PowerLoss
        }
    }

    /// Crashes node `i` now; it restarts later. A kill leaves its unsynced bytes readable
    /// and unsynced; a power loss keeps, drops or tears each of its unsynced sectors.
    fn crash_node(&mut self, i: usize, kind: CrashKind) {
        let p = &mut self.procs[i];
        if let Some(node) = p.node.take() {
            self.faults.absorb(node.stats());
        }
        p.incarnation += 1; // Stale timers and syncs of the dead incarnation are ignored.
        match kind {
            CrashKind::Kill => {
                p.disk.kill();
                self.faults.kills += 1;
            }
            CrashKind::PowerLoss => {
                self.faults.power_losses += 1;
                self.power_loss(i);
            }
        }
        self.faults.crashes += 1;
        self.faults.max_down = self.faults.max_down.max(self.down_count());
        self.hash.u64(0xc4a5_0000 | (i as u64) | (kind as u64) << 8);
        let delay = self.fault_rng.range(self.scenario.faults.restart_delay_ms) * 1_000;
        self.after(delay, Event::Restart { node: i });
    }

    fn power_loss(&mut self, i: usize) {
        let disk = &self.scenario.disk;
        let weights = [disk.crash_keep, disk.crash_drop, disk.crash_torn];
        let damage = self.procs[i].disk.power_loss(&mut self.disk_rng, weights);
        self.faults.damage.kept += damage.kept;
        self.faults.damage.dropped += damage.dropped;
        self.faults.damage.torn += damage.torn;
    }

    /// The moment a write is acknowledged, W replicas of its key must hold it in their synced
    /// state: what recovery would read after a power cut.
    fn check_acknowledgement(&mut self, client: u32, request: u64, dot: tern_core::Dot) {
        if client == CHECKER_CLIENT {
            return;
        }
        let Some(key) = self.workload.in_flight_write(client, request) else {
            return; // The client gave up waiting; its write is not counted as acknowledged.
        };
        self.acks_checked += 1;
        let c = &self.scenario.cluster;
        let replicas = self.ring.preference(&key, usize::from(c.n));
        let holding: Vec<NodeId> = replicas
            .iter()
            .copied()
            .filter(|id| {
                self.procs[self.index_of(*id)]
                    .disk
                    .synced(&key)
                    .is_some_and(|o| o.has_seen(dot))
            })
            .collect();
        if holding.len() < usize::from(c.w) {
            self.violations.push(Violation {
                checker: "acknowledged durable",
                detail: format!(
                    "key {} write {dot:?} was acknowledged at {} while only {:?} of its replicas {:?} had it synced (W={})",
                    String::from_utf8_lossy(&key),
                    self.now,
                    holding,
                    replicas,
                    c.w
                ),
            });
        }
    }

    fn start_partition(&mut self) {
        if self.phase != Phase::Fault {
            return;
        }
        let ids: Vec<NodeId> = self.procs.iter().map(|p| p.id).collect();
        self.blocked.clear();
        match self.fault_rng.index(3) {
            0 => {
                // Symmetric: a random non-trivial split.
                self.faults.partitions_symmetric += 1;
                let mut side: Vec<bool> = ids.iter().map(|_| self.fault_rng.chance(0.5)).collect();
                let first = self.fault_rng.index(ids.len());
                side[first] = true;
                let other = (first + 1 + self.fault_rng.index(ids.len() - 1)) % ids.len();
                side[other] = false;
                for (a, sa) in ids.iter().zip(&side) {
                    for (b, sb) in ids.iter().zip(&side) {
                        if sa != sb {
                            self.blocked.insert((*a, *b));
                        }
                    }
                }
            }
            1 => {
                // Asymmetric: one direction between two nodes.
                self.faults.partitions_asymmetric += 1;
                let a = self.fault_rng.index(ids.len());
                let b = (a + 1 + self.fault_rng.index(ids.len() - 1)) % ids.len();
                self.blocked.insert((ids[a], ids[b]));
            }
            _ => {
                // One node isolated from every other.
                self.faults.partitions_isolate += 1;
                let a = ids[self.fault_rng.index(ids.len())];
                for b in &ids {
                    if *b != a {
                        self.blocked.insert((a, *b));
                        self.blocked.insert((*b, a));
                    }
                }
            }
        }
        self.partition_generation += 1;
        let generation = self.partition_generation;
        let faults = self.scenario.faults.clone();
        let duration = self.fault_rng.range(faults.partition_duration_ms) * 1_000;
        self.after(duration, Event::PartitionHeal { generation });
        let gap = self.fault_rng.range(faults.partition_interval_ms) * 1_000;
        self.after(duration + gap, Event::PartitionStart);
    }

    // ----- clients -----

    fn client_idle(&mut self, client: u32) {
        let think = self.workload.think();
        self.after(think, Event::ClientWake { client });
    }

    fn client_next(&mut self, client: u32) {
        let Some(issue) = self.workload.next(client, self.now) else {
            return;
        };
        let node = self.workload.pick(self.procs.len());
        self.send_request(node, issue.client, issue.request, issue.body);
        let timeout = self.scenario.workload.client_timeout_ms * 1_000;
        let request = issue.request;
        self.after(timeout, Event::ClientTimeout { client, request });
    }

    fn send_request(&mut self, node: usize, client: u32, request: u64, body: Request) {
        let latency = self.latency();
        self.after(
            latency,
            Event::ClientArrive {
                node,
                client,
                request,
                body,
            },
        );
    }

    // ----- the calm phase and the final reads -----

    fn enter_calm(&mut self) {
        self.fault_phase_end = self.now;
        self.phase = Phase::Calm { since: self.now };
        self.blocked.clear();
        for i in 0..self.procs.len() {
            if self.procs[i].node.is_none() {
                self.start_node(i);
            }
        }
        let c = &self.scenario.cluster;
        let settle = c.request_timeout_ms.max(c.failure_timeout_ms) * 1_000 * 2;
        self.after(settle + SETTLE_MARGIN.micros(), Event::FinalReads);
    }

    fn start_final_reads(&mut self) {
        let keys: Vec<Vec<u8>> = self.workload.history.keys_written.iter().cloned().collect();
        self.final_pending = keys.len();
        self.final_started = true;
        for key in keys {
            self.send_final_read(key);
        }
    }

    /// Reads `key` from every replica (R = N) through a node, which repairs stale replicas.
    fn send_final_read(&mut self, key: Vec<u8>) {
        let request = self.final_next_request;
        self.final_next_request += 1;
        self.final_requests.insert(request, key.clone());
        let n = self.scenario.cluster.n;
        let body = Request {
            op: Op::Get { key: key.clone() },
            quorum: Quorum {
                n: Some(n),
                r: Some(n),
                w: None,
            },
            timeout_ms: None,
        };
        let node = request as usize % self.procs.len();
        self.send_request(node, CHECKER_CLIENT, request, body);
        let timeout = self.scenario.workload.client_timeout_ms * 1_000;
        self.after(
            timeout,
            Event::ClientTimeout {
                client: CHECKER_CLIENT,
                request,
            },
        );
    }

    fn final_reply(&mut self, request: u64, result: Option<ClientResult>) {
        let Some(key) = self.final_requests.remove(&request) else {
            return;
        };
        match result {
            Some(Ok(Response::Object(object))) => {
                self.workload.history.reads.push(checker::ReadRecord {
                    key: key.clone(),
                    start: self.now,
                    end: self.now,
                    object: object.clone(),
                });
                self.finals.insert(key, object);
                self.final_pending -= 1;
            }
            _ => self.after(FINAL_READ_RETRY.micros(), Event::FinalRead { key }),
        }
    }

    // ----- verdicts -----

    fn finish(mut self) -> RunOutcome {
        let history = std::mem::take(&mut self.workload.history);
        let mut violations = std::mem::take(&mut self.violations);
        let durability = if self.phase == Phase::Done && self.final_pending == 0 {
            let provenance = Provenance {
                attempts: &history.attempts,
                observed: &history.observed,
                versions: &history.versions,
            };
            checker::check_durability(&history.acked, &self.finals, &history.written, provenance)
        } else {
            Durability {
                acknowledged: history.acked.len() as u64,
                ..Durability::default()
            }
        };
        violations.extend(durability.violations.iter().cloned());
        let (stale_pairs, stale) = checker::check_stale_reads(&history.acked, &history.reads);
        violations.extend(stale);
        let (failed_sets, failed) =
            checker::check_failed_writes(&history.attempts, &history.reads, &self.finals);
        violations.extend(failed);
        violations.append(&mut self.dots.violations);
        let mut replicas: BTreeMap<Vec<u8>, Vec<(NodeId, Object)>> = BTreeMap::new();
        let ids: Vec<NodeId> = self.procs.iter().map(|p| p.id).collect();
        let ring = tern_core::ring::Ring::new(&ids);
        for key in self.finals.keys() {
            let copies = ring
                .preference(key, usize::from(self.scenario.cluster.n))
                .into_iter()
                .map(|id| {
                    let object = self.procs[self.index_of(id)]
                        .node
                        .as_ref()
                        .and_then(|n| n.object(key).cloned())
                        .unwrap_or_default();
                    (id, object)
                })
                .collect();
            replicas.insert(key.clone(), copies);
        }
        violations.extend(checker::check_convergence(&replicas));
        for p in &self.procs {
            if let Some(node) = &p.node {
                self.faults.absorb(node.stats());
            }
        }
        let mut acked_by_kind = BTreeMap::new();
        for w in &history.acked {
            let kind = if w.value.is_some() { "set" } else { "delete" };
            *acked_by_kind.entry(kind).or_default() += 1;
        }
        let disk_bytes = self
            .procs
            .iter()
            .map(|p| (p.id, p.disk.total_bytes(), p.disk.segment_count()))
            .collect();
        RunOutcome {
            seed: self.seed,
            scenario: self.scenario,
            trace_hash: self.hash.value(),
            events: self.events,
            fault_phase_end: self.fault_phase_end,
            end: self.now,
            faults: self.faults,
            durability,
            stale_pairs,
            reads_checked: history.reads.len() as u64,
            keys_converged: replicas.len() as u64,
            acks_checked: self.acks_checked,
            versions_watched: self.dots.len() as u64,
            failed_sets,
            violations,
            outcomes: history.outcomes,
            latencies: history.latencies,
            acked_by_kind,
            disk_bytes,
        }
    }
}

/// Runs `scenario` with `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutcome {
    World::new(scenario, seed).run()
}
