//! `tern-node`: runs one Tern node, a local cluster (`cluster`), or the benchmark (`bench`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tern_core::NodeId;
use tern_node::bench::{self, BenchOptions};
use tern_node::cli::RunFlags;
use tern_node::{Exit, NodeOptions, RunningNode};

/// A node allocates and frees small buffers for every request and message (frames, records,
/// keys, clocks); the system allocator spent about 15% of a loaded node's samples in
/// malloc and free (reports/redis-side-by-side-notes.md). mimalloc, as the simulator uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "tern-node",
    version,
    about = "A Tern node: masterless, replicated key-value store",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, global = true)]
    log: Option<String>,
    /// Runtime threads for sockets and the node task (1: a single thread, which costs the
    /// least CPU per request; the disk thread is separate either way).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// YAML file with the same fields as the flags (flags win).
    #[arg(long)]
    config: Option<PathBuf>,
    /// This node's id (a number, unique in the cluster).
    #[arg(long)]
    id: Option<u32>,
    /// Address to listen on for clients and peers, e.g. 127.0.0.1:7001.
    #[arg(long)]
    listen: Option<String>,
    /// The other members: ID=HOST:PORT,... e.g. 2=127.0.0.1:7002,3=127.0.0.1:7003.
    #[arg(long)]
    peers: Option<String>,
    /// Directory for this node's log files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Compact the log once it holds more than this many bytes (and twice the live data).
    #[arg(long)]
    compact_min_bytes: Option<u64>,
    /// How long a coordinator works on a request before answering with an error.
    #[arg(long)]
    request_timeout_ms: Option<u64>,
    /// How long every replica must hold a deleted key's tombstones before they are
    /// collected (default 60000; more than twice the request timeout).
    #[arg(long)]
    tombstone_grace_ms: Option<u64>,
    /// Stem search tokens: on (default) or off. Every node of a cluster must use the same.
    #[arg(long, value_name = "on|off")]
    stemming: Option<String>,
    /// Keep a search index of this node's keys: on (default) or off (searches are refused,
    /// writes skip the indexing work). Every node of a cluster must use the same.
    #[arg(long, value_name = "on|off")]
    search_index: Option<String>,
    /// Rebuild from the other replicas at every restart before this node's reads count
    /// toward R: on (default) or off. A node cannot tell its data directory from an older
    /// copy of it (a restored backup); off is safe only where none is ever restored.
    #[arg(long, value_name = "on|off")]
    rebuild_on_restart: Option<String>,
    /// Also serve Redis clients (RESP2 and RESP3, docs/REDIS.md) on this address, e.g.
    /// 127.0.0.1:6380.
    #[arg(long, value_name = "ADDR")]
    redis_listen: Option<std::net::SocketAddr>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a local cluster on loopback in this process (Ctrl-C stops it).
    Cluster {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Each node keeps its log under DIR/node-ID.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Node i listens on 127.0.0.1:(BASE_PORT + i - 1).
        #[arg(long, default_value_t = 7001)]
        base_port: u16,
        #[arg(long)]
        compact_min_bytes: Option<u64>,
        /// Node i serves Redis clients on 127.0.0.1:(REDIS_BASE_PORT + i - 1); 0: no Redis
        /// listener.
        #[arg(long, default_value_t = 6380)]
        redis_base_port: u16,
        /// Keep a search index on every node: on (default) or off (searches are refused,
        /// writes skip the indexing work: for data that is not text).
        #[arg(long, value_name = "on|off")]
        search_index: Option<String>,
    },
    /// Benchmark: sets, gets, bulk sets and bulk gets, against a cluster it starts (or
    /// --nodes).
    Bench(BenchOptions),
}

fn init_logs(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("bad --log filter {filter:?} ({e}); using info");
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Resolves on Ctrl-C or SIGTERM.
async fn signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the node");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}

async fn run_node(options: NodeOptions, redis: Option<std::net::SocketAddr>) -> ExitCode {
    let node = match tern_node::start(options).await {
        Ok(node) => node,
        Err(error) => {
            eprintln!("tern-node: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(addr) = redis {
        if let Err(error) = node.listen_redis(addr).await {
            eprintln!("tern-node: Redis listener: {error}");
            node.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    let stop = node.stopper();
    tokio::spawn(async move {
        signal().await;
        let _ = stop.send(true);
    });
    report_exit(node.wait().await)
}

fn report_exit(exit: Exit) -> ExitCode {
    match exit {
        Exit::Clean => ExitCode::SUCCESS,
        Exit::DiskFailed(error) => {
            eprintln!("tern-node: stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What `tern-node cluster` was asked for.
struct ClusterFlags {
    count: u32,
    data_dir: PathBuf,
    base_port: u16,
    compact_min_bytes: Option<u64>,
    redis_base_port: u16,
    search_index: Option<bool>,
}

async fn run_cluster(flags: ClusterFlags) -> ExitCode {
    let ClusterFlags {
        count,
        data_dir,
        base_port,
        compact_min_bytes,
        redis_base_port,
        search_index,
    } = flags;
    if count == 0
        || u32::from(u16::MAX - base_port) < count
        || u32::from(u16::MAX - redis_base_port) < count
    {
        eprintln!(
            "tern-node cluster: --nodes must be at least 1 and the ports must fit below 65536"
        );
        return ExitCode::FAILURE;
    }
    let addr = |i: u32| format!("127.0.0.1:{}", u32::from(base_port) + i - 1);
    let redis_port = |i: u32| u32::from(redis_base_port) + i - 1;
    let mut nodes: Vec<RunningNode> = Vec::new();
    for i in 1..=count {
        let options = NodeOptions {
            id: NodeId(i),
            listen: addr(i).parse().expect("loopback address"),
            peers: (1..=count)
                .filter(|p| *p != i)
                .map(|p| (NodeId(p), addr(p)))
                .collect(),
            data_dir: data_dir.join(format!("node-{i}")),
            compact_min_bytes,
            request_timeout_ms: None,
            stemming: None,
            search_index,
            rebuild_on_restart: None,
            tombstone_grace_ms: None,
        };
        let started = match tern_node::start(options).await {
            Ok(node) if redis_base_port == 0 => Ok(node),
            Ok(node) => {
                let redis = format!("127.0.0.1:{}", redis_port(i));
                let redis = redis.parse().expect("loopback address");
                match node.listen_redis(redis).await {
                    Ok(_) => Ok(node),
                    Err(error) => {
                        node.shutdown().await;
                        Err(error)
                    }
                }
            }
            Err(error) => Err(error),
        };
        match started {
            Ok(node) => nodes.push(node),
            Err(error) => {
                eprintln!("tern-node cluster: node {i}: {error}");
                for node in nodes {
                    node.shutdown().await;
                }
                return ExitCode::FAILURE;
            }
        }
    }
    let list: Vec<String> = (1..=count).map(addr).collect();
    println!(
        "tern cluster of {count} nodes on {}; data under {}",
        list.join(", "),
        data_dir.display()
    );
    println!("try:  tern --nodes {} set greeting hello", list.join(","));
    println!("      tern --nodes {} get greeting", list.join(","));
    if redis_base_port != 0 {
        let ports: Vec<String> = (1..=count).map(|i| redis_port(i).to_string()).collect();
        println!(
            "Redis clients (RESP2/RESP3, docs/REDIS.md) on 127.0.0.1 ports {}",
            ports.join(", ")
        );
        println!("try:  redis-cli -p {} set greeting hello", redis_port(1));
    }
    println!("Ctrl-C stops the cluster.");
    signal().await;
    let mut code = ExitCode::SUCCESS;
    for node in nodes {
        if let Exit::DiskFailed(error) = node.shutdown().await {
            eprintln!("tern-node cluster: {error}");
            code = ExitCode::FAILURE;
        }
    }
    code
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tern-node: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Cluster {
            nodes,
            data_dir,
            base_port,
            compact_min_bytes,
            redis_base_port,
            search_index,
        }) => {
            init_logs(cli.log.as_deref().unwrap_or("warn"));
            let search_index = match search_index
                .as_deref()
                .map(|text| tern_node::cli::parse_on_off("--search-index", text))
            {
                None => None,
                Some(Ok(on)) => Some(on),
                Some(Err(error)) => {
                    eprintln!("tern-node cluster: {error}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run_cluster(ClusterFlags {
                count: nodes,
                data_dir,
                base_port,
                compact_min_bytes,
                redis_base_port,
                search_index,
            }))
        }
        Some(Command::Bench(options)) => {
            init_logs(cli.log.as_deref().unwrap_or("warn"));
            match runtime.block_on(bench::run(options)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("tern-node bench: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            let a = cli.run;
            let redis = a.redis_listen;
            let flags = RunFlags {
                config: a.config,
                id: a.id,
                listen: a.listen,
                peers: a.peers,
                data_dir: a.data_dir,
                compact_min_bytes: a.compact_min_bytes,
                request_timeout_ms: a.request_timeout_ms,
                tombstone_grace_ms: a.tombstone_grace_ms,
                stemming: a.stemming,
                search_index: a.search_index,
                rebuild_on_restart: a.rebuild_on_restart,
            };
            let (options, file_log) = match flags.resolve() {
                Ok(resolved) => resolved,
                Err(error) => {
                    eprintln!("tern-node: {error}\nrun `tern-node --help` for the flags");
                    return ExitCode::FAILURE;
                }
            };
            init_logs(cli.log.as_deref().or(file_log.as_deref()).unwrap_or("info"));
            runtime.block_on(run_node(options, redis))
        }
    }
}
