//! The scopes: a topic's reads and the main room's never see each other; cursors, summaries
//! and `set_cursor`'s bound are per scope, and a topic's handoff carries its record.

use chatroom_tests::{TestRoom, ids, keys_in_order};
use serde_json::{Value, json};

use super::{assert_topic, open, send, summarize, topical};

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
