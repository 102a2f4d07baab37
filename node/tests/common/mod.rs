//! Test helpers: an in-process cluster on free loopback ports with its data in a temporary
//! directory that is removed on drop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tern_core::{NodeId, NodeStatus};
use tern_node::{Client, ClientOptions, NodeOptions, RunningNode};
use tokio::net::TcpListener;

/// The status of the node at `addr`, or `None` if it does not answer within 3 s.
pub async fn status(addr: &str) -> Option<NodeStatus> {
    let options = ClientOptions {
        connect_timeout_ms: 1_000,
        reply_timeout_ms: 2_000,
    };
    Client::lazy(&[addr], options).status().await.ok()
}

/// A small seeded xorshift generator: a test's random choices, replayable from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Prints the last lines of every node's log of a `ProcessCluster` (on a test's failure).
pub fn print_logs(cluster: &tern_node::bench::ProcessCluster) {
    for i in 0..cluster.len() {
        if let Ok(log) = std::fs::read_to_string(cluster.log_path(i)) {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- node {} log (last lines) ---", i + 1);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A directory removed when dropped, also on panic.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("tern-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One node with no peers, its data under `dir`, and a client connected to it.
pub async fn single_node(
    dir: &TempDir,
    compact_min_bytes: Option<u64>,
) -> (RunningNode, NodeOptions, Client) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = NodeOptions {
        id: NodeId(1),
        listen: listener.local_addr().unwrap(),
        peers: Vec::new(),
        data_dir: dir.0.join("node-1"),
        compact_min_bytes,
        request_timeout_ms: None,
        stemming: None,
        search_index: None,
        rebuild_on_restart: None,
        tombstone_grace_ms: None,
    };
    let node = tern_node::start_on(listener, options.clone())
        .await
        .unwrap();
    let client = Client::connect(&[options.listen.to_string()])
        .await
        .unwrap();
    (node, options, client)
}

pub struct Cluster {
    pub dir: TempDir,
    pub options: Vec<NodeOptions>,
    pub nodes: Vec<Option<RunningNode>>,
}

impl Cluster {
    pub async fn start(count: u32, name: &str) -> Cluster {
        Cluster::start_with(count, name, |_| {}).await
    }

    /// A cluster whose nodes' options `adjust` changed.
    pub async fn start_with(count: u32, name: &str, adjust: impl Fn(&mut NodeOptions)) -> Cluster {
        let dir = TempDir::new(name);
        let mut listeners = Vec::new();
        for _ in 0..count {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect();
        let mut options = Vec::new();
        let mut nodes = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let id = i as u32 + 1;
            let mut opts = NodeOptions {
                id: NodeId(id),
                listen: listener.local_addr().unwrap(),
                peers: (0..count as usize)
                    .filter(|j| *j != i)
                    .map(|j| (NodeId(j as u32 + 1), addrs[j].clone()))
                    .collect(),
                data_dir: dir.0.join(format!("node-{id}")),
                compact_min_bytes: None,
                request_timeout_ms: None,
                stemming: None,
                search_index: None,
                rebuild_on_restart: None,
                tombstone_grace_ms: None,
            };
            adjust(&mut opts);
            nodes.push(Some(
                tern_node::start_on(listener, opts.clone()).await.unwrap(),
            ));
            options.push(opts);
        }
        let cluster = Cluster {
            dir,
            options,
            nodes,
        };
        cluster.wait_writable().await;
        cluster
    }

    pub fn addrs(&self) -> Vec<String> {
        self.options.iter().map(|o| o.listen.to_string()).collect()
    }

    pub fn addr(&self, index: usize) -> String {
        self.options[index].listen.to_string()
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.addrs()).await.unwrap()
    }

    /// Waits (bounded) until a write through every node succeeds.
    pub async fn wait_writable(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for (i, node) in self.nodes.iter().enumerate() {
            if node.is_none() {
                continue;
            }
            let client = Client::lazy(&[self.addr(i)], Default::default());
            loop {
                match client.put(b"__ready", b"1").await {
                    Ok(_) => break,
                    Err(e) => {
                        assert!(
                            Instant::now() < deadline,
                            "node {} not writable: {e}",
                            i + 1
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    pub async fn stop(&mut self, index: usize) {
        if let Some(node) = self.nodes[index].take() {
            node.shutdown().await;
        }
    }

    pub async fn restart(&mut self, index: usize) -> &RunningNode {
        self.stop(index).await;
        let node = tern_node::start(self.options[index].clone()).await.unwrap();
        self.nodes[index] = Some(node);
        self.nodes[index].as_ref().unwrap()
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i).await;
        }
    }
}
