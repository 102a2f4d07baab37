//! The inverted index of one replica: documents by key, postings by term, statistics by
//! partition. Updated one key at a time (`apply`); read by `gather.rs`.
//!
//! Memory layout (docs/SEARCH.md, "Memory"): terms are interned to `u32` ids and stored once
//! (one `Arc<str>` shared by the lookup map and the term); documents are `u32` ids and their
//! key is stored once (one `Arc<[u8]>` shared by the lookup map and the document). A term's
//! postings are one `Vec` of 8-byte `(doc, tf)` pairs sorted by doc id, grown by an eighth
//! at a time so spare capacity stays small. A document keeps its distinct term ids (4 bytes
//! each) so that replacing it removes exactly its postings. Freed term and document ids are
//! reused, so the tables stay dense under churn.
//!
//! Statistics per partition: n and total dl are counters per partition. df(t, P) is the
//! postings' length when P holds every partition; otherwise a term with at least
//! `DF_COUNTED_FROM` postings keeps (partition, df there) pairs, and a rarer one is counted
//! from its postings. `SearchSimilar` needs df of every term of every candidate (for the
//! document vectors' norms), so df(t, P) must not cost O(df) for common terms; but most terms
//! are rare (Zipf), and pairs for all of them would cost about a third as much as the
//! postings themselves. With the threshold, df(t, P) costs at most `DF_COUNTED_FROM` posting
//! reads or one pass over at most `partitions` pairs, and pairs exist only for terms with
//! many postings.

use super::tokens::Tokenizer;
use super::ApplyError;
use crate::limits::SEARCH_DOCUMENT_BYTES_MAX;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Postings from which a term keeps its df per partition. It drops them below half as many,
/// so that a term near the threshold does not rebuild them at every change.
pub(super) const DF_COUNTED_FROM: usize = 128;

pub(super) type TermId = u32;
pub(super) type DocId = u32;

/// One document holding a term, and how often.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Posting {
    pub doc: DocId,
    pub tf: u32,
}

#[derive(Clone, Debug)]
pub(super) struct Term {
    pub name: Arc<str>,
    /// Sorted by doc id, one per document holding the term; never empty.
    pub postings: Vec<Posting>,
    /// (partition, documents there holding the term), sorted by partition, counts > 0. Kept
    /// from `DF_COUNTED_FROM` postings until the term falls below half that; empty otherwise.
    pub df_by_partition: Vec<(u32, u32)>,
}

impl Term {
    /// The tf of each of `docs` (ascending), 0 where absent. One forward pass that gallops
    /// (doubling steps, then a binary search), so reading k documents of n postings costs
    /// O(k · log(n / k)): cheap for a few documents, a sequential scan for many.
    pub fn tfs<'a>(
        &'a self,
        docs: impl Iterator<Item = DocId> + 'a,
    ) -> impl Iterator<Item = u32> + 'a {
        let postings = &self.postings;
        let mut at = 0;
        docs.map(move |doc| {
            let rest = &postings[at..];
            let mut step = 1;
            while step < rest.len() && rest[step - 1].doc < doc {
                step *= 2;
            }
            at += rest[..step.min(rest.len())].partition_point(|p| p.doc < doc);
            match postings.get(at) {
                Some(p) if p.doc == doc => p.tf,
                _ => 0,
            }
        })
    }
}

#[derive(Clone, Debug)]
pub(super) struct Doc {
    pub key: Arc<[u8]>,
    pub partition: u32,
    /// Number of tokens.
    pub dl: u32,
    /// Distinct term ids, sorted.
    pub terms: Box<[TermId]>,
}

/// The search index of one replica. See the module comment for its layout.
#[derive(Clone, Debug)]
pub struct Index {
    pub(super) tokenizer: Tokenizer,
    pub(super) partitions: u32,
    pub(super) terms: Vec<Option<Term>>,
    pub(super) term_ids: BTreeMap<Arc<str>, TermId>,
    free_terms: Vec<TermId>,
    pub(super) docs: Vec<Option<Doc>>,
    doc_ids: BTreeMap<Arc<[u8]>, DocId>,
    free_docs: Vec<DocId>,
    pub(super) docs_by_partition: Vec<u64>,
    pub(super) tokens_by_partition: Vec<u64>,
    /// `DF_COUNTED_FROM`, lowered by tests so that small corpora cross it.
    df_counted_from: usize,
}

impl Index {
    /// An empty index for keys in partitions `0..partitions`.
    pub fn new(partitions: u32, tokenizer: Tokenizer) -> Index {
        Index {
            tokenizer,
            partitions,
            terms: Vec::new(),
            term_ids: BTreeMap::new(),
            free_terms: Vec::new(),
            docs: Vec::new(),
            doc_ids: BTreeMap::new(),
            free_docs: Vec::new(),
            docs_by_partition: vec![0; partitions as usize],
            tokens_by_partition: vec![0; partitions as usize],
            df_counted_from: DF_COUNTED_FROM,
        }
    }

    /// An index that keeps df per partition from `df_counted_from` postings on.
    #[cfg(test)]
    pub(super) fn with_df_counted_from(
        partitions: u32,
        tokenizer: Tokenizer,
        df_counted_from: usize,
    ) -> Index {
        Index {
            df_counted_from,
            ..Index::new(partitions, tokenizer)
        }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.doc_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc_ids.is_empty()
    }

    /// Number of distinct terms.
    pub fn vocabulary(&self) -> usize {
        self.term_ids.len()
    }

    /// Makes `doc` the document of `key` in `partition`, replacing the key's previous one;
    /// `None` removes it (the key is deleted, its value is not text, or it left this replica).
    /// On an error nothing changed.
    pub fn apply(
        &mut self,
        partition: u32,
        key: &[u8],
        doc: Option<&str>,
    ) -> Result<(), ApplyError> {
        if partition >= self.partitions {
            let partitions = self.partitions;
            return Err(ApplyError::Partition {
                partition,
                partitions,
            });
        }
        let bytes = doc.map_or(0, str::len);
        if bytes > SEARCH_DOCUMENT_BYTES_MAX {
            let max = SEARCH_DOCUMENT_BYTES_MAX;
            return Err(ApplyError::TooLarge { bytes, max });
        }
        let existing = self.doc_ids.get(key).copied();
        if existing.is_none()
            && doc.is_some()
            && self.free_docs.is_empty()
            && self.docs.len() > DocId::MAX as usize
        {
            return Err(ApplyError::Full);
        }
        let counts = doc.map(|text| self.tokenizer.counts(text));
        match (existing, counts) {
            (None, None) => {}
            (Some(id), None) => {
                let old = self.docs[id as usize].take().expect("a linked document");
                self.unlink(id, &old, &[]);
                self.doc_ids.remove(key);
                self.free_docs.push(id);
            }
            (Some(id), Some(counts)) => {
                let old = self.docs[id as usize].take().expect("a linked document");
                let key = old.key.clone();
                self.link(id, key, partition, Some(old), counts);
            }
            (None, Some(counts)) => {
                let key: Arc<[u8]> = Arc::from(key);
                let id = match self.free_docs.pop() {
                    Some(id) => id,
                    None => {
                        self.docs.push(None);
                        DocId::try_from(self.docs.len() - 1).expect("checked above")
                    }
                };
                self.doc_ids.insert(key.clone(), id);
                self.link(id, key, partition, None, counts);
            }
        }
        Ok(())
    }

    /// Makes `counts` the terms of document `id` (whose slot is empty), replacing those of
    /// `old`, its previous version. A term in both keeps its posting and gets the new tf in
    /// place: an edit that keeps the common words moves no long posting list.
    fn link(
        &mut self,
        id: DocId,
        key: Arc<[u8]>,
        partition: u32,
        old: Option<Doc>,
        counts: BTreeMap<String, u32>,
    ) {
        let dl: u64 = counts.values().map(|&tf| u64::from(tf)).sum();
        let dl = u32::try_from(dl).expect("SEARCH_DOCUMENT_BYTES_MAX bounds tokens below u32::MAX");
        // A document moving partition changes every count: remove it whole first (and before
        // interning, so no term it alone held is freed under a new id).
        let old = old.filter(|old| {
            let stays = old.partition == partition;
            if !stays {
                self.unlink(id, old, &[]);
            }
            stays
        });
        let mut terms: Vec<(TermId, u32)> = counts
            .into_iter()
            .map(|(name, tf)| (self.intern(name), tf))
            .collect();
        terms.sort_unstable();
        let kept: &[TermId] = old.as_ref().map_or(&[], |old| &old.terms);
        if let Some(old) = &old {
            self.unlink(id, old, &terms);
        }
        for &(term_id, tf) in &terms {
            let term = self.terms[term_id as usize].as_mut().expect("interned");
            match term.postings.binary_search_by_key(&id, |p| p.doc) {
                Ok(at) => {
                    assert!(
                        kept.binary_search(&term_id).is_ok(),
                        "only kept terms hold {id}"
                    );
                    term.postings[at].tf = tf;
                }
                Err(at) => self.add_posting(term_id, at, Posting { doc: id, tf }, partition),
            }
        }
        self.docs_by_partition[partition as usize] += 1;
        self.tokens_by_partition[partition as usize] += u64::from(dl);
        let slot = &mut self.docs[id as usize];
        assert!(slot.is_none(), "document slot {id} is free");
        *slot = Some(Doc {
            key,
            partition,
            dl,
            terms: terms.into_iter().map(|(t, _)| t).collect(),
        });
    }

    /// Inserts `posting` at `at` in `term_id`'s postings and counts it in `partition`.
    fn add_posting(&mut self, term_id: TermId, at: usize, posting: Posting, partition: u32) {
        let term = self.terms[term_id as usize].as_mut().expect("interned");
        if term.postings.len() == term.postings.capacity() {
            // Grow by an eighth, not double: postings are most of the index's memory.
            term.postings.reserve_exact(term.postings.len() / 8 + 1);
        }
        term.postings.insert(at, posting);
        let counts = &mut term.df_by_partition;
        if !counts.is_empty() {
            match counts.binary_search_by_key(&partition, |&(p, _)| p) {
                Ok(at) => counts[at].1 += 1,
                Err(at) => counts.insert(at, (partition, 1)),
            }
        } else if term.postings.len() >= self.df_counted_from {
            let mut by_partition = vec![0u32; self.partitions as usize];
            for p in &term.postings {
                let p = match &self.docs[p.doc as usize] {
                    Some(doc) => doc.partition,
                    None => partition, // the document being linked
                };
                by_partition[p as usize] += 1;
            }
            *counts = (0u32..).zip(by_partition).filter(|&(_, n)| n > 0).collect();
        }
    }

    /// Removes document `id`'s postings (`doc`, taken out of its slot) but those of terms in
    /// `keep` (sorted), and its statistics; frees the terms only it held.
    fn unlink(&mut self, id: DocId, doc: &Doc, keep: &[(TermId, u32)]) {
        for &term_id in doc.terms.iter() {
            if keep.binary_search_by_key(&term_id, |&(t, _)| t).is_ok() {
                continue;
            }
            let slot = &mut self.terms[term_id as usize];
            let term = slot.as_mut().expect("a document's terms are live");
            let at = term
                .postings
                .binary_search_by_key(&id, |p| p.doc)
                .expect("a document's postings are in its terms");
            term.postings.remove(at);
            if term.postings.capacity() > 2 * term.postings.len() + 8 {
                let len = term.postings.len();
                term.postings.shrink_to(len + len / 8);
            }
            let counts = &mut term.df_by_partition;
            if term.postings.len() < self.df_counted_from / 2 {
                *counts = Vec::new();
            } else if !counts.is_empty() {
                let at = counts
                    .binary_search_by_key(&doc.partition, |&(p, _)| p)
                    .expect("a document's partition counts its terms");
                counts[at].1 -= 1;
                if counts[at].1 == 0 {
                    counts.remove(at);
                }
            }
            if term.postings.is_empty() {
                self.term_ids.remove(&term.name);
                *slot = None;
                self.free_terms.push(term_id);
            }
        }
        self.docs_by_partition[doc.partition as usize] -= 1;
        self.tokens_by_partition[doc.partition as usize] -= u64::from(doc.dl);
    }

    /// The id of term `name`, adding it if new.
    fn intern(&mut self, name: String) -> TermId {
        if let Some(&id) = self.term_ids.get(name.as_str()) {
            return id;
        }
        let name: Arc<str> = Arc::from(name);
        let term = Term {
            name: name.clone(),
            postings: Vec::new(),
            df_by_partition: Vec::new(),
        };
        let id = match self.free_terms.pop() {
            Some(id) => {
                self.terms[id as usize] = Some(term);
                id
            }
            None => {
                self.terms.push(Some(term));
                // Terms are at most the postings, at most the documents' tokens.
                TermId::try_from(self.terms.len() - 1).expect("fewer terms than u32::MAX")
            }
        };
        self.term_ids.insert(name, id);
        id
    }

    pub(super) fn term(&self, name: &str) -> Option<&Term> {
        let id = *self.term_ids.get(name)?;
        self.terms[id as usize].as_ref()
    }

    pub(super) fn doc(&self, id: DocId) -> &Doc {
        self.docs[id as usize]
            .as_ref()
            .expect("postings name live documents")
    }

    /// Heap bytes the index holds, roughly (allocator overhead not counted): for the memory
    /// benchmark, and to compare with the raw text indexed.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let node = size_of::<usize>() * 2; // a BTreeMap entry's share of its node, roughly
        let terms: usize = self
            .terms
            .iter()
            .flatten()
            .map(|t| {
                t.name.len()
                    + 2 * size_of::<usize>()
                    + t.postings.capacity() * size_of::<Posting>()
                    + t.df_by_partition.capacity() * size_of::<(u32, u32)>()
            })
            .sum();
        let docs: usize = self
            .docs
            .iter()
            .flatten()
            .map(|d| d.key.len() + 2 * size_of::<usize>() + d.terms.len() * size_of::<TermId>())
            .sum();
        let maps = (self.term_ids.len() + self.doc_ids.len()) * (size_of::<Arc<str>>() + 4 + node);
        terms
            + docs
            + maps
            + self.terms.capacity() * size_of::<Option<Term>>()
            + self.docs.capacity() * size_of::<Option<Doc>>()
            + (self.free_terms.capacity() + self.free_docs.capacity()) * 4
            + (self.docs_by_partition.len() + self.tokens_by_partition.len()) * 8
    }
}
