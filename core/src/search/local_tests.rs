//! The local fast paths (`Index::search`, `Index::similar`) against gathering and scoring
//! (`Index::matches`, `Index::sharing`, `rank::bm25`, `rank::tfidf_cosine`), bit for bit, on
//! corpora large and skewed enough that MaxScore skips terms, the norm bound skips documents,
//! terms move up df classes (and documents leave them), and tf spills past a byte. The
//! gathered path reads every candidate, so any document skipped wrongly shows up.

use super::super::bound::{Floors, Masses, CLASSES};
use super::super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const PARTITIONS: u32 = 3;
/// Word i is drawn with weight `WEIGHTS[i]`: a few very common words, many rare ones.
const WORDS: &[&str] = &[
    "the", "of", "and", "cat", "dog", "bird", "fish", "tree", "lake", "hill", "road", "moon",
    "star", "rain", "snow", "wind", "leaf", "rock", "sand", "wave", "fire", "iron", "gold", "salt",
];
const WEIGHTS: &[u32] = &[
    40, 25, 15, 8, 6, 5, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
];

fn word() -> impl Strategy<Value = usize> {
    let total: u32 = WEIGHTS.iter().sum();
    (0..total).prop_map(|mut x| {
        let mut i = 0;
        while x >= WEIGHTS[i] {
            x -= WEIGHTS[i];
            i += 1;
        }
        i
    })
}

/// A document: words, and now and then one word repeated past what a byte holds.
fn text() -> impl Strategy<Value = String> {
    let words = prop::collection::vec(word(), 0..14);
    let repeat = prop::option::weighted(0.05, (word(), 250usize..300));
    (words, repeat).prop_map(|(words, repeat)| {
        let mut text: Vec<&str> = words.iter().map(|&w| WORDS[w]).collect();
        if let Some((w, times)) = repeat {
            text.extend(std::iter::repeat_n(WORDS[w], times));
        }
        text.join(" ")
    })
}

/// (key, partition, document or removal)
fn writes() -> impl Strategy<Value = Vec<(u8, u32, Option<String>)>> {
    let write = (0u8..60, 0..PARTITIONS, prop::option::weighted(0.9, text()));
    prop::collection::vec(write, 1..140)
}

fn partitions() -> impl Strategy<Value = PartitionSet> {
    prop::collection::btree_set(0..PARTITIONS, 1..=PARTITIONS as usize)
        .prop_map(|set| set.into_iter().collect())
}

fn build(writes: &[(u8, u32, Option<String>)], df_counted_from: usize) -> Index {
    let tokenizer = Tokenizer::new(Stemming::Off);
    let mut index = Index::with_df_counted_from(PARTITIONS, tokenizer, df_counted_from);
    for (key, partition, text) in writes {
        index
            .apply(*partition, &[b'k', *key], text.as_deref())
            .unwrap();
    }
    index
}

impl Index {
    /// The invariants `bound.rs` rests on: every term's df is below its class's bound, and
    /// every document's mass in each class is at most Σ tf² of its terms in that class, and
    /// exactly that while no sum reached what a mass holds (then a move up subtracts from a
    /// saturated mass, which only loosens the bound).
    fn assert_bounds(&self) {
        for term in self.terms.iter().flatten() {
            if (term.class as usize) < CLASSES - 1 {
                assert!(term.postings.len() < 1 << (term.class + 1), "{}", term.name);
            }
        }
        for (doc, stored) in self.docs.iter().zip(&self.masses) {
            let Some(doc) = doc else { continue };
            let mut masses = Masses::default();
            let mut total = 0u64;
            for (t, tf) in doc.terms.iter() {
                masses.add(self.live_term(t).class, tf);
                total += u64::from(tf) * u64::from(tf);
            }
            if total < u64::from(u16::MAX) {
                assert_eq!(*stored, masses, "{:?}", doc.key);
            } else {
                assert!(stored.within(&masses), "{:?}", doc.key);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn similar_skips_only_documents_that_cannot_rank(
        writes in writes(),
        df_counted_from in 1usize..40,
        queries in prop::collection::vec((prop::collection::vec(word(), 1..7), 1usize..6, partitions()), 1..8),
    ) {
        let index = build(&writes, df_counted_from);
        index.assert_bounds();
        for (words, top_k, p) in &queries {
            let text: Vec<&str> = words.iter().map(|&w| WORDS[w]).collect();
            let text = text.join(" ");
            let query = index.tokenizer().counts(&text);
            let terms: Vec<String> = query.keys().cloned().collect();
            let gathered = index.sharing(&terms, p);
            let asked = gathered.terms.iter().chain(&terms).map(String::as_str);
            let mut want = tfidf_cosine(&query, &index.stats(asked, p), &gathered);
            want.truncate(*top_k);
            prop_assert_eq!(index.similar(&text, *top_k, p).unwrap(), want, "{}", text);
        }
    }

    #[test]
    fn search_pages_are_the_ranking_of_every_match(
        writes in writes(),
        df_counted_from in 1usize..40,
        queries in prop::collection::vec((word(), word(), 0usize..3, partitions(), 0usize..8, 1usize..5), 1..8),
    ) {
        let index = build(&writes, df_counted_from);
        for (a, b, op, p, offset, size) in &queries {
            let (a, b) = (WORDS[*a], WORDS[*b]);
            let text = match op {
                0 => format!("{a} {b}"),
                1 => format!("{a} OR {b}"),
                _ => format!("{a} -{b}"),
            };
            let parsed = Query::parse(&text, index.tokenizer()).unwrap();
            let stats = index.stats(parsed.scored_terms().iter().map(String::as_str), p);
            let all = bm25(&stats, &index.matches(&parsed, p));
            let page = index.search(&text, p, Page { offset: *offset, size: *size }).unwrap();
            let end = (offset + size).min(all.len());
            prop_assert_eq!(page.total, all.len());
            prop_assert_eq!(&page.hits[..], &all[(*offset).min(end)..end], "{}", text);
        }
    }

    /// The floors bound every document's norm, for the statistics of any partitions.
    #[test]
    fn floors_bound_every_norm(writes in writes(), p in partitions()) {
        let index = build(&writes, 8);
        let stats = index.stats(std::iter::empty(), &p);
        let floors = Floors::new(stats.docs);
        let docs = index.docs.iter().zip(&index.masses);
        for (doc, masses) in docs.filter_map(|(d, m)| Some((d.as_ref()?, m))) {
            if !p.contains(doc.partition) {
                continue;
            }
            let weights = doc.terms.iter().map(|(t, tf)| {
                let df = index.stats([&*index.live_term(t).name], &p).df(&index.live_term(t).name);
                f64::from(tf) * tfidf_idf(stats.docs, df)
            });
            let norm2: f64 = weights.map(|w| w * w).sum();
            let bound = floors.norm2(masses, std::iter::empty());
            prop_assert!(bound <= norm2 * (1.0 + 1e-12), "{} > {}", bound, norm2);
        }
    }
}

/// A tf too large for a byte is kept exactly: in the postings (BM25) and in the document
/// (TF-IDF vectors), checked against counts made from the text itself.
#[test]
fn large_tfs_are_exact() {
    let mut index = Index::new(1, Tokenizer::new(Stemming::Off));
    let texts = [
        ("a", format!("{} cat", "dog ".repeat(300))),
        ("b", format!("{} dog", "cat ".repeat(255))),
        ("c", "cat dog bird ".repeat(3)),
    ];
    for (key, text) in &texts {
        index.apply(0, key.as_bytes(), Some(text)).unwrap();
    }
    // Replace one, so that a spilled tf is rewritten in place.
    let b = format!("{} dog", "cat ".repeat(1000));
    index.apply(0, b"b", Some(&b)).unwrap();
    let all = PartitionSet::all(1);
    let counts: BTreeMap<&str, BTreeMap<String, u32>> = [
        ("a", index.tokenizer().counts(&texts[0].1)),
        ("b", index.tokenizer().counts(&b)),
        ("c", index.tokenizer().counts(&texts[2].1)),
    ]
    .into();
    let gathered = index.sharing(&["cat".to_string()], &all);
    for candidate in &gathered.candidates {
        let vector: BTreeMap<String, u32> = candidate
            .tf
            .iter()
            .map(|&(i, tf)| (gathered.terms[i as usize].clone(), tf))
            .collect();
        let key = std::str::from_utf8(&candidate.key).unwrap();
        assert_eq!(vector, counts[key], "{key}");
    }
    let query = Query::parse("dog", index.tokenizer()).unwrap();
    let matched = index.matches(&query, &all);
    let tfs: Vec<u32> = matched.candidates.iter().map(|c| c.tf[0].1).collect();
    assert_eq!(tfs, [300, 1, 3]);
    // BM25 by the formula for key a: tf 300, dl 301.
    let stats = index.stats(["dog"], &all);
    let want = bm25_term(bm25_idf(3, 3), 300, 301, stats.avgdl());
    let page = index.search("dog", &all, Page::first(3)).unwrap();
    assert_eq!(
        (page.hits[0].key.as_slice(), page.hits[0].score),
        (&b"a"[..], want)
    );
}
