//! Ranking: pure functions from corpus statistics and gathered candidates to scored hits.
//!
//! Gathering (`Index::matches`, `Index::sharing`) and scoring are split so that a coordinator
//! can gather from the replicas of disjoint partition sets, add their `Stats`, merge their
//! `Gathered` pieces, and score once: the result is the same, bit for bit, as scoring one
//! index that held every partition. Nothing here reads an index.
//!
//! Every score is a finite f64 for any input, consistent or not: `bm25_idf`'s argument of ln
//! is (n + 1) / (df + 0.5) > 0, the BM25 denominator is at least k1 · (1 − b) > 0, dl / avgdl
//! is taken as 1 when the corpus has no token (avgdl = 0), and a cosine with a zero-length
//! vector is 0. Hits are ordered by score descending, then key bytes ascending
//! (`f64::total_cmp`, a total order).

use std::collections::BTreeMap;

/// BM25 term-frequency saturation.
pub const BM25_K1: f64 = 1.2;
/// BM25 document-length normalisation.
pub const BM25_B: f64 = 0.75;

/// Statistics of a set of partitions: what BM25 and TF-IDF need besides the candidates.
/// Stats of disjoint partition sets add up (`add`) to the stats of their union.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// n: documents in the partitions.
    pub docs: u64,
    /// Σ dl: tokens in those documents.
    pub tokens: u64,
    /// df(t): documents holding t, for every term asked about (zero included).
    pub df: BTreeMap<String, u64>,
}

impl Stats {
    /// Adds the stats of a disjoint set of partitions.
    pub fn add(&mut self, other: &Stats) {
        self.docs = self.docs.saturating_add(other.docs);
        self.tokens = self.tokens.saturating_add(other.tokens);
        for (term, df) in &other.df {
            let sum = self.df.entry(term.clone()).or_insert(0);
            *sum = sum.saturating_add(*df);
        }
    }

    /// Mean document length; 0 for an empty corpus.
    pub fn avgdl(&self) -> f64 {
        if self.docs == 0 {
            0.0
        } else {
            self.tokens as f64 / self.docs as f64
        }
    }

    /// df(t), 0 for a term not asked about.
    pub fn df(&self, term: &str) -> u64 {
        self.df.get(term).copied().unwrap_or(0)
    }
}

/// One matching document, as gathered from an index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub key: Vec<u8>,
    /// dl: tokens in the document.
    pub dl: u32,
    /// (index into `Gathered::terms`, tf), sorted by index, tf > 0.
    pub tf: Vec<(u32, u32)>,
}

/// Candidates gathered from one index (or merged from several), with the term table their
/// `tf` entries index. Candidates are sorted by key; the table is sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gathered {
    pub terms: Vec<String>,
    pub candidates: Vec<Candidate>,
}

/// Why gathered pieces do not merge (pieces come from peers: bad ones are values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// Two pieces hold this key: their partition sets were not disjoint.
    DuplicateKey(Vec<u8>),
    /// A candidate names term `index` of a table of `terms` entries.
    TermIndex { index: u32, terms: usize },
}

impl Gathered {
    /// Merges pieces gathered from disjoint partition sets into one, as if one index had
    /// gathered them all: the union of the term tables (sorted), candidates sorted by key.
    pub fn merge(pieces: Vec<Gathered>) -> Result<Gathered, MergeError> {
        let mut terms: Vec<String> = pieces.iter().flat_map(|p| p.terms.clone()).collect();
        terms.sort();
        terms.dedup();
        let mut candidates = Vec::new();
        for piece in pieces {
            let index: Vec<u32> = piece
                .terms
                .iter()
                .map(|t| {
                    let at = terms
                        .binary_search(t)
                        .expect("every piece's term is in the union");
                    u32::try_from(at).expect("a term table indexes with u32")
                })
                .collect();
            for mut candidate in piece.candidates {
                for (i, _) in &mut candidate.tf {
                    let terms = index.len();
                    *i = *index
                        .get(*i as usize)
                        .ok_or(MergeError::TermIndex { index: *i, terms })?;
                }
                candidate.tf.sort_unstable();
                candidates.push(candidate);
            }
        }
        candidates.sort_by(|a: &Candidate, b| a.key.cmp(&b.key));
        if let Some(pair) = candidates.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(MergeError::DuplicateKey(pair[0].key.clone()));
        }
        Ok(Gathered { terms, candidates })
    }
}

/// A scored key.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub key: Vec<u8>,
    pub score: f64,
}

/// idf(t) = ln(1 + (n − df + 0.5) / (df + 0.5)).
pub fn bm25_idf(docs: u64, df: u64) -> f64 {
    let (n, df) = (docs as f64, df as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// One term's share of a BM25 score: idf · tf · (k1 + 1) / (tf + k1 · (1 − b + b · dl / avgdl)),
/// with dl / avgdl = 1 when avgdl is 0 (no tokens anywhere, so no document can match).
pub fn bm25_term(idf: f64, tf: u32, dl: u32, avgdl: f64) -> f64 {
    let ratio = if avgdl > 0.0 { dl as f64 / avgdl } else { 1.0 };
    let tf = tf as f64;
    idf * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * ratio))
}

/// BM25 score of every candidate over every term of the table (for `Index::matches`, the
/// query's scored terms), summed in table order. Ranked.
pub fn bm25(stats: &Stats, gathered: &Gathered) -> Vec<Hit> {
    let idf: Vec<f64> = gathered
        .terms
        .iter()
        .map(|t| bm25_idf(stats.docs, stats.df(t)))
        .collect();
    let avgdl = stats.avgdl();
    let mut hits: Vec<Hit> = gathered
        .candidates
        .iter()
        .map(|c| {
            let score =
                c.tf.iter()
                    .filter_map(|&(i, tf)| Some(bm25_term(*idf.get(i as usize)?, tf, c.dl, avgdl)))
                    .sum();
            Hit {
                key: c.key.clone(),
                score,
            }
        })
        .collect();
    rank(&mut hits);
    hits
}

/// Smooth idf, as scikit-learn's default: ln((1 + n) / (1 + df)) + 1.
pub fn tfidf_idf(docs: u64, df: u64) -> f64 {
    ((1.0 + docs as f64) / (1.0 + df as f64)).ln() + 1.0
}

/// Cosine between the query's TF-IDF vector and each candidate's, as scikit-learn's
/// `TfidfVectorizer` (raw counts, smooth idf, L2 norm) fitted on the partitions' documents:
/// query terms in no document (df = 0) are dropped before the query vector is normalised.
/// `query` holds the query's token counts; `gathered` must hold every term of every candidate
/// (`Index::sharing`) and `stats` the df of each. Zero scores are left out. Ranked.
pub fn tfidf_cosine(query: &BTreeMap<String, u32>, stats: &Stats, gathered: &Gathered) -> Vec<Hit> {
    let counts = query.iter().map(|(t, &c)| (t.as_str(), c, stats.df(t)));
    let unit = query_unit(counts, stats.docs);
    if unit.is_empty() {
        return Vec::new();
    }
    let idf: Vec<f64> = gathered
        .terms
        .iter()
        .map(|t| tfidf_idf(stats.docs, stats.df(t)))
        .collect();
    let unit: Vec<f64> = gathered
        .terms
        .iter()
        .map(|t| {
            let at = unit.binary_search_by(|(u, _)| (*u).cmp(t.as_str()));
            at.map_or(0.0, |at| unit[at].1)
        })
        .collect();
    let mut hits = Vec::new();
    for candidate in &gathered.candidates {
        let entries = || {
            candidate
                .tf
                .iter()
                .filter_map(|&(i, tf)| Some((i as usize, tf as f64 * *idf.get(i as usize)?)))
        };
        let doc_norm = tfidf_norm(entries().map(|(_, w)| w));
        if doc_norm <= 0.0 {
            continue;
        }
        let score = cosine(entries().map(|(i, w)| (unit[i], w)), doc_norm);
        if score > 0.0 {
            hits.push(Hit {
                key: candidate.key.clone(),
                score,
            });
        }
    }
    rank(&mut hits);
    hits
}

/// The query's unit TF-IDF vector: for each (term, count, df) in name order with df > 0,
/// (term, count · idf / norm), in name order; empty if no term has df > 0. `tfidf_cosine` and
/// `Index::similar` both use it, so their scores agree bit for bit.
pub(super) fn query_unit<'q>(
    query: impl Iterator<Item = (&'q str, u32, u64)>,
    docs: u64,
) -> Vec<(&'q str, f64)> {
    let weights: Vec<(&str, f64)> = query
        .filter(|&(_, _, df)| df > 0)
        .map(|(t, count, df)| (t, count as f64 * tfidf_idf(docs, df)))
        .collect();
    let norm = tfidf_norm(weights.iter().map(|&(_, w)| w));
    if norm <= 0.0 {
        return Vec::new();
    }
    weights.into_iter().map(|(t, w)| (t, w / norm)).collect()
}

/// The L2 norm of a document's TF-IDF vector given its weights (tf · idf) in name order: the
/// order the squares are added in, and so every bit of the result (two documents whose
/// vectors hold the same weights for different terms can differ in the last bit). The index
/// keeps a document's terms by id and sorts them by name to compute it (`Index::similar`).
pub(super) fn tfidf_norm(weights: impl Iterator<Item = f64>) -> f64 {
    weights.map(|w| w * w).sum::<f64>().sqrt()
}

/// The cosine of a document with the query: Σ unit · (weight / norm) over (the query's unit
/// weight, the document's weight) of each term, in name order. Terms the query lacks add
/// +0.0, which changes no sum: leaving them out gives the same bits.
pub(super) fn cosine(shares: impl Iterator<Item = (f64, f64)>, doc_norm: f64) -> f64 {
    shares.map(|(unit, w)| unit * (w / doc_norm)).sum()
}

/// Orders hits by score descending, then key bytes ascending.
pub fn rank(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
}

#[cfg(test)]
#[path = "rank_tests.rs"]
mod tests;
