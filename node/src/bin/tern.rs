//! `tern`: the command-line client. `tern set KEY VALUE`, `tern get KEY`, `tern del KEY`.
//!
//! Exit status: 0 done; 1 key not found (get); 2 refused or failed, nothing was done;
//! 3 unavailable, nothing was done; 4 indeterminate (a write may or may not have happened).

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;
use tern_node::{Client, ClientError, ClientOptions};

#[derive(Parser, Debug)]
#[command(
    name = "tern",
    version,
    about = "Command-line client for a Tern cluster"
)]
struct Cli {
    /// Nodes to try, in order: HOST:PORT,HOST:PORT,... (or the TERN_NODES variable).
    #[arg(
        long,
        env = "TERN_NODES",
        default_value = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
    )]
    nodes: String,
    /// Give up waiting for a reply after this long.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write VALUE, replacing every version of KEY this client reads first.
    Set {
        key: String,
        value: String,
        /// Write without reading first: concurrent versions are kept as siblings.
        #[arg(long)]
        blind: bool,
    },
    /// Print every live version of KEY, one per line.
    Get { key: String },
    /// Delete KEY (every version this client reads first).
    Del { key: String },
}

fn fail(error: &ClientError) -> ExitCode {
    eprintln!("tern: {error}");
    match error {
        ClientError::Indeterminate { .. } => ExitCode::from(4),
        ClientError::Request(e) if e.maybe_applied() => ExitCode::from(4),
        ClientError::Unavailable { .. } => ExitCode::from(3),
        ClientError::Request(tern_core::RequestError::Unavailable { .. }) => ExitCode::from(3),
        _ => ExitCode::from(2),
    }
}

async fn run(cli: Cli) -> ExitCode {
    let nodes: Vec<&str> = cli
        .nodes
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if nodes.is_empty() {
        eprintln!("tern: --nodes is empty");
        return ExitCode::from(2);
    }
    let options = ClientOptions {
        reply_timeout_ms: cli.timeout_ms,
        ..ClientOptions::default()
    };
    let client = Client::lazy(&nodes, options);
    match cli.command {
        Command::Set { key, value, blind } => {
            let result = if blind {
                client
                    .set(key.as_bytes(), value.as_bytes(), &Default::default())
                    .await
            } else {
                client.put(key.as_bytes(), value.as_bytes()).await
            };
            match result {
                Ok(_) => {
                    println!("OK");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Get { key } => match client.get(key.as_bytes()).await {
            Ok(object) => {
                let values: Vec<&[u8]> = object.values().collect();
                if values.is_empty() {
                    eprintln!("tern: {key:?} not found");
                    return ExitCode::from(1);
                }
                if values.len() > 1 {
                    eprintln!(
                        "tern: {} concurrent versions (siblings); `tern set` replaces them all",
                        values.len()
                    );
                }
                let mut out = std::io::stdout().lock();
                for value in values {
                    let _ = out.write_all(value);
                    let _ = out.write_all(b"\n");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Del { key } => match client.remove(key.as_bytes()).await {
            Ok(_) => {
                println!("OK");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => {
            eprintln!("tern: cannot start the runtime: {e}");
            ExitCode::from(2)
        }
    }
}
