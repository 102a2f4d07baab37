//! The real crash test: three `tern-node` processes on loopback, concurrent clients writing
//! unique keys, a random node killed with SIGKILL and restarted, again and again; at the end
//! every acknowledged write is read back. Bounded well under two minutes.

mod common;

use common::{print_logs, Rng, TempDir};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tern_core::{RequestError, VectorClock};
use tern_node::bench::ProcessCluster;
use tern_node::{Client, ClientError, ClientOptions};

const WRITERS: usize = 6;
const KILLS: usize = 6;
const CHAOS_SECONDS_MAX: u64 = 45;

fn value_of(key: &str) -> Vec<u8> {
    format!("value-of-{key}").into_bytes()
}

#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<String>,
    indeterminate: u64,
    refused: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_repeated_sigkill() {
    let started = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dir = TempDir::new("crash");
    let exe = Path::new(env!("CARGO_BIN_EXE_tern-node"));
    // A small compaction threshold, so compaction also runs under the kills.
    let extra = ["--log", "info", "--compact-min-bytes", "262144"].map(String::from);
    let mut cluster = ProcessCluster::spawn(exe, 3, &dir.0, &extra).unwrap();
    for i in 0..3 {
        cluster
            .wait_ready(i, Duration::from_secs(30))
            .await
            .unwrap();
    }
    let addrs = cluster.addrs();

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut order = addrs.clone();
        order.rotate_left(w % addrs.len());
        let options = ClientOptions {
            connect_timeout_ms: 1_000,
            reply_timeout_ms: 8_000,
        };
        let client = Client::lazy(&order, options);
        let stop = stop.clone();
        let outcomes = outcomes.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w{w}-{i}");
                i += 1;
                let result = client
                    .set(key.as_bytes(), &value_of(&key), &VectorClock::new())
                    .await;
                let refused = matches!(&result, Err(e) if !e.maybe_applied());
                {
                    let mut o = outcomes.lock().unwrap();
                    match result {
                        Ok(_) => o.acknowledged.push(key),
                        Err(e) if e.maybe_applied() => o.indeterminate += 1,
                        Err(_) => o.refused += 1,
                    }
                }
                if refused {
                    // Nothing was done (no quorum yet, or no node reachable): back off.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    let mut kills = 0;
    let chaos_deadline = started + Duration::from_secs(CHAOS_SECONDS_MAX);
    while kills < KILLS && Instant::now() < chaos_deadline {
        tokio::time::sleep(Duration::from_millis(1_000 + rng.below(2_000))).await;
        let victim = rng.below(3) as usize;
        cluster.kill(victim);
        kills += 1;
        println!(
            "kill {kills}: node {} (SIGKILL) at {:.1}s",
            victim + 1,
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
        cluster.start(victim).unwrap();
        if let Err(e) = cluster.wait_ready(victim, Duration::from_secs(30)).await {
            print_logs(&cluster);
            panic!("{e}");
        }
    }
    // Let the writers run a moment against the whole cluster, then stop them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("a writer did not stop")
            .unwrap();
    }

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    assert!(
        outcomes.acknowledged.len() >= 200,
        "only {} writes were acknowledged; the test proves nothing",
        outcomes.acknowledged.len()
    );

    // Read back every acknowledged write (R=2), from 16 tasks at once.
    let reader = Client::lazy(&addrs, ClientOptions::default());
    let keys = Arc::new(outcomes.acknowledged.clone());
    let mut readers = Vec::new();
    for r in 0..16 {
        let (reader, keys) = (reader.clone(), keys.clone());
        readers.push(tokio::spawn(async move {
            let mut missing = BTreeMap::new();
            for key in keys.iter().skip(r).step_by(16) {
                let mut attempt = 0;
                let object = loop {
                    match reader.get(key.as_bytes()).await {
                        // Nothing read yet (a replica slow or restarting): ask again.
                        Err(
                            ClientError::Timeout { .. }
                            | ClientError::Unavailable { .. }
                            | ClientError::Request(
                                RequestError::Timeout
                                | RequestError::Unavailable { .. }
                                | RequestError::Busy
                                | RequestError::Starting,
                            ),
                        ) if attempt < 20 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        other => break other,
                    }
                };
                match object {
                    Ok(object) if object.values().any(|v| v == value_of(key).as_slice()) => {}
                    Ok(object) => {
                        missing.insert(
                            key.clone(),
                            format!("{} other versions", object.siblings().len()),
                        );
                    }
                    Err(e) => {
                        missing.insert(key.clone(), e.to_string());
                    }
                }
            }
            missing
        }));
    }
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    for r in readers {
        let part = tokio::time::timeout(Duration::from_secs(60), r)
            .await
            .expect("reading back took over a minute")
            .unwrap();
        missing.extend(part);
    }
    println!(
        "acknowledged writes: {}, read back: {}, kills: {}, indeterminate: {}, refused (nothing written): {}, elapsed {:.1}s",
        outcomes.acknowledged.len(),
        outcomes.acknowledged.len() - missing.len(),
        kills,
        outcomes.indeterminate,
        outcomes.refused,
        started.elapsed().as_secs_f64()
    );
    if !missing.is_empty() {
        print_logs(&cluster);
        let sample: Vec<_> = missing.iter().take(10).collect();
        panic!(
            "{} acknowledged writes lost (seed {seed}): {sample:?}",
            missing.len()
        );
    }
    assert!(kills >= 3, "only {kills} kills happened");

    // A clean stop answers and syncs; every node exits by itself on SIGTERM.
    for i in 0..3 {
        let took = cluster.terminate(i, Duration::from_secs(15));
        assert!(took.is_some(), "node {} did not exit on SIGTERM", i + 1);
    }
    assert!(
        started.elapsed() < Duration::from_secs(110),
        "the crash test took too long"
    );
}
