//! Turning a daemon outcome into the MCP tool result the contract promises.
//!
//! Pure functions only, so every result shape is pinned by unit tests without a daemon.

use protocol::{
    Claim, ClaimConflict, Claimed, Cursor, Handoff, Message, Participant, Receipt, Receipts,
    Refusal, Released, Response, RoomStatus, Summary, Topic, TopicCounts, TopicListing,
    TopicProgress, Unread, Waited,
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
    /// `read_messages`, `search_messages`: a list of messages.
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
    /// `open_topic`: the topic record.
    Topic,
    /// `close_topic`: `{"closed": bool}`.
    Closed,
    /// `list_topics`: a list of topic records.
    Topics,
    /// `wait_for_messages`: `read_unread`'s record and `timed_out`.
    Waited,
    /// `read_receipts`.
    Receipts,
    /// `claim`: `{name, granted: [claim], conflicts: [{path, held_by: claim}]}`.
    Claimed,
    /// `release`: `{name, released: [path]}`.
    Released,
    /// `list_claims`: a list of claims.
    Claims,
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
        (Shape::Topic, Response::Topic(topic)) => object(topic),
        (Shape::Closed, Response::Closed(closed)) => object(json!({ "closed": closed })),
        (Shape::Topics, Response::Topics(listings)) => list(listings),
        (Shape::Waited, Response::Waited(waited)) => object(waited),
        (Shape::Receipts, Response::Receipts(receipts)) => object(receipts),
        (Shape::Claimed, Response::Claimed(claimed)) => object(claimed),
        (Shape::Released, Response::Released(released)) => object(released),
        (Shape::Claims, Response::Claims(claims)) => list(claims),
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
            topic_id,
            from,
            to,
            content,
            human,
        } = self;
        // As `Message`'s own JSON form: `topic_id` after `ts` only in a topic, the `human` key
        // only when it is true.
        let mut map = Map::with_capacity(7);
        map.insert("id".to_owned(), Value::from(id));
        map.insert("ts".to_owned(), Value::String(ts));
        if let Some(topic_id) = topic_id {
            map.insert("topic_id".to_owned(), Value::String(topic_id));
        }
        map.insert("from".to_owned(), Value::String(from));
        map.insert("to".to_owned(), Value::String(to));
        map.insert("content".to_owned(), Value::String(content));
        if human {
            map.insert("human".to_owned(), Value::Bool(true));
        }
        Value::Object(map)
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
            topic_id,
            from,
            scope,
            content,
        } = self;
        // `topic_id` after `ts`, only in a topic.
        let mut map = Map::with_capacity(6);
        map.insert("id".to_owned(), Value::from(id));
        map.insert("ts".to_owned(), Value::String(ts));
        if let Some(topic_id) = topic_id {
            map.insert("topic_id".to_owned(), Value::String(topic_id));
        }
        map.insert("from".to_owned(), Value::String(from));
        map.insert("scope".to_owned(), Value::String(scope));
        map.insert("content".to_owned(), Value::String(content));
        Value::Object(map)
    }
}

impl IntoJson for RoomStatus {
    fn into_json(self) -> Value {
        let RoomStatus {
            participant_count,
            message_count,
            last_activity_ts,
            topics,
        } = self;
        let mut value = fields([
            ("participant_count", Value::from(participant_count)),
            ("message_count", Value::from(message_count)),
            (
                "last_activity_ts",
                last_activity_ts.map_or(Value::Null, Value::String),
            ),
        ]);
        // v2's counts follow v1's three keys once the room has a topic.
        if let Some(TopicCounts {
            topic_count,
            open_topic_count,
            summary_count,
        }) = topics
            && let Value::Object(map) = &mut value
        {
            map.insert("topic_count".to_owned(), Value::from(topic_count));
            map.insert("open_topic_count".to_owned(), Value::from(open_topic_count));
            map.insert("summary_count".to_owned(), Value::from(summary_count));
        }
        value
    }
}

impl IntoJson for Cursor {
    fn into_json(self) -> Value {
        let Cursor {
            name,
            topic_id,
            last_read_id,
        } = self;
        // `topic_id` after `name`, only in a topic.
        let mut map = Map::with_capacity(3);
        map.insert("name".to_owned(), Value::String(name));
        if let Some(topic_id) = topic_id {
            map.insert("topic_id".to_owned(), Value::String(topic_id));
        }
        map.insert("last_read_id".to_owned(), Value::from(last_read_id));
        Value::Object(map)
    }
}

impl IntoJson for Unread {
    fn into_json(self) -> Value {
        let Unread {
            name,
            topic_id,
            last_read_id,
            messages,
        } = self;
        // `topic_id` after `name`, only in a topic.
        let mut map = Map::with_capacity(4);
        map.insert("name".to_owned(), Value::String(name));
        if let Some(topic_id) = topic_id {
            map.insert("topic_id".to_owned(), Value::String(topic_id));
        }
        map.insert("last_read_id".to_owned(), Value::from(last_read_id));
        map.insert("messages".to_owned(), messages.into_json());
        Value::Object(map)
    }
}

impl IntoJson for Waited {
    fn into_json(self) -> Value {
        let Waited { unread, timed_out } = self;
        let mut record = unread.into_json();
        if let Value::Object(map) = &mut record {
            map.insert("timed_out".to_owned(), Value::Bool(timed_out));
        }
        record
    }
}

impl IntoJson for Receipts {
    fn into_json(self) -> Value {
        let Receipts {
            message_id,
            from,
            to,
            topic_id,
            receipts,
        } = self;
        fields([
            ("message_id", Value::from(message_id)),
            ("from", Value::String(from)),
            ("to", Value::String(to)),
            ("topic_id", topic_id.map_or(Value::Null, Value::String)),
            ("receipts", receipts.into_json()),
        ])
    }
}

impl IntoJson for Receipt {
    fn into_json(self) -> Value {
        let Receipt {
            name,
            present,
            read,
            read_at,
            delivered_at,
        } = self;
        fields([
            ("name", Value::String(name)),
            ("present", Value::Bool(present)),
            ("read", Value::Bool(read)),
            ("read_at", read_at.map_or(Value::Null, Value::String)),
            (
                "delivered_at",
                delivered_at.map_or(Value::Null, Value::String),
            ),
        ])
    }
}

impl IntoJson for Handoff {
    fn into_json(self) -> Value {
        let Handoff {
            participants,
            topic,
            latest_message_id,
            cursor,
            unread_count,
            latest_summary,
            recent_messages,
            claims,
        } = self;
        // `topic` after `participants`, only in a topic (where v2 places it); `claims` last,
        // only once the room has any.
        let mut map = Map::with_capacity(8);
        map.insert("participants".to_owned(), participants.into_json());
        if let Some(topic) = topic {
            map.insert("topic".to_owned(), topic.into_json());
        }
        map.insert(
            "latest_message_id".to_owned(),
            Value::from(latest_message_id),
        );
        map.insert("cursor".to_owned(), cursor.map_or(Value::Null, Value::from));
        map.insert(
            "unread_count".to_owned(),
            unread_count.map_or(Value::Null, Value::from),
        );
        map.insert("latest_summary".to_owned(), latest_summary.into_json());
        map.insert("recent_messages".to_owned(), recent_messages.into_json());
        if let Some(claims) = claims {
            map.insert("claims".to_owned(), claims.into_json());
        }
        Value::Object(map)
    }
}

impl IntoJson for Claim {
    fn into_json(self) -> Value {
        let Claim {
            path,
            name,
            exclusive,
            reason,
            since,
            expires_at,
            held_s,
        } = self;
        fields([
            ("path", Value::String(path)),
            ("name", Value::String(name)),
            ("exclusive", Value::Bool(exclusive)),
            ("reason", Value::String(reason)),
            ("since", Value::String(since)),
            ("expires_at", expires_at.map_or(Value::Null, Value::String)),
            ("held_s", Value::from(held_s)),
        ])
    }
}

impl IntoJson for ClaimConflict {
    fn into_json(self) -> Value {
        let ClaimConflict { path, held_by } = self;
        fields([
            ("path", Value::String(path)),
            ("held_by", held_by.into_json()),
        ])
    }
}

impl IntoJson for Claimed {
    fn into_json(self) -> Value {
        let Claimed {
            name,
            granted,
            conflicts,
        } = self;
        fields([
            ("name", Value::String(name)),
            ("granted", granted.into_json()),
            ("conflicts", conflicts.into_json()),
        ])
    }
}

impl IntoJson for Released {
    fn into_json(self) -> Value {
        let Released { name, released } = self;
        fields([
            ("name", Value::String(name)),
            (
                "released",
                Value::Array(released.into_iter().map(Value::String).collect()),
            ),
        ])
    }
}

impl IntoJson for Topic {
    fn into_json(self) -> Value {
        let mut map = Map::with_capacity(7);
        topic_entries(&mut map, self);
        Value::Object(map)
    }
}

/// A topic's seven keys in the record's order, the start of a listing's entries too.
fn topic_entries(map: &mut Map<String, Value>, topic: Topic) {
    let Topic {
        id,
        title,
        status,
        created_by,
        created_at,
        closed_at,
        last_activity_ts,
    } = topic;
    map.insert("id".to_owned(), Value::String(id));
    map.insert("title".to_owned(), Value::String(title));
    map.insert("status".to_owned(), Value::from(status.as_str()));
    map.insert("created_by".to_owned(), Value::String(created_by));
    map.insert("created_at".to_owned(), Value::String(created_at));
    map.insert(
        "closed_at".to_owned(),
        closed_at.map_or(Value::Null, Value::String),
    );
    map.insert(
        "last_activity_ts".to_owned(),
        Value::String(last_activity_ts),
    );
}

impl IntoJson for TopicListing {
    fn into_json(self) -> Value {
        let TopicListing { topic, progress } = self;
        let mut map = Map::with_capacity(11);
        topic_entries(&mut map, topic);
        // With a name, v2's progress keys follow the record's own.
        if let Some(TopicProgress {
            latest_message_id,
            cursor,
            unread_count,
            latest_summary,
        }) = progress
        {
            map.insert(
                "latest_message_id".to_owned(),
                Value::from(latest_message_id),
            );
            map.insert("cursor".to_owned(), Value::from(cursor));
            map.insert("unread_count".to_owned(), Value::from(unread_count));
            map.insert("latest_summary".to_owned(), latest_summary.into_json());
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests;
