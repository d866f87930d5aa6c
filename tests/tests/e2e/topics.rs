//! Topics end to end, as the contract's "Topics (v2-compatible)" defines them, through real
//! shims and an auto-started daemon: each topic tool and each of its refusals (exact texts),
//! the scopes (a topic's reads and the main room's never see each other; cursors, summaries and
//! `set_cursor`'s bound are per scope; a topic's handoff carries its record), search and its
//! filters, a v2-style agent (an explicit `topic_id` on every call) beside a v1 agent in one
//! room, and the files both leave behind. A room used the v1 way keeps exactly the v1 files and
//! records: agents that never name a topic check their results against v1's shapes only.

use std::time::Duration;

use chatroom_tests::{
    Agent, RECORD_KEYS, TOPIC_RECORD_KEYS, TestRoom, check_records, check_records_among, ids,
    is_timestamp, keys_in_order, unix_now, wait_for,
};
use serde_json::{Value, json};

/// The refusal of a `topic_id` that is not blank and not a topic id.
const PATTERN: &str = "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$";

/// A topic record's keys, in v2's order.
const TOPIC_KEYS: [&str; 7] = [
    "id",
    "title",
    "status",
    "created_by",
    "created_at",
    "closed_at",
    "last_activity_ts",
];

/// The keys `list_topics(name=...)` adds after the record's own.
const PROGRESS_KEYS: [&str; 4] = [
    "latest_message_id",
    "cursor",
    "unread_count",
    "latest_summary",
];

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

/// Asserts a topic list is in v2's order: `last_activity_ts` descending, ties by `id`
/// descending.
fn assert_v2_order(topics: &Value) {
    let order: Vec<(&str, &str)> = topics
        .as_array()
        .expect("a list of topics")
        .iter()
        .map(|topic| {
            (
                topic["last_activity_ts"].as_str().unwrap(),
                topic["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        order.windows(2).all(|pair| pair[0] > pair[1]),
        "not newest activity first, ties by id descending: {order:?}"
    );
}

/// Lets the clock pass the current second, so that what happens next has a later timestamp.
fn next_second() {
    let now = unix_now();
    wait_for(Duration::from_secs(3), || unix_now() > now).expect("the clock moves");
}

#[tokio::test]
async fn open_topic_returns_its_record_and_refuses_bad_ids_blank_titles_and_existing_ids() {
    let room = TestRoom::new();
    let agent = topical(&room).await;

    let (auth, text) = agent
        .ok_text(
            "open_topic",
            json!({"topic_id": "auth", "title": "Auth rework", "name": "ann"}),
        )
        .await;
    assert_topic(&auth, "auth", "Auth rework", "open", "ann");
    assert_eq!(keys_in_order(&auth), TOPIC_KEYS);
    assert_eq!(auth["last_activity_ts"], auth["created_at"], "{text}");
    assert!(text.starts_with(r#"{"id":"auth","title":"Auth rework","status":"open","#));

    // Everything is trimmed; without a name the creator is v2's "system".
    let review = open(&agent, " review.1_x-y ", "  Review of #12 ", None).await;
    assert_topic(&review, "review.1_x-y", "Review of #12", "open", "system");
    let longest = "a".repeat(64);
    let longest_topic = open(&agent, &longest, "the longest id", Some(" bob ")).await;
    assert_topic(&longest_topic, &longest, "the longest id", "open", "bob");
    assert_topic(
        &open(&agent, "9lives", "starts with a digit", None).await,
        "9lives",
        "starts with a digit",
        "open",
        "system",
    );

    let refusals = [
        (
            json!({"topic_id": "Auth", "title": "t"}),
            PATTERN.to_owned(),
        ),
        (
            json!({"topic_id": "-auth", "title": "t"}),
            PATTERN.to_owned(),
        ),
        (
            json!({"topic_id": ".auth", "title": "t"}),
            PATTERN.to_owned(),
        ),
        (json!({"topic_id": "a b", "title": "t"}), PATTERN.to_owned()),
        (json!({"topic_id": "a/b", "title": "t"}), PATTERN.to_owned()),
        (
            json!({"topic_id": "café", "title": "t"}),
            PATTERN.to_owned(),
        ),
        (json!({"topic_id": "*", "title": "t"}), PATTERN.to_owned()),
        (
            json!({"topic_id": "a".repeat(65), "title": "t"}),
            PATTERN.to_owned(),
        ),
        (
            json!({"topic_id": "   ", "title": "t"}),
            "topic_id must not be blank".to_owned(),
        ),
        (
            json!({"topic_id": "fresh", "title": " \n "}),
            "title must not be blank".to_owned(),
        ),
        (
            json!({"topic_id": "auth", "title": "again"}),
            "topic 'auth' already exists".to_owned(),
        ),
        (
            json!({"topic_id": " auth ", "title": "again", "name": "carol"}),
            "topic 'auth' already exists".to_owned(),
        ),
    ];
    for (args, refusal) in refusals {
        assert_eq!(
            agent.err("open_topic", args.clone()).await,
            refusal,
            "{args}"
        );
    }

    // The refusals changed nothing: the same four topics, "auth" as it was opened.
    let all = agent.ok("list_topics", json!({"status": "all"})).await;
    let mut listed = topic_ids(&all);
    listed.sort_unstable();
    assert_eq!(listed, ["9lives", &longest, "auth", "review.1_x-y"]);
    let listed_auth = all
        .as_array()
        .unwrap()
        .iter()
        .find(|topic| topic["id"] == "auth")
        .unwrap();
    assert_eq!(listed_auth, &auth);
    // Opening a topic writes no message.
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(
        status,
        json!({"participant_count": 0, "message_count": 0, "last_activity_ts": null,
               "topic_count": 4, "open_topic_count": 4, "summary_count": 0})
    );
    assert_eq!(agent.ok("read_messages", json!({})).await, json!([]));
    room.finish();
}

#[tokio::test]
async fn close_topic_closes_once_stops_writes_and_keeps_the_topic_readable() {
    let room = TestRoom::new();
    let agent = topical(&room).await;
    let opened = open(&agent, "auth", "Auth", Some("ann")).await;
    let first = send(&agent, "auth", "ann", "all", "before the close").await;
    summarize(&agent, "auth", "ann", "all", "auth is done").await;

    let (closed, text) = agent
        .ok_text("close_topic", json!({"topic_id": "auth"}))
        .await;
    assert_eq!(text, r#"{"closed":true}"#);
    assert_eq!(closed, json!({"closed": true}));
    for again in ["auth", " auth "] {
        assert_eq!(
            agent.ok("close_topic", json!({"topic_id": again})).await,
            json!({"closed": false})
        );
    }

    let listed = agent.ok("list_topics", json!({"status": "closed"})).await;
    assert_eq!(topic_ids(&listed), ["auth"]);
    let record = &listed[0];
    assert_topic(record, "auth", "Auth", "closed", "ann");
    assert_eq!(record["created_at"], opened["created_at"]);
    // Closing refreshes the topic's activity to the moment it closed.
    assert_eq!(record["last_activity_ts"], record["closed_at"], "{record}");
    assert_eq!(agent.ok("list_topics", json!({})).await, json!([]));

    // Writes are refused, naming the topic as trimmed ...
    assert_eq!(
        agent
            .err(
                "send_message",
                json!({"name": "ann", "topic_id": " auth ", "content": "after the close"})
            )
            .await,
        "topic 'auth' is closed"
    );
    assert_eq!(
        agent
            .err(
                "write_summary",
                json!({"name": "ann", "topic_id": "auth", "content": "more"})
            )
            .await,
        "topic 'auth' is closed"
    );
    // ... and every read still works.
    let messages = agent.ok("read_messages", json!({"topic_id": "auth"})).await;
    assert_eq!(ids(&messages), [first]);
    let unread = agent
        .ok("read_unread", json!({"name": "bob", "topic_id": "auth"}))
        .await;
    assert_eq!(ids(&unread["messages"]), [first]);
    assert_eq!(unread["last_read_id"], first);
    assert_eq!(
        agent
            .ok(
                "set_cursor",
                json!({"name": "carol", "topic_id": "auth", "message_id": first})
            )
            .await,
        json!({"name": "carol", "topic_id": "auth", "last_read_id": first})
    );
    let latest = agent
        .ok("read_latest_summary", json!({"topic_id": "auth"}))
        .await;
    assert_eq!(latest["content"], "auth is done");
    let handoff = agent
        .ok("get_handoff", json!({"name": "bob", "topic_id": "auth"}))
        .await;
    assert_eq!(&handoff["topic"], record);
    assert_eq!(ids(&handoff["recent_messages"]), [first]);

    // Unknown and malformed ids are refused, blank is missing.
    assert_eq!(
        agent
            .err("close_topic", json!({"topic_id": " nope "}))
            .await,
        "unknown topic_id: nope"
    );
    assert_eq!(
        agent.err("close_topic", json!({"topic_id": "Auth"})).await,
        PATTERN
    );
    assert_eq!(
        agent.err("close_topic", json!({"topic_id": ""})).await,
        "topic_id must not be blank"
    );
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(status["topic_count"], 1);
    assert_eq!(status["open_topic_count"], 0);
    assert_eq!(status["message_count"], 1);
    assert_eq!(status["summary_count"], 1);
    room.finish();
}

#[tokio::test]
async fn list_topics_filters_by_status_sorts_by_activity_and_shows_a_names_progress() {
    let room = TestRoom::new();
    let agent = topical(&room).await;
    assert_eq!(agent.ok("list_topics", json!({})).await, json!([]));
    assert_eq!(
        agent
            .ok("list_topics", json!({"name": "bob", "status": "all"}))
            .await,
        json!([])
    );
    for (status, refusal) in [
        ("opened", "status must be one of: open, closed, all"),
        ("*", "status must be one of: open, closed, all"),
        ("", "status must not be blank"),
        ("  ", "status must not be blank"),
    ] {
        assert_eq!(
            agent.err("list_topics", json!({"status": status})).await,
            refusal,
            "{status:?}"
        );
    }

    for id in ["a", "b", "c"] {
        open(&agent, id, &format!("topic {id}"), None).await;
    }
    let listed = agent.ok("list_topics", json!({"status": " open "})).await;
    assert_v2_order(&listed);
    let mut sorted = topic_ids(&listed);
    sorted.sort_unstable();
    assert_eq!(sorted, ["a", "b", "c"]);
    // Without a name, the records alone.
    for topic in listed.as_array().unwrap() {
        assert_eq!(keys_in_order(topic), TOPIC_KEYS);
    }

    // A message makes its topic the most recently active one.
    next_second();
    let to_all = send(&agent, "a", "ann", "all", "for everyone in a").await;
    let to_bob = send(&agent, "a", "ann", "bob", "for bob in a").await;
    let to_carol = send(&agent, "a", "ann", "carol", "for carol in a").await;
    // The main room's messages count in no topic.
    send(&agent, "", "ann", "all", "in the main room").await;
    let listed = agent.ok("list_topics", json!({})).await;
    assert_eq!(topic_ids(&listed), ["a", "c", "b"]);
    assert_v2_order(&listed);

    // With a name: where its unread is.
    let progress = |listed: &Value, id: &str| -> Value {
        let topic = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|topic| topic["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not listed: {listed}"))
            .clone();
        assert_eq!(keys_in_order(&topic)[..7], TOPIC_KEYS, "{topic}");
        assert_eq!(keys_in_order(&topic)[7..], PROGRESS_KEYS, "{topic}");
        json!({
            "latest_message_id": topic["latest_message_id"],
            "cursor": topic["cursor"],
            "unread_count": topic["unread_count"],
            "latest_summary": topic["latest_summary"],
        })
    };
    let bob = agent.ok("list_topics", json!({"name": " bob "})).await;
    assert_eq!(topic_ids(&bob), ["a", "c", "b"]);
    assert_eq!(
        progress(&bob, "a"),
        json!({"latest_message_id": to_carol, "cursor": 0, "unread_count": 2, "latest_summary": null})
    );
    for id in ["b", "c"] {
        assert_eq!(
            progress(&bob, id),
            json!({"latest_message_id": 0, "cursor": 0, "unread_count": 0, "latest_summary": null})
        );
    }

    // Reading moves the cursor in that topic only; summaries show for their scope.
    let read = agent
        .ok("read_unread", json!({"name": "bob", "topic_id": "a"}))
        .await;
    assert_eq!(ids(&read["messages"]), [to_all, to_bob]);
    summarize(&agent, "a", "ann", "bob", "for bob: a is half done").await;
    let bob = agent.ok("list_topics", json!({"name": "bob"})).await;
    let a = progress(&bob, "a");
    assert_eq!(
        (&a["latest_message_id"], &a["cursor"], &a["unread_count"]),
        (&json!(to_carol), &json!(to_bob), &json!(0))
    );
    assert_eq!(a["latest_summary"]["content"], "for bob: a is half done");
    assert_eq!(a["latest_summary"]["topic_id"], "a");
    let carol = agent.ok("list_topics", json!({"name": "carol"})).await;
    assert_eq!(
        progress(&carol, "a"),
        json!({"latest_message_id": to_carol, "cursor": 0, "unread_count": 2, "latest_summary": null})
    );
    summarize(&agent, "a", "ann", "all", "a for all").await;
    let carol = agent.ok("list_topics", json!({"name": "carol"})).await;
    assert_eq!(
        progress(&carol, "a")["latest_summary"]["content"],
        "a for all"
    );
    let bob = agent.ok("list_topics", json!({"name": "bob"})).await;
    assert_eq!(
        progress(&bob, "a")["latest_summary"]["content"],
        "a for all"
    );

    // Status filters; "all" lists both kinds in the same order rule.
    next_second();
    agent.ok("close_topic", json!({"topic_id": "b"})).await;
    assert_eq!(
        topic_ids(&agent.ok("list_topics", json!({})).await),
        ["a", "c"]
    );
    assert_eq!(
        topic_ids(&agent.ok("list_topics", json!({"status": "closed"})).await),
        ["b"]
    );
    let all = agent
        .ok("list_topics", json!({"status": "all", "name": "bob"}))
        .await;
    assert_eq!(topic_ids(&all), ["b", "a", "c"]);
    assert_v2_order(&all);
    assert_eq!(all[0]["status"], "closed");
    room.finish();
}

#[tokio::test]
async fn every_topic_scoped_tool_refuses_malformed_and_unknown_topics_alike() {
    let room = TestRoom::new();
    let agent = topical(&room).await;
    open(&agent, "known", "a topic that exists", None).await;
    let tools = [
        ("send_message", json!({"name": "ann", "content": "hi"})),
        ("read_messages", json!({})),
        ("get_cursor", json!({"name": "ann"})),
        ("set_cursor", json!({"name": "ann", "message_id": 0})),
        ("read_unread", json!({"name": "ann"})),
        ("write_summary", json!({"name": "ann", "content": "done"})),
        ("read_latest_summary", json!({})),
        ("get_handoff", json!({"name": "ann"})),
    ];
    for (tool, args) in &tools {
        for (topic_id, refusal) in [
            ("nope", "unknown topic_id: nope"),
            ("  nope\t", "unknown topic_id: nope"),
            ("Known", PATTERN),
            ("known topic", PATTERN),
            ("_known", PATTERN),
            (&*"k".repeat(65), PATTERN),
        ] {
            let mut args = args.clone();
            args["topic_id"] = json!(topic_id);
            assert_eq!(agent.err(tool, args).await, refusal, "{tool} {topic_id:?}");
        }
    }
    // Nothing was written anywhere.
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(status["message_count"], 0);
    assert_eq!(status["summary_count"], 0);
    assert_eq!(
        agent
            .ok("read_messages", json!({"topic_id": "known"}))
            .await,
        json!([])
    );
    room.finish();
}

#[tokio::test]
async fn a_topic_and_the_main_room_never_see_each_others_messages_cursors_or_summaries() {
    let room = TestRoom::new();
    let agent = topical(&room).await;
    let auth = open(&agent, "auth", "Auth rework", Some("ann")).await;
    open(&agent, "empty", "nothing here yet", None).await;

    // One id sequence over the whole room, so each scope's ids have gaps.
    let main_all = send(&agent, "", "ann", "all", "main: hello").await;
    let topic_all = send(&agent, "auth", "ann", "all", "auth: hello").await;
    let topic_bob = send(&agent, " auth ", "ann", "bob", "auth: for bob").await;
    let main_bob = send(&agent, "", "ann", "bob", "main: for bob").await;
    assert_eq!(
        [main_all, topic_all, topic_bob, main_bob],
        [1, 2, 3, 4],
        "one sequence"
    );

    let read = async |args: Value| agent.ok("read_messages", args).await;
    let main = read(json!({})).await;
    assert_eq!(ids(&main), [main_all, main_bob]);
    assert!(
        main.as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("topic_id").is_none())
    );
    let topic = read(json!({"topic_id": "auth"})).await;
    assert_eq!(ids(&topic), [topic_all, topic_bob]);
    for message in topic.as_array().unwrap() {
        assert_eq!(
            keys_in_order(message),
            ["id", "ts", "topic_id", "from", "to", "content"]
        );
        assert_eq!(message["topic_id"], "auth");
    }
    assert_eq!(
        ids(&read(json!({"topic_id": "auth", "since_id": topic_all})).await),
        [topic_bob]
    );
    assert_eq!(
        ids(&read(json!({"topic_id": "auth", "participant": "carol"})).await),
        [topic_all]
    );
    assert_eq!(
        ids(&read(json!({"topic_id": "auth", "participant": "bob", "limit": 1})).await),
        [topic_all]
    );
    assert_eq!(read(json!({"topic_id": "empty"})).await, json!([]));

    // Unread and cursors, per (name, scope).
    let (peek, text) = agent
        .ok_text(
            "read_unread",
            json!({"name": "bob", "topic_id": "auth", "mark_read": false}),
        )
        .await;
    assert!(
        text.starts_with(r#"{"name":"bob","topic_id":"auth","last_read_id":0,"messages":["#),
        "{text}"
    );
    assert_eq!(ids(&peek["messages"]), [topic_all, topic_bob]);
    let marked = agent
        .ok("read_unread", json!({"name": "bob", "topic_id": "auth"}))
        .await;
    assert_eq!(marked["last_read_id"], topic_bob);
    let (cursor, text) = agent
        .ok_text("get_cursor", json!({"name": "bob", "topic_id": "auth"}))
        .await;
    assert_eq!(
        text,
        format!(r#"{{"name":"bob","topic_id":"auth","last_read_id":{topic_bob}}}"#)
    );
    assert_eq!(cursor["last_read_id"], topic_bob);
    let (main_cursor, text) = agent.ok_text("get_cursor", json!({"name": "bob"})).await;
    assert_eq!(text, r#"{"name":"bob","last_read_id":0}"#, "{main_cursor}");
    let (main_unread, text) = agent.ok_text("read_unread", json!({"name": "bob"})).await;
    assert!(
        text.starts_with(r#"{"name":"bob","last_read_id":4,"messages":["#),
        "{text}"
    );
    assert_eq!(ids(&main_unread["messages"]), [main_all, main_bob]);
    assert_eq!(
        agent
            .ok("get_cursor", json!({"name": "bob", "topic_id": "auth"}))
            .await["last_read_id"],
        topic_bob,
        "reading the main room left the topic's cursor alone"
    );
    assert_eq!(
        agent
            .ok("read_unread", json!({"name": "bob", "topic_id": "auth"}))
            .await["messages"],
        json!([])
    );

    // set_cursor's bound is the scope's own latest message id, and cursors stay monotonic.
    let topic_late = send(&agent, "auth", "ann", "all", "auth: later").await;
    assert_eq!(topic_late, 5);
    let set = async |topic_id: &str, message_id: u64| {
        agent
            .call(
                "set_cursor",
                json!({"name": "carol", "topic_id": topic_id, "message_id": message_id}),
            )
            .await
            .expect("set_cursor")
    };
    let refused = |result: rmcp::model::CallToolResult| {
        assert_eq!(result.is_error, Some(true), "{result:?}");
        chatroom_tests::text_of(&result)
    };
    assert_eq!(
        refused(set("", topic_late).await),
        "message_id cannot exceed the latest message id (4)"
    );
    assert_eq!(
        agent
            .ok(
                "set_cursor",
                json!({"name": "carol", "topic_id": "auth", "message_id": topic_late})
            )
            .await,
        json!({"name": "carol", "topic_id": "auth", "last_read_id": topic_late})
    );
    assert_eq!(
        refused(set("auth", topic_late + 1).await),
        "message_id cannot exceed the latest message id (5)"
    );
    assert_eq!(
        agent
            .ok(
                "set_cursor",
                json!({"name": "carol", "topic_id": "auth", "message_id": 2})
            )
            .await["last_read_id"],
        topic_late,
        "monotonic"
    );
    assert_eq!(
        refused(set("empty", 1).await),
        "message_id cannot exceed the latest message id (0)"
    );
    assert_eq!(
        agent
            .ok(
                "set_cursor",
                json!({"name": "carol", "topic_id": "empty", "message_id": 0})
            )
            .await,
        json!({"name": "carol", "topic_id": "empty", "last_read_id": 0})
    );
    assert_eq!(
        agent
            .ok("set_cursor", json!({"name": "carol", "message_id": 4}))
            .await,
        json!({"name": "carol", "last_read_id": 4})
    );

    // Summaries per scope, one id sequence.
    let main_summary = summarize(&agent, "", "ann", "all", "main summary").await;
    let topic_summary = summarize(&agent, "auth", "ann", "all", "auth summary").await;
    let for_bob = summarize(&agent, "auth", "ann", "bob", "auth, for bob").await;
    assert_eq!([main_summary, topic_summary, for_bob], [1, 2, 3]);
    let (latest, text) = agent.ok_text("read_latest_summary", json!({})).await;
    assert_eq!(latest["content"], "main summary");
    assert!(!text.contains("topic_id"), "{text}");
    let (latest, text) = agent
        .ok_text("read_latest_summary", json!({"topic_id": "auth"}))
        .await;
    assert_eq!(latest["content"], "auth summary");
    assert_eq!(
        keys_in_order(&latest),
        ["id", "ts", "topic_id", "from", "scope", "content"],
        "{text}"
    );
    assert_eq!(
        agent
            .ok(
                "read_latest_summary",
                json!({"topic_id": "auth", "scope": "bob"})
            )
            .await["id"],
        for_bob
    );
    assert_eq!(
        agent
            .ok("read_latest_summary", json!({"scope": "bob"}))
            .await,
        Value::Null
    );
    assert_eq!(
        agent
            .ok("read_latest_summary", json!({"topic_id": "empty"}))
            .await,
        Value::Null
    );

    // A topic's handoff is the topic's, with its record after the participants.
    agent.ok("join", json!({"name": "bob"})).await;
    let handoff = agent
        .ok("get_handoff", json!({"name": "bob", "topic_id": "auth"}))
        .await;
    assert_eq!(
        keys_in_order(&handoff),
        [
            "participants",
            "topic",
            "latest_message_id",
            "cursor",
            "unread_count",
            "latest_summary",
            "recent_messages"
        ]
    );
    assert_eq!(handoff["participants"][0]["name"], "bob");
    assert_topic(&handoff["topic"], "auth", "Auth rework", "open", "ann");
    assert_eq!(handoff["topic"]["created_at"], auth["created_at"]);
    assert_eq!(handoff["latest_message_id"], topic_late);
    assert_eq!(handoff["cursor"], topic_bob);
    assert_eq!(handoff["unread_count"], 1);
    assert_eq!(handoff["latest_summary"]["id"], for_bob);
    assert_eq!(
        ids(&handoff["recent_messages"]),
        [topic_all, topic_bob, topic_late]
    );
    let anonymous = agent
        .ok(
            "get_handoff",
            json!({"topic_id": "auth", "recent_limit": 2}),
        )
        .await;
    assert_eq!(
        (&anonymous["cursor"], &anonymous["unread_count"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(anonymous["latest_summary"]["id"], topic_summary);
    assert_eq!(ids(&anonymous["recent_messages"]), [topic_bob, topic_late]);
    // The main room's handoff keeps v1's shape and sees the main room only.
    let (main, text) = agent.ok_text("get_handoff", json!({"name": "bob"})).await;
    assert!(!text.contains("topic"), "{text}");
    assert_eq!(main["latest_message_id"], main_bob);
    assert_eq!(main["cursor"], main_bob);
    assert_eq!(main["unread_count"], 0);
    assert_eq!(main["latest_summary"]["id"], main_summary);
    assert_eq!(ids(&main["recent_messages"]), [main_all, main_bob]);
    let empty = agent
        .ok("get_handoff", json!({"name": "bob", "topic_id": "empty"}))
        .await;
    assert_eq!(
        (
            &empty["latest_message_id"],
            &empty["cursor"],
            &empty["unread_count"],
            &empty["latest_summary"],
            &empty["recent_messages"]
        ),
        (&json!(0), &json!(0), &json!(0), &Value::Null, &json!([]))
    );

    // Leaving writes its message in the main room, as in v1.
    agent.ok("leave", json!({"name": "bob"})).await;
    let main = read(json!({"since_id": topic_late})).await;
    assert_eq!(main[0]["content"], "bob left the chatroom");
    assert!(main[0].get("topic_id").is_none());
    assert_eq!(
        ids(&read(json!({"topic_id": "auth"})).await),
        [topic_all, topic_bob, topic_late]
    );

    // The status counts the whole room.
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(
        keys_in_order(&status),
        [
            "participant_count",
            "message_count",
            "last_activity_ts",
            "topic_count",
            "open_topic_count",
            "summary_count"
        ]
    );
    assert_eq!(status["message_count"], 6);
    assert_eq!(status["last_activity_ts"], main[0]["ts"]);
    assert_eq!(
        (
            &status["topic_count"],
            &status["open_topic_count"],
            &status["summary_count"]
        ),
        (&json!(2), &json!(2), &json!(3))
    );
    room.finish();
}

#[tokio::test]
async fn search_messages_matches_every_word_newest_first_within_its_filters() {
    let room = TestRoom::new();
    let agent = topical(&room).await;
    open(&agent, "perf", "performance", None).await;
    let path = send(
        &agent,
        "",
        "ann",
        "all",
        "Storage layer: the fsync path is in",
    )
    .await;
    let group = send(
        &agent,
        "",
        "bob",
        "all",
        "the group commit batches fsync calls",
    )
    .await;
    let direct = send(&agent, "", "ann", "carol", "FSYNC again, only for carol").await;
    let in_topic = send(&agent, "perf", "ann", "all", "fsync in the perf topic").await;
    let reversed = send(&agent, "", "bob", "all", "commit the group now").await;

    let search = async |args: Value| {
        let found = agent.ok("search_messages", args.clone()).await;
        (ids(&found), found)
    };
    // Every word, case-insensitive, newest first; the main room by default.
    assert_eq!(
        search(json!({"query": "fsync"})).await.0,
        [direct, group, path]
    );
    assert_eq!(search(json!({"query": "Fsync PATH"})).await.0, [path]);
    assert_eq!(
        search(json!({"query": "group commit"})).await.0,
        [reversed, group]
    );
    // A quoted phrase matches only as a phrase.
    assert_eq!(
        search(json!({"query": "\"group commit\""})).await.0,
        [group]
    );
    assert_eq!(
        search(json!({"query": "\"commit the group\" now"})).await.0,
        [reversed]
    );
    assert_eq!(
        search(json!({"query": "fsync elephant"})).await.0,
        Vec::<u64>::new()
    );
    // Whole words: "sync" is not in "fsync", nor "call" in "calls".
    assert_eq!(search(json!({"query": "sync"})).await.0, Vec::<u64>::new());
    assert_eq!(search(json!({"query": "call"})).await.0, Vec::<u64>::new());
    assert_eq!(search(json!({"query": "calls"})).await.0, [group]);
    // Scopes: one topic, or "*" for all of them and the main room.
    let (found, records) = search(json!({"query": "fsync", "topic_id": " perf "})).await;
    assert_eq!(found, [in_topic]);
    assert_eq!(records[0]["topic_id"], "perf");
    let (found, records) = search(json!({"query": "fsync", "topic_id": "*"})).await;
    assert_eq!(found, [in_topic, direct, group, path]);
    assert_eq!(records[0]["topic_id"], "perf");
    assert!(records[1].get("topic_id").is_none(), "{records}");
    // Visibility as read_messages, the sender, the limit.
    assert_eq!(
        search(json!({"query": "fsync", "participant": "bob"}))
            .await
            .0,
        [group, path]
    );
    assert_eq!(
        search(json!({"query": "fsync", "participant": "carol"}))
            .await
            .0,
        [direct, group, path]
    );
    assert_eq!(
        search(json!({"query": "fsync", "from": " bob "})).await.0,
        [group]
    );
    assert_eq!(
        search(json!({"query": "fsync", "from": "ann", "topic_id": "*"}))
            .await
            .0,
        [in_topic, direct, path]
    );
    assert_eq!(
        search(json!({"query": "fsync", "limit": 2})).await.0,
        [direct, group]
    );
    assert_eq!(
        search(json!({"query": "fsync", "limit": 100}))
            .await
            .0
            .len(),
        3
    );
    // A closed topic stays searchable.
    agent.ok("close_topic", json!({"topic_id": "perf"})).await;
    assert_eq!(
        search(json!({"query": "perf", "topic_id": "perf"})).await.0,
        [in_topic]
    );

    for (args, refusal) in [
        (json!({"query": "  "}), "query must not be blank"),
        (
            json!({"query": "fsync", "limit": 0}),
            "limit must be between 1 and 100",
        ),
        (
            json!({"query": "fsync", "limit": 101}),
            "limit must be between 1 and 100",
        ),
        (
            json!({"query": "fsync", "topic_id": "nope"}),
            "unknown topic_id: nope",
        ),
        (json!({"query": "fsync", "topic_id": "Perf"}), PATTERN),
        (json!({"query": "fsync", "topic_id": "_perf"}), PATTERN),
        (
            json!({"query": "fsync", "topic_id": "  nope\t"}),
            "unknown topic_id: nope",
        ),
    ] {
        assert_eq!(
            agent.err("search_messages", args.clone()).await,
            refusal,
            "{args}"
        );
    }
    room.finish();
}

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
