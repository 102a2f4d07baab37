//! The workload: simulated clients issuing sets, gets and deletes, and the history they see.
//!
//! Each client runs one request at a time against a random node. Writes carry the context the
//! client last saw for the key (read-modify-write), so concurrent clients make siblings and
//! later writes resolve them. A write whose outcome is not a success (indeterminate,
//! unavailable, busy, a client-side timeout) is retried as a new attempt until one is
//! acknowledged; every attempt writes a value unique to it. The workload ends once exactly
//! `acknowledged_writes` writes are acknowledged: a write starts only while the acknowledged
//! and in-flight writes together are below the target.

use crate::checker::{ReadRecord, WriteRecord};
use crate::rng::SimRng;
use crate::scenario::{KeyDistribution, WorkloadSpec};
use std::collections::{BTreeMap, BTreeSet};
use tern_core::{ClientResult, Op, Request, RequestError, Response, Time, VectorClock};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    Set,
    Get,
    Delete,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Set => "set",
            OpKind::Get => "get",
            OpKind::Delete => "delete",
        }
    }
}

/// What ended an attempt, for the report.
pub fn outcome_name(result: &Option<ClientResult>) -> &'static str {
    match result {
        None => "client timeout",
        Some(Ok(_)) => "ok",
        Some(Err(e)) => match e {
            RequestError::Unavailable { .. } => "unavailable",
            RequestError::Indeterminate => "indeterminate",
            RequestError::Timeout => "timeout",
            RequestError::Busy => "busy",
            RequestError::Starting => "starting",
            RequestError::TooLarge { .. } => "too large",
            RequestError::InvalidQuorum(_) => "invalid quorum",
            RequestError::TooManySiblings { .. } => "too many siblings",
        },
    }
}

#[derive(Debug)]
struct InFlight {
    request: u64,
    kind: OpKind,
    key: u32,
    value: Option<Vec<u8>>,
    start: Time,
}

#[derive(Debug, Default)]
struct Client {
    next_request: u64,
    in_flight: Option<InFlight>,
    /// A write to retry: kind and key.
    retry: Option<(OpKind, u32)>,
    /// Read this key before the next write (the last write had too many siblings).
    read_first: bool,
    contexts: BTreeMap<u32, VectorClock>,
    stopped: bool,
}

/// Everything clients observed.
#[derive(Debug, Default)]
pub struct History {
    pub acked: Vec<WriteRecord>,
    pub reads: Vec<ReadRecord>,
    /// Every value any set attempt carried.
    pub written: BTreeSet<Vec<u8>>,
    /// Every key any write attempt touched.
    pub keys_written: BTreeSet<Vec<u8>>,
    /// (op, outcome) -> count.
    pub outcomes: BTreeMap<(OpKind, &'static str), u64>,
    /// Successful latencies by op, in simulated microseconds.
    pub latencies: BTreeMap<OpKind, Vec<u64>>,
}

#[derive(Debug)]
pub struct Workload {
    spec: WorkloadSpec,
    rng: SimRng,
    clients: Vec<Client>,
    zipf_cdf: Vec<f64>,
    acked: u64,
    writes_in_flight: u64,
    attempts: u64,
    /// Keys handed out by `fresh_key_fraction`, numbered after the shared ones.
    fresh_keys: u32,
    pub history: History,
}

/// A request a client wants sent.
#[derive(Debug)]
pub struct Issue {
    pub client: u32,
    pub request: u64,
    pub body: Request,
}

pub fn key_name(index: u32) -> Vec<u8> {
    format!("key-{index:05}").into_bytes()
}

impl Workload {
    pub fn new(spec: &WorkloadSpec, seed: u64) -> Workload {
        let zipf_cdf = if spec.key_distribution == KeyDistribution::Zipf {
            let weights: Vec<f64> = (1..=spec.keys)
                .map(|k| 1.0 / f64::from(k).powf(spec.zipf_exponent))
                .collect();
            let total: f64 = weights.iter().sum();
            let mut acc = 0.0;
            weights
                .iter()
                .map(|w| {
                    acc += w / total;
                    acc
                })
                .collect()
        } else {
            Vec::new()
        };
        Workload {
            spec: spec.clone(),
            rng: SimRng::new(seed),
            clients: (0..spec.clients).map(|_| Client::default()).collect(),
            zipf_cdf,
            acked: 0,
            writes_in_flight: 0,
            attempts: 0,
            fresh_keys: 0,
            history: History::default(),
        }
    }

    pub fn clients(&self) -> u32 {
        self.clients.len() as u32
    }

    pub fn acknowledged(&self) -> u64 {
        self.acked
    }

    /// True once every client has stopped: the target is reached and nothing is in flight.
    pub fn done(&self) -> bool {
        self.clients.iter().all(|c| c.stopped)
    }

    /// Stops every client after its current request (the fault phase ran out of time).
    pub fn stop_all(&mut self) {
        for client in &mut self.clients {
            client.stopped = true;
        }
    }

    pub fn think(&mut self) -> u64 {
        self.rng.range(self.spec.think_us)
    }

    pub fn pick(&mut self, len: usize) -> usize {
        self.rng.index(len)
    }

    fn pick_key(&mut self) -> u32 {
        if self.zipf_cdf.is_empty() {
            return self.rng.index(self.spec.keys as usize) as u32;
        }
        let u = self.rng.unit();
        let at = self.zipf_cdf.partition_point(|c| *c < u);
        at.min(self.zipf_cdf.len() - 1) as u32
    }

    fn value(&mut self, client: u32) -> Vec<u8> {
        self.attempts += 1;
        let len = self.rng.range([
            u64::from(self.spec.value_bytes[0]),
            u64::from(self.spec.value_bytes[1]),
        ]) as usize;
        let mut value = format!("c{client}-a{}:", self.attempts).into_bytes();
        let mut fill = self.attempts;
        while value.len() < len {
            fill = crate::rng::mix64(fill);
            value.push(b'a' + (fill % 26) as u8);
        }
        value
    }

    /// The client's next request, or `None` if it has stopped.
    pub fn next(&mut self, client: u32, now: Time) -> Option<Issue> {
        let c = client as usize;
        assert!(
            self.clients[c].in_flight.is_none(),
            "one request per client"
        );
        if self.clients[c].stopped {
            return None;
        }
        let (kind, key) = if let Some((kind, key)) = self.clients[c].retry {
            if self.clients[c].read_first {
                self.clients[c].read_first = false;
                (OpKind::Get, key)
            } else {
                (kind, key)
            }
        } else {
            if self.acked >= self.spec.acknowledged_writes {
                self.clients[c].stopped = true;
                return None;
            }
            let mix = &self.spec.mix;
            let mut kind = [OpKind::Set, OpKind::Get, OpKind::Delete]
                [self.rng.weighted(&[mix.set, mix.get, mix.delete])];
            if kind != OpKind::Get
                && self.acked + self.writes_in_flight >= self.spec.acknowledged_writes
            {
                kind = OpKind::Get;
            }
            let key = if kind == OpKind::Set && self.rng.chance(self.spec.fresh_key_fraction) {
                self.fresh_keys += 1;
                self.spec.keys.saturating_add(self.fresh_keys)
            } else {
                self.pick_key()
            };
            (kind, key)
        };
        let context = self.clients[c]
            .contexts
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let (op, value) = match kind {
            OpKind::Get => (Op::Get { key: key_name(key) }, None),
            OpKind::Set => {
                let value = self.value(client);
                self.history.written.insert(value.clone());
                let op = Op::Set {
                    key: key_name(key),
                    value: value.clone(),
                    context,
                };
                (op, Some(value))
            }
            OpKind::Delete => (
                Op::Delete {
                    key: key_name(key),
                    context,
                },
                None,
            ),
        };
        if kind != OpKind::Get {
            self.history.keys_written.insert(key_name(key));
            if self.clients[c].retry.is_none() {
                self.writes_in_flight += 1;
            }
        }
        let request = self.clients[c].next_request;
        self.clients[c].next_request += 1;
        self.clients[c].in_flight = Some(InFlight {
            request,
            kind,
            key,
            value,
            start: now,
        });
        Some(Issue {
            client,
            request,
            body: Request::new(op),
        })
    }

    /// Records the end of the client's request (`None`: the client gave up waiting).
    /// Returns false if the reply is for a request the client no longer waits for.
    pub fn complete(
        &mut self,
        client: u32,
        request: u64,
        result: Option<ClientResult>,
        now: Time,
    ) -> bool {
        let c = client as usize;
        match &self.clients[c].in_flight {
            Some(f) if f.request == request => {}
            _ => return false,
        }
        let Some(flight) = self.clients[c].in_flight.take() else {
            return false;
        };
        *self
            .history
            .outcomes
            .entry((flight.kind, outcome_name(&result)))
            .or_default() += 1;
        let key = key_name(flight.key);
        match (flight.kind, result) {
            (OpKind::Get, Some(Ok(Response::Object(object)))) => {
                self.latency(OpKind::Get, flight.start, now);
                self.clients[c].contexts.insert(flight.key, object.clock());
                self.history.reads.push(ReadRecord {
                    key,
                    start: flight.start,
                    end: now,
                    object,
                });
            }
            (OpKind::Get, _) => {}
            (kind, Some(Ok(Response::Written { dot, context }))) => {
                self.latency(kind, flight.start, now);
                self.clients[c].contexts.insert(flight.key, context);
                self.clients[c].retry = None;
                self.writes_in_flight -= 1;
                self.acked += 1;
                assert!(
                    self.acked <= self.spec.acknowledged_writes,
                    "the workload never has more writes in flight than the target allows"
                );
                self.history.acked.push(WriteRecord {
                    key,
                    dot,
                    value: flight.value,
                    start: flight.start,
                    ack: now,
                });
            }
            (kind, Some(Err(RequestError::TooManySiblings { .. }))) => {
                self.clients[c].retry = Some((kind, flight.key));
                self.clients[c].read_first = true;
            }
            (kind, _) => self.clients[c].retry = Some((kind, flight.key)),
        }
        true
    }

    fn latency(&mut self, kind: OpKind, start: Time, end: Time) {
        let us = end.since(start).micros();
        self.history.latencies.entry(kind).or_default().push(us);
    }
}
