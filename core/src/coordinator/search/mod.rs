//! A distributed search (`Search` or `Similar`), served like a read at quorum R
//! (docs/SEARCH.md, "Distributed search"):
//!
//! 0. `Local`, when each replica asked holds every partition (no more nodes than N): one of
//!    the R (the coordinator itself when asked) runs the search on its own index
//!    (`LocalSearch`), and each of the R sends its digest of every partition
//!    (`store::Store::digest`, as anti-entropy compares). Equal digests mean equal copies of
//!    every key, so the one answer is the answer over the merged data: it is returned as it
//!    is, at the cost of one local search. Otherwise (the replicas diverge, or the answerer
//!    keeps no index) the search goes on as below.
//! 1. `Gathering`: for every partition, R live replicas are asked (one `Gather` per node,
//!    listing its partitions) for the keys whose local document holds any of the query's
//!    scored terms, with their objects; one of them (the first chosen) also sends the
//!    partition's statistics.
//! 2. `Fetching`: every candidate key is fetched from each asked replica of its partition
//!    that did not return it, so that each key is merged from all R copies, as a read does.
//! 3. The merged documents are indexed in a scratch index.
//! 4. `Stats` (similarity searches only, and only when needed): a document's vector needs the
//!    df of every term it holds, in every partition. A replica that sent a partition's
//!    statistics in round 1 counted the terms of the candidates it gathered itself; with more
//!    nodes than replicas it does not hold every partition, so the terms of candidates from
//!    other partitions are asked of it now.
//! 5. The query is evaluated exactly on the scratch index, and the candidates are scored
//!    with the gathered statistics.
//!
//! It never touches the store or the log; divergent copies are not repaired here (a read of
//! the key repairs them).

use super::{Coordinator, Ctx, Pending, Phase};
use crate::ids::{NodeId, RequestId};
use crate::limits::{
    PARTITIONS, SEARCH_CANDIDATES_MAX, SEARCH_PAGE_SIZE_MAX, SEARCH_RESULTS_MAX,
    SIMILAR_TEXT_BYTES_MAX, SIMILAR_TOP_K_MAX,
};
use crate::message::{
    KeyObject, LocalAnswer, Message, Paging, PartitionStats, RequestError, Response,
};
use crate::outbox::Origin;
use crate::ring::partition_of;
use crate::search::{Index, PartitionSet, Query, SearchError, Tokenizer};
use crate::time::Span;
use crate::version::Object;
use plan::plan;
use score::{answer, merged};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// What is being searched for, parsed and checked.
#[derive(Debug)]
pub(crate) enum Kind {
    Search {
        query: Query,
        page: Paging,
    },
    Similar {
        counts: BTreeMap<String, u32>,
        top_k: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    Local,
    Gathering,
    Fetching,
    Stats,
}

/// A search in the request table (`Phase::Search`).
#[derive(Debug)]
pub(crate) struct SearchState {
    /// The request as the client sent it (for `LocalSearch`).
    op: crate::message::Op,
    kind: Kind,
    /// The terms candidates must hold one of: the query's scored terms, or the text's.
    terms: Vec<String>,
    round: Round,
    /// The partitions each node was asked for (R nodes per partition).
    asked: BTreeMap<NodeId, Vec<u32>>,
    /// The partitions whose statistics each node sends (one node per partition).
    stats_for: BTreeMap<NodeId, Vec<u32>>,
    /// Nodes whose answer to the current round is still missing.
    waiting: BTreeSet<NodeId>,
    /// Round 2: the keys still to fetch from each node.
    fetch: BTreeMap<NodeId, Vec<Vec<u8>>>,
    /// Every candidate's copies, by the node that sent them.
    copies: BTreeMap<Vec<u8>, BTreeMap<NodeId, Object>>,
    stats: BTreeMap<u32, PartitionStats>,
    /// Round 3: the terms each node is asked the df of, for its `stats_for` partitions.
    stats_ask: BTreeMap<NodeId, Vec<String>>,
    /// The merged candidates, kept from the end of round 2 to the answer.
    scratch: Option<Index>,
    /// Round 0: each asked node's digests and answer.
    local: BTreeMap<NodeId, (Vec<u64>, Option<LocalAnswer>)>,
    /// Round 0: the node asked to answer (the coordinator itself when it is asked); the
    /// others send their digests only.
    answerer: NodeId,
    /// The replication factor and read quorum it runs at.
    n: usize,
    r: usize,
    /// Nodes that answered it `SearchRebuilding`: a new plan asks others.
    excluded: BTreeSet<NodeId>,
}

impl SearchState {
    /// The messages of the current round to `node` (for a start or a resend).
    fn message(&self, req: RequestId, node: NodeId) -> Message {
        match self.round {
            Round::Local => Message::LocalSearch {
                req,
                op: (node == self.answerer).then(|| self.op.clone()),
            },
            Round::Gathering => Message::Gather {
                req,
                partitions: self.asked.get(&node).cloned().unwrap_or_default(),
                stats_for: self.stats_for.get(&node).cloned().unwrap_or_default(),
                terms: self.terms.clone(),
                vectors: matches!(self.kind, Kind::Similar { .. }),
            },
            Round::Fetching => Message::Fetch {
                req,
                keys: self.fetch[&node]
                    .iter()
                    .map(|k| serde_bytes::ByteBuf::from(k.clone()))
                    .collect(),
                stats_for: Vec::new(),
                terms: Vec::new(),
            },
            Round::Stats => Message::Fetch {
                req,
                keys: Vec::new(),
                stats_for: self.stats_for.get(&node).cloned().unwrap_or_default(),
                terms: self.stats_ask.get(&node).cloned().unwrap_or_default(),
            },
        }
    }

    pub fn resend(&self, req: RequestId) -> Vec<(NodeId, Message)> {
        let waiting = self.waiting.iter();
        waiting.map(|&n| (n, self.message(req, n))).collect()
    }
}

/// Checks a search request and parses its query: the errors a client can fix.
fn parse(op: &crate::message::Op, tokenizer: &Tokenizer) -> Result<Kind, SearchError> {
    match op {
        crate::message::Op::Search { query, page } => {
            let size = page.size as usize;
            if size == 0 || size > SEARCH_PAGE_SIZE_MAX {
                let max = SEARCH_PAGE_SIZE_MAX;
                return Err(SearchError::PageSize { size, max });
            }
            let end = page.offset as usize + size;
            if end > SEARCH_RESULTS_MAX {
                let max = SEARCH_RESULTS_MAX;
                return Err(SearchError::PageEnd { end, max });
            }
            let query = Query::parse(query, tokenizer)?;
            Ok(Kind::Search { query, page: *page })
        }
        crate::message::Op::Similar { text, top_k } => {
            if text.len() > SIMILAR_TEXT_BYTES_MAX {
                let (bytes, max) = (text.len(), SIMILAR_TEXT_BYTES_MAX);
                return Err(SearchError::TextTooLong { bytes, max });
            }
            let top_k = *top_k as usize;
            if top_k == 0 || top_k > SIMILAR_TOP_K_MAX {
                let max = SIMILAR_TOP_K_MAX;
                return Err(SearchError::TopK { top_k, max });
            }
            let counts = tokenizer.counts(text);
            Ok(Kind::Similar { counts, top_k })
        }
        _ => unreachable!("only searches reach search::parse"),
    }
}

impl Coordinator {
    /// Starts a search: picks R live replicas of every partition, none of them `excluded`
    /// (replicas that answered an earlier plan of it `SearchRebuilding`), and asks each of
    /// them once (or answers `Unavailable`).
    pub(super) fn start_search(
        &mut self,
        ctx: &mut Ctx<'_>,
        origin: Origin,
        op: &crate::message::Op,
        (n, r): (usize, usize),
        timeout: Span,
        excluded: BTreeSet<NodeId>,
    ) {
        if !ctx.config.search_index {
            ctx.outbox.reply(origin, Err(RequestError::SearchOff));
            return;
        }
        let kind = match parse(op, &Tokenizer::new(ctx.config.stemming)) {
            Ok(kind) => kind,
            Err(why) => {
                ctx.outbox
                    .reply(origin, Err(RequestError::InvalidSearch(why)));
                return;
            }
        };
        let terms = match &kind {
            Kind::Search { query, .. } => query.scored_terms().to_vec(),
            Kind::Similar { counts, .. } => counts.keys().cloned().collect(),
        };
        let (asked, stats_for) = match plan(ctx, (n, r), &excluded) {
            Ok(plan) => plan,
            Err(error) => {
                ctx.stats.unavailable += 1;
                ctx.outbox.reply(origin, Err(error));
                return;
            }
        };
        let req = self.new_request_id(ctx.actor);
        let whole = |partitions: &Vec<u32>| partitions.len() == PARTITIONS as usize;
        let round = if asked.values().all(whole) {
            Round::Local
        } else {
            ctx.stats.searches_gathered += 1;
            Round::Gathering
        };
        let answerer = if asked.contains_key(&ctx.id) {
            ctx.id
        } else {
            asked.keys().next().copied().unwrap_or(ctx.id)
        };
        let state = SearchState {
            op: op.clone(),
            kind,
            terms,
            round,
            waiting: asked.keys().copied().collect(),
            asked,
            stats_for,
            fetch: BTreeMap::new(),
            copies: BTreeMap::new(),
            stats: BTreeMap::new(),
            stats_ask: BTreeMap::new(),
            scratch: None,
            local: BTreeMap::new(),
            answerer,
            n,
            r,
            excluded,
        };
        for (node, message) in state.resend(req) {
            ctx.outbox.send(node, message);
        }
        let replicas = state.asked.keys().copied().collect();
        let phase = Phase::Search(Box::new(state));
        let pending = Pending::to_replicas(ctx, origin, Vec::new(), replicas, timeout, phase);
        self.insert_pending(req, pending);
    }

    /// Ends search `req`: more candidates than `SEARCH_CANDIDATES_MAX`, or a replica that
    /// could not send all of its own.
    fn too_many_candidates(&mut self, ctx: &mut Ctx<'_>, req: RequestId) {
        let max = SEARCH_CANDIDATES_MAX as u64;
        let refused = Err(RequestError::TooManyCandidates { max });
        self.finish(ctx.outbox, req, refused);
    }

    /// A replica's answer to `LocalSearch`: once all R are in, their common answer if their
    /// digests agree, else the gathering rounds.
    pub fn handle_local_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        digests: Vec<u64>,
        answer: Option<LocalAnswer>,
    ) {
        let Some(pending) = self.requests.get_mut(&req) else {
            return;
        };
        let Phase::Search(state) = &mut pending.phase else {
            return;
        };
        if state.round != Round::Local || !state.waiting.remove(&from) {
            return; // Late, duplicated, or not asked.
        }
        state.local.insert(from, (digests, answer));
        if !state.waiting.is_empty() {
            return;
        }
        // Every node's digests must equal the answerer's.
        let answerer = state.local.get(&state.answerer);
        let agreed = match answerer {
            Some((digests, Some(answer))) if state.local.values().all(|(d, _)| d == digests) => {
                Some(answer.clone())
            }
            _ => None,
        };
        if let Some(answer) = agreed {
            ctx.stats.searches_local += 1;
            let LocalAnswer { hits, total, next } = answer;
            return self.finish(ctx.outbox, req, Ok(Response::Hits { hits, total, next }));
        }
        ctx.stats.searches_gathered += 1;
        state.round = Round::Gathering;
        state.waiting = state.asked.keys().copied().collect();
        for (node, message) in state.resend(req) {
            ctx.outbox.send(node, message);
        }
    }

    /// A replica's answer to `Gather` (`stats` empty) or `Fetch`.
    pub fn handle_search_reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        req: RequestId,
        reply: SearchReply,
    ) {
        let Some(pending) = self.requests.get_mut(&req) else {
            return;
        };
        let Phase::Search(state) = &mut pending.phase else {
            return;
        };
        // An incomplete `Fetched` is of the current round: one in round 2 ends the search.
        let in_stats = state.round == Round::Stats && state.stats_ask.contains_key(&from);
        let fits_round = match reply.round {
            Round::Gathering => state.round == Round::Gathering,
            Round::Fetching if !reply.complete => in_stats || state.round == Round::Fetching,
            Round::Fetching => state.round == Round::Fetching && state.fetch.contains_key(&from),
            Round::Stats => in_stats,
            Round::Local => false, // `handle_local_reply` takes those.
        };
        if !fits_round || !state.waiting.remove(&from) {
            return; // Late, duplicated, or not asked.
        }
        if !reply.complete {
            return self.too_many_candidates(ctx, req);
        }
        let partitions = &state.asked[&from];
        for KeyObject { key, object } in reply.objects {
            if partitions.binary_search(&partition_of(&key)).is_ok() {
                state.copies.entry(key).or_default().insert(from, object);
            }
        }
        let stats_for = state.stats_for.get(&from).map_or(&[][..], Vec::as_slice);
        for stats in reply.stats {
            if stats_for.binary_search(&stats.partition).is_ok() {
                match state.stats.entry(stats.partition) {
                    Entry::Vacant(entry) => {
                        entry.insert(stats);
                    }
                    // Round 3 adds the df of terms round 1 did not ask about.
                    Entry::Occupied(mut entry) => entry.get_mut().df.extend(stats.df),
                }
            }
        }
        if state.copies.len() > SEARCH_CANDIDATES_MAX {
            return self.too_many_candidates(ctx, req);
        }
        if !state.waiting.is_empty() {
            return;
        }
        if state.round == Round::Gathering {
            // Every candidate from every asked replica of its partition: ask for the rest.
            for (key, copies) in &state.copies {
                let partition = partition_of(key);
                for (node, partitions) in &state.asked {
                    if !copies.contains_key(node) && partitions.binary_search(&partition).is_ok() {
                        state.fetch.entry(*node).or_default().push(key.clone());
                    }
                }
            }
            if !state.fetch.is_empty() {
                state.round = Round::Fetching;
                state.waiting = state.fetch.keys().copied().collect();
                for (node, message) in state.resend(req) {
                    ctx.outbox.send(node, message);
                }
                return;
            }
        }
        let tokenizer = Tokenizer::new(ctx.config.stemming);
        if state.scratch.is_none() {
            match merged(state, tokenizer) {
                Ok(scratch) => state.scratch = Some(scratch),
                Err(error) => return self.finish(ctx.outbox, req, Err(error)),
            }
            state.stats_ask = missing_stats(state);
            if !state.stats_ask.is_empty() {
                state.round = Round::Stats;
                state.waiting = state.stats_ask.keys().copied().collect();
                for (node, message) in state.resend(req) {
                    ctx.outbox.send(node, message);
                }
                return;
            }
        }
        let result = answer(state);
        self.finish(ctx.outbox, req, result);
    }
}

/// For a similarity search: the terms of the merged candidates whose df some node that sends
/// statistics has not sent yet (it did not gather those candidates), by node.
fn missing_stats(state: &SearchState) -> BTreeMap<NodeId, Vec<String>> {
    let (Kind::Similar { .. }, Some(scratch)) = (&state.kind, &state.scratch) else {
        return BTreeMap::new();
    };
    let gathered = scratch.sharing(&state.terms, &PartitionSet::all(PARTITIONS));
    let mut ask = BTreeMap::new();
    for (node, partitions) in &state.stats_for {
        let mut sent: BTreeSet<&str> = state.terms.iter().map(String::as_str).collect();
        for stats in partitions.iter().filter_map(|p| state.stats.get(p)) {
            sent.extend(stats.df.iter().map(|(t, _)| t.as_str()));
        }
        let missing = gathered.terms.iter().filter(|t| !sent.contains(t.as_str()));
        let missing: Vec<String> = missing.cloned().collect();
        if !missing.is_empty() {
            ask.insert(*node, missing);
        }
    }
    ask
}

/// A `Gathered` or `Fetched` message, as the coordinator takes it.
pub(crate) struct SearchReply {
    pub round: Round,
    pub complete: bool,
    pub objects: Vec<KeyObject>,
    pub stats: Vec<PartitionStats>,
}

mod plan;
mod score;
