//! The Rust client: connects to any node of a list, pipelines requests on one connection,
//! and fails over to another node when a connection fails.
//!
//! Retries are only made where they cannot apply a write twice: a connection that cannot be
//! opened, a node that answers `Starting`, `Unavailable` or `ShuttingDown` (nothing was
//! done). A write whose connection fails after it was sent, or that gets no answer in
//! time, is reported as `ClientError::Indeterminate`, never as failed.

use crate::limits::{PEER_BODY_BYTES_MAX, WRITE_BATCH_BYTES_MAX};
use crate::wire::{self, ErrorBody, ErrorCode, Opcode, PongBody};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tern_core::{ClientResult, Dot, Object, Op, Request, RequestError, Response, VectorClock};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

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
        }
    }
}

impl std::error::Error for ClientError {}

/// The outcome of a successful set or delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub dot: Dot,
    /// The key after the write: this write and every concurrent version it did not replace.
    pub object: Object,
    /// `object.clock()`: write with this context to replace exactly the versions in `object`.
    pub context: VectorClock,
}

/// One reply frame, or why none came.
enum CallError {
    /// The frame never left this process: safe to retry anywhere.
    NotSent(String),
    /// The connection failed after the frame was queued.
    Lost(String),
    TimedOut,
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<(Opcode, Vec<u8>)>>>;

/// One pipelined connection: a writer task drains a frame queue, a reader task matches
/// replies to waiters by request id.
#[derive(Debug)]
struct Connection {
    node: String,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Arc<Pending>,
    next_id: AtomicU64,
    alive: Arc<AtomicBool>,
}

impl Connection {
    async fn open(node: &str, options: &ClientOptions) -> Result<Connection, String> {
        let connect = TcpStream::connect(node);
        let stream =
            tokio::time::timeout(Duration::from_millis(options.connect_timeout_ms), connect)
                .await
                .map_err(|_| format!("no connection within {} ms", options.connect_timeout_ms))?
                .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let (frames, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
        let pending: Arc<Pending> = Arc::new(Mutex::new(HashMap::new()));
        let alive = Arc::new(AtomicBool::new(true));
        let writer_alive = alive.clone();
        tokio::spawn(async move {
            let mut out = Vec::with_capacity(WRITE_BATCH_BYTES_MAX);
            while let Some(frame) = queue.recv().await {
                out.extend_from_slice(&frame);
                while out.len() < WRITE_BATCH_BYTES_MAX {
                    match queue.try_recv() {
                        Ok(frame) => out.extend_from_slice(&frame),
                        Err(_) => break,
                    }
                }
                if write.write_all(&out).await.is_err() {
                    writer_alive.store(false, Ordering::Relaxed);
                    break;
                }
                out.clear();
            }
        });
        let reader_pending = pending.clone();
        let reader_alive = alive.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::with_capacity(64 * 1024, read);
            while let Ok(Some((header, body))) =
                wire::read_frame(&mut reader, PEER_BODY_BYTES_MAX).await
            {
                let waiter = reader_pending
                    .lock()
                    .expect("client pending table lock")
                    .remove(&header.request);
                if let Some(waiter) = waiter {
                    let _ = waiter.send((header.opcode, body));
                }
            }
            // Dropping the waiters tells every caller the connection is gone.
            reader_alive.store(false, Ordering::Relaxed);
            reader_pending
                .lock()
                .expect("client pending table lock")
                .clear();
        });
        Ok(Connection {
            node: node.to_string(),
            frames,
            pending,
            next_id: AtomicU64::new(1),
            alive,
        })
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    async fn call(
        &self,
        make: impl FnOnce(u64) -> Vec<u8>,
        timeout: Duration,
    ) -> Result<(Opcode, Vec<u8>), CallError> {
        if !self.is_alive() {
            return Err(CallError::NotSent("connection closed".to_string()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("client pending table lock")
            .insert(id, tx);
        if self.frames.send(make(id)).is_err() {
            self.pending
                .lock()
                .expect("client pending table lock")
                .remove(&id);
            return Err(CallError::NotSent("connection closed".to_string()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(CallError::Lost(
                "the connection closed before the reply".to_string(),
            )),
            Err(_) => {
                self.pending
                    .lock()
                    .expect("client pending table lock")
                    .remove(&id);
                Err(CallError::TimedOut)
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    nodes: Vec<String>,
    options: ClientOptions,
    current: Mutex<Option<Arc<Connection>>>,
    connecting: tokio::sync::Mutex<()>,
    next_node: AtomicUsize,
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
        client.connection().await?;
        Ok(client)
    }

    /// A client that connects on its first request.
    pub fn lazy<S: AsRef<str>>(nodes: &[S], options: ClientOptions) -> Client {
        let nodes = nodes.iter().map(|n| n.as_ref().to_string()).collect();
        Client {
            inner: Arc::new(Inner {
                nodes,
                options,
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                next_node: AtomicUsize::new(0),
            }),
        }
    }

    /// The node the client is connected to now, if any.
    pub fn current_node(&self) -> Option<String> {
        let current = self.inner.current.lock().expect("client connection lock");
        current
            .as_ref()
            .filter(|c| c.is_alive())
            .map(|c| c.node.clone())
    }

    fn live(&self) -> Option<Arc<Connection>> {
        let current = self.inner.current.lock().expect("client connection lock");
        current.as_ref().filter(|c| c.is_alive()).cloned()
    }

    /// The current connection, or a new one to the next reachable node.
    async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let _guard = self.inner.connecting.lock().await;
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let count = self.inner.nodes.len();
        let mut tried = Vec::new();
        for _ in 0..count {
            let at = self.inner.next_node.load(Ordering::Relaxed) % count;
            let node = &self.inner.nodes[at];
            match Connection::open(node, &self.inner.options).await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    *self.inner.current.lock().expect("client connection lock") =
                        Some(conn.clone());
                    return Ok(conn);
                }
                Err(why) => {
                    tried.push((node.clone(), why));
                    self.inner.next_node.store(at + 1, Ordering::Relaxed);
                }
            }
        }
        Err(ClientError::Unavailable { tried })
    }

    /// Stops using `conn`: the next request goes to the next node of the list.
    fn fail_over(&self, conn: &Arc<Connection>) {
        let mut current = self.inner.current.lock().expect("client connection lock");
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *current = None;
            let count = self.inner.nodes.len().max(1);
            let at = self
                .inner
                .nodes
                .iter()
                .position(|n| *n == conn.node)
                .unwrap_or(0);
            self.inner
                .next_node
                .store((at + 1) % count, Ordering::Relaxed);
        }
    }

    /// Sends one request, failing over where that is safe (see the module documentation).
    pub async fn request(&self, request: Request) -> Result<Response, ClientError> {
        let write = request.op.is_write();
        let timeout = Duration::from_millis(self.inner.options.reply_timeout_ms);
        let attempts = self.inner.nodes.len().max(2) * 2;
        let mut last = None;
        for _ in 0..attempts {
            let conn = self.connection().await?;
            let node = conn.node.clone();
            let reply = conn
                .call(|id| wire::request_frame(id, &request), timeout)
                .await;
            let (opcode, body) = match reply {
                Ok(reply) => reply,
                Err(CallError::NotSent(why)) => {
                    self.fail_over(&conn);
                    last = Some(ClientError::Unavailable {
                        tried: vec![(node, why)],
                    });
                    continue;
                }
                Err(CallError::Lost(why)) => {
                    self.fail_over(&conn);
                    if write {
                        return Err(ClientError::Indeterminate { node, why });
                    }
                    last = Some(ClientError::Unavailable {
                        tried: vec![(node, why)],
                    });
                    continue;
                }
                Err(CallError::TimedOut) => {
                    if write {
                        let why = "no reply in time".to_string();
                        return Err(ClientError::Indeterminate { node, why });
                    }
                    return Err(ClientError::Timeout { node });
                }
            };
            match opcode {
                Opcode::Reply => {
                    let result: ClientResult =
                        wire::decode(&body).map_err(|e| ClientError::Protocol {
                            node: node.clone(),
                            why: format!("unreadable reply: {e}"),
                        })?;
                    match result {
                        Ok(response) => return Ok(response),
                        // Nothing was done: another node may be able to do it.
                        Err(
                            e @ (RequestError::Starting
                            | RequestError::Unavailable { .. }
                            | RequestError::ShuttingDown),
                        ) => {
                            self.fail_over(&conn);
                            if e == RequestError::Starting {
                                // A node finishes starting within milliseconds.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            last = Some(ClientError::Request(e));
                        }
                        Err(e) => return Err(ClientError::Request(e)),
                    }
                }
                Opcode::Error => {
                    let error: ErrorBody =
                        wire::decode(&body).map_err(|e| ClientError::Protocol {
                            node: node.clone(),
                            why: format!("unreadable error frame: {e}"),
                        })?;
                    if ErrorCode::from_number(error.code) == Some(ErrorCode::ShuttingDown) {
                        self.fail_over(&conn);
                        last = Some(ClientError::Unavailable {
                            tried: vec![(node, error.message)],
                        });
                        continue;
                    }
                    let why = format!("error code {}: {}", error.code, error.message);
                    return Err(ClientError::Protocol { node, why });
                }
                other => {
                    let why = format!("unexpected {other:?} frame in reply to a request");
                    return Err(ClientError::Protocol { node, why });
                }
            }
        }
        Err(last.unwrap_or(ClientError::Unavailable { tried: Vec::new() }))
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

    /// Asks the current node whether it is up and has finished starting.
    pub async fn ping(&self) -> Result<PongBody, ClientError> {
        let conn = self.connection().await?;
        let node = conn.node.clone();
        let timeout = Duration::from_millis(self.inner.options.reply_timeout_ms);
        match conn.call(wire::ping_frame, timeout).await {
            Ok((Opcode::Pong, body)) => wire::decode(&body).map_err(|e| ClientError::Protocol {
                node,
                why: format!("unreadable pong: {e}"),
            }),
            Ok((other, _)) => Err(ClientError::Protocol {
                node,
                why: format!("unexpected {other:?} frame in reply to a ping"),
            }),
            Err(CallError::NotSent(why) | CallError::Lost(why)) => {
                self.fail_over(&conn);
                Err(ClientError::Unavailable {
                    tried: vec![(node, why)],
                })
            }
            Err(CallError::TimedOut) => Err(ClientError::Timeout { node }),
        }
    }

    fn unexpected(&self, response: Response) -> ClientError {
        ClientError::Protocol {
            node: self.current_node().unwrap_or_default(),
            why: format!("unexpected response {response:?}"),
        }
    }
}
