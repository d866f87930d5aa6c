//! What links this shim to its agent for the hooks ([`protocol::Request::Link`]): the agent CLI's
//! pid and the session ids the clients give their MCP servers.
//!
//! - Claude Code: `CLAUDE_CODE_SESSION_ID` in the shim's environment (the id it was spawned with).
//! - Codex: `_meta["x-codex-turn-metadata"].session_id` on every `tools/call` (no variable); the
//!   metadata is an object, or the same object serialized as a JSON string (as Codex also sends
//!   it in its `x-codex-turn-metadata` HTTP header).

use chatroom_client::Link;
use serde_json::Value;

/// The variable in which Claude Code gives its MCP servers its session id.
pub const ENV_CLAUDE_SESSION: &str = "CLAUDE_CODE_SESSION_ID";

/// The `_meta` key under which Codex describes the turn of a `tools/call`.
pub const CODEX_TURN_METADATA: &str = "x-codex-turn-metadata";

/// This shim's link: its parent process (the agent CLI) and Claude Code's session id if set.
pub fn from_env() -> Link {
    let client_session_id = std::env::var(ENV_CLAUDE_SESSION).unwrap_or_default();
    Link::new(parent_pid(), &client_session_id)
}

#[cfg(unix)]
fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

#[cfg(not(unix))]
fn parent_pid() -> u32 {
    0
}

/// The Codex session id in a request's `_meta`, if there is a non-blank one.
pub fn codex_session_id(meta: &serde_json::Map<String, Value>) -> Option<String> {
    let session_id = |object: &serde_json::Map<String, Value>| {
        object
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    };
    match meta.get(CODEX_TURN_METADATA)? {
        Value::Object(object) => session_id(object),
        Value::String(text) => match serde_json::from_str(text).ok()? {
            Value::Object(object) => session_id(&object),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn codex_turn_metadata_as_an_object_or_a_json_string() {
        let turn = json!({"session_id": "019a-s", "thread_id": "t", "turn_id": "u"});
        assert_eq!(
            codex_session_id(&meta(json!({ CODEX_TURN_METADATA: turn.clone() }))),
            Some("019a-s".into())
        );
        assert_eq!(
            codex_session_id(&meta(json!({ CODEX_TURN_METADATA: turn.to_string() }))),
            Some("019a-s".into())
        );
    }

    #[test]
    fn no_id_without_codex_metadata_or_with_a_blank_or_odd_one() {
        for value in [
            json!({}),
            json!({"progressToken": 1}),
            json!({ CODEX_TURN_METADATA: {"session_id": "  "} }),
            json!({ CODEX_TURN_METADATA: {"session_id": 7} }),
            json!({ CODEX_TURN_METADATA: "not json" }),
            json!({ CODEX_TURN_METADATA: "[1]" }),
            json!({ CODEX_TURN_METADATA: 3 }),
        ] {
            assert_eq!(codex_session_id(&meta(value.clone())), None, "{value}");
        }
    }
}
