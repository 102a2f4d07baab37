//! The search benchmark (issue 8, item 8) through a 3-node cluster of `tern-node` processes
//! (N = 3, W = 2, R = 2) over TCP, through the client library.
//!
//! It uses the corpus and the query mix of the index-level benchmark
//! (core/examples/search_bench: the same seed gives the same documents and queries), loads
//! the documents through the cluster with the index on (the cluster's index build rate),
//! reads each node's resident memory, times every query kind one at a time from one client
//! (p50/p99/max), checks every answer against an `Index` built in this process from the same
//! documents, then times a SIGKILL and restart of one node and a clean restart of the whole
//! cluster: from process start until the node answers a get and a search; then, for
//! comparison, loads and restarts the same cluster with `--search-index off`. It prints a
//! section and writes it into the report under "Through a 3-node cluster", leaving the rest
//! of the report as it is.
//!
//! ```text
//! cargo build --release -p node --bins --examples
//! target/release/examples/search_cluster_bench [--docs 100000] [--words 100] \
//!     [--vocabulary 50000] [--seed 1] [--queries 1000] [--runs 1] [--inflight 64] \
//!     [--kind-seconds 120] [--no-baseline] \
//!     [--tern-node PATH] [--data-dir DIR] [--report PATH | --no-report]
//! ```
//!
//! A benchmark run by hand, never in CI: speed is not asserted anywhere.

#[path = "../../core/examples/search_bench/corpus.rs"]
#[allow(dead_code)]
mod corpus;
#[path = "../../core/examples/search_bench/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "../../core/examples/search_bench/workload.rs"]
mod workload;

use measure::{cpu_model, latency, median, Digest, Latency};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_core::ring::partition_of;
use tern_core::search::{Hit, Index, Page, PartitionSet, Tokenizer};
use tern_core::{Paging, Scored, VectorClock};
use tern_node::bench::ProcessCluster;
use tern_node::{Client, ClientOptions};
use workload::{generate, queries, Kind, KINDS};

/// Partitions of the ring, as core places keys.
const PARTITIONS: u32 = tern_core::limits::PARTITIONS;
/// How long a restarted node may take to answer before the benchmark gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

struct Args {
    docs: usize,
    words: usize,
    vocabulary: usize,
    seed: u64,
    queries: usize,
    runs: usize,
    inflight: usize,
    /// Each kind of query stops after this long (the rest are counted as not run).
    kind_seconds: u64,
    /// Also load a cluster with the index off, for comparison.
    baseline: bool,
    tern_node: Option<PathBuf>,
    data_dir: PathBuf,
    report: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: search_cluster_bench [--docs N] [--words N] [--vocabulary N] [--seed N] \
         [--queries N] [--runs N] [--inflight N] [--kind-seconds N] [--no-baseline] [--tern-node PATH] \
         [--data-dir DIR] [--report PATH | --no-report]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        docs: 100_000,
        words: 100,
        vocabulary: 50_000,
        seed: 1,
        queries: 1000,
        runs: 1,
        inflight: 64,
        kind_seconds: 120,
        baseline: true,
        tern_node: None,
        data_dir: PathBuf::from("./bench-data"),
        report: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/search-bench.md").into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-report" {
            args.report = None;
            continue;
        }
        if flag == "--no-baseline" {
            args.baseline = false;
            continue;
        }
        let Some(value) = it.next() else { usage() };
        let number = || value.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--docs" => args.docs = number() as usize,
            "--words" => args.words = number() as usize,
            "--vocabulary" => args.vocabulary = number() as usize,
            "--seed" => args.seed = number(),
            "--queries" => args.queries = number() as usize,
            "--runs" => args.runs = number() as usize,
            "--inflight" => args.inflight = number() as usize,
            "--kind-seconds" => args.kind_seconds = number(),
            "--tern-node" => args.tern_node = Some(PathBuf::from(value)),
            "--data-dir" => args.data_dir = PathBuf::from(value),
            "--report" => args.report = Some(PathBuf::from(value)),
            _ => usage(),
        }
    }
    if args.docs == 0
        || args.words == 0
        || args.vocabulary < 2
        || args.runs == 0
        || args.inflight == 0
    {
        usage()
    }
    args
}

/// `tern-node` next to this example's folder (target/release/examples/..), unless given.
fn tern_node_exe(args: &Args) -> Result<PathBuf, String> {
    if let Some(path) = &args.tern_node {
        return Ok(path.clone());
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let exe = me
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("tern-node"))
        .ok_or("cannot find tern-node: give --tern-node PATH")?;
    if !exe.exists() {
        return Err(format!(
            "{} does not exist: build it (cargo build --release -p node --bins) or give \
             --tern-node PATH",
            exe.display()
        ));
    }
    Ok(exe)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Every node's resident memory, bytes (0 where /proc could not be read).
fn resident(cluster: &ProcessCluster) -> Vec<u64> {
    (0..cluster.len())
        .map(|i| cluster.rss_bytes(i).unwrap_or(0))
        .collect()
}

/// Writes every document through the cluster, `inflight` at a time over one connection per
/// node; retries a failed write up to twice. Returns the seconds and writes that failed.
async fn load(clients: &[Client], docs: &Arc<Vec<(Vec<u8>, String)>>, inflight: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..inflight {
        let client = clients[w % clients.len()].clone();
        let (next, done, docs) = (next.clone(), done.clone(), docs.clone());
        workers.push(tokio::spawn(async move {
            let fresh = VectorClock::new();
            let mut failed = Vec::new();
            let step = (docs.len() / 10).max(1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((key, text)) = docs.get(i) else {
                    break;
                };
                let mut tries = 0;
                while let Err(error) = client.set(key, text.as_bytes(), &fresh).await {
                    tries += 1;
                    if tries == 3 || error.maybe_applied() {
                        failed.push(format!("{}: {error}", String::from_utf8_lossy(key)));
                        break;
                    }
                }
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if finished % step == 0 {
                    eprintln!(
                        "  load: {finished} of {} documents, {:.1} s",
                        docs.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            failed
        }));
    }
    let mut failed = Vec::new();
    for worker in workers {
        failed.extend(
            worker
                .await
                .unwrap_or_else(|e| vec![format!("worker: {e}")]),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    if !failed.is_empty() {
        eprintln!("{} writes failed, e.g. {}", failed.len(), failed[0]);
    }
    assert!(
        failed.is_empty(),
        "the load must write every document, or the answers cannot be checked"
    );
    seconds
}

/// How the cluster's answers to one kind of query compare with the index built here.
#[derive(Default)]
struct Checked {
    same: usize,
    /// Same keys in the same order, scores differing in their last bits.
    rounding: usize,
    different: usize,
    /// Not asked: the kind's time was up.
    not_run: usize,
    /// Refused, by error message.
    refused: BTreeMap<String, usize>,
    /// How long the refusals took.
    refused_after: Vec<Duration>,
}

fn same(ours: &[Hit], theirs: &[Scored]) -> (bool, bool) {
    let keys = ours.len() == theirs.len() && ours.iter().zip(theirs).all(|(a, b)| a.key == b.key);
    let bits = keys
        && ours
            .iter()
            .zip(theirs)
            .all(|(a, b)| a.score.to_bits() == b.score.to_bits());
    let close = keys
        && ours
            .iter()
            .zip(theirs)
            .all(|(a, b)| (a.score - b.score).abs() <= 1e-9 * a.score.abs().max(1.0));
    (bits, close)
}

/// Runs every query of one kind once through `client`, one at a time; checks each answer.
async fn run_kind(
    client: &Client,
    reference: &Index,
    kind: Kind,
    queries: &[String],
    digest: &mut Digest,
    checked: &mut Checked,
    budget: Duration,
) -> Latency {
    let all = PartitionSet::all(PARTITIONS);
    let mut samples = Vec::with_capacity(queries.len());
    let started = Instant::now();
    for (i, query) in queries.iter().enumerate() {
        if started.elapsed() > budget {
            checked.not_run = queries.len() - i;
            break;
        }
        let start = Instant::now();
        let answer = match kind {
            Kind::Similar => client.similar(query, 10).await.map(|hits| (hits, None)),
            _ => client
                .search(query, Paging::first(10))
                .await
                .map(|page| (page.hits, Some(page.total))),
        };
        let elapsed = start.elapsed();
        let (hits, total) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                *checked.refused.entry(error.to_string()).or_default() += 1;
                checked.refused_after.push(elapsed);
                continue;
            }
        };
        samples.push(elapsed);
        let (ours, our_total) = match kind {
            Kind::Similar => (reference.similar(query, 10, &all).expect("a text"), None),
            _ => {
                let page = reference
                    .search(query, &all, Page::first(10))
                    .expect("a query");
                (page.hits, Some(page.total as u64))
            }
        };
        let (bits, close) = same(&ours, &hits);
        if total != our_total || !close {
            checked.different += 1;
        } else if bits {
            checked.same += 1;
        } else {
            checked.rounding += 1;
        }
        if let Some(total) = total {
            digest.add(&total.to_le_bytes());
        }
        for hit in &hits {
            digest.hit(&hit.key, hit.score);
        }
    }
    latency(&mut samples)
}

/// Polls node `index` until it answers a get of `key` (with a value) and a search (if
/// `query` is given), each coordinated by that node; returns the time since `since`.
async fn answers(
    cluster: &ProcessCluster,
    index: usize,
    key: &[u8],
    query: Option<&str>,
    since: Instant,
) -> Result<Duration, String> {
    let addr = cluster.addrs()[index].clone();
    let options = ClientOptions {
        connect_timeout_ms: 500,
        reply_timeout_ms: 5_000,
    };
    let client = Client::lazy(&[addr.as_str()], options);
    let mut last = String::new();
    while since.elapsed() < READY_TIMEOUT {
        match client.get(key).await {
            Ok(object) if object.values().next().is_some() => {
                let Some(query) = query else {
                    return Ok(since.elapsed());
                };
                match client.search(query, Paging::first(10)).await {
                    Ok(_) => return Ok(since.elapsed()),
                    Err(e) => last = format!("search: {e}"),
                }
            }
            Ok(_) => last = "get: the key has no value".to_string(),
            Err(e) => last = format!("get: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!(
        "node at {addr} did not answer within {READY_TIMEOUT:?} (last: {last})"
    ))
}

/// A restart's figures: to booted (ping), and to answering a get and a search.
struct Restart {
    booted: Duration,
    answering: Duration,
}

async fn restart(
    cluster: &mut ProcessCluster,
    index: usize,
    key: &[u8],
    query: Option<&str>,
) -> Result<Restart, String> {
    let since = Instant::now();
    cluster.start(index).map_err(|e| e.to_string())?;
    let booted = since.elapsed() + cluster.wait_ready(index, READY_TIMEOUT).await?;
    let answering = answers(cluster, index, key, query, since).await?;
    Ok(Restart { booted, answering })
}

/// A cluster of 3 `tern-node` processes holding the corpus, and what loading it took.
struct Loaded {
    cluster: ProcessCluster,
    clients: Vec<Client>,
    load_seconds: f64,
    rss_empty: Vec<u64>,
    rss_loaded: Vec<u64>,
    disk: Vec<u64>,
}

/// Starts 3 nodes with data under `dir` and `flags`, and loads every document through them.
async fn start_and_load(
    exe: &std::path::Path,
    dir: &std::path::Path,
    flags: &[String],
    docs: &Arc<Vec<(Vec<u8>, String)>>,
    inflight: usize,
) -> Result<Loaded, String> {
    let _ = std::fs::remove_dir_all(dir);
    eprintln!("starting 3 tern-node processes {}", flags.join(" "));
    let cluster = ProcessCluster::spawn(exe, 3, dir, flags).map_err(|e| e.to_string())?;
    for i in 0..cluster.len() {
        cluster.wait_ready(i, READY_TIMEOUT).await?;
    }
    let addrs = cluster.addrs();
    let rss_empty = resident(&cluster);
    let mut clients = Vec::new();
    for c in 0..addrs.len() {
        let mut order = addrs.clone();
        order.rotate_left(c);
        clients.push(Client::connect(&order).await.map_err(|e| e.to_string())?);
    }
    eprintln!("loading {} documents through the cluster", docs.len());
    let load_seconds = load(&clients, docs, inflight).await;
    let rss_loaded = resident(&cluster);
    let disk = (0..cluster.len()).map(|i| cluster.disk_bytes(i)).collect();
    Ok(Loaded {
        cluster,
        clients,
        load_seconds,
        rss_empty,
        rss_loaded,
        disk,
    })
}

/// Replaces the section headed `heading` in the report (up to the next `## ` heading), or
/// appends it.
fn write_section(path: &PathBuf, heading: &str, section: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match old.find(heading) {
        Some(at) => {
            let after = at + heading.len();
            let end = old[after..]
                .find("\n## ")
                .map_or(old.len(), |i| after + i + 1);
            format!("{}{section}{}", &old[..at], &old[end..])
        }
        None if old.is_empty() => section.to_string(),
        None => format!(
            "{}\n{section}",
            old.trim_end_matches('\n').to_string() + "\n"
        ),
    };
    std::fs::write(path, new).map_err(|e| format!("writing {}: {e}", path.display()))
}

const HEADING: &str = "## Through a 3-node cluster";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(error) = run(parse_args()).await {
        eprintln!("search_cluster_bench: {error}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let exe = tern_node_exe(&args)?;
    let tokenizer = Tokenizer::default();
    eprintln!(
        "generating {} documents of about {} words over {} made-up words (seed {})",
        args.docs, args.words, args.vocabulary, args.seed
    );
    let (corpus, generated) = generate(
        args.seed,
        args.vocabulary,
        args.docs,
        args.words,
        &tokenizer,
    );
    let text_bytes: u64 = generated.iter().map(|d| d.2.len() as u64).sum();
    let key_bytes: u64 = generated.iter().map(|d| d.1.len() as u64).sum();
    eprintln!("building the reference index in this process");
    let mut reference = Index::new(PARTITIONS, tokenizer);
    for (_, key, text) in &generated {
        reference
            .apply(partition_of(key), key, Some(text))
            .map_err(|e| format!("the reference index refused a document: {e:?}"))?;
    }
    let docs: Arc<Vec<(Vec<u8>, String)>> =
        Arc::new(generated.into_iter().map(|(_, k, t)| (k, t)).collect());
    let sets: Vec<Vec<String>> = KINDS
        .iter()
        .enumerate()
        .map(|(i, &(kind, _))| queries(&corpus, kind, i, args.seed, args.queries))
        .collect();
    let probe_query = corpus.words.last().cloned().unwrap_or_default();
    drop(corpus);

    let scratch = args
        .data_dir
        .join(format!("search-bench-{}", std::process::id()));
    let quiet = ["--log".to_string(), "warn".to_string()];
    let Loaded {
        mut cluster,
        clients,
        load_seconds,
        rss_empty,
        rss_loaded,
        disk,
    } = start_and_load(&exe, &scratch, &quiet, &docs, args.inflight).await?;

    let client = &clients[0];
    let mut runs: Vec<Vec<Latency>> = Vec::new();
    let mut checks: Vec<Checked> = KINDS.iter().map(|_| Checked::default()).collect();
    let mut digests = Vec::new();
    for run in 0..args.runs {
        let mut digest = Digest::default();
        let mut latencies = Vec::new();
        for (k, (&(kind, name), set)) in KINDS.iter().zip(&sets).enumerate() {
            let start = Instant::now();
            let mut checked = Checked::default();
            let budget = Duration::from_secs(args.kind_seconds);
            latencies.push(
                run_kind(
                    client,
                    &reference,
                    kind,
                    set,
                    &mut digest,
                    &mut checked,
                    budget,
                )
                .await,
            );
            eprintln!(
                "  queries, run {} of {}: {name}: {} in {:.2} s ({} refused, {} not run)",
                run + 1,
                args.runs,
                set.len(),
                start.elapsed().as_secs_f64(),
                checked.refused.values().sum::<usize>(),
                checked.not_run
            );
            if run == 0 {
                checks[k] = checked;
            }
        }
        runs.push(latencies);
        digests.push(digest.0);
    }

    // Restarts probe the first document and the rarest word (a search any path can answer).
    let probe_key = docs[0].0.clone();
    eprintln!("killing node 3 (SIGKILL) and restarting it");
    cluster.kill(2);
    let killed = restart(&mut cluster, 2, &probe_key, Some(&probe_query)).await?;
    let rss_restarted = cluster.rss_bytes(2).unwrap_or(0);
    eprintln!(
        "  booted after {:.2} s, answering after {:.2} s",
        killed.booted.as_secs_f64(),
        killed.answering.as_secs_f64()
    );
    eprintln!("stopping every node (SIGTERM) and restarting the cluster");
    let mut stops = Vec::new();
    for i in 0..cluster.len() {
        stops.push(cluster.terminate(i, Duration::from_secs(60)));
    }
    let since = Instant::now();
    for i in 0..cluster.len() {
        cluster.start(i).map_err(|e| e.to_string())?;
    }
    let mut whole = Vec::new();
    for i in 0..cluster.len() {
        let booted = since.elapsed() + cluster.wait_ready(i, READY_TIMEOUT).await?;
        let answering = answers(&cluster, i, &probe_key, Some(&probe_query), since).await?;
        whole.push(Restart { booted, answering });
    }
    let rss_whole = resident(&cluster);
    let addrs = cluster.addrs();
    drop(clients);
    drop(cluster);

    // The same cluster without a search index: what the index adds to a load, to memory and
    // to a restart.
    let baseline = if args.baseline {
        let mut flags = quiet.to_vec();
        flags.extend(["--search-index".to_string(), "off".to_string()]);
        let mut loaded = start_and_load(
            &exe,
            &scratch.join("no-index"),
            &flags,
            &docs,
            args.inflight,
        )
        .await?;
        eprintln!("without the index: killing node 3 (SIGKILL) and restarting it");
        loaded.cluster.kill(2);
        let killed = restart(&mut loaded.cluster, 2, &probe_key, None).await?;
        eprintln!(
            "  booted after {:.2} s, answering after {:.2} s",
            killed.booted.as_secs_f64(),
            killed.answering.as_secs_f64()
        );
        Some((loaded, killed))
    } else {
        None
    };
    let _ = std::fs::remove_dir_all(&scratch);

    // The section.
    let command = format!(
        "cargo build --release -p node --bins --examples && \
         target/release/examples/search_cluster_bench --docs {} --words {} --vocabulary {} \
         --seed {} --queries {} --runs {} --inflight {} --kind-seconds {}{}",
        args.docs,
        args.words,
        args.vocabulary,
        args.seed,
        args.queries,
        args.runs,
        args.inflight,
        args.kind_seconds,
        if args.baseline { "" } else { " --no-baseline" }
    );
    let secs = |d: Duration| d.as_secs_f64();
    let list = |v: &[u64]| {
        v.iter()
            .map(|b| format!("{:.1}", mb(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    let _ = writeln!(out, "{HEADING}\n");
    let _ = writeln!(out, "Command: `{command}`\n");
    let _ = writeln!(
        out,
        "Machine: {}; the benchmark and the three `tern-node` processes share it (and it is \
         shared with other work). Nodes: N = 3, W = 2, R = 2, every node holding every \
         partition; defaults otherwise (stemming on, index on, one runtime thread).\n",
        cpu_model()
    );
    let _ = writeln!(
        out,
        "Corpus: the index-level benchmark's ({} documents, seed {}, {:.1} MB of text, {:.1} MB \
         of keys), written as values through the client library, {} in flight over 3 \
         connections (one starting at each node). Queries: the same mix, {} of each kind per \
         run, one at a time from one client connected to node 1 (its coordinator), over \
         loopback TCP; each kind stops after {} s (the rest are not run).\n",
        args.docs,
        args.seed,
        mb(text_bytes),
        mb(key_bytes),
        args.inflight,
        args.queries,
        args.kind_seconds
    );
    let _ = writeln!(out, "| what | figure |");
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(
        out,
        "| load with the index on (the cluster's index build) | {:.1} s: {:.0} docs/s, {:.2} \
         MB/s of text |",
        load_seconds,
        args.docs as f64 / load_seconds,
        mb(text_bytes) / load_seconds
    );
    let growth: Vec<u64> = rss_loaded
        .iter()
        .zip(&rss_empty)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let _ = writeln!(
        out,
        "| resident memory per node after the load, MB | {} (growth {}: {} times the text) |",
        list(&rss_loaded),
        list(&growth),
        growth
            .iter()
            .map(|g| format!("{:.2}", *g as f64 / text_bytes as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "| disk per node after the load, MB | {} |",
        list(&disk)
    );
    let _ = writeln!(
        out,
        "| node 3 killed (SIGKILL) and restarted: booted / answering a get and a search | \
         {:.2} s / {:.2} s (resident afterwards {:.1} MB) |",
        secs(killed.booted),
        secs(killed.answering),
        mb(rss_restarted)
    );
    let _ = writeln!(
        out,
        "| clean restart of the whole cluster (SIGTERM, then all started at once): stop \
         took; booted / answering, per node | {}; {} (resident afterwards {} MB) |",
        stops
            .iter()
            .map(|s| s.map_or("killed after 60 s".to_string(), |d| format!(
                "{:.2} s",
                secs(d)
            )))
            .collect::<Vec<_>>()
            .join(", "),
        whole
            .iter()
            .map(|r| format!("{:.2} s / {:.2} s", secs(r.booted), secs(r.answering)))
            .collect::<Vec<_>>()
            .join(", "),
        list(&rss_whole)
    );
    if let Some((loaded, killed)) = &baseline {
        let growth: Vec<u64> = loaded
            .rss_loaded
            .iter()
            .zip(&loaded.rss_empty)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let _ = writeln!(
            out,
            "| the same with `--search-index off`: load | {:.1} s: {:.0} docs/s |",
            loaded.load_seconds,
            args.docs as f64 / loaded.load_seconds
        );
        let _ = writeln!(
            out,
            "| the same with `--search-index off`: resident memory per node after the load, MB \
             | {} (growth {}) |",
            list(&loaded.rss_loaded),
            list(&growth)
        );
        let _ = writeln!(
            out,
            "| the same with `--search-index off`: node 3 killed and restarted: booted / \
             answering a get | {:.2} s / {:.2} s |",
            secs(killed.booted),
            secs(killed.answering)
        );
    }
    let _ = writeln!(
        out,
        "\nQuery latency through the cluster, ms (answered queries only; median over runs of \
         each percentile), and each answer checked against an `Index` of the same documents \
         built in the benchmark (same: every key and score bit; rounding: same keys, scores \
         within 1e-9):\n"
    );
    let _ = writeln!(
        out,
        "| query | answered | p50 | p99 | max | same / rounding / different | refused or not run |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (k, &(_, name)) in KINDS.iter().enumerate() {
        let pick = |f: fn(&Latency) -> f64| median(runs.iter().map(|r| f(&r[k])).collect());
        let c = &mut checks[k];
        let refused: usize = c.refused.values().sum();
        let refused_after = latency(&mut c.refused_after);
        let answered = args.queries - refused - c.not_run;
        // Node numbers, not ports: the same error reads the same in every run.
        let numbered = |error: &str| {
            (addrs.iter().enumerate()).fold(error.to_string(), |e, (i, addr)| {
                e.replace(addr.as_str(), &(i + 1).to_string())
            })
        };
        let why = c
            .refused
            .iter()
            .map(|(e, n)| format!("{n}: {}", numbered(e)))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            out,
            "| {name} | {} of {} | {} | {} / {} / {} | {} |",
            answered,
            args.queries,
            if answered == 0 {
                "- | - | -".to_string()
            } else {
                format!(
                    "{:.3} | {:.3} | {:.3}",
                    pick(|l| l.p50),
                    pick(|l| l.p99),
                    pick(|l| l.max)
                )
            },
            c.same,
            c.rounding,
            c.different,
            match (refused, c.not_run) {
                (0, 0) => "none".to_string(),
                (_, 0) => format!("{why} (after p50 {:.0} ms)", refused_after.p50),
                (0, n) => format!("{n} not run (time up)"),
                (_, n) => format!(
                    "{why} (after p50 {:.0} ms); {n} not run (time up)",
                    refused_after.p50
                ),
            }
        );
    }
    let _ = writeln!(
        out,
        "\nResults digest of the answered queries (FNV-1a as above): {:016x}{}\n",
        digests[0],
        if digests.windows(2).all(|w| w[0] == w[1]) {
            ""
        } else {
            " (runs differed)"
        }
    );
    print!("{out}");
    if let Some(path) = &args.report {
        write_section(path, HEADING, &out)?;
        eprintln!("wrote the section into {}", path.display());
    }
    Ok(())
}
