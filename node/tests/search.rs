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

/// `--search-index off` reaches core: the node refuses searches and still stores values.
#[tokio::test]
async fn a_node_without_a_search_index_refuses_searches() {
    let dir = common::TempDir::new("search-off");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = tern_node::NodeOptions {
        id: tern_core::NodeId(1),
        listen: listener.local_addr().unwrap(),
        peers: Vec::new(),
        data_dir: dir.0.join("node-1"),
        compact_min_bytes: None,
        request_timeout_ms: None,
        stemming: None,
        search_index: Some(false),
        rebuild_on_restart: None,
        tombstone_grace_ms: None,
    };
    let node = tern_node::start_on(listener, options.clone())
        .await
        .unwrap();
    let client = Client::connect(&[options.listen.to_string()])
        .await
        .unwrap();
    client
        .set(
            b"doc1",
            b"Python is a programming language",
            &VectorClock::new(),
        )
        .await
        .unwrap();
    match client.search("python", Paging::first(10)).await {
        Err(ClientError::Request(RequestError::SearchOff)) => {}
        other => panic!("expected SearchOff, got {other:?}"),
    }
    match client.similar("python", 5).await {
        Err(ClientError::Request(RequestError::SearchOff)) => {}
        other => panic!("expected SearchOff, got {other:?}"),
    }
    assert!(client.get(b"doc1").await.unwrap().values().next().is_some());
    node.shutdown().await;
}
