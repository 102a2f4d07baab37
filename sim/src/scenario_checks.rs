//! `Scenario::validate`: the checks a scenario file must pass before a run, each with the
//! reason it gives.

use crate::scenario::Scenario;

impl Scenario {
    /// Rejects scenarios the simulator cannot run meaningfully, with a reason. The cluster
    /// is checked by core's own `Config::validate`, as every node will check it.
    pub fn validate(&self) -> Result<(), String> {
        self.config()
            .validate()
            .map_err(|e| format!("cluster: {e}"))?;
        let w = &self.workload;
        let member = |n: &u32| (1..=self.cluster.nodes).contains(n);
        let outage_ok = self.faults.outage.as_ref().is_none_or(|o| member(&o.node));
        let split_ok = self.faults.split.as_ref().is_none_or(|s| {
            s.side.iter().all(member)
                && !s.side.is_empty()
                && s.side.len() < self.cluster.nodes as usize
        });
        let bulk = w.mix.mset + w.mix.mdel + w.mix.mget > 0;
        let checks: [(bool, &str); 27] = [
            (outage_ok, "faults.outage.node must be a member"),
            (split_ok, "faults.split.side must be some members, not all"),
            (w.clients >= 1, "workload.clients must be at least 1"),
            (w.keys >= 1, "workload.keys must be at least 1"),
            (
                w.value_bytes[0] <= w.value_bytes[1],
                "workload.value_bytes must be [min, max]",
            ),
            (
                w.mix.set + w.mix.delete + w.mix.mset + w.mix.mdel > 0,
                "workload.mix needs some writes",
            ),
            (
                self.faults.max_down < self.cluster.nodes || self.faults.crash_interval_ms[1] == 0,
                "faults.max_down must leave a node up",
            ),
            (
                (0.0..1.0).contains(&self.network.loss)
                    && (0.0..1.0).contains(&self.network.duplicate),
                "network.loss and network.duplicate must be in [0, 1)",
            ),
            (
                self.disk.sector_bytes >= 16,
                "disk.sector_bytes must be at least 16",
            ),
            (
                self.disk.crash_keep + self.disk.crash_drop + self.disk.crash_torn > 0,
                "disk crash weights must not all be zero",
            ),
            (
                w.zipf_exponent > 0.0,
                "workload.zipf_exponent must be positive",
            ),
            (
                (0.0..1.0).contains(&self.disk.fsync_failure),
                "disk.fsync_failure must be in [0, 1)",
            ),
            (
                (0.0..=1.0).contains(&w.fresh_key_fraction),
                "workload.fresh_key_fraction must be in [0, 1]",
            ),
            (
                w.contexts.read + w.contexts.reply + w.contexts.blind + w.contexts.latest > 0,
                "workload.contexts weights must not all be zero",
            ),
            (
                (0.0..=1.0).contains(&w.adversarial_fraction)
                    && (0.0..=1.0).contains(&w.large_fraction),
                "workload.adversarial_fraction and workload.large_fraction must be in [0, 1]",
            ),
            (
                w.large_value_bytes[0] <= w.large_value_bytes[1]
                    && w.large_value_bytes[1] as usize <= tern_core::limits::VALUE_BYTES_MAX,
                "workload.large_value_bytes must be [min, max] within VALUE_BYTES_MAX",
            ),
            (
                !bulk
                    || (2 <= w.bulk_keys[0]
                        && w.bulk_keys[0] <= w.bulk_keys[1]
                        && w.bulk_keys[1] <= w.keys
                        && w.bulk_keys[1] as usize <= tern_core::limits::BULK_KEYS_MAX),
                "workload.bulk_keys must be [min, max], from 2, within workload.keys and BULK_KEYS_MAX",
            ),
            (
                (0.0..=1.0).contains(&w.bulk_delete_fraction),
                "workload.bulk_delete_fraction must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.kill_fraction),
                "faults.kill_fraction must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.crash_after_restart),
                "faults.crash_after_restart must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.disk_replace),
                "faults.disk_replace must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.corrupt_synced),
                "faults.corrupt_synced must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.disk_rollback),
                "faults.disk_rollback must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.crash_mid_commit),
                "faults.crash_mid_commit must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.power_loss_between_syncs),
                "faults.power_loss_between_syncs must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.kill_mid_batch),
                "faults.kill_mid_batch must be in [0, 1]",
            ),
            (
                (0.0..=1.0).contains(&self.faults.kill_mid_compaction),
                "faults.kill_mid_compaction must be in [0, 1]",
            ),
        ];
        for (ok, why) in checks {
            if !ok {
                return Err(why.to_string());
            }
        }
        let searches = w.mix.search + w.mix.similar > 0;
        if searches && w.text.is_none() {
            return Err("workload.mix.search and .similar need workload.text".to_string());
        }
        if (searches || w.text.as_ref().is_some_and(|t| t.final_queries > 0))
            && !self.cluster.search_index
        {
            return Err("searches need cluster.search_index".to_string());
        }
        let text = w.text.clone().unwrap_or_default();
        if text.words[0] == 0 || text.similar_words[0] == 0 || text.top_k[0] == 0 {
            return Err("workload.text: words, similar_words and top_k start at 1".to_string());
        }
        if text.top_k[1] as usize > tern_core::limits::SIMILAR_TOP_K_MAX
            || text.zipf_exponent <= 0.0
        {
            return Err(
                "workload.text: top_k within SIMILAR_TOP_K_MAX, zipf_exponent positive".to_string(),
            );
        }
        if self.phases.converge_max_s >= self.phases.calm_max_s {
            return Err("phases.converge_max_s must be below phases.calm_max_s".to_string());
        }
        let ranges = [
            ("workload.think_us", w.think_us),
            ("workload.text.words", text.words.map(u64::from)),
            (
                "workload.text.similar_words",
                text.similar_words.map(u64::from),
            ),
            ("workload.text.top_k", text.top_k.map(u64::from)),
            ("network.latency_us", self.network.latency_us),
            ("network.tail_latency_us", self.network.tail_latency_us),
            ("disk.fsync_us", self.disk.fsync_us),
            ("disk.pickup_us", self.disk.pickup_us),
            ("faults.crash_interval_ms", self.faults.crash_interval_ms),
            ("faults.restart_delay_ms", self.faults.restart_delay_ms),
            (
                "faults.power_cut_interval_ms",
                self.faults.power_cut_interval_ms,
            ),
            (
                "faults.partition_interval_ms",
                self.faults.partition_interval_ms,
            ),
            (
                "faults.partition_duration_ms",
                self.faults.partition_duration_ms,
            ),
        ];
        for (name, [lo, hi]) in ranges {
            if lo > hi {
                return Err(format!("{name} must be [min, max], got [{lo}, {hi}]"));
            }
        }
        Ok(())
    }
}
