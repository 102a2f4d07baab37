//! What crosses the boundary between `Node` and its driver: `Input`s it handles, `Output`s
//! it asks for, and the counters it keeps for drivers to report.

use crate::ids::{ClientId, NodeId};
use crate::message::{ClientResult, Message, Request};

/// Something for the node to act on.
#[derive(Clone, Debug)]
pub enum Input {
    /// A message from a peer.
    Peer { from: NodeId, message: Message },
    /// A client request; `request` is the client's own id for it, echoed in the reply.
    Client {
        client: ClientId,
        request: u64,
        body: Request,
    },
    /// Every log byte before `upto` is durable (written and synced).
    Persisted { upto: u64 },
    /// A deadline from `poll_timeout` has passed (any input also runs due timers).
    Tick,
    /// A log write or sync failed. Nothing written since the last `Persisted` can be trusted
    /// to be on disk (a failed fsync may have dropped dirty pages), so the node answers what
    /// it coordinates, acknowledges nothing more and asks to be halted (`Output::Halt`).
    PersistFailed,
    /// The driver has begun to stop the node: refuse new client and forwarded requests
    /// (`ShuttingDown`), and keep working on those already taken, as a replica too.
    Drain,
    /// The driver is stopping the node (its drain deadline passed): answer every request
    /// still pending with what its deadline would have said, and refuse new ones.
    Shutdown,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send {
        to: NodeId,
        message: Message,
    },
    Reply {
        client: ClientId,
        request: u64,
        result: ClientResult,
    },
    /// Append `bytes` to the newest log segment, then sync; once synced, report
    /// `Persisted { upto: end }`. `end` is the logical log length after the append.
    Persist {
        bytes: Vec<u8>,
        end: u64,
    },
    /// Compaction: start a new segment whose first byte has logical offset `base`, holding
    /// `bytes` (a snapshot of every live key); later `Persist` outputs append to it. Sync it
    /// (and its directory), then report `Persisted { upto: end }`.
    Compact {
        base: u64,
        bytes: Vec<u8>,
        end: u64,
    },
    /// The snapshot starting at `base` is durable: every older segment may be deleted.
    DropSegmentsBefore {
        base: u64,
    },
    /// The node's log is an older copy than one that agreed to a tombstone collection
    /// (`verify`): after carrying out every earlier output, move every segment out of the
    /// log, keeping its bytes for inspection (never deleting them); the log starts anew at
    /// offset 0, where the following `Persist` outputs append. Nothing appended to the old
    /// log is still to be reported `Persisted`.
    SetAsideLog,
    /// Stop this node: after `PersistFailed` it serves nothing. Restarting it recovers from
    /// the durable log.
    Halt,
}

/// Counters a driver may report. They never affect behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub writes_coordinated: u64,
    pub reads_coordinated: u64,
    pub forwarded: u64,
    pub read_repairs: u64,
    pub resends: u64,
    pub indeterminate: u64,
    pub unavailable: u64,
    pub timeouts: u64,
    pub busy: u64,
    pub replicate_refused: u64,
    pub compactions: u64,
    /// Duplicated `Forward` messages ignored.
    pub duplicate_forwards: u64,
    /// Reads whose replies merged into an object too large to store or send.
    pub reads_too_large: u64,
    /// Anti-entropy rounds started, keys pushed to peers and pulled from them, and
    /// partitions too large to compare (`ENTROPY_PARTITION_KEYS_MAX`).
    pub entropy_rounds: u64,
    pub entropy_keys_pushed: u64,
    pub entropy_keys_pulled: u64,
    pub entropy_partitions_skipped: u64,
    /// Searches answered from the replicas' own indexes (their digests agreed), and searches
    /// that gathered candidates (more nodes than N, or replicas that differed).
    pub searches_local: u64,
    pub searches_gathered: u64,
    /// Searches planned again because a replica they asked was rebuilding.
    pub searches_replanned: u64,
    /// Hints kept for peers that missed a write (`handoff`), keys handed over (sent), hints
    /// done (the peer had the key durable), and writes not hinted because the peer's hints
    /// were full (`HINTS_PER_PEER_MAX`).
    pub hints_stored: u64,
    pub hints_sent: u64,
    pub hints_delivered: u64,
    pub hints_dropped: u64,
    /// Hints found done by anti-entropy: the peer's digest of the key's partition equalled
    /// this node's, so it held this node's copy already (`Handoff::settled`).
    pub hints_settled: u64,
    /// Tombstoned keys this node forgot (`collect`).
    pub tombstones_collected: u64,
    /// Rebuilds this incarnation started (0 or 1), finished, and logs set aside as damaged
    /// at its start (0 or 1) (`rebuild`).
    pub rebuilds_started: u64,
    pub rebuilds_done: u64,
    pub damaged_logs_set_aside: u64,
    /// Restarted logs its peers vouched for (`verify`), and logs set aside as older copies
    /// than one that agreed to a tombstone collection.
    pub logs_verified: u64,
    pub stale_logs_set_aside: u64,
    /// Bulk writes and bulk reads this node coordinated (`bulk`); bulk-write versions a
    /// bulk read fetched because one key showed a bulk write another did not yet.
    pub bulk_writes_coordinated: u64,
    pub bulk_reads_coordinated: u64,
    pub bulk_versions_fetched: u64,
    /// Bulk writes' versions this replica keeps aside right now (a gauge), and
    /// resolutions it finished: committed, and refused (the bulk write never will be).
    pub bulk_kept_aside: u64,
    pub bulk_resolved_committed: u64,
    pub bulk_resolved_refused: u64,
}
