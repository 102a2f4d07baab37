//! Every size and queue in Tern has a named maximum, here, with the unit last.
//!
//! What happens at each limit is defined where the limit is checked:
//! - keys, values and contexts over their maximum are rejected with `RequestError::TooLarge`;
//! - a full request table rejects new requests with `RequestError::Busy`;
//! - a write that would leave more siblings than `SIBLINGS_MAX` is rejected with
//!   `RequestError::TooManySiblings` (read, then write with the context), and one that would
//!   leave an object over `OBJECT_WRITE_BYTES_MAX` with `RequestError::TooLarge`;
//! - a replica stores only objects that fit (`version::Object::fits`: at most
//!   `SIBLINGS_DECODE_MAX` siblings and `OBJECT_BYTES_MAX` encoded bytes), so that whatever it
//!   holds it can send, repair and recover; a `Replicate` whose merge would not fit is
//!   refused (not acknowledged, counted), and a read whose replies merge into an object that
//!   does not fit is answered `TooLarge` (counted);
//! - a frame or record longer than its maximum is a `DecodeError::TooLarge`, never an
//!   allocation;
//! - a search query, page or top-k over its maximum is a `search::SearchError` that names the
//!   limit; a document over `SEARCH_DOCUMENT_BYTES_MAX` is refused by `search::Index::apply`.
//! - a client request that has used its tries (`client::Attempt`) ends with the last try's
//!   failure.

/// Heartbeat intervals the failure detector keeps per member (the newest).
pub const HEARTBEAT_WINDOW_MAX: usize = 100;
/// Highest phi threshold a cluster may set (`Config::phi_threshold`); 1 is the lowest.
pub const PHI_THRESHOLD_MAX: u8 = 16;
/// Partitions whose keys one anti-entropy round lists (those whose digests differ): with
/// `ENTROPY_KEYS_PER_EXCHANGE`, what one round may repair.
pub const ENTROPY_PARTITIONS_PER_ROUND: usize = 8;
/// Keys one partition's anti-entropy exchange repairs (pushed or pulled), and one pull may ask
/// for.
pub const ENTROPY_KEYS_PER_EXCHANGE: usize = 4096;
/// Keys above which a partition is not compared by anti-entropy (its key list would not be
/// worth one message).
pub const ENTROPY_PARTITION_KEYS_MAX: usize = 50_000;
/// The rate limit of repair: most keys per second one node's anti-entropy rounds repair
/// (pushed plus pulled), averaged over a round. A round that repaired k keys is followed by
/// the next no sooner than k / this seconds after it started, so that catching up a replica
/// that missed many writes leaves room for client requests on both sides.
pub const ENTROPY_REPAIR_KEYS_PER_SECOND_MAX: u64 = 50_000;
/// Keys a round must repair for the next round with the same peer to follow at once (as the
/// rate limit allows) rather than an interval later. Below it, the differences are those of
/// writes in flight, which the next regular round finds settled: following up on them would
/// make a busy cluster compare partitions back to back for nothing.
pub const ENTROPY_FOLLOW_UP_KEYS_MIN: u64 = 256;
/// How long after the last answer or copy of a round, in milliseconds, a follow-up round
/// waits: the answers of one round arrive in several messages, and a round that started
/// between them would list again the partitions whose copies are still on their way.
pub const ENTROPY_FOLLOW_UP_SETTLE_MS: u64 = 20;
/// Bytes of copies one `EntropyPush` message gathers before the next begins (a single copy
/// larger than this goes alone). Small enough that merging one message takes the node a few
/// milliseconds between client requests, large enough to spare a message per key.
pub const ENTROPY_PUSH_BYTES_MAX: usize = 256 * 1024;
/// Longest key, in bytes.
pub const KEY_BYTES_MAX: usize = 1024;
/// Longest value, in bytes.
pub const VALUE_BYTES_MAX: usize = 256 * 1024;
/// Most siblings a coordinator lets one key hold after a write.
pub const SIBLINGS_MAX: usize = 16;
/// Most siblings a replica stores, and a decoded object may hold. Replicas may merge past
/// `SIBLINGS_MAX` (partitioned sides each at the limit) up to this; a merge past it is
/// refused, so that every stored object decodes again (recovery, messages).
pub const SIBLINGS_DECODE_MAX: usize = 1024;
/// Most entries the causal context of one request may hold (one per node incarnation that
/// wrote the key); a request with more is refused with `RequestError::TooLarge`.
pub const CONTEXT_ENTRIES_MAX: usize = 3_000;
/// Largest encoded object (all siblings of one key, as postcard encodes it) a replica stores.
pub const OBJECT_BYTES_MAX: usize = 2 * SIBLINGS_MAX * (VALUE_BYTES_MAX + 1024);
/// Largest encoded object a client write may leave: half of what a replica stores, so that
/// two partitioned sides that each wrote up to it still merge into an object that fits.
pub const OBJECT_WRITE_BYTES_MAX: usize = OBJECT_BYTES_MAX / 2;
/// Bytes a message or record adds around one object and its key: tags, request ids, length
/// prefixes and a dot (generously).
pub const ENVELOPE_BYTES_MAX: usize = 256;
/// Largest encoded peer message: an object that fits, its key and the envelope.
pub const MESSAGE_BYTES_MAX: usize = OBJECT_BYTES_MAX + KEY_BYTES_MAX + ENVELOPE_BYTES_MAX;
/// Largest payload of one log record: an object that fits and its key.
pub const RECORD_BYTES_MAX: usize = OBJECT_BYTES_MAX + KEY_BYTES_MAX + ENVELOPE_BYTES_MAX;
/// Most requests one node coordinates (or forwards) at once.
pub const PENDING_REQUESTS_MAX: usize = 8192;
/// Most nodes in a cluster.
pub const CLUSTER_NODES_MAX: usize = 64;
/// Highest replication factor a request may ask for.
pub const REPLICATION_N_MAX: usize = 7;
/// Number of fixed partitions in the ring.
pub const PARTITIONS: u32 = 64;
/// Most dots one node incarnation mints; past it, writes are refused with `Busy` until the
/// node restarts (as a new incarnation). Never reached in practice; it exists so that the
/// counter can never wrap.
pub const DOTS_PER_INCARNATION_MAX: u64 = u64::MAX >> 1;
/// Most request ids one node incarnation issues; past it, requests are refused with `Busy`
/// until the node restarts. Request ids never wrap around.
pub const REQUESTS_PER_INCARNATION_MAX: u64 = u64::MAX >> 1;
/// Forwarded requests a node remembers (by sender and request id), so that a duplicated
/// `Forward` message is never run twice. The oldest is forgotten first; a duplicate that
/// arrives after `FORWARDS_REMEMBERED_MAX` newer forwards would run again, which needs a
/// message delayed far past every request timeout.
pub const FORWARDS_REMEMBERED_MAX: usize = 2 * PENDING_REQUESTS_MAX;
/// Longest search query text, in bytes. Queries are typed by people and programs, not
/// pasted documents; the bound keeps parsing and the term list small.
pub const SEARCH_QUERY_BYTES_MAX: usize = 4096;
/// Most terms one search query may name (each word counts, repeated or not). Every term
/// costs one posting-list walk per replica, so this bounds the work of one query.
pub const SEARCH_QUERY_TERMS_MAX: usize = 64;
/// Deepest nesting of parentheses and `NOT`/`-` in a search query. The parser recurses once
/// per level, so this bounds its stack whatever the query text.
pub const SEARCH_QUERY_DEPTH_MAX: usize = 32;
/// Most hits in one page of search results.
pub const SEARCH_PAGE_SIZE_MAX: usize = 1000;
/// Deepest result a search returns: a page must end at or before this rank. Deeper paging
/// would make every page cost a sort of everything before it; refine the query instead.
pub const SEARCH_RESULTS_MAX: usize = 10_000;
/// Longest text `SearchSimilar` compares against: one value, since "more like this" is asked
/// with a document.
pub const SIMILAR_TEXT_BYTES_MAX: usize = VALUE_BYTES_MAX;
/// Most keys one `SearchSimilar` returns.
pub const SIMILAR_TOP_K_MAX: usize = 1000;
/// Longest document the search index takes: all the values of one object that fits, so every
/// stored key can be indexed, and its token count and term frequencies fit in a `u32`.
pub const SEARCH_DOCUMENT_BYTES_MAX: usize = OBJECT_BYTES_MAX;
/// Most distinct keys one distributed search examines (the union of the candidates every
/// replica returned). Each candidate costs its object on the wire from every replica asked
/// and a merge at the coordinator; past this a search is refused with `TooManyCandidates`
/// ("refine the query") rather than answered from part of the data.
pub const SEARCH_CANDIDATES_MAX: usize = 10_000;
/// Tries a client makes for one request, per node of its list, when a try did nothing (no
/// connection, a node starting, unavailable or stopping): every node gets a second chance,
/// since one may finish starting or come back while the others are tried.
pub const CLIENT_TRIES_PER_NODE: usize = 2;
/// Fewest tries a client makes for one request, however short its list: a client of one
/// node still retries it through the `Starting` answers of a restart.
pub const CLIENT_TRIES_MIN: usize = 4;
/// How long a client waits before its next try after a node answered `Starting`, in
/// milliseconds: a node finishes starting within milliseconds, and trying again at once
/// would only spend the tries.
pub const CLIENT_STARTING_RETRY_MS: u64 = 20;

/// Keys whose hints one node keeps for one peer (`handoff`): a write that peer missed past
/// this is not hinted (counted in `NodeStats::hints_dropped`; anti-entropy repairs it).
pub const HINTS_PER_PEER_MAX: usize = 100_000;
/// Hinted keys one node has in flight to one peer at a time (the handoff throttle): each
/// handoff round tops the peer's window up to this many.
pub const HINTS_IN_FLIGHT_PER_PEER_MAX: usize = 256;
/// A write acknowledged by W replicas waits this many resend intervals for the others'
/// acknowledgements before it hints them (`coordinator::write`).
pub const LINGER_RESEND_INTERVALS: u64 = 2;
/// A read asks R replicas first; the others are asked if those have not all answered after
/// `resend_interval / READ_WIDEN_DIVISOR` (30 ms by default), not a whole resend interval:
/// a speculative retry, cheap next to a read that waits for a dead peer to be suspected.
pub const READ_WIDEN_DIVISOR: u64 = 5;
/// Writes whose late replicas one coordinator waits for at once; past it, a write's late
/// replicas are hinted when it is acknowledged.
pub const LINGERING_WRITES_MAX: usize = 8192;
/// Tombstoned keys one collection round proposes to their replicas (`collect`).
pub const COLLECT_KEYS_PER_ROUND: usize = 512;
/// (node, log id) pairs whose collection positions a node keeps (`positions`). A node's log
/// gets a new id only when it starts on an empty log (a new disk, a log set aside), so a
/// cluster of a few dozen nodes stays far below this. Past it, the pair with the lowest
/// position of the node with the most pairs is forgotten (its oldest log's, in practice).
pub const POSITIONS_MAX: usize = 4096;
/// Entries in one `Positions` log record; a snapshot writes as many records as it needs.
pub const POSITIONS_PER_RECORD: usize = 256;

const _: () = assert!(MESSAGE_BYTES_MAX > KEY_BYTES_MAX + OBJECT_BYTES_MAX);
const _: () = assert!(ENTROPY_PUSH_BYTES_MAX + ENVELOPE_BYTES_MAX <= MESSAGE_BYTES_MAX);
const _: () = assert!(ENTROPY_KEYS_PER_EXCHANGE <= ENTROPY_PARTITION_KEYS_MAX);
const _: () = assert!(ENTROPY_PARTITIONS_PER_ROUND <= PARTITIONS as usize);
const _: () = assert!(ENTROPY_REPAIR_KEYS_PER_SECOND_MAX > 0);
const _: () = assert!(ENTROPY_FOLLOW_UP_KEYS_MIN <= ENTROPY_KEYS_PER_EXCHANGE as u64);
const _: () = assert!(OBJECT_WRITE_BYTES_MAX >= SIBLINGS_MAX * (VALUE_BYTES_MAX / 2));
const _: () = assert!(2 * OBJECT_WRITE_BYTES_MAX <= OBJECT_BYTES_MAX);
const _: () = assert!(RECORD_BYTES_MAX >= MESSAGE_BYTES_MAX);
const _: () = assert!(RECORD_BYTES_MAX < u32::MAX as usize);
const _: () = assert!(REPLICATION_N_MAX <= CLUSTER_NODES_MAX);
const _: () = assert!(SIBLINGS_DECODE_MAX >= 8 * SIBLINGS_MAX);
const _: () = assert!(PARTITIONS as usize >= CLUSTER_NODES_MAX);
const _: () = assert!(SEARCH_PAGE_SIZE_MAX <= SEARCH_RESULTS_MAX);
const _: () = assert!(SIMILAR_TOP_K_MAX <= SEARCH_RESULTS_MAX);
const _: () = assert!(SEARCH_QUERY_TERMS_MAX <= SEARCH_QUERY_BYTES_MAX);
const _: () = assert!(SEARCH_DOCUMENT_BYTES_MAX < u32::MAX as usize);
const _: () = assert!(SEARCH_CANDIDATES_MAX >= SEARCH_RESULTS_MAX);
const _: () = assert!(CLIENT_TRIES_PER_NODE >= 2 && CLIENT_TRIES_MIN >= CLIENT_TRIES_PER_NODE);

/// Keys in one bulk write or bulk read (`Op::BulkWrite`, `Op::BulkGet`).
pub const BULK_KEYS_MAX: usize = 100;
/// A bulk write's keys, their bytes summed: every version it writes carries them all.
pub const BULK_KEY_BYTES_MAX: usize = 16 * 1024;
/// A bulk write's values, their bytes summed: its request must fit in one frame.
pub const BULK_VALUE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Rounds a bulk read makes to fetch the bulk-write versions its first answers lacked
/// before it gives up with `Timeout` rather than answer a fractured view.
pub const BULK_READ_ROUNDS_MAX: usize = 4;
/// Resolutions (`bulk`) a replica runs at once; more wait for the next round.
pub const BULK_RESOLUTIONS_MAX: usize = 256;
/// Bulk writes' versions one replica keeps aside at once; a `Prepare` past it is refused
/// (that bulk write's coordinator counts this replica as not having kept it).
pub const BULK_ASIDE_MAX: usize = 100_000;
/// Promises never to keep a bulk write's version (`Refused`) one replica holds at once;
/// past it, a resolution's question is answered `Unknown` instead of promising.
pub const BULK_REFUSALS_MAX: usize = 100_000;
/// A bulk request runs at most this many of the cluster's request timeouts (and never
/// past `request_timeout_max`): the bound resolution waits out.
pub const BULK_TIMEOUT_MAX_TIMEOUTS: u64 = 2;
/// A refusal is kept for this many of the longest bulk request's timeouts: long after the
/// coordinator of its bulk write stopped sending.
pub const BULK_REFUSALS_KEEP_TIMEOUTS: u64 = 10;
/// Keys one bulk actor may have written before the node draws a new one (`bulk::write`,
/// `Actor`): it remembers, per key, the versions it wrote there.
pub const BULK_ACTOR_KEYS_MAX: usize = 100_000;
/// Bytes of versions one bulk actor may remember before the node draws a new one.
pub const BULK_ACTOR_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Bytes of objects one bulk write's `Prepare` or `Commit` carries to one replica; a
/// replica's keys over it go in several messages.
pub const BULK_MESSAGE_BYTES_MAX: usize = MESSAGE_BYTES_MAX / 2;
