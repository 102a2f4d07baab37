//! `sim`: runs a scenario for one seed (with a report) or sweeps many seeds on all cores.

use clap::Parser;
use sim::report::{self, WallClock};
use sim::Scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// The simulator allocates and frees millions of small objects (every message decoded,
/// every recovery's keys and clocks); mimalloc does that markedly faster than the system
/// allocator (see reports/sim-profile.md). It changes no result: the run is deterministic
/// either way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "sim",
    about = "Tern's deterministic simulator: runs real core nodes under crashes, torn writes and partitions, then checks that no acknowledged write was lost.",
    after_help = "Examples:\n  sim --seed 42 scenarios/chaos.yaml\n  sim --seeds 0..200 scenarios/chaos.yaml\n  sim --regressions scenarios/regressions.txt"
)]
struct Args {
    /// Scenario file (YAML). Not needed with --regressions.
    scenario: Option<PathBuf>,
    /// Run this one seed and write a report.
    #[arg(long, conflicts_with_all = ["seeds", "regressions"])]
    seed: Option<u64>,
    /// Sweep a range of seeds, e.g. 0..1000 (end excluded), on all cores.
    #[arg(long, value_parser = parse_range)]
    seeds: Option<(u64, u64)>,
    /// Replay the seeds listed in FILE, one `SCENARIO SEED` per line (# starts a comment).
    #[arg(long)]
    regressions: Option<PathBuf>,
    /// Worker threads for sweeps (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Where a single-seed run writes its markdown report.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Do not write a report for a single-seed run.
    #[arg(long)]
    no_report: bool,
    /// Use a second thread for pure work (starting crashed nodes from their logs ahead of
    /// their restart, the durability checker) in single-seed runs; sweeps already keep every
    /// core busy. The run and its verdict are the same either way.
    #[arg(long, value_parser = ["on", "off"], default_value = "on")]
    second_thread: String,
    /// Replace a setting of the scenario, e.g. `--set cluster.hinted_handoff=false` (the
    /// value in YAML); repeatable. Not with --regressions.
    #[arg(
        long = "set",
        value_name = "SECTION.FIELD=VALUE",
        conflicts_with = "regressions"
    )]
    sets: Vec<String>,
}

fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("expected START..END, got {text:?}"))?;
    let start: u64 = a
        .trim()
        .parse()
        .map_err(|e| format!("bad start {a:?}: {e}"))?;
    let end: u64 = b
        .trim()
        .parse()
        .map_err(|e| format!("bad end {b:?}: {e}"))?;
    if end <= start {
        return Err(format!(
            "empty range {text:?}: END must be greater than START"
        ));
    }
    Ok((start, end))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("sim: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<bool, String> {
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if let Some(file) = &args.regressions {
        let jobs_list = read_regressions(file)?;
        println!(
            "regressions: replaying {} seeds from {}",
            jobs_list.len(),
            file.display()
        );
        return sweep(jobs_list, jobs);
    }
    let path = args
        .scenario
        .clone()
        .ok_or("a scenario file is needed (or --regressions FILE)")?;
    let scenario = Scenario::load_with(&path, &args.sets)?;
    if let Some((start, end)) = args.seeds {
        let list = (start..end)
            .map(|s| (path.clone(), scenario.clone(), s))
            .collect();
        println!(
            "sweep: scenario {} ({}), seeds {start}..{end}, {jobs} threads",
            scenario.name,
            path.display()
        );
        return sweep(list, jobs);
    }
    let seed = args.seed.unwrap_or(42);
    single(&path, &scenario, seed, &args)
}

fn print_parameters(scenario: &Scenario, path: &Path, seed: u64) {
    let c = &scenario.cluster;
    let w = &scenario.workload;
    let f = &scenario.faults;
    println!(
        "tern sim: scenario {} ({}), seed {seed}",
        scenario.name,
        path.display()
    );
    println!(
        "derived: {} nodes N={} R={} W={}; {} clients over {} {:?} keys; target {} acknowledged writes; crashes every {:?} ms (at most {} down), power cuts every {:?} ms, partitions every {:?} ms; loss {}%, duplication {}%",
        c.nodes,
        c.n,
        c.r,
        c.w,
        w.clients,
        w.keys,
        w.key_distribution,
        w.acknowledged_writes,
        f.crash_interval_ms,
        f.max_down,
        f.power_cut_interval_ms,
        f.partition_interval_ms,
        scenario.network.loss * 100.0,
        scenario.network.duplicate * 100.0
    );
    let sub = |label: &str| sim::rng::derive_seed(seed, label, 0, 0);
    println!(
        "sub-seeds: network {:016x}, disk {:016x}, workload {:016x}, faults {:016x}; node n incarnation i: derive_seed({seed}, \"node\", n, i)",
        sub("network"),
        sub("disk"),
        sub("workload"),
        sub("faults")
    );
}

fn single(path: &Path, scenario: &Scenario, seed: u64, args: &Args) -> Result<bool, String> {
    print_parameters(scenario, path, seed);
    let started = Instant::now();
    let options = sim::Options {
        second_thread: args.second_thread == "on",
    };
    let outcome = sim::run_with(scenario, seed, options);
    let wall = WallClock {
        seconds: started.elapsed().as_secs_f64(),
    };
    let shown = path.display().to_string();
    print!("{}", report::summary(&outcome, &shown, &wall));
    if !args.no_report {
        std::fs::create_dir_all(&args.report_dir).map_err(|e| {
            format!(
                "cannot create report folder {}: {e}",
                args.report_dir.display()
            )
        })?;
        let file = args
            .report_dir
            .join(format!("{}-seed{seed}.md", scenario.name));
        std::fs::write(&file, report::markdown(&outcome, &shown, &wall))
            .map_err(|e| format!("cannot write report {}: {e}", file.display()))?;
        println!("report: {}", file.display());
    }
    Ok(outcome.passed())
}

fn read_regressions(file: &Path) -> Result<Vec<(PathBuf, Scenario, u64)>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut list = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(scenario), Some(seed), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{}:{}: expected `SCENARIO SEED`",
                file.display(),
                n + 1
            ));
        };
        let seed: u64 = seed
            .parse()
            .map_err(|e| format!("{}:{}: bad seed {seed:?}: {e}", file.display(), n + 1))?;
        let path = PathBuf::from(scenario);
        let loaded = Scenario::load(&path)?;
        list.push((path, loaded, seed));
    }
    Ok(list)
}

/// Runs every (scenario, seed) on `jobs` threads, printing one line per finished run.
fn sweep(list: Vec<(PathBuf, Scenario, u64)>, jobs: usize) -> Result<bool, String> {
    let total = list.len();
    let list = Arc::new(list);
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..jobs.max(1).min(total.max(1)) {
        let list = Arc::clone(&list);
        let next = Arc::clone(&next);
        let tx = tx.clone();
        workers.push(std::thread::spawn(move || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((path, scenario, seed)) = list.get(i) else {
                break;
            };
            let run_started = Instant::now();
            // Every core already runs a seed: no extra recovery thread.
            let options = sim::Options {
                second_thread: false,
            };
            let outcome = sim::run_with(scenario, *seed, options);
            let wall = run_started.elapsed().as_secs_f64();
            if tx.send((path.clone(), outcome, wall)).is_err() {
                break;
            }
        }));
    }
    drop(tx);
    let mut failures = Vec::new();
    let mut walls = Vec::new();
    for (done, (path, outcome, wall)) in rx.iter().enumerate() {
        walls.push(wall);
        let d = &outcome.durability;
        let verdict = if outcome.passed() { "PASS" } else { "FAIL" };
        println!(
            "[{}/{total}] {} seed {}: {verdict} {}/{} preserved, {} crashes, {:.2} s",
            done + 1,
            outcome.scenario.name,
            outcome.seed,
            d.preserved(),
            d.acknowledged,
            outcome.faults.crashes,
            wall
        );
        if !outcome.passed() {
            for v in outcome.violations.iter().take(3) {
                println!("    [{}] {}", v.checker, v.detail);
            }
            let overrides = outcome.scenario.overrides.clone();
            failures.push((path.display().to_string(), outcome.seed, overrides));
        }
    }
    for worker in workers {
        worker
            .join()
            .map_err(|_| "a sweep worker panicked (see the message above)".to_string())?;
    }
    walls.sort_by(|a, b| a.total_cmp(b));
    let median = walls.get(walls.len() / 2).copied().unwrap_or(0.0);
    println!(
        "sweep done: {} runs, {} passed, {} failed, in {:.1} s wall (median run {:.2} s)",
        total,
        total - failures.len(),
        failures.len(),
        started.elapsed().as_secs_f64(),
        median
    );
    for (path, seed, overrides) in &failures {
        println!(
            "failed seed {seed}: replay with {}",
            report::replay_command(path, *seed, overrides)
        );
    }
    Ok(failures.is_empty())
}
