//! sim: Tern's deterministic simulator.
//!
//! Real `tern_core::Node`s run on a virtual network, virtual disks and virtual time; one
//! seed drives every random choice, so a run is reproduced exactly by its seed. See
//! docs/ARCHITECTURE.md and the README for what a report means.

pub mod checker;
pub mod disk;
pub mod overrides;
pub mod report;
pub mod rng;
pub mod scenario;
mod scenario_checks;
pub mod schedule;
pub mod workload;
pub mod world;

pub use scenario::Scenario;
pub use world::{run, run_with, Options, RunOutcome};
