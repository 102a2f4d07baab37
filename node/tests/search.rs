//! Search through the client library on three nodes in this process: the founding example
//! (docs/SEARCH.md, worked example 1) asked of every node, and a malformed query's error.

mod common;

use common::Cluster;
use tern_core::search::QueryError;
use tern_core::{Paging, RequestError, SearchError, VectorClock};
use tern_node::{Client, ClientError};

fn rounded(hits: &[tern_core::Scored]) -> Vec<(String, f64)> {
    hits.iter()
        .map(|h| {
            let key = String::from_utf8(h.key.clone()).unwrap();
            (key, (h.score * 1e6).round() / 1e6)
        })
        .collect()
}

#[tokio::test]
async fn the_founding_example_through_the_client_library() {
    let cluster = Cluster::start(3, "search").await;
    let client = cluster.client().await;
    // The harness's readiness probe is a document too: delete it, so that the corpus is
    // exactly the example's (its figures count n = 2).
    client.remove(b"__ready").await.unwrap();
    let fresh = VectorClock::new();
    client
        .set(b"doc1", b"Python is a programming language", &fresh)
        .await
        .unwrap();
    client
        .set(b"doc2", b"Java is also a programming language", &fresh)
        .await
        .unwrap();

    for node in 0..3 {
        let client = Client::connect(&[cluster.addr(node)]).await.unwrap();
        let results = client
            .search("Python programming", Paging::first(10))
            .await
            .unwrap();
        assert_eq!(rounded(&results.hits), [("doc1".to_string(), 0.909285)]);
        assert_eq!((results.total, results.next), (1, None));

        let hits = client.similar("coding languages", 5).await.unwrap();
        assert_eq!(
            rounded(&hits),
            [
                ("doc1".to_string(), 0.40909),
                ("doc2".to_string(), 0.354649)
            ]
        );
    }

    match client.search("python (java", Paging::first(10)).await {
        Err(ClientError::Request(RequestError::InvalidSearch(SearchError::Query(
            QueryError::Unclosed { at: 7 },
        )))) => {}
        other => panic!("expected an unclosed parenthesis at byte 7, got {other:?}"),
    }
    cluster.shutdown().await;
}
