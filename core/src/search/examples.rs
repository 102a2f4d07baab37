//! The worked examples of docs/SEARCH.md, recomputed: every number the document shows is
//! asserted here (to its 6 significant digits). scripts/search_crosscheck.py computes the
//! same numbers independently (BM25 by formula, TF-IDF with scikit-learn).

use super::*;
use crate::ids::NodeId;
use crate::version::{ActorId, Dot, Sibling, VectorClock};

/// True if `got` rounds to `want` at six significant digits, as the document prints them.
fn close(got: f64, want: f64) -> bool {
    let unit = 10f64.powf(want.abs().log10().floor() - 5.0);
    (got - want).abs() <= unit / 2.0 + 1e-12
}

fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        close(got, want),
        "{what}: got {got}, the document says {want}"
    );
}

fn assert_hits(what: &str, hits: &[Hit], want: &[(&str, f64)]) {
    let keys: Vec<&[u8]> = hits.iter().map(|h| h.key.as_slice()).collect();
    let want_keys: Vec<&[u8]> = want.iter().map(|(k, _)| k.as_bytes()).collect();
    assert_eq!(keys, want_keys, "{what}");
    for (hit, (key, score)) in hits.iter().zip(want) {
        assert_close(&format!("{what}, {key}"), hit.score, *score);
    }
}

fn object(values: &[Option<&[u8]>]) -> Object {
    let actor = ActorId {
        node: NodeId(1),
        incarnation: 1,
    };
    let siblings = (1u64..)
        .zip(values)
        .map(|(seq, value)| Sibling {
            bulk: None,
            dot: Dot { actor, seq },
            context: VectorClock::new(),
            value: value.map(<[u8]>::to_vec),
        })
        .collect();
    Object::from_siblings(siblings)
}

fn tokens(text: &str) -> Vec<String> {
    Tokenizer::default().tokens(text).collect()
}

/// A key's normalised TF-IDF vector, as the index's candidates and stats give it.
fn tfidf_vector(index: &Index, key: &str, term: &str) -> Vec<(String, f64)> {
    let all = PartitionSet::all(index.partitions());
    let gathered = index.sharing(&[term.to_string()], &all);
    let stats = index.stats(gathered.terms.iter().map(String::as_str), &all);
    let candidate = gathered
        .candidates
        .iter()
        .find(|c| c.key == key.as_bytes())
        .unwrap();
    let weights: Vec<(String, f64)> = candidate
        .tf
        .iter()
        .map(|&(i, tf)| {
            let term = &gathered.terms[i as usize];
            (
                term.clone(),
                tf as f64 * tfidf_idf(stats.docs, stats.df(term)),
            )
        })
        .collect();
    let norm = weights.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
    weights.into_iter().map(|(t, w)| (t, w / norm)).collect()
}

fn assert_vector(what: &str, got: &[(String, f64)], want: &[(&str, f64)]) {
    let terms: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let want_terms: Vec<&str> = want.iter().map(|(t, _)| *t).collect();
    assert_eq!(terms, want_terms, "{what}");
    for ((term, w), (_, want)) in got.iter().zip(want) {
        assert_close(&format!("{what}, {term}"), *w, *want);
    }
}

#[test]
fn founding_example() {
    let doc1 = "Python is a programming language";
    let doc2 = "Java is also a programming language";
    assert_eq!(tokens(doc1), ["python", "is", "a", "program", "languag"]);
    assert_eq!(
        tokens(doc2),
        ["java", "is", "also", "a", "program", "languag"]
    );
    assert_eq!(tokens("coding languages"), ["code", "languag"]);

    let mut index = Index::new(1, Tokenizer::default());
    index.apply(0, b"doc1", Some(doc1)).unwrap();
    index.apply(0, b"doc2", Some(doc2)).unwrap();
    let all = PartitionSet::all(1);

    let stats = index.stats(["python", "program", "languag", "code"], &all);
    assert_eq!((stats.docs, stats.tokens), (2, 11));
    assert_eq!(stats.avgdl(), 5.5);
    let df: Vec<u64> = ["python", "program", "languag", "code"]
        .iter()
        .map(|t| stats.df(t))
        .collect();
    assert_eq!(df, [1, 2, 2, 0]);
    assert_close("idf(python) = ln 2", bm25_idf(2, 1), std::f64::consts::LN_2);
    assert_close("idf(program)", bm25_idf(2, 2), 0.182322);
    assert_close(
        "python's share",
        bm25_term(bm25_idf(2, 1), 1, 5, 5.5),
        0.719921,
    );
    assert_close(
        "program's share",
        bm25_term(bm25_idf(2, 2), 1, 5, 5.5),
        0.189364,
    );

    let page = index
        .search("Python programming", &all, Page::first(10))
        .unwrap();
    assert_eq!(page.total, 1);
    assert_hits("Python programming", &page.hits, &[("doc1", 0.909285)]);
    let page = index
        .search("programming language", &all, Page::first(10))
        .unwrap();
    assert_hits(
        "programming language",
        &page.hits,
        &[("doc1", 0.378728), ("doc2", 0.351568)],
    );

    assert_close("tf-idf idf(python)", tfidf_idf(2, 1), 1.405465);
    assert_close("tf-idf idf(languag)", tfidf_idf(2, 2), 1.0);
    assert_close("tf-idf idf(cat), cats", tfidf_idf(4, 3), 1.223144);
    assert_close("tf-idf idf(chase), cats", tfidf_idf(4, 2), 1.510826);
    assert_close("tf-idf idf(dog), cats", tfidf_idf(4, 1), 1.916291);
    let v1 = tfidf_vector(&index, "doc1", "languag");
    let w1 = 0.40909;
    assert_vector(
        "doc1",
        &v1,
        &[
            ("a", w1),
            ("is", w1),
            ("languag", w1),
            ("program", w1),
            ("python", 0.574962),
        ],
    );
    let v2 = tfidf_vector(&index, "doc2", "languag");
    let (w2, rare) = (0.354649, 0.498446);
    assert_vector(
        "doc2",
        &v2,
        &[
            ("a", w2),
            ("also", rare),
            ("is", w2),
            ("java", rare),
            ("languag", w2),
            ("program", w2),
        ],
    );
    let hits = index.similar("coding languages", 5, &all).unwrap();
    assert_hits("similar", &hits, &[("doc1", 0.40909), ("doc2", 0.354649)]);
}

#[test]
fn cats_example() {
    let mut index = Index::new(2, Tokenizer::default());
    let keys: [(&str, u32, Object); 6] = [
        ("k1", 0, object(&[Some(b"The cat sat on the mat.")])),
        ("k2", 1, object(&[Some(b"Cats chase mice; the mice run.")])),
        (
            "k3",
            1,
            object(&[Some(b"A dog."), Some(b"The dog chased the cat!")]),
        ),
        ("k4", 0, object(&[Some(b"-- ?")])),
        ("k5", 0, object(&[Some(&[0xff, 0x00, 0x61])])),
        ("k6", 1, object(&[None])),
    ];
    let mut docs = Vec::new();
    for (key, partition, object) in &keys {
        let doc = document(object);
        index
            .apply(*partition, key.as_bytes(), doc.as_deref())
            .unwrap();
        docs.push(doc);
    }
    assert_eq!(docs[2].as_deref(), Some("A dog.\nThe dog chased the cat!"));
    assert_eq!((&docs[4], &docs[5]), (&None, &None));
    let lists: Vec<Vec<String>> = docs.iter().flatten().map(|d| tokens(d)).collect();
    assert_eq!(lists[0], ["the", "cat", "sat", "on", "the", "mat"]);
    assert_eq!(lists[1], ["cat", "chase", "mice", "the", "mice", "run"]);
    assert_eq!(lists[2], ["a", "dog", "the", "dog", "chase", "the", "cat"]);
    assert!(lists[3].is_empty());

    let all = PartitionSet::all(2);
    let stats = index.stats(["cat", "the", "dog", "mice"], &all);
    assert_eq!((stats.docs, stats.tokens, stats.avgdl()), (4, 19, 4.75));
    assert_eq!(
        [
            stats.df("cat"),
            stats.df("the"),
            stats.df("dog"),
            stats.df("mice")
        ],
        [3, 3, 1, 1]
    );
    assert_close("idf(cat)", bm25_idf(4, 3), 0.356675);
    assert_close("idf(dog)", bm25_idf(4, 1), 1.20397);
    assert_close(
        "cat's share in k1",
        bm25_term(bm25_idf(4, 3), 1, 6, 4.75),
        0.322009,
    );
    assert_close(
        "the's share in k1",
        bm25_term(bm25_idf(4, 3), 2, 6, 4.75),
        0.456631,
    );

    let search = |q: &str| index.search(q, &all, Page::first(10)).unwrap().hits;
    assert_hits(
        "cat",
        &search("cat"),
        &[("k1", 0.322009), ("k2", 0.322009), ("k3", 0.298778)],
    );
    assert_hits(
        "dog OR mice",
        &search("dog OR mice"),
        &[("k2", 1.54138), ("k3", 1.46084)],
    );
    assert_hits(
        "cats -mice",
        &search("cats -mice"),
        &[("k1", 0.322009), ("k3", 0.298778)],
    );
    let the_cat = [("k1", 0.77864), ("k3", 0.73155), ("k2", 0.644018)];
    assert_hits("the the cat", &search("the the cat"), &the_cat);

    // Partition 1 alone: its own n, avgdl and df.
    let one: PartitionSet = [1].into_iter().collect();
    let stats = index.stats(["cat"], &one);
    assert_eq!((stats.docs, stats.tokens, stats.df("cat")), (2, 13, 2));

    // Paging: pages of 2, then the rest.
    let page = index.search("the the cat", &all, Page::first(2)).unwrap();
    assert_eq!(
        (page.total, page.next),
        (3, Some(Page { offset: 2, size: 2 }))
    );
    let rest = index
        .search("the the cat", &all, page.next.unwrap())
        .unwrap();
    assert_hits("second page", &rest.hits, &the_cat[2..]);
    assert_eq!(rest.next, None);

    assert_vector(
        "k3",
        &tfidf_vector(&index, "k3", "dog"),
        &[
            ("a", 0.361347),
            ("cat", 0.230643),
            ("chase", 0.28489),
            ("dog", 0.722693),
            ("the", 0.461286),
        ],
    );
    let query = index.tokenizer().counts("Dogs chasing cats");
    let stats = index.stats(query.keys().map(String::as_str), &all);
    let weights: Vec<(String, f64)> = query
        .iter()
        .map(|(t, &c)| (t.clone(), c as f64 * tfidf_idf(stats.docs, stats.df(t))))
        .collect();
    let norm = weights.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
    let unit: Vec<(String, f64)> = weights.into_iter().map(|(t, w)| (t, w / norm)).collect();
    assert_vector(
        "query",
        &unit,
        &[("cat", 0.4481), ("chase", 0.553492), ("dog", 0.702035)],
    );
    let hits = index.similar("Dogs chasing cats", 10, &all).unwrap();
    assert_hits(
        "similar",
        &hits,
        &[("k3", 0.768391), ("k2", 0.284743), ("k1", 0.127439)],
    );
    let hits = index.similar("Dogs chasing cats", 1, &all).unwrap();
    assert_hits("similar top 1", &hits, &[("k3", 0.768391)]);
}

#[test]
fn empty_corpora_and_limits() {
    let index = Index::new(1, Tokenizer::default());
    let all = PartitionSet::all(1);
    let page = index.search("anything", &all, Page::first(10)).unwrap();
    assert_eq!((page.hits.len(), page.total, page.next), (0, 0, None));
    assert_eq!(index.similar("anything", 3, &all).unwrap(), []);
    // Only empty documents: avgdl is 0, nothing matches, nothing is NaN.
    let mut index = Index::new(1, Tokenizer::default());
    index.apply(0, b"e", Some("")).unwrap();
    assert_eq!(index.stats(["x"], &all).avgdl(), 0.0);
    assert_eq!(index.search("x", &all, Page::first(10)).unwrap().total, 0);

    let err = |page| index.search("x", &all, page).unwrap_err();
    assert_eq!(
        err(Page::first(0)),
        SearchError::PageSize {
            size: 0,
            max: SEARCH_PAGE_SIZE_MAX
        }
    );
    let deep = Page {
        offset: SEARCH_RESULTS_MAX,
        size: 1,
    };
    assert_eq!(
        err(deep),
        SearchError::PageEnd {
            end: SEARCH_RESULTS_MAX + 1,
            max: SEARCH_RESULTS_MAX
        }
    );
    let huge = Page {
        offset: usize::MAX,
        size: 1,
    };
    assert!(matches!(err(huge), SearchError::PageEnd { .. }));
    assert!(matches!(
        index.similar("x", 0, &all),
        Err(SearchError::TopK { .. })
    ));
    let long = "x".repeat(SIMILAR_TEXT_BYTES_MAX + 1);
    assert!(matches!(
        index.similar(&long, 1, &all),
        Err(SearchError::TextTooLong { .. })
    ));
    assert_eq!(
        index.search("a \"b\"", &all, Page::first(1)).unwrap_err().to_string(),
        "quote at byte 2: quoted phrases are not supported yet; remove the quotes to search for the words"
    );
    assert_eq!(
        index.apply(1, b"k", Some("x")),
        Err(ApplyError::Partition {
            partition: 1,
            partitions: 1
        })
    );
}
