//! The Redis listener: RESP2 and RESP3 on a port of its own, so that redis-cli, redis-py,
//! redis-benchmark and any Redis client library talk to a Tern node (docs/REDIS.md).
//!
//! A Redis command becomes one or more ordinary Tern requests, handed to the node task the
//! way a native client's are (`Event::OwnRequest`): the same core path, the same quorums,
//! durability and sibling rules. This module only frames bytes (frame.rs), maps commands to
//! requests and results to replies (commands.rs, info.rs), and keeps each connection's
//! replies in the order of its commands. It decides nothing about keys, versions or quorums.

mod bulk;
mod commands;
mod frame;
mod info;
mod lanes;
mod session;
mod siblings;

use crate::driver::Event;
use crate::embed::{RunningNode, StartError};
use crate::limits::{
    CONNECTIONS_MAX, REDIS_COMMAND_COMPLETE_TIMEOUT_MS, REDIS_PIPELINE_COMMANDS_MAX,
};
use crate::net::Shared;
use crate::socket::write_within;
use commands::{Connection, Direct, Step};
use frame::{Parsed, Parser, Reply};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_core::{ClientId, ClientResult, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

pub use frame::ProtocolError;

/// What every Redis connection of one node shares.
#[derive(Debug)]
pub(crate) struct Listener {
    pub shared: Shared,
    /// The address Redis clients connect to.
    pub addr: SocketAddr,
    pub started: Instant,
    /// Redis connections open now (INFO clients).
    pub connected: AtomicU64,
    pub connections: Semaphore,
    /// Keys an `MSET` or multi-key `DEL` of this listener is writing now (lanes.rs).
    pub bulk_turns: lanes::BulkTurns,
}

/// Starts serving Redis clients on `addr` for `node`; returns the address bound (port 0
/// picks a free one). The listener stops when the node does.
pub async fn listen(node: &RunningNode, addr: SocketAddr) -> Result<SocketAddr, StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    listen_on(node, listener)
}

/// Serves Redis clients on a listener the caller already bound.
pub fn listen_on(node: &RunningNode, listener: TcpListener) -> Result<SocketAddr, StartError> {
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let shared = Arc::new(Listener {
        shared: node.shared().clone(),
        addr,
        started: Instant::now(),
        connected: AtomicU64::new(0),
        connections: Semaphore::new(CONNECTIONS_MAX),
        bulk_turns: lanes::BulkTurns::default(),
    });
    tracing::info!(node = %shared.shared.id, %addr, "listening for Redis clients");
    tokio::spawn(accept_loop(listener, shared));
    Ok(addr)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Listener>) {
    let mut draining = shared.shared.draining.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = draining.wait_for(|d| *d) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed (Redis listener)");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(_permit) = shared.connections.try_acquire() else {
                let mut stream = stream;
                let reply = b"-ERR max number of clients reached\r\n";
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(reply)).await;
                return;
            };
            shared.connected.fetch_add(1, Ordering::Relaxed);
            serve(stream, &shared).await;
            shared.connected.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// What a connection's requests need from the node: a client id of their own among the
/// node's clients, request ids, and the way to the node task.
#[derive(Debug)]
pub(crate) struct Caller {
    pub listener: Arc<Listener>,
    client: ClientId,
    next_request: AtomicU64,
}

/// Why a request got no result from core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    /// The node task had stopped before the request reached it: nothing was done.
    NotSent,
    /// The node task stopped after taking the request, without an answer.
    NoAnswer,
}

impl Caller {
    /// Sends one request through core and waits for its result.
    pub async fn call(&self, request: Request) -> Result<ClientResult, Lost> {
        let result = self.send(request).await?;
        result.await.map_err(|_| Lost::NoAnswer)
    }

    /// Hands one request to the node task; its result comes on the channel returned.
    pub async fn send(&self, request: Request) -> Result<oneshot::Receiver<ClientResult>, Lost> {
        let (reply, result) = oneshot::channel();
        let event = Event::OwnRequest {
            client: self.client,
            request: self.next_request.fetch_add(1, Ordering::Relaxed),
            body: request,
            reply,
        };
        if self.listener.shared.events.send(event).await.is_err() {
            return Err(Lost::NotSent);
        }
        Ok(result)
    }

    /// This node's own status (INFO, DBSIZE).
    pub async fn status(&self) -> Option<tern_core::NodeStatus> {
        let (reply, status) = oneshot::channel();
        let event = Event::Status { reply };
        self.listener.shared.events.send(event).await.ok()?;
        status.await.ok()
    }
}

/// One command's reply, in the order the commands came.
enum Pending {
    Ready(Reply),
    Running(JoinHandle<Reply>),
    /// A `GET` or `SET` waiting for its result from the node task (`commands::Direct`).
    Direct(Direct, oneshot::Receiver<ClientResult>),
}

impl Pending {
    /// The reply if the command has finished.
    async fn finished(&mut self) -> Option<Reply> {
        match self {
            Pending::Ready(_) => None,
            Pending::Running(job) if job.is_finished() => Some(finished_reply(job.await)),
            Pending::Direct(direct, result) => match result.try_recv() {
                Ok(result) => Some(direct.reply(Ok(result))),
                Err(oneshot::error::TryRecvError::Closed) => {
                    Some(direct.reply(Err(Lost::NoAnswer)))
                }
                Err(oneshot::error::TryRecvError::Empty) => None,
            },
            Pending::Running(_) => None,
        }
    }

    /// Waits until the command has finished; never returns if it is ready already.
    async fn wait(&mut self) -> Reply {
        match self {
            Pending::Running(job) => finished_reply(job.await),
            Pending::Direct(direct, result) => {
                let result = result.await.map_err(|_| Lost::NoAnswer);
                direct.reply(result)
            }
            Pending::Ready(_) => std::future::pending().await,
        }
    }
}

/// A reply to write, with the protocol version in force when its command was read (HELLO
/// changes it for the commands after it).
struct Queued {
    protocol: u8,
    reply: Pending,
    close_after: bool,
}

async fn serve(mut stream: TcpStream, listener: &Arc<Listener>) {
    let caller = Arc::new(Caller {
        listener: listener.clone(),
        client: ClientId(listener.shared.next_client.fetch_add(1, Ordering::Relaxed)),
        next_request: AtomicU64::new(1),
    });
    let mut connection = Connection::new(caller.client.0);
    let mut stopped = listener.shared.stopped.clone();
    let mut parser = Parser::default();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut start = 0; // where the unparsed bytes begin
    let mut need = 1; // bytes from `start` needed before parsing again
    let mut partial_since: Option<tokio::time::Instant> = None;
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut out = Vec::with_capacity(16 * 1024);
    let mut closing = false;
    let mut eof = false;
    loop {
        // Parse every whole command buffered, up to the pipeline limit.
        while !closing && queue.len() < REDIS_PIPELINE_COMMANDS_MAX && buf.len() - start >= need {
            match parser.parse(&buf[start..]) {
                Ok(Parsed::Incomplete { need: more }) => {
                    need = more;
                    break;
                }
                Ok(Parsed::Command { args, used }) => {
                    start += used;
                    need = 1;
                    // The deadline is for one command to complete: progress restarts it.
                    partial_since = None;
                    if args.is_empty() {
                        continue;
                    }
                    let protocol = connection.protocol;
                    let (reply, close_after) = match commands::step(&mut connection, args) {
                        Step::Reply(reply) => (Pending::Ready(reply), false),
                        Step::Close(reply) => (Pending::Ready(reply), true),
                        Step::Run(job) => match job.direct() {
                            Ok((request, direct)) => match caller.send(request).await {
                                Ok(result) => (Pending::Direct(direct, result), false),
                                Err(lost) => (Pending::Ready(direct.reply(Err(lost))), false),
                            },
                            Err(job) => {
                                let caller = caller.clone();
                                (Pending::Running(tokio::spawn(job.run(caller))), false)
                            }
                        },
                    };
                    // HELLO answers in the protocol it asks for.
                    let protocol = if connection.protocol != protocol {
                        connection.protocol
                    } else {
                        protocol
                    };
                    closing |= close_after;
                    queue.push_back(Queued {
                        protocol,
                        reply,
                        close_after,
                    });
                }
                Err(error) => {
                    tracing::debug!(%error, "closing a Redis connection after a protocol error");
                    queue.push_back(Queued {
                        protocol: connection.protocol,
                        reply: Pending::Ready(Reply::error(format!("ERR {error}"))),
                        close_after: true,
                    });
                    closing = true;
                }
            }
        }
        // Write every reply that is ready, in order.
        let mut finish = false;
        loop {
            match queue.front_mut() {
                None => break,
                Some(front) => {
                    if let Some(reply) = front.reply.finished().await {
                        front.reply = Pending::Ready(reply);
                    } else if !matches!(front.reply, Pending::Ready(_)) {
                        break;
                    }
                }
            }
            let Some(Queued {
                reply: Pending::Ready(reply),
                protocol,
                close_after,
            }) = queue.pop_front()
            else {
                unreachable!("the front reply was made ready above")
            };
            reply.encode(protocol, &mut out);
            finish |= close_after;
            if finish {
                break;
            }
        }
        if !out.is_empty() {
            if write_within(&mut stream, &out).await.is_err() {
                break;
            }
            out.clear();
        }
        if finish || (eof && queue.is_empty()) {
            break;
        }
        if start > 0 && (start == buf.len() || start > 64 * 1024) {
            buf.drain(..start);
            start = 0;
        }
        partial_since = match (buf.len() > start, partial_since) {
            (true, None) => Some(tokio::time::Instant::now()),
            (true, since) => since,
            (false, _) => None,
        };
        let complete_by = partial_since
            .map(|t| t + Duration::from_millis(REDIS_COMMAND_COMPLETE_TIMEOUT_MS))
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(24 * 3600));
        let reading = !closing && !eof && queue.len() < REDIS_PIPELINE_COMMANDS_MAX;
        let front = async {
            match queue.front_mut() {
                Some(front) => front.reply.wait().await,
                None => std::future::pending().await,
            }
        };
        let mut done = None;
        tokio::select! {
            read = stream.read_buf(&mut buf), if reading => match read {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(_) => break,
            },
            result = front => done = Some(result),
            _ = tokio::time::sleep_until(complete_by), if reading && partial_since.is_some() => {
                tracing::debug!("closing a Redis connection whose command did not complete in time");
                break;
            }
            _ = stopped.wait_for(|s| *s) => break,
        }
        if let (Some(reply), Some(front)) = (done, queue.front_mut()) {
            front.reply = Pending::Ready(reply);
        }
        if eof && buf.len() > start && queue.is_empty() {
            // The stream ended inside a command: nothing more can come.
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

fn finished_reply(result: Result<Reply, tokio::task::JoinError>) -> Reply {
    result.unwrap_or_else(|_| Reply::error("ERR internal error: the command's task failed"))
}
