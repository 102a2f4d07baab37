//! The founding usage, in Rust: start three nodes inside this program, connect a client,
//! set and get. Run with `cargo run -p node --example three_nodes`.

use std::time::Duration;
use tern_node::{Client, MasterlessNode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = std::env::temp_dir().join(format!("tern-example-{}", std::process::id()));
    let ports = [17101u16, 17102, 17103];
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let id = i as u32 + 1;
        let peers: Vec<(u32, String)> = ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, p)| (j as u32 + 1, format!("127.0.0.1:{p}")))
            .collect();
        let node = MasterlessNode::new(id, "127.0.0.1", *port, peers)
            .data_dir(data.join(format!("node-{id}")))
            .start()
            .await?;
        nodes.push(node);
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let client = Client::connect(&addrs).await?;
    // The nodes need a moment to hear from each other before a quorum is reachable.
    let mut written = None;
    for _ in 0..50 {
        match client.put(b"greeting", b"hello, tern").await {
            Ok(w) => {
                written = Some(w);
                break;
            }
            Err(e) => {
                println!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let written = written.ok_or("the cluster did not accept the write")?;
    println!("set greeting (dot {:?})", written.dot);
    let object = client.get(b"greeting").await?;
    for value in object.values() {
        println!("get greeting -> {}", String::from_utf8_lossy(value));
    }
    for node in nodes {
        node.shutdown().await;
    }
    std::fs::remove_dir_all(&data)?;
    Ok(())
}
