//! The multi-key commands' one bulk request each (docs/REDIS.md, "Multi-key commands"):
//! `MGET` one read-atomic bulk read; `MSET` and `DEL` of several keys a bulk read for the
//! contexts, then one atomic bulk write, taking turns per key (`lanes::BulkTurns`).

use super::commands::{call, lost, refused, unexpected};
use super::frame::Reply;
use super::lanes::read_failed;
use super::{Caller, Lost};
use tern_core::limits::BULK_KEYS_MAX;
use tern_core::{BulkItem, Object, Op, Request, RequestError, Response};

/// Keys named once each, in the order first named.
pub(super) fn distinct(keys: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut seen = std::collections::BTreeSet::new();
    keys.into_iter()
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

/// A multi-key command over the keys one bulk request may name: refused, nothing done.
pub(super) fn too_many_keys(command: &str, count: usize) -> Reply {
    Reply::error(format!(
        "ERR {command} of {count} distinct keys is over Tern's limit of {BULK_KEYS_MAX} keys in one atomic request (BULK_KEYS_MAX); nothing was done; split it"
    ))
}

/// Every key's merged versions from one read-atomic bulk read, in the order of `keys`
/// (distinct, at most `BULK_KEYS_MAX`).
pub(super) async fn bulk_get(caller: &Caller, keys: &[Vec<u8>]) -> Result<Vec<Object>, Reply> {
    let op = Op::BulkGet {
        keys: keys.iter().map(|k| k.clone().into()).collect(),
    };
    match call(caller, op).await? {
        Response::Objects(objects) if objects.len() == keys.len() => Ok(objects),
        other => Err(unexpected(&other)),
    }
}

/// A bulk write's failure, said as `command`'s: all or nothing, even when unknown.
fn bulk_failed(command: &str, error: Result<RequestError, Lost>) -> Reply {
    match error {
        Ok(RequestError::Indeterminate) | Err(Lost::NoAnswer) => Reply::error(format!(
            "INDETERMINATE {command} is one atomic write that was not confirmed in time: either every key was written or none was; read the keys to find out"
        )),
        Ok(error) => refused(&error),
        Err(why) => lost(why, true),
    }
}

/// `MSET`, and `DEL` of several keys: once no other bulk command of this listener is
/// writing any of `keys` (distinct), reads them in one bulk read, then writes
/// in one atomic bulk write what `plan` makes of each key's object (`Some(None)`: a
/// tombstone, `None`: leave the key out) with the context read, so that every version the
/// read showed is replaced. The number of keys written.
pub(super) async fn bulk_replace(
    caller: &Caller,
    command: &str,
    keys: &[Vec<u8>],
    plan: impl Fn(usize, &Object) -> Option<Option<Vec<u8>>>,
) -> Result<usize, Reply> {
    // One bulk command of this listener at a time on each key (lanes::BulkTurns).
    let _turns = caller.listener.bulk_turns.take(keys).await;
    let objects = bulk_get(caller, keys)
        .await
        .map_err(|error| read_failed(command, error))?;
    let items: Vec<BulkItem> = keys
        .iter()
        .zip(&objects)
        .enumerate()
        .filter_map(|(i, (key, object))| {
            plan(i, object).map(|value| BulkItem {
                key: key.clone(),
                value,
                context: object.clock(),
            })
        })
        .collect();
    if items.is_empty() {
        return Ok(0);
    }
    let count = items.len();
    match caller.call(Request::new(Op::BulkWrite { items })).await {
        Ok(Ok(Response::BulkWritten { .. })) => Ok(count),
        Ok(Ok(other)) => Err(unexpected(&other)),
        Ok(Err(error)) => Err(bulk_failed(command, Ok(error))),
        Err(lost) => Err(bulk_failed(command, Err(lost))),
    }
}
