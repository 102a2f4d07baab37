//! What a Redis client asks about the server: INFO, COMMAND (COUNT, LIST, INFO, DOCS), and
//! the few CONFIG GET parameters tools read at start (redis-benchmark). Answers come from the
//! node's own status (`Event::Status`); nothing here changes anything.

use super::frame::Reply;
use super::Caller;
use std::fmt::Write;
use tern_core::NodeStatus;

/// A command this listener serves: what COMMAND and COMMAND DOCS say about it.
struct Spec {
    name: &'static str,
    /// Redis arity: the argument count with the name, negative for "at least".
    arity: i64,
    flags: &'static [&'static str],
    /// First key, last key (-1: the last argument), step between keys; 0 0 0 for none.
    keys: (i64, i64, i64),
    group: &'static str,
    summary: &'static str,
    /// Arguments for redis-cli's hints: name and type.
    arguments: &'static [(&'static str, &'static str)],
}

const COMMANDS: &[Spec] = &[
    Spec {
        name: "get",
        arity: 2,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        group: "string",
        summary:
            "Returns the value of a key (of concurrent versions, the one with the greatest dot).",
        arguments: &[("key", "key")],
    },
    Spec {
        name: "set",
        arity: 3,
        flags: &["write"],
        keys: (1, 1, 1),
        group: "string",
        summary: "Replaces every version of a key a quorum read shows (options are refused).",
        arguments: &[("key", "key"), ("value", "string")],
    },
    Spec {
        name: "del",
        arity: -2,
        flags: &["write"],
        keys: (1, -1, 1),
        group: "generic",
        summary: "Deletes keys in one atomic write (at most 100); returns how many had a value.",
        arguments: &[("key", "key")],
    },
    Spec {
        name: "unlink",
        arity: -2,
        flags: &["write"],
        keys: (1, -1, 1),
        group: "generic",
        summary: "The same as DEL.",
        arguments: &[("key", "key")],
    },
    Spec {
        name: "exists",
        arity: -2,
        flags: &["readonly", "fast"],
        keys: (1, -1, 1),
        group: "generic",
        summary: "Counts the keys given that have a value.",
        arguments: &[("key", "key")],
    },
    Spec {
        name: "mget",
        arity: -2,
        flags: &["readonly", "fast"],
        keys: (1, -1, 1),
        group: "string",
        summary: "Returns the values of several keys, read-atomically (at most 100).",
        arguments: &[("key", "key")],
    },
    Spec {
        name: "mset",
        arity: -3,
        flags: &["write"],
        keys: (1, -1, 2),
        group: "string",
        summary:
            "Sets several keys in one atomic write (at most 100), replacing what a read shows.",
        arguments: &[("key", "key"), ("value", "string")],
    },
    Spec {
        name: "dbsize",
        arity: 1,
        flags: &["readonly", "fast"],
        keys: (0, 0, 0),
        group: "server",
        summary: "Keys with a value held by this node.",
        arguments: &[],
    },
    Spec {
        name: "info",
        arity: -1,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        group: "server",
        summary: "Server, clients, replication, persistence and keyspace sections.",
        arguments: &[("section", "string")],
    },
    Spec {
        name: "ping",
        arity: -1,
        flags: &["fast", "loading", "stale"],
        keys: (0, 0, 0),
        group: "connection",
        summary: "Returns PONG, or the message given.",
        arguments: &[("message", "string")],
    },
    Spec {
        name: "echo",
        arity: 2,
        flags: &["fast", "loading", "stale"],
        keys: (0, 0, 0),
        group: "connection",
        summary: "Returns the message given.",
        arguments: &[("message", "string")],
    },
    Spec {
        name: "hello",
        arity: -1,
        flags: &["fast", "loading", "stale"],
        keys: (0, 0, 0),
        group: "connection",
        summary: "Switches to RESP2 or RESP3 and describes the server.",
        arguments: &[("protover", "integer")],
    },
    Spec {
        name: "client",
        arity: -2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        group: "connection",
        summary: "CLIENT SETNAME, GETNAME, ID, SETINFO, INFO.",
        arguments: &[("subcommand", "string")],
    },
    Spec {
        name: "select",
        arity: 2,
        flags: &["fast", "loading", "stale"],
        keys: (0, 0, 0),
        group: "connection",
        summary: "Selects database 0, the only one.",
        arguments: &[("index", "integer")],
    },
    Spec {
        name: "quit",
        arity: 1,
        flags: &["fast", "loading", "stale"],
        keys: (0, 0, 0),
        group: "connection",
        summary: "Closes the connection.",
        arguments: &[],
    },
    Spec {
        name: "command",
        arity: -1,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        group: "server",
        summary: "Describes the commands: COUNT, LIST, INFO, DOCS.",
        arguments: &[],
    },
    Spec {
        name: "config",
        arity: -2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        group: "server",
        summary: "CONFIG GET of a few read-only parameters.",
        arguments: &[("subcommand", "string")],
    },
    Spec {
        name: "tern.siblings",
        arity: 2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        group: "tern",
        summary: "Returns the context and every concurrent value of a key.",
        arguments: &[("key", "key")],
    },
    Spec {
        name: "tern.set",
        arity: -3,
        flags: &["write"],
        keys: (1, 1, 1),
        group: "tern",
        summary: "Writes a value with a context from TERN.SIBLINGS (none: a blind write).",
        arguments: &[("key", "key"), ("value", "string"), ("context", "string")],
    },
    Spec {
        name: "tern.search",
        arity: -2,
        flags: &["readonly"],
        keys: (0, 0, 0),
        group: "tern",
        summary: "Keys whose value matches a boolean query, best first, with scores.",
        arguments: &[("query", "string")],
    },
    Spec {
        name: "tern.similar",
        arity: -2,
        flags: &["readonly"],
        keys: (0, 0, 0),
        group: "tern",
        summary: "The keys closest to a text by TF-IDF cosine, with scores.",
        arguments: &[("text", "string")],
    },
];

fn spec(name: &[u8]) -> Option<&'static Spec> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    COMMANDS.iter().find(|c| c.name == name)
}

fn strings(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| Reply::Simple(s.to_string())).collect())
}

/// What COMMAND and COMMAND INFO give for one command (Redis 7's ten fields).
fn info_entry(c: &Spec) -> Reply {
    Reply::Array(vec![
        Reply::text(c.name),
        Reply::Int(c.arity),
        strings(c.flags),
        Reply::Int(c.keys.0),
        Reply::Int(c.keys.1),
        Reply::Int(c.keys.2),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

fn docs_entry(c: &Spec) -> Reply {
    let arguments = c
        .arguments
        .iter()
        .map(|(name, kind)| {
            Reply::Map(vec![
                (Reply::text("name"), Reply::text(*name)),
                (Reply::text("type"), Reply::text(*kind)),
            ])
        })
        .collect();
    Reply::Map(vec![
        (Reply::text("summary"), Reply::text(c.summary)),
        (Reply::text("since"), Reply::text("1.0.0")),
        (Reply::text("group"), Reply::text(c.group)),
        (Reply::text("arguments"), Reply::Array(arguments)),
    ])
}

/// `COMMAND [COUNT | LIST | INFO name... | DOCS [name...]]`.
pub(crate) fn command(args: &[Vec<u8>]) -> Reply {
    let Some(sub) = args.first() else {
        return Reply::Array(COMMANDS.iter().map(info_entry).collect());
    };
    let rest = &args[1..];
    match String::from_utf8_lossy(sub).to_ascii_uppercase().as_str() {
        "COUNT" => Reply::Int(COMMANDS.len() as i64),
        "LIST" => Reply::Array(COMMANDS.iter().map(|c| Reply::text(c.name)).collect()),
        "INFO" => Reply::Array(
            rest.iter()
                .map(|name| spec(name).map_or(Reply::Nil, info_entry))
                .collect(),
        ),
        "DOCS" => {
            let chosen: Vec<&Spec> = if rest.is_empty() {
                COMMANDS.iter().collect()
            } else {
                rest.iter().filter_map(|name| spec(name)).collect()
            };
            Reply::Map(
                chosen
                    .into_iter()
                    .map(|c| (Reply::text(c.name), docs_entry(c)))
                    .collect(),
            )
        }
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub)
        )),
    }
}

/// `CONFIG GET parameter...`: the few parameters tools read, with what they mean here.
/// Everything else (CONFIG SET, REWRITE, ...) is refused: Tern is configured at start.
pub(crate) fn config(args: &[Vec<u8>]) -> Reply {
    const PARAMETERS: &[(&str, &str)] = &[
        // No snapshots: every write is in the log, synced before it is acknowledged.
        ("save", ""),
        ("appendonly", "yes"),
        ("appendfsync", "always"),
        ("databases", "1"),
    ];
    if !args[0].eq_ignore_ascii_case(b"GET") {
        return Reply::error(format!(
            "ERR CONFIG {} is not supported by Tern (configured at start: docs/NODE.md)",
            String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
        ));
    }
    if args.len() < 2 {
        return Reply::error("ERR wrong number of arguments for 'config|get' command");
    }
    let mut pairs = Vec::new();
    for (name, value) in PARAMETERS {
        let wanted = args[1..]
            .iter()
            .any(|a| a == b"*" || a.eq_ignore_ascii_case(name.as_bytes()));
        if wanted {
            pairs.push((Reply::text(*name), Reply::text(*value)));
        }
    }
    Reply::Map(pairs)
}

const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "replication",
    "persistence",
    "keyspace",
];

/// `INFO [section...]`: as Redis writes it, `# Section` then `field:value` lines.
pub(crate) async fn info(caller: &Caller, asked: &[String], _protocol: u8) -> Reply {
    let Some(status) = caller.status().await else {
        return Reply::error("TRYAGAIN the node has stopped; retry on another node");
    };
    let asked: Vec<String> = asked.iter().map(|s| s.to_ascii_lowercase()).collect();
    let all = asked.is_empty()
        || asked
            .iter()
            .any(|s| s == "all" || s == "everything" || s == "default");
    let mut out = String::new();
    for section in SECTIONS {
        if !all && !asked.iter().any(|s| s == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        write_section(&mut out, section, caller, &status);
    }
    Reply::Bulk(out.into_bytes())
}

fn write_section(out: &mut String, section: &str, caller: &Caller, status: &NodeStatus) {
    let listener = &caller.listener;
    let config = &listener.shared.config;
    let counter = |name: &str| {
        status
            .counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    };
    let _ = match section {
        "server" => write!(
            out,
            "# Server\r\nredis_version:7.0.0\r\ntern_version:{}\r\nredis_mode:standalone\r\n\
             tern_node_id:{}\r\ntern_incarnation:{:016x}\r\nprocess_id:{}\r\ntcp_port:{}\r\n\
             uptime_in_seconds:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            status.node.0,
            status.incarnation,
            std::process::id(),
            listener.addr.port(),
            listener.started.elapsed().as_secs(),
        ),
        "clients" => write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\n",
            listener
                .connected
                .load(std::sync::atomic::Ordering::Relaxed)
        ),
        "replication" => {
            let n = config.nodes.len().min(3);
            let quorum = n / 2 + 1;
            let up = 1 + status.peers.iter().filter(|p| p.alive).count();
            let _ = write!(
                out,
                "# Replication\r\nrole:master\r\ntern_topology:masterless (every node takes reads and writes)\r\n\
                 members:{}\r\nmembers_up:{up}\r\nreplicas_n:{n}\r\nwrite_quorum_w:{quorum}\r\nread_quorum_r:{quorum}\r\n\
                 tern_rebuilding:{}\r\nmember_{}:state=up,role=self\r\n",
                config.nodes.len(),
                u8::from(status.rebuilding.is_some()),
                status.node.0,
            );
            for peer in &status.peers {
                let state = if peer.alive { "up" } else { "down" };
                let phi = peer.phi.map_or("-".to_string(), |p| format!("{p:.2}"));
                let _ = write!(out, "member_{}:state={state},role=peer,phi={phi}\r\n", peer.node.0);
            }
            Ok(())
        }
        "persistence" => write!(
            out,
            "# Persistence\r\nloading:{}\r\naof_enabled:1\r\n\
             tern_fsync_policy:fdatasync before every acknowledgement on W replicas (group commit)\r\n\
             tern_fsyncs:{}\r\nrdb_changes_since_last_save:0\r\n",
            u8::from(!status.booted),
            counter("fsyncs"),
        ),
        "keyspace" => {
            let keys = status.keys.saturating_sub(status.tombstones_pending);
            write!(
                out,
                "# Keyspace\r\ndb0:keys={keys},expires=0,avg_ttl=0\r\ntern_tombstones:{}\r\n",
                status.tombstones_pending
            )
        }
        _ => Ok(()),
    };
}
