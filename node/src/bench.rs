//! The benchmark (`tern-node bench`) and `ProcessCluster`, a cluster of `tern-node`
//! processes on loopback that the benchmark, the memory measurement and the crash test use.
//!
//! The workload is fixed so that figures compare across commits: COUNT sets of unique keys
//! with VALUE_BYTES values, INFLIGHT requests in flight, then as many gets of the same keys;
//! then the same number of keys again through bulk writes of BULK_KEYS new keys each, and
//! bulk reads of those keys, BULK_KEYS at a time; last, ALONE_COUNT sets and as many bulk
//! writes one at a time, whose latency no queue inflates (issue 10's target: a bulk write of
//! 10 keys costs at most 3x a single write's latency and moves at least 3x the keys per
//! second of single writes).
//! Latencies go to hdrhistogram; a markdown report is written with the exact command.

use crate::client::{Client, ClientOptions};
use clap::Args;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_core::{BulkItem, Op, Request, Response, VectorClock};

/// A free loopback port: bind port 0, read it, let it go.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One `tern-node` process of a `ProcessCluster`.
#[derive(Debug)]
struct ProcessNode {
    id: u32,
    addr: String,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A cluster of `tern-node` processes on loopback. Every process is killed when this is
/// dropped, also on panic, so a failing test leaves nothing running.
#[derive(Debug)]
pub struct ProcessCluster {
    exe: PathBuf,
    nodes: Vec<ProcessNode>,
    extra: Vec<String>,
}

impl ProcessCluster {
    /// Starts `count` nodes of `exe` with data under `data_dir/node-ID`; `extra` flags go to
    /// every node.
    pub fn spawn(
        exe: &Path,
        count: u32,
        data_dir: &Path,
        extra: &[String],
    ) -> io::Result<ProcessCluster> {
        let mut nodes = Vec::new();
        for id in 1..=count {
            let dir = data_dir.join(format!("node-{id}"));
            fs::create_dir_all(&dir)
                .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", dir.display())))?;
            nodes.push(ProcessNode {
                id,
                addr: format!("127.0.0.1:{}", free_port()?),
                log: data_dir.join(format!("node-{id}.log")),
                data_dir: dir,
                child: None,
            });
        }
        let mut cluster = ProcessCluster {
            exe: exe.to_path_buf(),
            nodes,
            extra: extra.to_vec(),
        };
        for i in 0..cluster.nodes.len() {
            cluster.start(i)?;
        }
        Ok(cluster)
    }

    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn log_path(&self, index: usize) -> &Path {
        &self.nodes[index].log
    }

    /// Starts node `index` (0-based) if it is not running.
    pub fn start(&mut self, index: usize) -> io::Result<()> {
        if self.nodes[index].child.is_some() {
            return Ok(());
        }
        let peers: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.id != self.nodes[index].id)
            .map(|n| format!("{}={}", n.id, n.addr))
            .collect();
        let node = &self.nodes[index];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", node.log.display())))?;
        let child = Command::new(&self.exe)
            .arg("--id")
            .arg(node.id.to_string())
            .arg("--listen")
            .arg(&node.addr)
            .arg("--peers")
            .arg(peers.join(","))
            .arg("--data-dir")
            .arg(&node.data_dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("start {}: {e}", self.exe.display())))?;
        self.nodes[index].child = Some(child);
        Ok(())
    }

    /// Kills node `index` with SIGKILL and reaps it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks node `index` to stop with SIGTERM and waits up to `timeout` for it; kills it if
    /// it has not stopped by then. Returns how long it took, or None if it had to be killed.
    pub fn terminate(&mut self, index: usize, timeout: Duration) -> Option<Duration> {
        let mut child = self.nodes[index].child.take()?;
        let started = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        while started.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].child.as_ref().map(Child::id)
    }

    /// Resident memory of node `index`, from /proc.
    pub fn rss_bytes(&self, index: usize) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid(index)?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Disk bytes of node `index`'s data directory.
    pub fn disk_bytes(&self, index: usize) -> u64 {
        fs::read_dir(&self.nodes[index].data_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Waits until node `index` answers a ping as booted; returns how long that took.
    pub async fn wait_ready(&self, index: usize, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let addr = self.nodes[index].addr.clone();
        let options = ClientOptions {
            connect_timeout_ms: 500,
            reply_timeout_ms: 1_000,
        };
        while started.elapsed() < timeout {
            let client = Client::lazy(&[addr.as_str()], options.clone());
            if let Ok(pong) = client.ping().await {
                if pong.booted {
                    return Ok(started.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!(
            "node {} at {addr} not ready after {timeout:?}",
            self.nodes[index].id
        ))
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// `tern-node bench` options.
#[derive(Args, Debug, Clone)]
pub struct BenchOptions {
    /// Use this running cluster (HOST:PORT,...) instead of starting one.
    #[arg(long)]
    pub nodes: Option<String>,
    /// Nodes to start (as `tern-node` processes) when --nodes is not given.
    #[arg(long, default_value_t = 3)]
    pub start: u32,
    /// Started nodes keep their data in a fresh folder `bench-PID` under this one, removed
    /// at the end (nothing else in it is touched).
    #[arg(long, default_value = "./bench-data")]
    pub data_dir: PathBuf,
    /// Number of sets (and then of gets).
    #[arg(long, default_value_t = 200_000)]
    pub count: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_bytes: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    pub inflight: usize,
    /// Client connections (spread over the nodes).
    #[arg(long, default_value_t = 3)]
    pub connections: usize,
    /// Skip the get phases (single and bulk).
    #[arg(long)]
    pub no_gets: bool,
    /// Keys per bulk write and per bulk read in the bulk phases, which move as many keys as
    /// the single phases (COUNT / BULK_KEYS requests); 0 skips them.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=tern_core::limits::BULK_KEYS_MAX as u64))]
    pub bulk_keys: u64,
    /// Sets, and bulk sets, made one at a time after the loaded phases: the latency of one
    /// request on an idle cluster, which the loaded phases' queueing hides; 0 skips them.
    #[arg(long, default_value_t = 1000)]
    pub alone_count: u64,
    /// After loading, print each node's resident memory and time a restart of node 1.
    #[arg(long)]
    pub memory: bool,
    /// Write the markdown report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Started nodes keep a search index: on (default) or off (`tern-node --search-index`;
    /// the benchmark's values are random, not text).
    #[arg(long, value_name = "on|off")]
    pub search_index: Option<String>,
}

/// What one phase's requests do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A set of one new key, blind.
    Set,
    /// A get of one key the set phase wrote, checked.
    Get,
    /// A bulk write of `bulk_keys` new keys, blind.
    BulkSet,
    /// A bulk read of `bulk_keys` keys one bulk write wrote, each checked.
    BulkGet,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Set => "set",
            Kind::Get => "get",
            Kind::BulkSet => "bulk-set",
            Kind::BulkGet => "bulk-get",
        }
    }

    fn is_bulk(self) -> bool {
        matches!(self, Kind::BulkSet | Kind::BulkGet)
    }
}

/// How hard one phase pushes: `count` requests, `inflight` at a time, the first being
/// request `first` of its kind (so that each phase writes new keys).
#[derive(Clone, Copy, Debug)]
struct Load {
    count: u64,
    inflight: usize,
    first: u64,
}

/// Results of one phase.
#[derive(Debug)]
pub struct Phase {
    pub name: &'static str,
    /// Keys each request reads or writes.
    pub keys: u64,
    /// Made one request at a time (the `alone_count` phases).
    pub alone: bool,
    pub ok: u64,
    pub failed: u64,
    pub wrong: u64,
    pub seconds: f64,
    pub latency: Histogram<u64>,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    /// Keys read or written per second by the requests that succeeded.
    pub fn key_rate(&self) -> f64 {
        self.rate() * self.keys as f64
    }

    /// Latency at quantile `q`, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    fn label(&self) -> String {
        let mut label = self.name.to_string();
        if self.keys != 1 {
            let _ = write!(label, " ({} keys)", self.keys);
        }
        if self.alone {
            label.push_str(", 1 in flight");
        }
        label
    }

    fn row(&self) -> String {
        let q = |p: f64| self.quantile_ms(p);
        format!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            self.label(),
            self.ok,
            self.failed + self.wrong,
            self.seconds,
            self.rate(),
            q(0.5),
            q(0.99),
            q(0.999),
            self.latency.max() as f64 / 1000.0
        )
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("bench-{i:010}").into_bytes()
}

/// The keys of the bulk phases: not those of the single phases, so each bulk write's keys
/// are new, as each set's key is.
fn bulk_key(i: u64) -> Vec<u8> {
    format!("bench-bulk-{i:010}").into_bytes()
}

fn value(i: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{i:020}-").into_bytes();
    v.resize(len, b'v');
    v
}

/// Sends one request of `kind`, the `i`th of its phase: true if it succeeded and read back
/// what was written.
async fn one(
    client: &Client,
    kind: Kind,
    i: u64,
    keys: u64,
    value_bytes: usize,
) -> Result<bool, ()> {
    match kind {
        Kind::Set => client
            .set(&key(i), &value(i, value_bytes), &VectorClock::new())
            .await
            .map(|_| true)
            .map_err(drop),
        Kind::Get => client
            .get(&key(i))
            .await
            .map(|o| o.values().any(|v| v == value(i, value_bytes).as_slice()))
            .map_err(drop),
        Kind::BulkSet => {
            let items = (i * keys..(i + 1) * keys)
                .map(|k| BulkItem {
                    key: bulk_key(k),
                    value: Some(value(k, value_bytes)),
                    context: VectorClock::new(),
                })
                .collect();
            let op = Op::BulkWrite { items };
            match client.request(Request::new(op)).await {
                Ok(Response::BulkWritten { .. }) => Ok(true),
                Ok(_) => Ok(false),
                Err(_) => Err(()),
            }
        }
        Kind::BulkGet => {
            let first = i * keys;
            let op = Op::BulkGet {
                keys: (first..first + keys).map(|k| bulk_key(k).into()).collect(),
            };
            match client.request(Request::new(op)).await {
                Ok(Response::Objects(objects)) => Ok(objects.len() as u64 == keys
                    && objects
                        .iter()
                        .zip(first..)
                        .all(|(o, k)| o.values().any(|v| v == value(k, value_bytes).as_slice()))),
                Ok(_) => Ok(false),
                Err(_) => Err(()),
            }
        }
    }
}

/// Runs a phase of `kind` as `load` says, its workers spread over `clients`.
async fn phase(kind: Kind, clients: &[Client], options: &BenchOptions, load: Load) -> Phase {
    let keys = if kind.is_bulk() { options.bulk_keys } else { 1 };
    let Load {
        count,
        inflight,
        first,
    } = load;
    let next = Arc::new(AtomicU64::new(first));
    let end = first + count;
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..inflight {
        let client = clients[w % clients.len()].clone();
        let next = next.clone();
        let value_bytes = options.value_bytes;
        workers.push(tokio::spawn(async move {
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let (mut ok, mut failed, mut wrong) = (0u64, 0u64, 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let t = Instant::now();
                let good = one(&client, kind, i, keys, value_bytes).await;
                let _ = latency.record(t.elapsed().as_micros() as u64);
                match good {
                    Ok(true) => ok += 1,
                    Ok(false) => wrong += 1,
                    Err(_) => failed += 1,
                }
            }
            (latency, ok, failed, wrong)
        }));
    }
    let mut result = Phase {
        name: kind.name(),
        keys,
        alone: inflight == 1 && options.inflight != 1,
        ok: 0,
        failed: 0,
        wrong: 0,
        seconds: 0.0,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
    };
    for worker in workers {
        let (latency, ok, failed, wrong) = worker.await.expect("bench worker");
        let _ = result.latency.add(latency);
        result.ok += ok;
        result.failed += failed;
        result.wrong += wrong;
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// CPU seconds (user + system) used by a process, from /proc (clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Busy and total CPU seconds of the whole machine, from /proc/stat (ticks of 1/100 s).
pub fn machine_cpu_seconds() -> Option<(f64, f64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0.0);
    Some(((total - idle) / 100.0, total / 100.0))
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Runs the benchmark and prints (and optionally writes) the report.
pub async fn run(options: BenchOptions) -> Result<(), String> {
    if options.inflight == 0 || options.connections == 0 || options.count == 0 {
        return Err("--count, --inflight and --connections must be at least 1".to_string());
    }
    let mut cluster = None;
    let scratch = options
        .data_dir
        .join(format!("bench-{}", std::process::id()));
    let addrs: Vec<String> = match &options.nodes {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find tern-node itself: {e}"))?;
            let _ = fs::remove_dir_all(&scratch);
            let mut flags = vec!["--log".to_string(), "warn".to_string()];
            if let Some(on_off) = &options.search_index {
                crate::cli::parse_on_off("--search-index", on_off)?;
                flags.extend(["--search-index".to_string(), on_off.clone()]);
            }
            let c = ProcessCluster::spawn(&exe, options.start, &scratch, &flags)
                .map_err(|e| e.to_string())?;
            for i in 0..c.len() {
                c.wait_ready(i, Duration::from_secs(30)).await?;
            }
            let addrs = c.addrs();
            cluster = Some(c);
            addrs
        }
    };
    let mut clients = Vec::new();
    for c in 0..options.connections {
        // Each connection starts at a different node, so coordination is spread.
        let mut order = addrs.clone();
        order.rotate_left(c % addrs.len());
        clients.push(Client::connect(&order).await.map_err(|e| e.to_string())?);
    }
    let pids: Vec<u32> = cluster
        .as_ref()
        .map(|c| (0..c.len()).filter_map(|i| c.pid(i)).collect())
        .unwrap_or_default();
    let cpu = |pids: &[u32]| -> (f64, f64) {
        let ours = pids.iter().filter_map(|p| cpu_seconds(*p)).sum::<f64>()
            + cpu_seconds(std::process::id()).unwrap_or(0.0);
        (ours, machine_cpu_seconds().map_or(0.0, |(busy, _)| busy))
    };
    let mut phases = Vec::new();
    let mut cpu_rows = Vec::new();
    // The loaded phases move `count` keys each (bulk ones in `count / bulk_keys` requests);
    // then sets and bulk sets one at a time, on new keys.
    let bulk_count = (options.count / options.bulk_keys.max(1)).max(1);
    let loaded = |count| Load {
        count,
        inflight: options.inflight,
        first: 0,
    };
    let alone = |first| Load {
        count: options.alone_count,
        inflight: 1,
        first,
    };
    let mut plan = vec![
        (Kind::Set, loaded(options.count)),
        (Kind::Get, loaded(options.count)),
        (Kind::BulkSet, loaded(bulk_count)),
        (Kind::BulkGet, loaded(bulk_count)),
        (Kind::Set, alone(options.count)),
        (Kind::BulkSet, alone(bulk_count)),
    ];
    plan.retain(|(kind, load)| {
        !(options.no_gets && matches!(kind, Kind::Get | Kind::BulkGet)
            || options.bulk_keys == 0 && kind.is_bulk()
            || load.count == 0)
    });
    for (kind, load) in plan {
        let before = cpu(&pids);
        let result = phase(kind, &clients, &options, load).await;
        let after = cpu(&pids);
        let row = CpuRow {
            name: result.label(),
            ours: after.0 - before.0,
            machine: after.1 - before.1,
            seconds: result.seconds,
            ops: result.ok,
        };
        println!("{}   {}", result.row(), row.line());
        cpu_rows.push(row);
        phases.push(result);
    }
    let mut memory = String::new();
    if options.memory {
        if let Some(cluster) = cluster.as_mut() {
            memory = measure_memory(cluster, &options).await?;
            println!("{memory}");
        }
    }
    let bulk = bulk_comparison(&phases);
    if !bulk.is_empty() {
        println!("{bulk}");
    }
    let report = render(&options, &phases, &cpu_rows, &bulk, &memory);
    if let Some(path) = &options.report {
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        fs::write(path, &report).map_err(|e| format!("write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    drop(cluster);
    if options.nodes.is_none() {
        let _ = fs::remove_dir_all(&scratch);
    }
    Ok(())
}

async fn measure_memory(
    cluster: &mut ProcessCluster,
    options: &BenchOptions,
) -> Result<String, String> {
    let raw = options.count * (key(0).len() + options.value_bytes) as u64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| node | resident memory | x raw key+value bytes ({:.1} MB) | log on disk |",
        raw as f64 / 1e6
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for i in 0..cluster.len() {
        let rss = cluster.rss_bytes(i).unwrap_or(0);
        let _ = writeln!(
            out,
            "| {} | {:.1} MB | {:.2} | {:.1} MB |",
            i + 1,
            rss as f64 / 1e6,
            rss as f64 / raw as f64,
            cluster.disk_bytes(i) as f64 / 1e6
        );
    }
    let stopped = cluster.terminate(0, Duration::from_secs(30));
    let started = Instant::now();
    cluster.start(0).map_err(|e| e.to_string())?;
    let ready = cluster.wait_ready(0, Duration::from_secs(120)).await?;
    let _ = writeln!(
        out,
        "\nRestart of node 1 (SIGTERM, then start until it answers a ping as booted): stop took {}, start to ready {:.2} s (process start included: {:.2} s).",
        stopped.map_or("over 30 s (killed)".to_string(), |d| format!("{:.2} s", d.as_secs_f64())),
        ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "Resident memory of node 1 after the restart: {:.1} MB.",
        cluster.rss_bytes(0).unwrap_or(0) as f64 / 1e6
    );
    Ok(out)
}

/// CPU used during one phase.
#[derive(Debug)]
struct CpuRow {
    name: String,
    /// CPU seconds of the nodes and the benchmark client.
    ours: f64,
    /// CPU seconds of the whole machine (ours and anything else running).
    machine: f64,
    seconds: f64,
    ops: u64,
}

impl CpuRow {
    fn line(&self) -> String {
        format!(
            "{}: tern {:.2} cores, whole machine {:.2} cores, {:.1} CPU-us per op",
            self.name,
            self.ours / self.seconds,
            self.machine / self.seconds,
            self.ours * 1e6 / self.ops.max(1) as f64
        )
    }
}

/// Bulk requests against single ones, key for key: issue 10's two targets.
fn bulk_comparison(phases: &[Phase]) -> String {
    let find = |name: &str, alone: bool| phases.iter().find(|p| p.name == name && p.alone == alone);
    let mut out = String::new();
    let pairs = [
        ("bulk-set", "set", "writes", false),
        ("bulk-get", "get", "reads", false),
        ("bulk-set", "set", "writes", true),
    ];
    for (bulk, single, what, alone) in pairs {
        let (Some(b), Some(s)) = (find(bulk, alone), find(single, alone)) else {
            continue;
        };
        let how = if alone { ", 1 in flight" } else { "" };
        if out.is_empty() {
            let _ = writeln!(
                out,
                "| bulk against single | keys/s bulk | keys/s single | keys/s ratio | p50 ratio | p99 ratio |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
        }
        let _ = writeln!(
            out,
            "| {what} of {} keys{how} | {:.0} | {:.0} | {:.2}x | {:.2}x | {:.2}x |",
            b.keys,
            b.key_rate(),
            s.key_rate(),
            b.key_rate() / s.key_rate(),
            b.quantile_ms(0.5) / s.quantile_ms(0.5),
            b.quantile_ms(0.99) / s.quantile_ms(0.99)
        );
    }
    out
}

fn render(
    options: &BenchOptions,
    phases: &[Phase],
    cpu: &[CpuRow],
    bulk: &str,
    memory: &str,
) -> String {
    let mut r = String::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(r, "# Tern benchmark\n");
    let _ = writeln!(
        r,
        "Command: `tern-node {}` (release build)\n",
        args.join(" ")
    );
    let _ = writeln!(
        r,
        "Machine: {} cores, {}. Cluster: {}, N=3 W=2 R=2, every acknowledgement after fdatasync on W replicas, loopback TCP.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        options.nodes.as_ref().map_or(format!("{} `tern-node` processes started by the benchmark", options.start), |n| format!("running nodes {n}"))
    );
    let _ = writeln!(
        r,
        "Workload: {} sets of unique keys with {}-byte values, then {} gets of the same keys (each checked), {} requests in flight over {} connections.\n",
        options.count, options.value_bytes, options.count, options.inflight, options.connections
    );
    if let Some(bulk_count) = options.count.checked_div(options.bulk_keys) {
        let _ = writeln!(
            r,
            "Then as many keys again in bulk: {} bulk writes of {} new keys each (atomic: prepare on W replicas of every key, then commit), then {} bulk reads of {} of those keys each (read-atomic, each value checked), {} bulk requests in flight.\n",
            bulk_count.max(1),
            options.bulk_keys,
            bulk_count.max(1),
            options.bulk_keys,
            options.inflight
        );
    }
    if options.alone_count > 0 {
        let _ = writeln!(
            r,
            "Last, on an otherwise idle cluster, {} sets{} one at a time, each on new keys: the latency of one request without queueing.\n",
            options.alone_count,
            if options.bulk_keys > 0 { format!(" and {} bulk writes of {} keys", options.alone_count, options.bulk_keys) } else { String::new() },
        );
    }
    let _ = writeln!(
        r,
        "| phase | ok | failed | seconds | ops/s | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|---|---|---|");
    for p in phases {
        let _ = writeln!(r, "{}", p.row());
    }
    if !bulk.is_empty() {
        // `bulk` ends its table with a newline of its own.
        let _ = write!(
            r,
            "\nBulk requests against single ones (ratios: bulk over single; issue 10's targets: keys/s ratio of writes at least 3x, p50 ratio of writes at most 3x):\n\n{bulk}"
        );
    }
    let _ = writeln!(
        r,
        "\nCPU (user+system from /proc; \"tern\" is the nodes and the benchmark client, \"whole machine\" includes anything else that ran):\n"
    );
    for row in cpu {
        let _ = writeln!(r, "- {}", row.line());
    }
    if !memory.is_empty() {
        let _ = writeln!(r, "\n## Memory and restart\n\n{memory}");
    }
    r
}
