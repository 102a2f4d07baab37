//! The node task acts on core's decisions: a failed log write stops it on core's `Halt`,
//! after core has answered the requests it held, with the disk's error as the exit reason.

use super::*;
use crate::disk::DiskError;
use tern_core::{ClientResult, Config, Op};

/// The next command the node task hands to the disk, waiting at most five seconds.
async fn next_command(disk: &std_mpsc::Receiver<DiskCommand>) -> DiskCommand {
    for _ in 0..500 {
        if let Ok(command) = disk.try_recv() {
            return command;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node task sent nothing to the disk within 5 s");
}

#[tokio::test]
async fn a_failed_log_write_stops_the_node_on_cores_halt_after_answering_its_clients() {
    let id = NodeId(1);
    let started =
        Node::start(Config::new(vec![id]), id, 7, Time::ZERO, &[]).expect("a new node starts");
    let (events_tx, events) = mpsc::channel(16);
    let (disk_tx, disk_rx) = std_mpsc::channel();
    let (disk_events_tx, disk_events) = mpsc::unbounded_channel();
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let (draining, _draining_rx) = watch::channel(false);
    let driver = Driver {
        node: started.node,
        origin: Instant::now(),
        epoch_micros: 0,
        events,
        disk: Some(disk_tx),
        disk_events,
        disk_thread: None,
        disk_stats: Arc::new(DiskStats::default()),
        peers: HashMap::new(),
        clients: HashMap::new(),
        own_replies: HashMap::new(),
        inflight: HashMap::new(),
        latency: Latency::new(),
        booted: Arc::new(AtomicBool::new(false)),
        shutdown,
        draining,
        stats: Arc::new(DriverStats::default()),
        persist: None,
        halted: false,
        disk_error: None,
    };
    let task = tokio::spawn(driver.run());

    // The Boot record is synced: the node serves.
    let DiskCommand::Persist { end, .. } = next_command(&disk_rx).await else {
        panic!("the first command is the Boot record's append");
    };
    disk_events_tx
        .send(DiskEvent::Persisted { upto: end })
        .unwrap();
    // A new node rebuilds; alone in its cluster, it is done at once and logs so.
    let DiskCommand::Persist { end, .. } = next_command(&disk_rx).await else {
        panic!("the next command is the Rebuilt record's append");
    };
    disk_events_tx
        .send(DiskEvent::Persisted { upto: end })
        .unwrap();

    // A write reaches the log, and the disk fails it.
    let client = ClientId(9);
    let (replies_tx, mut replies) = mpsc::channel(4);
    let open = Event::ClientOpen {
        client,
        replies: replies_tx,
    };
    events_tx.send(open).await.unwrap();
    let op = Op::Set {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        context: Default::default(),
    };
    let body = Request::new(op);
    let request = Event::ClientRequest {
        client,
        request: 1,
        body,
    };
    events_tx.send(request).await.unwrap();
    assert!(matches!(
        next_command(&disk_rx).await,
        DiskCommand::Persist { .. }
    ));
    let failure = DiskError::Io {
        op: "planted failure",
        path: Default::default(),
        source: std::io::Error::other("the device is gone"),
    };
    disk_events_tx.send(DiskEvent::Failed(failure)).unwrap();

    // The task ends by itself, on core's Halt, with the disk's error.
    let exit = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the node task stops once core halts")
        .expect("the node task does not panic");
    match exit {
        Exit::DiskFailed(DiskError::Io { op, .. }) => assert_eq!(op, "planted failure"),
        other => panic!("expected the disk's error as the exit reason, got {other:?}"),
    }
    // Core answered the write before it halted: not acknowledged.
    let frame = replies.try_recv().expect("the write was answered");
    let (header, body) = wire::read_frame(&mut &frame[..], 1 << 20)
        .await
        .unwrap()
        .expect("one whole frame");
    assert_eq!(header.request, 1);
    let result: ClientResult = wire::decode(&body).unwrap();
    assert!(
        result.is_err(),
        "a write the disk failed is not acknowledged: {result:?}"
    );
}
