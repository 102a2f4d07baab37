//! node: Tern's production driver around the pure `tern_core::Node`, and its clients.
//!
//! One task owns the `Node` (driver.rs); sockets (net.rs) and the disk thread (disk.rs)
//! carry out its outputs and feed back their completions; the wire protocol (wire.rs) and
//! the limits (limits.rs) are documented in docs/PROTOCOL.md §2. Nothing here decides about
//! keys, versions, quorums or recovery: that is all in core. `embed.rs` starts a node inside
//! any tokio program; `client/` is the Rust client library; `bench.rs` the benchmark.

pub mod bench;
pub mod cli;
pub mod client;
pub mod disk;
mod driver;
pub mod embed;
pub mod limits;
mod net;
pub mod redis;
mod socket;
pub mod status;
pub mod wire;

pub use client::{Client, ClientError, ClientOptions, SearchResults, Written};
pub use driver::{DriverStats, Exit};
pub use embed::{start, start_on, MasterlessNode, NodeOptions, RunningNode, StartError};
