//! The virtual disk: durable and pending bytes and names, crashes, failed syncs, and the
//! node's own log code (`tern_storage`) walked over it.

use super::*;
use tern_core::{recover_segments, Recovered, Segment, StartError};
use tern_storage::{open_log, Dir, DiskCommand, LogWriter};

pub(super) fn complete(disk: &mut Disk) {
    let target = disk.take_syncs();
    disk.complete_sync(&target);
}

pub(super) fn opened(disk: &mut Disk) -> (Recovered, LogWriter<String>) {
    let start = |s: &[Segment<'_>]| recover_segments(s).map_err(StartError::Recovery);
    let opened = open_log(disk, start, |r: &Recovered| {
        (r.torn.clone(), r.segment_base, tern_storage::Segments::Keep)
    })
    .expect("the log opens");
    complete(disk);
    (opened.started, opened.writer)
}

/// The first file's bytes as a read sees them, less the zeros grown ahead of its appends
/// (`a_segment_grows_ahead_in_zeros_as_the_nodes_do` looks at those).
fn contents(disk: &mut Disk) -> Vec<u8> {
    let name = disk.list().unwrap()[0].clone();
    let mut bytes = disk.read(&name, u64::MAX).unwrap();
    bytes.truncate(disk.files[&name].data.len());
    bytes
}

#[test]
fn synced_bytes_survive_a_crash_and_pending_ones_may_not() {
    let mut disk = Disk::new(16);
    let mut f = disk.create("f").unwrap();
    disk.sync_dir().unwrap();
    disk.append(&mut f, &[1; 40]).unwrap();
    disk.sync(&mut f).unwrap();
    let target = disk.take_syncs();
    disk.append(&mut f, &[2; 100]).unwrap();
    disk.complete_sync(&target);
    let mut rng = SimRng::new(3);
    let damage = disk.power_loss(&mut rng, [0, 1, 0]);
    assert_eq!(damage.dropped, 7); // 40..48, then six whole sectors up to 140
    assert_eq!(contents(&mut disk), [1; 40]);
}

#[test]
fn torn_sectors_keep_a_prefix() {
    let mut disk = Disk::new(16);
    let mut f = disk.create("f").unwrap();
    disk.sync_dir().unwrap();
    complete(&mut disk);
    disk.append(&mut f, &[7; 32]).unwrap();
    let mut rng = SimRng::new(5);
    disk.power_loss(&mut rng, [0, 0, 1]);
    let bytes = contents(&mut disk);
    assert_eq!(bytes.len(), 32);
    assert!(bytes.iter().any(|b| *b != 7), "each sector lost some bytes");
}

#[test]
fn names_are_durable_only_once_the_directory_is_synced() {
    let mut disk = Disk::new(16);
    let mut a = disk.create("a").unwrap();
    disk.append(&mut a, b"old").unwrap();
    disk.sync(&mut a).unwrap();
    disk.sync_dir().unwrap();
    complete(&mut disk);
    // A new file, synced but its name not: gone after a power loss.
    let mut b = disk.create("b").unwrap();
    disk.append(&mut b, b"new").unwrap();
    disk.sync(&mut b).unwrap();
    complete(&mut disk);
    // A removal not yet made durable: undone by a power loss.
    disk.remove("a").unwrap();
    assert_eq!(disk.list().unwrap(), ["b"]);
    let damage = disk.power_loss(&mut SimRng::new(1), [1, 0, 0]);
    assert_eq!((damage.files_lost, damage.files_back), (1, 1));
    assert_eq!(disk.list().unwrap(), ["a"]);
    assert_eq!(contents(&mut disk), b"old");
}

#[test]
fn a_kill_keeps_pending_bytes_readable_but_unsynced() {
    let mut disk = Disk::new(16);
    let mut f = disk.create("f").unwrap();
    disk.sync_dir().unwrap();
    complete(&mut disk);
    disk.append(&mut f, &[1; 40]).unwrap();
    disk.kill();
    assert_eq!(contents(&mut disk).len(), 40);
    disk.power_loss(&mut SimRng::new(3), [0, 1, 0]);
    assert!(
        contents(&mut disk).is_empty(),
        "the kill made nothing durable"
    );
}

#[test]
fn a_restored_backup_holds_what_was_durable_when_it_was_taken() {
    let mut disk = Disk::new(16);
    let mut a = disk.create("a").unwrap();
    disk.append(&mut a, b"old").unwrap();
    disk.sync(&mut a).unwrap();
    disk.sync_dir().unwrap();
    complete(&mut disk);
    disk.append(&mut a, b" pending").unwrap();
    // A file whose name is not durable yet: not in a snapshot.
    let mut b = disk.create("b").unwrap();
    disk.append(&mut b, b"new").unwrap();
    let backup = disk.backup();
    disk.sync(&mut a).unwrap();
    disk.sync(&mut b).unwrap();
    disk.sync_dir().unwrap();
    complete(&mut disk);
    assert_eq!(disk.list().unwrap(), ["a", "b"]);
    disk.restore(&backup);
    assert_eq!(disk.list().unwrap(), ["a"]);
    assert_eq!(contents(&mut disk), b"old");
    // All of it durable: a power loss changes nothing.
    disk.power_loss(&mut SimRng::new(2), [0, 1, 0]);
    assert_eq!(contents(&mut disk), b"old");
}

#[test]
fn a_failed_sync_never_reaches_the_disk() {
    let mut disk = Disk::new(16);
    let mut f = disk.create("f").unwrap();
    disk.sync_dir().unwrap();
    disk.append(&mut f, &[1; 20]).unwrap();
    disk.sync(&mut f).unwrap();
    complete(&mut disk);
    disk.append(&mut f, &[2; 20]).unwrap();
    disk.sync(&mut f).unwrap();
    let target = disk.take_syncs();
    disk.fail_sync(&target);
    // Still readable, and a later sync does not make it durable.
    assert_eq!(contents(&mut disk).len(), 40);
    disk.sync(&mut f).unwrap();
    complete(&mut disk);
    assert!(disk.evict("f").unwrap());
    assert_eq!(disk.take_evicted_bytes(), 20);
    assert_eq!(contents(&mut disk), [1; 20]);
}

pub(super) fn object_record(k: u32) -> Vec<u8> {
    let key = format!("k{k}").into_bytes();
    let object = Object::new();
    Record::Object { key, object }.encode()
}

/// Four batches of the node's log code: two appends; a compaction (a new segment holding a
/// snapshot of both) and an append; the removal of the old segment; an append. With each,
/// the keys of the records that are durable once it is.
fn batches() -> Vec<(Vec<DiskCommand>, Vec<u32>)> {
    let (r0, r1, r2, r3) = (
        object_record(0),
        object_record(1),
        object_record(2),
        object_record(3),
    );
    let end1 = (r0.len() + r1.len()) as u64;
    let snapshot = [r0.clone(), r1.clone()].concat();
    let end_snap = end1 + snapshot.len() as u64;
    let end2 = end_snap + r2.len() as u64;
    let end3 = end2 + r3.len() as u64;
    vec![
        (
            vec![
                DiskCommand::Persist {
                    bytes: r0.clone(),
                    end: r0.len() as u64,
                },
                DiskCommand::Persist {
                    bytes: r1,
                    end: end1,
                },
            ],
            vec![0, 1],
        ),
        (
            vec![
                DiskCommand::Compact {
                    base: end1,
                    bytes: snapshot,
                    end: end_snap,
                },
                DiskCommand::Persist {
                    bytes: r2,
                    end: end2,
                },
            ],
            vec![2],
        ),
        (vec![DiskCommand::DropBefore { base: end1 }], vec![]),
        (
            vec![DiskCommand::Persist {
                bytes: r3,
                end: end3,
            }],
            vec![3],
        ),
    ]
}

/// The node's log code (`tern_storage`) on this disk, walked through every batch: a
/// power loss that drops every pending sector and name, after any number of completed
/// batches and with the next one written but not synced, keeps every record that was
/// reported durable. Compaction's directory sync is what keeps the new segment.
#[test]
fn every_record_reported_durable_survives_a_power_loss_after_any_batch() {
    let batches = batches();
    for completed in 0..=batches.len() {
        let mut disk = Disk::new(16);
        let (_, mut writer) = opened(&mut disk);
        let mut durable = Vec::new();
        for (i, (commands, keys)) in batches.iter().enumerate().take(completed + 1) {
            let mut batch = commands.clone();
            writer.apply(&mut disk, &mut batch).unwrap();
            let target = disk.take_syncs();
            if i < completed {
                disk.complete_sync(&target);
                durable.extend(keys.iter().map(|k| format!("k{k}").into_bytes()));
            }
        }
        disk.power_loss(&mut SimRng::new(7), [0, 1, 0]);
        let (recovered, _) = opened(&mut disk);
        for key in &durable {
            assert!(
                recovered.objects.contains_key(key),
                "after {completed} completed batches and a power loss, {} is lost",
                String::from_utf8_lossy(key)
            );
        }
    }
}

#[test]
fn bytes_handed_out_never_change() {
    let mut disk = Disk::new(16);
    let name = tern_storage::segment_file_name(0);
    let mut f = disk.create(&name).unwrap();
    disk.sync_dir().unwrap();
    disk.append(&mut f, &[1; 40]).unwrap();
    disk.sync(&mut f).unwrap();
    complete(&mut disk);
    disk.append(&mut f, &[2; 40]).unwrap();
    let images = disk.segment_images();
    let read = disk.read_shared(&name, u64::MAX).unwrap();
    assert_eq!(images[0].1[..80], read[..80]);
    assert!(
        images[0].1[80..].iter().all(|b| *b == 0),
        "then zeros grown ahead"
    );
    // Appends, a power loss and a cut change the disk, never the copies handed out.
    disk.append(&mut f, &[3; 10]).unwrap();
    let mut rng = SimRng::new(5);
    disk.power_loss(&mut rng, [0, 0, 1]);
    disk.truncate(&name, 20).unwrap();
    let expected: Vec<u8> = [[1; 40], [2; 40]].concat();
    assert_eq!(&images[0].1[..80], expected.as_slice());
    assert_eq!(&read[..80], expected.as_slice());
    assert_eq!(contents(&mut disk), vec![1; 20]);
}

/// The disk's files grow as the node's segment files do: zeros ahead of the appends, read
/// back after them; synced zeros survive a power loss (after whatever of the data does); a
/// trim or a cut gives them back.
#[test]
fn a_segment_grows_ahead_in_zeros_as_the_nodes_do() {
    let mut disk = Disk::new(16);
    let name = tern_storage::segment_file_name(0);
    let mut f = disk.create(&name).unwrap();
    disk.sync_dir().unwrap();
    complete(&mut disk);
    disk.append(&mut f, &[1; 40]).unwrap();
    let grown = tern_storage::grown_length(0, 40);
    assert_eq!(disk.len(&name).unwrap(), grown);
    let read = disk.read(&name, u64::MAX).unwrap();
    assert_eq!(read.len() as u64, grown);
    assert!(read[..40].iter().all(|b| *b == 1) && read[40..].iter().all(|b| *b == 0));
    // Not synced: a power loss takes the growth with the data.
    disk.power_loss(&mut SimRng::new(3), [0, 1, 0]);
    assert_eq!(disk.len(&name).unwrap(), 0);
    // Synced: the zeros survive, after the data that does.
    disk.append(&mut f, &[2; 40]).unwrap();
    disk.sync(&mut f).unwrap();
    complete(&mut disk);
    disk.append(&mut f, &[3; 40]).unwrap();
    disk.power_loss(&mut SimRng::new(3), [0, 1, 0]);
    assert_eq!(disk.len(&name).unwrap(), grown);
    assert_eq!(contents(&mut disk), [2; 40]);
    // A trim gives the zeros back; so does a cut.
    disk.trim(&mut f).unwrap();
    assert_eq!(disk.len(&name).unwrap(), 40);
    disk.append(&mut f, &[4; 8]).unwrap();
    assert!(disk.len(&name).unwrap() > 48);
    disk.truncate(&name, 44).unwrap();
    assert_eq!(disk.len(&name).unwrap(), 44);
}

/// The node's log code over the virtual disk: a killed node's segment ends in zeros grown
/// ahead, which start-up cuts as a tail of zeros, keeping every record.
#[test]
fn start_up_cuts_a_tail_of_zeros_and_keeps_every_record() {
    let mut disk = Disk::new(16);
    let (_, mut writer) = opened(&mut disk);
    let boot = Record::Boot {
        incarnation: 1,
        log_id: 9,
    }
    .encode();
    let end = boot.len() as u64;
    let mut batch = vec![DiskCommand::Persist { bytes: boot, end }];
    writer.apply(&mut disk, &mut batch).unwrap();
    complete(&mut disk);
    disk.kill();
    let name = tern_storage::segment_file_name(0);
    assert!(disk.len(&name).unwrap() > end);
    let start = |s: &[Segment<'_>]| recover_segments(s).map_err(StartError::Recovery);
    let opened = open_log(&mut disk, start, |r: &Recovered| {
        (r.torn.clone(), r.segment_base, tern_storage::Segments::Keep)
    })
    .expect("the log opens");
    assert_eq!(opened.started.log_end, end);
    assert_eq!(opened.started.incarnation, Some(1));
    assert_eq!(opened.stats.zero_tails_truncated, 1);
    assert_eq!(disk.len(&name).unwrap(), end);
}

/// A cut may end the log inside the zeros grown ahead: a record whose last bytes are zeros
/// reads whole once a power loss dropped its last sector. The node appends at the cut, so
/// the zeros before it stay the record's (found by chaos seed 31 once syncs came in steps).
#[test]
fn a_cut_inside_the_zeros_grown_ahead_keeps_them_before_the_next_append() {
    let mut disk = Disk::new(16);
    let mut f = disk.create("f").unwrap();
    disk.append(&mut f, &[1; 10]).unwrap();
    assert!(disk.len("f").unwrap() > 12);
    disk.truncate("f", 12).unwrap();
    assert_eq!(disk.len("f").unwrap(), 12);
    disk.append(&mut f, &[2; 4]).unwrap();
    let bytes = disk.read("f", 16).unwrap();
    assert_eq!(bytes[..10], [1; 10]);
    assert_eq!(bytes[10..], [0, 0, 2, 2, 2, 2]);
}

/// A batch's syncs complete one after the other, as the log code waits for each: a power
/// loss after the first finds it durable and the next not (here a new mark synced, and the
/// removal of an older segment not yet: the older segment is back).
#[test]
fn a_power_loss_between_two_syncs_of_a_batch_keeps_the_first_only() {
    let mut disk = Disk::new(16);
    let mut old = disk.create("old").unwrap();
    let mut cur = disk.create("cur").unwrap();
    disk.append(&mut old, &[1; 16]).unwrap();
    disk.sync(&mut old).unwrap();
    disk.sync_dir().unwrap();
    complete(&mut disk);
    disk.append(&mut cur, &[2; 16]).unwrap();
    disk.sync(&mut cur).unwrap();
    disk.remove("old").unwrap();
    disk.sync_dir().unwrap();
    let (first, rest) = disk.take_syncs().split_first();
    assert!(
        !rest.is_empty(),
        "the directory's sync comes after the file's"
    );
    disk.complete_sync(&first);
    disk.power_loss(&mut SimRng::new(1), [0, 1, 0]);
    assert_eq!(disk.read("cur", 64).unwrap()[..16], [2; 16]);
    assert_eq!(
        disk.read("old", 64).unwrap()[..16],
        [1; 16],
        "the removal was not durable"
    );
}
