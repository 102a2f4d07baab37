//! Scoring and merging on small hand-made inputs: finite scores for any statistics, ties,
//! merges, exact norms.

use super::*;

/// (key, dl, tf entries)
type Row<'a> = (&'a str, u32, &'a [(u32, u32)]);

fn gathered(terms: &[&str], candidates: &[Row]) -> Gathered {
    Gathered {
        terms: terms.iter().map(|t| t.to_string()).collect(),
        candidates: candidates
            .iter()
            .map(|(key, dl, tf)| Candidate {
                key: key.as_bytes().to_vec(),
                dl: *dl,
                tf: tf.to_vec(),
            })
            .collect(),
    }
}

#[test]
fn scores_are_finite_even_for_inconsistent_stats() {
    let g = gathered(&["a"], &[("k", 0, &[(0, 1), (7, 3)]), ("j", 5, &[(0, 0)])]);
    for stats in [
        Stats::default(),
        Stats {
            docs: 1,
            tokens: 0,
            df: [("a".to_string(), 9)].into(),
        },
        Stats {
            docs: u64::MAX,
            tokens: u64::MAX,
            df: [("a".to_string(), u64::MAX)].into(),
        },
    ] {
        for hit in bm25(&stats, &g) {
            assert!(hit.score.is_finite(), "{stats:?} {hit:?}");
        }
        let query = [("a".to_string(), 2)].into();
        for hit in tfidf_cosine(&query, &stats, &g) {
            assert!(
                hit.score.is_finite() && hit.score > 0.0,
                "{stats:?} {hit:?}"
            );
        }
    }
}

#[test]
fn ties_break_by_key_bytes() {
    let mut hits = vec![
        Hit {
            key: b"b".to_vec(),
            score: 1.0,
        },
        Hit {
            key: b"a".to_vec(),
            score: 1.0,
        },
        Hit {
            key: b"c".to_vec(),
            score: 2.0,
        },
    ];
    rank(&mut hits);
    let keys: Vec<&[u8]> = hits.iter().map(|h| h.key.as_slice()).collect();
    assert_eq!(keys, [b"c", b"a", b"b"]);
}

#[test]
fn merge_unions_tables_and_refuses_overlaps_and_bad_indices() {
    let a = gathered(&["x", "z"], &[("k2", 3, &[(0, 1), (1, 2)])]);
    let b = gathered(&["y", "z"], &[("k1", 2, &[(0, 1), (1, 1)])]);
    let merged = Gathered::merge(vec![a.clone(), b]).unwrap();
    assert_eq!(
        merged,
        gathered(
            &["x", "y", "z"],
            &[("k1", 2, &[(1, 1), (2, 1)]), ("k2", 3, &[(0, 1), (2, 2)])]
        )
    );
    assert_eq!(
        Gathered::merge(vec![a.clone(), a]),
        Err(MergeError::DuplicateKey(b"k2".to_vec()))
    );
    let bad = gathered(&["x"], &[("k", 1, &[(4, 1)])]);
    assert_eq!(
        Gathered::merge(vec![bad]),
        Err(MergeError::TermIndex { index: 4, terms: 1 })
    );
}

#[test]
fn stats_add_up() {
    let mut a = Stats {
        docs: 2,
        tokens: 7,
        df: [("x".to_string(), 1)].into(),
    };
    let b = Stats {
        docs: 1,
        tokens: 4,
        df: [("x".to_string(), 1), ("y".to_string(), 1)].into(),
    };
    a.add(&b);
    assert_eq!(
        (a.docs, a.tokens, a.df("x"), a.df("y"), a.df("z")),
        (3, 11, 2, 1, 0)
    );
    assert!((a.avgdl() - 11.0 / 3.0).abs() < 1e-15);
    assert_eq!(Stats::default().avgdl(), 0.0);
}
