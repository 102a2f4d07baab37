//! `tern`: the command-line client. `tern set KEY VALUE`, `tern get KEY`, `tern del KEY`,
//! `tern search QUERY`, `tern similar TEXT --top-k K` (keys and scores; `--json` for JSON),
//! `tern status` (every node's own view: members, phi, anti-entropy, counters).
//!
//! Exit status: 0 done; 1 key not found (get); 2 refused or failed, nothing was done;
//! 3 unavailable, nothing was done; 4 indeterminate (a write may or may not have happened).
//! `status` exits 0 when every node answered, 3 when any was unreachable.

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
    /// Print the keys whose values match QUERY, best first, with their BM25 scores. Words
    /// side by side must all appear; `OR`, `NOT` or `-word`, and parentheses, as in
    /// "python AND (java OR rust) -cobol" (`AND` is a word here: side by side means AND).
    Search {
        query: String,
        /// Hits to print.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Skip this many hits first (the next page starts at offset + limit).
        #[arg(long, default_value_t = 0)]
        offset: u32,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Ask every node of --nodes for its own view: members up or down with their phi, the
    /// last anti-entropy round and the keys it repaired, and the node's counters. A node
    /// that does not answer is shown as unreachable.
    Status,
    /// Print the keys whose values are closest to TEXT (TF-IDF cosine), best first.
    Similar {
        text: String,
        /// How many keys to print at most.
        #[arg(long, default_value_t = 10)]
        top_k: u32,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// A key as text: itself if it is UTF-8, else its bytes in hex.
fn key_text(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => text.to_string(),
        Err(_) => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// A JSON string literal of `text`.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn print_hits(hits: &[tern_core::Scored], total: u64, next: Option<tern_core::Paging>, json: bool) {
    if json {
        let items: Vec<String> = hits
            .iter()
            .map(|h| {
                let key = json_string(&key_text(&h.key));
                format!("{{\"key\":{key},\"score\":{}}}", h.score)
            })
            .collect();
        let next = next.map_or("null".to_string(), |p| {
            format!("{{\"offset\":{},\"size\":{}}}", p.offset, p.size)
        });
        println!(
            "{{\"hits\":[{}],\"total\":{total},\"next\":{next}}}",
            items.join(",")
        );
        return;
    }
    for hit in hits {
        println!("{}\t{:.6}", key_text(&hit.key), hit.score);
    }
    if hits.is_empty() {
        eprintln!("tern: no match");
    }
    if let Some(next) = next {
        eprintln!(
            "tern: {total} matches; next page: --offset {} --limit {}",
            next.offset, next.size
        );
    }
}

/// Points at the byte of a malformed query the error names.
fn show_query_error(query: &str, error: &ClientError) {
    use tern_core::search::QueryError;
    let ClientError::Request(tern_core::RequestError::InvalidSearch(
        tern_core::SearchError::Query(why),
    )) = error
    else {
        return;
    };
    let at = match why {
        QueryError::Phrase { at }
        | QueryError::ExpectedTerm { at, .. }
        | QueryError::UnmatchedClose { at }
        | QueryError::Unclosed { at }
        | QueryError::TooManyTerms { at, .. }
        | QueryError::TooDeep { at, .. } => *at,
        _ => return,
    };
    let column = query.get(..at).map_or(at, |before| before.chars().count());
    eprintln!("  {query}");
    eprintln!("  {}^", " ".repeat(column));
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
    if let Command::Status = cli.command {
        return status(&nodes, options).await;
    }
    let client = Client::lazy(&nodes, options);
    match cli.command {
        Command::Status => unreachable!("answered above"),
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
        Command::Search {
            query,
            limit,
            offset,
            json,
        } => {
            let page = tern_core::Paging {
                offset,
                size: limit,
            };
            match client.search(&query, page).await {
                Ok(results) => {
                    print_hits(&results.hits, results.total, results.next, json);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let code = fail(&e);
                    show_query_error(&query, &e);
                    code
                }
            }
        }
        Command::Similar { text, top_k, json } => match client.similar(&text, top_k).await {
            Ok(hits) => {
                let total = hits.len() as u64;
                print_hits(&hits, total, None, json);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

/// Asks every node at once (each alone: a status is about the node that answers).
async fn status(nodes: &[&str], options: ClientOptions) -> ExitCode {
    let options = ClientOptions {
        connect_timeout_ms: options.connect_timeout_ms.min(1_000),
        reply_timeout_ms: options.reply_timeout_ms.min(3_000),
    };
    let asks = nodes.iter().map(|node| {
        let client = Client::lazy(&[*node], options.clone());
        async move { client.status().await }
    });
    let answers = futures_join(asks.collect()).await;
    let mut code = ExitCode::SUCCESS;
    for (node, answer) in nodes.iter().zip(&answers) {
        if answer.is_err() {
            code = ExitCode::from(3);
        }
        print!("{}", tern_node::status::render(node, answer));
    }
    code
}

/// Runs every future to completion concurrently, keeping their order.
async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("a status task panicked"));
    }
    out
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
