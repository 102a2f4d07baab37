//! The file work's order, checked on a directory that records every call: nothing read
//! before everything is synced, compaction order, group commit, removals, limits, and the
//! errors a driver shows.

use super::*;
use std::collections::BTreeMap;
use std::io;
use tern_core::log::Record;
use tern_core::{recover_segments, Recovered};

/// A directory in memory that logs each call as a short line.
#[derive(Debug, Default)]
struct Recording {
    files: BTreeMap<String, Vec<u8>>,
    calls: Vec<String>,
}

impl Dir for Recording {
    type File = String;

    fn create_dir(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn list(&mut self) -> io::Result<Vec<String>> {
        self.calls.push("list".into());
        Ok(self.files.keys().cloned().collect())
    }
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        self.calls.push(format!("rename {from} {to}"));
        let bytes = self.files.remove(from).ok_or(io::ErrorKind::NotFound)?;
        self.files.insert(to.to_string(), bytes);
        Ok(())
    }
    fn create(&mut self, name: &str) -> io::Result<String> {
        self.calls.push(format!("create {name}"));
        self.files.insert(name.to_string(), Vec::new());
        Ok(name.to_string())
    }
    fn open_append(&mut self, name: &str) -> io::Result<String> {
        self.calls.push(format!("open {name}"));
        match self.files.contains_key(name) {
            true => Ok(name.to_string()),
            false => Err(io::ErrorKind::NotFound.into()),
        }
    }
    fn append(&mut self, file: &mut String, bytes: &[u8]) -> io::Result<()> {
        self.calls.push(format!("append {file} {}", bytes.len()));
        self.files
            .get_mut(file.as_str())
            .unwrap()
            .extend_from_slice(bytes);
        Ok(())
    }
    fn sync(&mut self, file: &mut String) -> io::Result<()> {
        self.calls.push(format!("sync {file}"));
        Ok(())
    }
    fn sync_name(&mut self, name: &str) -> io::Result<()> {
        self.calls.push(format!("sync {name}"));
        Ok(())
    }
    fn sync_dir(&mut self) -> io::Result<()> {
        self.calls.push("sync dir".into());
        Ok(())
    }
    fn len(&mut self, name: &str) -> io::Result<u64> {
        Ok(self.files[name].len() as u64)
    }
    fn evict(&mut self, name: &str) -> io::Result<bool> {
        self.calls.push(format!("evict {name}"));
        Ok(true)
    }
    fn read(&mut self, name: &str, max: u64) -> io::Result<Vec<u8>> {
        self.calls.push(format!("read {name}"));
        let bytes = &self.files[name];
        Ok(bytes[..bytes.len().min(max as usize)].to_vec())
    }
    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        self.calls.push(format!("truncate {name} {len}"));
        self.files.get_mut(name).unwrap().truncate(len as usize);
        Ok(())
    }
    fn remove(&mut self, name: &str) -> io::Result<()> {
        self.calls.push(format!("remove {name}"));
        self.files.remove(name);
        Ok(())
    }
}

fn recover(dir: &mut Recording) -> Result<Opened<Recovered, String>, StorageError> {
    let start = |segments: &[tern_core::Segment<'_>]| {
        recover_segments(segments).map_err(tern_core::StartError::Recovery)
    };
    open_log(dir, start, |r: &Recovered| {
        (r.torn.clone(), r.segment_base, Segments::Keep)
    })
}

fn boot(incarnation: u64) -> Vec<u8> {
    Record::Boot {
        incarnation,
        log_id: 1,
    }
    .encode()
}

fn seg(base: u64) -> String {
    segment_file_name(base)
}

#[test]
fn names_round_trip_and_strangers_are_ignored() {
    assert_eq!(parse_segment_name(&segment_file_name(1234)), Some(1234));
    assert_eq!(parse_segment_name("log-12.tern"), None);
    assert_eq!(parse_segment_name("log-0000000000000000001x.tern"), None);
    assert_eq!(parse_segment_name("LOCK"), None);
}

/// Core found synced bytes damaged: every segment is renamed out of the log (a second time
/// takes the next set number), and an empty first segment is created and made durable,
/// name included, before the writer opens it.
#[test]
fn a_damaged_log_is_set_aside_under_names_recovery_never_reads() {
    let mut dir = Recording::default();
    dir.files.insert(seg(0), boot(1));
    dir.files.insert(seg(40), boot(2));
    let kept = dir.files.clone();
    let start = |segments: &[tern_core::Segment<'_>]| {
        recover_segments(segments).map_err(tern_core::StartError::Recovery)
    };
    let set_aside = |r: &Recovered| (r.torn.clone(), r.segment_base, Segments::SetAside);
    let opened = open_log(&mut dir, start, set_aside).unwrap();
    assert_eq!(opened.stats.segments_set_aside, 2);
    let first = |name: &str| set_aside_file_name(1, name);
    assert_eq!(dir.files[&first(&seg(0))], kept[&seg(0)]);
    assert_eq!(dir.files[&first(&seg(40))], kept[&seg(40)]);
    assert_eq!(dir.files[&seg(0)], Vec::<u8>::new());
    assert!(!dir.files.contains_key(&seg(40)));
    let tail: Vec<&str> = dir.calls.iter().rev().take(4).map(String::as_str).collect();
    let s0 = seg(0);
    let expected = [
        format!("open {s0}"),
        "sync dir".to_string(),
        format!("sync {s0}"),
        format!("create {s0}"),
    ];
    assert_eq!(
        tail,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(parse_set_aside_name(&first(&seg(0))), Some(1));
    assert_eq!(
        parse_set_aside_name(&set_aside_file_name(12345, &seg(0))),
        Some(12345)
    );
    assert_eq!(parse_segment_name(&first(&seg(0))), None);
    // Damaged again: the next set.
    let start = |segments: &[tern_core::Segment<'_>]| {
        recover_segments(segments).map_err(tern_core::StartError::Recovery)
    };
    open_log(&mut dir, start, set_aside).unwrap();
    assert!(dir.files.contains_key(&set_aside_file_name(2, &seg(0))));
}

#[test]
fn a_new_log_gets_a_first_segment_whose_name_is_durable() {
    let mut dir = Recording::default();
    let opened = recover(&mut dir).unwrap();
    assert_eq!(opened.started.log_end, 0);
    let s0 = seg(0);
    assert_eq!(
        dir.calls[..4],
        [
            "list".to_string(),
            format!("create {s0}"),
            format!("sync {s0}"),
            "sync dir".into()
        ]
    );
}

#[test]
fn nothing_is_read_before_every_segment_and_the_directory_are_synced() {
    let mut dir = Recording::default();
    let first = boot(1);
    let base = first.len() as u64;
    let mut second = boot(2);
    let valid = second.len() as u64;
    second.extend_from_slice(&boot(3)[..9]); // a torn tail
    dir.files.insert(seg(0), first);
    dir.files.insert(seg(base), second);
    dir.files.insert("LOCK".into(), b"1".to_vec());

    let opened = recover(&mut dir).unwrap();
    let (s0, s1) = (seg(0), seg(base));
    let expected = [
        "list".to_string(),
        format!("sync {s0}"),
        format!("sync {s1}"),
        "sync dir".into(),
        format!("evict {s0}"),
        format!("read {s0}"),
        format!("evict {s1}"),
        format!("read {s1}"),
        format!("truncate {s1} {valid}"),
        format!("open {s1}"),
    ];
    assert_eq!(dir.calls, expected);
    let stats = opened.stats;
    assert_eq!((stats.segments_synced, stats.segments_evicted), (2, 2));
    assert!(stats.dir_synced);
    assert_eq!(stats.torn_tails_truncated, 1);
    assert_eq!(opened.started.incarnation, Some(2));
    assert_eq!(opened.writer.current(), s1);
}

#[test]
fn a_batch_is_one_sync_and_compaction_syncs_the_old_segment_first_and_the_name_before_reporting() {
    let mut dir = Recording::default();
    let mut writer = recover(&mut dir).unwrap().writer;
    dir.calls.clear();
    let (a, b, c) = (boot(1), boot(2), boot(3));
    let base = a.len() as u64;
    let end_b = base + b.len() as u64;
    let end_c = end_b + c.len() as u64;
    let mut batch = vec![
        DiskCommand::Persist {
            bytes: a.clone(),
            end: base,
        },
        DiskCommand::Compact {
            base,
            bytes: b.clone(),
            end: end_b,
        },
        DiskCommand::Persist {
            bytes: c.clone(),
            end: end_c,
        },
    ];
    assert_eq!(writer.apply(&mut dir, &mut batch).unwrap(), Some(end_c));
    assert!(batch.is_empty());
    let (s0, s1) = (seg(0), seg(base));
    let expected = [
        format!("append {s0} {}", a.len()),
        format!("sync {s0}"),
        format!("create {s1}"),
        format!("append {s1} {}", b.len()),
        format!("append {s1} {}", c.len()),
        format!("sync {s1}"),
        "sync dir".into(),
    ];
    assert_eq!(dir.calls, expected);

    // Removal comes only when core asks, and its directory entry is synced.
    dir.calls.clear();
    let mut batch = vec![DiskCommand::DropBefore { base }];
    assert_eq!(writer.apply(&mut dir, &mut batch).unwrap(), None);
    assert_eq!(dir.calls, [format!("remove {s0}"), "sync dir".into()]);
    let stats = writer.stats();
    assert_eq!((stats.batches, stats.commands, stats.syncs), (2, 4, 2));

    let reopened = recover(&mut Recording {
        files: dir.files,
        calls: Vec::new(),
    })
    .unwrap();
    assert_eq!(reopened.started.segment_base, base);
    assert_eq!(reopened.started.log_end, end_c);
}

#[test]
fn too_many_segments_are_refused_before_anything_is_read() {
    let mut dir = Recording::default();
    for base in 0..=SEGMENTS_MAX as u64 {
        dir.files.insert(seg(base), Vec::new());
    }
    match recover(&mut dir) {
        Err(StorageError::TooLarge { what, .. }) => {
            assert_eq!(what, Oversized::Segments { max: SEGMENTS_MAX });
        }
        other => panic!("expected too many segments, got {other:?}"),
    }
    assert_eq!(dir.calls, ["list"]);
}

/// Core found the log stale at run time (`Output::SetAsideLog`): the pending appends of the
/// old log are written and synced, every segment is renamed `stale-NNNN-` (the next set
/// number after a damaged set), a new segment at offset 0 takes the appends that follow, and
/// its name is made durable before anything is reported; only the new log's end is reported.
#[test]
fn a_stale_log_is_set_aside_at_run_time_and_a_new_one_begins_at_zero() {
    let mut dir = Recording::default();
    dir.files.insert(seg(0), boot(1));
    dir.files.insert(seg(40), boot(2));
    dir.files.insert(set_aside_file_name(1, &seg(0)), boot(9));
    let kept = dir.files.clone();
    let mut opened = recover(&mut dir).unwrap();
    let mut batch = vec![
        DiskCommand::Persist {
            bytes: b"old".to_vec(),
            end: 43 + 3,
        },
        DiskCommand::SetAside,
        DiskCommand::Persist {
            bytes: boot(3),
            end: boot(3).len() as u64,
        },
    ];
    let upto = opened.writer.apply(&mut dir, &mut batch).unwrap();
    assert_eq!(upto, Some(boot(3).len() as u64), "only the new log's end");
    let stale = |name: &str| stale_file_name(2, name);
    assert_eq!(dir.files[&stale(&seg(0))], kept[&seg(0)]);
    let mut old_tail = kept[&seg(40)].clone();
    old_tail.extend_from_slice(b"old");
    assert_eq!(
        dir.files[&stale(&seg(40))],
        old_tail,
        "pending bytes went first"
    );
    assert_eq!(dir.files[&seg(0)], boot(3));
    assert!(!dir.files.contains_key(&seg(40)));
    assert_eq!(opened.writer.current(), seg(0));
    assert_eq!(parse_segment_name(&stale(&seg(0))), None);
    assert_eq!(parse_set_aside_name(&stale(&seg(0))), Some(2));
    let tail: Vec<&str> = dir.calls.iter().rev().take(2).map(String::as_str).collect();
    assert_eq!(tail, ["sync dir", &format!("sync {}", seg(0))]);
}
