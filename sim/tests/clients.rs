//! The simulated clients follow the client library's rules (`tern_core::client`) over the
//! virtual network: a killed process closes its connections, so the clients waiting on it
//! learn it at once and fail over; a machine that loses its power just goes silent, and the
//! clients waiting on it time out.

use sim::workload::OpKind;
use sim::{RunOutcome, Scenario};

/// Three nodes crashing often, no partitions, no lost messages: every wait a client has is
/// for a node that crashed.
fn crashes_only(kill_fraction: f64) -> Scenario {
    let mut scenario = Scenario::parse("name: clients").expect("an empty scenario parses");
    scenario.workload.acknowledged_writes = 5_000;
    scenario.faults.crash_interval_ms = [50, 200];
    scenario.faults.kill_fraction = kill_fraction;
    scenario.faults.max_down = 1;
    scenario
}

fn count(outcome: &RunOutcome, name: &str) -> u64 {
    [OpKind::Set, OpKind::Get, OpKind::Delete]
        .iter()
        .filter_map(|op| outcome.outcomes.get(&(*op, name)))
        .sum()
}

#[test]
fn a_killed_process_ends_its_clients_tries_by_connection_loss_never_by_timeout() {
    for seed in [1, 2] {
        let outcome = sim::run(&crashes_only(1.0), seed);
        assert!(outcome.passed(), "seed {seed}: {:?}", outcome.violations);
        assert!(outcome.faults.kills > 0, "seed {seed}: no kill");
        assert_eq!(count(&outcome, "client timeout"), 0, "seed {seed}");
        assert!(
            count(&outcome, "connection lost") > 0,
            "seed {seed}: no write was caught in flight by a kill: {:?}",
            outcome.outcomes
        );
    }
}

#[test]
fn a_machine_that_loses_its_power_goes_silent_and_its_clients_time_out() {
    for seed in [1, 2] {
        let outcome = sim::run(&crashes_only(0.0), seed);
        assert!(outcome.passed(), "seed {seed}: {:?}", outcome.violations);
        assert!(
            outcome.faults.power_losses > 0,
            "seed {seed}: no power loss"
        );
        assert!(
            count(&outcome, "client timeout") > 0,
            "seed {seed}: {:?}",
            outcome.outcomes
        );
    }
}
