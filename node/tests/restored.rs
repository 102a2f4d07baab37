//! Three real nodes; node 1's data directory is copied, then 20 keys are deleted and their
//! tombstones collected on every replica; node 1 is then restarted on the copy (a restored
//! backup). The copy holds the 20 values and no tombstone, and no replica has anything left
//! to say they were deleted. Its peers recorded how far its log had come when it agreed to
//! the collection, so the node finds out at its restart: it renames every segment
//! `stale-0001-…` (kept), rebuilds on an empty log, and none of the 20 comes back.

mod common;

use common::{status, Cluster};
use std::path::Path;
use std::time::{Duration, Instant};
use tern_node::Client;

const KEYS: usize = 20;
/// Generous for a shared two-core machine.
const BOUND: Duration = Duration::from_secs(30);

/// Copies the log segments of `from` into a new directory `to`.
fn copy_segments(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.starts_with("log-") {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_a_copy_older_than_a_collection_sets_it_aside() {
    let mut cluster = Cluster::start_with(3, "restored", |o| {
        o.request_timeout_ms = Some(500);
        o.tombstone_grace_ms = Some(1_500);
    })
    .await;
    let client = cluster.client().await;
    for k in 0..KEYS {
        client.put(format!("d{k}").as_bytes(), b"v").await.unwrap();
    }
    client.put(b"kept", b"v").await.unwrap();

    // The backup: node 1's segments, taken while it is stopped.
    let data_dir = cluster.options[0].data_dir.clone();
    let backup = cluster.dir.0.join("node-1-backup");
    cluster.stop(0).await;
    copy_segments(&data_dir, &backup);
    cluster.restart(0).await;
    cluster.wait_writable().await;

    for k in 0..KEYS {
        client.remove(format!("d{k}").as_bytes()).await.unwrap();
    }
    let start = Instant::now();
    loop {
        let mut collected = true;
        for i in 0..3 {
            let s = status(&cluster.addr(i)).await.expect("every node answers");
            let pending = s.tombstones_pending;
            let done = s.counter("tombstones_collected").unwrap_or(0);
            collected &= pending == 0 && done >= KEYS as u64;
        }
        if collected {
            break;
        }
        assert!(
            start.elapsed() < BOUND,
            "tombstones not collected everywhere"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Restore the backup.
    cluster.stop(0).await;
    std::fs::remove_dir_all(&data_dir).unwrap();
    copy_segments(&backup, &data_dir);
    cluster.restart(0).await;
    let start = Instant::now();
    let node1 = loop {
        if let Some(s) = status(&cluster.addr(0)).await {
            if s.booted && !s.verifying && s.rebuilding.is_none() {
                break s;
            }
        }
        assert!(start.elapsed() < BOUND, "node 1 did not rebuild");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "node 1 verified, set aside and rebuilt in {:?}",
        start.elapsed()
    );
    for i in 0..3 {
        let at = Client::lazy(&[cluster.addr(i)], Default::default());
        for k in 0..KEYS {
            let object = at.get(format!("d{k}").as_bytes()).await.unwrap();
            assert_eq!(
                object.values().count(),
                0,
                "d{k} came back at node {}",
                i + 1
            );
        }
        let kept = at.get(b"kept").await.unwrap();
        assert_eq!(kept.values().count(), 1);
    }
    assert_eq!(node1.counter("stale_logs_set_aside"), Some(1));
    let names: Vec<String> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("stale-0001-log-")),
        "no stale segment kept: {names:?}"
    );

    cluster.shutdown().await;
}
