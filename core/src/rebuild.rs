//! Rebuilding: a node that may hold less than it once did does not count toward R until its
//! replicas have given it back what it lost.
//!
//! A node starts **rebuilding** when its log gives it no reason to trust it:
//! - the log is empty (a new or replaced disk: an empty disk cannot tell whether it ever held
//!   anything, so a new cluster's nodes rebuild too, from each other, in one exchange);
//! - recovery found synced records damaged (`Damage`): the node sets every segment aside for
//!   inspection and starts on an empty log, since what is left may miss any key, and an older
//!   copy may even hold versions its replicas have since collected;
//! - its log says it was rebuilding when it stopped (`Record::Rebuilding` not followed by
//!   `Record::Rebuilt`): a crash during a rebuild does not end it;
//! - it restarted on a log that is not empty (`Config::rebuild_on_restart`, on by default).
//!   A valid log cannot tell whether it is the node's own or an older copy of it (a data
//!   directory restored from a backup, or a disk image rolled back), and an older copy may
//!   miss writes this node acknowledged, which perhaps only one other replica holds. Telling
//!   the two apart would need a peer to have durably recorded, before each acknowledgement
//!   counted, how far this node's log had come: an extra sync on every write's path. A
//!   rebuild instead costs one exchange of digests with each other replica, and reads that
//!   count this node toward R wait while another replica is down.
//!
//! While rebuilding, a node takes writes (what it syncs is real, and counts toward W), but
//! its read replies say so (`Message::ReadReplyRebuilding`) and never count toward R, and
//! it agrees to no tombstone collection. It is rebuilt once, for every partition it
//! replicates, it has seen every other replica's digest of that partition equal to its own
//! (`caught_up`): at that moment it held exactly what that replica held, so it holds every
//! write any replica had acknowledged before. The node's anti-entropy rounds ask the peers it
//! still waits for with `Message::EntropyRebuild`, which carries its incarnation; a peer
//! answers as to any round (the keys of the partitions that differ, so that they are
//! repaired) and with `Message::EntropyEqual`, the digests that were equal, echoing the
//! incarnation. Only such an answer counts, and only where the digest still equals the
//! node's own when it arrives: it was computed after this incarnation asked, so after its
//! loss. (A peer's own rounds do not count: one computed before the loss could arrive late,
//! from a queue that outlived the old connection.) While it waits for a peer, a rebuild's
//! next round follows each answer at once.
//!
//! A rebuild waits for every other replica of each partition: one replica that is down
//! keeps it going, since it may be the only one that held a write this node lost.

use crate::ids::NodeId;
use crate::limits::PARTITIONS;
use crate::node::Config;
use crate::ring::Ring;
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Whether a replica's read replies count toward R.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Whole,
    /// Rebuilding: its copy may miss writes its replicas acknowledged.
    Rebuilding,
}

/// Why a node started rebuilding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RebuildReason {
    /// Its log was empty: a new or replaced disk.
    EmptyLog,
    /// Recovery found damaged synced records; the segments were set aside.
    Damaged,
    /// It was rebuilding when it stopped.
    Unfinished,
    /// It restarted on its log, which may be an older copy of it (a data directory
    /// restored from a backup): nothing in a valid log tells the two apart.
    Restarted,
    /// Its log was an older copy than one that agreed to a tombstone collection (`verify`):
    /// the segments were set aside.
    Stale,
}

impl RebuildReason {
    pub fn describe(self) -> &'static str {
        match self {
            RebuildReason::EmptyLog => "empty log",
            RebuildReason::Damaged => "damaged log set aside",
            RebuildReason::Unfinished => "rebuild unfinished at the last stop",
            RebuildReason::Restarted => "restarted: its log may be an older copy",
            RebuildReason::Stale => "stale copy of its log set aside",
        }
    }
}

/// A rebuild's state for status reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildStatus {
    pub reason: RebuildReason,
    pub since: Time,
    pub partitions_waiting: u64,
}

/// A rebuild in progress: the (peer, partition) pairs whose digests this node has not yet
/// seen equal to its own.
#[derive(Clone, Debug)]
pub(crate) struct Rebuild {
    pub reason: RebuildReason,
    since: Time,
    waiting: BTreeSet<(NodeId, u32)>,
}

impl Rebuild {
    /// Every (other replica, partition) pair of the partitions `me` replicates at the
    /// default N (anti-entropy's scope).
    pub fn new(me: NodeId, ring: &Ring, config: &Config, reason: RebuildReason) -> Rebuild {
        let n = usize::from(config.n);
        let mut waiting = BTreeSet::new();
        for partition in 0..PARTITIONS {
            let replicas = ring.partition_replicas(partition, n);
            if !replicas.contains(&me) {
                continue;
            }
            for peer in replicas.into_iter().filter(|p| *p != me) {
                waiting.insert((peer, partition));
            }
        }
        Rebuild {
            reason,
            since: Time::ZERO,
            waiting,
        }
    }

    /// The node's clock has started: the rebuild counts from now.
    pub fn started(&mut self, now: Time) {
        self.since = now;
    }

    /// `peer`'s digest of `partition` was equal to this node's own.
    pub fn caught_up(&mut self, peer: NodeId, partition: u32) {
        self.waiting.remove(&(peer, partition));
    }

    pub fn is_done(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Partitions still waited for, counted once each.
    pub fn partitions_waiting(&self) -> u64 {
        let partitions: BTreeSet<u32> = self.waiting.iter().map(|(_, p)| *p).collect();
        partitions.len() as u64
    }

    /// The peers still waited for, in order.
    pub fn peers_waiting(&self) -> Vec<NodeId> {
        let peers: BTreeSet<NodeId> = self.waiting.iter().map(|(p, _)| *p).collect();
        peers.into_iter().collect()
    }

    pub fn status(&self) -> RebuildStatus {
        RebuildStatus {
            reason: self.reason,
            since: self.since,
            partitions_waiting: self.partitions_waiting(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> (Config, Ring) {
        let nodes = vec![NodeId(1), NodeId(2), NodeId(3)];
        let config = Config::new(nodes.clone());
        (config, Ring::new(&nodes))
    }

    #[test]
    fn a_rebuild_ends_only_once_every_other_replica_of_every_partition_was_equal() {
        let (config, ring) = three();
        let mut rebuild = Rebuild::new(NodeId(1), &ring, &config, RebuildReason::EmptyLog);
        assert_eq!(rebuild.partitions_waiting(), u64::from(PARTITIONS));
        for p in 0..PARTITIONS {
            rebuild.caught_up(NodeId(2), p);
        }
        assert!(!rebuild.is_done(), "node 3 was never compared");
        assert_eq!(rebuild.peers_waiting(), vec![NodeId(3)]);
        for p in 0..PARTITIONS - 1 {
            rebuild.caught_up(NodeId(3), p);
        }
        assert!(!rebuild.is_done());
        rebuild.caught_up(NodeId(3), PARTITIONS - 1);
        assert!(rebuild.is_done());
    }
}
