//! Full-text search: documents, tokens, queries, the inverted index and ranking (BM25 for
//! `Search`, TF-IDF cosine for `SearchSimilar`). docs/SEARCH.md defines every rule here with
//! worked examples that the tests recompute.
//!
//! This module is pure: no IO, no clock, no hash map; the same index and query give the same
//! hits, ties broken by key bytes. (The word cache picks a slot by a fixed hash of a word,
//! but it is a cache that can only miss and that nothing iterates: see `word_cache`.) It
//! never decides which keys a replica holds or which replica answers for a partition: a
//! caller feeds `Index::apply` and picks the partitions.
//!
//! - `tokens`: text → tokens (UAX #29 words, lowercased, Snowball English unless off);
//! - `query`: query text → `Query` (AND, OR, NOT/-, parentheses), typed errors with offsets;
//! - `index`: the inverted index, updated per key, statistics per partition, made of
//!   `postings` (compact lists with a byte of tf), `lexicon` (term names ↔ ids) and
//!   `word_cache` (words → term ids, in front of stemming);
//! - `gather`: stats, the candidates of a query or a text, for a set of partitions;
//! - `rank`: pure scoring over stats and candidates, and merging gathered pieces;
//! - `reference`: every result by its formula, scanning every document (for tests and the
//!   simulator's checker);
//! - `local`: the same hits from one index without gathering, keeping the top hits (`topk`)
//!   and skipping, exactly, the documents that cannot reach the top k (`bound`).

mod bound;
mod gather;
mod index;
mod lexicon;
mod local;
mod postings;
mod query;
mod rank;
pub mod reference;
mod tokens;
mod topk;
mod word_cache;

#[cfg(test)]
mod examples;
#[cfg(test)]
mod tests;

pub use index::Index;
pub use query::{Expr, Found, Query, QueryError};
pub use rank::{
    bm25, bm25_idf, bm25_term, rank, tfidf_cosine, tfidf_idf, Candidate, Gathered, Hit, MergeError,
    Stats, BM25_B, BM25_K1,
};
pub use reference::Reference;
pub use tokens::{Stemming, Tokenizer};

use crate::limits::{
    SEARCH_DOCUMENT_BYTES_MAX, SEARCH_PAGE_SIZE_MAX, SEARCH_RESULTS_MAX, SIMILAR_TEXT_BYTES_MAX,
    SIMILAR_TOP_K_MAX,
};
use crate::version::Object;
use std::fmt;

/// The document of a key: the values of its siblings that are valid UTF-8, in the order the
/// object stores them (by dot), joined by "\n". `None` if there is none: the key is absent
/// or deleted (only tombstones), or no value is text. A sibling that is not text is skipped
/// rather than hiding its text siblings.
pub fn document(object: &Object) -> Option<String> {
    let texts: Vec<&str> = object
        .values()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

/// A set of partitions: which documents a search counts and returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionSet {
    /// Sorted, distinct.
    partitions: Vec<u32>,
}

impl PartitionSet {
    /// Partitions `0..count`.
    pub fn all(count: u32) -> PartitionSet {
        PartitionSet {
            partitions: (0..count).collect(),
        }
    }

    pub fn contains(&self, partition: u32) -> bool {
        self.partitions.binary_search(&partition).is_ok()
    }

    pub fn insert(&mut self, partition: u32) {
        if let Err(at) = self.partitions.binary_search(&partition) {
            self.partitions.insert(at, partition);
        }
    }

    /// The partitions, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.partitions.iter().copied()
    }
}

impl FromIterator<u32> for PartitionSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> PartitionSet {
        let mut partitions: Vec<u32> = iter.into_iter().collect();
        partitions.sort_unstable();
        partitions.dedup();
        PartitionSet { partitions }
    }
}

/// Which ranks of the results to return: `size` hits starting at rank `offset` (0-based).
/// A page must end at or before `SEARCH_RESULTS_MAX` and hold 1 to `SEARCH_PAGE_SIZE_MAX`
/// hits. Offsets are ranks in the ordering at the time of each call: a write between two
/// pages can shift results across the boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub size: usize,
}

impl Page {
    /// The first `size` hits.
    pub fn first(size: usize) -> Page {
        Page { offset: 0, size }
    }
}

/// One page of ranked hits.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    /// How many documents matched in all.
    pub total: usize,
    /// The next page of the same size, if there are more hits and it ends within
    /// `SEARCH_RESULTS_MAX` (shortened to end there if needed).
    pub next: Option<Page>,
}

/// Why `Index::apply` refused a document (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The partition is not below the index's partition count.
    Partition { partition: u32, partitions: u32 },
    /// The document is longer than `SEARCH_DOCUMENT_BYTES_MAX`.
    TooLarge { bytes: usize, max: usize },
    /// Every document id is taken (`u32::MAX` documents).
    Full,
}

/// Why a search was refused.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SearchError {
    Query(QueryError),
    /// A `SearchSimilar` text longer than `SIMILAR_TEXT_BYTES_MAX`.
    TextTooLong {
        bytes: usize,
        max: usize,
    },
    /// A page of 0 hits or more than `SEARCH_PAGE_SIZE_MAX`.
    PageSize {
        size: usize,
        max: usize,
    },
    /// A page ending past `SEARCH_RESULTS_MAX`.
    PageEnd {
        end: usize,
        max: usize,
    },
    /// A `top_k` of 0 or more than `SIMILAR_TOP_K_MAX`.
    TopK {
        top_k: usize,
        max: usize,
    },
}

impl From<QueryError> for SearchError {
    fn from(error: QueryError) -> SearchError {
        SearchError::Query(error)
    }
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::Query(error) => error.fmt(f),
            SearchError::TextTooLong { bytes, max } => {
                write!(
                    f,
                    "text is {bytes} bytes, over the maximum of {max}: shorten it"
                )
            }
            SearchError::PageSize { size, max } => {
                write!(f, "page size {size}: ask for 1 to {max} hits a page")
            }
            SearchError::PageEnd { end, max } => write!(
                f,
                "page ends at rank {end}, past the deepest result ({max}): refine the query"
            ),
            SearchError::TopK { top_k, max } => write!(f, "top_k {top_k}: ask for 1 to {max} keys"),
        }
    }
}

impl std::error::Error for SearchError {}

impl Index {
    /// `Search(query)` over `partitions` of this index alone: the matching keys ranked by BM25
    /// over the query's scored terms, one page of them.
    pub fn search(
        &self,
        text: &str,
        partitions: &PartitionSet,
        page: Page,
    ) -> Result<SearchPage, SearchError> {
        if page.size == 0 || page.size > SEARCH_PAGE_SIZE_MAX {
            let max = SEARCH_PAGE_SIZE_MAX;
            return Err(SearchError::PageSize {
                size: page.size,
                max,
            });
        }
        let end = page.offset.saturating_add(page.size);
        if end > SEARCH_RESULTS_MAX {
            return Err(SearchError::PageEnd {
                end,
                max: SEARCH_RESULTS_MAX,
            });
        }
        let query = Query::parse(text, self.tokenizer())?;
        let (mut hits, total) = self.search_top(&query, partitions, end);
        let next = (end < total && end < SEARCH_RESULTS_MAX).then(|| Page {
            offset: end,
            size: page.size.min(SEARCH_RESULTS_MAX - end),
        });
        let hits = hits.split_off(page.offset.min(hits.len()));
        Ok(SearchPage { hits, total, next })
    }

    /// `SearchSimilar(text, top_k)` over `partitions` of this index alone: the `top_k` keys
    /// whose TF-IDF vectors are closest (cosine) to the text's, zero scores left out.
    pub fn similar(
        &self,
        text: &str,
        top_k: usize,
        partitions: &PartitionSet,
    ) -> Result<Vec<Hit>, SearchError> {
        if text.len() > SIMILAR_TEXT_BYTES_MAX {
            let max = SIMILAR_TEXT_BYTES_MAX;
            return Err(SearchError::TextTooLong {
                bytes: text.len(),
                max,
            });
        }
        if top_k == 0 || top_k > SIMILAR_TOP_K_MAX {
            return Err(SearchError::TopK {
                top_k,
                max: SIMILAR_TOP_K_MAX,
            });
        }
        let query = self.tokenizer().counts(text);
        let hits = self.similar_top(&query, top_k, partitions);
        Ok(hits)
    }
}

// A document the index refuses would be a stored key that search silently misses.
const _: () = assert!(SEARCH_DOCUMENT_BYTES_MAX >= crate::limits::OBJECT_BYTES_MAX);
