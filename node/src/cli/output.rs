//! How `tern` shows what a command did: lines for people, or with `--json` exactly one JSON
//! document per command for scripts, errors included. Returns the exit status; owns no
//! connection.
//!
//! JSON: every document has `"ok"` and `"command"`. A value is `{"value": TEXT,
//! "encoding": "utf8"}` when its bytes are UTF-8, else `{"value": BASE64, "encoding":
//! "base64"}` (standard alphabet, padded). A dot or a context entry is `{"node": ID,
//! "incarnation": HEX, "seq": N}` (the incarnation is a 64-bit random id, in hex so that no
//! JSON reader rounds it). An error is `{"ok": false, "command": .., "error": {"kind": ..,
//! "message": .., "maybe_applied": ..}, "exit": CODE}`. `mget` gives `"keys"`: one entry
//! per key asked, in order, each shaped like a `get`'s document; `mset` and `mdel` give the
//! bulk write's `"dot"`, its `"keys"` and how many of them `"existed"` (had a value) before.

use super::exec::{exit_code, Done, Failure};
use crate::ClientError;
use base64::Engine as _;
use serde_json::{json, Value};
use std::io::Write;
use tern_core::{ActorId, Dot, Object, RequestError, VectorClock};

/// Prints `result` of the command named `command` (`query`: a search's, for the caret
/// under a malformed query) and returns the exit status.
pub fn print(command: &str, query: Option<&str>, result: &Result<Done, Failure>, json: bool) -> u8 {
    let code = match result {
        Ok(done) => done_code(done),
        Err(failure) => exit_code(failure),
    };
    if json {
        let doc = match result {
            Ok(done) => done_json(command, done),
            Err(failure) => failure_json(command, query, failure, code),
        };
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, &doc);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
        return code;
    }
    match result {
        Ok(done) => print_text(done),
        Err(failure) => {
            eprintln!("tern: {}", message(failure));
            if let (Some(query), Some(at)) = (query, query_error_at(failure)) {
                let column = query.get(..at).map_or(at, |before| before.chars().count());
                eprintln!("  {query}");
                eprintln!("  {}^", " ".repeat(column));
            }
        }
    }
    code
}

/// A usage error found before a command could run (a line that does not parse), as text on
/// stderr or as a JSON document; returns the exit status, 2.
pub fn print_usage_error(message: &str, json: bool) -> u8 {
    print(
        "",
        None,
        &Err(Failure::Usage(message.trim_end().to_string())),
        json,
    )
}

/// A command line clap refused: its own text on stderr (what is wrong, the usage, where to
/// find help), or with `json` a JSON document with the first line of it; returns 2.
pub fn print_parse_error(error: &clap::Error, json: bool) -> u8 {
    if !json {
        eprint!("{error}");
        return 2;
    }
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    print_usage_error(first.strip_prefix("error: ").unwrap_or(first), true)
}

/// 0, but 1 for a `get` that found nothing (an `mget` that found nothing for some key) and 3 for a `status` some node did not answer.
fn done_code(done: &Done) -> u8 {
    match done {
        Done::Read { object, .. } if object.values().next().is_none() => 1,
        Done::ReadMany { reads } if reads.iter().any(|(_, o)| o.values().next().is_none()) => 1,
        Done::Status { answers } if answers.iter().any(|(_, a)| a.is_err()) => 3,
        _ => 0,
    }
}

fn message(failure: &Failure) -> String {
    match failure {
        Failure::Usage(why) => why.clone(),
        Failure::Client(error) => error.to_string(),
    }
}

/// Writes `text` to standard output. A reader that went away (`tern status | head`) is not
/// an error worth a panic: what it did not read is simply not written.
fn out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn print_text(done: &Done) {
    match done {
        Done::Written { .. } => out("OK\n"),
        Done::Read { key, object } => {
            let values: Vec<&[u8]> = object.values().collect();
            if values.is_empty() {
                eprintln!("tern: {key:?} not found");
                return;
            }
            if values.len() > 1 {
                eprintln!(
                    "tern: {} concurrent versions (siblings); `tern set` replaces them all",
                    values.len()
                );
            }
            let mut out = std::io::stdout().lock();
            for value in values {
                let _ = out.write_all(value);
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
        }
        Done::BulkWritten { .. } => out("OK\n"),
        Done::ReadMany { reads } => {
            let mut printed = Vec::new();
            for (key, object) in reads {
                let values: Vec<&[u8]> = object.values().collect();
                if values.is_empty() {
                    eprintln!("tern: {key:?} not found");
                }
                if values.len() > 1 {
                    eprintln!(
                        "tern: {key:?} has {} concurrent versions (siblings); `tern mset` replaces them all",
                        values.len()
                    );
                }
                for value in values {
                    printed.extend_from_slice(key.as_bytes());
                    printed.push(b'\t');
                    printed.extend_from_slice(value);
                    printed.push(b'\n');
                }
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&printed);
            let _ = out.flush();
        }
        Done::Hits { hits, total, next } => {
            for hit in hits {
                out(&format!("{}\t{:.6}\n", key_text(&hit.key), hit.score));
            }
            if hits.is_empty() {
                eprintln!("tern: no match");
            }
            if let Some(next) = next {
                eprintln!(
                    "tern: {total} matches; next page: --offset {} --limit {}",
                    next.offset, next.size
                );
            }
        }
        Done::Status { answers } => {
            for (node, answer) in answers {
                out(&crate::status::render(node, answer));
            }
        }
    }
}

fn done_json(command: &str, done: &Done) -> Value {
    match done {
        Done::Written { key, written } => json!({
            "ok": true,
            "command": command,
            "key": key,
            "dot": dot_json(written.dot),
            "versions": written.object.values().count(),
            "context": context_json(&written.context),
        }),
        Done::Read { key, object } => json!({
            "ok": true,
            "command": command,
            "key": key,
            "found": object.values().next().is_some(),
            "values": values_json(object),
            "context": context_json(&object.clock()),
        }),
        Done::BulkWritten { keys, dot, existed } => json!({
            "ok": true,
            "command": command,
            "keys": keys,
            "dot": dot_json(*dot),
            "existed": existed,
        }),
        Done::ReadMany { reads } => json!({
            "ok": true,
            "command": command,
            "found": reads.iter().filter(|(_, o)| o.values().next().is_some()).count(),
            "keys": reads
                .iter()
                .map(|(key, object)| json!({
                    "key": key,
                    "found": object.values().next().is_some(),
                    "values": values_json(object),
                    "context": context_json(&object.clock()),
                }))
                .collect::<Vec<_>>(),
        }),
        Done::Hits { hits, total, next } => json!({
            "ok": true,
            "command": command,
            "hits": hits
                .iter()
                .map(|h| json!({"key": key_text(&h.key), "score": h.score}))
                .collect::<Vec<_>>(),
            "total": total,
            "next": next.map(|p| json!({"offset": p.offset, "size": p.size})),
        }),
        Done::Status { answers } => json!({
            "ok": answers.iter().all(|(_, a)| a.is_ok()),
            "command": command,
            "nodes": answers
                .iter()
                .map(|(node, answer)| match answer {
                    Ok(status) => json!({
                        "node": node,
                        "reachable": true,
                        "status": serde_json::to_value(status)
                            .unwrap_or_else(|e| json!({"unserializable": e.to_string()})),
                    }),
                    Err(error) => json!({
                        "node": node,
                        "reachable": false,
                        "error": error.to_string(),
                    }),
                })
                .collect::<Vec<_>>(),
        }),
    }
}

fn failure_json(command: &str, query: Option<&str>, failure: &Failure, code: u8) -> Value {
    let maybe_applied = matches!(failure, Failure::Client(e) if e.maybe_applied());
    let mut error = json!({
        "kind": error_kind(failure),
        "message": message(failure),
        "maybe_applied": maybe_applied,
    });
    if let (Some(query), Some(at)) = (query, query_error_at(failure)) {
        error["query"] = json!(query);
        error["at"] = json!(at);
    }
    let command = if command.is_empty() {
        Value::Null
    } else {
        json!(command)
    };
    json!({"ok": false, "command": command, "error": error, "exit": code})
}

/// A short name a script can match on.
fn error_kind(failure: &Failure) -> &'static str {
    let error = match failure {
        Failure::Usage(_) => return "usage",
        Failure::Client(error) => error,
    };
    match error {
        ClientError::Unavailable { .. } => "unavailable",
        ClientError::Indeterminate { .. } => "indeterminate",
        ClientError::Protocol { .. } => "protocol",
        ClientError::Timeout { .. } => "timeout",
        ClientError::TooLarge { .. } => "too_large",
        ClientError::Request(e) => match e {
            RequestError::Unavailable { .. } => "unavailable",
            RequestError::Indeterminate => "indeterminate",
            RequestError::Timeout => "timeout",
            RequestError::Busy => "busy",
            RequestError::Starting => "starting",
            RequestError::TooLarge { .. } => "too_large",
            RequestError::InvalidQuorum(_) => "invalid_quorum",
            RequestError::TooManySiblings { .. } => "too_many_siblings",
            RequestError::ShuttingDown => "shutting_down",
            RequestError::InvalidSearch(_) => "invalid_search",
            RequestError::TooManyCandidates { .. } => "too_many_candidates",
            RequestError::SearchOff => "search_off",
            RequestError::InvalidBulk(_) => "invalid_bulk",
        },
    }
}

/// The byte of a malformed query that a search error names.
fn query_error_at(failure: &Failure) -> Option<usize> {
    use tern_core::search::QueryError;
    let Failure::Client(ClientError::Request(RequestError::InvalidSearch(
        tern_core::SearchError::Query(why),
    ))) = failure
    else {
        return None;
    };
    match why {
        QueryError::Phrase { at }
        | QueryError::ExpectedTerm { at, .. }
        | QueryError::UnmatchedClose { at }
        | QueryError::Unclosed { at }
        | QueryError::TooManyTerms { at, .. }
        | QueryError::TooDeep { at, .. } => Some(*at),
        _ => None,
    }
}

/// A value: its text if it is UTF-8, else its bytes in base64.
pub fn value_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!({"value": text, "encoding": "utf8"}),
        Err(_) => json!({
            "value": base64::engine::general_purpose::STANDARD.encode(bytes),
            "encoding": "base64",
        }),
    }
}

/// Every live version with its dot, in the object's order.
fn values_json(object: &Object) -> Vec<Value> {
    object
        .siblings()
        .iter()
        .filter_map(|s| {
            let mut value = value_json(s.value.as_deref()?);
            value["dot"] = dot_json(s.dot);
            Some(value)
        })
        .collect()
}

fn actor_json(actor: ActorId, seq: u64) -> Value {
    json!({
        "node": actor.node.0,
        "incarnation": format!("{:016x}", actor.incarnation),
        "seq": seq,
    })
}

fn dot_json(dot: Dot) -> Value {
    actor_json(dot.actor, dot.seq)
}

fn context_json(clock: &VectorClock) -> Vec<Value> {
    clock.iter().map(|(a, seq)| actor_json(a, seq)).collect()
}

/// A key as text: itself if it is UTF-8, else its bytes in hex.
fn key_text(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => text.to_string(),
        Err(_) => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_text_when_utf8_and_base64_otherwise() {
        assert_eq!(
            value_json("héllo\n".as_bytes()),
            json!({"value": "héllo\n", "encoding": "utf8"})
        );
        assert_eq!(
            value_json(&[0xff, 0x00, 0x41]),
            json!({"value": "/wBB", "encoding": "base64"})
        );
    }

    #[test]
    fn failures_carry_a_kind_and_the_exit_status() {
        let failure = Failure::Client(ClientError::Request(RequestError::Indeterminate));
        let doc = failure_json("set", None, &failure, exit_code(&failure));
        assert_eq!(doc["ok"], json!(false));
        assert_eq!(doc["error"]["kind"], json!("indeterminate"));
        assert_eq!(doc["error"]["maybe_applied"], json!(true));
        assert_eq!(doc["exit"], json!(4));
        let failure = Failure::Usage("bad".into());
        assert_eq!(
            failure_json("get", None, &failure, 2)["error"]["kind"],
            json!("usage")
        );
    }
}
