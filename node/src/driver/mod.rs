//! The node task: the one task that owns the `tern_core::Node`.
//!
//! It waits for a peer message or client request, a finished sync or the next deadline,
//! calls `handle`, drains every output and carries it out: frames go to the peer link or
//! client connection queues, log bytes go to the disk thread. It never blocks on a socket
//! or a file, and it decides nothing about keys, versions or quorums.

use crate::disk::{DiskCommand, DiskEvent, DiskStats};
use crate::limits::{NODE_BATCH_EVENTS_MAX, SHUTDOWN_DRAIN_TIMEOUT_MS, STATS_LOG_INTERVAL_MS};
use crate::wire;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;
use tern_core::{
    ClientId, ClientResult, Input, Message, Node, NodeId, NodeStatus, Output, Request, Time,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// What connections hand to the node task.
#[derive(Debug)]
pub(crate) enum Event {
    Peer {
        from: NodeId,
        message: Message,
    },
    ClientOpen {
        client: ClientId,
        replies: mpsc::Sender<Vec<u8>>,
    },
    ClientRequest {
        client: ClientId,
        request: u64,
        body: Request,
    },
    ClientClosed {
        client: ClientId,
    },
    /// A request from a connection that wants the result itself rather than a reply frame
    /// (the Redis listener, redis/): the same core request path, answered on `reply`.
    OwnRequest {
        client: ClientId,
        request: u64,
        body: Request,
        reply: oneshot::Sender<ClientResult>,
    },
    /// A client asks for this node's status (`Opcode::Status`).
    Status {
        reply: oneshot::Sender<NodeStatus>,
    },
}

/// Figures the driver keeps beside core's own stats; readable from any task.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Peer messages dropped because the peer's queue was full (core resends).
    pub peer_messages_dropped: AtomicU64,
    /// Client connections closed because they stopped reading their replies.
    pub clients_dropped: AtomicU64,
    pub requests: AtomicU64,
    pub events: AtomicU64,
    pub handles: AtomicU64,
    /// Bytes of peer frames queued to peers and read from them (headers included), and the
    /// part of them that carried anti-entropy messages.
    pub peer_bytes_sent: AtomicU64,
    pub peer_bytes_received: AtomicU64,
    pub entropy_bytes_sent: AtomicU64,
    pub entropy_bytes_received: AtomicU64,
}

/// True for the messages of anti-entropy (counted apart in `DriverStats`).
pub(crate) fn is_entropy(message: &Message) -> bool {
    matches!(
        message,
        Message::Entropy { .. }
            | Message::EntropyKeys { .. }
            | Message::EntropyPull { .. }
            | Message::EntropyPush { .. }
    )
}

impl DriverStats {
    /// Every counter with its name, for the status reply.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let s = self;
        [
            ("requests", &s.requests),
            ("events", &s.events),
            ("handles", &s.handles),
            ("peer_messages_dropped", &s.peer_messages_dropped),
            ("clients_dropped", &s.clients_dropped),
            ("peer_bytes_sent", &s.peer_bytes_sent),
            ("peer_bytes_received", &s.peer_bytes_received),
            ("entropy_bytes_sent", &s.entropy_bytes_sent),
            ("entropy_bytes_received", &s.entropy_bytes_received),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.load(Ordering::Relaxed)))
        .collect()
    }
}

pub(crate) struct Driver {
    pub node: Node,
    pub origin: Instant,
    /// Microseconds since the Unix epoch at `origin`: core's time is wall-clock based, so
    /// that the start time of each incarnation (its gossip generation) grows across
    /// restarts. Only the start is read from the wall clock; time then runs monotonic.
    pub epoch_micros: u64,
    pub events: mpsc::Receiver<Event>,
    pub disk: Option<std_mpsc::Sender<DiskCommand>>,
    pub disk_events: mpsc::UnboundedReceiver<DiskEvent>,
    pub disk_thread: Option<std::thread::JoinHandle<()>>,
    pub disk_stats: Arc<DiskStats>,
    pub peers: HashMap<NodeId, mpsc::Sender<Vec<u8>>>,
    pub clients: HashMap<ClientId, mpsc::Sender<Vec<u8>>>,
    /// Where to send the result of each `Event::OwnRequest` in flight.
    pub own_replies: HashMap<(ClientId, u64), oneshot::Sender<ClientResult>>,
    /// Client requests given to core and not yet answered, and whether each is a write.
    pub inflight: HashMap<(ClientId, u64), (bool, Instant)>,
    /// Request latencies since the last stats line, in microseconds.
    pub latency: Latency,
    pub booted: Arc<AtomicBool>,
    pub shutdown: watch::Receiver<bool>,
    pub draining: watch::Sender<bool>,
    pub stats: Arc<DriverStats>,
    /// Log bytes from this batch of events, handed to the disk thread as one command when
    /// the batch ends (fewer wake-ups of the disk thread; it coalesces further).
    pub persist: Option<(Vec<u8>, u64)>,
    /// Core asked to be halted (`Output::Halt`): the run loop ends.
    pub halted: bool,
    /// The disk failure that led core to halt, reported as the exit reason.
    pub disk_error: Option<crate::disk::DiskError>,
}

/// Client request latencies (request in, reply out), logged every `STATS_LOG_INTERVAL_MS`.
#[derive(Debug)]
pub(crate) struct Latency {
    writes: Histogram<u64>,
    reads: Histogram<u64>,
    errors: u64,
    next_log: Instant,
    syncs_logged: u64,
}

impl Latency {
    pub fn new() -> Latency {
        let histogram =
            || Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("histogram bounds");
        Latency {
            writes: histogram(),
            reads: histogram(),
            errors: 0,
            next_log: Instant::now() + Duration::from_millis(STATS_LOG_INTERVAL_MS),
            syncs_logged: 0,
        }
    }
}

/// How the node task ended.
#[derive(Debug)]
pub enum Exit {
    /// Asked to stop; in-flight requests were answered (or refused at the drain deadline).
    Clean,
    /// The log could not be written; the node stopped so as not to acknowledge anything
    /// it could not make durable.
    DiskFailed(crate::disk::DiskError),
}

impl Driver {
    fn now(&self) -> Time {
        let elapsed = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        Time(self.epoch_micros.saturating_add(elapsed))
    }

    fn instant(&self, time: Time) -> Instant {
        // Deadlines past a year are as good as never.
        let micros = time.micros().saturating_sub(self.epoch_micros);
        self.origin + Duration::from_micros(micros.min(365 * 24 * 3600 * 1_000_000))
    }

    fn handle(&mut self, input: Input) {
        let now = self.now();
        self.node.handle(now, input);
        self.stats.handles.fetch_add(1, Ordering::Relaxed);
        self.drain();
    }

    /// Carries out every output core has queued.
    fn drain(&mut self) {
        while let Some(output) = self.node.poll_output() {
            match output {
                Output::Send { to, message } => {
                    let Some(link) = self.peers.get(&to) else {
                        continue;
                    };
                    let frame = wire::peer_message_frame(&message);
                    let len = frame.len() as u64;
                    if link.try_send(frame).is_err() {
                        self.stats
                            .peer_messages_dropped
                            .fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.peer_bytes_sent.fetch_add(len, Ordering::Relaxed);
                        if is_entropy(&message) {
                            self.stats
                                .entropy_bytes_sent
                                .fetch_add(len, Ordering::Relaxed);
                        }
                    }
                }
                Output::Reply {
                    client,
                    request,
                    result,
                } => {
                    if let Some((write, since)) = self.inflight.remove(&(client, request)) {
                        let micros = since.elapsed().as_micros() as u64;
                        let histogram = if write {
                            &mut self.latency.writes
                        } else {
                            &mut self.latency.reads
                        };
                        let _ = histogram.record(micros.max(1));
                        self.latency.errors += u64::from(result.is_err());
                    }
                    if let Some(reply) = self.own_replies.remove(&(client, request)) {
                        // The connection may have closed meanwhile: nothing to tell then.
                        let _ = reply.send(result);
                        continue;
                    }
                    let Some(replies) = self.clients.get(&client) else {
                        continue;
                    };
                    if replies
                        .try_send(wire::reply_frame(request, &result))
                        .is_err()
                    {
                        // The client stopped reading (or left): drop its connection.
                        self.clients.remove(&client);
                        self.stats.clients_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Output::Persist { bytes, end } => {
                    self.send_to_disk(DiskCommand::Persist { bytes, end })
                }
                Output::Compact { base, bytes, end } => {
                    tracing::info!(base, bytes = bytes.len(), "compacting the log");
                    self.send_to_disk(DiskCommand::Compact { base, bytes, end })
                }
                Output::DropSegmentsBefore { base } => {
                    self.send_to_disk(DiskCommand::DropBefore { base })
                }
                Output::SetAsideLog => {
                    tracing::error!(
                        node = %self.node.id(),
                        "this log is an older copy than one its peers saw agree to a tombstone \
                         collection (a restored backup?): every segment is renamed stale-NNNN-... \
                         (kept for inspection) and the node starts on an empty log, rebuilding \
                         from its replicas"
                    );
                    self.send_to_disk(DiskCommand::SetAside)
                }
                Output::Halt => {
                    // Core decided the node must stop; the run loop ends at the end of this step.
                    tracing::error!(node = %self.node.id(), "halted: the log could not be made durable");
                    self.halted = true;
                }
            }
        }
        if !self.booted.load(Ordering::Relaxed) && self.node.is_booted() {
            self.booted.store(true, Ordering::Relaxed);
            tracing::info!(node = %self.node.id(), incarnation = format_args!("{:016x}", self.node.incarnation()), "node booted");
        }
    }

    /// Hands the log bytes gathered so far to the disk thread.
    fn flush_persist(&mut self) {
        if let Some((bytes, end)) = self.persist.take() {
            self.send_to_disk(DiskCommand::Persist { bytes, end });
        }
    }

    fn send_to_disk(&mut self, command: DiskCommand) {
        // Log order: appends gathered earlier go first.
        if !matches!(command, DiskCommand::Persist { .. }) {
            self.flush_persist();
        }
        // A send fails only if the disk thread stopped; it reported why on `disk_events`.
        if let Some(disk) = &self.disk {
            let _ = disk.send(command);
        }
    }

    fn handle_event(&mut self, event: Event) {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        match event {
            Event::Peer { from, message } => self.handle(Input::Peer { from, message }),
            Event::ClientOpen { client, replies } => {
                self.clients.insert(client, replies);
            }
            Event::ClientRequest {
                client,
                request,
                body,
            } => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.inflight
                    .insert((client, request), (body.op.is_write(), Instant::now()));
                self.handle(Input::Client {
                    client,
                    request,
                    body,
                });
            }
            Event::OwnRequest {
                client,
                request,
                body,
                reply,
            } => {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.inflight
                    .insert((client, request), (body.op.is_write(), Instant::now()));
                self.own_replies.insert((client, request), reply);
                self.handle(Input::Client {
                    client,
                    request,
                    body,
                });
            }
            Event::ClientClosed { client } => {
                self.clients.remove(&client);
            }
            Event::Status { reply } => {
                let mut status = self.node.status();
                status.counters.extend(self.stats.counters());
                let syncs = self.disk_stats.syncs.load(Ordering::Relaxed);
                status.counters.push(("fsyncs".to_string(), syncs));
                let _ = reply.send(status);
            }
        }
    }

    pub async fn run(mut self) -> Exit {
        self.drain();
        let mut drain_deadline: Option<Instant> = None;
        let exit = loop {
            let wake = self.node.poll_timeout().map(|t| self.instant(t));
            let wake = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                event = self.disk_events.recv() => match event {
                    Some(DiskEvent::Persisted { upto }) => self.handle(Input::Persisted { upto }),
                    Some(DiskEvent::Failed(error)) => {
                        // Core answers what it coordinates, acknowledges nothing more and asks
                        // to be halted; the loop stops on that `Halt`, not on its own rule.
                        self.disk_error = Some(error);
                        self.handle(Input::PersistFailed);
                    }
                    None => break Exit::DiskFailed(crate::disk::DiskError::Io {
                        op: "run disk thread",
                        path: Default::default(),
                        source: std::io::Error::other("the disk thread stopped"),
                    }),
                },
                _ = self.shutdown.changed(), if drain_deadline.is_none() => {
                    let (node, inflight) = (self.node.id(), self.inflight.len());
                    tracing::info!(%node, inflight, "shutting down: answering in-flight requests");
                    let _ = self.draining.send(true);
                    // Core refuses new requests from now on and finishes those it took.
                    self.handle(Input::Drain);
                    drain_deadline = Some(Instant::now() + Duration::from_millis(SHUTDOWN_DRAIN_TIMEOUT_MS));
                }
                event = self.events.recv() => {
                    let Some(event) = event else { break Exit::Clean };
                    self.handle_event(event);
                    for _ in 0..NODE_BATCH_EVENTS_MAX {
                        match self.events.try_recv() {
                            Ok(event) => self.handle_event(event),
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => self.handle(Input::Tick),
            }
            if self.halted {
                let error = self
                    .disk_error
                    .take()
                    .unwrap_or_else(|| crate::disk::DiskError::Io {
                        op: "write the log",
                        path: Default::default(),
                        source: std::io::Error::other("core halted the node"),
                    });
                break Exit::DiskFailed(error);
            }
            self.flush_persist();
            if Instant::now() >= self.latency.next_log {
                self.log_stats();
            }
            if let Some(deadline) = drain_deadline {
                if self.inflight.is_empty() || Instant::now() >= deadline {
                    break Exit::Clean;
                }
            }
        };
        self.finish().await;
        exit
    }

    /// One info line about the last interval, if anything happened in it.
    fn log_stats(&mut self) {
        let l = &mut self.latency;
        l.next_log = Instant::now() + Duration::from_millis(STATS_LOG_INTERVAL_MS);
        let syncs = self.disk_stats.syncs.load(Ordering::Relaxed);
        if l.writes.is_empty() && l.reads.is_empty() && syncs == l.syncs_logged {
            return;
        }
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        tracing::info!(
            node = %self.node.id(),
            writes = l.writes.len(),
            write_p50_ms = ms(&l.writes, 0.5),
            write_p99_ms = ms(&l.writes, 0.99),
            reads = l.reads.len(),
            read_p50_ms = ms(&l.reads, 0.5),
            read_p99_ms = ms(&l.reads, 0.99),
            errors = l.errors,
            fdatasyncs = syncs - l.syncs_logged,
            peer_messages_dropped = self.stats.peer_messages_dropped.load(Ordering::Relaxed),
            "stats for the last {} s",
            STATS_LOG_INTERVAL_MS / 1000
        );
        l.writes.reset();
        l.reads.reset();
        l.errors = 0;
        l.syncs_logged = syncs;
    }

    /// Answers what is still in flight, lets the disk thread sync and stop, closes links.
    async fn finish(&mut self) {
        let _ = self.draining.send(true);
        // Core answers what is still pending (a write Indeterminate, a read Timeout); the
        // replies go out through `drain` like any other.
        self.handle(Input::Shutdown);
        if !self.inflight.is_empty() {
            // Not expected: every request the driver tracks went to core. Their connections
            // close below, which the client reports as indeterminate for a write.
            let unanswered = self.inflight.len();
            tracing::warn!(unanswered, "requests left unanswered at shutdown");
            self.inflight.clear();
        }
        self.clients.clear();
        self.own_replies.clear();
        self.peers.clear();
        self.flush_persist();
        self.disk = None;
        if let Some(thread) = self.disk_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        tracing::info!(
            node = %self.node.id(),
            syncs = self.disk_stats.syncs.load(Ordering::Relaxed),
            "node stopped; log synced"
        );
    }
}

#[cfg(test)]
mod tests;
