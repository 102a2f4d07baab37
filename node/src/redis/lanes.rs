//! `SET` on a node, and the turns of `MSET` and multi-key `DEL`.
//!
//! `SET key value` is one `Op::Replace`: the key's replica that coordinates it writes the
//! value with the context of everything it holds of the key, in one round trip
//! (docs/CONTRACT.md, "Overwrites"). Sets of one key through one node replace each other
//! in the order the replica applies them; a version that replica has not received yet (a
//! set through another node, still on its way) stays a sibling, and `GET` shows the one
//! with the greatest dot.
//!
//! `MSET` and multi-key `DEL` read their keys first and write with the contexts read, so
//! they take turns per key (`BulkTurns`).
//!
//! Nothing here decides what a write replaces beyond choosing the op: core applies it,
//! replicates it and acknowledges it after W replicas synced it.

use super::commands::refused;
use super::frame::Reply;
use super::Caller;
use crate::limits::REDIS_LANES_MAX;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tern_core::{Op, Request, RequestError, Response};

/// `SET key value`: see the module documentation.
pub(crate) async fn set(caller: Arc<Caller>, key: Vec<u8>, value: Vec<u8>) -> Reply {
    let op = Op::Replace {
        key,
        value: Some(value),
    };
    match caller.call(Request::new(op)).await {
        Ok(Ok(Response::Written { .. })) => Reply::ok(),
        Ok(Ok(_)) => refused(&RequestError::Indeterminate),
        Ok(Err(error)) => refused(&error),
        Err(lost) => super::commands::lost(lost, true),
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
