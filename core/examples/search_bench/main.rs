//! The search index benchmark (issue 8, item 8), at the index level: one `Index` holding
//! every partition, as each replica of a 3-node cluster with N = 3 would.
//!
//! It generates a corpus deterministically from a seed (made-up words, Zipf-distributed),
//! builds the index (docs/s, MB/s of text), measures its memory (`heap_bytes` and the growth
//! of the process's resident memory), times a mix of queries (p50/p99/max per kind, three
//! runs), replacing documents, and rebuilding the index from the documents in memory (the
//! stand-in for recovery). It prints a table and writes a report (keeping the cluster
//! benchmark's sections, from "## Through a 3-node cluster" on).
//!
//! ```text
//! cargo run --release -p tern-core --example search_bench -- \
//!     [--docs 100000] [--words 100] [--vocabulary 50000] [--seed 1] [--queries 1000] \
//!     [--runs 3] [--replacements 2000] [--report reports/search-bench.md]
//! ```
//!
//! This is a driver, not core: it reads the clock and /proc, and writes a file.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod corpus;
mod measure;
mod workload;

use corpus::{between, ZIPF_S};
use measure::{cpu_model, cpu_time, latency, median, resident_bytes, Digest, Latency};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use tern_core::search::{Index, Page, PartitionSet, Tokenizer};
use workload::{generate, queries, Kind, KINDS, PARTITIONS};

/// Where the cluster benchmark's part of the report begins: kept when this one rewrites it.
const CLUSTER_HEADING: &str = "## Through a 3-node cluster";

struct Args {
    docs: usize,
    words: usize,
    vocabulary: usize,
    seed: u64,
    queries: usize,
    runs: usize,
    replacements: usize,
    report: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: search_bench [--docs N] [--words N] [--vocabulary N] [--seed N] [--queries N] \
         [--runs N] [--replacements N] [--report PATH | --no-report]"
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
        runs: 3,
        replacements: 2000,
        report: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/search-bench.md").into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-report" {
            args.report = None;
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
            "--replacements" => args.replacements = number() as usize,
            "--report" => args.report = Some(value),
            _ => usage(),
        }
    }
    if args.docs == 0 || args.words == 0 || args.vocabulary < 2 || args.runs == 0 {
        usage()
    }
    args
}

/// Runs every query of one kind once; returns the latencies and adds the results to `digest`.
fn run_kind(index: &Index, kind: Kind, queries: &[String], digest: &mut Digest) -> Latency {
    let all = PartitionSet::all(PARTITIONS);
    let mut samples = Vec::with_capacity(queries.len());
    for query in queries {
        let start = Instant::now();
        let hits = match kind {
            Kind::Similar => index.similar(query, 10, &all).expect("a valid text"),
            _ => {
                let page = index
                    .search(query, &all, Page::first(10))
                    .expect("a valid query");
                digest.add(&(page.total as u64).to_le_bytes());
                page.hits
            }
        };
        samples.push(start.elapsed());
        for hit in &hits {
            digest.hit(&hit.key, hit.score);
        }
    }
    latency(&mut samples)
}

/// Applies every document; returns the wall and CPU time it took.
fn build(index: &mut Index, docs: &[(u32, Vec<u8>, String)], what: &str) -> (Duration, Duration) {
    let start = Instant::now();
    let cpu = cpu_time();
    let step = (docs.len() / 10).max(1);
    for (i, (partition, key, text)) in docs.iter().enumerate() {
        index
            .apply(*partition, key, Some(text))
            .expect("a document within the limits");
        if (i + 1) % step == 0 {
            eprintln!(
                "  {what}: {} of {} documents, {:.1} s",
                i + 1,
                docs.len(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    (start.elapsed(), cpu_time() - cpu)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let args = parse_args();
    let tokenizer = Tokenizer::default();
    eprintln!(
        "generating {} documents of about {} words over {} made-up words (seed {})",
        args.docs, args.words, args.vocabulary, args.seed
    );
    let (corpus, mut docs) = generate(
        args.seed,
        args.vocabulary,
        args.docs,
        args.words,
        &tokenizer,
    );
    let text_bytes: u64 = docs.iter().map(|d| d.2.len() as u64).sum();
    let key_bytes: u64 = docs.iter().map(|d| d.1.len() as u64).sum();

    eprintln!("building the index");
    let rss_before = resident_bytes();
    let mut index = Index::new(PARTITIONS, tokenizer);
    let (build_time, build_cpu) = build(&mut index, &docs, "build");
    let rss_after = resident_bytes();
    let heap = index.heap_bytes() as u64;
    let rss_growth = rss_after.saturating_sub(rss_before);
    let vocabulary_indexed = index.vocabulary();
    let tokens = index
        .stats(std::iter::empty(), &PartitionSet::all(PARTITIONS))
        .tokens;

    let mut runs: Vec<Vec<Latency>> = Vec::new();
    let mut digests = Vec::new();
    let sets: Vec<Vec<String>> = KINDS
        .iter()
        .enumerate()
        .map(|(i, &(kind, _))| queries(&corpus, kind, i, args.seed, args.queries))
        .collect();
    for run in 0..args.runs {
        let mut digest = Digest::default();
        let mut latencies = Vec::new();
        for (&(kind, name), set) in KINDS.iter().zip(&sets) {
            let start = Instant::now();
            latencies.push(run_kind(&index, kind, set, &mut digest));
            eprintln!(
                "  queries, run {} of {}: {name}: {} in {:.2} s",
                run + 1,
                args.runs,
                set.len(),
                start.elapsed().as_secs_f64()
            );
        }
        runs.push(latencies);
        digests.push(digest.0);
    }
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "the same queries gave different results: {digests:x?}"
    );

    eprintln!("replacing {} documents", args.replacements);
    let mut replace_rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x5eed);
    let mut replace = Vec::with_capacity(args.replacements);
    for _ in 0..args.replacements {
        let i = between(&mut replace_rng, 0, docs.len());
        let text = corpus.document(args.words, &mut replace_rng);
        let start = Instant::now();
        index
            .apply(docs[i].0, &docs[i].1, Some(&text))
            .expect("a document within the limits");
        replace.push(start.elapsed());
        docs[i].2 = text;
    }
    let replace = latency(&mut replace);

    eprintln!("rebuilding the index from the documents in memory");
    drop(index);
    let mut rebuilt = Index::new(PARTITIONS, tokenizer);
    let (rebuild_time, rebuild_cpu) = build(&mut rebuilt, &docs, "rebuild");
    let rss_rebuilt = resident_bytes();
    drop(rebuilt);

    // The report.
    let command = format!(
        "cargo run --release -p tern-core --example search_bench -- --docs {} --words {} \
         --vocabulary {} --seed {} --queries {} --runs {} --replacements {}",
        args.docs,
        args.words,
        args.vocabulary,
        args.seed,
        args.queries,
        args.runs,
        args.replacements
    );
    let mut out = String::new();
    let _ = writeln!(out, "# Search index benchmark\n");
    let _ = writeln!(out, "Command: `{command}`\n");
    let _ = writeln!(
        out,
        "Machine: {} (shared with other work: figures are medians of {} runs of the query \
         phase; a busy machine gives higher latencies).\n",
        cpu_model(),
        args.runs
    );
    let _ = writeln!(
        out,
        "Corpus: {} documents of {:.1} tokens on average ({} tokens), words drawn with \
         Zipf exponent {ZIPF_S} from {} made-up words ({} distinct terms indexed), {:.1} MB \
         of text ({:.0} bytes a document), {:.1} MB of keys, {PARTITIONS} partitions. One `Index` holds them all and \
         every search asks for all partitions, as on a replica of a 3-node cluster with N = 3.\n",
        args.docs,
        tokens as f64 / args.docs as f64,
        tokens,
        args.vocabulary,
        vocabulary_indexed,
        mb(text_bytes),
        text_bytes as f64 / args.docs as f64,
        mb(key_bytes),
    );
    let _ = writeln!(out, "| what | figure |");
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(
        out,
        "| index build | {:.2} s ({:.2} s of CPU): {:.0} docs/s, {:.1} MB/s of text |",
        build_time.as_secs_f64(),
        build_cpu.as_secs_f64(),
        args.docs as f64 / build_time.as_secs_f64(),
        mb(text_bytes) / build_time.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| rebuild from the documents in memory (recovery stand-in) | {:.2} s ({:.2} s of CPU) |",
        rebuild_time.as_secs_f64(),
        rebuild_cpu.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| index memory, `heap_bytes` | {:.1} MB: {:.2}x the text, {:.0} bytes per document |",
        mb(heap),
        heap as f64 / text_bytes as f64,
        heap as f64 / args.docs as f64
    );
    let _ = writeln!(
        out,
        "| resident memory growth while building | {:.1} MB: {:.2}x the text ({:.1} MB after \
         the rebuild, process total) |",
        mb(rss_growth),
        rss_growth as f64 / text_bytes as f64,
        mb(rss_rebuilt)
    );
    let _ = writeln!(
        out,
        "| replacing a document ({} random keys, new text) | p50 {:.3} ms, p99 {:.3} ms, max \
         {:.3} ms |\n",
        args.replacements, replace.p50, replace.p99, replace.max
    );
    let _ = writeln!(
        out,
        "Query latency, ms ({} queries of each kind per run; median over runs of each \
         percentile, then each run's figures):\n",
        args.queries
    );
    let _ = writeln!(out, "| query | p50 | p99 | max | runs (p50 / p99) |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (k, &(_, name)) in KINDS.iter().enumerate() {
        let pick = |f: fn(&Latency) -> f64| median(runs.iter().map(|r| f(&r[k])).collect());
        let each: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.3} / {:.3}", r[k].p50, r[k].p99))
            .collect();
        let _ = writeln!(
            out,
            "| {name} | {:.3} | {:.3} | {:.3} | {} |",
            pick(|l| l.p50),
            pick(|l| l.p99),
            pick(|l| l.max),
            each.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nResults digest (FNV-1a over every total, key and score bit pattern): {:016x}\n",
        digests[0]
    );
    let p99 = |k: usize| median(runs.iter().map(|r| r[k].p99).collect());
    let boolean = (0..KINDS.len() - 1).map(p99).fold(0.0, f64::max);
    let similar = p99(KINDS.len() - 1);
    let memory = rss_growth as f64 / text_bytes as f64;
    let met = |ok: bool| if ok { "met" } else { "not met" };
    let _ = writeln!(out, "Issue 8's targets, at the index level:\n");
    let _ = writeln!(out, "| target | here | |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| boolean p99 under 5 ms | {boolean:.3} ms (the worst kind) | {} |",
        met(boolean < 5.0)
    );
    let _ = writeln!(
        out,
        "| similarity top-10 p99 under 20 ms | {similar:.3} ms | {} |",
        met(similar < 20.0)
    );
    let _ = writeln!(
        out,
        "| index memory under 2x the raw text | {memory:.2}x resident ({:.2}x `heap_bytes`) | {} |",
        heap as f64 / text_bytes as f64,
        met(memory < 2.0)
    );
    let _ = writeln!(
        out,
        "| restart with 100,000 documents under 3 s | rebuild {:.2} s ({:.2} s of CPU): the index's \
         part of a restart | {} |",
        rebuild_time.as_secs_f64(),
        rebuild_cpu.as_secs_f64(),
        met(rebuild_time.as_secs_f64() < 3.0)
    );
    print!("{out}");
    if let Some(path) = &args.report {
        // The cluster benchmark's sections (node/examples/search_cluster_bench.rs) stay.
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let kept = old
            .find(CLUSTER_HEADING)
            .map_or(String::new(), |at| format!("\n{}", &old[at..]));
        std::fs::write(path, format!("{out}{kept}"))
            .unwrap_or_else(|e| panic!("writing the report: {e}"));
        eprintln!("wrote the report");
    }
}
