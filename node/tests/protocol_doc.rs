//! docs/PROTOCOL.md's worked examples are the real bytes: every ```hex title=NAME``` block
//! decodes, with the decoders the node runs, to the value this test builds by hand, and that
//! value encodes back to exactly the bytes in the document. Editing one byte of an example,
//! or changing the format without updating the document, fails this test. The numbers in
//! its opcode, error code and limit tables are checked against the code too.
//!
//! The blocks are hex bytes separated by white space; `#` starts a comment that runs to the
//! end of the line. A failing example prints the bytes the code produces, ready to paste.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use tern_core::{
    ActorId, BulkInvalid, BulkItem, BulkKeys, ClientResult, Dot, Message, NodeId, Object, Op,
    Oversized, Paging, Quorum, Record, Request, RequestError, RequestId, Response, Scored,
    SearchError, Sibling, VectorClock,
};
use tern_node::limits::{FRAME_HEADER_BYTES, PEER_BODY_BYTES_MAX, REQUEST_BODY_BYTES_MAX};
use tern_node::wire::{self, ErrorBody, ErrorCode, Opcode, PeerHello, PongBody};

/// Node 1's incarnation id, as a boot would draw it: random, all 64 bits in use.
const INCARNATION_1: u64 = 0x9f3c_51d2_7a4e_08b6;
/// Node 2's incarnation id.
const INCARNATION_2: u64 = 0x2b71_e0c4_95d8_3a6f;
/// Node 1's log id, drawn when its log was created.
const LOG_ID: u64 = 0x6c0f_d3a8_41b7_e925;
const KEY: &[u8] = b"user:42";
const SHUTTING_DOWN: &str = "the node is shutting down; nothing was done; retry on another node";

fn actor(node: u32, incarnation: u64) -> ActorId {
    ActorId {
        node: NodeId(node),
        incarnation,
    }
}

fn dot(node: u32, incarnation: u64, seq: u64) -> Dot {
    Dot {
        actor: actor(node, incarnation),
        seq,
    }
}

fn clock(dots: &[Dot]) -> VectorClock {
    let mut clock = VectorClock::new();
    for d in dots {
        clock.add(*d);
    }
    clock
}

/// What a `Get` of `KEY` returned: node 1 wrote "blue" (its dot 4) while node 2, having seen
/// node 1's dot 3 only, deleted the key (its dot 300): two concurrent siblings.
fn read_object() -> Object {
    let blue = Sibling {
        bulk: None,
        dot: dot(1, INCARNATION_1, 4),
        context: VectorClock::new(),
        value: Some(b"blue".to_vec()),
    };
    let tombstone = Sibling {
        bulk: None,
        dot: dot(2, INCARNATION_2, 300),
        context: clock(&[dot(1, INCARNATION_1, 3)]),
        value: None,
    };
    let object = Object::from_siblings(vec![tombstone, blue]);
    assert_eq!(
        object.siblings().len(),
        2,
        "the two siblings are concurrent"
    );
    object
}

/// The write that replaces both: "green", with the context read.
fn set_request() -> Request {
    let context = read_object().clock();
    assert_eq!(
        context,
        clock(&[dot(1, INCARNATION_1, 4), dot(2, INCARNATION_2, 300)])
    );
    Request {
        op: Op::Set {
            key: KEY.to_vec(),
            value: b"green".to_vec(),
            context,
        },
        quorum: Quorum {
            // Never valid (at most REPLICATION_N_MAX), but shows that a u8 is one raw byte.
            n: Some(200),
            r: None,
            w: Some(2),
        },
        timeout_ms: Some(1500),
    }
}

/// Node 1 coordinated the write; its 1000th write since it booted, over all keys.
fn written_dot() -> Dot {
    dot(1, INCARNATION_1, 1000)
}

/// The coordinator's copy of the key after the write: the write replaced both siblings.
fn written_object() -> Object {
    let Op::Set { value, context, .. } = set_request().op else {
        unreachable!("set_request is a Set");
    };
    let mut object = read_object();
    object.insert(Sibling {
        bulk: None,
        dot: written_dot(),
        context,
        value: Some(value),
    });
    assert_eq!(object.siblings().len(), 1, "the context replaced both");
    object
}

/// The second key of the bulk examples.
const OTHER_KEY: &[u8] = b"user:43";

/// A bulk write (an `mset` and an `mdel` in one): `user:42` becomes "teal", replacing the
/// version the client was shown ("green", `written_object`), and `user:43`, never read, is
/// deleted with an empty context.
fn bulk_write_request() -> Request {
    Request::new(Op::BulkWrite {
        items: vec![
            BulkItem {
                key: KEY.to_vec(),
                value: Some(b"teal".to_vec()),
                context: written_object().clock(),
            },
            BulkItem {
                key: OTHER_KEY.to_vec(),
                value: None,
                context: VectorClock::new(),
            },
        ],
    })
}

/// The actor node 1 drew for the bulk write alone: its node id and a random 64-bit id in
/// place of an incarnation.
const BULK_ACTOR: u64 = 0x5e1d_7c20_93ab_4f18;

/// The bulk write's dot: that actor's first and only dot.
fn bulk_dot() -> Dot {
    dot(1, BULK_ACTOR, 1)
}

/// What a bulk read of both keys returns after the bulk write: each key's version carries
/// the bulk write's dot and both its keys (payload variants 3 and 2).
fn bulk_objects() -> Vec<Object> {
    let keys: BulkKeys = vec![KEY.to_vec(), OTHER_KEY.to_vec()].into();
    let Op::BulkWrite { items } = bulk_write_request().op else {
        unreachable!("bulk_write_request is a BulkWrite");
    };
    items
        .into_iter()
        .map(|item| {
            Object::single(Sibling {
                dot: bulk_dot(),
                context: item.context,
                value: item.value,
                bulk: Some(keys.clone()),
            })
        })
        .collect()
}

/// What a frame carries, by opcode.
#[derive(Debug)]
enum Body {
    Request(Request),
    Reply(ClientResult),
    Error(ErrorCode, String),
    Ping,
    Pong(PongBody),
    PeerHello(PeerHello),
    PeerMessage(Message),
}

#[derive(Debug)]
enum Example {
    Frame { request: u64, body: Body },
    Record(Record),
}

/// Every example the document must hold, built without looking at it.
fn examples() -> BTreeMap<&'static str, Example> {
    let frame = |request, body| Example::Frame { request, body };
    BTreeMap::from([
        (
            "get-reply",
            frame(6, Body::Reply(Ok(Response::Object(read_object())))),
        ),
        ("set-request", frame(7, Body::Request(set_request()))),
        (
            "written-reply",
            frame(
                7,
                Body::Reply(Ok(Response::Written {
                    dot: written_dot(),
                    object: written_object(),
                })),
            ),
        ),
        (
            "unavailable-reply",
            frame(
                8,
                Body::Reply(Err(RequestError::Unavailable {
                    needed: 2,
                    alive: 1,
                })),
            ),
        ),
        (
            "shutting-down-error",
            frame(
                9,
                Body::Error(ErrorCode::ShuttingDown, SHUTTING_DOWN.to_string()),
            ),
        ),
        (
            "search-request",
            frame(
                11,
                Body::Request(Request::new(Op::Search {
                    query: "Python programming".to_string(),
                    page: Paging::first(10),
                })),
            ),
        ),
        (
            "hits-reply",
            frame(
                11,
                Body::Reply(Ok(Response::Hits {
                    hits: vec![Scored {
                        key: b"doc1".to_vec(),
                        score: 0.909285,
                    }],
                    total: 1,
                    next: None,
                })),
            ),
        ),
        (
            "similar-request",
            frame(
                12,
                Body::Request(Request::new(Op::Similar {
                    text: "coding languages".to_string(),
                    top_k: 5,
                })),
            ),
        ),
        (
            "invalid-search-reply",
            frame(
                13,
                Body::Reply(Err(RequestError::InvalidSearch(SearchError::Query(
                    tern_core::search::QueryError::Unclosed { at: 7 },
                )))),
            ),
        ),
        (
            "bulk-write-request",
            frame(14, Body::Request(bulk_write_request())),
        ),
        (
            "bulk-written-reply",
            frame(
                14,
                Body::Reply(Ok(Response::BulkWritten { dot: bulk_dot() })),
            ),
        ),
        (
            "bulk-get-request",
            frame(
                15,
                Body::Request(Request::new(Op::BulkGet {
                    keys: vec![KEY.to_vec().into(), OTHER_KEY.to_vec().into()],
                })),
            ),
        ),
        (
            "objects-reply",
            frame(15, Body::Reply(Ok(Response::Objects(bulk_objects())))),
        ),
        (
            "invalid-bulk-reply",
            frame(
                16,
                Body::Reply(Err(RequestError::InvalidBulk(BulkInvalid::DuplicateKey))),
            ),
        ),
        ("ping", frame(10, Body::Ping)),
        (
            "pong",
            frame(
                10,
                Body::Pong(PongBody {
                    node: NodeId(1),
                    booted: true,
                }),
            ),
        ),
        (
            "peer-hello",
            frame(0, Body::PeerHello(PeerHello { from: NodeId(1) })),
        ),
        (
            "replicate-message",
            frame(
                0,
                Body::PeerMessage(Message::Replicate {
                    req: RequestId::new(INCARNATION_1, 17),
                    key: KEY.to_vec(),
                    object: written_object(),
                }),
            ),
        ),
        (
            "boot-record",
            Example::Record(Record::Boot {
                incarnation: INCARNATION_1,
                log_id: LOG_ID,
            }),
        ),
        (
            "object-record",
            Example::Record(Record::Object {
                key: KEY.to_vec(),
                object: written_object(),
            }),
        ),
        (
            "durable-record",
            Example::Record(Record::Durable {
                upto: 4096,
                log_id: LOG_ID,
            }),
        ),
    ])
}

fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    std::fs::read_to_string(path).expect("read docs/PROTOCOL.md")
}

/// The example blocks of the document: name, first line number, bytes.
fn document_examples() -> Vec<(String, usize, Vec<u8>)> {
    let text = document();
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((at, line)) = lines.next() {
        let Some(info) = line.trim().strip_prefix("```hex") else {
            continue;
        };
        let name = info
            .split_whitespace()
            .find_map(|word| word.strip_prefix("title="))
            .unwrap_or_else(|| panic!("PROTOCOL.md:{}: a hex block needs title=NAME", at + 1))
            .to_string();
        let mut bytes = Vec::new();
        for (n, line) in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            let data = line.split('#').next().unwrap_or("");
            for token in data.split_whitespace() {
                let byte = (token.len() == 2)
                    .then(|| u8::from_str_radix(token, 16).ok())
                    .flatten()
                    .unwrap_or_else(|| {
                        panic!(
                            "PROTOCOL.md:{}: `{token}` in {name} is not a hex byte",
                            n + 1
                        )
                    });
                bytes.push(byte);
            }
        }
        found.push((name, at + 1, bytes));
    }
    found
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.chunks(16) {
        let words: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "{}", words.join(" "));
    }
    out
}

fn opcode(body: &Body) -> Opcode {
    match body {
        Body::Request(_) => Opcode::Request,
        Body::Reply(_) => Opcode::Reply,
        Body::Error(..) => Opcode::Error,
        Body::Ping => Opcode::Ping,
        Body::Pong(_) => Opcode::Pong,
        Body::PeerHello(_) => Opcode::PeerHello,
        Body::PeerMessage(_) => Opcode::PeerMessage,
    }
}

/// The bytes the node writes for this example.
fn encode(example: &Example) -> Vec<u8> {
    match example {
        Example::Record(record) => record.encode(),
        Example::Frame { request, body } => match body {
            Body::Request(r) => wire::request_frame(*request, r),
            Body::Reply(result) => wire::reply_frame(*request, result),
            Body::Error(code, message) => wire::error_frame(*request, *code, message),
            Body::Ping => wire::ping_frame(*request),
            Body::Pong(pong) => wire::pong_frame(*request, *pong),
            Body::PeerHello(hello) => {
                assert_eq!(*request, 0, "a PeerHello frame carries request id 0");
                wire::peer_hello_frame(hello.from)
            }
            Body::PeerMessage(message) => {
                assert_eq!(*request, 0, "a PeerMessage frame carries request id 0");
                wire::peer_message_frame(message)
            }
        },
    }
}

fn same<T: PartialEq + std::fmt::Debug>(decoded: T, expected: &T) -> Result<(), String> {
    if decoded == *expected {
        Ok(())
    } else {
        Err(format!("decodes to {decoded:?}, expected {expected:?}"))
    }
}

/// Decodes `bytes` as the node would and checks it against `expected`.
fn check_decodes(name: &str, bytes: &[u8], expected: &Example) -> Result<(), String> {
    match expected {
        Example::Record(record) => {
            let (decoded, end) = Record::decode_at(bytes, 0).map_err(|e| format!("record: {e}"))?;
            if end != bytes.len() {
                return Err(format!("the record ends at {end} of {} bytes", bytes.len()));
            }
            same(decoded, record)?;
        }
        Example::Frame { request, body } => {
            let head: [u8; FRAME_HEADER_BYTES] = bytes
                .get(..FRAME_HEADER_BYTES)
                .and_then(|h| h.try_into().ok())
                .ok_or("shorter than a frame header")?;
            // A client's frames are read with the client limit, everything else with the
            // peer limit, as the node and the client library do.
            let limit = match body {
                Body::Request(_) | Body::Ping | Body::PeerHello(_) => REQUEST_BODY_BYTES_MAX,
                _ => PEER_BODY_BYTES_MAX,
            };
            let header = wire::parse_header(&head, limit).map_err(|e| format!("header: {e}"))?;
            let payload = &bytes[FRAME_HEADER_BYTES..];
            if header.opcode != opcode(body) || header.request != *request {
                return Err(format!("header {header:?}, expected {body:?} id {request}"));
            }
            if header.len != payload.len() {
                return Err(format!(
                    "len {} but {} body bytes",
                    header.len,
                    payload.len()
                ));
            }
            let err = |e: tern_core::DecodeError| format!("{name} body: {e}");
            match body {
                Body::Request(r) => same(wire::decode::<Request>(payload).map_err(err)?, r)?,
                Body::Reply(result) => {
                    same(wire::decode::<ClientResult>(payload).map_err(err)?, result)?
                }
                Body::Error(code, message) => {
                    let decoded: ErrorBody = wire::decode(payload).map_err(err)?;
                    let decoded = (ErrorCode::from_number(decoded.code), decoded.message);
                    same(decoded, &(Some(*code), message.clone()))?
                }
                Body::Ping => same(payload.len(), &0)?,
                Body::Pong(pong) => same(wire::decode::<PongBody>(payload).map_err(err)?, pong)?,
                Body::PeerHello(hello) => {
                    same(wire::decode::<PeerHello>(payload).map_err(err)?, hello)?
                }
                Body::PeerMessage(m) => same(Message::decode(payload).map_err(err)?, m)?,
            }
        }
    }
    Ok(())
}

#[test]
fn every_example_in_the_protocol_document_is_exact() {
    let mut expected = examples();
    let mut failures = Vec::new();
    for (name, line, bytes) in document_examples() {
        let Some(example) = expected.remove(name.as_str()) else {
            failures.push(format!(
                "PROTOCOL.md:{line}: `{name}` is not an example this test knows, or appears twice"
            ));
            continue;
        };
        let canonical = encode(&example);
        let decoded = check_decodes(&name, &bytes, &example);
        if decoded.is_err() || bytes != canonical {
            let why = decoded.err().unwrap_or_else(|| {
                "decodes, but the node encodes the value differently".to_string()
            });
            failures.push(format!(
                "PROTOCOL.md:{line}: example `{name}` is wrong: {why}\nthe code encodes it as:\n{}",
                hex(&canonical)
            ));
        }
    }
    for (name, example) in expected {
        failures.push(format!(
            "PROTOCOL.md has no ```hex title={name}``` block; the code encodes it as:\n{}",
            hex(&encode(&example))
        ));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The decoding rules §Encoding states beyond the examples.
#[test]
fn decoding_rules_the_document_states() {
    use tern_core::codec::decode_body;
    // A bool is one byte, 0 or 1; an Option tag too.
    assert_eq!(decode_body::<bool>(&[1]), Ok(true));
    assert!(decode_body::<bool>(&[2]).is_err());
    assert_eq!(decode_body::<Option<u8>>(&[1, 0xc8]), Ok(Some(200)));
    assert!(decode_body::<Option<u8>>(&[2, 0]).is_err());
    // Varints: shortest form written, longer forms accepted.
    assert_eq!(tern_core::codec::encode_body(&300u64), vec![0xac, 0x02]);
    assert_eq!(decode_body::<u64>(&[0xac, 0x82, 0x00]), Ok(300));
    assert_eq!(tern_core::codec::encode_body(&u128::MAX).len(), 19);
    // A body must use every byte.
    assert!(decode_body::<u8>(&[1, 2]).is_err());
    // Clocks: any order, duplicates keep the highest, zeros dropped.
    let raw = vec![
        (actor(2, 5), 7u64),
        (actor(1, 9), 0),
        (actor(2, 5), 9),
        (actor(1, 3), 1),
    ];
    let decoded: VectorClock = decode_body(&tern_core::codec::encode_body(&raw)).unwrap();
    let entries: Vec<(ActorId, u64)> = decoded.iter().collect();
    assert_eq!(entries, vec![(actor(1, 3), 1), (actor(2, 5), 9)]);
    // Objects: any order, one sibling per dot, none that another covers.
    let object = read_object();
    let mut reversed = object.siblings().to_vec();
    reversed.reverse();
    reversed.push(reversed[0].clone());
    let decoded: Object = decode_body(&tern_core::codec::encode_body(&reversed)).unwrap();
    assert_eq!(decoded, object);
}

/// The cells of every table row of the document.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| {
            line.split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The number a limit's value cell states: the first after its last `=`, else the first.
fn stated_value(cell: &str) -> Option<u128> {
    let tail = cell.rsplit('=').next().unwrap_or(cell);
    let start = tail.find(|c: char| c.is_ascii_digit())?;
    let digits: String = tail[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// §2.2's opcodes, §2.4's error codes and §2.5's limits are the code's.
#[test]
fn the_document_tables_match_the_code() {
    use tern_core::limits as core;
    use tern_node::limits as node;
    let text = document();
    let rows = table_rows(&text);
    let stated = |name: &str| {
        let cell = format!("`{name}`");
        let found: Vec<&Vec<String>> = rows.iter().filter(|r| r.get(1) == Some(&cell)).collect();
        assert_eq!(found.len(), 1, "§2.5 should have one row for {name}");
        stated_value(&found[0][2])
    };
    let limits: [(&str, u128); 47] = [
        ("KEY_BYTES_MAX", core::KEY_BYTES_MAX as u128),
        ("VALUE_BYTES_MAX", core::VALUE_BYTES_MAX as u128),
        ("CONTEXT_ENTRIES_MAX", core::CONTEXT_ENTRIES_MAX as u128),
        ("SIBLINGS_MAX", core::SIBLINGS_MAX as u128),
        ("SIBLINGS_DECODE_MAX", core::SIBLINGS_DECODE_MAX as u128),
        ("OBJECT_BYTES_MAX", core::OBJECT_BYTES_MAX as u128),
        (
            "OBJECT_WRITE_BYTES_MAX",
            core::OBJECT_WRITE_BYTES_MAX as u128,
        ),
        ("ENVELOPE_BYTES_MAX", core::ENVELOPE_BYTES_MAX as u128),
        ("MESSAGE_BYTES_MAX", core::MESSAGE_BYTES_MAX as u128),
        ("RECORD_BYTES_MAX", core::RECORD_BYTES_MAX as u128),
        ("PENDING_REQUESTS_MAX", core::PENDING_REQUESTS_MAX as u128),
        (
            "FORWARDS_REMEMBERED_MAX",
            core::FORWARDS_REMEMBERED_MAX as u128,
        ),
        (
            "DOTS_PER_INCARNATION_MAX",
            core::DOTS_PER_INCARNATION_MAX.into(),
        ),
        (
            "REQUESTS_PER_INCARNATION_MAX",
            core::REQUESTS_PER_INCARNATION_MAX.into(),
        ),
        ("CLUSTER_NODES_MAX", core::CLUSTER_NODES_MAX as u128),
        ("REPLICATION_N_MAX", core::REPLICATION_N_MAX as u128),
        ("PARTITIONS", core::PARTITIONS.into()),
        (
            "SEARCH_QUERY_BYTES_MAX",
            core::SEARCH_QUERY_BYTES_MAX as u128,
        ),
        (
            "SEARCH_QUERY_TERMS_MAX",
            core::SEARCH_QUERY_TERMS_MAX as u128,
        ),
        (
            "SEARCH_QUERY_DEPTH_MAX",
            core::SEARCH_QUERY_DEPTH_MAX as u128,
        ),
        ("SEARCH_PAGE_SIZE_MAX", core::SEARCH_PAGE_SIZE_MAX as u128),
        ("SEARCH_RESULTS_MAX", core::SEARCH_RESULTS_MAX as u128),
        (
            "SIMILAR_TEXT_BYTES_MAX",
            core::SIMILAR_TEXT_BYTES_MAX as u128,
        ),
        ("SIMILAR_TOP_K_MAX", core::SIMILAR_TOP_K_MAX as u128),
        (
            "SEARCH_DOCUMENT_BYTES_MAX",
            core::SEARCH_DOCUMENT_BYTES_MAX as u128,
        ),
        ("SEARCH_CANDIDATES_MAX", core::SEARCH_CANDIDATES_MAX as u128),
        ("BULK_KEYS_MAX", core::BULK_KEYS_MAX as u128),
        ("BULK_KEY_BYTES_MAX", core::BULK_KEY_BYTES_MAX as u128),
        ("BULK_VALUE_BYTES_MAX", core::BULK_VALUE_BYTES_MAX as u128),
        ("FRAME_HEADER_BYTES", node::FRAME_HEADER_BYTES as u128),
        ("CONTEXT_BYTES_MAX", node::CONTEXT_BYTES_MAX as u128),
        (
            "BULK_ITEM_FRAMING_BYTES",
            node::BULK_ITEM_FRAMING_BYTES as u128,
        ),
        (
            "REQUEST_BODY_BYTES_MAX",
            node::REQUEST_BODY_BYTES_MAX as u128,
        ),
        ("PEER_BODY_BYTES_MAX", node::PEER_BODY_BYTES_MAX as u128),
        (
            "ERROR_MESSAGE_BYTES_MAX",
            node::ERROR_MESSAGE_BYTES_MAX as u128,
        ),
        (
            "FRAME_COMPLETE_TIMEOUT_MS",
            node::FRAME_COMPLETE_TIMEOUT_MS.into(),
        ),
        (
            "WRITE_STALL_TIMEOUT_MS",
            node::WRITE_STALL_TIMEOUT_MS.into(),
        ),
        ("CONNECTIONS_MAX", node::CONNECTIONS_MAX as u128),
        ("CLIENT_INFLIGHT_MAX", node::CLIENT_INFLIGHT_MAX as u128),
        (
            "CLIENT_QUEUE_FRAMES_MAX",
            node::CLIENT_QUEUE_FRAMES_MAX as u128,
        ),
        ("PEER_QUEUE_FRAMES_MAX", node::PEER_QUEUE_FRAMES_MAX as u128),
        ("NODE_QUEUE_EVENTS_MAX", node::NODE_QUEUE_EVENTS_MAX as u128),
        (
            "SHUTDOWN_DRAIN_TIMEOUT_MS",
            node::SHUTDOWN_DRAIN_TIMEOUT_MS.into(),
        ),
        ("SEGMENT_BYTES_MAX", node::SEGMENT_BYTES_MAX.into()),
        ("SEGMENTS_MAX", node::SEGMENTS_MAX as u128),
        (
            "RECONNECT_BACKOFF_MIN_MS",
            node::RECONNECT_BACKOFF_MIN_MS.into(),
        ),
        (
            "RECONNECT_BACKOFF_MAX_MS",
            node::RECONNECT_BACKOFF_MAX_MS.into(),
        ),
    ];
    for (name, value) in limits {
        assert_eq!(stated(name), Some(value), "the value of {name} in §2.5");
    }
    let named = |code: &str, name: &str| {
        rows.iter()
            .any(|r| r.len() > 3 && r[1] == code && r[2] == name)
    };
    for n in 0..=255u8 {
        if let Some(op) = Opcode::from_u8(n) {
            assert!(
                named(&n.to_string(), &format!("{op:?}")),
                "opcode {op:?} in §2.2"
            );
        }
    }
    for n in 0..=255u16 {
        if let Some(code) = ErrorCode::from_number(n) {
            assert!(
                named(&n.to_string(), &format!("{code:?}")),
                "error code {code:?} in §2.4"
            );
        }
    }
    let errors = [
        RequestError::Unavailable {
            needed: 0,
            alive: 0,
        },
        RequestError::Indeterminate,
        RequestError::Timeout,
        RequestError::Busy,
        RequestError::Starting,
        RequestError::TooLarge {
            what: tern_core::Oversized::Key,
            len: 0,
            max: 0,
        },
        RequestError::InvalidQuorum(tern_core::QuorumError::N { n: 0, max: 3 }),
        RequestError::TooManySiblings { count: 0, max: 0 },
        RequestError::ShuttingDown,
        RequestError::InvalidSearch(SearchError::TopK { top_k: 0, max: 0 }),
        RequestError::TooManyCandidates { max: 0 },
        RequestError::SearchOff,
        RequestError::InvalidBulk(BulkInvalid::Empty),
    ];
    for error in errors {
        let code = tern_core::codec::encode_body(&error)[0].to_string();
        let debug = format!("{error:?}");
        let name: String = debug
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let listed = rows.iter().any(|r| {
            r.len() > 3
                && r[1] == code
                && r[2].strip_prefix('`').is_some_and(|rest| {
                    rest.strip_prefix(name.as_str())
                        .is_some_and(|after| after.starts_with(['`', ' ', '(']))
                })
        });
        assert!(listed, "RequestError::{name} should be code {code} in §2.4");
    }
    // The enums inside errors, by the index the document gives them.
    let oversized = [
        (Oversized::BulkKeys, 6, "6 `BulkKeys`"),
        (Oversized::BulkKeyBytes, 7, "7 `BulkKeyBytes`"),
    ];
    for (what, number, said) in oversized {
        assert_eq!(tern_core::codec::encode_body(&what)[0], number);
        assert!(text.contains(said), "§2.4 should say {said}");
    }
    for (why, said) in [
        (BulkInvalid::Empty, "0 `Empty`"),
        (BulkInvalid::DuplicateKey, "1 `DuplicateKey`"),
    ] {
        let number = tern_core::codec::encode_body(&why)[0];
        assert!(said.starts_with(&number.to_string()), "{why:?} is {number}");
        assert!(text.contains(said), "§2.4 should say {said}");
    }
}
