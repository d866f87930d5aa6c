//! The topic tools themselves: `open_topic` returns its record and refuses bad ids, blank
//! titles and existing ids; `close_topic` closes once, stops writes and keeps the topic
//! readable; `list_topics` filters, sorts by activity and shows a name's progress; and every
//! topic-scoped tool refuses malformed and unknown topics alike, writing nothing.

use std::time::Duration;

use chatroom_tests::{TestRoom, ids, keys_in_order, unix_now, wait_for};
use serde_json::{Value, json};

use super::{PATTERN, TOPIC_KEYS, assert_topic, open, send, summarize, topic_ids, topical};

/// The keys `list_topics(name=...)` adds after the record's own.
const PROGRESS_KEYS: [&str; 4] = [
    "latest_message_id",
    "cursor",
    "unread_count",
    "latest_summary",
];

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
