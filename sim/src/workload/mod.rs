//! The workload: simulated clients issuing sets, gets, deletes, searches, bulk writes and
//! bulk reads, and the history they see.
//!
//! This is the application on top of the client library: it chooses each client's next
//! request and records how it ended. Sending it is `world/clients.rs`'s, which follows
//! `tern_core::client` as the production client does (one node at a time, failing over by
//! its rules) and reports only each request's final outcome here. Each client runs one
//! request at a time. Each write carries a context
//! chosen by the scenario's `contexts` weights: read-modify-write (read the key, then write
//! with the read's context), the context of the client's previous write reply, a blind write
//! (empty context), or the newest context the client holds. Concurrent clients make siblings
//! and later writes resolve them. Every write attempt is recorded with its context, and every
//! version each client was shown, so that the durability checker can tell a write that was
//! superseded by a client who saw it from one that was silently dropped. A write whose
//! outcome is not a success (indeterminate, unavailable, busy, a timeout) is retried as a
//! new attempt until one is acknowledged; every attempt writes a value unique to it. A write
//! counts as definitely failed exactly when the client library would say so
//! (`ClientFailure::maybe_applied` is false). The workload ends once exactly
//! `acknowledged_writes` writes are acknowledged: a write starts only while the acknowledged
//! and in-flight writes together are below the target.
//!
//! Bulk requests (`mix.mset`, `mix.mdel`, `mix.mget`) name 2 to `bulk_keys` distinct keys,
//! each drawn like a single key, so that concurrent bulk requests overlap. A bulk write takes
//! each key's context by the same `contexts` weights (read-modify-write reads every key in
//! one bulk read first) and is retried like a single write; it counts once toward
//! `acknowledged_writes`. It is recorded whole (`History::bulk_writes`, for the isolation
//! and atomicity checkers) and each item as an `Attempt` of its own, so that durability,
//! failed writes and dots judge its versions like any others. Its acknowledgement shows no
//! object, so the client's contexts for its keys stay what they were: a context may claim
//! only versions its client was shown. A bulk read's objects are recorded whole
//! (`History::bulk_reads`) and key by key as reads.

use crate::checker::{
    Attempt, AttemptOutcome, BulkItemRecord, BulkReadRecord, BulkWriteRecord, ReadRecord,
    SearchRecord, WriteRecord,
};
use crate::rng::SimRng;
use crate::scenario::{KeyDistribution, WorkloadSpec};
use tern_core::client::ClientFailure;
use tern_core::{BulkItem, Op, Request, RequestError, Response, Time, VectorClock};

mod client;
mod history;
mod outcome;
mod text;

use client::{Client, ContextMode, InFlight, Planned};
pub use history::History;
pub use outcome::outcome_name;
pub use text::{SearchAsk, Text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    Set,
    Get,
    Delete,
    Search,
    Similar,
    /// A bulk write (`BulkWrite`): sets, deletes, or both.
    BulkWrite,
    /// A bulk read (`BulkGet`).
    BulkRead,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Set => "set",
            OpKind::Get => "get",
            OpKind::Delete => "delete",
            OpKind::Search => "search",
            OpKind::Similar => "similar",
            OpKind::BulkWrite => "bulk write",
            OpKind::BulkRead => "bulk read",
        }
    }

    pub fn is_write(self) -> bool {
        matches!(self, OpKind::Set | OpKind::Delete | OpKind::BulkWrite)
    }

    fn is_bulk(self) -> bool {
        matches!(self, OpKind::BulkWrite | OpKind::BulkRead)
    }

    fn is_search(self) -> bool {
        matches!(self, OpKind::Search | OpKind::Similar)
    }
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
    /// Text values and search questions, if the scenario has `workload.text`.
    text: Option<Text>,
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

/// A `Durable` record claiming that far more of the log was synced than ever was, framed
/// exactly as core frames its own: a value carrying it tests that recovery cannot be steered
/// by the bytes of a value.
fn forged_durable_record() -> Vec<u8> {
    // The log id is the log's secret; a client can only guess it.
    tern_core::Record::Durable {
        upto: 1 << 40,
        log_id: 0x7e57_0000_0000_0001,
    }
    .encode()
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
            text: spec.text.as_ref().map(Text::new),
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

    /// The key of `client`'s single-key write `request`, while the client still waits for it.
    pub fn in_flight_write(&self, client: u32, request: u64) -> Option<Vec<u8>> {
        let flight = self.clients.get(client as usize)?.in_flight.as_ref()?;
        let single = matches!(flight.kind, OpKind::Set | OpKind::Delete);
        (flight.request == request && single).then(|| key_name(flight.key))
    }

    /// The keys of `client`'s bulk write `request`, while the client still waits for it.
    pub fn in_flight_bulk_write(&self, client: u32, request: u64) -> Option<Vec<Vec<u8>>> {
        let flight = self.clients.get(client as usize)?.in_flight.as_ref()?;
        (flight.request == request && flight.kind == OpKind::BulkWrite)
            .then(|| flight.keys.iter().map(|k| key_name(*k)).collect())
    }

    pub fn think(&mut self) -> u64 {
        self.rng.range(self.spec.think_us)
    }

    /// The node (an index below `len`) a client starts with.
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

    /// The distinct keys of a bulk request, as many as `bulk_keys` draws, each drawn like a
    /// single key (a key drawn twice is drawn again).
    fn pick_keys(&mut self) -> Vec<u32> {
        let [lo, hi] = self.spec.bulk_keys;
        let want = self.rng.range([u64::from(lo), u64::from(hi)]) as usize;
        let mut keys: Vec<u32> = Vec::with_capacity(want);
        while keys.len() < want {
            let key = self.pick_key();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    fn pick_mode(&mut self) -> ContextMode {
        let c = &self.spec.contexts;
        [
            ContextMode::Read,
            ContextMode::Reply,
            ContextMode::Blind,
            ContextMode::Latest,
        ][self.rng.weighted(&[c.read, c.reply, c.blind, c.latest])]
    }

    fn value(&mut self, client: u32) -> Vec<u8> {
        self.attempts += 1;
        let mut len = self.rng.range([
            u64::from(self.spec.value_bytes[0]),
            u64::from(self.spec.value_bytes[1]),
        ]) as usize;
        if self.rng.chance(self.spec.large_fraction) {
            let [lo, hi] = self.spec.large_value_bytes;
            len = self.rng.range([u64::from(lo), u64::from(hi)]) as usize;
        }
        let prefix = format!("c{client}-a{}:", self.attempts);
        if let Some(text) = &self.text {
            return text.value(&mut self.rng, &prefix);
        }
        let mut value = prefix.into_bytes();
        if self.rng.chance(self.spec.adversarial_fraction) {
            value.extend_from_slice(&forged_durable_record());
        }
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
        let (kind, key, mode, items) = if let Some(p) = &self.clients[c].planned {
            (p.kind, p.key, Some(p.mode), p.items.clone())
        } else {
            if self.acked >= self.spec.acknowledged_writes {
                self.clients[c].stopped = true;
                return None;
            }
            let mix = &self.spec.mix;
            // The bulk weights come last, so that a scenario without them draws as before.
            let weights = [
                mix.set,
                mix.get,
                mix.delete,
                mix.search,
                mix.similar,
                mix.mset,
                mix.mdel,
                mix.mget,
            ];
            let pick = self.rng.weighted(&weights);
            let mut kind = [
                OpKind::Set,
                OpKind::Get,
                OpKind::Delete,
                OpKind::Search,
                OpKind::Similar,
                OpKind::BulkWrite,
                OpKind::BulkWrite,
                OpKind::BulkRead,
            ][pick];
            let only_deletes = pick == 6;
            if kind.is_search() {
                return Some(self.search(client, kind, now));
            }
            if kind.is_write()
                && self.acked + self.writes_in_flight >= self.spec.acknowledged_writes
            {
                kind = if kind.is_bulk() {
                    OpKind::BulkRead
                } else {
                    OpKind::Get
                };
            }
            let mut items = Vec::new();
            if kind.is_bulk() {
                for key in self.pick_keys() {
                    let delete = kind == OpKind::BulkWrite
                        && (only_deletes || self.rng.chance(self.spec.bulk_delete_fraction));
                    items.push((key, delete));
                }
            }
            let key = if let Some((first, _)) = items.first() {
                *first
            } else if kind == OpKind::Set && self.rng.chance(self.spec.fresh_key_fraction) {
                self.fresh_keys += 1;
                self.spec.keys.saturating_add(self.fresh_keys)
            } else {
                self.pick_key()
            };
            let mode = kind.is_write().then(|| self.pick_mode());
            if let Some(mode) = mode {
                self.writes_in_flight += 1;
                self.clients[c].planned = Some(Planned {
                    kind,
                    key,
                    mode,
                    read_done: false,
                    items: items.clone(),
                });
            }
            (kind, key, mode, items)
        };
        // A read-modify-write reads first (every key of a bulk write, in one bulk read).
        let kind = match &mut self.clients[c].planned {
            Some(p) if p.mode == ContextMode::Read && !p.read_done => {
                p.read_done = true;
                if p.kind.is_bulk() {
                    OpKind::BulkRead
                } else {
                    OpKind::Get
                }
            }
            _ => kind,
        };
        let context_of = |client: &Client, key: u32| -> VectorClock {
            match mode {
                Some(ContextMode::Read) => client.read.get(&key),
                Some(ContextMode::Reply) => client.reply.get(&key),
                Some(ContextMode::Latest) => client.latest.get(&key),
                Some(ContextMode::Blind) | None => None,
            }
            .cloned()
            .unwrap_or_default()
        };
        let context = context_of(&self.clients[c], key);
        let request = self.clients[c].next_request;
        self.clients[c].next_request += 1;
        if kind.is_bulk() {
            let contexts = items
                .iter()
                .map(|(k, _)| context_of(&self.clients[c], *k))
                .collect();
            return Some(self.bulk(client, request, kind, &items, contexts, now));
        }
        let (op, value) = match kind {
            OpKind::Get => (Op::Get { key: key_name(key) }, None),
            OpKind::Search | OpKind::Similar => unreachable!("searches are made by `search`"),
            OpKind::BulkWrite | OpKind::BulkRead => unreachable!("bulk requests are made above"),
            OpKind::Set => {
                let value = self.value(client);
                self.history.written.insert(value.clone());
                let op = Op::Set {
                    key: key_name(key),
                    value: value.clone(),
                    context: context.clone(),
                };
                (op, Some(value))
            }
            OpKind::Delete => (
                Op::Delete {
                    key: key_name(key),
                    context: context.clone(),
                },
                None,
            ),
        };
        let attempt = kind.is_write().then(|| {
            self.history.keys_written.insert(key_name(key));
            self.history.attempts.push(Attempt {
                client,
                request,
                key: key_name(key),
                context,
                value: value.clone(),
                dot: None,
                outcome: AttemptOutcome::Pending,
                start: now,
                end: None,
            });
            self.history.attempts.len() - 1
        });
        self.clients[c].in_flight = Some(InFlight {
            request,
            kind,
            key,
            value,
            start: now,
            attempts: attempt.map_or(0..0, |i| i..i + 1),
            ask: None,
            keys: Vec::new(),
            bulk: None,
        });
        Some(Issue {
            client,
            request,
            body: Request::new(op),
        })
    }

    /// Records the end of the client's request, as the client library tells it.
    /// Returns false if the outcome is for a request the client no longer waits for.
    pub fn complete(
        &mut self,
        client: u32,
        request: u64,
        result: Result<Response, ClientFailure>,
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
        let outcome = match &result {
            Ok(_) => AttemptOutcome::Acknowledged,
            Err(e) if !e.maybe_applied() => AttemptOutcome::Failed,
            Err(_) => AttemptOutcome::Unknown,
        };
        for i in flight.attempts.clone() {
            self.history.attempts[i].end = Some(now);
            self.history.attempts[i].outcome = outcome;
        }
        if let Some(b) = flight.bulk {
            self.history.bulk_writes[b].end = Some(now);
            self.history.bulk_writes[b].outcome = outcome;
        }
        let key = key_name(flight.key);
        match (flight.kind, result) {
            (OpKind::Get, Ok(Response::Object(object))) => {
                self.latency(OpKind::Get, flight.start, now);
                self.history.observe(client, request, &key, None, &object);
                let context = object.clock();
                self.clients[c].read.insert(flight.key, context.clone());
                self.clients[c].latest.insert(flight.key, context);
                self.history.reads.push(ReadRecord {
                    key,
                    start: flight.start,
                    end: now,
                    object,
                });
            }
            (OpKind::Get, _) => {}
            (OpKind::BulkRead, Ok(Response::Objects(objects))) => {
                self.latency(OpKind::BulkRead, flight.start, now);
                let keys: Vec<Vec<u8>> = flight.keys.iter().map(|k| key_name(*k)).collect();
                for ((index, key), object) in flight.keys.iter().zip(&keys).zip(&objects) {
                    self.history.observe(client, request, key, None, object);
                    let context = object.clock();
                    self.clients[c].read.insert(*index, context.clone());
                    self.clients[c].latest.insert(*index, context);
                    self.history.reads.push(ReadRecord {
                        key: key.clone(),
                        start: flight.start,
                        end: now,
                        object: object.clone(),
                    });
                }
                self.history.bulk_reads.push(BulkReadRecord {
                    client,
                    keys,
                    objects,
                    start: flight.start,
                    end: now,
                });
            }
            (OpKind::BulkRead, _) => {}
            (OpKind::BulkWrite, Ok(Response::BulkWritten { dot })) => {
                self.latency(OpKind::BulkWrite, flight.start, now);
                let b = flight.bulk.expect("a bulk write has its record");
                self.history.bulk_writes[b].dot = Some(dot);
                self.history.own_bulk(client, request, b, dot);
                for i in flight.attempts.clone() {
                    self.history.attempts[i].dot = Some(dot);
                }
                // The reply shows no object: the client's contexts for these keys stay
                // what they were (a context claims only versions its holder was shown).
                self.write_acknowledged(c);
            }
            (kind, Ok(Response::Hits { hits, total, .. })) if kind.is_search() => {
                self.latency(kind, flight.start, now);
                if let Some(ask) = flight.ask {
                    let complete = match &ask {
                        SearchAsk::Search { .. } => total == hits.len() as u64,
                        SearchAsk::Similar { top_k, .. } => hits.len() < *top_k as usize,
                    };
                    self.history.searches.push(SearchRecord {
                        ask,
                        start: flight.start,
                        end: now,
                        hits,
                        complete,
                    });
                }
            }
            (kind, _) if kind.is_search() => {}
            (kind, Ok(Response::Written { dot, object })) => {
                self.latency(kind, flight.start, now);
                // The client has seen its own write, and every version the reply shows.
                self.history
                    .observe(client, request, &key, Some(dot), &object);
                let context = object.clock();
                for i in flight.attempts.clone() {
                    self.history.attempts[i].dot = Some(dot);
                }
                self.clients[c].reply.insert(flight.key, context.clone());
                self.clients[c].latest.insert(flight.key, context);
                self.write_acknowledged(c);
                self.history.acked.push(WriteRecord {
                    key,
                    dot,
                    value: flight.value,
                    start: flight.start,
                    ack: now,
                });
            }
            (_, result) => {
                // Retry the write; read first if the key holds too many versions.
                if let Some(p) = &mut self.clients[c].planned {
                    if let Err(ClientFailure::Request(RequestError::TooManySiblings { .. })) =
                        result
                    {
                        p.mode = ContextMode::Read;
                    }
                    if p.mode == ContextMode::Read {
                        p.read_done = matches!(flight.kind, OpKind::Get | OpKind::BulkRead);
                    }
                }
            }
        }
        true
    }

    /// A search or a similarity search from the scenario's text, sent as one request (not
    /// retried: a failed search is only counted).
    fn search(&mut self, client: u32, kind: OpKind, now: Time) -> Issue {
        let c = client as usize;
        let text = self
            .text
            .as_ref()
            .expect("the scenario checks searches have text");
        let ask = text.ask(&mut self.rng, kind == OpKind::Similar);
        let op = ask.op();
        let request = self.clients[c].next_request;
        self.clients[c].next_request += 1;
        self.clients[c].in_flight = Some(InFlight {
            request,
            kind,
            key: 0,
            value: None,
            start: now,
            attempts: 0..0,
            ask: Some(ask),
            keys: Vec::new(),
            bulk: None,
        });
        Issue {
            client,
            request,
            body: Request::new(op),
        }
    }

    /// A bulk read of `items`' keys, or a bulk write of them with `contexts` (an item's flag
    /// makes it a delete; every set writes a value unique to this attempt). A bulk write is
    /// recorded whole, and each of its items as an `Attempt` of its own.
    fn bulk(
        &mut self,
        client: u32,
        request: u64,
        kind: OpKind,
        items: &[(u32, bool)],
        contexts: Vec<VectorClock>,
        now: Time,
    ) -> Issue {
        let c = client as usize;
        let keys: Vec<u32> = items.iter().map(|(k, _)| *k).collect();
        let (op, attempts, bulk) = if kind == OpKind::BulkRead {
            let names = keys.iter().map(|k| key_name(*k).into()).collect();
            (Op::BulkGet { keys: names }, 0..0, None)
        } else {
            let mut records = Vec::with_capacity(items.len());
            let first = self.history.attempts.len();
            for ((key, delete), context) in items.iter().zip(contexts) {
                let value = (!delete).then(|| self.value(client));
                if let Some(value) = &value {
                    self.history.written.insert(value.clone());
                }
                self.history.keys_written.insert(key_name(*key));
                self.history.attempts.push(Attempt {
                    client,
                    request,
                    key: key_name(*key),
                    context: context.clone(),
                    value: value.clone(),
                    dot: None,
                    outcome: AttemptOutcome::Pending,
                    start: now,
                    end: None,
                });
                records.push(BulkItemRecord {
                    key: key_name(*key),
                    value,
                    context,
                });
            }
            let op = Op::BulkWrite {
                items: records
                    .iter()
                    .map(|r| BulkItem {
                        key: r.key.clone(),
                        value: r.value.clone(),
                        context: r.context.clone(),
                    })
                    .collect(),
            };
            self.history.bulk_writes.push(BulkWriteRecord {
                client,
                request,
                items: records,
                dot: None,
                outcome: AttemptOutcome::Pending,
                start: now,
                end: None,
            });
            let bulk = Some(self.history.bulk_writes.len() - 1);
            (op, first..self.history.attempts.len(), bulk)
        };
        self.clients[c].in_flight = Some(InFlight {
            request,
            kind,
            key: keys[0],
            value: None,
            start: now,
            attempts,
            ask: None,
            keys,
            bulk,
        });
        Issue {
            client,
            request,
            body: Request::new(op),
        }
    }

    /// Client `c`'s write (single or bulk) was acknowledged: it counts toward the target.
    fn write_acknowledged(&mut self, c: usize) {
        self.clients[c].planned = None;
        self.writes_in_flight -= 1;
        self.acked += 1;
        assert!(
            self.acked <= self.spec.acknowledged_writes,
            "the workload never has more writes in flight than the target allows"
        );
    }

    fn latency(&mut self, kind: OpKind, start: Time, end: Time) {
        let us = end.since(start).micros();
        self.history.latencies.entry(kind).or_default().push(us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Mix;
    use tern_core::{ActorId, Dot, NodeId};

    fn bulk_only(mset: u32, mdel: u32, mget: u32) -> Workload {
        let spec = WorkloadSpec {
            clients: 1,
            keys: 10,
            bulk_keys: [2, 5],
            mix: Mix {
                set: 0,
                get: 0,
                delete: 0,
                mset,
                mdel,
                mget,
                ..Mix::default()
            },
            acknowledged_writes: 3,
            ..WorkloadSpec::default()
        };
        Workload::new(&spec, 7)
    }

    #[test]
    fn a_bulk_write_names_distinct_keys_is_recorded_per_key_and_counts_once() {
        let mut workload = bulk_only(1, 0, 0);
        let mut now = Time(0);
        let dot = |seq| Dot {
            actor: ActorId {
                node: NodeId(1),
                incarnation: 1,
            },
            seq,
        };
        for seq in 1..=3 {
            let issue = workload.next(0, now).expect("the target is not reached");
            let items = match &issue.body.op {
                Op::BulkWrite { items } => items.clone(),
                Op::BulkGet { .. } => {
                    // A read-modify-write reads first: answer with empty objects.
                    let Op::BulkGet { keys } = &issue.body.op else {
                        unreachable!()
                    };
                    let objects = vec![tern_core::Object::new(); keys.len()];
                    assert!(workload.complete(
                        0,
                        issue.request,
                        Ok(Response::Objects(objects)),
                        now
                    ));
                    continue;
                }
                other => panic!("only bulk writes were asked for, got {other:?}"),
            };
            assert!((2..=5).contains(&items.len()), "{items:?}");
            let mut keys: Vec<&[u8]> = items.iter().map(|i| i.key.as_slice()).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), items.len(), "keys are distinct");
            let before = workload.history.attempts.len();
            now = Time(now.micros() + 10);
            let reply = Ok(Response::BulkWritten { dot: dot(seq) });
            assert!(workload.complete(0, issue.request, reply, now));
            let record = workload.history.bulk_writes.last().expect("recorded");
            assert_eq!(record.dot, Some(dot(seq)));
            assert_eq!(record.items.len(), items.len());
            assert_eq!(before, workload.history.attempts.len());
            let per_key = &workload.history.attempts[before - items.len()..];
            assert!(per_key
                .iter()
                .all(|a| a.dot == Some(dot(seq)) && a.outcome == AttemptOutcome::Acknowledged));
            assert_eq!(workload.acknowledged(), seq);
        }
        assert!(
            workload.next(0, now).is_none(),
            "three bulk writes reach the target"
        );
    }

    #[test]
    fn a_bulk_delete_deletes_every_key_and_a_bulk_read_is_recorded_per_key() {
        let mut workload = bulk_only(0, 1, 0);
        let issue = loop {
            let issue = workload
                .next(0, Time(0))
                .expect("the target is not reached");
            if let Op::BulkGet { keys } = &issue.body.op {
                let objects = vec![tern_core::Object::new(); keys.len()];
                assert!(workload.complete(
                    0,
                    issue.request,
                    Ok(Response::Objects(objects)),
                    Time(1)
                ));
                assert_eq!(workload.history.bulk_reads.len(), 1);
                assert_eq!(workload.history.reads.len(), keys.len());
                continue;
            }
            break issue;
        };
        let Op::BulkWrite { items } = &issue.body.op else {
            panic!("a bulk delete is a bulk write");
        };
        assert!(items.iter().all(|i| i.value.is_none()));
    }
}
