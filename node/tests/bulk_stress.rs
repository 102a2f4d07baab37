//! Bulk writes and bulk reads on real nodes (issue 10): three `tern-node` processes on
//! loopback, several clients doing bulk writes (2 to 6 keys, sets and deletes, contexts from
//! a bulk read or blind) and bulk reads over a small shared key space, while nodes are
//! killed with SIGKILL and restarted on their data. What is checked:
//! - no bulk read is fractured: a read that shows a version of bulk write T on one key
//!   shows T, or a version that replaced it, on every other key of T it asked for;
//! - every version read is the one its writer wrote for that key under that dot, and a
//!   bulk write refused (nothing done) is never seen;
//! - once the load stops, every acknowledged bulk write, and every bulk write any read saw,
//!   is visible or replaced on every one of its keys: in one bulk read of every key, and in
//!   single reads at R=3 once the replicas have resolved what they kept aside.
//!
//! Bounded: about 12 s of load, a quiet period of 5 s, then at most 40 s of waiting for
//! the replicas to agree (normally none; all of it stays under the nodes' 60 s tombstone
//! grace, so no version a read saw is collected meanwhile). The run's seed is printed;
//! `TERN_STRESS_SEED=...` replays its choices (not its timing).

mod common;

use common::{print_logs, Rng, TempDir};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tern_core::limits::{BULK_KEYS_MAX, BULK_TIMEOUT_MAX_TIMEOUTS};
use tern_core::{BulkItem, BulkKeys, Dot, Object, Op, Quorum, Request, Response, VectorClock};
use tern_node::bench::ProcessCluster;
use tern_node::{Client, ClientError, ClientOptions};

/// The shared key space: small, so that bulk writes and reads overlap all the time.
const KEYS: usize = 40;
const CLIENTS: usize = 6;
const LOAD_SECONDS: u64 = 12;
const KILLS: u64 = 2;
const WRITE_KEYS_MIN: u64 = 2;
const WRITE_KEYS_MAX: u64 = 6;
const READ_KEYS_MAX: u64 = 8;
/// The nodes' request timeout: short, so that bulk writes whose coordinator was killed are
/// resolved by their replicas (after twice the longest bulk request) within the test.
const REQUEST_TIMEOUT_MS: u64 = 1_000;
/// How long the replicas get, after the load stops, to agree at R=3.
const SETTLE_SECONDS_MAX: u64 = 40;

impl Rng {
    /// `count` distinct keys of the key space, in random order.
    fn keys(&mut self, count: u64) -> Vec<Vec<u8>> {
        let mut all: Vec<usize> = (0..KEYS).collect();
        for i in 0..count as usize {
            let j = i + self.below((KEYS - i) as u64) as usize;
            all.swap(i, j);
        }
        all[..count as usize].iter().map(|&i| key(i)).collect()
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("k{i:02}").into_bytes()
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A dot, short: node, incarnation (hex), sequence number.
fn name(dot: &Dot) -> String {
    format!(
        "{}/{:x}/{}",
        dot.actor.node.0, dot.actor.incarnation, dot.seq
    )
}

/// How a bulk write ended, as its client heard it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Acknowledged(Dot),
    /// Maybe applied; all or nothing.
    Indeterminate,
    /// Nothing was done: none of it may ever be seen.
    Refused(String),
}

#[derive(Clone, Debug)]
struct BulkWrite {
    /// (client, sequence number there): names the write in messages.
    id: (usize, u64),
    /// Each key and its value (`None`: a delete). Every value is unique in the run.
    items: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    outcome: Outcome,
}

/// One read's answer: the keys asked, and one object per key in the same order.
#[derive(Clone, Debug)]
struct Read {
    keys: Vec<Vec<u8>>,
    objects: Vec<Object>,
}

#[derive(Default)]
struct ClientLog {
    writes: Vec<BulkWrite>,
    reads: Vec<Read>,
    failed_reads: u64,
}

/// A bulk read that shows bulk write `dot` on `shown_on` but neither it nor a version that
/// replaced it on `missing_on`, another key of that write it also asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fracture {
    dot: Dot,
    shown_on: Vec<u8>,
    missing_on: Vec<u8>,
}

/// The fractures in one bulk read's answer. A key whose object is missing from the answer
/// counts as having seen nothing.
fn fractures(read: &Read) -> Vec<Fracture> {
    let mut found = Vec::new();
    for (i, shown_on) in read.keys.iter().enumerate() {
        let Some(object) = read.objects.get(i) else {
            continue;
        };
        for sibling in object.siblings() {
            let Some(bulk) = &sibling.bulk else {
                continue;
            };
            for other in bulk.iter().filter(|k| *k != shown_on) {
                let Some(j) = read.keys.iter().position(|k| k == other) else {
                    continue;
                };
                if !read.objects.get(j).is_some_and(|o| o.has_seen(sibling.dot)) {
                    found.push(Fracture {
                        dot: sibling.dot,
                        shown_on: shown_on.clone(),
                        missing_on: other.clone(),
                    });
                }
            }
        }
    }
    found
}

/// True if the read shows a bulk write on one key and asked for another key of it: a read
/// that could have been fractured.
fn spans_a_bulk_write(read: &Read) -> bool {
    read.objects
        .iter()
        .zip(&read.keys)
        .any(|(object, shown_on)| {
            object.siblings().iter().any(|s| {
                s.bulk
                    .as_ref()
                    .is_some_and(|bulk| bulk.iter().any(|k| k != shown_on && read.keys.contains(k)))
            })
        })
}

/// What every read saw, checked against what the writers wrote: each version's value is the
/// one its write wrote for that key, under one dot per write (the acknowledged one, if the
/// write was acknowledged), with that write's keys; no refused write is seen. Returns the
/// violations and every bulk write seen (dot and keys).
fn check_versions(writes: &[BulkWrite], reads: &[Read]) -> (Vec<String>, BTreeMap<Dot, BulkKeys>) {
    let mut by_value: BTreeMap<&[u8], (usize, &[u8])> = BTreeMap::new();
    for (w, write) in writes.iter().enumerate() {
        for (key, value) in &write.items {
            if let Some(value) = value {
                by_value.insert(value, (w, key));
            }
        }
    }
    let mut violations = Vec::new();
    let mut seen: BTreeMap<Dot, BulkKeys> = BTreeMap::new();
    let mut owner: BTreeMap<Dot, usize> = BTreeMap::new();
    for read in reads {
        if read.keys.len() != read.objects.len() {
            violations.push(format!(
                "a read of {} keys answered {} objects",
                read.keys.len(),
                read.objects.len()
            ));
        }
        for (key, object) in read.keys.iter().zip(&read.objects) {
            for s in object.siblings() {
                let Some(bulk) = &s.bulk else {
                    violations.push(format!(
                        "key {}: version {} was not written by a bulk write",
                        show(key),
                        name(&s.dot)
                    ));
                    continue;
                };
                if !bulk.contains(key) {
                    violations.push(format!(
                        "key {}: version {} names keys {:?}, not this one",
                        show(key),
                        name(&s.dot),
                        bulk.iter().map(|k| show(k)).collect::<Vec<_>>()
                    ));
                }
                seen.entry(s.dot).or_insert_with(|| bulk.clone());
                let Some(value) = &s.value else {
                    continue;
                };
                let Some(&(w, written_key)) = by_value.get(value.as_slice()) else {
                    violations.push(format!(
                        "key {}: value {} was never written",
                        show(key),
                        show(value)
                    ));
                    continue;
                };
                let write = &writes[w];
                if written_key != key.as_slice() {
                    violations.push(format!(
                        "key {}: value {} was written to key {}",
                        show(key),
                        show(value),
                        show(written_key)
                    ));
                }
                let mut keys: Vec<&[u8]> = write.items.iter().map(|(k, _)| k.as_slice()).collect();
                keys.sort();
                if !keys.iter().copied().eq(bulk.iter().map(Vec::as_slice)) {
                    violations.push(format!(
                        "key {}: version {} of write {:?} names other keys than the write's",
                        show(key),
                        name(&s.dot),
                        write.id
                    ));
                }
                match &write.outcome {
                    Outcome::Acknowledged(dot) if *dot != s.dot => violations.push(format!(
                        "key {}: write {:?} was acknowledged as {} but is read as {}",
                        show(key),
                        write.id,
                        name(dot),
                        name(&s.dot)
                    )),
                    Outcome::Refused(why) => violations.push(format!(
                        "key {}: write {:?} was refused ({why}) but is read as {}",
                        show(key),
                        write.id,
                        name(&s.dot)
                    )),
                    _ => {}
                }
                if let Some(other) = owner.insert(s.dot, w) {
                    if other != w {
                        violations.push(format!(
                            "dot {} holds values of two writes, {:?} and {:?}",
                            name(&s.dot),
                            writes[other].id,
                            write.id
                        ));
                    }
                }
            }
        }
    }
    (violations, seen)
}

/// Keys of bulk writes that `state` (every key's object) has not seen: every acknowledged
/// write, and every write some read saw (`seen`), must be visible or replaced on every key.
fn incomplete(
    writes: &[BulkWrite],
    seen: &BTreeMap<Dot, BulkKeys>,
    state: &BTreeMap<Vec<u8>, Object>,
) -> Vec<String> {
    let empty = Object::new();
    let mut missing = Vec::new();
    for write in writes {
        if let Outcome::Acknowledged(dot) = write.outcome {
            for (key, _) in &write.items {
                if !state.get(key).unwrap_or(&empty).has_seen(dot) {
                    missing.push(format!(
                        "acknowledged bulk write {:?} ({}) is missing on key {}",
                        write.id,
                        name(&dot),
                        show(key)
                    ));
                }
            }
        }
    }
    for (dot, keys) in seen {
        for key in keys.iter() {
            if !state.get(key).unwrap_or(&empty).has_seen(*dot) {
                missing.push(format!(
                    "bulk write {}, seen by a read, is missing on key {}",
                    name(dot),
                    show(key)
                ));
            }
        }
    }
    missing
}

fn bulk_get_op(keys: &[Vec<u8>]) -> Op {
    Op::BulkGet {
        keys: keys.iter().cloned().map(Into::into).collect(),
    }
}

async fn bulk_get(client: &Client, keys: &[Vec<u8>]) -> Result<Read, ClientError> {
    match client.request(Request::new(bulk_get_op(keys))).await? {
        Response::Objects(objects) => Ok(Read {
            keys: keys.to_vec(),
            objects,
        }),
        other => panic!("a bulk read was answered {other:?}"),
    }
}

/// One client: bulk reads and bulk writes at random until `stop`.
async fn client_loop(c: usize, client: Client, seed: u64, stop: Arc<AtomicBool>) -> ClientLog {
    let mut rng = Rng(seed);
    let mut log = ClientLog::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if rng.below(2) == 0 {
            let count = 2 + rng.below(READ_KEYS_MAX - 1);
            let keys = rng.keys(count);
            match bulk_get(&client, &keys).await {
                Ok(read) => log.reads.push(read),
                Err(_) => {
                    // A node restarting, or too few replicas: try again in a moment.
                    log.failed_reads += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            continue;
        }
        let count = WRITE_KEYS_MIN + rng.below(WRITE_KEYS_MAX - WRITE_KEYS_MIN + 1);
        let keys = rng.keys(count);
        // Mostly read-modify-write (each key's context from a bulk read of the same keys);
        // one write in four blind, which leaves siblings.
        let contexts: Vec<VectorClock> = if rng.below(4) == 0 {
            vec![VectorClock::new(); keys.len()]
        } else {
            match bulk_get(&client, &keys).await {
                Ok(read) => {
                    let contexts = read.objects.iter().map(Object::clock).collect();
                    log.reads.push(read);
                    contexts
                }
                Err(_) => {
                    log.failed_reads += 1;
                    vec![VectorClock::new(); keys.len()]
                }
            }
        };
        seq += 1;
        let items: Vec<(Vec<u8>, Option<Vec<u8>>)> = keys
            .iter()
            .map(|k| {
                // One key in eight is deleted.
                let value =
                    (rng.below(8) != 0).then(|| format!("c{c}-w{seq}-{}", show(k)).into_bytes());
                (k.clone(), value)
            })
            .collect();
        let op = Op::BulkWrite {
            items: items
                .iter()
                .zip(contexts)
                .map(|((key, value), context)| BulkItem {
                    key: key.clone(),
                    value: value.clone(),
                    context,
                })
                .collect(),
        };
        let outcome = match client.request(Request::new(op)).await {
            Ok(Response::BulkWritten { dot }) => Outcome::Acknowledged(dot),
            Ok(other) => panic!("a bulk write was answered {other:?}"),
            Err(e) if e.maybe_applied() => Outcome::Indeterminate,
            Err(e) => Outcome::Refused(e.to_string()),
        };
        let refused = matches!(outcome, Outcome::Refused(_));
        log.writes.push(BulkWrite {
            id: (c, seq),
            items,
            outcome,
        });
        if refused {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    log
}

/// Reads every key at R=3 (each key retried a few times while a replica is slow); `None`
/// if some key could not be read this round.
async fn read_all_r3(client: &Client) -> Option<Vec<Read>> {
    let mut reads = Vec::new();
    for i in 0..KEYS {
        let request = Request {
            op: Op::Get { key: key(i) },
            quorum: Quorum {
                r: Some(3),
                ..Quorum::default()
            },
            timeout_ms: None,
        };
        match client.request(request).await {
            Ok(Response::Object(object)) => reads.push(Read {
                keys: vec![key(i)],
                objects: vec![object],
            }),
            Ok(other) => panic!("a read was answered {other:?}"),
            Err(_) => return None,
        }
    }
    Some(reads)
}

fn state_of(reads: &[Read]) -> BTreeMap<Vec<u8>, Object> {
    reads
        .iter()
        .flat_map(|r| r.keys.iter().cloned().zip(r.objects.iter().cloned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_reads_are_never_fractured_and_bulk_writes_are_all_or_nothing_under_sigkill() {
    let seed = std::env::var("TERN_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    println!("bulk stress seed {seed}");
    // Dropping the run on timeout drops its cluster, which kills every node.
    tokio::time::timeout(Duration::from_secs(150), run(seed))
        .await
        .expect("the bulk stress test took over 150 s");
}

async fn run(seed: u64) {
    let started = Instant::now();
    let mut rng = Rng(seed);
    // Declared before the cluster, so dropped after it: the nodes die before their files go.
    let dir = TempDir::new("bulk-stress");
    let exe = Path::new(env!("CARGO_BIN_EXE_tern-node"));
    let extra = [
        "--log".to_string(),
        "info".to_string(),
        "--request-timeout-ms".to_string(),
        REQUEST_TIMEOUT_MS.to_string(),
    ];
    let mut cluster = ProcessCluster::spawn(exe, 3, &dir.0, &extra).unwrap();
    for i in 0..cluster.len() {
        cluster
            .wait_ready(i, Duration::from_secs(30))
            .await
            .unwrap();
    }
    let addrs = cluster.addrs();
    let options = ClientOptions {
        connect_timeout_ms: 1_000,
        reply_timeout_ms: 8_000,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let mut order = addrs.clone();
        order.rotate_left(c % addrs.len());
        let client = Client::lazy(&order, options.clone());
        let client_seed = rng.next() | 1;
        clients.push(tokio::spawn(client_loop(
            c,
            client,
            client_seed,
            stop.clone(),
        )));
    }

    // Kill a node with SIGKILL and start it again on its data, KILLS times spread over
    // the load, a different node each time.
    let load_end = started + Duration::from_secs(LOAD_SECONDS);
    let mut victim = rng.below(3) as usize;
    for k in 1..=KILLS {
        let at = started + Duration::from_secs(LOAD_SECONDS * k / (KILLS + 1));
        tokio::time::sleep_until(at.into()).await;
        cluster.kill(victim);
        println!(
            "kill {k}: node {} (SIGKILL) at {:.1}s",
            victim + 1,
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(300 + rng.below(700))).await;
        cluster.start(victim).unwrap();
        if let Err(e) = cluster.wait_ready(victim, Duration::from_secs(30)).await {
            print_logs(&cluster);
            panic!("{e}");
        }
        victim = (victim + 1 + rng.below(2) as usize) % 3;
    }
    tokio::time::sleep_until(load_end.into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = Vec::new();
    let mut reads = Vec::new();
    let mut failed_reads = 0;
    for client in clients {
        let log = tokio::time::timeout(Duration::from_secs(30), client)
            .await
            .expect("a client did not stop")
            .unwrap();
        writes.extend(log.writes);
        reads.extend(log.reads);
        failed_reads += log.failed_reads;
    }
    let bulk_reads = reads.len();
    let load_seconds = started.elapsed().as_secs_f64();

    // One bulk read of every key, asked until it is answered.
    let reader = Client::lazy(&addrs, options.clone());
    let all: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
    const _: () = assert!(KEYS <= BULK_KEYS_MAX);
    let mut last = None;
    let mut final_read = None;
    for _ in 0..50 {
        match bulk_get(&reader, &all).await {
            Ok(read) => {
                final_read = Some(read);
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let final_read = final_read.unwrap_or_else(|| {
        print_logs(&cluster);
        panic!("the final bulk read of every key failed: {last:?}")
    });
    reads.push(final_read.clone());

    let mut violations: Vec<String> = Vec::new();
    let mut fractured = 0;
    let spanning = reads[..bulk_reads]
        .iter()
        .filter(|r| spans_a_bulk_write(r))
        .count();
    for read in &reads {
        let found = fractures(read);
        if !found.is_empty() {
            fractured += 1;
            for f in found {
                violations.push(format!(
                    "fractured read of {:?}: bulk write {} shown on {} but not on {}",
                    read.keys.iter().map(|k| show(k)).collect::<Vec<_>>(),
                    name(&f.dot),
                    show(&f.shown_on),
                    show(&f.missing_on)
                ));
            }
        }
    }
    let (mut version_violations, seen) = check_versions(&writes, &reads);
    violations.append(&mut version_violations);
    let after_load = incomplete(&writes, &seen, &state_of(std::slice::from_ref(&final_read)));
    violations.extend(after_load.iter().map(|m| format!("final bulk read: {m}")));

    // A quiet period, past the moment when replicas resolve what they kept aside for bulk
    // writes whose coordinator was killed between prepare and commit (twice the longest
    // bulk request, and a second for the resolution's messages): what the reads at R=3 see
    // after it is what stays.
    let quiet = Duration::from_millis(2 * BULK_TIMEOUT_MAX_TIMEOUTS * REQUEST_TIMEOUT_MS + 1_000);
    tokio::time::sleep(quiet).await;
    // Then single reads at R=3 of every key, until every bulk write seen is complete there
    // too (a replica that missed a commit gets it by hint or anti-entropy meanwhile).
    let settle_started = Instant::now();
    let mut settled = None;
    let mut r3_missing = Vec::new();
    let mut seen = seen;
    let mut last_round = Vec::new();
    while settle_started.elapsed() < Duration::from_secs(SETTLE_SECONDS_MAX) {
        if let Some(round) = read_all_r3(&reader).await {
            let (mut round_violations, round_seen) = check_versions(&writes, &round);
            violations.append(&mut round_violations);
            for (dot, keys) in round_seen {
                seen.entry(dot).or_insert(keys);
            }
            r3_missing = incomplete(&writes, &seen, &state_of(&round));
            last_round = round;
            if r3_missing.is_empty() {
                settled = Some(settle_started.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    violations.extend(r3_missing.iter().map(|m| format!("reads at R=3: {m}")));
    if settled.is_none() && r3_missing.is_empty() {
        violations.push(format!(
            "no round of reads at R=3 succeeded in {SETTLE_SECONDS_MAX} s"
        ));
    }

    let count = |f: fn(&Outcome) -> bool| writes.iter().filter(|w| f(&w.outcome)).count();
    let acknowledged = count(|o| matches!(o, Outcome::Acknowledged(_)));
    let indeterminate = count(|o| *o == Outcome::Indeterminate);
    let refused = count(|o| matches!(o, Outcome::Refused(_)));
    // Indeterminate writes that some read showed (by their unique values; a write of
    // deletes only cannot be told apart) and that are therefore complete, the others
    // never seen at all.
    let values_seen: BTreeSet<&[u8]> = reads
        .iter()
        .chain(&last_round)
        .flat_map(|r| r.objects.iter().flat_map(Object::values))
        .collect();
    let indeterminate_seen = writes
        .iter()
        .filter(|w| w.outcome == Outcome::Indeterminate)
        .filter(|w| {
            w.items
                .iter()
                .any(|(_, v)| v.as_deref().is_some_and(|v| values_seen.contains(v)))
        })
        .count();
    let keys_written: usize = writes
        .iter()
        .filter(|w| matches!(w.outcome, Outcome::Acknowledged(_)))
        .map(|w| w.items.len())
        .sum();
    println!(
        "bulk stress: {fractured} fractured reads out of {bulk_reads} bulk reads ({spanning} of them showing a bulk write on one key and asking for another of its keys; and the final read of all {KEYS} keys); \
         {acknowledged} bulk writes acknowledged ({keys_written} keys), {indeterminate} indeterminate ({indeterminate_seen} of them seen by a read), {refused} refused (nothing done), \
         {failed_reads} bulk reads failed; {} bulk writes seen by reads; every acknowledged or seen bulk write complete on every key: {} \
         (final bulk read: {} missing; R=3 reads: {}); {KILLS} kills; load {load_seconds:.1}s, total {:.1}s",
        seen.len(),
        if violations.is_empty() { "yes" } else { "NO" },
        after_load.len(),
        settled.map_or("did not settle".to_string(), |d| format!("settled {:.1}s after a quiet period of {:.0}s", d.as_secs_f64(), quiet.as_secs_f64())),
        started.elapsed().as_secs_f64()
    );
    if !violations.is_empty() {
        print_logs(&cluster);
        let sample: Vec<&String> = violations.iter().take(20).collect();
        panic!(
            "{} violations (seed {seed}); the first: {sample:#?}",
            violations.len()
        );
    }
    assert!(
        acknowledged >= 50 && bulk_reads >= 100,
        "only {acknowledged} bulk writes acknowledged and {bulk_reads} bulk reads: the test proves little"
    );
    for i in 0..cluster.len() {
        let took = cluster.terminate(i, Duration::from_secs(15));
        assert!(took.is_some(), "node {} did not exit on SIGTERM", i + 1);
    }
}

mod checker {
    //! The checks can fail: each is fed a violating history.

    use super::*;
    use tern_core::{ActorId, NodeId, Sibling};

    fn dot(incarnation: u64) -> Dot {
        Dot {
            actor: ActorId {
                node: NodeId(1),
                incarnation,
            },
            seq: 1,
        }
    }

    fn version(dot: Dot, value: &str, keys: &[&str], context: VectorClock) -> Sibling {
        Sibling {
            dot,
            context,
            value: Some(value.as_bytes().to_vec()),
            bulk: Some(keys.iter().map(|k| k.as_bytes().to_vec()).collect()),
        }
    }

    fn keys(names: &[&str]) -> Vec<Vec<u8>> {
        names.iter().map(|k| k.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_read_missing_one_key_of_a_bulk_write_is_fractured() {
        let t = dot(7);
        let on_a = Object::single(version(t, "a1", &["a", "b"], VectorClock::new()));
        let on_b = Object::single(version(t, "b1", &["a", "b"], VectorClock::new()));
        let whole = Read {
            keys: keys(&["a", "b"]),
            objects: vec![on_a.clone(), on_b],
        };
        assert!(fractures(&whole).is_empty());
        // b shows an older version, or nothing at all: fractured.
        let older = Object::single(version(dot(3), "b0", &["b", "c"], VectorClock::new()));
        for b in [older, Object::new()] {
            let fractured = Read {
                keys: keys(&["a", "b"]),
                objects: vec![on_a.clone(), b],
            };
            assert_eq!(
                fractures(&fractured),
                vec![Fracture {
                    dot: t,
                    shown_on: b"a".to_vec(),
                    missing_on: b"b".to_vec(),
                }]
            );
        }
        // An answer that dropped b's object is fractured too.
        let dropped = Read {
            keys: keys(&["a", "b"]),
            objects: vec![on_a.clone()],
        };
        assert_eq!(fractures(&dropped).len(), 1);
        // A version on b that replaced t (its context covers t) is not a fracture.
        let mut context = VectorClock::new();
        context.add(t);
        let newer = Object::single(version(dot(9), "b2", &["b"], context));
        let replaced = Read {
            keys: keys(&["a", "b"]),
            objects: vec![on_a, newer],
        };
        assert!(fractures(&replaced).is_empty());
    }

    #[test]
    fn a_partial_or_refused_bulk_write_is_flagged() {
        let t = dot(7);
        let write = BulkWrite {
            id: (0, 1),
            items: vec![
                (b"a".to_vec(), Some(b"a1".to_vec())),
                (b"b".to_vec(), Some(b"b1".to_vec())),
            ],
            outcome: Outcome::Acknowledged(t),
        };
        let on_a = Object::single(version(t, "a1", &["a", "b"], VectorClock::new()));
        let on_b = Object::single(version(t, "b1", &["a", "b"], VectorClock::new()));
        let whole: BTreeMap<_, _> = [(b"a".to_vec(), on_a.clone()), (b"b".to_vec(), on_b)].into();
        let partial: BTreeMap<_, _> = [(b"a".to_vec(), on_a.clone())].into();
        let writes = [write];
        assert!(incomplete(&writes, &BTreeMap::new(), &whole).is_empty());
        assert_eq!(incomplete(&writes, &BTreeMap::new(), &partial).len(), 1);

        // An indeterminate write seen on a must be complete too.
        let mut maybe = writes.clone();
        maybe[0].outcome = Outcome::Indeterminate;
        let read = Read {
            keys: keys(&["a"]),
            objects: vec![on_a.clone()],
        };
        let (violations, seen) = check_versions(&maybe, std::slice::from_ref(&read));
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(incomplete(&maybe, &seen, &partial).len(), 1);

        // A refused write must never be seen; a value read under the wrong dot is flagged.
        let mut refused = writes.clone();
        refused[0].outcome = Outcome::Refused("busy".to_string());
        assert_eq!(
            check_versions(&refused, std::slice::from_ref(&read))
                .0
                .len(),
            1
        );
        let mut other_dot = writes.clone();
        other_dot[0].outcome = Outcome::Acknowledged(dot(8));
        assert_eq!(check_versions(&other_dot, &[read]).0.len(), 1);
    }
}
