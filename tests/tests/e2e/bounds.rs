//! State that must stay bounded while a daemon runs: the idempotency keys file, and the log
//! across many short-lived failed starts. Both bounds are set small through their test-only
//! variables, so the real code paths run with small numbers.

use std::path::Path;

use chatroom_tests::{DEFAULT_TIMEOUT, TestRoom, ids, wait_exit};
use serde_json::{Value, json};

/// The keys the daemon remembers at most, in these tests.
const KEY_LIMIT: usize = 8;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[tokio::test]
async fn the_idempotency_keys_file_stays_bounded_while_running() {
    let room = TestRoom::new();
    let mut command = room.chatroomd_command(&["serve"]);
    command.env("CHATROOM_TEST_KEY_LIMIT", KEY_LIMIT.to_string());
    let mut daemon = room.spawn_daemon_from(command);
    let keys_file = room.state_file("idempotency.jsonl");

    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    // Every send is a keyed write, so each adds a line; the file may hold dead keys, but never
    // more than the live ones twice over plus a slack of the limit.
    let bound = 3 * KEY_LIMIT;
    let mut longest = 0;
    let mut sent = Vec::new();
    for index in 0..100 {
        let reply = agent
            .ok(
                "send_message",
                json!({"name": "alice", "content": format!("message {index}")}),
            )
            .await;
        sent.push(reply["id"].as_u64().unwrap());
        longest = longest.max(lines(&keys_file).len());
    }
    assert!(
        longest <= bound,
        "idempotency.jsonl grew to {longest} lines (bound {bound})"
    );
    // No live key was lost on the way: the newest writes' keys are all in the file.
    let kept: Vec<u64> = lines(&keys_file)
        .iter()
        .filter_map(|record| record["recorded"]["message"]["id"].as_u64())
        .collect();
    for id in &sent[sent.len() - KEY_LIMIT..] {
        assert!(
            kept.contains(id),
            "the key of message {id} is gone: {kept:?}"
        );
    }
    // Nor any message.
    let messages = agent
        .ok(
            "read_messages",
            json!({"since_id": sent[0] - 1, "limit": 100}),
        )
        .await;
    assert_eq!(ids(&messages), sent);
    agent.close().await;
    assert!(room.stop_daemon());
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).expect("the daemon exits");
}

#[test]
fn the_log_stays_bounded_across_many_failed_starts() {
    let room = TestRoom::new();
    // A corrupt line before the end stops every start, and each start appends its failure.
    room.write_state(
        "messages.jsonl",
        "{\"id\": 1, broken\n{\"id\": 2, \"ts\": \"2026-01-02T03:04:05Z\", \"from\": \"a\", \"to\": \"all\", \"content\": \"x\"}\n",
    );
    const MAX: u64 = 2048;
    for attempt in 0..30 {
        let mut command = room.chatroomd_command(&["send", "--as", "maria", "hello"]);
        command.env("CHATROOM_TEST_LOG_MAX_BYTES", MAX.to_string());
        let output = chatroom_tests::run_bounded(command, DEFAULT_TIMEOUT).expect("send ends");
        assert!(
            !output.status.success(),
            "attempt {attempt} cannot start a daemon"
        );
    }
    let size = |name: &str| std::fs::metadata(room.state_file(name)).map_or(0, |m| m.len());
    // Each file holds at most the bound plus what one start writes past it.
    let (current, old) = (size("chatroomd.log"), size("chatroomd.log.1"));
    assert!(current <= 2 * MAX, "chatroomd.log is {current} bytes");
    assert!(old > 0 && old <= 2 * MAX, "chatroomd.log.1 is {old} bytes");
    assert!(
        !room.state_file("chatroomd.log.2").exists(),
        "one old file is kept"
    );
    // The newest failure is in the current file, naming the place.
    let log = room.log();
    assert!(log.contains("messages.jsonl:1:"), "{log}");
}
