//! The final-search checker: after the calm phase, searches through every node and on every
//! node's own index give exactly what the definitions give over the final data.
//!
//! Owns `check_final_searches` (answers of the cluster, each node coordinating in turn,
//! against `tern_core::search::reference` over the final reads) and `check_local_index`
//! (one node's index against the reference over that node's own copies). Same keys in the
//! same order, scores within `SCORE_TOLERANCE`. The reference scans every document and shares
//! nothing with the index but the tokenizer and the query parser.

use super::Violation;
use crate::workload::SearchAsk;
use std::collections::BTreeMap;
use tern_core::limits::{PARTITIONS, SEARCH_PAGE_SIZE_MAX};
use tern_core::search::{Index, Page, PartitionSet, Query, Reference, Tokenizer};
use tern_core::{NodeId, Scored};

/// How far a score may be from the reference's: the order of additions differs.
pub const SCORE_TOLERANCE: f64 = 1e-9;

/// A final search answered through a node.
#[derive(Clone, Debug)]
pub struct FinalAnswer {
    /// The coordinating node.
    pub node: NodeId,
    pub ask: SearchAsk,
    pub hits: Vec<Scored>,
    /// For a search, every match counted; for a similarity search, the hits returned.
    pub total: u64,
}

/// The reference's hits, best first, and its total.
type Expected = (Vec<(Vec<u8>, f64)>, u64);

/// What the reference gives for `ask`: every hit (a search's first page of
/// `SEARCH_PAGE_SIZE_MAX`, and its total).
fn expected(
    reference: &Reference,
    ask: &SearchAsk,
    tokenizer: &Tokenizer,
) -> Result<Expected, String> {
    match ask {
        SearchAsk::Search { query } => {
            let query = Query::parse(query, tokenizer).map_err(|e| e.to_string())?;
            let mut hits = reference.search(&query);
            let total = hits.len() as u64;
            hits.truncate(SEARCH_PAGE_SIZE_MAX);
            Ok((hits, total))
        }
        SearchAsk::Similar { text, top_k } => {
            let hits = reference.similar(text, *top_k as usize);
            let total = hits.len() as u64;
            Ok((hits, total))
        }
    }
}

/// Where `got` differs from `want`, if it does.
fn difference(got: &[(&[u8], f64)], want: &[(Vec<u8>, f64)]) -> Option<String> {
    // Hits whose reference scores are within the tolerance of each other may come in either
    // order: an exact tie summed in another order can differ in the last bits.
    let mut start = 0;
    while start < want.len().min(got.len()) {
        let mut end = start + 1;
        while end < want.len() && (want[end - 1].1 - want[end].1).abs() <= SCORE_TOLERANCE {
            end += 1;
        }
        let end = end.min(got.len());
        for rank in start..end {
            let (key, score) = got[rank];
            let Some(w) = want[start..end].iter().find(|w| w.0.as_slice() == key) else {
                return Some(format!(
                    "rank {rank}: {} where the reference has {}",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(&want[rank].0)
                ));
            };
            if (score - w.1).abs() > SCORE_TOLERANCE {
                return Some(format!(
                    "rank {rank} ({}): score {score} against {}",
                    String::from_utf8_lossy(key),
                    w.1
                ));
            }
        }
        start = end;
    }
    (got.len() != want.len())
        .then(|| format!("{} hits against the reference's {}", got.len(), want.len()))
}

/// Every answer of the cluster against the reference over the final data. Returns the
/// number of answers compared and the violations.
pub fn check_final_searches(
    reference: &Reference,
    tokenizer: &Tokenizer,
    answers: &[FinalAnswer],
) -> (u64, Vec<Violation>) {
    let mut cache: BTreeMap<&SearchAsk, Result<Expected, String>> = BTreeMap::new();
    let mut violations = Vec::new();
    for answer in answers {
        let want = cache
            .entry(&answer.ask)
            .or_insert_with(|| expected(reference, &answer.ask, tokenizer));
        let problem = match want {
            Err(why) => Some(format!("answered, but the reference refuses it: {why}")),
            Ok((hits, total)) => {
                let got: Vec<(&[u8], f64)> = answer
                    .hits
                    .iter()
                    .map(|h| (h.key.as_slice(), h.score))
                    .collect();
                difference(&got, hits).or_else(|| {
                    (answer.total != *total)
                        .then(|| format!("total {} against the reference's {total}", answer.total))
                })
            }
        };
        if let Some(problem) = problem {
            violations.push(Violation::new(
                "final search",
                format!("{} through node {}: {problem}", answer.ask, answer.node.0),
            ));
        }
    }
    (answers.len() as u64, violations)
}

/// One node's own index against the reference over that node's own copies (`reference`),
/// for every question in `asks`. Returns the number of questions compared and the
/// violations.
pub fn check_local_index(
    node: NodeId,
    index: &Index,
    reference: &Reference,
    tokenizer: &Tokenizer,
    asks: &[SearchAsk],
) -> (u64, Vec<Violation>) {
    let all = PartitionSet::all(PARTITIONS);
    let mut violations = Vec::new();
    for ask in asks {
        let got = match ask {
            SearchAsk::Search { query } => index
                .search(query, &all, Page::first(SEARCH_PAGE_SIZE_MAX))
                .map(|page| (page.hits, page.total as u64)),
            SearchAsk::Similar { text, top_k } => {
                index.similar(text, *top_k as usize, &all).map(|hits| {
                    let total = hits.len() as u64;
                    (hits, total)
                })
            }
        };
        let problem = match (got, expected(reference, ask, tokenizer)) {
            (Ok((hits, total)), Ok((want, want_total))) => {
                let got: Vec<(&[u8], f64)> =
                    hits.iter().map(|h| (h.key.as_slice(), h.score)).collect();
                difference(&got, &want).or_else(|| {
                    (total != want_total).then(|| format!("total {total} against {want_total}"))
                })
            }
            (Err(e), Ok(_)) => Some(format!("the index refuses it: {e}")),
            (Ok(_), Err(e)) => Some(format!("the index answers, the reference refuses it: {e}")),
            (Err(_), Err(_)) => None,
        };
        if let Some(problem) = problem {
            violations.push(Violation::new(
                "local index",
                format!("{ask} on node {}'s own index: {problem}", node.0),
            ));
        }
    }
    (asks.len() as u64, violations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::search::Stemming;

    fn corpus(tokenizer: Tokenizer) -> Reference {
        let mut reference = Reference::new(tokenizer);
        reference.insert(b"doc1".to_vec(), "Python is a programming language");
        reference.insert(b"doc2".to_vec(), "Java is also a programming language");
        reference
    }

    fn answer(ask: SearchAsk, hits: &[(&[u8], f64)], total: u64) -> FinalAnswer {
        FinalAnswer {
            node: NodeId(1),
            ask,
            hits: hits
                .iter()
                .map(|(k, s)| Scored {
                    key: k.to_vec(),
                    score: *s,
                })
                .collect(),
            total,
        }
    }

    #[test]
    fn the_final_search_checker_catches_a_wrong_key_order_or_score() {
        let tokenizer = Tokenizer::new(Stemming::On);
        let reference = corpus(tokenizer);
        let ask = SearchAsk::Similar {
            text: "coding languages".to_string(),
            top_k: 5,
        };
        let (want, _) = expected(&reference, &ask, &tokenizer).unwrap();
        assert_eq!(want.len(), 2);
        let (doc1, doc2) = (want[0].1, want[1].1);
        assert!(doc1 > doc2, "the founding example: doc1 ranks above doc2");
        let right = answer(ask.clone(), &[(b"doc1", doc1), (b"doc2", doc2)], 2);
        assert_eq!(
            check_final_searches(&reference, &tokenizer, &[right]).1,
            vec![]
        );
        let swapped = answer(ask.clone(), &[(b"doc2", doc2), (b"doc1", doc1)], 2);
        let off = answer(ask.clone(), &[(b"doc1", doc1 + 1e-6), (b"doc2", doc2)], 2);
        let short = answer(ask, &[(b"doc1", doc1)], 1);
        let (checked, violations) =
            check_final_searches(&reference, &tokenizer, &[swapped, off, short]);
        assert_eq!((checked, violations.len()), (3, 3), "{violations:?}");
        let query = SearchAsk::Search {
            query: "Python programming".to_string(),
        };
        let wrong_total = answer(
            query.clone(),
            &[(
                b"doc1",
                expected(&reference, &query, &tokenizer).unwrap().0[0].1,
            )],
            2,
        );
        assert_eq!(
            check_final_searches(&reference, &tokenizer, &[wrong_total])
                .1
                .len(),
            1
        );
    }

    #[test]
    fn the_local_index_checker_catches_an_index_that_missed_a_write() {
        let tokenizer = Tokenizer::new(Stemming::On);
        let reference = corpus(tokenizer);
        let mut index = Index::new(PARTITIONS, tokenizer);
        index
            .apply(0, b"doc1", Some("Python is a programming language"))
            .unwrap();
        let asks = [
            SearchAsk::Search {
                query: "programming".to_string(),
            },
            SearchAsk::Similar {
                text: "java".to_string(),
                top_k: 3,
            },
        ];
        let (checked, violations) =
            check_local_index(NodeId(1), &index, &reference, &tokenizer, &asks);
        assert_eq!((checked, violations.len()), (2, 2), "{violations:?}");
        index
            .apply(1, b"doc2", Some("Java is also a programming language"))
            .unwrap();
        assert_eq!(
            check_local_index(NodeId(1), &index, &reference, &tokenizer, &asks).1,
            vec![]
        );
    }
}
