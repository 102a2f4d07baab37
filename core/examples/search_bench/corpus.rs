//! The benchmark's corpus: made-up words, Zipf-distributed, deterministic from a seed.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use std::collections::BTreeSet;
use tern_core::search::Tokenizer;

/// Zipf exponent: the frequency of the word of rank r is proportional to 1 / r^s.
pub const ZIPF_S: f64 = 1.0;
/// Ranks below this are "common" words, below `MID_RANKS` "mid", the rest "rare".
pub const COMMON_RANKS: usize = 100;
pub const MID_RANKS: usize = 5000;

/// A uniform f64 in [0, 1).
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform integer in [lo, hi).
pub fn between(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    lo + (rng.next_u64() % (hi - lo) as u64) as usize
}

/// Made-up words, most frequent first, each its own token (no two stem alike): common words
/// are short, as in natural language.
pub fn vocabulary(size: usize, rng: &mut ChaCha8Rng, tokenizer: &Tokenizer) -> Vec<String> {
    const CONSONANTS: &[u8] = b"bcdfghjklmnprstvwz";
    const VOWELS: &[u8] = b"aeiou";
    let mut words = Vec::with_capacity(size);
    let mut tokens = BTreeSet::new();
    while words.len() < size {
        let rank = words.len();
        let syllables = match rank {
            0..16 => 1,
            16..500 => 2,
            500..10_000 => 3,
            _ => 3 + (rng.next_u64() % 2) as usize,
        };
        let mut word = String::new();
        for _ in 0..syllables {
            word.push(CONSONANTS[between(rng, 0, CONSONANTS.len())] as char);
            word.push(VOWELS[between(rng, 0, VOWELS.len())] as char);
            if rng.next_u64() % 3 == 0 {
                word.push(CONSONANTS[between(rng, 0, CONSONANTS.len())] as char);
            }
        }
        let token = tokenizer.token(&word);
        if tokens.insert(token) {
            words.push(word);
        }
    }
    words
}

/// Samples word ranks with probability proportional to 1 / (rank + 1)^s.
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(size: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..size)
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(ZIPF_S);
                total
            })
            .collect::<Vec<f64>>();
        let cumulative = cumulative.iter().map(|c| c / total).collect();
        Zipf { cumulative }
    }

    pub fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let u = unit(rng);
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len() - 1)
    }
}

pub struct Corpus {
    pub words: Vec<String>,
    pub zipf: Zipf,
}

impl Corpus {
    /// A document of about `words` words (uniform in [words / 2, 3 · words / 2]) in
    /// sentences of 6 to 17 words, each capitalised and ending with a full stop.
    pub fn document(&self, words: usize, rng: &mut ChaCha8Rng) -> String {
        let len = between(rng, words / 2, words * 3 / 2 + 1).max(1);
        let mut text = String::new();
        let mut sentence_left = 0;
        for i in 0..len {
            let word = &self.words[self.zipf.sample(rng)];
            if sentence_left == 0 {
                if i > 0 {
                    text.push_str(". ");
                }
                sentence_left = between(rng, 6, 18);
                let mut chars = word.chars();
                let first = chars.next().expect("words are not empty");
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            } else {
                text.push(' ');
                text.push_str(word);
            }
            sentence_left -= 1;
        }
        text.push('.');
        text
    }

    /// A word whose rank is in `ranks`.
    pub fn word_in(&self, ranks: std::ops::Range<usize>, rng: &mut ChaCha8Rng) -> &str {
        let hi = ranks.end.min(self.words.len());
        let lo = ranks.start.min(hi - 1);
        &self.words[between(rng, lo, hi)]
    }

    /// A word of a random class: common, mid or rare.
    pub fn word_any(&self, rng: &mut ChaCha8Rng) -> &str {
        let v = self.words.len();
        match rng.next_u64() % 3 {
            0 => self.word_in(0..COMMON_RANKS, rng),
            1 => self.word_in(COMMON_RANKS..MID_RANKS, rng),
            _ => self.word_in(MID_RANKS..v, rng),
        }
    }
}
