//! Measures what recovery costs: writes a log of N keys with 100-byte values (default
//! 1,000,000) straight to a segment file, then times `disk::open` (read + core recovery) and
//! `Node::new`, printing resident memory after each step. No network, no cluster:
//! `cargo run --release -p node --example recovery_probe [-- N]`.

use std::path::Path;
use std::time::Instant;
use tern_core::log::Record;
use tern_core::{ActorId, Config, Dot, Node, NodeId, Object, Sibling, VectorClock};

fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let dir = std::env::temp_dir().join(format!("tern-recovery-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut log = Vec::new();
    Record::Boot {
        incarnation: 1,
        log_id: 1,
    }
    .encode_into(&mut log);
    let actor = ActorId {
        node: NodeId(1),
        incarnation: 1,
    };
    let mut raw = 0u64;
    for i in 0..count {
        let key = format!("bench-{i:010}").into_bytes();
        let mut value = format!("{i:020}-").into_bytes();
        value.resize(100, b'v');
        raw += (key.len() + value.len()) as u64;
        let sibling = Sibling {
            bulk: None,
            dot: Dot { actor, seq: i + 1 },
            context: VectorClock::new(),
            value: Some(value),
        };
        Record::encode_object(&key, &Object::single(sibling), &mut log);
    }
    let path = dir.join(tern_node::disk::segment_file_name(0));
    std::fs::write(&path, &log)?;
    println!(
        "{count} keys, {} MB of keys and values, log {} MB",
        raw >> 20,
        log.len() >> 20
    );
    drop(log);
    report(&dir, count, raw)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn report(dir: &Path, count: u64, raw: u64) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let (recovered, _writer) = tern_node::disk::open(dir)?;
    println!(
        "read + recovered {} keys in {:.2} s; resident {} MB",
        recovered.objects.len(),
        started.elapsed().as_secs_f64(),
        rss_mb()
    );
    let config = Config::new(vec![NodeId(1), NodeId(2), NodeId(3)]);
    let node = Node::new(config, NodeId(1), 1, tern_core::Time::ZERO, recovered)?;
    let rss = rss_mb();
    println!(
        "node built after {:.2} s; resident {rss} MB = {} bytes per key = {:.2}x the raw key+value bytes",
        started.elapsed().as_secs_f64(),
        (rss << 20) / count.max(1),
        (rss << 20) as f64 / raw.max(1) as f64
    );
    drop(node);
    Ok(())
}
