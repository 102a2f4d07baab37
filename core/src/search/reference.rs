//! The reference: every result computed straight from its definition in docs/SEARCH.md, by
//! scanning every document.
//!
//! Slow by design: each query scans every document, and counts document frequencies by
//! scanning them again.
//! It shares only the tokenizer and the query parser with the index (and `rank`'s constants),
//! so that the index's tests and the simulator's search checker can hold the index, and the
//! cluster, against it. Ties are broken by key bytes, as everywhere.

use super::query::Expr;
use super::{document, Query, Tokenizer, BM25_B, BM25_K1};
use crate::version::Object;
use std::collections::BTreeMap;

/// A set of documents as token lists, keyed by key bytes.
#[derive(Clone, Debug, Default)]
pub struct Reference {
    tokenizer: Tokenizer,
    docs: BTreeMap<Vec<u8>, Vec<String>>,
}

/// True if a document whose token set answers `has` matches `expr` (whose terms are tokens,
/// as `Query::parse` makes them).
pub fn matches(expr: &Expr, has: &dyn Fn(&str) -> bool) -> bool {
    match expr {
        Expr::Term(token) => has(token),
        Expr::And(items) => items.iter().all(|e| matches(e, has)),
        Expr::Or(items) => items.iter().any(|e| matches(e, has)),
        Expr::Not(item) => !matches(item, has),
    }
}

impl Reference {
    pub fn new(tokenizer: Tokenizer) -> Reference {
        Reference {
            tokenizer,
            docs: BTreeMap::new(),
        }
    }

    /// The documents of `objects` (a store's, or a cluster's final data): each key's
    /// `document`, if it has one.
    pub fn from_objects<'a>(
        tokenizer: Tokenizer,
        objects: impl IntoIterator<Item = (&'a [u8], &'a Object)>,
    ) -> Reference {
        let mut reference = Reference::new(tokenizer);
        for (key, object) in objects {
            if let Some(text) = document(object) {
                reference.insert(key.to_vec(), &text);
            }
        }
        reference
    }

    /// Sets `key`'s document to `text`.
    pub fn insert(&mut self, key: Vec<u8>, text: &str) {
        let tokens = self.tokenizer.tokens(text).collect();
        self.docs.insert(key, tokens);
    }

    /// Sets `key`'s document to one already tokenized.
    pub fn insert_tokens(&mut self, key: Vec<u8>, tokens: Vec<String>) {
        self.docs.insert(key, tokens);
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// How many documents hold `term`, counted by scanning them all.
    fn df(&self, term: &str) -> usize {
        self.docs
            .values()
            .filter(|tokens| tokens.iter().any(|t| t == term))
            .count()
    }

    /// The document frequency of every term, counted by scanning every document.
    fn all_df(&self) -> BTreeMap<&str, usize> {
        let mut df = BTreeMap::new();
        for tokens in self.docs.values() {
            let distinct: std::collections::BTreeSet<&str> =
                tokens.iter().map(String::as_str).collect();
            for term in distinct {
                *df.entry(term).or_insert(0) += 1;
            }
        }
        df
    }

    /// Every document matching `query`, ranked by BM25 over its scored terms, best first.
    pub fn search(&self, query: &Query) -> Vec<(Vec<u8>, f64)> {
        let n = self.docs.len() as f64;
        let total: usize = self.docs.values().map(Vec::len).sum();
        let avgdl = total as f64 / n;
        let df: BTreeMap<&str, f64> = query
            .scored_terms()
            .iter()
            .map(|t| (t.as_str(), self.df(t) as f64))
            .collect();
        let mut hits = Vec::new();
        for (key, tokens) in &self.docs {
            let has = |term: &str| tokens.iter().any(|t| t == term);
            if !matches(query.expr(), &has) {
                continue;
            }
            let dl = tokens.len() as f64;
            let mut score = 0.0;
            for term in query.scored_terms() {
                let tf = tokens.iter().filter(|t| *t == term).count() as f64;
                if tf > 0.0 {
                    let df = df[term.as_str()];
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    score += idf * tf * (BM25_K1 + 1.0)
                        / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * dl / avgdl));
                }
            }
            hits.push((key.clone(), score));
        }
        sorted(hits)
    }

    /// The `top_k` documents closest to `text` by TF-IDF cosine (scikit-learn's
    /// `TfidfVectorizer` with default settings over the same tokens), zero scores left out.
    pub fn similar(&self, text: &str, top_k: usize) -> Vec<(Vec<u8>, f64)> {
        let n = self.docs.len() as f64;
        let df = self.all_df();
        let df = |term: &str| df.get(term).copied().unwrap_or(0);
        let idf = |term: &str| ((1.0 + n) / (1.0 + df(term) as f64)).ln() + 1.0;
        let mut counts: BTreeMap<String, f64> = BTreeMap::new();
        for token in self.tokenizer.tokens(text) {
            if df(&token) > 0 {
                *counts.entry(token).or_insert(0.0) += 1.0;
            }
        }
        let query: BTreeMap<&str, f64> = counts
            .iter()
            .map(|(t, c)| (t.as_str(), c * idf(t)))
            .collect();
        let query_norm = query.values().map(|w| w * w).sum::<f64>().sqrt();
        let mut hits = Vec::new();
        for (key, tokens) in &self.docs {
            let mut vector: BTreeMap<&str, f64> = BTreeMap::new();
            for token in tokens {
                *vector.entry(token).or_insert(0.0) += 1.0;
            }
            let vector: Vec<(&str, f64)> =
                vector.into_iter().map(|(t, c)| (t, c * idf(t))).collect();
            let norm = vector.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            let score: f64 = vector
                .iter()
                .map(|(t, w)| query.get(t).map_or(0.0, |q| q / query_norm) * (w / norm))
                .sum();
            if score > 0.0 {
                hits.push((key.clone(), score));
            }
        }
        let mut hits = sorted(hits);
        hits.truncate(top_k);
        hits
    }
}

/// Best first, ties by key bytes.
fn sorted(mut hits: Vec<(Vec<u8>, f64)>) -> Vec<(Vec<u8>, f64)> {
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    hits
}
