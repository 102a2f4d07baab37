//! Search served by a cluster (docs/SEARCH.md, "Distributed search"): the founding example on
//! three nodes, and searches that must reflect an acknowledged write that one replica missed,
//! whichever node coordinates.

mod harness;

use harness::Harness;
use tern_core::{
    ClientResult, NodeId, Op, Paging, Quorum, RequestError, Response, SearchError, VectorClock,
};

/// A new cluster of `nodes`, past its first exchange: its nodes start on empty logs, so they
/// rebuild (from each other) and answer no search until then.
fn cluster(nodes: u32) -> Harness {
    let mut h = Harness::new(nodes);
    h.advance(tern_core::Span::from_secs(2));
    h
}

fn search(h: &mut Harness, at: u32, query: &str) -> ClientResult {
    let op = Op::Search {
        query: query.into(),
        page: Paging::first(10),
    };
    h.request(NodeId(at), op, Quorum::default())
}

fn similar(h: &mut Harness, at: u32, text: &str, top_k: u32) -> ClientResult {
    let op = Op::Similar {
        text: text.into(),
        top_k,
    };
    h.request(NodeId(at), op, Quorum::default())
}

/// The keys and scores of a result, scores rounded to six decimals.
fn hits(result: ClientResult) -> Vec<(String, f64)> {
    match result {
        Ok(Response::Hits { hits, .. }) => hits
            .into_iter()
            .map(|h| {
                let key = String::from_utf8(h.key).unwrap();
                (key, (h.score * 1e6).round() / 1e6)
            })
            .collect(),
        other => panic!("search failed: {other:?}"),
    }
}

fn keys(result: ClientResult) -> Vec<String> {
    hits(result).into_iter().map(|(k, _)| k).collect()
}

fn founding(h: &mut Harness) {
    let fresh = VectorClock::new();
    h.set(1, "doc1", "Python is a programming language", fresh.clone())
        .unwrap();
    h.set(2, "doc2", "Java is also a programming language", fresh)
        .unwrap();
}

#[test]
fn the_founding_example_on_three_nodes() {
    let mut h = cluster(3);
    founding(&mut h);
    for at in 1..=3 {
        // The figures of docs/SEARCH.md, worked example 1.
        let found = hits(search(&mut h, at, "Python programming"));
        assert_eq!(found, [("doc1".to_string(), 0.909285)]);
        let found = hits(search(&mut h, at, "programming language"));
        assert_eq!(
            found,
            [
                ("doc1".to_string(), 0.378728),
                ("doc2".to_string(), 0.351568)
            ]
        );
        let found = hits(similar(&mut h, at, "coding languages", 5));
        assert_eq!(
            found,
            [
                ("doc1".to_string(), 0.40909),
                ("doc2".to_string(), 0.354649)
            ]
        );
    }
}

#[test]
fn pages_and_totals() {
    let mut h = cluster(3);
    founding(&mut h);
    let op = Op::Search {
        query: "language".into(),
        page: Paging::first(1),
    };
    let Ok(Response::Hits { hits, total, next }) = h.request(NodeId(1), op, Quorum::default())
    else {
        panic!("search failed");
    };
    assert_eq!((hits.len(), total), (1, 2));
    assert_eq!(next, Some(Paging { offset: 1, size: 1 }));
    let op = Op::Search {
        query: "language".into(),
        page: next.unwrap(),
    };
    let Ok(Response::Hits { hits, next, .. }) = h.request(NodeId(2), op, Quorum::default()) else {
        panic!("search failed");
    };
    assert_eq!((hits[0].key.as_slice(), next), (&b"doc2"[..], None));
}

#[test]
fn malformed_queries_and_out_of_range_requests_are_typed_errors() {
    let mut h = cluster(3);
    let error = search(&mut h, 1, "python (java");
    let Err(RequestError::InvalidSearch(SearchError::Query(why))) = error else {
        panic!("{error:?}");
    };
    assert_eq!(why.to_string(), "`(` at byte 7 is never closed");
    let op = Op::Similar {
        text: "x".into(),
        top_k: 0,
    };
    let error = h.request(NodeId(2), op, Quorum::default());
    assert!(matches!(
        error,
        Err(RequestError::InvalidSearch(SearchError::TopK {
            top_k: 0,
            ..
        }))
    ));
}

#[test]
fn deletes_and_overwrites_leave_the_index() {
    let mut h = cluster(3);
    founding(&mut h);
    let context = h.get(1, "doc2").clock();
    let op = Op::Delete {
        key: "doc2".into(),
        context,
    };
    h.request(NodeId(3), op, Quorum::default()).unwrap();
    assert_eq!(keys(search(&mut h, 2, "language")), ["doc1"]);
    let context = h.get(1, "doc1").clock();
    h.set(1, "doc1", "Rust is a language", context).unwrap();
    assert!(keys(search(&mut h, 3, "python")).is_empty());
    assert_eq!(keys(search(&mut h, 3, "rust")), ["doc1"]);
}

#[test]
fn concurrent_versions_are_one_document() {
    let mut h = cluster(3);
    h.set(1, "k", "apples", VectorClock::new()).unwrap();
    h.set(2, "k", "pears", VectorClock::new()).unwrap();
    // Siblings: the document holds both texts, so both words are in one document.
    assert_eq!(keys(search(&mut h, 3, "apples pears")), ["k"]);
}

/// Node 3 misses a write that nodes 1 and 2 acknowledge (W=2), then the partition heals:
/// node 3 still holds the old text. Every coordinator asks R=2 replicas per partition, at
/// least one of which has the write, and merges every candidate from both: the search
/// reflects the acknowledged write wherever it starts, before any read repairs node 3.
#[test]
fn a_search_reflects_an_acknowledged_write_that_one_replica_missed() {
    for at in 1..=3 {
        let mut h = cluster(3);
        founding(&mut h);
        for peer in [1, 2] {
            h.cut.insert((NodeId(3), NodeId(peer)));
            h.cut.insert((NodeId(peer), NodeId(3)));
        }
        let context = h.get(1, "doc1").clock();
        h.set(1, "doc1", "Rust is a systems language", context)
            .unwrap();
        h.set(2, "doc3", "Python scripts", VectorClock::new())
            .unwrap();
        h.cut.clear();
        let stale = h.nodes[&NodeId(3)].as_ref().unwrap().object(b"doc1");
        assert!(tern_core::search::document(stale.unwrap())
            .unwrap()
            .contains("Python"));

        // The newest doc1 no longer matches: it is left out, though node 3's copy matches.
        assert_eq!(keys(search(&mut h, at, "python")), ["doc3"], "at node {at}");
        // The newest doc1 matches, though node 3's copy does not.
        assert_eq!(keys(search(&mut h, at, "rust")), ["doc1"], "at node {at}");
        let similar = keys(similar(&mut h, at, "rust systems", 5));
        assert_eq!(similar, ["doc1"], "at node {at}");
    }
}

#[test]
fn a_restarted_cluster_rebuilds_its_indexes_from_the_log() {
    let mut h = cluster(3);
    founding(&mut h);
    for id in 1..=3 {
        h.crash(NodeId(id));
    }
    for id in 1..=3 {
        h.start(NodeId(id));
    }
    h.settle();
    assert_eq!(keys(search(&mut h, 2, "Python programming")), ["doc1"]);
}

#[test]
fn a_five_node_cluster_counts_each_key_once() {
    let mut h = cluster(5);
    founding(&mut h);
    for at in [1, 4, 5] {
        let found = hits(search(&mut h, at, "programming language"));
        assert_eq!(
            found,
            [
                ("doc1".to_string(), 0.378728),
                ("doc2".to_string(), 0.351568)
            ]
        );
    }
}

#[test]
fn a_search_needs_r_live_replicas_of_every_partition() {
    let mut h = cluster(3);
    founding(&mut h);
    h.crash(NodeId(2));
    h.crash(NodeId(3));
    h.advance(tern_core::Span::from_millis(1_500)); // Past the failure detector.
    assert_eq!(
        search(&mut h, 1, "python"),
        Err(RequestError::Unavailable {
            needed: 2,
            alive: 1
        })
    );
    // R=1 is enough with one node: its copies are all there is to merge.
    let op = Op::Search {
        query: "python".into(),
        page: Paging::first(10),
    };
    let one = Quorum {
        n: None,
        r: Some(1),
        w: None,
    };
    assert_eq!(keys(h.request(NodeId(1), op, one)), ["doc1"]);
}

/// Siblings split across replicas: node 3 alone holds "pears" (written with W=1 while cut
/// off), nodes 1 and 2 hold "apples" (the merge is asked of the replicas that hold them). No copy's document holds both words, but the merged
/// key does: each replica returns the key for the word it holds, and the coordinator matches
/// the merge.
#[test]
fn siblings_split_across_replicas_match_together() {
    let mut h = cluster(3);
    for peer in [1, 2] {
        h.cut.insert((NodeId(3), NodeId(peer)));
        h.cut.insert((NodeId(peer), NodeId(3)));
    }
    h.set(1, "k", "apples", VectorClock::new()).unwrap();
    let op = Op::Set {
        key: "k".into(),
        value: "pears".into(),
        context: VectorClock::new(),
    };
    let one = Quorum {
        n: None,
        r: None,
        w: Some(1),
    };
    h.request(NodeId(3), op, one).unwrap();
    h.cut.clear();
    // Node 3 asks itself and one of the others. Nodes 1 and 2 would ask each other (a W=1
    // write is not promised to R=2), so they ask all three replicas.
    assert_eq!(keys(search(&mut h, 3, "apples pears")), ["k"]);
    let all = Quorum {
        n: None,
        r: Some(3),
        w: None,
    };
    for at in 1..=2 {
        let op = Op::Search {
            query: "apples pears".into(),
            page: Paging::first(10),
        };
        assert_eq!(keys(h.request(NodeId(at), op, all)), ["k"], "at node {at}");
    }
}

/// With five nodes and N = 3, no node holds every partition: the node that sends a
/// partition's statistics did not gather the candidates of the others, so a similarity
/// search must ask it for the df of their terms (round 3). Every answer, through every node,
/// equals the reference scan of the same documents.
#[test]
fn a_five_node_cluster_scores_like_a_scan_of_every_document() {
    use tern_core::search::{Query, Reference, Stemming, Tokenizer};
    const WORDS: [&str; 12] = [
        "python",
        "java",
        "rust",
        "language",
        "languages",
        "programming",
        "fast",
        "memory",
        "safe",
        "code",
        "coding",
        "systems",
    ];
    let mut h = cluster(5);
    let tokenizer = Tokenizer::new(Stemming::On);
    let mut reference = Reference::new(tokenizer);
    let mut state = 7u64;
    for doc in 0..40 {
        let words: Vec<&str> = (0..3 + doc % 5)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                WORDS[(state >> 33) as usize % WORDS.len()]
            })
            .collect();
        let (key, text) = (format!("doc{doc:02}"), words.join(" "));
        h.set(1 + doc % 5, &key, &text, VectorClock::new()).unwrap();
        reference.insert(key.into_bytes(), &text);
    }
    h.settle();
    let close = |got: Vec<(String, f64)>, want: Vec<(Vec<u8>, f64)>| {
        let want: Vec<(String, f64)> = want
            .into_iter()
            .map(|(k, s)| (String::from_utf8(k).unwrap(), (s * 1e6).round() / 1e6))
            .collect();
        assert_eq!(got, want);
    };
    for at in 1..=5 {
        for text in ["rust systems", "coding languages", "memory"] {
            close(
                hits(similar(&mut h, at, text, 10)),
                reference.similar(text, 10),
            );
        }
        let query = "python OR rust";
        let want = reference.search(&Query::parse(query, &tokenizer).unwrap());
        let want = want.into_iter().take(10).collect();
        close(hits(search(&mut h, at, query)), want);
    }
}

/// With no more nodes than N, every replica holds every partition: a search is answered
/// from the R replicas' own indexes when their partition digests agree (one local search
/// each), and gathers candidates only when they differ. Both give the same hits.
#[test]
fn replicas_that_agree_answer_from_their_own_indexes() {
    let counts = |h: &Harness, at: u32| {
        let stats = h.nodes[&NodeId(at)].as_ref().unwrap().stats().clone();
        (stats.searches_local, stats.searches_gathered)
    };
    let mut h = cluster(3);
    founding(&mut h);
    let found = hits(search(&mut h, 1, "Python programming"));
    assert_eq!(found, [("doc1".to_string(), 0.909285)]);
    let found = hits(similar(&mut h, 1, "coding languages", 5));
    assert_eq!(found[0], ("doc1".to_string(), 0.40909));
    assert_eq!(counts(&h, 1), (2, 0));
    // Node 3 misses an overwrite: a search it coordinates (asking itself and node 1) sees
    // differing digests and gathers, and still reflects the write.
    for peer in [1, 2] {
        h.cut.insert((NodeId(3), NodeId(peer)));
        h.cut.insert((NodeId(peer), NodeId(3)));
    }
    let context = h.get(1, "doc1").clock();
    h.set(1, "doc1", "Rust is a systems language", context)
        .unwrap();
    h.cut.clear();
    assert_eq!(keys(search(&mut h, 3, "python")), Vec::<String>::new());
    assert_eq!(counts(&h, 3), (0, 1));
}

/// `doc` was acknowledged by node `holder` and one other node, `lost`, while node `coord`
/// was cut off (no hints, no anti-entropy: `coord` never gets it). `lost`'s disk is then
/// replaced; it restarts rebuilding, cut off from `holder` so that it cannot finish. A
/// search at `coord` must still find `doc`: a plan that asks `lost` hears
/// `SearchRebuilding` and asks `holder` instead. Returns the keys found and how many
/// searches were planned again.
fn search_beside_a_rebuilding_replica(holder: u32, lost: u32, coord: u32) -> (Vec<String>, u64) {
    let mut h = Harness::with_config(3, |c| {
        c.anti_entropy = false;
        c.hinted_handoff = false;
    });
    let cut = |h: &mut Harness, a: u32, b: u32| {
        h.cut.insert((NodeId(a), NodeId(b)));
        h.cut.insert((NodeId(b), NodeId(a)));
    };
    h.advance(tern_core::Span::from_secs(2));
    cut(&mut h, coord, holder);
    cut(&mut h, coord, lost);
    h.set(holder, "doc", "apples and pears", VectorClock::new())
        .unwrap();
    h.cut.clear();
    h.crash(NodeId(lost));
    h.disks.get_mut(&NodeId(lost)).unwrap().clear();
    cut(&mut h, lost, holder);
    h.start(NodeId(lost));
    h.advance(tern_core::Span::from_secs(1));
    let node = |h: &Harness, id: u32| h.nodes[&NodeId(id)].as_ref().unwrap().stats().clone();
    assert!(h.nodes[&NodeId(lost)]
        .as_ref()
        .unwrap()
        .rebuilding()
        .is_some());
    let found = keys(search(&mut h, coord, "apples"));
    (found, node(&h, coord).searches_replanned)
}

#[test]
fn a_search_asks_other_replicas_than_a_rebuilding_one() {
    // Whichever other replica the plan picks first, the rebuilding one is not taken as the
    // truth about absence; at least one of these plans picks it first.
    let mut replanned = 0;
    for (holder, lost, coord) in [(1, 3, 2), (3, 1, 2), (2, 3, 1), (3, 2, 1)] {
        let (found, n) = search_beside_a_rebuilding_replica(holder, lost, coord);
        assert_eq!(
            found,
            ["doc"],
            "holder {holder}, lost {lost}, coordinator {coord}"
        );
        replanned += n;
    }
    assert!(replanned > 0, "no plan asked the rebuilding replica");
}
