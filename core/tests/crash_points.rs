//! Crash consistency, walked the redb way: every sync point, every sector, every fate.
//!
//! A deterministic workload of sets and deletes runs on one node (N=R=W=1) and on three
//! (N=3, W=2, R=2), with compaction on, and records every log write (`Output::Persist`,
//! `Output::Compact`, `Output::DropSegmentsBefore`) in the order it became durable, and after
//! how many syncs each client write was acknowledged. Then, for every prefix of that order (a
//! power cut of every node after k syncs) and for every 512-byte sector of the batch that was
//! being written at that moment, kept whole, dropped (zeros, and the file ends there), torn (a
//! prefix, then garbage) or lost while later sectors landed (a hole), it rebuilds each node's
//! files and checks the contract of docs/CONTRACT.md:
//! - recovery accepts the files: damage confined to unsynced bytes is a torn tail, never an
//!   error, and no synced byte is cut off;
//! - every acknowledged write is in the recovered state of at least W replicas;
//! - every node restarts from its files, and a read at R=N returns every acknowledged write
//!   and no version that a client did not write under that dot;
//! - a write after the restart gets a dot that no recovered object has seen, and the files
//!   written after the restart recover cleanly.
//!
//! Sync completions and peer messages share one FIFO queue: a message sent in the same step as
//! a log write can arrive before that write is synced, as on a real network. Every sync is
//! still reported as soon as it reaches the head of the queue, so the workload never stalls.

use std::collections::{BTreeMap, VecDeque};
use tern_core::{
    recover_segments, ClientId, ClientResult, Config, Dot, Input, Message, Node, NodeId, Object,
    Op, Output, Quorum, Recovered, RecoveryError, Request, Response, Segment, Span, Time,
    VectorClock,
};

/// The unit a disk writes; a power cut may keep, drop or tear each one independently.
const SECTOR_BYTES: usize = 512;
/// Client writes in the workload: enough for several compactions, few enough that every
/// crash point of the three-node case is checked in seconds.
const WRITES: usize = 40;
const KEYS: [&str; 4] = ["apple", "berry", "cherry", "damson"];
/// Low enough that the workload compacts a few times, so crash points fall inside snapshots.
const COMPACT_MIN_BYTES: u64 = 8 * 1024;

/// A node's log files: the logical offset of each file's first byte, and its bytes.
type Disk = BTreeMap<u64, Vec<u8>>;

/// One request a node made of its disk.
#[derive(Clone, Debug)]
enum DiskOp {
    /// `Output::Persist`: append to the newest file, then sync.
    Append { node: NodeId, bytes: Vec<u8> },
    /// `Output::Compact`: write a new file whose first byte is at logical offset `base`.
    Create {
        node: NodeId,
        base: u64,
        bytes: Vec<u8>,
    },
    /// `Output::DropSegmentsBefore`: delete the files before `base`.
    DropBefore { node: NodeId, base: u64 },
}

impl DiskOp {
    fn is_sync(&self) -> bool {
        !matches!(self, DiskOp::DropBefore { .. })
    }

    fn apply(&self, disks: &mut BTreeMap<NodeId, Disk>) {
        match self {
            DiskOp::Append { node, bytes } => {
                let disk = disks.entry(*node).or_default();
                match disk.last_entry() {
                    Some(mut file) => file.get_mut().extend_from_slice(bytes),
                    None => {
                        disk.insert(0, bytes.clone());
                    }
                }
            }
            DiskOp::Create { node, base, bytes } => {
                disks.entry(*node).or_default().insert(*base, bytes.clone());
            }
            DiskOp::DropBefore { node, base } => {
                let disk = disks.entry(*node).or_default();
                *disk = disk.split_off(base);
            }
        }
    }
}

enum Event {
    Deliver {
        from: NodeId,
        to: NodeId,
        message: Message,
    },
    /// A log write reached the disk and was synced: report it, and count it as durable.
    Synced { node: NodeId, upto: u64, op: DiskOp },
}

/// Nodes wired together in memory: messages and sync completions go through one FIFO queue.
struct Cluster {
    config: Config,
    nodes: BTreeMap<NodeId, Node>,
    disks: BTreeMap<NodeId, Disk>,
    /// Every disk operation, in the order it became durable.
    durable_ops: Vec<DiskOp>,
    /// Syncs reported so far.
    syncs: usize,
    queue: VecDeque<Event>,
    /// Client replies by request, with the number of syncs reported when each went out.
    replies: BTreeMap<u64, (ClientResult, usize)>,
    now: Time,
    next_request: u64,
    /// Names the crash point in every failure message.
    label: String,
}

impl Cluster {
    fn new(
        config: Config,
        nodes: BTreeMap<NodeId, Node>,
        disks: BTreeMap<NodeId, Disk>,
        label: String,
    ) -> Cluster {
        let ids: Vec<NodeId> = nodes.keys().copied().collect();
        let mut cluster = Cluster {
            config,
            nodes,
            disks,
            durable_ops: Vec::new(),
            syncs: 0,
            queue: VecDeque::new(),
            replies: BTreeMap::new(),
            now: Time(1),
            next_request: 1,
            label,
        };
        // A new node has its Boot record waiting in its outputs.
        for id in ids {
            cluster.drain(id);
        }
        cluster.settle();
        for (id, node) in &cluster.nodes {
            assert!(
                node.is_booted(),
                "{}: {id} is not booted after its Boot record was synced",
                cluster.label
            );
        }
        cluster
    }

    fn input(&mut self, id: NodeId, input: Input) {
        let node = self.nodes.get_mut(&id).expect("messages go to members");
        node.handle(self.now, input);
        self.drain(id);
    }

    fn drain(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("a running node");
        let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        for output in outputs {
            match output {
                Output::Send { to, message } => {
                    // Through the codec, as a real driver would.
                    let message = Message::decode(&message.encode()).expect("messages decode");
                    self.queue.push_back(Event::Deliver {
                        from: id,
                        to,
                        message,
                    });
                }
                Output::Reply {
                    request, result, ..
                } => {
                    self.replies.insert(request, (result, self.syncs));
                }
                Output::Persist { bytes, end } => {
                    self.write(id, end, DiskOp::Append { node: id, bytes });
                }
                Output::Compact { base, bytes, end } => {
                    let op = DiskOp::Create {
                        node: id,
                        base,
                        bytes,
                    };
                    self.write(id, end, op);
                }
                Output::DropSegmentsBefore { base } => {
                    // Emitted only once the snapshot is durable, so it follows it in order.
                    let op = DiskOp::DropBefore { node: id, base };
                    op.apply(&mut self.disks);
                    self.durable_ops.push(op);
                }
                Output::SetAsideLog => {
                    panic!(
                        "{}: {id} set its log aside, but no log is stale here",
                        self.label
                    )
                }
                Output::Halt => panic!("{}: {id} halted, but no sync fails here", self.label),
            }
        }
    }

    /// Writes the bytes now; the sync completes when the event reaches the head of the queue.
    fn write(&mut self, node: NodeId, upto: u64, op: DiskOp) {
        op.apply(&mut self.disks);
        self.queue.push_back(Event::Synced { node, upto, op });
    }

    fn settle(&mut self) {
        let mut steps = 0;
        while let Some(event) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 1_000_000, "{}: messages never settle", self.label);
            match event {
                Event::Deliver { from, to, message } => {
                    self.input(to, Input::Peer { from, message })
                }
                Event::Synced { node, upto, op } => {
                    self.durable_ops.push(op);
                    self.syncs += 1;
                    self.input(node, Input::Persisted { upto });
                }
            }
        }
    }

    /// Sends a client request and waits for its reply; returns it with the number of syncs
    /// that were durable when it went out.
    fn request(&mut self, at: NodeId, op: Op, quorum: Quorum) -> (ClientResult, usize) {
        let request = self.next_request;
        self.next_request += 1;
        let mut body = Request::new(op);
        body.quorum = quorum;
        let client = ClientId(1);
        self.input(
            at,
            Input::Client {
                client,
                request,
                body,
            },
        );
        // Nothing is lost here, so a request answers at once; the ticks only turn a hang
        // into the timeout error a real client would see.
        for _ in 0..400 {
            self.settle();
            if let Some(reply) = self.replies.remove(&request) {
                return reply;
            }
            self.now = self.now + Span::from_millis(10);
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.input(id, Input::Tick);
            }
        }
        panic!("{}: request {request} was never answered", self.label);
    }

    fn get(&mut self, at: NodeId, key: &str, quorum: Quorum) -> Object {
        match self.request(at, Op::Get { key: key.into() }, quorum).0 {
            Ok(Response::Object(object)) => object,
            other => panic!("{}: the read of {key} failed: {other:?}", self.label),
        }
    }

    /// Writes; returns the dot, the context the reply carried (the clock of the key's object
    /// it returned: this write and the versions it did not replace) and the number of syncs durable when the write was acknowledged.
    fn put(&mut self, at: NodeId, op: Op) -> (Dot, VectorClock, usize) {
        match self.request(at, op, Quorum::default()) {
            (Ok(Response::Written { dot, object }), acked_after) => {
                (dot, object.clock(), acked_after)
            }
            (other, _) => panic!("{}: a write failed: {other:?}", self.label),
        }
    }
}

/// A client write of the workload: every one is acknowledged in the recorded run.
#[derive(Debug)]
struct Written {
    key: &'static str,
    /// `None` for a delete.
    value: Option<Vec<u8>>,
    dot: Dot,
    /// The key's clock after the write, as the reply reported it.
    context: VectorClock,
    /// Syncs that were durable when the write was acknowledged.
    acked_after: usize,
}

/// Blind writes (siblings), writes with the context of a read or of the key's previous write,
/// deletes, and values spanning up to six sectors, over a few keys.
fn run_workload(cluster: &mut Cluster) -> Vec<Written> {
    let nodes = cluster.config.nodes.clone();
    let mut writes: Vec<Written> = Vec::new();
    for i in 0..WRITES {
        let key = KEYS[(i * 3 + i / 5) % KEYS.len()];
        let at = nodes[i % nodes.len()];
        let small = format!("{key}-{i}").into_bytes();
        let big: Vec<u8> = (0..600 + 500 * (i % 5))
            .map(|j| (i * 31 + j * 7) as u8)
            .collect();
        let (value, context) = match i % 6 {
            0 | 3 => (Some(small), VectorClock::new()),
            1 => (Some(small), cluster.get(at, key, Quorum::default()).clock()),
            // A context must carry the history of what it replaces, not only its dot: a
            // sibling's context is all that says which older dots it made obsolete.
            2 => {
                let last = writes.iter().rev().find(|w| w.key == key);
                (
                    Some(big),
                    last.map(|w| w.context.clone()).unwrap_or_default(),
                )
            }
            4 => (None, cluster.get(at, key, Quorum::default()).clock()),
            _ => (Some(big), VectorClock::new()),
        };
        let op = match value.clone() {
            Some(value) => Op::Set {
                key: key.into(),
                value,
                context,
            },
            None => Op::Delete {
                key: key.into(),
                context,
            },
        };
        let (dot, context, acked_after) = cluster.put(at, op);
        writes.push(Written {
            key,
            value,
            dot,
            context,
            acked_after,
        });
    }
    writes
}

/// What a power cut left of the one sector that was being written.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// The sector landed whole; later sectors did not, and the file ends with it.
    Kept,
    /// The sector reads as zeros (the file grew, the data did not land) and the file ends.
    Dropped,
    /// The first `kept` new bytes of the sector landed, the rest of it is garbage, and the
    /// file ends.
    Torn { kept: usize },
    /// The sector reads as zeros but every later sector of the batch landed.
    Hole,
}

/// SplitMix64: deterministic garbage and tear points, different at every crash point.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The bytes of the batch that fall in `sector` of the file, as a range of file offsets.
/// Synced bytes sharing the batch's first sector are outside it: a crash never touches them.
fn new_bytes(synced: &[u8], batch: &[u8], sector: usize) -> std::ops::Range<usize> {
    let from = (sector * SECTOR_BYTES).max(synced.len());
    let to = ((sector + 1) * SECTOR_BYTES).min(synced.len() + batch.len());
    assert!(from < to, "sector {sector} holds no byte of the batch");
    from..to
}

/// The file after a power cut while `batch` was appended to `synced` (all of it durable):
/// sectors before `sector` landed, `sector` met `fate`, and later ones are lost (or, for a
/// hole, landed). Garbage is drawn from `seed`.
fn file_after_cut(synced: &[u8], batch: &[u8], sector: usize, fate: Fate, seed: u64) -> Vec<u8> {
    let full = [synced, batch].concat();
    let new = new_bytes(synced, batch, sector);
    let mut file = full[..new.start].to_vec();
    match fate {
        Fate::Kept => file.extend_from_slice(&full[new.clone()]),
        Fate::Dropped => file.resize(new.end, 0),
        Fate::Torn { kept } => {
            file.extend_from_slice(&full[new.start..new.start + kept]);
            let mut state = seed;
            while file.len() < new.end {
                file.push(next_random(&mut state) as u8);
            }
        }
        Fate::Hole => {
            file.resize(new.end, 0);
            file.extend_from_slice(&full[new.end..]);
        }
    }
    file
}

/// Every fate a sector can meet: torn with nothing, a random prefix, or all but one byte
/// of its new bytes kept; a hole only if a later sector exists to land.
fn fates(synced: &[u8], batch: &[u8], sector: usize, last: bool, seed: u64) -> Vec<Fate> {
    let new = new_bytes(synced, batch, sector).len();
    let mut state = seed;
    let mut kept = vec![0, (next_random(&mut state) % new as u64) as usize, new - 1];
    kept.dedup();
    let mut fates = vec![Fate::Kept, Fate::Dropped];
    fates.extend(kept.into_iter().map(|kept| Fate::Torn { kept }));
    if !last {
        fates.push(Fate::Hole);
    }
    fates
}

/// An object in a failure message: each sibling's dot, context and value length, since
/// whole values would bury the message.
fn describe(object: &Object) -> String {
    let siblings: Vec<String> = object
        .siblings()
        .iter()
        .map(|s| {
            let value = s
                .value
                .as_ref()
                .map_or("tombstone".to_string(), |v| format!("{} bytes", v.len()));
            format!("{:?} seen {:?}: {value}", s.dot, s.context)
        })
        .collect();
    format!("[{}]", siblings.join("; "))
}

fn recover_disk(disk: &Disk) -> Result<Recovered, RecoveryError> {
    let segments: Vec<Segment<'_>> = disk
        .iter()
        .map(|(base, bytes)| Segment { base: *base, bytes })
        .collect();
    recover_segments(&segments)
}

/// The logical offset up to which a node's newest file is synced.
fn synced_end(disks: &BTreeMap<NodeId, Disk>, node: NodeId) -> u64 {
    disks
        .get(&node)
        .and_then(|disk| disk.last_key_value())
        .map_or(0, |(base, bytes)| base + bytes.len() as u64)
}

fn fresh_nodes(config: &Config) -> BTreeMap<NodeId, Node> {
    config
        .nodes
        .iter()
        .map(|id| {
            let node = Node::new(
                config.clone(),
                *id,
                u64::from(id.0),
                Time::ZERO,
                Recovered::empty(),
            );
            (*id, node.expect("a valid config"))
        })
        .collect()
}

/// Everything one crash point is checked against.
struct Run<'a> {
    config: &'a Config,
    writes: &'a [Written],
    by_dot: BTreeMap<Dot, &'a Written>,
}

/// Recovers every node from `images` after `durable_syncs` syncs, restarts them all and
/// checks the contract (see the module documentation).
fn check_crash_point(
    run: &Run<'_>,
    mut images: BTreeMap<NodeId, Disk>,
    synced_ends: &BTreeMap<NodeId, u64>,
    durable_syncs: usize,
    label: &str,
) {
    let config = run.config;
    let acked: Vec<&Written> = run
        .writes
        .iter()
        .filter(|w| w.acked_after <= durable_syncs)
        .collect();
    let mut recovered: BTreeMap<NodeId, Recovered> = BTreeMap::new();
    for &id in &config.nodes {
        let disk = images.entry(id).or_default();
        let state = recover_disk(disk).unwrap_or_else(|e| {
            panic!("{label}: {id} refuses to recover from damage confined to unsynced bytes: {e}")
        });
        let synced = synced_ends.get(&id).copied().unwrap_or(0);
        assert!(
            state.log_end >= synced,
            "{label}: {id} recovered its log up to offset {}, but it was synced up to {synced}",
            state.log_end
        );
        for torn in &state.torn {
            assert!(
                torn.offset >= synced,
                "{label}: {id} cut a torn tail at offset {}, inside bytes synced up to {synced}",
                torn.offset
            );
            // What a driver does with a torn tail: truncate the file there.
            let file = disk
                .get_mut(&torn.base)
                .unwrap_or_else(|| panic!("{label}: {id} has no segment at {}", torn.base));
            file.truncate((torn.offset - torn.base) as usize);
        }
        recovered.insert(id, state);
    }

    let w = usize::from(config.w);
    for write in &acked {
        let holders: Vec<NodeId> = recovered
            .iter()
            .filter(|(_, state)| {
                let object = state.objects.get(write.key.as_bytes());
                object.is_some_and(|o| o.has_seen(write.dot))
            })
            .map(|(id, _)| *id)
            .collect();
        assert!(
            holders.len() >= w,
            "{label}: the write {:?} to {} was acknowledged after {} syncs, but after recovery \
             only {holders:?} hold it, fewer than W={w}",
            write.dot,
            write.key,
            write.acked_after
        );
    }
    let seen_before: Vec<Object> = recovered
        .values()
        .flat_map(|state| state.objects.values().cloned())
        .collect();

    let nodes: BTreeMap<NodeId, Node> = recovered
        .into_iter()
        .map(|(id, state)| {
            let node = Node::new(
                config.clone(),
                id,
                1_000 + u64::from(id.0),
                Time::ZERO,
                state,
            );
            let node = node.unwrap_or_else(|e| panic!("{label}: {id} does not restart: {e}"));
            (id, node)
        })
        .collect();
    let mut cluster = Cluster::new(config.clone(), nodes, images, label.to_string());
    let all = Quorum {
        r: Some(config.n),
        ..Quorum::default()
    };
    let reader = config.nodes[0];
    for key in KEYS {
        let object = cluster.get(reader, key, all);
        for write in acked.iter().filter(|w| w.key == key) {
            assert!(
                object.has_seen(write.dot),
                "{label}: a read of {key} at R={} after the restart misses the write {:?}, \
                 acknowledged after {} syncs; it returned {}",
                config.n,
                write.dot,
                write.acked_after,
                describe(&object)
            );
        }
        for sibling in object.siblings() {
            let origin = run.by_dot.get(&sibling.dot);
            assert!(
                origin.is_some_and(|w| w.key == key && w.value == sibling.value),
                "{label}: a read of {key} returned a version under {:?} that no client wrote \
                 there: it returned {}",
                sibling.dot,
                describe(&object)
            );
        }
    }

    // A dot minted twice would make the new write look already seen, and lose it.
    let fresh = b"written after the restart".to_vec();
    let op = Op::Set {
        key: KEYS[0].into(),
        value: fresh.clone(),
        context: VectorClock::new(),
    };
    let (dot, _, _) = cluster.put(reader, op);
    assert!(
        !seen_before.iter().any(|object| object.has_seen(dot)),
        "{label}: the restarted node minted {dot:?}, a dot its recovered state had already seen"
    );
    let object = cluster.get(reader, KEYS[0], all);
    assert!(
        object
            .siblings()
            .iter()
            .any(|s| s.dot == dot && s.value.as_deref() == Some(&fresh[..])),
        "{label}: the write after the restart is not read back: {}",
        describe(&object)
    );

    // The driver truncated each torn tail and appended after it: that must recover cleanly.
    for (id, disk) in &cluster.disks {
        let state = recover_disk(disk).unwrap_or_else(|e| {
            panic!("{label}: {id}'s log, written after the restart, does not recover: {e}")
        });
        assert!(
            state.torn.is_empty(),
            "{label}: {id}'s log, fully synced after the restart, has a torn tail: {:?}",
            state.torn
        );
    }
}

/// Records the workload on `config`, then checks every crash point of it. Returns how many.
fn walk_every_crash_point(name: &str, config: Config) -> usize {
    let mut run = Cluster::new(
        config.clone(),
        fresh_nodes(&config),
        BTreeMap::new(),
        format!("{name}: the recorded run"),
    );
    let writes = run_workload(&mut run);
    let ops = run.durable_ops;
    let syncs: Vec<usize> = (0..ops.len()).filter(|at| ops[*at].is_sync()).collect();
    let compactions = ops
        .iter()
        .filter(|op| matches!(op, DiskOp::Create { .. }))
        .count();
    assert!(
        compactions > 0,
        "{name}: the workload never compacted, so no crash point falls inside a snapshot; \
         lower COMPACT_MIN_BYTES"
    );
    let check = Run {
        config: &config,
        writes: &writes,
        by_dot: writes.iter().map(|w| (w.dot, w)).collect(),
    };

    let mut durable: BTreeMap<NodeId, Disk> = BTreeMap::new();
    let mut applied = 0;
    let mut crash_points = 0;
    for k in 0..=syncs.len() {
        let upto = syncs.get(k).copied().unwrap_or(ops.len());
        for op in &ops[applied..upto] {
            op.apply(&mut durable);
        }
        applied = upto;
        let synced_ends: BTreeMap<NodeId, u64> = config
            .nodes
            .iter()
            .map(|id| (*id, synced_end(&durable, *id)))
            .collect();
        let Some(pending) = ops.get(upto) else {
            let label = format!("{name}: crash after all {k} syncs");
            check_crash_point(&check, durable.clone(), &synced_ends, k, &label);
            crash_points += 1;
            continue;
        };
        let (node, base, synced, batch, kind) = match pending {
            DiskOp::Append { node, bytes } => {
                let newest = durable.get(node).and_then(|d| d.last_key_value());
                let (base, synced) = newest.map_or((0, Vec::new()), |(b, f)| (*b, f.clone()));
                (*node, base, synced, bytes, "append")
            }
            DiskOp::Create { node, base, bytes } => (*node, *base, Vec::new(), bytes, "snapshot"),
            DiskOp::DropBefore { .. } => unreachable!("crash points are at syncs"),
        };
        let first = synced.len() / SECTOR_BYTES;
        let last = (synced.len() + batch.len() - 1) / SECTOR_BYTES;
        for sector in first..=last {
            let seed = ((k as u64) << 32) ^ sector as u64;
            for fate in fates(&synced, batch, sector, sector == last, seed) {
                let label = format!(
                    "{name}: crash after {k} of {} syncs, during {node}'s {kind} of {} bytes at \
                     log offset {}: sector {sector} of {first}..={last} {fate:?}",
                    syncs.len(),
                    batch.len(),
                    base + synced.len() as u64,
                );
                let mut images = durable.clone();
                let file = file_after_cut(&synced, batch, sector, fate, seed);
                images.entry(node).or_default().insert(base, file);
                check_crash_point(&check, images, &synced_ends, k, &label);
                crash_points += 1;
            }
        }
    }
    eprintln!(
        "{name}: {crash_points} crash points checked over {} syncs ({compactions} snapshots), \
         {} acknowledged writes",
        syncs.len(),
        writes.len()
    );
    crash_points
}

#[test]
fn every_crash_point_of_a_single_node_keeps_every_acknowledged_write() {
    let mut config = Config::new(vec![NodeId(1)]);
    config.compact_min_bytes = COMPACT_MIN_BYTES;
    assert_eq!((config.n, config.r, config.w), (1, 1, 1));
    let checked = walk_every_crash_point("one node", config);
    assert!(checked > WRITES, "only {checked} crash points");
}

#[test]
fn every_crash_point_of_a_three_node_power_cut_keeps_every_acknowledged_write() {
    let mut config = Config::new(vec![NodeId(1), NodeId(2), NodeId(3)]);
    config.compact_min_bytes = COMPACT_MIN_BYTES;
    assert_eq!((config.n, config.r, config.w), (3, 2, 2));
    let checked = walk_every_crash_point("three nodes", config);
    assert!(checked > 3 * WRITES, "only {checked} crash points");
}
