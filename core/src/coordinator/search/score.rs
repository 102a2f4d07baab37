//! The end of a distributed search: the candidates' copies merged into a scratch index, the
//! statistics of every partition added up, and the hits scored and paged. Pure functions of
//! the search's state; they send nothing.

use super::{Kind, SearchState};
use crate::limits::{OBJECT_BYTES_MAX, PARTITIONS, SEARCH_RESULTS_MAX};
use crate::message::{ClientResult, Oversized, Paging, RequestError, Response, Scored};
use crate::ring::partition_of;
use crate::search::{bm25, document, tfidf_cosine, Hit, Index, PartitionSet, Stats, Tokenizer};
use crate::version::Object;
use std::collections::{BTreeMap, BTreeSet};

/// Every candidate's copies merged, as a read merges them, in a scratch index.
pub(super) fn merged(state: &SearchState, tokenizer: Tokenizer) -> Result<Index, RequestError> {
    let mut scratch = Index::new(PARTITIONS, tokenizer);
    for (key, copies) in &state.copies {
        let mut merged = Object::new();
        for copy in copies.values() {
            merged.merge(copy);
        }
        let doc = document(&merged);
        if scratch
            .apply(partition_of(key), key, doc.as_deref())
            .is_err()
        {
            // Copies that fit one by one but not merged: as a read of the key would say.
            let (what, max) = (Oversized::MergedBytes, OBJECT_BYTES_MAX as u64);
            let len = doc.map_or(0, |d| d.len() as u64);
            return Err(RequestError::TooLarge { what, len, max });
        }
    }
    Ok(scratch)
}

/// Evaluates and scores the merged candidates: the search's result.
pub(super) fn answer(state: &SearchState) -> ClientResult {
    let scratch = state.scratch.as_ref().expect("merged before the answer");
    let all = PartitionSet::all(PARTITIONS);
    match &state.kind {
        Kind::Search { query, page } => {
            let gathered = scratch.matches(query, &all);
            let stats = global_stats(state, scratch, query.scored_terms().iter());
            let hits = bm25(&stats, &gathered);
            Ok(paged(hits, *page))
        }
        Kind::Similar { counts, top_k } => {
            let gathered = scratch.sharing(&state.terms, &all);
            let terms = gathered.terms.iter().chain(&state.terms);
            let stats = global_stats(state, scratch, terms);
            let mut hits = tfidf_cosine(counts, &stats, &gathered);
            hits.truncate(*top_k);
            let total = hits.len() as u64;
            Ok(Response::Hits {
                hits: hits.into_iter().map(scored).collect(),
                total,
                next: None,
            })
        }
    }
}

/// The statistics of every partition, each from the one replica that sent them, with n and
/// df raised to at least what the merged candidates themselves show (a replica that missed a
/// write counts it in neither). Exact when the replicas agree. Costs a step per partition,
/// per term sent and per posting of the scratch index, never partitions times terms.
fn global_stats<'a>(
    state: &SearchState,
    scratch: &Index,
    terms: impl Iterator<Item = &'a String>,
) -> Stats {
    let terms: BTreeSet<&str> = terms.map(String::as_str).collect();
    let mut total = Stats::default();
    // Per partition, the df each term was sent with, then raised to what the scratch shows.
    let mut sent: Vec<BTreeMap<&str, u64>> = vec![BTreeMap::new(); PARTITIONS as usize];
    for partition in 0..PARTITIONS {
        let (docs, tokens) = scratch.partition_size(partition);
        let stats = state.stats.get(&partition);
        total.docs += stats.map_or(0, |s| s.docs).max(docs);
        total.tokens += stats.map_or(0, |s| s.tokens).max(tokens);
        if let Some(stats) = stats {
            let df = stats.df.iter().filter(|(t, _)| terms.contains(t.as_str()));
            sent[partition as usize].extend(df.map(|(t, df)| (t.as_str(), *df)));
        }
    }
    for term in &terms {
        let mut df = 0u64;
        for (partition, seen) in scratch.df_by_partition(term) {
            let from_replica = sent[partition as usize].remove(term).unwrap_or(0);
            df += seen.max(from_replica);
        }
        total.df.insert(term.to_string(), df);
    }
    // What the replicas sent for partitions where the scratch holds the term nowhere.
    for partition in &sent {
        for (term, df) in partition {
            *total.df.get_mut(*term).expect("only asked terms are kept") += df;
        }
    }
    total
}

fn scored(hit: Hit) -> Scored {
    Scored {
        key: hit.key,
        score: hit.score,
    }
}

/// One page of ranked hits, and the next page while there are more within the limit.
fn paged(mut hits: Vec<Hit>, page: Paging) -> Response {
    let total = hits.len();
    let (offset, size) = (page.offset as usize, page.size as usize);
    let end = offset + size;
    let next = (end < total && end < SEARCH_RESULTS_MAX).then(|| Paging {
        offset: end as u32,
        size: size.min(SEARCH_RESULTS_MAX - end) as u32,
    });
    hits.truncate(end);
    let hits = hits.split_off(offset.min(hits.len()));
    Response::Hits {
        hits: hits.into_iter().map(scored).collect(),
        total: total as u64,
        next,
    }
}
