//! What the benchmark reads from the machine (/proc), and how it sums up latencies and
//! results.

use std::time::Duration;

/// Resident memory of this process, bytes (/proc/self/statm, resident pages × 4 KiB pages).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * page_bytes()
}

/// The page size, from the kernel's own accounting of this process: VmRSS (kB) over statm's
/// resident pages, read together; 4 KiB if unreadable.
fn page_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let rss_kb: Option<u64> = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    let pages: Option<u64> = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok());
    match (rss_kb, pages) {
        (Some(kb), Some(pages)) if pages > 0 => (kb * 1024 / pages).next_power_of_two(),
        _ => 4096,
    }
}

/// CPU time this process has run, from /proc/self/schedstat (ns on a CPU; one thread): on a
/// shared machine, wall time includes waiting for a CPU, this does not.
pub fn cpu_time() -> Duration {
    let schedstat = std::fs::read_to_string("/proc/self/schedstat").unwrap_or_default();
    let ns = schedstat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

pub fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown".to_string(), |m| m.trim().to_string());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    format!("{model}, {cores} logical cores")
}

/// Latency percentiles of one kind of operation, in ms.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn latency(samples: &mut [Duration]) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    samples.sort_unstable();
    let at = |p: f64| {
        let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1e3
    };
    Latency {
        p50: at(50.0),
        p99: at(99.0),
        max: at(100.0),
    }
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// FNV-1a over every result: the same corpus and queries must give the same digest before
/// and after a change to the engine.
#[derive(Default)]
pub struct Digest(pub u64);

impl Digest {
    pub fn add(&mut self, bytes: &[u8]) {
        if self.0 == 0 {
            self.0 = 0xcbf2_9ce4_8422_2325;
        }
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn hit(&mut self, key: &[u8], score: f64) {
        self.add(key);
        self.add(&score.to_bits().to_le_bytes());
    }
}
