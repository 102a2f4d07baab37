//! The two compact lists the index is made of: a term's postings (the documents holding it)
//! and a document's terms (the terms it holds), each with tf. Nothing here knows about
//! partitions, statistics or queries.
//!
//! A tf is kept in a byte, its *code*: the tf itself below `SPILLED`, else `SPILLED`, and the
//! exact tf is in the document's spill list (a tf of 255 or more is rare: a word repeated that
//! often in one value). So a (document, term) pair costs 5 bytes in the postings and 5 in the
//! document, not 16.

use super::index::{DocId, TermId};

/// The code of a tf that does not fit a byte: the exact tf is in the document's spill list.
pub(super) const SPILLED: u8 = u8::MAX;

/// The code of `tf` (see the module comment): `SPILLED` itself is the code of 255 too.
pub(super) fn code(tf: u32) -> u8 {
    u8::try_from(tf).unwrap_or(SPILLED)
}

/// The documents holding a term, ascending, each with its tf code.
#[derive(Clone, Debug, Default)]
pub(super) struct Postings {
    docs: Vec<DocId>,
    codes: Vec<u8>,
}

impl Postings {
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    pub fn docs(&self) -> &[DocId] {
        &self.docs
    }

    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// Where `doc` is (`Ok`) or would go (`Err`). A new document usually has the largest id,
    /// so the end is tried first.
    pub fn find(&self, doc: DocId) -> Result<usize, usize> {
        match self.docs.last() {
            None => Err(0),
            Some(&last) if last < doc => Err(self.docs.len()),
            _ => self.docs.binary_search(&doc),
        }
    }

    pub fn set_code(&mut self, at: usize, code: u8) {
        self.codes[at] = code;
    }

    pub fn insert(&mut self, at: usize, doc: DocId, code: u8) {
        if self.docs.len() == self.docs.capacity() {
            // Grow by an eighth, not double: postings are most of the index's memory. But by
            // 4 at least, so a rare term is not reallocated at every posting.
            let more = (self.docs.len() / 8).max(4);
            self.docs.reserve_exact(more);
        }
        if self.codes.len() == self.codes.capacity() {
            let more = (self.codes.len() / 8).max(16);
            self.codes.reserve_exact(more);
        }
        self.docs.insert(at, doc);
        self.codes.insert(at, code);
    }

    pub fn remove(&mut self, at: usize) {
        self.docs.remove(at);
        self.codes.remove(at);
        if self.docs.capacity() > 2 * self.docs.len() + 8 {
            let keep = self.docs.len() + self.docs.len() / 8;
            self.docs.shrink_to(keep);
            self.codes.shrink_to(keep);
        }
    }

    /// For each of `docs` (ascending), the code of its posting, `None` where absent. One
    /// forward pass that gallops (doubling steps, then a binary search), so reading k
    /// documents of n postings costs O(k · log(n / k)): cheap for a few documents, a
    /// sequential scan for many.
    pub fn gallop<'a>(
        &'a self,
        docs: impl Iterator<Item = DocId> + 'a,
    ) -> impl Iterator<Item = Option<u8>> + 'a {
        let mut at = 0;
        docs.map(move |doc| {
            at = seek(&self.docs, at, doc);
            (self.docs.get(at) == Some(&doc)).then(|| self.codes[at])
        })
    }

    pub fn heap_bytes(&self) -> usize {
        self.docs.capacity() * std::mem::size_of::<DocId>() + self.codes.capacity()
    }
}

/// The first position at or after `from` whose doc is at least `doc` (`docs` ascending),
/// galloping from `from`.
pub(super) fn seek(docs: &[DocId], from: usize, doc: DocId) -> usize {
    let rest = &docs[from.min(docs.len())..];
    let mut step = 1;
    while step < rest.len() && rest[step - 1] < doc {
        step *= 2;
    }
    from + rest[..step.min(rest.len())].partition_point(|&d| d < doc)
}

/// Bytes of `value` in LEB128.
fn leb128_bytes(value: u32) -> usize {
    (32 - value.leading_zeros() as usize).div_ceil(7).max(1)
}

/// A document's distinct terms, ascending by id, with their tf, in one allocation of bytes:
/// one tf code per term; then each id as its difference from the previous one (the first from
/// 0) in LEB128 (7 bits a byte, so most take 1 or 2 bytes, not 4); then, for each spilled
/// code, the term id and its tf (4 bytes each, little-endian).
#[derive(Clone, Debug)]
pub(super) struct DocTerms {
    bytes: Box<[u8]>,
    len: u32,
}

impl DocTerms {
    /// `terms`: (term id, tf), ascending by id, tf > 0.
    pub fn new(terms: &[(TermId, u32)]) -> DocTerms {
        assert!(terms.windows(2).all(|w| w[0].0 < w[1].0), "terms ascend");
        let spilled = terms.iter().filter(|&&(_, tf)| code(tf) == SPILLED).count();
        let mut deltas = 0;
        let mut previous = 0;
        for &(id, _) in terms {
            deltas += leb128_bytes(id - previous);
            previous = id;
        }
        // Sized exactly: the box is the vector's allocation, not a copy.
        let mut bytes = Vec::with_capacity(terms.len() + deltas + 8 * spilled);
        bytes.extend(terms.iter().map(|&(_, tf)| code(tf)));
        let mut previous = 0;
        for &(id, _) in terms {
            let mut delta = id - previous;
            previous = id;
            while delta >= 0x80 {
                bytes.push((delta & 0x7f) as u8 | 0x80);
                delta >>= 7;
            }
            bytes.push(delta as u8);
        }
        for &(id, tf) in terms.iter().filter(|&&(_, tf)| code(tf) == SPILLED) {
            bytes.extend(id.to_le_bytes());
            bytes.extend(tf.to_le_bytes());
        }
        assert_eq!(bytes.len(), bytes.capacity(), "sized exactly");
        DocTerms {
            bytes: bytes.into_boxed_slice(),
            len: u32::try_from(terms.len()).expect("a document has fewer than u32::MAX terms"),
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    fn codes(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// The (term id, tf) pairs of the spilled codes.
    fn spill(&self) -> &[u8] {
        let spilled = self.codes().iter().filter(|&&c| c == SPILLED).count();
        &self.bytes[self.bytes.len() - 8 * spilled..]
    }

    /// The term ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = TermId> + '_ {
        let mut at = self.len();
        let mut id = 0;
        (0..self.len()).map(move |_| {
            let mut delta = 0;
            let mut shift = 0;
            loop {
                let byte = self.bytes[at];
                at += 1;
                delta |= u32::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    break;
                }
                shift += 7;
            }
            id += delta;
            id
        })
    }

    /// The exact tf of `term`, whose code is `code`.
    pub fn tf(&self, term: TermId, code: u8) -> u32 {
        if code < SPILLED {
            return u32::from(code);
        }
        let pair = self
            .spill()
            .chunks_exact(8)
            .find(|pair| pair[..4] == term.to_le_bytes())
            .expect("a spilled code has its tf in the spill list");
        u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]])
    }

    /// (term id, tf), ascending by id.
    pub fn iter(&self) -> impl Iterator<Item = (TermId, u32)> + '_ {
        self.ids()
            .zip(self.codes())
            .map(|(id, &code)| (id, self.tf(id, code)))
    }

    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn doc_terms_give_back_what_they_were_given(
            tfs in prop::collection::vec(prop_oneof![1u32..5, 250u32..260, Just(u32::MAX)], 0..11),
            gaps in prop::collection::vec(prop_oneof![1u32..3, 100u32..300, 1u32 << 20..1 << 27], 11),
        ) {
            let mut id = 0;
            let terms: Vec<(TermId, u32)> = tfs
                .into_iter()
                .zip(gaps)
                .map(|(tf, gap)| {
                    id += gap;
                    (id, tf)
                })
                .collect();
            let doc = DocTerms::new(&terms);
            prop_assert_eq!(doc.iter().collect::<Vec<_>>(), terms.clone());
            prop_assert_eq!(doc.ids().collect::<Vec<_>>(), terms.iter().map(|t| t.0).collect::<Vec<_>>());
            for &(id, tf) in &terms {
                prop_assert_eq!(doc.tf(id, code(tf)), tf);
            }
        }

        #[test]
        fn gallop_finds_exactly_the_postings(
            held in prop::collection::btree_set(0u32..200, 0..60),
            asked in prop::collection::btree_set(0u32..200, 0..60),
        ) {
            let mut postings = Postings::default();
            for &d in held.iter().rev() {
                let at = postings.find(d).unwrap_err();
                postings.insert(at, d, (d % 256) as u8);
            }
            let got: Vec<Option<u8>> = postings.gallop(asked.iter().copied()).collect();
            let want: Vec<Option<u8>> = asked.iter().map(|d| held.contains(d).then_some((d % 256) as u8)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
