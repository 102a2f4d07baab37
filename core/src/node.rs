//! `Node`: the whole state of one Tern node, driven by inputs, producing outputs.
//!
//! A driver (the production `node` crate or the simulator) calls `handle(now, input)`, then
//! drains `poll_output()` to `None` and carries out every output: send a peer message, reply
//! to a client, append and sync log bytes. `poll_timeout()` says when to call again with
//! `Input::Tick`. `Node` does no IO, reads no clock and owns the only RNG, seeded by the
//! driver. The same seed and inputs give the same outputs.
//!
//! Durability is a state here, not a rule for drivers: a replica's acknowledgement or read
//! reply about a key is held back until the log bytes that last changed that key are
//! reported durable by `Input::Persisted`.
//!
//! Every multi-step request (a quorum write, a quorum read and its repair, a forwarded
//! request) is one entry in a bounded table keyed by request id, holding a phase and timers.

use crate::ids::{ClientId, NodeId, RequestId};
use crate::limits::{
    CLUSTER_NODES_MAX, CONTEXT_ENTRIES_MAX, DOTS_PER_INCARNATION_MAX, FORWARDS_REMEMBERED_MAX,
    KEY_BYTES_MAX, OBJECT_BYTES_MAX, OBJECT_WRITE_BYTES_MAX, PENDING_REQUESTS_MAX,
    REPLICATION_N_MAX, REQUESTS_PER_INCARNATION_MAX, SIBLINGS_DECODE_MAX, SIBLINGS_MAX,
    VALUE_BYTES_MAX,
};
use crate::log::{Record, Recovered};
use crate::message::{ClientResult, Message, Op, Quorum, Request, RequestError, Response};
use crate::ring::Ring;
use crate::time::{Span, Time};
use crate::version::{ActorId, Dot, Object, ObjectTooLarge, Sibling};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// Cluster-wide settings every node must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Every member of the cluster, this node included.
    pub nodes: Vec<NodeId>,
    /// Default replication factor, read quorum and write quorum.
    pub n: u8,
    pub r: u8,
    pub w: u8,
    /// How long a coordinator works on a request before answering with an error.
    pub request_timeout: Span,
    /// How often a coordinator resends to replicas that have not answered (lost messages).
    pub resend_interval: Span,
    /// How often a node tells its peers it is alive.
    pub heartbeat_interval: Span,
    /// A peer not heard from for this long is considered down.
    pub failure_timeout: Span,
    /// The log is compacted once it holds more than this many bytes and more than twice
    /// the live data.
    pub compact_min_bytes: u64,
}

impl Config {
    /// Defaults for a cluster of `nodes`: N=3 (or fewer nodes), W=2, R=2.
    pub fn new(nodes: Vec<NodeId>) -> Config {
        let n = nodes.len().clamp(1, 3) as u8;
        let q = n / 2 + 1;
        Config {
            nodes,
            n,
            r: q,
            w: q,
            request_timeout: Span::from_millis(2_000),
            resend_interval: Span::from_millis(150),
            heartbeat_interval: Span::from_millis(100),
            failure_timeout: Span::from_millis(1_000),
            compact_min_bytes: 64 << 20,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes.is_empty() {
            return Err(ConfigError::NoNodes);
        }
        if self.nodes.len() > CLUSTER_NODES_MAX {
            return Err(ConfigError::TooManyNodes {
                count: self.nodes.len(),
                max: CLUSTER_NODES_MAX,
            });
        }
        let distinct: BTreeSet<NodeId> = self.nodes.iter().copied().collect();
        if distinct.len() != self.nodes.len() {
            return Err(ConfigError::DuplicateNode);
        }
        resolve_quorum(self, Quorum::default()).map_err(ConfigError::Quorum)?;
        let zero = [
            ("request_timeout", self.request_timeout),
            ("resend_interval", self.resend_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("failure_timeout", self.failure_timeout),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, span)| *span == Span::ZERO) {
            return Err(ConfigError::ZeroSpan(name));
        }
        Ok(())
    }
}

/// Why a `Config` (or a node's place in it) is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    NoNodes,
    TooManyNodes { count: usize, max: usize },
    DuplicateNode,
    NotAMember(NodeId),
    Quorum(String),
    ZeroSpan(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoNodes => write!(f, "the cluster has no nodes"),
            ConfigError::TooManyNodes { count, max } => {
                write!(f, "{count} nodes, over the maximum of {max}")
            }
            ConfigError::DuplicateNode => write!(f, "a node id appears twice"),
            ConfigError::NotAMember(id) => write!(f, "node {id} is not in the member list"),
            ConfigError::Quorum(why) => write!(f, "bad default quorum: {why}"),
            ConfigError::ZeroSpan(name) => write!(f, "{name} must be greater than zero"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The resolved N, R, W of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resolved {
    n: usize,
    r: usize,
    w: usize,
}

fn resolve_quorum(config: &Config, q: Quorum) -> Result<Resolved, String> {
    let n = usize::from(q.n.unwrap_or(config.n));
    let r = usize::from(q.r.unwrap_or(config.r));
    let w = usize::from(q.w.unwrap_or(config.w));
    let members = config.nodes.len();
    if n == 0 || n > members.min(REPLICATION_N_MAX) {
        return Err(format!(
            "n={n} must be between 1 and {}",
            members.min(REPLICATION_N_MAX)
        ));
    }
    if r == 0 || r > n {
        return Err(format!("r={r} must be between 1 and n={n}"));
    }
    if w == 0 || w > n {
        return Err(format!("w={w} must be between 1 and n={n}"));
    }
    Ok(Resolved { n, r, w })
}

/// Something for the node to act on.
#[derive(Clone, Debug)]
pub enum Input {
    /// A message from a peer.
    Peer { from: NodeId, message: Message },
    /// A client request; `request` is the client's own id for it, echoed in the reply.
    Client {
        client: ClientId,
        request: u64,
        body: Request,
    },
    /// Every log byte before `upto` is durable (written and synced).
    Persisted { upto: u64 },
    /// A deadline from `poll_timeout` has passed (any input also runs due timers).
    Tick,
    /// A log write or sync failed. Nothing written since the last `Persisted` can be trusted
    /// to be on disk (a failed fsync may have dropped dirty pages), so the node answers what
    /// it coordinates, acknowledges nothing more and asks to be halted (`Output::Halt`).
    PersistFailed,
    /// The driver is stopping the node (its drain deadline passed): answer every request
    /// still pending with what its deadline would have said, and refuse new ones.
    Shutdown,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send {
        to: NodeId,
        message: Message,
    },
    Reply {
        client: ClientId,
        request: u64,
        result: ClientResult,
    },
    /// Append `bytes` to the newest log segment, then sync; once synced, report
    /// `Persisted { upto: end }`. `end` is the logical log length after the append.
    Persist {
        bytes: Vec<u8>,
        end: u64,
    },
    /// Compaction: start a new segment whose first byte has logical offset `base`, holding
    /// `bytes` (a snapshot of every live key); later `Persist` outputs append to it. Sync it
    /// (and its directory), then report `Persisted { upto: end }`.
    Compact {
        base: u64,
        bytes: Vec<u8>,
        end: u64,
    },
    /// The snapshot starting at `base` is durable: every older segment may be deleted.
    DropSegmentsBefore {
        base: u64,
    },
    /// Stop this node: after `PersistFailed` it serves nothing. Restarting it recovers from
    /// the durable log.
    Halt,
}

/// Counters a driver may report. They never affect behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub writes_coordinated: u64,
    pub reads_coordinated: u64,
    pub forwarded: u64,
    pub read_repairs: u64,
    pub resends: u64,
    pub indeterminate: u64,
    pub unavailable: u64,
    pub timeouts: u64,
    pub busy: u64,
    pub replicate_refused: u64,
    pub compactions: u64,
    /// Duplicated `Forward` messages ignored.
    pub duplicate_forwards: u64,
    /// Reads whose replies merged into an object too large to store or send.
    pub reads_too_large: u64,
}

/// Roughly what one key costs in a snapshot.
fn live_weight(key: &[u8], object: &Object) -> u64 {
    (key.len() + object.weight_bytes() + crate::log::RECORD_HEADER_BYTES) as u64
}

/// Who is waiting for a request's outcome.
#[derive(Clone, Copy, Debug)]
enum Origin {
    Client { client: ClientId, request: u64 },
    Peer { from: NodeId, req: RequestId },
}

#[derive(Debug)]
enum Phase {
    Write {
        object: Object,
        dot: Dot,
        acks: BTreeSet<NodeId>,
        w: usize,
    },
    Read {
        r: usize,
        replies: BTreeMap<NodeId, Object>,
    },
    Repair {
        merged: Object,
        waiting: BTreeSet<NodeId>,
    },
    Forward {
        to: NodeId,
        write: bool,
    },
}

#[derive(Debug)]
struct Pending {
    origin: Origin,
    key: Vec<u8>,
    replicas: Vec<NodeId>,
    deadline: Time,
    next_resend: Time,
    phase: Phase,
}

impl Pending {
    fn wake(&self) -> Time {
        self.deadline.min(self.next_resend)
    }
}

/// One Tern node. See the module documentation for the driving contract.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    config: Config,
    ring: Ring,
    rng: ChaCha8Rng,
    actor: ActorId,
    /// The log's random id, written into every `Boot` and `Durable` record.
    log_id: u64,
    next_seq: u64,
    next_req: u64,
    /// The log is durable up to the end of the Boot record: the node may mint dots.
    booted: bool,
    boot_end: u64,
    /// Every key this replica holds. Built once, by recovery, and handed over whole.
    store: BTreeMap<Vec<u8>, Object>,
    /// For each key whose latest change may not be durable yet, the log length after the
    /// record of that change: replies about the key wait until the log is durable up to
    /// there. Keys leave this table as `Persisted` covers them, so it stays small.
    unsynced: BTreeMap<Vec<u8>, u64>,
    /// Log length covered by `Persist` outputs already emitted.
    emitted_end: u64,
    /// Bytes appended during this `handle`, emitted as one `Persist` at its end.
    batch: Vec<u8>,
    durable_upto: u64,
    /// The `upto` of the last `Durable` record written.
    durable_marked: u64,
    /// Bytes in every segment the driver holds, and a rough size of the live data: the two
    /// figures that decide when to compact.
    log_bytes: u64,
    live_bytes: u64,
    /// A snapshot segment that is not yet durable: `(base, end)`.
    compacting: Option<(u64, u64)>,
    /// Messages to send once the log is durable up to the key.
    waiters: BTreeMap<u64, Vec<(NodeId, Message)>>,
    requests: BTreeMap<RequestId, Pending>,
    timers: BTreeSet<(Time, RequestId)>,
    /// Forwarded requests already taken, newest last (`FORWARDS_REMEMBERED_MAX` of them).
    forwards_seen: BTreeSet<(NodeId, RequestId)>,
    forwards_order: VecDeque<(NodeId, RequestId)>,
    last_heard: BTreeMap<NodeId, Time>,
    started: Option<Time>,
    next_heartbeat: Time,
    now: Time,
    outbox: VecDeque<Output>,
    /// Messages this node sends to itself (it is a replica of its own writes).
    loopback: VecDeque<Message>,
    /// Set by `PersistFailed` or `Shutdown`: the node refuses everything until restarted.
    halted: bool,
    stats: NodeStats,
}

impl Node {
    /// Builds a node from its recovered state. Drain `poll_output` before the first
    /// `handle`: a new node persists its Boot record first.
    pub fn new(
        config: Config,
        id: NodeId,
        seed: u64,
        recovered: Recovered,
    ) -> Result<Node, ConfigError> {
        config.validate()?;
        if !config.nodes.contains(&id) {
            return Err(ConfigError::NotAMember(id));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // A random incarnation id: unique without coordination, even on an empty disk. It
        // only has to differ from the last one this log knew and from zero.
        let mut incarnation = rng.next_u64();
        while incarnation == 0 || Some(incarnation) == recovered.incarnation {
            incarnation = rng.next_u64();
        }
        let log_id = recovered.log_id.unwrap_or_else(|| rng.next_u64());
        let store = recovered.objects;
        let live_bytes = store.iter().map(|(k, o)| live_weight(k, o)).sum();
        let mut node = Node {
            id,
            ring: Ring::new(&config.nodes),
            config,
            rng,
            actor: ActorId {
                node: id,
                incarnation,
            },
            log_id,
            next_seq: 1,
            next_req: 1,
            booted: false,
            boot_end: 0,
            store,
            unsynced: BTreeMap::new(),
            emitted_end: recovered.log_end,
            batch: Vec::new(),
            // Nothing read back is trusted as durable until the first sync after start (the
            // Boot record's), which the driver extends to every segment and the directory:
            // after a process kill, recovery reads bytes that were never synced.
            durable_upto: 0,
            durable_marked: 0,
            log_bytes: recovered.log_bytes,
            live_bytes,
            compacting: None,
            waiters: BTreeMap::new(),
            requests: BTreeMap::new(),
            timers: BTreeSet::new(),
            forwards_seen: BTreeSet::new(),
            forwards_order: VecDeque::new(),
            last_heard: BTreeMap::new(),
            started: None,
            next_heartbeat: Time::ZERO,
            now: Time::ZERO,
            outbox: VecDeque::new(),
            loopback: VecDeque::new(),
            halted: false,
            stats: NodeStats::default(),
        };
        node.boot_end = node.append(&Record::Boot {
            incarnation,
            log_id,
        });
        node.flush_log();
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The random id of this incarnation: the actor of every dot it mints.
    pub fn incarnation(&self) -> u64 {
        self.actor.incarnation
    }

    /// True once the Boot record is durable and the node coordinates requests.
    pub fn is_booted(&self) -> bool {
        self.booted
    }

    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// This replica's copy of `key`, durable or not.
    pub fn object(&self, key: &[u8]) -> Option<&Object> {
        self.store.get(key)
    }

    /// Every key this node holds, in key order.
    pub fn objects(&self) -> impl Iterator<Item = (&[u8], &Object)> {
        self.store.iter().map(|(k, o)| (k.as_slice(), o))
    }

    /// Requests being coordinated or forwarded right now.
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop_front()
    }

    /// The next time the node must be called (with `Input::Tick`) even if nothing arrives.
    pub fn poll_timeout(&self) -> Option<Time> {
        let request = self.timers.first().map(|(t, _)| *t);
        Some(request.map_or(self.next_heartbeat, |t| t.min(self.next_heartbeat)))
    }

    pub fn handle(&mut self, now: Time, input: Input) {
        debug_assert!(
            self.outbox.is_empty(),
            "drain poll_output before calling handle again"
        );
        self.now = self.now.max(now);
        if self.started.is_none() {
            self.started = Some(self.now);
            self.next_heartbeat = self.now;
        }
        if self.halted {
            if let Input::Client {
                client, request, ..
            } = input
            {
                let error = RequestError::Unavailable {
                    needed: 1,
                    alive: 0,
                };
                self.reply(Origin::Client { client, request }, Err(error));
            }
            return;
        }
        match input {
            Input::PersistFailed => {
                self.stop();
                self.outbox.push_back(Output::Halt);
                return;
            }
            Input::Shutdown => {
                self.stop();
                return;
            }
            Input::Peer { from, message } => self.handle_peer(from, message),
            Input::Client {
                client,
                request,
                body,
            } => self.handle_request(Origin::Client { client, request }, body, false),
            Input::Persisted { upto } => self.handle_persisted(upto),
            Input::Tick => {}
        }
        self.handle_timers();
        self.drain_loopback();
        self.flush_log();
        self.maybe_compact();
    }

    // ----- log -----

    /// Appends a record to this step's batch; returns the log length after it.
    fn append(&mut self, record: &Record) -> u64 {
        self.mark_durable();
        record.encode_into(&mut self.batch);
        self.emitted_end + self.batch.len() as u64
    }

    fn append_object(&mut self, key: &[u8], object: &Object) -> u64 {
        self.mark_durable();
        Record::encode_object(key, object, &mut self.batch);
        self.emitted_end + self.batch.len() as u64
    }

    fn mark_durable(&mut self) {
        if self.batch.is_empty() && self.durable_upto > self.durable_marked {
            // Vouch for what is synced, so recovery can tell corruption from a torn tail.
            Record::Durable {
                upto: self.durable_upto,
                log_id: self.log_id,
            }
            .encode_into(&mut self.batch);
            self.durable_marked = self.durable_upto;
        }
    }

    fn flush_log(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.batch);
        self.emitted_end += bytes.len() as u64;
        self.log_bytes += bytes.len() as u64;
        self.outbox.push_back(Output::Persist {
            bytes,
            end: self.emitted_end,
        });
    }

    fn handle_persisted(&mut self, upto: u64) {
        assert!(
            upto <= self.emitted_end,
            "driver reported {upto} durable, but only {} bytes were emitted",
            self.emitted_end
        );
        if upto <= self.durable_upto {
            return;
        }
        self.durable_upto = upto;
        self.unsynced.retain(|_, at| *at > upto);
        if !self.booted && self.durable_upto >= self.boot_end {
            self.booted = true;
        }
        if let Some((base, end)) = self.compacting {
            if upto >= end {
                self.compacting = None;
                self.log_bytes = self.emitted_end - base;
                self.outbox.push_back(Output::DropSegmentsBefore { base });
            }
        }
        let later = self.waiters.split_off(&(upto + 1));
        let ready = std::mem::replace(&mut self.waiters, later);
        for (_, messages) in ready {
            for (to, message) in messages {
                self.send(to, message);
            }
        }
    }

    /// Answers every pending request as its deadline would (writes `Indeterminate`, reads
    /// `Timeout`), sends no acknowledgement still waiting for durability, and refuses
    /// whatever comes next.
    fn stop(&mut self) {
        self.halted = true;
        self.waiters.clear();
        self.loopback.clear();
        self.batch.clear();
        self.unsynced.clear();
        let reqs: Vec<RequestId> = self.requests.keys().copied().collect();
        for req in reqs {
            let result = self.expire(req);
            self.finish(req, result);
        }
    }

    /// Starts a new segment holding a snapshot of every key once the log is both over the
    /// configured minimum and more than twice the live data. The old segments stay until the
    /// snapshot is durable, and recovery merges whatever segments it finds, so a crash at any
    /// point of a compaction loses nothing.
    fn maybe_compact(&mut self) {
        if self.compacting.is_some()
            || self.log_bytes < self.config.compact_min_bytes
            || self.log_bytes < 2 * self.live_bytes
        {
            return;
        }
        debug_assert!(
            self.batch.is_empty(),
            "compaction runs after the batch is flushed"
        );
        let base = self.emitted_end;
        let mut bytes = Vec::with_capacity(self.live_bytes as usize);
        Record::Durable {
            upto: self.durable_upto,
            log_id: self.log_id,
        }
        .encode_into(&mut bytes);
        self.durable_marked = self.durable_upto;
        Record::Boot {
            incarnation: self.actor.incarnation,
            log_id: self.log_id,
        }
        .encode_into(&mut bytes);
        for (key, object) in &self.store {
            Record::encode_object(key, object, &mut bytes);
        }
        let end = base + bytes.len() as u64;
        self.emitted_end = end;
        self.log_bytes += bytes.len() as u64;
        self.compacting = Some((base, end));
        self.stats.compactions += 1;
        self.outbox.push_back(Output::Compact { base, bytes, end });
    }

    /// The log length that must be durable before a reply about `key` may go out.
    fn written_at(&self, key: &[u8]) -> u64 {
        self.unsynced.get(key).copied().unwrap_or(0)
    }

    /// Sends once the log is durable up to `offset`, and never before the first sync after
    /// start: what recovery read back may have been written but never synced.
    fn send_when_durable(&mut self, offset: u64, to: NodeId, message: Message) {
        let offset = offset.max(self.boot_end);
        if offset <= self.durable_upto {
            self.send(to, message);
        } else {
            self.waiters.entry(offset).or_default().push((to, message));
        }
    }

    // ----- messages -----

    fn send(&mut self, to: NodeId, message: Message) {
        if to == self.id {
            self.loopback.push_back(message);
        } else {
            self.outbox.push_back(Output::Send { to, message });
        }
    }

    fn drain_loopback(&mut self) {
        while let Some(message) = self.loopback.pop_front() {
            self.handle_peer(self.id, message);
        }
    }

    fn is_alive(&self, node: NodeId) -> bool {
        if node == self.id {
            return true;
        }
        let heard = self
            .last_heard
            .get(&node)
            .copied()
            .or(self.started)
            .unwrap_or(self.now);
        self.now < (heard + self.config.failure_timeout)
    }

    fn handle_peer(&mut self, from: NodeId, message: Message) {
        if from != self.id {
            if !self.config.nodes.contains(&from) {
                return; // Not a member: ignore, as the driver should have.
            }
            self.last_heard.insert(from, self.now);
        }
        match message {
            Message::Heartbeat => {}
            Message::Replicate { req, key, object } => {
                self.handle_replicate(from, req, key, object)
            }
            Message::ReplicateAck { req } => self.handle_replicate_ack(from, req),
            Message::Read { req, key } => {
                let object = self.store.get(&key).cloned().unwrap_or_default();
                let written_at = self.written_at(&key);
                self.send_when_durable(written_at, from, Message::ReadReply { req, object });
            }
            Message::ReadReply { req, object } => self.handle_read_reply(from, req, object),
            Message::Forward { req, request } => {
                // The network may deliver a Forward twice: run it once, or one client write
                // would be applied twice, and a refusal of the copy could reach the client
                // while the first copy applies. Request ids are unique per incarnation.
                if !self.forwards_seen.insert((from, req)) {
                    self.stats.duplicate_forwards += 1;
                    return;
                }
                self.forwards_order.push_back((from, req));
                if self.forwards_order.len() > FORWARDS_REMEMBERED_MAX {
                    if let Some(old) = self.forwards_order.pop_front() {
                        self.forwards_seen.remove(&old);
                    }
                }
                self.handle_request(Origin::Peer { from, req }, request, true)
            }
            Message::ForwardReply { req, result } => {
                if let Some(p) = self.requests.get(&req) {
                    if matches!(p.phase, Phase::Forward { to, .. } if to == from) {
                        self.finish(req, result);
                    }
                }
            }
        }
    }

    fn handle_replicate(&mut self, from: NodeId, req: RequestId, key: Vec<u8>, object: Object) {
        if key.len() > KEY_BYTES_MAX {
            self.stats.replicate_refused += 1;
            return;
        }
        let current = self.store.get(&key);
        let mut merged = current.cloned().unwrap_or_default();
        let written_at = if merged.merge(&object) {
            if merged.fits().is_err() {
                // Refuse rather than store what could not be sent, repaired or read back;
                // the sender counts this replica as not having acknowledged.
                self.stats.replicate_refused += 1;
                return;
            }
            let before = current.map_or(0, |o| live_weight(&key, o));
            self.live_bytes = (self.live_bytes + live_weight(&key, &merged)).saturating_sub(before);
            let end = self.append_object(&key, &merged);
            self.unsynced.insert(key.clone(), end);
            self.store.insert(key, merged);
            end
        } else {
            self.written_at(&key)
        };
        self.send_when_durable(written_at, from, Message::ReplicateAck { req });
    }

    fn handle_replicate_ack(&mut self, from: NodeId, req: RequestId) {
        let Some(pending) = self.requests.get_mut(&req) else {
            return;
        };
        match &mut pending.phase {
            Phase::Write {
                object,
                dot,
                acks,
                w,
            } => {
                acks.insert(from);
                if acks.len() >= *w {
                    let response = Response::Written {
                        dot: *dot,
                        object: std::mem::take(object),
                    };
                    self.finish(req, Ok(response));
                }
            }
            Phase::Repair { merged, waiting } => {
                waiting.remove(&from);
                if waiting.is_empty() {
                    let object = std::mem::take(merged);
                    self.finish(req, Ok(Response::Object(object)));
                }
            }
            Phase::Read { .. } | Phase::Forward { .. } => {}
        }
    }

    fn handle_read_reply(&mut self, from: NodeId, req: RequestId, object: Object) {
        let Some(pending) = self.requests.get_mut(&req) else {
            return;
        };
        if !pending.replicas.contains(&from) {
            return;
        }
        let key = pending.key.clone();
        let (merged, repair) = match &mut pending.phase {
            Phase::Read { r, replies } => {
                replies.insert(from, object);
                if replies.len() < *r {
                    return;
                }
                let mut merged = Object::new();
                for reply in replies.values() {
                    merged.merge(reply);
                }
                if let Err(too_large) = merged.fits() {
                    // Each replica's copy fits, but together they do not: no replica could
                    // store the repair, and no message could carry it.
                    self.stats.reads_too_large += 1;
                    let (what, len, max) = match too_large {
                        ObjectTooLarge::Siblings(n) => ("siblings", n, SIBLINGS_DECODE_MAX),
                        ObjectTooLarge::Bytes(n) => ("bytes", n, OBJECT_BYTES_MAX),
                    };
                    let error = RequestError::TooLarge {
                        what: format!("the key's versions merged across replicas ({what})"),
                        len: len as u64,
                        max: max as u64,
                    };
                    self.finish(req, Err(error));
                    return;
                }
                let stale: BTreeSet<NodeId> = replies
                    .iter()
                    .filter(|(_, o)| **o != merged)
                    .map(|(n, _)| *n)
                    .collect();
                if stale.is_empty() {
                    self.finish(req, Ok(Response::Object(merged)));
                    return;
                }
                let repair: Vec<NodeId> = stale.iter().copied().collect();
                let copy = merged.clone();
                pending.phase = Phase::Repair {
                    merged,
                    waiting: stale,
                };
                (copy, repair)
            }
            // A late reply: repair it too, without waiting for it.
            Phase::Repair { merged, .. } if object != *merged => (merged.clone(), vec![from]),
            _ => return,
        };
        self.stats.read_repairs += repair.len() as u64;
        for node in repair {
            let message = Message::Replicate {
                req,
                key: key.clone(),
                object: merged.clone(),
            };
            self.send(node, message);
        }
    }

    // ----- requests -----

    fn handle_request(&mut self, origin: Origin, request: Request, forwarded: bool) {
        if let Err(error) = self.check_request(&request) {
            self.reply(origin, Err(error));
            return;
        }
        let quorum = match resolve_quorum(&self.config, request.quorum) {
            Ok(q) => q,
            Err(why) => {
                self.reply(origin, Err(RequestError::InvalidQuorum(why)));
                return;
            }
        };
        if !self.booted {
            self.reply(origin, Err(RequestError::Starting));
            return;
        }
        if self.requests.len() >= PENDING_REQUESTS_MAX
            || self.next_req >= REQUESTS_PER_INCARNATION_MAX
            || self.next_seq >= DOTS_PER_INCARNATION_MAX
        {
            self.stats.busy += 1;
            self.reply(origin, Err(RequestError::Busy));
            return;
        }
        let replicas = self.ring.preference(request.op.key(), quorum.n);
        let timeout = request
            .timeout_ms
            .map_or(self.config.request_timeout, |ms| {
                Span::from_millis(u64::from(ms))
            });
        if !replicas.contains(&self.id) {
            self.forward(origin, request, replicas, timeout, forwarded);
            return;
        }
        let needed = if request.op.is_write() {
            quorum.w
        } else {
            quorum.r
        };
        let alive = replicas.iter().filter(|n| self.is_alive(**n)).count();
        if alive < needed {
            self.stats.unavailable += 1;
            let error = RequestError::Unavailable {
                needed: needed as u8,
                alive: alive as u8,
            };
            self.reply(origin, Err(error));
            return;
        }
        match request.op {
            Op::Get { key } => self.start_read(origin, key, replicas, quorum.r, timeout),
            Op::Set {
                key,
                value,
                context,
            } => {
                let sibling = (Some(value), context);
                self.start_write(origin, key, sibling, replicas, quorum.w, timeout)
            }
            Op::Delete { key, context } => {
                self.start_write(origin, key, (None, context), replicas, quorum.w, timeout)
            }
        }
    }

    fn check_request(&self, request: &Request) -> Result<(), RequestError> {
        let key = request.op.key();
        let too_large = |what: &str, len: usize, max: usize| RequestError::TooLarge {
            what: what.to_string(),
            len: len as u64,
            max: max as u64,
        };
        if key.len() > KEY_BYTES_MAX {
            return Err(too_large("key", key.len(), KEY_BYTES_MAX));
        }
        if let Op::Set { value, .. } = &request.op {
            if value.len() > VALUE_BYTES_MAX {
                return Err(too_large("value", value.len(), VALUE_BYTES_MAX));
            }
        }
        if let Op::Set { context, .. } | Op::Delete { context, .. } = &request.op {
            if context.len() > CONTEXT_ENTRIES_MAX {
                let what = "context (clock entries)";
                return Err(too_large(what, context.len(), CONTEXT_ENTRIES_MAX));
            }
        }
        Ok(())
    }

    fn new_request_id(&mut self) -> RequestId {
        assert!(
            self.next_req < REQUESTS_PER_INCARNATION_MAX,
            "admission refuses requests once the ids run out"
        );
        let id = RequestId::new(self.actor.incarnation, self.next_req);
        self.next_req += 1;
        id
    }

    fn insert_pending(&mut self, req: RequestId, pending: Pending) {
        self.timers.insert((pending.wake(), req));
        self.requests.insert(req, pending);
    }

    fn forward(
        &mut self,
        origin: Origin,
        mut request: Request,
        replicas: Vec<NodeId>,
        timeout: Span,
        forwarded: bool,
    ) {
        let alive: Vec<NodeId> = replicas
            .iter()
            .copied()
            .filter(|n| self.is_alive(*n))
            .collect();
        if forwarded || alive.is_empty() {
            // A forwarded request is never forwarded again, so rings that disagree cannot loop.
            self.stats.unavailable += 1;
            let error = RequestError::Unavailable {
                needed: 1,
                alive: alive.len() as u8,
            };
            self.reply(origin, Err(error));
            return;
        }
        let to = alive[(self.rng.next_u32() as usize) % alive.len()];
        let req = self.new_request_id();
        let write = request.op.is_write();
        request.timeout_ms = Some(u32::try_from(timeout.millis()).unwrap_or(u32::MAX));
        self.stats.forwarded += 1;
        self.send(to, Message::Forward { req, request });
        // Wait a little longer than the coordinator, so its answer usually arrives first.
        let deadline = self.now + timeout + self.config.resend_interval;
        let pending = Pending {
            origin,
            key: Vec::new(),
            replicas,
            deadline,
            next_resend: deadline,
            phase: Phase::Forward { to, write },
        };
        self.insert_pending(req, pending);
    }

    fn start_write(
        &mut self,
        origin: Origin,
        key: Vec<u8>,
        (value, context): (Option<Vec<u8>>, crate::version::VectorClock),
        replicas: Vec<NodeId>,
        w: usize,
        timeout: Span,
    ) {
        assert!(
            self.booted,
            "dots are minted only after the Boot record is durable"
        );
        assert!(
            self.next_seq < DOTS_PER_INCARNATION_MAX,
            "admission refuses writes once the dots run out"
        );
        let dot = Dot {
            actor: self.actor,
            seq: self.next_seq,
        };
        let mut object = self.store.get(&key).cloned().unwrap_or_default();
        object.insert(Sibling {
            dot,
            context,
            value,
        });
        if object.siblings().len() > SIBLINGS_MAX {
            let error = RequestError::TooManySiblings {
                count: object.siblings().len() as u32,
                max: SIBLINGS_MAX as u32,
            };
            self.reply(origin, Err(error));
            return;
        }
        let bytes = object.encoded_bytes();
        if bytes > OBJECT_WRITE_BYTES_MAX {
            let error = RequestError::TooLarge {
                what: "object (all versions of the key)".to_string(),
                len: bytes as u64,
                max: OBJECT_WRITE_BYTES_MAX as u64,
            };
            self.reply(origin, Err(error));
            return;
        }
        self.next_seq += 1;
        self.stats.writes_coordinated += 1;
        let req = self.new_request_id();
        // The coordinator is a replica: it applies first, then sends the whole object, so any
        // replica holding this dot also holds every earlier dot of this actor on the key.
        for node in &replicas {
            let message = Message::Replicate {
                req,
                key: key.clone(),
                object: object.clone(),
            };
            self.send(*node, message);
        }
        let pending = Pending {
            origin,
            key,
            replicas,
            deadline: (self.now + timeout),
            next_resend: (self.now + self.config.resend_interval),
            phase: Phase::Write {
                object,
                dot,
                acks: BTreeSet::new(),
                w,
            },
        };
        self.insert_pending(req, pending);
    }

    fn start_read(
        &mut self,
        origin: Origin,
        key: Vec<u8>,
        replicas: Vec<NodeId>,
        r: usize,
        timeout: Span,
    ) {
        self.stats.reads_coordinated += 1;
        let req = self.new_request_id();
        for node in &replicas {
            self.send(
                *node,
                Message::Read {
                    req,
                    key: key.clone(),
                },
            );
        }
        let pending = Pending {
            origin,
            key,
            replicas,
            deadline: (self.now + timeout),
            next_resend: (self.now + self.config.resend_interval),
            phase: Phase::Read {
                r,
                replies: BTreeMap::new(),
            },
        };
        self.insert_pending(req, pending);
    }

    /// Ends a request: answers its origin and forgets it.
    fn finish(&mut self, req: RequestId, result: ClientResult) {
        let Some(pending) = self.requests.remove(&req) else {
            return;
        };
        self.timers.remove(&(pending.wake(), req));
        self.reply(pending.origin, result);
    }

    fn reply(&mut self, origin: Origin, result: ClientResult) {
        match origin {
            Origin::Client { client, request } => self.outbox.push_back(Output::Reply {
                client,
                request,
                result,
            }),
            Origin::Peer { from, req } => self.send(from, Message::ForwardReply { req, result }),
        }
    }

    // ----- timers -----

    fn handle_timers(&mut self) {
        let now = self.now;
        if now >= self.next_heartbeat {
            for peer in self.config.nodes.clone() {
                if peer != self.id {
                    self.send(peer, Message::Heartbeat);
                }
            }
            self.next_heartbeat = now + self.config.heartbeat_interval;
        }
        while let Some(&(wake, req)) = self.timers.first() {
            if wake > now {
                break;
            }
            self.timers.pop_first();
            let Some(pending) = self.requests.get(&req) else {
                continue;
            };
            if now >= pending.deadline {
                let result = self.expire(req);
                self.finish_expired(req, result);
            } else {
                self.resend(req);
            }
        }
    }

    /// The error a request ends with at its deadline.
    fn expire(&mut self, req: RequestId) -> ClientResult {
        let pending = &self.requests[&req];
        let error = match &pending.phase {
            // Every write that reached the table was applied locally: it may survive.
            Phase::Write { .. } | Phase::Forward { write: true, .. } => {
                self.stats.indeterminate += 1;
                RequestError::Indeterminate
            }
            Phase::Read { .. } | Phase::Repair { .. } | Phase::Forward { write: false, .. } => {
                self.stats.timeouts += 1;
                RequestError::Timeout
            }
        };
        Err(error)
    }

    fn finish_expired(&mut self, req: RequestId, result: ClientResult) {
        if let Some(pending) = self.requests.remove(&req) {
            self.reply(pending.origin, result);
        }
    }

    /// Resends to the replicas that have not answered, in case the messages were lost.
    fn resend(&mut self, req: RequestId) {
        let now = self.now;
        let interval = self.config.resend_interval;
        let Some(pending) = self.requests.get_mut(&req) else {
            return;
        };
        pending.next_resend = now + interval;
        let wake = pending.wake();
        let key = pending.key.clone();
        let mut messages = Vec::new();
        match &pending.phase {
            Phase::Write { object, acks, .. } => {
                for node in pending.replicas.iter().filter(|n| !acks.contains(n)) {
                    let message = Message::Replicate {
                        req,
                        key: key.clone(),
                        object: object.clone(),
                    };
                    messages.push((*node, message));
                }
            }
            Phase::Read { replies, .. } => {
                for node in pending.replicas.iter().filter(|n| !replies.contains_key(n)) {
                    messages.push((
                        *node,
                        Message::Read {
                            req,
                            key: key.clone(),
                        },
                    ));
                }
            }
            Phase::Repair { merged, waiting } => {
                for node in waiting {
                    let message = Message::Replicate {
                        req,
                        key: key.clone(),
                        object: merged.clone(),
                    };
                    messages.push((*node, message));
                }
            }
            Phase::Forward { .. } => {}
        }
        self.timers.insert((wake, req));
        for (to, message) in messages {
            if to != self.id {
                self.stats.resends += 1;
                self.send(to, message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new(vec![NodeId(1), NodeId(2), NodeId(3)])
    }

    #[test]
    fn config_is_validated() {
        let mut c = config();
        c.w = 4;
        assert!(matches!(c.validate(), Err(ConfigError::Quorum(_))));
        let c = Config::new(vec![NodeId(1), NodeId(1)]);
        assert_eq!(c.validate(), Err(ConfigError::DuplicateNode));
        assert!(matches!(
            Node::new(config(), NodeId(9), 0, Recovered::empty()),
            Err(ConfigError::NotAMember(NodeId(9)))
        ));
    }

    /// Node 1 of three, with its Boot record durable.
    fn booted_node() -> Node {
        let mut node = Node::new(config(), NodeId(1), 7, Recovered::empty()).unwrap();
        let Some(Output::Persist { end, .. }) = node.poll_output() else {
            panic!("expected the boot record");
        };
        node.handle(Time(1), Input::Persisted { upto: end });
        while node.poll_output().is_some() {}
        node
    }

    #[test]
    fn a_failed_sync_answers_pending_writes_as_indeterminate_and_halts() {
        let mut node = booted_node();
        let set = Request::new(Op::Set {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            context: crate::version::VectorClock::new(),
        });
        let client = ClientId(1);
        node.handle(
            Time(2),
            Input::Client {
                client,
                request: 5,
                body: set,
            },
        );
        while node.poll_output().is_some() {}
        node.handle(Time(3), Input::PersistFailed);
        let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        assert_eq!(
            outputs,
            vec![
                Output::Reply {
                    client,
                    request: 5,
                    result: Err(RequestError::Indeterminate)
                },
                Output::Halt
            ]
        );
        // Whatever comes later is refused, and nothing is acknowledged.
        node.handle(Time(4), Input::Persisted { upto: u64::MAX });
        let get = Request::new(Op::Get { key: b"k".to_vec() });
        node.handle(
            Time(5),
            Input::Client {
                client,
                request: 6,
                body: get,
            },
        );
        let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        assert!(matches!(
            outputs.as_slice(),
            [Output::Reply {
                request: 6,
                result: Err(RequestError::Unavailable { .. }),
                ..
            }]
        ));
    }

    #[test]
    fn shutdown_answers_pending_reads_as_timeout_without_halting() {
        let mut node = booted_node();
        let get = Request::new(Op::Get { key: b"k".to_vec() });
        let client = ClientId(1);
        node.handle(
            Time(2),
            Input::Client {
                client,
                request: 9,
                body: get,
            },
        );
        while node.poll_output().is_some() {}
        node.handle(Time(3), Input::Shutdown);
        let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        assert_eq!(
            outputs,
            vec![Output::Reply {
                client,
                request: 9,
                result: Err(RequestError::Timeout)
            }]
        );
        assert_eq!(node.pending_requests(), 0);
    }

    #[test]
    fn a_new_node_persists_its_boot_record_and_refuses_requests_until_durable() {
        let mut node = Node::new(config(), NodeId(1), 7, Recovered::empty()).unwrap();
        let Some(Output::Persist { bytes, end }) = node.poll_output() else {
            panic!("expected the boot record");
        };
        assert_eq!(end, bytes.len() as u64);
        assert_eq!(node.poll_output(), None);
        let get = Request::new(Op::Get { key: b"k".to_vec() });
        node.handle(
            Time(1),
            Input::Client {
                client: ClientId(1),
                request: 1,
                body: get,
            },
        );
        let replies: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        assert!(replies.contains(&Output::Reply {
            client: ClientId(1),
            request: 1,
            result: Err(RequestError::Starting)
        }));
        node.handle(Time(2), Input::Persisted { upto: end });
        while node.poll_output().is_some() {}
        assert!(node.is_booted());
    }
}
