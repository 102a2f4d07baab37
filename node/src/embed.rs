//! Starting a node inside any tokio program: recover the log, bind, spawn the node task,
//! the peer links and the listener, and hand back a handle that stops it cleanly.
//!
//! `MasterlessNode::new(id, host, port, peers).start()` is the founding usage; `tern-node`,
//! the tests and the examples all go through `start`.

use crate::disk::{self, DiskError, DiskStats};
use crate::driver::{Driver, DriverStats, Exit};
use crate::limits::{CONNECTIONS_MAX, NODE_QUEUE_EVENTS_MAX, PEER_QUEUE_FRAMES_MAX};
use crate::net::{self, Shared};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{SystemTime, UNIX_EPOCH};
use tern_core::{Config, ConfigError, NodeId, Span, Stemming, Time};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

/// Everything one node needs to start.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub id: NodeId,
    /// Address to listen on for clients and peers (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Every other member, with the address it listens on (`host:port`).
    pub peers: Vec<(NodeId, String)>,
    /// Directory holding this node's log segments.
    pub data_dir: PathBuf,
    /// Log size above which core compacts (None: core's default).
    pub compact_min_bytes: Option<u64>,
    /// How long a coordinator works on a request before answering with an error.
    pub request_timeout_ms: Option<u64>,
    /// Whether search tokens are stemmed (None: on). Every node of a cluster must agree.
    pub stemming: Option<Stemming>,
    /// Whether each replica keeps a search index (None: on). Off, searches are refused
    /// and writes skip the indexing work. Every node of a cluster must agree.
    pub search_index: Option<bool>,
    /// Whether a restart on this node's log rebuilds before its reads count toward R
    /// (None: on). Off only where data directories are never restored from copies
    /// (docs/CONTRACT.md, "Crash recovery").
    pub rebuild_on_restart: Option<bool>,
    /// How long every replica must hold a key's tombstones before they are collected (None:
    /// core's default, 60 s). More than twice the request timeout; for tests.
    pub tombstone_grace_ms: Option<u64>,
}

impl NodeOptions {
    /// The cluster configuration these options describe.
    pub fn config(&self) -> Config {
        let mut nodes: Vec<NodeId> = self.peers.iter().map(|(id, _)| *id).collect();
        nodes.push(self.id);
        nodes.sort();
        let mut config = Config::new(nodes);
        if let Some(bytes) = self.compact_min_bytes {
            config.compact_min_bytes = bytes;
        }
        if let Some(ms) = self.request_timeout_ms {
            config.request_timeout = Span::from_millis(ms);
        }
        if let Some(stemming) = self.stemming {
            config.stemming = stemming;
        }
        if let Some(on) = self.search_index {
            config.search_index = on;
        }
        if let Some(on) = self.rebuild_on_restart {
            config.rebuild_on_restart = on;
        }
        if let Some(ms) = self.tombstone_grace_ms {
            config.tombstone_grace = Some(Span::from_millis(ms));
        }
        config
    }
}

/// Why a node did not start.
#[derive(Debug)]
pub enum StartError {
    Config(ConfigError),
    Disk(DiskError),
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    Spawn(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "bad cluster configuration: {e}"),
            StartError::Disk(e) => write!(f, "{e}"),
            StartError::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source} (is another node already using this port?)"
            ),
            StartError::Spawn(e) => write!(f, "cannot start the disk thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running node. `shutdown` stops it and waits; dropping the handle also stops it (the
/// same drain as `shutdown`), without waiting, unless a `stopper` is still held.
#[derive(Debug)]
pub struct RunningNode {
    id: NodeId,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Exit>,
    disk_stats: Arc<DiskStats>,
    stats: Arc<DriverStats>,
    recovered_keys: usize,
    /// What the node's connections share: the Redis listener serves through it too.
    shared: Shared,
}

impl RunningNode {
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Serves Redis clients (RESP2 and RESP3, docs/REDIS.md) on `addr` too, beside the
    /// native protocol; returns the address bound. The listener stops with the node.
    pub async fn listen_redis(&self, addr: SocketAddr) -> Result<SocketAddr, StartError> {
        crate::redis::listen(self, addr).await
    }

    /// `listen_redis` on a listener the caller already bound.
    pub fn listen_redis_on(&self, listener: TcpListener) -> Result<SocketAddr, StartError> {
        crate::redis::listen_on(self, listener)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address the node listens on (useful after binding port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn disk_stats(&self) -> &DiskStats {
        &self.disk_stats
    }

    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Keys recovered from the log at start-up.
    pub fn recovered_keys(&self) -> usize {
        self.recovered_keys
    }

    /// Stops the node: new requests are refused, in-flight ones are answered (or, at the
    /// drain deadline, reported as indeterminate or timed out), the log is synced.
    pub async fn shutdown(self) -> Exit {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until the node stops by itself (a disk failure) or through `shutdown`.
    pub async fn wait(self) -> Exit {
        match self.task.await {
            Ok(exit) => exit,
            Err(e) => panic!("the node task panicked: {e}"),
        }
    }

    /// A handle that can ask the node to stop from elsewhere.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Starts a node on `options.listen`.
pub async fn start(options: NodeOptions) -> Result<RunningNode, StartError> {
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
    start_on(listener, options).await
}

/// Starts a node on a listener the caller already bound (tests bind port 0 first, so they
/// know every address before any node starts).
pub async fn start_on(
    listener: TcpListener,
    options: NodeOptions,
) -> Result<RunningNode, StartError> {
    let config = options.config();
    config.validate().map_err(StartError::Config)?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: options.listen,
        source,
    })?;
    let dir = options.data_dir.clone();
    let (id, seed) = (options.id, seed(options.id));
    let start_config = config.clone();
    // The wall clock: a new log is named with it (`tern_core::LogRef`), and core's time
    // goes on from it.
    let epoch_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let now = Time(epoch_micros);
    let opened =
        tokio::task::spawn_blocking(move || disk::open_node(&dir, start_config, id, seed, now))
            .await
            .map_err(|e| StartError::Spawn(std::io::Error::other(e.to_string())))?;
    let (started, writer) = opened.map_err(|failure| match failure {
        disk::StartFailure::Disk(error) => StartError::Disk(error),
        disk::StartFailure::Config(error) => StartError::Config(error),
    })?;
    let recovered_keys = started.keys;
    let at_open = writer.stats().at_open;
    tracing::info!(
        node = %options.id,
        keys = recovered_keys,
        records = started.records,
        torn_tails = started.torn.iter().filter(|t| !t.zeros).count(),
        zero_tails = started.torn.iter().filter(|t| t.zeros).count(),
        segments_synced = at_open.segments_synced,
        segments_evicted = at_open.segments_evicted,
        "log recovered"
    );
    let node = started.node;
    let disk_stats = writer.stats();
    let (disk_tx, disk_rx) = std_mpsc::channel();
    let (disk_events_tx, disk_events) = mpsc::unbounded_channel();
    let disk_thread = writer
        .spawn(disk_rx, disk_events_tx)
        .map_err(StartError::Spawn)?;

    let (events_tx, events) = mpsc::channel(NODE_QUEUE_EVENTS_MAX);
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (draining_tx, draining) = watch::channel(false);
    let (stopped_tx, stopped) = watch::channel(false);
    let booted = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(DriverStats::default());

    let mut peers = HashMap::new();
    for (peer, peer_addr) in &options.peers {
        let (tx, rx) = mpsc::channel(PEER_QUEUE_FRAMES_MAX);
        peers.insert(*peer, tx);
        tokio::spawn(net::peer_link(
            options.id,
            *peer,
            peer_addr.clone(),
            rx,
            stopped.clone(),
        ));
    }
    let shared = Shared {
        id: options.id,
        config: Arc::new(config.clone()),
        events: events_tx,
        booted: booted.clone(),
        next_client: Arc::new(AtomicU64::new(1)),
        draining,
        stopped,
        connections: Arc::new(Semaphore::new(CONNECTIONS_MAX)),
        stats: stats.clone(),
    };
    tokio::spawn(net::accept_loop(listener, shared.clone()));
    let driver = Driver {
        node,
        origin: tokio::time::Instant::now(),
        epoch_micros,
        events,
        disk: Some(disk_tx),
        disk_events,
        disk_thread: Some(disk_thread),
        disk_stats: disk_stats.clone(),
        peers,
        clients: HashMap::new(),
        own_replies: HashMap::new(),
        inflight: HashMap::new(),
        latency: crate::driver::Latency::new(),
        booted,
        shutdown,
        draining: draining_tx,
        stats: stats.clone(),
        persist: None,
        halted: false,
        disk_error: None,
    };
    let task = tokio::spawn(async move {
        let exit = driver.run().await;
        let _ = stopped_tx.send(true);
        exit
    });
    tracing::info!(node = %options.id, %addr, "listening");
    Ok(RunningNode {
        id: options.id,
        addr,
        shutdown: shutdown_tx,
        task,
        disk_stats,
        stats,
        recovered_keys,
        shared,
    })
}

/// The node's RNG seed, drawn from the operating system's random source. Core's determinism
/// is for the simulator; in production core draws each incarnation's random id from this
/// seed, so no two boots, of this node or any other, may share one: 64 random bits make a
/// repeat a 2^-64 chance per pair of boots.
///
/// If the operating system gives no randomness, the seed falls back to the wall clock, the
/// process id and the node id, with a warning: that seed differs between boots only as far
/// as the clock moved or the process id changed, so a clock set back can repeat it.
fn seed(id: NodeId) -> u64 {
    match getrandom::u64() {
        Ok(seed) => seed,
        Err(error) => {
            tracing::warn!(
                node = %id,
                %error,
                "no randomness from the operating system; seeding from the clock and process id, which two boots may share"
            );
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32) ^ u64::from(id.0)
        }
    }
}

/// The founding usage: `MasterlessNode::new(i, host, port, peers).start()`.
///
/// ```no_run
/// # async fn demo() -> Result<(), tern_node::StartError> {
/// use tern_node::MasterlessNode;
/// let peers = vec![(2, "127.0.0.1:7002".to_string()), (3, "127.0.0.1:7003".to_string())];
/// let node = MasterlessNode::new(1, "127.0.0.1", 7001, peers)
///     .data_dir("./data/node-1")
///     .start()
///     .await?;
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MasterlessNode {
    options: NodeOptions,
    host: String,
    port: u16,
}

impl MasterlessNode {
    /// Node `id` listening on `host:port`, with `peers` as `(id, "host:port")`. Data goes to
    /// `./tern-data/node-{id}` unless `data_dir` says otherwise.
    pub fn new(
        id: u32,
        host: &str,
        port: u16,
        peers: impl IntoIterator<Item = (u32, String)>,
    ) -> MasterlessNode {
        let options = NodeOptions {
            id: NodeId(id),
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            peers: peers.into_iter().map(|(i, a)| (NodeId(i), a)).collect(),
            data_dir: PathBuf::from(format!("tern-data/node-{id}")),
            compact_min_bytes: None,
            request_timeout_ms: None,
            stemming: None,
            search_index: None,
            rebuild_on_restart: None,
            tombstone_grace_ms: None,
        };
        MasterlessNode {
            options,
            host: host.to_string(),
            port,
        }
    }

    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> MasterlessNode {
        self.options.data_dir = dir.into();
        self
    }

    pub fn compact_min_bytes(mut self, bytes: u64) -> MasterlessNode {
        self.options.compact_min_bytes = Some(bytes);
        self
    }

    pub fn options(&self) -> &NodeOptions {
        &self.options
    }

    /// Resolves the host, recovers the log and starts serving.
    pub async fn start(mut self) -> Result<RunningNode, StartError> {
        let target = format!("{}:{}", self.host, self.port);
        let addr = tokio::net::lookup_host(&target)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| StartError::Bind {
                addr: self.options.listen,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("cannot resolve {target}"),
                ),
            })?;
        self.options.listen = addr;
        start(self.options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_between_boots_of_the_same_node() {
        let mut seeds: Vec<u64> = (0..64).map(|_| seed(NodeId(1))).collect();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), 64, "two seeds repeated");
    }
}
