//! A node that was down while 10,000 keys were written catches up by itself: after its
//! restart its own copies (compared through each node's status: key count and per-partition
//! digests, never by reading the keys through the cluster) equal the other nodes' within a
//! bound. Nothing reads the keys, so read repair plays no part: anti-entropy alone does it.

mod common;

use common::{status, Cluster};
use std::time::{Duration, Instant};
use tern_core::VectorClock;
use tern_node::Client;

const WRITES: usize = 10_000;
const WRITERS: usize = 32;
/// Generous for a shared two-core machine; the recovery benchmark measures the real figure.
const CATCH_UP_BOUND: Duration = Duration::from_secs(20);

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
                // A loaded machine can make a failure detector suspect a live node for a
                // moment: try again, boundedly (a fresh key: a repeat changes no count).
                let mut tries = 0;
                while let Err(e) = client
                    .set(key.as_bytes(), value.as_bytes(), &VectorClock::new())
                    .await
                {
                    tries += 1;
                    assert!(tries < 50, "write {key}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let before = status(&cluster.addr(0)).await.expect("node 1 answers");
    assert!(before.keys >= WRITES as u64, "node 1 holds {}", before.keys);

    let mut pushed_before = 0;
    for i in 0..2 {
        let s = status(&cluster.addr(i))
            .await
            .expect("nodes 1 and 2 answer");
        pushed_before += s.counter("entropy_keys_pushed").unwrap();
    }
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
    let mut pushed = 0;
    for i in 0..2 {
        let s = status(&cluster.addr(i))
            .await
            .expect("nodes 1 and 2 answer");
        pushed += s.counter("entropy_keys_pushed").unwrap();
    }
    let pushed = pushed - pushed_before;
    println!("nodes 1 and 2 sent node 3 {pushed} copies");
    // Rounds of several nodes at once may repair the same key (node 3's own, and each
    // peer's), but a round must not ask again about copies still on their way: that sent
    // each key 2.4 times here (and ten times on release builds), against about 1.1.
    assert!(
        pushed <= 2 * WRITES as u64,
        "{pushed} copies sent for {WRITES} missed keys"
    );
    assert!(third.keys > WRITES as u64);
    assert!(third.peers.iter().all(|p| p.alive), "{:?}", third.peers);
    cluster.shutdown().await;
}
