//! The virtual disk under a process killed inside a log batch (`Cut`), and the recovery
//! oracle's question (`Disk::missing_synced`).

use super::tests::{complete, object_record, opened};
use super::*;
use tern_storage::DiskCommand;

/// A kill between any two file operations of any batch of the node's log code, or inside
/// any of its appends (no byte, half, or all but one written): the restart recovers every
/// record reported durable before, and the log goes on: a record appended after it is
/// recovered at the next restart, with them. The batches: an append; an append, a
/// compaction (trim, new segment, snapshot) and an append to the new segment; the removal
/// of the old segment and an append.
#[test]
fn a_kill_anywhere_inside_a_batch_loses_no_durable_record() {
    let records: Vec<Vec<u8>> = (0..4).map(object_record).collect();
    let len = |r: &[Vec<u8>]| r.iter().map(Vec::len).sum::<usize>() as u64;
    let base = len(&records[..2]);
    let snapshot = records[..2].concat();
    let end_snap = base + snapshot.len() as u64;
    let persist = |bytes: &Vec<u8>, end: u64| DiskCommand::Persist {
        bytes: bytes.clone(),
        end,
    };
    let batches: Vec<(Vec<DiskCommand>, Vec<u32>)> = vec![
        (vec![persist(&records[0], len(&records[..1]))], vec![0]),
        (
            vec![
                persist(&records[1], base),
                DiskCommand::Compact {
                    base,
                    bytes: snapshot,
                    end: end_snap,
                },
                persist(&records[2], end_snap + records[2].len() as u64),
            ],
            vec![1, 2],
        ),
        (
            vec![
                DiskCommand::DropBefore { base },
                persist(&records[3], end_snap + len(&records[2..])),
            ],
            vec![3],
        ),
    ];
    let key = |k: u32| format!("k{k}").into_bytes();
    let mut kills = 0;
    for (b, (commands, _)) in batches.iter().enumerate() {
        for ops in 0.. {
            let mut completed = false;
            for prefix in [0, u64::MAX / 2, u64::MAX - 1] {
                let mut disk = Disk::new(16);
                let (_, mut writer) = opened(&mut disk);
                let mut durable = Vec::new();
                for (earlier, keys) in &batches[..b] {
                    writer.apply(&mut disk, &mut earlier.clone()).unwrap();
                    complete(&mut disk);
                    durable.extend(keys.iter().map(|k| key(*k)));
                }
                let mut cut = Cut::new(&mut disk, ops, prefix);
                let applied = writer.apply(&mut cut, &mut commands.clone());
                if cut.cut().is_none() {
                    applied.expect("a batch the kill missed completes");
                    completed = true;
                    break;
                }
                kills += 1;
                disk.kill();
                let at =
                    format!("a kill after {ops} file operations of batch {b} (prefix {prefix})");
                let (recovered, mut writer) = opened(&mut disk);
                for k in &durable {
                    assert!(recovered.objects.contains_key(k), "{at}: {k:?} lost");
                }
                let next = object_record(9);
                let end = recovered.log_end + next.len() as u64;
                let mut append = vec![persist(&next, end)];
                writer.apply(&mut disk, &mut append).unwrap();
                complete(&mut disk);
                let (again, _) = opened(&mut disk);
                for k in durable.iter().chain([&key(9)]) {
                    assert!(
                        again.objects.contains_key(k),
                        "{at}, a restart and an append: {k:?} lost"
                    );
                }
            }
            if completed {
                break;
            }
        }
    }
    assert!(
        kills > 30,
        "every operation of every batch was cut: {kills} kills"
    );
}

/// The recovery oracle's question (`missing_synced`): a value of a durable record that the
/// recovered node has not seen is named; a tombstone is not (collection may remove it), a
/// value pending and never synced is not, and nothing is once the log was set aside.
#[test]
fn the_recovery_oracle_names_a_synced_value_the_node_lost() {
    let dot = |seq| tern_core::Dot {
        actor: tern_core::ActorId {
            node: tern_core::NodeId(1),
            incarnation: 1,
        },
        seq,
    };
    let record = |key: &str, seq, value: Option<&[u8]>| {
        let sibling = tern_core::Sibling {
            dot: dot(seq),
            context: tern_core::VectorClock::default(),
            value: value.map(<[u8]>::to_vec),
            bulk: None,
        };
        let object = Object::from_siblings(vec![sibling]);
        Record::Object {
            key: key.as_bytes().to_vec(),
            object,
        }
        .encode()
    };
    let mut disk = Disk::new(16);
    let (_, mut writer) = opened(&mut disk);
    let synced = [record("a", 1, Some(b"x")), record("b", 2, None)].concat();
    let end = synced.len() as u64;
    let mut batch = vec![DiskCommand::Persist { bytes: synced, end }];
    writer.apply(&mut disk, &mut batch).unwrap();
    complete(&mut disk);
    let pending = record("c", 3, Some(b"y"));
    let end = end + pending.len() as u64;
    let mut batch = vec![DiskCommand::Persist {
        bytes: pending,
        end,
    }];
    writer.apply(&mut disk, &mut batch).unwrap();
    assert_eq!(
        disk.missing_synced(|_, _| false),
        Some((&b"a"[..], dot(1))),
        "the synced value is named; the tombstone and the pending value are not"
    );
    assert_eq!(
        disk.missing_synced(|key, d| key == b"a" && d == dot(1)),
        None
    );
    disk.lost_synced();
    assert_eq!(disk.missing_synced(|_, _| false), None);
}
