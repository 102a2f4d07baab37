//! Tokens: how text (a document or a query) becomes the terms the index counts.
//!
//! A token is a Unicode word (UAX #29 word segmentation, keeping the segments with at least
//! one alphanumeric character: `unicode-segmentation`'s `unicode_words`), lowercased, then
//! stemmed with the Snowball English stemmer (`rust-stemmers`) unless stemming is off. The
//! same function tokenizes documents and query words, so a query term matches exactly the
//! documents that hold the same token. Never allocates more than the text it is given.

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::BTreeMap;
use unicode_segmentation::UnicodeSegmentation;

/// Whether tokens are stemmed. A cluster setting: every index and every query of a cluster
/// must agree on it, or terms would not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Stemming {
    /// Snowball English: "programming" and "programs" are both "program".
    #[default]
    On,
    /// Lowercased words only.
    Off,
}

/// Turns text into tokens. Cheap to copy: the stemmer is a function pointer made on use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tokenizer {
    stemming: Stemming,
}

impl Tokenizer {
    pub fn new(stemming: Stemming) -> Tokenizer {
        Tokenizer { stemming }
    }

    pub fn stemming(&self) -> Stemming {
        self.stemming
    }

    /// The token of one word (one item of `unicode_words`): lowercased, then stemmed.
    pub fn token(&self, word: &str) -> String {
        let lower = word.to_lowercase();
        match self.stemming {
            Stemming::Off => lower,
            Stemming::On => {
                let stemmer = Stemmer::create(Algorithm::English);
                stemmer.stem(&lower).into_owned()
            }
        }
    }

    /// The distinct tokens of `text` and how often each occurs (a document's term
    /// frequencies, a `SearchSimilar` query's counts).
    pub fn counts(&self, text: &str) -> BTreeMap<String, u32> {
        let mut counts = BTreeMap::new();
        for token in self.tokens(text) {
            let count = counts.entry(token).or_insert(0u32);
            *count = count.saturating_add(1);
        }
        counts
    }

    /// Every token of `text`, in order, repeats included: a document's length `dl` is how
    /// many this yields.
    pub fn tokens<'a>(&'a self, text: &'a str) -> impl Iterator<Item = String> + 'a {
        text.unicode_words().map(move |word| self.token(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokens(stemming: Stemming, text: &str) -> Vec<String> {
        Tokenizer::new(stemming).tokens(text).collect()
    }

    #[test]
    fn words_are_lowercased_and_stemmed() {
        assert_eq!(
            tokens(Stemming::On, "Python is a programming language"),
            ["python", "is", "a", "program", "languag"]
        );
        assert_eq!(
            tokens(Stemming::Off, "Python is a programming language"),
            ["python", "is", "a", "programming", "language"]
        );
        assert_eq!(
            tokens(Stemming::On, "coding languages"),
            ["code", "languag"]
        );
    }

    #[test]
    fn punctuation_is_not_a_token_and_words_keep_inner_marks() {
        assert_eq!(
            tokens(
                Stemming::Off,
                "Hello, world! (e-mail: a.b@c.io) can't 3.14 --"
            ),
            ["hello", "world", "e", "mail", "a.b", "c.io", "can't", "3.14"]
        );
        assert_eq!(tokens(Stemming::Off, "  ... \n"), Vec::<String>::new());
    }

    #[test]
    fn non_latin_words_are_tokens() {
        assert_eq!(
            tokens(Stemming::On, "Ünïcode ΣΊΣΥΦΟΣ 東京"),
            ["ünïcode", "σίσυφος", "東", "京"]
        );
    }

    proptest! {
        #[test]
        fn any_text_tokenizes_without_panic_and_no_token_is_empty(text in "\\PC{0,40}", on: bool) {
            let stemming = if on { Stemming::On } else { Stemming::Off };
            for token in Tokenizer::new(stemming).tokens(&text) {
                prop_assert!(!token.is_empty());
            }
        }
    }
}
