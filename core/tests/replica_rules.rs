//! What a single replica may trust, mint and store, pinned down one rule at a time:
//! - a node booted on an empty disk never mints a dot (or a request id) an earlier life of
//!   the same node minted;
//! - nothing a node recovered counts as durable before the first sync after it starts;
//! - what a replica accepts it can send, repair and recover: the limits agree at each
//!   boundary.

use tern_core::limits::{
    MESSAGE_BYTES_MAX, OBJECT_BYTES_MAX, SIBLINGS_DECODE_MAX, SIBLINGS_MAX, VALUE_BYTES_MAX,
};
use tern_core::{
    recover, ActorId, ClientId, Config, Dot, Input, Message, Node, NodeId, Object, Op, Output,
    Recovered, Request, RequestError, RequestId, Response, Sibling, Time, VectorClock,
};

fn config(nodes: u32) -> Config {
    Config::new((1..=nodes).map(NodeId).collect())
}

/// Everything the node wants done, in order.
fn drain(node: &mut Node) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// The log bytes of every `Persist` among `outputs`, and the end of the last one.
fn persisted(outputs: &[Output], log: &mut Vec<u8>) -> Option<u64> {
    let mut end = None;
    for output in outputs {
        if let Output::Persist { bytes, end: e } = output {
            log.extend_from_slice(bytes);
            end = Some(*e);
        }
    }
    end
}

/// A node on `recovered`, with its Boot record written and synced; the log is kept in `log`.
fn booted(nodes: u32, seed: u64, recovered: Recovered, log: &mut Vec<u8>) -> Node {
    let mut node = Node::new(config(nodes), NodeId(1), seed, Time::ZERO, recovered).unwrap();
    let outputs = drain(&mut node);
    let end = persisted(&outputs, log).expect("a new node writes its Boot record");
    node.handle(Time(1), Input::Persisted { upto: end });
    drain(&mut node);
    assert!(node.is_booted());
    node
}

fn set(key: &[u8], value: &[u8]) -> Input {
    Input::Client {
        client: ClientId(1),
        request: 1,
        body: Request::new(Op::Set {
            key: key.to_vec(),
            value: value.to_vec(),
            context: VectorClock::new(),
        }),
    }
}

/// Runs one write on a single-node cluster and returns its dot.
fn write_once(node: &mut Node, log: &mut Vec<u8>, now: u64) -> Dot {
    node.handle(Time(now), set(b"k", b"v"));
    let outputs = drain(node);
    let end = persisted(&outputs, log).expect("the write is logged");
    node.handle(Time(now + 1), Input::Persisted { upto: end });
    for output in drain(node) {
        if let Output::Reply {
            result: Ok(Response::Written { dot, .. }),
            ..
        } = output
        {
            return dot;
        }
    }
    panic!("the write was not acknowledged");
}

#[test]
fn a_node_booted_on_an_empty_disk_never_reuses_the_dots_of_an_earlier_life() {
    // The same node twice, each time on an empty disk (a replaced disk, a restored backup
    // older than the last boot): each life draws its own incarnation id.
    let mut first_log = Vec::new();
    let mut first = booted(1, 11, Recovered::empty(), &mut first_log);
    let first_dot = write_once(&mut first, &mut first_log, 2);
    let mut second_log = Vec::new();
    let mut second = booted(1, 12, Recovered::empty(), &mut second_log);
    let second_dot = write_once(&mut second, &mut second_log, 2);
    assert_ne!(
        first_dot, second_dot,
        "two lives of one node minted the same dot"
    );
    assert_ne!(first.incarnation(), second.incarnation());
    // A restart on its own log draws yet another id, and never the one it recovered.
    let recovered = recover(&second_log).unwrap();
    assert_eq!(recovered.incarnation, Some(second.incarnation()));
    let mut log = second_log.clone();
    let third = booted(1, 12, recovered, &mut log);
    assert_ne!(third.incarnation(), second.incarnation());
    // Request ids carry the incarnation id in their high 64 bits.
    let a = RequestId::new(first.incarnation(), 1);
    let b = RequestId::new(second.incarnation(), 1);
    assert_ne!(a, b);
}

#[test]
fn a_recovered_node_answers_nothing_about_its_data_before_its_first_sync() {
    // A log holding key k, as a killed process left it: readable, maybe never synced.
    let mut log = Vec::new();
    let mut node = booted(3, 5, Recovered::empty(), &mut log);
    let object = replicate_into(&mut node, &mut log, b"k", one_sibling(1, b"v"));
    drop(node);
    let recovered = recover(&log).unwrap();
    assert_eq!(recovered.objects.get(&b"k"[..]), Some(&object));

    // A log it trusts (no rebuild, no verification): what is held back is the journal's.
    let mut trusted = config(3);
    trusted.rebuild_on_restart = false;
    let mut node = Node::new(trusted, NodeId(1), 6, Time::ZERO, recovered).unwrap();
    let boot = drain(&mut node);
    let mut tail = Vec::new();
    let boot_end = persisted(&boot, &mut tail).expect("the Boot record");
    // A resent Replicate that changes nothing, and a read: both about recovered bytes.
    let req = RequestId::new(9, 1);
    let resend = Input::Peer {
        from: NodeId(2),
        message: Message::Replicate {
            req,
            key: b"k".to_vec(),
            object: object.clone(),
        },
    };
    node.handle(Time(10), resend);
    let mut early = drain(&mut node);
    node.handle(Time(11), read(NodeId(3), b"k"));
    early.extend(drain(&mut node));
    let answers = |outputs: Vec<Output>| -> Vec<Message> {
        outputs
            .into_iter()
            .filter_map(|o| match o {
                Output::Send { message, .. } => Some(message),
                _ => None,
            })
            .filter(|m| {
                matches!(
                    m,
                    Message::ReplicateAck { .. }
                        | Message::ReadReply { .. }
                        | Message::ReadReplyRebuilding { .. }
                )
            })
            .collect()
    };
    let early = answers(early);
    assert!(
        early.is_empty(),
        "answered about unsynced bytes before the first sync: {early:?}"
    );
    // Once the Boot record's sync is done (and with it every segment), both go out.
    node.handle(Time(12), Input::Persisted { upto: boot_end });
    let sent = answers(drain(&mut node));
    assert_eq!(sent.len(), 2, "{sent:?}");
}

fn read(from: NodeId, key: &[u8]) -> Input {
    Input::Peer {
        from,
        message: Message::Read {
            req: RequestId::new(from.0.into(), 7),
            key: key.to_vec(),
        },
    }
}

fn dot(node: u32, seq: u64) -> Dot {
    Dot {
        actor: ActorId {
            node: NodeId(node),
            incarnation: 0x1234_5678_9abc_def0,
        },
        seq,
    }
}

fn one_sibling(seq: u64, value: &[u8]) -> Object {
    Object::single(Sibling {
        bulk: None,
        dot: dot(2, seq),
        context: VectorClock::new(),
        value: Some(value.to_vec()),
    })
}

/// `count` concurrent siblings (no one's context covers another), values of `value_bytes`.
fn concurrent(count: usize, value_bytes: usize) -> Object {
    Object::from_siblings(
        (0..count)
            .map(|i| Sibling {
                bulk: None,
                dot: dot(2, i as u64 + 1),
                context: VectorClock::new(),
                value: Some(vec![b'x'; value_bytes]),
            })
            .collect(),
    )
}

/// Delivers a Replicate of `object` from node 2, syncs what it logged, and returns the
/// replica's copy; panics unless the replica acknowledged.
fn replicate_into(node: &mut Node, log: &mut Vec<u8>, key: &[u8], object: Object) -> Object {
    assert_eq!(replicate(node, log, key, object), Some(true));
    node.object(key).cloned().unwrap()
}

/// Delivers a Replicate; `Some(true)` if acknowledged once synced, `Some(false)` if refused
/// (no ack and nothing logged).
fn replicate(node: &mut Node, log: &mut Vec<u8>, key: &[u8], object: Object) -> Option<bool> {
    let req = RequestId::new(9, 2);
    node.handle(
        Time(3),
        Input::Peer {
            from: NodeId(2),
            message: Message::Replicate {
                req,
                key: key.to_vec(),
                object,
            },
        },
    );
    let outputs = drain(node);
    let Some(end) = persisted(&outputs, log) else {
        return Some(false);
    };
    node.handle(Time(4), Input::Persisted { upto: end });
    let acked = drain(node).iter().any(|o| {
        matches!(o, Output::Send { message: Message::ReplicateAck { req: r }, .. } if *r == req)
    });
    Some(acked)
}

#[test]
fn a_replica_stores_up_to_siblings_decode_max_and_recovers_it_and_refuses_one_more() {
    let mut log = Vec::new();
    let mut node = booted(3, 1, Recovered::empty(), &mut log);
    let full = concurrent(SIBLINGS_DECODE_MAX, 4);
    assert_eq!(full.siblings().len(), SIBLINGS_DECODE_MAX);
    let stored = replicate_into(&mut node, &mut log, b"many", full.clone());
    assert_eq!(stored, full);
    // It can be sent (and decoded at the other end) and read back from the log.
    let message = Message::Replicate {
        req: RequestId::new(1, 1),
        key: b"many".to_vec(),
        object: stored.clone(),
    };
    assert_eq!(Message::decode(&message.encode()).unwrap(), message);
    let recovered = recover(&log).expect("what a replica stored, it recovers");
    assert_eq!(recovered.objects.get(&b"many"[..]), Some(&full));
    // One more concurrent sibling would make an object no one could decode: refused.
    let one_more = Object::single(Sibling {
        bulk: None,
        dot: dot(3, 1),
        context: VectorClock::new(),
        value: Some(b"y".to_vec()),
    });
    assert_eq!(
        replicate(&mut node, &mut log, b"many", one_more),
        Some(false)
    );
    assert_eq!(node.object(b"many"), Some(&full));
    assert_eq!(node.stats().replicate_refused, 1);
}

/// Concurrent siblings whose encoding is exactly `bytes` long.
fn object_of_exactly(bytes: usize) -> Object {
    let count = bytes / VALUE_BYTES_MAX + 1;
    let mut object = concurrent(count, VALUE_BYTES_MAX);
    // Shrink the last value until the whole encodes to exactly `bytes` (its length prefix
    // keeps its size over this range).
    let over = object.encoded_bytes() - bytes;
    let mut siblings = object.siblings().to_vec();
    let last = siblings.last_mut().unwrap();
    last.value = Some(vec![b'x'; VALUE_BYTES_MAX - over]);
    object = Object::from_siblings(siblings);
    assert_eq!(object.encoded_bytes(), bytes);
    object
}

#[test]
fn a_replica_stores_up_to_object_bytes_max_and_recovers_it_and_refuses_one_byte_more() {
    let mut log = Vec::new();
    let mut node = booted(3, 2, Recovered::empty(), &mut log);
    let full = object_of_exactly(OBJECT_BYTES_MAX);
    assert!(full.fits().is_ok());
    let stored = replicate_into(&mut node, &mut log, b"big", full.clone());
    let message = Message::Replicate {
        req: RequestId::new(u64::MAX, u64::MAX),
        key: vec![b'k'; tern_core::limits::KEY_BYTES_MAX],
        object: stored,
    };
    let bytes = message.encode();
    assert!(bytes.len() <= MESSAGE_BYTES_MAX, "{} bytes", bytes.len());
    assert_eq!(Message::decode(&bytes).unwrap(), message);
    let recovered = recover(&log).expect("what a replica stored, it recovers");
    assert_eq!(recovered.objects.get(&b"big"[..]), Some(&full));

    let mut log = Vec::new();
    let mut node = booted(3, 3, Recovered::empty(), &mut log);
    let over = object_of_exactly(OBJECT_BYTES_MAX + 1);
    assert!(over.fits().is_err());
    assert_eq!(replicate(&mut node, &mut log, b"big", over), Some(false));
    assert_eq!(node.object(b"big"), None);
}

#[test]
fn a_write_may_leave_siblings_max_versions_but_not_one_more() {
    let mut log = Vec::new();
    let mut node = booted(1, 4, Recovered::empty(), &mut log);
    for i in 0..SIBLINGS_MAX {
        node.handle(Time(10 + i as u64), set(b"k", format!("v{i}").as_bytes()));
        let outputs = drain(&mut node);
        let end = persisted(&outputs, &mut log).unwrap();
        node.handle(Time(10 + i as u64), Input::Persisted { upto: end });
        drain(&mut node);
    }
    assert_eq!(node.object(b"k").unwrap().siblings().len(), SIBLINGS_MAX);
    node.handle(Time(100), set(b"k", b"one too many"));
    let refused = drain(&mut node).into_iter().any(|o| {
        matches!(
            o,
            Output::Reply {
                result: Err(RequestError::TooManySiblings { .. }),
                ..
            }
        )
    });
    assert!(refused);
    assert_eq!(node.object(b"k").unwrap().siblings().len(), SIBLINGS_MAX);
}

#[test]
fn a_read_whose_replies_merge_past_the_limit_is_refused_not_repaired() {
    // Node 1 coordinates a read at R=3; nodes 2 and 3 each hold 600 versions the other
    // lacks: each copy fits, their merge (1,200 siblings) does not. Node 1's log is one it
    // trusts (restarts do not rebuild), so that its own reply counts.
    let whole = Recovered {
        log_id: Some(99),
        incarnation: Some(1),
        ..Recovered::empty()
    };
    let mut config = config(3);
    config.rebuild_on_restart = false;
    let mut node = Node::new(config, NodeId(1), 9, Time::ZERO, whole).unwrap();
    let end = persisted(&drain(&mut node), &mut Vec::new()).expect("a Boot record");
    node.handle(Time(1), Input::Persisted { upto: end });
    drain(&mut node);
    let get = Request {
        op: Op::Get { key: b"k".to_vec() },
        quorum: tern_core::Quorum {
            n: None,
            r: Some(3),
            w: None,
        },
        timeout_ms: None,
    };
    node.handle(
        Time(5),
        Input::Client {
            client: ClientId(4),
            request: 8,
            body: get,
        },
    );
    let req = drain(&mut node)
        .into_iter()
        .find_map(|o| match o {
            Output::Send {
                message: Message::Read { req, .. },
                ..
            } => Some(req),
            _ => None,
        })
        .expect("the coordinator asks its peers");
    let half = |node: u32| {
        Object::from_siblings(
            (1..=600)
                .map(|seq| Sibling {
                    bulk: None,
                    dot: dot(node, seq),
                    context: VectorClock::new(),
                    value: Some(b"v".to_vec()),
                })
                .collect(),
        )
    };
    let mut outputs = Vec::new();
    for from in [2, 3] {
        let object = half(from);
        assert!(object.fits().is_ok());
        node.handle(
            Time(6),
            Input::Peer {
                from: NodeId(from),
                message: Message::ReadReply { req, object },
            },
        );
        outputs.extend(drain(&mut node));
    }
    let answered = outputs.iter().any(|o| {
        matches!(
            o,
            Output::Reply {
                request: 8,
                result: Err(RequestError::TooLarge { .. }),
                ..
            }
        )
    });
    assert!(answered, "{outputs:?}");
    let repairs = outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send {
                    message: Message::Replicate { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(repairs, 0, "no replica could store the merged object");
    assert_eq!(node.stats().reads_too_large, 1);
}
