//! The verdict: running every checker over what the run recorded, and `RunOutcome`.
//!
//! Owns turning a finished world into a `RunOutcome`: the durability, stale-read,
//! failed-write, dot and convergence verdicts, the fault counts of incarnations still up, and
//! the figures the report prints. It never changes what happened: the history, the final
//! reads and the nodes' state are only read.

use super::{FaultCounts, Phase, World};
use crate::checker::{self, Durability, Provenance, Violation};
use crate::scenario::Scenario;
use crate::workload::OpKind;
use std::collections::BTreeMap;
use tern_core::{NodeId, Object, Time};

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

impl World {
    /// Runs every checker over the history and the final state, and gathers the figures.
    pub(super) fn finish(mut self) -> RunOutcome {
        let history = std::mem::take(&mut self.workload.history);
        let mut violations = std::mem::take(&mut self.violations);
        let complete = self.phase == Phase::Done && self.final_pending == 0;
        let finals = &self.finals;
        let durability_check = || {
            if !complete {
                return Durability {
                    acknowledged: history.acked.len() as u64,
                    ..Durability::default()
                };
            }
            let provenance = Provenance {
                attempts: &history.attempts,
                observed: &history.observed,
                versions: &history.versions,
            };
            checker::check_durability(&history.acked, finals, &history.written, provenance)
        };
        let other_checks = || {
            let stale = checker::check_stale_reads(&history.acked, &history.reads);
            let failed = checker::check_failed_writes(&history.attempts, &history.reads, finals);
            (stale, failed)
        };
        // The checkers are pure functions of the history: run the longest on a second
        // thread if allowed; the verdict is the same either way.
        let (durability, ((stale_pairs, stale), (failed_sets, failed))) = if self.second_thread {
            std::thread::scope(|scope| {
                let durability = scope.spawn(durability_check);
                let others = other_checks();
                let durability = durability
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (durability, others)
            })
        } else {
            (durability_check(), other_checks())
        };
        violations.extend(durability.violations.iter().cloned());
        violations.extend(stale);
        violations.extend(failed);
        violations.append(&mut self.dots.violations);
        let mut replicas: BTreeMap<Vec<u8>, Vec<(NodeId, Object)>> = BTreeMap::new();
        for key in self.finals.keys() {
            let copies = self
                .config
                .replicas(key)
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
            .map(|p| (p.id, p.disk.total_bytes(), p.disk.file_count()))
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
