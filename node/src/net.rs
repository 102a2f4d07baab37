//! Sockets: the listener, client and peer connections, and the outgoing peer links.
//!
//! Every connection reads whole frames (wire.rs) and hands what they carry to the node task
//! as `Event`s; every write goes through a queue that one writer task drains, gathering
//! frames into large writes. A bad frame gets an error frame and a closed connection. This
//! module never looks inside a request.

use crate::driver::{is_entropy, DriverStats, Event};
use crate::limits::{
    CLIENT_INFLIGHT_MAX, CLIENT_QUEUE_FRAMES_MAX, FRAME_HEADER_BYTES, PEER_BODY_BYTES_MAX,
    RECONNECT_BACKOFF_MAX_MS, RECONNECT_BACKOFF_MIN_MS, REQUEST_BODY_BYTES_MAX,
    WRITE_BATCH_BYTES_MAX,
};
use crate::socket::{write_within, WriteFailed};
use crate::wire::{self, ErrorCode, FrameError, Opcode, PeerHello, PongBody};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tern_core::{ClientId, Message, NodeId, Request};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

/// What every connection task needs from the node.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub id: NodeId,
    /// The cluster's configuration: who may connect as a peer is core's rule.
    pub config: Arc<tern_core::Config>,
    pub events: mpsc::Sender<Event>,
    pub booted: Arc<AtomicBool>,
    pub next_client: Arc<AtomicU64>,
    /// True once the node refuses new requests (shutting down).
    pub draining: watch::Receiver<bool>,
    /// True once the node task has stopped: every connection ends.
    pub stopped: watch::Receiver<bool>,
    pub connections: Arc<Semaphore>,
    /// Byte counters of peer traffic (the node task counts what it sends).
    pub stats: Arc<DriverStats>,
}

/// Accepts connections until the node stops.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Shared) {
    let mut draining = shared.draining.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = draining.wait_for(|d| *d) => return,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        match shared.connections.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    tracing::debug!(%addr, "connection opened");
                    serve(stream, shared).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let (_, mut write) = stream.into_split();
                    let frame = wire::error_frame(0, ErrorCode::Busy, "too many connections");
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), write.write_all(&frame)).await;
                });
            }
        }
    }
}

/// Writes an error frame and closes, bounded in time (the peer may not be reading).
async fn refuse(write: &mut OwnedWriteHalf, request: u64, code: ErrorCode, message: &str) {
    let frame = wire::error_frame(request, code, message);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        write.write_all(&frame).await?;
        write.shutdown().await
    })
    .await;
}

/// Serves one connection: the first frame says whether it is a peer or a client.
async fn serve(stream: TcpStream, shared: Shared) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut stopped = shared.stopped.clone();
    let first = tokio::select! {
        first = wire::read_frame(&mut reader, REQUEST_BODY_BYTES_MAX) => first,
        _ = stopped.wait_for(|s| *s) => return,
    };
    let (header, body) = match first {
        Ok(Some(frame)) => frame,
        Ok(None) => return,
        Err(error) => {
            reject(&mut write, &error).await;
            return;
        }
    };
    match header.opcode {
        Opcode::PeerHello => match wire::decode::<PeerHello>(&body) {
            Ok(hello) if shared.config.is_peer(shared.id, hello.from) => {
                serve_peer(reader, write, hello.from, shared).await
            }
            Ok(hello) => {
                let message = format!("node {} is not a peer of node {}", hello.from, shared.id);
                refuse(&mut write, 0, ErrorCode::NotAMember, &message).await
            }
            Err(error) => refuse(&mut write, 0, ErrorCode::Malformed, &error.to_string()).await,
        },
        Opcode::Request | Opcode::Ping | Opcode::Status => {
            serve_client(reader, write, (header, body), shared).await
        }
        other => {
            let message = format!("opcode {other:?} cannot open a connection");
            refuse(&mut write, header.request, ErrorCode::BadOpcode, &message).await
        }
    }
}

async fn reject(write: &mut OwnedWriteHalf, error: &FrameError) {
    tracing::debug!(%error, "closing connection after a bad frame");
    if let Some(code) = error.code() {
        refuse(write, 0, code, &error.to_string()).await;
    }
}

async fn serve_peer(
    mut reader: BufReader<OwnedReadHalf>,
    mut write: OwnedWriteHalf,
    from: NodeId,
    shared: Shared,
) {
    tracing::debug!(peer = %from, "peer connected");
    let mut stopped = shared.stopped.clone();
    loop {
        let frame = tokio::select! {
            frame = wire::read_frame(&mut reader, PEER_BODY_BYTES_MAX) => frame,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let (header, body) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(error) => return reject(&mut write, &error).await,
        };
        if header.opcode != Opcode::PeerMessage {
            let message = format!("opcode {:?} on a peer connection", header.opcode);
            return refuse(&mut write, header.request, ErrorCode::BadOpcode, &message).await;
        }
        let message = match Message::decode(&body) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(peer = %from, %error, "malformed peer message");
                return refuse(&mut write, 0, ErrorCode::Malformed, &error.to_string()).await;
            }
        };
        let len = (FRAME_HEADER_BYTES + body.len()) as u64;
        let stats = &shared.stats;
        stats.peer_bytes_received.fetch_add(len, Ordering::Relaxed);
        if is_entropy(&message) {
            stats
                .entropy_bytes_received
                .fetch_add(len, Ordering::Relaxed);
        }
        if shared
            .events
            .send(Event::Peer { from, message })
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn serve_client(
    mut reader: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    first: (wire::Header, Vec<u8>),
    shared: Shared,
) {
    let client = ClientId(shared.next_client.fetch_add(1, Ordering::Relaxed));
    let (replies, queue) = mpsc::channel(CLIENT_QUEUE_FRAMES_MAX);
    let permits = Arc::new(Semaphore::new(CLIENT_INFLIGHT_MAX));
    if shared
        .events
        .send(Event::ClientOpen {
            client,
            replies: replies.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(write_loop(write, queue, Some(permits.clone())));
    let mut stopped = shared.stopped.clone();
    let mut next = Some(Ok(Some(first)));
    loop {
        let frame = match next.take() {
            Some(frame) => frame,
            None => tokio::select! {
                frame = wire::read_frame(&mut reader, REQUEST_BODY_BYTES_MAX) => frame,
                _ = stopped.wait_for(|s| *s) => break,
            },
        };
        let (header, body) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(client = client.0, %error, "closing client connection after a bad frame");
                if let Some(code) = error.code() {
                    let _ = replies.try_send(wire::error_frame(0, code, &error.to_string()));
                }
                break;
            }
        };
        let request = header.request;
        match header.opcode {
            Opcode::Ping => {
                let pong = PongBody {
                    node: shared.id,
                    booted: shared.booted.load(Ordering::Relaxed),
                };
                // A full queue means the client stopped reading: close rather than wait.
                if replies.try_send(wire::pong_frame(request, pong)).is_err() {
                    break;
                }
            }
            Opcode::Status => {
                let (reply, status) = oneshot::channel();
                if shared.events.send(Event::Status { reply }).await.is_err() {
                    break;
                }
                let status = tokio::select! {
                    status = status => status,
                    _ = stopped.wait_for(|s| *s) => break,
                };
                let Ok(status) = status else { break };
                if replies
                    .try_send(wire::status_reply_frame(request, &status))
                    .is_err()
                {
                    break;
                }
            }
            Opcode::Request => {
                let body: Request = match wire::decode(&body) {
                    Ok(body) => body,
                    Err(error) => {
                        let message = format!("request body: {error}");
                        let _ = replies.try_send(wire::error_frame(
                            request,
                            ErrorCode::Malformed,
                            &message,
                        ));
                        break;
                    }
                };
                // While the node drains, core itself refuses new requests (`ShuttingDown`);
                // once its task has ended there is no core left to ask.
                if *shared.stopped.borrow() {
                    let frame = wire::error_frame(
                        request,
                        ErrorCode::ShuttingDown,
                        "the node is shutting down; nothing was done; retry on another node",
                    );
                    if replies.try_send(frame).is_err() {
                        break;
                    }
                    continue;
                }
                // At the in-flight limit, stop reading until a reply goes out.
                let permit = tokio::select! {
                    permit = permits.acquire() => permit,
                    _ = stopped.wait_for(|s| *s) => break,
                };
                match permit {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                }
                let event = Event::ClientRequest {
                    client,
                    request,
                    body,
                };
                if shared.events.send(event).await.is_err() {
                    break;
                }
            }
            other => {
                let message = format!("opcode {other:?} is not a client request");
                let _ =
                    replies.try_send(wire::error_frame(request, ErrorCode::BadOpcode, &message));
                break;
            }
        }
    }
    let _ = shared.events.send(Event::ClientClosed { client }).await;
    drop(replies);
    // The writer ends once the node task dropped its sender and the queue is flushed; one
    // that cannot flush in time is stopped, so no task outlives its connection.
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}

/// Drains a frame queue into a socket, gathering frames into large writes. Returns a permit
/// to `permits` for every reply written; closes `permits` when it ends, so that a reader
/// waiting on it ends too.
async fn write_loop(
    mut write: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Vec<u8>>,
    permits: Option<Arc<Semaphore>>,
) {
    let mut out = Vec::with_capacity(WRITE_BATCH_BYTES_MAX);
    while let Some(frame) = queue.recv().await {
        let mut replies = 0;
        let mut add = |frame: &[u8], out: &mut Vec<u8>| {
            if frame.get(5) == Some(&(Opcode::Reply as u8)) {
                replies += 1;
            }
            out.extend_from_slice(frame);
        };
        add(&frame, &mut out);
        while out.len() < WRITE_BATCH_BYTES_MAX {
            match queue.try_recv() {
                Ok(frame) => add(&frame, &mut out),
                Err(_) => break,
            }
        }
        // A client that stops reading would stall this task forever: give up on it.
        match write_within(&mut write, &out).await {
            Ok(()) => {}
            Err(WriteFailed::Io(_)) => break,
            Err(WriteFailed::Stalled) => {
                tracing::info!("closing a connection that stopped reading its replies");
                break;
            }
        }
        out.clear();
        if let Some(permits) = &permits {
            permits.add_permits(replies);
        }
    }
    let _ = write.shutdown().await;
    if let Some(permits) = permits {
        permits.close();
    }
}

/// Keeps one outgoing connection to a peer, reconnecting with backoff. While the peer is
/// unreachable, queued messages are dropped: core resends what it still needs.
pub(crate) async fn peer_link(
    me: NodeId,
    to: NodeId,
    addr: String,
    mut queue: mpsc::Receiver<Vec<u8>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = RECONNECT_BACKOFF_MIN_MS;
    let mut out = Vec::with_capacity(WRITE_BATCH_BYTES_MAX);
    loop {
        let connect = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr));
        let stream = tokio::select! {
            r = connect => r,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let mut stream = match stream {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(peer = %to, %addr, %error, backoff_ms = backoff, "peer unreachable");
                while queue.try_recv().is_ok() {}
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(backoff)) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                backoff = (backoff * 2).min(RECONNECT_BACKOFF_MAX_MS);
                continue;
            }
            Err(_) => {
                tracing::debug!(peer = %to, %addr, "peer connect timed out");
                while queue.try_recv().is_ok() {}
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if stream.write_all(&wire::peer_hello_frame(me)).await.is_err() {
            continue;
        }
        tracing::info!(peer = %to, %addr, "connected to peer");
        backoff = RECONNECT_BACKOFF_MIN_MS;
        // The peer never writes on this connection except an error frame before closing;
        // reading tells us at once when it goes away.
        let (mut read, mut write) = stream.into_split();
        let mut probe = [0u8; 64];
        loop {
            let frame = tokio::select! {
                frame = queue.recv() => frame,
                _ = tokio::io::AsyncReadExt::read(&mut read, &mut probe) => {
                    tracing::info!(peer = %to, "peer connection closed");
                    break;
                }
                _ = stopped.wait_for(|s| *s) => return,
            };
            let Some(frame) = frame else { return };
            out.extend_from_slice(&frame);
            while out.len() < WRITE_BATCH_BYTES_MAX {
                match queue.try_recv() {
                    Ok(frame) => out.extend_from_slice(&frame),
                    Err(_) => break,
                }
            }
            let written = write_within(&mut write, &out).await;
            out.clear();
            match written {
                Ok(()) => {}
                Err(WriteFailed::Io(error)) => {
                    tracing::info!(peer = %to, %error, "peer connection lost");
                    break;
                }
                Err(WriteFailed::Stalled) => {
                    tracing::info!(peer = %to, "peer stopped reading; reconnecting");
                    break;
                }
            }
        }
    }
}
