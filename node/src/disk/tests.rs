//! Tests of the log files: locking, segment naming, recovery reads (synced and evicted
//! first), torn tails, corruption reports, group commit and compaction order.

use super::*;
use std::collections::BTreeSet;
use tern_core::log::Record;
use tern_storage::Dir;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-disk-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn write_via_thread(writer: LogWriter, commands: Vec<DiskCommand>) -> Vec<u64> {
    let (tx, rx) = std_mpsc::channel();
    let (etx, mut erx) = mpsc::unbounded_channel();
    let handle = writer.spawn(rx, etx).unwrap();
    for c in commands {
        tx.send(c).unwrap();
    }
    drop(tx);
    handle.join().unwrap();
    let mut ups = Vec::new();
    while let Ok(DiskEvent::Persisted { upto }) = erx.try_recv() {
        ups.push(upto);
    }
    ups
}

#[test]
fn a_directory_in_use_is_refused_and_a_stale_lock_is_taken_over() {
    let dir = temp_dir("lock");
    let (_, writer) = open(&dir).unwrap();
    match open(&dir) {
        Err(DiskError::Locked { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected the directory to be locked, got {other:?}"),
    }
    drop(writer);
    assert!(!dir.join(LOCK_FILE).exists());
    // A lock whose process is gone (pid 0 never runs a node) is taken over.
    fs::write(dir.join(LOCK_FILE), "0").unwrap();
    let (_, writer) = open(&dir).unwrap();
    drop(writer);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn appends_survive_reopen_and_a_torn_tail_is_truncated() {
    let dir = temp_dir("torn");
    let (rec, writer) = open(&dir).unwrap();
    assert_eq!(rec.log_end, 0);
    let a = Record::Boot {
        incarnation: 1,
        log_id: 1,
    }
    .encode();
    let b = Record::Boot {
        incarnation: 2,
        log_id: 1,
    }
    .encode();
    let end_a = a.len() as u64;
    let end_b = end_a + b.len() as u64;
    let ups = write_via_thread(
        writer,
        vec![
            DiskCommand::Persist {
                bytes: a,
                end: end_a,
            },
            DiskCommand::Persist {
                bytes: b,
                end: end_b,
            },
        ],
    );
    assert_eq!(ups.last(), Some(&end_b));
    // Tear the tail: half a record of garbage after the valid ones.
    let path = dir.join(segment_file_name(0));
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(
        &Record::Boot {
            incarnation: 3,
            log_id: 1,
        }
        .encode()[..7],
    )
    .unwrap();
    drop(f);
    let (rec, _writer) = open(&dir).unwrap();
    assert_eq!(rec.incarnation, Some(2));
    assert_eq!(rec.log_end, end_b);
    assert_eq!(fs::metadata(&path).unwrap().len(), end_b);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsynced_segments_are_synced_and_read_from_the_device_before_recovery() {
    let dir = temp_dir("unsynced");
    fs::create_dir_all(&dir).unwrap();
    // Two segments, as a compaction leaves them before the old one is dropped, written
    // without any sync, the newer one with a torn tail.
    let first = Record::Boot {
        incarnation: 1,
        log_id: 1,
    }
    .encode();
    let base = first.len() as u64;
    let mut second = Record::Boot {
        incarnation: 2,
        log_id: 1,
    }
    .encode();
    let valid = second.len() as u64;
    second.extend_from_slice(
        &Record::Boot {
            incarnation: 3,
            log_id: 1,
        }
        .encode()[..9],
    );
    fs::write(dir.join(segment_file_name(0)), &first).unwrap();
    let newest = dir.join(segment_file_name(base));
    fs::write(&newest, &second).unwrap();

    let (rec, writer) = open(&dir).unwrap();
    let at_open = writer.stats().at_open;
    assert_eq!(at_open.segments_synced, 2);
    assert!(at_open.dir_synced);
    if cfg!(target_os = "linux") {
        assert_eq!(at_open.segments_evicted, 2);
    }
    assert_eq!(at_open.torn_tails_truncated, 1);
    assert_eq!(rec.incarnation, Some(2));
    assert_eq!(rec.segment_base, base);
    assert_eq!(rec.log_end, base + valid);
    assert_eq!(fs::read(&newest).unwrap().len() as u64, valid);
    drop(writer);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compaction_starts_a_segment_and_drops_the_old_ones() {
    let dir = temp_dir("compact");
    let (_, writer) = open(&dir).unwrap();
    let a = Record::Boot {
        incarnation: 1,
        log_id: 1,
    }
    .encode();
    let end_a = a.len() as u64;
    let snapshot = Record::Boot {
        incarnation: 1,
        log_id: 1,
    }
    .encode();
    let end_s = end_a + snapshot.len() as u64;
    write_via_thread(
        writer,
        vec![
            DiskCommand::Persist {
                bytes: a,
                end: end_a,
            },
            DiskCommand::Compact {
                base: end_a,
                bytes: snapshot,
                end: end_s,
            },
            DiskCommand::DropBefore { base: end_a },
        ],
    );
    let mut names: Vec<u64> = RealDir::new(&dir)
        .list()
        .unwrap()
        .iter()
        .filter_map(|n| tern_storage::parse_segment_name(n))
        .collect();
    names.sort_unstable();
    assert_eq!(names, vec![end_a]);
    let (rec, _) = open(&dir).unwrap();
    assert_eq!(rec.segment_base, end_a);
    assert_eq!(rec.log_end, end_s);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corruption_names_the_file_and_position() {
    let dir = temp_dir("corrupt");
    fs::create_dir_all(&dir).unwrap();
    let mut log = Record::Boot {
        incarnation: 1,
        log_id: 1,
    }
    .encode();
    let second = log.len();
    Record::Boot {
        incarnation: 2,
        log_id: 1,
    }
    .encode_into(&mut log);
    // A later batch vouches that everything before it had been synced.
    Record::Durable {
        upto: log.len() as u64,
        log_id: 1,
    }
    .encode_into(&mut log);
    log[second + 13] ^= 0xff;
    let path = dir.join(segment_file_name(0));
    fs::write(&path, &log).unwrap();
    let err = open(&dir).unwrap_err();
    match &err {
        DiskError::Corrupt {
            path: p, position, ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*position, second as u64);
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert!(err.to_string().contains(&segment_file_name(0)));
    fs::remove_dir_all(&dir).unwrap();
}

/// The newest segment grows in zero-filled steps ahead of its appends (so that a sync after
/// an append does not change the file's length); a killed node leaves those zeros, which
/// start-up cuts as a tail of zeros, not a torn one, keeping every record; a clean stop
/// leaves none.
#[test]
fn a_segment_grows_in_zeros_ahead_of_its_appends_and_start_up_cuts_them() {
    let dir = temp_dir("grow");
    let (_, mut writer) = open(&dir).unwrap();
    let path = dir.join(segment_file_name(0));
    let len = || fs::metadata(&path).unwrap().len();
    let (mut end, mut records) = (0u64, 0u64);
    let mut lengths = BTreeSet::new();
    while end < 3 * SEGMENT_GROWTH_MIN {
        records += 1;
        let bytes = Record::Boot {
            incarnation: records,
            log_id: 1,
        }
        .encode();
        end += bytes.len() as u64;
        let mut batch = vec![DiskCommand::Persist { bytes, end }];
        assert_eq!(
            writer.writer.apply(&mut writer.dir, &mut batch).unwrap(),
            Some(end)
        );
        assert!(len() > end, "grown ahead: {} bytes for {end}", len());
        lengths.insert(len());
    }
    // It grew in a few steps, not at every append.
    assert!(lengths.len() <= 4, "lengths {lengths:?}");
    let ahead = len() - end;
    // Killed: no final sync, no trim.
    drop(writer);
    let (rec, writer) = open(&dir).unwrap();
    let at_open = writer.stats().at_open;
    assert_eq!(rec.log_end, end);
    assert_eq!(rec.incarnation, Some(records));
    assert_eq!(at_open.torn_tails_truncated, 1);
    assert_eq!(at_open.zero_tails_truncated, 1);
    assert_eq!(at_open.bytes_truncated, ahead);
    assert_eq!(len(), end);
    // A clean stop gives the zeros back.
    let bytes = Record::Boot {
        incarnation: records + 1,
        log_id: 1,
    }
    .encode();
    let last = end + bytes.len() as u64;
    let ups = write_via_thread(writer, vec![DiskCommand::Persist { bytes, end: last }]);
    assert_eq!(ups, vec![last]);
    assert_eq!(len(), last);
    let (rec, writer) = open(&dir).unwrap();
    assert_eq!(writer.stats().at_open.torn_tails_truncated, 0);
    assert_eq!(rec.incarnation, Some(records + 1));
    drop(writer);
    fs::remove_dir_all(&dir).unwrap();
}

/// A compaction leaves the old segment behind until core drops it; a node killed before that
/// must not leave the old segment's zeros (grown ahead) inside the log, where a mark in the
/// new segment that vouches past them would make them look like damaged synced bytes.
#[test]
fn a_killed_compaction_leaves_no_zeros_between_segments() {
    let dir = temp_dir("compact-kill");
    let (_, mut writer) = open(&dir).unwrap();
    let boot = Record::Boot {
        incarnation: 1,
        log_id: 7,
    }
    .encode();
    let end_a = boot.len() as u64;
    let mut snapshot = Record::Durable {
        upto: end_a,
        log_id: 7,
    }
    .encode();
    Record::Boot {
        incarnation: 1,
        log_id: 7,
    }
    .encode_into(&mut snapshot);
    let end_s = end_a + snapshot.len() as u64;
    // A later batch in the new segment vouches for everything before it.
    let mark = Record::Durable {
        upto: end_s,
        log_id: 7,
    }
    .encode();
    let end_m = end_s + mark.len() as u64;
    let mut batch = vec![
        DiskCommand::Persist {
            bytes: boot,
            end: end_a,
        },
        DiskCommand::Compact {
            base: end_a,
            bytes: snapshot,
            end: end_s,
        },
    ];
    writer.writer.apply(&mut writer.dir, &mut batch).unwrap();
    let mut batch = vec![DiskCommand::Persist {
        bytes: mark,
        end: end_m,
    }];
    writer.writer.apply(&mut writer.dir, &mut batch).unwrap();
    assert_eq!(
        fs::metadata(dir.join(segment_file_name(0))).unwrap().len(),
        end_a,
        "the old segment ends where its log bytes do"
    );
    // Killed before core dropped the old segment: both are read back.
    drop(writer);
    let (rec, writer) = open(&dir).unwrap();
    assert_eq!(rec.segment_base, end_a);
    assert_eq!(rec.log_end, end_m);
    assert_eq!(writer.stats().at_open.zero_tails_truncated, 1);
    drop(writer);
    fs::remove_dir_all(&dir).unwrap();
}
