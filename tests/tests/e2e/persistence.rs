//! The room on disk: what survives `chatroomd stop` and an automatic restart, compatibility with
//! the files of the Python server both ways, and how a damaged `messages.jsonl` is handled.

use chatroom_tests::{TestRoom, check_records, contents, ids, is_timestamp, keys, names};
use serde_json::{Value, json};

const MESSAGE_KEYS: [&str; 5] = ["content", "from", "id", "to", "ts"];
const SUMMARY_KEYS: [&str; 5] = ["content", "from", "id", "scope", "ts"];
const PARTICIPANT_KEYS: [&str; 4] = ["joined_at", "last_seen", "name", "role"];

/// `.chatroom/` as the Python server writes it: `json.dumps` with its default separators and
/// ASCII escapes for the logs, `indent=2` for the objects. Message ids have a gap (3 and 4 are
/// missing), so that "continue after the max" differs from "continue after the count".
const PY_MESSAGES: &str = concat!(
    r#"{"id": 1, "ts": "2026-01-02T03:04:05Z", "from": "alice", "to": "all", "content": "hello from python"}"#,
    "\n",
    r#"{"id": 2, "ts": "2026-01-02T03:04:06Z", "from": "bob", "to": "alice", "content": "caf\u00e9 \"quoted\"\nsecond line"}"#,
    "\n",
    r#"{"id": 5, "ts": "2026-01-02T03:04:07Z", "from": "alice", "to": "all", "content": "\u2615 \ud83d\ude80"}"#,
    "\n",
);
const PY_SUMMARIES: &str = concat!(
    r#"{"id": 1, "ts": "2026-01-02T03:05:00Z", "from": "alice", "scope": "all", "content": "python summary"}"#,
    "\n",
    r#"{"id": 2, "ts": "2026-01-02T03:05:01Z", "from": "bob", "scope": "alice", "content": "for alice"}"#,
    "\n",
);
const PY_PARTICIPANTS: &str = r#"{
  "alice": {
    "name": "alice",
    "role": "lead",
    "joined_at": "2026-01-02T03:00:00Z",
    "last_seen": "2026-01-02T03:04:07Z"
  },
  "bob": {
    "name": "bob",
    "role": "general",
    "joined_at": "2026-01-02T03:01:00Z",
    "last_seen": "2026-01-02T03:04:06Z"
  }
}"#;
const PY_CURSORS: &str = "{\n  \"alice\": 2,\n  \"bob\": 5\n}";

fn write_python_room(room: &TestRoom) {
    room.write_state("messages.jsonl", PY_MESSAGES);
    room.write_state("summaries.jsonl", PY_SUMMARIES);
    room.write_state("participants.json", PY_PARTICIPANTS);
    room.write_state("cursors.json", PY_CURSORS);
}

/// Parses every line of a JSONL file, checking each is one record with exactly `keys` (in the
/// contract's order) and a timestamp, and that ids strictly increase. The file ends with a newline.
fn parse_log(text: &str, keys_sorted: &[&str]) -> Vec<Value> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a complete last line: {text:?}"
    );
    let records: Vec<Value> = text
        .lines()
        .map(|line| {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
            assert_eq!(keys(&record), keys_sorted, "{line}");
            check_records(line).unwrap_or_else(|problem| panic!("{problem}: {line}"));
            assert!(record["id"].as_u64().is_some_and(|id| id > 0), "{line}");
            assert!(
                is_timestamp(record["ts"].as_str().unwrap_or_default()),
                "{line}"
            );
            for key in keys_sorted.iter().filter(|key| **key != "id") {
                assert!(record[key].is_string(), "{key} is a string: {line}");
            }
            record
        })
        .collect();
    assert!(
        ids(&Value::Array(records.clone()))
            .windows(2)
            .all(|pair| pair[0] < pair[1])
    );
    records
}

/// Checks `participants.json` (name → participant) and `cursors.json` (name → integer) and
/// returns them.
fn parse_objects(
    room: &TestRoom,
) -> (
    serde_json::Map<String, Value>,
    serde_json::Map<String, Value>,
) {
    let participants: Value = serde_json::from_str(&room.read_state("participants.json"))
        .expect("participants.json is JSON");
    let participants = participants
        .as_object()
        .expect("participants.json is an object")
        .clone();
    for (name, participant) in &participants {
        assert_eq!(keys(participant), PARTICIPANT_KEYS, "{participant}");
        assert_eq!(participant["name"], name.as_str());
        assert!(participant["role"].is_string());
        assert!(is_timestamp(
            participant["joined_at"].as_str().unwrap_or_default()
        ));
        assert!(is_timestamp(
            participant["last_seen"].as_str().unwrap_or_default()
        ));
    }
    let cursors: Value =
        serde_json::from_str(&room.read_state("cursors.json")).expect("cursors.json is JSON");
    let cursors = cursors
        .as_object()
        .expect("cursors.json is an object")
        .clone();
    for (name, cursor) in &cursors {
        assert!(cursor.is_u64(), "cursor of {name} is an integer: {cursor}");
    }
    (participants, cursors)
}

#[tokio::test]
async fn stop_and_restart_keep_messages_cursors_and_summaries() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    agent
        .ok("send_message", json!({"name": "alice", "content": "one"}))
        .await;
    agent
        .ok(
            "send_message",
            json!({"name": "bob", "content": "two", "to": "alice"}),
        )
        .await;
    agent
        .ok(
            "send_message",
            json!({"name": "alice", "content": "three", "to": "carol"}),
        )
        .await;
    agent
        .ok("set_cursor", json!({"name": "alice", "message_id": 2}))
        .await;
    agent
        .ok("set_cursor", json!({"name": "carol", "message_id": 3}))
        .await;
    agent
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "for all"}),
        )
        .await;
    agent
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "for bob", "scope": "bob"}),
        )
        .await;
    assert_eq!(
        agent.ok("leave", json!({"name": "alice"})).await,
        json!({"left": true})
    );
    let messages = agent.ok("read_messages", json!({})).await;
    assert_eq!(ids(&messages), [1, 2, 3, 4]);
    let summary_all = agent.ok("read_latest_summary", json!({})).await;
    let summary_bob = agent
        .ok("read_latest_summary", json!({"scope": "bob"}))
        .await;
    let first_pid = room.daemon_pid().expect("a daemon");

    let stop = room.chatroomd(&["stop"]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert_eq!(
        room.daemon_pid(),
        None,
        "stop waits until the daemon has exited"
    );
    assert!(!room.paths().socket.exists());

    // Without a daemon, status reports what is on disk.
    let status = room.status();
    assert_eq!(status["running"], false, "{status}");
    assert_eq!(status["daemon"], Value::Null, "{status}");
    assert_eq!(status["root"], room.root.display().to_string());
    assert_eq!(status["on_disk"]["message_count"], 4, "{status}");
    assert_eq!(status["on_disk"]["summary_count"], 2, "{status}");
    assert_eq!(status["on_disk"]["participants"], json!([]), "{status}");
    assert_eq!(
        status["on_disk"]["last_activity_ts"], messages[3]["ts"],
        "{status}"
    );
    let text = room.chatroomd(&["status"]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("not running"));

    // The next tool call starts a new daemon (the same shim reconnects), and nothing is lost.
    assert_eq!(agent.ok("read_messages", json!({})).await, messages);
    let second_pid = room.daemon_pid().expect("a new daemon");
    assert_ne!(second_pid, first_pid);
    let fresh = room.agent().await;
    assert_eq!(fresh.ok("read_messages", json!({})).await, messages);
    assert_eq!(
        fresh.ok("get_cursor", json!({"name": "alice"})).await["last_read_id"],
        2
    );
    assert_eq!(
        fresh.ok("get_cursor", json!({"name": "carol"})).await["last_read_id"],
        3
    );
    assert_eq!(
        fresh.ok("read_latest_summary", json!({})).await,
        summary_all
    );
    assert_eq!(
        fresh
            .ok("read_latest_summary", json!({"scope": "bob"}))
            .await,
        summary_bob
    );
    let unread = fresh.ok("read_unread", json!({"name": "alice"})).await;
    assert_eq!(
        ids(&unread["messages"]),
        [4],
        "alice's cursor survived: {unread}"
    );
    // Ids continue where they were.
    assert_eq!(
        fresh
            .ok("send_message", json!({"name": "bob", "content": "four"}))
            .await,
        json!({"id": 5})
    );
    assert_eq!(
        fresh
            .ok("write_summary", json!({"name": "bob", "content": "again"}))
            .await,
        json!({"id": 3})
    );
    let newest = fresh.ok("read_messages", json!({"since_id": 4})).await;
    assert_eq!(
        fresh.ok("get_status", json!({})).await,
        json!({"participant_count": 0, "message_count": 5, "last_activity_ts": newest[0]["ts"]})
    );
}

#[tokio::test]
async fn a_room_written_by_the_python_server_loads() {
    let room = TestRoom::new();
    write_python_room(&room);
    let fixture: Vec<Value> = PY_MESSAGES
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();

    // Before any daemon runs, status reads the files as they are.
    let status = room.status();
    assert_eq!(status["running"], false);
    assert_eq!(status["on_disk"]["message_count"], 3, "{status}");
    assert_eq!(status["on_disk"]["summary_count"], 2, "{status}");
    assert_eq!(
        names(&status["on_disk"]["participants"]),
        ["alice", "bob"],
        "{status}"
    );
    assert_eq!(
        status["on_disk"]["last_activity_ts"],
        "2026-01-02T03:04:07Z"
    );

    let agent = room.agent().await;
    let messages = agent.ok("read_messages", json!({})).await;
    // The Python messages, unchanged (escapes decoded), then the departure of the participants
    // restored from disk: after a restart nobody is connected.
    assert_eq!(ids(&messages), [1, 2, 5, 6, 7]);
    assert_eq!(messages.as_array().unwrap()[..3], fixture[..]);
    assert_eq!(messages[1]["content"], "café \"quoted\"\nsecond line");
    assert_eq!(messages[2]["content"], "☕ 🚀");
    for (message, name) in messages.as_array().unwrap()[3..]
        .iter()
        .zip(["alice", "bob"])
    {
        assert_eq!(message["from"], "system");
        assert_eq!(message["to"], "all");
        assert_eq!(message["content"], format!("{name} left the chatroom"));
    }
    assert_eq!(agent.ok("list_participants", json!({})).await, json!([]));

    assert_eq!(
        agent.ok("get_cursor", json!({"name": "alice"})).await,
        json!({"name": "alice", "last_read_id": 2})
    );
    assert_eq!(
        agent.ok("get_cursor", json!({"name": "bob"})).await,
        json!({"name": "bob", "last_read_id": 5})
    );
    let summary = agent.ok("read_latest_summary", json!({})).await;
    assert_eq!(
        summary,
        serde_json::from_str::<Value>(PY_SUMMARIES.lines().next().unwrap()).unwrap()
    );
    assert_eq!(
        agent
            .ok("read_latest_summary", json!({"scope": "alice"}))
            .await["content"],
        "for alice"
    );
    let handoff = agent.ok("get_handoff", json!({"name": "alice"})).await;
    assert_eq!(handoff["latest_summary"]["content"], "for alice");
    assert_eq!(handoff["cursor"], 2);
    assert_eq!(handoff["unread_count"], 3);
    let unread = agent.ok("read_unread", json!({"name": "bob"})).await;
    assert_eq!(ids(&unread["messages"]), [6, 7]);

    // New records continue after the highest ids; the names are free again.
    assert_eq!(
        agent
            .ok("send_message", json!({"name": "carol", "content": "hi"}))
            .await,
        json!({"id": 8})
    );
    assert_eq!(
        agent
            .ok("write_summary", json!({"name": "carol", "content": "s"}))
            .await,
        json!({"id": 3})
    );
    assert_eq!(
        names(&agent.ok("join", json!({"name": "alice"})).await),
        ["alice"]
    );

    // Python's lines are kept byte for byte; ours follow them.
    let messages_file = room.read_state("messages.jsonl");
    assert!(messages_file.starts_with(PY_MESSAGES), "{messages_file}");
    assert!(room.read_state("summaries.jsonl").starts_with(PY_SUMMARIES));
    let records = parse_log(&messages_file, &MESSAGE_KEYS);
    assert_eq!(
        Value::Array(records),
        agent.ok("read_messages", json!({})).await
    );
}

#[tokio::test]
async fn the_files_the_daemon_writes_are_in_the_python_format() {
    let room = TestRoom::new();
    let (alice, bob) = tokio::join!(room.agent(), room.agent());
    alice
        .ok("join", json!({"name": "alice", "role": "lead"}))
        .await;
    bob.ok("join", json!({"name": "bob"})).await;
    alice
        .ok("send_message", json!({"name": "alice", "content": "hello"}))
        .await;
    bob.ok(
        "send_message",
        json!({"name": "bob", "content": "café\nsecond line \"quoted\"", "to": "alice"}),
    )
    .await;
    alice.ok("read_unread", json!({"name": "alice"})).await;
    bob.ok("set_cursor", json!({"name": "bob", "message_id": 1}))
        .await;
    alice
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "done", "scope": "bob"}),
        )
        .await;
    bob.ok("leave", json!({"name": "bob"})).await;

    let messages = parse_log(&room.read_state("messages.jsonl"), &MESSAGE_KEYS);
    assert_eq!(
        Value::Array(messages.clone()),
        alice.ok("read_messages", json!({})).await
    );
    assert_eq!(
        contents(&Value::Array(messages)),
        [
            "hello",
            "café\nsecond line \"quoted\"",
            "bob left the chatroom"
        ]
    );
    let summaries = parse_log(&room.read_state("summaries.jsonl"), &SUMMARY_KEYS);
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        summaries[0],
        alice
            .ok("read_latest_summary", json!({"scope": "bob"}))
            .await
    );

    let (participants, cursors) = parse_objects(&room);
    assert_eq!(participants.keys().collect::<Vec<_>>(), ["alice"]);
    assert_eq!(participants["alice"]["role"], "lead");
    assert_eq!(
        Value::Array(participants.values().cloned().collect()),
        alice.ok("list_participants", json!({})).await
    );
    assert_eq!(Value::Object(cursors), json!({"alice": 2, "bob": 1}));

    let gitignore = std::fs::read_to_string(room.root.join(".gitignore")).expect(".gitignore");
    assert!(
        gitignore.lines().any(|line| line == ".chatroom/"),
        "{gitignore}"
    );
}

#[tokio::test]
async fn a_torn_last_line_is_dropped_with_a_warning() {
    let room = TestRoom::new();
    let complete = &PY_MESSAGES[..PY_MESSAGES.match_indices('\n').nth(1).unwrap().0 + 1];
    room.write_state(
        "messages.jsonl",
        &format!(r#"{complete}{{"id": 3, "ts": "2026-01-02T03:0"#),
    );

    let agent = room.agent().await;
    assert_eq!(ids(&agent.ok("read_messages", json!({})).await), [1, 2]);
    let log = room.log();
    let warning = log
        .lines()
        .find(|line| line.contains("torn"))
        .unwrap_or_else(|| panic!("no warning about the torn line in the log:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("messages.jsonl:3"), "{warning}");
    // The tail is cut so the next append starts on a fresh line.
    assert_eq!(room.read_state("messages.jsonl"), complete);
    assert_eq!(
        agent
            .ok("send_message", json!({"name": "alice", "content": "after"}))
            .await,
        json!({"id": 3})
    );
    parse_log(&room.read_state("messages.jsonl"), &MESSAGE_KEYS);
}

#[tokio::test]
async fn a_corrupt_middle_line_fails_the_start_and_says_where() {
    let room = TestRoom::new();
    let mut lines = PY_MESSAGES.lines();
    let corrupt = format!(
        "{}\n{{\"id\": 2, broken\n{}\n",
        lines.next().unwrap(),
        lines.nth(1).unwrap()
    );
    room.write_state("messages.jsonl", &corrupt);

    let agent = room.agent().await;
    let log_path = room.paths().log_file.display().to_string();
    for _ in 0..2 {
        let refused = agent.err("get_status", json!({})).await;
        assert!(
            refused.contains(&log_path),
            "the error names the log: {refused}"
        );
        assert!(
            refused.contains("--foreground"),
            "the error names the foreground flag: {refused}"
        );
        assert_eq!(room.daemon_pid(), None, "no daemon runs on a corrupt room");
    }
    assert!(
        room.log().contains("messages.jsonl:2"),
        "the log says where:\n{}",
        room.log()
    );

    let foreground = room.chatroomd(&["serve", "--foreground"]);
    let stderr = String::from_utf8_lossy(&foreground.stderr);
    assert!(!foreground.status.success(), "{stderr}");
    assert_ne!(foreground.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("messages.jsonl:2"), "{stderr}");
    assert_eq!(room.daemon_pid(), None);
    // Nothing was "repaired": the history is left for a human to fix.
    assert_eq!(room.read_state("messages.jsonl"), corrupt);
}

#[tokio::test]
async fn first_use_creates_the_four_v1_files_as_the_python_server_does() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    // A read is enough: the room exists on disk from its first use.
    agent.ok("get_status", json!({})).await;
    for name in [
        "messages.jsonl",
        "summaries.jsonl",
        "participants.json",
        "cursors.json",
    ] {
        assert!(room.state_file(name).exists(), "{name} was not created");
    }
    assert_eq!(room.read_state("messages.jsonl"), "");
    assert_eq!(room.read_state("summaries.jsonl"), "");
    for name in ["participants.json", "cursors.json"] {
        let object: Value = serde_json::from_str(&room.read_state(name))
            .unwrap_or_else(|err| panic!("{name} is JSON: {err}"));
        assert_eq!(object, json!({}), "{name}");
    }
    agent.close().await;
}
