//! The Redis listener spoken to raw, byte by byte: commands and replies in RESP2 and RESP3,
//! pipelines, siblings, malformed input and unknown commands, on a three-node cluster on
//! loopback (free ports, bounded waits; every node is stopped at the end).

mod common;

use common::Cluster;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// A reply as read off the wire (RESP2 and RESP3 types the listener sends).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Double(f64),
}

impl Value {
    fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    fn error(&self) -> &str {
        match self {
            Value::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

fn read_value<'a, R: AsyncBufRead + Unpin + Send>(
    r: &'a mut R,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Value>> + Send + 'a>> {
    Box::pin(async move {
        let mut line = String::new();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1);
        Some(match kind {
            "+" => Value::Simple(rest.into()),
            "-" => Value::Error(rest.into()),
            ":" => Value::Int(rest.parse().unwrap()),
            "_" => Value::Nil,
            "," => Value::Double(rest.parse().unwrap()),
            "$" if rest == "-1" => Value::Nil,
            "$" => {
                let mut bytes = vec![0; rest.parse::<usize>().unwrap() + 2];
                r.read_exact(&mut bytes).await.ok()?;
                bytes.truncate(bytes.len() - 2);
                Value::Bulk(bytes)
            }
            "*" => {
                let mut items = Vec::new();
                for _ in 0..rest.parse::<usize>().unwrap() {
                    items.push(read_value(r).await?);
                }
                Value::Array(items)
            }
            "%" => {
                let mut pairs = Vec::new();
                for _ in 0..rest.parse::<usize>().unwrap() {
                    let key = read_value(r).await?;
                    pairs.push((key, read_value(r).await?));
                }
                Value::Map(pairs)
            }
            other => panic!("unknown reply type {other:?} in {line:?}"),
        })
    })
}

struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn open(addr: &str) -> Conn {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let (read, writer) = stream.into_split();
        Conn {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("send");
    }

    async fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.send_raw(&out).await;
    }

    /// The next reply, or None once the connection closed.
    async fn next(&mut self) -> Option<Value> {
        tokio::time::timeout(WAIT, read_value(&mut self.reader))
            .await
            .expect("a reply in time")
    }

    async fn call(&mut self, args: &[&str]) -> Value {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&args).await;
        self.next().await.expect("a reply, not a closed connection")
    }
}

/// A cluster of three with a Redis listener on each node (port 0: a free port).
async fn cluster(name: &str) -> (Cluster, Vec<String>) {
    let cluster = Cluster::start(3, name).await;
    let mut ports = Vec::new();
    for node in cluster.nodes.iter().flatten() {
        let addr = node
            .listen_redis("127.0.0.1:0".parse().unwrap())
            .await
            .expect("Redis listener");
        ports.push(addr.to_string());
    }
    (cluster, ports)
}

fn ok() -> Value {
    Value::Simple("OK".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_pipelines_and_errors_over_raw_resp() {
    let (cluster, redis) = cluster("redis-raw").await;
    let mut c = Conn::open(&redis[0]).await;
    assert_eq!(c.call(&["PING"]).await, Value::Simple("PONG".into()));
    assert_eq!(c.call(&["SET", "k", "v1"]).await, ok());
    assert_eq!(c.call(&["get", "k"]).await, Value::bulk("v1"));
    // Another node answers the same: a quorum write, read at quorum.
    let mut other = Conn::open(&redis[2]).await;
    assert_eq!(other.call(&["GET", "k"]).await, Value::bulk("v1"));
    assert_eq!(other.call(&["GET", "missing"]).await, Value::Nil);
    assert_eq!(c.call(&["MSET", "a", "1", "b", "2", "a", "3"]).await, ok());
    assert_eq!(
        other.call(&["MGET", "a", "b", "nope"]).await,
        Value::Array(vec![Value::bulk("3"), Value::bulk("2"), Value::Nil])
    );
    assert_eq!(
        c.call(&["EXISTS", "a", "b", "nope", "a"]).await,
        Value::Int(3)
    );
    assert_eq!(c.call(&["DEL", "a", "b", "nope", "a"]).await, Value::Int(2));
    assert_eq!(other.call(&["EXISTS", "a", "b"]).await, Value::Int(0));

    // Unknown commands and refused options are answered; the connection stays open.
    let unknown = c.call(&["FLUSHALL", "x"]).await;
    assert!(
        unknown
            .error()
            .starts_with("ERR unknown command 'FLUSHALL'"),
        "{unknown:?}"
    );
    let refused = c.call(&["SET", "k", "v", "NX"]).await;
    assert!(refused.error().contains("not supported"), "{refused:?}");
    assert!(c
        .call(&["GET"])
        .await
        .error()
        .contains("wrong number of arguments"));
    assert!(c
        .call(&["SELECT", "1"])
        .await
        .error()
        .contains("out of range"));
    assert_eq!(c.call(&["SELECT", "0"]).await, ok());
    assert_eq!(c.call(&["GET", "k"]).await, Value::bulk("v1"));

    // A pipeline: 200 commands in one write; replies in order, and each connection sees its
    // own writes in order (a GET after a SET of the same pipeline reads that SET).
    let mut out = Vec::new();
    for i in 0..100 {
        out.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$4\r\np{i:03}\r\n$3\r\nv{i:02}\r\n*2\r\n$3\r\nGET\r\n$4\r\np{i:03}\r\n")
                .as_bytes(),
        );
    }
    c.send_raw(&out).await;
    for i in 0..100 {
        assert_eq!(c.next().await, Some(ok()), "SET {i}");
        assert_eq!(
            c.next().await,
            Some(Value::bulk(&format!("v{i:02}"))),
            "GET {i}"
        );
    }
    // A SET that follows a DEL of the same pipeline waits for it (the DEL reads, then
    // writes): run at once, it would be deleted by the DEL before it. Repeated, since an
    // early SET loses only when it overtakes the DEL's write.
    let mut out = Vec::new();
    for i in 0..50 {
        let key = format!("o{i:02}");
        for args in [
            vec!["SET", &key, "a"],
            vec!["DEL", &key],
            vec!["SET", &key, "b"],
        ] {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
            }
        }
    }
    c.send_raw(&out).await;
    for i in 0..50 {
        assert_eq!(c.next().await, Some(ok()), "SET o{i:02} a");
        assert_eq!(c.next().await, Some(Value::Int(1)), "DEL o{i:02}");
        assert_eq!(c.next().await, Some(ok()), "SET o{i:02} b");
    }
    for i in 0..50 {
        let key = format!("o{i:02}");
        assert_eq!(c.call(&["GET", &key]).await, Value::bulk("b"), "GET {key}");
    }

    // Inline commands, as typed into telnet.
    c.send_raw(b"SET inline \"two words\"\r\nGET inline\r\n")
        .await;
    assert_eq!(c.next().await, Some(ok()));
    assert_eq!(c.next().await, Some(Value::bulk("two words")));

    // RESP3 after HELLO 3: maps, nulls and doubles.
    let hello = c.call(&["HELLO", "3"]).await;
    let Value::Map(fields) = hello else {
        panic!("HELLO 3 answers a map, got {hello:?}")
    };
    assert!(fields.contains(&(Value::bulk("proto"), Value::Int(3))));
    assert_eq!(c.call(&["GET", "missing"]).await, Value::Nil);
    assert_eq!(c.call(&["CLIENT", "SETNAME", "tester"]).await, ok());
    assert_eq!(c.call(&["CLIENT", "GETNAME"]).await, Value::bulk("tester"));
    assert_eq!(c.call(&["CLIENT", "SETINFO", "LIB-NAME", "x"]).await, ok());
    assert!(matches!(c.call(&["CLIENT", "ID"]).await, Value::Int(_)));
    assert!(matches!(c.call(&["COMMAND", "COUNT"]).await, Value::Int(n) if n > 10));
    assert!(matches!(c.call(&["COMMAND", "DOCS", "get"]).await, Value::Map(m) if m.len() == 1));
    let Value::Bulk(info) = c.call(&["INFO"]).await else {
        panic!("INFO is a bulk string")
    };
    let info = String::from_utf8(info).unwrap();
    for line in [
        "# Replication",
        "members_up:3",
        "member_2:state=up",
        "# Keyspace",
        "db0:keys=",
    ] {
        assert!(info.contains(line), "INFO lacks {line:?}:\n{info}");
    }
    assert!(matches!(c.call(&["DBSIZE"]).await, Value::Int(n) if n >= 100));

    // Search: pairs of key and score, best first.
    c.call(&["SET", "doc1", "Python is a programming language"])
        .await;
    c.call(&["SET", "doc2", "Java is also a programming language"])
        .await;
    let hits = c.call(&["TERN.SEARCH", "python programming"]).await;
    let Value::Array(hits) = hits else {
        panic!("TERN.SEARCH answers an array, got {hits:?}")
    };
    assert_eq!(hits.len(), 1);
    assert!(
        matches!(&hits[0], Value::Array(pair) if pair[0] == Value::bulk("doc1") && matches!(pair[1], Value::Double(s) if s > 0.0))
    );
    let similar = c
        .call(&["TERN.SIMILAR", "coding languages", "TOPK", "5"])
        .await;
    assert!(
        matches!(similar, Value::Array(ref h) if h.len() == 2),
        "{similar:?}"
    );
    let bad = c.call(&["TERN.SEARCH", "python (java"]).await;
    assert!(bad.error().starts_with("ERR"), "{bad:?}");

    assert_eq!(c.call(&["QUIT"]).await, ok());
    assert_eq!(c.next().await, None, "QUIT closes the connection");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siblings_are_shown_resolved_and_replaced() {
    let (cluster, redis) = cluster("redis-siblings").await;
    let mut c = Conn::open(&redis[1]).await;
    // Two blind writes: concurrent versions, kept as siblings.
    assert_eq!(c.call(&["TERN.SET", "s", "one"]).await, ok());
    assert_eq!(c.call(&["TERN.SET", "s", "two"]).await, ok());
    let Value::Array(shown) = c.call(&["TERN.SIBLINGS", "s"]).await else {
        panic!("TERN.SIBLINGS answers an array")
    };
    let Value::Bulk(context) = shown[0].clone() else {
        panic!("the context is a bulk string")
    };
    let mut values = match &shown[1] {
        Value::Array(values) => values.clone(),
        other => panic!("values are an array, got {other:?}"),
    };
    values.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(values, vec![Value::bulk("one"), Value::bulk("two")]);
    // GET resolves to the sibling with the greatest dot: the same as the native client's
    // object shows.
    let object = cluster.client().await.get(b"s").await.unwrap();
    let greatest = object
        .siblings()
        .iter()
        .filter(|s| s.value.is_some())
        .max_by_key(|s| s.dot)
        .unwrap();
    let expected = Value::Bulk(greatest.value.clone().unwrap());
    assert_eq!(c.call(&["GET", "s"]).await, expected);
    // A write with the context replaces both.
    let context = String::from_utf8(context).unwrap();
    assert_eq!(
        c.call(&["TERN.SET", "s", "three", "CONTEXT", &context])
            .await,
        ok()
    );
    let shown = c.call(&["TERN.SIBLINGS", "s"]).await;
    assert!(
        matches!(&shown, Value::Array(v) if v[1] == Value::Array(vec![Value::bulk("three")])),
        "{shown:?}"
    );
    assert!(c
        .call(&["TERN.SET", "s", "x", "CONTEXT", "zz"])
        .await
        .error()
        .contains("bad context"));

    // Many connections setting one key at once: every SET succeeds (no sibling limit hit),
    // and the key ends with one of their values.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let addr = redis[0].clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await;
            for round in 0..10 {
                let value = format!("c{i}-r{round}");
                assert_eq!(c.call(&["SET", "hot", &value]).await, ok(), "{value}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let last = c.call(&["GET", "hot"]).await;
    assert!(
        matches!(&last, Value::Bulk(v) if v.ends_with(b"-r9")),
        "{last:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_a_protocol_error_and_never_stops_the_node() {
    let (cluster, redis) = cluster("redis-malformed").await;
    let cases: &[&[u8]] = &[
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"*1\r\n$99999999999\r\n",
        b"*99999999\r\n",
        b"*x\r\n",
        b"*1\r\n$3\r\nGETX\r\n",
        b"SET \"unbalanced\r\n",
    ];
    for case in cases {
        let mut c = Conn::open(&redis[0]).await;
        c.send_raw(case).await;
        let reply = c.next().await.expect("an error before closing");
        assert!(
            reply.error().starts_with("ERR Protocol error"),
            "{case:?}: {reply:?}"
        );
        assert_eq!(c.next().await, None, "{case:?}: the connection is closed");
    }
    // An inline line over the limit, and random bytes: answered or closed, never a crash.
    let mut c = Conn::open(&redis[0]).await;
    c.send_raw(&vec![b'a'; tern_node::limits::REDIS_INLINE_BYTES_MAX + 10])
        .await;
    assert!(c
        .next()
        .await
        .expect("an error")
        .error()
        .contains("too big inline"));
    let mut seed = 7u64;
    for _ in 0..20 {
        let mut c = Conn::open(&redis[1]).await;
        let bytes: Vec<u8> = (0..512)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b"*$\r\n0123-ab "[(seed >> 33) as usize % 12]
            })
            .collect();
        c.send_raw(&bytes).await;
        let _ = c.writer.shutdown().await;
        while c.next().await.is_some() {}
    }
    // A command cut off by the end of the stream, then a healthy client.
    let mut c = Conn::open(&redis[0]).await;
    c.send_raw(b"*2\r\n$3\r\nGET\r\n$10\r\nabc").await;
    let _ = c.writer.shutdown().await;
    assert_eq!(c.next().await, None);
    for addr in &redis {
        let mut c = Conn::open(addr).await;
        assert_eq!(c.call(&["SET", "after", "fine"]).await, ok());
        assert_eq!(c.call(&["GET", "after"]).await, Value::bulk("fine"));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_without_a_quorum_is_an_error_that_says_so() {
    let (mut cluster, redis) = cluster("redis-quorum").await;
    let mut c = Conn::open(&redis[0]).await;
    assert_eq!(c.call(&["SET", "q", "1"]).await, ok());
    cluster.stop(1).await;
    cluster.stop(2).await;
    // Until its failure detector marks the others down, SET's read may time out (nothing
    // written) or its write may (indeterminate); after that it is refused as unavailable.
    // Each says what happened.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = c.call(&["SET", "q", "2"]).await;
        let error = reply.error().to_string();
        assert!(
            error.starts_with("UNAVAILABLE")
                || error.starts_with("INDETERMINATE")
                || (error.starts_with("TIMEOUT") && error.contains("nothing was written")),
            "{error}"
        );
        if error.starts_with("UNAVAILABLE") {
            assert!(error.contains("nothing was written"), "{error}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never unavailable");
    }
    cluster.shutdown().await;
}

/// The values an `MGET` returned, as text (`None` for nil).
fn values_of(reply: &Value) -> Vec<Option<String>> {
    let Value::Array(items) = reply else {
        panic!("MGET answers an array, got {reply:?}")
    };
    items
        .iter()
        .map(|item| match item {
            Value::Bulk(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Value::Nil => None,
            other => panic!("MGET item {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mset_is_atomic_and_mget_never_sees_half_of_one() {
    let (cluster, redis) = cluster("redis-bulk").await;
    let mut c = Conn::open(&redis[0]).await;

    // MSET overwrites as SET does: it replaces the siblings its read showed.
    assert_eq!(c.call(&["TERN.SET", "x", "one"]).await, ok());
    assert_eq!(c.call(&["TERN.SET", "x", "two"]).await, ok());
    assert_eq!(c.call(&["MSET", "x", "3", "y", "4"]).await, ok());
    let Value::Array(shown) = c.call(&["TERN.SIBLINGS", "x"]).await else {
        panic!("TERN.SIBLINGS answers an array")
    };
    assert_eq!(shown[1], Value::Array(vec![Value::bulk("3")]));
    // A key asked twice is answered twice.
    let mut other = Conn::open(&redis[1]).await;
    let reply = other.call(&["MGET", "y", "x", "nope", "y"]).await;
    assert_eq!(
        values_of(&reply),
        [Some("4".into()), Some("3".into()), None, Some("4".into())]
    );

    // Over the bulk limit of keys: refused, nothing written.
    let mut args = vec!["MSET".to_string()];
    for i in 0..101 {
        args.extend([format!("big{i}"), "v".to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = c.call(&args).await;
    assert!(refused.error().contains("BULK_KEYS_MAX"), "{refused:?}");
    assert_eq!(
        values_of(&other.call(&["MGET", "big0", "big100"]).await),
        [None, None]
    );

    // Writers MSET ten keys to one round's value; readers on the other nodes MGET them
    // meanwhile. Every MGET sees one MSET whole: all ten values equal.
    let keys: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let rounds = 40;
    let writer = {
        let (addr, keys) = (redis[0].clone(), keys.clone());
        tokio::spawn(async move {
            let mut w = Conn::open(&addr).await;
            for round in 0..rounds {
                let value = format!("round-{round}");
                let mut args = vec!["MSET"];
                for key in &keys {
                    args.extend([key.as_str(), value.as_str()]);
                }
                assert_eq!(w.call(&args).await, ok(), "MSET round {round}");
            }
        })
    };
    let readers: Vec<_> = [1, 2]
        .into_iter()
        .map(|node| {
            let (addr, keys) = (redis[node].clone(), keys.clone());
            tokio::spawn(async move {
                let mut r = Conn::open(&addr).await;
                let (mut reads, mut fractured) = (0, Vec::new());
                let mut args = vec!["MGET"];
                args.extend(keys.iter().map(String::as_str));
                loop {
                    let values = values_of(&r.call(&args).await);
                    reads += 1;
                    if values.iter().any(|v| v != &values[0]) {
                        fractured.push(values.clone());
                    }
                    if values[0].as_deref() == Some(&format!("round-{}", rounds - 1)) {
                        return (reads, fractured);
                    }
                }
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(120), writer)
        .await
        .expect("the writer finished in time")
        .unwrap();
    for reader in readers {
        let (reads, fractured) = tokio::time::timeout(Duration::from_secs(60), reader)
            .await
            .expect("the reader saw the last round in time")
            .unwrap();
        assert!(
            fractured.is_empty(),
            "{} fractured MGETs of {reads}: {fractured:?}",
            fractured.len()
        );
    }

    // Many connections MSETting the same keys through one node take turns: every MSET
    // succeeds, and each replaces the last, so the keys end with one value, the same on both.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let addr = redis[0].clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await;
            for round in 0..10 {
                let value = format!("c{i}-r{round}");
                let reply = c.call(&["MSET", "hot1", &value, "hot2", &value]).await;
                assert_eq!(reply, ok(), "{value}");
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("the MSETs finished in time")
            .unwrap();
    }
    let Value::Array(shown) = c.call(&["TERN.SIBLINGS", "hot1"]).await else {
        panic!("TERN.SIBLINGS answers an array")
    };
    assert!(
        matches!(&shown[1], Value::Array(values) if values.len() == 1),
        "{shown:?}"
    );
    let both = values_of(&other.call(&["MGET", "hot1", "hot2"]).await);
    assert!(both[0].is_some() && both[0] == both[1], "{both:?}");

    // DEL of several keys: one atomic delete; the count is of keys that had a value.
    let mut args = vec!["DEL", "nope"];
    args.extend(keys.iter().map(String::as_str));
    assert_eq!(c.call(&args).await, Value::Int(10));
    let mut args = vec!["MGET"];
    args.extend(keys.iter().map(String::as_str));
    assert!(values_of(&other.call(&args).await)
        .iter()
        .all(Option::is_none));
    assert_eq!(c.call(&["DEL", "r0", "r1"]).await, Value::Int(0));
    cluster.shutdown().await;
}
