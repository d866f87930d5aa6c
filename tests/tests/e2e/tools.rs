//! The tool contract end to end: every tool, every result shape and every refusal, through rmcp's
//! MCP client driving a real `chatroom-shim` in a fresh git repository, with the daemon started
//! on demand. `Agent::ok` checks the result shape of every successful call (compact JSON text,
//! records with exactly the contract's keys in its order, `structuredContent`), `Agent::err` that a
//! refusal is an `isError` result of one lowercase line.

use std::time::Duration;

use chatroom_tests::{
    Agent, TestRoom, contents, ids, is_timestamp, keys, keys_in_order, names, text_of, unix_now,
    wait_for,
};
use serde_json::{Value, json};

const TOOLS: [&str; 21] = [
    "claim",
    "close_topic",
    "get_cursor",
    "get_handoff",
    "get_status",
    "join",
    "leave",
    "list_claims",
    "list_participants",
    "list_topics",
    "open_topic",
    "read_latest_summary",
    "read_messages",
    "read_receipts",
    "read_unread",
    "release",
    "search_messages",
    "send_message",
    "set_cursor",
    "wait_for_messages",
    "write_summary",
];

/// Sends `content` from `name` to `to` and returns the new id.
async fn send(agent: &Agent, name: &str, to: &str, content: &str) -> u64 {
    let reply = agent
        .ok(
            "send_message",
            json!({"name": name, "to": to, "content": content}),
        )
        .await;
    assert_eq!(keys(&reply), ["id"], "{reply}");
    reply["id"].as_u64().expect("an id")
}

/// Asserts that `value` is the message `id` from `from` to `to` with `content`, stamped with a
/// timestamp of the contract.
fn message(value: &Value, id: u64, from: &str, to: &str, content: &str) {
    assert_eq!(value["id"], id, "{value}");
    assert_eq!(value["from"], from, "{value}");
    assert_eq!(value["to"], to, "{value}");
    assert_eq!(value["content"], content, "{value}");
    assert!(
        is_timestamp(value["ts"].as_str().unwrap_or_default()),
        "{value}"
    );
}

#[tokio::test]
async fn tools_list_answers_without_starting_a_daemon() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let tools = agent.peer().list_all_tools().await.expect("tools/list");
    let mut listed: Vec<String> = tools.iter().map(|tool| tool.name.to_string()).collect();
    listed.sort();
    assert_eq!(listed, TOOLS);
    let schema = |name: &str| {
        let tool = tools.iter().find(|tool| tool.name == name).expect("listed");
        Value::Object(tool.input_schema.as_ref().clone())
    };
    assert_eq!(schema("join")["properties"]["role"]["default"], "general");
    assert_eq!(schema("send_message")["properties"]["to"]["default"], "all");
    assert_eq!(
        schema("read_messages")["properties"]["limit"]["default"],
        50
    );
    assert_eq!(
        schema("read_unread")["properties"]["mark_read"]["default"],
        true
    );
    assert_eq!(
        schema("get_handoff")["properties"]["recent_limit"]["default"],
        10
    );

    let info = agent
        .peer()
        .peer_info()
        .expect("the server's initialize result");
    assert_eq!(
        info.server_info.as_ref().map(|server| server.name.as_str()),
        Some("chatroom")
    );
    let instructions = info.instructions.clone().unwrap_or_default();
    for tool in [
        "join",
        "get_handoff",
        "read_unread",
        "send_message",
        "write_summary",
        "leave",
    ] {
        assert!(
            instructions.contains(tool),
            "the instructions omit {tool}: {instructions}"
        );
    }

    assert_eq!(room.daemon_pid(), None, "listing tools started a daemon");
    assert!(!room.paths().socket.exists());
    assert!(
        !room.state_dir().exists(),
        "listing tools created .chatroom/"
    );
    agent.close().await;
    assert_eq!(room.daemon_pid(), None);
}

#[tokio::test]
async fn join_lists_everyone_sorted_with_the_default_role() {
    let room = TestRoom::new();
    let (first, second) = tokio::join!(room.agent(), room.agent());

    let joined = first.ok("join", json!({"name": "carol"})).await;
    assert_eq!(names(&joined), ["carol"]);
    let carol = &joined[0];
    assert_eq!(keys(carol), ["joined_at", "last_seen", "name", "role"]);
    assert_eq!(carol["role"], "general");
    assert!(
        is_timestamp(carol["joined_at"].as_str().unwrap()),
        "{carol}"
    );
    assert!(
        is_timestamp(carol["last_seen"].as_str().unwrap()),
        "{carol}"
    );

    // Names and roles are trimmed before they are stored.
    let joined = second
        .ok("join", json!({"name": " alice ", "role": "  lead "}))
        .await;
    assert_eq!(names(&joined), ["alice", "carol"]);
    assert_eq!(joined[0]["role"], "lead");
    let joined = first
        .ok("join", json!({"name": "bob", "role": "dev"}))
        .await;
    assert_eq!(names(&joined), ["alice", "bob", "carol"]);

    let listed = second.ok("list_participants", json!({})).await;
    assert_eq!(listed, joined);
    // Joining writes no message.
    assert_eq!(
        first.ok("get_status", json!({})).await,
        json!({"participant_count": 3, "message_count": 0, "last_activity_ts": null})
    );
    assert_eq!(first.ok("read_messages", json!({})).await, json!([]));
}

#[tokio::test]
async fn joining_again_in_the_same_session_keeps_joined_at_and_updates_the_role() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let joined = agent
        .ok("join", json!({"name": "alice", "role": "dev"}))
        .await;
    let joined_at = joined[0]["joined_at"].clone();
    // Let the clock pass the join's second, so that a fresh registration would show a new time.
    let after_join = unix_now();
    wait_for(Duration::from_secs(3), || unix_now() > after_join).expect("the clock moves");

    let rejoined = agent
        .ok("join", json!({"name": " alice ", "role": "reviewer"}))
        .await;
    assert_eq!(names(&rejoined), ["alice"]);
    assert_eq!(rejoined[0]["joined_at"], joined_at);
    assert_eq!(rejoined[0]["role"], "reviewer");
    assert!(
        rejoined[0]["last_seen"].as_str() > joined_at.as_str(),
        "last_seen is refreshed: {rejoined}"
    );
    // A role given again defaults to "general", like the first join.
    let rejoined = agent.ok("join", json!({"name": "alice"})).await;
    assert_eq!(rejoined[0]["role"], "general");
    assert_eq!(rejoined[0]["joined_at"], joined_at);
    assert_eq!(agent.ok("read_messages", json!({})).await, json!([]));
}

#[tokio::test]
async fn nobody_writes_under_a_name_another_session_holds() {
    let room = TestRoom::new();
    let (holder, other) = tokio::join!(room.agent(), room.agent());
    holder.ok("join", json!({"name": "alice"})).await;
    let first = send(&holder, "alice", "all", "the real alice").await;
    let before = (
        other.ok("read_messages", json!({})).await,
        other.ok("read_latest_summary", json!({})).await,
        other.ok("get_cursor", json!({"name": "alice"})).await,
    );

    let held = "name 'alice' is held by another session";
    let writes = [
        (
            "send_message",
            json!({"name": " alice ", "content": "i am alice"}),
        ),
        (
            "write_summary",
            json!({"name": "alice", "content": "says alice"}),
        ),
        ("set_cursor", json!({"name": "alice", "message_id": first})),
        ("read_unread", json!({"name": "alice"})),
    ];
    for (tool, args) in &writes {
        assert_eq!(other.err(tool, args.clone()).await, held, "{tool}");
    }
    // A peek changes nothing, so it stays open to everyone.
    let peek = other
        .ok("read_unread", json!({"name": "alice", "mark_read": false}))
        .await;
    assert_eq!(ids(&peek["messages"]), [first]);
    let after = (
        other.ok("read_messages", json!({})).await,
        other.ok("read_latest_summary", json!({})).await,
        other.ok("get_cursor", json!({"name": "alice"})).await,
    );
    assert_eq!(after, before, "a refused write changed the room");
    // A person is held to the same rule: `chatroomd send --as` a held name is refused.
    let person = room.chatroomd(&["send", "--as", "alice", "i am alice too"]);
    let stderr = String::from_utf8_lossy(&person.stderr);
    assert!(!person.status.success(), "{stderr}");
    assert!(stderr.contains(held), "{stderr}");
    assert_eq!(other.ok("read_messages", json!({})).await, after.0);

    // The holder writes as itself; a name nobody holds is anyone's, as in v1.
    for (tool, args) in &writes {
        holder.ok(tool, args.clone()).await;
    }
    send(&other, "carol", "all", "nobody holds carol").await;
    let closed_at = std::time::Instant::now();
    holder.close().await;
    // Once the holder's session is gone, its name is free to use again. The daemon learns of
    // the close from its own socket, so the departure it posts is the signal to wait for.
    crate::liveness::left_within_deadline(&other, "alice", closed_at).await;
    send(&other, "alice", "all", "alice is free now").await;
}

#[tokio::test]
async fn a_name_held_by_another_session_is_refused() {
    let room = TestRoom::new();
    let (holder, other) = tokio::join!(room.agent(), room.agent());
    holder
        .ok("join", json!({"name": "alice", "role": "dev"}))
        .await;
    let before = other.ok("list_participants", json!({})).await;

    for name in ["alice", " alice "] {
        assert_eq!(
            other
                .err("join", json!({"name": name, "role": "thief"}))
                .await,
            "name 'alice' is already active in another session"
        );
    }
    let refused = other.err("leave", json!({"name": "alice"})).await;
    assert!(
        refused.contains("'alice'") && refused.contains("another session"),
        "{refused}"
    );
    assert_eq!(other.ok("list_participants", json!({})).await, before);
    assert_eq!(other.ok("read_messages", json!({})).await, json!([]));

    // Once its holder lets go, the name is free.
    assert_eq!(
        holder.ok("leave", json!({"name": "alice"})).await,
        json!({"left": true})
    );
    let joined = other.ok("join", json!({"name": "alice"})).await;
    assert_eq!(names(&joined), ["alice"]);
    assert_eq!(joined[0]["role"], "general");
}

#[tokio::test]
async fn leave_announces_the_departure_and_reports_whether_anyone_held_the_name() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    agent.ok("join", json!({"name": "bob"})).await;

    assert_eq!(
        agent.ok("leave", json!({"name": " alice "})).await,
        json!({"left": true})
    );
    let messages = agent.ok("read_messages", json!({})).await;
    assert_eq!(ids(&messages), [1]);
    message(&messages[0], 1, "system", "all", "alice left the chatroom");
    assert_eq!(
        names(&agent.ok("list_participants", json!({})).await),
        ["bob"]
    );

    // Nobody holds these: false, and no message.
    for name in ["alice", "nobody"] {
        assert_eq!(
            agent.ok("leave", json!({"name": name})).await,
            json!({"left": false})
        );
    }
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(status["participant_count"], 1);
    assert_eq!(status["message_count"], 1);
    assert_eq!(status["last_activity_ts"], messages[0]["ts"]);
}

#[tokio::test]
async fn send_message_appends_to_all_by_default_or_to_one_participant() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    // Neither sender nor recipient has to be joined.
    assert_eq!(
        agent
            .ok("send_message", json!({"name": "alice", "content": "hello"}))
            .await,
        json!({"id": 1})
    );
    assert_eq!(
        agent
            .ok(
                "send_message",
                json!({"name": " bob ", "content": "  psst \n", "to": " alice "})
            )
            .await,
        json!({"id": 2})
    );
    let multiline = "line one\n  line two\ncafé ☕ \"quoted\" \\ back";
    assert_eq!(send(&agent, "alice", "all", multiline).await, 3);

    let (messages, text) = agent.ok_text("read_messages", json!({})).await;
    assert_eq!(ids(&messages), [1, 2, 3]);
    message(&messages[0], 1, "alice", "all", "hello");
    message(&messages[1], 2, "bob", "alice", "psst");
    message(&messages[2], 3, "alice", "all", multiline);
    assert!(
        text.contains("café ☕"),
        "non-ASCII text is sent as is: {text}"
    );
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(status["message_count"], 3);
    assert_eq!(status["participant_count"], 0);
    assert_eq!(status["last_activity_ts"], messages[2]["ts"]);
}

#[tokio::test]
async fn read_messages_pages_ascending_and_filters_before_the_limit() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    for (to, content) in [
        ("all", "1 to all"),
        ("bob", "2 to bob"),
        ("carol", "3 to carol"),
        ("carol", "4 to carol"),
        ("all", "5 to all"),
        ("bob", "6 to bob"),
        ("carol", "7 to carol"),
    ] {
        send(&agent, "alice", to, content).await;
    }

    let check = async |args: Value, expected: &[u64]| {
        let messages = agent.ok("read_messages", args.clone()).await;
        assert_eq!(ids(&messages), expected, "read_messages {args}");
        for record in messages.as_array().unwrap() {
            let id = record["id"].as_u64().unwrap();
            assert!(
                record["content"]
                    .as_str()
                    .unwrap()
                    .starts_with(&id.to_string())
            );
        }
    };
    check(json!({}), &[1, 2, 3, 4, 5, 6, 7]).await;
    check(
        json!({"since_id": 0, "limit": 100, "participant": ""}),
        &[1, 2, 3, 4, 5, 6, 7],
    )
    .await;
    check(json!({"since_id": 2}), &[3, 4, 5, 6, 7]).await;
    check(json!({"limit": 2}), &[1, 2]).await;
    check(json!({"limit": 1}), &[1]).await;
    check(json!({"since_id": 3, "limit": 2}), &[4, 5]).await;
    check(json!({"since_id": 7}), &[]).await;
    check(json!({"since_id": 1000}), &[]).await;
    check(json!({"participant": "bob"}), &[1, 2, 5, 6]).await;
    // The filter comes first: the limit counts visible messages only.
    check(json!({"participant": " bob ", "limit": 3}), &[1, 2, 5]).await;
    check(
        json!({"participant": "bob", "since_id": 2, "limit": 2}),
        &[5, 6],
    )
    .await;
    check(json!({"participant": "carol", "limit": 2}), &[1, 3]).await;
    check(
        json!({"participant": "carol", "since_id": 1, "limit": 3}),
        &[3, 4, 5],
    )
    .await;
    check(json!({"participant": "dave"}), &[1, 5]).await;
    check(json!({"participant": "   "}), &[1, 2, 3, 4, 5, 6, 7]).await;
}

#[tokio::test]
async fn get_status_counts_and_reports_the_last_activity() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let (status, text) = agent.ok_text("get_status", json!({})).await;
    assert_eq!(
        text,
        r#"{"participant_count":0,"message_count":0,"last_activity_ts":null}"#
    );
    assert_eq!(
        status,
        json!({"participant_count": 0, "message_count": 0, "last_activity_ts": null})
    );

    agent.ok("join", json!({"name": "alice"})).await;
    agent.ok("join", json!({"name": "bob"})).await;
    send(&agent, "alice", "all", "one").await;
    send(&agent, "alice", "bob", "two").await;
    agent
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "not a message"}),
        )
        .await;
    let last = agent.ok("read_messages", json!({"since_id": 1})).await;
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(
        status,
        json!({"participant_count": 2, "message_count": 2, "last_activity_ts": last[0]["ts"]})
    );
}

#[tokio::test]
async fn cursors_start_at_zero_and_only_move_forward() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let (cursor, text) = agent.ok_text("get_cursor", json!({"name": "alice"})).await;
    assert_eq!(text, r#"{"name":"alice","last_read_id":0}"#);
    assert_eq!(cursor, json!({"name": "alice", "last_read_id": 0}));
    assert_eq!(
        agent
            .err("set_cursor", json!({"name": "alice", "message_id": 1}))
            .await,
        "message_id cannot exceed the latest message id (0)"
    );
    assert_eq!(
        agent
            .ok("set_cursor", json!({"name": "alice", "message_id": 0}))
            .await,
        json!({"name": "alice", "last_read_id": 0})
    );

    for content in ["one", "two", "three", "four"] {
        send(&agent, "bob", "all", content).await;
    }
    let set = async |name: &str, message_id: i64, expected: u64| {
        let cursor = agent
            .ok(
                "set_cursor",
                json!({"name": name, "message_id": message_id}),
            )
            .await;
        assert_eq!(
            cursor,
            json!({"name": name.trim(), "last_read_id": expected})
        );
    };
    set(" alice ", 3, 3).await;
    set("alice", 1, 3).await;
    set("alice", 0, 3).await;
    set("alice", 3, 3).await;
    assert_eq!(
        agent
            .err("set_cursor", json!({"name": "alice", "message_id": 5}))
            .await,
        "message_id cannot exceed the latest message id (4)"
    );
    set("alice", 4, 4).await;
    assert_eq!(
        agent.ok("get_cursor", json!({"name": " alice "})).await,
        json!({"name": "alice", "last_read_id": 4})
    );
    // Cursors belong to names, joined or not, and do not affect each other.
    assert_eq!(
        agent.ok("get_cursor", json!({"name": "bob"})).await,
        json!({"name": "bob", "last_read_id": 0})
    );
}

#[tokio::test]
async fn read_unread_returns_visible_messages_after_the_cursor_and_marks_them_read() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    for (to, content) in [
        ("all", "1 to all"),
        ("carol", "2 to carol"),
        ("bob", "3 to bob"),
        ("all", "4 to all"),
        ("carol", "5 to carol"),
        ("bob", "6 to bob"),
    ] {
        send(&agent, "alice", to, content).await;
    }

    // Peeking leaves the cursor where it is.
    let peek = agent
        .ok(
            "read_unread",
            json!({"name": "bob", "limit": 100, "mark_read": false}),
        )
        .await;
    assert_eq!(keys(&peek), ["last_read_id", "messages", "name"]);
    assert_eq!(peek["name"], "bob");
    assert_eq!(peek["last_read_id"], 0);
    assert_eq!(ids(&peek["messages"]), [1, 3, 4, 6]);
    assert_eq!(
        contents(&peek["messages"]),
        ["1 to all", "3 to bob", "4 to all", "6 to bob"]
    );
    assert_eq!(
        agent.ok("get_cursor", json!({"name": "bob"})).await["last_read_id"],
        0
    );

    // Reading moves the cursor to the newest message returned, `limit` at a time.
    let first = agent
        .ok("read_unread", json!({"name": " bob ", "limit": 2}))
        .await;
    assert_eq!(ids(&first["messages"]), [1, 3]);
    assert_eq!(first["last_read_id"], 3);
    assert_eq!(first["name"], "bob");
    let rest = agent.ok("read_unread", json!({"name": "bob"})).await;
    assert_eq!(ids(&rest["messages"]), [4, 6]);
    assert_eq!(rest["last_read_id"], 6);
    let none = agent.ok("read_unread", json!({"name": "bob"})).await;
    assert_eq!(
        none,
        json!({"name": "bob", "last_read_id": 6, "messages": []})
    );
    assert_eq!(
        agent.ok("get_cursor", json!({"name": "bob"})).await["last_read_id"],
        6
    );

    // A message bob cannot see does not move bob's cursor.
    send(&agent, "alice", "carol", "7 to carol").await;
    let none = agent.ok("read_unread", json!({"name": "bob"})).await;
    assert_eq!(
        none,
        json!({"name": "bob", "last_read_id": 6, "messages": []})
    );

    // carol's cursor moved past 5 by hand: only newer visible messages are unread.
    agent
        .ok("set_cursor", json!({"name": "carol", "message_id": 5}))
        .await;
    let carol = agent
        .ok(
            "read_unread",
            json!({"name": "carol", "limit": 1, "mark_read": true}),
        )
        .await;
    assert_eq!(ids(&carol["messages"]), [7]);
    assert_eq!(carol["last_read_id"], 7);
    message(&carol["messages"][0], 7, "alice", "carol", "7 to carol");
}

#[tokio::test]
async fn summaries_are_found_by_their_exact_scope() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    // Nothing yet: the value is null, with no structured content.
    let (none, text) = agent.ok_text("read_latest_summary", json!({})).await;
    assert_eq!((none, text.as_str()), (Value::Null, "null"));
    let result = agent
        .call("read_latest_summary", json!({"scope": "all"}))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.structured_content, None);

    // Summary ids are their own sequence, apart from message ids.
    send(&agent, "alice", "all", "a message").await;
    send(&agent, "alice", "all", "another").await;
    let write = async |name: &str, content: &str, scope: Option<&str>| {
        let mut args = json!({"name": name, "content": content});
        if let Some(scope) = scope {
            args["scope"] = json!(scope);
        }
        let reply = agent.ok("write_summary", args).await;
        assert_eq!(keys(&reply), ["id"]);
        reply["id"].as_u64().unwrap()
    };
    assert_eq!(write("alice", "for everyone", None).await, 1);
    assert_eq!(write(" alice ", "  for bob ", Some(" bob ")).await, 2);
    assert_eq!(write("carol", "newer, for everyone", Some("all")).await, 3);
    assert_eq!(write("carol", "for the team", Some("team-a")).await, 4);

    let latest = agent.ok("read_latest_summary", json!({})).await;
    assert_eq!(keys(&latest), ["content", "from", "id", "scope", "ts"]);
    assert_eq!(latest["id"], 3);
    assert_eq!(latest["from"], "carol");
    assert_eq!(latest["scope"], "all");
    assert_eq!(latest["content"], "newer, for everyone");
    assert!(is_timestamp(latest["ts"].as_str().unwrap()));
    assert_eq!(
        agent
            .ok("read_latest_summary", json!({"scope": "all"}))
            .await,
        latest
    );
    let bob = agent
        .ok("read_latest_summary", json!({"scope": " bob "}))
        .await;
    assert_eq!(
        (
            bob["id"].clone(),
            bob["from"].clone(),
            bob["scope"].clone(),
            bob["content"].clone()
        ),
        (json!(2), json!("alice"), json!("bob"), json!("for bob"))
    );
    assert_eq!(
        agent
            .ok("read_latest_summary", json!({"scope": "team-a"}))
            .await["id"],
        4
    );
    // Exact scope: no prefix match, no fallback to "all".
    for scope in ["team", "carol", "ALL"] {
        assert_eq!(
            agent
                .ok("read_latest_summary", json!({"scope": scope}))
                .await,
            Value::Null,
            "scope {scope}"
        );
    }
    assert_eq!(agent.ok("get_status", json!({})).await["message_count"], 2);
}

#[tokio::test]
async fn get_handoff_with_and_without_a_name() {
    let room = TestRoom::new();
    let (alice, bob) = tokio::join!(room.agent(), room.agent());

    // An empty room.
    let (empty, text) = alice.ok_text("get_handoff", json!({})).await;
    assert_eq!(
        text,
        r#"{"participants":[],"latest_message_id":0,"cursor":null,"unread_count":null,"latest_summary":null,"recent_messages":[]}"#
    );
    assert_eq!(empty["cursor"], Value::Null);
    let named = alice.ok("get_handoff", json!({"name": "alice"})).await;
    assert_eq!(named["cursor"], 0);
    assert_eq!(named["unread_count"], 0);

    alice
        .ok("join", json!({"name": "alice", "role": "lead"}))
        .await;
    bob.ok("join", json!({"name": "bob"})).await;
    // Messages 1..=12: 3, 6, 9 and 12 to bob, 11 to carol, the others to all.
    for id in 1..=12u64 {
        let to = match id {
            11 => "carol",
            _ if id % 3 == 0 => "bob",
            _ => "all",
        };
        send(&alice, "alice", to, &format!("message {id}")).await;
    }
    bob.ok("set_cursor", json!({"name": "bob", "message_id": 4}))
        .await;
    bob.ok("write_summary", json!({"name": "bob", "content": "all 1"}))
        .await;
    bob.ok(
        "write_summary",
        json!({"name": "bob", "content": "for alice", "scope": "alice"}),
    )
    .await;
    alice
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "for bob", "scope": "bob"}),
        )
        .await;

    // Without a name: no cursor, the newest "all" summary, every message, the default limit 10.
    let handoff = bob.ok("get_handoff", json!({})).await;
    assert_eq!(
        keys(&handoff),
        [
            "cursor",
            "latest_message_id",
            "latest_summary",
            "participants",
            "recent_messages",
            "unread_count"
        ]
    );
    assert_eq!(names(&handoff["participants"]), ["alice", "bob"]);
    assert_eq!(handoff["participants"][0]["role"], "lead");
    assert_eq!(handoff["latest_message_id"], 12);
    assert_eq!(handoff["cursor"], Value::Null);
    assert_eq!(handoff["unread_count"], Value::Null);
    assert_eq!(handoff["latest_summary"]["content"], "all 1");
    assert_eq!(
        ids(&handoff["recent_messages"]),
        (3..=12).collect::<Vec<_>>()
    );
    let blank = bob
        .ok("get_handoff", json!({"name": "   ", "recent_limit": 10}))
        .await;
    assert_eq!(blank, handoff);

    // bob: cursor 4; visible after it: 5, 6, 7, 8, 9, 10, 12 (11 went to carol).
    let handoff = bob
        .ok("get_handoff", json!({"name": " bob ", "recent_limit": 4}))
        .await;
    assert_eq!(handoff["cursor"], 4);
    assert_eq!(handoff["unread_count"], 7);
    assert_eq!(handoff["latest_summary"]["content"], "for bob");
    assert_eq!(handoff["latest_summary"]["scope"], "bob");
    assert_eq!(ids(&handoff["recent_messages"]), [8, 9, 10, 12]);
    assert_eq!(handoff["latest_message_id"], 12);

    // alice: no direct messages; her own summary is newer than the "all" one.
    let handoff = alice
        .ok("get_handoff", json!({"name": "alice", "recent_limit": 100}))
        .await;
    assert_eq!(handoff["cursor"], 0);
    assert_eq!(handoff["unread_count"], 7);
    assert_eq!(ids(&handoff["recent_messages"]), [1, 2, 4, 5, 7, 8, 10]);
    assert_eq!(handoff["latest_summary"]["content"], "for alice");

    // carol has no summary of her own: the newest "all" one.
    let handoff = alice
        .ok("get_handoff", json!({"name": "carol", "recent_limit": 1}))
        .await;
    assert_eq!(handoff["unread_count"], 8);
    assert_eq!(ids(&handoff["recent_messages"]), [11]);
    assert_eq!(handoff["latest_summary"]["content"], "all 1");

    // A newer "all" summary wins over an older personal one; the default limit is 10.
    alice
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "all 2"}),
        )
        .await;
    let handoff = alice.ok("get_handoff", json!({"name": "bob"})).await;
    assert_eq!(handoff["latest_summary"]["content"], "all 2");
    assert_eq!(
        ids(&handoff["recent_messages"]),
        [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    );

    // The handoff marks nothing read.
    assert_eq!(
        bob.ok("get_cursor", json!({"name": "bob"})).await["last_read_id"],
        4
    );
}

/// Everything a refused call must leave untouched: the room as the tools show it, and the files.
async fn snapshot(room: &TestRoom, agent: &Agent) -> Value {
    let files =
        ["messages.jsonl", "summaries.jsonl", "cursors.json"].map(|name| room.read_state(name));
    json!({
        "status": agent.ok("get_status", json!({})).await,
        "handoff": agent.ok("get_handoff", json!({"name": "alice", "recent_limit": 100})).await,
        "messages": agent.ok("read_messages", json!({"limit": 100})).await,
        "cursors": [
            agent.ok("get_cursor", json!({"name": "alice"})).await,
            agent.ok("get_cursor", json!({"name": "bob"})).await,
        ],
        "summaries": [
            agent.ok("read_latest_summary", json!({})).await,
            agent.ok("read_latest_summary", json!({"scope": "alice"})).await,
        ],
        "files": files,
    })
}

#[tokio::test]
async fn refusals_name_the_parameter_and_change_nothing() {
    let room = TestRoom::new();
    let (agent, other) = tokio::join!(room.agent(), room.agent());
    agent.ok("join", json!({"name": "alice"})).await;
    other.ok("join", json!({"name": "dave"})).await;
    send(&agent, "alice", "all", "one").await;
    send(&agent, "alice", "bob", "two").await;
    agent
        .ok("set_cursor", json!({"name": "alice", "message_id": 1}))
        .await;
    agent
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "so far"}),
        )
        .await;

    let long = "n".repeat(65);
    let control = "a\u{7}b";
    let too_big = "x".repeat(64 * 1024 + 1);
    let blank = "name must not be blank";
    let limit = "limit must be between 1 and 100";
    let recent_limit = "recent_limit must be between 1 and 100";
    let name_long = "name must be at most 64 characters";
    let name_control = "name must not contain control characters";
    let content_big = "content must be at most 64 KiB (65536 bytes)";
    // One line per case reads best as a table.
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("join", json!({"name": ""}), blank),
        ("join", json!({"name": "  "}), blank),
        ("join", json!({"name": " \t\n "}), blank),
        ("join", json!({"name": "carol", "role": "  "}), "role must not be blank"),
        ("join", json!({"name": long}), name_long),
        ("join", json!({"name": control}), name_control),
        ("join", json!({"name": "tab\there"}), name_control),
        ("join", json!({"name": "system"}), "name 'system' is reserved"),
        ("join", json!({"name": " all "}), "name 'all' is reserved"),
        ("join", json!({"name": "dave"}), "name 'dave' is already active in another session"),
        ("leave", json!({"name": "  "}), blank),
        ("leave", json!({"name": long}), name_long),
        ("leave", json!({"name": "system"}), "name 'system' is reserved"),
        ("send_message", json!({"name": "  ", "content": "hi"}), blank),
        ("send_message", json!({"name": "alice", "content": "  \n "}), "content must not be blank"),
        ("send_message", json!({"name": "alice", "content": "hi", "to": "  "}), "to must not be blank"),
        ("send_message", json!({"name": long, "content": "hi"}), name_long),
        ("send_message", json!({"name": "alice", "content": "hi", "to": long}), "to must be at most 64 characters"),
        ("send_message", json!({"name": "alice", "content": "hi", "to": control}), "to must not contain control characters"),
        ("send_message", json!({"name": "alice", "content": too_big}), content_big),
        ("send_message", json!({"name": "system", "content": "hi"}), "name 'system' is reserved"),
        ("send_message", json!({"name": "all", "content": "hi"}), "name 'all' is reserved"),
        ("read_messages", json!({"since_id": -1}), "since_id must be >= 0"),
        ("read_messages", json!({"limit": 0}), limit),
        ("read_messages", json!({"limit": 101}), limit),
        ("read_messages", json!({"limit": -1}), limit),
        ("read_messages", json!({"participant": long}), "participant must be at most 64 characters"),
        ("read_messages", json!({"participant": control}), "participant must not contain control characters"),
        ("get_cursor", json!({"name": " "}), blank),
        ("get_cursor", json!({"name": long}), name_long),
        ("set_cursor", json!({"name": "", "message_id": 1}), blank),
        ("set_cursor", json!({"name": "alice", "message_id": -1}), "message_id must be >= 0"),
        ("set_cursor", json!({"name": "alice", "message_id": 3}), "message_id cannot exceed the latest message id (2)"),
        ("set_cursor", json!({"name": control, "message_id": 1}), name_control),
        ("read_unread", json!({"name": "  "}), blank),
        ("read_unread", json!({"name": "alice", "limit": 0}), limit),
        ("read_unread", json!({"name": "alice", "limit": 101}), limit),
        ("read_unread", json!({"name": "alice", "limit": -1}), limit),
        ("read_unread", json!({"name": long}), name_long),
        ("write_summary", json!({"name": "  ", "content": "done"}), blank),
        ("write_summary", json!({"name": "alice", "content": " "}), "content must not be blank"),
        ("write_summary", json!({"name": "alice", "content": "done", "scope": "  "}), "scope must not be blank"),
        ("write_summary", json!({"name": "alice", "content": "done", "scope": long}), "scope must be at most 64 characters"),
        ("write_summary", json!({"name": "alice", "content": too_big}), content_big),
        ("write_summary", json!({"name": "system", "content": "done"}), "name 'system' is reserved"),
        ("read_latest_summary", json!({"scope": "  "}), "scope must not be blank"),
        ("read_latest_summary", json!({"scope": long}), "scope must be at most 64 characters"),
        ("read_latest_summary", json!({"scope": control}), "scope must not contain control characters"),
        ("get_handoff", json!({"recent_limit": 0}), recent_limit),
        ("get_handoff", json!({"recent_limit": 101}), recent_limit),
        ("get_handoff", json!({"recent_limit": -1}), recent_limit),
        ("get_handoff", json!({"name": long}), name_long),
        ("get_handoff", json!({"name": control}), name_control),
    ];

    let before = snapshot(&room, &agent).await;
    for (tool, args, expected) in cases {
        let shown = args.to_string();
        let shown = if shown.len() > 120 {
            format!("{}...", &shown[..120])
        } else {
            shown
        };
        assert_eq!(agent.err(tool, args).await, expected, "{tool} {shown}");
        assert_eq!(
            snapshot(&room, &agent).await,
            before,
            "{tool} {shown} was refused but changed the room"
        );
    }

    // Missing or ill-typed arguments are refused too (by the MCP layer), naming the problem.
    for (tool, args, needle) in [
        ("join", json!({}), "name"),
        ("send_message", json!({"name": "alice"}), "content"),
        ("set_cursor", json!({"name": "alice"}), "message_id"),
        ("read_messages", json!({"limit": "ten"}), "ten"),
    ] {
        let message = agent.err(tool, args).await;
        assert!(message.contains(needle), "{tool}: {message}");
    }
    assert_eq!(snapshot(&room, &agent).await, before);
}

#[tokio::test]
async fn limits_are_inclusive() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let longest = "n".repeat(64);
    let joined = agent.ok("join", json!({"name": longest})).await;
    assert_eq!(names(&joined), [longest.as_str()]);
    // 64 characters, not bytes.
    let wide = "é".repeat(64);
    agent.ok("join", json!({"name": wide})).await;

    let biggest = "x".repeat(64 * 1024);
    let id = send(&agent, &longest, &wide, &biggest).await;
    let messages = agent
        .ok("read_messages", json!({"since_id": id - 1, "limit": 100}))
        .await;
    assert_eq!(contents(&messages), [biggest.as_str()]);
    agent
        .ok(
            "write_summary",
            json!({"name": wide, "content": biggest, "scope": longest}),
        )
        .await;
    // Limits apply to the trimmed value.
    let padded = format!("  {longest}\t");
    agent.ok("leave", json!({"name": padded})).await;
    let padded_content = format!("\n {biggest} \n");
    agent
        .ok(
            "send_message",
            json!({"name": "x", "content": padded_content}),
        )
        .await;
    agent
        .ok("read_unread", json!({"name": "x", "limit": 100}))
        .await;
    agent
        .ok("get_handoff", json!({"name": "x", "recent_limit": 100}))
        .await;
    agent
        .ok("get_handoff", json!({"name": "x", "recent_limit": 1}))
        .await;
}

/// Arguments far over the limits (beyond what one request frame to the daemon may carry) get the
/// same refusal as those just over them: the contract promises a message naming the parameter and
/// its limit whatever the size.
#[tokio::test]
async fn huge_arguments_are_refused_naming_the_parameter_and_the_limit() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    assert_eq!(
        agent
            .err("send_message", json!({"name": "alice", "content": huge}))
            .await,
        "content must be at most 64 KiB (65536 bytes)"
    );
    assert_eq!(
        agent
            .err("write_summary", json!({"name": "alice", "content": huge}))
            .await,
        "content must be at most 64 KiB (65536 bytes)"
    );
    assert_eq!(
        agent.err("join", json!({"name": huge})).await,
        "name must be at most 64 characters"
    );
    assert_eq!(
        agent.ok("get_status", json!({})).await,
        json!({"participant_count": 0, "message_count": 0, "last_activity_ts": null})
    );
}

/// Codex runs `readOnlyHint` tools without asking and refuses the others under its
/// non-interactive policies, so each tool must say truly what it does.
#[tokio::test]
async fn every_tool_has_a_title_and_its_true_annotations() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let tools = agent.peer().list_all_tools().await.expect("tools/list");
    // (tool, read only, idempotent)
    let expected = [
        ("claim", false, true),
        ("close_topic", false, true),
        ("get_cursor", true, true),
        ("get_handoff", true, true),
        ("get_status", true, true),
        ("join", false, true),
        ("leave", false, true),
        ("list_claims", true, true),
        ("list_participants", true, true),
        ("list_topics", true, true),
        ("open_topic", false, false),
        ("read_latest_summary", true, true),
        ("read_messages", true, true),
        ("read_receipts", true, true),
        ("read_unread", false, false),
        ("release", false, true),
        ("search_messages", true, true),
        ("send_message", false, false),
        ("set_cursor", false, true),
        ("wait_for_messages", false, false),
        ("write_summary", false, false),
    ];
    assert_eq!(tools.len(), expected.len());
    for (name, read_only, idempotent) in expected {
        let tool = tools.iter().find(|tool| tool.name == name).expect("listed");
        let listed = serde_json::to_value(tool).unwrap();
        let title = listed["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "{name}: a title: {listed}");
        assert_eq!(
            listed["annotations"],
            json!({
                "title": title,
                "readOnlyHint": read_only,
                "destructiveHint": false,
                "idempotentHint": idempotent,
                "openWorldHint": false,
            }),
            "{name}"
        );
    }
}

/// Claude Code and Codex show the model `structuredContent`, not the text block: it must keep
/// the contract's key order too, not come out sorted.
#[tokio::test]
async fn structured_content_keeps_the_contracts_key_order() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    let structured = async |tool: &str, args: Value| {
        let result = agent.call(tool, args).await.unwrap();
        assert_ne!(result.is_error, Some(true), "{tool}: {}", text_of(&result));
        let from_text = text_of(&result);
        let structured = result.structured_content.expect("structuredContent");
        let text = serde_json::to_string(&structured).unwrap();
        (structured, text, from_text)
    };
    let (joined, ..) = structured("join", json!({"name": "ann"})).await;
    assert_eq!(
        keys_in_order(&joined["result"][0]),
        ["name", "role", "joined_at", "last_seen"]
    );
    structured("send_message", json!({"name": "bob", "content": "hi"})).await;
    let (unread, text, from_text) = structured("read_unread", json!({"name": "ann"})).await;
    assert_eq!(text, from_text, "the same JSON, key for key");
    assert_eq!(keys_in_order(&unread), ["name", "last_read_id", "messages"]);
    assert_eq!(
        keys_in_order(&unread["messages"][0]),
        ["id", "ts", "from", "to", "content"]
    );
    let (status, ..) = structured("get_status", json!({})).await;
    assert_eq!(
        keys_in_order(&status),
        ["participant_count", "message_count", "last_activity_ts"]
    );
    let (cursor, ..) = structured("get_cursor", json!({"name": "ann"})).await;
    assert_eq!(keys_in_order(&cursor), ["name", "last_read_id"]);
    let (handoff, text, from_text) = structured("get_handoff", json!({"name": "ann"})).await;
    assert_eq!(text, from_text);
    assert_eq!(
        keys_in_order(&handoff),
        [
            "participants",
            "latest_message_id",
            "cursor",
            "unread_count",
            "latest_summary",
            "recent_messages"
        ]
    );
}
