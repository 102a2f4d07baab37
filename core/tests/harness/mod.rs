//! A small in-memory harness that drives a few `Node`s directly, without the simulator:
//! messages are delivered in order, and each node's log is synced at once unless a test holds
//! it back. Shared by the cluster tests (each test binary uses part of it).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tern_core::{
    ClientId, ClientResult, Config, Input, Message, Node, NodeId, Object, Op, Output, Quorum,
    Request, RequestError, Response, Segment, Span, Time, VectorClock,
};

pub struct Harness {
    pub config: Config,
    pub nodes: BTreeMap<NodeId, Option<Node>>,
    /// Segments per node: base -> bytes.
    pub disks: BTreeMap<NodeId, BTreeMap<u64, Vec<u8>>>,
    /// Log ends written but not yet reported durable, for nodes whose syncs are held.
    pub unsynced: BTreeMap<NodeId, u64>,
    pub hold_sync: BTreeSet<NodeId>,
    /// Links that drop every message: (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    pub wire: VecDeque<(NodeId, NodeId, Message)>,
    pub replies: Vec<(u64, ClientResult)>,
    pub now: Time,
    pub next_request: u64,
    pub incarnations: u64,
    /// Logs nodes set aside as stale (`Output::SetAsideLog`), oldest first.
    pub set_aside: BTreeMap<NodeId, Vec<BTreeMap<u64, Vec<u8>>>>,
}

impl Harness {
    pub fn new(count: u32) -> Harness {
        Harness::with_config(count, |_| {})
    }

    /// A harness whose cluster settings `adjust` changed from the defaults.
    pub fn with_config(count: u32, adjust: impl FnOnce(&mut Config)) -> Harness {
        let ids: Vec<NodeId> = (1..=count).map(NodeId).collect();
        let mut config = Config::new(ids.clone());
        adjust(&mut config);
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
            set_aside: BTreeMap::new(),
        };
        for id in ids {
            h.start(id);
        }
        h.settle();
        h
    }

    pub fn start(&mut self, id: NodeId) {
        let disk = &self.disks[&id];
        let segments: Vec<Segment<'_>> = disk
            .iter()
            .map(|(base, bytes)| Segment { base: *base, bytes })
            .collect();
        self.incarnations += 1;
        let started = Node::start(
            self.config.clone(),
            id,
            self.incarnations,
            self.now,
            &segments,
        )
        .expect("clean logs recover");
        assert!(started.torn.is_empty(), "clean logs have no torn tail");
        self.nodes.insert(id, Some(started.node));
        self.drain(id);
    }

    pub fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.unsynced.remove(&id);
        self.wire.retain(|(_, to, _)| *to != id);
    }

    pub fn input(&mut self, id: NodeId, input: Input) {
        let Some(Some(node)) = self.nodes.get_mut(&id) else {
            return;
        };
        node.handle(self.now, input);
        self.drain(id);
    }

    pub fn drain(&mut self, id: NodeId) {
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
                Output::SetAsideLog => {
                    let disk = self.disks.get_mut(&id).unwrap();
                    let old = std::mem::take(disk);
                    self.set_aside.entry(id).or_default().push(old);
                    synced = None;
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
    pub fn settle(&mut self) {
        let mut steps = 0;
        while let Some((from, to, message)) = self.wire.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "messages never settle");
            self.input(to, Input::Peer { from, message });
        }
    }

    /// Lets `span` pass, firing timers every 10 ms.
    pub fn advance(&mut self, span: Span) {
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

    /// Sends a request to `at` and waits for its answer; a node still starting (verifying
    /// its restarted log) is asked again 10 ms later, as a client would.
    pub fn request(&mut self, at: NodeId, op: Op, quorum: Quorum) -> ClientResult {
        for _ in 0..100 {
            let result = self.request_once(at, op.clone(), quorum);
            if !matches!(result, Err(RequestError::Starting)) {
                return result;
            }
            self.advance(Span::from_millis(10));
        }
        panic!("{at} never started");
    }

    fn request_once(&mut self, at: NodeId, op: Op, quorum: Quorum) -> ClientResult {
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

    pub fn set(&mut self, at: u32, key: &str, value: &str, context: VectorClock) -> ClientResult {
        let op = Op::Set {
            key: key.into(),
            value: value.into(),
            context,
        };
        self.request(NodeId(at), op, Quorum::default())
    }

    pub fn get(&mut self, at: u32, key: &str) -> Object {
        let op = Op::Get { key: key.into() };
        match self.request(NodeId(at), op, Quorum::default()) {
            Ok(Response::Object(o)) => o,
            other => panic!("get failed: {other:?}"),
        }
    }
}
