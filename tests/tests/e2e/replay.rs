//! Keyed writes repeated across a real daemon crash: the daemon dies after it stored the write
//! and before its reply left (the `CHATROOM_TEST_CRASH_AFTER_PERSIST` fault), the shim starts a
//! new one, joins its names again and repeats the call, and the agent sees one honest outcome
//! with the room changed exactly once. Also what the agent hears when the repeat itself kills the
//! daemon, and when its name was taken while it reconnected.

use std::path::PathBuf;

use chatroom_tests::{
    Agent, DEFAULT_TIMEOUT, TestRoom, all_messages, contents, names, wait_exit, wait_for,
};
use serde_json::{Value, json};

/// The daemon's test-only fault: crash after storing a batch that holds a keyed call.
const CRASH_AFTER_PERSIST: &str = "CHATROOM_TEST_CRASH_AFTER_PERSIST";

/// A room whose agent `ann` runs (and so starts the daemon) with the crash fault pointed at a
/// marker file that is not there yet, so nothing crashes until [`Crashing::arm`].
struct Crashing {
    room: TestRoom,
    ann: Agent,
    marker: PathBuf,
}

impl Crashing {
    async fn new() -> Self {
        let room = TestRoom::new();
        let marker = room.root.join("crash-marker");
        let ann = room.agent_with_env(CRASH_AFTER_PERSIST, &marker).await;
        ann.ok("join", json!({"name": "ann", "role": "lead"})).await;
        Self { room, ann, marker }
    }

    /// Makes the daemon crash on its next `crashes` batches holding a keyed call; returns the
    /// pid of the daemon running now.
    fn arm(&self, crashes: u32) -> u32 {
        let pid = self.room.daemon_pid().expect("a daemon runs");
        std::fs::write(&self.marker, crashes.to_string()).unwrap();
        pid
    }

    /// Asserts that the armed crash happened: the marker is used up and another daemon runs.
    fn assert_crashed(&self, pid_before: u32) {
        assert!(!self.marker.exists(), "the fault did not fire");
        let pid_after = self.room.daemon_pid().expect("a new daemon runs");
        assert_ne!(pid_after, pid_before, "the daemon was replaced");
        assert!(
            self.room.log().contains(CRASH_AFTER_PERSIST),
            "the log tells of the crash"
        );
    }
}

fn count(items: &[String], wanted: &str) -> usize {
    items.iter().filter(|item| *item == wanted).count()
}

#[tokio::test]
async fn send_message_repeated_across_a_crash_is_stored_once() {
    let crashing = Crashing::new().await;
    let pid = crashing.arm(1);
    let sent = crashing
        .ann
        .ok(
            "send_message",
            json!({"name": "ann", "content": "once only"}),
        )
        .await;
    crashing.assert_crashed(pid);
    let messages = all_messages(&crashing.ann).await;
    let stored: Vec<&Value> = messages
        .iter()
        .filter(|message| message["content"] == "once only")
        .collect();
    assert_eq!(stored.len(), 1, "{messages:?}");
    assert_eq!(stored[0]["id"], sent["id"], "the agent got the stored id");
    let present = crashing.ann.ok("list_participants", json!({})).await;
    assert_eq!(names(&present), ["ann"], "joined again after the crash");
    crashing.room.finish();
}

#[tokio::test]
async fn write_summary_repeated_across_a_crash_is_stored_once() {
    let crashing = Crashing::new().await;
    let pid = crashing.arm(1);
    let written = crashing
        .ann
        .ok(
            "write_summary",
            json!({"name": "ann", "content": "the handoff"}),
        )
        .await;
    crashing.assert_crashed(pid);
    let latest = crashing.ann.ok("read_latest_summary", json!({})).await;
    assert_eq!(latest["id"], written["id"]);
    assert_eq!(latest["content"], "the handoff");
    let lines = crashing.room.read_state("summaries.jsonl");
    assert_eq!(lines.lines().count(), 1, "stored once: {lines}");
    crashing.room.finish();
}

#[tokio::test]
async fn leave_repeated_across_a_crash_leaves_the_name_gone() {
    let crashing = Crashing::new().await;
    crashing
        .ann
        .ok("join", json!({"name": "ann-helper", "role": "general"}))
        .await;
    let pid = crashing.arm(1);
    let left = crashing.ann.ok("leave", json!({"name": "ann"})).await;
    assert_eq!(left, json!({"left": true}));
    crashing.assert_crashed(pid);
    let present = crashing.ann.ok("list_participants", json!({})).await;
    assert_eq!(
        names(&present),
        ["ann-helper"],
        "the name left stays gone; the other one was joined again"
    );
    let messages = contents(&json!(all_messages(&crashing.ann).await));
    assert_eq!(count(&messages, "ann left the chatroom"), 1, "{messages:?}");
    crashing.room.finish();
}

#[tokio::test]
async fn read_unread_repeated_across_a_crash_returns_the_same_messages_once() {
    let crashing = Crashing::new().await;
    let bob = crashing.room.agent().await;
    let mut sent = Vec::new();
    for number in 0..3 {
        let content = format!("for ann {number}");
        let id = bob
            .ok("send_message", json!({"name": "bob", "content": content}))
            .await["id"]
            .clone();
        sent.push(id);
    }
    let pid = crashing.arm(1);
    let unread = crashing.ann.ok("read_unread", json!({"name": "ann"})).await;
    crashing.assert_crashed(pid);
    let ids: Vec<Value> = unread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["id"].clone())
        .collect();
    assert_eq!(ids, sent, "the messages read the first time");
    assert_eq!(unread["last_read_id"], sent[2]);
    let cursor = crashing.ann.ok("get_cursor", json!({"name": "ann"})).await;
    assert_eq!(cursor["last_read_id"], sent[2], "the cursor moved once");
    // What is unread now is only what came after (the restarted daemon announces the names
    // its predecessor left behind, before the shim joins them again).
    let again = crashing.ann.ok("read_unread", json!({"name": "ann"})).await;
    for message in again["messages"].as_array().unwrap() {
        assert!(
            message["id"].as_u64() > sent[2].as_u64(),
            "nothing is unread twice: {again}"
        );
    }
    drop(bob);
    crashing.room.finish();
}

#[tokio::test]
async fn a_call_that_keeps_killing_the_daemon_is_not_sent_again() {
    let crashing = Crashing::new().await;
    // Three crashes armed: the write, then its first repeat, then (never reached) a second one.
    crashing.arm(3);
    let error = crashing
        .ann
        .err("send_message", json!({"name": "ann", "content": "deadly"}))
        .await;
    assert!(
        error.starts_with(
            "chatroomd exited twice while handling this call, so it was not sent again; see "
        ),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&crashing.marker).unwrap(),
        "1",
        "the call went out twice, not a third time"
    );
    std::fs::remove_file(&crashing.marker).unwrap();
    let messages = contents(&json!(all_messages(&crashing.ann).await));
    assert_eq!(
        count(&messages, "deadly"),
        1,
        "stored by the first attempt only"
    );
    crashing.room.finish();
}

#[tokio::test]
async fn a_name_taken_while_reconnecting_is_told_to_the_agent_in_one_line() {
    let room = TestRoom::new();
    let ann = room.agent().await;
    ann.ok("join", json!({"name": "ann", "role": "lead"})).await;
    let pid = room.daemon_pid().expect("a daemon runs");
    // SAFETY: kill(2) on the daemon named by the room's lock.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_for(DEFAULT_TIMEOUT, || room.daemon_pid() != Some(pid)).unwrap();
    let other = room.agent().await;
    other
        .ok("join", json!({"name": "ann", "role": "impostor"}))
        .await;
    // The shim may notice the lost connection before this call or only when it fails under it;
    // either way the call after the re-join was refused is the one that says so.
    let mut refusals = Vec::new();
    for _ in 0..2 {
        let result = ann.call("get_status", json!({})).await.unwrap();
        if result.is_error == Some(true) {
            refusals.push(ann_text(&result));
            break;
        }
    }
    assert_eq!(
        refusals,
        [
            "while this session reconnected to chatroomd, another session joined as 'ann', which this session held; this call was not carried out: join under another name, then retry"
        ]
    );
    ann.ok("get_status", json!({})).await;
    let present = ann.ok("list_participants", json!({})).await;
    assert_eq!(present[0]["role"], "impostor", "the name stays theirs");
    drop(other);
    room.finish();
}

fn ann_text(result: &rmcp::model::CallToolResult) -> String {
    chatroom_tests::text_of(result)
}

/// What any client gets, whatever it does between a keyed leave and its repeat: an older shim
/// joins all its names again on a new connection first, so the daemon itself must let the name
/// go again.
#[tokio::test]
async fn a_repeated_leave_releases_a_name_joined_again_in_between() {
    use chatroom_tests::raw;
    use protocol::frame::{MAX_CLIENT_FRAME, write_frame};
    use protocol::{ClientKind, ClientMessage, Request, Response, ServerMessage};

    let room = TestRoom::new();
    let mut daemon = room.spawn_daemon(&["--idle-timeout", "0"]);
    wait_for(DEFAULT_TIMEOUT, || room.daemon_pid().is_some()).unwrap();
    let mut stream = raw::session(&room, ClientKind::Agent, DEFAULT_TIMEOUT).await;
    let mut next_id = 0;
    let mut call = async |key: Option<u128>, request: Request| {
        next_id += 1;
        let id = next_id;
        let message = match key {
            Some(key) => ClientMessage::KeyedCall { id, key, request },
            None => ClientMessage::Call { id, request },
        };
        write_frame(&mut stream, &message, MAX_CLIENT_FRAME)
            .await
            .unwrap();
        match raw::receive(&mut stream, DEFAULT_TIMEOUT).await {
            ServerMessage::Reply {
                id: replied,
                outcome,
            } if replied == id => outcome,
            other => panic!("expected the reply to {id}, got {other:?}"),
        }
    };
    let join = || Request::Join {
        name: "ann".into(),
        role: "lead".into(),
    };
    let leave = || Request::Leave { name: "ann".into() };
    assert!(call(None, join()).await.is_ok());
    assert_eq!(call(Some(0xa11), leave()).await, Ok(Response::Left(true)));
    assert!(
        call(None, join()).await.is_ok(),
        "joined again, as a reconnect does"
    );
    assert_eq!(call(Some(0xa11), leave()).await, Ok(Response::Left(true)));
    let Ok(Response::Participants(present)) = call(None, Request::ListParticipants).await else {
        panic!("not a participant list");
    };
    assert!(
        present.is_empty(),
        "the repeat released the name: {present:?}"
    );
    room.stop_daemon();
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).unwrap();
}
