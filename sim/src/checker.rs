//! The checkers: each turns a recorded history into a verdict.
//!
//! They take plain data (what clients saw, what replicas hold), not the simulator, so that
//! tests can feed each one a history with a planted violation and watch it fail.
//!
//! - durability: every acknowledged write is in the final read (same dot, same value) or
//!   superseded by a version written by a client who had been shown it (directly, or through
//!   a version that itself legitimately superseded it); and no value appears that no client
//!   ever wrote;
//! - failed writes: a set whose outcome was a definite failure never appears in any read or
//!   in the final state;
//! - acknowledged means durable: when a write is acknowledged, W replicas hold it in their
//!   synced state (checked by the world at that moment, see `World`);
//! - dots: one dot names one version, and one write attempt runs once (a value appears under
//!   one dot only);
//! - stale reads: a read that began after a write was acknowledged returns that write or a
//!   causal successor;
//! - convergence: at the end, every replica of a key holds the same versions.

use std::collections::{BTreeMap, BTreeSet};
use tern_core::{ActorId, Dot, NodeId, Object, Sibling, Time, VectorClock};

/// How a write attempt ended, as its client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Still waiting (the run ended first).
    Pending,
    Acknowledged,
    /// A definite failure: nothing was written (unavailable, busy, starting, too large...).
    Failed,
    /// It may or may not have been applied (indeterminate, or the client gave up waiting).
    Unknown,
}

/// One write attempt: what a client sent, and how it ended.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub client: u32,
    /// The client's request number; requests of one client are numbered in order.
    pub request: u64,
    pub key: Vec<u8>,
    pub context: VectorClock,
    /// `None` for a delete.
    pub value: Option<Vec<u8>>,
    /// The dot, once acknowledged.
    pub dot: Option<Dot>,
    pub outcome: AttemptOutcome,
}

/// What each client was shown of each key: (client, key) -> dot -> the request whose reply
/// first showed it (a write's own dot counts as shown by its reply).
pub type Observed = BTreeMap<(u32, Vec<u8>), BTreeMap<Dot, u64>>;

/// Everything the exact durability checker needs to know about who saw what.
#[derive(Clone, Copy, Debug)]
pub struct Provenance<'a> {
    pub attempts: &'a [Attempt],
    pub observed: &'a Observed,
    /// Every version some client was shown, by key and dot.
    pub versions: &'a BTreeMap<(Vec<u8>, Dot), Sibling>,
}

/// A key and a context's entries: how a delete whose dot is unknown is found.
type DeleteKey<'a> = (&'a [u8], Vec<(ActorId, u64)>);

/// Finds which attempts wrote a version, and whether a version's writer had seen a dot.
struct Justifier<'a> {
    p: Provenance<'a>,
    by_dot: BTreeMap<(&'a [u8], Dot), usize>,
    by_value: BTreeMap<&'a [u8], usize>,
    /// Deletes whose dot the client never learned, by key and context.
    deletes: BTreeMap<DeleteKey<'a>, Vec<usize>>,
    memo: BTreeMap<(usize, Dot), bool>,
}

impl<'a> Justifier<'a> {
    fn new(p: Provenance<'a>) -> Justifier<'a> {
        let mut j = Justifier {
            p,
            by_dot: BTreeMap::new(),
            by_value: BTreeMap::new(),
            deletes: BTreeMap::new(),
            memo: BTreeMap::new(),
        };
        for (i, a) in p.attempts.iter().enumerate() {
            if let Some(dot) = a.dot {
                j.by_dot.insert((a.key.as_slice(), dot), i);
            }
            match &a.value {
                Some(value) => {
                    j.by_value.insert(value.as_slice(), i);
                }
                None if a.dot.is_none() => {
                    j.deletes
                        .entry((a.key.as_slice(), a.context.iter().collect()))
                        .or_default()
                        .push(i);
                }
                None => {}
            }
        }
        j
    }

    /// The attempts that may have written `sibling` of `key` (one, except for a delete whose
    /// dot its client never learned: every such delete with the same context).
    fn writers(&self, key: &[u8], sibling: &Sibling) -> Vec<usize> {
        if let Some(i) = self.by_dot.get(&(key, sibling.dot)) {
            return vec![*i];
        }
        match &sibling.value {
            Some(value) => self
                .by_value
                .get(value.as_slice())
                .copied()
                .into_iter()
                .collect(),
            None => self
                .deletes
                .get(&(key, sibling.context.iter().collect::<Vec<_>>()))
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// True if the client of `attempt` had been shown `dot` before sending it, directly or
    /// through a version whose own writer legitimately superseded it.
    fn justified(&mut self, attempt: usize, key: &[u8], dot: Dot) -> bool {
        if let Some(known) = self.memo.get(&(attempt, dot)) {
            return *known;
        }
        let a = &self.p.attempts[attempt];
        let mut verdict = false;
        if let Some(seen) = self.p.observed.get(&(a.client, key.to_vec())) {
            let before = a.request;
            if seen.get(&dot).is_some_and(|at| *at < before) {
                verdict = true;
            } else {
                // Newest first: the version a client overwrote is usually its latest one.
                let shown: Vec<Dot> = seen
                    .iter()
                    .filter(|(u, at)| **at < before && **u != dot)
                    .map(|(u, _)| *u)
                    .collect();
                'search: for u in shown.into_iter().rev() {
                    let Some(version) = self.p.versions.get(&(key.to_vec(), u)) else {
                        continue;
                    };
                    if !version.context.covers(dot) {
                        continue;
                    }
                    for writer in self.writers(key, version) {
                        if writer != attempt && self.justified(writer, key, dot) {
                            verdict = true;
                            break 'search;
                        }
                    }
                }
            }
        }
        self.memo.insert((attempt, dot), verdict);
        verdict
    }
}

/// An acknowledged write as the client saw it.
#[derive(Clone, Debug)]
pub struct WriteRecord {
    pub key: Vec<u8>,
    pub dot: Dot,
    /// `None` for a delete.
    pub value: Option<Vec<u8>>,
    pub start: Time,
    pub ack: Time,
}

/// A successful read as the client saw it.
#[derive(Clone, Debug)]
pub struct ReadRecord {
    pub key: Vec<u8>,
    pub start: Time,
    pub end: Time,
    pub object: Object,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub checker: &'static str,
    pub detail: String,
}

impl Violation {
    fn new(checker: &'static str, detail: String) -> Violation {
        Violation { checker, detail }
    }
}

/// The durability verdict: how many acknowledged writes the final reads preserve.
#[derive(Clone, Debug, Default)]
pub struct Durability {
    pub acknowledged: u64,
    pub present: u64,
    pub superseded: u64,
    pub violations: Vec<Violation>,
}

impl Durability {
    pub fn preserved(&self) -> u64 {
        self.present + self.superseded
    }
}

/// Checks every acknowledged write against the final read of its key. A write missing from
/// the final object counts as superseded only if a final version that covers its dot was
/// written by a client who had been shown it (see `Justifier::justified`); a context that
/// claims a version nobody showed its client is a lost update. `written` holds every value
/// any client ever sent (acknowledged or not): anything else in a final read is a value that
/// appeared from nowhere.
pub fn check_durability(
    acked: &[WriteRecord],
    finals: &BTreeMap<Vec<u8>, Object>,
    written: &BTreeSet<Vec<u8>>,
    provenance: Provenance<'_>,
) -> Durability {
    let mut verdict = Durability {
        acknowledged: acked.len() as u64,
        ..Durability::default()
    };
    let mut justifier = Justifier::new(provenance);
    let empty = Object::new();
    for write in acked {
        let object = finals.get(&write.key).unwrap_or(&empty);
        if let Some(sibling) = object.siblings().iter().find(|s| s.dot == write.dot) {
            if sibling.value == write.value {
                verdict.present += 1;
            } else {
                verdict.violations.push(Violation::new(
                    "durability",
                    format!(
                        "key {} dot {:?}: final value differs from the acknowledged one",
                        show(&write.key),
                        write.dot
                    ),
                ));
            }
            continue;
        }
        let covering: Vec<&Sibling> = object
            .siblings()
            .iter()
            .filter(|s| s.context.covers(write.dot))
            .collect();
        let legitimate = covering.iter().any(|s| {
            justifier
                .writers(&write.key, s)
                .into_iter()
                .any(|w| justifier.justified(w, &write.key, write.dot))
        });
        if legitimate {
            verdict.superseded += 1;
            continue;
        }
        let how = if covering.is_empty() {
            "is gone: no final version covers it"
        } else {
            "was replaced by a write whose client had never been shown it (lost update)"
        };
        verdict.violations.push(Violation::new(
            "durability",
            format!(
                "key {}: the write {:?} acknowledged at {} {how}",
                show(&write.key),
                write.dot,
                write.ack
            ),
        ));
    }
    for (key, object) in finals {
        for sibling in object.siblings() {
            if let Some(value) = &sibling.value {
                if !written.contains(value) {
                    verdict.violations.push(Violation::new(
                        "durability",
                        format!(
                            "key {} holds a value no client wrote ({:?})",
                            show(key),
                            sibling.dot
                        ),
                    ));
                }
            }
        }
    }
    verdict
}

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

/// Watches every version that replicas exchange: one (key, dot) must always name the same
/// version, and one value (each set attempt writes a unique one) must carry one dot: two
/// dots for one value mean the write ran twice.
#[derive(Debug, Default)]
pub struct DotLedger {
    versions: BTreeMap<(Vec<u8>, Dot), Sibling>,
    values: BTreeMap<Vec<u8>, (Vec<u8>, Dot)>,
    pub violations: Vec<Violation>,
}

impl DotLedger {
    /// Versions seen so far.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    pub fn observe(&mut self, key: &[u8], object: &Object) {
        for sibling in object.siblings() {
            match self.versions.get(&(key.to_vec(), sibling.dot)) {
                Some(known) if known != sibling => {
                    self.violations.push(Violation::new(
                        "dots",
                        format!(
                            "key {}: dot {:?} was minted twice, for two different versions",
                            show(key),
                            sibling.dot
                        ),
                    ));
                }
                Some(_) => continue,
                None => {
                    self.versions
                        .insert((key.to_vec(), sibling.dot), sibling.clone());
                }
            }
            if let Some(value) = &sibling.value {
                match self.values.get(value) {
                    Some((k, d)) if (k.as_slice(), *d) != (key, sibling.dot) => {
                        self.violations.push(Violation::new(
                            "dots",
                            format!(
                                "key {}: one write ran twice (its value carries dots {:?} and {:?})",
                                show(key),
                                d,
                                sibling.dot
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.values
                            .insert(value.clone(), (key.to_vec(), sibling.dot));
                    }
                }
            }
        }
    }
}

/// Checks that no read missed a write acknowledged before the read began. Returns the number
/// of (read, earlier acknowledged write) pairs checked and the violations.
pub fn check_stale_reads(acked: &[WriteRecord], reads: &[ReadRecord]) -> (u64, Vec<Violation>) {
    let mut by_key: BTreeMap<&[u8], Vec<&WriteRecord>> = BTreeMap::new();
    for write in acked {
        by_key.entry(&write.key).or_default().push(write);
    }
    for writes in by_key.values_mut() {
        writes.sort_by_key(|w| w.ack);
    }
    let mut pairs = 0;
    let mut violations = Vec::new();
    for read in reads {
        let Some(writes) = by_key.get(read.key.as_slice()) else {
            continue;
        };
        let before = writes.partition_point(|w| w.ack < read.start);
        for write in &writes[..before] {
            pairs += 1;
            if !read.object.has_seen(write.dot) {
                violations.push(Violation::new(
                    "stale read",
                    format!(
                        "read of {} started at {} missed {:?}, acknowledged at {}",
                        show(&read.key),
                        read.start,
                        write.dot,
                        write.ack
                    ),
                ));
            }
        }
    }
    (pairs, violations)
}

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

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::{ActorId, Sibling, VectorClock};

    fn dot(seq: u64) -> Dot {
        Dot {
            actor: ActorId {
                node: NodeId(1),
                incarnation: 1,
            },
            seq,
        }
    }

    fn write(seq: u64, value: &[u8], ack: u64) -> WriteRecord {
        WriteRecord {
            key: b"k".to_vec(),
            dot: dot(seq),
            value: Some(value.to_vec()),
            start: Time(ack - 1),
            ack: Time(ack),
        }
    }

    fn object(seq: u64, value: &[u8], context: VectorClock) -> Object {
        Object::single(Sibling {
            dot: dot(seq),
            context,
            value: Some(value.to_vec()),
        })
    }

    fn written(values: &[&[u8]]) -> BTreeSet<Vec<u8>> {
        values.iter().map(|v| v.to_vec()).collect()
    }

    /// A history: who wrote what with which context, and what each client was shown.
    #[derive(Default)]
    struct Story {
        attempts: Vec<Attempt>,
        observed: Observed,
        versions: BTreeMap<(Vec<u8>, Dot), Sibling>,
    }

    impl Story {
        /// Client `client` writes `value` (request `request`) with `context`, acknowledged
        /// as dot `seq`; it sees its own write.
        fn write(
            &mut self,
            client: u32,
            request: u64,
            seq: u64,
            value: &[u8],
            context: VectorClock,
        ) {
            self.attempts.push(Attempt {
                client,
                request,
                key: b"k".to_vec(),
                context: context.clone(),
                value: Some(value.to_vec()),
                dot: Some(dot(seq)),
                outcome: AttemptOutcome::Acknowledged,
            });
            self.show(client, request, seq, value, context);
        }

        /// The reply to `client`'s request `request` shows it the version `seq`.
        fn show(
            &mut self,
            client: u32,
            request: u64,
            seq: u64,
            value: &[u8],
            context: VectorClock,
        ) {
            self.observed
                .entry((client, b"k".to_vec()))
                .or_default()
                .entry(dot(seq))
                .or_insert(request);
            self.versions.insert(
                (b"k".to_vec(), dot(seq)),
                Sibling {
                    dot: dot(seq),
                    context,
                    value: Some(value.to_vec()),
                },
            );
        }

        fn provenance(&self) -> Provenance<'_> {
            Provenance {
                attempts: &self.attempts,
                observed: &self.observed,
                versions: &self.versions,
            }
        }
    }

    fn covering(seqs: &[u64]) -> VectorClock {
        let mut context = VectorClock::new();
        for seq in seqs {
            context.add(dot(*seq));
        }
        context
    }

    #[test]
    fn durability_accepts_present_and_superseded_writes() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        // Client 7 wrote a; client 8 read it (request 3), then wrote b over it.
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.show(8, 3, 1, b"a", VectorClock::new());
        story.write(8, 4, 2, b"b", covering(&[1]));
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", covering(&[1])))]);
        let verdict =
            check_durability(&acked, &finals, &written(&[b"a", b"b"]), story.provenance());
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!((verdict.present, verdict.superseded), (1, 1));
    }

    #[test]
    fn durability_catches_a_lost_update_by_a_context_its_client_never_saw() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        // Client 8 never read a, yet its context claims it (as a write reply's whole-key
        // clock used to): a is replaced without anyone having seen it.
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.write(8, 4, 2, b"b", covering(&[1]));
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", covering(&[1])))]);
        let written = written(&[b"a", b"b"]);
        let verdict = check_durability(&acked, &finals, &written, story.provenance());
        assert_eq!(verdict.violations.len(), 1, "{:?}", verdict.violations);
        assert!(verdict.violations[0].detail.contains("lost update"));
        // Seen after the write was sent is still not seen before it.
        story.show(8, 5, 1, b"a", VectorClock::new());
        let verdict = check_durability(&acked, &finals, &written, story.provenance());
        assert_eq!(verdict.violations.len(), 1, "{:?}", verdict.violations);
    }

    #[test]
    fn durability_follows_supersession_through_versions_a_client_saw() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20), write(3, b"c", 30)];
        // 8 saw a and wrote b over it; 9 saw only b and wrote c over b (its context covers a
        // through b's): a is legitimately superseded by c.
        let mut story = Story::default();
        story.write(7, 1, 1, b"a", VectorClock::new());
        story.show(8, 2, 1, b"a", VectorClock::new());
        story.write(8, 3, 2, b"b", covering(&[1]));
        story.show(9, 4, 2, b"b", covering(&[1]));
        story.write(9, 5, 3, b"c", covering(&[1, 2]));
        let finals = BTreeMap::from([(b"k".to_vec(), object(3, b"c", covering(&[1, 2])))]);
        let all = written(&[b"a", b"b", b"c"]);
        let verdict = check_durability(&acked, &finals, &all, story.provenance());
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
        assert_eq!(verdict.superseded, 2);
        // Had b's writer never seen a, the chain would not justify c replacing a.
        let mut bad = Story::default();
        bad.write(7, 1, 1, b"a", VectorClock::new());
        bad.write(8, 3, 2, b"b", covering(&[1]));
        bad.show(9, 4, 2, b"b", covering(&[1]));
        bad.write(9, 5, 3, b"c", covering(&[1, 2]));
        let verdict = check_durability(&acked, &finals, &all, bad.provenance());
        assert_eq!(verdict.violations.len(), 1, "{:?}", verdict.violations);
    }

    #[test]
    fn durability_catches_a_lost_write() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        // The final object holds write 2, which never saw write 1: write 1 is lost.
        let finals = BTreeMap::from([(b"k".to_vec(), object(2, b"b", VectorClock::new()))]);
        let story = Story::default();
        let verdict =
            check_durability(&acked, &finals, &written(&[b"a", b"b"]), story.provenance());
        assert_eq!(verdict.violations.len(), 1);
        assert_eq!(verdict.preserved(), 1);
    }

    #[test]
    fn durability_catches_a_changed_and_an_invented_value() {
        let acked = [write(1, b"a", 10)];
        let finals = BTreeMap::from([(b"k".to_vec(), object(1, b"z", VectorClock::new()))]);
        let story = Story::default();
        let verdict = check_durability(&acked, &finals, &written(&[b"a"]), story.provenance());
        assert_eq!(verdict.violations.len(), 2, "{:?}", verdict.violations);
    }

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
        });
        let clean = BTreeMap::from([(b"k".to_vec(), object(1, b"a", VectorClock::new()))]);
        let (failed, violations) = check_failed_writes(&story.attempts, &[], &clean);
        assert_eq!((failed, violations.len()), (1, 0));
        let leaked = BTreeMap::from([(b"k".to_vec(), object(2, b"refused", VectorClock::new()))]);
        let (_, violations) = check_failed_writes(&story.attempts, &[], &leaked);
        assert_eq!(violations.len(), 1, "{violations:?}");
    }

    #[test]
    fn dot_ledger_catches_a_dot_minted_twice_and_a_write_run_twice() {
        let mut ledger = DotLedger::default();
        ledger.observe(b"k", &object(1, b"a", VectorClock::new()));
        ledger.observe(b"k", &object(1, b"a", VectorClock::new()));
        assert!(ledger.violations.is_empty());
        // Another version under the same dot: an incarnation reused.
        ledger.observe(b"k", &object(1, b"b", VectorClock::new()));
        assert_eq!(ledger.violations.len(), 1);
        // The same value under a second dot: one write applied twice.
        ledger.observe(b"k", &object(2, b"a", VectorClock::new()));
        assert_eq!(ledger.violations.len(), 2);
        assert!(ledger.violations[1].detail.contains("ran twice"));
    }

    #[test]
    fn stale_read_checker_catches_a_read_that_missed_an_acknowledged_write() {
        let acked = [write(1, b"a", 10), write(2, b"b", 20)];
        let fresh = ReadRecord {
            key: b"k".to_vec(),
            start: Time(15),
            end: Time(16),
            object: object(1, b"a", VectorClock::new()),
        };
        let stale = ReadRecord {
            start: Time(25),
            end: Time(26),
            ..fresh.clone()
        };
        let (pairs, violations) = check_stale_reads(&acked, std::slice::from_ref(&fresh));
        assert_eq!((pairs, violations.len()), (1, 0));
        let (pairs, violations) = check_stale_reads(&acked, &[fresh, stale]);
        assert_eq!((pairs, violations.len()), (3, 1));
    }

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
