//! Searching one index alone (`Index::search`, `Index::similar`): the same hits, bit for bit,
//! as gathering (`gather.rs`) and scoring (`rank.rs`), but computed on document ids, keeping
//! only the best hits (`topk.rs`), and reading a key only for a hit that is kept.
//!
//! BM25 scores every match (the total is part of the answer, so every match is listed
//! anyway). TF-IDF skips, exactly, the documents that cannot reach the top k:
//!
//! - A term's share of a cosine, unit(t) · w(t, d) / |d|, is at most unit(t), since the
//!   document's weight for t is one of the weights its norm |d| adds up. So once the k-th best
//!   score is θ, a document holding only terms whose units add up to less than θ cannot enter:
//!   those terms' posting lists are no longer walked, only looked up for the documents the
//!   other terms bring (MaxScore). A very common word has a small unit (its idf is small), so
//!   its long posting list is soon skipped.
//! - Before computing a document's norm (which reads every term it holds and each one's df),
//!   its score is bounded from above with a lower bound of its norm (`bound.rs`: the squares
//!   of its query terms' weights, plus its other terms' Σ tf² by df class times a floor of
//!   their idf²). A document whose bound is below θ is skipped.
//!
//! Both tests compare with a margin far above rounding errors (`below`), so no document that
//! could score θ or more, with any rounding, is skipped; ties at θ are still decided by key.

use super::bound::{Floors, Masses};
use super::index::{DocId, Index, TermId};
use super::postings::seek;
use super::query::Query;
use super::rank::{bm25_idf, bm25_term, cosine, query_unit, tfidf_idf, tfidf_norm, Hit};
use super::topk::TopK;
use super::PartitionSet;
use std::collections::BTreeMap;

/// True if `bound` is below `threshold` by more than any rounding error could explain (scores
/// and bounds are at most about 1; errors are a few units of 2^-53 per term added).
fn below(bound: f64, threshold: f64) -> bool {
    bound * (1.0 + 1e-9) + 1e-12 < threshold
}

/// One query term of a similar-search, walking its postings.
struct Cursor<'a> {
    term: TermId,
    class: u8,
    /// The query's unit weight.
    unit: f64,
    idf: f64,
    docs: &'a [DocId],
    codes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn doc(&self) -> Option<DocId> {
        self.docs.get(self.at).copied()
    }
}

impl Index {
    /// The first `end` hits of BM25 over `partitions`, and how many documents match.
    pub(super) fn search_top(
        &self,
        query: &Query,
        partitions: &PartitionSet,
        end: usize,
    ) -> (Vec<Hit>, usize) {
        let docs = self.matching(query, partitions);
        let stats = self.stats(query.scored_terms().iter().map(String::as_str), partitions);
        let avgdl = stats.avgdl();
        // Scores add up term by term in table order, as `rank::bm25` adds them.
        let mut scores = vec![0.0f64; docs.len()];
        for name in query.scored_terms() {
            let Some(term) = self.term_id(name) else {
                continue;
            };
            let idf = bm25_idf(stats.docs, stats.df(name));
            let codes = self.live_term(term).postings.gallop(docs.iter().copied());
            for ((score, &doc), code) in scores.iter_mut().zip(&docs).zip(codes) {
                if let Some(code) = code {
                    let tf = self.tf(term, doc, code);
                    *score += bm25_term(idf, tf, self.doc(doc).dl, avgdl);
                }
            }
        }
        let mut top = TopK::new(end);
        for (&score, &doc) in scores.iter().zip(&docs) {
            top.offer(score, || &self.doc(doc).key);
        }
        (top.into_hits(), docs.len())
    }

    /// The `top_k` documents of `partitions` closest to `query` (token counts), as
    /// `rank::tfidf_cosine` ranks them over `Index::sharing`.
    pub(super) fn similar_top(
        &self,
        query: &BTreeMap<String, u32>,
        top_k: usize,
        partitions: &PartitionSet,
    ) -> Vec<Hit> {
        let filter = self.filter(partitions);
        let docs = self.stats(std::iter::empty(), partitions).docs;
        let mut idf = IdfCache::new(self, &filter, docs);
        let counts = query.iter().map(|(name, &count)| {
            let df = self.term(name).map_or(0, |term| self.df(term, &filter));
            (name.as_str(), count, df)
        });
        // Cursors in name order: the order in which shares add up.
        let mut cursors: Vec<Cursor> = query_unit(counts, docs)
            .into_iter()
            .map(|(name, unit)| {
                let term = self
                    .term_id(name)
                    .expect("a term with df > 0 is in the index");
                let postings = &self.live_term(term).postings;
                Cursor {
                    term,
                    class: self.live_term(term).class,
                    unit,
                    idf: idf.get(term),
                    docs: postings.docs(),
                    codes: postings.codes(),
                    at: 0,
                }
            })
            .collect();
        // Terms by unit, smallest first; those before `essential` are no longer walked.
        let mut by_unit: Vec<usize> = (0..cursors.len()).collect();
        by_unit.sort_by(|&a, &b| cursors[a].unit.total_cmp(&cursors[b].unit));
        let mut essential = 0;
        let mut skipped_units = 0.0;
        let mut is_essential = vec![true; cursors.len()];
        let mut top = TopK::new(top_k);
        let floors = Floors::new(docs);
        let mut shares: Vec<Share> = Vec::with_capacity(cursors.len());
        let mut weights: Vec<(u128, TermId, f64)> = Vec::new();
        while let Some(doc) = cursors
            .iter()
            .zip(&is_essential)
            .filter_map(|(c, &e)| if e { c.doc() } else { None })
            .min()
        {
            // The query terms `doc` holds, in name order, with their weights in it.
            shares.clear();
            for (i, cursor) in cursors.iter_mut().enumerate() {
                if !is_essential[i] {
                    cursor.at = seek(cursor.docs, cursor.at, doc);
                }
                if cursor.doc() == Some(doc) {
                    let tf = self.tf(cursor.term, doc, cursor.codes[cursor.at]);
                    let weight = f64::from(tf) * cursor.idf;
                    shares.push(Share {
                        cursor: i,
                        tf,
                        weight,
                    });
                    cursor.at += 1;
                }
            }
            if filter
                .as_ref()
                .is_some_and(|f| !f[self.doc(doc).partition as usize])
            {
                continue;
            }
            if let Some(threshold) = top.threshold() {
                let masses = &self.masses[doc as usize];
                if below(bound(masses, &floors, &cursors, &shares), threshold) {
                    continue;
                }
            }
            let d = self.doc(doc);
            // The squares add up in name order, as `rank::tfidf_cosine` adds them.
            weights.clear();
            for (t, tf) in d.terms.iter() {
                weights.push((self.order_key(t), t, f64::from(tf) * idf.get(t)));
            }
            weights.sort_unstable_by(|a, b| {
                let name = |t| &self.live_term(t).name;
                a.0.cmp(&b.0).then_with(|| name(a.1).cmp(name(b.1)))
            });
            let norm = tfidf_norm(weights.iter().map(|&(_, _, w)| w));
            let score = cosine(
                shares.iter().map(|s| (cursors[s.cursor].unit, s.weight)),
                norm,
            );
            if score > 0.0 {
                top.offer(score, || &d.key);
            }
            // Terms whose units add up to less than the k-th score are no longer walked.
            if let Some(threshold) = top.threshold() {
                while essential < by_unit.len()
                    && below(skipped_units + cursors[by_unit[essential]].unit, threshold)
                {
                    skipped_units += cursors[by_unit[essential]].unit;
                    is_essential[by_unit[essential]] = false;
                    essential += 1;
                }
            }
        }
        top.into_hits()
    }
}

/// A query term that a document holds.
struct Share {
    /// Which cursor (query term).
    cursor: usize,
    tf: u32,
    /// tf · idf.
    weight: f64,
}

/// An upper bound of a document's cosine, from a lower bound of its norm given its masses
/// (`Floors::norm2`).
fn bound(masses: &Masses, floors: &Floors, cursors: &[Cursor], shares: &[Share]) -> f64 {
    let known = shares
        .iter()
        .map(|s| (cursors[s.cursor].class, s.tf, s.weight));
    let norm = floors.norm2(masses, known).sqrt();
    let dot: f64 = shares
        .iter()
        .map(|s| cursors[s.cursor].unit * s.weight)
        .sum();
    dot / norm
}

/// `tfidf_idf` of each term over the partitions of one search, computed when first asked for
/// (0 marks "not yet": an idf is at least 1).
struct IdfCache<'a> {
    index: &'a Index,
    filter: &'a Option<Vec<bool>>,
    docs: u64,
    values: Vec<f64>,
}

impl<'a> IdfCache<'a> {
    fn new(index: &'a Index, filter: &'a Option<Vec<bool>>, docs: u64) -> IdfCache<'a> {
        IdfCache {
            index,
            filter,
            docs,
            values: vec![0.0; index.terms.len()],
        }
    }

    fn get(&mut self, term: TermId) -> f64 {
        let value = &mut self.values[term as usize];
        if *value == 0.0 {
            let df = self.index.df(self.index.live_term(term), self.filter);
            *value = tfidf_idf(self.docs, df);
        }
        *value
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
