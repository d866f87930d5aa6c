//! The exact tool results: each response shape rendered to its text block, structured content
//! and error flag, as the contract fixes them.

use super::*;
use protocol::{Cursor, Handoff, Message, Participant, RoomStatus, Summary, TopicStatus, Unread};
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
    if let Some(structured) = &result.structured_content {
        // A list is the text; its structured content wraps it as `{"result": [...]}`.
        let structured = match shape {
            Shape::Participants | Shape::Messages | Shape::Topics | Shape::Claims => {
                &structured["result"]
            }
            _ => structured,
        };
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

fn in_topic<T>(mut record: T, set: impl FnOnce(&mut T)) -> T {
    set(&mut record);
    record
}

fn topic(status: TopicStatus) -> Topic {
    Topic {
        id: "auth".into(),
        title: "Auth \"rework\"".into(),
        status,
        created_by: "ann".into(),
        created_at: "2026-01-02T03:04:05Z".into(),
        closed_at: (status == TopicStatus::Closed).then(|| "2026-01-02T04:00:00Z".into()),
        last_activity_ts: "2026-01-02T04:00:00Z".into(),
    }
}

/// `value`'s [`IntoJson`] form serializes to exactly its `Serialize` JSON form: the same keys
/// in the same order and the same values.
fn same_json<T: Serialize + IntoJson + Clone + std::fmt::Debug>(value: T) {
    let text = serde_json::to_string(&value).unwrap();
    let built = serde_json::to_string(&value.clone().into_json()).unwrap();
    assert_eq!(built, text, "{value:?}");
}

const ANN: &str = r#"{"name":"ann","role":"general","joined_at":"2026-01-02T03:04:05Z","last_seen":"2026-01-02T03:04:06Z"}"#;
const MSG1: &str =
    r#"{"id":1,"ts":"2026-01-02T03:04:05Z","from":"ann","to":"all","content":"hi \"there\"\n"}"#;
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

fn receipts(topic_id: Option<String>) -> Receipts {
    Receipts {
        message_id: 7,
        from: "ann".into(),
        to: "all".into(),
        topic_id,
        receipts: vec![
            Receipt {
                name: "bob".into(),
                present: true,
                read: true,
                read_at: Some("2026-01-02T03:04:05Z".into()),
                delivered_at: None,
            },
            Receipt {
                name: "cy".into(),
                present: false,
                read: false,
                read_at: None,
                delivered_at: Some("2026-01-02T03:04:06Z".into()),
            },
        ],
    }
}

#[test]
fn a_wait_is_read_unread_and_whether_it_timed_out() {
    let waited = |messages: Vec<Message>, timed_out| {
        Ok(Response::Waited(Waited {
            unread: Unread {
                topic_id: None,
                name: "ann".into(),
                last_read_id: 1,
                messages,
            },
            timed_out,
        }))
    };
    check(
        Shape::Waited,
        waited(vec![message(1, "all")], false),
        &format!(r#"{{"name":"ann","last_read_id":1,"messages":[{MSG1}],"timed_out":false}}"#),
        Some(
            json!({"name": "ann", "last_read_id": 1, "messages": [serde_json::from_str::<Value>(MSG1).unwrap()], "timed_out": false}),
        ),
        false,
    );
    check(
        Shape::Waited,
        waited(vec![], true),
        r#"{"name":"ann","last_read_id":1,"messages":[],"timed_out":true}"#,
        Some(json!({"name": "ann", "last_read_id": 1, "messages": [], "timed_out": true})),
        false,
    );
}

#[test]
fn receipts_name_each_recipient() {
    let text = r#"{"message_id":7,"from":"ann","to":"all","topic_id":null,"receipts":[{"name":"bob","present":true,"read":true,"read_at":"2026-01-02T03:04:05Z","delivered_at":null},{"name":"cy","present":false,"read":false,"read_at":null,"delivered_at":"2026-01-02T03:04:06Z"}]}"#;
    check(
        Shape::Receipts,
        Ok(Response::Receipts(receipts(None))),
        text,
        Some(serde_json::from_str(text).unwrap()),
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
            claims: None,
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
            claims: None,
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
fn every_shape_builds_the_json_of_its_serialize_form_with_and_without_topics() {
    let topical = |id: u64, to: &str| {
        in_topic(message(id, to), |message| {
            message.topic_id = Some("auth".into())
        })
    };
    let topic_summary = in_topic(summary(), |summary| summary.topic_id = Some("auth".into()));
    let mut human = topical(3, "bob");
    human.human = true;
    for message in [message(1, "all"), topical(2, "all"), human.clone()] {
        same_json(message);
    }
    same_json(summary());
    same_json(topic_summary.clone());
    same_json(participant("ann"));
    for topics in [
        None,
        Some(TopicCounts {
            topic_count: 2,
            open_topic_count: 1,
            summary_count: 5,
        }),
    ] {
        for last_activity_ts in [None, Some("2026-01-02T03:04:05Z".to_owned())] {
            same_json(RoomStatus {
                participant_count: 1,
                message_count: 9,
                last_activity_ts: last_activity_ts.clone(),
                topics: topics.clone(),
            });
        }
    }
    for topic_id in [None, Some("auth".to_owned())] {
        same_json(Cursor {
            name: "ann".into(),
            topic_id: topic_id.clone(),
            last_read_id: 7,
        });
        same_json(Unread {
            name: "ann".into(),
            topic_id: topic_id.clone(),
            last_read_id: 7,
            messages: vec![topical(7, "all"), human.clone()],
        });
        for timed_out in [false, true] {
            same_json(Waited {
                unread: Unread {
                    name: "ann".into(),
                    topic_id: topic_id.clone(),
                    last_read_id: 7,
                    messages: vec![topical(7, "all")],
                },
                timed_out,
            });
        }
        same_json(receipts(topic_id.clone()));
    }
    for status in [TopicStatus::Open, TopicStatus::Closed] {
        same_json(topic(status));
        for progress in [
            None,
            Some(TopicProgress {
                latest_message_id: 9,
                cursor: 2,
                unread_count: 3,
                latest_summary: None,
            }),
            Some(TopicProgress {
                latest_message_id: 9,
                cursor: 9,
                unread_count: 0,
                latest_summary: Some(topic_summary.clone()),
            }),
        ] {
            same_json(TopicListing {
                topic: topic(status),
                progress,
            });
        }
        for named in [false, true] {
            same_json(Handoff {
                participants: vec![participant("ann"), participant("bob")],
                topic: Some(topic(status)),
                latest_message_id: 9,
                cursor: named.then_some(2),
                unread_count: named.then_some(3),
                latest_summary: named.then(|| topic_summary.clone()),
                recent_messages: vec![topical(9, "all")],
                claims: named.then(|| vec![claim_record("src/**")]),
            });
            same_json(Handoff {
                participants: vec![],
                topic: None,
                latest_message_id: 1,
                cursor: named.then_some(0),
                unread_count: named.then_some(1),
                latest_summary: named.then(summary),
                recent_messages: vec![message(1, "all")],
                claims: None,
            });
        }
    }
}

fn claim_record(path: &str) -> Claim {
    Claim {
        path: path.into(),
        name: "ann".into(),
        exclusive: true,
        reason: "refactoring \"the store\"".into(),
        since: "2026-01-02T03:04:05Z".into(),
        expires_at: None,
        held_s: 240,
    }
}

const CLAIM: &str = r#"{"path":"src/**","name":"ann","exclusive":true,"reason":"refactoring \"the store\"","since":"2026-01-02T03:04:05Z","expires_at":null,"held_s":240}"#;

#[test]
fn claim_results() {
    let claimed = Claimed {
        name: "bob".into(),
        granted: vec![Claim {
            name: "bob".into(),
            exclusive: false,
            expires_at: Some("2026-01-02T04:00:00Z".into()),
            held_s: 0,
            ..claim_record("README.md")
        }],
        conflicts: vec![ClaimConflict {
            path: "src/store.rs".into(),
            held_by: claim_record("src/**"),
        }],
    };
    let text = format!(
        r#"{{"name":"bob","granted":[{{"path":"README.md","name":"bob","exclusive":false,"reason":"refactoring \"the store\"","since":"2026-01-02T03:04:05Z","expires_at":"2026-01-02T04:00:00Z","held_s":0}}],"conflicts":[{{"path":"src/store.rs","held_by":{CLAIM}}}]}}"#
    );
    check(
        Shape::Claimed,
        Ok(Response::Claimed(claimed)),
        &text,
        Some(parsed(&text)),
        false,
    );
    let text = r#"{"name":"ann","released":["a.rs","src/**"]}"#;
    let released = Released {
        name: "ann".into(),
        released: vec!["a.rs".into(), "src/**".into()],
    };
    check(
        Shape::Released,
        Ok(Response::Released(released)),
        text,
        Some(parsed(text)),
        false,
    );
    let text = format!("[{CLAIM}]");
    check(
        Shape::Claims,
        Ok(Response::Claims(vec![claim_record("src/**")])),
        &text,
        Some(json!({ "result": parsed(&text) })),
        false,
    );
    // A handoff carries the claims last, once the room has any.
    let handoff = Handoff {
        participants: vec![],
        topic: None,
        latest_message_id: 0,
        cursor: None,
        unread_count: None,
        latest_summary: None,
        recent_messages: vec![],
        claims: Some(vec![claim_record("src/**")]),
    };
    let text = format!(
        r#"{{"participants":[],"latest_message_id":0,"cursor":null,"unread_count":null,"latest_summary":null,"recent_messages":[],"claims":[{CLAIM}]}}"#
    );
    check(
        Shape::Handoff,
        Ok(Response::Handoff(handoff)),
        &text,
        Some(parsed(&text)),
        false,
    );
}

const TOPIC: &str = r#"{"id":"auth","title":"Auth \"rework\"","status":"open","created_by":"ann","created_at":"2026-01-02T03:04:05Z","closed_at":null,"last_activity_ts":"2026-01-02T04:00:00Z"}"#;
const CLOSED_TOPIC: &str = r#"{"id":"auth","title":"Auth \"rework\"","status":"closed","created_by":"ann","created_at":"2026-01-02T03:04:05Z","closed_at":"2026-01-02T04:00:00Z","last_activity_ts":"2026-01-02T04:00:00Z"}"#;

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn topic_results() {
    check(
        Shape::Topic,
        Ok(Response::Topic(topic(TopicStatus::Open))),
        TOPIC,
        Some(parsed(TOPIC)),
        false,
    );
    for closed in [true, false] {
        check(
            Shape::Closed,
            Ok(Response::Closed(closed)),
            &format!(r#"{{"closed":{closed}}}"#),
            Some(json!({ "closed": closed })),
            false,
        );
    }
    check(
        Shape::Topics,
        Ok(Response::Topics(vec![])),
        "[]",
        Some(json!({"result": []})),
        false,
    );
    let plain = TopicListing {
        topic: topic(TopicStatus::Closed),
        progress: None,
    };
    let named = TopicListing {
        topic: topic(TopicStatus::Open),
        progress: Some(TopicProgress {
            latest_message_id: 9,
            cursor: 2,
            unread_count: 3,
            latest_summary: None,
        }),
    };
    let named_text = format!(
        r#"{},"latest_message_id":9,"cursor":2,"unread_count":3,"latest_summary":null}}"#,
        TOPIC.strip_suffix('}').unwrap()
    );
    check(
        Shape::Topics,
        Ok(Response::Topics(vec![named, plain])),
        &format!("[{named_text},{CLOSED_TOPIC}]"),
        Some(json!({"result": [parsed(&named_text), parsed(CLOSED_TOPIC)]})),
        false,
    );
}

#[test]
fn records_in_a_topic_carry_their_topic() {
    let topical = in_topic(message(5, "all"), |message| {
        message.topic_id = Some("auth".into())
    });
    let text = r#"{"id":5,"ts":"2026-01-02T03:04:05Z","topic_id":"auth","from":"ann","to":"all","content":"hi \"there\"\n"}"#;
    // `search_messages` answers with messages of every scope, newest first.
    check(
        Shape::Messages,
        Ok(Response::Messages(vec![topical.clone(), message(1, "all")])),
        &format!("[{text},{MSG1}]"),
        Some(json!({"result": [parsed(text), parsed(MSG1)]})),
        false,
    );
    check(
        Shape::Cursor,
        Ok(Response::Cursor(Cursor {
            topic_id: Some("auth".into()),
            name: "ann".into(),
            last_read_id: 5,
        })),
        r#"{"name":"ann","topic_id":"auth","last_read_id":5}"#,
        Some(json!({"name": "ann", "topic_id": "auth", "last_read_id": 5})),
        false,
    );
    let unread =
        format!(r#"{{"name":"ann","topic_id":"auth","last_read_id":5,"messages":[{text}]}}"#);
    check(
        Shape::Unread,
        Ok(Response::Unread(Unread {
            topic_id: Some("auth".into()),
            name: "ann".into(),
            last_read_id: 5,
            messages: vec![topical.clone()],
        })),
        &unread,
        Some(parsed(&unread)),
        false,
    );
    let summary_text = r#"{"id":4,"ts":"2026-01-02T03:04:05Z","topic_id":"auth","from":"ann","scope":"all","content":"done"}"#;
    let topic_summary = in_topic(summary(), |summary| summary.topic_id = Some("auth".into()));
    check(
        Shape::Summary,
        Ok(Response::Summary(Some(topic_summary.clone()))),
        summary_text,
        Some(parsed(summary_text)),
        false,
    );
    let handoff = format!(
        r#"{{"participants":[{ANN}],"topic":{TOPIC},"latest_message_id":5,"cursor":0,"unread_count":1,"latest_summary":{summary_text},"recent_messages":[{text}]}}"#
    );
    check(
        Shape::Handoff,
        Ok(Response::Handoff(Handoff {
            participants: vec![participant("ann")],
            topic: Some(topic(TopicStatus::Open)),
            latest_message_id: 5,
            cursor: Some(0),
            unread_count: Some(1),
            latest_summary: Some(topic_summary),
            recent_messages: vec![topical],
            claims: None,
        })),
        &handoff,
        Some(parsed(&handoff)),
        false,
    );
    let status = r#"{"participant_count":2,"message_count":7,"last_activity_ts":"2026-01-02T03:04:05Z","topic_count":3,"open_topic_count":2,"summary_count":1}"#;
    check(
        Shape::Status,
        Ok(Response::Status(RoomStatus {
            participant_count: 2,
            message_count: 7,
            last_activity_ts: Some("2026-01-02T03:04:05Z".into()),
            topics: Some(TopicCounts {
                topic_count: 3,
                open_topic_count: 2,
                summary_count: 1,
            }),
        })),
        status,
        Some(parsed(status)),
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
    check(
        Shape::Topics,
        Ok(Response::Topic(topic(TopicStatus::Open))),
        UNEXPECTED_REPLY,
        None,
        true,
    );
    check(
        Shape::Closed,
        Ok(Response::Left(true)),
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
