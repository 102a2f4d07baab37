//! RESP framing: commands in (arrays of bulk strings, or inline lines as typed into telnet)
//! and replies out, in RESP2 or RESP3.
//!
//! It owns the bytes of a Redis connection and never looks at what a command means. Every
//! length is checked against its limit (limits.rs, `REDIS_*`) before anything is allocated
//! for it; bad input is a `ProtocolError`, never a panic.

use crate::limits::{
    REDIS_ARGS_MAX, REDIS_BULK_BYTES_MAX, REDIS_COMMAND_BYTES_MAX, REDIS_INLINE_BYTES_MAX,
};
use std::fmt;

/// Input that cannot be framed: the connection gets `-ERR Protocol error: ...` and closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Protocol error: {}", self.0)
    }
}

/// What the front of a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command (possibly empty: a blank line or `*0`) and the bytes it used.
    Command { args: Vec<Vec<u8>>, used: usize },
    /// Not a whole command yet: at least `need` bytes must be buffered before it can be.
    Incomplete { need: usize },
}

fn error(what: impl Into<String>) -> ProtocolError {
    ProtocolError(what.into())
}

/// Finds the end of the line starting at `from`: the index of its `\r` (or of its `\n` if
/// `bare_newline`). `None` if the line is not complete yet; an error if it is over
/// `REDIS_INLINE_BYTES_MAX` already.
fn line_end(buf: &[u8], from: usize, what: &str) -> Result<Option<usize>, ProtocolError> {
    let window = &buf[from..buf.len().min(from + REDIS_INLINE_BYTES_MAX)];
    match window.iter().position(|b| *b == b'\n') {
        Some(i) => Ok(Some(from + i)),
        None if window.len() >= REDIS_INLINE_BYTES_MAX => Err(error(format!("too big {what}"))),
        None => Ok(None),
    }
}

/// Parses a decimal integer as Redis does (an optional `-`, then digits, nothing else).
fn number(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.starts_with('+') {
        return None;
    }
    text.parse().ok()
}

/// Parses commands from the front of a buffer. It remembers the arguments of an array
/// command that has not fully arrived, so that a large command is scanned once, not once per
/// read. Positions are relative to the start of the command: the caller may move the
/// unparsed bytes to the front of its buffer between calls, but must pass the same command
/// again until it is whole.
#[derive(Debug, Default)]
pub struct Parser {
    /// Arguments of the partial array command so far.
    args: Vec<Vec<u8>>,
    /// Its argument count, once its header was read.
    count: Option<usize>,
    /// Where its next argument starts.
    at: usize,
}

impl Parser {
    /// Parses the command at the front of `buf`.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let parsed = match buf.first() {
            None => Ok(Parsed::Incomplete { need: 1 }),
            Some(b'*') => self.parse_array(buf),
            Some(_) => parse_inline(buf),
        };
        if !matches!(parsed, Ok(Parsed::Incomplete { .. })) {
            *self = Parser::default();
        }
        parsed
    }

    fn parse_array(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let count = match self.count {
            Some(count) => count,
            None => {
                let Some(end) = line_end(buf, 0, "mbulk count string")? else {
                    return Ok(Parsed::Incomplete {
                        need: buf.len() + 1,
                    });
                };
                let header = buf[1..end].strip_suffix(b"\r").unwrap_or(&buf[1..end]);
                let count = number(header).ok_or_else(|| error("invalid multibulk length"))?;
                if count <= 0 {
                    return Ok(Parsed::Command {
                        args: Vec::new(),
                        used: end + 1,
                    });
                }
                let count =
                    usize::try_from(count).map_err(|_| error("invalid multibulk length"))?;
                if count > REDIS_ARGS_MAX {
                    return Err(error(format!(
                        "invalid multibulk length: {count} arguments is over the limit of {REDIS_ARGS_MAX}"
                    )));
                }
                // Never trust the count for an allocation: grow as arguments arrive.
                self.args = Vec::with_capacity(count.min(64));
                self.count = Some(count);
                self.at = end + 1;
                count
            }
        };
        while self.args.len() < count {
            let at = self.at;
            match buf.get(at) {
                None => return Ok(Parsed::Incomplete { need: at + 1 }),
                Some(b'$') => {}
                Some(other) => {
                    return Err(error(format!(
                        "expected '$', got '{}'",
                        char::from(*other).escape_default()
                    )))
                }
            }
            let Some(end) = line_end(buf, at, "bulk count string")? else {
                return Ok(Parsed::Incomplete {
                    need: buf.len() + 1,
                });
            };
            let header = buf[at + 1..end]
                .strip_suffix(b"\r")
                .unwrap_or(&buf[at + 1..end]);
            let len = number(header)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| error("invalid bulk length"))?;
            if len > REDIS_BULK_BYTES_MAX {
                return Err(error(format!(
                    "invalid bulk length: {len} bytes is over the limit of {REDIS_BULK_BYTES_MAX}"
                )));
            }
            let start = end + 1;
            let stop = start + len;
            if stop + 2 > REDIS_COMMAND_BYTES_MAX {
                return Err(error(format!(
                    "command over the limit of {REDIS_COMMAND_BYTES_MAX} bytes"
                )));
            }
            if buf.len() < stop + 2 {
                return Ok(Parsed::Incomplete { need: stop + 2 });
            }
            if &buf[stop..stop + 2] != b"\r\n" {
                return Err(error("bulk string not followed by CRLF"));
            }
            self.args.push(buf[start..stop].to_vec());
            self.at = stop + 2;
        }
        Ok(Parsed::Command {
            args: std::mem::take(&mut self.args),
            used: self.at,
        })
    }
}

fn parse_inline(buf: &[u8]) -> Result<Parsed, ProtocolError> {
    let Some(end) = line_end(buf, 0, "inline request")? else {
        return Ok(Parsed::Incomplete {
            need: buf.len() + 1,
        });
    };
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let args = split_inline(line)?;
    if args.len() > REDIS_ARGS_MAX {
        return Err(error("too many arguments in inline request"));
    }
    Ok(Parsed::Command {
        args,
        used: end + 1,
    })
}

/// Splits an inline command into arguments as redis-cli and Redis do: words separated by
/// spaces; `"..."` with `\"`, `\\`, `\n`, `\r`, `\t`, `\xHH` escapes; `'...'` with `\'`.
fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut arg = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    let Some(&b) = line.get(i) else {
                        return Err(error("unbalanced quotes in request"));
                    };
                    i += 1;
                    match b {
                        b'"' => break,
                        b'\\' => {
                            let Some(&e) = line.get(i) else {
                                return Err(error("unbalanced quotes in request"));
                            };
                            i += 1;
                            match e {
                                b'n' => arg.push(b'\n'),
                                b'r' => arg.push(b'\r'),
                                b't' => arg.push(b'\t'),
                                b'x' => match line.get(i..i + 2).and_then(hex_byte) {
                                    Some(byte) => {
                                        arg.push(byte);
                                        i += 2;
                                    }
                                    None => arg.push(b'x'),
                                },
                                other => arg.push(other),
                            }
                        }
                        other => arg.push(other),
                    }
                }
                if line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                    return Err(error("unbalanced quotes in request"));
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    let Some(&b) = line.get(i) else {
                        return Err(error("unbalanced quotes in request"));
                    };
                    i += 1;
                    match b {
                        b'\'' => break,
                        b'\\' if line.get(i) == Some(&b'\'') => {
                            arg.push(b'\'');
                            i += 1;
                        }
                        other => arg.push(other),
                    }
                }
                if line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                    return Err(error("unbalanced quotes in request"));
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
    Ok(args)
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(two).ok()?;
    u8::from_str_radix(text, 16).ok()
}

/// A reply, encoded for the protocol version the connection speaks when it is written.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`: a status line (no CR or LF inside).
    Simple(String),
    /// `-PREFIX message`: the first word is the error's kind (ERR, TRYAGAIN, ...).
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2 `$-1`, RESP3 `_`.
    Nil,
    Array(Vec<Reply>),
    /// RESP3 `%` map; a flat array of key, value, key, value in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `,` double; a bulk string in RESP2.
    Double(f64),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_string())
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply::Error(message.into())
    }

    pub fn text(text: impl Into<String>) -> Reply {
        Reply::Bulk(text.into().into_bytes())
    }

    /// Appends this reply to `out` in RESP `protocol` (2 or 3).
    pub fn encode(&self, protocol: u8, out: &mut Vec<u8>) {
        let resp3 = protocol >= 3;
        match self {
            Reply::Simple(text) => {
                out.push(b'+');
                push_line(out, text.as_bytes());
            }
            Reply::Error(text) => {
                out.push(b'-');
                push_line(out, text.as_bytes());
            }
            Reply::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(bytes) => {
                out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    item.encode(protocol, out);
                }
            }
            Reply::Map(pairs) => {
                let header = if resp3 {
                    format!("%{}\r\n", pairs.len())
                } else {
                    format!("*{}\r\n", 2 * pairs.len())
                };
                out.extend_from_slice(header.as_bytes());
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
            Reply::Double(x) if resp3 => out.extend_from_slice(format!(",{x}\r\n").as_bytes()),
            Reply::Double(x) => Reply::text(format!("{x}")).encode(protocol, out),
        }
    }
}

/// A status or error line: CR and LF would end it early, so they become spaces.
fn push_line(out: &mut Vec<u8>, text: &[u8]) {
    out.extend(
        text.iter()
            .map(|b| if *b == b'\r' || *b == b'\n' { b' ' } else { *b }),
    );
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
