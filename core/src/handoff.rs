//! Hinted handoff: a replica that missed a write gets the key handed over once it is back.
//!
//! When a write ends (acknowledged, or indeterminate at its deadline) with replicas that
//! never acknowledged it, the coordinator reports them (`Coordinator::take_missed`), and this
//! part keeps a hint per (peer, key): a `Hint` record in the log, so that hints survive a
//! crash, and an entry in memory. A hint names a key, not a version: when it is handed over,
//! the peer gets this node's current copy of the key (durable), which holds the missed write
//! or a successor of it. So a key written a thousand times while a peer was down is one hint,
//! and a hint can never bring back a version that a later write (or a collected tombstone)
//! replaced.
//!
//! Every `handoff_interval`, for each peer the failure detector holds up, the node tops up
//! that peer's window of keys in flight to `HINTS_IN_FLIGHT_PER_PEER_MAX` (the throttle),
//! each as a `Replicate` with a request id of its own. The peer merges it as any replicated
//! write and acknowledges once it is durable; the hint is then done (a `HintDone` record).
//! A key in flight whose acknowledgement does not come within `request_timeout` goes again
//! in a later round. Hints never count toward any quorum: the write they came from was
//! answered before they existed.
//!
//! A hint is also done when anti-entropy finds the peer's digest of the key's partition equal
//! to this node's (`settled`): the peer then holds every version this node holds of every
//! key there, so handing the key over would send it nothing new. After an outage, anti-entropy
//! (or the peer's rebuild) usually repairs the peer long before the throttled handoff would.
//!
//! A peer holds at most `HINTS_PER_PEER_MAX` hinted keys; a write that would add one more is
//! not hinted, and is counted in `NodeStats::hints_dropped` (anti-entropy repairs it).

use crate::ids::{NodeId, RequestId};
use crate::journal::Journal;
use crate::limits::{HINTS_IN_FLIGHT_PER_PEER_MAX, HINTS_PER_PEER_MAX};
use crate::log::Record;
use crate::message::Message;
use crate::node::NodeStats;
use crate::outbox::Outbox;
use crate::ring::partition_of;
use crate::store::Store;
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet};

/// Every hint this node keeps, and the hinted keys on their way.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// Hinted keys by peer: the log's `Hint` records not followed by `HintDone`.
    hints: BTreeMap<NodeId, BTreeSet<Vec<u8>>>,
    /// Keys handed over and not acknowledged yet: request id to (peer, key, deadline).
    in_flight: BTreeMap<RequestId, (NodeId, Vec<u8>, Time)>,
    /// The same keys by peer, so that a round sends none of them twice.
    sending: BTreeSet<(NodeId, Vec<u8>)>,
}

/// What a handoff round needs of its node for one step.
pub(crate) struct Round<'a> {
    pub now: Time,
    pub store: &'a Store,
    pub journal: &'a mut Journal,
    pub outbox: &'a mut Outbox,
    pub stats: &'a mut NodeStats,
}

impl Handoff {
    /// The hints recovery found in the log.
    pub fn new(hints: BTreeMap<NodeId, BTreeSet<Vec<u8>>>) -> Handoff {
        Handoff {
            hints,
            ..Handoff::default()
        }
    }

    /// Appends a `Hint` record for every pending hint: a compaction snapshot's share.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        for (peer, keys) in &self.hints {
            for key in keys {
                let (peer, key) = (*peer, key.clone());
                Record::Hint { peer, key }.encode_into(out);
            }
        }
    }

    /// Hinted keys waiting for each peer that has any.
    pub fn backlog(&self) -> Vec<(NodeId, usize)> {
        let waiting = self.hints.iter().filter(|(_, keys)| !keys.is_empty());
        waiting.map(|(peer, keys)| (*peer, keys.len())).collect()
    }

    /// `peer` missed a write of `key`: keep a hint, unless the peer's hints are full.
    pub fn add(
        &mut self,
        peer: NodeId,
        key: Vec<u8>,
        journal: &mut Journal,
        stats: &mut NodeStats,
    ) {
        if self.sending.remove(&(peer, key.clone())) {
            // A copy older than this write is on its way: its acknowledgement must not end
            // the hint, so the handover is forgotten and the key goes again.
            self.in_flight
                .retain(|_, (p, k, _)| !(*p == peer && *k == key));
        }
        let keys = self.hints.entry(peer).or_default();
        if keys.contains(&key) {
            return;
        }
        if keys.len() >= HINTS_PER_PEER_MAX {
            stats.hints_dropped += 1;
            return;
        }
        journal.append_hint(&Record::Hint {
            peer,
            key: key.clone(),
        });
        keys.insert(key);
        stats.hints_stored += 1;
    }

    /// Hands hinted keys over to the peers in `up`, at most `HINTS_IN_FLIGHT_PER_PEER_MAX`
    /// in flight per peer. `next_id` gives each handover its request id; a handover not
    /// acknowledged by `deadline` is sent again by a later round.
    pub fn round(
        &mut self,
        round: Round<'_>,
        up: &[NodeId],
        deadline: Time,
        mut next_id: impl FnMut() -> RequestId,
    ) {
        let now = round.now;
        let expired: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, (_, _, at))| *at <= now)
            .map(|(req, _)| *req)
            .collect();
        for req in expired {
            if let Some((peer, key, _)) = self.in_flight.remove(&req) {
                self.sending.remove(&(peer, key));
            }
        }
        for peer in up {
            let Some(keys) = self.hints.get_mut(peer) else {
                continue;
            };
            let busy = self
                .sending
                .range((*peer, Vec::new())..)
                .take_while(|(p, _)| p == peer)
                .count();
            let room = HINTS_IN_FLIGHT_PER_PEER_MAX.saturating_sub(busy);
            let ready: Vec<Vec<u8>> = keys
                .iter()
                .filter(|k| !self.sending.contains(&(*peer, (*k).clone())))
                .take(room)
                .cloned()
                .collect();
            for key in ready {
                let Some(object) = round.store.get(&key) else {
                    // Collected since: nothing is left to hand over.
                    keys.remove(&key);
                    let done = Record::HintDone { peer: *peer, key };
                    round.journal.append_hint(&done);
                    continue;
                };
                let req = next_id();
                let message = Message::Replicate {
                    req,
                    key: key.clone(),
                    object: object.clone(),
                };
                let written_at = round.journal.written_at(&key);
                round
                    .journal
                    .send_when_durable(written_at, *peer, message, round.outbox);
                self.sending.insert((*peer, key.clone()));
                self.in_flight.insert(req, (*peer, key, deadline));
                round.stats.hints_sent += 1;
            }
        }
    }

    /// An acknowledgement of `req` from `from`: true if it was a handover (the hint is then
    /// done), false if the coordinator should take it.
    pub fn acked(
        &mut self,
        from: NodeId,
        req: RequestId,
        journal: &mut Journal,
        stats: &mut NodeStats,
    ) -> bool {
        let Some((peer, key, _)) = self.in_flight.remove(&req) else {
            return false;
        };
        self.sending.remove(&(peer, key.clone()));
        if peer == from && self.hints.get_mut(&peer).is_some_and(|k| k.remove(&key)) {
            journal.append_hint(&Record::HintDone { peer, key });
            stats.hints_delivered += 1;
        }
        true
    }

    /// `peer`'s digests of `partitions` were equal to this node's when its anti-entropy
    /// message arrived: it holds what this node holds of every key there, so its hints for
    /// those keys are done (those in flight are left to their acknowledgement).
    pub fn settled(
        &mut self,
        peer: NodeId,
        partitions: &BTreeSet<u32>,
        journal: &mut Journal,
        stats: &mut NodeStats,
    ) {
        if partitions.is_empty() {
            return;
        }
        let Some(keys) = self.hints.get_mut(&peer) else {
            return;
        };
        let sending = &self.sending;
        let done: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| partitions.contains(&partition_of(k)))
            .filter(|k| !sending.contains(&(peer, (*k).clone())))
            .cloned()
            .collect();
        for key in done {
            keys.remove(&key);
            journal.append_hint(&Record::HintDone { peer, key });
            stats.hints_settled += 1;
        }
    }

    /// Forgets what is in flight: the node is stopping (the hints stay in the log).
    pub fn stop(&mut self) {
        self.in_flight.clear();
        self.sending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_peer_drops_new_hints_and_counts_them() {
        let (mut handoff, mut journal) = (
            Handoff::default(),
            Journal::new(crate::ids::LogRef { started: 0, id: 1 }, 0, 0),
        );
        let mut stats = NodeStats::default();
        let peer = NodeId(2);
        for i in 0..HINTS_PER_PEER_MAX + 5 {
            let key = format!("k{i}").into_bytes();
            handoff.add(peer, key, &mut journal, &mut stats);
        }
        // The same key again is one hint, not a drop.
        handoff.add(peer, b"k0".to_vec(), &mut journal, &mut stats);
        assert_eq!(handoff.backlog(), [(peer, HINTS_PER_PEER_MAX)]);
        assert_eq!(stats.hints_stored, HINTS_PER_PEER_MAX as u64);
        assert_eq!(stats.hints_dropped, 5);
        // Another peer has room of its own.
        handoff.add(NodeId(3), b"k0".to_vec(), &mut journal, &mut stats);
        assert_eq!(handoff.backlog().len(), 2);
    }
}
