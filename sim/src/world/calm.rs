//! The calm phase and the final reads.
//!
//! Owns entering the calm phase (heal every link, restart every node, let in-flight requests
//! end) and reading every key ever written at R = N through the nodes, retrying until each
//! read succeeds; the answers become the final state the checkers judge. It never injects a
//! fault and never judges what it reads.

use super::{Event, Phase, World};
use crate::checker;
use tern_core::{ClientResult, Op, Quorum, Request, Response, Span};

/// The client id the final reads use (simulated clients count up from 0).
pub(super) const CHECKER_CLIENT: u32 = u32::MAX;
/// How long the calm phase waits after healing before the final reads, beyond the request
/// and failure-detector timeouts, so that every in-flight request has ended.
const SETTLE_MARGIN: Span = Span::from_millis(500);
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
        let settle = Span::from_millis(c.request_timeout_ms.max(c.failure_timeout_ms) * 2).micros();
        self.after(settle + SETTLE_MARGIN.micros(), Event::FinalReads);
    }

    pub(super) fn start_final_reads(&mut self) {
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

    /// A final read ended: its object is recorded, or it is tried again (`None`: timed out).
    pub(super) fn final_reply(&mut self, request: u64, result: Option<ClientResult>) {
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
