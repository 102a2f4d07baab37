//! The simulated clients on the wire: the client library's connection and tries, over the
//! virtual network, and the acknowledged-means-durable check at the moment of a reply.
//!
//! Owns `Link`, what a production `Client` holds: a `tern_core::client::Failover` (sticky to
//! one node, from a node the workload's RNG picks), the connection to that node's process,
//! and the request being sent with its `Attempt`. Every decision (which node, what a try's
//! end means, whether and when to try again) is `tern_core::client`'s; this part only tells
//! it how each try ended and reports the request's final outcome to the `Workload`.
//!
//! Connections are modelled where they are real. A connection is to one incarnation of a
//! node's process. One to a process that is down cannot be opened: the try is `NotSent`,
//! learned after a network latency (a refused connection; a powered-off machine would make a
//! real client wait out its connect timeout first, which is not modelled). When a process is
//! killed (a process kill or a halt, not a power loss), its machine closes its connections:
//! each client connected to it learns it after a latency, and a try still waiting there ends
//! as `ConnectionLost`. A power loss closes nothing: tries there get no reply and time out,
//! and the client's connection stays half open until a frame sent on it reaches the
//! restarted machine, which resets it (`ConnectionLost`). A reply travels with its own
//! latency; the one reply whose order against a close matters, an acknowledgement, is
//! delivered before a close that follows it (TCP order): a try whose write was acknowledged
//! before the kill is not ended by the close. Other replies may be overtaken by it, which
//! only makes an outcome less certain (a read tried again, a refused write counted unknown).
//!
//! The final reads of the calm phase (the checker client) keep their simpler behaviour:
//! each read goes to a node chosen by its request id, with no connection, and is retried by
//! `calm` after a timeout. This part never chooses keys, retries a write the library gave up
//! on (the workload does, as a new write), or judges a read.

use super::calm::CHECKER_CLIENT;
use super::{Event, World};
use crate::checker;
use tern_core::client::{Attempt, Failover, Next, Outcome};
use tern_core::codec::encode_body;
use tern_core::Span;
use tern_core::{ClientId, ClientResult, Dot, Input, NodeId, Request, Response};

/// One simulated client's side of the client library.
#[derive(Debug)]
pub(super) struct Link {
    failover: Failover,
    /// The connection: to node `.0`'s process of incarnation `.1`.
    conn: Option<(usize, u32)>,
    /// The request being sent, if any.
    sending: Option<Sending>,
    /// The last wire id used. Each try gets a new one, so a late reply to an earlier try is
    /// never taken for the current one (the production client numbers frames the same way).
    wire: u64,
}

impl Link {
    /// A client of `nodes` nodes that starts at node `first`.
    pub(super) fn new(nodes: usize, first: usize) -> Link {
        Link {
            failover: Failover::new(nodes, first),
            conn: None,
            sending: None,
            wire: 0,
        }
    }
}

#[derive(Debug)]
struct Sending {
    /// The workload's id of the request.
    request: u64,
    body: Request,
    attempt: Attempt,
    /// The try on the wire; `None` while waiting to try again.
    now: Option<Try>,
}

#[derive(Clone, Copy, Debug)]
struct Try {
    wire: u64,
    node: usize,
    /// The incarnation of the process the frame went to, on the client's connection; `None`
    /// if no connection could be opened (the frame never left).
    incarnation: Option<u32>,
    /// An acknowledgement for this try is on its way: a close arriving first cannot end it.
    acknowledged: bool,
}

impl World {
    fn client_idle(&mut self, client: u32) {
        let think = self.workload.think();
        self.after(think, Event::ClientWake { client });
    }

    /// The client's next request from the workload, sent by the library's rules.
    pub(super) fn client_next(&mut self, client: u32) {
        let Some(issue) = self.workload.next(client, self.now) else {
            return;
        };
        let link = &mut self.links[client as usize];
        assert!(link.sending.is_none(), "one request per client");
        let attempt = Attempt::new(issue.body.op.is_write(), &link.failover);
        link.sending = Some(Sending {
            request: issue.request,
            body: issue.body,
            attempt,
            now: None,
        });
        self.client_try(client);
    }

    /// One try of the client's request, to the node the rules name, on the client's
    /// connection to it (opened if there is none).
    pub(super) fn client_try(&mut self, client: u32) {
        let c = client as usize;
        let node = self.links[c].failover.node();
        let p = &self.procs[node];
        let up = p.node.is_some().then_some(p.incarnation);
        let latency = self.latency();
        let link = &mut self.links[c];
        let Some(sending) = link.sending.as_mut() else {
            return;
        };
        assert!(sending.now.is_none(), "one try at a time");
        link.wire += 1;
        let wire = link.wire;
        let incarnation = match link.conn {
            Some((at, incarnation)) if at == node => Some(incarnation),
            _ => {
                // A new connection, to the process that runs now; none if it is down.
                link.conn = up.map(|incarnation| (node, incarnation));
                up
            }
        };
        sending.now = Some(Try {
            wire,
            node,
            incarnation,
            acknowledged: false,
        });
        let Some(incarnation) = incarnation else {
            let request = wire;
            self.after(latency, Event::ClientNotSent { client, request });
            return;
        };
        let body = sending.body.clone();
        self.after(
            latency,
            Event::ClientArrive {
                node,
                connection: Some(incarnation),
                client,
                request: wire,
                body,
            },
        );
        let timeout = Span::from_millis(self.scenario.workload.client_timeout_ms).micros();
        let request = wire;
        self.after(timeout, Event::ClientTimeout { client, request });
    }

    /// Sends a final read (the checker client): no connection, straight to `node`.
    pub(super) fn send_request(&mut self, node: usize, client: u32, request: u64, body: Request) {
        let latency = self.latency();
        self.after(
            latency,
            Event::ClientArrive {
                node,
                connection: None,
                client,
                request,
                body,
            },
        );
    }

    /// A request reaches node `node` on a connection to its process of incarnation
    /// `connection` (`None`: a final read, taken by whatever process is up). A frame for a
    /// process that is gone is lost with it; if the machine runs a new process, it resets
    /// the connection.
    pub(super) fn client_arrive(
        &mut self,
        node: usize,
        connection: Option<u32>,
        client: u32,
        request: u64,
        body: Request,
    ) {
        let p = &self.procs[node];
        if p.node.is_none() {
            return; // Lost with the process; the client times out or learns of the close.
        }
        if let Some(incarnation) = connection.filter(|i| *i != p.incarnation) {
            self.tell_closed(client, node, incarnation);
            return;
        }
        let input = Input::Client {
            client: ClientId(u64::from(client)),
            request,
            body,
        };
        self.handle(node, input);
    }

    /// A reply reaches its client: the final reads go to `calm`, the rest to the rules.
    pub(super) fn client_reply(&mut self, client: u32, request: u64, result: ClientResult) {
        self.hash.bytes(&reply_bytes(&result));
        if client == CHECKER_CLIENT {
            self.final_reply(request, Some(result));
        } else {
            self.try_ended(client, request, Outcome::Reply(result));
        }
    }

    pub(super) fn client_timeout(&mut self, client: u32, request: u64) {
        if client == CHECKER_CLIENT {
            self.final_reply(request, None);
        } else {
            self.try_ended(client, request, Outcome::TimedOut);
        }
    }

    /// The connection for try `request` could not be opened.
    pub(super) fn client_not_sent(&mut self, client: u32, request: u64) {
        self.try_ended(client, request, Outcome::NotSent);
    }

    /// `client` learns, a network latency from now, that its connection to node `node`'s
    /// process of `incarnation` is closed.
    fn tell_closed(&mut self, client: u32, node: usize, incarnation: u32) {
        let latency = self.latency();
        let closed = Event::ClientConnectionClosed {
            client,
            node,
            incarnation,
        };
        self.after(latency, closed);
    }

    /// Node `node`'s process of `incarnation` was killed: the machine closes its connections,
    /// and each client connected to it learns so a network latency later.
    pub(super) fn connections_closed(&mut self, node: usize, incarnation: u32) {
        for client in 0..self.links.len() {
            if self.links[client].conn == Some((node, incarnation)) {
                self.tell_closed(client as u32, node, incarnation);
            }
        }
    }

    /// The client learns that its connection to `node`'s process of `incarnation` closed: a
    /// try waiting on it ends as `ConnectionLost`, and the next try opens a new connection.
    pub(super) fn client_connection_closed(&mut self, client: u32, node: usize, incarnation: u32) {
        let link = &mut self.links[client as usize];
        if link.conn == Some((node, incarnation)) {
            link.conn = None;
        }
        let waiting =
            link.sending.as_ref().and_then(|s| s.now).filter(|t| {
                t.node == node && t.incarnation == Some(incarnation) && !t.acknowledged
            });
        if let Some(t) = waiting {
            self.try_ended(client, t.wire, Outcome::ConnectionLost);
        }
    }

    /// Try `wire` of the client's request ended with `outcome` (ignored if that try is no
    /// longer the current one): the rules say whether to try again or what the request's
    /// outcome is.
    fn try_ended(&mut self, client: u32, wire: u64, outcome: Outcome) {
        let link = &mut self.links[client as usize];
        let Some(sending) = link.sending.as_mut() else {
            return;
        };
        let Some(tried) = sending.now.filter(|t| t.wire == wire) else {
            return; // A late answer to an earlier try.
        };
        sending.now = None;
        let next = sending
            .attempt
            .decide(&mut link.failover, tried.node, outcome);
        let request = sending.request;
        if link.failover.node() != tried.node {
            link.conn = None;
        }
        match next {
            Next::Retry { after } => self.after(after.micros(), Event::ClientRetry { client }),
            Next::Done(result) => {
                link.sending = None;
                if self.workload.complete(client, request, result, self.now) {
                    self.client_idle(client);
                }
            }
        }
    }

    /// The moment a write is acknowledged, W replicas of its key must hold it in their synced
    /// state: what recovery would read after a power cut. For a bulk write (`bulk`), W
    /// replicas of every one of its keys must hold it committed (one check per key).
    pub(super) fn check_acknowledgement(
        &mut self,
        client: u32,
        request: u64,
        dot: tern_core::Dot,
        bulk: bool,
    ) {
        if client == CHECKER_CLIENT {
            return;
        }
        let Some(sending) = self.links[client as usize].sending.as_mut() else {
            return;
        };
        let Some(now) = sending.now.as_mut().filter(|t| t.wire == request) else {
            return; // The client gave up waiting; its write is not counted as acknowledged.
        };
        now.acknowledged = true;
        let request = sending.request;
        let keys = if bulk {
            self.workload.in_flight_bulk_write(client, request)
        } else {
            self.workload
                .in_flight_write(client, request)
                .map(|k| vec![k])
        };
        for key in keys.unwrap_or_default() {
            self.acks_checked += 1;
            let replicas = self.config.replicas(&key);
            let synced = |id: NodeId| self.procs[self.index_of(id)].disk.synced(&key);
            let w = self.scenario.cluster.w;
            let violation =
                checker::check_acknowledged_durable(&key, dot, self.now, w, &replicas, synced);
            self.violations.extend(violation);
        }
    }
}

/// The bytes of a reply, exactly as `encode_body` writes them, for the trace hash. The two
/// replies nearly every request ends with (an object, a write's acknowledgement) are written
/// by hand: serde's generic path cost more than the rest of a reply's handling. The layout
/// is postcard's: a `Result` as variant 0 (`Ok`), a `Response` by its variant index, a dot
/// as three varints, then the object (`Object::encode_into`).
fn reply_bytes(result: &ClientResult) -> Vec<u8> {
    let (variant, dot, object) = match result {
        Ok(Response::Object(object)) => (0, None, object),
        Ok(Response::Written { dot, object }) => (1, Some(dot), object),
        _ => return encode_body(result),
    };
    // Two tags, and at most 5 + 10 + 10 bytes of dot.
    let mut out = Vec::with_capacity(27 + object.encoded_bytes());
    out.extend_from_slice(&[0, variant]);
    if let Some(dot) = dot {
        put_dot(*dot, &mut out);
    }
    object.encode_into(&mut out);
    out
}

fn put_dot(dot: Dot, out: &mut Vec<u8>) {
    for mut value in [u64::from(dot.actor.node.0), dot.actor.incarnation, dot.seq] {
        while value >= 0x80 {
            out.push(value as u8 | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::{ActorId, Object, RequestError, Sibling, VectorClock};

    fn dot(node: u32, incarnation: u64, seq: u64) -> Dot {
        Dot {
            actor: ActorId {
                node: NodeId(node),
                incarnation,
            },
            seq,
        }
    }

    #[test]
    fn reply_bytes_are_the_encoded_reply() {
        let mut context = VectorClock::new();
        for (i, incarnation) in [0, 1, 127, 128, 1 << 40, u64::MAX].into_iter().enumerate() {
            context.add(dot(i as u32 * 70, incarnation, 1 + (i as u64) * 1000));
        }
        let siblings = vec![
            Sibling {
                bulk: None,
                dot: dot(3, u64::MAX, 300),
                context: context.clone(),
                value: Some(vec![7; 200]),
            },
            Sibling {
                bulk: None,
                dot: dot(u32::MAX, 5, 1),
                context: VectorClock::new(),
                value: None,
            },
        ];
        let objects = [
            Object::new(),
            Object::single(siblings[0].clone()),
            Object::from_siblings(siblings),
        ];
        for object in objects {
            for result in [
                Ok(Response::Object(object.clone())),
                Ok(Response::Written {
                    dot: dot(2, 1 << 63, 1 << 35),
                    object: object.clone(),
                }),
                Ok(Response::Written {
                    dot: dot(0, 0, 0),
                    object,
                }),
                Err(RequestError::Busy),
            ] {
                assert_eq!(reply_bytes(&result), encode_body(&result), "{result:?}");
            }
        }
    }
}
