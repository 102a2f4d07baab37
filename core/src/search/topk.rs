//! The best `limit` scored documents, in rank order (score descending, then key bytes
//! ascending, as `rank::rank`), kept in a bounded heap: offering n documents costs
//! O(n log limit), and a key is read only for a document that enters the heap or ties with
//! the worst one kept. What it returns is exactly the first `limit` hits of `rank` over every
//! document offered.

use super::rank::Hit;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A kept document. Ordered so that the heap's greatest is the worst ranked.
#[derive(Debug)]
struct Kept<'a> {
    score: f64,
    key: &'a [u8],
}

impl Ord for Kept<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.key.cmp(other.key))
    }
}

impl PartialOrd for Kept<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Kept<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Kept<'_> {}

#[derive(Debug)]
pub(super) struct TopK<'a> {
    limit: usize,
    heap: BinaryHeap<Kept<'a>>,
}

impl<'a> TopK<'a> {
    pub fn new(limit: usize) -> TopK<'a> {
        TopK {
            limit,
            heap: BinaryHeap::with_capacity(limit.min(1 << 12) + 1),
        }
    }

    /// Once `limit` documents are kept, the worst kept score: a document scoring less cannot
    /// enter (one scoring the same can, with a smaller key).
    pub fn threshold(&self) -> Option<f64> {
        (self.heap.len() >= self.limit).then(|| self.heap.peek().map_or(f64::INFINITY, |k| k.score))
    }

    /// Offers a document; `key` is called only if its key is needed.
    pub fn offer(&mut self, score: f64, key: impl FnOnce() -> &'a [u8]) {
        if self.limit == 0 {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(Kept { score, key: key() });
            return;
        }
        let mut worst = self.heap.peek_mut().expect("the heap is full");
        match score.total_cmp(&worst.score) {
            Ordering::Less => {}
            Ordering::Greater => *worst = Kept { score, key: key() },
            Ordering::Equal => {
                let key = key();
                if key < worst.key {
                    *worst = Kept { score, key };
                }
            }
        }
    }

    /// The kept documents, best first.
    pub fn into_hits(self) -> Vec<Hit> {
        let kept = self.heap.into_sorted_vec();
        kept.into_iter()
            .map(|k| Hit {
                key: k.key.to_vec(),
                score: k.score,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::rank::rank;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn top_k_is_the_head_of_the_ranking(
            offered in prop::collection::vec((0u8..4, 0u8..6), 0..40),
            limit in 0usize..12,
        ) {
            let keys: Vec<Vec<u8>> = offered.iter().enumerate().map(|(i, &(_, k))| vec![k, i as u8]).collect();
            let mut top = TopK::new(limit);
            for ((score, _), key) in offered.iter().zip(&keys) {
                top.offer(f64::from(*score) / 2.0, || key.as_slice());
            }
            let mut all: Vec<Hit> = offered
                .iter()
                .zip(&keys)
                .map(|(&(score, _), key)| Hit { key: key.clone(), score: f64::from(score) / 2.0 })
                .collect();
            rank(&mut all);
            all.truncate(limit);
            prop_assert_eq!(top.into_hits(), all);
        }
    }
}
