//! The scheduled faults (`schedule`): a node down for a long stretch, a long split.
//!
//! Owns when they start and end; the crash itself is `faults::crash_node` (a process kill),
//! the restart `process::start_node`, the cut links the network's `blocked` set. Like every
//! fault, they happen only in the fault phase; the calm phase restarts the node and heals
//! every link.

use super::faults::CrashKind;
use super::{Event, Phase, World};
use tern_core::{NodeId, Span};

impl World {
    /// Schedules the start of the scenario's outage and split, if it has them.
    pub(super) fn schedule_fixed_faults(&mut self) {
        if let Some(outage) = &self.scenario.faults.outage {
            let at = Span::from_millis(outage.start_ms).micros();
            self.after(at, Event::OutageStart);
        }
        if let Some(split) = &self.scenario.faults.split {
            let at = Span::from_millis(split.start_ms).micros();
            self.after(at, Event::SplitStart);
        }
    }

    /// The node of the outage goes down (if up) and stays down until `OutageEnd`.
    pub(super) fn start_outage(&mut self) {
        let Some(outage) = self.scenario.faults.outage.clone() else {
            return;
        };
        if self.phase != Phase::Fault {
            return;
        }
        let i = self.index_of(NodeId(outage.node));
        self.out_of_service = Some(i);
        if self.procs[i].node.is_some() {
            self.crash_node(i, CrashKind::Kill);
        }
        if let Some(ms) = outage.duration_ms {
            self.after(Span::from_millis(ms).micros(), Event::OutageEnd);
        }
    }

    /// The outage is over: its node restarts.
    pub(super) fn end_outage(&mut self) {
        let Some(i) = self.out_of_service.take() else {
            return;
        };
        if self.procs[i].node.is_none() {
            self.measure_detection(i);
            self.start_node(i);
        }
    }

    /// True if node `i` must stay down (a random restart leaves it so).
    pub(super) fn kept_down(&self, i: usize) -> bool {
        self.out_of_service == Some(i) && self.phase == Phase::Fault
    }

    /// Cuts every link between the split's side and the other nodes.
    pub(super) fn start_split(&mut self) {
        let Some(split) = self.scenario.faults.split.clone() else {
            return;
        };
        if self.phase != Phase::Fault {
            return;
        }
        for pair in self.split_links(&split.side) {
            self.blocked.insert(pair);
        }
        if let Some(ms) = split.duration_ms {
            self.after(Span::from_millis(ms).micros(), Event::SplitEnd);
        }
    }

    /// Heals the links the split cut.
    pub(super) fn end_split(&mut self) {
        let Some(split) = self.scenario.faults.split.clone() else {
            return;
        };
        for pair in self.split_links(&split.side) {
            self.blocked.remove(&pair);
        }
    }

    fn split_links(&self, side: &[u32]) -> Vec<(NodeId, NodeId)> {
        let ids: Vec<NodeId> = self.procs.iter().map(|p| p.id).collect();
        let inside = |n: &NodeId| side.contains(&n.0);
        let mut links = Vec::new();
        for a in ids.iter().filter(|n| inside(n)) {
            for b in ids.iter().filter(|n| !inside(n)) {
                links.push((*a, *b));
                links.push((*b, *a));
            }
        }
        links
    }
}
