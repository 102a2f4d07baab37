//! The bulk calls of the client library against one real node on loopback (its data in a
//! temporary directory, removed at the end): what each returns, that `mset` and `mdel`
//! replace every version their read showed, and the refusals.

use super::*;
use crate::embed::{start_on, NodeOptions};
use tern_core::{BulkInvalid, NodeId};
use tokio::net::TcpListener;

/// One node with no peers (N = R = W = 1), and a client of it.
async fn node(name: &str) -> (crate::RunningNode, Client, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("tern-client-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = NodeOptions {
        id: NodeId(1),
        listen: listener.local_addr().unwrap(),
        peers: Vec::new(),
        data_dir: dir.join("node-1"),
        compact_min_bytes: None,
        request_timeout_ms: None,
        stemming: None,
        search_index: None,
        rebuild_on_restart: None,
        tombstone_grace_ms: None,
    };
    let node = start_on(listener, options.clone()).await.unwrap();
    let client = Client::connect(&[options.listen.to_string()])
        .await
        .unwrap();
    // Bounded wait until the node has finished starting.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !client.ping().await.is_ok_and(|pong| pong.booted) {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never booted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (node, client, dir)
}

fn values(object: &Object) -> Vec<&[u8]> {
    object.values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_calls_write_every_key_and_replace_what_they_read() {
    let (node, client, dir) = node("bulk").await;

    // Two blind writes of `a`: siblings. mset replaces both, and writes `b` beside it.
    for value in [&b"left"[..], b"right"] {
        client.set(b"a", value, &VectorClock::new()).await.unwrap();
    }
    assert_eq!(client.get(b"a").await.unwrap().values().count(), 2);
    let dot = client.mset(&[("a", "1"), ("b", "2")]).await.unwrap();
    let objects = client.mget(&["b", "a", "never"]).await.unwrap();
    assert_eq!(values(&objects[0]), [b"2"]);
    assert_eq!(values(&objects[1]), [b"1"]);
    assert!(objects[2].is_empty());
    for object in &objects[..2] {
        let sibling = &object.siblings()[0];
        assert_eq!(sibling.dot, dot, "one dot for the whole bulk write");
        let keys: Vec<&[u8]> = sibling
            .bulk
            .as_deref()
            .unwrap()
            .iter()
            .map(|k| &k[..])
            .collect();
        assert_eq!(
            keys,
            [b"a", b"b"],
            "each version names the bulk write's keys"
        );
    }

    // A mixed bulk write: a set with the context read, a delete with its own.
    let items = vec![
        BulkItem {
            key: b"a".to_vec(),
            value: Some(b"3".to_vec()),
            context: objects[1].clock(),
        },
        BulkItem {
            key: b"b".to_vec(),
            value: None,
            context: objects[0].clock(),
        },
    ];
    client.bulk_write(items).await.unwrap();
    let objects = client.mget(&["a", "b"]).await.unwrap();
    assert_eq!(values(&objects[0]), [b"3"]);
    assert!(objects[1].is_deleted());

    client.mdel(&["a", "b"]).await.unwrap();
    let objects = client.mget(&["a", "b"]).await.unwrap();
    assert!(objects.iter().all(|o| o.values().next().is_none()));

    // Refusals: nothing written, and none may have been.
    let refused = [
        client.mget::<&str>(&[]).await.unwrap_err(),
        client.bulk_write(Vec::new()).await.unwrap_err(),
        client.mset(&[("x", "1"), ("x", "2")]).await.unwrap_err(),
    ];
    assert_eq!(
        refused[..2],
        [
            ClientError::Request(RequestError::InvalidBulk(BulkInvalid::Empty)),
            ClientError::Request(RequestError::InvalidBulk(BulkInvalid::Empty))
        ]
    );
    assert_eq!(
        refused[2],
        ClientError::Request(RequestError::InvalidBulk(BulkInvalid::DuplicateKey))
    );
    // Values at the bulk limits: each at `VALUE_BYTES_MAX`, summing to `BULK_VALUE_BYTES_MAX`.
    use tern_core::limits::{BULK_VALUE_BYTES_MAX, VALUE_BYTES_MAX};
    let big = vec![7u8; VALUE_BYTES_MAX];
    let names: Vec<String> = (0..BULK_VALUE_BYTES_MAX / VALUE_BYTES_MAX + 1)
        .map(|i| format!("big-{i:02}"))
        .collect();
    let pairs: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &big[..])).collect();
    let (at_limit, extra) = pairs.split_at(pairs.len() - 1);
    // One byte more than the values' limit: core refuses it, in a frame a node reads.
    let mut over = at_limit.to_vec();
    over.push((extra[0].0, b"7"));
    let over_values = client.mset(&over).await.unwrap_err();
    assert_eq!(
        over_values,
        ClientError::Request(RequestError::TooLarge {
            what: tern_core::Oversized::Value,
            len: BULK_VALUE_BYTES_MAX as u64 + 1,
            max: BULK_VALUE_BYTES_MAX as u64,
        })
    );
    // A whole value more does not fit in one frame: refused by the client, unsent.
    let too_large = client.mset(&pairs).await.unwrap_err();
    assert!(
        matches!(too_large, ClientError::TooLarge { max, .. } if max == REQUEST_BODY_BYTES_MAX as u64),
        "{too_large:?}"
    );
    assert!(refused
        .iter()
        .chain([&over_values, &too_large])
        .all(|e| !e.maybe_applied()));
    let mut asked = vec!["x", "y"];
    asked.extend(names.iter().map(String::as_str));
    assert!(client
        .mget(&asked)
        .await
        .unwrap()
        .iter()
        .all(Object::is_empty));
    // At the limits, it is written whole.
    client.mset(at_limit).await.unwrap();
    let read = client.mget(&asked[2..asked.len() - 1]).await.unwrap();
    assert_eq!(read.len(), at_limit.len());
    assert!(read.iter().all(|o| values(o) == [&big[..]]));

    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
