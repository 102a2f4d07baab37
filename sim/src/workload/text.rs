//! Text for the search workload: values made of English words and the queries over them.
//!
//! Owns the vocabulary (`vocabulary.txt`, 243 words: programming terms and everyday English,
//! many in several inflections so that stemming joins them) and drawing from it with
//! Zipf-like weights, so that some words are in most documents and others in few. It never
//! sends anything and never judges a result.

use crate::rng::SimRng;
use crate::scenario::TextSpec;
use tern_core::limits::SEARCH_PAGE_SIZE_MAX;
use tern_core::{Op, Paging};

const VOCABULARY: &str = include_str!("vocabulary.txt");

/// What a search asks: a boolean query, or a similarity search.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SearchAsk {
    Search { query: String },
    Similar { text: String, top_k: u32 },
}

impl std::fmt::Display for SearchAsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchAsk::Search { query } => write!(f, "search {query:?}"),
            SearchAsk::Similar { text, top_k } => write!(f, "similar {text:?} top {top_k}"),
        }
    }
}

impl SearchAsk {
    /// The request that asks it: a search returns its first `SEARCH_PAGE_SIZE_MAX` hits.
    pub fn op(&self) -> Op {
        match self {
            SearchAsk::Search { query } => Op::Search {
                query: query.clone(),
                page: Paging::first(SEARCH_PAGE_SIZE_MAX as u32),
            },
            SearchAsk::Similar { text, top_k } => Op::Similar {
                text: text.clone(),
                top_k: *top_k,
            },
        }
    }
}

/// Words with Zipf-like weights, and the shapes of queries.
#[derive(Clone, Debug)]
pub struct Text {
    spec: TextSpec,
    words: Vec<&'static str>,
    cdf: Vec<f64>,
}

impl Text {
    pub fn new(spec: &TextSpec) -> Text {
        let words: Vec<&'static str> = VOCABULARY.lines().filter(|w| !w.is_empty()).collect();
        let weights: Vec<f64> = (1..=words.len())
            .map(|k| 1.0 / (k as f64).powf(spec.zipf_exponent))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Text {
            spec: spec.clone(),
            words,
            cdf,
        }
    }

    fn word(&self, rng: &mut SimRng) -> &'static str {
        let u = rng.unit();
        let at = self.cdf.partition_point(|c| *c < u);
        self.words[at.min(self.words.len() - 1)]
    }

    fn words(&self, rng: &mut SimRng, range: [u32; 2]) -> String {
        let count = rng.range([u64::from(range[0]), u64::from(range[1])]);
        let words: Vec<&str> = (0..count).map(|_| self.word(rng)).collect();
        words.join(" ")
    }

    /// A value's text after `prefix` (which names the attempt and keeps values unique).
    pub fn value(&self, rng: &mut SimRng, prefix: &str) -> Vec<u8> {
        format!("{prefix} {}", self.words(rng, self.spec.words)).into_bytes()
    }

    /// A random question of either kind, `similar` deciding which.
    pub fn ask(&self, rng: &mut SimRng, similar: bool) -> SearchAsk {
        if similar {
            let text = self.words(rng, self.spec.similar_words);
            let [lo, hi] = self.spec.top_k;
            let top_k = rng.range([u64::from(lo), u64::from(hi)]) as u32;
            return SearchAsk::Similar { text, top_k };
        }
        let (a, b, c) = (self.word(rng), self.word(rng), self.word(rng));
        let query = match rng.index(7) {
            0 => a.to_string(),
            1 => format!("{a} {b}"),
            2 => format!("{a} OR {b}"),
            3 => format!("{a} -{b}"),
            4 => format!("({a} OR {b}) {c}"),
            5 => format!("{a} NOT ({b} OR {c})"),
            _ => format!("{a} AND {b} OR {c}"),
        };
        SearchAsk::Search { query }
    }
}
