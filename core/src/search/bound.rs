//! A lower bound of a document's TF-IDF norm that holds for the statistics of any set of the
//! index's partitions, kept exact through every write, so that `Index::similar` can skip a
//! document without reading its terms. It caches nothing that depends on n or df: those
//! change with every write anywhere, and a cached norm would be stale.
//!
//! A term's *class* is a bound on its df: a term of class c has df < 2^(c + 1) (the last class
//! has no bound). Each document keeps, per class, Σ tf² of its terms of that class (its
//! *masses*). Whatever the partitions P, df(t, P) ≤ df(t) < 2^(c + 1) and df(t, P) ≤ n(P), so
//! idf(t, P) = ln((1 + n) / (1 + df)) + 1 ≥ max(1, ln((1 + n) / 2^(c + 1)) + 1) = floor(c),
//! and |d|² = Σ tf² idf² ≥ Σ_c mass(c) · floor(c)².
//!
//! A term starts in class 0 (df 1) and moves up one class when its df reaches 2^(c + 1): its
//! tf² moves in the masses of every document holding it. A term never moves down (a smaller
//! df keeps the bound true), so a term's moves cost at most 2 · df in all: O(1) per posting.
//! Masses saturate: a sum too large for a `u16` is kept smaller than it is, still a bound.

/// Number of classes: the last holds the terms with df ≥ 2^(CLASSES − 1), for which the bound
/// is idf ≥ 1.
pub(super) const CLASSES: usize = 20;

/// Σ tf² per class of a document's terms, each at most its true value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Masses([u16; CLASSES]);

/// tf², saturated to what a mass holds.
fn square(tf: u32) -> u16 {
    u16::try_from(u64::from(tf) * u64::from(tf)).unwrap_or(u16::MAX)
}

impl Masses {
    pub fn add(&mut self, class: u8, tf: u32) {
        let mass = &mut self.0[class as usize];
        *mass = mass.saturating_add(square(tf));
    }

    /// Moves a term of tf `tf` from `class` to the next one.
    pub fn promote(&mut self, class: u8, tf: u32) {
        let mass = &mut self.0[class as usize];
        *mass = mass.saturating_sub(square(tf));
        self.add(class + 1, tf);
    }
}

#[cfg(test)]
impl Masses {
    /// True if every class of `self` is at most that of `other`.
    pub fn within(&self, other: &Masses) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a <= b)
    }
}

/// The class a term of class `class` must be in once its df is `df`.
pub(super) fn promoted(class: u8, df: usize) -> Option<u8> {
    let next = class as usize + 1;
    (next < CLASSES && df >= 1 << next).then_some(class + 1)
}

/// The floors of idf² per class for the statistics of one search.
#[derive(Debug)]
pub(super) struct Floors([f64; CLASSES]);

impl Floors {
    /// For partitions holding `docs` documents.
    pub fn new(docs: u64) -> Floors {
        let mut floors = [1.0; CLASSES];
        for (c, floor) in floors.iter_mut().enumerate().take(CLASSES - 1) {
            let idf = ((1.0 + docs as f64) / (1u64 << (c + 1)) as f64).ln() + 1.0;
            *floor = idf.max(1.0).powi(2);
        }
        Floors(floors)
    }

    /// A lower bound of |d|², given the exact weights of some of its terms: `known` holds
    /// (class, tf, tf · idf) of each; their squares replace their classes' floors.
    pub fn norm2(&self, masses: &Masses, known: impl Iterator<Item = (u8, u32, f64)>) -> f64 {
        let mut mass = masses.0;
        let mut exact = 0.0;
        for (class, tf, w) in known {
            let m = &mut mass[class as usize];
            *m = m.saturating_sub(square(tf));
            exact += w * w;
        }
        let floors: f64 = mass
            .iter()
            .zip(&self.0)
            .map(|(&m, floor)| f64::from(m) * floor)
            .sum();
        exact + floors
    }
}
