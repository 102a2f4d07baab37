//! The simulator's own system tests: a run is a pure function of (scenario, seed), and a
//! small faulty scenario passes its checkers on several seeds.

use sim::Scenario;

/// chaos.yaml in miniature: a tenth of the writes, so debug builds stay fast.
fn small_chaos() -> Scenario {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/chaos.yaml"
    ))
    .expect("scenarios/chaos.yaml is readable");
    let mut scenario = Scenario::parse(&text).expect("chaos.yaml parses");
    scenario.workload.acknowledged_writes = 1_200;
    // Fewer writes finish sooner: fault more often so that every seed crashes nodes.
    scenario.faults.crash_interval_ms = [100, 800];
    scenario.faults.partition_interval_ms = [200, 1_000];
    scenario
}

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_a_different_one() {
    let scenario = small_chaos();
    let a = sim::run(&scenario, 7);
    let b = sim::run(&scenario, 7);
    let c = sim::run(&scenario, 8);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    assert_eq!(a.durability.acknowledged, b.durability.acknowledged);
    assert_ne!(a.trace_hash, c.trace_hash);
}

/// A second thread (starting crashed nodes ahead of their restart, the durability checker
/// beside the others) changes the wall time only: the run, its trace, its counts and its
/// verdict are those of one thread.
#[test]
fn the_second_thread_changes_nothing_but_the_time() {
    let scenario = small_chaos();
    let on = sim::run_with(
        &scenario,
        11,
        sim::Options {
            second_thread: true,
        },
    );
    let off = sim::run_with(
        &scenario,
        11,
        sim::Options {
            second_thread: false,
        },
    );
    assert!(on.faults.crashes > 0, "the scenario crashes nodes");
    assert!(
        on.faults.recoveries_ahead > 0,
        "some restarts used the thread's recovery"
    );
    assert_eq!(off.faults.recoveries_ahead, 0);
    assert_eq!(on.trace_hash, off.trace_hash);
    assert_eq!(on.events, off.events);
    assert_eq!(on.faults.crashes, off.faults.crashes);
    assert_eq!(on.durability.acknowledged, off.durability.acknowledged);
    assert_eq!(on.durability.present, off.durability.present);
    assert_eq!(on.durability.superseded, off.durability.superseded);
    assert_eq!(on.stale_pairs, off.stale_pairs);
    assert_eq!(on.failed_sets, off.failed_sets);
    assert_eq!(on.violations.len(), off.violations.len());
}

#[test]
fn small_chaos_preserves_every_acknowledged_write_on_several_seeds() {
    let scenario = small_chaos();
    for seed in [1, 2, 3] {
        let outcome = sim::run(&scenario, seed);
        assert!(outcome.passed(), "seed {seed}: {:?}", outcome.violations);
        assert_eq!(outcome.durability.acknowledged, 1_200);
        assert_eq!(outcome.durability.preserved(), 1_200);
        assert!(outcome.faults.crashes > 0, "seed {seed} injected no crash");
    }
}

#[test]
fn bad_scenarios_are_refused_with_a_reason() {
    // The cluster is checked by core's own rules, as every node checks its config.
    let err = Scenario::parse("cluster: { nodes: 3, n: 4 }").unwrap_err();
    assert!(err.contains("cluster: bad default quorum: n=4"), "{err}");
    let err = Scenario::parse("cluster: { nodes: 3, n: 3, r: 1, w: 2 }").unwrap_err();
    assert!(err.contains("must be more than n=3"), "{err}");
    let err = Scenario::parse("workload: { clients: 0 }").unwrap_err();
    assert!(err.contains("clients"), "{err}");
    let err = Scenario::parse("bogus_field: 1").unwrap_err();
    assert!(err.contains("unknown field"), "{err}");
    let err = Scenario::parse("network: { latency_us: [5, 1] }").unwrap_err();
    assert!(err.contains("latency_us"), "{err}");
}

#[test]
fn a_workload_that_cannot_finish_in_time_is_a_liveness_violation() {
    let mut scenario = small_chaos();
    scenario.workload.acknowledged_writes = 1_000_000;
    scenario.phases.fault_max_s = 2;
    let outcome = sim::run(&scenario, 1);
    assert!(!outcome.passed());
    assert!(
        outcome.violations.iter().any(|v| v.checker == "liveness"),
        "{:?}",
        outcome.violations
    );
    // What was acknowledged before the cut-off is still checked, and still preserved.
    assert!(outcome.durability.acknowledged > 0);
    assert_eq!(
        outcome.durability.preserved(),
        outcome.durability.acknowledged
    );
}
