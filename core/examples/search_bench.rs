//! The search index benchmark (issue 8, item 8), at the index level: one `Index` holding
//! every partition, as each replica of a 3-node cluster with N = 3 would.
//!
//! It generates a corpus deterministically from a seed (made-up words, Zipf-distributed),
//! builds the index (docs/s, MB/s of text), measures its memory (`heap_bytes` and the growth
//! of the process's resident memory), times a mix of queries (p50/p99/max per kind, three
//! runs), replacing documents, and rebuilding the index from the documents in memory (the
//! stand-in for recovery). It prints a table and writes a report.
//!
//! ```text
//! cargo run --release -p tern-core --example search_bench -- \
//!     [--docs 100000] [--words 100] [--vocabulary 50000] [--seed 1] [--queries 1000] \
//!     [--runs 3] [--replacements 2000] [--report reports/search-bench.md]
//! ```
//!
//! This is a driver, not core: it reads the clock and /proc, and writes a file.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use tern_core::search::{Index, Page, PartitionSet, Tokenizer};

/// Partitions of the ring (`limits::PARTITIONS`): documents are spread over all of them and
/// every search asks for all of them, as on a replica holding every key.
const PARTITIONS: u32 = 64;
/// Zipf exponent: the frequency of the word of rank r is proportional to 1 / r^s.
const ZIPF_S: f64 = 1.0;
/// Ranks below this are "common" words, below `MID_RANKS` "mid", the rest "rare".
const COMMON_RANKS: usize = 100;
const MID_RANKS: usize = 5000;

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

/// A uniform f64 in [0, 1).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform integer in [lo, hi).
fn between(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    lo + (rng.next_u64() % (hi - lo) as u64) as usize
}

/// Made-up words, most frequent first, each its own token (no two stem alike): common words
/// are short, as in natural language.
fn vocabulary(size: usize, rng: &mut ChaCha8Rng, tokenizer: &Tokenizer) -> Vec<String> {
    const CONSONANTS: &[u8] = b"bcdfghjklmnprstvwz";
    const VOWELS: &[u8] = b"aeiou";
    let mut words = Vec::with_capacity(size);
    let mut tokens = BTreeSet::new();
    while words.len() < size {
        let rank = words.len();
        let syllables = match rank {
            0..16 => 1,
            16..500 => 2,
            500..10_000 => 3,
            _ => 3 + (rng.next_u64() % 2) as usize,
        };
        let mut word = String::new();
        for _ in 0..syllables {
            word.push(CONSONANTS[between(rng, 0, CONSONANTS.len())] as char);
            word.push(VOWELS[between(rng, 0, VOWELS.len())] as char);
            if rng.next_u64() % 3 == 0 {
                word.push(CONSONANTS[between(rng, 0, CONSONANTS.len())] as char);
            }
        }
        let token = tokenizer.token(&word);
        if tokens.insert(token) {
            words.push(word);
        }
    }
    words
}

/// Samples word ranks with probability proportional to 1 / (rank + 1)^s.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(size: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..size)
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(ZIPF_S);
                total
            })
            .collect::<Vec<f64>>();
        let cumulative = cumulative.iter().map(|c| c / total).collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let u = unit(rng);
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len() - 1)
    }
}

struct Corpus {
    words: Vec<String>,
    zipf: Zipf,
}

impl Corpus {
    /// A document of about `words` words (uniform in [words / 2, 3 · words / 2]) in
    /// sentences of 6 to 17 words, each capitalised and ending with a full stop.
    fn document(&self, words: usize, rng: &mut ChaCha8Rng) -> String {
        let len = between(rng, words / 2, words * 3 / 2 + 1).max(1);
        let mut text = String::new();
        let mut sentence_left = 0;
        for i in 0..len {
            let word = &self.words[self.zipf.sample(rng)];
            if sentence_left == 0 {
                if i > 0 {
                    text.push_str(". ");
                }
                sentence_left = between(rng, 6, 18);
                let mut chars = word.chars();
                let first = chars.next().expect("words are not empty");
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            } else {
                text.push(' ');
                text.push_str(word);
            }
            sentence_left -= 1;
        }
        text.push('.');
        text
    }

    /// A word whose rank is in `ranks`.
    fn word_in(&self, ranks: std::ops::Range<usize>, rng: &mut ChaCha8Rng) -> &str {
        let hi = ranks.end.min(self.words.len());
        let lo = ranks.start.min(hi - 1);
        &self.words[between(rng, lo, hi)]
    }

    /// A word of a random class: common, mid or rare.
    fn word_any(&self, rng: &mut ChaCha8Rng) -> &str {
        let v = self.words.len();
        match rng.next_u64() % 3 {
            0 => self.word_in(0..COMMON_RANKS, rng),
            1 => self.word_in(COMMON_RANKS..MID_RANKS, rng),
            _ => self.word_in(MID_RANKS..v, rng),
        }
    }
}

/// The key of document `i`: partition by a mix of its number, as a hash would.
fn key(i: usize) -> (u32, Vec<u8>) {
    let mixed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (
        (mixed % PARTITIONS as u64) as u32,
        format!("doc/{i:08}").into_bytes(),
    )
}

/// Resident memory of this process, bytes (/proc/self/statm, resident pages × 4 KiB pages).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * page_bytes()
}

/// The page size, from the kernel's own accounting of this process: VmRSS (kB) over statm's
/// resident pages, read together; 4 KiB if unreadable.
fn page_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let rss_kb: Option<u64> = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    let pages: Option<u64> = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok());
    match (rss_kb, pages) {
        (Some(kb), Some(pages)) if pages > 0 => (kb * 1024 / pages).next_power_of_two(),
        _ => 4096,
    }
}

/// CPU time this process has run, from /proc/self/schedstat (ns on a CPU; one thread): on a
/// shared machine, wall time includes waiting for a CPU, this does not.
fn cpu_time() -> Duration {
    let schedstat = std::fs::read_to_string("/proc/self/schedstat").unwrap_or_default();
    let ns = schedstat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown".to_string(), |m| m.trim().to_string());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    format!("{model}, {cores} logical cores")
}

/// Latency percentiles of one kind of operation, in ms.
#[derive(Clone, Copy, Debug, Default)]
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
}

fn latency(samples: &mut [Duration]) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    samples.sort_unstable();
    let at = |p: f64| {
        let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1e3
    };
    Latency {
        p50: at(50.0),
        p99: at(99.0),
        max: at(100.0),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// FNV-1a over every result: the same corpus and queries must give the same digest before
/// and after a change to the engine.
#[derive(Default)]
struct Digest(u64);

impl Digest {
    fn add(&mut self, bytes: &[u8]) {
        if self.0 == 0 {
            self.0 = 0xcbf2_9ce4_8422_2325;
        }
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hit(&mut self, key: &[u8], score: f64) {
        self.add(key);
        self.add(&score.to_bits().to_le_bytes());
    }
}

#[derive(Clone, Copy)]
enum Kind {
    And,
    AndCommon,
    Or,
    Not,
    CommonPage,
    Similar,
}

const KINDS: [(Kind, &str); 6] = [
    (Kind::And, "AND of 2 terms (common, mid, rare mixed)"),
    (Kind::AndCommon, "AND of 2 common terms"),
    (Kind::Or, "OR of 2 terms (mixed)"),
    (Kind::Not, "a term NOT another (mixed)"),
    (Kind::CommonPage, "one common term, first page of 10"),
    (Kind::Similar, "similar, top 10, texts of 3-8 words"),
];

/// The queries of one kind: their own RNG stream, so the first n do not depend on --queries.
fn queries(corpus: &Corpus, kind: Kind, index: usize, seed: u64, count: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(index as u64));
    (0..count)
        .map(|_| match kind {
            Kind::And => {
                let a = corpus.word_any(&mut rng).to_string();
                format!("{a} {}", corpus.word_any(&mut rng))
            }
            Kind::AndCommon => {
                let a = corpus.word_in(0..COMMON_RANKS, &mut rng).to_string();
                format!("{a} {}", corpus.word_in(0..COMMON_RANKS, &mut rng))
            }
            Kind::Or => {
                let a = corpus.word_any(&mut rng).to_string();
                format!("{a} OR {}", corpus.word_any(&mut rng))
            }
            Kind::Not => {
                let a = corpus.word_any(&mut rng).to_string();
                format!("{a} -{}", corpus.word_any(&mut rng))
            }
            Kind::CommonPage => corpus.word_in(0..COMMON_RANKS, &mut rng).to_string(),
            Kind::Similar => {
                let len = between(&mut rng, 3, 9);
                let words: Vec<&str> = (0..len)
                    .map(|_| corpus.words[corpus.zipf.sample(&mut rng)].as_str())
                    .collect();
                words.join(" ")
            }
        })
        .collect()
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
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);

    eprintln!(
        "generating {} documents of about {} words over {} made-up words (seed {})",
        args.docs, args.words, args.vocabulary, args.seed
    );
    let words = vocabulary(args.vocabulary, &mut rng, &tokenizer);
    let corpus = Corpus {
        zipf: Zipf::new(words.len()),
        words,
    };
    let mut docs: Vec<(u32, Vec<u8>, String)> = (0..args.docs)
        .map(|i| {
            let (partition, key) = key(i);
            (partition, key, corpus.document(args.words, &mut rng))
        })
        .collect();
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
         of text, {:.1} MB of keys, {PARTITIONS} partitions. One `Index` holds them all and \
         every search asks for all partitions, as on a replica of a 3-node cluster with N = 3.\n",
        args.docs,
        tokens as f64 / args.docs as f64,
        tokens,
        args.vocabulary,
        vocabulary_indexed,
        mb(text_bytes),
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
    print!("{out}");
    if let Some(path) = &args.report {
        std::fs::write(path, &out).unwrap_or_else(|e| panic!("writing the report: {e}"));
        eprintln!("wrote the report");
    }
}
