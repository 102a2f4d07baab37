//! `tern` with no command: a prompt that runs the same commands as the command line, one
//! per line, quoted like a shell, until `quit`, `exit` or the end of input (Ctrl-D). Ctrl-C
//! clears the line; an error is printed and the prompt goes on.
//!
//! When standard input is not a terminal (a pipe, a file), rustyline reads plain lines and
//! shows no prompt, so `tern < commands.txt` runs a script. History is kept only for a
//! terminal, in `TERN_HISTORY` (empty: none) or else `~/.tern_history`; a history file that
//! cannot be read or written is never an error.

use super::args::{Line, RequestFlags};
use super::exec::{execute, Session};
use super::output::{print, print_parse_error, print_usage_error};
use clap::Parser as _;
use rustyline::error::ReadlineError;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Where history is kept, if anywhere.
fn history_path() -> Option<PathBuf> {
    match std::env::var_os("TERN_HISTORY") {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| PathBuf::from(home).join(".tern_history")),
    }
}

/// What one line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Said {
    Nothing,
    Quit,
    Words(Vec<String>),
}

/// Splits a line like a shell would (quotes and backslashes), or says why it cannot.
fn split(line: &str) -> Result<Said, String> {
    let words = shell_words::split(line)
        .map_err(|e| format!("{e}: close the quote, or escape it with a backslash"))?;
    Ok(match words.first().map(String::as_str) {
        None => Said::Nothing,
        Some("quit" | "exit") if words.len() == 1 => Said::Quit,
        Some(_) => Said::Words(words),
    })
}

/// Runs the prompt until it is left; returns the exit status of the last command run (0 if
/// none), as a shell script would.
pub fn run(runtime: &tokio::runtime::Runtime, session: &Session, defaults: RequestFlags) -> u8 {
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("tern: cannot open the prompt: {e}");
            return 2;
        }
    };
    let terminal = std::io::stdin().is_terminal();
    let history = if terminal { history_path() } else { None };
    if let Some(path) = &history {
        // A first session has no history yet; any other problem only loses the history.
        let _ = editor.load_history(path);
    }
    if terminal {
        println!(
            "tern: nodes {}; `help` lists the commands, `quit` or Ctrl-D leaves",
            session.nodes.join(",")
        );
    }
    let mut history_warned = false;
    let mut code = 0;
    loop {
        let line = match editor.readline("tern> ") {
            Ok(line) => line,
            // Ctrl-C: drop what was typed, ask again.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("tern: cannot read the next command: {e}");
                return 2;
            }
        };
        if let Some(path) = &history {
            let _ = editor.add_history_entry(line.as_str());
            if let Err(e) = editor.save_history(path) {
                if !history_warned {
                    eprintln!("tern: history not saved to {}: {e}", path.display());
                    history_warned = true;
                }
            }
        }
        let words = match split(&line) {
            Ok(Said::Nothing) => continue,
            Ok(Said::Quit) => break,
            Ok(Said::Words(words)) => words,
            Err(why) => {
                code = print_usage_error(&why, defaults.json);
                continue;
            }
        };
        code = run_line(runtime, session, defaults, &words);
    }
    code
}

/// Parses and runs one line; returns its exit status.
fn run_line(
    runtime: &tokio::runtime::Runtime,
    session: &Session,
    defaults: RequestFlags,
    words: &[String],
) -> u8 {
    let line = match Line::try_parse_from(words) {
        Ok(line) => line,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return 0;
            }
            let json = defaults.json || words.iter().any(|w| w == "--json");
            return print_parse_error(&e, json);
        }
    };
    let flags = line.flags.over(defaults);
    let result = runtime.block_on(execute(session, &line.command, flags));
    let query = match &line.command {
        super::args::Command::Search { query, .. } => Some(query.as_str()),
        _ => None,
    };
    print(line.command.name(), query, &result, flags.json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_like_a_shell() {
        assert_eq!(split("  ").unwrap(), Said::Nothing);
        assert_eq!(split("quit").unwrap(), Said::Quit);
        assert_eq!(split(" exit ").unwrap(), Said::Quit);
        assert_eq!(
            split(r#"set "two words" 'it''s' a\ b"#).unwrap(),
            Said::Words(vec![
                "set".into(),
                "two words".into(),
                "its".into(),
                "a b".into()
            ])
        );
        assert!(split("set k \"open")
            .unwrap_err()
            .contains("close the quote"));
    }
}
