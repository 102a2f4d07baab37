//! `SET` on a node: Redis's overwrite, made of Tern writes that carry a context.
//!
//! A Tern write replaces exactly the versions its context covers. `SET key value` on a key
//! nobody else is setting through this node reads the key at quorum and writes with the
//! context it read, replacing every version the read showed. When several connections of
//! the node set the same key at once, they would each read the same versions and then
//! become siblings of one another, up to `SIBLINGS_MAX`, after which core refuses writes:
//! so the sets of one key on one node go through a *lane*. The first set of a key runs as
//! above; sets that arrive meanwhile queue in the lane, and are then written in batches of at
//! most `REDIS_LANE_BATCH_MAX`, each with the context the lane was last shown (the clock of
//! the objects the previous writes' replies carried, which the node showed this listener).
//! The writes of one batch are concurrent with each other, and so siblings, exactly as
//! concurrent Redis clients' sets are unordered; each later batch replaces them. A set that
//! is refused for too many siblings reads the key and tries again.
//!
//! `MSET` and multi-key `DEL` take turns per key instead (`BulkTurns`).
//!
//! Nothing here decides what a write replaces beyond choosing the context to send: core
//! applies it, replicates it and acknowledges it after W replicas synced it.

use super::commands::{refused, unexpected};
use super::frame::Reply;
use super::Caller;
use crate::limits::{REDIS_LANES_MAX, REDIS_LANE_BATCH_MAX, REDIS_SET_TRIES_MAX};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tern_core::{Op, Request, RequestError, Response, VectorClock};
use tokio::sync::oneshot;

/// A set waiting in a lane, and where its reply goes.
type Waiting = (Vec<u8>, oneshot::Sender<Reply>);

/// The lanes of one node's Redis listener: keys being set now, and the sets queued on each.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    lanes: Mutex<HashMap<Vec<u8>, Vec<Waiting>>>,
}

/// What the lanes make of a new set.
enum Turn {
    /// No set of this key is running: this one runs the lane.
    Lead,
    /// Queued behind the lane's current writes.
    Queued(oneshot::Receiver<Reply>),
    /// Too many keys have lanes: set this key on its own, by read then write.
    Alone,
}

impl Lanes {
    fn enter(&self, key: &[u8], value: Vec<u8>) -> Turn {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        if let Some(queue) = lanes.get_mut(key) {
            let (reply, answer) = oneshot::channel();
            queue.push((value, reply));
            return Turn::Queued(answer);
        }
        if lanes.len() >= REDIS_LANES_MAX {
            return Turn::Alone;
        }
        lanes.insert(key.to_vec(), Vec::new());
        Turn::Lead
    }

    /// The next batch of queued sets of `key`; none closes its lane.
    fn next_batch(&self, key: &[u8]) -> Vec<Waiting> {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let Some(queue) = lanes.get_mut(key) else {
            return Vec::new();
        };
        if queue.is_empty() {
            lanes.remove(key);
            return Vec::new();
        }
        let take = queue.len().min(REDIS_LANE_BATCH_MAX);
        queue.drain(..take).collect()
    }
}

/// `SET key value`: see the module documentation.
pub(crate) async fn set(caller: Arc<Caller>, key: Vec<u8>, value: Vec<u8>) -> Reply {
    let lanes = &caller.listener.lanes;
    match lanes.enter(&key, value.clone()) {
        Turn::Alone => read_then_write(&caller, &key, value).await.0,
        Turn::Queued(answer) => answer.await.unwrap_or_else(|_| {
            Reply::error("ERR internal error: the set's lane ended without an answer")
        }),
        Turn::Lead => {
            let (reply, mut clock) = read_then_write(&caller, &key, value).await;
            // Keep running the lane from another task: this set's client has its answer.
            let lead = caller.clone();
            tokio::spawn(async move {
                loop {
                    let batch = lead.listener.lanes.next_batch(&key);
                    if batch.is_empty() {
                        return;
                    }
                    clock = write_batch(&lead, &key, batch, clock).await;
                }
            });
            reply
        }
    }
}

/// Writes a batch of sets at once, each with `clock`; answers each; returns the clock the
/// replies showed (the lane's context for its next batch).
async fn write_batch(
    caller: &Arc<Caller>,
    key: &[u8],
    batch: Vec<Waiting>,
    clock: Option<VectorClock>,
) -> Option<VectorClock> {
    let writes: Vec<_> = batch
        .into_iter()
        .map(|(value, reply)| {
            let (caller, key, clock) = (caller.clone(), key.to_vec(), clock.clone());
            tokio::spawn(async move {
                let (answer, shown) = match clock {
                    Some(context) => write_with(&caller, &key, value, context).await,
                    None => read_then_write(&caller, &key, value).await,
                };
                let _ = reply.send(answer);
                shown
            })
        })
        .collect();
    let mut next: Option<VectorClock> = None;
    for write in writes {
        if let Ok(Some(shown)) = write.await {
            match &mut next {
                Some(clock) => clock.merge(&shown),
                None => next = Some(shown),
            }
        }
    }
    // A batch that showed nothing (every write failed) makes the next one read first.
    next
}

/// One write with `context`; on too many siblings, reads and writes again. The reply, and
/// the clock of the object the write's reply showed.
async fn write_with(
    caller: &Caller,
    key: &[u8],
    value: Vec<u8>,
    context: VectorClock,
) -> (Reply, Option<VectorClock>) {
    match write(caller, key, value.clone(), context).await {
        Err(RequestError::TooManySiblings { .. }) => read_then_write(caller, key, value).await,
        done => answer(done),
    }
}

/// Reads `key` at quorum, then writes `value` with the context read, up to
/// `REDIS_SET_TRIES_MAX` times while the write is refused for too many siblings.
async fn read_then_write(
    caller: &Caller,
    key: &[u8],
    value: Vec<u8>,
) -> (Reply, Option<VectorClock>) {
    let mut tries = 0;
    loop {
        tries += 1;
        let read = caller
            .call(Request::new(Op::Get { key: key.to_vec() }))
            .await;
        let context = match read {
            Ok(Ok(Response::Object(object))) => object.clock(),
            Ok(Ok(other)) => return (unexpected(&other), None),
            Ok(Err(error)) => return (read_failed("SET", refused(&error)), None),
            Err(lost) => return (read_failed("SET", super::commands::lost(lost, false)), None),
        };
        match write(caller, key, value.clone(), context).await {
            Err(RequestError::TooManySiblings { .. }) if tries < REDIS_SET_TRIES_MAX => {}
            done => return answer(done),
        }
    }
}

/// A write's outcome: the clock its reply showed, or why it failed (`Indeterminate` also
/// for a write the node stopped before confirming).
async fn write(
    caller: &Caller,
    key: &[u8],
    value: Vec<u8>,
    context: VectorClock,
) -> Result<VectorClock, RequestError> {
    let op = Op::Set {
        key: key.to_vec(),
        value,
        context,
    };
    match caller.call(Request::new(op)).await {
        Ok(Ok(Response::Written { object, .. })) => Ok(object.clock()),
        Ok(Ok(_)) => Err(RequestError::Indeterminate),
        Ok(Err(error)) => Err(error),
        Err(super::Lost::NotSent) => Err(RequestError::ShuttingDown),
        Err(super::Lost::NoAnswer) => Err(RequestError::Indeterminate),
    }
}

fn answer(done: Result<VectorClock, RequestError>) -> (Reply, Option<VectorClock>) {
    match done {
        Ok(clock) => (Reply::ok(), Some(clock)),
        Err(error) => (refused(&error), None),
    }
}

/// The keys an `MSET` or a multi-key `DEL` of this listener is reading and writing now.
///
/// Such a command reads its keys, then writes them all with the contexts read. Run at once
/// on the same keys through one node, each would read the same versions and then leave its
/// own value beside the others', as siblings: on a hot key they pile up past `SIBLINGS_MAX`,
/// and every bulk read of them then has that many bulk writes to check. So the bulk writes
/// of one listener take turns on each key: a command waits until no other one holds any of
/// its keys, taking them in key order (two commands never each wait for the other). Writes
/// through other nodes still meet as siblings, as `SET`s through several nodes do.
#[derive(Debug, Default)]
pub(crate) struct BulkTurns {
    keys: Mutex<HashMap<Vec<u8>, Arc<tokio::sync::Mutex<()>>>>,
}

/// The turns one bulk command holds; given back when dropped.
pub(crate) struct Held<'a> {
    turns: &'a BulkTurns,
    held: Vec<(Vec<u8>, tokio::sync::OwnedMutexGuard<()>)>,
}

impl BulkTurns {
    /// Waits for the turn of every key of `keys` and holds them all. A key beyond
    /// `REDIS_LANES_MAX` keys taking turns is written without waiting.
    pub(crate) async fn take(&self, keys: &[Vec<u8>]) -> Held<'_> {
        let mut sorted: Vec<&Vec<u8>> = keys.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut held = Vec::with_capacity(sorted.len());
        for key in sorted {
            let turn = {
                let mut turns = self.keys.lock().expect("bulk turns lock");
                match turns.get(key) {
                    Some(turn) => Some(turn.clone()),
                    None if turns.len() >= REDIS_LANES_MAX => None,
                    None => {
                        let turn = Arc::new(tokio::sync::Mutex::new(()));
                        turns.insert(key.clone(), turn.clone());
                        Some(turn)
                    }
                }
            };
            if let Some(turn) = turn {
                held.push((key.clone(), turn.lock_owned().await));
            }
        }
        Held { turns: self, held }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut turns = self.turns.keys.lock().expect("bulk turns lock");
        for (key, guard) in self.held.drain(..) {
            drop(guard);
            // Nobody else holds or waits for it (they clone it under this lock): forget it.
            if turns
                .get(&key)
                .is_some_and(|turn| Arc::strong_count(turn) == 1)
            {
                turns.remove(&key);
            }
        }
    }
}

/// The read before a write (SET, MSET, DEL) failed: say that nothing was written.
pub(crate) fn read_failed(command: &str, reply: Reply) -> Reply {
    let Reply::Error(message) = reply else {
        return reply;
    };
    let (kind, why) = message.split_once(' ').unwrap_or(("ERR", &message));
    let said = if why.contains("nothing was") {
        ""
    } else {
        "; nothing was written"
    };
    Reply::error(format!(
        "{kind} {command} reads before it writes, and the read failed: {why}{said}"
    ))
}
