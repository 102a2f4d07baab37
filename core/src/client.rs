//! The client's decisions, without IO: which node a client sends to, what the end of one try
//! means, and whether to try again. Both drivers follow it: the tokio client library
//! (`node/src/client/`) and the simulator's clients (`sim/src/world/clients.rs`), so the
//! simulator judges the rules production runs.
//!
//! A client sticks to one node of its list (`Failover`) and moves to the next one, wrapping
//! around, only when a try shows the node did nothing with the request and another node may
//! do it: the frame never left (`NotSent`), the node refused it while stopping (`Refused`),
//! or it answered `Starting`, `Unavailable` or `ShuttingDown`; a read whose connection was
//! lost is also tried again. A write is never sent twice: once its frame may have reached a
//! node, a lost connection or a missing reply ends it as `Indeterminate`. A read with no
//! reply in time ends as `Timeout`; after a try with no reply in time the client's next
//! request goes to the next node. A reply the client cannot read ends a write as
//! `Indeterminate` too (it may have run) and a read as `Protocol`. A request makes at most `tries_max(nodes)` tries
//! (`limits::CLIENT_TRIES_PER_NODE`, `limits::CLIENT_TRIES_MIN`) and waits
//! `limits::CLIENT_STARTING_RETRY_MS` after a `Starting` answer.
//!
//! This module never opens a connection, reads a clock, sleeps or draws randomness: the
//! driver reports each try's `Outcome` and carries out the `Next` it gets back (a delay is a
//! `Span`). The rules are tested from the table in `client_cases.txt`.

use crate::limits::{CLIENT_STARTING_RETRY_MS, CLIENT_TRIES_MIN, CLIENT_TRIES_PER_NODE};
use crate::message::{ClientResult, RequestError, Response};
use crate::time::Span;

/// Where a client sends its requests: one node of its list (by index), until a try shows it
/// should move on. Shared by all the requests of one client, so that they stay on one node
/// (and one connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failover {
    nodes: usize,
    current: usize,
}

impl Failover {
    /// A client of `nodes` nodes that starts at index `first`.
    pub fn new(nodes: usize, first: usize) -> Failover {
        assert!(nodes >= 1, "a client needs at least one node");
        assert!(
            first < nodes,
            "the first node ({first}) is not in the list of {nodes}"
        );
        Failover {
            nodes,
            current: first,
        }
    }

    /// The index of the node to send to now.
    pub fn node(&self) -> usize {
        self.current
    }

    /// How many nodes the client knows.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Moves to the node after `node`, wrapping around, if the client still uses `node`:
    /// when many requests share the client, the first to find a node unusable moves it, and
    /// the others, which tried the same node, must not skip the next one.
    fn leave(&mut self, node: usize) {
        if self.current == node {
            self.current = (node + 1) % self.nodes;
        }
    }
}

/// The most tries one request makes with a list of `nodes` nodes.
pub fn tries_max(nodes: usize) -> usize {
    (nodes.saturating_mul(CLIENT_TRIES_PER_NODE)).max(CLIENT_TRIES_MIN)
}

/// How one try of a request ended, as the driver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The frame never left the client: no connection could be opened, or the connection was
    /// already closed. The node never saw the request.
    NotSent,
    /// The connection closed after the frame was sent: the node may have run the request.
    ConnectionLost,
    /// No reply came within the driver's reply timeout: the request may still run.
    TimedOut,
    /// The node refused the frame because it is stopping (an error frame saying so); it did
    /// nothing with it.
    Refused,
    /// The node rejected the frame (an error frame other than `Refused`'s): it did nothing
    /// with it.
    Rejected,
    /// The node answered with something the driver could not read: it may have run the
    /// request.
    Unreadable,
    /// The node's answer.
    Reply(ClientResult),
}

/// Why an `Indeterminate` write may or may not have been applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uncertain {
    /// The connection closed after the write was sent.
    ConnectionLost,
    /// No reply came in time.
    TimedOut,
    /// The reply could not be read.
    Unreadable,
}

/// Why a request did not succeed: what its caller is told. `node` is the index of the node
/// of the try that ended the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFailure {
    /// No node took the request: every try did nothing (the frame never left, the node was
    /// stopping, or a read's connection was lost). Nothing was written.
    Unavailable { node: usize },
    /// The write may or may not have been applied: read the key to find out.
    Indeterminate { node: usize, why: Uncertain },
    /// The node answered with an error; `RequestError::maybe_applied` says whether a write
    /// may have been applied.
    Request(RequestError),
    /// A read got no reply in time; nothing was changed.
    Timeout { node: usize },
    /// The node rejected the frame, or a read's reply could not be read.
    Protocol { node: usize },
}

impl ClientFailure {
    /// True if a write that ended with this failure may still have been applied: only these
    /// may be visible later; every other failed write never is.
    pub fn maybe_applied(&self) -> bool {
        match self {
            ClientFailure::Indeterminate { .. } => true,
            ClientFailure::Request(e) => e.maybe_applied(),
            ClientFailure::Unavailable { .. }
            | ClientFailure::Timeout { .. }
            | ClientFailure::Protocol { .. } => false,
        }
    }
}

/// What the driver does after a try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send the request again, to `Failover::node()`, once `after` has passed.
    Retry { after: Span },
    /// The request is over; tell the caller.
    Done(Result<Response, ClientFailure>),
}

/// The tries of one request: made when the request starts, told how each try ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    write: bool,
    tries: usize,
    tries_max: usize,
    ended: bool,
}

impl Attempt {
    /// A request (a write if `write`) of a client of `failover.nodes()` nodes.
    pub fn new(write: bool, failover: &Failover) -> Attempt {
        Attempt {
            write,
            tries: 0,
            tries_max: tries_max(failover.nodes()),
            ended: false,
        }
    }

    /// A request that asks one node about itself (a ping): it is never sent elsewhere, but
    /// a node that did not take it is still left for the next request.
    pub fn once(write: bool) -> Attempt {
        Attempt {
            write,
            tries: 0,
            tries_max: 1,
            ended: false,
        }
    }

    /// Tries made so far.
    pub fn tries(&self) -> usize {
        self.tries
    }

    /// The try sent to node `node` ended with `outcome`: moves `failover` past the node if
    /// it did nothing with the request, and says whether to try again.
    pub fn decide(&mut self, failover: &mut Failover, node: usize, outcome: Outcome) -> Next {
        assert!(
            !self.ended,
            "a request was tried again after its attempt ended"
        );
        assert!(node < failover.nodes(), "node {node} is not in the list");
        let next = self.next(failover, node, outcome);
        self.ended = matches!(next, Next::Done(_));
        assert!(
            self.ended || self.tries < self.tries_max,
            "a request was let try past its bound"
        );
        next
    }

    fn next(&mut self, failover: &mut Failover, node: usize, outcome: Outcome) -> Next {
        self.tries += 1;
        let failure = match outcome {
            Outcome::Reply(Ok(response)) => return Next::Done(Ok(response)),
            // Never sent again (it may still run), but the next request goes elsewhere.
            Outcome::TimedOut if self.write => {
                failover.leave(node);
                let why = Uncertain::TimedOut;
                return Next::Done(Err(ClientFailure::Indeterminate { node, why }));
            }
            Outcome::TimedOut => {
                failover.leave(node);
                return Next::Done(Err(ClientFailure::Timeout { node }));
            }
            Outcome::Unreadable if self.write => {
                let why = Uncertain::Unreadable;
                return Next::Done(Err(ClientFailure::Indeterminate { node, why }));
            }
            Outcome::Rejected | Outcome::Unreadable => {
                return Next::Done(Err(ClientFailure::Protocol { node }))
            }
            Outcome::ConnectionLost if self.write => {
                failover.leave(node);
                let why = Uncertain::ConnectionLost;
                return Next::Done(Err(ClientFailure::Indeterminate { node, why }));
            }
            Outcome::Reply(Err(e)) if !refused_before_running(&e) => {
                return Next::Done(Err(ClientFailure::Request(e)));
            }
            // Nothing was done here; another node may do it.
            Outcome::Reply(Err(e)) => ClientFailure::Request(e),
            Outcome::NotSent | Outcome::ConnectionLost | Outcome::Refused => {
                ClientFailure::Unavailable { node }
            }
        };
        failover.leave(node);
        if self.tries >= self.tries_max {
            return Next::Done(Err(failure));
        }
        let after = match failure {
            ClientFailure::Request(RequestError::Starting) => {
                Span::from_millis(CLIENT_STARTING_RETRY_MS)
            }
            _ => Span::ZERO,
        };
        Next::Retry { after }
    }
}

/// True for the answers of a node that did nothing with the request and that another node
/// may take: it is starting, too few replicas are reachable from it, or it is stopping.
fn refused_before_running(error: &RequestError) -> bool {
    matches!(
        error,
        RequestError::Starting | RequestError::Unavailable { .. } | RequestError::ShuttingDown
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Oversized, QuorumError};
    use crate::version::Object;

    fn outcome(token: &str, line: usize) -> Outcome {
        let error = |e| Outcome::Reply(Err(e));
        match token {
            "notsent" => Outcome::NotSent,
            "lost" => Outcome::ConnectionLost,
            "timeout" => Outcome::TimedOut,
            "refused" => Outcome::Refused,
            "rejected" => Outcome::Rejected,
            "unreadable" => Outcome::Unreadable,
            "ok" => Outcome::Reply(Ok(Response::Object(Object::default()))),
            "starting" => error(RequestError::Starting),
            "unavailable" => error(RequestError::Unavailable {
                needed: 2,
                alive: 1,
            }),
            "shuttingdown" => error(RequestError::ShuttingDown),
            "indeterminate" => error(RequestError::Indeterminate),
            "readtimeout" => error(RequestError::Timeout),
            "busy" => error(RequestError::Busy),
            "toolarge" => error(RequestError::TooLarge {
                what: Oversized::Value,
                len: 2,
                max: 1,
            }),
            "quorum" => error(RequestError::InvalidQuorum(QuorumError::W { w: 9, n: 3 })),
            "siblings" => error(RequestError::TooManySiblings { count: 17, max: 16 }),
            other => panic!("line {line}: unknown outcome {other}"),
        }
    }

    /// The end of a request, in the table's words.
    fn end_name(end: &Result<Response, ClientFailure>) -> String {
        match end {
            Ok(_) => "ok".to_string(),
            Err(ClientFailure::Unavailable { node }) => format!("unavailable@{node}"),
            Err(ClientFailure::Indeterminate {
                node,
                why: Uncertain::ConnectionLost,
            }) => format!("indeterminate-lost@{node}"),
            Err(ClientFailure::Indeterminate {
                node,
                why: Uncertain::TimedOut,
            }) => format!("indeterminate-timeout@{node}"),
            Err(ClientFailure::Indeterminate {
                node,
                why: Uncertain::Unreadable,
            }) => format!("indeterminate-unreadable@{node}"),
            Err(ClientFailure::Timeout { node }) => format!("timeout@{node}"),
            Err(ClientFailure::Protocol { node }) => format!("protocol@{node}"),
            Err(ClientFailure::Request(e)) => {
                let name = match e {
                    RequestError::Starting => "starting",
                    RequestError::Unavailable { .. } => "unavailable",
                    RequestError::ShuttingDown => "shuttingdown",
                    RequestError::Indeterminate => "indeterminate",
                    RequestError::Timeout => "readtimeout",
                    RequestError::Busy => "busy",
                    RequestError::TooLarge { .. } => "toolarge",
                    RequestError::InvalidQuorum(_) => "quorum",
                    RequestError::TooManySiblings { .. } => "siblings",
                    RequestError::InvalidSearch(_) => "search",
                    RequestError::TooManyCandidates { .. } => "candidates",
                    RequestError::SearchOff => "searchoff",
                    RequestError::InvalidBulk(_) => "bulk",
                };
                format!("error:{name}")
            }
        }
    }

    /// Every line of `client_cases.txt`:
    /// `nodes first | op | tries | end | node after | waits`.
    #[test]
    fn decisions_follow_the_table() {
        let table = include_str!("client_cases.txt");
        let mut cases = 0;
        for (number, line) in table.lines().enumerate() {
            let number = number + 1;
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(fields.len(), 6, "line {number}: {line}");
            let (nodes, first) = fields[0].split_once(' ').expect("nodes first");
            let nodes: usize = nodes.trim().parse().expect("nodes");
            let first: usize = first.trim().parse().expect("first");
            let write = match fields[1] {
                "write" => true,
                "read" => false,
                other => panic!("line {number}: unknown op {other}"),
            };
            let mut failover = Failover::new(nodes, first);
            let mut attempt = Attempt::new(write, &failover);
            let mut waits = Vec::new();
            let mut end = None;
            let tries: Vec<&str> = fields[2].split_whitespace().collect();
            for (i, step) in tries.iter().enumerate() {
                assert!(end.is_none(), "line {number}: a try after the end: {step}");
                let (node, token) = step.split_once(':').expect("node:outcome");
                let node: usize = node.parse().expect("a node index");
                assert_eq!(
                    failover.node(),
                    node,
                    "line {number}: try {} went to node {} instead",
                    i + 1,
                    failover.node()
                );
                match attempt.decide(&mut failover, node, outcome(token, number)) {
                    Next::Retry { after } => waits.push(after.millis().to_string()),
                    Next::Done(result) => end = Some(end_name(&result)),
                }
            }
            let end = end.unwrap_or_else(|| format!("retry@{}", failover.node()));
            assert_eq!(end, fields[3], "line {number}: {line}");
            let after: usize = fields[4].parse().expect("node after");
            assert_eq!(failover.node(), after, "line {number}: node after: {line}");
            let expected: Vec<&str> = fields[5].split_whitespace().collect();
            assert_eq!(waits, expected, "line {number}: waits (ms): {line}");
            assert_eq!(attempt.tries(), tries.len(), "line {number}");
            cases += 1;
        }
        assert!(cases >= 30, "the table has {cases} cases");
    }

    #[test]
    fn tries_grow_with_the_list_but_never_below_the_minimum() {
        assert_eq!(tries_max(1), CLIENT_TRIES_MIN);
        assert_eq!(tries_max(2), CLIENT_TRIES_MIN);
        assert_eq!(tries_max(3), 3 * CLIENT_TRIES_PER_NODE);
        assert_eq!(tries_max(64), 64 * CLIENT_TRIES_PER_NODE);
    }

    /// Two requests of one client tried node 0 at once; both find it gone. The first moves the
    /// client to node 1; the second must not move it on to node 2.
    #[test]
    fn a_node_is_left_once_when_requests_share_a_client() {
        let mut failover = Failover::new(3, 0);
        let mut first = Attempt::new(false, &failover);
        let mut second = Attempt::new(false, &failover);
        let next = first.decide(&mut failover, 0, Outcome::NotSent);
        assert_eq!(next, Next::Retry { after: Span::ZERO });
        assert_eq!(failover.node(), 1);
        let next = second.decide(&mut failover, 0, Outcome::ConnectionLost);
        assert_eq!(next, Next::Retry { after: Span::ZERO });
        assert_eq!(failover.node(), 1);
    }

    #[test]
    fn a_ping_is_tried_once_but_still_leaves_a_node_that_did_nothing() {
        let mut failover = Failover::new(3, 2);
        let mut ping = Attempt::once(false);
        let next = ping.decide(&mut failover, 2, Outcome::ConnectionLost);
        assert_eq!(
            next,
            Next::Done(Err(ClientFailure::Unavailable { node: 2 }))
        );
        assert_eq!(failover.node(), 0);
        let mut ping = Attempt::once(false);
        let next = ping.decide(&mut failover, 0, Outcome::TimedOut);
        assert_eq!(next, Next::Done(Err(ClientFailure::Timeout { node: 0 })));
        assert_eq!(failover.node(), 1, "a silent node is left too");
    }

    #[test]
    fn only_uncertain_writes_may_have_been_applied() {
        let uncertain = [
            ClientFailure::Indeterminate {
                node: 0,
                why: Uncertain::ConnectionLost,
            },
            ClientFailure::Indeterminate {
                node: 0,
                why: Uncertain::TimedOut,
            },
            ClientFailure::Indeterminate {
                node: 0,
                why: Uncertain::Unreadable,
            },
            ClientFailure::Request(RequestError::Indeterminate),
        ];
        assert!(uncertain.iter().all(ClientFailure::maybe_applied));
        let failed = [
            ClientFailure::Unavailable { node: 0 },
            ClientFailure::Timeout { node: 0 },
            ClientFailure::Protocol { node: 0 },
            ClientFailure::Request(RequestError::Busy),
            ClientFailure::Request(RequestError::ShuttingDown),
        ];
        assert!(!failed.iter().any(ClientFailure::maybe_applied));
    }

    #[test]
    #[should_panic(expected = "tried again after its attempt ended")]
    fn a_finished_attempt_is_never_tried_again() {
        let mut failover = Failover::new(2, 0);
        let mut attempt = Attempt::new(true, &failover);
        let _ = attempt.decide(&mut failover, 0, outcome("ok", 0));
        let _ = attempt.decide(&mut failover, 0, Outcome::NotSent);
    }
}
