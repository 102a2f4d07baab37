//! A small in-memory harness that drives a few `Node`s directly, without the simulator:
//! messages are delivered in order, and each node's log is synced at once unless a test holds
//! it back. It pins down the request paths one at a time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tern_core::{
    ClientId, ClientResult, Config, Input, Message, Node, NodeId, Object, Op, Output, Quorum,
    Request, RequestError, Response, Segment, Span, Time, VectorClock,
};

struct Harness {
    config: Config,
    nodes: BTreeMap<NodeId, Option<Node>>,
    /// Segments per node: base -> bytes.
    disks: BTreeMap<NodeId, BTreeMap<u64, Vec<u8>>>,
    /// Log ends written but not yet reported durable, for nodes whose syncs are held.
    unsynced: BTreeMap<NodeId, u64>,
    hold_sync: BTreeSet<NodeId>,
    /// Links that drop every message: (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    wire: VecDeque<(NodeId, NodeId, Message)>,
    replies: Vec<(u64, ClientResult)>,
    now: Time,
    next_request: u64,
    incarnations: u64,
}

impl Harness {
    fn new(count: u32) -> Harness {
        let ids: Vec<NodeId> = (1..=count).map(NodeId).collect();
        let config = Config::new(ids.clone());
        let mut h = Harness {
            config,
            nodes: BTreeMap::new(),
            disks: ids.iter().map(|id| (*id, BTreeMap::new())).collect(),
            unsynced: BTreeMap::new(),
            hold_sync: BTreeSet::new(),
            cut: BTreeSet::new(),
            wire: VecDeque::new(),
            replies: Vec::new(),
            now: Time(1),
            next_request: 1,
            incarnations: 0,
        };
        for id in ids {
            h.start(id);
        }
        h.settle();
        h
    }

    fn start(&mut self, id: NodeId) {
        let disk = &self.disks[&id];
        let segments: Vec<Segment<'_>> = disk
            .iter()
            .map(|(base, bytes)| Segment { base: *base, bytes })
            .collect();
        self.incarnations += 1;
        let started = Node::start(self.config.clone(), id, self.incarnations, &segments)
            .expect("clean logs recover");
        assert!(started.torn.is_empty(), "clean logs have no torn tail");
        self.nodes.insert(id, Some(started.node));
        self.drain(id);
    }

    fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.unsynced.remove(&id);
        self.wire.retain(|(_, to, _)| *to != id);
    }

    fn input(&mut self, id: NodeId, input: Input) {
        let Some(Some(node)) = self.nodes.get_mut(&id) else {
            return;
        };
        node.handle(self.now, input);
        self.drain(id);
    }

    fn drain(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap().as_mut().unwrap();
        let mut outputs = Vec::new();
        while let Some(o) = node.poll_output() {
            outputs.push(o);
        }
        let mut synced = None;
        for output in outputs {
            match output {
                Output::Send { to, message } => {
                    if !self.cut.contains(&(id, to)) {
                        // Through the codec, as a real driver would.
                        let message = Message::decode(&message.encode()).unwrap();
                        self.wire.push_back((id, to, message));
                    }
                }
                Output::Reply {
                    request, result, ..
                } => self.replies.push((request, result)),
                Output::Persist { bytes, end } => {
                    let disk = self.disks.get_mut(&id).unwrap();
                    match disk.last_entry() {
                        Some(mut e) => e.get_mut().extend_from_slice(&bytes),
                        None => {
                            disk.insert(0, bytes);
                        }
                    }
                    synced = Some(end);
                }
                Output::Compact { base, bytes, end } => {
                    self.disks.get_mut(&id).unwrap().insert(base, bytes);
                    synced = Some(end);
                }
                Output::DropSegmentsBefore { base } => {
                    let disk = self.disks.get_mut(&id).unwrap();
                    *disk = disk.split_off(&base);
                }
                Output::Halt => panic!("{id} halted, but the harness never fails a sync"),
            }
        }
        if let Some(end) = synced {
            if self.hold_sync.contains(&id) {
                self.unsynced.insert(id, end);
            } else {
                self.input(id, Input::Persisted { upto: end });
            }
        }
    }

    /// Delivers messages until the wire is empty.
    fn settle(&mut self) {
        let mut steps = 0;
        while let Some((from, to, message)) = self.wire.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "messages never settle");
            self.input(to, Input::Peer { from, message });
        }
    }

    /// Lets `span` pass, firing timers every 10 ms.
    fn advance(&mut self, span: Span) {
        let end = self.now + span;
        while self.now < end {
            self.now = self.now + Span::from_millis(10);
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.input(id, Input::Tick);
            }
            self.settle();
        }
    }

    fn request(&mut self, at: NodeId, op: Op, quorum: Quorum) -> ClientResult {
        let request = self.next_request;
        self.next_request += 1;
        let body = Request {
            op,
            quorum,
            timeout_ms: None,
        };
        let input = Input::Client {
            client: ClientId(1),
            request,
            body,
        };
        self.input(at, input);
        for _ in 0..400 {
            self.settle();
            if let Some(i) = self.replies.iter().position(|(r, _)| *r == request) {
                return self.replies.remove(i).1;
            }
            self.advance(Span::from_millis(10));
        }
        panic!("request {request} never answered");
    }

    fn set(&mut self, at: u32, key: &str, value: &str, context: VectorClock) -> ClientResult {
        let op = Op::Set {
            key: key.into(),
            value: value.into(),
            context,
        };
        self.request(NodeId(at), op, Quorum::default())
    }

    fn get(&mut self, at: u32, key: &str) -> Object {
        let op = Op::Get { key: key.into() };
        match self.request(NodeId(at), op, Quorum::default()) {
            Ok(Response::Object(o)) => o,
            other => panic!("get failed: {other:?}"),
        }
    }
}

fn values(object: &Object) -> Vec<String> {
    let mut v: Vec<String> = object
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    v.sort();
    v
}

fn written_context(result: ClientResult) -> VectorClock {
    match result {
        Ok(Response::Written { object, .. }) => object.clock(),
        other => panic!("write failed: {other:?}"),
    }
}

#[test]
fn a_write_on_one_node_is_read_on_every_node() {
    let mut h = Harness::new(3);
    written_context(h.set(1, "k", "v1", VectorClock::new()));
    for node in 1..=3 {
        assert_eq!(values(&h.get(node, "k")), ["v1"]);
    }
    assert!(h.get(2, "missing").is_empty());
}

#[test]
fn concurrent_writes_become_siblings_and_a_context_write_resolves_them() {
    let mut h = Harness::new(3);
    h.set(1, "k", "a", VectorClock::new()).unwrap();
    h.set(2, "k", "b", VectorClock::new()).unwrap();
    let both = h.get(3, "k");
    assert_eq!(values(&both), ["a", "b"]);
    h.set(3, "k", "c", both.clock()).unwrap();
    assert_eq!(values(&h.get(1, "k")), ["c"]);
}

#[test]
fn delete_writes_a_tombstone_that_a_read_reports_as_deleted() {
    let mut h = Harness::new(3);
    let context = written_context(h.set(1, "k", "a", VectorClock::new()));
    let op = Op::Delete {
        key: "k".into(),
        context,
    };
    assert!(matches!(
        h.request(NodeId(2), op, Quorum::default()),
        Ok(Response::Written { .. })
    ));
    let object = h.get(3, "k");
    assert!(object.is_deleted() && !object.is_empty());
}

#[test]
fn no_acknowledgement_before_the_log_is_durable() {
    let mut h = Harness::new(3);
    h.hold_sync.insert(NodeId(2));
    h.hold_sync.insert(NodeId(3));
    // Node 1 is durable at once, but W=2 needs one more durable replica.
    let request = 99;
    let input = Input::Client {
        client: ClientId(1),
        request,
        body: Request::new(Op::Set {
            key: "k".into(),
            value: "v".into(),
            context: VectorClock::new(),
        }),
    };
    h.input(NodeId(1), input);
    h.settle();
    assert!(h.replies.is_empty(), "acknowledged before W durable copies");
    let end = h.unsynced[&NodeId(2)];
    h.input(NodeId(2), Input::Persisted { upto: end });
    h.settle();
    assert!(matches!(
        h.replies.as_slice(),
        [(99, Ok(Response::Written { .. }))]
    ));
}

#[test]
fn unavailable_when_too_few_replicas_are_alive_and_indeterminate_when_they_do_not_answer() {
    let mut h = Harness::new(3);
    h.crash(NodeId(2));
    h.crash(NodeId(3));
    h.advance(Span::from_millis(1_500)); // Past the failure timeout.
    let result = h.set(1, "k", "v", VectorClock::new());
    assert_eq!(
        result,
        Err(RequestError::Unavailable {
            needed: 2,
            alive: 1
        })
    );
    // Links that drop everything look alive until the detector notices: the write is tried,
    // reaches only the coordinator, and its outcome is unknown.
    let mut h = Harness::new(3);
    for peer in [2, 3] {
        h.cut.insert((NodeId(1), NodeId(peer)));
    }
    let result = h.set(1, "k", "v", VectorClock::new());
    assert_eq!(result, Err(RequestError::Indeterminate));
}

#[test]
fn read_repair_brings_a_stale_replica_up_to_date() {
    let mut h = Harness::new(3);
    h.crash(NodeId(3));
    h.advance(Span::from_millis(1_500));
    h.set(1, "k", "v", VectorClock::new()).unwrap();
    h.start(NodeId(3));
    h.advance(Span::from_millis(300));
    assert!(h.nodes[&NodeId(3)].as_ref().unwrap().object(b"k").is_none());
    let all = Quorum {
        n: None,
        r: Some(3),
        w: None,
    };
    let object = match h.request(NodeId(1), Op::Get { key: "k".into() }, all) {
        Ok(Response::Object(o)) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(values(&object), ["v"]);
    let repaired = h.nodes[&NodeId(3)].as_ref().unwrap().object(b"k").cloned();
    assert_eq!(repaired, Some(object));
}

#[test]
fn a_restarted_node_recovers_its_data_and_a_new_incarnation() {
    let mut h = Harness::new(3);
    h.set(1, "k", "v", VectorClock::new()).unwrap();
    let before = h.nodes[&NodeId(1)].as_ref().unwrap().incarnation();
    for id in 1..=3 {
        h.crash(NodeId(id));
    }
    for id in 1..=3 {
        h.start(NodeId(id));
    }
    h.settle();
    assert_ne!(h.nodes[&NodeId(1)].as_ref().unwrap().incarnation(), before);
    assert_eq!(values(&h.get(2, "k")), ["v"]);
}

#[test]
fn five_nodes_with_n3_forward_to_a_replica_and_keep_three_copies() {
    let mut h = Harness::new(5);
    for i in 0..30 {
        let key = format!("key-{i}");
        h.set(1 + i % 5, &key, "v", VectorClock::new()).unwrap();
        assert_eq!(values(&h.get(1 + (i + 2) % 5, &key)), ["v"]);
    }
    h.advance(Span::from_millis(200));
    for i in 0..30 {
        let key = format!("key-{i}");
        let copies = h
            .nodes
            .values()
            .filter(|n| n.as_ref().unwrap().object(key.as_bytes()).is_some())
            .count();
        assert!((2..=3).contains(&copies), "{key} has {copies} copies");
    }
}

#[test]
fn bad_requests_get_typed_errors() {
    let mut h = Harness::new(3);
    let big_key = "k".repeat(tern_core::limits::KEY_BYTES_MAX + 1);
    assert!(matches!(
        h.set(1, &big_key, "v", VectorClock::new()),
        Err(RequestError::TooLarge { .. })
    ));
    let mut context = VectorClock::new();
    for incarnation in 0..=tern_core::limits::CONTEXT_ENTRIES_MAX as u64 {
        context.add(tern_core::Dot {
            actor: tern_core::ActorId {
                node: NodeId(1),
                incarnation,
            },
            seq: 1,
        });
    }
    assert!(matches!(
        h.set(1, "k", "v", context),
        Err(RequestError::TooLarge { .. })
    ));
    let bad = Quorum {
        n: Some(3),
        r: None,
        w: Some(4),
    };
    let op = Op::Get { key: "k".into() };
    assert!(matches!(
        h.request(NodeId(1), op, bad),
        Err(RequestError::InvalidQuorum(_))
    ));
}

#[test]
fn compaction_keeps_every_key_and_shrinks_the_log() {
    let mut h = Harness::new(3);
    h.config.compact_min_bytes = 4_096;
    for id in 1..=3 {
        h.crash(NodeId(id));
        h.start(NodeId(id));
    }
    h.settle();
    let mut context = VectorClock::new();
    for round in 0..200 {
        context = written_context(h.set(1, "hot", &format!("value-{round}"), context));
    }
    h.set(2, "cold", "kept", VectorClock::new()).unwrap();
    let stats = h.nodes[&NodeId(1)].as_ref().unwrap().stats().clone();
    assert!(stats.compactions > 0, "no compaction after 200 overwrites");
    let log: usize = h.disks[&NodeId(1)].values().map(Vec::len).sum();
    assert!(log < 16_384, "log is {log} bytes for two small keys");
    for id in 1..=3 {
        h.crash(NodeId(id));
        h.start(NodeId(id));
    }
    h.settle();
    assert_eq!(values(&h.get(1, "hot")), ["value-199"]);
    assert_eq!(values(&h.get(3, "cold")), ["kept"]);
}
