//! Node-level timers: one name per reason to wake up, each with an optional deadline, and
//! the earliest of them. Per-request deadlines live in the coordinator's table instead.

use crate::time::Time;

/// Why a node wakes up on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Tick this node's heartbeat and gossip with a random peer.
    Gossip = 0,
    /// Compare partitions with a random peer (`entropy`).
    AntiEntropy = 1,
    /// Hand hinted keys over to the peers that are up (`handoff`).
    Handoff = 2,
    /// Propose ripe tombstones for collection (`collect`).
    Collect = 3,
}

impl Timer {
    pub const ALL: [Timer; 4] = [
        Timer::Gossip,
        Timer::AntiEntropy,
        Timer::Handoff,
        Timer::Collect,
    ];
}

/// A fixed table of optional deadlines, one per `Timer`.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Time>; Timer::ALL.len()],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Time) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.deadlines[timer as usize]
    }

    /// True if `timer` is set and due at `now`.
    pub fn is_due(&self, timer: Timer, now: Time) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest deadline set.
    pub fn next(&self) -> Option<Time> {
        self.deadlines.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_deadline_is_the_earliest_set() {
        let mut timers = TimerTable::default();
        assert_eq!(timers.next(), None);
        timers.set(Timer::Gossip, Time(7));
        assert_eq!(timers.next(), Some(Time(7)));
        assert!(!timers.is_due(Timer::Gossip, Time(6)));
        assert!(timers.is_due(Timer::Gossip, Time(7)));
    }
}
