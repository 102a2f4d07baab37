//! Measures what a log sync costs on this machine's disk, two ways, and writes
//! reports/sync-bench.md:
//! - `append`: the file opened `O_APPEND`, each write makes it longer, then `fdatasync`
//!   (what the node did before its segments grew ahead of their appends);
//! - `grown ahead`: the file first filled with zeros, each write lands inside it, then
//!   `fdatasync` (what `SegmentFile` does: node/src/disk/mod.rs);
//!
//! each with one writer and with three writers at once, each on its own file in one
//! directory (three replicas on one disk, as `tern-node cluster` runs them). Every writer
//! writes `WRITE_BYTES` and syncs, `SYNCS` times; the runs alternate between the two ways,
//! `ROUNDS` times, and the report gives each run and the medians.
//!
//! `cargo run --release -p node --example sync_bench` (arguments: `[SYNCS [ROUNDS [DIR]]]`,
//! default 2000 5 and a directory under target/). The directory must be on the file system
//! whose syncs you want to measure.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes per write: about a batch of a dozen 100-byte SETs' records.
const WRITE_BYTES: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    Append,
    GrownAhead,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Append => "append",
            Way::GrownAhead => "grown ahead",
        }
    }
}

/// One writer's run: its syncs per second and the median and p90 of one write-and-sync, µs.
#[derive(Clone, Copy, Debug)]
struct Run {
    per_second: f64,
    p50_us: f64,
    p90_us: f64,
}

fn writer(path: &Path, way: Way, syncs: usize) -> std::io::Result<Run> {
    let _ = fs::remove_file(path);
    let file = match way {
        Way::Append => OpenOptions::new().create(true).append(true).open(path)?,
        Way::GrownAhead => {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(path)?;
            let zeros = vec![0u8; 1 << 20];
            let mut left = (syncs * WRITE_BYTES) as u64 + (1 << 20);
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            file.sync_all()?;
            file
        }
    };
    let bytes = vec![b'x'; WRITE_BYTES];
    let mut took = Vec::with_capacity(syncs);
    let start = Instant::now();
    for i in 0..syncs {
        let t = Instant::now();
        match way {
            Way::Append => (&file).write_all(&bytes)?,
            Way::GrownAhead => file.write_all_at(&bytes, (i * WRITE_BYTES) as u64)?,
        }
        file.sync_data()?;
        took.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(file);
    fs::remove_file(path)?;
    took.sort_by(f64::total_cmp);
    Ok(Run {
        per_second: syncs as f64 / seconds,
        p50_us: took[took.len() / 2],
        p90_us: took[took.len() * 9 / 10],
    })
}

/// `writers` writers at once, each on its own file in `dir`; returns the median writer's run.
fn run(dir: &Path, way: Way, writers: usize, syncs: usize) -> Run {
    let mut runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let path = dir.join(format!("sync-bench-{w}"));
                s.spawn(move || writer(&path, way, syncs))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread").expect("write and sync"))
            .collect()
    });
    runs.sort_by(|a, b| a.p50_us.total_cmp(&b.p50_us));
    runs[runs.len() / 2]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let syncs: usize = args.next().map_or(2000, |a| a.parse().expect("SYNCS"));
    let rounds: usize = args.next().map_or(5, |a| a.parse().expect("ROUNDS"));
    let dir = args
        .next()
        .map_or_else(|| PathBuf::from("target/sync-bench"), PathBuf::from);
    fs::create_dir_all(&dir).expect("create the directory");
    let mut table = String::new();
    let mut results: Vec<(Way, usize, Run)> = Vec::new();
    for round in 1..=rounds {
        let ways = if round % 2 == 1 {
            [Way::Append, Way::GrownAhead]
        } else {
            [Way::GrownAhead, Way::Append]
        };
        for writers in [1, 3] {
            for way in ways {
                let r = run(&dir, way, writers, syncs);
                let line = format!(
                    "| {round} | {} | {writers} | {:.0} | {:.1} | {:.1} |",
                    way.name(),
                    r.per_second,
                    r.p50_us,
                    r.p90_us
                );
                println!("{line}");
                writeln!(table, "{line}").unwrap();
                results.push((way, writers, r));
            }
        }
    }
    let _ = fs::remove_dir(&dir);
    let mut out = String::new();
    writeln!(
        out,
        "# What a log sync costs: appends against a file grown ahead\n"
    )
    .unwrap();
    writeln!(
        out,
        "Command: `cargo run --release -p node --example sync_bench -- {syncs} {rounds}` (node/examples/sync_bench.rs).\n"
    )
    .unwrap();
    writeln!(
        out,
        "Each writer writes {WRITE_BYTES} bytes and then `fdatasync`s, {syncs} times, on its own file; with 3 writers, three at once in one directory (three replicas on one disk). \"append\": the file grows with every write; \"grown ahead\": the file was filled with zeros first and every write lands inside it, as the node's log segments do. Rounds alternate which goes first. Per writer: syncs per second, and the median and p90 of one write-and-sync (with 3 writers, the writer with the median p50).\n"
    )
    .unwrap();
    writeln!(out, "## Medians of {rounds} rounds\n").unwrap();
    writeln!(
        out,
        "| writers | append syncs/s | grown ahead syncs/s | ratio | append p50 µs | grown ahead p50 µs |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    for writers in [1, 3] {
        let of = |way: Way, f: fn(&Run) -> f64| {
            median(
                results
                    .iter()
                    .filter(|(w, n, _)| *w == way && *n == writers)
                    .map(|(_, _, r)| f(r))
                    .collect(),
            )
        };
        let (a, g) = (
            of(Way::Append, |r| r.per_second),
            of(Way::GrownAhead, |r| r.per_second),
        );
        writeln!(
            out,
            "| {writers} | {a:.0} | {g:.0} | {:.2}x | {:.1} | {:.1} |",
            g / a,
            of(Way::Append, |r| r.p50_us),
            of(Way::GrownAhead, |r| r.p50_us)
        )
        .unwrap();
    }
    writeln!(out, "\n## Every run\n").unwrap();
    writeln!(out, "| round | way | writers | syncs/s | p50 µs | p90 µs |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    out.push_str(&table);
    let report = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/sync-bench.md");
    let mut file = File::create(&report).expect("write reports/sync-bench.md");
    file.write_all(out.as_bytes()).expect("write the report");
    println!("\n{out}");
}
