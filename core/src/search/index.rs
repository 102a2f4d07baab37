//! The inverted index of one replica: documents by key, postings by term, statistics by
//! partition. Updated one key at a time (`apply`); read by `gather.rs` and `local.rs`.
//!
//! Memory layout (docs/SEARCH.md, "Memory"): terms are interned to `u32` ids (`lexicon.rs`);
//! documents are `u32` ids and their key is stored once (one `Arc<[u8]>` shared by the lookup
//! map and the document). A term's postings are its documents' ids, ascending, and a byte of
//! tf each (`postings.rs`), grown by an eighth at a time so spare capacity stays small. A
//! document keeps its distinct terms by id, delta-encoded, with their tf, in one allocation:
//! what replacing it must remove, and what its TF-IDF norm is made of. Beside each document,
//! its masses bound its norm (`bound.rs`). Freed term and document ids are reused, so the
//! tables stay dense under churn.
//!
//! Statistics per partition: n and total dl are counters per partition. df(t, P) is the
//! postings' length when P holds every partition; otherwise a term with at least
//! `DF_COUNTED_FROM` postings keeps its df in each partition (one counter per partition), and
//! a rarer one is counted from its postings. `SearchSimilar` needs df of every term of every
//! candidate (for the document vectors' norms), so df(t, P) must not cost O(df) for common
//! terms; but most terms are rare (Zipf), and counters for all of them would cost more than
//! the postings themselves. With the threshold, df(t, P) costs at most `DF_COUNTED_FROM`
//! posting reads or one pass over `partitions` counters, and counters exist only for terms
//! with many postings.

use super::bound::{promoted, Masses};
use super::lexicon::Lexicon;
use super::postings::{code, DocTerms, Postings, SPILLED};
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

#[derive(Clone, Debug)]
pub(super) struct Term {
    pub name: Box<str>,
    /// One per document holding the term; never empty.
    pub postings: Postings,
    /// Documents holding the term in each partition, indexed by partition. Kept from
    /// `DF_COUNTED_FROM` postings until the term falls below half that; empty otherwise.
    pub df_by_partition: Box<[u32]>,
    /// A bound of df, for the documents' norm bounds (`bound.rs`).
    pub class: u8,
}

#[derive(Clone, Debug)]
pub(super) struct Doc {
    pub key: Arc<[u8]>,
    pub partition: u32,
    /// Number of tokens.
    pub dl: u32,
    /// Distinct terms, ascending by id, with tf.
    pub terms: DocTerms,
}

/// The search index of one replica. See the module comment for its layout.
#[derive(Clone, Debug)]
pub struct Index {
    pub(super) tokenizer: Tokenizer,
    pub(super) partitions: u32,
    pub(super) terms: Vec<Option<Term>>,
    lexicon: Lexicon,
    pub(super) docs: Vec<Option<Doc>>,
    /// Per document id, Σ tf² of its terms per class (`bound.rs`); apart from `docs`, so that
    /// a search bounding many documents and a term moving up a class read only these.
    pub(super) masses: Vec<Masses>,
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
            lexicon: Lexicon::new(),
            docs: Vec::new(),
            masses: Vec::new(),
            doc_ids: BTreeMap::new(),
            free_docs: Vec::new(),
            docs_by_partition: vec![0; partitions as usize],
            tokens_by_partition: vec![0; partitions as usize],
            df_counted_from: DF_COUNTED_FROM,
        }
    }

    /// An index that keeps df per partition from `df_counted_from` postings on, and whose word
    /// cache starts small (words push each other out).
    #[cfg(test)]
    pub(super) fn with_df_counted_from(
        partitions: u32,
        tokenizer: Tokenizer,
        df_counted_from: usize,
    ) -> Index {
        Index {
            df_counted_from,
            lexicon: Lexicon::with_small_cache(),
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
        self.lexicon.len()
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
        let old = existing.map(|id| {
            let old = self.docs[id as usize].take().expect("a linked document");
            (id, old)
        });
        // A document leaving, or moving partition (which changes every count), is removed
        // whole first, and before its new terms are looked up, so that no term it alone held
        // is freed under an id its new version holds.
        let old = old.and_then(|(id, old)| {
            if doc.is_none() || old.partition != partition {
                self.unlink(id, &old, &[]);
            }
            match doc {
                None => {
                    self.doc_ids.remove(key);
                    self.free_docs.push(id);
                    None
                }
                Some(_) => Some((id, old)),
            }
        });
        let Some(text) = doc else { return Ok(()) };
        let terms = &mut self.terms;
        let counts = self.lexicon.terms(&self.tokenizer, text, |id, name| {
            let term = Term {
                name,
                postings: Postings::default(),
                df_by_partition: Box::default(),
                class: 0,
            };
            match terms.get_mut(id as usize) {
                Some(slot) => *slot = Some(term),
                None => terms.push(Some(term)),
            }
        });
        match old {
            Some((id, old)) => {
                let key = old.key.clone();
                let old = (old.partition == partition).then_some(old);
                self.link(id, key, partition, old, counts);
            }
            None => {
                let key: Arc<[u8]> = Arc::from(key);
                let id = match self.free_docs.pop() {
                    Some(id) => id,
                    None => {
                        self.docs.push(None);
                        self.masses.push(Masses::default());
                        DocId::try_from(self.docs.len() - 1).expect("checked above")
                    }
                };
                self.doc_ids.insert(key.clone(), id);
                self.link(id, key, partition, None, counts);
            }
        }
        Ok(())
    }

    /// Makes `terms` ((term id, tf) ascending by id) the terms of document `id` (whose slot is
    /// empty), replacing those of `old`, its previous version in the same partition, whose
    /// postings are still in place. A term in both keeps its posting and gets the new tf in
    /// place: an edit that keeps the common words moves no long posting list.
    fn link(
        &mut self,
        id: DocId,
        key: Arc<[u8]>,
        partition: u32,
        old: Option<Doc>,
        terms: Vec<(TermId, u32)>,
    ) {
        let dl: u64 = terms.iter().map(|&(_, tf)| u64::from(tf)).sum();
        let dl = u32::try_from(dl).expect("SEARCH_DOCUMENT_BYTES_MAX bounds tokens below u32::MAX");
        let kept: Vec<TermId> = old.as_ref().map_or(Vec::new(), |o| o.terms.ids().collect());
        if let Some(old) = &old {
            self.unlink(id, old, &terms);
        }
        for &(term_id, tf) in &terms {
            let term = self.terms[term_id as usize].as_mut().expect("interned");
            match term.postings.find(id) {
                Ok(at) => {
                    assert!(
                        kept.binary_search(&term_id).is_ok(),
                        "only kept terms hold {id}"
                    );
                    term.postings.set_code(at, code(tf));
                }
                Err(at) => self.add_posting(term_id, at, id, code(tf), partition),
            }
        }
        self.docs_by_partition[partition as usize] += 1;
        self.tokens_by_partition[partition as usize] += u64::from(dl);
        let mut masses = Masses::default();
        for &(term_id, tf) in &terms {
            masses.add(
                self.terms[term_id as usize].as_ref().expect("linked").class,
                tf,
            );
        }
        self.masses[id as usize] = masses;
        let slot = &mut self.docs[id as usize];
        assert!(slot.is_none(), "document slot {id} is free");
        *slot = Some(Doc {
            key,
            partition,
            dl,
            terms: DocTerms::new(&terms),
        });
    }

    /// Inserts document `doc`'s posting at `at` in `term_id`'s postings and counts it in
    /// `partition`. Moves the term up a class if its df calls for it (`link` then counts the
    /// document being linked, whose masses it sets whole, in the new class).
    fn add_posting(&mut self, term_id: TermId, at: usize, doc: DocId, code: u8, partition: u32) {
        let term = self.terms[term_id as usize].as_mut().expect("interned");
        term.postings.insert(at, doc, code);
        if let Some(next) = promoted(term.class, term.postings.len()) {
            let postings = term.postings.docs().iter().zip(term.postings.codes());
            for (&d, &code) in postings {
                let tf = match &self.docs[d as usize] {
                    _ if code < SPILLED => u32::from(code),
                    Some(holder) => holder.terms.tf(term_id, code),
                    None => continue, // the document being linked
                };
                self.masses[d as usize].promote(term.class, tf);
            }
            term.class = next;
        }
        let counts = &mut term.df_by_partition;
        if !counts.is_empty() {
            counts[partition as usize] += 1;
        } else if term.postings.len() >= self.df_counted_from {
            let mut by_partition = vec![0u32; self.partitions as usize];
            for &d in term.postings.docs() {
                let p = match &self.docs[d as usize] {
                    Some(doc) => doc.partition,
                    None => partition, // the document being linked
                };
                by_partition[p as usize] += 1;
            }
            *counts = by_partition.into_boxed_slice();
        }
    }

    /// Removes document `id`'s postings (`doc`, taken out of its slot) but those of the terms
    /// of `keep` (ascending by id), and its statistics; frees the terms only it held.
    fn unlink(&mut self, id: DocId, doc: &Doc, keep: &[(TermId, u32)]) {
        let mut kept = keep.iter().map(|&(t, _)| t).peekable();
        for term_id in doc.terms.ids() {
            while kept.next_if(|&t| t < term_id).is_some() {}
            if kept.peek() == Some(&term_id) {
                continue;
            }
            let slot = &mut self.terms[term_id as usize];
            let term = slot.as_mut().expect("a document's terms are live");
            let at = term
                .postings
                .find(id)
                .expect("a document's postings are in its terms");
            term.postings.remove(at);
            let counts = &mut term.df_by_partition;
            if term.postings.len() < self.df_counted_from / 2 {
                *counts = Box::default();
            } else if !counts.is_empty() {
                let count = &mut counts[doc.partition as usize];
                *count = count
                    .checked_sub(1)
                    .expect("a document's partition counts its terms");
            }
            if term.postings.is_empty() {
                self.lexicon.remove(term_id, &term.name);
                *slot = None;
            }
        }
        self.docs_by_partition[doc.partition as usize] -= 1;
        self.tokens_by_partition[doc.partition as usize] -= u64::from(doc.dl);
    }

    pub(super) fn term_id(&self, name: &str) -> Option<TermId> {
        self.lexicon.get(name)
    }

    /// Orders terms by name: by this key, then (for long names with equal keys) by name.
    pub(super) fn order_key(&self, id: TermId) -> u128 {
        self.lexicon.order_key(id)
    }

    pub(super) fn term(&self, name: &str) -> Option<&Term> {
        self.terms[self.term_id(name)? as usize].as_ref()
    }

    pub(super) fn live_term(&self, id: TermId) -> &Term {
        self.terms[id as usize]
            .as_ref()
            .expect("documents name live terms")
    }

    pub(super) fn doc(&self, id: DocId) -> &Doc {
        self.docs[id as usize]
            .as_ref()
            .expect("postings name live documents")
    }

    /// The exact tf of `term` in `doc`, whose posting has `code`.
    pub(super) fn tf(&self, term: TermId, doc: DocId, code: u8) -> u32 {
        if code < SPILLED {
            u32::from(code)
        } else {
            self.doc(doc).terms.tf(term, code)
        }
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
                t.name.len() + t.postings.heap_bytes() + t.df_by_partition.len() * size_of::<u32>()
            })
            .sum();
        let docs: usize = self
            .docs
            .iter()
            .flatten()
            .map(|d| d.key.len() + 2 * size_of::<usize>() + d.terms.heap_bytes())
            .sum();
        let doc_ids = self.doc_ids.len() * (size_of::<Arc<[u8]>>() + 4 + node);
        terms
            + docs
            + doc_ids
            + self.lexicon.heap_bytes()
            + self.terms.capacity() * size_of::<Option<Term>>()
            + self.docs.capacity() * size_of::<Option<Doc>>()
            + self.masses.capacity() * size_of::<Masses>()
            + self.free_docs.capacity() * 4
            + (self.docs_by_partition.len() + self.tokens_by_partition.len()) * 8
    }
}
