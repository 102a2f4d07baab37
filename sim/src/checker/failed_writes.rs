//! The failed-write checker: a set whose outcome was a definite failure never becomes
//! visible.
//!
//! Owns `check_failed_writes`; it reads only the attempts, the reads and the final reads.

use super::{show, Attempt, AttemptOutcome, ReadRecord, Violation};
use std::collections::BTreeMap;
use tern_core::Object;

/// Checks that no set whose outcome was a definite failure (nothing written) shows up in any
/// read or in the final state. Returns the number of failed sets and the violations.
pub fn check_failed_writes(
    attempts: &[Attempt],
    reads: &[ReadRecord],
    finals: &BTreeMap<Vec<u8>, Object>,
) -> (u64, Vec<Violation>) {
    let failed: BTreeMap<&[u8], &Attempt> = attempts
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Failed)
        .filter_map(|a| a.value.as_deref().map(|v| (v, a)))
        .collect();
    let mut violations = Vec::new();
    let objects = reads
        .iter()
        .map(|r| (&r.key, &r.object))
        .chain(finals.iter());
    for (key, object) in objects {
        for value in object.values() {
            if let Some(a) = failed.get(value) {
                violations.push(Violation::new(
                    "failed write",
                    format!(
                        "key {}: client {} was told its write (request {}) failed, yet its value is visible",
                        show(key),
                        a.client,
                        a.request
                    ),
                ));
            }
        }
    }
    violations.sort_by(|a, b| a.detail.cmp(&b.detail));
    violations.dedup();
    (failed.len() as u64, violations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::fixtures::{object, Story};
    use tern_core::{Time, VectorClock};

    #[test]
    fn failed_write_checker_catches_a_refused_value_that_became_visible() {
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.attempts.push(Attempt {
            client: 8,
            request: 2,
            key: b"k".to_vec(),
            context: VectorClock::new(),
            value: Some(b"refused".to_vec()),
            dot: None,
            outcome: AttemptOutcome::Failed,
            start: Time(20),
            end: Some(Time(25)),
        });
        let clean = BTreeMap::from([(b"k".to_vec(), object(1, b"a", VectorClock::new()))]);
        let (failed, violations) = check_failed_writes(&story.attempts, &[], &clean);
        assert_eq!((failed, violations.len()), (1, 0));
        let leaked = BTreeMap::from([(b"k".to_vec(), object(2, b"refused", VectorClock::new()))]);
        let (_, violations) = check_failed_writes(&story.attempts, &[], &leaked);
        assert_eq!(violations.len(), 1, "{violations:?}");
    }
}
