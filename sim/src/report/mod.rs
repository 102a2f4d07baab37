//! The run's summary (stdout) and its markdown report (under reports/).

use crate::world::RunOutcome;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;

mod markdown;
pub use markdown::markdown;

/// Wall-clock facts the simulation itself never sees.
#[derive(Clone, Debug)]
pub struct WallClock {
    pub seconds: f64,
}

/// The command that replays a run: the scenario, the seed and the `--set` overrides it ran
/// with (quoted for a shell).
pub fn replay_command(scenario_path: &str, seed: u64, overrides: &[String]) -> String {
    let mut command = format!("cargo run --release -p sim -- --seed {seed} {scenario_path}");
    for set in overrides {
        command.push_str(&format!(" --set '{set}'"));
    }
    command
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
        "acknowledged writes: {} (set {}, delete {}{})",
        d.acknowledged,
        outcome.acked_by_kind.get("set").unwrap_or(&0),
        outcome.acked_by_kind.get("delete").unwrap_or(&0),
        outcome.bulk.map_or(String::new(), |b| format!(
            ", and {} versions of {} bulk writes",
            b.versions_acknowledged, b.writes_acknowledged
        ))
    );
    let _ = writeln!(
        s,
        "faults: {} crashes ({} process kills, {} power losses of which {} in power cuts of all nodes, {} during recovery or before the first sync, {} failed fsyncs; at most {} down at once), {} partitions, {} torn tails truncated (and {} tails of zeros grown ahead); sectors at power loss: {} kept, {} dropped, {} torn; files at power loss: {} created and lost (name never synced), {} removed and back; {} syncs with more of their batch after them ({} power losses between two); {} kills inside a log batch ({} inside an append, {} inside a compaction or removal)",
        f.crashes,
        f.kills,
        f.power_losses,
        f.power_cut_losses,
        f.crashes_after_restart,
        f.fsync_failures,
        f.max_down,
        f.partitions_symmetric + f.partitions_asymmetric + f.partitions_isolate,
        f.torn_tails_truncated,
        f.zero_tails_truncated,
        f.damage.kept,
        f.damage.dropped,
        f.damage.torn,
        f.damage.files_lost,
        f.damage.files_back,
        f.syncs_in_steps,
        f.power_losses_between_syncs,
        f.kills_mid_batch,
        f.kills_mid_append,
        f.kills_mid_compaction
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
        "recovery: {} restarts on undamaged disks checked to hold every value their disk had synced",
        f.recoveries_checked
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
    if let Some(b) = &outcome.bulk {
        let _ = writeln!(
            s,
            "isolation: {} fractured reads out of {} bulk reads; {} (read, earlier acknowledged bulk write) pairs checked key by key",
            b.fractured, b.reads, b.after_ack_pairs
        );
        let _ = match b.atomicity {
            Some(a) => writeln!(
                s,
                "atomicity: {} bulk writes checked ({} acknowledged, {} not acknowledged: {} all applied, {} none), {} partial",
                a.checked, a.acknowledged, a.unacknowledged, a.all_applied, a.none_applied, a.partial
            ),
            None => writeln!(s, "atomicity: not judged (the final reads did not finish)"),
        };
        let _ = writeln!(
            s,
            "bulk protocol: {} coordinators crashed mid-commit; {} versions fetched by bulk reads; versions kept aside resolved: {} committed, {} refused",
            f.crashes_mid_commit, f.bulk_versions_fetched, f.bulk_resolved_committed, f.bulk_resolved_refused
        );
    }
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
        "self-healing: hints {} stored, {} delivered, {} settled by anti-entropy, {} dropped; anti-entropy {} rounds, {} keys pushed, {} pulled; tombstones {} collected ({} keys), {} reads and copies checked for resurrections",
        f.hints_stored, f.hints_delivered, f.hints_settled, f.hints_dropped, f.entropy_rounds, f.entropy_keys_pushed,
        f.entropy_keys_pulled, f.tombstones_collected, outcome.keys_collected, outcome.resurrection_checks
    );
    if f.disks_replaced + f.corruptions + f.rollbacks > 0 {
        let _ = writeln!(
            s,
            "damage: {} disks replaced empty, {} synced bytes damaged ({} detected, logs set aside), {} disks rolled back to an older copy ({} restarted rebuilding, {} found older than a collection by their peers and set aside); rebuilds {} started, {} done",
            f.disks_replaced, f.corruptions, f.corruptions_detected, f.rollbacks, f.rollbacks_rebuilt,
            f.stale_logs_set_aside, f.rebuilds_started, f.rebuilds_done
        );
    }
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
        let _ = writeln!(
            s,
            "replay: {}",
            replay_command(path, outcome.seed, &outcome.scenario.overrides)
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

    /// A failure found with `--set` overrides replays with them: without them the same seed
    /// runs another scenario.
    #[test]
    fn a_replay_command_carries_the_overrides() {
        let sets = ["disk.pickup_us=[0, 1000]".to_string()];
        assert_eq!(
            replay_command("scenarios/isolation.yaml", 7, &sets),
            "cargo run --release -p sim -- --seed 7 scenarios/isolation.yaml \
             --set 'disk.pickup_us=[0, 1000]'"
        );
        assert_eq!(
            replay_command("scenarios/chaos.yaml", 42, &[]),
            "cargo run --release -p sim -- --seed 42 scenarios/chaos.yaml"
        );
    }
}
