//! The wire protocol (docs/PROTOCOL.md §2): frame header, opcodes, error codes, and reading
//! and writing whole frames. It owns the bytes on a TCP stream; it never decides anything
//! about a request.
//!
//! ```text
//! frame = magic u32 LE ("TRNW") | version u8 | opcode u8 | reserved u16 (0)
//!       | len u32 LE | request id u64 LE | body [len]
//! ```

use crate::limits::{ERROR_MESSAGE_BYTES_MAX, FRAME_COMPLETE_TIMEOUT_MS, FRAME_HEADER_BYTES};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::time::Duration;
use tern_core::codec::{decode_body, encode_body};
use tern_core::{ClientResult, DecodeError, Message, NodeId, NodeStatus, Request};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// "TRNW" read as a little-endian u32.
pub const WIRE_MAGIC: u32 = u32::from_le_bytes(*b"TRNW");
/// The only protocol version this build speaks.
pub const WIRE_VERSION: u8 = 1;

/// What a frame carries. The numbers are part of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// Client to node: a `tern_core::Request`.
    Request = 1,
    /// Node to client: the `ClientResult` of the request with the same id.
    Reply = 2,
    /// Either way: an `ErrorBody`; the request id names the request it refuses, or is 0.
    Error = 3,
    /// Peer to node, first frame of a peer connection: a `PeerHello`.
    PeerHello = 4,
    /// Peer to node: a `tern_core::Message`.
    PeerMessage = 5,
    /// Client to node: is this node up? Answered by `Pong` with the same request id.
    Ping = 6,
    /// Node to client: the answer to `Ping`, a `PongBody`.
    Pong = 7,
    /// Client to node: this node's own view of itself and the cluster. Answered by
    /// `StatusReply` with the same request id.
    Status = 8,
    /// Node to client: the answer to `Status`, a `tern_core::NodeStatus`. Readers ignore bytes
    /// after the fields they know: fields are only ever added at the end.
    StatusReply = 9,
}

impl Opcode {
    pub fn from_u8(byte: u8) -> Option<Opcode> {
        Some(match byte {
            1 => Opcode::Request,
            2 => Opcode::Reply,
            3 => Opcode::Error,
            4 => Opcode::PeerHello,
            5 => Opcode::PeerMessage,
            6 => Opcode::Ping,
            7 => Opcode::Pong,
            8 => Opcode::Status,
            9 => Opcode::StatusReply,
            _ => return None,
        })
    }
}

/// Error codes of `Error` frames. The numbers are part of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The frame did not start with the magic number; the connection is closed.
    BadMagic,
    /// The frame's version is not one this node speaks; the connection is closed.
    BadVersion,
    /// The frame's length is over the limit for this connection; the connection is closed.
    TooLarge,
    /// The opcode is unknown, or not allowed on this connection; the connection is closed.
    BadOpcode,
    /// The body does not decode as the opcode's type; the connection is closed.
    Malformed,
    /// The node is shutting down: this request was not started. Retry on another node.
    ShuttingDown,
    /// The node serves too many connections; the connection is closed.
    Busy,
    /// A `PeerHello` from a node that is not a member; the connection is closed.
    NotAMember,
    /// A frame started but did not complete in time; the connection is closed.
    Timeout,
}

impl ErrorCode {
    pub fn number(self) -> u16 {
        match self {
            ErrorCode::BadMagic => 1,
            ErrorCode::BadVersion => 2,
            ErrorCode::TooLarge => 3,
            ErrorCode::BadOpcode => 4,
            ErrorCode::Malformed => 5,
            ErrorCode::ShuttingDown => 6,
            ErrorCode::Busy => 7,
            ErrorCode::NotAMember => 8,
            ErrorCode::Timeout => 9,
        }
    }

    pub fn from_number(n: u16) -> Option<ErrorCode> {
        Some(match n {
            1 => ErrorCode::BadMagic,
            2 => ErrorCode::BadVersion,
            3 => ErrorCode::TooLarge,
            4 => ErrorCode::BadOpcode,
            5 => ErrorCode::Malformed,
            6 => ErrorCode::ShuttingDown,
            7 => ErrorCode::Busy,
            8 => ErrorCode::NotAMember,
            9 => ErrorCode::Timeout,
            _ => return None,
        })
    }
}

/// Body of an `Error` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// An `ErrorCode` number; unknown codes are reported as such, not rejected.
    pub code: u16,
    pub message: String,
}

/// Body of a `PeerHello` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerHello {
    pub from: NodeId,
}

/// Body of a `Pong` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PongBody {
    pub node: NodeId,
    /// True once the node has recovered and coordinates requests.
    pub booted: bool,
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub opcode: Opcode,
    pub len: usize,
    pub request: u64,
}

/// Why a frame could not be read. Every variant but `Io` and `Truncated` gets an error
/// reply before the connection closes.
#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    /// The stream ended inside a frame.
    Truncated,
    BadMagic(u32),
    BadVersion(u8),
    UnknownOpcode(u8),
    TooLarge {
        len: usize,
        max: usize,
    },
    /// A frame started but did not complete within `FRAME_COMPLETE_TIMEOUT_MS`.
    Timeout,
}

impl FrameError {
    /// The error code to send back, if the peer is still worth answering.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            FrameError::Io(_) | FrameError::Truncated => None,
            FrameError::BadMagic(_) => Some(ErrorCode::BadMagic),
            FrameError::BadVersion(_) => Some(ErrorCode::BadVersion),
            FrameError::UnknownOpcode(_) => Some(ErrorCode::BadOpcode),
            FrameError::TooLarge { .. } => Some(ErrorCode::TooLarge),
            FrameError::Timeout => Some(ErrorCode::Timeout),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "connection error: {e}"),
            FrameError::Truncated => write!(f, "the connection closed inside a frame"),
            FrameError::BadMagic(m) => {
                write!(
                    f,
                    "bad magic {m:#010x}; expected {WIRE_MAGIC:#010x} (\"TRNW\")"
                )
            }
            FrameError::BadVersion(v) => {
                write!(
                    f,
                    "protocol version {v} is not supported; this node speaks {WIRE_VERSION}"
                )
            }
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            FrameError::TooLarge { len, max } => {
                write!(f, "frame body of {len} bytes is over the limit of {max}")
            }
            FrameError::Timeout => write!(
                f,
                "a frame started but did not complete within {FRAME_COMPLETE_TIMEOUT_MS} ms"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Parses and checks a header; `body_max` is the limit of this connection.
pub fn parse_header(
    bytes: &[u8; FRAME_HEADER_BYTES],
    body_max: usize,
) -> Result<Header, FrameError> {
    let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != WIRE_MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    if bytes[4] != WIRE_VERSION {
        return Err(FrameError::BadVersion(bytes[4]));
    }
    let opcode = Opcode::from_u8(bytes[5]).ok_or(FrameError::UnknownOpcode(bytes[5]))?;
    let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    if len > body_max {
        return Err(FrameError::TooLarge { len, max: body_max });
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[12..20]);
    Ok(Header {
        opcode,
        len,
        request: u64::from_le_bytes(id),
    })
}

/// Appends one frame to `out`.
pub fn encode_frame(opcode: Opcode, request: u64, body: &[u8], out: &mut Vec<u8>) {
    assert!(
        body.len() < u32::MAX as usize,
        "frame body over u32: callers bound bodies"
    );
    out.reserve(FRAME_HEADER_BYTES + body.len());
    out.extend_from_slice(&WIRE_MAGIC.to_le_bytes());
    out.push(WIRE_VERSION);
    out.push(opcode as u8);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&request.to_le_bytes());
    out.extend_from_slice(body);
}

fn frame(opcode: Opcode, request: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
    encode_frame(opcode, request, body, &mut out);
    out
}

/// Encodes `body` straight after the header, without an intermediate buffer: one
/// allocation per frame on the hot paths (peer messages, requests, replies).
fn frame_of<T: Serialize + ?Sized>(opcode: Opcode, request: u64, body: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_frame(opcode, request, &[], &mut out);
    let mut out =
        postcard::to_extend(body, out).expect("postcard encodes every Tern type into a Vec");
    let len = out.len() - FRAME_HEADER_BYTES;
    assert!(
        len < u32::MAX as usize,
        "frame body over u32: callers bound bodies"
    );
    out[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    out
}

pub fn request_frame(request: u64, body: &Request) -> Vec<u8> {
    frame_of(Opcode::Request, request, body)
}

pub fn reply_frame(request: u64, result: &ClientResult) -> Vec<u8> {
    frame_of(Opcode::Reply, request, result)
}

pub fn error_frame(request: u64, code: ErrorCode, message: &str) -> Vec<u8> {
    let mut end = message.len().min(ERROR_MESSAGE_BYTES_MAX);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let body = ErrorBody {
        code: code.number(),
        message: message[..end].to_string(),
    };
    frame(Opcode::Error, request, &encode_body(&body))
}

pub fn peer_hello_frame(from: NodeId) -> Vec<u8> {
    frame(Opcode::PeerHello, 0, &encode_body(&PeerHello { from }))
}

/// A peer message frame; the body is exactly `Message::encode`.
pub fn peer_message_frame(message: &Message) -> Vec<u8> {
    frame_of(Opcode::PeerMessage, 0, message)
}

pub fn ping_frame(request: u64) -> Vec<u8> {
    frame(Opcode::Ping, request, &[])
}

pub fn pong_frame(request: u64, pong: PongBody) -> Vec<u8> {
    frame(Opcode::Pong, request, &encode_body(&pong))
}

pub fn status_frame(request: u64) -> Vec<u8> {
    frame(Opcode::Status, request, &[])
}

pub fn status_reply_frame(request: u64, status: &NodeStatus) -> Vec<u8> {
    frame_of(Opcode::StatusReply, request, status)
}

/// Decodes a `StatusReply` body: a `NodeStatus` followed by whatever fields a newer node
/// added after those this build knows, which are ignored.
pub fn decode_status(body: &[u8]) -> Result<NodeStatus, DecodeError> {
    postcard::take_from_bytes(body)
        .map(|(status, _)| status)
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Decodes a body as `T`, which must use all of it.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    decode_body(body)
}

/// Reads one whole frame. `Ok(None)` is a clean end of stream between frames. Waiting for
/// a frame to start has no deadline (idle connections are fine); once it has started, the
/// rest must arrive within `FRAME_COMPLETE_TIMEOUT_MS`. The body is allocated only after
/// its length was checked against `body_max`.
pub async fn read_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    body_max: usize,
) -> Result<Option<(Header, Vec<u8>)>, FrameError> {
    let available = reader.fill_buf().await.map_err(FrameError::Io)?;
    if available.is_empty() {
        return Ok(None);
    }
    // A frame already whole in the buffer (the usual case under load) needs no deadline:
    // no timer set and no clock read for it.
    if let Some(head) = available.first_chunk::<FRAME_HEADER_BYTES>() {
        let header = parse_header(head, body_max)?;
        if let Some(body) = available.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + header.len) {
            let body = body.to_vec();
            reader.consume(FRAME_HEADER_BYTES + header.len);
            return Ok(Some((header, body)));
        }
    }
    let deadline = Duration::from_millis(FRAME_COMPLETE_TIMEOUT_MS);
    match tokio::time::timeout(deadline, read_rest(reader, body_max)).await {
        Ok(result) => result.map(Some),
        Err(_) => Err(FrameError::Timeout),
    }
}

async fn read_rest<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    body_max: usize,
) -> Result<(Header, Vec<u8>), FrameError> {
    let mut head = [0u8; FRAME_HEADER_BYTES];
    read_exact(reader, &mut head).await?;
    let header = parse_header(&head, body_max)?;
    let mut body = vec![0u8; header.len];
    read_exact(reader, &mut body).await?;
    Ok((header, body))
}

async fn read_exact<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<(), FrameError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(FrameError::Truncated),
        Err(e) => Err(FrameError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::{Op, RequestError};

    #[test]
    fn frames_round_trip() {
        let request = Request::new(Op::Get { key: b"k".to_vec() });
        let bytes = request_frame(42, &request);
        let head: [u8; FRAME_HEADER_BYTES] = bytes[..FRAME_HEADER_BYTES].try_into().unwrap();
        let header = parse_header(&head, 1 << 20).unwrap();
        assert_eq!(header.opcode, Opcode::Request);
        assert_eq!(header.request, 42);
        assert_eq!(header.len, bytes.len() - FRAME_HEADER_BYTES);
        let decoded: Request = decode(&bytes[FRAME_HEADER_BYTES..]).unwrap();
        assert_eq!(decoded, request);
        let reply = reply_frame(7, &Err(RequestError::Busy));
        let result: ClientResult = decode(&reply[FRAME_HEADER_BYTES..]).unwrap();
        assert_eq!(result, Err(RequestError::Busy));
    }

    #[test]
    fn peer_frames_carry_exactly_the_core_encoding() {
        let message = Message::ReplicateAck {
            req: tern_core::RequestId(9),
        };
        let bytes = peer_message_frame(&message);
        assert_eq!(&bytes[FRAME_HEADER_BYTES..], message.encode().as_slice());
        let head: [u8; FRAME_HEADER_BYTES] = bytes[..FRAME_HEADER_BYTES].try_into().unwrap();
        assert_eq!(
            parse_header(&head, 1 << 20).unwrap().len,
            bytes.len() - FRAME_HEADER_BYTES
        );
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        let mut head = [0u8; FRAME_HEADER_BYTES];
        assert!(matches!(
            parse_header(&head, 10),
            Err(FrameError::BadMagic(0))
        ));
        head[..4].copy_from_slice(&WIRE_MAGIC.to_le_bytes());
        head[4] = 9;
        assert!(matches!(
            parse_header(&head, 10),
            Err(FrameError::BadVersion(9))
        ));
        head[4] = WIRE_VERSION;
        head[5] = 200;
        assert!(matches!(
            parse_header(&head, 10),
            Err(FrameError::UnknownOpcode(200))
        ));
        head[5] = Opcode::Request as u8;
        head[8..12].copy_from_slice(&11u32.to_le_bytes());
        assert!(matches!(
            parse_header(&head, 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        ));
    }

    #[test]
    fn error_codes_round_trip_and_long_messages_are_cut_on_a_char_boundary() {
        for n in 0..20 {
            if let Some(code) = ErrorCode::from_number(n) {
                assert_eq!(code.number(), n);
            }
        }
        let long = "é".repeat(ERROR_MESSAGE_BYTES_MAX);
        let bytes = error_frame(1, ErrorCode::Busy, &long);
        let body: ErrorBody = decode(&bytes[FRAME_HEADER_BYTES..]).unwrap();
        assert!(body.message.len() <= ERROR_MESSAGE_BYTES_MAX);
    }

    /// Frames already whole in the buffer are taken from it at once; a buffer smaller than
    /// a frame makes it arrive in pieces, read under the deadline. Both give the same frames.
    #[tokio::test]
    async fn frames_whole_in_the_buffer_and_in_pieces_read_alike() {
        let mut bytes = request_frame(1, &Request::new(Op::Get { key: b"k".to_vec() }));
        bytes.extend(request_frame(
            2,
            &Request::new(Op::Get { key: vec![7; 300] }),
        ));
        for capacity in [8 * 1024, 16] {
            let mut r = tokio::io::BufReader::with_capacity(capacity, &bytes[..]);
            for (request, key_len) in [(1, 1), (2, 300)] {
                let (header, body) = read_frame(&mut r, 1 << 20).await.unwrap().unwrap();
                assert_eq!((header.opcode, header.request), (Opcode::Request, request));
                let decoded: Request = decode(&body).unwrap();
                assert_eq!(decoded.op.key().len(), key_len, "buffer of {capacity}");
            }
            assert!(read_frame(&mut r, 1 << 20).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn truncated_and_garbage_streams_are_errors_not_panics() {
        let good = request_frame(1, &Request::new(Op::Get { key: b"k".to_vec() }));
        for cut in 1..good.len() {
            let mut r = &good[..cut];
            assert!(matches!(
                read_frame(&mut r, 1 << 20).await,
                Err(FrameError::Truncated)
            ));
        }
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty, 1 << 20).await.unwrap().is_none());
        let garbage = [0xffu8; 64];
        let mut r = &garbage[..];
        assert!(matches!(
            read_frame(&mut r, 1 << 20).await,
            Err(FrameError::BadMagic(_))
        ));
    }
}
