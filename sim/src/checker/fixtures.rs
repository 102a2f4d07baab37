//! Histories for the checkers' tests: one key, one actor, versions named by sequence.

use super::{
    Attempt, AttemptOutcome, BulkItemRecord, BulkWriteRecord, Observed, Provenance, Versions,
    WriteRecord,
};
use std::collections::BTreeSet;
use tern_core::{ActorId, Dot, NodeId, Object, Sibling, Time, VectorClock};

pub(super) fn dot(seq: u64) -> Dot {
    Dot {
        actor: ActorId {
            node: NodeId(1),
            incarnation: 1,
        },
        seq,
    }
}

pub(super) fn write(seq: u64, value: &[u8], ack: u64) -> WriteRecord {
    WriteRecord {
        key: b"k".to_vec(),
        dot: dot(seq),
        value: Some(value.to_vec()),
        start: Time(ack - 1),
        ack: Time(ack),
    }
}

pub(super) fn object(seq: u64, value: &[u8], context: VectorClock) -> Object {
    Object::single(Sibling {
        bulk: None,
        dot: dot(seq),
        context,
        value: Some(value.to_vec()),
    })
}

pub(super) fn written(values: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    values.iter().map(|v| v.to_vec()).collect()
}

/// A history: who wrote what with which context, and what each client was shown.
#[derive(Default)]
pub(super) struct Story {
    pub(super) attempts: Vec<Attempt>,
    pub(super) observed: Observed,
    pub(super) versions: Versions,
}

impl Story {
    /// Client `client` writes `value` (request `request`) with `context`, acknowledged
    /// as dot `seq`; it sees its own write.
    pub(super) fn write(
        &mut self,
        client: u32,
        request: u64,
        seq: u64,
        value: &[u8],
        context: VectorClock,
    ) {
        self.attempts.push(Attempt {
            client,
            request,
            key: b"k".to_vec(),
            context: context.clone(),
            value: Some(value.to_vec()),
            dot: Some(dot(seq)),
            outcome: AttemptOutcome::Acknowledged,
            start: Time(request * 10),
            end: Some(Time(request * 10 + 5)),
        });
        self.show(client, request, seq, value, context);
    }

    /// The reply to `client`'s request `request` shows it the version `seq`.
    pub(super) fn show(
        &mut self,
        client: u32,
        request: u64,
        seq: u64,
        value: &[u8],
        context: VectorClock,
    ) {
        self.observed
            .entry(b"k".to_vec())
            .or_default()
            .entry(client)
            .or_default()
            .entry(dot(seq))
            .or_insert(request);
        self.versions.entry(b"k".to_vec()).or_default().insert(
            dot(seq),
            Sibling {
                bulk: None,
                dot: dot(seq),
                context,
                value: Some(value.to_vec()),
            },
        );
    }

    pub(super) fn provenance(&self) -> Provenance<'_> {
        Provenance {
            attempts: &self.attempts,
            observed: &self.observed,
            versions: &self.versions,
        }
    }
}

pub(super) fn covering(seqs: &[u64]) -> VectorClock {
    let mut context = VectorClock::new();
    for seq in seqs {
        context.add(dot(*seq));
    }
    context
}

/// A version of bulk write `seq` over `keys` (given in any order).
pub(super) fn bulk_sibling(
    seq: u64,
    value: &[u8],
    keys: &[&[u8]],
    context: VectorClock,
) -> Sibling {
    let mut keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    keys.sort();
    Sibling {
        bulk: Some(keys.into()),
        dot: dot(seq),
        context,
        value: Some(value.to_vec()),
    }
}

pub(super) fn bulk_object(seq: u64, value: &[u8], keys: &[&[u8]], context: VectorClock) -> Object {
    Object::single(bulk_sibling(seq, value, keys, context))
}

/// Bulk write `seq` of `keys` by client 0, acknowledged at `ack` (`ack` 0: never, its
/// outcome unknown).
pub(super) fn bulk_write(seq: u64, keys: &[&[u8]], ack: u64) -> BulkWriteRecord {
    let acknowledged = ack > 0;
    BulkWriteRecord {
        client: 0,
        request: seq,
        items: keys
            .iter()
            .map(|k| BulkItemRecord {
                key: k.to_vec(),
                value: Some([*k, &b"-"[..], seq.to_string().as_bytes()].concat()),
                context: VectorClock::new(),
            })
            .collect(),
        dot: acknowledged.then(|| dot(seq)),
        outcome: if acknowledged {
            AttemptOutcome::Acknowledged
        } else {
            AttemptOutcome::Unknown
        },
        start: Time(1),
        end: Some(Time(ack.max(2))),
    }
}
