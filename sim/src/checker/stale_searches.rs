//! The stale-search checker: the stale-read rule applied to searches. Once a write is
//! acknowledged, a search that begins afterwards reflects it: a key is a result if and only
//! if its newest value matches (docs/CONTRACT.md, "What search promises under faults").
//!
//! Owns `check_stale_searches`. A search names keys, not versions, so the checker bounds
//! what each key's document could have been while the search ran, from the history alone:
//!
//! - a version is **possible** unless its attempt failed, it started after the search ended,
//!   or a write acknowledged before the search began carries a context covering its dot
//!   (the search's merged copy holds that write or a successor, which replaces it);
//! - a version is **sure** if it was acknowledged before the search began and no attempt
//!   that could have run by the search's end carries a context covering it (nothing could
//!   have replaced it).
//!
//! The key's document is the text of the sure versions plus some of the other possible
//! ones. If every such choice matches the question, the key must be a result (when the
//! results are complete); if none does, it must not be. Otherwise (concurrent writes, a
//! write of unknown outcome) the key is undecided for that search and not judged. A set
//! whose outcome is unknown is placed by its value, if any client was shown it.

use super::{show, Attempt, AttemptOutcome, SearchRecord, Versions, Violation};
use crate::workload::SearchAsk;
use std::collections::{BTreeMap, BTreeSet};
use tern_core::search::{reference, Query, Tokenizer};
use tern_core::{Dot, Time, VectorClock};

/// Possible versions beyond the sure ones above which a key is left undecided (every subset
/// of them is tried).
const UNSURE_VERSIONS_MAX: usize = 8;

/// What the stale-search checker looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchCheck {
    pub searches: u64,
    /// (search, key) pairs whose answer the history decides, and which were checked.
    pub decided: u64,
    /// (search, key) pairs left undecided (concurrent or uncertain writes).
    pub undecided: u64,
}

/// One write attempt to a key, as the checker needs it.
struct Version<'h> {
    start: Time,
    /// When it was acknowledged, if it was.
    acked: Option<Time>,
    context: &'h VectorClock,
    /// The distinct tokens of its text, sorted; `None` for a delete or a value not text.
    tokens: Option<Vec<String>>,
    /// The earliest acknowledgement of a write whose context covers this version.
    replaced_at: Option<Time>,
    /// The earliest start of any attempt (not failed) whose context covers this version.
    covered_from: Option<Time>,
}

/// The question a search asked, ready to match a token set.
enum Matcher {
    Query(Query),
    Shares(BTreeSet<String>),
}

impl Matcher {
    fn new(ask: &SearchAsk, tokenizer: &Tokenizer) -> Result<Matcher, String> {
        match ask {
            SearchAsk::Search { query } => Query::parse(query, tokenizer)
                .map(Matcher::Query)
                .map_err(|e| e.to_string()),
            SearchAsk::Similar { text, .. } => {
                Ok(Matcher::Shares(tokenizer.tokens(text).collect()))
            }
        }
    }

    /// Does a document made of these versions' texts match? No text: no document.
    fn matches(&self, texts: &[&Vec<String>]) -> bool {
        if texts.is_empty() {
            return false;
        }
        let has = |token: &str| {
            texts
                .iter()
                .any(|t| t.binary_search_by(|x| x.as_str().cmp(token)).is_ok())
        };
        match self {
            Matcher::Query(query) => reference::matches(query.expr(), &has),
            Matcher::Shares(tokens) => tokens.iter().any(|t| has(t)),
        }
    }
}

/// Every search checked against the history: no result whose value cannot match, and (when
/// the results are complete) no key missing whose value must match.
pub fn check_stale_searches(
    attempts: &[Attempt],
    versions: &Versions,
    searches: &[SearchRecord],
    tokenizer: &Tokenizer,
) -> (SearchCheck, Vec<Violation>) {
    if searches.is_empty() {
        // Nothing to check, and the versions' texts take long to tokenize.
        return (SearchCheck::default(), Vec::new());
    }
    let keys = key_versions(attempts, versions, tokenizer);
    let mut check = SearchCheck::default();
    let mut violations = Vec::new();
    let mut fail = |detail: String| violations.push(Violation::new("stale search", detail));
    for search in searches {
        check.searches += 1;
        let matcher = match Matcher::new(&search.ask, tokenizer) {
            Ok(matcher) => matcher,
            Err(why) => {
                fail(format!(
                    "{} was answered, yet it is no query: {why}",
                    search.ask
                ));
                continue;
            }
        };
        let hits: BTreeSet<&[u8]> = search.hits.iter().map(|h| h.key.as_slice()).collect();
        if hits.len() != search.hits.len() {
            fail(format!("{} returned a key twice", search.ask));
        }
        for hit in &hits {
            if !keys.contains_key(hit) {
                fail(format!(
                    "{} returned {}, which no client ever wrote",
                    search.ask,
                    show(hit)
                ));
            }
        }
        for (key, versions) in &keys {
            match decide(versions, search, &matcher) {
                None => check.undecided += 1,
                Some(must) => {
                    check.decided += 1;
                    let found = hits.contains(key);
                    if found && !must {
                        fail(format!(
                            "{} started at {} returned {}, whose value could not match then",
                            search.ask,
                            search.start,
                            show(key)
                        ));
                    }
                    if must && !found && search.complete {
                        fail(format!(
                            "{} started at {} missed {}, whose value matched by every write \
                             acknowledged before it",
                            search.ask,
                            search.start,
                            show(key)
                        ));
                    }
                }
            }
        }
    }
    (check, violations)
}

/// Whether `key`'s document matched while `search` ran: `Some` if the history decides it.
fn decide(versions: &[Version<'_>], search: &SearchRecord, matcher: &Matcher) -> Option<bool> {
    let mut sure = Vec::new();
    let mut unsure = Vec::new();
    for v in versions.iter().take_while(|v| v.start <= search.end) {
        if v.replaced_at.is_some_and(|t| t < search.start) {
            continue;
        }
        let Some(tokens) = &v.tokens else {
            continue;
        };
        let untouched = v.covered_from.is_none_or(|t| t > search.end);
        if v.acked.is_some_and(|t| t < search.start) && untouched {
            sure.push(tokens);
        } else {
            unsure.push(tokens);
        }
    }
    if unsure.len() > UNSURE_VERSIONS_MAX {
        return None;
    }
    let mut answer = None;
    for mask in 0u32..1 << unsure.len() {
        let mut texts = sure.clone();
        texts.extend(
            (0..unsure.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| unsure[i]),
        );
        let matched = matcher.matches(&texts);
        match answer {
            None => answer = Some(matched),
            Some(before) if before != matched => return None,
            Some(_) => {}
        }
    }
    answer
}

/// Each key's attempts that may have run, in the order they started, with what replaced or
/// could have replaced each.
fn key_versions<'h>(
    attempts: &'h [Attempt],
    versions: &Versions,
    tokenizer: &Tokenizer,
) -> BTreeMap<&'h [u8], Vec<Version<'h>>> {
    let mut by_value: BTreeMap<(&[u8], &[u8]), Dot> = BTreeMap::new();
    for (key, siblings) in versions {
        for (dot, sibling) in siblings {
            if let Some(value) = &sibling.value {
                by_value.insert((key, value), *dot);
            }
        }
    }
    let mut keys: BTreeMap<&[u8], Vec<(Option<Dot>, Version<'h>)>> = BTreeMap::new();
    for a in attempts
        .iter()
        .filter(|a| a.outcome != AttemptOutcome::Failed)
    {
        let dot = a.dot.or_else(|| {
            let value = a.value.as_deref()?;
            by_value.get(&(a.key.as_slice(), value)).copied()
        });
        let tokens = a
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(|text| {
                let mut tokens: Vec<String> = tokenizer.tokens(text).collect();
                tokens.sort();
                tokens.dedup();
                tokens
            });
        let acked = match a.outcome {
            AttemptOutcome::Acknowledged => a.end,
            _ => None,
        };
        let version = Version {
            start: a.start,
            acked,
            context: &a.context,
            tokens,
            replaced_at: None,
            covered_from: None,
        };
        keys.entry(&a.key).or_default().push((dot, version));
    }
    keys.into_iter()
        .map(|(key, mut list)| {
            for i in 0..list.len() {
                let Some(dot) = list[i].0 else {
                    continue;
                };
                let (mut replaced_at, mut covered_from) = (None::<Time>, None::<Time>);
                for (j, (_, other)) in list.iter().enumerate() {
                    if j == i || !other.context.covers(dot) {
                        continue;
                    }
                    covered_from = Some(covered_from.map_or(other.start, |t| t.min(other.start)));
                    if let Some(ack) = other.acked {
                        replaced_at = Some(replaced_at.map_or(ack, |t| t.min(ack)));
                    }
                }
                list[i].1.replaced_at = replaced_at;
                list[i].1.covered_from = covered_from;
            }
            (key, list.into_iter().map(|(_, v)| v).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{covering, dot};
    use tern_core::search::Stemming;
    use tern_core::Scored;

    fn attempt(seq: u64, value: &str, context: VectorClock, start: u64, end: u64) -> Attempt {
        Attempt {
            client: 1,
            request: seq,
            key: b"k".to_vec(),
            context,
            value: Some(value.as_bytes().to_vec()),
            dot: Some(dot(seq)),
            outcome: AttemptOutcome::Acknowledged,
            start: Time(start),
            end: Some(Time(end)),
        }
    }

    fn search(query: &str, start: u64, hits: &[&[u8]]) -> SearchRecord {
        SearchRecord {
            ask: SearchAsk::Search {
                query: query.to_string(),
            },
            start: Time(start),
            end: Time(start + 5),
            hits: hits
                .iter()
                .map(|k| Scored {
                    key: k.to_vec(),
                    score: 1.0,
                })
                .collect(),
            complete: true,
        }
    }

    fn check(attempts: &[Attempt], searches: &[SearchRecord]) -> (SearchCheck, Vec<Violation>) {
        let tokenizer = Tokenizer::new(Stemming::On);
        check_stale_searches(attempts, &BTreeMap::new(), searches, &tokenizer)
    }

    #[test]
    fn a_search_after_an_acknowledged_write_must_find_it() {
        let history = [attempt(
            1,
            "python is a language",
            VectorClock::new(),
            10,
            20,
        )];
        let found = search("python", 30, &[b"k"]);
        let missed = search("python", 30, &[]);
        assert_eq!(check(&history, &[found]).1, vec![]);
        let (counts, violations) = check(&history, &[missed]);
        assert_eq!(counts.decided, 1);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("missed k"));
        // Before the acknowledgement, either answer is allowed.
        assert_eq!(check(&history, &[search("python", 15, &[])]).1, vec![]);
    }

    #[test]
    fn a_replaced_value_no_longer_matches() {
        let history = [
            attempt(1, "python", VectorClock::new(), 10, 20),
            attempt(2, "java", covering(&[1]), 30, 40),
        ];
        let (_, violations) = check(&history, &[search("python", 50, &[b"k"])]);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("could not match"));
        assert_eq!(check(&history, &[search("java", 50, &[b"k"])]).1, vec![]);
        // While the replacement runs, either answer is allowed.
        assert_eq!(check(&history, &[search("python", 35, &[b"k"])]).1, vec![]);
        assert_eq!(check(&history, &[search("python", 35, &[])]).1, vec![]);
    }

    #[test]
    fn siblings_are_one_document_and_negations_count() {
        // Two blind writes: concurrent siblings, "python" and "java", both acknowledged.
        let history = [
            attempt(1, "python", VectorClock::new(), 10, 20),
            attempt(2, "java", VectorClock::new(), 12, 22),
        ];
        assert_eq!(
            check(&history, &[search("python java", 30, &[b"k"])]).1,
            vec![]
        );
        let (_, violations) = check(&history, &[search("python -java", 30, &[b"k"])]);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(
            check(&history, &[search("python -java", 30, &[])]).1,
            vec![]
        );
    }

    #[test]
    fn uncertain_writes_leave_a_key_undecided_and_unknown_keys_are_flagged() {
        let mut unknown = attempt(2, "java", covering(&[1]), 30, 40);
        unknown.outcome = AttemptOutcome::Unknown;
        unknown.dot = None;
        let history = [attempt(1, "python", VectorClock::new(), 10, 20), unknown];
        let (counts, violations) = check(&history, &[search("python", 50, &[])]);
        assert_eq!((counts.decided, counts.undecided), (0, 1));
        assert_eq!(violations, vec![]);
        let (_, violations) = check(&history, &[search("python", 50, &[b"other"])]);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].detail.contains("no client ever wrote"));
    }
}
