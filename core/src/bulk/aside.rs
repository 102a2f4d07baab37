//! The replica side of bulk writes: versions kept aside until their bulk write is decided,
//! promises never to keep some (`Refused`), and the answers to prepares, resolutions and
//! bulk reads' fetches. Every answer waits until the log bytes it speaks for are durable.

use crate::ids::{NodeId, RequestId};
use crate::limits::{
    BULK_ASIDE_MAX, BULK_KEYS_MAX, BULK_REFUSALS_MAX, KEY_BYTES_MAX, OBJECT_BYTES_MAX,
    SIBLINGS_DECODE_MAX,
};
use crate::log::Record;
use crate::message::{BulkStage, KeyObject, Message};
use crate::replica::{Replica, Reserved};
use crate::store::Store;
use crate::time::{Span, Time};
use crate::version::{ActorId, BulkKeys, Dot, Object, VectorClock};
use std::collections::{BTreeMap, BTreeSet};

/// A bulk write's version of one key, kept aside (with the earlier versions of its actor
/// that travel with it, `Message::Prepare`).
#[derive(Clone, Debug)]
pub(crate) struct Kept {
    pub object: Object,
    pub n: u8,
    pub w: u8,
    /// When it was kept (or recovered): its resolution starts a window later.
    since: Time,
    /// The log length its `Aside` record ends at (0 once recovered: durable).
    end: u64,
    /// A resolution of it is running here.
    resolving: bool,
}

/// Versions kept aside and refusals, by (key, dot).
#[derive(Debug, Default)]
pub(crate) struct Aside {
    kept: BTreeMap<(Vec<u8>, Dot), Kept>,
    /// When each refusal was promised (or recovered), and the log length its record ends at.
    refused: BTreeMap<(Vec<u8>, Dot), (Time, u64)>,
}

type Entry = (Vec<u8>, Dot);

impl Aside {
    /// What recovery found, less the versions their key's object has seen (committed
    /// since) and those a collection of the key's tombstones covered: they were replaced
    /// before the collection, and a version kept aside is forgotten once its key has seen
    /// it, in memory only (`ripe`); its `Aside` record may still be in the log.
    pub fn recovered(
        aside: BTreeMap<Entry, (Object, u8, u8)>,
        refused: BTreeSet<Entry>,
        store: &Store,
        collected: &BTreeMap<Vec<u8>, VectorClock>,
    ) -> Aside {
        let seen = |key: &[u8], dot: Dot| {
            store.get(key).is_some_and(|o| o.has_seen(dot))
                || collected.get(key).is_some_and(|c| c.covers(dot))
        };
        let kept = aside
            .into_iter()
            .filter(|((key, dot), _)| !seen(key, *dot))
            .map(|(entry, (object, n, w))| {
                let kept = Kept {
                    object,
                    n,
                    w,
                    since: Time::ZERO,
                    end: 0,
                    resolving: false,
                };
                (entry, kept)
            })
            .collect();
        let refused = refused.into_iter().map(|e| (e, (Time::ZERO, 0))).collect();
        Aside { kept, refused }
    }

    /// Restarts every window at `now`: the first time the node hears the time.
    pub fn restamp(&mut self, now: Time) {
        for kept in self.kept.values_mut() {
            kept.since = now;
        }
        for (since, _) in self.refused.values_mut() {
            *since = now;
        }
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// The room `key`'s copy must keep free for the versions kept aside for it, but those
    /// `skip` names (a version being merged now, or one the incoming object has seen, which
    /// is forgotten once merged). Nothing, at no cost, while nothing is kept aside.
    pub fn reserved(&self, key: &[u8], skip: impl Fn(Dot) -> bool) -> Reserved {
        let mut reserved = Reserved::default();
        if self.kept.is_empty() {
            return reserved;
        }
        let from = (key.to_vec(), LOWEST_DOT);
        let same_key = self.kept.range(from..).take_while(|((k, _), _)| k == key);
        for ((_, dot), kept) in same_key {
            if !skip(*dot) {
                reserved.siblings += kept.object.siblings().len();
                reserved.bytes += kept.object.encoded_bytes();
            }
        }
        reserved
    }

    /// Appends an `Aside` record for every version kept and a `Refused` record for every
    /// promise: a compaction snapshot's share of this part.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        for ((key, dot), kept) in &self.kept {
            let record = Record::Aside {
                key: key.clone(),
                dot: *dot,
                object: kept.object.clone(),
                n: kept.n,
                w: kept.w,
            };
            record.encode_into(out);
        }
        for (key, dot) in self.refused.keys() {
            let record = Record::Refused {
                key: key.clone(),
                dot: *dot,
            };
            record.encode_into(out);
        }
    }

    /// `Prepare`: keeps every item's object aside, durably, and answers `Prepared` once all
    /// are (`ok: false` at once if one is refused).
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &mut self,
        replica: &mut Replica<'_>,
        now: Time,
        from: NodeId,
        req: RequestId,
        dot: Dot,
        (n, w): (u8, u8),
        items: Vec<KeyObject>,
    ) {
        let mut at = 0;
        for KeyObject { key, object } in items {
            match self.keep(replica, now, key, dot, object, (n, w)) {
                Some(end) => at = at.max(end),
                None => {
                    replica.stats.replicate_refused += 1;
                    let answer = Message::Prepared { req, ok: false };
                    return replica.outbox.send(from, answer);
                }
            }
        }
        let answer = Message::Prepared { req, ok: true };
        replica
            .journal
            .send_when_durable(at, from, answer, replica.outbox);
    }

    /// Keeps `object` (bulk write `dot`'s version of `key`, and what travels with it) aside,
    /// durably; the log length that must be durable before saying so, or `None` if refused.
    fn keep(
        &mut self,
        replica: &mut Replica<'_>,
        now: Time,
        key: Vec<u8>,
        dot: Dot,
        object: Object,
        (n, w): (u8, u8),
    ) -> Option<u64> {
        // The bulk write's keys as its coordinator sends them: sorted, distinct, at most
        // `BULK_KEYS_MAX`, this key among them (resolution asks every one of them).
        let names_key = bulk_keys(&object, dot).is_some_and(|keys| {
            keys.len() <= BULK_KEYS_MAX
                && keys.windows(2).all(|w| w[0] < w[1])
                && keys.binary_search(&key).is_ok()
        });
        if !names_key || object.fits().is_err() || key.len() > KEY_BYTES_MAX || w == 0 || w > n {
            return None;
        }
        let entry = (key, dot);
        if self.refused.contains_key(&entry) {
            return None;
        }
        let (key, dot) = entry;
        if replica.store.get(&key).is_some_and(|o| o.has_seen(dot)) {
            return Some(replica.journal.written_at(&key));
        }
        if let Some(kept) = self.kept.get(&(key.clone(), dot)) {
            return Some(kept.end);
        }
        // Refused now rather than at commit: a decided bulk write whose version a replica
        // cannot merge would show on its other keys and never on this one. Room is left for
        // the other versions kept aside for the key, and later merges leave room for this
        // one (`Reserved`), so every commit fits.
        let reserved = self.reserved(&key, |_| false);
        let copy = replica.store.get(&key);
        if !merge_fits(copy.unwrap_or(&Object::new()), &object, reserved) {
            return None;
        }
        if self.kept.len() >= BULK_ASIDE_MAX {
            return None;
        }
        let record = Record::Aside {
            key: key.clone(),
            dot,
            object: object.clone(),
            n,
            w,
        };
        let end = replica.journal.append_bulk(&record);
        let kept = Kept {
            object,
            n,
            w,
            since: now,
            end,
            resolving: false,
        };
        self.kept.insert((key, dot), kept);
        replica.stats.bulk_kept_aside = self.kept.len() as u64;
        Some(end)
    }

    /// `Commit`: merges every item's object into its key's copy, and acknowledges once
    /// all are durable (never, if one is refused: as a `Replicate` would be).
    pub fn commit(
        &mut self,
        replica: &mut Replica<'_>,
        from: NodeId,
        req: RequestId,
        items: Vec<KeyObject>,
    ) {
        let items = items.into_iter().map(|i| (i.key, i.object)).collect();
        self.merge_then_ack(replica, from, req, 0, items);
    }

    /// `CommitKept`: merges the version of `dot` kept aside for each of `keys` into its
    /// key's copy, exactly as `commit` merges the same versions sent again, and
    /// acknowledges once all are durable. A key whose copy has seen `dot` already counts
    /// once that copy is durable. If one is held neither aside nor merged (the replica lost
    /// its disk since it said `Prepared`), or does not fit, there is no acknowledgement: the
    /// coordinator's resend carries the versions (`Commit`).
    pub fn commit_kept(
        &mut self,
        replica: &mut Replica<'_>,
        from: NodeId,
        req: RequestId,
        dot: Dot,
        keys: Vec<Vec<u8>>,
    ) {
        let mut at = 0;
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            if replica.store.get(&key).is_some_and(|o| o.has_seen(dot)) {
                at = at.max(replica.journal.written_at(&key));
                continue;
            }
            let entry = (key, dot);
            let Some(object) = self.kept.get(&entry).map(|kept| kept.object.clone()) else {
                return;
            };
            items.push((entry.0, object));
        }
        self.merge_then_ack(replica, from, req, at, items);
    }

    /// Merges each object into its key's copy and acknowledges `req` once they, and the
    /// log up to `at`, are durable; no acknowledgement if one does not fit.
    fn merge_then_ack(
        &mut self,
        replica: &mut Replica<'_>,
        from: NodeId,
        req: RequestId,
        mut at: u64,
        items: Vec<(Vec<u8>, Object)>,
    ) {
        for (key, object) in items {
            let reserved = self.reserved(&key, |dot| object.has_seen(dot));
            let merged = replica.merge(key.clone(), object, reserved);
            self.forget_seen(replica.store, &key);
            match merged {
                Some(end) => at = at.max(end),
                None => return,
            }
        }
        replica.stats.bulk_kept_aside = self.kept.len() as u64;
        let answer = Message::ReplicateAck { req };
        replica
            .journal
            .send_when_durable(at, from, answer, replica.outbox);
    }

    /// Forgets the versions of `key` kept aside that its object has seen (a commit just
    /// merged them): at once, as `ripe` would at the next round, so that under a steady
    /// stream of bulk writes `kept` holds the ones in flight, not every one of the last
    /// `anti_entropy_interval`.
    fn forget_seen(&mut self, store: &Store, key: &[u8]) {
        let Some(object) = store.get(key) else {
            return;
        };
        let seen: Vec<Dot> = self
            .kept
            .range((key.to_vec(), LOWEST_DOT)..)
            .take_while(|((k, _), _)| k.as_slice() == key)
            .filter(|((_, dot), _)| object.has_seen(*dot))
            .map(|((_, dot), _)| *dot)
            .collect();
        for dot in seen {
            self.kept.remove(&(key.to_vec(), dot));
        }
    }

    /// `BulkAsk`: where the bulk write `dot` stands here for `key`. A replica holding nothing
    /// of it promises never to keep it before it says so; a rebuilding one cannot speak for
    /// what it held, and answers `Unknown`.
    #[allow(clippy::too_many_arguments)]
    pub fn ask(
        &mut self,
        replica: &mut Replica<'_>,
        now: Time,
        rebuilding: bool,
        from: NodeId,
        req: RequestId,
        key: Vec<u8>,
        dot: Dot,
    ) {
        let (state, at) = if replica.store.get(&key).is_some_and(|o| o.has_seen(dot)) {
            (BulkStage::Committed, replica.journal.written_at(&key))
        } else if let Some(kept) = self.kept.get(&(key.clone(), dot)) {
            (BulkStage::Prepared, kept.end)
        } else if let Some((_, end)) = self.refused.get(&(key.clone(), dot)) {
            (BulkStage::Refused, *end)
        } else if rebuilding || self.refused.len() >= BULK_REFUSALS_MAX {
            (BulkStage::Unknown, 0)
        } else {
            (BulkStage::Refused, self.refuse(replica, now, key, dot))
        };
        let answer = Message::BulkState { req, state };
        replica
            .journal
            .send_when_durable(at, from, answer, replica.outbox);
    }

    /// Logs and remembers a promise never to keep `dot`'s version of `key`; returns the log
    /// length it ends at.
    fn refuse(&mut self, replica: &mut Replica<'_>, now: Time, key: Vec<u8>, dot: Dot) -> u64 {
        let record = Record::Refused {
            key: key.clone(),
            dot,
        };
        let end = replica.journal.append_bulk(&record);
        self.refused.insert((key, dot), (now, end));
        end
    }

    /// `BulkDecided`: commits the version kept aside, or forgets it and refuses it.
    pub fn decided(
        &mut self,
        replica: &mut Replica<'_>,
        now: Time,
        key: Vec<u8>,
        dot: Dot,
        commit: bool,
    ) {
        let entry = (key, dot);
        let kept = self.kept.remove(&entry);
        replica.stats.bulk_kept_aside = self.kept.len() as u64;
        let (key, dot) = entry;
        if commit {
            if let Some(kept) = kept {
                let reserved = self.reserved(&key, |d| kept.object.has_seen(d));
                replica.merge(key, kept.object, reserved);
            }
        } else if !self.refused.contains_key(&(key.clone(), dot))
            && !replica.store.get(&key).is_some_and(|o| o.has_seen(dot))
        {
            self.refuse(replica, now, key, dot);
        }
    }

    /// `BulkFetch`: a bulk read saw `dot` on another key, so the bulk write is decided. A
    /// version kept aside is committed here at once; the answer is this replica's copy of
    /// the key, once durable.
    pub fn fetch(
        &mut self,
        replica: &mut Replica<'_>,
        from: NodeId,
        req: RequestId,
        key: Vec<u8>,
        dot: Dot,
    ) {
        if let Some(kept) = self.kept.remove(&(key.clone(), dot)) {
            replica.stats.bulk_kept_aside = self.kept.len() as u64;
            let reserved = self.reserved(&key, |d| kept.object.has_seen(d));
            replica.merge(key.clone(), kept.object, reserved);
        }
        let object = replica.store.get(&key).cloned().unwrap_or_default();
        let at = replica.journal.written_at(&key);
        let answer = Message::BulkFetched { req, object };
        replica
            .journal
            .send_when_durable(at, from, answer, replica.outbox);
    }

    /// Versions kept aside for at least `after` and not being resolved, at most `max`: each
    /// is marked as being resolved. Versions the key's object has seen are forgotten, and
    /// refusals older than `refusals_kept` too.
    pub fn ripe(
        &mut self,
        store: &Store,
        now: Time,
        after: Span,
        refusals_kept: Span,
        max: usize,
    ) -> Vec<(Vec<u8>, Dot, Kept)> {
        self.kept
            .retain(|(key, dot), _| !store.get(key).is_some_and(|o| o.has_seen(*dot)));
        self.refused
            .retain(|_, (since, _)| now.since(*since).micros() < refusals_kept.micros());
        let mut ripe = Vec::new();
        for ((key, dot), kept) in self.kept.iter_mut() {
            if ripe.len() >= max {
                break;
            }
            if !kept.resolving && now.since(kept.since).micros() >= after.micros() {
                kept.resolving = true;
                ripe.push((key.clone(), *dot, kept.clone()));
            }
        }
        ripe
    }

    /// A resolution of `dot`'s version of `key` ended undecided: it may run again.
    pub fn unresolved(&mut self, key: &[u8], dot: Dot) {
        if let Some(kept) = self.kept.get_mut(&(key.to_vec(), dot)) {
            kept.resolving = false;
        }
    }
}

/// The lowest dot: where a key's versions kept aside begin in `Aside::kept`.
const LOWEST_DOT: Dot = Dot {
    actor: ActorId {
        node: NodeId(0),
        incarnation: 0,
    },
    seq: 0,
};

/// The keys of bulk write `dot`, from its version in `object`.
pub(crate) fn bulk_keys(object: &Object, dot: Dot) -> Option<&BulkKeys> {
    let sibling = object.siblings().iter().find(|s| s.dot == dot)?;
    sibling.bulk.as_ref()
}

/// Whether `object` merged into `copy` would fit (`Object::fits`) and leave `reserved`
/// free. The sums of siblings and of encoded bytes bound the merge's, so only a copy near
/// the limits pays for a trial merge.
fn merge_fits(copy: &Object, object: &Object, reserved: Reserved) -> bool {
    let siblings = copy.siblings().len() + object.siblings().len() + reserved.siblings;
    let bytes = copy.encoded_bytes() + object.encoded_bytes() + reserved.bytes;
    if siblings <= SIBLINGS_DECODE_MAX && bytes <= OBJECT_BYTES_MAX {
        return true;
    }
    let mut merged = copy.clone();
    merged.merge(object);
    merged.fits().is_ok() && reserved.leaves_room(&merged)
}
