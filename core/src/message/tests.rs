//! Codec tests of client and peer messages.

use super::*;
use crate::version::{ActorId, Sibling};
use proptest::prelude::*;

fn object_message(
    replicate: bool,
    req: u128,
    key: Vec<u8>,
    values: Vec<(u64, Option<Vec<u8>>)>,
) -> Message {
    let siblings = values.into_iter().map(|(seq, value)| Sibling {
        bulk: None,
        dot: Dot {
            actor: ActorId {
                node: crate::NodeId(seq as u32 % 7),
                incarnation: seq.rotate_left(17),
            },
            seq,
        },
        context: VectorClock::from(vec![(
            ActorId {
                node: crate::NodeId(1),
                incarnation: seq >> 3,
            },
            seq / 2,
        )]),
        value,
    });
    let object = Object::from_siblings(siblings.collect());
    let req = RequestId(req);
    if replicate {
        Message::Replicate { req, key, object }
    } else {
        Message::ReadReply { req, object }
    }
}

proptest! {
    /// The messages written and read by hand are serde's bytes and values, on valid and
    /// on damaged input.
    #[test]
    fn object_messages_match_serde(
        replicate in any::<bool>(),
        req in any::<u128>(),
        key in proptest::collection::vec(any::<u8>(), 0..40),
        values in proptest::collection::vec(
            (any::<u64>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100))),
            0..4,
        ),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let message = object_message(replicate, req, key, values);
        let mut bytes = message.encode();
        prop_assert_eq!(&bytes, &encode_body(&message));
        prop_assert_eq!(Message::decode(&bytes).unwrap(), message);
        for (at, b) in flips {
            let at = at % bytes.len();
            bytes[at] = b;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % bytes.len());
        }
        prop_assert_eq!(Message::decode(&bytes), decode_body::<Message>(&bytes));
    }
}

#[test]
fn messages_round_trip() {
    let m = Message::Forward {
        req: RequestId(7),
        request: Request::new(Op::Set {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            context: VectorClock::new(),
        }),
    };
    assert_eq!(Message::decode(&m.encode()).unwrap(), m);
    let r = Message::ForwardReply {
        req: RequestId(7),
        result: Err(RequestError::Indeterminate),
    };
    assert_eq!(Message::decode(&r.encode()).unwrap(), r);
    let g = Message::Gossip {
        view: vec![Heartbeat {
            node: NodeId(2),
            generation: 1_764_000_000_000_000,
            beat: 42,
        }],
        reply: true,
    };
    assert_eq!(Message::decode(&g.encode()).unwrap(), g);
}

#[test]
fn search_messages_and_results_round_trip() {
    let messages = [
        Message::Gather {
            req: RequestId(3),
            partitions: vec![0, 5, 63],
            stats_for: vec![5],
            terms: vec!["python".into(), "program".into()],
            vectors: true,
        },
        Message::Gathered {
            req: RequestId(3),
            complete: true,
            objects: vec![KeyObject {
                key: b"doc1".to_vec(),
                object: Object::new(),
            }],
            stats: vec![PartitionStats {
                partition: 5,
                docs: 2,
                tokens: 11,
                df: vec![("program".into(), 2)],
            }],
        },
        Message::Fetch {
            req: RequestId(3),
            keys: vec![serde_bytes::ByteBuf::from(b"doc2".to_vec())],
            stats_for: vec![5],
            terms: vec!["languag".to_string()],
        },
        Message::Fetched {
            req: RequestId(3),
            complete: false,
            objects: Vec::new(),
            stats: Vec::new(),
        },
        Message::ForwardReply {
            req: RequestId(4),
            result: Ok(Response::Hits {
                hits: vec![Scored {
                    key: b"doc1".to_vec(),
                    score: 0.909285,
                }],
                total: 1,
                next: Some(Paging::first(10)),
            }),
        },
        Message::ForwardReply {
            req: RequestId(5),
            result: Err(RequestError::InvalidSearch(SearchError::Query(
                crate::search::QueryError::Unclosed { at: 7 },
            ))),
        },
    ];
    for m in messages {
        assert_eq!(Message::decode(&m.encode()).unwrap(), m);
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Message::decode(&bytes);
    }
}
