//! `tern`: the command-line client. `tern set KEY VALUE` (or `-` for standard input, or
//! `--file PATH`), `tern get KEY`, `tern del KEY`, `tern search QUERY`, `tern similar TEXT`,
//! `tern status`; per request `--n/--r/--w` and `--json`; with no command, an interactive
//! prompt (`tern_node::cli::repl`). The parts live in `tern_node::cli` so tests can reach them.
//!
//! Exit status: 0 done; 1 key not found (get); 2 refused or failed, nothing was done;
//! 3 unavailable, nothing was done; 4 indeterminate (a write may or may not have happened).
//! `status` exits 0 when every node answered, 3 when any was unreachable.

use clap::Parser;
use std::process::ExitCode;
use tern_node::cli::args::{Cli, Command};
use tern_node::cli::exec::{execute, Session};
use tern_node::cli::output::{print, print_parse_error, print_usage_error};
use tern_node::ClientOptions;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let help = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            if !help && std::env::args().any(|a| a == "--json") {
                return ExitCode::from(print_parse_error(&e, true));
            }
            e.exit();
        }
    };
    let json = cli.flags.json;
    let nodes = cli.node_list();
    if nodes.is_empty() {
        return ExitCode::from(print_usage_error("--nodes is empty", json));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let why = format!("cannot start the runtime: {e}");
            return ExitCode::from(print_usage_error(&why, json));
        }
    };
    let options = ClientOptions {
        reply_timeout_ms: cli.timeout_ms,
        ..ClientOptions::default()
    };
    let Some(command) = cli.command else {
        let session = Session::new(nodes, options, true);
        return ExitCode::from(tern_node::cli::repl::run(&runtime, &session, cli.flags));
    };
    let session = Session::new(nodes, options, false);
    let result = runtime.block_on(execute(&session, &command, cli.flags));
    let query = match &command {
        Command::Search { query, .. } => Some(query.as_str()),
        _ => None,
    };
    ExitCode::from(print(command.name(), query, &result, json))
}
