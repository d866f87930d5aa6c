//! Search end to end: `chatroomd search` against a running daemon and against the files alone
//! (it never starts a daemon), its words, phrases, scopes, sender and visibility filters, and
//! its refusals, which are the tool's.

use chatroom_client::{Connection, Reach};
use chatroom_tests::{Agent, TestRoom};
use protocol::{ClientKind, Request, Response};
use serde_json::{Value, json};

/// `chatroomd search ARGS --json`: the ids it printed, newest first. Panics if it failed.
fn search_ids(room: &TestRoom, args: &[&str]) -> Vec<u64> {
    let mut command = vec!["search", "--json"];
    command.extend_from_slice(args);
    let output = room.chatroomd(&command);
    assert!(
        output.status.success(),
        "chatroomd search {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|line| {
            let message: Value = serde_json::from_str(line).expect("one JSON message a line");
            message["id"].as_u64().expect("an id")
        })
        .collect()
}

/// `chatroomd search ARGS`, expected to fail: its stderr.
fn search_refusal(room: &TestRoom, args: &[&str]) -> String {
    let mut command = vec!["search"];
    command.extend_from_slice(args);
    let output = room.chatroomd(&command);
    assert!(
        !output.status.success(),
        "chatroomd search {args:?} should have failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stdout.is_empty(), "nothing on stdout for a refusal");
    String::from_utf8(output.stderr).expect("utf-8 stderr")
}

async fn send(agent: &Agent, name: &str, to: &str, content: &str) -> u64 {
    let sent = agent
        .ok(
            "send_message",
            json!({"name": name, "to": to, "content": content}),
        )
        .await;
    sent["id"].as_u64().expect("an id")
}

/// 1 ana→all, 2 bo→ana, 3 ana→bo, 4 cy→all, 5 bo→all, 6 ana→all.
async fn history(agent: &Agent) {
    let messages = [
        ("ana", "all", "The flaky socket test failed on linux"),
        ("bo", "ana", "socket test: can you rerun it?"),
        ("ana", "bo", "rerunning the FLAKY socket test now"),
        (
            "cy",
            "all",
            "release notes drafted; see docs/release-notes.md",
        ),
        ("bo", "all", "the notes on the release are fine"),
        ("ana", "all", "sockets are fine, websocket too"),
    ];
    for (expected, (from, to, content)) in (1..).zip(messages) {
        assert_eq!(send(agent, from, to, content).await, expected);
    }
}

#[tokio::test]
async fn search_finds_whole_words_newest_first_through_the_daemon() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    history(&agent).await;

    assert_eq!(search_ids(&room, &["socket test"]), [3, 2, 1]);
    assert_eq!(search_ids(&room, &["SOCKET"]), [3, 2, 1], "any case");
    assert_eq!(search_ids(&room, &["sockets"]), [6], "whole words only");
    assert_eq!(search_ids(&room, &["flaky socket", "--limit", "1"]), [3]);
    assert_eq!(search_ids(&room, &["\"release notes\""]), [4]);
    assert_eq!(search_ids(&room, &["release notes"]), [5, 4]);
    assert_eq!(search_ids(&room, &["release-notes.md"]), [4]);
    assert_eq!(search_ids(&room, &["nothing like it"]), Vec::<u64>::new());

    // Visibility as read_messages has it, and the sender.
    assert_eq!(
        search_ids(&room, &["socket", "--participant", "ana"]),
        [2, 1]
    );
    assert_eq!(
        search_ids(&room, &["socket", "--participant", "bo"]),
        [3, 1]
    );
    assert_eq!(search_ids(&room, &["socket", "--participant", "zed"]), [1]);
    assert_eq!(search_ids(&room, &["socket", "--from", "ana"]), [3, 1]);
    assert_eq!(
        search_ids(&room, &["socket", "--from", "ana", "--participant", "ana"]),
        [1]
    );
    assert_eq!(search_ids(&room, &["socket", "--topic", "*"]), [3, 2, 1]);

    // The text form is tail's lines, newest first; nothing found says so.
    let output = room.chatroomd(&["search", "flaky"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("#3 ")
            && lines[0].ends_with("ana → bo [direct]: rerunning the FLAKY socket test now"),
        "{text}"
    );
    assert!(lines[1].starts_with("#1 "), "{text}");
    let output = room.chatroomd(&["search", "absent"]);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "no messages match\n"
    );

    // A search is a read: the agent's cursor and the room are as they were.
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(status["message_count"], 6);
    room.finish();
}

#[tokio::test]
async fn search_refuses_like_the_tool_and_changes_nothing() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    history(&agent).await;
    let long = "x".repeat(65);
    for (args, expected) in [
        (vec!["  "], "query must not be blank"),
        (vec!["?!"], "query must contain a word (a letter or digit)"),
        (
            vec!["socket", "--limit", "0"],
            "limit must be between 1 and 100",
        ),
        (
            vec!["socket", "--limit", "101"],
            "limit must be between 1 and 100",
        ),
        (
            vec!["socket", "--limit", "-3"],
            "limit must be between 1 and 100",
        ),
        (
            vec!["socket", "--participant", &long],
            "participant must be at most 64 characters",
        ),
        (
            vec!["socket", "--from", "b\u{7}o"],
            "from must not contain control characters",
        ),
    ] {
        let stderr = search_refusal(&room, &args);
        assert_eq!(stderr, format!("chatroomd: {expected}\n"), "{args:?}");
    }
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(status["message_count"], 6);
    room.finish();
}

#[tokio::test]
async fn search_without_a_daemon_reads_the_files_and_starts_none() {
    let room = TestRoom::new();
    let lines = [
        r#"{"id":3,"ts":"2026-01-01T00:00:00Z","from":"ana","to":"all","content":"deploy the build"}"#,
        r#"{"id":7,"ts":"2026-01-01T00:00:01Z","from":"bo","to":"ana","content":"Deploy it again"}"#,
        r#"{"id":9,"ts":"2026-01-01T00:00:02Z","from":"cy","to":"bo","content":"no deploy today"}"#,
    ];
    room.write_state("messages.jsonl", &(lines.join("\n") + "\n"));
    assert_eq!(search_ids(&room, &["deploy"]), [9, 7, 3]);
    assert_eq!(
        search_ids(&room, &["deploy", "--participant", "ana"]),
        [7, 3]
    );
    assert_eq!(search_ids(&room, &["deploy", "--from", "cy"]), [9]);
    assert_eq!(
        search_refusal(&room, &["deploy", "--limit", "500"]),
        "chatroomd: limit must be between 1 and 100\n"
    );
    assert_eq!(room.daemon_pid(), None, "search started a daemon");
    assert!(!room.paths().socket.exists());
}

/// A connection to the room's running daemon as an agent's session, for the topic requests the
/// shim does not offer yet.
async fn agent_connection(room: &TestRoom) -> Connection {
    match Connection::reach(&room.paths(), ClientKind::Agent).await {
        Ok(Reach::Connected(connection)) => connection,
        Ok(_) => panic!("no daemon of this version answers"),
        Err(err) => panic!("cannot reach the daemon: {err}"),
    }
}

async fn send_in(connection: &Connection, topic: &str, from: &str, to: &str, content: &str) -> u64 {
    let request = Request::SendMessage {
        name: from.into(),
        content: content.into(),
        to: to.into(),
        topic_id: topic.into(),
    };
    match connection.request(request).await {
        Ok(Response::Id(id)) => id,
        other => panic!("send_message in {topic}: {other:?}"),
    }
}

#[tokio::test]
async fn search_looks_in_the_main_room_one_topic_or_every_scope() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    history(&agent).await;
    let connection = agent_connection(&room).await;
    for topic in ["parser", "docs"] {
        let request = Request::OpenTopic {
            topic_id: topic.into(),
            title: format!("The {topic}"),
            name: String::new(),
        };
        assert!(matches!(
            connection.request(request).await,
            Ok(Response::Topic(_))
        ));
    }
    assert_eq!(
        send_in(
            &connection,
            "parser",
            "ana",
            "all",
            "socket test, parser side"
        )
        .await,
        7
    );
    assert_eq!(
        send_in(&connection, "parser", "bo", "ana", "the flaky socket again").await,
        8
    );
    assert_eq!(
        send_in(&connection, "docs", "cy", "all", "socket docs").await,
        9
    );
    let close = Request::CloseTopic {
        topic_id: "docs".into(),
    };
    assert!(matches!(
        connection.request(close).await,
        Ok(Response::Closed(true))
    ));

    let check = |args: &[&str], expected: &[u64]| {
        assert_eq!(search_ids(&room, args), expected, "{args:?}");
    };
    check(&["socket"], &[3, 2, 1]);
    check(&["socket", "--topic", "parser"], &[8, 7]);
    check(&["socket", "--topic", " docs "], &[9]);
    check(&["socket", "--topic", "*"], &[9, 8, 7, 3, 2, 1]);
    check(
        &["socket", "--topic", "*", "--participant", "bo"],
        &[9, 7, 3, 1],
    );
    check(&["socket", "--topic", "*", "--from", "bo"], &[8, 2]);
    check(&["flaky socket", "--topic", "*", "--limit", "2"], &[8, 3]);
    check(&["parser", "--topic", "docs"], &[]);
    for (topic, expected) in [
        ("nope", "unknown topic_id: nope"),
        ("Parser", "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$"),
    ] {
        let stderr = search_refusal(&room, &["socket", "--topic", topic]);
        assert_eq!(stderr, format!("chatroomd: {expected}\n"), "{topic}");
    }
    // Text lines name the topic of a message in one.
    let output = room.chatroomd(&["search", "flaky", "--topic", "*"]);
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("#8 [parser] "), "{text}");
    assert!(lines[1].starts_with("#3 "), "{text}");
    // The JSON lines carry the topic's key only on a message in a topic.
    let output = room.chatroomd(&["search", "flaky", "--topic", "*", "--json", "--limit", "2"]);
    let text = String::from_utf8(output.stdout).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records[0]["topic_id"], "parser");
    assert!(records[1].get("topic_id").is_none(), "{text}");

    // With the daemon gone, the files answer the same.
    drop(connection);
    agent.close().await;
    assert!(room.stop_daemon());
    check(&["socket", "--topic", "parser"], &[8, 7]);
    check(
        &["socket", "--topic", "*", "--participant", "bo"],
        &[9, 7, 3, 1],
    );
    assert_eq!(
        search_refusal(&room, &["socket", "--topic", "nope"]),
        "chatroomd: unknown topic_id: nope\n"
    );
    assert_eq!(room.daemon_pid(), None, "search started a daemon");
}
