//! Limits of the node driver: every queue, connection and frame has a named maximum here,
//! with the unit last. Core's limits (keys, values, messages) are in `tern_core::limits`.
//!
//! What happens at each limit:
//! - a frame over its maximum gets an error reply and the connection is closed;
//! - a client over its in-flight maximum is not read from until a reply goes out;
//! - a full peer queue drops the newest message and counts it (core resends what matters);
//! - a full client reply queue closes that client's connection (it stopped reading);
//! - connections over the maximum get a `Busy` error frame and are closed.

use tern_core::limits::{
    BULK_KEYS_MAX, BULK_KEY_BYTES_MAX, BULK_VALUE_BYTES_MAX, KEY_BYTES_MAX, MESSAGE_BYTES_MAX,
    VALUE_BYTES_MAX,
};

/// Bytes of the fixed frame header (magic, version, opcode, reserved, length, request id).
pub const FRAME_HEADER_BYTES: usize = 20;
/// Longest encoded causal context a client may send with a write: room for core's
/// `CONTEXT_ENTRIES_MAX` clock entries (at most 25 bytes each in postcard: a node id, a
/// 64-bit incarnation id and a sequence number, all varints), so that core, not the frame
/// limit, is what refuses an oversized context (with `TooLarge`).
pub const CONTEXT_BYTES_MAX: usize = 96 * 1024;
const _: () = assert!(CONTEXT_BYTES_MAX >= 25 * tern_core::limits::CONTEXT_ENTRIES_MAX + 8);
/// Bytes of framing one item of a bulk write takes in a request besides its key, value and
/// context (their lengths and the value's option tag, a few bytes each).
pub const BULK_ITEM_FRAMING_BYTES: usize = 32;
/// Longest body of a frame a client may send: a bulk write as large as core takes one (its
/// keys' and values' bytes at `BULK_KEY_BYTES_MAX` and `BULK_VALUE_BYTES_MAX`, with
/// `CONTEXT_BYTES_MAX` of contexts in all), so that core, not the frame, is what refuses a
/// bulk write over its limits. A single write (the longest key, value and context) fits too.
pub const REQUEST_BODY_BYTES_MAX: usize = BULK_VALUE_BYTES_MAX
    + BULK_KEY_BYTES_MAX
    + CONTEXT_BYTES_MAX
    + BULK_KEYS_MAX * BULK_ITEM_FRAMING_BYTES
    + 4096;
const _: () =
    assert!(REQUEST_BODY_BYTES_MAX >= KEY_BYTES_MAX + VALUE_BYTES_MAX + CONTEXT_BYTES_MAX + 4096);
/// Longest body of a frame between peers, and of a reply to a client (an object with all its
/// siblings can be as large as a peer message).
pub const PEER_BODY_BYTES_MAX: usize = MESSAGE_BYTES_MAX;
/// Longest error message carried in an error frame.
pub const ERROR_MESSAGE_BYTES_MAX: usize = 1024;
/// Once the first byte of a frame arrived, the rest must arrive within this time.
pub const FRAME_COMPLETE_TIMEOUT_MS: u64 = 10_000;
/// A write to a connection that makes no progress for this long closes the connection
/// (the other side stopped reading).
pub const WRITE_STALL_TIMEOUT_MS: u64 = 30_000;
/// Open connections (clients and peers) one node serves at once.
pub const CONNECTIONS_MAX: usize = 1024;
/// Requests one client connection may have in flight; the node stops reading that
/// connection at this many until replies go out.
pub const CLIENT_INFLIGHT_MAX: usize = 1024;
/// Frames queued for one client connection. Replies are bounded by the in-flight maximum,
/// so this only fills when the client stops reading.
pub const CLIENT_QUEUE_FRAMES_MAX: usize = 2 * CLIENT_INFLIGHT_MAX + 16;
/// Messages queued for one peer before the newest are dropped.
pub const PEER_QUEUE_FRAMES_MAX: usize = 65_536;
/// Events (peer messages, client requests) queued for the node task.
pub const NODE_QUEUE_EVENTS_MAX: usize = 16_384;
/// Events the node task handles before it looks at disk completions and timers again.
pub const NODE_BATCH_EVENTS_MAX: usize = 512;
/// Bytes a connection writer gathers into one write call.
pub const WRITE_BATCH_BYTES_MAX: usize = 256 * 1024;
/// First and longest wait between attempts to reconnect to a peer.
pub const RECONNECT_BACKOFF_MIN_MS: u64 = 50;
pub const RECONNECT_BACKOFF_MAX_MS: u64 = 1_000;
/// How long a shutdown waits for in-flight client requests before closing anyway.
pub const SHUTDOWN_DRAIN_TIMEOUT_MS: u64 = 5_000;
/// How often a node logs its request latencies and sync count (when anything happened).
pub const STATS_LOG_INTERVAL_MS: u64 = 10_000;
/// The log's file limits belong to the storage layer the simulator shares.
pub use tern_storage::{SEGMENTS_MAX, SEGMENT_BYTES_MAX};
/// Largest YAML config file.
pub const CONFIG_FILE_BYTES_MAX: u64 = 1 << 20;

const _: () = assert!(REQUEST_BODY_BYTES_MAX < PEER_BODY_BYTES_MAX);
const _: () = assert!(PEER_BODY_BYTES_MAX < u32::MAX as usize);
const _: () = assert!(CLIENT_QUEUE_FRAMES_MAX > CLIENT_INFLIGHT_MAX);
const _: () = assert!(RECONNECT_BACKOFF_MIN_MS <= RECONNECT_BACKOFF_MAX_MS);

/// Limits of the Redis (RESP) listener (redis/). A command over a limit gets a
/// `-ERR Protocol error: ...` reply and the connection is closed, as Redis does: the rest of
/// the stream cannot be framed any more. An unknown or refused command is answered and the
/// connection stays open.
///
/// Longest bulk string (one argument) a client may send: a value, or a hex context (two
/// characters a byte).
pub const REDIS_BULK_BYTES_MAX: usize = if VALUE_BYTES_MAX > 2 * CONTEXT_BYTES_MAX {
    VALUE_BYTES_MAX
} else {
    2 * CONTEXT_BYTES_MAX
};
/// Most arguments in one command (the command name included): MSET of 32,767 pairs.
pub const REDIS_ARGS_MAX: usize = 65_536;
/// Most bytes of one command, framing included: a bound on what one command may make the
/// node hold before any of it runs.
pub const REDIS_COMMAND_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Longest inline command (a line of text, as typed into telnet), and longest header line
/// (`*count` or `$len`) of a command sent as an array, as in Redis.
pub const REDIS_INLINE_BYTES_MAX: usize = 64 * 1024;
/// Commands one connection may have parsed and not yet answered (a pipeline); the listener
/// stops reading that connection at this many until replies go out.
pub const REDIS_PIPELINE_COMMANDS_MAX: usize = 1024;
/// Once the first byte of a command has arrived, the rest must arrive within this time.
pub const REDIS_COMMAND_COMPLETE_TIMEOUT_MS: u64 = FRAME_COMPLETE_TIMEOUT_MS;
/// Keys that may have turns of `MSET`s and multi-key `DEL`s at once (redis/lanes.rs,
/// `BulkTurns`); a command of another key beyond it runs without waiting for turns.
pub const REDIS_LANES_MAX: usize = 65_536;
/// Longest client name (`CLIENT SETNAME`).
pub const REDIS_CLIENT_NAME_BYTES_MAX: usize = 1024;

const _: () = assert!(REDIS_BULK_BYTES_MAX >= KEY_BYTES_MAX);
const _: () = assert!(REDIS_COMMAND_BYTES_MAX > 4 * REDIS_BULK_BYTES_MAX);
const _: () = assert!(REDIS_INLINE_BYTES_MAX >= 64);
