//! Every size and queue in Tern has a named maximum, here, with the unit last.
//!
//! What happens at each limit is defined where the limit is checked:
//! - keys, values and contexts over their maximum are rejected with `RequestError::TooLarge`;
//! - a full request table rejects new requests with `RequestError::Busy`;
//! - a write that would leave more siblings than `SIBLINGS_MAX` is rejected with
//!   `RequestError::TooManySiblings` (read, then write with the context);
//! - a frame or record longer than its maximum is a `DecodeError::TooLarge`, never an
//!   allocation.

/// Longest key, in bytes.
pub const KEY_BYTES_MAX: usize = 1024;
/// Longest value, in bytes.
pub const VALUE_BYTES_MAX: usize = 256 * 1024;
/// Most siblings a coordinator lets one key hold after a write.
pub const SIBLINGS_MAX: usize = 16;
/// Most siblings a decoded object may hold. Replicas may merge past `SIBLINGS_MAX` (two
/// partitioned sides each at the limit); this only stops hostile bytes.
pub const SIBLINGS_DECODE_MAX: usize = 1024;
/// Most entries the causal context of one request may hold (one per node incarnation that
/// wrote the key); a request with more is refused with `RequestError::TooLarge`.
pub const CONTEXT_ENTRIES_MAX: usize = 3_000;
/// Largest encoded object (all siblings of one key) a replica accepts from a peer.
pub const OBJECT_BYTES_MAX: usize = 2 * SIBLINGS_MAX * (VALUE_BYTES_MAX + 1024);
/// Largest encoded peer message.
pub const MESSAGE_BYTES_MAX: usize = OBJECT_BYTES_MAX + KEY_BYTES_MAX + 4096;
/// Largest payload of one log record.
pub const RECORD_BYTES_MAX: usize = MESSAGE_BYTES_MAX;
/// Most requests one node coordinates (or forwards) at once.
pub const PENDING_REQUESTS_MAX: usize = 8192;
/// Most nodes in a cluster.
pub const CLUSTER_NODES_MAX: usize = 64;
/// Highest replication factor a request may ask for.
pub const REPLICATION_N_MAX: usize = 7;
/// Number of fixed partitions in the ring.
pub const PARTITIONS: u32 = 64;
/// Most dots one node incarnation issues before it must restart with a new epoch.
pub const DOTS_PER_EPOCH_MAX: u64 = u64::MAX >> 1;

const _: () = assert!(MESSAGE_BYTES_MAX > KEY_BYTES_MAX + OBJECT_BYTES_MAX);
const _: () = assert!(RECORD_BYTES_MAX >= MESSAGE_BYTES_MAX);
const _: () = assert!(RECORD_BYTES_MAX < u32::MAX as usize);
const _: () = assert!(REPLICATION_N_MAX <= CLUSTER_NODES_MAX);
const _: () = assert!(SIBLINGS_DECODE_MAX >= 8 * SIBLINGS_MAX);
const _: () = assert!(PARTITIONS as usize >= CLUSTER_NODES_MAX);
