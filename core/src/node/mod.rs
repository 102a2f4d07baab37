//! `Node`: the whole state of one Tern node, driven by inputs, producing outputs.
//!
//! A driver (the production `node` crate or the simulator) calls `handle(now, input)`, then
//! drains `poll_output()` to `None` and carries out every output: send a peer message, reply
//! to a client, append and sync log bytes. `poll_timeout()` says when to call again with
//! `Input::Tick`. `Node` does no IO, reads no clock and owns the only RNG, seeded by the
//! driver. The same seed and inputs give the same outputs.
//!
//! `Node` owns its parts and dispatches to them; each part owns its state and is handed
//! only what it needs for one step:
//! - `store` (every key this replica holds) and `journal` (log batches, `Durable` marks,
//!   durability waiters, compaction);
//! - `replica` (the Replicate and Read handlers), `coordinator` (the table of requests this
//!   node works on: writes, reads and their repair, forwards), `quorum` (the pure tally);
//! - `liveness` (heartbeats, the failure detector) and `timer` (node-level timers by name);
//! - `outbox` (every output of the step, and messages to itself).
//!
//! Durability is a state here, not a rule for drivers: a replica's acknowledgement or read
//! reply about a key is held back until the log bytes that last changed that key are
//! reported durable by `Input::Persisted`, and nothing goes out before the first sync after
//! start.

pub mod config;
mod io;
mod status;

pub use config::{Config, ConfigError, Setting};
pub use io::{Input, NodeStats, Output};
pub use status::{NodeStatus, PeerStatus};

use crate::bulk::{Aside, Bulk};
use crate::collect::Collector;
use crate::coordinator::{Arrival, Coordinator, Ctx};
use crate::entropy::{Entropy, Rounds};
use crate::handoff::Handoff;
use crate::ids::{LogRef, NodeId};
use crate::journal::Journal;
use crate::liveness::Liveness;
use crate::log::{recover_segments, Record, Recovered, RecoveryError, Segment, TornTail};
use crate::message::RequestError;
use crate::outbox::{Origin, Outbox};
use crate::positions::Positions;
use crate::rebuild::{Rebuild, RebuildReason};
use crate::ring::Ring;
use crate::search::Tokenizer;
use crate::store::Store;
use crate::time::Time;
use crate::timer::{Timer, TimerTable};
use crate::verify::Verify;
use crate::version::{ActorId, Object};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeSet;

/// A node started on the log segments its driver found (`Node::start`).
#[derive(Debug)]
pub struct Started {
    pub node: Node,
    /// Torn tails recovery cut off. The driver truncates each segment to its `offset`
    /// before it carries out the node's first output (the Boot record is appended there).
    pub torn: Vec<TornTail>,
    /// Logical offset of the newest segment's first byte: appends go to that segment.
    pub segment_base: u64,
    /// Logical end of the newest segment's valid bytes: the node appends from here.
    pub log_end: u64,
    /// Valid records read, and keys recovered (for the driver's logs).
    pub records: u64,
    pub keys: usize,
    /// Recovery found synced records damaged (bit rot, a misdirected write): the node
    /// starts rebuilding on an empty log. Before it carries out the node's first output,
    /// the driver moves every segment it found out of the log, keeping their bytes for
    /// inspection (never deleting them), so that the log starts anew at offset 0.
    pub set_aside: Option<RecoveryError>,
}

/// Why a node could not start on its log.
#[derive(Debug)]
pub enum StartError {
    /// A record passed its checksum but could not be read (`RecoveryError::Unreadable`: another
    /// format version, or a bug). Damage to synced bytes is not an error: the node starts
    /// rebuilding on an empty log (`Started::set_aside`).
    Recovery(RecoveryError),
    /// The configuration is unusable (or this node is not in it).
    Config(ConfigError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Recovery(e) => write!(f, "refused to start: {e}"),
            StartError::Config(e) => write!(f, "bad configuration: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// One Tern node. See the module documentation for the driving contract.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    config: Config,
    ring: Ring,
    rng: ChaCha8Rng,
    actor: ActorId,
    /// Every key this replica holds. Built once, by recovery, and handed over whole.
    store: Store,
    journal: Journal,
    coordinator: Coordinator,
    liveness: Liveness,
    handoff: Handoff,
    collector: Collector,
    /// Keys forgotten by collection, kept for the driver only if it asked
    /// (`record_collections`: the simulator's resurrection checker).
    collected: Option<Vec<(Vec<u8>, Object)>>,
    timers: TimerTable,
    now: Time,
    outbox: Outbox,
    mode: Mode,
    stats: NodeStats,
    /// Anti-entropy rounds: the last one started, the peer of the next.
    rounds: Rounds,
    /// Set while this node may hold less than it once did (`rebuild`): its read replies
    /// do not count toward R.
    rebuild: Option<Rebuild>,
    /// Bulk writes and reads it coordinates, and versions it keeps aside (`bulk`).
    bulk: Bulk,
    /// How far each node's log had come when it agreed to a collection (`positions`).
    positions: Positions,
    /// Set while a restarted log waits for its peers to say it is not an older copy than
    /// one that agreed to a collection (`verify`): the node lets nothing of it out.
    verify: Option<Verify>,
    /// A new log's peers that have not yet confirmed its registration (`positions`).
    registering: Option<BTreeSet<NodeId>>,
}

/// Whether the node takes new requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Serving,
    /// `Drain`: new requests are refused with `ShuttingDown`; taken ones go on.
    Draining,
    /// `PersistFailed` or `Shutdown`: the node refuses everything until restarted.
    Halted,
}

/// The collection part's view of `$node` for one step, borrowing its fields apart.
macro_rules! collect {
    ($node:ident) => {
        Collect {
            me: $node.id,
            now: $node.now,
            config: &$node.config,
            ring: &$node.ring,
            store: &mut $node.store,
            journal: &mut $node.journal,
            positions: &mut $node.positions,
            outbox: &mut $node.outbox,
            stats: &mut $node.stats,
            collected: &mut $node.collected,
        }
    };
}

/// The coordinator's view of `$node` for one step, borrowing its fields apart.
macro_rules! ctx {
    ($node:ident) => {
        Ctx {
            now: $node.now,
            id: $node.id,
            actor: $node.actor,
            booted: $node.journal.booted() && $node.verify.is_none(),
            config: &$node.config,
            ring: &$node.ring,
            rng: &mut $node.rng,
            liveness: &$node.liveness,
            store: &$node.store,
            outbox: &mut $node.outbox,
            stats: &mut $node.stats,
        }
    };
}

mod bulk;
mod peer;
mod timers;
mod verifying;
mod view;

impl Node {
    /// Builds a node from its recovered state, at `now` by its clock (a new log is named
    /// with it: `LogRef`). Drain `poll_output` before the first `handle`: a new node
    /// persists its Boot record first.
    pub fn new(
        config: Config,
        id: NodeId,
        seed: u64,
        now: Time,
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
        let log = match recovered.log_id {
            Some(id) => LogRef {
                started: recovered.log_started,
                id,
            },
            None => LogRef {
                started: now.micros(),
                id: rng.next_u64(),
            },
        };
        // A restart on a log that may be an older copy lets nothing out until verified.
        let trusted_end = recovered.rebuilding_since.unwrap_or(recovered.log_end);
        let ring = Ring::new(&config.nodes);
        let verify = (recovered.log_id.is_some() && config.rebuild_on_restart)
            .then(|| Verify::new(id, &ring, &config, log, trusted_end))
            .filter(|verify| !verify.is_trusted());
        // The log registers with its peers (once verified, if it must be), so that a copy
        // of an earlier log of this node restored later is known to be superseded. A log
        // registers again at each start: a crash may have cut its first registration short,
        // and a peer's disk may have been replaced since.
        let peers: BTreeSet<NodeId> = config.nodes.iter().copied().filter(|n| *n != id).collect();
        let registering = (!peers.is_empty()).then_some(peers);
        let mut journal = Journal::new(log, recovered.log_end, recovered.log_bytes);
        journal.boot(incarnation);
        let reason = if recovered.rebuilding {
            Some(RebuildReason::Unfinished)
        } else if recovered.log_id.is_none() {
            Some(RebuildReason::EmptyLog)
        } else if config.rebuild_on_restart {
            Some(RebuildReason::Restarted)
        } else {
            None
        };
        let rebuild = reason.map(|reason| {
            journal.append_rebuild(&Record::Rebuilding);
            Rebuild::new(id, &ring, &config, reason)
        });
        let mut timers = TimerTable::default();
        timers.set(Timer::Gossip, Time::ZERO);
        timers.set(Timer::AntiEntropy, Time::ZERO);
        timers.set(Timer::Handoff, Time::ZERO);
        timers.set(Timer::Collect, Time::ZERO);
        let tokenizer = config.search_index.then(|| Tokenizer::new(config.stemming));
        let store = Store::new(recovered.objects, tokenizer);
        let aside = Aside::recovered(
            recovered.aside,
            recovered.refused,
            &store,
            &recovered.collected,
        );
        let mut node = Node {
            id,
            ring,
            config,
            rng,
            actor: ActorId {
                node: id,
                incarnation,
            },
            store,
            journal,
            coordinator: Coordinator::new(),
            liveness: Liveness::default(),
            handoff: Handoff::new(recovered.hints),
            collector: Collector::default(),
            collected: None,
            timers,
            now: Time::ZERO,
            outbox: Outbox::new(id),
            mode: Mode::Serving,
            stats: NodeStats::default(),
            rounds: Rounds::default(),
            rebuild,
            bulk: Bulk::new(aside),
            positions: Positions::new(&recovered.positions),
            verify,
            registering,
        };
        node.stats.bulk_kept_aside = node.bulk.aside.len() as u64;
        node.stats.rebuilds_started = u64::from(node.rebuild.is_some());
        node.journal.flush(&mut node.outbox);
        Ok(node)
    }

    /// Recovers the log from `segments` (oldest first, as the driver found them, after it
    /// made sure they are what the disk holds) and builds the node on it at `now`: the one
    /// way every driver starts a node.
    pub fn start(
        config: Config,
        id: NodeId,
        seed: u64,
        now: Time,
        segments: &[Segment<'_>],
    ) -> Result<Started, StartError> {
        let (recovered, set_aside) = match recover_segments(segments) {
            Ok(recovered) => (recovered, None),
            // Synced bytes are damaged: what is left may miss any key, so the node trusts
            // none of it and rebuilds from its replicas on an empty log.
            Err(damage @ RecoveryError::Corrupt { .. }) => (Recovered::empty(), Some(damage)),
            Err(error) => return Err(StartError::Recovery(error)),
        };
        let torn = recovered.torn.clone();
        let (segment_base, log_end) = (recovered.segment_base, recovered.log_end);
        let (records, keys) = (recovered.records, recovered.objects.len());
        let mut node = Node::new(config, id, seed, now, recovered).map_err(StartError::Config)?;
        if set_aside.is_some() {
            node.stats.damaged_logs_set_aside = 1;
            if let Some(rebuild) = node.rebuild.as_mut() {
                rebuild.reason = RebuildReason::Damaged;
            }
        }
        Ok(Started {
            node,
            torn,
            segment_base,
            log_end,
            records,
            keys,
            set_aside,
        })
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
        self.journal.booted()
    }

    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// Ends the rebuild once every other replica's digests were seen equal (`rebuild`).
    fn check_rebuilt(&mut self) {
        if self.rebuild.as_ref().is_some_and(Rebuild::is_done) {
            self.rebuild = None;
            self.stats.rebuilds_done += 1;
            self.journal.append_rebuild(&Record::Rebuilt);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    /// The next time the node must be called (with `Input::Tick`) even if nothing arrives:
    /// the earliest of its named timers and its requests' deadlines.
    pub fn poll_timeout(&self) -> Option<Time> {
        let parts = [self.coordinator.next_deadline(), self.bulk.next_wake()];
        [self.timers.next(), parts[0], parts[1]]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle(&mut self, now: Time, input: Input) {
        debug_assert!(
            self.outbox.is_empty(),
            "drain poll_output before calling handle again"
        );
        self.now = self.now.max(now);
        self.begin();
        if self.mode == Mode::Halted {
            if let Input::Client {
                client, request, ..
            } = input
            {
                let error = RequestError::ShuttingDown;
                self.outbox
                    .reply(Origin::Client { client, request }, Err(error));
            }
            return;
        }
        match input {
            Input::Drain => self.mode = Mode::Draining,
            Input::Client {
                client, request, ..
            } if self.mode == Mode::Draining => {
                let error = RequestError::ShuttingDown;
                self.outbox
                    .reply(Origin::Client { client, request }, Err(error));
            }

            Input::PersistFailed => {
                self.stop();
                self.outbox.push(Output::Halt);
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
            } if body.op.is_bulk() => {
                self.handle_bulk_request(Origin::Client { client, request }, body)
            }
            Input::Client {
                client,
                request,
                body,
            } => {
                let origin = Origin::Client { client, request };
                let mut ctx = ctx!(self);
                self.coordinator
                    .handle_request(&mut ctx, origin, body, Arrival::Client)
            }
            Input::Persisted { upto } => {
                let booted = self.journal.booted();
                self.journal.persisted(upto, &mut self.outbox);
                if !booted && self.journal.booted() {
                    self.ask_positions();
                }
            }
            Input::Tick => {}
        }
        self.handle_timers();
        while let Some(message) = self.outbox.next_loopback() {
            self.handle_peer(self.id, message);
        }
        for (peer, key) in self.coordinator.take_missed() {
            let (journal, stats) = (&mut self.journal, &mut self.stats);
            self.handoff.add(peer, key, journal, stats);
        }
        self.journal.flush(&mut self.outbox);
        if let Some(verify) = self.verify.as_ref() {
            // A stale log is set aside once nothing written to it is still in flight.
            if verify.stale.is_some() && self.journal.is_settled() {
                self.set_aside_stale();
            }
            return; // No compaction of a log not yet verified.
        }
        let (handoff, aside, positions) = (&self.handoff, &self.bulk.aside, &self.positions);
        self.journal.maybe_compact(
            &self.store,
            &|out: &mut Vec<u8>| {
                handoff.snapshot(out);
                aside.snapshot(out);
                positions.snapshot(out);
            },
            self.actor.incarnation,
            self.config.compact_min_bytes,
            &mut self.outbox,
            &mut self.stats,
        );
    }

    /// The node's clock has moved to `self.now`; on its first input, its timers start.
    fn begin(&mut self) {
        self.store.set_now(self.now);
        if self.liveness.start(self.now, &self.config) {
            self.timers.set(Timer::Gossip, self.now);
            let first = self.now + self.config.anti_entropy_interval;
            self.timers.set(Timer::AntiEntropy, first);
            self.timers.set(Timer::Collect, first);
            let handoff = self.now + self.config.handoff_interval;
            self.timers.set(Timer::Handoff, handoff);
            self.store.restamp_tombstones(self.now);
            self.bulk.aside.restamp(self.now);
            if let Some(rebuild) = self.rebuild.as_mut() {
                rebuild.started(self.now);
            }
        }
    }

    /// Answers every pending request as its deadline would (writes `Indeterminate`, reads
    /// `Timeout`), sends no acknowledgement still waiting for durability, and refuses
    /// whatever comes next.
    fn stop(&mut self) {
        self.mode = Mode::Halted;
        self.journal.stop();
        self.handoff.stop();
        self.outbox.clear_loopback();
        self.coordinator.stop(&mut self.outbox, &mut self.stats);
        let mut ctx = ctx!(self);
        self.bulk.stop(&mut ctx);
    }

    /// The anti-entropy part's view of this node for one step.
    fn entropy(&mut self) -> Entropy<'_> {
        Entropy {
            me: self.id,
            now: self.now,
            config: &self.config,
            ring: &self.ring,
            store: &self.store,
            journal: &mut self.journal,
            outbox: &mut self.outbox,
            stats: &mut self.stats,
            rounds: &mut self.rounds,
            rebuild: self.rebuild.as_mut(),
            incarnation: self.actor.incarnation,
        }
    }

    /// Brings the next anti-entropy round forward to `at` (not before now).
    fn entropy_at(&mut self, at: Time) {
        let at = at.max(self.now);
        if self
            .timers
            .get(Timer::AntiEntropy)
            .is_none_or(|due| at < due)
        {
            self.timers.set(Timer::AntiEntropy, at);
        }
    }
}

#[cfg(test)]
mod tests;
