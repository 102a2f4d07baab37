//! Three nodes in this process, a client, and the promises a user relies on: set, get and
//! delete; concurrent writes kept as siblings and replaced by a write with their context;
//! failover to another node; data that survives a restart; many requests in flight.

mod common;

use common::Cluster;
use tern_core::VectorClock;
use tern_node::{Client, ClientError};

#[tokio::test]
async fn set_get_delete_and_siblings() {
    let cluster = Cluster::start(3, "e2e").await;
    let client = cluster.client().await;

    client.set(b"k", b"v1", &VectorClock::new()).await.unwrap();
    let object = client.get(b"k").await.unwrap();
    assert_eq!(object.values().collect::<Vec<_>>(), vec![b"v1".as_slice()]);

    // A write with the context read replaces the value.
    let w = client.set(b"k", b"v2", &object.clock()).await.unwrap();
    let object = client.get(b"k").await.unwrap();
    assert_eq!(object.values().collect::<Vec<_>>(), vec![b"v2".as_slice()]);
    assert!(object.clock().descends(&w.context));

    // Two writes that did not see each other, through two different nodes: siblings.
    let other = Client::connect(&[cluster.addr(2)]).await.unwrap();
    client.set(b"s", b"a", &VectorClock::new()).await.unwrap();
    other.set(b"s", b"b", &VectorClock::new()).await.unwrap();
    let object = client.get(b"s").await.unwrap();
    let mut values: Vec<&[u8]> = object.values().collect();
    values.sort();
    assert_eq!(values, vec![b"a".as_slice(), b"b".as_slice()]);
    // A write with their context replaces both.
    client.set(b"s", b"merged", &object.clock()).await.unwrap();
    let object = other.get(b"s").await.unwrap();
    assert_eq!(
        object.values().collect::<Vec<_>>(),
        vec![b"merged".as_slice()]
    );

    // Delete.
    client.remove(b"k").await.unwrap();
    let object = client.get(b"k").await.unwrap();
    assert!(object.is_deleted());
    assert_eq!(object.values().count(), 0);

    // A key never written reads as empty.
    assert!(client.get(b"never").await.unwrap().is_empty());

    // Oversized values are refused with the limit, nothing written.
    let big = vec![0u8; tern_core::limits::VALUE_BYTES_MAX + 1];
    match client.set(b"big", &big, &VectorClock::new()).await {
        Err(ClientError::Request(tern_core::RequestError::TooLarge { .. })) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let pong = client.ping().await.unwrap();
    assert!(pong.booted);
    cluster.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_fail_over_and_survive_restarts() {
    let mut cluster = Cluster::start(3, "e2e-failover").await;
    let client = cluster.client().await;

    // 2,000 writes with up to 200 in flight on one connection.
    let mut tasks = Vec::new();
    for t in 0..200 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let key = format!("key-{t}-{i}");
                client
                    .set(key.as_bytes(), key.as_bytes(), &VectorClock::new())
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    // The client is connected to node 1; stop it: the next requests go elsewhere.
    assert_eq!(client.current_node(), Some(cluster.addr(0)));
    cluster.stop(0).await;
    let object = client.get(b"key-7-3").await.unwrap();
    assert_eq!(
        object.values().collect::<Vec<_>>(),
        vec![b"key-7-3".as_slice()]
    );
    assert_ne!(client.current_node(), Some(cluster.addr(0)));
    client.put(b"while-down", b"yes").await.unwrap();

    // Node 1 comes back with everything it had, and catches up on reads.
    let node = cluster.restart(0).await;
    assert!(
        node.recovered_keys() >= 2_000,
        "recovered {}",
        node.recovered_keys()
    );
    cluster.wait_writable().await;
    let only_one = Client::connect(&[cluster.addr(0)]).await.unwrap();
    for t in (0..200).step_by(37) {
        let key = format!("key-{t}-9");
        let object = only_one.get(key.as_bytes()).await.unwrap();
        assert_eq!(object.values().collect::<Vec<_>>(), vec![key.as_bytes()]);
    }
    let object = only_one.get(b"while-down").await.unwrap();
    assert_eq!(object.values().collect::<Vec<_>>(), vec![b"yes".as_slice()]);

    // With two nodes down, writes are refused as unavailable: nothing was written.
    cluster.stop(1).await;
    cluster.stop(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    match only_one.put(b"alone", b"x").await {
        Err(e) => assert!(
            matches!(
                e,
                ClientError::Request(tern_core::RequestError::Unavailable { .. })
            ),
            "{e}"
        ),
        Ok(_) => panic!("a write succeeded with one node of three"),
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn compaction_keeps_disk_use_near_live_data() {
    let dir = common::TempDir::new("compact");
    let (node, options, client) = common::single_node(&dir, Some(64 * 1024)).await;
    // Overwrite 20 keys many times: history grows, live data does not.
    let value = vec![b'x'; 1000];
    for round in 0..100 {
        for k in 0..20 {
            let key = format!("k{k}");
            client.put(key.as_bytes(), &value).await.unwrap();
        }
        let _ = round;
    }
    let disk: u64 = std::fs::read_dir(&options.data_dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    // 2,000 writes of 1 KB is 2 MB of history; live data is about 20 KB.
    assert!(disk < 400 * 1024, "log holds {disk} bytes");
    node.shutdown().await;
    let node = tern_node::start(options).await.unwrap();
    assert_eq!(node.recovered_keys(), 20);
    node.shutdown().await;
}

#[tokio::test]
async fn shutdown_under_load_answers_or_refuses_every_request() {
    let mut cluster = Cluster::start(3, "e2e-shutdown").await;
    let only_node_1 = Client::connect(&[cluster.addr(0)]).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let client = only_node_1.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = (0u32, 0u32, 0u32);
            for i in 0..200 {
                let key = format!("s-{t}-{i}");
                match client.set(key.as_bytes(), b"v", &VectorClock::new()).await {
                    Ok(_) => outcomes.0 += 1,
                    Err(e) if e.maybe_applied() => outcomes.1 += 1,
                    Err(_) => {
                        outcomes.2 += 1;
                        break;
                    }
                }
            }
            outcomes
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    cluster.stop(0).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "shutdown hung"
    );
    let (mut ok, mut maybe, mut refused) = (0, 0, 0);
    for task in tasks {
        // Every request ends: answered, indeterminate or refused; none hangs.
        let (o, m, r) = tokio::time::timeout(std::time::Duration::from_secs(20), task)
            .await
            .expect("a request hung across the shutdown")
            .unwrap();
        ok += o;
        maybe += m;
        refused += r;
    }
    assert!(ok > 0, "no write succeeded before the shutdown");
    assert!(refused > 0, "no request was refused after the shutdown");
    // Every acknowledged write is readable from the two nodes left.
    let client = Client::connect(&[cluster.addr(1), cluster.addr(2)])
        .await
        .unwrap();
    let object = client.get(b"s-0-0").await.unwrap();
    assert_eq!(
        object.values().count(),
        1,
        "ok {ok} maybe {maybe} refused {refused}"
    );
    cluster.shutdown().await;
}
