//! What each Redis command means in Tern (docs/REDIS.md): parsing its arguments, and the
//! Tern requests it makes. Commands about the connection are answered at once (`Step::Reply`);
//! commands about data become a `Job` that runs as its own task and calls core through the
//! node task, like any native client.
//!
//! Multi-key commands are one Tern bulk request each (docs/REDIS.md): `MGET` one read-atomic
//! bulk read, `MSET` and `DEL` of several keys one atomic bulk write, with the contexts of a
//! bulk read first so that they overwrite as `SET` does.
//!
//! Order: the jobs of one connection may overlap (a pipeline), but a job that writes starts
//! only once every earlier job of its connection has finished, and a job that reads only once
//! every earlier write has: each connection sees its own commands in order, as in Redis.

use super::bulk::{bulk_get, bulk_replace, distinct, too_many_keys};
use super::frame::Reply;
use super::info;
use super::lanes::{self, read_failed};
use super::session;
use super::siblings::{decode_context, encode_context, resolve};
use super::{Caller, Lost};
use std::collections::BTreeMap;
use std::sync::Arc;
use tern_core::limits::{BULK_KEYS_MAX, SEARCH_PAGE_SIZE_MAX};
use tern_core::{Object, Op, Paging, Request, RequestError, Response, Scored, VectorClock};
use tokio::sync::watch;

mod direct;
pub(crate) use direct::Direct;

/// The state of one Redis connection.
#[derive(Debug)]
pub(crate) struct Connection {
    /// RESP version of the replies: 2 until `HELLO 3`.
    pub protocol: u8,
    pub id: u64,
    pub name: Option<Vec<u8>>,
    /// After MULTI, until EXEC or DISCARD: every command is refused, none runs.
    in_multi: bool,
    /// Done signal of the newest write job, and of the read jobs started since it.
    last_write: Option<watch::Receiver<bool>>,
    reads: Vec<watch::Receiver<bool>>,
}

impl Connection {
    pub fn new(id: u64) -> Connection {
        Connection {
            protocol: 2,
            id,
            name: None,
            in_multi: false,
            last_write: None,
            reads: Vec::new(),
        }
    }

    /// A job of `kind`, ordered after the earlier jobs it must follow.
    fn job(&mut self, kind: Kind) -> Step {
        let (done, signal) = watch::channel(false);
        let mut after: Vec<watch::Receiver<bool>> = self.last_write.iter().cloned().collect();
        // Finished jobs need no waiting for: keep the list short on long-lived connections.
        self.reads.retain(|r| r.has_changed().is_ok());
        if kind.writes() {
            after.append(&mut self.reads);
            self.last_write = Some(signal);
        } else {
            self.reads.push(signal);
        }
        Step::Run(Job {
            kind,
            after,
            done,
            protocol: self.protocol,
        })
    }
}

/// What to do with one command.
#[derive(Debug)]
pub(crate) enum Step {
    Reply(Reply),
    /// Reply, then close the connection (QUIT).
    Close(Reply),
    Run(Job),
}

/// A command that asks core: runs as its own task.
#[derive(Debug)]
pub(crate) struct Job {
    kind: Kind,
    /// Earlier jobs of the connection that must finish first.
    after: Vec<watch::Receiver<bool>>,
    /// Dropped when the job ends, which wakes the jobs that wait for it.
    done: watch::Sender<bool>,
    protocol: u8,
}

#[derive(Debug)]
enum Kind {
    Get(Vec<u8>),
    Set(Vec<u8>, Vec<u8>),
    /// `TERN.SET key value [CONTEXT ctx]`: a write with exactly this context (empty: blind).
    SetWithContext(Vec<u8>, Vec<u8>, VectorClock),
    Del(Vec<Vec<u8>>),
    Exists(Vec<Vec<u8>>),
    MGet(Vec<Vec<u8>>),
    MSet(Vec<(Vec<u8>, Vec<u8>)>),
    Siblings(Vec<u8>),
    Search(String, Paging),
    Similar(String, u32),
    Info(Vec<String>),
    DbSize,
}

impl Kind {
    fn writes(&self) -> bool {
        matches!(
            self,
            Kind::Set(..) | Kind::SetWithContext(..) | Kind::Del(_) | Kind::MSet(_)
        )
    }
}

fn arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

pub(crate) fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

pub(crate) fn syntax() -> Reply {
    Reply::error("ERR syntax error")
}

/// What to do with the command `args` (never empty).
pub(crate) fn step(conn: &mut Connection, mut args: Vec<Vec<u8>>) -> Step {
    let name = text(&args[0]).to_ascii_uppercase();
    let argc = args.len();
    let reply = |r| Step::Reply(r);
    if conn.in_multi || name == "MULTI" || name == "EXEC" || name == "DISCARD" {
        return reply(multi(conn, &name));
    }
    match name.as_str() {
        "GET" if argc == 2 => conn.job(Kind::Get(args.swap_remove(1))),
        "SET" if argc == 3 => {
            let value = args.pop().unwrap_or_default();
            conn.job(Kind::Set(args.swap_remove(1), value))
        }
        "SET" if argc > 3 => reply(Reply::error(format!(
            "ERR SET options are not supported by Tern yet (got '{}'): NX, XX, GET, EX, PX, EXAT, PXAT and KEEPTTL are refused; use SET key value",
            text(&args[3])
        ))),
        "TERN.SET" if argc == 3 || argc == 5 => {
            let context = if argc == 5 {
                if !args[3].eq_ignore_ascii_case(b"CONTEXT") {
                    return reply(syntax());
                }
                match decode_context(&args[4]) {
                    Ok(context) => context,
                    Err(why) => return reply(Reply::error(format!("ERR bad context: {why}"))),
                }
            } else {
                VectorClock::new()
            };
            let mut args = args.into_iter().skip(1);
            let (key, value) = (args.next().unwrap_or_default(), args.next().unwrap_or_default());
            conn.job(Kind::SetWithContext(key, value, context))
        }
        "DEL" | "UNLINK" if argc >= 2 => conn.job(Kind::Del(args.split_off(1))),
        "EXISTS" if argc >= 2 => conn.job(Kind::Exists(args.split_off(1))),
        "MGET" if argc >= 2 => conn.job(Kind::MGet(args.split_off(1))),
        "MSET" if argc >= 3 && argc % 2 == 1 => {
            // The last value of a key repeated wins, as in Redis.
            let mut pairs: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut rest = args.into_iter().skip(1);
            while let (Some(key), Some(value)) = (rest.next(), rest.next()) {
                pairs.insert(key, value);
            }
            conn.job(Kind::MSet(pairs.into_iter().collect()))
        }
        "TERN.SIBLINGS" if argc == 2 => conn.job(Kind::Siblings(args.swap_remove(1))),
        "TERN.SEARCH" if argc == 2 || argc == 5 => {
            let mut page = Paging::first(10);
            if argc == 5 {
                if !args[2].eq_ignore_ascii_case(b"LIMIT") {
                    return reply(syntax());
                }
                match (number(&args[3]), number(&args[4])) {
                    (Some(offset), Some(size)) => page = Paging { offset, size },
                    _ => return reply(Reply::error("ERR LIMIT takes an offset and a count")),
                }
            }
            conn.job(Kind::Search(text(&args[1]), page))
        }
        "TERN.SIMILAR" if argc == 2 || argc == 4 => {
            let mut top_k = 10;
            if argc == 4 {
                match (args[2].eq_ignore_ascii_case(b"TOPK"), number(&args[3])) {
                    (true, Some(k)) => top_k = k,
                    (true, None) => return reply(Reply::error("ERR TOPK takes a count")),
                    (false, _) => return reply(syntax()),
                }
            }
            conn.job(Kind::Similar(text(&args[1]), top_k))
        }
        "INFO" => conn.job(Kind::Info(args[1..].iter().map(|a| text(a)).collect())),
        "DBSIZE" if argc == 1 => conn.job(Kind::DbSize),
        "PING" if argc == 1 => reply(Reply::Simple("PONG".into())),
        "PING" if argc == 2 => reply(Reply::Bulk(args.swap_remove(1))),
        "ECHO" if argc == 2 => reply(Reply::Bulk(args.swap_remove(1))),
        "QUIT" if argc == 1 => Step::Close(Reply::ok()),
        "SELECT" if argc == 2 => reply(if args[1] == b"0" {
            Reply::ok()
        } else {
            Reply::error("ERR DB index is out of range (Tern has one keyspace: database 0)")
        }),
        "HELLO" => reply(session::hello(conn, &args)),
        "CLIENT" if argc >= 2 => reply(session::client(conn, &args)),
        "COMMAND" => reply(info::command(&args[1..])),
        "CONFIG" if argc >= 2 => reply(info::config(&args[1..])),
        "GET" | "SET" | "TERN.SET" | "DEL" | "UNLINK" | "EXISTS" | "MGET" | "MSET"
        | "TERN.SIBLINGS" | "TERN.SEARCH" | "TERN.SIMILAR" | "DBSIZE" | "PING" | "ECHO"
        | "QUIT" | "SELECT" | "CLIENT" | "CONFIG" => reply(arity(&name)),
        _ => {
            let mut message = format!(
                "ERR unknown command '{}', with args beginning with: ",
                text(&args[0])
            );
            for arg in args.iter().skip(1).take(8) {
                message.push_str(&format!("'{}' ", text(arg)));
            }
            reply(Reply::error(message))
        }
    }
}

/// MULTI/EXEC do not exist in Tern yet (they need bulk writes). A client that sends MULTI
/// means the commands after it to run together or not at all: so none of them runs.
fn multi(conn: &mut Connection, name: &str) -> Reply {
    match (name, conn.in_multi) {
        ("MULTI", false) => {
            conn.in_multi = true;
            Reply::error("ERR MULTI/EXEC transactions are not supported by Tern yet; the commands until EXEC or DISCARD are refused, not run")
        }
        ("MULTI", true) => Reply::error("ERR MULTI calls can not be nested"),
        ("EXEC", true) => {
            conn.in_multi = false;
            Reply::error("EXECABORT Transaction discarded: MULTI/EXEC is not supported by Tern yet; nothing was done")
        }
        ("DISCARD", true) => {
            conn.in_multi = false;
            Reply::ok()
        }
        ("EXEC" | "DISCARD", false) => Reply::error(format!("ERR {name} without MULTI")),
        (_, _) => Reply::error(format!(
            "ERR {name} refused: inside MULTI, which Tern does not support; nothing was done"
        )),
    }
}

pub(crate) fn number(arg: &[u8]) -> Option<u32> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// The reply for a request core refused or could not finish.
pub(crate) fn refused(error: &RequestError) -> Reply {
    let kind = match error {
        RequestError::Indeterminate => "INDETERMINATE",
        RequestError::Unavailable { .. } => "UNAVAILABLE",
        RequestError::Timeout => "TIMEOUT",
        RequestError::Busy | RequestError::ShuttingDown => "TRYAGAIN",
        RequestError::Starting => "LOADING",
        _ => "ERR",
    };
    Reply::error(format!("{kind} {error}"))
}

pub(crate) fn lost(lost: Lost, write: bool) -> Reply {
    match (lost, write) {
        (Lost::NotSent, _) => Reply::error(
            "TRYAGAIN shutting down: the node has stopped; nothing was done; retry on another node",
        ),
        (Lost::NoAnswer, true) => Reply::error(
            "INDETERMINATE the node stopped before the write was confirmed; it may or may not have been applied; read the key to find out",
        ),
        (Lost::NoAnswer, false) => Reply::error(
            "TRYAGAIN the node stopped before answering; nothing was changed; retry on another node",
        ),
    }
}

/// One request through core; `Err` is the reply for a failure.
pub(crate) async fn call(caller: &Caller, op: Op) -> Result<Response, Reply> {
    let write = op.is_write();
    match caller.call(Request::new(op)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(refused(&error)),
        Err(why) => Err(lost(why, write)),
    }
}

pub(crate) fn unexpected(response: &Response) -> Reply {
    Reply::error(format!(
        "ERR internal error: unexpected response {response:?}"
    ))
}

async fn get(caller: &Caller, key: Vec<u8>) -> Result<Object, Reply> {
    match call(caller, Op::Get { key }).await? {
        Response::Object(object) => Ok(object),
        other => Err(unexpected(&other)),
    }
}

/// Deletes every version of `key` a read shows; 1 if there was a value, else 0.
async fn del(caller: Arc<Caller>, key: Vec<u8>) -> Result<i64, Reply> {
    let object = get(&caller, key.clone())
        .await
        .map_err(|error| read_failed("DEL", error))?;
    if resolve(&object).is_none() {
        return Ok(0);
    }
    let context = object.clock();
    match call(&caller, Op::Delete { key, context }).await? {
        Response::Written { .. } => Ok(1),
        other => Err(unexpected(&other)),
    }
}

fn hits_reply(hits: Vec<Scored>) -> Reply {
    Reply::Array(
        hits.into_iter()
            .map(|hit| Reply::Array(vec![Reply::Bulk(hit.key), Reply::Double(hit.score)]))
            .collect(),
    )
}

/// Reads every key at once; the results in the order of `keys`.
async fn read_all(caller: &Arc<Caller>, keys: Vec<Vec<u8>>) -> Vec<Result<Object, Reply>> {
    let jobs: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let caller = caller.clone();
            tokio::spawn(async move { get(&caller, key).await })
        })
        .collect();
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(
            job.await
                .unwrap_or_else(|_| Err(Reply::error("ERR internal error"))),
        );
    }
    results
}

impl Job {
    pub async fn run(self, caller: Arc<Caller>) -> Reply {
        for mut earlier in self.after {
            let _ = earlier.wait_for(|done| *done).await;
        }
        let reply = run_kind(self.kind, self.protocol, caller).await;
        let _ = self.done.send(true);
        reply
    }
}

async fn run_kind(kind: Kind, protocol: u8, caller: Arc<Caller>) -> Reply {
    match kind {
        Kind::Get(key) => match get(&caller, key).await {
            Ok(object) => resolve(&object).map_or(Reply::Nil, |v| Reply::Bulk(v.to_vec())),
            Err(error) => error,
        },
        Kind::Set(key, value) => lanes::set(caller, key, value).await,
        Kind::SetWithContext(key, value, context) => {
            match call(
                &caller,
                Op::Set {
                    key,
                    value,
                    context,
                },
            )
            .await
            {
                Ok(Response::Written { .. }) => Reply::ok(),
                Ok(other) => unexpected(&other),
                Err(error) => error,
            }
        }
        Kind::Del(keys) => {
            let mut keys = distinct(keys);
            if keys.len() == 1 {
                return match del(caller, keys.swap_remove(0)).await {
                    Ok(n) => Reply::Int(n),
                    Err(error) => error,
                };
            }
            if keys.len() > BULK_KEYS_MAX {
                return too_many_keys("DEL", keys.len());
            }
            // Only the keys that have a value get a tombstone: the count is theirs.
            let plan = |_: usize, object: &Object| resolve(object).is_some().then_some(None);
            match bulk_replace(&caller, "DEL", &keys, plan).await {
                Ok(n) => Reply::Int(n as i64),
                Err(error) => error,
            }
        }
        Kind::Exists(keys) => {
            let mut count = 0;
            for found in read_all(&caller, keys).await {
                match found {
                    Ok(object) => count += i64::from(resolve(&object).is_some()),
                    Err(error) => return error,
                }
            }
            Reply::Int(count)
        }
        Kind::MGet(keys) => {
            // One bulk read names each key once; a key asked twice gets the same answer twice.
            let distinct = distinct(keys.clone());
            if distinct.len() > BULK_KEYS_MAX {
                return too_many_keys("MGET", distinct.len());
            }
            let objects = match bulk_get(&caller, &distinct).await {
                Ok(objects) => objects,
                Err(error) => return error,
            };
            let found: BTreeMap<&[u8], &Object> =
                distinct.iter().map(Vec::as_slice).zip(&objects).collect();
            Reply::Array(
                keys.iter()
                    .map(|key| {
                        found
                            .get(key.as_slice())
                            .and_then(|object| resolve(object))
                            .map_or(Reply::Nil, |v| Reply::Bulk(v.to_vec()))
                    })
                    .collect(),
            )
        }
        Kind::MSet(pairs) => {
            if pairs.len() > BULK_KEYS_MAX {
                return too_many_keys("MSET", pairs.len());
            }
            let keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| k.clone()).collect();
            let plan = |i: usize, _: &Object| Some(Some(pairs[i].1.clone()));
            match bulk_replace(&caller, "MSET", &keys, plan).await {
                Ok(_) => Reply::ok(),
                Err(error) => error,
            }
        }
        Kind::Siblings(key) => match get(&caller, key).await {
            Ok(object) => {
                let values = object
                    .siblings()
                    .iter()
                    .filter_map(|s| s.value.clone().map(Reply::Bulk))
                    .collect();
                Reply::Array(vec![
                    Reply::text(encode_context(&object.clock())),
                    Reply::Array(values),
                ])
            }
            Err(error) => error,
        },
        Kind::Search(query, page) => {
            if page.size as usize > SEARCH_PAGE_SIZE_MAX {
                // Core says the same; saying it here names the Redis argument.
                return Reply::error(format!(
                    "ERR LIMIT count {} is over the limit of {SEARCH_PAGE_SIZE_MAX}",
                    page.size
                ));
            }
            match call(&caller, Op::Search { query, page }).await {
                Ok(Response::Hits { hits, .. }) => hits_reply(hits),
                Ok(other) => unexpected(&other),
                Err(error) => error,
            }
        }
        Kind::Similar(text, top_k) => match call(&caller, Op::Similar { text, top_k }).await {
            Ok(Response::Hits { hits, .. }) => hits_reply(hits),
            Ok(other) => unexpected(&other),
            Err(error) => error,
        },
        Kind::Info(sections) => info::info(&caller, &sections, protocol).await,
        Kind::DbSize => match caller.status().await {
            Some(status) => {
                Reply::Int(status.keys.saturating_sub(status.tombstones_pending) as i64)
            }
            None => lost(Lost::NotSent, false),
        },
    }
}
