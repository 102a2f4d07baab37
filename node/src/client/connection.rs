//! One pipelined connection to one node: a writer task drains a frame queue, a reader task
//! matches replies to waiters by request id. It decides nothing: what a failed call means is
//! `tern_core::client`'s.

use super::ClientOptions;
use crate::limits::{PEER_BODY_BYTES_MAX, WRITE_BATCH_BYTES_MAX};
use crate::wire::{self, Opcode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// One reply frame, or why none came.
pub(super) enum CallError {
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
pub(super) struct Connection {
    /// The node's index in the client's list.
    pub(super) index: usize,
    pub(super) node: String,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Arc<Pending>,
    next_id: AtomicU64,
    alive: Arc<AtomicBool>,
}

impl Connection {
    pub(super) async fn open(
        index: usize,
        node: &str,
        options: &ClientOptions,
    ) -> Result<Connection, String> {
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
            index,
            node: node.to_string(),
            frames,
            pending,
            next_id: AtomicU64::new(1),
            alive,
        })
    }

    pub(super) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    pub(super) async fn call(
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
