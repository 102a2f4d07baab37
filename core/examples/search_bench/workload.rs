//! The benchmark's workload: document keys and the query mix, shared by the index-level
//! benchmark and the cluster benchmark (node/examples/search_cluster_bench.rs), so that their
//! figures compare.

use super::corpus::{between, vocabulary, Corpus, Zipf, COMMON_RANKS};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tern_core::search::Tokenizer;

/// The corpus of a seed: the vocabulary and `docs` documents of about `words` words, each
/// with its partition and key, the same for every benchmark given the same arguments.
pub fn generate(
    seed: u64,
    vocabulary_size: usize,
    docs: usize,
    words: usize,
    tokenizer: &Tokenizer,
) -> (Corpus, Vec<(u32, Vec<u8>, String)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let words_made = vocabulary(vocabulary_size, &mut rng, tokenizer);
    let corpus = Corpus {
        zipf: Zipf::new(words_made.len()),
        words: words_made,
    };
    let docs = (0..docs)
        .map(|i| {
            let (partition, key) = key(i);
            (partition, key, corpus.document(words, &mut rng))
        })
        .collect();
    (corpus, docs)
}

/// Partitions of the ring (`limits::PARTITIONS`): documents are spread over all of them and
/// every search asks for all of them, as on a replica holding every key.
pub const PARTITIONS: u32 = 64;

/// The key of document `i`: partition by a mix of its number, as a hash would.
pub fn key(i: usize) -> (u32, Vec<u8>) {
    let mixed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (
        (mixed % PARTITIONS as u64) as u32,
        format!("doc/{i:08}").into_bytes(),
    )
}

#[derive(Clone, Copy)]
pub enum Kind {
    And,
    AndCommon,
    Or,
    Not,
    CommonPage,
    Similar,
}

pub const KINDS: [(Kind, &str); 6] = [
    (Kind::And, "AND of 2 terms (common, mid, rare mixed)"),
    (Kind::AndCommon, "AND of 2 common terms"),
    (Kind::Or, "OR of 2 terms (mixed)"),
    (Kind::Not, "a term NOT another (mixed)"),
    (Kind::CommonPage, "one common term, first page of 10"),
    (Kind::Similar, "similar, top 10, texts of 3-8 words"),
];

/// The queries of one kind: their own RNG stream, so the first n do not depend on --queries.
pub fn queries(corpus: &Corpus, kind: Kind, index: usize, seed: u64, count: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(index as u64));
    (0..count)
        .map(|_| match kind {
            Kind::And => {
                let a = corpus.word_any(&mut rng).to_string();
                format!("{a} {}", corpus.word_any(&mut rng))
            }
            Kind::AndCommon => {
                let a = corpus.word_in(0..COMMON_RANKS, &mut rng).to_string();
                format!("{a} {}", corpus.word_in(0..COMMON_RANKS, &mut rng))
            }
            Kind::Or => {
                let a = corpus.word_any(&mut rng).to_string();
                format!("{a} OR {}", corpus.word_any(&mut rng))
            }
            Kind::Not => {
                let a = corpus.word_any(&mut rng).to_string();
                format!("{a} -{}", corpus.word_any(&mut rng))
            }
            Kind::CommonPage => corpus.word_in(0..COMMON_RANKS, &mut rng).to_string(),
            Kind::Similar => {
                let len = between(&mut rng, 3, 9);
                let words: Vec<&str> = (0..len)
                    .map(|_| corpus.words[corpus.zipf.sample(&mut rng)].as_str())
                    .collect();
                words.join(" ")
            }
        })
        .collect()
}
