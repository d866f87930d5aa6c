//! The adapters' pure halves: each client's documented stdin (the fixtures in
//! `tests/fixtures/hooks/`) read into a [`HookInput`], and each output shape for each event.

use super::*;
use protocol::Message;
use serde_json::json;

fn fixture(client: Client, event: &str) -> Value {
    let text = match (client, event) {
        (Client::ClaudeCode, "session-start") => {
            include_str!("../../../../tests/fixtures/hooks/claude-code/session-start.json")
        }
        (Client::ClaudeCode, "prompt") => {
            include_str!("../../../../tests/fixtures/hooks/claude-code/prompt.json")
        }
        (Client::ClaudeCode, "post-tool") => {
            include_str!("../../../../tests/fixtures/hooks/claude-code/post-tool.json")
        }
        (Client::ClaudeCode, "stop") => {
            include_str!("../../../../tests/fixtures/hooks/claude-code/stop.json")
        }
        (Client::Codex, "session-start") => {
            include_str!("../../../../tests/fixtures/hooks/codex/session-start.json")
        }
        (Client::Codex, "prompt") => {
            include_str!("../../../../tests/fixtures/hooks/codex/prompt.json")
        }
        (Client::Codex, "post-tool") => {
            include_str!("../../../../tests/fixtures/hooks/codex/post-tool.json")
        }
        (Client::Codex, "stop") => include_str!("../../../../tests/fixtures/hooks/codex/stop.json"),
        (Client::Gemini, "session-start") => {
            include_str!("../../../../tests/fixtures/hooks/gemini/session-start.json")
        }
        (Client::Gemini, "prompt") => {
            include_str!("../../../../tests/fixtures/hooks/gemini/prompt.json")
        }
        (Client::Gemini, "post-tool") => {
            include_str!("../../../../tests/fixtures/hooks/gemini/post-tool.json")
        }
        (Client::Gemini, "stop") => {
            include_str!("../../../../tests/fixtures/hooks/gemini/stop.json")
        }
        (Client::Cursor, "session-start") => {
            include_str!("../../../../tests/fixtures/hooks/cursor/session-start.json")
        }
        (Client::Cursor, "prompt") => {
            include_str!("../../../../tests/fixtures/hooks/cursor/prompt.json")
        }
        (Client::Cursor, "post-tool") => {
            include_str!("../../../../tests/fixtures/hooks/cursor/post-tool.json")
        }
        (Client::Cursor, "stop") => {
            include_str!("../../../../tests/fixtures/hooks/cursor/stop.json")
        }
        other => panic!("no fixture {other:?}"),
    };
    serde_json::from_str(text).expect("fixture is JSON")
}

const CLIENTS: [Client; 4] = [
    Client::ClaudeCode,
    Client::Codex,
    Client::Gemini,
    Client::Cursor,
];
const EVENTS: [&str; 4] = ["session-start", "prompt", "post-tool", "stop"];

#[test]
fn every_fixture_gives_the_session_and_the_directory() {
    for client in CLIENTS {
        for event in EVENTS {
            let input = client.input(&fixture(client, event)).unwrap();
            assert!(!input.session_id.is_empty(), "{client:?} {event}");
            assert_eq!(
                input.cwd.as_deref(),
                Some(Path::new("/home/user/project")),
                "{client:?} {event}"
            );
            assert!(!input.continuation, "{client:?} {event}");
        }
    }
    // Cursor's session is its conversation.
    let cursor = Client::Cursor
        .input(&fixture(Client::Cursor, "prompt"))
        .unwrap();
    assert_eq!(cursor.session_id, "conv-8d2f");
}

#[test]
fn a_stop_caused_by_a_stop_hook_is_a_continuation() {
    for client in [Client::ClaudeCode, Client::Codex, Client::Gemini] {
        let mut stdin = fixture(client, "stop");
        stdin["stop_hook_active"] = json!(true);
        assert!(client.input(&stdin).unwrap().continuation, "{client:?}");
    }
    let mut stdin = fixture(Client::Cursor, "stop");
    stdin["loop_count"] = json!(cursor::FOLLOWUPS - 1);
    assert!(!Client::Cursor.input(&stdin).unwrap().continuation);
    stdin["loop_count"] = json!(cursor::FOLLOWUPS);
    assert!(Client::Cursor.input(&stdin).unwrap().continuation);
}

#[test]
fn bad_stdin_is_refused_in_one_line() {
    let err = Client::ClaudeCode.input(&json!([1, 2])).unwrap_err();
    assert_eq!(err.to_string(), "stdin is not a JSON object");
    let err = Client::Codex
        .input(&json!({"session_id": 7}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid type"), "{err}");
    // Unknown fields are ignored; missing ones are blank.
    let input = Client::Gemini
        .input(&json!({"new_field": {"x": 1}}))
        .unwrap();
    assert_eq!(input.session_id, "");
    assert_eq!(input.cwd, None);
}

fn reach(messages: usize) -> HookReach {
    HookReach {
        names: vec!["alice".into()],
        linked_by: "ancestry".into(),
        participants: Vec::new(),
        latest_summary: None,
        unread_count: messages as u64,
        messages: (1..=messages as u64)
            .map(|id| Message {
                id,
                ts: "2026-12-02T16:00:00Z".into(),
                topic_id: None,
                from: "bob".into(),
                to: "alice".into(),
                content: format!("message {id}"),
                human: false,
            })
            .collect(),
        more: 0,
    }
}

fn context_text(output: &Output) -> &str {
    let Output::Json(value) = output else {
        panic!("{output:?}")
    };
    value["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .or_else(|| value["additional_context"].as_str())
        .unwrap_or_else(|| panic!("{value}"))
}

#[test]
fn context_shapes_per_client() {
    let reach = reach(2);
    // https://code.claude.com/docs/en/hooks (hookSpecificOutput.additionalContext),
    // https://github.com/openai/codex/tree/main/codex-rs/hooks/schema/generated (the same keys),
    // https://geminicli.com/docs/hooks/reference (BeforeAgent/AfterTool additionalContext).
    for (client, names) in [
        (
            Client::ClaudeCode,
            ["SessionStart", "UserPromptSubmit", "PostToolUse"],
        ),
        (
            Client::Codex,
            ["SessionStart", "UserPromptSubmit", "PostToolUse"],
        ),
        (Client::Gemini, ["SessionStart", "BeforeAgent", "AfterTool"]),
    ] {
        for (event, name) in [Event::SessionStart, Event::Prompt, Event::PostTool]
            .into_iter()
            .zip(names)
        {
            let output = render(client, event, &reach);
            let Output::Json(value) = &output else {
                panic!("{client:?} {event:?}: {output:?}")
            };
            assert_eq!(keys(value), ["hookSpecificOutput"]);
            assert_eq!(value["hookSpecificOutput"]["hookEventName"], name);
            assert!(context_text(&output).starts_with("chatroom: "));
        }
    }
    // https://cursor.com/docs/agent/hooks: sessionStart and postToolUse take additional_context;
    // beforeSubmitPrompt cannot add context.
    for event in [Event::SessionStart, Event::PostTool] {
        let output = render(Client::Cursor, event, &reach);
        let Output::Json(value) = &output else {
            panic!("{output:?}")
        };
        assert_eq!(keys(value), ["additional_context"]);
    }
    assert_eq!(
        render(Client::Cursor, Event::Prompt, &reach),
        Output::Nothing
    );
}

pub(super) fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn stop_shapes_per_client() {
    let reach = reach(1);
    let expected = [
        (Client::ClaudeCode, json!({"decision": "block"})),
        (Client::Codex, json!({"decision": "block"})),
        (Client::Gemini, json!({"decision": "deny"})),
    ];
    for (client, decision) in expected {
        let Output::Json(value) = render(client, Event::Stop, &reach) else {
            panic!("{client:?}")
        };
        assert_eq!(keys(&value), ["decision", "reason"], "{client:?}");
        assert_eq!(value["decision"], decision["decision"]);
        assert!(value["reason"].as_str().unwrap().contains("#1 bob → alice"));
    }
    let Output::Json(value) = render(Client::Cursor, Event::Stop, &reach) else {
        panic!("cursor")
    };
    assert_eq!(keys(&value), ["followup_message"]);
}

#[test]
fn nothing_to_deliver_prints_nothing_anywhere() {
    let empty = reach(0);
    for client in CLIENTS {
        for event in [Event::Prompt, Event::PostTool, Event::Stop, Event::Wake] {
            assert_eq!(render(client, event, &empty), Output::Nothing, "{client:?}");
        }
    }
    let mut nobody = reach(3);
    nobody.names.clear();
    for client in CLIENTS {
        for event in [Event::SessionStart, Event::Prompt, Event::Stop] {
            assert_eq!(render(client, event, &nobody), Output::Nothing);
        }
    }
}

#[test]
fn the_wake_hook_wakes_with_the_digest() {
    let Output::Wake(text) = render(Client::ClaudeCode, Event::Wake, &reach(1)) else {
        panic!("no wake")
    };
    assert!(
        text.starts_with("chatroom: 1 new message for alice"),
        "{text}"
    );
}

#[test]
fn what_each_hook_asks() {
    let input = HookInput {
        session_id: " abc ".into(),
        cwd: None,
        continuation: false,
    };
    let Some(Request::Reach {
        hook,
        deliver: false,
        limit: 0,
    }) = request(Client::ClaudeCode, Event::SessionStart, &input, 9)
    else {
        panic!("session start")
    };
    assert_eq!(hook.session_id, "abc");
    assert!(matches!(
        request(Client::Codex, Event::Prompt, &input, 9),
        Some(Request::Reach {
            deliver: true,
            limit: LIMIT,
            ..
        })
    ));
    assert!(matches!(
        request(Client::ClaudeCode, Event::Wake, &input, 9),
        Some(Request::AwaitReach { timeout_s: 9, .. })
    ));
    // Nowhere to show it: nothing asked, nothing marked delivered.
    assert_eq!(request(Client::Cursor, Event::Prompt, &input, 9), None);
    assert_eq!(request(Client::Gemini, Event::Wake, &input, 9), None);
    let continuation = HookInput {
        continuation: true,
        ..input
    };
    assert_eq!(
        request(Client::ClaudeCode, Event::Stop, &continuation, 9),
        None
    );
}
