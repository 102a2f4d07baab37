//! The `tern` binary as a user runs it, against three nodes on loopback: values from
//! standard input and files past the operating system's limit on one argument, `--json`
//! documents parsed back, quorum flags refused before anything is sent, and the prompt
//! driven through a pipe. Every run of `tern` is killed if it takes over a minute.

mod common;

use base64::Engine as _;
use common::{Cluster, TempDir};
use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::Duration;
use tern_core::limits::VALUE_BYTES_MAX;
use tokio::io::AsyncWriteExt;

/// Runs `tern --nodes NODES ARGS...` with `stdin` piped in, and waits for it (60 s at most).
async fn tern(nodes: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tern"))
        .arg("--nodes")
        .arg(nodes)
        .args(args)
        .env_remove("TERN_NODES")
        .env("TERN_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start tern");
    let mut input = child.stdin.take().expect("tern's stdin");
    let data = stdin.to_vec();
    let feed = tokio::spawn(async move {
        // tern stops reading a value one byte past the limit: a broken pipe is expected then.
        let _ = input.write_all(&data).await;
    });
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("tern did not finish within 60 s (killed)")
        .expect("wait for tern");
    let _ = feed.await;
    output
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("tern exited by a signal")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The one JSON document `tern --json` printed.
fn json(output: &Output) -> Value {
    let text = stdout(output);
    assert_eq!(text.lines().count(), 1, "one document expected: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// An address nothing listens on: a request sent there fails as unavailable (exit 3).
async fn nowhere() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

async fn values(cluster: &Cluster, key: &str) -> Vec<Vec<u8>> {
    let object = cluster.client().await.get(key.as_bytes()).await.unwrap();
    object.values().map(<[u8]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_reads_values_from_stdin_and_files_past_the_argument_limit() {
    let cluster = Cluster::start(3, "cli-values").await;
    let nodes = cluster.addrs().join(",");
    let dir = TempDir::new("cli-values-files");

    // The largest value a node takes, as text: twice Linux's limit on one argument
    // (MAX_ARG_STRLEN, 128 KiB), so it could never be passed as VALUE.
    let mut text = String::new();
    let mut line = 0;
    while text.len() < VALUE_BYTES_MAX {
        text.push_str(&format!(
            "line {line} of a value too long for one argument\n"
        ));
        line += 1;
    }
    text.truncate(VALUE_BYTES_MAX);
    assert!(text.len() > 128 * 1024);
    let out = tern(&nodes, &["set", "big", "-"], text.as_bytes()).await;
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "OK\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        values(&cluster, "big").await,
        vec![text.as_bytes().to_vec()]
    );
    let out = tern(&nodes, &["get", "big"], b"").await;
    assert_eq!(code(&out), 0);
    assert_eq!(out.stdout, format!("{text}\n").into_bytes());

    // Over the limit on standard input: refused before sending, the old value untouched.
    let huge = vec![b'x'; 3 * 1024 * 1024];
    let out = tern(&nodes, &["set", "big", "-"], &huge).await;
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("over the limit of 262144 bytes (VALUE_BYTES_MAX); nothing was sent"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        values(&cluster, "big").await,
        vec![text.as_bytes().to_vec()]
    );

    // A binary file, byte for byte.
    let binary: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    let path = dir.0.join("binary.bin");
    std::fs::write(&path, &binary).unwrap();
    let out = tern(
        &nodes,
        &["set", "bin", "--file", path.to_str().unwrap()],
        b"",
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(values(&cluster, "bin").await, vec![binary.clone()]);

    // A file over the limit, a missing file, and a value given twice are refused.
    let path = dir.0.join("huge.bin");
    std::fs::write(&path, &huge).unwrap();
    let out = tern(
        &nodes,
        &["set", "bin", "--file", path.to_str().unwrap()],
        b"",
    )
    .await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("is 3145728 bytes, over the limit of 262144"));
    assert_eq!(values(&cluster, "bin").await, vec![binary]);
    let missing = dir.0.join("missing.txt");
    let out = tern(
        &nodes,
        &["set", "m", "--file", missing.to_str().unwrap()],
        b"",
    )
    .await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.txt"), "{}", stderr(&out));
    let out = tern(&nodes, &["set", "m", "v", "--file", "x"], b"").await;
    assert_eq!(code(&out), 2);
    assert!(values(&cluster, "m").await.is_empty());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_prints_one_document_per_command_errors_included() {
    let cluster = Cluster::start(3, "cli-json").await;
    let nodes = cluster.addrs().join(",");
    let dir = TempDir::new("cli-json-files");

    let doc = json(&tern(&nodes, &["set", "a", "héllo", "--json"], b"").await);
    assert_eq!(
        (&doc["ok"], &doc["command"]),
        (&Value::from(true), &Value::from("set"))
    );
    assert_eq!(doc["versions"], 1);
    assert_eq!(doc["context"].as_array().unwrap().len(), 1);
    let out = tern(&nodes, &["--json", "get", "a"], b"").await;
    assert_eq!(code(&out), 0);
    let doc = json(&out);
    assert_eq!(doc["found"], true);
    assert_eq!(doc["values"][0]["value"], "héllo");
    assert_eq!(doc["values"][0]["encoding"], "utf8");

    // Bytes that are not UTF-8 come back in base64.
    let binary = vec![0xff, 0x00, 0xfe, b'A'];
    let path = dir.0.join("binary");
    std::fs::write(&path, &binary).unwrap();
    let file = path.to_str().unwrap();
    assert_eq!(
        code(&tern(&nodes, &["set", "b", "--file", file], b"").await),
        0
    );
    let doc = json(&tern(&nodes, &["get", "b", "--json"], b"").await);
    assert_eq!(doc["values"][0]["encoding"], "base64");
    let text = doc["values"][0]["value"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    assert_eq!(decoded, binary);

    // Two blind writes through two nodes are siblings; a write with their context joins them.
    for (node, value) in [(cluster.addr(0), "left"), (cluster.addr(2), "right")] {
        let out = tern(&node, &["set", "s", value, "--blind", "--json"], b"").await;
        assert_eq!(json(&out)["ok"], true);
    }
    let doc = json(&tern(&nodes, &["get", "s", "--json"], b"").await);
    let mut seen: Vec<&str> = (0..2)
        .map(|i| doc["values"][i]["value"].as_str().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, ["left", "right"]);
    assert_eq!(doc["values"].as_array().unwrap().len(), 2);
    assert_eq!(doc["context"].as_array().unwrap().len(), 2);
    let doc = json(&tern(&nodes, &["set", "s", "joined", "--json"], b"").await);
    assert_eq!(doc["versions"], 1);

    // A key that is gone: found false, exit 1.
    assert_eq!(
        json(&tern(&nodes, &["del", "a", "--json"], b"").await)["ok"],
        true
    );
    let out = tern(&nodes, &["get", "a", "--json"], b"").await;
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["found"], false);

    // Search, and a malformed query with the byte it names.
    tern(&nodes, &["set", "doc", "python programming"], b"").await;
    let doc = json(&tern(&nodes, &["search", "python", "--json"], b"").await);
    assert_eq!(doc["hits"][0]["key"], "doc");
    let out = tern(&nodes, &["search", "python (java", "--json"], b"").await;
    assert_eq!(code(&out), 2);
    let doc = json(&out);
    assert_eq!(
        (&doc["error"]["kind"], &doc["error"]["at"]),
        (&Value::from("invalid_search"), &Value::from(7))
    );

    // Errors: nobody listening (3), a line that does not parse (2).
    let out = tern(&nowhere().await, &["get", "a", "--json"], b"").await;
    assert_eq!(code(&out), 3);
    let doc = json(&out);
    assert_eq!(
        (&doc["ok"], &doc["exit"]),
        (&Value::from(false), &Value::from(3))
    );
    assert_eq!(doc["error"]["kind"], "unavailable");
    let out = tern(&nodes, &["get", "--json"], b"").await;
    assert_eq!(
        (code(&out), &json(&out)["error"]["kind"]),
        (2, &Value::from("usage"))
    );

    let doc = json(&tern(&nodes, &["status", "--json"], b"").await);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(doc["nodes"][1]["status"]["node"], 2);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_flags_are_checked_before_anything_is_sent() {
    // Sent anywhere, these would fail as unavailable (3): a 2 with the rule shows they
    // were refused first.
    let nowhere = nowhere().await;
    let refused: [(&[&str], &str); 5] = [
        (
            &["get", "k", "--n", "3", "--r", "4"],
            "r=4 must be between 1 and n=3",
        ),
        (
            &["--n", "2", "--w", "3", "del", "k"],
            "w=3 must be between 1 and n=2",
        ),
        (
            &["set", "k", "v", "--w", "0"],
            "w=0 must be between 1 and n",
        ),
        (
            &["set", "k", "v", "--n", "8"],
            "n=8 must be between 1 and 7",
        ),
        (&["get", "k", "--r", "0"], "r=0 must be between 1 and n"),
    ];
    for (args, rule) in refused {
        let out = tern(&nowhere, args, b"").await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let expected = format!("tern: invalid quorum: {rule}");
        assert!(
            stderr(&out).starts_with(&expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("nothing was sent"));
    }
    let out = tern(&nowhere, &["get", "k", "--n", "300"], b"").await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("'300'"), "{}", stderr(&out));

    // Quorums in range are used; one the cluster refuses (R over its N of 3) says why.
    let cluster = Cluster::start(3, "cli-quorum").await;
    let nodes = cluster.addrs().join(",");
    let out = tern(
        &nodes,
        &["set", "k", "v", "--n", "3", "--r", "3", "--w", "3"],
        b"",
    )
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = tern(&nodes, &["get", "k", "--r", "1"], b"").await;
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "v\n"));
    let out = tern(&nodes, &["get", "k", "--r", "4", "--json"], b"").await;
    assert_eq!(code(&out), 2);
    let doc = json(&out);
    assert_eq!(doc["error"]["kind"], "invalid_quorum");
    assert_eq!(
        doc["error"]["message"],
        "invalid quorum: r=4 must be between 1 and n=3"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_runs_commands_from_a_pipe_and_goes_on_after_errors() {
    let cluster = Cluster::start(3, "cli-prompt").await;
    let nodes = cluster.addrs().join(",");
    let script = "set a 1\n\
                  get a\n\
                  set \"two words\" 'hello world'\n\
                  get \"two words\"\n\
                  bogus\n\
                  get a --n 3 --r 4\n\
                  set x -\n\
                  set q \"unclosed\n\
                  help\n\
                  \n\
                  get 'two words' --json\n\
                  quit\n\
                  set after quit\n";
    let out = tern(&nodes, &[], script.as_bytes()).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[..4], ["OK", "1", "OK", "hello world"], "{printed}");
    assert!(printed.contains("quit"), "help lists quit: {printed}");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["values"][0]["value"], "hello world");
    let errors = stderr(&out);
    for expected in [
        "unrecognized subcommand 'bogus'",
        "invalid quorum: r=4 must be between 1 and n=3",
        "standard input carries the commands",
        "closing quote",
    ] {
        assert!(errors.contains(expected), "{expected:?} in {errors}");
    }
    assert!(values(&cluster, "x").await.is_empty());
    assert!(
        values(&cluster, "after").await.is_empty(),
        "ran a line after quit"
    );

    // The end of input (Ctrl-D) leaves after the last line, even one with no newline; the
    // exit status is the last command's, as in a shell script.
    let out = tern(&nodes, &[], b"set e 1\nget never-written").await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(values(&cluster, "e").await, vec![b"1".to_vec()]);
    // Flags given when the prompt opens apply to every line.
    let out = tern(&nodes, &["--json"], b"get e\n").await;
    assert_eq!(json(&out)["values"][0]["value"], "1");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_commands_write_every_key_or_none_and_refuse_bad_usage() {
    // Refused before anything is sent: a 2 from an address nobody listens on shows it.
    let nowhere = nowhere().await;
    let many: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
    let mut too_many = vec!["mget"];
    too_many.extend(many.iter().map(String::as_str));
    let refused: [(&[&str], &str); 6] = [
        (&["mset", "a", "1", "b"], "an odd number"),
        (&["mset", "a", "1", "a", "2"], "\"a\" is named twice"),
        (&["mdel", "a", "b", "a"], "\"a\" is named twice"),
        (&too_many, "over the limit of 100"),
        (&["mset"], "required"),
        (&["mget"], "required"),
    ];
    for (args, why) in refused {
        let out = tern(&nowhere, args, b"").await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    let out = tern(&nowhere, &["mset", "a", "1", "b", "--json"], b"").await;
    assert_eq!(
        (code(&out), &json(&out)["error"]["kind"]),
        (2, &Value::from("usage"))
    );
    // Values summing to more than a bulk write may carry: refused by the command line,
    // unsent. A line at the prompt, as one argument may not be that long.
    let value = "v".repeat(tern_core::limits::VALUE_BYTES_MAX);
    let mut big = String::from("mset --json");
    for key in 0..=tern_core::limits::BULK_VALUE_BYTES_MAX / value.len() {
        big.push_str(&format!(" k{key} {value}"));
    }
    let out = tern(&nowhere, &[], big.as_bytes()).await;
    let doc = json(&out);
    assert_eq!(
        (code(&out), &doc["error"]["kind"]),
        (2, &Value::from("usage"))
    );
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("BULK_VALUE_BYTES_MAX"), "{message}");
    assert!(message.contains("nothing was sent"), "{message}");

    let cluster = Cluster::start(3, "cli-bulk").await;
    let nodes = cluster.addrs().join(",");
    // Siblings on a: mset replaces every version it read, as set does.
    for (node, value) in [(cluster.addr(0), "left"), (cluster.addr(2), "right")] {
        assert_eq!(
            code(&tern(&node, &["set", "a", value, "--blind"], b"").await),
            0
        );
    }
    // Values summing to a bulk write's limit: one frame, written whole.
    let mut full = String::from("mset");
    let last = tern_core::limits::BULK_VALUE_BYTES_MAX / value.len() - 1;
    for key in 0..=last {
        full.push_str(&format!(" k{key} {value}"));
    }
    let out = tern(&nodes, &[], full.as_bytes()).await;
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "OK\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        values(&cluster, &format!("k{last}")).await,
        vec![value.clone().into_bytes()]
    );
    let out = tern(&nodes, &["mset", "a", "1", "b", "two words"], b"").await;
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "OK\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(values(&cluster, "a").await, vec![b"1".to_vec()]);
    let out = tern(&nodes, &["mget", "b", "a"], b"").await;
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "b\ttwo words\na\t1\n")
    );
    // A key not found: the others printed, a note, exit 1.
    let out = tern(&nodes, &["mget", "a", "nope"], b"").await;
    assert_eq!((code(&out), stdout(&out).as_str()), (1, "a\t1\n"));
    assert!(
        stderr(&out).contains("\"nope\" not found"),
        "{}",
        stderr(&out)
    );

    // JSON: one document, the bulk write's dot shared by every key it wrote.
    let doc = json(
        &tern(
            &nodes,
            &["mset", "c", "3", "d", "4", "--json", "--w", "3"],
            b"",
        )
        .await,
    );
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["command"], "mset");
    assert_eq!(doc["keys"], serde_json::json!(["c", "d"]));
    assert_eq!(doc["existed"], 0);
    let dot = doc["dot"].clone();
    assert!(dot["seq"].as_u64().is_some(), "{doc}");
    let out = tern(
        &nodes,
        &["--json", "mget", "c", "d", "nope", "--r", "3"],
        b"",
    )
    .await;
    assert_eq!(code(&out), 1);
    let doc = json(&out);
    assert_eq!(doc["found"], 2);
    for (i, value) in ["3", "4"].into_iter().enumerate() {
        let key = &doc["keys"][i];
        assert_eq!(key["values"][0]["value"], value);
        assert_eq!(
            key["values"][0]["dot"], dot,
            "one dot for the whole bulk write"
        );
    }
    assert_eq!(doc["keys"][2]["found"], false);

    // mdel: every key gone at once; the count is of keys that had a value.
    let doc = json(&tern(&nodes, &["mdel", "a", "c", "nope", "--json"], b"").await);
    assert_eq!(
        (&doc["ok"], &doc["existed"]),
        (&Value::from(true), &Value::from(2))
    );
    for key in ["a", "c", "nope"] {
        assert!(values(&cluster, key).await.is_empty(), "{key} deleted");
    }
    assert_eq!(values(&cluster, "d").await, vec![b"4".to_vec()]);

    // The same commands at the prompt.
    let script = "mset p 1 q 2\nmget q p\nmdel p q\nmget p\nmset odd\n";
    let out = tern(&nodes, &[], script.as_bytes()).await;
    assert_eq!(stdout(&out), "OK\nq\t2\np\t1\nOK\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("\"p\" not found"), "{}", stderr(&out));
    assert!(stderr(&out).contains("an odd number"), "{}", stderr(&out));
    assert_eq!(code(&out), 2, "the last line's status");
    cluster.shutdown().await;
}
