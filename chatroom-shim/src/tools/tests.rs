//! The tool surface as a client sees it: the listed tools, their parameters, schemas, defaults
//! and annotations, the server's identity and capabilities, and calls answered without a room.

use super::*;
use serde_json::{Value, json};

fn server() -> Chatroom {
    Chatroom::new(Session::new(Err("no room in unit tests".into())))
}

/// The input schema of `tool` as JSON.
fn schema(tool: &str) -> Value {
    let tools = server().tools();
    let tool = tools
        .iter()
        .find(|candidate| candidate.name == tool)
        .unwrap_or_else(|| panic!("no tool named {tool}"));
    Value::Object(tool.input_schema.as_ref().clone())
}

/// Checks a tool's parameters: each `(name, type, default)`, and which are required.
fn check(tool: &str, params: &[(&str, &str, Option<Value>)], required: &[&str]) {
    let schema = schema(tool);
    assert_eq!(schema["type"], "object", "{tool}: {schema}");
    let empty = serde_json::Map::new();
    let properties = schema["properties"].as_object().unwrap_or(&empty);
    let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = params.iter().map(|(name, ..)| *name).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "{tool}: {schema}");
    for (name, kind, default) in params {
        let property = &properties[*name];
        assert_eq!(property["type"], *kind, "{tool}.{name}: {property}");
        assert_eq!(property.get("default"), default.as_ref(), "{tool}.{name}");
        assert!(
            property["description"]
                .as_str()
                .is_some_and(|text| !text.is_empty()),
            "{tool}.{name} has no description"
        );
    }
    let mut got_required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    got_required.sort_unstable();
    assert_eq!(got_required, required, "{tool}: required");
}

#[test]
fn the_eighteen_tools_of_the_contract_and_the_three_of_claims() {
    let mut names: Vec<String> = server()
        .tools()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
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
        ]
    );
    for tool in server().tools() {
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(description.len() > 80, "{} is undocumented", tool.name);
        assert!(tool.output_schema.is_none(), "{}", tool.name);
    }
}

#[test]
fn parameter_names_types_and_defaults() {
    let topic = ("topic_id", "string", Some(json!("")));
    check(
        "join",
        &[
            ("name", "string", None),
            ("role", "string", Some(json!("general"))),
        ],
        &["name"],
    );
    check("leave", &[("name", "string", None)], &["name"]);
    check(
        "send_message",
        &[
            ("name", "string", None),
            ("content", "string", None),
            ("to", "string", Some(json!("all"))),
            topic.clone(),
        ],
        &["content", "name"],
    );
    check(
        "read_messages",
        &[
            ("since_id", "integer", Some(json!(0))),
            ("limit", "integer", Some(json!(50))),
            ("participant", "string", Some(json!(""))),
            topic.clone(),
        ],
        &[],
    );
    check("list_participants", &[], &[]);
    check("get_status", &[], &[]);
    check(
        "get_cursor",
        &[("name", "string", None), topic.clone()],
        &["name"],
    );
    check(
        "set_cursor",
        &[
            ("name", "string", None),
            ("message_id", "integer", None),
            topic.clone(),
        ],
        &["message_id", "name"],
    );
    check(
        "read_unread",
        &[
            ("name", "string", None),
            ("limit", "integer", Some(json!(50))),
            ("mark_read", "boolean", Some(json!(true))),
            topic.clone(),
        ],
        &["name"],
    );
    check(
        "write_summary",
        &[
            ("name", "string", None),
            ("content", "string", None),
            ("scope", "string", Some(json!("all"))),
            topic.clone(),
        ],
        &["content", "name"],
    );
    check(
        "read_latest_summary",
        &[("scope", "string", Some(json!("all"))), topic.clone()],
        &[],
    );
    check(
        "get_handoff",
        &[
            ("name", "string", Some(json!(""))),
            ("recent_limit", "integer", Some(json!(10))),
            topic.clone(),
        ],
        &[],
    );
    check(
        "open_topic",
        &[
            ("topic_id", "string", None),
            ("title", "string", None),
            ("name", "string", Some(json!(""))),
        ],
        &["title", "topic_id"],
    );
    check(
        "close_topic",
        &[("topic_id", "string", None)],
        &["topic_id"],
    );
    check(
        "list_topics",
        &[
            ("name", "string", Some(json!(""))),
            ("status", "string", Some(json!("open"))),
        ],
        &[],
    );
    check(
        "wait_for_messages",
        &[
            ("name", "string", None),
            topic.clone(),
            ("timeout_s", "integer", Some(json!(50))),
            ("limit", "integer", Some(json!(50))),
            ("mark_read", "boolean", Some(json!(true))),
        ],
        &["name"],
    );
    check(
        "read_receipts",
        &[("message_id", "integer", None)],
        &["message_id"],
    );
    check(
        "claim",
        &[
            ("name", "string", None),
            ("paths", "array", None),
            ("exclusive", "boolean", Some(json!(true))),
            ("reason", "string", Some(json!(""))),
            ("ttl_s", "integer", Some(json!(0))),
        ],
        &["name", "paths"],
    );
    check(
        "release",
        &[
            ("name", "string", None),
            ("paths", "array", Some(json!([]))),
        ],
        &["name"],
    );
    check("list_claims", &[("path", "string", Some(json!("")))], &[]);
    check(
        "search_messages",
        &[
            ("query", "string", None),
            topic,
            ("participant", "string", Some(json!(""))),
            ("from", "string", Some(json!(""))),
            ("limit", "integer", Some(json!(20))),
        ],
        &["query"],
    );
}

#[test]
fn reads_are_marked_read_only_and_writes_are_not() {
    let read_only: Vec<String> = server()
        .tools()
        .into_iter()
        .filter(|tool| {
            tool.annotations
                .as_ref()
                .and_then(|annotations| annotations.read_only_hint)
                .expect("every tool says whether it is read-only")
        })
        .map(|tool| tool.name.to_string())
        .collect();
    let mut read_only: Vec<&str> = read_only.iter().map(String::as_str).collect();
    read_only.sort_unstable();
    assert_eq!(
        read_only,
        [
            "get_cursor",
            "get_handoff",
            "get_status",
            "list_claims",
            "list_participants",
            "list_topics",
            "read_latest_summary",
            "read_messages",
            "read_receipts",
            "search_messages",
        ]
    );
}

/// A v2 caller passes `topic_id` by name beside the v1 arguments, in any order; a v1 caller
/// leaves it out and gets the main room.
#[test]
fn v2_calls_deserialize_with_their_topic_and_v1_calls_without_one() {
    let send: SendMessageParams = serde_json::from_value(
        json!({"name": "ann", "topic_id": "auth", "content": "hi", "to": "bob"}),
    )
    .unwrap();
    assert_eq!((send.topic_id.as_str(), send.to.as_str()), ("auth", "bob"));
    let read: ReadMessagesParams =
        serde_json::from_value(json!({"topic_id": "auth", "since_id": 3})).unwrap();
    assert_eq!((read.topic_id.as_str(), read.since_id), ("auth", 3));
    let cursor: SetCursorParams =
        serde_json::from_value(json!({"name": "ann", "topic_id": "auth", "message_id": 4}))
            .unwrap();
    assert_eq!(cursor.topic_id, "auth");
    let handoff: GetHandoffParams =
        serde_json::from_value(json!({"name": "ann", "topic_id": "auth", "recent_limit": 5}))
            .unwrap();
    assert_eq!(
        (handoff.topic_id.as_str(), handoff.recent_limit),
        ("auth", 5)
    );
    let unread: ReadUnreadParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
    assert_eq!(unread.topic_id, "");
    let latest: ReadLatestSummaryParams = serde_json::from_value(json!({})).unwrap();
    assert_eq!(latest.topic_id, "");
    // Untrimmed, for the daemon to judge.
    let get: GetCursorParams =
        serde_json::from_value(json!({"name": "ann", "topic_id": " Auth "})).unwrap();
    assert_eq!(get.topic_id, " Auth ");
}

#[test]
fn omitted_parameters_take_the_contract_defaults() {
    let join: JoinParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
    assert_eq!(join.role, "general");
    let send: SendMessageParams =
        serde_json::from_value(json!({"name": "ann", "content": "hi"})).unwrap();
    assert_eq!(send.to, "all");
    let read: ReadMessagesParams = serde_json::from_value(json!({})).unwrap();
    assert_eq!(
        (read.since_id, read.limit, read.participant.as_str()),
        (0, 50, "")
    );
    let unread: ReadUnreadParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
    assert_eq!((unread.limit, unread.mark_read), (50, true));
    let summary: WriteSummaryParams =
        serde_json::from_value(json!({"name": "ann", "content": "done"})).unwrap();
    assert_eq!(summary.scope, "all");
    let latest: ReadLatestSummaryParams = serde_json::from_value(json!({})).unwrap();
    assert_eq!(latest.scope, "all");
    let handoff: GetHandoffParams = serde_json::from_value(json!({})).unwrap();
    assert_eq!((handoff.name.as_str(), handoff.recent_limit), ("", 10));
    let open: OpenTopicParams =
        serde_json::from_value(json!({"topic_id": "auth", "title": "Auth"})).unwrap();
    assert_eq!(open.name, "");
    let topics: ListTopicsParams = serde_json::from_value(json!({})).unwrap();
    assert_eq!((topics.name.as_str(), topics.status.as_str()), ("", "open"));
    let search: SearchMessagesParams = serde_json::from_value(json!({"query": "fsync"})).unwrap();
    assert_eq!(
        (
            search.topic_id.as_str(),
            search.participant.as_str(),
            search.from.as_str(),
            search.limit
        ),
        ("", "", "", 20)
    );
}

#[test]
fn values_pass_through_untouched_for_the_daemon_to_judge() {
    let read: ReadMessagesParams =
        serde_json::from_value(json!({"since_id": -1, "limit": 1000, "participant": " bob "}))
            .unwrap();
    assert_eq!(
        (read.since_id, read.limit, read.participant.as_str()),
        (-1, 1000, " bob ")
    );
    let join: JoinParams = serde_json::from_value(json!({"name": "  ", "role": ""})).unwrap();
    assert_eq!((join.name.as_str(), join.role.as_str()), ("  ", ""));
}

#[test]
fn server_identity_and_capabilities() {
    let info = server().get_info();
    assert_eq!(info.server_info.name, "chatroom");
    assert_eq!(info.server_info.version, protocol::PACKAGE_VERSION);
    assert!(info.capabilities.tools.is_some());
    assert!(info.capabilities.prompts.is_none());
    assert!(info.capabilities.resources.is_none());
    let instructions = info.instructions.unwrap_or_default();
    for tool in [
        "join",
        "get_handoff",
        "read_unread",
        "send_message",
        "write_summary",
        "leave",
        "open_topic",
        "list_topics",
        "close_topic",
        "search_messages",
        "topic_id",
        "wait_for_messages",
        "read_receipts",
    ] {
        assert!(instructions.contains(tool), "instructions omit {tool}");
    }
    assert!(
        info.capabilities.experimental.is_none(),
        "no channel unless asked"
    );
    assert_eq!(
        server().supported_protocol_versions(),
        ProtocolVersion::KNOWN_VERSIONS
    );
}

/// clients.md and <https://code.claude.com/docs/en/channels-reference>: the capability, and
/// no protocol newer than one Claude Code registers channels for.
#[test]
fn channels_declare_their_capability_and_an_older_protocol() {
    let server = server().with_channels();
    let experimental = server.get_info().capabilities.experimental.unwrap();
    assert_eq!(
        serde_json::to_value(experimental).unwrap(),
        json!({"claude/channel": {}})
    );
    let versions = server.supported_protocol_versions();
    assert!(versions.contains(&ProtocolVersion::V_2025_11_25));
    assert!(!versions.contains(&ProtocolVersion::V_2026_07_28));
}

#[test]
fn a_wait_takes_the_contract_defaults_and_passes_values_through() {
    let wait: WaitForMessagesParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
    assert_eq!(
        (
            wait.topic_id.as_str(),
            wait.timeout_s,
            wait.limit,
            wait.mark_read
        ),
        ("", 50, 50, true)
    );
    let wait: WaitForMessagesParams = serde_json::from_value(
        json!({"name": " ann ", "topic_id": "*", "timeout_s": 0, "limit": 500, "mark_read": false}),
    )
    .unwrap();
    assert_eq!(
        (
            wait.name.as_str(),
            wait.topic_id.as_str(),
            wait.timeout_s,
            wait.limit,
            wait.mark_read
        ),
        (" ann ", "*", 0, 500, false)
    );
}

#[tokio::test]
async fn without_a_room_calls_fail_as_error_results() {
    let result = server().forward(Shape::Status, Request::GetStatus).await;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        result.content[0].as_text().map(|text| text.text.as_str()),
        Some("no room in unit tests")
    );
}
