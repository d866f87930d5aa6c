//! `chatroomd import` against a real daemon: the Python v2 fixture into an empty room (ids,
//! cursors and the closed topic as they were, and an agent reading what its cursor says), a v1
//! fixture into a room with its own messages (ids and cursors renumbered), a source imported
//! twice, a corrupt source, `--dry-run`, an agent's session refused, and the hint in `status`.

use std::path::{Path, PathBuf};

use chatroom_client::{Connection, Reach};
use chatroom_tests::{Agent, TestRoom, contents, ids};
use protocol::{ClientKind, RefusalKind, Request, Response};
use serde_json::{Value, json};

/// `tests/fixtures/import/<name>`.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/import")
        .join(name)
}

/// Copies the directory `from` to `to` (which must not exist), files and folders.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a copy");
    for entry in std::fs::read_dir(from).expect("reading a fixture") {
        let entry = entry.expect("a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a fixture file");
        }
    }
}

/// `chatroomd ARGS` for the room, which must succeed: its stdout.
fn succeeds(room: &TestRoom, args: &[&str]) -> String {
    let output = room.chatroomd(args);
    assert!(
        output.status.success(),
        "chatroomd {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// `chatroomd ARGS` for the room, which must fail: its stderr.
fn fails(room: &TestRoom, args: &[&str]) -> String {
    let output = room.chatroomd(args);
    assert!(
        !output.status.success(),
        "chatroomd {args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).expect("utf-8 output")
}

/// A connection to the room's running daemon as `kind`.
async fn connect(room: &TestRoom, kind: ClientKind) -> Connection {
    match Connection::reach(&room.paths(), kind)
        .await
        .expect("reaching the daemon")
    {
        Reach::Connected(connection) => connection,
        _ => panic!("no daemon serves the room"),
    }
}

/// `read_unread` of `name` in `topic` without marking: the cursor and the unread ids.
async fn unread(connection: &Connection, name: &str, topic: &str) -> (u64, Vec<u64>) {
    let request = Request::ReadUnread {
        name: name.into(),
        limit: 50,
        mark_read: false,
        topic_id: topic.into(),
    };
    match connection.request(request).await.expect("read_unread") {
        Response::Unread(unread) => (
            unread.last_read_id,
            unread.messages.iter().map(|message| message.id).collect(),
        ),
        other => panic!("{other:?}"),
    }
}

/// Every message of the main room, through the shim.
async fn main_room(agent: &Agent) -> Value {
    agent
        .ok("read_messages", json!({"since_id": 0, "limit": 100}))
        .await
}

#[tokio::test]
async fn a_v2_state_comes_into_an_empty_room_as_it_was() {
    let room = TestRoom::new();
    copy_dir(&fixture("v2/.chatroom_v2"), &room.root.join(".chatroom_v2"));
    // Its results are checked against v2's record shapes too.
    let agent = room.agent().await.with_topic_records();
    agent.ok("list_participants", json!({})).await;

    // The empty room offers the import, in status and in the log.
    let command = format!("chatroomd import {}/.chatroom_v2", room.root.display());
    assert_eq!(room.status()["daemon"]["import_hint"], json!(command));
    let text = succeeds(&room, &["status"]);
    assert!(
        text.contains(&format!(
            "this room is empty and the repository holds a Python server's state; import it with: {command}"
        )),
        "{text}"
    );
    assert!(room.log().contains(&command), "{}", room.log());

    // The repository's root names it too: its `.chatroom/` is this live room, not a source.
    let text = succeeds(&room, &["import", ".", "--dry-run"]);
    assert!(
        text.starts_with(&format!(
            "would import {}/.chatroom_v2 (v2 format): 6 messages",
            room.root.display()
        )),
        "{text}"
    );
    let text = succeeds(&room, &["import", ".chatroom_v2"]);
    assert_eq!(
        text,
        format!(
            "imported {}/.chatroom_v2 (v2 format): 6 messages, 2 summaries, 2 topics, 3 cursors\n\
             message ids 1..=6: the source's own ids, kept\n",
            room.root.display()
        )
    );
    let status = room.status();
    assert_eq!(status["daemon"]["import_hint"], Value::Null);
    assert_eq!(status["daemon"]["message_count"], 6);
    assert_eq!(status["daemon"]["topic_count"], 2);
    assert_eq!(status["daemon"]["open_topic_count"], 1);

    // Through the shim: v2's counts, and the main room untouched.
    let counts = agent.ok("get_status", json!({})).await;
    assert_eq!(
        (
            &counts["message_count"],
            &counts["topic_count"],
            &counts["open_topic_count"],
            &counts["summary_count"]
        ),
        (&json!(6), &json!(2), &json!(1), &json!(2))
    );
    assert_eq!(main_room(&agent).await, json!([]));

    // An agent reads each topic from where its cursor says: through the shim, as v2 calls it…
    let read =
        |name: &str, topic: &str| json!({"name": name, "topic_id": topic, "mark_read": false});
    let unread_claude = agent
        .ok("read_unread", read("claude", "parser-refactor"))
        .await;
    assert_eq!(
        (&unread_claude["topic_id"], &unread_claude["last_read_id"]),
        (&json!("parser-refactor"), &json!(4))
    );
    assert_eq!(ids(&unread_claude["messages"]), [6]);
    assert_eq!(unread_claude["messages"][0]["content"], "AST done");
    let unread_codex = agent
        .ok("read_unread", read("codex", "parser-refactor"))
        .await;
    assert_eq!(ids(&unread_codex["messages"]), [4, 6]);
    let handoff = agent
        .ok(
            "get_handoff",
            json!({"name": "claude", "topic_id": "release-notes"}),
        )
        .await;
    assert_eq!(handoff["topic"]["status"], "closed");
    assert_eq!(
        (&handoff["cursor"], &handoff["unread_count"]),
        (&json!(5), &json!(0))
    );
    assert_eq!(
        handoff["latest_summary"]["content"],
        "Release notes drafted and reviewed."
    );
    // …and through a session of its own.
    let session = connect(&room, ClientKind::Agent).await;
    assert_eq!(
        unread(&session, "claude", "parser-refactor").await,
        (4, vec![6])
    );
    assert_eq!(
        unread(&session, "codex", "parser-refactor").await,
        (3, vec![4, 6])
    );
    assert_eq!(
        unread(&session, "claude", "release-notes").await,
        (5, vec![])
    );
    let closed = session
        .call(Request::SendMessage {
            name: "claude".into(),
            content: "one more".into(),
            to: "all".into(),
            topic_id: "release-notes".into(),
        })
        .await
        .expect("a reply");
    assert_eq!(
        closed.unwrap_err().message,
        "topic 'release-notes' is closed"
    );

    // On disk: v2's records with their topics, the closed topic, the cursors, the import.
    let messages = room.read_state("messages.jsonl");
    assert_eq!(messages.lines().count(), 6);
    let third: Value = serde_json::from_str(messages.lines().nth(2).unwrap()).unwrap();
    assert_eq!(
        third,
        json!({"id": 3, "ts": "2026-04-11T12:01:00Z", "topic_id": "parser-refactor", "from": "codex", "to": "claude", "content": "Tokenizer tests pass — über schnell"})
    );
    let topics: Value = serde_json::from_str(&room.read_state("topics.json")).unwrap();
    assert_eq!(topics["release-notes"]["status"], "closed");
    assert_eq!(topics["release-notes"]["closed_at"], "2026-04-11T12:05:00Z");
    assert_eq!(
        topics["parser-refactor"]["last_activity_ts"],
        "2026-04-11T12:04:30Z"
    );
    let cursors: Value = serde_json::from_str(&room.read_state("topic_cursors.json")).unwrap();
    assert_eq!(
        cursors,
        json!({"claude": {"parser-refactor": 4, "release-notes": 5}, "codex": {"parser-refactor": 3}})
    );
    let imports: Value = serde_json::from_str(&room.read_state("imports.json")).unwrap();
    assert_eq!(imports.as_object().map(|map| map.len()), Some(1));

    // The Python server went on meanwhile: the grown source is recognised by its topics.
    let mut grown = std::fs::OpenOptions::new()
        .append(true)
        .open(room.root.join(".chatroom_v2/messages.jsonl"))
        .unwrap();
    std::io::Write::write_all(
        &mut grown,
        br#"{"id": 7, "ts": "2026-04-11T12:06:00Z", "topic_id": "parser-refactor", "from": "claude", "to": "all", "content": "Parser next"}
"#,
    )
    .unwrap();
    let error = fails(&room, &["import", ".chatroom_v2"]);
    assert_eq!(
        error,
        "chatroomd: topics 'parser-refactor', 'release-notes' already exist in this room as the source has them: the source was imported before (it may have grown since); nothing was imported\n"
    );

    // A daemon started afresh has all of it, and remembers the source.
    drop(session);
    agent.close().await;
    room.stop_daemon();
    let error = fails(&room, &["import", ".chatroom_v2"]);
    assert!(
        error.starts_with("chatroomd: topics 'parser-refactor', 'release-notes' already exist"),
        "{error}"
    );
    let status = room.status();
    assert_eq!(
        (
            &status["daemon"]["message_count"],
            &status["daemon"]["topic_count"],
            &status["daemon"]["open_topic_count"],
            &status["daemon"]["import_hint"]
        ),
        (&json!(6), &json!(2), &json!(1), &Value::Null)
    );
    let session = connect(&room, ClientKind::Agent).await;
    assert_eq!(
        unread(&session, "codex", "parser-refactor").await,
        (3, vec![4, 6])
    );
    room.finish();
}

#[tokio::test]
async fn a_v1_room_comes_after_this_rooms_messages_renumbered_and_only_once() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    for content in ["ours 1", "ours 2"] {
        agent
            .ok("send_message", json!({"name": "zed", "content": content}))
            .await;
    }
    // ana has read everything here; bob has read nothing.
    agent.ok("read_unread", json!({"name": "ana"})).await;
    assert_eq!(room.status()["daemon"]["import_hint"], Value::Null);

    let source = room.root.parent().unwrap().join("other/.chatroom");
    copy_dir(&fixture("v1/chatroom"), &source);
    let source_arg = source.display().to_string();

    let text = succeeds(&room, &["import", &source_arg, "--dry-run"]);
    assert_eq!(
        text,
        format!(
            "would import {source_arg} (v1 format): 5 messages, 1 summary, 0 topics, 1 cursor\n\
             message ids 3..=7: renumbered after this room's own records\n\
             nothing was changed (--dry-run)\n"
        )
    );
    assert_eq!(
        ids(&main_room(&agent).await),
        [1, 2],
        "a dry run changes nothing"
    );
    assert!(!room.state_file("imports.json").exists());

    let text = succeeds(&room, &["import", &source_arg]);
    assert!(
        text.starts_with(&format!(
            "imported {source_arg} (v1 format): 5 messages, 1 summary, 0 topics, 1 cursor\n"
        )),
        "{text}"
    );
    let messages = main_room(&agent).await;
    assert_eq!(ids(&messages), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        contents(&messages),
        [
            "ours 1",
            "ours 2",
            "Morning",
            "Can you review #12?",
            "On it",
            "Lunch at noon",
            "bob left the chatroom"
        ]
    );
    assert_eq!(messages[5]["human"], true, "a person's message stays one");
    assert_eq!(messages[5]["ts"], "2026-03-01T09:03:00Z");
    assert_eq!(messages[4]["to"], "all");
    assert_eq!(messages[3]["to"], "ana");
    // ana had read the source up to its message 3, which is 5 here; bob's source cursor would
    // have marked this room's messages read, so his stays where it was.
    let cursor = |name: &str| json!({"name": name});
    assert_eq!(
        agent.ok("get_cursor", cursor("ana")).await["last_read_id"],
        5
    );
    assert_eq!(
        agent.ok("get_cursor", cursor("bob")).await["last_read_id"],
        0
    );
    let summary = agent.ok("read_latest_summary", json!({})).await;
    assert_eq!(summary["content"], "Reviewed #12; merged.");

    // Again, as it is or as a dry run: refused, and nothing changes.
    for args in [
        vec!["import", &source_arg],
        vec!["import", &source_arg, "--dry-run"],
    ] {
        let error = fails(&room, &args);
        assert!(
            error.starts_with("chatroomd: this source was imported before (fingerprint "),
            "{error}"
        );
        assert!(
            error
                .trim_end()
                .ends_with("importing it again would duplicate its history"),
            "{error}"
        );
    }
    assert_eq!(ids(&main_room(&agent).await), [1, 2, 3, 4, 5, 6, 7]);

    // The source's room went on: its beginning is still the source imported.
    let mut grown = std::fs::OpenOptions::new()
        .append(true)
        .open(source.join("messages.jsonl"))
        .unwrap();
    std::io::Write::write_all(
        &mut grown,
        br#"{"id":6,"ts":"2026-03-01T09:06:00Z","from":"ana","to":"all","content":"Later"}
"#,
    )
    .unwrap();
    let error = fails(&room, &["import", &source_arg]);
    assert!(
        error.trim_end().ends_with(
            "has grown since by 1 message and 0 summaries; importing it again would duplicate what was imported"
        ),
        "{error}"
    );
    assert_eq!(ids(&main_room(&agent).await), [1, 2, 3, 4, 5, 6, 7]);
    room.finish();
}

#[tokio::test]
async fn a_corrupt_source_is_named_by_its_line_and_changes_nothing() {
    let room = TestRoom::new();
    copy_dir(
        &fixture("corrupt/.chatroom_v2"),
        &room.root.join(".chatroom_v2"),
    );
    // No daemon runs: the import starts one.
    let error = fails(&room, &["import", ".chatroom_v2"]);
    assert_eq!(
        error,
        format!(
            "chatroomd: {}/.chatroom_v2/messages.jsonl:3: ts '2026-04-11 12:01:00' is not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ\n",
            room.root.display()
        )
    );
    let status = room.status();
    assert_eq!(status["daemon"]["message_count"], 0);
    assert_eq!(status["daemon"]["topic_count"], 0);
    for file in ["topics.json", "topic_cursors.json", "imports.json"] {
        assert!(!room.state_file(file).exists(), "{file}");
    }
    assert_eq!(room.read_state("messages.jsonl"), "");

    // Nor does a directory that is no room's, or an agent's session.
    let error = fails(&room, &["import", "/"]);
    assert!(
        error.ends_with("/: not a chatroom state directory (no messages.jsonl, no .chatroom_v2/ or .chatroom/)\n"),
        "{error}"
    );
    let fine = fixture("v2/.chatroom_v2").display().to_string();
    let session = connect(&room, ClientKind::Agent).await;
    let refusal = session
        .call(Request::Import {
            dir: fine.clone(),
            dry_run: false,
        })
        .await
        .expect("a reply")
        .unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::NotAllowed);
    assert_eq!(room.status()["daemon"]["message_count"], 0);
    room.finish();
}
