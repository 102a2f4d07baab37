//! Tests of one node on its own: config checks, booting, halting, draining, shutting down.

use super::*;
use crate::ids::ClientId;
use crate::message::{Message, Op, Request};

fn config() -> Config {
    Config::new(vec![NodeId(1), NodeId(2), NodeId(3)])
}

#[test]
fn config_is_validated() {
    let mut c = config();
    c.w = 4;
    assert!(matches!(c.validate(), Err(ConfigError::Quorum(_))));
    let c = Config::new(vec![NodeId(1), NodeId(1)]);
    assert_eq!(c.validate(), Err(ConfigError::DuplicateNode));
    assert!(matches!(
        Node::new(config(), NodeId(9), 0, Time::ZERO, Recovered::empty()),
        Err(ConfigError::NotAMember(NodeId(9)))
    ));
}

/// Node 1 of three, with its Boot record durable.
/// A node booted on a log it trusts (not rebuilding: its read replies count toward R).
fn booted_node() -> Node {
    let whole = Recovered {
        log_id: Some(99),
        incarnation: Some(1),
        ..Recovered::empty()
    };
    // A log it trusts: not rebuilding, so that its own read replies count.
    let config = Config {
        rebuild_on_restart: false,
        ..config()
    };
    let mut node = Node::new(config, NodeId(1), 7, Time::ZERO, whole).unwrap();
    let Some(Output::Persist { end, .. }) = node.poll_output() else {
        panic!("expected the boot record");
    };
    node.handle(Time(1), Input::Persisted { upto: end });
    while node.poll_output().is_some() {}
    node
}

#[test]
fn a_failed_sync_answers_pending_writes_as_indeterminate_and_halts() {
    let mut node = booted_node();
    let set = Request::new(Op::Set {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        context: crate::version::VectorClock::new(),
    });
    let client = ClientId(1);
    node.handle(
        Time(2),
        Input::Client {
            client,
            request: 5,
            body: set,
        },
    );
    while node.poll_output().is_some() {}
    node.handle(Time(3), Input::PersistFailed);
    let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert_eq!(
        outputs,
        vec![
            Output::Reply {
                client,
                request: 5,
                result: Err(RequestError::Indeterminate)
            },
            Output::Halt
        ]
    );
    // Whatever comes later is refused, and nothing is acknowledged.
    node.handle(Time(4), Input::Persisted { upto: u64::MAX });
    let get = Request::new(Op::Get { key: b"k".to_vec() });
    node.handle(
        Time(5),
        Input::Client {
            client,
            request: 6,
            body: get,
        },
    );
    let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert!(matches!(
        outputs.as_slice(),
        [Output::Reply {
            request: 6,
            result: Err(RequestError::ShuttingDown),
            ..
        }]
    ));
}

#[test]
fn shutdown_answers_pending_reads_as_timeout_without_halting() {
    let mut node = booted_node();
    let get = Request::new(Op::Get { key: b"k".to_vec() });
    let client = ClientId(1);
    node.handle(
        Time(2),
        Input::Client {
            client,
            request: 9,
            body: get,
        },
    );
    while node.poll_output().is_some() {}
    node.handle(Time(3), Input::Shutdown);
    let outputs: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert_eq!(
        outputs,
        vec![Output::Reply {
            client,
            request: 9,
            result: Err(RequestError::Timeout)
        }]
    );
    assert_eq!(node.pending_requests(), 0);
}

#[test]
fn a_draining_node_refuses_new_requests_and_finishes_those_it_took() {
    let mut node = booted_node();
    let client = ClientId(1);
    let get = |request| Input::Client {
        client,
        request,
        body: Request::new(Op::Get { key: b"k".to_vec() }),
    };
    node.handle(Time(2), get(1));
    let sent: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    let req = sent
        .iter()
        .find_map(|o| match o {
            Output::Send {
                message: Message::Read { req, .. },
                ..
            } => Some(*req),
            _ => None,
        })
        .expect("the read asks its peers");
    node.handle(Time(3), Input::Drain);
    while node.poll_output().is_some() {}
    node.handle(Time(4), get(2));
    let refused: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert!(refused.contains(&Output::Reply {
        client,
        request: 2,
        result: Err(RequestError::ShuttingDown)
    }));
    // The read taken before the drain still completes.
    let reply = Message::ReadReply {
        req,
        object: Object::new(),
    };
    node.handle(
        Time(5),
        Input::Peer {
            from: NodeId(2),
            message: reply,
        },
    );
    let answered: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert!(
        answered.iter().any(|o| matches!(
            o,
            Output::Reply {
                request: 1,
                result: Ok(_),
                ..
            }
        )),
        "{answered:?}"
    );
}

#[test]
fn a_new_node_persists_its_boot_record_and_refuses_requests_until_durable() {
    let mut node = Node::new(config(), NodeId(1), 7, Time::ZERO, Recovered::empty()).unwrap();
    let Some(Output::Persist { bytes, end }) = node.poll_output() else {
        panic!("expected the boot record");
    };
    assert_eq!(end, bytes.len() as u64);
    assert_eq!(node.poll_output(), None);
    let get = Request::new(Op::Get { key: b"k".to_vec() });
    node.handle(
        Time(1),
        Input::Client {
            client: ClientId(1),
            request: 1,
            body: get,
        },
    );
    let replies: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert!(replies.contains(&Output::Reply {
        client: ClientId(1),
        request: 1,
        result: Err(RequestError::Starting)
    }));
    node.handle(Time(2), Input::Persisted { upto: end });
    while node.poll_output().is_some() {}
    assert!(node.is_booted());
}

/// Drains `node`'s outputs, reporting each `Persist` done at once (`now`), until it has no
/// more: the messages it sent.
fn settle(node: &mut Node, now: u64) -> Vec<Message> {
    let mut sent = Vec::new();
    loop {
        let mut persisted = None;
        while let Some(output) = node.poll_output() {
            match output {
                Output::Send { message, .. } => sent.push(message),
                Output::Persist { end, .. } => persisted = Some(end),
                _ => {}
            }
        }
        match persisted {
            Some(upto) => node.handle(Time(now), Input::Persisted { upto }),
            None => return sent,
        }
    }
}

/// Node 1 restarted on its log 99, which knows node 2's log 5: what it answers about the
/// logs of its peers before and after its own log is verified, and when it registers its own.
#[test]
fn a_node_vouches_only_from_a_verified_table_that_knew_the_log() {
    let five = LogRef { started: 50, id: 5 };
    let restarted = Recovered {
        log_id: Some(99),
        log_started: 40,
        incarnation: Some(1),
        positions: [((NodeId(2), five), 0)].into_iter().collect(),
        ..Recovered::empty()
    };
    let mut node = Node::new(config(), NodeId(1), 7, Time::ZERO, restarted).unwrap();
    // The asks it sends: (registers, its log's start).
    let asks = |sent: Vec<Message>| -> Vec<(bool, u64)> {
        let asks = sent.into_iter().filter_map(|message| match message {
            Message::PositionAsk { register, log } => Some((register, log.started)),
            _ => None,
        });
        asks.collect()
    };
    let verifying = asks(settle(&mut node, 1));
    assert!(!verifying.is_empty(), "verifying: it asks");
    let only_asks = verifying.iter().all(|&a| a == (false, 40));
    assert!(only_asks, "and registers nothing: {verifying:?}");
    // What it answers a peer's ask: whether it vouches for nothing.
    let ask = |node: &mut Node, from: u32, log: LogRef, register: bool| -> Vec<bool> {
        let message = Message::PositionAsk { log, register };
        let from = NodeId(from);
        node.handle(Time(2), Input::Peer { from, message });
        let replies = settle(node, 2).into_iter().filter_map(|m| match m {
            Message::PositionReply { unordered, .. } => Some(unordered),
            _ => None,
        });
        replies.collect()
    };
    let answer = ask(&mut node, 2, five, true);
    assert_eq!(answer, vec![true], "verifying: vouches for nothing");
    // Node 2 vouches for node 1's log: with three nodes, one answer covers every partition.
    let message = Message::PositionReply {
        log: LogRef {
            started: 40,
            id: 99,
        },
        registered: false,
        position: 0,
        superseded: false,
        unordered: false,
    };
    node.handle(
        Time(3),
        Input::Peer {
            from: NodeId(2),
            message,
        },
    );
    // Trusted, it renames its log as started when it was trusted (3 µs, but later than 40:
    // one past it), and registers that name only once it is durable.
    let mut unsynced = 0;
    while let Some(output) = node.poll_output() {
        if let Output::Persist { end, .. } = output {
            unsynced = end;
        }
    }
    node.handle(Time(4_000_000), Input::Tick);
    let mut early = Vec::new();
    while let Some(output) = node.poll_output() {
        early.push(output);
    }
    let registers = |o: &Output| {
        let ask = |m: &Message| matches!(m, Message::PositionAsk { register: true, .. });
        matches!(o, Output::Send { message, .. } if ask(message))
    };
    assert!(!early.iter().any(registers), "registers an unsynced name");
    node.handle(Time(4_000_000), Input::Persisted { upto: unsynced });
    settle(&mut node, 4_000_000);
    let answer = ask(&mut node, 2, five, true);
    assert_eq!(answer, vec![false], "verified: its table vouches");
    node.handle(Time(5_000_000), Input::Tick);
    let trusted = asks(settle(&mut node, 5_000_000));
    assert!(!trusted.is_empty(), "trusted: it registers");
    let renamed = trusted.iter().all(|&a| a == (true, 41));
    assert!(renamed, "as a log started at 41: {trusted:?}");
    // Node 3's log 7, of which node 1 knew nothing: the first registration teaches it the
    // log, but the answer is what it knew before; an ask that does not register teaches it
    // nothing.
    let seven = LogRef { started: 70, id: 7 };
    assert_eq!(
        ask(&mut node, 3, seven, false),
        vec![true],
        "nothing known of node 3"
    );
    assert_eq!(
        ask(&mut node, 3, seven, false),
        vec![true],
        "still nothing known"
    );
    assert_eq!(
        ask(&mut node, 3, seven, true),
        vec![true],
        "known only since"
    );
    assert_eq!(
        ask(&mut node, 3, seven, false),
        vec![false],
        "registered: known"
    );
}
