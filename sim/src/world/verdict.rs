//! The verdict: running every checker over what the run recorded, and `RunOutcome`.
//!
//! Owns turning a finished world into a `RunOutcome`: the durability, stale-read,
//! failed-write, dot and convergence verdicts, the fault counts of incarnations still up, and
//! the figures the report prints. It never changes what happened: the history, the final
//! reads and the nodes' state are only read.

use super::{FaultCounts, Phase, World};
use crate::checker::{self, Durability, Provenance, SearchCheck, Violation};
use crate::scenario::Scenario;
use crate::workload::OpKind;
use std::collections::BTreeMap;
use tern_core::search::{Reference, Tokenizer};
use tern_core::{NodeId, Object, Sibling, Time};

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
    /// Keys some node's tombstone collection forgot, and the (read or final copy, collected
    /// key) pairs the resurrection checker looked at.
    pub keys_collected: u64,
    pub resurrection_checks: u64,
    /// Anti-entropy in the calm phase: keys that differed, and when all were equal.
    pub entropy: super::calm::EntropyFigures,
    /// Searches checked against the history, and the (search, key) answers it decided.
    pub searches: SearchCheck,
    /// Final searches compared with the reference: through the nodes, and on their own
    /// indexes.
    pub final_searches: u64,
    pub local_searches: u64,
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
    /// The isolation and atomicity figures, if the workload makes bulk requests.
    pub bulk: Option<BulkFigures>,
}

/// What the isolation and atomicity checkers looked at.
#[derive(Clone, Copy, Debug, Default)]
pub struct BulkFigures {
    /// Acknowledged bulk writes, and the versions they wrote (one per key).
    pub writes_acknowledged: u64,
    pub versions_acknowledged: u64,
    /// Bulk reads answered, and those found fractured.
    pub reads: u64,
    pub fractured: u64,
    /// (read, acknowledged-before-start bulk write) pairs checked, key by key.
    pub after_ack_pairs: u64,
    /// `None` if the run did not finish its final reads (nothing to judge).
    pub atomicity: Option<checker::Atomicity>,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl World {
    /// The final searches against the reference over the final reads, and every node's own
    /// index against the reference over its own copies. Returns how many answers of each
    /// were compared.
    fn check_final_searches(
        &self,
        tokenizer: &Tokenizer,
        complete: bool,
        violations: &mut Vec<Violation>,
    ) -> (u64, u64) {
        if !complete || self.final_asks.is_empty() {
            return (0, 0);
        }
        let finals = self.finals.iter().map(|(k, o)| (k.as_slice(), o));
        let reference = Reference::from_objects(*tokenizer, finals);
        let (through, found) =
            checker::check_final_searches(&reference, tokenizer, &self.final_answers);
        violations.extend(found);
        let mut local = 0;
        for p in &self.procs {
            let Some(node) = &p.node else { continue };
            let Some(index) = node.index() else { continue };
            let own = Reference::from_objects(*tokenizer, node.objects());
            let (checked, found) =
                checker::check_local_index(p.id, index, &own, tokenizer, &self.final_asks);
            local += checked;
            violations.extend(found);
        }
        (through, local)
    }

    /// The isolation checker over the bulk reads and every read, and, once the final reads
    /// are in, the atomicity checker over each replica's final copies (`replicas`). `None`
    /// if the workload makes no bulk requests.
    fn check_bulk(
        &self,
        history: &crate::workload::History,
        replicas: &BTreeMap<Vec<u8>, Vec<(NodeId, Object)>>,
        complete: bool,
        violations: &mut Vec<Violation>,
    ) -> Option<BulkFigures> {
        let mix = &self.scenario.workload.mix;
        if mix.mset + mix.mdel + mix.mget == 0 {
            return None;
        }
        let (fractured, found) =
            checker::check_fractured_reads(&history.bulk_reads, &self.graveyard);
        violations.extend(found);
        let (after_ack_pairs, found) =
            checker::check_reads_after_bulk(&history.bulk_writes, &history.reads, &self.graveyard);
        violations.extend(found);
        let atomicity = complete.then(|| {
            let read = history.reads.iter().map(|r| &r.object);
            let kept = replicas.values().flatten().map(|(_, o)| o);
            let tagged = read.chain(kept).flat_map(|o| o.siblings());
            let (figures, found) = checker::check_atomicity(
                &history.bulk_writes,
                tagged,
                replicas,
                &self.graveyard,
                self.now,
            );
            violations.extend(found);
            figures
        });
        let acknowledged = history.bulk_writes.iter().filter(|w| w.dot.is_some());
        Some(BulkFigures {
            writes_acknowledged: acknowledged.clone().count() as u64,
            versions_acknowledged: acknowledged.map(|w| w.items.len() as u64).sum(),
            reads: history.bulk_reads.len() as u64,
            fractured,
            after_ack_pairs,
            atomicity,
        })
    }

    /// Runs every checker over the history and the final state, and gathers the figures.
    pub(super) fn finish(mut self) -> RunOutcome {
        let history = std::mem::take(&mut self.workload.history);
        let mut violations = std::mem::take(&mut self.violations);
        let complete = self.phase == Phase::Done && self.final_pending == 0;
        // A collected key is judged with the tombstones it was collected with: the state
        // they stand for. The resurrection checker judges the collections themselves.
        let collected: BTreeMap<Vec<u8>, Vec<Sibling>> = self
            .graveyard
            .keys()
            .map(|k| {
                (
                    k.clone(),
                    checker::collected_siblings(&self.graveyard, k, self.now),
                )
            })
            .collect();
        let graveyard = &self.graveyard;
        let finals = &self.finals;
        let collected = &collected;
        // A bulk write's versions are acknowledged writes too, one per key, for durability.
        let bulk_acked: Vec<checker::WriteRecord> = history
            .bulk_writes
            .iter()
            .flat_map(|w| w.acknowledged())
            .collect();
        let acked: std::borrow::Cow<'_, [checker::WriteRecord]> = if bulk_acked.is_empty() {
            std::borrow::Cow::Borrowed(&history.acked)
        } else {
            std::borrow::Cow::Owned([history.acked.as_slice(), &bulk_acked].concat())
        };
        let acked = acked.as_ref();
        let durability_check = || {
            if !complete {
                return Durability {
                    acknowledged: acked.len() as u64,
                    ..Durability::default()
                };
            }
            let provenance = Provenance {
                attempts: &history.attempts,
                observed: &history.observed,
                versions: &history.versions,
            };
            let written = &history.written;
            checker::check_durability(acked, finals, collected, written, provenance)
        };
        let tokenizer = Tokenizer::new(self.config.stemming);
        let other_checks = || {
            let stale = checker::check_stale_reads(&history.acked, &history.reads, graveyard);
            let failed = checker::check_failed_writes(&history.attempts, &history.reads, finals);
            let searches = checker::check_stale_searches(
                &history.attempts,
                &history.versions,
                &history.searches,
                &tokenizer,
            );
            (stale, failed, searches)
        };
        // The checkers are pure functions of the history: run the longest on a second
        // thread if allowed; the verdict is the same either way.
        let (durability, ((stale_pairs, stale), (failed_sets, failed), (searches, stale_searches))) =
            if self.second_thread {
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
        violations.extend(stale_searches);
        let (final_searches, local_searches) =
            self.check_final_searches(&tokenizer, complete, &mut violations);
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
                    (
                        id,
                        checker::forgotten_or(&self.graveyard, key, self.now, object),
                    )
                })
                .collect();
            replicas.insert(key.clone(), copies);
        }
        violations.extend(checker::check_convergence(&replicas));
        let bulk = self.check_bulk(&history, &replicas, complete, &mut violations);
        let mut copies = Vec::new();
        for p in &self.procs {
            let Some(node) = &p.node else { continue };
            for key in self.graveyard.keys() {
                let object = node.object(key).cloned().unwrap_or_default();
                copies.push((p.id, key.clone(), object));
            }
        }
        let (resurrection_checks, risen) =
            checker::check_resurrections(&self.graveyard, &history.reads, &copies, self.now);
        violations.extend(risen);
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
            keys_collected: self.graveyard.len() as u64,
            resurrection_checks,
            entropy: self.entropy,
            searches,
            final_searches,
            local_searches,
            acks_checked: self.acks_checked,
            versions_watched: self.dots.len() as u64,
            failed_sets,
            violations,
            outcomes: history.outcomes,
            latencies: history.latencies,
            acked_by_kind,
            disk_bytes,
            bulk,
        }
    }
}
