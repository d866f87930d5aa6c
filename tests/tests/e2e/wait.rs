//! Reach from the shim's side, end to end: `wait_for_messages` woken by another agent's message,
//! timing out, not woken by its own, scoped to a topic or to `"*"`, leaving the agent's other
//! calls free, cancelled by `notifications/cancelled` and by the shim's death without marking
//! anything read; `read_receipts`; the link a hook finds the agent by; Claude Code channels.
//!
//! Each wait is started first and then, on the same shim, another call is answered: the daemon
//! takes one session's calls in order, so that answer is the signal that the wait is parked
//! before another agent sends the message that should wake it.

use std::time::{Duration, Instant};

use chatroom_client::{Connection, Reach};
use chatroom_tests::{
    Agent, DEFAULT_TIMEOUT, TOPIC_RECORD_KEYS, TestRoom, check_records_among, contents, text_of,
};
use protocol::{ClientKind, HookLink, Request, Response};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CustomNotification, Implementation,
    ProtocolVersion,
};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The records these tools add to the contract's and its topics' ([`TOPIC_RECORD_KEYS`]): a
/// wait's (in the main room, in a topic, over `"*"`), read receipts and each receipt.
const REACH_SHAPES: &[&[&str]] = &[
    &["name", "last_read_id", "messages", "timed_out"],
    &["name", "topic_id", "last_read_id", "messages", "timed_out"],
    &["message_id", "from", "to", "topic_id", "receipts"],
    &["name", "present", "read", "read_at", "delivered_at"],
];

/// Calls `tool`, asserts success and that text and structured content are the same record of
/// the contract, its topics or [`REACH_SHAPES`], and returns it.
async fn ok(agent: &Agent, tool: &str, args: Value) -> Value {
    let result = agent
        .call(tool, args)
        .await
        .unwrap_or_else(|err| panic!("{tool}: {err:#}"));
    let text = text_of(&result);
    assert_ne!(result.is_error, Some(true), "{tool} failed: {text}");
    let shapes = [TOPIC_RECORD_KEYS, REACH_SHAPES].concat();
    if let Err(problem) = check_records_among(&text, &shapes) {
        panic!("{tool}: {problem}: {text}");
    }
    let value: Value = serde_json::from_str(&text).unwrap();
    if value.is_object() {
        assert_eq!(result.structured_content.as_ref(), Some(&value), "{tool}");
    }
    value
}

async fn join(agent: &Agent, name: &str) {
    ok(agent, "join", json!({"name": name})).await;
}

/// Two agents of `room`, joined as `ann` and `bob`.
async fn ann_and_bob(room: &TestRoom) -> (Agent, Agent) {
    let (ann, bob) = (room.agent().await, room.agent().await);
    join(&ann, "ann").await;
    join(&bob, "bob").await;
    (ann, bob)
}

async fn send(agent: &Agent, name: &str, to: &str, content: &str, topic_id: &str) -> u64 {
    let args = json!({"name": name, "to": to, "content": content, "topic_id": topic_id});
    ok(agent, "send_message", args).await["id"]
        .as_u64()
        .unwrap()
}

/// Another call on the waiter's own shim, answered while its wait is parked (the signal that it
/// is).
async fn answered_meanwhile(agent: &Agent) {
    let started = Instant::now();
    ok(agent, "get_status", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a call behind a blocked wait took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_wait_is_woken_by_another_agents_message_and_marks_it_read() {
    let room = TestRoom::new();
    let (ann, bob) = ann_and_bob(&room).await;
    let wait = ok(
        &ann,
        "wait_for_messages",
        json!({"name": "ann", "timeout_s": 15}),
    );
    let (waited, id) = tokio::join!(wait, async {
        answered_meanwhile(&ann).await;
        send(&bob, "bob", "ann", "your turn", "").await
    });
    assert_eq!(waited["timed_out"], false);
    assert_eq!(contents(&waited["messages"]), ["your turn"]);
    assert_eq!(waited["last_read_id"], id, "the cursor moved past it");
    let unread = ok(&ann, "read_unread", json!({"name": "ann"})).await;
    assert_eq!(unread["messages"], json!([]), "read by the wait");
}

#[tokio::test]
async fn a_wait_times_out_marking_nothing_and_is_not_woken_by_the_agents_own_message() {
    let room = TestRoom::new();
    let ann = room.agent().await;
    join(&ann, "ann").await;
    let started = Instant::now();
    let waited = ok(
        &ann,
        "wait_for_messages",
        json!({"name": "ann", "timeout_s": 1}),
    )
    .await;
    assert_eq!(waited["timed_out"], true);
    assert_eq!(waited["messages"], json!([]));
    assert_eq!(waited["last_read_id"], 0, "nothing marked");
    assert!(started.elapsed() >= Duration::from_millis(900));

    let started = Instant::now();
    let wait = ok(
        &ann,
        "wait_for_messages",
        json!({"name": "ann", "timeout_s": 1}),
    );
    let (waited, _) = tokio::join!(wait, async {
        answered_meanwhile(&ann).await;
        send(&ann, "ann", "all", "talking to myself", "").await
    });
    assert_eq!(waited["timed_out"], true, "its own message did not wake it");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    let refusal = ann
        .err(
            "wait_for_messages",
            json!({"name": "ann", "timeout_s": 601}),
        )
        .await;
    assert!(refusal.contains("timeout_s"), "{refusal}");
}

#[tokio::test]
async fn a_topic_wait_ignores_the_main_room_and_a_star_wait_hears_every_topic() {
    let room = TestRoom::new();
    let (ann, bob) = ann_and_bob(&room).await;
    ok(
        &bob,
        "open_topic",
        json!({"topic_id": "auth", "title": "Auth", "name": "bob"}),
    )
    .await;
    let wait = ok(
        &ann,
        "wait_for_messages",
        json!({"name": "ann", "topic_id": "auth", "timeout_s": 15}),
    );
    let (waited, _) = tokio::join!(wait, async {
        answered_meanwhile(&ann).await;
        send(&bob, "bob", "all", "main room chatter", "").await;
        send(&bob, "bob", "all", "auth is done", "auth").await
    });
    assert_eq!(waited["timed_out"], false);
    assert_eq!(waited["topic_id"], "auth");
    assert_eq!(contents(&waited["messages"]), ["auth is done"]);

    // The main room's message is still unread there; "*" returns it at once.
    let star = ok(
        &ann,
        "wait_for_messages",
        json!({"name": "ann", "topic_id": "*", "timeout_s": 15}),
    )
    .await;
    assert_eq!(contents(&star["messages"]), ["main room chatter"]);
    let wait = ok(
        &ann,
        "wait_for_messages",
        json!({"name": "ann", "topic_id": "*", "timeout_s": 15}),
    );
    let (star, _) = tokio::join!(wait, async {
        answered_meanwhile(&ann).await;
        send(&bob, "bob", "ann", "a topic DM", "auth").await
    });
    assert_eq!(star["timed_out"], false);
    assert_eq!(contents(&star["messages"]), ["a topic DM"]);
    assert_eq!(star["messages"][0]["topic_id"], "auth");
}

/// Starts `wait_for_messages` for `name` on `agent`'s MCP client, to be dropped: rmcp's client
/// then sends `notifications/cancelled` for it.
fn wait_call<'a>(agent: &'a Agent, name: &str) -> impl Future<Output = ()> + 'a {
    let arguments = json!({"name": name, "timeout_s": 30});
    let Value::Object(arguments) = arguments else {
        unreachable!()
    };
    let params = CallToolRequestParams::new("wait_for_messages").with_arguments(arguments);
    async move {
        let result = agent.peer().call_tool(params).await;
        panic!("the wait ended before it was cancelled: {result:?}");
    }
}

#[tokio::test]
async fn a_cancelled_wait_marks_nothing_read() {
    let room = TestRoom::new();
    let (ann, bob) = ann_and_bob(&room).await;
    tokio::select! {
        () = wait_call(&ann, "ann") => unreachable!(),
        () = answered_meanwhile(&ann) => {}
    }
    // The wait's future is dropped: rmcp's client sent notifications/cancelled for it, and the
    // next call on that shim comes after it on stdin (and its CancelWait before it, mostly).
    answered_meanwhile(&ann).await;
    let id = send(&bob, "bob", "ann", "after the cancel", "").await;
    let unread = ok(&ann, "read_unread", json!({"name": "ann"})).await;
    assert_eq!(contents(&unread["messages"]), ["after the cancel"]);
    assert_eq!(unread["last_read_id"], id);
}

#[tokio::test]
async fn a_wait_whose_shim_is_killed_marks_nothing_read() {
    let room = TestRoom::new();
    let (mut ann, bob) = (room.agent().await, room.agent().await);
    join(&ann, "ann").await;
    join(&bob, "bob").await;
    tokio::select! {
        () = wait_call(&ann, "ann") => unreachable!(),
        () = answered_meanwhile(&ann) => {}
    }
    ann.kill();
    ann.reap().await;
    let id = send(&bob, "bob", "ann", "are you there", "").await;
    let receipts = ok(&bob, "read_receipts", json!({"message_id": id})).await;
    assert_eq!(receipts["receipts"][0]["name"], "ann");
    assert_eq!(receipts["receipts"][0]["read"], false);
    let peek = ok(
        &bob,
        "read_unread",
        json!({"name": "ann", "mark_read": false}),
    )
    .await;
    assert!(
        contents(&peek["messages"]).contains(&"are you there".to_owned()),
        "{peek}"
    );
}

#[tokio::test]
async fn receipts_of_a_direct_message_and_of_a_broadcast() {
    let room = TestRoom::new();
    let (ann, bob, cy) = (room.agent().await, room.agent().await, room.agent().await);
    for (agent, name) in [(&ann, "ann"), (&bob, "bob"), (&cy, "cy")] {
        join(agent, name).await;
    }
    let direct = send(&bob, "bob", "ann", "for ann", "").await;
    let receipts = ok(&bob, "read_receipts", json!({"message_id": direct})).await;
    assert_eq!(
        (&receipts["from"], &receipts["to"], &receipts["topic_id"]),
        (&json!("bob"), &json!("ann"), &Value::Null)
    );
    let only = &receipts["receipts"];
    assert_eq!(only.as_array().unwrap().len(), 1, "{receipts}");
    assert_eq!(
        (&only[0]["name"], &only[0]["present"], &only[0]["read"]),
        (&json!("ann"), &json!(true), &json!(false))
    );
    ok(&ann, "read_unread", json!({"name": "ann"})).await;
    let receipts = ok(&bob, "read_receipts", json!({"message_id": direct})).await;
    assert_eq!(receipts["receipts"][0]["read"], true);
    assert!(receipts["receipts"][0]["read_at"].is_string(), "{receipts}");

    let broadcast = send(&bob, "bob", "all", "for all", "").await;
    ok(&cy, "read_unread", json!({"name": "cy"})).await;
    let receipts = ok(&ann, "read_receipts", json!({"message_id": broadcast})).await;
    let by_name: Vec<(String, bool)> = receipts["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|receipt| {
            (
                receipt["name"].as_str().unwrap().to_owned(),
                receipt["read"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_name,
        [("ann".to_owned(), false), ("cy".to_owned(), true)],
        "every present participant but the sender"
    );
    let refusal = bob.err("read_receipts", json!({"message_id": 999})).await;
    assert!(refusal.contains("999"), "{refusal}");
}

/// `CLAUDE_CODE_SESSION_ID` in the shim's environment links its session: a hook that knows that
/// id finds the names the agent holds (clients.md; Claude Code gives its MCP servers the id).
#[tokio::test]
async fn a_claude_session_id_in_the_environment_links_the_agent() {
    let room = TestRoom::new();
    let ann = room
        .agent_with_env("CLAUDE_CODE_SESSION_ID", "5f0c-claude-test")
        .await;
    join(&ann, "ann").await;
    let Reach::Connected(control) = Connection::reach(&room.paths(), ClientKind::Control)
        .await
        .unwrap()
    else {
        panic!("no daemon");
    };
    let reach = |session_id: &str| Request::Reach {
        hook: HookLink {
            session_id: session_id.to_owned(),
            ancestors: Vec::new(),
        },
        deliver: false,
        limit: 0,
    };
    let Response::Reached(found) = control.request(reach("5f0c-claude-test")).await.unwrap() else {
        panic!("not a reach");
    };
    assert_eq!(found.names, ["ann"]);
    assert_eq!(found.linked_by, "session_id");
    let Response::Reached(unknown) = control.request(reach("another")).await.unwrap() else {
        panic!("not a reach");
    };
    assert!(unknown.names.is_empty(), "{unknown:?}");
}

/// An MCP client that hands each custom notification to the test.
#[derive(Clone)]
struct ChannelClient {
    events: mpsc::UnboundedSender<CustomNotification>,
}

impl ClientHandler for ChannelClient {
    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.events.send(notification);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("chatroom-tests-channels", "0"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }
}

/// With `CHATROOM_CHANNELS=1` the shim declares `claude/channel` and pushes each message for its
/// names, not its own, as `notifications/claude/channel` with `content` and string `meta`
/// (<https://code.claude.com/docs/en/channels-reference>, "Notification format").
#[tokio::test]
async fn channels_push_the_messages_for_the_agents_names() {
    let room = TestRoom::new();
    let mut command = room.shim_command();
    command.env("CHATROOM_CHANNELS", "1");
    let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
    let (events_in, mut events) = mpsc::unbounded_channel();
    let ann = tokio::time::timeout(
        DEFAULT_TIMEOUT,
        ChannelClient { events: events_in }.serve(transport),
    )
    .await
    .unwrap()
    .unwrap();
    let info = ann.peer().peer_info().unwrap();
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
    let experimental = serde_json::to_value(&info.capabilities.experimental).unwrap();
    assert_eq!(experimental, json!({"claude/channel": {}}));

    let call = |args: Value| {
        let Value::Object(arguments) = args else {
            unreachable!()
        };
        ann.peer()
            .call_tool(CallToolRequestParams::new("join").with_arguments(arguments))
    };
    let joined = call(json!({"name": "ann"})).await.unwrap();
    assert_ne!(joined.is_error, Some(true));
    let bob = room.agent().await;
    join(&bob, "bob").await;
    send(&bob, "bob", "cy", "not for ann", "").await;
    let id = send(&bob, "bob", "ann", "ping from bob", "").await;
    let event = tokio::time::timeout(DEFAULT_TIMEOUT, events.recv())
        .await
        .expect("a channel event")
        .unwrap();
    assert_eq!(event.method, "notifications/claude/channel");
    assert_eq!(
        event.params,
        Some(json!({
            "content": "ping from bob",
            "meta": {"from": "bob", "id": id.to_string(), "topic_id": ""}
        }))
    );
    let _ = ann.cancel().await;
}

/// Asks the daemon, as a hook would, which names the agent with client session id `session_id`
/// holds.
async fn names_linked_to(room: &TestRoom, session_id: &str) -> Vec<String> {
    let Reach::Connected(control) = Connection::reach(&room.paths(), ClientKind::Control)
        .await
        .unwrap()
    else {
        panic!("no daemon");
    };
    let request = Request::Reach {
        hook: HookLink {
            session_id: session_id.to_owned(),
            ancestors: Vec::new(),
        },
        deliver: false,
        limit: 0,
    };
    match control.request(request).await.unwrap() {
        Response::Reached(found) => found.names,
        other => panic!("not a reach: {other:?}"),
    }
}

/// Codex gives its MCP servers no variable, but names its session in every `tools/call`'s
/// `_meta["x-codex-turn-metadata"]` (clients.md; as an object, or serialized as a string).
#[tokio::test]
async fn a_codex_session_id_in_a_calls_meta_links_the_agent() {
    let room = TestRoom::new();
    let codex = room.agent().await;
    join(&codex, "codex").await;
    assert!(
        names_linked_to(&room, "019a-codex-session")
            .await
            .is_empty()
    );
    for (turn, session_id) in [
        (
            json!({"session_id": "019a-codex-session", "thread_id": "t1", "turn_id": "u1"}),
            "019a-codex-session",
        ),
        (
            json!(json!({"session_id": "019b-codex-resumed", "turn_id": "u2"}).to_string()),
            "019b-codex-resumed",
        ),
    ] {
        let mut meta = serde_json::Map::new();
        meta.insert("x-codex-turn-metadata".to_owned(), turn);
        let mut params = CallToolRequestParams::new("get_status");
        params.meta = Some(rmcp::model::RequestMetaObject(meta.into()));
        let result = tokio::time::timeout(DEFAULT_TIMEOUT, codex.peer().call_tool(params))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
        assert_eq!(names_linked_to(&room, session_id).await, ["codex"]);
    }
    assert_eq!(
        names_linked_to(&room, "019a-codex-session").await,
        ["codex"],
        "ids add up"
    );
}

/// A wait in flight when the daemon dies is sent again on the shim's new connection (to the
/// daemon it starts), with the name joined again, and answered there.
#[tokio::test]
async fn a_wait_survives_a_daemon_restart() {
    let room = TestRoom::new();
    let (ann, bob) = ann_and_bob(&room).await;
    let wait = ok(
        &ann,
        "wait_for_messages",
        json!({"name": "ann", "timeout_s": 15}),
    );
    let (waited, id) = tokio::join!(wait, async {
        answered_meanwhile(&ann).await;
        let old = room.kill_daemon();
        // Bob's next call starts the new daemon; ann's shim follows on its own.
        let (_, _) = chatroom_tests::eventually(DEFAULT_TIMEOUT, || async {
            let participants = ok(&bob, "list_participants", json!({})).await;
            let names = chatroom_tests::names(&participants);
            (names.contains(&"ann".to_owned()) && room.daemon_pid() != Some(old)).then_some(())
        })
        .await
        .expect("ann's shim joins the new daemon again");
        send(&bob, "bob", "ann", "after the restart", "").await
    });
    // The new daemon posts the departures of the sessions it lost, which may answer the wait
    // first; then bob's message is the next read's.
    assert_eq!(waited["timed_out"], false);
    let mut seen = contents(&waited["messages"]);
    if waited["last_read_id"] != id {
        seen.extend(contents(
            &ok(&ann, "read_unread", json!({"name": "ann"})).await["messages"],
        ));
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("after the restart"),
        "{seen:?}"
    );
}
