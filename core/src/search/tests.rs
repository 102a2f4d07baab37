//! The index against a naive scan: random small corpora with overwrites, deletes, moves
//! between partitions and multi-sibling documents, random queries over random partition
//! sets, against `reference` (every formula computed directly over every live document).

use super::reference::{self, Reference};
use super::*;
use crate::ids::NodeId;
use crate::version::{ActorId, Dot, Sibling, VectorClock};
use proptest::prelude::*;
use std::collections::BTreeMap;

const PARTITIONS: u32 = 4;
const KEYS: u8 = 8;
/// Words documents are made of: stems shared by several words, case, inner punctuation,
/// numbers, non-ASCII.
const DOC_WORDS: &[&str] = &[
    "apple", "Apples", "banana", "bananas", "cherry", "run", "running", "Runs", "the", "The", "a",
    "zeta", "e-mail", "x's", "42", "ünï", "ÜNÏ",
];
const SEPARATORS: &[&str] = &[" ", ", ", ". ", "\n", " - ", "!", "  ("];
/// Words queries are made of: some in no document.
const QUERY_WORDS: &[&str] = &[
    "apple", "Apples", "banana", "cherry", "run", "Running", "the", "zeta", "missing", "42", "ünï",
];

#[derive(Clone, Debug)]
enum Value {
    Text(Vec<(usize, usize)>),
    Binary,
    Tombstone,
}

#[derive(Clone, Debug)]
struct Write {
    key: u8,
    partition: u32,
    /// None: remove the key's document outright (it left this replica).
    siblings: Option<Vec<Value>>,
}

fn value() -> impl Strategy<Value = Value> {
    let text = prop::collection::vec((0..DOC_WORDS.len(), 0..SEPARATORS.len()), 0..8);
    prop_oneof![6 => text.prop_map(Value::Text), 1 => Just(Value::Binary), 1 => Just(Value::Tombstone)]
}

fn write() -> impl Strategy<Value = Write> {
    let siblings = prop::option::weighted(0.85, prop::collection::vec(value(), 1..4));
    (0..KEYS, 0..PARTITIONS, siblings).prop_map(|(key, partition, siblings)| Write {
        key,
        partition,
        siblings,
    })
}

fn query() -> impl Strategy<Value = Expr> {
    let leaf = (0..QUERY_WORDS.len()).prop_map(|w| Expr::Term(QUERY_WORDS[w].to_string()));
    leaf.prop_recursive(3, 10, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

/// Query text for an expression over raw words; `dash` picks `-` or `NOT` for negations.
fn render(expr: &Expr, dash: bool) -> String {
    match expr {
        Expr::Term(word) => word.clone(),
        Expr::And(items) => {
            let items: Vec<String> = items.iter().map(|e| render(e, dash)).collect();
            format!("({})", items.join(" "))
        }
        Expr::Or(items) => {
            let items: Vec<String> = items.iter().map(|e| render(e, !dash)).collect();
            format!("({})", items.join(" OR "))
        }
        Expr::Not(item) => {
            let inner = render(item, !dash);
            // "--x" is one negation ("-" before "-" is punctuation): write NOT there.
            if dash && !inner.starts_with('-') {
                format!("-{inner}")
            } else {
                format!("NOT {inner}")
            }
        }
    }
}

fn object(values: &[Value]) -> Object {
    let actor = ActorId {
        node: NodeId(1),
        incarnation: 7,
    };
    let siblings = (1u64..)
        .zip(values)
        .map(|(seq, value)| Sibling {
            bulk: None,
            dot: Dot { actor, seq },
            context: VectorClock::new(),
            value: match value {
                Value::Text(words) => {
                    let text: String = words
                        .iter()
                        .map(|&(w, s)| format!("{}{}", DOC_WORDS[w], SEPARATORS[s]))
                        .collect();
                    Some(text.into_bytes())
                }
                Value::Binary => Some(vec![0xff, 0xfe, b'a']),
                Value::Tombstone => None,
            },
        })
        .collect();
    Object::from_siblings(siblings)
}

/// The live documents as (partition, tokens).
type Model = BTreeMap<Vec<u8>, (u32, Vec<String>)>;

/// The reference over the documents of partitions `p`.
fn reference(model: &Model, p: &PartitionSet, tokenizer: Tokenizer) -> Reference {
    let mut reference = Reference::new(tokenizer);
    for (key, (partition, tokens)) in model {
        if p.contains(*partition) {
            reference.insert_tokens(key.clone(), tokens.clone());
        }
    }
    reference
}

/// The expression with each word turned into its token, as the parser does.
fn tokenized(expr: &Expr, tokenizer: &Tokenizer) -> Expr {
    match expr {
        Expr::Term(word) => Expr::Term(tokenizer.token(word)),
        Expr::And(items) => Expr::And(items.iter().map(|e| tokenized(e, tokenizer)).collect()),
        Expr::Or(items) => Expr::Or(items.iter().map(|e| tokenized(e, tokenizer)).collect()),
        Expr::Not(item) => Expr::Not(Box::new(tokenized(item, tokenizer))),
    }
}

/// The same hits in the same order, scores within 1e-9. Two hits whose scores are within
/// 1e-9 of each other may come in either order: the index and the scan add the same terms in
/// different orders, so a tie in exact arithmetic can differ in the last bits, and the
/// key that breaks ties then never gets asked.
fn assert_same(what: &str, index: &[Hit], naive: &[(Vec<u8>, f64)]) -> Result<(), TestCaseError> {
    prop_assert_eq!(index.len(), naive.len(), "{}", what);
    let mut start = 0;
    while start < naive.len() {
        let mut end = start + 1;
        while end < naive.len() && (naive[end - 1].1 - naive[end].1).abs() <= 1e-9 {
            end += 1;
        }
        let mut keys: Vec<&[u8]> = index[start..end].iter().map(|h| h.key.as_slice()).collect();
        let mut naive_keys: Vec<&[u8]> = naive[start..end].iter().map(|h| h.0.as_slice()).collect();
        if end - start > 1 {
            keys.sort_unstable();
            naive_keys.sort_unstable();
        }
        prop_assert_eq!(keys, naive_keys, "{}", what);
        start = end;
    }
    for hit in index {
        let found = naive.iter().find(|(k, _)| *k == hit.key);
        let naive_score = found.map_or(f64::NAN, |(_, s)| *s);
        prop_assert!(
            (hit.score - naive_score).abs() <= 1e-9,
            "{what}: {} vs {naive_score}",
            hit.score
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn index_agrees_with_a_naive_scan(
        writes in prop::collection::vec(write(), 0..30),
        queries in prop::collection::vec((query(), any::<bool>(), prop::collection::vec(0..PARTITIONS, 0..5)), 1..6),
        similar in prop::collection::vec((prop::collection::vec(0..QUERY_WORDS.len(), 0..5), 1..6usize), 1..4),
        stem: bool,
        df_counted_from in 1usize..6,
    ) {
        let tokenizer = Tokenizer::new(if stem { Stemming::On } else { Stemming::Off });
        let mut index = Index::with_df_counted_from(PARTITIONS, tokenizer, df_counted_from);
        let mut model = Model::new();
        for w in &writes {
            let key = vec![b'k', w.key];
            let doc = w.siblings.as_ref().and_then(|values| document(&object(values)));
            index.apply(w.partition, &key, doc.as_deref()).unwrap();
            match doc {
                Some(text) => model.insert(key, (w.partition, tokenizer.tokens(&text).collect())),
                None => model.remove(&key),
            };
        }
        prop_assert_eq!(index.len(), model.len());
        let vocabulary: std::collections::BTreeSet<&String> = model.values().flat_map(|(_, t)| t).collect();
        prop_assert_eq!(index.vocabulary(), vocabulary.len());

        for (expr, dash, partitions) in &queries {
            let p: PartitionSet = if partitions.is_empty() { PartitionSet::all(PARTITIONS) } else { partitions.iter().copied().collect() };
            let text = render(expr, *dash);
            let got = index.search(&text, &p, Page::first(SEARCH_PAGE_SIZE_MAX));
            if reference::matches(&tokenized(expr, &tokenizer), &|_| false) {
                // An empty document matches: the query only excludes.
                prop_assert_eq!(got, Err(SearchError::Query(QueryError::OnlyExcludes)));
                continue;
            }
            let query = Query::parse(&text, &tokenizer).unwrap();
            let naive = reference(&model, &p, tokenizer).search(&query);
            let page = got.unwrap();
            prop_assert_eq!(page.total, naive.len());
            assert_same(&text, &page.hits, &naive)?;
            // Pieces gathered per partition, merged and scored, are the same bit for bit.
            let mut stats = Stats::default();
            let mut pieces = Vec::new();
            for part in p.iter() {
                let one: PartitionSet = [part].into_iter().collect();
                stats.add(&index.stats(query.scored_terms().iter().map(String::as_str), &one));
                pieces.push(index.matches(&query, &one));
            }
            prop_assert_eq!(bm25(&stats, &Gathered::merge(pieces).unwrap()), page.hits);
        }

        for (words, top_k) in &similar {
            let text: Vec<&str> = words.iter().map(|&w| QUERY_WORDS[w]).collect();
            let text = text.join(" ");
            let p = PartitionSet::all(PARTITIONS);
            let got = index.similar(&text, *top_k, &p).unwrap();
            assert_same(&text, &got, &reference(&model, &p, tokenizer).similar(&text, *top_k))?;
            // Two rounds across disjoint pieces: gather and merge, then stats of every term.
            let halves: [PartitionSet; 2] = [[0, 2].into_iter().collect(), [1, 3].into_iter().collect()];
            let query = tokenizer.counts(&text);
            let terms: Vec<String> = query.keys().cloned().collect();
            let merged = Gathered::merge(halves.iter().map(|h| index.sharing(&terms, h)).collect()).unwrap();
            let mut stats = Stats::default();
            for half in &halves {
                stats.add(&index.stats(merged.terms.iter().chain(&terms).map(String::as_str), half));
            }
            let mut hits = tfidf_cosine(&query, &stats, &merged);
            hits.truncate(*top_k);
            prop_assert_eq!(hits, got);
        }

        // Removing every key leaves nothing behind.
        for key in model.keys() {
            index.apply(0, key, None).unwrap();
        }
        prop_assert!(index.is_empty());
        prop_assert_eq!(index.vocabulary(), 0);
        prop_assert_eq!(index.stats(["the"], &PartitionSet::all(PARTITIONS)), Stats { docs: 0, tokens: 0, df: [("the".to_string(), 0)].into() });
    }

    #[test]
    fn a_document_is_the_text_siblings_joined_in_dot_order(values in prop::collection::vec(value(), 0..5)) {
        let object = object(&values);
        let texts: Vec<String> = object
            .siblings()
            .iter()
            .filter_map(|s| String::from_utf8(s.value.clone()?).ok())
            .collect();
        let expected = (!texts.is_empty()).then(|| texts.join("\n"));
        prop_assert_eq!(document(&object), expected);
    }
}
