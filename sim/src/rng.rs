//! The simulator's randomness: one run seed, from which every part derives its own stream.
//!
//! Sub-seeds are derived by mixing the run seed with a label and numbers (splitmix64), so
//! that adding a draw in one part (say the network) does not shift what another part (the
//! disk, the workload) draws. Only seeded ChaCha streams are used: no OS randomness.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// splitmix64's finaliser: a good 64-bit mixer.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A sub-seed for the part named `label`, instance `a`, generation `b`.
pub fn derive_seed(seed: u64, label: &str, a: u64, b: u64) -> u64 {
    let mut h = mix64(seed);
    for byte in label.bytes() {
        h = mix64(h ^ u64::from(byte));
    }
    mix64(mix64(h ^ a) ^ b)
}

#[derive(Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        SimRng {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, [lo, hi]: [u64; 2]) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform index below `len` (which must be positive).
    pub fn index(&mut self, len: usize) -> usize {
        assert!(len > 0, "index of an empty range");
        (self.next_u64() % len as u64) as usize
    }

    /// Picks by relative weights; returns the index.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        assert!(total > 0, "weights must not all be zero");
        let mut pick = self.next_u64() % total;
        for (i, w) in weights.iter().enumerate() {
            if pick < u64::from(*w) {
                return i;
            }
            pick -= u64::from(*w);
        }
        unreachable!("pick is below the total")
    }
}

/// FNV-1a, 64 bits, fed incrementally: the trace hash. Stable across Rust versions.
///
/// FNV-1a takes a multiplication per byte, one after another, and the trace feeds it every
/// message: in a single-seed run that is a tenth of the main thread's work. `on_thread`
/// folds the bytes on a thread of its own instead: the main thread only appends them to a
/// batch, and the thread folds the batches in the order they were sent, so the value is the
/// same; `settle` waits for it.
#[derive(Debug)]
pub struct TraceHash {
    value: u64,
    thread: Option<HashThread>,
}

/// Bytes gathered before a batch goes to the hashing thread.
const HASH_BATCH_BYTES: usize = 1 << 16;

/// The hashing thread, and the batch being gathered for it.
#[derive(Debug)]
struct HashThread {
    batch: Vec<u8>,
    full: mpsc::Sender<Vec<u8>>,
    /// Batches the thread has folded, returned to be filled again.
    empty: mpsc::Receiver<Vec<u8>>,
    handle: JoinHandle<u64>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl Default for TraceHash {
    fn default() -> TraceHash {
        TraceHash {
            value: FNV_OFFSET,
            thread: None,
        }
    }
}

impl TraceHash {
    /// A trace hash folded on a thread of its own (or here, if no thread can start).
    pub fn on_thread() -> TraceHash {
        let (full, batches) = mpsc::channel::<Vec<u8>>();
        let (returned, empty) = mpsc::channel::<Vec<u8>>();
        let spawned = std::thread::Builder::new()
            .name("sim-trace-hash".into())
            .spawn(move || {
                let mut hash = FNV_OFFSET;
                for mut batch in batches {
                    hash = fnv1a(hash, &batch);
                    batch.clear();
                    // The sender may be gone already; the batch is then just freed.
                    let _ = returned.send(batch);
                }
                hash
            });
        let Ok(handle) = spawned else {
            return TraceHash::default();
        };
        TraceHash {
            value: FNV_OFFSET,
            thread: Some(HashThread {
                batch: Vec::with_capacity(HASH_BATCH_BYTES),
                full,
                empty,
                handle,
            }),
        }
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        let Some(thread) = self.thread.as_mut() else {
            self.value = fnv1a(self.value, bytes);
            return;
        };
        thread.batch.extend_from_slice(bytes);
        if thread.batch.len() >= HASH_BATCH_BYTES {
            let next = thread
                .empty
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(2 * HASH_BATCH_BYTES));
            let batch = std::mem::replace(&mut thread.batch, next);
            thread
                .full
                .send(batch)
                .expect("the trace hash thread runs until its sender is dropped");
        }
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Waits for the hashing thread, if any, to fold everything sent to it.
    pub fn settle(&mut self) {
        if let Some(thread) = self.thread.take() {
            let HashThread {
                batch,
                full,
                handle,
                ..
            } = thread;
            full.send(batch)
                .expect("the trace hash thread runs until its sender is dropped");
            drop(full);
            self.value = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
    }

    /// The hash of everything fed so far; `settle` first if it runs on a thread.
    pub fn value(&self) -> u64 {
        assert!(
            self.thread.is_none(),
            "the trace hash is read only once settled"
        );
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_differ_by_label_and_instance() {
        let a = derive_seed(42, "net", 0, 0);
        assert_ne!(a, derive_seed(42, "disk", 0, 0));
        assert_ne!(a, derive_seed(42, "net", 1, 0));
        assert_ne!(a, derive_seed(43, "net", 0, 0));
        assert_eq!(a, derive_seed(42, "net", 0, 0));
    }

    #[test]
    fn the_trace_hash_is_the_same_on_a_thread() {
        let mut here = TraceHash::default();
        let mut there = TraceHash::on_thread();
        for i in 0..50_000u64 {
            here.u64(i);
            there.u64(i);
            let bytes = vec![i as u8; (i % 97) as usize];
            here.bytes(&bytes);
            there.bytes(&bytes);
        }
        there.settle();
        assert_eq!(here.value(), there.value());
        // FNV-1a of "a", as published.
        let mut a = TraceHash::default();
        a.bytes(b"a");
        assert_eq!(a.value(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn ranges_are_inclusive_and_bounded() {
        let mut rng = SimRng::new(1);
        for _ in 0..1000 {
            let v = rng.range([3, 5]);
            assert!((3..=5).contains(&v));
        }
        assert_eq!(rng.range([7, 7]), 7);
    }
}
