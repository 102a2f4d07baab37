//! Scenarios: what cluster to build, what workload to drive, which faults to inject.
//!
//! A scenario is a YAML file (see scenarios/chaos.yaml); every field has a default so a
//! scenario names only what it changes. Ranges are `[min, max]`, inclusive.

use serde::Deserialize;
use std::path::Path;
use tern_core::{Config, NodeId, Span};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub cluster: ClusterSpec,
    pub workload: WorkloadSpec,
    pub network: NetworkSpec,
    pub disk: DiskSpec,
    pub faults: FaultSpec,
    pub phases: PhaseSpec,
    /// The `--set` overrides it was loaded with, for the replay command a failure prints.
    #[serde(skip)]
    pub overrides: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSpec {
    pub nodes: u32,
    pub n: u8,
    pub r: u8,
    pub w: u8,
    pub request_timeout_ms: u64,
    pub resend_interval_ms: u64,
    /// Gossip rounds (core's `Config::heartbeat_interval`).
    pub heartbeat_interval_ms: u64,
    /// The failure detector's threshold and least deviation (core's `Config::phi_threshold`,
    /// `Config::phi_min_deviation`).
    pub phi_threshold: u8,
    pub phi_min_deviation_ms: u64,
    /// Anti-entropy rounds and collection proposals (core's `Config::anti_entropy_interval`),
    /// whether anti-entropy runs and hints are kept (`anti_entropy`, `hinted_handoff`), how
    /// often hints are handed over, and the tombstone grace (`null`: never collect).
    pub anti_entropy_interval_ms: u64,
    pub anti_entropy: bool,
    pub hinted_handoff: bool,
    pub handoff_interval_ms: u64,
    pub tombstone_grace_ms: Option<u64>,
    pub compact_min_bytes: u64,
    /// Whether each node keeps a search index (core's `Config::search_index`); on unless a
    /// scenario turns it off to time the store without it.
    pub search_index: bool,
    /// Whether a node restarted on its log rebuilds before its reads count toward R (core's
    /// `Config::rebuild_on_restart`; on unless a scenario shows what turning it off risks).
    pub rebuild_on_restart: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyDistribution {
    Uniform,
    Zipf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    pub set: u32,
    pub get: u32,
    pub delete: u32,
    /// Boolean searches (`Search`), checked against the history like reads; needs
    /// `workload.text`.
    pub search: u32,
    /// Similarity searches (`Similar`), likewise.
    pub similar: u32,
    /// Bulk writes (`BulkWrite`) of `workload.bulk_keys` keys: each item a set, or a delete
    /// with probability `workload.bulk_delete_fraction` (so some bulk writes mix both).
    pub mset: u32,
    /// Bulk writes whose every item is a delete.
    pub mdel: u32,
    /// Bulk reads (`BulkGet`) of `workload.bulk_keys` keys, checked for fractured views.
    pub mget: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadSpec {
    pub clients: u32,
    pub keys: u32,
    pub key_distribution: KeyDistribution,
    pub zipf_exponent: f64,
    pub value_bytes: [u32; 2],
    pub mix: Mix,
    /// The workload ends once exactly this many writes are acknowledged: sets, deletes and
    /// bulk writes, a bulk write counting once whatever its number of keys.
    pub acknowledged_writes: u64,
    pub think_us: [u64; 2],
    /// How long a client waits for a reply before it calls the outcome unknown.
    pub client_timeout_ms: u64,
    /// This fraction of sets writes a brand-new key that is never written again, so that a
    /// lost write cannot hide behind a later overwrite.
    pub fresh_key_fraction: f64,
    /// Which causal context a write carries, as relative weights.
    pub contexts: ContextMix,
    /// This fraction of sets writes an adversarial value: bytes that frame valid log records
    /// (a `Durable` mark claiming far more than was synced), so that recovery is tested
    /// against values that look like its own metadata.
    pub adversarial_fraction: f64,
    /// This fraction of sets writes a large value, spanning many disk sectors, of a size in
    /// `large_value_bytes`.
    pub large_fraction: f64,
    pub large_value_bytes: [u32; 2],
    /// Values are text: words drawn from a vocabulary of English words (Zipf-like), after a
    /// prefix naming the attempt. Without it, values are random letters.
    pub text: Option<TextSpec>,
    /// Distinct keys in one bulk write or bulk read (`mix.mset`, `mix.mdel`, `mix.mget`),
    /// drawn like single keys.
    pub bulk_keys: [u32; 2],
    /// In an `mset`, each item is a delete with this probability.
    pub bulk_delete_fraction: f64,
}

/// Text values and the searches over them.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextSpec {
    /// Words in a value.
    pub words: [u32; 2],
    /// The vocabulary's word `k` (by rank) is drawn with weight 1 / k^zipf_exponent.
    pub zipf_exponent: f64,
    /// Words in a similarity search's text.
    pub similar_words: [u32; 2],
    /// A similarity search's `top_k`.
    pub top_k: [u32; 2],
    /// After the calm phase: this many random queries of each kind, sent through every node
    /// as coordinator and run on every node's own index, compared with a reference computed
    /// from the final data. 0 turns the final searches off.
    pub final_queries: u32,
}

impl Default for TextSpec {
    fn default() -> TextSpec {
        TextSpec {
            words: [3, 30],
            zipf_exponent: 1.0,
            similar_words: [1, 6],
            top_k: [1, 20],
            final_queries: 50,
        }
    }
}

/// How a write picks its context (relative weights).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextMix {
    /// Read-modify-write: read the key first, then write with the read's context.
    pub read: u32,
    /// Write with the context of this client's previous write reply for the key (empty if
    /// there was none).
    pub reply: u32,
    /// A blind write: an empty context, replacing nothing.
    pub blind: u32,
    /// The newest context this client holds for the key, from a read or a write reply.
    pub latest: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency, uniform in this range...
    pub latency_us: [u64; 2],
    /// ...except that this fraction of messages is slow, uniform in `tail_latency_us`.
    pub tail_probability: f64,
    pub tail_latency_us: [u64; 2],
    pub loss: f64,
    pub duplicate: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskSpec {
    pub fsync_us: [u64; 2],
    /// Once a batch's syncs end, the disk thread takes the next batch this long later, so
    /// what the node queues meanwhile joins it, as the node's disk thread may take an old
    /// segment's removal together with the next appends. [0, 0]: at once.
    pub pickup_us: [u64; 2],
    pub sector_bytes: u32,
    /// At a crash, each sector written but not synced is kept, dropped or torn, with these
    /// relative weights.
    pub crash_keep: u32,
    pub crash_drop: u32,
    pub crash_torn: u32,
    /// Probability that a sync fails (during the fault phase). The node halts and restarts.
    /// The pages of a failed sync stay readable until evicted but never reach the disk.
    pub fsync_failure: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSpec {
    /// Time between crash attempts (a crash is skipped if `max_down` nodes are down).
    pub crash_interval_ms: [u64; 2],
    /// The fraction of single-node crashes that kill the process only: its unsynced bytes
    /// stay readable in the page cache, still unsynced (a later power loss decides their
    /// fate). The others are power losses of that machine.
    pub kill_fraction: f64,
    /// Probability that a restarted node crashes again at a dangerous moment: during
    /// recovery or before its first sync completes (within `disk.fsync_us[1]` of starting).
    pub crash_after_restart: f64,
    /// Probability that a crashed node's disk is replaced by an empty one before it restarts,
    /// and that one byte of its synced, vouched-for log is damaged (bit rot, a misdirected
    /// write). Either only while every other node is whole (none rebuilding or damaged), so
    /// that every acknowledged write keeps a copy.
    pub disk_replace: f64,
    pub corrupt_synced: f64,
    /// Probability that a crashed node's disk is rolled back to its backup (restored from an
    /// older copy) before it restarts, under the same rule. A backup is a snapshot of its
    /// durable files taken at one of its earlier downtimes (`BACKUP_REFRESH` of them, drawn
    /// at random), so a rollback loses what it synced since.
    pub disk_rollback: f64,
    /// Probability that a node sending a bulk write's commit to one replica crashes right
    /// after that message, before the rest of what it was sending (its commits to the other
    /// replicas among them): a coordinator dying mid-commit. Drawn only when such a message
    /// is sent (other runs stay the same).
    pub crash_mid_commit: f64,
    /// Probability that a node whose log batch has completed one sync, with more of the
    /// batch still to sync, loses power right then (in the fault phase, while fewer than
    /// `max_down` nodes are down): a compaction's new segment durable and its directory
    /// entry not, a new mark durable and an old segment's removal not. Drawn only at such
    /// moments.
    pub power_loss_between_syncs: f64,
    /// Probability that a node's process is killed in the middle of a log batch it has
    /// taken (in the fault phase, while fewer than `max_down` nodes are down): between two
    /// of the batch's file operations (appends, syncs, a trim, a segment's creation,
    /// removals, directory syncs), or inside an append, a prefix of whose bytes reaches the
    /// page cache. The operation is drawn from those the batch would do at most. Drawn once
    /// per batch.
    pub kill_mid_batch: f64,
    /// The same, for a batch that starts a segment, removes segments or sets the log aside
    /// (rare, and the one with the most steps): drawn instead of `kill_mid_batch` for it.
    pub kill_mid_compaction: f64,
    pub restart_delay_ms: [u64; 2],
    pub max_down: u32,
    /// Time between power cuts of the whole cluster (every node crashes at once). 0 disables.
    pub power_cut_interval_ms: [u64; 2],
    /// Time between partitions, and how long each lasts. 0 disables partitions.
    pub partition_interval_ms: [u64; 2],
    pub partition_duration_ms: [u64; 2],
    /// A node down for a long stretch, and a long split (`schedule`).
    pub outage: Option<crate::schedule::Outage>,
    pub split: Option<crate::schedule::Split>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhaseSpec {
    /// The fault phase lasts until the workload is done, but no longer than this.
    pub fault_max_s: u64,
    /// After the fault phase, every fault is off; the cluster must settle, answer the final
    /// reads and converge within this bound.
    pub calm_max_s: u64,
    /// Within this many seconds of the calm phase, anti-entropy alone (no read) must make
    /// every replica of every key equal; the final reads wait for it.
    pub converge_max_s: u64,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            name: "unnamed".to_string(),
            cluster: ClusterSpec::default(),
            workload: WorkloadSpec::default(),
            network: NetworkSpec::default(),
            disk: DiskSpec::default(),
            faults: FaultSpec::default(),
            phases: PhaseSpec::default(),
            overrides: Vec::new(),
        }
    }
}

impl Default for ClusterSpec {
    fn default() -> ClusterSpec {
        ClusterSpec {
            nodes: 3,
            n: 3,
            r: 2,
            w: 2,
            request_timeout_ms: 1_000,
            resend_interval_ms: 100,
            heartbeat_interval_ms: 100,
            phi_threshold: 8,
            phi_min_deviation_ms: 50,
            anti_entropy_interval_ms: 1_000,
            anti_entropy: true,
            hinted_handoff: true,
            handoff_interval_ms: 200,
            tombstone_grace_ms: Some(10_000),
            compact_min_bytes: 1 << 20,
            search_index: true,
            rebuild_on_restart: true,
        }
    }
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            set: 60,
            get: 30,
            delete: 10,
            search: 0,
            similar: 0,
            mset: 0,
            mdel: 0,
            mget: 0,
        }
    }
}

impl Default for WorkloadSpec {
    fn default() -> WorkloadSpec {
        WorkloadSpec {
            clients: 8,
            keys: 200,
            key_distribution: KeyDistribution::Uniform,
            zipf_exponent: 1.0,
            value_bytes: [8, 128],
            mix: Mix::default(),
            acknowledged_writes: 1_000,
            think_us: [0, 2_000],
            client_timeout_ms: 3_000,
            fresh_key_fraction: 0.0,
            contexts: ContextMix::default(),
            adversarial_fraction: 0.0,
            large_fraction: 0.0,
            large_value_bytes: [4_096, 65_536],
            text: None,
            bulk_keys: [2, 5],
            bulk_delete_fraction: 0.2,
        }
    }
}

impl Default for ContextMix {
    fn default() -> ContextMix {
        ContextMix {
            read: 0,
            reply: 0,
            blind: 0,
            latest: 1,
        }
    }
}

impl Default for NetworkSpec {
    fn default() -> NetworkSpec {
        NetworkSpec {
            latency_us: [100, 1_000],
            tail_probability: 0.0,
            tail_latency_us: [1_000, 20_000],
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

impl Default for DiskSpec {
    fn default() -> DiskSpec {
        DiskSpec {
            fsync_us: [200, 2_000],
            pickup_us: [0, 0],
            sector_bytes: 512,
            crash_keep: 1,
            crash_drop: 1,
            crash_torn: 1,
            fsync_failure: 0.0,
        }
    }
}

impl Default for FaultSpec {
    fn default() -> FaultSpec {
        FaultSpec {
            crash_interval_ms: [0, 0],
            kill_fraction: 0.0,
            crash_after_restart: 0.0,
            disk_replace: 0.0,
            corrupt_synced: 0.0,
            disk_rollback: 0.0,
            crash_mid_commit: 0.0,
            power_loss_between_syncs: 0.0,
            kill_mid_batch: 0.0,
            kill_mid_compaction: 0.0,
            restart_delay_ms: [100, 1_000],
            max_down: 1,
            power_cut_interval_ms: [0, 0],
            partition_interval_ms: [0, 0],
            partition_duration_ms: [100, 1_000],
            outage: None,
            split: None,
        }
    }
}

impl Default for PhaseSpec {
    fn default() -> PhaseSpec {
        PhaseSpec {
            fault_max_s: 600,
            calm_max_s: 90,
            converge_max_s: 60,
        }
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
        Scenario::parse(&text).map_err(|e| format!("scenario {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse_with(text, &[])
    }

    /// `load`, with settings replaced: each `section.field=value` (the value in YAML, as
    /// the file would write it) overrides the file, for example
    /// `cluster.hinted_handoff=false`.
    pub fn load_with(path: &Path, sets: &[String]) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
        Scenario::parse_with(&text, sets).map_err(|e| format!("scenario {}: {e}", path.display()))
    }

    fn parse_with(text: &str, sets: &[String]) -> Result<Scenario, String> {
        let mut doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        crate::overrides::apply(&mut doc, sets)?;
        let mut scenario: Scenario = serde_yaml_ng::from_value(doc).map_err(|e| e.to_string())?;
        scenario.validate()?;
        scenario.overrides = sets.to_vec();
        Ok(scenario)
    }

    /// The cluster configuration every simulated node runs with: nodes 1..=`nodes` and the
    /// scenario's quorums and timings. The one place the simulator builds a `Config`.
    pub fn config(&self) -> Config {
        let c = &self.cluster;
        let mut config = Config::new((1..=c.nodes).map(NodeId).collect());
        config.n = c.n;
        config.r = c.r;
        config.w = c.w;
        config.request_timeout = Span::from_millis(c.request_timeout_ms);
        config.resend_interval = Span::from_millis(c.resend_interval_ms);
        config.heartbeat_interval = Span::from_millis(c.heartbeat_interval_ms);
        config.phi_threshold = c.phi_threshold;
        config.phi_min_deviation = Span::from_millis(c.phi_min_deviation_ms);
        config.anti_entropy_interval = Span::from_millis(c.anti_entropy_interval_ms);
        config.anti_entropy = c.anti_entropy;
        config.hinted_handoff = c.hinted_handoff;
        config.handoff_interval = Span::from_millis(c.handoff_interval_ms);
        config.tombstone_grace = c.tombstone_grace_ms.map(Span::from_millis);
        config.compact_min_bytes = c.compact_min_bytes;
        config.search_index = c.search_index;
        config.rebuild_on_restart = c.rebuild_on_restart;
        config
    }
}
