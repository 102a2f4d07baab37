//! Term names to term ids: what turns a document's text into term ids. It hands out term ids
//! (reusing freed ones) but holds no posting and no document.
//!
//! Both maps are B-trees (no hash map: lookups cost O(log n) whatever the words, so no text
//! can make them slow). A name of at most `PACKED_BYTES` bytes (most words) is keyed by its
//! bytes packed into a `u128` (`pack`), so a lookup compares integers instead of following a
//! pointer to each key's bytes; longer names are keyed by the string.
//!
//! Turning a word into a term id means lowercasing and stemming it, then a lookup here; a
//! cache of words to term ids (`word_cache.rs`) skips all three for the words seen before.
//! A cache entry holds the term id's *generation*, which changes when the id is freed, so an
//! entry whose term was freed (and its id maybe reused) is recognised and ignored.

use super::index::TermId;
use super::tokens::Tokenizer;
use super::word_cache::WordCache;
use std::collections::BTreeMap;
use unicode_segmentation::UnicodeSegmentation;

/// Names of at most this many bytes are packed into a `u128` key (the last byte is the length).
pub(super) const PACKED_BYTES: usize = 15;

/// `name`'s bytes from the most significant end, zero-padded, and its length in the least
/// significant byte, if it has at most `PACKED_BYTES` bytes. Injective, and ordered as the
/// names are (byte-wise, as `str` is): where two names first differ the packed bytes differ
/// the same way, and a name that is a prefix of the other has zeros, then a smaller length.
pub(super) fn pack(name: &str) -> Option<u128> {
    pack_bytes(name.as_bytes())
}

/// `pack` of a name's bytes.
pub(super) fn pack_bytes(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > PACKED_BYTES {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[15] = bytes.len() as u8;
    Some(u128::from_be_bytes(buf))
}

/// A key of `name` that orders as names do, except that names longer than `PACKED_BYTES`
/// sharing their first `PACKED_BYTES` bytes have equal keys: `pack` for a short name, else its
/// first bytes and 0xff in place of the length (after every short name it begins with).
pub(super) fn order_key(name: &str) -> u128 {
    pack(name).unwrap_or_else(|| {
        let mut buf = [0u8; 16];
        buf[..PACKED_BYTES].copy_from_slice(&name.as_bytes()[..PACKED_BYTES]);
        buf[15] = u8::MAX;
        u128::from_be_bytes(buf)
    })
}

/// A token of a document: packed if short (see `pack`), else its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Token {
    Packed(u128),
    Long(String),
}

impl Token {
    fn new(name: String) -> Token {
        pack(&name).map_or(Token::Long(name), Token::Packed)
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Token::Packed(key) => {
                let buf = key.to_be_bytes();
                f(&buf[..buf[15] as usize])
            }
            Token::Long(name) => f(name.as_bytes()),
        }
    }

    pub fn to_name(&self) -> String {
        self.with_bytes(|b| String::from_utf8(b.to_vec()).expect("tokens are UTF-8"))
    }
}

#[derive(Clone, Debug)]
pub(super) struct Lexicon {
    short: BTreeMap<u128, TermId>,
    long: BTreeMap<Box<str>, TermId>,
    /// Per term id, live or free: changes when the id is freed.
    generations: Vec<u32>,
    /// Per term id, `order_key` of its name.
    order: Vec<u128>,
    free: Vec<TermId>,
    words: WordCache,
}

impl Lexicon {
    pub fn new() -> Lexicon {
        Lexicon {
            short: BTreeMap::new(),
            long: BTreeMap::new(),
            generations: Vec::new(),
            order: Vec::new(),
            free: Vec::new(),
            words: WordCache::new(),
        }
    }

    /// A lexicon whose word cache starts at one set, so that words push each other out.
    #[cfg(test)]
    pub fn with_small_cache() -> Lexicon {
        Lexicon {
            words: WordCache::smallest(),
            ..Lexicon::new()
        }
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    pub fn get(&self, name: &str) -> Option<TermId> {
        match pack(name) {
            Some(key) => self.short.get(&key).copied(),
            None => self.long.get(name).copied(),
        }
    }

    fn get_token(&self, token: &Token) -> Option<TermId> {
        match token {
            Token::Packed(key) => self.short.get(key).copied(),
            Token::Long(name) => self.long.get(name.as_str()).copied(),
        }
    }

    /// The id of `token`'s term; a new term gets a free id and `new` is told its id and name.
    fn intern(&mut self, token: Token, new: &mut impl FnMut(TermId, Box<str>)) -> TermId {
        if let Some(id) = self.get_token(&token) {
            return id;
        }
        let id = self.free.pop().unwrap_or_else(|| {
            self.generations.push(0);
            self.order.push(0);
            // Terms are at most the postings, at most the documents' tokens.
            TermId::try_from(self.generations.len() - 1).expect("fewer terms than u32::MAX")
        });
        let name = token.to_name().into_boxed_str();
        self.order[id as usize] = order_key(&name);
        match token {
            Token::Packed(key) => self.short.insert(key, id),
            Token::Long(_) => self.long.insert(name.clone(), id),
        };
        new(id, name);
        id
    }

    /// A key of term `id`'s name that orders as the names do, ties aside (`order_key`).
    pub fn order_key(&self, id: TermId) -> u128 {
        self.order[id as usize]
    }

    /// Frees term `id`, named `name`: its id may be handed out again.
    pub fn remove(&mut self, id: TermId, name: &str) {
        let removed = match pack(name) {
            Some(key) => self.short.remove(&key),
            None => self.long.remove(name),
        };
        assert_eq!(removed, Some(id), "a live term is named");
        let generation = &mut self.generations[id as usize];
        *generation = generation.wrapping_add(1);
        if *generation == 0 {
            // After 2^32 frees of one id an old entry could look current again.
            self.words.clear();
        }
        self.free.push(id);
    }

    /// The distinct terms of `text` (the tokens of `Tokenizer::tokens`) with their counts,
    /// ascending by id. A term new to the index gets an id, and `new` is told its id and name.
    pub fn terms(
        &mut self,
        tokenizer: &Tokenizer,
        text: &str,
        mut new: impl FnMut(TermId, Box<str>),
    ) -> Vec<(TermId, u32)> {
        self.words.fit(self.len());
        // About one word in 6 bytes of text: one allocation for most texts.
        let mut ids: Vec<TermId> = Vec::with_capacity(text.len() / 6 + 1);
        for word in text.unicode_words() {
            let Some(key) = WordCache::key(word) else {
                ids.push(self.intern(Token::new(tokenizer.token(word)), &mut new));
                continue;
            };
            let cached = self.words.get(key);
            let id = match cached.filter(|&(id, gen)| self.generations[id as usize] == gen) {
                Some((id, _)) => id,
                None => {
                    let id = self.intern(Token::new(tokenizer.token(word)), &mut new);
                    self.words.insert(key, id, self.generations[id as usize]);
                    id
                }
            };
            ids.push(id);
        }
        ids.sort_unstable();
        let mut terms: Vec<(TermId, u32)> = Vec::with_capacity(ids.len());
        for id in ids {
            match terms.last_mut() {
                Some((last, count)) if *last == id => *count = count.saturating_add(1),
                _ => terms.push((id, 1)),
            }
        }
        terms
    }

    /// Heap bytes, roughly: a B-tree entry's share of its node is about its size plus two
    /// words.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let node = 2 * size_of::<usize>();
        let long: usize = self.long.keys().map(|k| k.len()).sum();
        self.short.len() * (16 + 4 + node)
            + self.long.len() * (size_of::<Box<str>>() + 4 + node)
            + long
            + self.words.heap_bytes()
            + (self.generations.capacity() + self.free.capacity()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packing_is_injective_and_keeps_name_order(a in "[ab\u{e9}]{0,18}", b in "[ab\u{e9}]{0,18}") {
            let (ta, tb) = (Token::new(a.clone()), Token::new(b.clone()));
            if let (Token::Packed(x), Token::Packed(y)) = (&ta, &tb) {
                prop_assert_eq!(x.cmp(y), a.cmp(&b));
            }
            prop_assert_eq!(ta == tb, a == b);
            prop_assert_eq!(ta.to_name(), a.as_str());
            let (ka, kb) = (order_key(&a), order_key(&b));
            prop_assert!(ka == kb || ka.cmp(&kb) == a.cmp(&b));
            prop_assert!(ka != kb || a == b || (a.len() > PACKED_BYTES && b.len() > PACKED_BYTES));
        }

        /// Texts indexed one after another, freeing the terms of some (as removing their
        /// documents would): the terms are always the tokenizer's, though the word cache
        /// pushes words out and freed ids are handed out to other words.
        #[test]
        fn terms_are_the_tokenizers_through_frees_and_a_small_cache(
            texts in prop::collection::vec(("[a-zA-Z\u{e9}\u{3a3} ,.]{0,40}", any::<bool>()), 1..8),
            stem: bool,
        ) {
            let stemming = if stem { super::super::Stemming::On } else { super::super::Stemming::Off };
            let tokenizer = Tokenizer::new(stemming);
            let mut lexicon = Lexicon::with_small_cache();
            let mut names: BTreeMap<TermId, Box<str>> = BTreeMap::new();
            for (text, free) in &texts {
                let terms = lexicon.terms(&tokenizer, text, |id, name| {
                    assert!(names.insert(id, name).is_none(), "a new id is free");
                });
                let got: BTreeMap<String, u32> = terms
                    .iter()
                    .map(|&(id, count)| (names[&id].to_string(), count))
                    .collect();
                prop_assert_eq!(got, tokenizer.counts(text));
                prop_assert!(terms.windows(2).all(|w| w[0].0 < w[1].0));
                if *free {
                    for (id, _) in terms {
                        let name = names.remove(&id).unwrap();
                        lexicon.remove(id, &name);
                    }
                }
                prop_assert_eq!(lexicon.len(), names.len());
            }
        }
    }

    #[test]
    fn long_names_are_keyed_by_their_text() {
        let mut lexicon = Lexicon::new();
        let long = "a".repeat(PACKED_BYTES + 1);
        let short = "a".repeat(PACKED_BYTES);
        assert!(matches!(Token::new(long.clone()), Token::Long(_)));
        assert!(matches!(Token::new(short.clone()), Token::Packed(_)));
        let tokenizer = Tokenizer::new(super::super::Stemming::Off);
        let terms = lexicon.terms(&tokenizer, &format!("{long} {short} {long}"), |_, _| {});
        assert_eq!(terms, [(0, 2), (1, 1)]);
        assert_eq!(
            (lexicon.get(&long), lexicon.get(&short)),
            (Some(0), Some(1))
        );
        lexicon.remove(0, &long);
        assert_eq!((lexicon.get(&long), lexicon.len()), (None, 1));
    }
}
