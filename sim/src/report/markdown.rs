//! The markdown report of a single-seed run (`reports/<scenario>-seed<N>.md`).

use super::{ms, percentiles, replay_command, WallClock};
use crate::world::RunOutcome;
use std::fmt::Write;

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
    let _ = writeln!(
        s,
        "Replay: `{}`\n",
        replay_command(path, outcome.seed, &outcome.scenario.overrides)
    );
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
            "self-healing",
            format!(
                "hinted handoff {} (every {} ms), anti-entropy {} (every {} ms), tombstone grace {}",
                if c.hinted_handoff { "on" } else { "off" },
                c.handoff_interval_ms,
                if c.anti_entropy { "on" } else { "off" },
                c.anti_entropy_interval_ms,
                c.tombstone_grace_ms
                    .map_or("none (never collected)".to_string(), |g| format!("{g} ms")),
            ),
        ),
        (
            "scheduled faults",
            format!(
                "{}; {}",
                sc.faults.outage.as_ref().map_or("no outage".to_string(), |o| format!(
                    "node {} down from {} ms for {}",
                    o.node,
                    o.start_ms,
                    lasting(o.duration_ms)
                )),
                sc.faults.split.as_ref().map_or("no split".to_string(), |p| format!(
                    "nodes {:?} split from the others from {} ms for {}",
                    p.side,
                    p.start_ms,
                    lasting(p.duration_ms)
                )),
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
            if w.mix.mset + w.mix.mdel + w.mix.mget > 0 {
                format!(
                    "set {} / get {} / delete {} / search {} / similar {} / mset {} / mdel {} / mget {} (bulk requests of {:?} keys; an mset item is a delete with probability {})",
                    w.mix.set, w.mix.get, w.mix.delete, w.mix.search, w.mix.similar,
                    w.mix.mset, w.mix.mdel, w.mix.mget, w.bulk_keys, w.bulk_delete_fraction
                )
            } else {
                format!(
                    "set {} / get {} / delete {} / search {} / similar {}",
                    w.mix.set, w.mix.get, w.mix.delete, w.mix.search, w.mix.similar
                )
            },
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
            "syncs with more of their batch to sync after them (a crash may come between)",
            f.syncs_in_steps,
        ),
        (
            "power losses between two syncs of one batch",
            f.power_losses_between_syncs,
        ),
        (
            "process kills inside a log batch (between two of its file operations)",
            f.kills_mid_batch,
        ),
        (
            "of those, kills inside an append (a prefix of its bytes written)",
            f.kills_mid_append,
        ),
        (
            "of those, kills inside a batch that started a segment or removed some",
            f.kills_mid_compaction,
        ),
        (
            "bytes of failed syncs evicted before recovery",
            f.bytes_evicted,
        ),
        (
            "torn log tails truncated by recovery",
            f.torn_tails_truncated,
        ),
        (
            "tails of zeros (space grown ahead of the appends) cut by recovery",
            f.zero_tails_truncated,
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
    if let Some(b) = &outcome.bulk {
        let _ = writeln!(
            s,
            "Of them, {} are the versions of {} acknowledged bulk writes (one per key); a bulk write counts once toward the target.",
            b.versions_acknowledged, b.writes_acknowledged
        );
    }
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
    let f = &outcome.faults;
    let _ = writeln!(s, "\n## Self-healing\n");
    let _ = writeln!(s, "| mechanism | count |\n|---|---|");
    let healing = [
        ("hints stored (a replica missed a write)", f.hints_stored),
        (
            "hints delivered (the replica has the key durable)",
            f.hints_delivered,
        ),
        (
            "hints settled by anti-entropy (the peer's partition was equal)",
            f.hints_settled,
        ),
        (
            "hints dropped (the peer's hints were full)",
            f.hints_dropped,
        ),
        ("anti-entropy rounds", f.entropy_rounds),
        ("keys pushed by anti-entropy", f.entropy_keys_pushed),
        ("keys pulled by anti-entropy", f.entropy_keys_pulled),
        ("tombstones collected (per node)", f.tombstones_collected),
        ("read repairs", f.read_repairs),
        (
            "disks replaced by empty ones (a node down)",
            f.disks_replaced,
        ),
        ("synced log bytes damaged (a node down)", f.corruptions),
        (
            "damages recovery detected (log set aside)",
            f.corruptions_detected,
        ),
        (
            "disks rolled back to an older copy (a node down)",
            f.rollbacks,
        ),
        (
            "restarts on a rolled-back disk that rebuilt",
            f.rollbacks_rebuilt,
        ),
        (
            "logs found older than a collection by their peers, set aside",
            f.stale_logs_set_aside,
        ),
        (
            "rebuilds started (every restart, unless turned off)",
            f.rebuilds_started,
        ),
        ("rebuilds done", f.rebuilds_done),
    ];
    for (what, n) in healing {
        let _ = writeln!(s, "| {what} | {n} |");
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
        "| recovery | {} restarts on disks no fault damaged, each checked to have recovered every value of its disk's durable records; {} violations |",
        outcome.faults.recoveries_checked,
        count("recovery")
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
    if let Some(b) = &outcome.bulk {
        let _ = writeln!(
            s,
            "| isolation | {} fractured reads out of {} bulk reads (a key showing bulk write T while another key of T the read asked for shows neither T nor its successor); {} (read, acknowledged-before-start bulk write) pairs checked key by key; {} violations |",
            b.fractured,
            b.reads,
            b.after_ack_pairs,
            count("isolation")
        );
        let atomicity = match b.atomicity {
            Some(a) => format!(
                "{} bulk writes checked on every replica of every key after the calm phase: {} acknowledged (all must be applied), {} not acknowledged ({} all applied, {} none), {} partial",
                a.checked, a.acknowledged, a.unacknowledged, a.all_applied, a.none_applied, a.partial
            ),
            None => "not judged: the final reads did not finish".to_string(),
        };
        let _ = writeln!(
            s,
            "| atomicity | {atomicity}; {} violations |",
            count("atomicity")
        );
    }
    let before_reads = match (outcome.entropy.diverged_first, outcome.entropy.converged_after) {
        (Some(diverged), Some(after)) => format!(
            "{diverged} keys differed across their replicas when the calm phase settled; every replica of every key equal {:.2} s into it, before any read",
            after.micros() as f64 / 1e6
        ),
        _ => "replicas not all equal before the final reads".to_string(),
    };
    let _ = writeln!(
        s,
        "| convergence before reads | {before_reads} (bound: {} s); {} violations |",
        sc.phases.converge_max_s,
        count("anti-entropy")
    );
    let _ = writeln!(
        s,
        "| resurrection | {} keys collected; {} reads and final copies of them checked for a value their collected tombstones had replaced; {} violations |",
        outcome.keys_collected,
        outcome.resurrection_checks,
        count("resurrection")
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
    if let Some(b) = &outcome.bulk {
        bulk_section(&mut s, outcome, b);
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

/// How long a scheduled fault lasts, for the scenario table.
fn lasting(duration_ms: Option<u64>) -> String {
    duration_ms.map_or("the rest of the fault phase".to_string(), |d| {
        format!("{d} ms")
    })
}

/// What the bulk writes and reads did, for a workload that makes them.
fn bulk_section(s: &mut String, outcome: &RunOutcome, b: &crate::world::BulkFigures) {
    let f = &outcome.faults;
    let _ = writeln!(s, "\n## Bulk writes and reads\n");
    let _ = writeln!(
        s,
        "- {} bulk writes acknowledged, writing {} versions (one per key); each was checked at its acknowledgement against the synced state of W replicas of every key.",
        b.writes_acknowledged, b.versions_acknowledged
    );
    let _ = writeln!(
        s,
        "- **{} fractured reads out of {} bulk reads.** A bulk read is fractured if one key shows bulk write T and another key of T it asked for shows neither T nor a version that replaced it.",
        b.fractured, b.reads
    );
    let _ = writeln!(
        s,
        "- {} (read, acknowledged-before-start bulk write) pairs checked key by key, single-key and bulk reads alike.",
        b.after_ack_pairs
    );
    match b.atomicity {
        Some(a) => {
            let _ = writeln!(
                s,
                "- Atomicity after the calm phase, on every replica of every key: {} bulk writes, {} acknowledged; of the {} not acknowledged (failed, indeterminate, or cut off by a crash), {} applied whole and {} not at all; **{} partial**.",
                a.checked, a.acknowledged, a.unacknowledged, a.all_applied, a.none_applied, a.partial
            );
        }
        None => {
            let _ = writeln!(s, "- Atomicity not judged: the final reads did not finish.");
        }
    }
    let _ = writeln!(
        s,
        "- The protocol at work: {} nodes crashed right after sending one of a bulk write's commits (before the rest); {} bulk-write versions fetched by bulk reads instead of answering a fractured view; versions kept aside (their coordinator died or went quiet) resolved by the replicas: {} committed, {} refused.",
        f.crashes_mid_commit, f.bulk_versions_fetched, f.bulk_resolved_committed, f.bulk_resolved_refused
    );
}
