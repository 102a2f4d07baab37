//! What crosses the network: client requests and their results, and peer messages.
//!
//! These are plain values; the node driver frames and encodes them (docs/PROTOCOL.md), the
//! simulator encodes them too so that the codec runs under every simulated fault.

use crate::codec::{decode_body, encode_body, DecodeError};
use crate::ids::{LogRef, NodeId, RequestId};
use crate::limits::MESSAGE_BYTES_MAX;
use crate::search::SearchError;
use crate::version::{wire, Dot, Object, VectorClock};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Per-request replication settings; `None` takes the cluster default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quorum {
    pub n: Option<u8>,
    pub r: Option<u8>,
    pub w: Option<u8>,
}

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Read every live version of `key`.
    Get {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// Write `value`, replacing the versions `context` has seen (empty: replace nothing).
    Set {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        context: VectorClock,
    },
    /// Write a tombstone, replacing the versions `context` has seen.
    Delete {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        context: VectorClock,
    },
    /// The keys whose documents match `query` (docs/SEARCH.md), ranked by BM25, one page.
    Search { query: String, page: Paging },
    /// The `top_k` keys whose documents are closest to `text` by TF-IDF cosine.
    Similar { text: String, top_k: u32 },
    /// Atomic bulk write (docs/CONTRACT.md, "Bulk writes"): every item's key gets its new
    /// version (a value, or a tombstone for `value: None`), or none does. At most
    /// `BULK_KEYS_MAX` items, each key at most once.
    BulkWrite { items: Vec<BulkItem> },
    /// Read-atomic bulk read: every key's merged versions, in the order asked, never
    /// showing one key's version of a bulk write without the others' (`BULK_KEYS_MAX` keys).
    BulkGet { keys: Vec<serde_bytes::ByteBuf> },
    /// Write `value` (`None`: a tombstone), replacing every version the coordinating replica
    /// holds of the key when it applies the write: an overwrite in one round trip, for
    /// clients that mean "set, whatever is there" (Redis `SET`). Versions that replica has
    /// not received yet (written through another replica, still on their way) are not
    /// replaced: they stay siblings. Use `Set` with a context read to replace exactly what
    /// was read (docs/CONTRACT.md, "Overwrites").
    Replace {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Option<Vec<u8>>,
    },
}

/// One key of a bulk write: its new value (`None`: delete it) and the versions it replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkItem {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
    pub context: VectorClock,
}

/// Which ranks of a search's results to return: `size` hits from rank `offset` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    pub offset: u32,
    pub size: u32,
}

impl Paging {
    /// The first `size` hits.
    pub fn first(size: u32) -> Paging {
        Paging { offset: 0, size }
    }
}

/// A key and its score in a search's results. Scores are finite, never NaN (search::rank).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    pub score: f64,
}

// Scores are never NaN, so equality is reflexive.
impl Eq for Scored {}

impl Op {
    /// The key a single-key request is about; empty for a search or a bulk request, which
    /// is about no one key (and is coordinated by whichever node receives it).
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Get { key }
            | Op::Set { key, .. }
            | Op::Delete { key, .. }
            | Op::Replace { key, .. } => key,
            Op::Search { .. } | Op::Similar { .. } | Op::BulkWrite { .. } | Op::BulkGet { .. } => {
                &[]
            }
        }
    }

    /// A bulk write or a bulk read: it spans several keys.
    pub fn is_bulk(&self) -> bool {
        matches!(self, Op::BulkWrite { .. } | Op::BulkGet { .. })
    }

    /// A search or a similarity search: it spans every partition.
    pub fn is_search(&self) -> bool {
        matches!(self, Op::Search { .. } | Op::Similar { .. })
    }

    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Set { .. } | Op::Delete { .. } | Op::BulkWrite { .. }
        )
    }
}

/// A client request with its options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub op: Op,
    pub quorum: Quorum,
    /// How long the coordinator may take; `None` takes the cluster default.
    pub timeout_ms: Option<u32>,
}

impl Request {
    pub fn new(op: Op) -> Request {
        Request {
            op,
            quorum: Quorum::default(),
            timeout_ms: None,
        }
    }
}

/// A successful result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The merged versions of the key (empty if it never existed). Write with
    /// `object.clock()` as the context to replace them all.
    Object(Object),
    /// The write is durable on W replicas. `object` is the coordinator's copy of the key
    /// after the write: this write and every version it did not replace. Its `clock()` is
    /// the context for a follow-up write, and covers exactly these versions (and those they
    /// replaced): the client is shown every version the context claims, so a follow-up
    /// write replaces only what its client has seen.
    Written { dot: Dot, object: Object },
    /// A search's or a similarity search's results, best first (ties by key bytes).
    /// `total` counts every match (for `Similar`, the hits returned); `next` is the following
    /// page of a `Search`, if there are more hits within `SEARCH_RESULTS_MAX`.
    Hits {
        hits: Vec<Scored>,
        total: u64,
        next: Option<Paging>,
    },
    /// A bulk write is committed on W replicas of every key: every key's new version has
    /// this dot (the bulk write's id) and is visible to every read from now on.
    BulkWritten { dot: Dot },
    /// A bulk read's merged versions, one object per key asked, in the order asked.
    Objects(Vec<Object>),
}

/// What was over its limit in a `TooLarge` refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Oversized {
    /// The key, in bytes (`KEY_BYTES_MAX`).
    Key,
    /// The value, in bytes (`VALUE_BYTES_MAX`).
    Value,
    /// The write's context, in clock entries (`CONTEXT_ENTRIES_MAX`).
    Context,
    /// The object the write would leave, in encoded bytes (`OBJECT_WRITE_BYTES_MAX`).
    Object,
    /// A read's replies merged, in siblings (`SIBLINGS_DECODE_MAX`).
    MergedSiblings,
    /// A read's replies merged, in encoded bytes (`OBJECT_BYTES_MAX`).
    MergedBytes,
    /// A bulk request's keys, counted (`BULK_KEYS_MAX`).
    BulkKeys,
    /// A bulk write's keys, their bytes summed (`BULK_KEY_BYTES_MAX`): every version it
    /// writes carries them all.
    BulkKeyBytes,
}

impl fmt::Display for Oversized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Oversized::Key => "key",
            Oversized::Value => "value",
            Oversized::Context => "context (clock entries)",
            Oversized::Object => "object (all versions of the key)",
            Oversized::MergedSiblings => "the key's versions merged across replicas (siblings)",
            Oversized::MergedBytes => "the key's versions merged across replicas (bytes)",
            Oversized::BulkKeys => "bulk request (keys)",
            Oversized::BulkKeyBytes => "bulk write's keys (bytes, summed)",
        })
    }
}

/// Which of N, R, W is out of range, and the bound it broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuorumError {
    /// `n` must be between 1 and `max` (the cluster's size, at most `REPLICATION_N_MAX`).
    N { n: u8, max: u8 },
    /// `r` must be between 1 and `n`.
    R { r: u8, n: u8 },
    /// `w` must be between 1 and `n`.
    W { w: u8, n: u8 },
}

impl fmt::Display for QuorumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuorumError::N { n, max } => write!(f, "n={n} must be between 1 and {max}"),
            QuorumError::R { r, n } => write!(f, "r={r} must be between 1 and n={n}"),
            QuorumError::W { w, n } => write!(f, "w={w} must be between 1 and n={n}"),
        }
    }
}

impl std::error::Error for QuorumError {}

/// Why a request did not succeed. Every variant says whether the write may have happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestError {
    /// Too few replicas are reachable to try; nothing was written.
    Unavailable { needed: u8, alive: u8 },
    /// The write reached some replicas but not W of them before the deadline. It may or may
    /// not survive; a read shows which. Never reported as a failure.
    Indeterminate,
    /// A read did not gather R replies (and repair them) before the deadline.
    Timeout,
    /// The node is at a limit (request table full); nothing was done. Retry later.
    Busy,
    /// The node has not finished starting; nothing was done. Retry, or ask another node.
    Starting,
    /// A key, value, context or object is over its limit (`what` says which, and in what
    /// unit `len` and `max` count); nothing was done.
    TooLarge { what: Oversized, len: u64, max: u64 },
    /// N, R or W are out of range for this cluster; nothing was done.
    InvalidQuorum(QuorumError),
    /// The write would leave more concurrent versions than allowed; nothing was done. Read the
    /// key and write with its context to replace them.
    TooManySiblings { count: u32, max: u32 },
    /// The node is stopping (shutting down, or halted after its log could not be written);
    /// nothing was done. Retry on another node.
    ShuttingDown,
    /// The query does not parse (what and at which byte), or a page, `top_k` or text is out
    /// of range; nothing was done. Fix the request.
    InvalidSearch(SearchError),
    /// The search would examine more than `max` keys (`SEARCH_CANDIDATES_MAX`, or what one
    /// replica's reply can carry); nothing was returned. Refine the query with rarer words.
    TooManyCandidates { max: u64 },
    /// This cluster keeps no search index (`search_index` off); nothing was done.
    SearchOff,
    /// A bulk request names no key, or one key twice; nothing was done.
    InvalidBulk(BulkInvalid),
}

/// What is wrong with a bulk request's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BulkInvalid {
    /// It names no key.
    Empty,
    /// It names a key twice.
    DuplicateKey,
}

impl RequestError {
    /// True if a write that ended with this error may still have been applied.
    pub fn maybe_applied(&self) -> bool {
        matches!(self, RequestError::Indeterminate)
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Unavailable { needed, alive } => write!(
                f,
                "unavailable: {alive} replicas reachable, {needed} needed; nothing was written"
            ),
            RequestError::Indeterminate => write!(
                f,
                "indeterminate: the write reached some replicas but was not confirmed in time; it may or may not be visible; read the key to find out"
            ),
            RequestError::Timeout => write!(f, "timeout: too few replicas answered in time"),
            RequestError::Busy => write!(f, "busy: the node is at its request limit; retry later"),
            RequestError::Starting => write!(f, "starting: the node is still recovering; retry"),
            RequestError::TooLarge { what, len, max } => {
                write!(f, "{what} is {len} bytes, over the limit of {max}")
            }
            RequestError::InvalidQuorum(why) => write!(f, "invalid quorum: {why}"),
            RequestError::ShuttingDown => write!(
                f,
                "shutting down: the node is stopping; nothing was done; retry on another node"
            ),
            RequestError::InvalidSearch(why) => write!(f, "invalid search: {why}"),
            RequestError::TooManyCandidates { max } => write!(
                f,
                "too many candidates: the search would examine more than {max} keys; refine the query with rarer words"
            ),
            RequestError::SearchOff => {
                write!(f, "search is off: this cluster keeps no search index")
            }
            RequestError::InvalidBulk(BulkInvalid::Empty) => {
                write!(f, "invalid bulk request: it names no key; nothing was done")
            }
            RequestError::InvalidBulk(BulkInvalid::DuplicateKey) => write!(
                f,
                "invalid bulk request: it names a key twice; nothing was done"
            ),
            RequestError::TooManySiblings { count, max } => write!(
                f,
                "the write would leave {count} concurrent versions (limit {max}); read the key and write with its context"
            ),
        }
    }
}

impl std::error::Error for RequestError {}

pub type ClientResult = Result<Response, RequestError>;

/// The newest heartbeat a node knows of a member: which incarnation (`generation`, when it
/// started, in microseconds of its clock) and how many rounds it has ticked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: NodeId,
    pub generation: u64,
    pub beat: u64,
}

/// Where one replica of one key stands on one bulk write (`Message::BulkState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BulkStage {
    /// Its version is kept aside, not yet committed.
    Prepared,
    /// Its version is committed here, or replaced by a later one.
    Committed,
    /// Nothing of it is here, and this replica promised never to keep it.
    Refused,
    /// This replica is rebuilding: it cannot speak for what it held.
    Unknown,
}

/// A message between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A gossip round (`liveness`): the sender's view of every member's heartbeat. A push
    /// (`reply` false) is answered with the receiver's view (`reply` true).
    Gossip { view: Vec<Heartbeat>, reply: bool },
    /// Merge this object into your copy of the key; acknowledge once it is durable.
    Replicate {
        req: RequestId,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        object: Object,
    },
    /// The replicated object (or a successor) is durable here.
    ReplicateAck { req: RequestId },
    /// Send me your durable copy of the key.
    Read {
        req: RequestId,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// A replica's durable copy of the key (empty if it has none).
    ReadReply { req: RequestId, object: Object },
    /// Coordinate this request for me: I am not a replica of its key.
    Forward { req: RequestId, request: Request },
    /// The outcome of a forwarded request.
    ForwardReply {
        req: RequestId,
        result: ClientResult,
    },
    /// Search round 1: send me the keys of `partitions` whose documents hold any of `terms`,
    /// with their objects, and the statistics of `stats_for` (a subset of `partitions`).
    Gather {
        req: RequestId,
        partitions: Vec<u32>,
        stats_for: Vec<u32>,
        terms: Vec<String>,
        /// A similarity search: also the df of every term of the candidates' documents.
        vectors: bool,
    },
    /// The answer to `Gather`. `complete` is false if the candidates or statistics did not
    /// fit in one message (then both lists are empty: the search is too broad).
    Gathered {
        req: RequestId,
        complete: bool,
        objects: Vec<KeyObject>,
        stats: Vec<PartitionStats>,
    },
    /// Search round 2: send me your durable copies of these keys; or round 3 (no keys): the
    /// statistics of partitions `stats_for` for `terms`, which round 1 did not ask about.
    Fetch {
        req: RequestId,
        keys: Vec<serde_bytes::ByteBuf>,
        stats_for: Vec<u32>,
        terms: Vec<String>,
    },
    /// The answer to `Fetch`, in the order asked (an empty object for a key not held), and
    /// the statistics asked for (df > 0 only); `complete` false, and no objects, if they did
    /// not fit in one message.
    Fetched {
        req: RequestId,
        complete: bool,
        objects: Vec<KeyObject>,
        stats: Vec<PartitionStats>,
    },
    /// Anti-entropy: the sender's digest of each partition both replicate.
    Entropy { digests: Vec<(u32, u64)> },
    /// Anti-entropy: every key the sender holds in `partition`, with its version hash.
    EntropyKeys {
        partition: u32,
        keys: Vec<(serde_bytes::ByteBuf, u64)>,
    },
    /// Anti-entropy: send me your copies of these keys (as `Replicate`).
    EntropyPull { keys: Vec<serde_bytes::ByteBuf> },
    /// A search (`op`: `Search` or `Similar`) where every node holds every partition: run it
    /// on your own index and send the answer with your partition digests, once your log is
    /// durable up to the answer. `op` is `None` for the replicas whose digests alone are
    /// asked (one replica answers, the others vouch that they hold the same).
    LocalSearch { req: RequestId, op: Option<Op> },
    /// The answer to `LocalSearch`: the digest of every partition (`PARTITIONS` of them) and
    /// the hits, total and next page (`None`: no index, or the search failed there).
    LocalSearched {
        req: RequestId,
        digests: Vec<u64>,
        answer: Option<LocalAnswer>,
    },
    /// Anti-entropy: the sender's durable copies of these keys; merge each as a `Replicate`
    /// (durably, refusing what would not fit), acknowledging nothing.
    EntropyPush { objects: Vec<KeyObject> },
    /// Tombstone collection (`collect`): may these keys be forgotten? Each comes with the
    /// `version_hash` of the proposer's tombstones.
    CollectAsk {
        keys: Vec<(serde_bytes::ByteBuf, u64)>,
    },
    /// The keys of a `CollectAsk` this node agrees to forget: it holds nothing of them, or
    /// exactly the proposed tombstones, durable, unchanged for `tombstone_grace`. Its log
    /// `log` is durable up to `position` (past those tombstones: `positions`).
    CollectReply {
        keys: Vec<serde_bytes::ByteBuf>,
        log: LogRef,
        position: u64,
    },
    /// Every node agreed: forget these keys if your copy still has this hash.
    Collect {
        keys: Vec<(serde_bytes::ByteBuf, u64)>,
    },
    /// `ReadReply` from a replica that is rebuilding (`rebuild`): its copy is merged and
    /// repaired like any other, but it does not count toward R.
    ReadReplyRebuilding { req: RequestId, object: Object },
    /// Anti-entropy from a rebuilding node (its `incarnation`): as `Entropy`, and also
    /// answer `EntropyEqual` with the digests that were equal.
    EntropyRebuild {
        incarnation: u64,
        digests: Vec<(u32, u64)>,
    },
    /// The answer to `EntropyRebuild`: these partitions' digests were equal to the asker's
    /// when its message arrived. Echoes the asker's incarnation, so that an answer meant
    /// for an earlier incarnation of it is never taken as news of its own state.
    EntropyEqual {
        incarnation: u64,
        digests: Vec<(u32, u64)>,
    },
    /// Bulk write, phase 1 (`bulk`): keep each item's object aside, durably and invisible
    /// to reads, until the bulk write `dot` is decided; acknowledge with `Prepared`. An
    /// item's object holds the bulk write's version of its key (dot `dot`) and the versions
    /// of the key its actor wrote before that it does not replace: committed, it is merged
    /// whole. `n` and `w` are the bulk write's replication settings. Every key of the bulk
    /// write this replica holds, in one message (or a few, `BULK_MESSAGE_BYTES_MAX`).
    Prepare {
        req: RequestId,
        dot: Dot,
        n: u8,
        w: u8,
        items: Vec<KeyObject>,
    },
    /// Every item's version is kept aside durably (`ok`), or not all were: one was refused
    /// (a resolution already found this bulk write undecided here and promised never to
    /// keep it), or did not fit.
    Prepared { req: RequestId, ok: bool },
    /// Where is the bulk write `dot` on `key`? Answered with `BulkState` once durable; a
    /// replica that holds nothing of it promises (durably) never to keep it.
    BulkAsk {
        req: RequestId,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        dot: Dot,
    },
    /// The state of a bulk write on one replica of one key.
    BulkState { req: RequestId, state: BulkStage },
    /// A resolution's outcome for `dot` on `key`: commit the version kept aside, or forget
    /// it (and refuse it from now on).
    BulkDecided {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        dot: Dot,
        commit: bool,
    },
    /// A bulk read saw the bulk write `dot` on another key: send your copy of `key` with
    /// that bulk write's version in it if you hold it, committed or kept aside.
    BulkFetch {
        req: RequestId,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        dot: Dot,
    },
    /// A replica's durable copy of the key, with the asked version merged in if it held it
    /// aside (`BulkFetch`).
    BulkFetched { req: RequestId, object: Object },
    /// Bulk write, phase 2: merge each item's object into your copy of its key;
    /// acknowledge (`ReplicateAck`) once every one is durable.
    Commit {
        req: RequestId,
        items: Vec<KeyObject>,
    },
    /// The answer to `LocalSearch`, `Gather` or `Fetch` from a replica that is rebuilding
    /// (`rebuild`): its copy may miss acknowledged writes, so it answers no search; the
    /// coordinator asks other replicas instead.
    SearchRebuilding { req: RequestId },
    /// Every node agreed to forget `keys`: record durably the positions of the agreeing
    /// nodes' logs, `(node, log_id, position)` (`positions`), then answer
    /// `CollectRecorded`. Nobody forgets the keys before every node that may hold them has.
    CollectRecord {
        keys: Vec<serde_bytes::ByteBuf>,
        positions: Vec<(NodeId, LogRef, u64)>,
    },
    /// The positions of a `CollectRecord` for `keys` are durable here.
    CollectRecorded { keys: Vec<serde_bytes::ByteBuf> },
    /// What do you know of my log `log`: if this node restarted on it, is it an older copy
    /// (`verify`)? With `register`, from a node whose log is trusted: first record durably
    /// that this log of it exists (`positions`).
    PositionAsk { log: LogRef, register: bool },
    /// The answer to `PositionAsk` (`position` 0: none recorded; `superseded`: a log of the
    /// asker started later is known here; `unordered`: the answer vouches for nothing, since
    /// no log of the asker is known here, or only one started at the same moment, or this
    /// node's own log is still being verified).
    PositionReply {
        log: LogRef,
        /// The ask registered the log.
        registered: bool,
        position: u64,
        superseded: bool,
        unordered: bool,
    },
    /// Bulk write, phase 2, to a replica that answered `Prepared { ok: true }`: merge the
    /// version of `dot` you kept aside for each of `keys` into your copy of the key, as
    /// `Commit` would with the same versions; acknowledge (`ReplicateAck`) once every one
    /// is durable. A replica that holds one neither aside nor merged (it lost its disk
    /// since) does not acknowledge: the coordinator's resend is a `Commit` that carries
    /// the versions.
    CommitKept {
        req: RequestId,
        dot: Dot,
        keys: Vec<serde_bytes::ByteBuf>,
    },
}

/// One replica's whole answer to a search over every partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAnswer {
    pub hits: Vec<Scored>,
    pub total: u64,
    pub next: Option<Paging>,
}

/// A key and a replica's copy of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyObject {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    pub object: Object,
}

/// One partition's search statistics at one replica: documents, tokens, and df of the terms
/// asked about (terms with df 0 left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionStats {
    pub partition: u32,
    pub docs: u64,
    pub tokens: u64,
    pub df: Vec<(String, u64)>,
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        // The two messages that carry an object (most of the bytes replicas exchange) are
        // written by hand, as `version::wire` writes records; the bytes are serde's.
        match self {
            Message::Replicate { req, key, object } => {
                let mut out = Vec::with_capacity(24 + key.len() + wire::object_len(object));
                wire::put_varint(VARIANT_REPLICATE, &mut out);
                wire::put_varint_u128(req.0, &mut out);
                wire::put_bytes(key, &mut out);
                wire::put_object(object, &mut out);
                out
            }
            Message::ReadReply { req, object } => {
                let mut out = Vec::with_capacity(24 + wire::object_len(object));
                wire::put_varint(VARIANT_READ_REPLY, &mut out);
                wire::put_varint_u128(req.0, &mut out);
                wire::put_object(object, &mut out);
                out
            }
            _ => encode_body(self),
        }
    }

    /// Decodes a message body, refusing anything over `MESSAGE_BYTES_MAX`.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        if bytes.len() > MESSAGE_BYTES_MAX {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MESSAGE_BYTES_MAX,
            });
        }
        match Message::read_by_hand(bytes) {
            Some(message) => Ok(message),
            // Another message, or bytes the hand-written reader refuses: serde decides.
            None => decode_body(bytes),
        }
    }

    /// `Replicate` and `ReadReply` read by hand (see `version::wire`); `None` for anything
    /// else, and for bytes the reader refuses.
    fn read_by_hand(bytes: &[u8]) -> Option<Message> {
        let mut reader = wire::Reader::new(bytes);
        let variant = u64::from(reader.u32()?);
        let message = if variant == VARIANT_REPLICATE {
            let req = RequestId(reader.u128()?);
            let key = reader.bytes()?.to_vec();
            let object = reader.object()?;
            Message::Replicate { req, key, object }
        } else if variant == VARIANT_READ_REPLY {
            let req = RequestId(reader.u128()?);
            let object = reader.object()?;
            Message::ReadReply { req, object }
        } else {
            return None;
        };
        reader.is_done().then_some(message)
    }
}

/// The variant indexes serde gives `Message::Replicate` and `Message::ReadReply` (their
/// places in the enum; the tests hold the bytes to serde's).
const VARIANT_REPLICATE: u64 = 1;
const VARIANT_READ_REPLY: u64 = 4;

#[cfg(test)]
mod tests;
