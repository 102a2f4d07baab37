//! The `tern` client's command line: the flags that choose the cluster, the commands, and the
//! per-request flags (`--n`, `--r`, `--w`, `--json`) that a line at the interactive prompt
//! takes too. Parsing and checking only: nothing here reads a value or talks to a node.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use tern_core::limits::REPLICATION_N_MAX;
use tern_core::{Quorum, QuorumError};

/// `tern [FLAGS] [COMMAND]`: one command, or the interactive prompt when there is none.
#[derive(Parser, Debug)]
#[command(
    name = "tern",
    version,
    about = "Command-line client for a Tern cluster",
    long_about = "Command-line client for a Tern cluster. With no command, opens an \
                  interactive prompt that runs the same commands (type `help` there)."
)]
pub struct Cli {
    /// Nodes to try, in order: HOST:PORT,HOST:PORT,... (or the TERN_NODES variable).
    #[arg(
        long,
        global = true,
        env = "TERN_NODES",
        default_value = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
    )]
    pub nodes: String,
    /// Give up waiting for a reply after this long.
    #[arg(long, global = true, default_value_t = 10_000)]
    pub timeout_ms: u64,
    #[command(flatten)]
    pub flags: RequestFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The `--nodes` list, without blanks.
    pub fn node_list(&self) -> Vec<String> {
        self.nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// One line typed at the interactive prompt: a command and its own per-request flags, which
/// override those given when the prompt was opened.
#[derive(Parser, Debug)]
#[command(
    name = "tern",
    no_binary_name = true,
    disable_version_flag = true,
    about = "Commands at the tern prompt (quote like a shell: set k \"two words\")",
    after_help = "Also: `help COMMAND` for a command's flags; `quit` or `exit` (or Ctrl-D) \
                  to leave; Ctrl-C clears the line. `set KEY -` is refused here: standard \
                  input carries the commands; use --file PATH."
)]
pub struct Line {
    #[command(flatten)]
    pub flags: RequestFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings of one request. `None` takes the cluster's default for N, R or W.
#[derive(Args, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestFlags {
    /// Replicas of the key for this request (default: the cluster's N).
    #[arg(long, global = true, value_name = "N")]
    pub n: Option<u8>,
    /// Replicas that must answer a read, also the read before `set`, `del`, `mset` and
    /// `mdel` (default: the cluster's R).
    #[arg(long, global = true, value_name = "R")]
    pub r: Option<u8>,
    /// Replicas that must sync a write before it is acknowledged (default: the cluster's W).
    #[arg(long, global = true, value_name = "W")]
    pub w: Option<u8>,
    /// Print one JSON document per command, errors included, instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl RequestFlags {
    /// These flags, with `defaults` filling the ones not given.
    pub fn over(self, defaults: RequestFlags) -> RequestFlags {
        RequestFlags {
            n: self.n.or(defaults.n),
            r: self.r.or(defaults.r),
            w: self.w.or(defaults.w),
            json: self.json || defaults.json,
        }
    }

    /// The quorum to send, checked as far as it can be without asking the cluster: each
    /// given number between 1 and `REPLICATION_N_MAX`, and R and W at most N when N is
    /// given. The node checks the rest (N against the cluster's size, R or W against the
    /// cluster's N) with the same rule, core's `QuorumError`.
    pub fn quorum(&self) -> Result<Quorum, String> {
        let max = REPLICATION_N_MAX as u8;
        let quorum = Quorum {
            n: self.n,
            r: self.r,
            w: self.w,
        };
        if let Some(n) = self.n {
            if n == 0 || n > max {
                return Err(QuorumError::N { n, max }.to_string());
            }
        }
        for (name, value) in [("r", self.r), ("w", self.w)] {
            let Some(value) = value else { continue };
            let error = match (name, self.n) {
                ("r", Some(n)) => QuorumError::R { r: value, n },
                (_, Some(n)) => QuorumError::W { w: value, n },
                (_, None) if value == 0 || value > max => {
                    return Err(format!(
                        "{name}={value} must be between 1 and n (the cluster's, at most {max})"
                    ))
                }
                (_, None) => continue,
            };
            if value == 0 || Some(value) > self.n {
                return Err(error.to_string());
            }
        }
        Ok(quorum)
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Write a value, replacing every version of KEY this client reads first. The value is
    /// VALUE, or standard input when VALUE is `-`, or the bytes of --file PATH, exactly
    /// (a trailing newline is kept).
    Set {
        key: String,
        /// The value; `-` reads it from standard input.
        #[arg(required_unless_present = "file")]
        value: Option<String>,
        /// Read the value from this file instead.
        #[arg(long, value_name = "PATH", conflicts_with = "value")]
        file: Option<PathBuf>,
        /// Write without reading first: concurrent versions are kept as siblings.
        #[arg(long)]
        blind: bool,
    },
    /// Print every live version of KEY, one per line.
    Get { key: String },
    /// Delete KEY (every version this client reads first).
    Del { key: String },
    /// Set several keys in one atomic bulk write: every key gets its value, or none does.
    ///
    /// The keys are read first (one bulk read) and every version read is replaced, as `set`
    /// does. At most 100 keys (BULK_KEYS_MAX), each once; values are arguments (use `--`
    /// before a value that starts with `-`).
    Mset {
        /// KEY VALUE pairs: k1 v1 k2 v2 ...
        #[arg(value_name = "KEY VALUE", required = true)]
        pairs: Vec<String>,
    },
    /// Print several keys read at once, read-atomically: a bulk write is seen on every key
    /// it wrote or on none.
    ///
    /// One line per live version, `KEY<TAB>VALUE`, in the order asked.
    Mget {
        /// Keys to read (at most 100, each once).
        #[arg(value_name = "KEY", required = true)]
        keys: Vec<String>,
    },
    /// Delete several keys in one atomic bulk write: every key is deleted, or none is.
    ///
    /// Every version this client reads first (one bulk read) is deleted. At most 100 keys,
    /// each once.
    Mdel {
        /// Keys to delete (at most 100, each once).
        #[arg(value_name = "KEY", required = true)]
        keys: Vec<String>,
    },
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
    },
    /// Print the keys whose values are closest to TEXT (TF-IDF cosine), best first.
    Similar {
        text: String,
        /// How many keys to print at most.
        #[arg(long, default_value_t = 10)]
        top_k: u32,
    },
    /// Ask every node of --nodes for its own view: members up or down with their phi, the
    /// last anti-entropy round and the keys it repaired, and the node's counters. A node
    /// that does not answer is shown as unreachable.
    Status,
}

impl Command {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Set { .. } => "set",
            Command::Get { .. } => "get",
            Command::Del { .. } => "del",
            Command::Mset { .. } => "mset",
            Command::Mget { .. } => "mget",
            Command::Mdel { .. } => "mdel",
            Command::Search { .. } => "search",
            Command::Similar { .. } => "similar",
            Command::Status => "status",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(n: Option<u8>, r: Option<u8>, w: Option<u8>) -> RequestFlags {
        RequestFlags {
            n,
            r,
            w,
            json: false,
        }
    }

    #[test]
    fn quorums_out_of_range_are_refused_with_the_rule() {
        assert!(flags(None, None, None).quorum().is_ok());
        assert!(flags(Some(3), Some(3), Some(1)).quorum().is_ok());
        assert!(flags(None, Some(2), Some(2)).quorum().is_ok());
        let error = |n, r, w| flags(n, r, w).quorum().unwrap_err();
        assert_eq!(
            error(Some(3), Some(4), None),
            "r=4 must be between 1 and n=3"
        );
        assert_eq!(
            error(Some(2), None, Some(3)),
            "w=3 must be between 1 and n=2"
        );
        assert_eq!(
            error(Some(3), None, Some(0)),
            "w=0 must be between 1 and n=3"
        );
        assert_eq!(error(Some(0), None, None), "n=0 must be between 1 and 7");
        assert_eq!(error(Some(8), None, None), "n=8 must be between 1 and 7");
        assert!(error(None, Some(0), None).starts_with("r=0 must be between 1 and n"));
        assert!(error(None, None, Some(9)).starts_with("w=9 must be between 1 and n"));
    }

    #[test]
    fn a_line_parses_like_the_command_line() {
        let line = Line::try_parse_from(["get", "k", "--r", "1", "--json"]).unwrap();
        assert_eq!(
            line.flags,
            flags(None, Some(1), None).over(RequestFlags {
                json: true,
                ..RequestFlags::default()
            })
        );
        assert!(matches!(line.command, Command::Get { key } if key == "k"));
        let line = Line::try_parse_from(["set", "k", "--file", "v.txt"]).unwrap();
        assert!(matches!(
            line.command,
            Command::Set {
                value: None,
                file: Some(_),
                ..
            }
        ));
        assert!(Line::try_parse_from(["set", "k"]).is_err());
        assert!(Line::try_parse_from(["set", "k", "v", "--file", "v.txt"]).is_err());
        let cli = Cli::try_parse_from(["tern", "--w", "2", "set", "k", "-"]).unwrap();
        assert_eq!(cli.flags.w, Some(2));
        assert!(matches!(cli.command, Some(Command::Set { value: Some(v), .. }) if v == "-"));
        assert!(Cli::try_parse_from(["tern"]).unwrap().command.is_none());
        let cli = Cli::try_parse_from(["tern", "get", "k", "--nodes", "a:1,b:2"]).unwrap();
        assert_eq!(cli.node_list(), ["a:1", "b:2"]);
        assert!(Line::try_parse_from(["get", "k", "--nodes", "a:1"]).is_err());
    }

    #[test]
    fn bulk_commands_take_their_keys_and_need_one() {
        let line = Line::try_parse_from(["mset", "a", "1", "b", "2", "--w", "3"]).unwrap();
        assert_eq!(line.flags.w, Some(3));
        assert!(matches!(line.command, Command::Mset { pairs } if pairs == ["a", "1", "b", "2"]));
        let line = Line::try_parse_from(["mget", "a", "b", "--json"]).unwrap();
        assert!(line.flags.json);
        assert!(matches!(line.command, Command::Mget { keys } if keys == ["a", "b"]));
        let cli = Cli::try_parse_from(["tern", "mdel", "a", "--", "-b"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Mdel { keys }) if keys == ["a", "-b"]));
        for empty in ["mset", "mget", "mdel"] {
            assert!(
                Line::try_parse_from([empty]).is_err(),
                "{empty} with no key"
            );
        }
    }
}
