//! The simulated world: nodes running real `tern_core::Node`s on virtual disks, a virtual
//! network, simulated clients, a fault injector, all driven by one event queue under
//! virtual time.
//!
//! The loop pops the earliest event (ties broken by insertion order), feeds it to a node or a
//! client, and carries out whatever the node outputs, exactly as the production driver does:
//! send (encoded, through the network model), reply, append + sync. Nothing here decides
//! about keys, versions or quorums, nor what a client does after a failure (that is
//! `tern_core::client`, as in the production client); it only injects faults and records
//! what happened.
//!
//! This module owns `World`, the run loop, the phases and the dispatch of each event to the
//! part that handles it; each part is an `impl World` block in its own file: `event` (the
//! queue), `process` (the driver loop over core outputs), `network`, `faults`, `clients`,
//! `calm` (the final reads) and `verdict` (the checkers' run and `RunOutcome`).

mod ahead;
mod calm;
mod clients;
mod event;
mod faults;
mod network;
mod outage;
mod process;
mod verdict;

pub use faults::FaultCounts;
pub use verdict::{BulkFigures, RunOutcome};

use crate::checker::{DotLedger, Violation};
use crate::rng::{derive_seed, SimRng, TraceHash};
use crate::scenario::Scenario;
use crate::workload::Workload;
use event::{Event, EventQueue};
use process::Proc;
use std::collections::{BTreeMap, BTreeSet};
use tern_core::{Config, NodeId, Object, Span, Time};

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
    now: Time,
    queue: EventQueue,
    procs: Vec<Proc>,
    net_rng: SimRng,
    disk_rng: SimRng,
    fault_rng: SimRng,
    blocked: BTreeSet<(NodeId, NodeId)>,
    partition_generation: u64,
    workload: Workload,
    /// Each workload client's connection and tries (`clients`).
    links: Vec<clients::Link>,
    phase: Phase,
    fault_phase_end: Time,
    finals: BTreeMap<Vec<u8>, Object>,
    /// The node the scheduled outage keeps down (`outage`).
    out_of_service: Option<usize>,
    /// Every key a node's tombstone collection forgot, when, and with what.
    graveyard: crate::checker::Graveyard,
    /// Set once the final reads have started.
    final_started: bool,
    final_pending: usize,
    final_next_request: u64,
    final_requests: BTreeMap<u64, Vec<u8>>,
    /// The final searches' questions (empty until the final reads are answered).
    final_asks: Vec<crate::workload::SearchAsk>,
    /// Final searches in flight: request -> (node, question).
    final_search_requests: BTreeMap<u64, (usize, usize)>,
    final_answers: Vec<crate::checker::FinalAnswer>,
    faults: FaultCounts,
    /// Anti-entropy in the calm phase (`calm`).
    entropy: calm::EntropyFigures,
    /// When each node that is down crashed (for the failure-detection figure).
    crashed_at: BTreeMap<usize, Time>,
    violations: Vec<Violation>,
    dots: DotLedger,
    acks_checked: u64,
    hash: TraceHash,
    events: u64,
    /// Use a second thread: to start a crashed node from its log while the run goes on
    /// (`ahead`), to fold the trace hash (`TraceHash::on_thread`), and to run the durability
    /// checker beside the others (`verdict`).
    second_thread: bool,
}

/// How to run a scenario; none of it changes the run, only how long it takes.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Use a second thread for work whose result does not depend on it: starting crashed
    /// nodes from their logs ahead of their restart, and the durability checker.
    pub second_thread: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            second_thread: true,
        }
    }
}

impl World {
    pub fn new(scenario: &Scenario, seed: u64, options: Options) -> World {
        let config = scenario.config();
        let procs: Vec<Proc> = config
            .nodes
            .iter()
            .map(|id| Proc::new(*id, scenario.disk.sector_bytes as usize))
            .collect();
        let mut workload = Workload::new(&scenario.workload, derive_seed(seed, "workload", 0, 0));
        // Each client starts at a node of its own, then fails over by the client rules.
        let links = (0..workload.clients())
            .map(|_| clients::Link::new(procs.len(), workload.pick(procs.len())))
            .collect();
        World {
            workload,
            links,
            scenario: scenario.clone(),
            seed,
            config,
            now: Time::ZERO,
            queue: EventQueue::default(),
            procs,
            net_rng: SimRng::new(derive_seed(seed, "network", 0, 0)),
            disk_rng: SimRng::new(derive_seed(seed, "disk", 0, 0)),
            fault_rng: SimRng::new(derive_seed(seed, "faults", 0, 0)),
            blocked: BTreeSet::new(),
            partition_generation: 0,
            phase: Phase::Fault,
            fault_phase_end: Time::ZERO,
            finals: BTreeMap::new(),
            graveyard: BTreeMap::new(),
            out_of_service: None,
            final_started: false,
            final_pending: 0,
            final_next_request: 0,
            final_requests: BTreeMap::new(),
            final_asks: Vec::new(),
            final_search_requests: BTreeMap::new(),
            final_answers: Vec::new(),
            faults: FaultCounts::default(),
            entropy: calm::EntropyFigures::default(),
            crashed_at: BTreeMap::new(),
            violations: Vec::new(),
            dots: DotLedger::default(),
            acks_checked: 0,
            hash: if options.second_thread {
                TraceHash::on_thread()
            } else {
                TraceHash::default()
            },
            events: 0,
            second_thread: options.second_thread,
        }
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
        self.schedule_first_faults();
        self.schedule_fixed_faults();
        let fault_max = Time::ZERO + Span::from_secs(self.scenario.phases.fault_max_s);
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
                    let bound = since + Span::from_secs(self.scenario.phases.calm_max_s);
                    if self.advance_finals() {
                        self.phase = Phase::Done;
                        break;
                    }
                    if self.now > bound {
                        self.violations.push(Violation {
                            checker: "liveness",
                            detail: format!(
                                "{} final reads or searches still unanswered {} s into the calm phase",
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
        self.hash.settle();
        self.finish()
    }

    /// Hands one event to the part that handles it.
    fn step(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, bytes } => self.deliver(from, to, bytes),
            Event::Timer { node, incarnation } => self.timer_fired(node, incarnation),
            Event::SyncDone {
                node,
                incarnation,
                end,
                target,
            } => self.sync_done(node, incarnation, end, target),
            Event::Pickup { node, incarnation } => self.pickup(node, incarnation),
            Event::ClientArrive {
                node,
                connection,
                client,
                request,
                body,
            } => self.client_arrive(node, connection, client, request, body),
            Event::ClientReply {
                client,
                request,
                result,
            } => self.client_reply(client, request, result),
            Event::ClientTimeout { client, request } => self.client_timeout(client, request),
            Event::ClientWake { client } => self.client_next(client),
            Event::ClientNotSent { client, request } => self.client_not_sent(client, request),
            Event::ClientConnectionClosed {
                client,
                node,
                incarnation,
            } => self.client_connection_closed(client, node, incarnation),
            Event::ClientRetry { client } => self.client_try(client),
            Event::Crash => self.crash_one(),
            Event::CrashAgain { node, incarnation } => self.crash_again(node, incarnation),
            Event::PowerCut => self.power_cut(),
            Event::Restart { node } => {
                if self.procs[node].node.is_none() && !self.kept_down(node) {
                    self.measure_detection(node);
                    self.start_node(node);
                }
            }
            Event::PartitionStart => self.start_partition(),
            Event::PartitionHeal { generation } => self.heal_partition(generation),
            Event::OutageStart => self.start_outage(),
            Event::OutageEnd => self.end_outage(),
            Event::SplitStart => self.start_split(),
            Event::SplitEnd => self.end_split(),
            Event::FinalReads => self.start_final_reads(),
            Event::FinalRead { key } => self.send_final_read(key),
            Event::FinalSearches => self.start_final_searches(),
            Event::FinalSearch { node, ask } => self.send_final_search(node, ask),
        }
    }
}

/// Runs `scenario` with `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> RunOutcome {
    run_with(scenario, seed, Options::default())
}

/// Runs `scenario` with `seed` and `options` (the same run whatever the options).
pub fn run_with(scenario: &Scenario, seed: u64, options: Options) -> RunOutcome {
    World::new(scenario, seed, options).run()
}
