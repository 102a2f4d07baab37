//! The simulated clients on the wire: waking, issuing a request to a node, receiving its
//! reply or giving up, and the acknowledged-means-durable check at the moment of a reply.
//!
//! What each client does next, and the history of what it saw, belong to `Workload`; this
//! part only carries requests and replies through the network's latency and routes the final
//! reads' replies to `calm`. It never retries, chooses keys or judges a read.

use super::calm::CHECKER_CLIENT;
use super::{Event, World};
use crate::checker;
use tern_core::codec::encode_body;
use tern_core::Span;
use tern_core::{ClientId, ClientResult, Input, NodeId, Request};

impl World {
    fn client_idle(&mut self, client: u32) {
        let think = self.workload.think();
        self.after(think, Event::ClientWake { client });
    }

    pub(super) fn client_next(&mut self, client: u32) {
        let Some(issue) = self.workload.next(client, self.now) else {
            return;
        };
        let node = self.workload.pick(self.procs.len());
        self.send_request(node, issue.client, issue.request, issue.body);
        let timeout = Span::from_millis(self.scenario.workload.client_timeout_ms).micros();
        let request = issue.request;
        self.after(timeout, Event::ClientTimeout { client, request });
    }

    pub(super) fn send_request(&mut self, node: usize, client: u32, request: u64, body: Request) {
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

    /// A request reaches node `node`; if the node is down, the request is lost with it.
    pub(super) fn client_arrive(&mut self, node: usize, client: u32, request: u64, body: Request) {
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

    /// A reply reaches its client: the final reads go to `calm`, the rest to the workload.
    pub(super) fn client_reply(&mut self, client: u32, request: u64, result: ClientResult) {
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

    pub(super) fn client_timeout(&mut self, client: u32, request: u64) {
        if client == CHECKER_CLIENT {
            self.final_reply(request, None);
        } else if self.workload.complete(client, request, None, self.now) {
            self.client_idle(client);
        }
    }

    /// The moment a write is acknowledged, W replicas of its key must hold it in their synced
    /// state: what recovery would read after a power cut.
    pub(super) fn check_acknowledgement(&mut self, client: u32, request: u64, dot: tern_core::Dot) {
        if client == CHECKER_CLIENT {
            return;
        }
        let Some(key) = self.workload.in_flight_write(client, request) else {
            return; // The client gave up waiting; its write is not counted as acknowledged.
        };
        self.acks_checked += 1;
        let replicas = self.config.replicas(&key);
        let synced = |id: NodeId| self.procs[self.index_of(id)].disk.synced(&key);
        let w = self.scenario.cluster.w;
        let violation =
            checker::check_acknowledged_durable(&key, dot, self.now, w, &replicas, synced);
        self.violations.extend(violation);
    }
}
