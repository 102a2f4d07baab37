//! Anti-entropy: replicas compare what they hold, partition by partition, and exchange exactly
//! the keys whose versions differ, so that a cluster converges without client reads.
//!
//! Every `anti_entropy_interval` a node picks one other member at random (its seeded RNG) and
//! sends `Entropy` with its digest (`store::Store::digest`: the sum of a hash of every key's
//! version dots) of each partition both of them replicate. The peer answers, for at most
//! `ENTROPY_PARTITIONS_PER_ROUND` partitions whose digests differ, `EntropyKeys` with the
//! hash of every key it holds there (the store keeps these per partition, so listing one costs
//! that partition only). The first node then compares key by key and, for at most
//! `ENTROPY_KEYS_PER_EXCHANGE` keys that differ, pushes its copies (`EntropyPush`, many keys a
//! message, once those copies are durable) and pulls the peer's (`EntropyPull`, answered the
//! same way). Both sides merge what they receive exactly as a `Replicate` (durably, refusing
//! what would not fit), so after the exchange both hold the causal join of the two copies. A
//! repair needs no acknowledgement: anything lost is found again in a later round.
//!
//! Catching up. A round that repaired many keys (`ENTROPY_FOLLOW_UP_KEYS_MIN`: more than
//! writes in flight explain) is followed by another with the same peer as soon
//! as the rate limit allows (`ENTROPY_REPAIR_KEYS_PER_SECOND_MAX`: the next round starts no
//! earlier than the keys repaired divided by that rate after this one started), instead of a
//! whole interval later; rounds go on back to back while differences remain. A node that hears
//! of a member's new incarnation (or of a member for the first time, as when this node has just
//! started) starts a round with it at once: a restarted node is compared right away, from both
//! sides. The peer that answers lists the differing partitions from an offset that depends on
//! who asked, so that the rounds of different nodes repairing the same replica work on
//! different partitions.
//!
//! The limits bound what one round costs either side, so that repair cannot starve client
//! traffic; a partition with more than `ENTROPY_PARTITION_KEYS_MAX` keys (or whose key list
//! would not fit in one message) is not compared (counted in
//! `NodeStats::entropy_partitions_skipped`: a finer tree is the way past it).

use crate::ids::NodeId;
use crate::journal::Journal;
use crate::limits::{
    ENTROPY_FOLLOW_UP_KEYS_MIN, ENTROPY_FOLLOW_UP_SETTLE_MS, ENTROPY_KEYS_PER_EXCHANGE,
    ENTROPY_PARTITIONS_PER_ROUND, ENTROPY_PARTITION_KEYS_MAX, ENTROPY_PUSH_BYTES_MAX,
    ENTROPY_REPAIR_KEYS_PER_SECOND_MAX, MESSAGE_BYTES_MAX, PARTITIONS,
};
use crate::message::{KeyObject, Message};
use crate::node::{Config, NodeStats};
use crate::outbox::Outbox;
use crate::rebuild::Rebuild;
use crate::ring::Ring;
use crate::store::Store;
use crate::time::{Span, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The partitions `a` and `b` both replicate at the default N.
fn shared(ring: &Ring, config: &Config, a: NodeId, b: NodeId) -> Vec<u32> {
    let n = usize::from(config.n);
    (0..PARTITIONS)
        .filter(|p| {
            let replicas = ring.partition_replicas(*p, n);
            replicas.contains(&a) && replicas.contains(&b)
        })
        .collect()
}

/// A round this node started: with whom, when, and what it repaired so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStatus {
    pub peer: NodeId,
    pub started: Time,
    /// Keys whose copies this node sent to the peer, and asked of it, in this round.
    pub keys_pushed: u64,
    pub keys_pulled: u64,
}

/// What anti-entropy remembers between steps: the newest round this node started, and the
/// peer of the next one when it follows up or answers a restart.
#[derive(Debug, Default)]
pub(crate) struct Rounds {
    last: Option<RoundStatus>,
    next_peer: Option<NodeId>,
}

impl Rounds {
    /// The newest round this node started (still going on, or done).
    pub fn last(&self) -> Option<RoundStatus> {
        self.last
    }

    /// `peer` has just (re)started, or this node has just heard of it: compare with it next,
    /// unless a round with another peer is already due next.
    pub fn restarted(&mut self, peer: NodeId) {
        self.next_peer.get_or_insert(peer);
    }
}

/// The parts of a node anti-entropy reads and changes.
pub(crate) struct Entropy<'a> {
    pub me: NodeId,
    pub now: Time,
    pub config: &'a Config,
    pub ring: &'a Ring,
    pub store: &'a Store,
    pub journal: &'a mut Journal,
    pub outbox: &'a mut Outbox,
    pub stats: &'a mut NodeStats,
    pub rounds: &'a mut Rounds,
    /// The rebuild in progress, if any: its rounds go to the peers it waits for, as
    /// `EntropyRebuild`, and their `EntropyEqual` answers tell it where it caught up.
    pub rebuild: Option<&'a mut Rebuild>,
    /// This incarnation's id: a rebuild's rounds carry it, and its answers echo it.
    pub incarnation: u64,
}

impl Entropy<'_> {
    /// A round: this node's digests of the partitions it shares with one peer: the one a
    /// follow-up or a restart named, else one picked by `pick` (a draw of the node's RNG).
    pub fn round(&mut self, pick: u64) {
        let peers: Vec<NodeId> = self
            .config
            .nodes
            .iter()
            .copied()
            .filter(|n| *n != self.me)
            .collect();
        if peers.is_empty() {
            return;
        }
        let waiting = self.rebuild.as_ref().map(|r| r.peers_waiting());
        let peer = match (self.rounds.next_peer.take(), &waiting) {
            (Some(peer), _) if peers.contains(&peer) => peer,
            (_, Some(waiting)) if !waiting.is_empty() => {
                waiting[(pick % waiting.len() as u64) as usize]
            }
            _ => peers[(pick % peers.len() as u64) as usize],
        };
        let digests = shared(self.ring, self.config, self.me, peer)
            .into_iter()
            .map(|p| (p, self.store.digest(p)))
            .collect();
        let message = match waiting {
            Some(_) => Message::EntropyRebuild {
                incarnation: self.incarnation,
                digests,
            },
            None => Message::Entropy { digests },
        };
        self.stats.entropy_rounds += 1;
        self.rounds.last = Some(RoundStatus {
            peer,
            started: self.now,
            keys_pushed: 0,
            keys_pulled: 0,
        });
        self.outbox.send(peer, message);
    }

    /// A peer's digests: the key hashes of the partitions (that both replicate) that differ,
    /// listed from an offset that depends on the peer (see the module documentation).
    /// Returns the digests that were equal (a rebuilding peer is sent them back).
    pub fn digests(&mut self, from: NodeId, digests: Vec<(u32, u64)>) -> Vec<(u32, u64)> {
        let ours = shared(self.ring, self.config, self.me, from);
        let mut equal = Vec::new();
        let mut differing = Vec::new();
        for (partition, digest) in digests {
            if ours.binary_search(&partition).is_err() {
                continue;
            }
            match self.store.digest(partition) == digest {
                true => equal.push((partition, digest)),
                false => differing.push(partition),
            }
        }
        if differing.is_empty() {
            return equal;
        }
        let nodes = self.config.nodes.len().max(1);
        let place = self.config.nodes.iter().position(|n| *n == from);
        let offset = place.unwrap_or(0) * differing.len() / nodes;
        let rotated = differing[offset..].iter().chain(&differing[..offset]);
        for &partition in rotated.take(ENTROPY_PARTITIONS_PER_ROUND) {
            let hashes = self.store.partition_hashes(partition);
            // Each entry: the key, its length prefix and the hash (varints, at most 10 bytes).
            let bytes: usize = hashes.clone().map(|(k, _)| k.len() + 15).sum();
            if hashes.len() > ENTROPY_PARTITION_KEYS_MAX || bytes + 32 > MESSAGE_BYTES_MAX {
                self.stats.entropy_partitions_skipped += 1;
                continue;
            }
            let keys = hashes
                .map(|(k, h)| (serde_bytes::ByteBuf::from(k.clone()), h))
                .collect();
            self.outbox
                .send(from, Message::EntropyKeys { partition, keys });
        }
        equal
    }

    /// A peer's answer to this node's `EntropyRebuild`: where its digests were equal and
    /// still are (this node may have changed since it asked), the rebuild has caught up
    /// with that peer. An answer for another incarnation is ignored. Returns when the next
    /// round should start if the rebuild still waits for some peer.
    pub fn equal(
        &mut self,
        from: NodeId,
        incarnation: u64,
        digests: Vec<(u32, u64)>,
    ) -> Option<Time> {
        let rebuild = self
            .rebuild
            .as_mut()
            .filter(|_| incarnation == self.incarnation)?;
        for (partition, digest) in digests {
            if self.store.digest(partition) == digest {
                rebuild.caught_up(from, partition);
            }
        }
        let next = *rebuild.peers_waiting().first()?;
        self.rounds.next_peer.get_or_insert(next);
        Some(self.now + Span::from_millis(ENTROPY_FOLLOW_UP_SETTLE_MS))
    }

    /// A peer's key hashes of `partition`: push the keys it lacks or holds otherwise, pull
    /// those this replica lacks or holds otherwise (both, for a key held differently). If
    /// this answers the round in progress and repaired anything, returns when the next round
    /// with the same peer may start.
    pub fn keys(
        &mut self,
        from: NodeId,
        partition: u32,
        keys: Vec<(serde_bytes::ByteBuf, u64)>,
    ) -> Option<Time> {
        if shared(self.ring, self.config, self.me, from)
            .binary_search(&partition)
            .is_err()
            || keys.len() > ENTROPY_PARTITION_KEYS_MAX
        {
            return None;
        }
        let theirs: BTreeMap<Vec<u8>, u64> =
            keys.into_iter().map(|(k, h)| (k.into_vec(), h)).collect();
        let store = self.store;
        let ours = store.partition_hashes(partition);
        let mut budget = ENTROPY_KEYS_PER_EXCHANGE;
        let mut push = Vec::new();
        let mut pull = Vec::new();
        for (key, hash) in ours {
            if budget == 0 {
                break;
            }
            if theirs.get(key) != Some(&hash) {
                budget -= 1;
                push.push(key.clone());
                if theirs.contains_key(key) {
                    pull.push(serde_bytes::ByteBuf::from(key.clone()));
                }
            }
        }
        let held = |k: &[u8]| store.partition_hash(partition, k).is_some();
        for key in theirs.keys().filter(|k| !held(k)) {
            if budget == 0 {
                break;
            }
            budget -= 1;
            pull.push(serde_bytes::ByteBuf::from(key.clone()));
        }
        let (pushed, pulled) = (push.len() as u64, pull.len() as u64);
        self.push(from, push.iter().map(Vec::as_slice));
        self.stats.entropy_keys_pulled += pulled;
        if !pull.is_empty() {
            self.outbox.send(from, Message::EntropyPull { keys: pull });
        }
        let round = self.rounds.last.as_mut().filter(|r| r.peer == from)?;
        round.keys_pushed += pushed;
        round.keys_pulled += pulled;
        let repaired = round.keys_pushed + round.keys_pulled;
        // A rebuilding node follows up any repair: it needs to see the digests equal.
        let few = repaired < ENTROPY_FOLLOW_UP_KEYS_MIN && self.rebuild.is_none();
        if pushed + pulled == 0 || few {
            return None;
        }
        self.rounds.next_peer = Some(from);
        let micros = repaired.saturating_mul(1_000_000) / ENTROPY_REPAIR_KEYS_PER_SECOND_MAX;
        let allowed = round.started + Span(micros);
        Some(self.settled(allowed))
    }

    /// Copies arrived from `from`: if the next round follows up with it, let it wait until
    /// they have stopped arriving, so that its digests count them. Returns the new time of
    /// the next round, if it changes.
    pub fn copies_from(&mut self, from: NodeId, due: Option<Time>) -> Option<Time> {
        if self.rounds.next_peer != Some(from) {
            return None;
        }
        let due = due?;
        Some(self.settled(due))
    }

    /// When a follow-up round may start: not before `at`, nor before the round's answers and
    /// the copies it asked for have settled (`ENTROPY_FOLLOW_UP_SETTLE_MS` after the last
    /// arrived: the answers of one round come in several messages, and a round started
    /// between them would ask again about partitions being repaired), and no later than a
    /// regular round would start.
    fn settled(&self, at: Time) -> Time {
        let settle = Span::from_millis(ENTROPY_FOLLOW_UP_SETTLE_MS);
        let at = at.max(self.now + settle);
        match self.rounds.last {
            Some(round) => at.min(round.started + self.config.anti_entropy_interval),
            None => at,
        }
    }

    /// A peer asks for this replica's copies of `keys` (at most `ENTROPY_KEYS_PER_EXCHANGE`).
    pub fn pull(&mut self, from: NodeId, keys: Vec<serde_bytes::ByteBuf>) {
        let keys = keys.iter().take(ENTROPY_KEYS_PER_EXCHANGE);
        self.push(from, keys.map(|k| k.as_slice()));
    }

    /// Sends this replica's copies of `keys` to `to`, in `EntropyPush` messages of about
    /// `ENTROPY_PUSH_BYTES_MAX` each, every message once the copies it holds are durable.
    fn push<'k>(&mut self, to: NodeId, keys: impl Iterator<Item = &'k [u8]>) {
        let mut batch = Vec::new();
        let (mut bytes, mut written_at) = (0, 0);
        for key in keys {
            let Some(object) = self.store.get(key) else {
                continue;
            };
            let len = key.len() + crate::version::wire::object_len(object) + 10;
            if !batch.is_empty() && bytes + len > ENTROPY_PUSH_BYTES_MAX {
                self.send_batch(to, std::mem::take(&mut batch), written_at);
                (bytes, written_at) = (0, 0);
            }
            bytes += len;
            written_at = written_at.max(self.journal.written_at(key));
            batch.push(KeyObject {
                key: key.to_vec(),
                object: object.clone(),
            });
        }
        if !batch.is_empty() {
            self.send_batch(to, batch, written_at);
        }
    }

    fn send_batch(&mut self, to: NodeId, objects: Vec<KeyObject>, written_at: u64) {
        self.stats.entropy_keys_pushed += objects.len() as u64;
        let message = Message::EntropyPush { objects };
        self.journal
            .send_when_durable(written_at, to, message, self.outbox);
    }
}
