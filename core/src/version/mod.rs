//! Causality: dotted version vectors.
//!
//! Every write gets a *dot*, `(actor, seq)`, minted by the replica that coordinates it. An
//! actor is one incarnation of a node: `(node, incarnation)`, where the incarnation id is a
//! random 64-bit number drawn at boot (from the seed the driver gives, which production
//! draws from the OS), so a dot is never minted twice, not even by a node that lost its
//! whole disk and boots on an empty one. Within one actor, `seq` only grows (it counts the
//! writes the incarnation coordinated, over all keys), and the coordinator applies every dot
//! to its own copy of the key before minting the next and replicates the whole object, so
//! any copy of a key holding `actor: n` also holds every earlier dot of that actor on the
//! key, or a version that replaced it: a vector-clock entry `actor: n` taken from an object
//! covers only versions that object holds or replaced.
//!
//! A key holds an [`Object`]: a set of [`Sibling`]s, each a value (or a tombstone) with its dot
//! and the causal context the client wrote it with. A sibling is *obsolete* once another
//! sibling's context covers its dot; merging two objects keeps every sibling that no other
//! sibling makes obsolete. Merge is a join: commutative, associative and idempotent.

mod clock;
mod object;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

pub use clock::{Causality, VectorClock};
pub use object::{BulkKeys, Object, ObjectTooLarge, Sibling};

use crate::ids::NodeId;
use serde::{Deserialize, Serialize};

/// One incarnation of a node: the node id and the random incarnation id it booted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActorId {
    pub node: NodeId,
    pub incarnation: u64,
}

/// The identity of one write: the actor that coordinated it and its sequence number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub actor: ActorId,
    pub seq: u64,
}
