//! What the `tern-node` binary parses: command-line flags, the YAML config file, peer lists.
//! Kept in the library so that tests can check the parsing without starting a process.
//!
//! The `tern` client's command line is in the submodules: `args` (what it parses), `value`
//! (where a value comes from), `exec` (running a command), `output` (text or JSON) and
//! `repl` (the interactive prompt).

pub mod args;
pub mod exec;
pub mod output;
pub mod repl;
pub mod value;

use crate::embed::NodeOptions;
use crate::limits::CONFIG_FILE_BYTES_MAX;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tern_core::{NodeId, Stemming};

/// The YAML config file: the same fields as the flags.
///
/// ```yaml
/// id: 1
/// listen: 127.0.0.1:7001
/// peers: ["2=127.0.0.1:7002", "3=127.0.0.1:7003"]
/// data_dir: ./data/node-1
/// compact_min_bytes: 67108864   # optional
/// request_timeout_ms: 2000      # optional
/// tombstone_grace_ms: 60000     # optional
/// stemming: "on"                # optional: on (default) or off
/// search_index: "on"            # optional: on (default) or off
/// rebuild_on_restart: "on"      # optional: on (default) or off
/// log: info                     # optional
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub id: Option<u32>,
    pub listen: Option<String>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub data_dir: Option<PathBuf>,
    pub compact_min_bytes: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub tombstone_grace_ms: Option<u64>,
    /// `on` or `off` (YAML 1.2 reads both as strings; a YAML boolean is taken too).
    pub stemming: Option<OnOff>,
    pub search_index: Option<OnOff>,
    pub rebuild_on_restart: Option<OnOff>,
    pub log: Option<String>,
}

/// A setting that is `on` or `off`, in a config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OnOff {
    Bool(bool),
    Text(String),
}

impl OnOff {
    fn value(&self, name: &str) -> Result<bool, String> {
        match self {
            OnOff::Bool(on) => Ok(*on),
            OnOff::Text(text) => parse_on_off(name, text),
        }
    }
}

/// Parses `on` or `off` (also `true` or `false`) for setting `name`.
pub fn parse_on_off(name: &str, text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("{name} {text:?}: expected on or off")),
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let len = std::fs::metadata(path)
            .map_err(|e| format!("read config file {}: {e}", path.display()))?
            .len();
        if len > CONFIG_FILE_BYTES_MAX {
            return Err(format!(
                "config file {} is {len} bytes, over the limit of {CONFIG_FILE_BYTES_MAX}",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("read config file {}: {e}", path.display()))?;
        serde_yaml_ng::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }
}

/// Parses one peer, `ID=HOST:PORT`.
pub fn parse_peer(text: &str) -> Result<(NodeId, String), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("peer {text:?}: expected ID=HOST:PORT, e.g. 2=127.0.0.1:7002"))?;
    let id: u32 = id
        .trim()
        .parse()
        .map_err(|_| format!("peer {text:?}: {id:?} is not a node id (a number)"))?;
    let addr = addr.trim();
    if addr
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .is_none()
    {
        return Err(format!("peer {text:?}: {addr:?} is not HOST:PORT"));
    }
    Ok((NodeId(id), addr.to_string()))
}

/// Parses a comma-separated peer list.
pub fn parse_peers(text: &str) -> Result<Vec<(NodeId, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(parse_peer)
        .collect()
}

/// Flags (each optional) merged over the config file: flags win.
#[derive(Clone, Debug, Default)]
pub struct RunFlags {
    pub config: Option<PathBuf>,
    pub id: Option<u32>,
    pub listen: Option<String>,
    pub peers: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub compact_min_bytes: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub tombstone_grace_ms: Option<u64>,
    /// `on` or `off`.
    pub stemming: Option<String>,
    /// `on` or `off`.
    pub search_index: Option<String>,
    /// `on` or `off`.
    pub rebuild_on_restart: Option<String>,
}

impl RunFlags {
    /// The node options, and the log filter from the file if any.
    pub fn resolve(&self) -> Result<(NodeOptions, Option<String>), String> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let id = self
            .id
            .or(file.id)
            .ok_or("missing --id (or `id:` in the config file)")?;
        let listen = self
            .listen
            .clone()
            .or(file.listen)
            .ok_or("missing --listen HOST:PORT (or `listen:` in the config file)")?;
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| format!("--listen {listen:?} is not an IP:PORT address"))?;
        let peers = match &self.peers {
            Some(text) => parse_peers(text)?,
            None => file
                .peers
                .iter()
                .map(|p| parse_peer(p))
                .collect::<Result<_, _>>()?,
        };
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .ok_or("missing --data-dir DIR (or `data_dir:` in the config file)")?;
        let on_off = |name: &str, flag: &Option<String>, file: &Option<OnOff>| match (flag, file) {
            (Some(text), _) => {
                parse_on_off(&format!("--{}", name.replace('_', "-")), text).map(Some)
            }
            (None, Some(value)) => value
                .value(&format!("`{name}:` in the config file"))
                .map(Some),
            (None, None) => Ok(None),
        };
        let stemming = on_off("stemming", &self.stemming, &file.stemming)?.map(|on| {
            if on {
                Stemming::On
            } else {
                Stemming::Off
            }
        });
        let search_index = on_off("search_index", &self.search_index, &file.search_index)?;
        let rebuild_on_restart = on_off(
            "rebuild_on_restart",
            &self.rebuild_on_restart,
            &file.rebuild_on_restart,
        )?;
        let options = NodeOptions {
            id: NodeId(id),
            listen,
            peers,
            data_dir,
            compact_min_bytes: self.compact_min_bytes.or(file.compact_min_bytes),
            request_timeout_ms: self.request_timeout_ms.or(file.request_timeout_ms),
            stemming,
            search_index,
            rebuild_on_restart,
            tombstone_grace_ms: self.tombstone_grace_ms.or(file.tombstone_grace_ms),
        };
        Ok((options, file.log))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_mistakes_are_explained() {
        let peers = parse_peers("2=127.0.0.1:7002, 3=localhost:7003").unwrap();
        assert_eq!(
            peers,
            vec![
                (NodeId(2), "127.0.0.1:7002".into()),
                (NodeId(3), "localhost:7003".into())
            ]
        );
        assert!(parse_peer("127.0.0.1:7002")
            .unwrap_err()
            .contains("ID=HOST:PORT"));
        assert!(parse_peer("x=127.0.0.1:7002").is_err());
        assert!(parse_peer("2=127.0.0.1").is_err());
    }

    #[test]
    fn flags_override_the_config_file() {
        let path = std::env::temp_dir().join(format!("tern-config-{}.yaml", std::process::id()));
        std::fs::write(
            &path,
            "id: 1\nlisten: 127.0.0.1:7001\npeers: [\"2=127.0.0.1:7002\"]\ndata_dir: d1\nlog: debug\n",
        )
        .unwrap();
        let flags = RunFlags {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:9001".into()),
            ..RunFlags::default()
        };
        let (options, log) = flags.resolve().unwrap();
        assert_eq!(options.id, NodeId(1));
        assert_eq!(options.listen.port(), 9001);
        assert_eq!(options.peers.len(), 1);
        assert_eq!(log.as_deref(), Some("debug"));
        assert_eq!((options.stemming, options.search_index), (None, None));
        assert_eq!(options.tombstone_grace_ms, None);
        std::fs::write(
            &path,
            "id: 1\nlisten: 127.0.0.1:7001\ndata_dir: d1\nstemming: off\nsearch_index: false\ntombstone_grace_ms: 5000\n",
        )
        .unwrap();
        let (options, _) = flags.resolve().unwrap();
        assert_eq!(options.stemming, Some(Stemming::Off));
        assert_eq!(options.search_index, Some(false));
        assert_eq!(options.tombstone_grace_ms, Some(5000));
        let grace = RunFlags {
            tombstone_grace_ms: Some(9000),
            ..flags.clone()
        };
        assert_eq!(grace.resolve().unwrap().0.tombstone_grace_ms, Some(9000));
        let on = RunFlags {
            stemming: Some("on".into()),
            search_index: Some("ON".into()),
            ..flags.clone()
        };
        let (options, _) = on.resolve().unwrap();
        assert_eq!(options.stemming, Some(Stemming::On));
        assert_eq!(options.search_index, Some(true));
        assert_eq!(options.rebuild_on_restart, None);
        let off = RunFlags {
            rebuild_on_restart: Some("off".into()),
            ..flags.clone()
        };
        assert_eq!(off.resolve().unwrap().0.rebuild_on_restart, Some(false));
        let bad = RunFlags {
            search_index: Some("maybe".into()),
            ..flags.clone()
        };
        assert!(bad
            .resolve()
            .unwrap_err()
            .contains("--search-index \"maybe\""));
        std::fs::write(&path, "id: 1\nbogus: 3\n").unwrap();
        assert!(flags.resolve().unwrap_err().contains("bogus"));
        std::fs::remove_file(&path).unwrap();
    }
}
