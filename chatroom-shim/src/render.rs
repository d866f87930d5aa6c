//! Turning a daemon outcome into the MCP tool result the contract promises.
//!
//! Pure functions only, so every result shape is pinned by unit tests without a daemon.

use protocol::{
    Cursor, Handoff, Message, Participant, Refusal, Response, RoomStatus, Summary, Unread,
};
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The result a tool expects from the daemon. A reply of another kind is a bug on one side of
/// the wire, and is reported as such rather than rendered as if it answered the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `join`, `list_participants`: a list of participants.
    Participants,
    /// `leave`: `{"left": bool}`.
    Left,
    /// `send_message`, `write_summary`: `{"id": N}`.
    Id,
    /// `read_messages`: a list of messages.
    Messages,
    /// `get_status`.
    Status,
    /// `get_cursor`, `set_cursor`.
    Cursor,
    /// `read_unread`.
    Unread,
    /// `read_latest_summary`: a summary or `null`.
    Summary,
    /// `get_handoff`.
    Handoff,
}

/// The text of the result a mismatched reply turns into.
pub const UNEXPECTED_REPLY: &str = "unexpected reply from chatroomd";

/// Renders the daemon's answer to a call that expected `shape`: a refusal becomes an `isError`
/// result carrying its message, a success the contract's JSON value.
pub fn render(shape: Shape, outcome: Result<Response, Refusal>) -> CallToolResult {
    let response = match outcome {
        Ok(response) => response,
        Err(refusal) => return failure(refusal.message),
    };
    let rendered = match (shape, response) {
        (Shape::Participants, Response::Participants(participants)) => list(participants),
        (Shape::Left, Response::Left(left)) => object(json!({ "left": left })),
        (Shape::Id, Response::Id(id)) => object(json!({ "id": id })),
        (Shape::Messages, Response::Messages(messages)) => list(messages),
        (Shape::Status, Response::Status(status)) => object(status),
        (Shape::Cursor, Response::Cursor(cursor)) => object(cursor),
        (Shape::Unread, Response::Unread(unread)) => object(unread),
        (Shape::Summary, Response::Summary(Some(summary))) => object(summary),
        (Shape::Summary, Response::Summary(None)) => {
            Ok(CallToolResult::success(vec![ContentBlock::text("null")]))
        }
        (Shape::Handoff, Response::Handoff(handoff)) => object(handoff),
        (shape, response) => {
            tracing::error!(
                ?shape,
                ?response,
                "chatroomd answered with the wrong kind of reply"
            );
            return failure(UNEXPECTED_REPLY);
        }
    };
    rendered.unwrap_or_else(|err| {
        // The protocol records are plain strings and integers, so this cannot happen; if it
        // ever does, the agent still gets a result instead of a hung or dropped call.
        tracing::error!(cause = %err, "could not serialize a reply as json");
        failure(format!(
            "could not render the reply of chatroomd as json: {err}"
        ))
    })
}

/// An `isError` result with one line of text, for refusals and for failures to reach the daemon.
pub fn failure(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// A JSON object: the text block and the structured content carry the same value. The text is
/// serialized from the typed value so that keys keep the contract's order; the structured
/// content then takes the value's strings over ([`IntoJson`]).
fn object<T: Serialize + IntoJson>(value: T) -> serde_json::Result<CallToolResult> {
    let text = serde_json::to_string(&value)?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value.into_json());
    Ok(result)
}

/// A JSON list: structured content must be an object, so there it is wrapped as `{"result": ..}`.
fn list<T: Serialize + IntoJson>(items: Vec<T>) -> serde_json::Result<CallToolResult> {
    let text = serde_json::to_string(&items)?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(fields([("result", items.into_json())]));
    Ok(result)
}

/// A reply as the JSON value of its `Serialize` form, built by moving its strings in.
///
/// `serde_json::to_value` copies every string and grows every map one key at a time; for a
/// read of fifty messages that was a third of the shim's instructions per call, the largest
/// share that is ours. The keys and their order must stay those of the `Serialize` form: the
/// tests below compare the two for every shape.
trait IntoJson {
    fn into_json(self) -> Value;
}

/// An object of exactly these entries, in this order.
fn fields<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (key, value) in entries {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

impl IntoJson for Value {
    fn into_json(self) -> Value {
        self
    }
}

impl<T: IntoJson> IntoJson for Vec<T> {
    fn into_json(self) -> Value {
        Value::Array(self.into_iter().map(IntoJson::into_json).collect())
    }
}

impl<T: IntoJson> IntoJson for Option<T> {
    fn into_json(self) -> Value {
        self.map_or(Value::Null, IntoJson::into_json)
    }
}

impl IntoJson for Message {
    fn into_json(self) -> Value {
        let Message {
            id,
            ts,
            from,
            to,
            content,
            human,
            ..
        } = self;
        let entries = [
            ("id", Value::from(id)),
            ("ts", Value::String(ts)),
            ("from", Value::String(from)),
            ("to", Value::String(to)),
            ("content", Value::String(content)),
        ];
        // As `Message`'s own JSON form: the `human` key only when it is true.
        let mut value = fields(entries);
        if human && let Value::Object(map) = &mut value {
            map.insert("human".to_owned(), Value::Bool(true));
        }
        value
    }
}

impl IntoJson for Participant {
    fn into_json(self) -> Value {
        let Participant {
            name,
            role,
            joined_at,
            last_seen,
        } = self;
        fields([
            ("name", Value::String(name)),
            ("role", Value::String(role)),
            ("joined_at", Value::String(joined_at)),
            ("last_seen", Value::String(last_seen)),
        ])
    }
}

impl IntoJson for Summary {
    fn into_json(self) -> Value {
        let Summary {
            id,
            ts,
            from,
            scope,
            content,
            ..
        } = self;
        fields([
            ("id", Value::from(id)),
            ("ts", Value::String(ts)),
            ("from", Value::String(from)),
            ("scope", Value::String(scope)),
            ("content", Value::String(content)),
        ])
    }
}

impl IntoJson for RoomStatus {
    fn into_json(self) -> Value {
        let RoomStatus {
            participant_count,
            message_count,
            last_activity_ts,
            ..
        } = self;
        fields([
            ("participant_count", Value::from(participant_count)),
            ("message_count", Value::from(message_count)),
            (
                "last_activity_ts",
                last_activity_ts.map_or(Value::Null, Value::String),
            ),
        ])
    }
}

impl IntoJson for Cursor {
    fn into_json(self) -> Value {
        let Cursor {
            name, last_read_id, ..
        } = self;
        fields([
            ("name", Value::String(name)),
            ("last_read_id", Value::from(last_read_id)),
        ])
    }
}

impl IntoJson for Unread {
    fn into_json(self) -> Value {
        let Unread {
            name,
            last_read_id,
            messages,
            ..
        } = self;
        fields([
            ("name", Value::String(name)),
            ("last_read_id", Value::from(last_read_id)),
            ("messages", messages.into_json()),
        ])
    }
}

impl IntoJson for Handoff {
    fn into_json(self) -> Value {
        let Handoff {
            participants,
            latest_message_id,
            cursor,
            unread_count,
            latest_summary,
            recent_messages,
            ..
        } = self;
        fields([
            ("participants", participants.into_json()),
            ("latest_message_id", Value::from(latest_message_id)),
            ("cursor", cursor.map_or(Value::Null, Value::from)),
            (
                "unread_count",
                unread_count.map_or(Value::Null, Value::from),
            ),
            ("latest_summary", latest_summary.into_json()),
            ("recent_messages", recent_messages.into_json()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Cursor, Handoff, Message, Participant, RoomStatus, Summary, Unread};
    use serde_json::Value;

    /// Checks one rendering: the exact text block, the structured content and the error flag.
    fn check(
        shape: Shape,
        outcome: Result<Response, Refusal>,
        text: &str,
        structured: Option<Value>,
        is_error: bool,
    ) {
        let result = render(shape, outcome);
        assert_eq!(result.content.len(), 1, "{result:?}");
        assert_eq!(
            result.content[0].as_text().map(|t| t.text.as_str()),
            Some(text)
        );
        assert_eq!(result.structured_content, structured);
        assert_eq!(result.is_error, Some(is_error));
        if let Some(structured) = &result.structured_content
            && !matches!(shape, Shape::Participants | Shape::Messages)
        {
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(&parsed, structured, "text and structured content differ");
            // Clients that show the model the structured content must see the contract's key
            // order too, not keys sorted (serde_json's `preserve_order`).
            assert_eq!(
                serde_json::to_string(structured).unwrap(),
                text,
                "structured content in another key order"
            );
        }
    }

    fn message(id: u64, to: &str) -> Message {
        Message {
            topic_id: None,
            id,
            ts: "2026-01-02T03:04:05Z".into(),
            from: "ann".into(),
            to: to.into(),
            content: "hi \"there\"\n".into(),
            human: false,
        }
    }

    fn participant(name: &str) -> Participant {
        Participant {
            name: name.into(),
            role: "general".into(),
            joined_at: "2026-01-02T03:04:05Z".into(),
            last_seen: "2026-01-02T03:04:06Z".into(),
        }
    }

    fn summary() -> Summary {
        Summary {
            topic_id: None,
            id: 4,
            ts: "2026-01-02T03:04:05Z".into(),
            from: "ann".into(),
            scope: "all".into(),
            content: "done".into(),
        }
    }

    const ANN: &str = r#"{"name":"ann","role":"general","joined_at":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:06Z"}"#;
    const MSG1: &str = r#"{"id":1,"ts":"2026-01-02T03:04:05Z","from":"ann","to":"all","content":"hi \"there\"\n"}"#;
    const SUMMARY: &str =
        r#"{"id":4,"ts":"2026-01-02T03:04:05Z","from":"ann","scope":"all","content":"done"}"#;

    #[test]
    fn lists_are_text_and_wrapped_structured_content() {
        check(
            Shape::Participants,
            Ok(Response::Participants(vec![participant("ann")])),
            &format!("[{ANN}]"),
            Some(json!({"result": [serde_json::from_str::<Value>(ANN).unwrap()]})),
            false,
        );
        check(
            Shape::Participants,
            Ok(Response::Participants(vec![])),
            "[]",
            Some(json!({"result": []})),
            false,
        );
        check(
            Shape::Messages,
            Ok(Response::Messages(vec![message(1, "all")])),
            &format!("[{MSG1}]"),
            Some(json!({"result": [serde_json::from_str::<Value>(MSG1).unwrap()]})),
            false,
        );
    }

    #[test]
    fn small_objects() {
        check(
            Shape::Left,
            Ok(Response::Left(true)),
            r#"{"left":true}"#,
            Some(json!({"left": true})),
            false,
        );
        check(
            Shape::Left,
            Ok(Response::Left(false)),
            r#"{"left":false}"#,
            Some(json!({"left": false})),
            false,
        );
        check(
            Shape::Id,
            Ok(Response::Id(42)),
            r#"{"id":42}"#,
            Some(json!({"id": 42})),
            false,
        );
    }

    #[test]
    fn status_has_null_activity_when_empty() {
        let status = |last: Option<&str>| {
            Ok(Response::Status(RoomStatus {
                topics: None,
                participant_count: 2,
                message_count: 7,
                last_activity_ts: last.map(str::to_owned),
            }))
        };
        check(
            Shape::Status,
            status(None),
            r#"{"participant_count":2,"message_count":7,"last_activity_ts":null}"#,
            Some(json!({"participant_count": 2, "message_count": 7, "last_activity_ts": null})),
            false,
        );
        check(
            Shape::Status,
            status(Some("2026-01-02T03:04:05Z")),
            r#"{"participant_count":2,"message_count":7,"last_activity_ts":"2026-01-02T03:04:05Z"}"#,
            Some(
                json!({"participant_count": 2, "message_count": 7, "last_activity_ts": "2026-01-02T03:04:05Z"}),
            ),
            false,
        );
    }

    #[test]
    fn cursor_and_unread() {
        check(
            Shape::Cursor,
            Ok(Response::Cursor(Cursor {
                topic_id: None,
                name: "ann".into(),
                last_read_id: 3,
            })),
            r#"{"name":"ann","last_read_id":3}"#,
            Some(json!({"name": "ann", "last_read_id": 3})),
            false,
        );
        check(
            Shape::Unread,
            Ok(Response::Unread(Unread {
                topic_id: None,
                name: "ann".into(),
                last_read_id: 1,
                messages: vec![message(1, "all")],
            })),
            &format!(r#"{{"name":"ann","last_read_id":1,"messages":[{MSG1}]}}"#),
            Some(
                json!({"name": "ann", "last_read_id": 1, "messages": [serde_json::from_str::<Value>(MSG1).unwrap()]}),
            ),
            false,
        );
    }

    #[test]
    fn a_human_message_keeps_its_human_key() {
        let mut human = message(2, "all");
        human.human = true;
        let text = serde_json::to_string(&human).unwrap();
        assert!(text.ends_with(r#","human":true}"#), "{text}");
        check(
            Shape::Unread,
            Ok(Response::Unread(Unread {
                topic_id: None,
                name: "ann".into(),
                last_read_id: 2,
                messages: vec![human],
            })),
            &format!(r#"{{"name":"ann","last_read_id":2,"messages":[{text}]}}"#),
            Some(
                json!({"name": "ann", "last_read_id": 2, "messages": [serde_json::from_str::<Value>(&text).unwrap()]}),
            ),
            false,
        );
    }

    #[test]
    fn summary_or_null() {
        check(
            Shape::Summary,
            Ok(Response::Summary(Some(summary()))),
            SUMMARY,
            Some(serde_json::from_str(SUMMARY).unwrap()),
            false,
        );
        check(
            Shape::Summary,
            Ok(Response::Summary(None)),
            "null",
            None,
            false,
        );
    }

    #[test]
    fn handoff_with_and_without_a_name() {
        check(
            Shape::Handoff,
            Ok(Response::Handoff(Handoff {
                topic: None,
                participants: vec![participant("ann")],
                latest_message_id: 1,
                cursor: Some(0),
                unread_count: Some(1),
                latest_summary: Some(summary()),
                recent_messages: vec![message(1, "all")],
            })),
            &format!(
                r#"{{"participants":[{ANN}],"latest_message_id":1,"cursor":0,"unread_count":1,"latest_summary":{SUMMARY},"recent_messages":[{MSG1}]}}"#
            ),
            Some(json!({
                "participants": [serde_json::from_str::<Value>(ANN).unwrap()],
                "latest_message_id": 1,
                "cursor": 0,
                "unread_count": 1,
                "latest_summary": serde_json::from_str::<Value>(SUMMARY).unwrap(),
                "recent_messages": [serde_json::from_str::<Value>(MSG1).unwrap()],
            })),
            false,
        );
        check(
            Shape::Handoff,
            Ok(Response::Handoff(Handoff {
                topic: None,
                participants: vec![],
                latest_message_id: 0,
                cursor: None,
                unread_count: None,
                latest_summary: None,
                recent_messages: vec![],
            })),
            r#"{"participants":[],"latest_message_id":0,"cursor":null,"unread_count":null,"latest_summary":null,"recent_messages":[]}"#,
            Some(json!({
                "participants": [],
                "latest_message_id": 0,
                "cursor": null,
                "unread_count": null,
                "latest_summary": null,
                "recent_messages": [],
            })),
            false,
        );
    }

    #[test]
    fn refusals_are_error_results_with_their_message() {
        check(
            Shape::Participants,
            Err(Refusal::conflict(
                "name 'ann' is already active in another session",
            )),
            "name 'ann' is already active in another session",
            None,
            true,
        );
        check(
            Shape::Messages,
            Err(Refusal::invalid("limit must be between 1 and 100")),
            "limit must be between 1 and 100",
            None,
            true,
        );
    }

    #[test]
    fn a_reply_of_the_wrong_kind_is_an_error() {
        check(
            Shape::Unread,
            Ok(Response::Id(3)),
            UNEXPECTED_REPLY,
            None,
            true,
        );
        check(
            Shape::Left,
            Ok(Response::ShuttingDown),
            UNEXPECTED_REPLY,
            None,
            true,
        );
        check(
            Shape::Summary,
            Ok(Response::Messages(vec![])),
            UNEXPECTED_REPLY,
            None,
            true,
        );
    }

    #[test]
    fn failure_is_one_error_block() {
        let result = failure("lost the connection to chatroomd; retry the call");
        assert_eq!(result.is_error, Some(true));
        assert_eq!(result.content.len(), 1);
        assert!(result.structured_content.is_none());
    }
}
