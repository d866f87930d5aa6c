//! The files: a v2-style agent (an explicit `topic_id` on every call) beside a v1 agent in one
//! room, each seeing its own shapes, and the files both leave behind; a room used the v1 way
//! keeps exactly the v1 files and records.

use chatroom_tests::{
    RECORD_KEYS, TOPIC_RECORD_KEYS, TestRoom, check_records, check_records_among, ids,
    keys_in_order,
};
use serde_json::{Value, json};

use super::{PATTERN, TOPIC_KEYS, assert_topic, topic_ids, topical};

/// The files' records: each line of a JSONL file parsed, checked against `shapes` in order.
fn lines(text: &str, shapes: &[&[&str]]) -> Vec<Value> {
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|line| {
            check_records_among(line, shapes).unwrap_or_else(|problem| panic!("{problem}: {line}"));
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

fn object(room: &TestRoom, file: &str) -> Value {
    let text = room.read_state(file);
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{file}: {err}: {text:?}"))
}

/// The files of `.chatroom/` that are not ours (lock, log, endpoint, journal, keys): the ones
/// the Python servers' formats define.
fn compatible_files(room: &TestRoom) -> Vec<String> {
    let ours = ["journal", "idempotency.jsonl"];
    let mut files: Vec<String> = std::fs::read_dir(room.state_dir())
        .expect(".chatroom/")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("chatroomd.") && !ours.contains(&name.as_str()))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_v2_agent_and_a_v1_agent_share_a_room_and_its_files_without_seeing_each_others_topics() {
    let room = TestRoom::new();
    // The v2 agent calls as the Python v2 server's callers do: `topic_id` on every call, by
    // name. The v1 agent never names a topic, and its results must keep v1's shapes exactly.
    let (v2, v1) = tokio::join!(topical(&room), room.agent());
    v2.ok("join", json!({"name": "py-agent", "role": "v2"}))
        .await;
    v1.ok("join", json!({"name": "old-agent", "role": "v1"}))
        .await;

    let topic = v2
        .ok(
            "open_topic",
            json!({"topic_id": "feature-x", "title": "Feature X"}),
        )
        .await;
    assert_topic(&topic, "feature-x", "Feature X", "open", "system");
    let v1_hello = v1
        .ok(
            "send_message",
            json!({"name": "old-agent", "content": "v1 hello"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let v2_first = v2
        .ok(
            "send_message",
            json!({"name": "py-agent", "topic_id": "feature-x", "content": "v2 starts", "to": "all"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let v2_direct = v2
        .ok(
            "send_message",
            json!({"name": "py-agent", "topic_id": "feature-x", "content": "v2 to itself", "to": "py-agent"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let v1_reply = v1
        .ok(
            "send_message",
            json!({"name": "old-agent", "content": "v1 again", "to": "all"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();

    // v2's reads, every one with its topic.
    let read = v2
        .ok(
            "read_messages",
            json!({"topic_id": "feature-x", "since_id": 0, "limit": 50, "participant": ""}),
        )
        .await;
    assert_eq!(ids(&read), [v2_first, v2_direct]);
    assert_eq!(
        v2.ok(
            "get_cursor",
            json!({"name": "py-agent", "topic_id": "feature-x"})
        )
        .await,
        json!({"name": "py-agent", "topic_id": "feature-x", "last_read_id": 0})
    );
    assert_eq!(
        v2.ok(
            "set_cursor",
            json!({"name": "py-agent", "topic_id": "feature-x", "message_id": v2_first})
        )
        .await,
        json!({"name": "py-agent", "topic_id": "feature-x", "last_read_id": v2_first})
    );
    let unread = v2
        .ok(
            "read_unread",
            json!({"name": "py-agent", "topic_id": "feature-x", "limit": 50, "mark_read": true}),
        )
        .await;
    assert_eq!(ids(&unread["messages"]), [v2_direct]);
    assert_eq!(unread["topic_id"], "feature-x");
    let v2_summary = v2
        .ok(
            "write_summary",
            json!({"name": "py-agent", "topic_id": "feature-x", "content": "feature x: half", "scope": "all"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        v2.ok(
            "read_latest_summary",
            json!({"topic_id": "feature-x", "scope": "all"})
        )
        .await["id"],
        v2_summary
    );
    let handoff = v2
        .ok(
            "get_handoff",
            json!({"name": "py-agent", "topic_id": "feature-x", "recent_limit": 10}),
        )
        .await;
    assert_eq!(handoff["topic"]["id"], "feature-x");
    assert_eq!(ids(&handoff["recent_messages"]), [v2_first, v2_direct]);
    assert_eq!(handoff["unread_count"], 0);
    assert_eq!(handoff["latest_summary"]["id"], v2_summary);
    let listed = v2
        .ok("list_topics", json!({"name": "py-agent", "status": "open"}))
        .await;
    assert_eq!(topic_ids(&listed), ["feature-x"]);
    assert_eq!(listed[0]["cursor"], v2_direct);

    // v1's calls see the main room only, in v1's shapes (`Agent::ok` checks every record).
    let inbox = v1.ok("read_unread", json!({"name": "old-agent"})).await;
    assert_eq!(ids(&inbox["messages"]), [v1_hello, v1_reply]);
    let v1_summary = v1
        .ok(
            "write_summary",
            json!({"name": "old-agent", "content": "v1 summary"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let handoff = v1.ok("get_handoff", json!({"name": "old-agent"})).await;
    assert_eq!(ids(&handoff["recent_messages"]), [v1_hello, v1_reply]);
    assert_eq!(handoff["latest_summary"]["id"], v1_summary);
    assert_eq!(handoff["latest_message_id"], v1_reply);
    assert_eq!(handoff["unread_count"], 0);
    assert_eq!(
        v1.ok("read_latest_summary", json!({})).await["content"],
        "v1 summary"
    );
    assert_eq!(
        ids(&v1.ok("read_messages", json!({})).await),
        [v1_hello, v1_reply]
    );
    assert_eq!(
        v1.ok("get_cursor", json!({"name": "old-agent"})).await,
        json!({"name": "old-agent", "last_read_id": v1_reply})
    );
    // ... and so do v2's names there: py-agent has no unread in the main room from its topic.
    let main_of_v2 = v1
        .ok(
            "read_unread",
            json!({"name": "py-agent", "mark_read": false}),
        )
        .await;
    assert_eq!(ids(&main_of_v2["messages"]), [v1_hello, v1_reply]);
    // get_status is the one v1 result that grows once the room has topics.
    let status = v2.ok("get_status", json!({})).await;
    assert_eq!(status["message_count"], 4);
    assert_eq!(status["topic_count"], 1);
    assert_eq!(status["summary_count"], 2);

    v2.ok("close_topic", json!({"topic_id": "feature-x"})).await;
    let closed = v2.ok("list_topics", json!({"status": "all"})).await[0].clone();
    v2.ok("leave", json!({"name": "py-agent"})).await;
    v1.ok("leave", json!({"name": "old-agent"})).await;
    v1.close().await;
    v2.close().await;
    assert!(room.stop_daemon(), "a daemon served the room");

    // The files: one log of each kind with topic lines keyed, v1's cursors for the main room,
    // the topic cursors and the topics beside them.
    let messages = lines(&room.read_state("messages.jsonl"), TOPIC_RECORD_KEYS);
    assert_eq!(ids(&Value::Array(messages.clone())), [1, 2, 3, 4, 5, 6]);
    for message in &messages {
        let line = serde_json::to_string(message).unwrap();
        match message["content"].as_str().unwrap() {
            "v2 starts" | "v2 to itself" => {
                assert_eq!(message["topic_id"], "feature-x", "{line}")
            }
            _ => check_records(&line).unwrap_or_else(|problem| panic!("{problem}: {line}")),
        }
    }
    assert_eq!(messages[4]["content"], "py-agent left the chatroom");
    assert_eq!(messages[5]["content"], "old-agent left the chatroom");
    let summaries = lines(&room.read_state("summaries.jsonl"), TOPIC_RECORD_KEYS);
    assert_eq!(
        keys_in_order(&summaries[0]),
        ["id", "ts", "topic_id", "from", "scope", "content"]
    );
    assert_eq!(summaries[0]["topic_id"], "feature-x");
    assert_eq!(
        keys_in_order(&summaries[1]),
        ["id", "ts", "from", "scope", "content"]
    );
    assert_eq!(
        object(&room, "cursors.json"),
        json!({"old-agent": v1_reply})
    );
    assert_eq!(
        object(&room, "topic_cursors.json"),
        json!({"py-agent": {"feature-x": v2_direct}})
    );
    let topics = object(&room, "topics.json");
    assert_eq!(topics, json!({"feature-x": closed}));
    assert_eq!(keys_in_order(&topics["feature-x"]), TOPIC_KEYS);
    assert_eq!(
        compatible_files(&room),
        [
            "cursors.json",
            "messages.jsonl",
            "participants.json",
            "summaries.jsonl",
            "topic_cursors.json",
            "topics.json"
        ]
    );

    // A new daemon reads all of it back: topics, per-scope cursors, both logs.
    let again = topical(&room).await;
    assert_eq!(
        again.ok("list_topics", json!({"status": "all"})).await,
        json!([closed])
    );
    assert_eq!(
        again
            .ok(
                "get_cursor",
                json!({"name": "py-agent", "topic_id": "feature-x"})
            )
            .await["last_read_id"],
        v2_direct
    );
    assert_eq!(
        again.ok("get_cursor", json!({"name": "old-agent"})).await["last_read_id"],
        v1_reply
    );
    assert_eq!(
        ids(&again
            .ok("read_messages", json!({"topic_id": "feature-x"}))
            .await),
        [v2_first, v2_direct]
    );
    assert_eq!(
        again
            .err(
                "send_message",
                json!({"name": "py-agent", "topic_id": "feature-x", "content": "still closed"})
            )
            .await,
        "topic 'feature-x' is closed"
    );
    again.close().await;
    room.finish();
}

#[tokio::test]
async fn a_room_used_the_v1_way_keeps_exactly_the_v1_files_and_records() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "ann"})).await;
    let hello = agent
        .ok("send_message", json!({"name": "ann", "content": "hello"}))
        .await["id"]
        .as_u64()
        .unwrap();
    agent
        .ok(
            "send_message",
            json!({"name": "ann", "content": "psst", "to": "bob"}),
        )
        .await;
    agent.ok("read_unread", json!({"name": "bob"})).await;
    agent
        .ok("set_cursor", json!({"name": "ann", "message_id": hello}))
        .await;
    agent
        .ok("write_summary", json!({"name": "ann", "content": "done"}))
        .await;
    agent.ok("get_handoff", json!({"name": "ann"})).await;
    // The topic tools' reads find nothing and refusals change nothing: still a v1 room.
    assert_eq!(
        agent.ok("list_topics", json!({"status": "all"})).await,
        json!([])
    );
    assert_eq!(
        agent
            .err("open_topic", json!({"topic_id": "Bad", "title": "t"}))
            .await,
        PATTERN
    );
    assert_eq!(
        agent.err("close_topic", json!({"topic_id": "nope"})).await,
        "unknown topic_id: nope"
    );
    let (_, status) = agent.ok_text("get_status", json!({})).await;
    assert!(
        status.starts_with(r#"{"participant_count":1,"message_count":2,"last_activity_ts":"#)
            && !status.contains("topic"),
        "{status}"
    );
    agent.ok("leave", json!({"name": "ann"})).await;
    agent.close().await;
    assert!(room.stop_daemon());

    assert_eq!(
        compatible_files(&room),
        [
            "cursors.json",
            "messages.jsonl",
            "participants.json",
            "summaries.jsonl"
        ]
    );
    let messages = lines(&room.read_state("messages.jsonl"), RECORD_KEYS);
    assert_eq!(messages.len(), 3);
    assert_eq!(
        lines(&room.read_state("summaries.jsonl"), RECORD_KEYS).len(),
        1
    );
    assert_eq!(
        object(&room, "cursors.json"),
        json!({"ann": hello, "bob": 2})
    );
    room.finish();
}
