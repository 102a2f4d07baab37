//! A node that was down while 10,000 keys were written catches up by itself: after its
//! restart its own copies (compared through each node's status: key count and per-partition
//! digests, never by reading the keys through the cluster) equal the other nodes' within a
//! bound. Nothing reads the keys, so read repair plays no part: anti-entropy alone does it.

mod common;

use common::Cluster;
use std::time::{Duration, Instant};
use tern_core::{NodeStatus, VectorClock};
use tern_node::{Client, ClientOptions};

const WRITES: usize = 10_000;
const WRITERS: usize = 32;
/// Generous for a shared two-core machine; the recovery benchmark measures the real figure.
const CATCH_UP_BOUND: Duration = Duration::from_secs(20);

async fn status(addr: &str) -> Option<NodeStatus> {
    let options = ClientOptions {
        connect_timeout_ms: 1_000,
        reply_timeout_ms: 2_000,
    };
    Client::lazy(&[addr], options).status().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_on_10000_missed_writes_without_reads() {
    let mut cluster = Cluster::start(3, "catch-up").await;
    cluster.stop(2).await;
    let client = Client::connect(&[cluster.addr(0), cluster.addr(1)])
        .await
        .unwrap();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let client = client.clone();
        writers.push(tokio::spawn(async move {
            for i in (w..WRITES).step_by(WRITERS) {
                let key = format!("key-{i:06}");
                let value = format!("value of {key}");
                client
                    .set(key.as_bytes(), value.as_bytes(), &VectorClock::new())
                    .await
                    .unwrap_or_else(|e| panic!("write {key}: {e}"));
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let before = status(&cluster.addr(0)).await.expect("node 1 answers");
    assert!(before.keys >= WRITES as u64, "node 1 holds {}", before.keys);

    cluster.restart(2).await;
    let restarted = Instant::now();
    let mut last = Vec::new();
    loop {
        let mut all = Vec::new();
        for i in 0..3 {
            all.push(status(&cluster.addr(i)).await);
        }
        let equal = all.iter().all(|s| {
            s.as_ref().is_some_and(|s| {
                let first = all[0].as_ref().unwrap();
                s.keys == first.keys && s.digests == first.digests
            })
        });
        if equal {
            break;
        }
        last = all;
        assert!(
            restarted.elapsed() < CATCH_UP_BOUND,
            "node 3 did not catch up within {CATCH_UP_BOUND:?}: keys {:?}",
            last.iter()
                .map(|s| s.as_ref().map(|s| s.keys))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = restarted.elapsed();
    let third = status(&cluster.addr(2)).await.unwrap();
    println!(
        "node 3 caught up on {WRITES} writes {took:?} after its restart ({} keys; {} keys pulled, {} rounds)",
        third.keys,
        third.counter("entropy_keys_pulled").unwrap_or(0),
        third.counter("entropy_rounds").unwrap_or(0),
    );
    drop(last);
    assert!(third.keys > WRITES as u64);
    assert!(third.peers.iter().all(|p| p.alive), "{:?}", third.peers);
    cluster.shutdown().await;
}
