//! The commands about the connection itself: HELLO (RESP2 or RESP3) and CLIENT. They are
//! answered at once from the connection's state and never reach core.

use super::commands::{number, syntax, text, Connection};
use super::frame::Reply;
use crate::limits::REDIS_CLIENT_NAME_BYTES_MAX;

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
pub(crate) fn hello(conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let mut protocol = conn.protocol;
    if let Some(version) = args.get(1) {
        match number(version) {
            Some(v @ (2 | 3)) => protocol = v as u8,
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
        }
    }
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"AUTH") && i + 2 < args.len() {
            return Reply::error("ERR Tern has no authentication: AUTH is not supported");
        } else if args[i].eq_ignore_ascii_case(b"SETNAME") && i + 1 < args.len() {
            name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return syntax();
        }
    }
    if let Some(name) = name {
        if let Err(error) = set_name(conn, name) {
            return error;
        }
    }
    conn.protocol = protocol;
    Reply::Map(vec![
        (Reply::text("server"), Reply::text("tern")),
        (
            Reply::text("version"),
            Reply::text(env!("CARGO_PKG_VERSION")),
        ),
        (Reply::text("proto"), Reply::Int(i64::from(protocol))),
        (Reply::text("id"), Reply::Int(conn.id as i64)),
        (Reply::text("mode"), Reply::text("standalone")),
        (Reply::text("role"), Reply::text("master")),
        (Reply::text("modules"), Reply::Array(Vec::new())),
    ])
}

fn set_name(conn: &mut Connection, name: Vec<u8>) -> Result<(), Reply> {
    if name.len() > REDIS_CLIENT_NAME_BYTES_MAX || name.iter().any(|b| !(b'!'..=b'~').contains(b)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    conn.name = (!name.is_empty()).then_some(name);
    Ok(())
}

/// `CLIENT SETNAME | GETNAME | ID | SETINFO | INFO`.
pub(crate) fn client(conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let sub = text(&args[1]).to_ascii_uppercase();
    match (sub.as_str(), args.len()) {
        ("SETNAME", 3) => match set_name(conn, args[2].clone()) {
            Ok(()) => Reply::ok(),
            Err(error) => error,
        },
        ("GETNAME", 2) => conn.name.clone().map_or(Reply::Nil, Reply::Bulk),
        ("ID", 2) => Reply::Int(conn.id as i64),
        // redis-py and other libraries announce themselves; Tern takes note of nothing.
        ("SETINFO", 4) => Reply::ok(),
        ("INFO", 2) => {
            let name = conn.name.as_deref().map(text).unwrap_or_default();
            Reply::text(format!(
                "id={} name={} db=0 resp={}\n",
                conn.id, name, conn.protocol
            ))
        }
        ("SETNAME" | "GETNAME" | "ID" | "SETINFO" | "INFO", _) => Reply::error(format!(
            "ERR wrong number of arguments for 'client|{}' command",
            sub.to_ascii_lowercase()
        )),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            text(&args[1])
        )),
    }
}
