//! Measures recovery on three real `tern-node` processes on loopback, and writes
//! reports/recovery.md:
//! - how long the two other nodes take to mark a SIGKILLed node down (phi-accrual), polled
//!   through each node's own status every 10 ms;
//! - how long a node that was down while WRITES keys were written (100-byte values) takes
//!   after its process is started again until its own copies equal the others' (key count and
//!   every partition digest, from each node's status; no key is read through the cluster);
//! - what anti-entropy costs an idle, converged cluster: CPU seconds (from /proc) and peer
//!   bytes (the node's own counters) per minute per node.
//!
//! `cargo build --release -p node && cargo run --release -p node --example recovery_bench`
//! (arguments: `[WRITES [RUNS [IDLE_SECONDS]]]`, default 100000 5 60). It runs the
//! `tern-node` next to its own directory's parent (target/release), which the build makes.

use std::fmt::Write as _;
use std::time::{Duration, Instant};
use tern_core::{NodeStatus, VectorClock};
use tern_node::bench::{cpu_seconds, ProcessCluster};
use tern_node::{Client, ClientOptions};

const VALUE_BYTES: usize = 100;
const WRITERS: usize = 64;
const POLL: Duration = Duration::from_millis(10);
const WAIT_MAX: Duration = Duration::from_secs(120);
/// How long the idle measurement waits for the last run's hints to be handed over.
const HINTS_WAIT_MAX: Duration = Duration::from_secs(600);

async fn status(addr: &str) -> Option<NodeStatus> {
    let options = ClientOptions {
        connect_timeout_ms: 500,
        reply_timeout_ms: 2_000,
    };
    Client::lazy(&[addr], options).status().await.ok()
}

struct Run {
    detect_s: Vec<f64>,
    ready_s: f64,
    /// Until the restarted node no longer rebuilds: its reads count toward R again.
    whole_s: f64,
    catch_up_s: f64,
    write_s: f64,
    pushed_to_it: u64,
    pulled_by_it: u64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn one_run(
    exe: &std::path::Path,
    dir: &std::path::Path,
    writes: usize,
) -> Result<(Run, ProcessCluster), String> {
    let _ = std::fs::remove_dir_all(dir);
    let mut cluster = ProcessCluster::spawn(exe, 3, dir, &["--log".into(), "warn".into()])
        .map_err(|e| e.to_string())?;
    for i in 0..3 {
        cluster.wait_ready(i, Duration::from_secs(30)).await?;
    }
    let addrs = cluster.addrs();
    // Let the failure detectors learn the heartbeat intervals.
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster.kill(2);
    let killed = Instant::now();
    let mut detect_s = vec![None, None];
    while detect_s.iter().any(Option::is_none) && killed.elapsed() < WAIT_MAX {
        for (i, seen) in detect_s.iter_mut().enumerate() {
            if seen.is_none() {
                let s = status(&addrs[i]).await;
                let down = s.is_some_and(|s| s.peers.iter().any(|p| p.node.0 == 3 && !p.alive));
                if down {
                    *seen = Some(killed.elapsed().as_secs_f64());
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
    let detect_s: Vec<f64> = detect_s
        .into_iter()
        .map(|d| d.unwrap_or(f64::NAN))
        .collect();

    let client = Client::connect(&addrs[..2])
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..writes).step_by(WRITERS) {
                let key = format!("bench-{i:08}");
                let mut value = format!("{key}-").into_bytes();
                value.resize(VALUE_BYTES, b'v');
                // A loaded machine can make a failure detector suspect a live node for a
                // moment: try again (a fresh key, so a repeated write changes no count).
                let mut tries = 0;
                while let Err(e) = client
                    .set(key.as_bytes(), &value, &VectorClock::new())
                    .await
                {
                    tries += 1;
                    if tries == 50 {
                        return Err(format!("write {key}: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let write_s = started.elapsed().as_secs_f64();
    // The writes' last replications settle on the two live nodes.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut pushed_before = 0;
    for addr in &addrs[..2] {
        let s = status(addr).await.ok_or("a node stopped answering")?;
        pushed_before += s.counter("entropy_keys_pushed").unwrap_or(0);
    }
    cluster.start(2).map_err(|e| e.to_string())?;
    let restarted = Instant::now();
    let mut ready_s = None;
    let mut whole_s = None;
    let catch_up_s = loop {
        let all = [
            status(&addrs[0]).await,
            status(&addrs[1]).await,
            status(&addrs[2]).await,
        ];
        if ready_s.is_none() && all[2].as_ref().is_some_and(|s| s.booted) {
            ready_s = Some(restarted.elapsed().as_secs_f64());
        }
        let whole = |s: &NodeStatus| s.booted && s.rebuilding.is_none();
        if whole_s.is_none() && all[2].as_ref().is_some_and(whole) {
            whole_s = Some(restarted.elapsed().as_secs_f64());
        }
        if let [Some(a), Some(b), Some(c)] = &all {
            let same = |x: &NodeStatus, y: &NodeStatus| x.keys == y.keys && x.digests == y.digests;
            if same(a, b) && same(a, c) && a.keys >= writes as u64 && whole_s.is_some() {
                break restarted.elapsed().as_secs_f64();
            }
        }
        if restarted.elapsed() > WAIT_MAX {
            return Err(format!("node 3 did not catch up within {WAIT_MAX:?}"));
        }
        tokio::time::sleep(POLL).await;
    };
    let third = status(&addrs[2]).await.ok_or("node 3 stopped answering")?;
    let run = Run {
        detect_s,
        ready_s: ready_s.unwrap_or(f64::NAN),
        whole_s: whole_s.unwrap_or(f64::NAN),
        catch_up_s,
        write_s,
        pushed_to_it: {
            let mut pushed = 0;
            for addr in &addrs[..2] {
                let s = status(addr).await.ok_or("a node stopped answering")?;
                pushed += s.counter("entropy_keys_pushed").unwrap_or(0);
            }
            pushed - pushed_before
        },
        pulled_by_it: third.counter("entropy_keys_pulled").unwrap_or(0),
    };
    Ok((run, cluster))
}

/// Waits until no node has hints left to hand over; returns the seconds waited.
async fn hints_drained(cluster: &ProcessCluster) -> Result<f64, String> {
    let started = Instant::now();
    loop {
        let mut backlog = 0;
        for addr in cluster.addrs() {
            let s = status(&addr).await.ok_or("a node stopped answering")?;
            backlog += s.hint_backlog.iter().map(|(_, n)| n).sum::<u64>();
        }
        if backlog == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > HINTS_WAIT_MAX {
            return Err(format!(
                "{backlog} hints still waiting after {HINTS_WAIT_MAX:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CPU seconds and peer bytes per minute per node on an idle cluster, over `seconds`.
async fn idle_cost(cluster: &ProcessCluster, seconds: u64) -> Result<Vec<[f64; 4]>, String> {
    let addrs = cluster.addrs();
    let sample = |i: usize| {
        let addr = addrs[i].clone();
        let pid = cluster.pid(i);
        async move {
            let s = status(&addr).await.ok_or("a node stopped answering")?;
            let cpu = pid.and_then(cpu_seconds).ok_or("no /proc figures")?;
            let c = |n: &str| s.counter(n).unwrap_or(0) as f64;
            Ok::<_, String>([
                cpu,
                c("peer_bytes_sent"),
                c("entropy_bytes_sent"),
                c("entropy_rounds"),
            ])
        }
    };
    let mut before = Vec::new();
    for i in 0..3 {
        before.push(sample(i).await?);
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let per_minute = 60.0 / seconds as f64;
    let mut out = Vec::new();
    for (i, b) in before.iter().enumerate() {
        let a = sample(i).await?;
        out.push([0, 1, 2, 3].map(|k| (a[k] - b[k]) * per_minute));
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |a| {
            a.parse().map_err(|_| format!("bad argument {a:?}"))
        })
    };
    let (writes, runs, idle) = (arg(0, 100_000)? as usize, arg(1, 5)?, arg(2, 60)?);
    let exe = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("tern-node"))
        .ok_or("cannot find the target directory")?;
    if !exe.exists() {
        return Err(format!(
            "{} not found: run `cargo build --release -p node` first",
            exe.display()
        ));
    }
    let dir = std::env::temp_dir().join(format!("tern-recovery-bench-{}", std::process::id()));
    let mut results = Vec::new();
    let mut idle_figures = None;
    for run in 0..runs {
        let (result, cluster) = one_run(&exe, &dir, writes).await?;
        println!(
            "run {}: detected in {:.3} s and {:.3} s; {writes} writes in {:.2} s; restarted node booted after {:.3} s, whole (no longer rebuilding) after {:.3} s, caught up after {:.3} s ({} keys pushed to it, {} pulled by it)",
            run + 1,
            result.detect_s[0],
            result.detect_s[1],
            result.write_s,
            result.ready_s,
            result.whole_s,
            result.catch_up_s,
            result.pushed_to_it,
            result.pulled_by_it
        );
        if run + 1 == runs && idle > 0 {
            // Idle means no hint left to hand over either: the two live nodes hinted every
            // write the restarted node missed, and hand them over at a bounded rate.
            let drained = hints_drained(&cluster).await?;
            println!("hint backlogs empty {drained:.1} s after the catch-up");
            tokio::time::sleep(Duration::from_secs(5)).await;
            idle_figures = Some((drained, idle_cost(&cluster, idle).await?));
        }
        results.push(result);
        drop(cluster);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let idle_figures = idle_figures.as_ref().map(|(d, f)| (*d, f.as_slice()));
    let report = report(writes, runs, idle, &mut results, idle_figures);
    print!("{report}");
    std::fs::create_dir_all("reports").map_err(|e| e.to_string())?;
    std::fs::write("reports/recovery.md", report).map_err(|e| e.to_string())?;
    println!("report: reports/recovery.md");
    Ok(())
}

fn report(
    writes: usize,
    runs: u64,
    idle: u64,
    results: &mut [Run],
    idle_figures: Option<(f64, &[[f64; 4]])>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Recovery on three `tern-node` processes\n");
    let _ = writeln!(
        out,
        "Written by `cargo build --release -p node && cargo run --release -p node --example recovery_bench -- {writes} {runs} {idle}`\n\
         on a machine with {} CPUs (shared with other builds while it ran: quote medians). Three\n\
         nodes on loopback, N=3 R=2 W=2, default settings (`heartbeat_interval` 100 ms, phi\n\
         threshold 8, `anti_entropy_interval` 1 s, `ENTROPY_REPAIR_KEYS_PER_SECOND_MAX` 50,000).\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut detect: Vec<f64> = results.iter().flat_map(|r| r.detect_s.clone()).collect();
    let mut catch_up: Vec<f64> = results.iter().map(|r| r.catch_up_s).collect();
    let mut ready: Vec<f64> = results.iter().map(|r| r.ready_s).collect();
    let mut whole: Vec<f64> = results.iter().map(|r| r.whole_s).collect();
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "| figure | median | runs |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| a SIGKILLed node marked down by each other node (s, from the kill, polled every 10 ms) | {:.3} | {} |",
        median(&mut detect.clone()),
        list(&detect)
    );
    let _ = writeln!(
        out,
        "| restarted node booted (s, from starting its process) | {:.3} | {} |",
        median(&mut ready.clone()),
        list(&ready)
    );
    let _ = writeln!(
        out,
        "| restarted node no longer rebuilding: its reads count toward R (s, from starting its process) | {:.3} | {} |",
        median(&mut whole.clone()),
        list(&whole)
    );
    let _ = writeln!(
        out,
        "| restarted node's copies equal the others' after {writes} missed writes (s, from starting its process) | {:.3} | {} |",
        median(&mut catch_up.clone()),
        list(&catch_up)
    );
    detect.clear();
    catch_up.clear();
    ready.clear();
    whole.clear();
    let _ = writeln!(
        out,
        "\nPer run: writes took {} s; copies sent to the restarted node by the two others (pushed in\n\
         their rounds, or answering its pulls) {}; keys it pulled {}.\n\
         \"Equal\" is each node's own status: the same key count and the same digest for each of\n\
         the 64 partitions; no key is read through the cluster, so read repair plays no part.",
        list(&results.iter().map(|r| r.write_s).collect::<Vec<_>>()),
        results
            .iter()
            .map(|r| r.pushed_to_it.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        results
            .iter()
            .map(|r| r.pulled_by_it.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some((drained, figures)) = idle_figures {
        let _ = writeln!(
            out,
            "\n## An idle, converged cluster ({idle} s, per minute per node)\n\n\
             The two live nodes hinted every write the restarted node missed; hints hand keys\n\
             over at a bounded rate (`HINTS_IN_FLIGHT_PER_PEER_MAX` per `handoff_interval`), so\n\
             after the last run's catch-up the measurement waited {drained:.1} s for every hint\n\
             backlog to empty, then 5 s, before this minute.\n\n\
             | node | CPU s | peer bytes sent | of which anti-entropy | anti-entropy rounds |\n|---|---|---|---|---|"
        );
        for (i, f) in figures.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.0} | {:.0} | {:.0} |",
                i + 1,
                f[0],
                f[1],
                f[2],
                f[3]
            );
        }
        let _ = writeln!(
            out,
            "\nCPU from /proc/PID/stat (utime + stime, 10 ms ticks) covers the whole process: \
             gossip, anti-entropy and the status requests of this measurement. Bytes are the \
             node's own counters of peer frames sent (`peer_bytes_sent`, \
             `entropy_bytes_sent`), headers included."
        );
    }
    out
}
