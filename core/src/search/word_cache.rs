//! A cache of words to term ids, in front of stemming and the lexicon's B-trees: indexing a
//! document looks up every word, and most words were seen before.
//!
//! It is a table of sets of `WAYS` slots; a word's set is given by a fixed hash of it. A
//! lookup reads one set (two cache lines), so it costs the same whatever the table's size;
//! a word not found there is stemmed and looked up in the lexicon (O(log n)), then put at the
//! front of its set, pushing out the set's oldest word. It is a cache, not a map: a word
//! pushed out is only looked up the slow way again, so words made to share a set (or a
//! collision by chance) cost no more than having no cache. An entry is used only if its
//! whole word matches and the term's generation is current (see `lexicon.rs`), so the cache
//! is never wrong. Nothing iterates it, so its order cannot leak anywhere.
//!
//! The table has at least one slot per term of the vocabulary (`fit` grows it, emptied, by
//! doubling): on Zipf-distributed text, 4-way sets of one slot per word hold about 98% of the
//! words looked up.

use super::index::TermId;
use super::lexicon::{pack, pack_bytes};

/// Slots per set.
const WAYS: usize = 4;
/// Slots of a new table.
const SLOTS_MIN: usize = 1 << 12;

/// A slot. The word is kept as two halves so that a slot is 24 bytes (a `u128` would align
/// it to 32). An empty slot holds word 0, which no word packs to (its length is packed, and a
/// word is never empty).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    word: [u64; 2],
    id: TermId,
    generation: u32,
}

impl Slot {
    fn word(&self) -> u128 {
        u128::from(self.word[0]) | u128::from(self.word[1]) << 64
    }
}

#[derive(Clone, Debug)]
pub(super) struct WordCache {
    slots: Box<[Slot]>,
}

impl WordCache {
    pub fn new() -> WordCache {
        WordCache::with_slots(SLOTS_MIN)
    }

    /// A cache of one set: words push each other out at once (for tests).
    #[cfg(test)]
    pub fn smallest() -> WordCache {
        WordCache::with_slots(WAYS)
    }

    fn with_slots(slots: usize) -> WordCache {
        assert!(slots.is_power_of_two() && slots >= WAYS, "whole sets");
        WordCache {
            slots: vec![Slot::default(); slots].into_boxed_slice(),
        }
    }

    /// The key of `word`: its bytes lowercased if it is ASCII (a token depends only on the
    /// lowercased word, so "The" and "the" share an entry), else as they are (a non-ASCII
    /// key has a byte ≥ 0x80, so the two kinds never meet), packed; `None` if too long.
    pub fn key(word: &str) -> Option<u128> {
        if !word.is_ascii() {
            return pack(word);
        }
        let mut lower = [0u8; super::lexicon::PACKED_BYTES];
        let lower = lower.get_mut(..word.len())?;
        lower.copy_from_slice(word.as_bytes());
        lower.make_ascii_lowercase();
        pack_bytes(lower)
    }

    fn set(&self, key: u128) -> std::ops::Range<usize> {
        let sets = self.slots.len() / WAYS;
        let mixed = (key as u64) ^ ((key >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let hash = mixed.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        // The top bits (none for one set).
        let set = hash.checked_shr(64 - sets.trailing_zeros()).unwrap_or(0) as usize;
        set * WAYS..(set + 1) * WAYS
    }

    /// The (term id, generation) cached for `key`, if any.
    pub fn get(&self, key: u128) -> Option<(TermId, u32)> {
        let set = &self.slots[self.set(key)];
        let slot = set.iter().find(|s| s.word() == key)?;
        Some((slot.id, slot.generation))
    }

    /// Caches `key` (not cached) at the front of its set, pushing out the oldest.
    pub fn insert(&mut self, key: u128, id: TermId, generation: u32) {
        let range = self.set(key);
        let set = &mut self.slots[range];
        set.copy_within(..WAYS - 1, 1);
        set[0] = Slot {
            word: [key as u64, (key >> 64) as u64],
            id,
            generation,
        };
    }

    pub fn clear(&mut self) {
        self.slots.fill(Slot::default());
    }

    /// Grows the table (emptied) to at least one slot per term of a `vocabulary`.
    pub fn fit(&mut self, vocabulary: usize) {
        if vocabulary > self.slots.len() {
            *self = WordCache::with_slots(vocabulary.next_power_of_two());
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_ascii_case_only() {
        assert_eq!(WordCache::key("The"), WordCache::key("the"));
        assert_ne!(WordCache::key("Ünï"), WordCache::key("ünï"));
        assert_ne!(WordCache::key("the"), WordCache::key("then"));
        assert_eq!(WordCache::key(&"a".repeat(16)), None);
    }

    #[test]
    fn a_set_keeps_its_newest_words() {
        let mut cache = WordCache::with_slots(WAYS);
        let keys: Vec<u128> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|w| WordCache::key(w).unwrap())
            .collect();
        for (id, &key) in (0..).zip(&keys) {
            cache.insert(key, id, 7);
        }
        assert_eq!(cache.get(keys[0]), None, "the oldest was pushed out");
        for (id, &key) in (0..).zip(&keys).skip(1) {
            assert_eq!(cache.get(key), Some((id, 7)));
        }
        cache.fit(WAYS + 1);
        assert_eq!((cache.slots.len(), cache.get(keys[4])), (2 * WAYS, None));
    }
}
