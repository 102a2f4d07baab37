//! The calm phase and the final reads.
//!
//! Owns entering the calm phase (heal every link, restart every node, let in-flight requests
//! end) and reading every key ever written at R = N through the nodes, retrying until each
//! read succeeds; the answers become the final state the checkers judge. Then, if the
//! scenario asks for final searches, it sends each of a set of random questions through
//! every node as coordinator, retrying until each is answered. It never injects a fault and
//! never judges what it reads.

use super::{Event, Phase, World};
use std::borrow::Cow;

/// What anti-entropy did in the calm phase, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct EntropyFigures {
    /// Keys whose replicas differed at the first check (after the settle time).
    pub diverged_first: Option<u64>,
    /// How long into the calm phase every replica of every key was equal, without reads.
    pub converged_after: Option<Span>,
}
use crate::checker::{self, FinalAnswer, Violation};
use crate::rng::{derive_seed, SimRng};
use crate::workload::Text;
use tern_core::{ClientResult, Object, Op, Quorum, Request, RequestError, Response, Span};

/// The client id the final reads use (simulated clients count up from 0).
pub(super) const CHECKER_CLIENT: u32 = u32::MAX;
/// How long the calm phase waits after healing before the final reads, beyond the request
/// and failure-detector timeouts, so that every in-flight request has ended.
const SETTLE_MARGIN: Span = Span::from_millis(500);
/// How often the calm phase checks whether anti-entropy has made the replicas equal.
const CONVERGE_CHECK: Span = Span::from_millis(250);
/// Gap between attempts of a final read that failed.
const FINAL_READ_RETRY: Span = Span::from_millis(100);

impl World {
    pub(super) fn enter_calm(&mut self) {
        self.fault_phase_end = self.now;
        self.phase = Phase::Calm { since: self.now };
        self.blocked.clear();
        for i in 0..self.procs.len() {
            if self.procs[i].node.is_none() {
                self.start_node(i);
            }
        }
        let c = &self.scenario.cluster;
        // Long enough for requests to end and for restarted nodes to be heard of (a few
        // gossip rounds; a detector that knows nothing yet waits about five).
        let heard = c.heartbeat_interval_ms * 10;
        let settle = Span::from_millis(c.request_timeout_ms.max(heard) * 2).micros();
        let settle = settle.max(self.bulk_settle().micros());
        self.after(settle + SETTLE_MARGIN.micros(), Event::FinalReads);
    }

    /// With bulk writes in the workload: how long every version a replica kept aside (a
    /// bulk write whose coordinator died, or a replica restarted with it) takes to be
    /// resolved. A replica starts resolving a version twice the longest bulk request after
    /// it kept it (or restarted), at its next collection round, and a resolution takes at
    /// most a bulk request's time; the final reads wait for that, then for anti-entropy to
    /// spread what it committed. Core exposes no count of versions kept aside, so the wait is
    /// this bound rather than "none left" (zero without bulk writes: other runs unchanged).
    fn bulk_settle(&self) -> Span {
        let mix = &self.scenario.workload.mix;
        if mix.mset + mix.mdel == 0 {
            return Span::ZERO;
        }
        let longest = self
            .config
            .request_timeout
            .micros()
            .saturating_mul(tern_core::limits::BULK_TIMEOUT_MAX_TIMEOUTS)
            .min(self.config.request_timeout_max().micros());
        let round = self.config.anti_entropy_interval.micros();
        Span::from_micros(longest * 3 + round)
    }

    /// Keys whose replicas (at the default N) do not all hold the same versions (a
    /// collected tombstone and its absence count as the same), counted up to `max`.
    fn diverged_keys(&self, max: u64) -> u64 {
        let mut diverged = 0;
        // Compared where they are: this runs every `CONVERGE_CHECK` over every key.
        let empty = Object::new();
        for key in &self.workload.history.keys_written {
            if diverged >= max {
                break;
            }
            let mut copies = self.config.replicas(key).into_iter().map(|id| {
                let node = self.procs[self.index_of(id)].node.as_ref();
                let copy = node.and_then(|n| n.object(key)).unwrap_or(&empty);
                if self.graveyard.contains_key(key) {
                    let now = self.now;
                    Cow::Owned(checker::forgotten_or(
                        &self.graveyard,
                        key,
                        now,
                        copy.clone(),
                    ))
                } else {
                    Cow::Borrowed(copy)
                }
            });
            let first = copies.next().unwrap_or(Cow::Borrowed(&empty));
            diverged += u64::from(copies.any(|c| c != first));
        }
        diverged
    }

    /// The final reads start once anti-entropy alone has made every key's replicas equal
    /// (checked every `CONVERGE_CHECK`), or `converge_max_s` into the calm phase (a
    /// violation).
    pub(super) fn start_final_reads(&mut self) {
        // Only the first check and a timeout report how many keys differ; the checks
        // between need only know whether one does.
        let counted = self.entropy.diverged_first.is_none();
        let mut diverged = self.diverged_keys(if counted { u64::MAX } else { 1 });
        self.entropy.diverged_first.get_or_insert(diverged);
        let Phase::Calm { since } = self.phase else {
            return;
        };
        let waited = self.now.since(since);
        if diverged > 0 {
            if waited < Span::from_secs(self.scenario.phases.converge_max_s) {
                self.after(CONVERGE_CHECK.micros(), Event::FinalReads);
                return;
            }
            if !counted {
                diverged = self.diverged_keys(u64::MAX);
            }
            self.violations.push(Violation {
                checker: "anti-entropy",
                detail: format!(
                    "{diverged} keys still differ across their replicas {} s into the calm phase, before any final read",
                    self.scenario.phases.converge_max_s
                ),
            });
        } else {
            self.entropy.converged_after = Some(waited);
        }
        let keys: Vec<Vec<u8>> = self.workload.history.keys_written.iter().cloned().collect();
        self.final_pending = keys.len();
        self.final_started = true;
        for key in keys {
            self.send_final_read(key);
        }
    }

    /// Reads `key` from every replica (R = N) through a node, which repairs stale replicas.
    pub(super) fn send_final_read(&mut self, key: Vec<u8>) {
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
        self.send_checked(node, request, body);
    }

    /// Sends the checker client's `request` through node `node`, with its client timeout.
    fn send_checked(&mut self, node: usize, request: u64, body: Request) {
        self.send_request(node, CHECKER_CLIENT, request, body);
        let timeout = Span::from_millis(self.scenario.workload.client_timeout_ms).micros();
        self.after(
            timeout,
            Event::ClientTimeout {
                client: CHECKER_CLIENT,
                request,
            },
        );
    }

    /// Moves the final checks on after an event: once the final reads are answered, starts
    /// the final searches if the scenario wants them. True once nothing is left to ask.
    pub(super) fn advance_finals(&mut self) -> bool {
        if !self.final_started || self.final_pending > 0 {
            return false;
        }
        let queries = self
            .scenario
            .workload
            .text
            .as_ref()
            .map_or(0, |t| t.final_queries);
        if queries == 0 || !self.final_asks.is_empty() {
            return true;
        }
        // The questions: `queries` of each kind, from a stream of their own.
        let text = Text::new(
            self.scenario
                .workload
                .text
                .as_ref()
                .expect("queries need text"),
        );
        let mut rng = SimRng::new(derive_seed(self.seed, "final-searches", 0, 0));
        self.final_asks = (0..queries * 2)
            .map(|i| text.ask(&mut rng, i % 2 == 1))
            .collect();
        self.final_pending = self.final_asks.len() * self.procs.len();
        // Let the final reads' repairs land first.
        self.after(SETTLE_MARGIN.micros(), Event::FinalSearches);
        false
    }

    pub(super) fn start_final_searches(&mut self) {
        for ask in 0..self.final_asks.len() {
            for node in 0..self.procs.len() {
                self.send_final_search(node, ask);
            }
        }
    }

    /// Sends final question `ask` through node `node`, at the cluster's default quorum.
    pub(super) fn send_final_search(&mut self, node: usize, ask: usize) {
        let request = self.final_next_request;
        self.final_next_request += 1;
        self.final_search_requests.insert(request, (node, ask));
        let op = self.final_asks[ask].op();
        self.send_checked(node, request, Request::new(op));
    }

    /// A final search ended: its hits are recorded, a refusal is a violation, anything else
    /// is tried again.
    fn final_search_reply(&mut self, node: usize, ask: usize, result: Option<ClientResult>) {
        let refused = |e: &RequestError| {
            matches!(
                e,
                RequestError::InvalidSearch(_)
                    | RequestError::TooManyCandidates { .. }
                    | RequestError::SearchOff
            )
        };
        match result {
            Some(Ok(Response::Hits { hits, total, .. })) => {
                self.final_answers.push(FinalAnswer {
                    node: self.procs[node].id,
                    ask: self.final_asks[ask].clone(),
                    hits,
                    total,
                });
                self.final_pending -= 1;
            }
            Some(Err(e)) if refused(&e) => {
                let detail = format!(
                    "{} through node {} was refused: {e:?}",
                    self.final_asks[ask], self.procs[node].id.0
                );
                self.violations.push(Violation {
                    checker: "final search",
                    detail,
                });
                self.final_pending -= 1;
            }
            _ => self.after(FINAL_READ_RETRY.micros(), Event::FinalSearch { node, ask }),
        }
    }

    /// A final read ended: its object is recorded, or it is tried again (`None`: timed out).
    pub(super) fn final_reply(&mut self, request: u64, result: Option<ClientResult>) {
        if let Some((node, ask)) = self.final_search_requests.remove(&request) {
            return self.final_search_reply(node, ask, result);
        }
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
}
