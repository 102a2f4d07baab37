//! Which replicas a search asks (R live replicas of every partition), and a new plan when
//! one of them answers that it is rebuilding.

use crate::coordinator::{Coordinator, Ctx, Phase};
use crate::ids::{NodeId, RequestId};
use crate::limits::PARTITIONS;
use crate::message::RequestError;
use std::collections::{BTreeMap, BTreeSet};

/// Partitions by node.
pub(super) type Partitions = BTreeMap<NodeId, Vec<u32>>;

/// The nodes a search asks, each with the partitions it reads there (R live replicas of
/// every partition, none `excluded`), and the partitions whose statistics each sends; or
/// `Unavailable` if a partition has fewer than R.
pub(super) fn plan(
    ctx: &Ctx<'_>,
    (n, r): (usize, usize),
    excluded: &BTreeSet<NodeId>,
) -> Result<(Partitions, Partitions), RequestError> {
    let mut asked = Partitions::new();
    let mut stats_for = Partitions::new();
    for partition in 0..PARTITIONS {
        let replicas = ctx.ring.partition_replicas(partition, n);
        let mut live: Vec<(usize, NodeId)> = (0..)
            .zip(replicas)
            .filter(|(_, node)| ctx.is_alive(*node) && !excluded.contains(node))
            .collect();
        if live.len() < r {
            let (needed, alive) = (r as u8, live.len() as u8);
            return Err(RequestError::Unavailable { needed, alive });
        }
        // Itself first, then nodes already asked, so that few nodes are asked.
        live.sort_by_key(|&(i, node)| (node != ctx.id, !asked.contains_key(&node), i));
        for &(_, node) in &live[..r] {
            asked.entry(node).or_default().push(partition);
        }
        stats_for.entry(live[0].1).or_default().push(partition);
    }
    Ok((asked, stats_for))
}

impl Coordinator {
    /// `from`, asked by search `req`, is rebuilding: the search starts over (a new request
    /// id, so that no answer to the old plan is taken) without it, in the time it has left.
    /// If too few other replicas of a partition are live, it waits instead, as a read does:
    /// `from` is asked again at each resend (its rebuild may have ended), until the deadline.
    pub fn handle_search_rebuilding(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: RequestId) {
        let excluded = match self.requests.get(&req).map(|p| &p.phase) {
            Some(Phase::Search(state)) if state.waiting.contains(&from) => {
                let mut excluded = state.excluded.clone();
                excluded.insert(from);
                if plan(ctx, (state.n, state.r), &excluded).is_err() {
                    return; // No other plan: wait for `from`.
                }
                excluded
            }
            _ => return, // Late, duplicated, or not asked.
        };
        let Some(pending) = self.requests.remove(&req) else {
            return;
        };
        self.timers.remove(&(pending.wake(), req));
        let Phase::Search(state) = pending.phase else {
            return;
        };
        ctx.stats.searches_replanned += 1;
        let left = pending.deadline.since(ctx.now);
        self.start_search(
            ctx,
            pending.origin,
            &state.op,
            (state.n, state.r),
            left,
            excluded,
        );
    }
}
