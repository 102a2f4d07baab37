//! The convergence checker: at the end, every replica of a key holds the same versions.
//!
//! Owns `check_convergence`; it compares the replicas' objects it is given and never reads a
//! node itself.

use super::{show, Violation};
use std::collections::BTreeMap;
use tern_core::{NodeId, Object};

/// Checks that every replica of each key holds the same object (absent counts as empty).
pub fn check_convergence(replicas: &BTreeMap<Vec<u8>, Vec<(NodeId, Object)>>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (key, copies) in replicas {
        let Some((first_node, first)) = copies.first() else {
            continue;
        };
        for (node, object) in &copies[1..] {
            if object != first {
                violations.push(Violation::new(
                    "convergence",
                    format!(
                        "key {}: {node} holds {} versions, {first_node} holds {}, and they differ",
                        show(key),
                        object.siblings().len(),
                        first.siblings().len()
                    ),
                ));
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::object;
    use tern_core::VectorClock;

    #[test]
    fn convergence_checker_catches_diverged_replicas() {
        let same = object(1, b"a", VectorClock::new());
        let replicas = BTreeMap::from([(
            b"k".to_vec(),
            vec![(NodeId(1), same.clone()), (NodeId(2), same.clone())],
        )]);
        assert!(check_convergence(&replicas).is_empty());
        let diverged = BTreeMap::from([(
            b"k".to_vec(),
            vec![(NodeId(1), same), (NodeId(2), Object::new())],
        )]);
        assert_eq!(check_convergence(&diverged).len(), 1);
    }
}
