//! The Rust client: connects to a node of a list, pipelines requests on one connection,
//! and fails over to another node when a connection fails.
//!
//! Every decision is `tern_core::client`'s, the part the simulator's clients run too: which
//! node to use (`Failover`, shared by the clones of a client), what each try's end means and
//! whether to try again (`Attempt`). Retries are only made where they cannot apply a write
//! twice: a connection that cannot be opened, a node that answers `Starting`, `Unavailable`
//! or `ShuttingDown` (nothing was done). A write whose connection fails after it was sent,
//! that gets no answer in time or whose reply cannot be read, is reported as
//! `ClientError::Indeterminate`, never as failed; after a reply timeout the next request goes
//! to the next node. This module only does the IO (`connection`: one pipelined connection;
//! here: timeouts and sleeps) and turns core's `ClientFailure` into a `ClientError` with the
//! node names and reasons.
//!
//! Bulk requests (`bulk_write`, `mget`, `mset`, `mdel`) are one request each: a bulk write
//! is applied to every key or to none (an `Indeterminate` one too: all or nothing, unknown
//! which), and a bulk read never shows part of a bulk write (docs/CONTRACT.md).

mod connection;

use crate::limits::REQUEST_BODY_BYTES_MAX;
use crate::wire::{self, ErrorBody, ErrorCode, Opcode, PongBody};
use connection::{CallError, Connection};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_core::client::{Attempt, ClientFailure, Failover, Next, Outcome};
use tern_core::{
    BulkItem, ClientResult, Dot, NodeStatus, Object, Op, Paging, Request, RequestError, Response,
    Scored, VectorClock,
};

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long to wait for a TCP connection to one node.
    pub connect_timeout_ms: u64,
    /// How long to wait for a reply before giving up (a write is then indeterminate). Longer
    /// than the nodes' own request timeout, so their answer normally comes first.
    pub reply_timeout_ms: u64,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout_ms: 2_000,
            reply_timeout_ms: 10_000,
        }
    }
}

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// No node could be reached; nothing was done. `tried` lists each node and why.
    Unavailable { tried: Vec<(String, String)> },
    /// The write may or may not have been applied: read the key to find out.
    Indeterminate { node: String, why: String },
    /// The node answered with an error; see `RequestError::maybe_applied`.
    Request(RequestError),
    /// The node refused the frame (protocol error) or sent something unreadable.
    Protocol { node: String, why: String },
    /// A read got no answer in time; nothing was changed.
    Timeout { node: String },
    /// The request is `len` bytes encoded, over the `max` a node reads in one client frame
    /// (`REQUEST_BODY_BYTES_MAX`); it was not sent, so nothing was done. A bulk write can
    /// meet it before core's own bulk limits: split it, or send smaller values.
    TooLarge { len: u64, max: u64 },
}

impl ClientError {
    /// True if a write that ended with this error may still have been applied.
    pub fn maybe_applied(&self) -> bool {
        match self {
            ClientError::Indeterminate { .. } => true,
            ClientError::Request(e) => e.maybe_applied(),
            _ => false,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unavailable { tried } => {
                write!(f, "unavailable: no node could be reached; nothing was done (")?;
                for (i, (node, why)) in tried.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{node}: {why}")?;
                }
                write!(f, ")")
            }
            ClientError::Indeterminate { node, why } => write!(
                f,
                "indeterminate: {why} (node {node}); the write may or may not have been applied; read the key to find out"
            ),
            ClientError::Request(RequestError::Indeterminate) => write!(f, "{}", RequestError::Indeterminate),
            ClientError::Request(e) => write!(f, "{e}"),
            ClientError::Protocol { node, why } => write!(f, "protocol error with {node}: {why}"),
            ClientError::Timeout { node } => {
                write!(f, "timeout: node {node} did not answer in time; nothing was changed")
            }
            ClientError::TooLarge { len, max } => write!(
                f,
                "the request is {len} bytes encoded, over the limit of {max} a node reads in one frame (REQUEST_BODY_BYTES_MAX); nothing was sent"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// One page of a search's results.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchResults {
    /// Best first; ties by key bytes.
    pub hits: Vec<Scored>,
    /// How many keys matched in all.
    pub total: u64,
    /// The next page, if there are more hits within `SEARCH_RESULTS_MAX`.
    pub next: Option<Paging>,
}

/// The outcome of a successful set or delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub dot: Dot,
    /// The key after the write: this write and every concurrent version it did not replace.
    pub object: Object,
    /// `object.clock()`: write with this context to replace exactly the versions in `object`.
    pub context: VectorClock,
}

/// `ClientError::TooLarge` if `request` is over what a node reads in one client frame
/// (`REQUEST_BODY_BYTES_MAX`). A node answers such a frame by closing the connection, which a
/// write could only report as indeterminate; so the client refuses it unsent.
pub fn fits_in_a_frame(request: &Request) -> Result<(), ClientError> {
    let len = tern_core::codec::encode_body(request).len();
    if len > REQUEST_BODY_BYTES_MAX {
        return Err(ClientError::TooLarge {
            len: len as u64,
            max: REQUEST_BODY_BYTES_MAX as u64,
        });
    }
    Ok(())
}

/// Waits `span` (a retry's delay), if it is not zero.
async fn sleep(span: tern_core::Span) {
    if span > tern_core::Span::ZERO {
        tokio::time::sleep(Duration::from_micros(span.micros())).await;
    }
}

#[derive(Debug)]
struct Inner {
    nodes: Vec<String>,
    options: ClientOptions,
    /// The open connection, always to `failover.node()` (a failover drops it).
    current: Mutex<Option<Arc<Connection>>>,
    connecting: tokio::sync::Mutex<()>,
    /// Locked before `current` when both are.
    failover: Mutex<Failover>,
}

/// How one try ended, with the words a `ClientError` needs.
struct Tried {
    /// The node's index in the list.
    index: usize,
    outcome: Outcome,
    /// Why the try failed, for the error message (empty for a reply).
    why: String,
}

/// A client of a Tern cluster. Cheap to clone; clones share one pipelined connection, so
/// many tasks calling it at once keep many requests in flight.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects to the first reachable node of `nodes` (`host:port` each).
    pub async fn connect<S: AsRef<str>>(nodes: &[S]) -> Result<Client, ClientError> {
        Client::connect_with(nodes, ClientOptions::default()).await
    }

    pub async fn connect_with<S: AsRef<str>>(
        nodes: &[S],
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let client = Client::lazy(nodes, options);
        if client.inner.nodes.is_empty() {
            return Err(ClientError::Unavailable { tried: Vec::new() });
        }
        // Opening a connection is a read as far as the rules go: it writes nothing.
        let mut attempt = Attempt::new(false, &client.failover());
        let mut tried = Vec::new();
        loop {
            let (index, why) = match client.connection().await {
                Ok(_) => return Ok(client),
                Err(failed) => failed,
            };
            let outcome = Outcome::NotSent;
            match client.decide(&mut attempt, index, outcome) {
                Next::Retry { after } => {
                    client.note(&mut tried, index, why);
                    sleep(after).await;
                }
                Next::Done(Err(failure)) => return Err(client.error(failure, why, tried)),
                Next::Done(Ok(_)) => unreachable!("a connection that failed is no reply"),
            }
        }
    }

    /// A client that connects on its first request.
    pub fn lazy<S: AsRef<str>>(nodes: &[S], options: ClientOptions) -> Client {
        let nodes: Vec<String> = nodes.iter().map(|n| n.as_ref().to_string()).collect();
        // An empty list is refused by every request before the rules are asked.
        let failover = Failover::new(nodes.len().max(1), 0);
        Client {
            inner: Arc::new(Inner {
                nodes,
                options,
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                failover: Mutex::new(failover),
            }),
        }
    }

    /// The node the client is connected to now, if any.
    pub fn current_node(&self) -> Option<String> {
        self.live().map(|c| c.node.clone())
    }

    fn live(&self) -> Option<Arc<Connection>> {
        let current = self.inner.current.lock().expect("client connection lock");
        current.as_ref().filter(|c| c.is_alive()).cloned()
    }

    fn failover(&self) -> std::sync::MutexGuard<'_, Failover> {
        self.inner.failover.lock().expect("client failover lock")
    }

    /// The current connection, or a new one to the node the rules name now; else that
    /// node's index and why it could not be reached.
    async fn connection(&self) -> Result<Arc<Connection>, (usize, String)> {
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let _guard = self.inner.connecting.lock().await;
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let index = self.failover().node();
        let node = &self.inner.nodes[index];
        let conn = Arc::new(
            Connection::open(index, node, &self.inner.options)
                .await
                .map_err(|why| (index, why))?,
        );
        *self.inner.current.lock().expect("client connection lock") = Some(conn.clone());
        Ok(conn)
    }

    /// Asks the rules what the end of a try sent to node `index` means; drops the current
    /// connection if they moved the client away from its node.
    fn decide(&self, attempt: &mut Attempt, index: usize, outcome: Outcome) -> Next {
        let mut failover = self.failover();
        let next = attempt.decide(&mut failover, index, outcome);
        let mut current = self.inner.current.lock().expect("client connection lock");
        if current.as_ref().is_some_and(|c| c.index != failover.node()) {
            *current = None;
        }
        next
    }

    /// Remembers why a try on node `index` did nothing, once per node (the latest reason).
    fn note(&self, tried: &mut Vec<(String, String)>, index: usize, why: String) {
        let node = &self.inner.nodes[index];
        match tried.iter_mut().find(|(n, _)| n == node) {
            Some(entry) => entry.1 = why,
            None => tried.push((node.clone(), why)),
        }
    }

    /// The error a caller sees for core's `failure`: `why` is the last try's reason, `tried`
    /// those of the tries before it.
    fn error(
        &self,
        failure: ClientFailure,
        why: String,
        mut tried: Vec<(String, String)>,
    ) -> ClientError {
        let name = |index: usize| self.inner.nodes[index].clone();
        match failure {
            ClientFailure::Unavailable { node } => {
                self.note(&mut tried, node, why);
                ClientError::Unavailable { tried }
            }
            ClientFailure::Indeterminate { node, .. } => ClientError::Indeterminate {
                node: name(node),
                why,
            },
            ClientFailure::Request(e) => ClientError::Request(e),
            ClientFailure::Timeout { node } => ClientError::Timeout { node: name(node) },
            ClientFailure::Protocol { node } => ClientError::Protocol {
                node: name(node),
                why,
            },
        }
    }

    /// Sends `request` once, to the current connection or the node the rules name.
    async fn try_once(&self, request: &Request, timeout: Duration) -> Tried {
        let conn = match self.connection().await {
            Ok(conn) => conn,
            Err((index, why)) => {
                let outcome = Outcome::NotSent;
                return Tried {
                    index,
                    outcome,
                    why,
                };
            }
        };
        let index = conn.index;
        let reply = conn
            .call(|id| wire::request_frame(id, request), timeout)
            .await;
        let (outcome, why) = match reply {
            Err(CallError::NotSent(why)) => (Outcome::NotSent, why),
            Err(CallError::Lost(why)) => (Outcome::ConnectionLost, why),
            Err(CallError::TimedOut) => (Outcome::TimedOut, "no reply in time".to_string()),
            Ok((Opcode::Reply, body)) => match wire::decode::<ClientResult>(&body) {
                Ok(result) => {
                    let why = match &result {
                        Ok(_) => String::new(),
                        Err(e) => e.to_string(),
                    };
                    (Outcome::Reply(result), why)
                }
                Err(e) => (Outcome::Unreadable, format!("unreadable reply: {e}")),
            },
            Ok((Opcode::Error, body)) => match wire::decode::<ErrorBody>(&body) {
                Ok(error)
                    if ErrorCode::from_number(error.code) == Some(ErrorCode::ShuttingDown) =>
                {
                    (Outcome::Refused, error.message)
                }
                Ok(error) => {
                    let why = format!("error code {}: {}", error.code, error.message);
                    (Outcome::Rejected, why)
                }
                Err(e) => (Outcome::Unreadable, format!("unreadable error frame: {e}")),
            },
            Ok((other, _)) => {
                let why = format!("unexpected {other:?} frame in reply to a request");
                (Outcome::Unreadable, why)
            }
        };
        Tried {
            index,
            outcome,
            why,
        }
    }

    /// Sends one request, failing over where the rules say it is safe (see the module
    /// documentation).
    pub async fn request(&self, request: Request) -> Result<Response, ClientError> {
        if self.inner.nodes.is_empty() {
            return Err(ClientError::Unavailable { tried: Vec::new() });
        }
        if request.op.is_bulk() {
            // Other requests fit by construction (the limit is sized for a key, a value and
            // a context), so only bulk ones pay for the extra encoding.
            fits_in_a_frame(&request)?;
        }
        let timeout = Duration::from_millis(self.inner.options.reply_timeout_ms);
        let mut attempt = Attempt::new(request.op.is_write(), &self.failover());
        let mut tried = Vec::new();
        loop {
            let Tried {
                index,
                outcome,
                why,
            } = self.try_once(&request, timeout).await;
            match self.decide(&mut attempt, index, outcome) {
                Next::Retry { after } => {
                    self.note(&mut tried, index, why);
                    sleep(after).await;
                }
                Next::Done(Ok(response)) => return Ok(response),
                Next::Done(Err(failure)) => return Err(self.error(failure, why, tried)),
            }
        }
    }

    /// Every live version of `key` (empty object if it never existed or was deleted; see
    /// `Object::values` and `Object::is_deleted`). Write with `object.clock()` as the
    /// context to replace every version read.
    pub async fn get(&self, key: &[u8]) -> Result<Object, ClientError> {
        match self
            .request(Request::new(Op::Get { key: key.to_vec() }))
            .await?
        {
            Response::Object(object) => Ok(object),
            other => Err(self.unexpected(other)),
        }
    }

    /// `Search(query)` over the whole cluster (docs/SEARCH.md): the keys whose newest value
    /// matches, ranked by BM25, one page. A malformed query is
    /// `ClientError::Request(RequestError::InvalidSearch(..))`, saying what and at which byte.
    pub async fn search(&self, query: &str, page: Paging) -> Result<SearchResults, ClientError> {
        let op = Op::Search {
            query: query.to_string(),
            page,
        };
        match self.request(Request::new(op)).await? {
            Response::Hits { hits, total, next } => Ok(SearchResults { hits, total, next }),
            other => Err(self.unexpected(other)),
        }
    }

    /// `SearchSimilar(text, top_k)` over the whole cluster: the `top_k` keys closest to
    /// `text` by TF-IDF cosine, best first.
    pub async fn similar(&self, text: &str, top_k: u32) -> Result<Vec<Scored>, ClientError> {
        let op = Op::Similar {
            text: text.to_string(),
            top_k,
        };
        match self.request(Request::new(op)).await? {
            Response::Hits { hits, .. } => Ok(hits),
            other => Err(self.unexpected(other)),
        }
    }

    /// Writes `value`, replacing the versions `context` has seen. An empty context replaces
    /// nothing: concurrent values become siblings.
    pub async fn set(
        &self,
        key: &[u8],
        value: &[u8],
        context: &VectorClock,
    ) -> Result<Written, ClientError> {
        let op = Op::Set {
            key: key.to_vec(),
            value: value.to_vec(),
            context: context.clone(),
        };
        self.write(op).await
    }

    /// Deletes the versions `context` has seen (a tombstone).
    pub async fn delete(&self, key: &[u8], context: &VectorClock) -> Result<Written, ClientError> {
        let op = Op::Delete {
            key: key.to_vec(),
            context: context.clone(),
        };
        self.write(op).await
    }

    /// Reads `key`, then writes `value` with the context read: replaces every version seen.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<Written, ClientError> {
        let context = self.get(key).await?.clock();
        self.set(key, value, &context).await
    }

    /// Reads `key`, then deletes every version seen.
    pub async fn remove(&self, key: &[u8]) -> Result<Written, ClientError> {
        let context = self.get(key).await?.clock();
        self.delete(key, &context).await
    }

    /// One atomic bulk write (docs/CONTRACT.md, "Bulk writes"): each item's key gets its new
    /// version (its value, or a tombstone for `value: None`) replacing the versions its
    /// `context` has seen, and either every key does or none does. `Ok` means it is durable
    /// on W replicas of every key and visible to every read that starts after; the dot is
    /// the bulk write's id, the dot of every version it wrote. An error that may have been
    /// applied (`maybe_applied`: `Indeterminate`) is still all or nothing: read the keys
    /// (with `mget`) to see which. Refused before anything is written: no item
    /// (`InvalidBulk(Empty)`), a key twice (`InvalidBulk(DuplicateKey)`), more than
    /// `BULK_KEYS_MAX` keys, keys over `BULK_KEY_BYTES_MAX` summed or values over
    /// `BULK_VALUE_BYTES_MAX` summed (`TooLarge`), and a request over one client frame
    /// (`ClientError::TooLarge`, not sent).
    pub async fn bulk_write(&self, items: Vec<BulkItem>) -> Result<Dot, ClientError> {
        match self.request(Request::new(Op::BulkWrite { items })).await? {
            Response::BulkWritten { dot } => Ok(dot),
            other => Err(self.unexpected(other)),
        }
    }

    /// A read-atomic bulk read: every key's live versions merged from R replicas, one
    /// object per key in the order asked (empty for a key never written). It never shows a
    /// fractured view: if it shows one key's version of a bulk write, it shows that bulk
    /// write (or a newer version) on every other key of it that it reads. At most
    /// `BULK_KEYS_MAX` keys, each once (else `TooLarge` or `InvalidBulk`). Each object's
    /// `clock()` is the context for replacing what it shows.
    pub async fn mget<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Object>, ClientError> {
        let keys = keys.iter().map(|k| k.as_ref().to_vec().into()).collect();
        match self.request(Request::new(Op::BulkGet { keys })).await? {
            Response::Objects(objects) => Ok(objects),
            other => Err(self.unexpected(other)),
        }
    }

    /// Sets every key to its value in one atomic bulk write, overwriting like `put`: it
    /// first reads all the keys with one `mget`, then writes each with the context read, so
    /// every version the read showed is replaced. A write concurrent with this one that the
    /// read did not see stays, as a sibling. Two requests, so not a compare-and-set: a
    /// version written between the read and the write survives beside the new value.
    /// Returns the bulk write's dot; errors as `mget`, then `bulk_write`.
    pub async fn mset<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        pairs: &[(K, V)],
    ) -> Result<Dot, ClientError> {
        let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| k.as_ref()).collect();
        let values = pairs.iter().map(|(_, v)| Some(v.as_ref().to_vec()));
        self.replace_all(&keys, values).await
    }

    /// Deletes every key in one atomic bulk write, like `remove`: one `mget`, then a
    /// tombstone for each key with the context read (also for a key with nothing to
    /// delete, as `remove` does). Returns the bulk write's dot.
    pub async fn mdel<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Dot, ClientError> {
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        self.replace_all(&keys, std::iter::repeat(None)).await
    }

    /// Reads `keys`, then writes each its value with the context read, in one bulk write.
    async fn replace_all(
        &self,
        keys: &[&[u8]],
        values: impl Iterator<Item = Option<Vec<u8>>>,
    ) -> Result<Dot, ClientError> {
        let mut items: Vec<BulkItem> = keys
            .iter()
            .zip(values)
            .map(|(key, value)| BulkItem {
                key: key.to_vec(),
                value,
                context: VectorClock::new(),
            })
            .collect();
        // Without contexts yet: a write too large even so is refused before the read.
        fits_in_a_frame(&Request::new(Op::BulkWrite {
            items: items.clone(),
        }))?;
        let objects = self.mget(keys).await?;
        if objects.len() != keys.len() {
            return Err(ClientError::Protocol {
                node: self.current_node().unwrap_or_default(),
                why: format!(
                    "a bulk read of {} keys answered {} objects",
                    keys.len(),
                    objects.len()
                ),
            });
        }
        for (item, object) in items.iter_mut().zip(&objects) {
            item.context = object.clock();
        }
        self.bulk_write(items).await
    }

    async fn write(&self, op: Op) -> Result<Written, ClientError> {
        match self.request(Request::new(op)).await? {
            Response::Written { dot, object } => Ok(Written {
                dot,
                context: object.clock(),
                object,
            }),
            other => Err(self.unexpected(other)),
        }
    }

    /// Asks the current node whether it is up and has finished starting. A node that cannot
    /// be reached is left for the next request, as the rules say, but not asked again.
    pub async fn ping(&self) -> Result<PongBody, ClientError> {
        self.ask_once(wire::ping_frame, Opcode::Pong, |body| {
            wire::decode::<PongBody>(body).map_err(|e| format!("unreadable pong: {e}"))
        })
        .await
    }

    /// Asks the current node for its own view of itself and the cluster (`tern status`):
    /// answered by that node alone, never forwarded. Tried once, like `ping`: a client of
    /// one node asks exactly that node.
    pub async fn status(&self) -> Result<NodeStatus, ClientError> {
        self.ask_once(wire::status_frame, Opcode::StatusReply, |body| {
            wire::decode_status(body).map_err(|e| format!("unreadable status: {e}"))
        })
        .await
    }

    /// Sends the frame `make` builds to the current node once, and decodes the answer if it
    /// has the `expected` opcode: a question about that node, which no other node answers.
    async fn ask_once<T>(
        &self,
        make: fn(u64) -> Vec<u8>,
        expected: Opcode,
        decode: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, ClientError> {
        if self.inner.nodes.is_empty() {
            return Err(ClientError::Unavailable { tried: Vec::new() });
        }
        let mut attempt = Attempt::once(false);
        let timeout = Duration::from_millis(self.inner.options.reply_timeout_ms);
        let (index, outcome, why) = match self.connection().await {
            Err((index, why)) => (index, Outcome::NotSent, why),
            Ok(conn) => match conn.call(make, timeout).await {
                Ok((opcode, body)) if opcode == expected => match decode(&body) {
                    Ok(answer) => return Ok(answer),
                    Err(why) => (conn.index, Outcome::Unreadable, why),
                },
                Ok((other, _)) => {
                    let why = format!("unexpected {other:?} frame in reply to {expected:?}");
                    (conn.index, Outcome::Unreadable, why)
                }
                Err(CallError::NotSent(why)) => (conn.index, Outcome::NotSent, why),
                Err(CallError::Lost(why)) => (conn.index, Outcome::ConnectionLost, why),
                Err(CallError::TimedOut) => (
                    conn.index,
                    Outcome::TimedOut,
                    "no reply in time".to_string(),
                ),
            },
        };
        match self.decide(&mut attempt, index, outcome) {
            Next::Done(Err(failure)) => Err(self.error(failure, why, Vec::new())),
            Next::Done(Ok(_)) | Next::Retry { .. } => {
                unreachable!("a question that got no answer fails, and is asked once")
            }
        }
    }

    fn unexpected(&self, response: Response) -> ClientError {
        ClientError::Protocol {
            node: self.current_node().unwrap_or_default(),
            why: format!("unexpected response {response:?}"),
        }
    }
}

#[cfg(test)]
mod tests;
