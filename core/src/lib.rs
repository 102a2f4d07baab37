//! tern-core: the pure state machine of a Tern node.
//!
//! Everything that decides about keys, versions, quorums and recovery lives here, and
//! nothing here does IO, reads a clock, spawns a thread or draws unseeded randomness. Two
//! drivers run it: `node` (tokio sockets, fsync'd files) and `sim` (virtual network, disk
//! and time). See docs/ARCHITECTURE.md for the map.

mod bulk;
pub mod client;
pub mod codec;
mod collect;
mod coordinator;
mod entropy;
mod handoff;
pub mod ids;
mod journal;
pub mod limits;
mod liveness;
pub mod log;
pub mod message;
pub mod node;
mod outbox;
mod positions;
pub mod quorum;
pub mod rebuild;
mod replica;
pub mod ring;
pub mod search;
mod store;
pub mod time;
mod timer;
mod verify;
pub mod version;

pub use codec::DecodeError;
pub use entropy::RoundStatus;
pub use ids::{ClientId, LogRef, NodeId, RequestId};
pub use liveness::PeerView;
pub use log::{recover, recover_segments, Record, Recovered, RecoveryError, Segment, TornTail};
pub use message::{
    BulkInvalid, BulkItem, BulkStage, ClientResult, KeyObject, Message, Op, Oversized, Paging,
    Quorum, QuorumError, Request, RequestError, Response, Scored,
};
pub use node::{
    Config, ConfigError, Input, Node, NodeStats, NodeStatus, Output, PeerStatus, Setting,
    StartError, Started,
};
pub use search::{SearchError, Stemming};
pub use time::{Span, Time};
pub use version::{ActorId, BulkKeys, Causality, Dot, Object, Sibling, VectorClock};
