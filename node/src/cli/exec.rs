//! Runs one `tern` command against a cluster and returns what happened, for `output` to
//! print: the one-shot command line and the interactive prompt both come here. It reads the
//! value and checks the quorum before sending anything, and never prints.

use super::args::{Command, RequestFlags};
use super::value::{read_value, ValueSource};
use crate::client::fits_in_a_frame;
use crate::{Client, ClientError, ClientOptions, Written};
use std::collections::BTreeSet;
use tern_core::limits::{
    BULK_KEYS_MAX, BULK_KEY_BYTES_MAX, BULK_VALUE_BYTES_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX,
};
use tern_core::{
    BulkItem, Dot, NodeStatus, Object, Op, Paging, Quorum, Request, RequestError, Response, Scored,
    VectorClock,
};

/// A client and what the commands need to know about how they were started.
#[derive(Debug)]
pub struct Session {
    pub client: Client,
    pub nodes: Vec<String>,
    pub options: ClientOptions,
    /// True at the interactive prompt: standard input carries the commands, so a value
    /// cannot be read from it.
    pub interactive: bool,
}

impl Session {
    pub fn new(nodes: Vec<String>, options: ClientOptions, interactive: bool) -> Session {
        Session {
            client: Client::lazy(&nodes, options.clone()),
            nodes,
            options,
            interactive,
        }
    }
}

/// What a command did.
#[derive(Debug)]
pub enum Done {
    /// `set` or `del`: the write's outcome.
    Written { key: String, written: Written },
    /// `get`: every version read (none: the key does not exist).
    Read { key: String, object: Object },
    /// `mset` or `mdel`: the bulk write's dot (every key's new version has it), its keys in
    /// the order given, and how many of them had a value before it.
    BulkWritten {
        keys: Vec<String>,
        dot: Dot,
        existed: usize,
    },
    /// `mget`: every key asked, in order, with every version read (none: not found).
    ReadMany { reads: Vec<(String, Object)> },
    /// `search` or `similar`: one page of hits.
    Hits {
        hits: Vec<Scored>,
        total: u64,
        next: Option<Paging>,
    },
    /// `status`: each node's answer, in the order of `--nodes`.
    Status {
        answers: Vec<(String, Result<NodeStatus, ClientError>)>,
    },
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Refused here, before anything was sent (bad flags, a value over the limit, an
    /// unreadable file).
    Usage(String),
    /// The cluster's or the connection's answer.
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        Failure::Client(error)
    }
}

/// Runs `command` with `flags` (the quorum is checked first).
pub async fn execute(
    session: &Session,
    command: &Command,
    flags: RequestFlags,
) -> Result<Done, Failure> {
    let quorum = flags
        .quorum()
        .map_err(|why| Failure::Usage(format!("invalid quorum: {why}; nothing was sent")))?;
    let client = &session.client;
    match command {
        Command::Set {
            key,
            value,
            file,
            blind,
        } => {
            check_key(key)?;
            let source = ValueSource::of(value.as_deref(), file.as_deref());
            if session.interactive && source == ValueSource::Stdin {
                return Err(Failure::Usage(
                    "at the prompt, standard input carries the commands: use --file PATH for the value"
                        .into(),
                ));
            }
            let value = read_value(&source).map_err(Failure::Usage)?;
            let context = if *blind {
                VectorClock::new()
            } else {
                read(client, key, quorum).await?.clock()
            };
            let op = Op::Set {
                key: key.as_bytes().to_vec(),
                value,
                context,
            };
            let written = write(client, op, quorum).await?;
            Ok(Done::Written {
                key: key.clone(),
                written,
            })
        }
        Command::Get { key } => {
            check_key(key)?;
            let object = read(client, key, quorum).await?;
            Ok(Done::Read {
                key: key.clone(),
                object,
            })
        }
        Command::Del { key } => {
            check_key(key)?;
            let context = read(client, key, quorum).await?.clock();
            let op = Op::Delete {
                key: key.as_bytes().to_vec(),
                context,
            };
            let written = write(client, op, quorum).await?;
            Ok(Done::Written {
                key: key.clone(),
                written,
            })
        }
        Command::Mset { pairs } => {
            if pairs.len() % 2 != 0 {
                return Err(Failure::Usage(format!(
                    "mset takes KEY VALUE pairs: got {} arguments, an odd number; nothing was sent",
                    pairs.len()
                )));
            }
            let keys: Vec<String> = pairs.iter().step_by(2).cloned().collect();
            check_bulk_keys(&keys)?;
            let values: Vec<Vec<u8>> = pairs
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| v.as_bytes().to_vec())
                .collect();
            check_bulk_values(&values)?;
            bulk_replace(client, keys, values.into_iter().map(Some), quorum).await
        }
        Command::Mget { keys } => {
            check_bulk_keys(keys)?;
            let objects = bulk_read(client, keys, quorum).await?;
            Ok(Done::ReadMany {
                reads: keys.iter().cloned().zip(objects).collect(),
            })
        }
        Command::Mdel { keys } => {
            check_bulk_keys(keys)?;
            bulk_replace(client, keys.clone(), std::iter::repeat(None), quorum).await
        }
        Command::Search {
            query,
            limit,
            offset,
        } => {
            let page = Paging {
                offset: *offset,
                size: *limit,
            };
            let op = Op::Search {
                query: query.clone(),
                page,
            };
            match send(client, op, quorum).await? {
                Response::Hits { hits, total, next } => Ok(Done::Hits { hits, total, next }),
                other => Err(unexpected(client, other)),
            }
        }
        Command::Similar { text, top_k } => {
            let op = Op::Similar {
                text: text.clone(),
                top_k: *top_k,
            };
            match send(client, op, quorum).await? {
                Response::Hits { hits, .. } => {
                    let total = hits.len() as u64;
                    Ok(Done::Hits {
                        hits,
                        total,
                        next: None,
                    })
                }
                other => Err(unexpected(client, other)),
            }
        }
        Command::Status => Ok(Done::Status {
            answers: status(session).await,
        }),
    }
}

/// A key over `KEY_BYTES_MAX` is refused here, as the node would, before anything is read.
fn check_key(key: &str) -> Result<(), Failure> {
    if key.len() > KEY_BYTES_MAX {
        return Err(Failure::Usage(format!(
            "the key is {} bytes, over the limit of {KEY_BYTES_MAX} (KEY_BYTES_MAX); nothing was sent",
            key.len()
        )));
    }
    Ok(())
}

/// A bulk request's keys as the node would check them, refused here before anything is
/// read: none, more than `BULK_KEYS_MAX`, one named twice, one over `KEY_BYTES_MAX`, or over
/// `BULK_KEY_BYTES_MAX` summed.
fn check_bulk_keys(keys: &[String]) -> Result<(), Failure> {
    if keys.is_empty() {
        return Err(Failure::Usage("no key given; nothing was sent".into()));
    }
    if keys.len() > BULK_KEYS_MAX {
        return Err(Failure::Usage(format!(
            "{} keys, over the limit of {BULK_KEYS_MAX} in one bulk request (BULK_KEYS_MAX); nothing was sent",
            keys.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for key in keys {
        check_key(key)?;
        if !seen.insert(key.as_str()) {
            return Err(Failure::Usage(format!(
                "key {key:?} is named twice; a bulk request names each key once; nothing was sent"
            )));
        }
    }
    let bytes: usize = keys.iter().map(String::len).sum();
    if bytes > BULK_KEY_BYTES_MAX {
        return Err(Failure::Usage(format!(
            "the keys are {bytes} bytes summed, over the limit of {BULK_KEY_BYTES_MAX} (BULK_KEY_BYTES_MAX); nothing was sent"
        )));
    }
    Ok(())
}

/// A bulk write's values: each at most `VALUE_BYTES_MAX`, all at most `BULK_VALUE_BYTES_MAX`.
fn check_bulk_values(values: &[Vec<u8>]) -> Result<(), Failure> {
    if let Some(value) = values.iter().find(|v| v.len() > VALUE_BYTES_MAX) {
        return Err(Failure::Usage(format!(
            "a value is {} bytes, over the limit of {VALUE_BYTES_MAX} (VALUE_BYTES_MAX); nothing was sent",
            value.len()
        )));
    }
    let bytes: usize = values.iter().map(Vec::len).sum();
    if bytes > BULK_VALUE_BYTES_MAX {
        return Err(Failure::Usage(format!(
            "the values are {bytes} bytes summed, over the limit of {BULK_VALUE_BYTES_MAX} (BULK_VALUE_BYTES_MAX); nothing was sent"
        )));
    }
    Ok(())
}

/// Every key's versions, read at once from R replicas of each, read-atomically.
async fn bulk_read(
    client: &Client,
    keys: &[String],
    quorum: Quorum,
) -> Result<Vec<Object>, Failure> {
    let op = Op::BulkGet {
        keys: keys.iter().map(|k| k.as_bytes().to_vec().into()).collect(),
    };
    match send(client, op, quorum).await? {
        Response::Objects(objects) if objects.len() == keys.len() => Ok(objects),
        other => Err(unexpected(client, other)),
    }
}

/// Reads `keys` at once, then gives each its value (`None`: a tombstone) with the context
/// read, in one bulk write: every version the read showed is replaced, on every key or none.
async fn bulk_replace(
    client: &Client,
    keys: Vec<String>,
    values: impl Iterator<Item = Option<Vec<u8>>>,
    quorum: Quorum,
) -> Result<Done, Failure> {
    let mut items: Vec<BulkItem> = keys
        .iter()
        .zip(values)
        .map(|(key, value)| BulkItem {
            key: key.as_bytes().to_vec(),
            value,
            context: VectorClock::new(),
        })
        .collect();
    // Without contexts yet: a write too large even so is refused before the read.
    fits_in_a_frame(&Request::new(Op::BulkWrite {
        items: items.clone(),
    }))?;
    let objects = bulk_read(client, &keys, quorum).await?;
    let existed = objects
        .iter()
        .filter(|o| o.values().next().is_some())
        .count();
    for (item, object) in items.iter_mut().zip(&objects) {
        item.context = object.clock();
    }
    match send(client, Op::BulkWrite { items }, quorum).await? {
        Response::BulkWritten { dot } => Ok(Done::BulkWritten { keys, dot, existed }),
        other => Err(unexpected(client, other)),
    }
}

async fn send(client: &Client, op: Op, quorum: Quorum) -> Result<Response, ClientError> {
    let request = Request {
        op,
        quorum,
        timeout_ms: None,
    };
    client.request(request).await
}

/// Every version of `key`, read from R replicas.
async fn read(client: &Client, key: &str, quorum: Quorum) -> Result<Object, Failure> {
    let op = Op::Get {
        key: key.as_bytes().to_vec(),
    };
    match send(client, op, quorum).await? {
        Response::Object(object) => Ok(object),
        other => Err(unexpected(client, other)),
    }
}

async fn write(client: &Client, op: Op, quorum: Quorum) -> Result<Written, Failure> {
    match send(client, op, quorum).await? {
        Response::Written { dot, object } => Ok(Written {
            dot,
            context: object.clock(),
            object,
        }),
        other => Err(unexpected(client, other)),
    }
}

fn unexpected(client: &Client, response: Response) -> Failure {
    Failure::Client(ClientError::Protocol {
        node: client.current_node().unwrap_or_default(),
        why: format!("unexpected response {response:?}"),
    })
}

/// Asks every node at once, each alone: a status is about the node that answers.
async fn status(session: &Session) -> Vec<(String, Result<NodeStatus, ClientError>)> {
    let options = ClientOptions {
        connect_timeout_ms: session.options.connect_timeout_ms.min(1_000),
        reply_timeout_ms: session.options.reply_timeout_ms.min(3_000),
    };
    let tasks: Vec<_> = session
        .nodes
        .iter()
        .map(|node| {
            let client = Client::lazy(&[node.as_str()], options.clone());
            tokio::spawn(async move { client.status().await })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for (node, task) in session.nodes.iter().zip(tasks) {
        let answer = task.await.unwrap_or_else(|e| {
            Err(ClientError::Protocol {
                node: node.clone(),
                why: format!("the status task failed: {e}"),
            })
        });
        answers.push((node.clone(), answer));
    }
    answers
}

/// The exit status for a failure: 2 refused or failed (nothing was done), 3 unavailable
/// (nothing was done), 4 indeterminate (a write may or may not have happened).
pub fn exit_code(failure: &Failure) -> u8 {
    match failure {
        Failure::Usage(_) => 2,
        Failure::Client(error) if error.maybe_applied() => 4,
        Failure::Client(ClientError::Unavailable { .. })
        | Failure::Client(ClientError::Request(RequestError::Unavailable { .. })) => 3,
        Failure::Client(_) => 2,
    }
}
