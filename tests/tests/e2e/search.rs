//! Search end to end: `chatroomd search` against a running daemon and against the files alone
//! (it never starts a daemon), its words, phrases, scopes, sender and visibility filters, and
//! its refusals, which are the tool's.

use chatroom_tests::{Agent, TestRoom};
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
