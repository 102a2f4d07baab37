//! The run's summary (stdout) and its markdown report (under reports/).

use crate::world::RunOutcome;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Wall-clock facts the simulation itself never sees.
#[derive(Clone, Debug)]
pub struct WallClock {
    pub seconds: f64,
}

pub fn replay_command(scenario_path: &str, seed: u64) -> String {
    format!("cargo run --release -p sim -- --seed {seed} {scenario_path}")
}

/// Longest latency the report resolves; longer ones count as this.
const LATENCY_US_MAX: u64 = 3_600_000_000;

fn percentiles(samples: &[u64]) -> Option<[u64; 5]> {
    if samples.is_empty() {
        return None;
    }
    // Fixed bounds: 1 us to an hour. (`Histogram::new` would clamp at its initial tiny
    // range instead of growing when fed through `saturating_record`.)
    let mut h = Histogram::<u64>::new_with_bounds(1, LATENCY_US_MAX, 3)
        .expect("1 us .. 1 h at 3 significant figures is a valid histogram");
    for s in samples {
        h.saturating_record((*s).max(1));
    }
    Some([
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
    ])
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// The lines printed at the end of every run.
pub fn summary(outcome: &RunOutcome, path: &str, wall: &WallClock) -> String {
    let d = &outcome.durability;
    let f = &outcome.faults;
    let sim_s = outcome.end.micros() as f64 / 1e6;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "acknowledged writes: {} (set {}, delete {})",
        d.acknowledged,
        outcome.acked_by_kind.get("set").unwrap_or(&0),
        outcome.acked_by_kind.get("delete").unwrap_or(&0)
    );
    let _ = writeln!(
        s,
        "faults: {} crashes ({} process kills, {} power losses of which {} in power cuts of all nodes, {} during recovery or before the first sync, {} failed fsyncs; at most {} down at once), {} partitions, {} torn tails truncated; sectors at power loss: {} kept, {} dropped, {} torn; files at power loss: {} created and lost (name never synced), {} removed and back",
        f.crashes,
        f.kills,
        f.power_losses,
        f.power_cut_losses,
        f.crashes_after_restart,
        f.fsync_failures,
        f.max_down,
        f.partitions_symmetric + f.partitions_asymmetric + f.partitions_isolate,
        f.torn_tails_truncated,
        f.damage.kept,
        f.damage.dropped,
        f.damage.torn,
        f.damage.files_lost,
        f.damage.files_back
    );
    if let Some([p50, _, p99, _, max]) = percentiles(&f.detections_us) {
        let _ = writeln!(
            s,
            "failure detection: every node up suspects a crashed node {} ms after the crash (median of {} crashes), {} ms p99, {} ms max ({} restarted before that)",
            ms(p50),
            f.detections_us.len(),
            ms(p99),
            ms(max),
            f.restarted_before_detection
        );
    }
    let _ = writeln!(
        s,
        "durability: {}/{} acknowledged writes preserved ({} present, {} superseded by a write whose client had seen them)",
        d.preserved(),
        d.acknowledged,
        d.present,
        d.superseded
    );
    let _ = writeln!(
        s,
        "acknowledged = durable: {} acknowledgements checked against the replicas' synced state",
        outcome.acks_checked
    );
    let _ = writeln!(
        s,
        "dots: {} versions watched, each dot one version, each write run once; failed writes: {} definitely failed sets never visible",
        outcome.versions_watched, outcome.failed_sets
    );
    let _ = writeln!(
        s,
        "stale reads: {} reads checked against {} earlier acknowledged writes",
        outcome.reads_checked, outcome.stale_pairs
    );
    if outcome.searches.searches > 0 || outcome.final_searches > 0 {
        let q = &outcome.searches;
        let _ = writeln!(
            s,
            "searches: {} searches checked against the history ({} key answers decided and checked, {} undecided; coordinators answered {} from the replicas' own indexes, gathered {}); final searches: {} answers through every node and {} on every node's own index equal to the reference",
            q.searches, q.decided, q.undecided, outcome.faults.searches_local, outcome.faults.searches_gathered, outcome.final_searches, outcome.local_searches
        );
    }
    if let (Some(diverged), Some(after)) = (
        outcome.entropy.diverged_first,
        outcome.entropy.converged_after,
    ) {
        let _ = writeln!(
            s,
            "anti-entropy: {diverged} keys differed across their replicas when the calm phase settled; every replica equal {:.2} s into it, before any read",
            after.micros() as f64 / 1e6
        );
    }
    let f = &outcome.faults;
    let _ = writeln!(
        s,
        "self-healing: hints {} stored, {} delivered, {} dropped; anti-entropy {} rounds, {} keys pushed, {} pulled; tombstones {} collected ({} keys), {} reads and copies checked for resurrections",
        f.hints_stored, f.hints_delivered, f.hints_dropped, f.entropy_rounds, f.entropy_keys_pushed,
        f.entropy_keys_pulled, f.tombstones_collected, outcome.keys_collected, outcome.resurrection_checks
    );
    let _ = writeln!(
        s,
        "convergence: {} keys compared across their replicas",
        outcome.keys_converged
    );
    let _ = writeln!(s, "trace hash: {:016x}", outcome.trace_hash);
    let _ = writeln!(
        s,
        "time: {:.1} s simulated in {:.2} s wall ({:.0}x)",
        sim_s,
        wall.seconds,
        sim_s / wall.seconds.max(1e-9)
    );
    if outcome.passed() {
        let _ = writeln!(s, "result: PASS");
    } else {
        let mut by_checker: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for v in &outcome.violations {
            by_checker.entry(v.checker).or_default().push(&v.detail);
        }
        let counts: Vec<String> = by_checker
            .iter()
            .map(|(c, v)| format!("{c} {}", v.len()))
            .collect();
        let _ = writeln!(
            s,
            "result: FAIL, {} violations ({})",
            outcome.violations.len(),
            counts.join(", ")
        );
        for (checker, details) in &by_checker {
            for detail in details.iter().take(5) {
                let _ = writeln!(s, "  [{checker}] {detail}");
            }
        }
        let _ = writeln!(s, "replay: {}", replay_command(path, outcome.seed));
    }
    s
}

/// The markdown report.
pub fn markdown(outcome: &RunOutcome, path: &str, wall: &WallClock) -> String {
    let sc = &outcome.scenario;
    let d = &outcome.durability;
    let f = &outcome.faults;
    let mut s = String::new();
    let verdict = if outcome.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        s,
        "# Simulation report: {} (seed {})\n",
        sc.name, outcome.seed
    );
    let _ = writeln!(
        s,
        "**{verdict}: {}/{} acknowledged writes preserved.**\n",
        d.preserved(),
        d.acknowledged
    );
    let _ = writeln!(s, "Replay: `{}`\n", replay_command(path, outcome.seed));
    let _ = writeln!(s, "## Scenario\n");
    let _ = writeln!(s, "| parameter | value |\n|---|---|");
    let c = &sc.cluster;
    let w = &sc.workload;
    let n = &sc.network;
    let rows = [
        ("scenario file", format!("`{path}`")),
        ("seed", outcome.seed.to_string()),
        (
            "cluster",
            format!("{} nodes, N={} R={} W={}", c.nodes, c.n, c.r, c.w),
        ),
        ("request timeout", format!("{} ms", c.request_timeout_ms)),
        (
            "failure detector",
            format!(
                "gossip every {} ms, phi threshold {}, least deviation {} ms",
                c.heartbeat_interval_ms, c.phi_threshold, c.phi_min_deviation_ms
            ),
        ),
        (
            "compaction",
            format!(
                "above {} bytes and twice the live data",
                c.compact_min_bytes
            ),
        ),
        (
            "clients",
            format!("{}, think time {:?} us", w.clients, w.think_us),
        ),
        (
            "keys",
            format!(
                "{} ({:?}, exponent {})",
                w.keys, w.key_distribution, w.zipf_exponent
            ),
        ),
        (
            "values",
            format!(
                "{:?} bytes; {}% large {:?} bytes; {}% adversarial (framing a log record)",
                w.value_bytes,
                w.large_fraction * 100.0,
                w.large_value_bytes,
                w.adversarial_fraction * 100.0
            ),
        ),
        (
            "write contexts",
            format!(
                "read-modify-write {} / previous write reply {} / blind {} / newest held {}",
                w.contexts.read, w.contexts.reply, w.contexts.blind, w.contexts.latest
            ),
        ),
        (
            "mix",
            format!(
                "set {} / get {} / delete {} / search {} / similar {}",
                w.mix.set, w.mix.get, w.mix.delete, w.mix.search, w.mix.similar
            ),
        ),
        (
            "target",
            format!("{} acknowledged writes", w.acknowledged_writes),
        ),
        (
            "latency",
            format!(
                "{:?} us, {}% tail {:?} us",
                n.latency_us,
                n.tail_probability * 100.0,
                n.tail_latency_us
            ),
        ),
        (
            "loss / duplication",
            format!("{}% / {}%", n.loss * 100.0, n.duplicate * 100.0),
        ),
        (
            "fsync",
            format!(
                "{:?} us, fails with probability {}",
                sc.disk.fsync_us, sc.disk.fsync_failure
            ),
        ),
        (
            "crash damage weights",
            format!(
                "keep {} / drop {} / torn {} per {}-byte pending sector",
                sc.disk.crash_keep, sc.disk.crash_drop, sc.disk.crash_torn, sc.disk.sector_bytes
            ),
        ),
        (
            "crashes",
            format!(
                "every {:?} ms, restart after {:?} ms, at most {} down; {}% process kills, the rest power losses; {}% crash again during recovery or before the first sync",
                sc.faults.crash_interval_ms,
                sc.faults.restart_delay_ms,
                sc.faults.max_down,
                sc.faults.kill_fraction * 100.0,
                sc.faults.crash_after_restart * 100.0
            ),
        ),
        (
            "power cuts",
            format!("every {:?} ms (0: none)", sc.faults.power_cut_interval_ms),
        ),
        (
            "partitions",
            format!(
                "every {:?} ms, lasting {:?} ms",
                sc.faults.partition_interval_ms, sc.faults.partition_duration_ms
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(s, "\n## Faults injected\n");
    let _ = writeln!(s, "| fault | count |\n|---|---|");
    let rows = [
        ("node crashes (power cuts included)", f.crashes),
        ("process kills (page cache kept)", f.kills),
        (
            "power losses (every node a power cut struck included)",
            f.power_losses,
        ),
        ("power cuts of the whole cluster", f.power_cuts),
        (
            "crashes during recovery or before the first sync",
            f.crashes_after_restart,
        ),
        (
            "failed fsyncs (the node halted and restarted)",
            f.fsync_failures,
        ),
        ("node restarts", f.restarts),
        ("most nodes down at once", u64::from(f.max_down)),
        ("pending sectors kept at a power loss", f.damage.kept),
        ("pending sectors dropped at a power loss", f.damage.dropped),
        (
            "pending sectors torn at a power loss (garbage after the prefix)",
            f.damage.torn,
        ),
        (
            "log files created but lost at a power loss (directory not yet synced)",
            f.damage.files_lost,
        ),
        (
            "log files removed but back after a power loss (directory not yet synced)",
            f.damage.files_back,
        ),
        (
            "bytes of failed syncs evicted before recovery",
            f.bytes_evicted,
        ),
        (
            "torn log tails truncated by recovery",
            f.torn_tails_truncated,
        ),
        ("bytes truncated by recovery", f.bytes_truncated),
        (
            "restarts that used the recovery run ahead on a second thread (same result)",
            f.recoveries_ahead,
        ),
        ("symmetric partitions", f.partitions_symmetric),
        ("asymmetric (one-way) partitions", f.partitions_asymmetric),
        ("node isolations", f.partitions_isolate),
        ("peer messages sent", f.messages_sent),
        ("messages lost", f.messages_lost),
        ("messages duplicated", f.messages_duplicated),
        ("messages blocked by a partition", f.messages_blocked),
        (
            "messages that found their node down",
            f.messages_to_down_nodes,
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(s, "\n## Operations by outcome\n");
    let _ = writeln!(s, "| op | outcome | count |\n|---|---|---|");
    for ((op, outcome_name), count) in &outcome.outcomes {
        let _ = writeln!(s, "| {} | {outcome_name} | {count} |", op.name());
    }
    let _ = writeln!(
        s,
        "\nAcknowledged writes: {} (set {}, delete {}). Every write that ended otherwise was retried until one attempt was acknowledged.",
        d.acknowledged,
        outcome.acked_by_kind.get("set").unwrap_or(&0),
        outcome.acked_by_kind.get("delete").unwrap_or(&0)
    );
    let _ = writeln!(
        s,
        "\n## Latency of successful operations (simulated time, ms)\n"
    );
    let _ = writeln!(
        s,
        "| op | count | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|"
    );
    for (op, samples) in &outcome.latencies {
        if let Some([p50, p90, p99, p999, max]) = percentiles(samples) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                op.name(),
                samples.len(),
                ms(p50),
                ms(p90),
                ms(p99),
                ms(p999),
                ms(max)
            );
        }
    }
    let _ = writeln!(s, "\n## Checkers\n");
    let _ = writeln!(s, "| checker | verdict |\n|---|---|");
    let count = |name: &str| {
        outcome
            .violations
            .iter()
            .filter(|v| v.checker == name)
            .count()
    };
    let _ = writeln!(
        s,
        "| durability | {}/{} acknowledged writes preserved: {} present with their value, {} superseded by a write whose client had been shown them; {} violations |",
        d.preserved(),
        d.acknowledged,
        d.present,
        d.superseded,
        count("durability")
    );
    let _ = writeln!(
        s,
        "| acknowledged = durable | {} acknowledgements checked, each at the moment it was sent, against the synced state of the key's replicas; {} violations |",
        outcome.acks_checked,
        count("acknowledged durable")
    );
    let _ = writeln!(
        s,
        "| dots | {} versions watched in every Replicate sent: each dot one version, each write run once; {} violations |",
        outcome.versions_watched,
        count("dots")
    );
    let _ = writeln!(
        s,
        "| failed writes | {} sets that failed definitely, never visible in a read or the final state; {} violations |",
        outcome.failed_sets,
        count("failed write")
    );
    let _ = writeln!(
        s,
        "| stale reads | {} reads checked against {} acknowledged-before-start writes; {} violations |",
        outcome.reads_checked,
        outcome.stale_pairs,
        count("stale read")
    );
    let q = &outcome.searches;
    let _ = writeln!(
        s,
        "| stale searches | {} searches checked against the history: {} (search, key) answers decided and checked, {} undecided (concurrent or uncertain writes); {} violations |",
        q.searches,
        q.decided,
        q.undecided,
        count("stale search")
    );
    let _ = writeln!(
        s,
        "| final searches | {} answers through every node and {} on every node's own index, against a reference scan of the final data (same keys, same order, scores within 1e-9); {} violations |",
        outcome.final_searches,
        outcome.local_searches,
        count("final search") + count("local index")
    );
    let _ = writeln!(
        s,
        "| convergence | {} keys compared across their replicas after the calm phase; {} violations |",
        outcome.keys_converged,
        count("convergence")
    );
    let _ = writeln!(
        s,
        "| liveness | {} violations (workload done in the fault phase, final reads answered within {} s of calm) |",
        count("liveness"),
        sc.phases.calm_max_s
    );
    let _ = writeln!(
        s,
        "| recovery and codec | {} violations |",
        count("recovery") + count("codec")
    );
    if !outcome.violations.is_empty() {
        let _ = writeln!(s, "\nFirst violations:\n");
        for v in outcome.violations.iter().take(50) {
            let _ = writeln!(s, "- [{}] {}", v.checker, v.detail);
        }
    }
    let _ = writeln!(s, "\n## Run\n");
    let sim_s = outcome.end.micros() as f64 / 1e6;
    let _ = writeln!(s, "| figure | value |\n|---|---|");
    let rows = [
        ("trace hash", format!("`{:016x}`", outcome.trace_hash)),
        ("events processed", outcome.events.to_string()),
        (
            "fault phase",
            format!(
                "{:.2} s simulated",
                outcome.fault_phase_end.micros() as f64 / 1e6
            ),
        ),
        ("whole run", format!("{sim_s:.2} s simulated")),
        ("wall time", format!("{:.2} s", wall.seconds)),
        (
            "simulated / wall time",
            format!("{:.0}x", sim_s / wall.seconds.max(1e-9)),
        ),
        (
            "read repairs / resends / forwards (all incarnations)",
            format!("{} / {} / {}", f.read_repairs, f.resends, f.forwarded),
        ),
        ("log compactions", f.compactions.to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    for (id, bytes, segments) in &outcome.disk_bytes {
        let _ = writeln!(
            s,
            "| log of {id} at the end | {bytes} bytes in {segments} segments |"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_cover_the_whole_range() {
        let samples: Vec<u64> = (1..=1000).map(|i| i * 1_000).collect();
        let [p50, p90, p99, _, max] = percentiles(&samples).unwrap();
        assert!((499_000..=501_000).contains(&p50), "{p50}");
        assert!((899_000..=901_000).contains(&p90), "{p90}");
        assert!((989_000..=991_000).contains(&p99), "{p99}");
        assert!((999_000..=1_001_000).contains(&max), "{max}");
        assert_eq!(percentiles(&[]), None);
    }
}
