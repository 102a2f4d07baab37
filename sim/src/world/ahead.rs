//! Recovery ahead of a restart, on a second thread.
//!
//! A crashed node writes nothing until it restarts, so its disk holds at the crash exactly
//! what start-up will read (unless start-up first evicts bytes a failed sync left readable).
//! At the crash the simulator hands the node's segments (shared with the disk, which never
//! changes bytes it has handed out) to a thread that runs `tern_core::Node::start` on them,
//! with the config, id and seed of the coming incarnation: the same pure function of the
//! same bytes that the restart would run (the thread also drops the dead incarnation's
//! state). At the restart, `start_node` still goes through `tern_storage::open_log` (syncs,
//! evictions, reads, truncation); if the segments it reads are byte for byte the ones handed
//! over, the thread's result is used, otherwise recovery runs again on the spot. Whichever
//! thread computed it, the result is the same, so a seed gives the same run either way; only
//! the wall time changes (`--second-thread off` turns this off).

use std::fmt;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use tern_core::{Node, Segment, StartError, Started};

/// Segments as the disk shares them: (base, bytes). The disk never changes shared bytes.
type Images = Vec<(u64, Arc<Vec<u8>>)>;

/// A start under way on another thread, and the segments it reads.
pub(super) struct Ahead {
    segments: Images,
    /// The start's result; the thread sends it before it drops the dead incarnation.
    started: Receiver<Result<Started, StartError>>,
}

impl fmt::Debug for Ahead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ahead")
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

impl Ahead {
    /// Starts `start` on `segments` (base, bytes) on a new thread, which then drops `dead`
    /// (the crashed incarnation's state); `None` if there is nothing to recover or no thread
    /// could be started (the restart then recovers on the spot).
    pub(super) fn start(
        segments: Images,
        dead: Option<Node>,
        start: impl FnOnce(&[Segment<'_>]) -> Result<Started, StartError> + Send + 'static,
    ) -> Option<Ahead> {
        if segments.is_empty() {
            return None;
        }
        let theirs = segments.clone();
        let (send, started) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sim-recovery".into())
            .spawn(move || {
                let views: Vec<Segment<'_>> = theirs
                    .iter()
                    .map(|(base, bytes)| Segment { base: *base, bytes })
                    .collect();
                let result = start(&views);
                // Let go of the segments first: the disk copies shared bytes it changes.
                drop(views);
                drop(theirs);
                // The restart may be waiting: the result goes first, the dead state after.
                // (If the restart has gone, nobody needs the result.)
                let _ = send.send(result);
                drop(dead);
            })
            .ok()?;
        Some(Ahead { segments, started })
    }

    /// The start on `segments`, if they are exactly the ones this one read. Waits for the
    /// start either way (not for the thread, which may still be dropping the dead state).
    pub(super) fn finish(self, segments: &[Segment<'_>]) -> Option<Result<Started, StartError>> {
        // Bytes start-up reads straight from the disk's shared copy are the same bytes if
        // they are the same memory; others are compared.
        let same = self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|((base, bytes), s)| {
                    *base == s.base
                        && (std::ptr::eq(bytes.as_slice(), s.bytes) || bytes[..] == *s.bytes)
                });
        // A recovery that panicked sends nothing, and runs again on the main thread, where it
        // panics for all to see.
        let result = self.started.recv().ok()?;
        same.then_some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::log::Record;
    use tern_core::{Config, NodeId};

    fn start() -> impl FnOnce(&[Segment<'_>]) -> Result<Started, StartError> + Send + 'static {
        |segments: &[Segment<'_>]| {
            Node::start(
                Config::new(vec![NodeId(1)]),
                NodeId(1),
                5,
                tern_core::Time::ZERO,
                segments,
            )
        }
    }

    fn log() -> Vec<u8> {
        let mut log = Record::Boot {
            incarnation: 1,
            log_id: 9,
        }
        .encode();
        Record::Object {
            key: b"k".to_vec(),
            object: tern_core::Object::new(),
        }
        .encode_into(&mut log);
        log
    }

    #[test]
    fn the_result_is_used_only_for_the_same_bytes() {
        let bytes = log();
        let same = [Segment {
            base: 0,
            bytes: &bytes,
        }];
        let ahead = Ahead::start(vec![(0, Arc::new(bytes.clone()))], None, start()).unwrap();
        let started = ahead.finish(&same).unwrap().unwrap();
        assert_eq!((started.records, started.keys), (2, 1));

        // One byte less (an eviction at start-up): recover again on the spot.
        let ahead = Ahead::start(vec![(0, Arc::new(bytes.clone()))], None, start()).unwrap();
        let shorter = [Segment {
            base: 0,
            bytes: &bytes[..bytes.len() - 1],
        }];
        assert!(ahead.finish(&shorter).is_none());
        // Another base: likewise.
        let ahead = Ahead::start(vec![(0, Arc::new(bytes.clone()))], None, start()).unwrap();
        let moved = [Segment {
            base: 7,
            bytes: &bytes,
        }];
        assert!(ahead.finish(&moved).is_none());
    }
}
