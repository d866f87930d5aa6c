//! Topics end to end, as the contract's "Topics (v2-compatible)" defines them, through real
//! shims and an auto-started daemon: each topic tool and each of its refusals (exact texts),
//! the scopes (a topic's reads and the main room's never see each other; cursors, summaries and
//! `set_cursor`'s bound are per scope; a topic's handoff carries its record), search and its
//! filters, a v2-style agent (an explicit `topic_id` on every call) beside a v1 agent in one
//! room, and the files both leave behind. A room used the v1 way keeps exactly the v1 files and
//! records: agents that never name a topic check their results against v1's shapes only.
//!
//! One submodule per seam: `lifecycle` (`open_topic`, `close_topic`, `list_topics` and every
//! topic-scoped tool's refusals), `scopes` (a topic and the main room never see each other),
//! `searching` (`search_messages` within its filters) and `files` (a v2 agent beside a v1 agent
//! and the files they leave; a room used the v1 way keeps exactly the v1 files). Here: the
//! constants and helpers more than one of them uses. (Not `tools` or `search`: the filters
//! `tools::` and `search::` run those areas, and would pick these up too.)

mod files;
mod lifecycle;
mod scopes;
mod searching;

use chatroom_tests::{Agent, TOPIC_KEYS, TestRoom, is_timestamp, keys_in_order};
use serde_json::{Value, json};

/// The refusal of a `topic_id` that is not blank and not a topic id.
const PATTERN: &str = "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$";

/// An agent whose results may hold the records of topics.
async fn topical(room: &TestRoom) -> Agent {
    room.agent().await.with_topic_records()
}

/// Opens `topic_id` with `title` (and `name` as its creator when given) and returns the record.
async fn open(agent: &Agent, topic_id: &str, title: &str, name: Option<&str>) -> Value {
    let mut args = json!({"topic_id": topic_id, "title": title});
    if let Some(name) = name {
        args["name"] = json!(name);
    }
    agent.ok("open_topic", args).await
}

/// Sends `content` from `name` to `to` in `topic_id` ("" for the main room); returns its id.
async fn send(agent: &Agent, topic_id: &str, name: &str, to: &str, content: &str) -> u64 {
    let reply = agent
        .ok(
            "send_message",
            json!({"name": name, "topic_id": topic_id, "content": content, "to": to}),
        )
        .await;
    assert_eq!(keys_in_order(&reply), ["id"], "{reply}");
    reply["id"].as_u64().expect("an id")
}

/// Writes a summary from `name` with `scope` in `topic_id`; returns its id.
async fn summarize(agent: &Agent, topic_id: &str, name: &str, scope: &str, content: &str) -> u64 {
    let reply = agent
        .ok(
            "write_summary",
            json!({"name": name, "topic_id": topic_id, "content": content, "scope": scope}),
        )
        .await;
    reply["id"].as_u64().expect("an id")
}

/// Asserts `record` is the topic `id` with `title`, `status` and `created_by`, its keys in v2's
/// order, `closed_at` set exactly when closed, and every time a contract timestamp.
fn assert_topic(record: &Value, id: &str, title: &str, status: &str, created_by: &str) {
    assert_eq!(keys_in_order(record)[..7], TOPIC_KEYS, "{record}");
    assert_eq!(record["id"], id, "{record}");
    assert_eq!(record["title"], title, "{record}");
    assert_eq!(record["status"], status, "{record}");
    assert_eq!(record["created_by"], created_by, "{record}");
    for key in ["created_at", "last_activity_ts"] {
        assert!(
            is_timestamp(record[key].as_str().unwrap_or_default()),
            "{key}: {record}"
        );
    }
    match status {
        "open" => assert_eq!(record["closed_at"], Value::Null, "{record}"),
        _ => assert!(
            is_timestamp(record["closed_at"].as_str().unwrap_or_default()),
            "{record}"
        ),
    }
    assert!(
        record["last_activity_ts"].as_str() >= record["created_at"].as_str(),
        "{record}"
    );
}

/// The `id`s of a list of topics, in the order listed.
fn topic_ids(topics: &Value) -> Vec<&str> {
    topics
        .as_array()
        .expect("a list of topics")
        .iter()
        .map(|topic| topic["id"].as_str().expect("a topic id"))
        .collect()
}
