//! The journal's crash points: the daemon SIGKILLs itself (the `CHATROOM_TEST_CRASH_AT` fault)
//! after a batch is synced in the journal but before the compatible files hold it, in the middle
//! of replaying the journal at start, and in a checkpoint; the next start shows every
//! acknowledged message, summary, cursor and idempotency key exactly once with gap-free ids, and
//! a clean stop leaves the Python-format files complete and the journal empty.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chatroom_tests::{Agent, DEFAULT_TIMEOUT, TestRoom, all_messages, wait_for};
use serde_json::{Value, json};

/// The daemon's test-only fault: crash at a named step of the journal's path.
const CRASH_AT: &str = "CHATROOM_TEST_CRASH_AT";

/// A room whose agent `ann` (and so every daemon its shim starts) runs with each of `steps`
/// armed by a marker file that is not there yet, so nothing crashes until [`arm`].
async fn crashing_room(steps: &[&str]) -> (TestRoom, Agent, Vec<PathBuf>) {
    let room = TestRoom::new();
    let markers: Vec<PathBuf> = steps
        .iter()
        .map(|step| room.root.join(format!("crash-{step}")))
        .collect();
    let value = steps
        .iter()
        .zip(&markers)
        .map(|(step, marker)| format!("{step}={}", marker.display()))
        .collect::<Vec<_>>()
        .join(",");
    let ann = room.agent_with_env(CRASH_AT, value).await;
    ann.ok("join", json!({"name": "ann", "role": "lead"})).await;
    (room, ann, markers)
}

/// Arms `marker` for one crash; returns the pid of the daemon running now.
fn arm(room: &TestRoom, marker: &Path) -> u32 {
    let pid = room.daemon_pid().expect("a daemon runs");
    std::fs::write(marker, "1").unwrap();
    pid
}

fn assert_crashed(room: &TestRoom, marker: &Path, pid_before: u32, step: &str) {
    assert!(!marker.exists(), "the {step} fault did not fire");
    assert!(
        room.log()
            .contains(&format!("killing this daemon at {step}")),
        "the log tells of the crash at {step}"
    );
    assert_ne!(
        room.daemon_pid(),
        Some(pid_before),
        "the daemon was replaced"
    );
}

async fn send(agent: &Agent, content: &str) -> u64 {
    let reply = agent
        .ok("send_message", json!({"name": "ann", "content": content}))
        .await;
    reply["id"].as_u64().expect("an id")
}

/// The JSON records of a JSONL state file, each line whole.
fn records(room: &TestRoom, name: &str) -> Vec<Value> {
    room.read_state(name)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{name}: {line:?}: {err}"))
        })
        .collect()
}

/// Stops the daemon cleanly and checks what a clean stop promises: the journal is empty and
/// the Python-format files hold every message once with ids 1..=n, every key once.
fn assert_clean_files(room: &TestRoom) -> (Vec<Value>, Vec<Value>) {
    room.stop_daemon();
    assert_eq!(room.daemon_pid(), None);
    assert_eq!(
        std::fs::metadata(room.state_file("journal")).unwrap().len(),
        0,
        "a clean stop empties the journal"
    );
    let messages = records(room, "messages.jsonl");
    let ids: Vec<u64> = messages.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "gap-free ids"
    );
    let summaries = records(room, "summaries.jsonl");
    let ids: Vec<u64> = summaries
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "gap-free summary ids"
    );
    let keys = records(room, "idempotency.jsonl");
    let unique: HashSet<String> = keys.iter().map(|k| k["key"].to_string()).collect();
    assert_eq!(unique.len(), keys.len(), "every key once: {keys:?}");
    (messages, summaries)
}

/// The files hold what the daemon served, then the departure of the agent that closed.
fn assert_served(files: &[Value], served: &[Value]) {
    assert_eq!(
        &files[..served.len()],
        served,
        "the files hold what the daemon served"
    );
    let rest: Vec<&Value> = files[served.len()..].iter().collect();
    assert!(
        rest.len() == 1 && rest[0]["content"] == "ann left the chatroom",
        "{rest:?}"
    );
}

fn count(messages: &[Value], content: &str) -> usize {
    messages.iter().filter(|m| m["content"] == content).count()
}

#[tokio::test]
async fn writes_journalled_but_not_in_the_files_survive_a_crash_and_a_crashed_recovery() {
    let (room, ann, markers) = crashing_room(&["journal-synced", "recovery"]).await;
    let (synced, recovery) = (&markers[0], &markers[1]);
    let before = send(&ann, "before").await;

    // Each kind of write: the daemon dies with the batch in the journal only; the shim starts a
    // new daemon, which replays the journal, and the repeat gets the first outcome.
    let pid = arm(&room, synced);
    let message = send(&ann, "journalled message").await;
    assert_crashed(&room, synced, pid, "journal-synced");
    let pid = arm(&room, synced);
    let summary = ann
        .ok(
            "write_summary",
            json!({"name": "ann", "content": "journalled summary"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    assert_crashed(&room, synced, pid, "journal-synced");
    let pid = arm(&room, synced);
    ann.ok("set_cursor", json!({"name": "ann", "message_id": message}))
        .await;
    assert_crashed(&room, synced, pid, "journal-synced");

    // Then the daemon dies in the batch and its successor dies while replaying it: the call may
    // fail (the daemon died under it twice), but its write is stored once, by the third start.
    std::fs::write(recovery, "1").unwrap();
    let pid = arm(&room, synced);
    let last = ann
        .call(
            "send_message",
            json!({"name": "ann", "content": "twice crashed"}),
        )
        .await;
    assert!(!synced.exists(), "the journal-synced fault did not fire");
    let replaced = wait_for(DEFAULT_TIMEOUT, || !recovery.exists());
    assert!(replaced.is_ok(), "the recovery fault did not fire");
    assert!(room.log().contains("killing this daemon at recovery"));
    let after = send(&ann, "after").await;
    assert_ne!(room.daemon_pid(), Some(pid));

    let replays = room
        .log()
        .lines()
        .filter(|line| {
            line.contains("replayed the journal")
                && !(line.contains("lines_replayed=0") && line.contains("objects_rewritten=0"))
        })
        .count();
    assert!(
        replays >= 4,
        "each crash was repaired from the journal:\n{}",
        room.log()
    );
    let messages = all_messages(&ann).await;
    for content in ["before", "journalled message", "twice crashed", "after"] {
        assert_eq!(count(&messages, content), 1, "{content}: {messages:?}");
    }
    let id_of = |content: &str| {
        messages.iter().find(|m| m["content"] == content).unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(id_of("before"), before);
    assert_eq!(
        id_of("journalled message"),
        message,
        "the agent got the stored id"
    );
    assert_eq!(id_of("after"), after);
    if let Ok(result) = last
        && result.is_error != Some(true)
    {
        let reply: Value = result.structured_content.expect("a structured reply");
        assert_eq!(reply["id"].as_u64(), Some(id_of("twice crashed")));
    }
    let cursor = ann.ok("get_cursor", json!({"name": "ann"})).await;
    assert_eq!(cursor["last_read_id"].as_u64(), Some(message));
    let latest = ann.ok("read_latest_summary", json!({})).await;
    assert_eq!(latest["id"].as_u64(), Some(summary));
    ann.close().await;

    let (files, summaries) = assert_clean_files(&room);
    assert_served(&files, &messages);
    assert_eq!(count(&summaries, "journalled summary"), 1);
    let cursors: Value = serde_json::from_str(&room.read_state("cursors.json")).unwrap();
    assert_eq!(cursors["ann"].as_u64(), Some(message));
    room.finish();
}

#[tokio::test]
async fn a_crash_after_the_files_and_one_in_a_checkpoint_lose_and_double_nothing() {
    let (room, ann, markers) = crashing_room(&["files-written", "checkpoint"]).await;
    let (written, checkpoint) = (&markers[0], &markers[1]);
    let pid = arm(&room, written);
    let first = send(&ann, "written, not replied").await;
    assert_crashed(&room, written, pid, "files-written");
    let second = send(&ann, "second").await;

    // The clean stop's checkpoint dies with the files synced and the journal still full.
    let pid = arm(&room, checkpoint);
    let _ = room.chatroomd(&["stop"]);
    wait_for(DEFAULT_TIMEOUT, || room.daemon_pid() != Some(pid)).expect("the daemon died");
    assert!(!checkpoint.exists(), "the checkpoint fault did not fire");
    // The journal is padded with zeros: it must still hold records, not only its length.
    assert!(
        std::fs::read(room.state_file("journal"))
            .unwrap()
            .iter()
            .any(|byte| *byte != 0),
        "the journal keeps its batches until the checkpoint is done"
    );

    // The next start replays batches that are already in the files: nothing twice.
    let third = send(&ann, "third").await;
    let messages = all_messages(&ann).await;
    for (content, id) in [
        ("written, not replied", first),
        ("second", second),
        ("third", third),
    ] {
        assert_eq!(count(&messages, content), 1, "{content}: {messages:?}");
        let stored = messages.iter().find(|m| m["content"] == content).unwrap();
        assert_eq!(stored["id"].as_u64(), Some(id));
    }
    ann.close().await;
    let (files, _) = assert_clean_files(&room);
    assert_served(&files, &messages);
    room.finish();
}

#[tokio::test]
async fn topic_writes_journalled_but_not_in_the_files_survive_a_crash() {
    let (room, ann, markers) = crashing_room(&["journal-synced"]).await;
    let ann = ann.with_topic_records();
    let synced = &markers[0];

    // Each topic write dies with its batch in the journal only; the shim's retry meets the
    // replayed room and gets the first outcome.
    let pid = arm(&room, synced);
    let opened = ann
        .ok(
            "open_topic",
            json!({"topic_id": "auth", "title": "Auth", "name": "ann"}),
        )
        .await;
    assert_eq!(opened["id"], "auth");
    assert_crashed(&room, synced, pid, "journal-synced");
    let pid = arm(&room, synced);
    let sent = ann
        .ok(
            "send_message",
            json!({"name": "ann", "topic_id": "auth", "content": "in auth"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    assert_crashed(&room, synced, pid, "journal-synced");
    let pid = arm(&room, synced);
    let read = ann
        .ok("read_unread", json!({"name": "ann", "topic_id": "auth"}))
        .await;
    assert_eq!(read["topic_id"], "auth");
    assert_crashed(&room, synced, pid, "journal-synced");
    ann.ok(
        "set_cursor",
        json!({"name": "ann", "topic_id": "auth", "message_id": sent}),
    )
    .await;
    let pid = arm(&room, synced);
    assert_eq!(
        ann.ok("close_topic", json!({"topic_id": "auth"})).await,
        json!({"closed": true}),
        "the repeat of the close answers as the first did"
    );
    assert_crashed(&room, synced, pid, "journal-synced");

    let topics = ann
        .ok("list_topics", json!({"name": "ann", "status": "all"}))
        .await;
    let topics = topics.as_array().unwrap().clone();
    assert_eq!(topics.len(), 1, "{topics:?}");
    assert_eq!(topics[0]["status"], "closed");
    assert_eq!(topics[0]["created_by"], "ann");
    assert_eq!(topics[0]["cursor"].as_u64(), Some(sent));
    let in_topic = ann
        .ok("read_messages", json!({"topic_id": "auth"}))
        .await
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(in_topic.len(), 1, "stored once: {in_topic:?}");
    assert_eq!(in_topic[0]["id"].as_u64(), Some(sent));

    // A clean stop leaves the v2-shaped objects complete.
    ann.close().await;
    let (messages, _) = assert_clean_files(&room);
    assert_eq!(count(&messages, "in auth"), 1);
    let topics: Value = serde_json::from_str(&room.read_state("topics.json")).unwrap();
    assert_eq!(topics["auth"]["status"], "closed");
    let cursors: Value = serde_json::from_str(&room.read_state("topic_cursors.json")).unwrap();
    assert_eq!(cursors, json!({"ann": {"auth": sent}}));
    room.finish();
}
