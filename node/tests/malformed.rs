//! Malformed, oversized, truncated and garbage frames get an error frame and a closed
//! connection, never a panic or a hung node: after every case the node still serves.

mod common;

use common::Cluster;
use std::time::Duration;
use tern_core::NodeId;
use tern_node::limits::{FRAME_HEADER_BYTES, REQUEST_BODY_BYTES_MAX};
use tern_node::wire::{self, ErrorBody, ErrorCode, Opcode, WIRE_MAGIC, WIRE_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn header(opcode: u8, len: u32, request: u64) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&WIRE_MAGIC.to_le_bytes());
    h.push(WIRE_VERSION);
    h.push(opcode);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(&request.to_le_bytes());
    h
}

/// Sends `bytes`, then reads until the node closes the connection (bounded).
async fn exchange(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    // Half-close: a truncated frame then ends at once instead of at the frame deadline.
    let _ = stream.shutdown().await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the node did not close the connection after {bytes:02x?}"
    );
    got
}

fn error_code(reply: &[u8]) -> Option<ErrorCode> {
    if reply.len() < FRAME_HEADER_BYTES || reply[5] != Opcode::Error as u8 {
        return None;
    }
    let body: ErrorBody = wire::decode(&reply[FRAME_HEADER_BYTES..]).ok()?;
    ErrorCode::from_number(body.code)
}

async fn assert_serving(cluster: &Cluster) {
    let client = tern_node::Client::connect(&[cluster.addr(0)])
        .await
        .unwrap();
    client.put(b"still", b"serving").await.unwrap();
    let object = client.get(b"still").await.unwrap();
    assert_eq!(
        object.values().collect::<Vec<_>>(),
        vec![b"serving".as_slice()]
    );
}

#[tokio::test]
async fn bad_frames_get_an_error_and_a_closed_connection_and_the_node_keeps_serving() {
    let cluster = Cluster::start(3, "malformed").await;
    let addr = cluster.addr(0);

    // A frame that starts and stalls: the node must not wait for it forever.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(&header(Opcode::Request as u8, 10, 1)[..7])
        .await
        .unwrap();

    let cases: Vec<(&str, Vec<u8>, Option<ErrorCode>)> = vec![
        (
            "garbage",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Some(ErrorCode::BadMagic),
        ),
        (
            "bad version",
            {
                let mut h = header(Opcode::Request as u8, 0, 1);
                h[4] = 99;
                h
            },
            Some(ErrorCode::BadVersion),
        ),
        (
            "unknown opcode",
            header(200, 0, 1),
            Some(ErrorCode::BadOpcode),
        ),
        (
            "length over the limit",
            header(Opcode::Request as u8, u32::MAX, 1),
            Some(ErrorCode::TooLarge),
        ),
        (
            "length just over the request limit",
            header(Opcode::Request as u8, REQUEST_BODY_BYTES_MAX as u32 + 1, 1),
            Some(ErrorCode::TooLarge),
        ),
        (
            "undecodable request body",
            {
                let mut f = header(Opcode::Request as u8, 3, 1);
                f.extend_from_slice(&[0xff, 0xff, 0xff]);
                f
            },
            Some(ErrorCode::Malformed),
        ),
        (
            "a reply sent to a node",
            header(Opcode::Reply as u8, 0, 1),
            Some(ErrorCode::BadOpcode),
        ),
        (
            "hello from a stranger",
            wire::peer_hello_frame(NodeId(77)),
            Some(ErrorCode::NotAMember),
        ),
        (
            "hello from itself",
            wire::peer_hello_frame(NodeId(1)),
            Some(ErrorCode::NotAMember),
        ),
        (
            "undecodable peer message",
            {
                let mut f = wire::peer_hello_frame(NodeId(2));
                f.extend_from_slice(&header(Opcode::PeerMessage as u8, 2, 0));
                f.extend_from_slice(&[0xee, 0xee]);
                f
            },
            Some(ErrorCode::Malformed),
        ),
        (
            "truncated header",
            header(Opcode::Request as u8, 5, 1)[..11].to_vec(),
            None,
        ),
        (
            "truncated body",
            {
                let mut f = header(Opcode::Request as u8, 50, 1);
                f.extend_from_slice(&[0; 10]);
                f
            },
            None,
        ),
        (
            "a good request, then garbage",
            {
                let mut f = wire::request_frame(
                    5,
                    &tern_core::Request::new(tern_core::Op::Get { key: b"k".to_vec() }),
                );
                f.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
                f
            },
            None,
        ),
    ];
    for (name, bytes, expected) in cases {
        let reply = exchange(&addr, &bytes).await;
        if let Some(code) = expected {
            assert_eq!(
                error_code(&reply),
                Some(code),
                "case {name:?}: reply {reply:02x?}"
            );
        }
        assert_serving(&cluster).await;
    }

    // Random bytes, on many connections at once.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut tasks = Vec::new();
    for round in 0..100 {
        let mut bytes = Vec::new();
        let len = (seed % 300) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        if round % 2 == 0 && bytes.len() > 6 {
            // Half of them start like a real frame, to reach the body decoders.
            bytes[..4].copy_from_slice(&WIRE_MAGIC.to_le_bytes());
            bytes[4] = WIRE_VERSION;
            bytes[5] = (round % 8) as u8;
        }
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(&addr).await.unwrap();
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
            let mut sink = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut sink)).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_serving(&cluster).await;

    // The stalled frame is cut off with a Timeout error once its time is up.
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stalled.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "a stalled frame kept its connection open");
    assert_eq!(error_code(&got), Some(ErrorCode::Timeout));
    assert_serving(&cluster).await;
    cluster.shutdown().await;
}
