//! Start-up against damaged logs: a torn tail is truncated and the node starts with every
//! synced write; corruption of synced bytes sets the log aside and the node rebuilds from its
//! replicas; an unreadable record makes it refuse to start, naming the file and the byte,
//! both through the library and the `tern-node` binary; bytes that were never synced are
//! synced, with the directory, before recovery reads them from the device.

mod common;

use common::TempDir;
use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;
use tern_core::Record;
use tern_node::disk::segment_file_name;
use tern_node::{Client, NodeOptions, StartError};
use tokio::net::TcpListener;

async fn single_node_with_keys(dir: &TempDir, keys: usize) -> NodeOptions {
    let (node, options, client) = common::single_node(dir, None).await;
    for k in 0..keys {
        client
            .put(format!("k{k}").as_bytes(), b"value")
            .await
            .unwrap();
    }
    node.shutdown().await;
    options
}

#[tokio::test]
async fn a_torn_tail_is_truncated_and_synced_writes_survive() {
    let dir = TempDir::new("torn");
    let options = single_node_with_keys(&dir, 30).await;
    let path = options.data_dir.join(segment_file_name(0));
    let synced_len = std::fs::metadata(&path).unwrap().len();
    // Half a record that never made it: the header of a record, then nothing.
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"TERN\x40\x00\x00\x00\x01\x02").unwrap();
    drop(file);
    let node = tern_node::start(options.clone()).await.unwrap();
    assert_eq!(node.recovered_keys(), 30);
    node.shutdown().await;
    // The torn bytes are gone; the node appended its new Boot and LogStarted records (and
    // a Durable mark) after the valid end.
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(
        len > synced_len && len < synced_len + 128,
        "log is {len} bytes, was {synced_len}"
    );
}

/// Damages one synced byte of `segment` that later records vouch for: inside a record in
/// the middle of the log, long synced. Returns the damaged bytes.
fn damage_middle(segment: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(segment).unwrap();
    let mut start = 0;
    while let Ok((_, next)) = tern_core::Record::decode_at(&bytes, start) {
        if next > bytes.len() / 2 {
            break;
        }
        start = next;
    }
    bytes[start + 16] ^= 0x55;
    std::fs::write(segment, &bytes).unwrap();
    bytes
}

/// A node whose synced log bytes are damaged (bit rot, a misdirected write) does not refuse
/// to start: it sets the whole log aside, renamed and byte for byte as it was, starts on an
/// empty log as rebuilding (its read replies do not count toward R), and gets every key back
/// from its replicas, after which it serves normally.
#[tokio::test]
async fn corruption_of_synced_bytes_sets_the_log_aside_and_the_node_rebuilds() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut cluster = common::Cluster::start(3, "corrupt").await;
        let client = cluster.client().await;
        for k in 0..30 {
            client
                .put(format!("k{k}").as_bytes(), b"value")
                .await
                .unwrap();
        }
        cluster.stop(0).await;
        let dir = cluster.options[0].data_dir.clone();
        let damaged = damage_middle(&dir.join(segment_file_name(0)));

        let node = cluster.restart(0).await;
        assert_eq!(
            node.recovered_keys(),
            0,
            "nothing of a damaged log is trusted"
        );
        // The damaged bytes are kept for the operator, under a name recovery never reads.
        let aside = dir.join(format!("damaged-0001-{}", segment_file_name(0)));
        assert_eq!(std::fs::read(&aside).unwrap(), damaged);
        let fresh = std::fs::read(dir.join(segment_file_name(0))).unwrap();
        assert!(fresh.len() < damaged.len(), "the log started anew");

        // It rebuilds from the other two, then says it is whole and holds every key.
        let own = Client::connect(&[cluster.addr(0)]).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = own.status().await.unwrap();
            assert_eq!(status.counter("damaged_logs_set_aside"), Some(1));
            if status.rebuilding.is_none() && status.keys >= 31 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still rebuilding after 30 s: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for k in 0..30 {
            let object = own.get(format!("k{k}").as_bytes()).await.unwrap();
            assert_eq!(object.values().collect::<Vec<_>>(), vec![&b"value"[..]]);
        }
        drop(own);
        drop(client);
        cluster.shutdown().await;
    })
    .await
    .expect("the test took over 60 s");
}

/// A log whose record passes its checksum but does not parse (another format version, or a
/// bug) is not bit rot: the node still refuses to start on it, naming the file and byte.
#[tokio::test]
async fn an_unreadable_record_refuses_to_start_and_names_the_file() {
    let dir = TempDir::new("unreadable");
    let options = single_node_with_keys(&dir, 3).await;
    let path = options.data_dir.join(segment_file_name(0));
    let mut bytes = std::fs::read(&path).unwrap();
    // A record of an unknown type, correctly framed and checksummed, in the middle.
    let (_, first_end) = tern_core::Record::decode_at(&bytes, 0).unwrap();
    let mut record = Vec::new();
    tern_core::Record::Rebuilt.encode_into(&mut record);
    // Tag 8 (Rebuilt) to 200: an unknown type, its checksum recomputed.
    let tag_at = 12;
    record[tag_at] = 200;
    let mut crc_input = record[4..8].to_vec();
    crc_input.extend_from_slice(&record[12..]);
    let crc = crc32c::crc32c(&crc_input);
    record[8..12].copy_from_slice(&crc.to_le_bytes());
    let mut damaged = bytes[..first_end].to_vec();
    damaged.extend_from_slice(&record);
    damaged.extend_from_slice(&bytes[first_end..]);
    bytes = damaged;
    std::fs::write(&path, &bytes).unwrap();

    match tern_node::start(options.clone()).await {
        Err(error @ StartError::Disk(_)) => {
            let message = error.to_string();
            assert!(message.contains(&segment_file_name(0)), "{message}");
            assert!(message.contains(&format!("byte {first_end}")), "{message}");
        }
        Err(other) => panic!("expected a disk error, got {other}"),
        Ok(_) => panic!("a node started on an unreadable log"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was changed");

    // The binary says the same and exits with a failure.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tern-node"))
        .args(["--id", "1", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&options.data_dir)
        .args(["--log", "error"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert!(stderr.contains(&segment_file_name(0)), "{stderr}");
}

/// As a killed process leaves them: segment bytes in the page cache that nobody synced,
/// split over two segments, the newer one with a torn tail. The node must sync every segment
/// and the directory before recovery reads any of them, drop their cached pages so the read
/// comes from the device, cut off and sync the torn tail, and recover every key intact.
#[tokio::test]
async fn unsynced_segments_are_synced_and_read_back_from_the_device() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = TempDir::new("unsynced");
        let (node, options, client) = common::single_node(&dir, None).await;
        for k in 0..20 {
            client
                .put(format!("k{k}").as_bytes(), format!("value {k}").as_bytes())
                .await
                .unwrap();
        }
        drop(client);
        node.shutdown().await;
        let log = std::fs::read(options.data_dir.join(segment_file_name(0))).unwrap();

        // Split the log at the first record boundary past its middle.
        let mut mid = 0;
        while mid < log.len() / 2 {
            mid = Record::decode_at(&log, mid).unwrap().1;
        }
        assert!(mid > 0 && mid < log.len(), "log of {} bytes", log.len());
        let data_dir = dir.0.join("unsynced-copy");
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::write(data_dir.join(segment_file_name(0)), &log[..mid]).unwrap();
        let newest = data_dir.join(segment_file_name(mid as u64));
        let mut tail = log[mid..].to_vec();
        let valid_len = tail.len() as u64;
        tail.extend_from_slice(b"TERN\x40\x00\x00\x00\x01\x02");
        std::fs::write(&newest, &tail).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = NodeOptions {
            listen: listener.local_addr().unwrap(),
            data_dir,
            ..options
        };
        let node = tern_node::start_on(listener, options.clone())
            .await
            .unwrap();
        let at_open = node.disk_stats().at_open;
        assert_eq!(at_open.segments_synced, 2, "{at_open:?}");
        assert!(at_open.dir_synced, "{at_open:?}");
        if cfg!(target_os = "linux") {
            assert_eq!(at_open.segments_evicted, 2, "{at_open:?}");
        }
        assert_eq!(at_open.torn_tails_truncated, 1, "{at_open:?}");
        assert_eq!(node.recovered_keys(), 20);

        let client = Client::connect(&[options.listen.to_string()])
            .await
            .unwrap();
        for k in 0..20 {
            let object = client.get(format!("k{k}").as_bytes()).await.unwrap();
            let expected = format!("value {k}");
            assert_eq!(
                object.values().collect::<Vec<_>>(),
                vec![expected.as_bytes()],
                "key k{k}"
            );
        }
        drop(client);
        node.shutdown().await;
        // The torn bytes are gone; the node appended its new records (Boot, and its rebuild's
        // marks) after the valid end: everything from there on decodes.
        let bytes = std::fs::read(&newest).unwrap();
        assert!(bytes.len() as u64 > valid_len, "nothing appended");
        let mut at = valid_len as usize;
        while at < bytes.len() {
            at = match Record::decode_at(&bytes, at) {
                Ok((_, next)) => next,
                Err(e) => panic!("byte {at} of {} after the valid part: {e:?}", bytes.len()),
            };
        }
    })
    .await
    .expect("the test took over 60 s");
}
