//! The simulator's randomness: one run seed, from which every part derives its own stream.
//!
//! Sub-seeds are derived by mixing the run seed with a label and numbers (splitmix64), so
//! that adding a draw in one part (say the network) does not shift what another part (the
//! disk, the workload) draws. Only seeded ChaCha streams are used: no OS randomness.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

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
#[derive(Clone, Copy, Debug)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> TraceHash {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    pub fn value(&self) -> u64 {
        self.0
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
    fn ranges_are_inclusive_and_bounded() {
        let mut rng = SimRng::new(1);
        for _ in 0..1000 {
            let v = rng.range([3, 5]);
            assert!((3..=5).contains(&v));
        }
        assert_eq!(rng.range([7, 7]), 7);
    }
}
