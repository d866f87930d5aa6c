//! The room's test fixtures, shared by the tests of every concern: a fixed time, three
//! sessions, one builder per request, and `accept`/`refuse`, which check that a refusal changed
//! nothing at all.

use protocol::{Handoff, Message, Participant, Refusal, Request, Response, Summary, Unread};

use super::{Changes, Room, SessionId};

/// 2024-02-29T12:34:56Z, a leap day.
pub(super) const T0: u64 = 1_709_210_096;
pub(super) const TS0: &str = "2024-02-29T12:34:56Z";
pub(super) const ALICE: SessionId = 1;
pub(super) const BOB: SessionId = 2;
pub(super) const OTHER: SessionId = 3;

pub(super) fn join(name: &str, role: &str) -> Request {
    Request::Join {
        name: name.into(),
        role: role.into(),
    }
}
pub(super) fn leave(name: &str) -> Request {
    Request::Leave { name: name.into() }
}
pub(super) fn send(name: &str, content: &str, to: &str) -> Request {
    Request::SendMessage {
        topic_id: String::new(),
        name: name.into(),
        content: content.into(),
        to: to.into(),
    }
}
pub(super) fn read(since_id: i64, limit: i64, participant: &str) -> Request {
    Request::ReadMessages {
        topic_id: String::new(),
        since_id,
        limit,
        participant: participant.into(),
    }
}
pub(super) fn get_cursor(name: &str) -> Request {
    Request::GetCursor {
        topic_id: String::new(),
        name: name.into(),
    }
}
pub(super) fn set_cursor(name: &str, message_id: i64) -> Request {
    Request::SetCursor {
        topic_id: String::new(),
        name: name.into(),
        message_id,
    }
}
pub(super) fn unread(name: &str, limit: i64, mark_read: bool) -> Request {
    Request::ReadUnread {
        topic_id: String::new(),
        name: name.into(),
        limit,
        mark_read,
    }
}
pub(super) fn summarize(name: &str, content: &str, scope: &str) -> Request {
    Request::WriteSummary {
        topic_id: String::new(),
        name: name.into(),
        content: content.into(),
        scope: scope.into(),
    }
}
pub(super) fn latest_summary(scope: &str) -> Request {
    Request::ReadLatestSummary {
        topic_id: String::new(),
        scope: scope.into(),
    }
}
pub(super) fn handoff(name: &str, recent_limit: i64) -> Request {
    Request::GetHandoff {
        topic_id: String::new(),
        name: name.into(),
        recent_limit,
    }
}

pub(super) fn open_topic(topic_id: &str, title: &str, name: &str) -> Request {
    Request::OpenTopic {
        topic_id: topic_id.into(),
        title: title.into(),
        name: name.into(),
    }
}
pub(super) fn close_topic(topic_id: &str) -> Request {
    Request::CloseTopic {
        topic_id: topic_id.into(),
    }
}
pub(super) fn list_topics(name: &str, status: &str) -> Request {
    Request::ListTopics {
        name: name.into(),
        status: status.into(),
    }
}

/// `request`, a topic-scoped one, in the scope `topic` (`""`: the main room).
pub(super) fn in_topic(mut request: Request, topic: &str) -> Request {
    match &mut request {
        Request::SendMessage { topic_id, .. }
        | Request::ReadMessages { topic_id, .. }
        | Request::GetCursor { topic_id, .. }
        | Request::SetCursor { topic_id, .. }
        | Request::ReadUnread { topic_id, .. }
        | Request::WriteSummary { topic_id, .. }
        | Request::ReadLatestSummary { topic_id, .. }
        | Request::GetHandoff { topic_id, .. } => *topic_id = topic.into(),
        other => panic!("not a topic-scoped request: {other:?}"),
    }
    request
}

/// Handles `request` at `now` and expects it to succeed.
pub(super) fn accept_at(
    room: &mut Room,
    session: SessionId,
    request: Request,
    now: u64,
) -> (Response, Changes) {
    let outcome = room.handle(session, request.clone(), now);
    match outcome.reply {
        Ok(reply) => (reply, outcome.changes),
        Err(refusal) => panic!("{request:?} was refused: {refusal}"),
    }
}
pub(super) fn accept(room: &mut Room, session: SessionId, request: Request) -> (Response, Changes) {
    accept_at(room, session, request, T0)
}

/// Handles `request` and expects a refusal that changed nothing at all.
pub(super) fn refuse(room: &mut Room, session: SessionId, request: Request) -> Refusal {
    let before = room.clone();
    // A later time, so that a stray `last_seen` refresh would show.
    let outcome = room.handle(session, request.clone(), T0 + 60);
    assert_eq!(outcome.changes, Changes::default(), "{request:?}");
    assert!(*room == before, "{request:?} changed the room");
    match outcome.reply {
        Ok(reply) => panic!("{request:?} was accepted: {reply:?}"),
        Err(refusal) => refusal,
    }
}

pub(super) fn messages_of(reply: Response) -> Vec<Message> {
    match reply {
        Response::Messages(messages) => messages,
        Response::Unread(unread) => unread.messages,
        Response::Handoff(handoff) => handoff.recent_messages,
        other => panic!("not a list of messages: {other:?}"),
    }
}
pub(super) fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|message| message.id).collect()
}
/// The ids of the messages a read returns (read_messages, read_unread or get_handoff).
pub(super) fn read_ids(room: &mut Room, request: Request) -> Vec<u64> {
    ids(&messages_of(accept(room, OTHER, request).0))
}
pub(super) fn unread_of(room: &mut Room, request: Request) -> Unread {
    match accept(room, OTHER, request).0 {
        Response::Unread(unread) => unread,
        other => panic!("not unread: {other:?}"),
    }
}
pub(super) fn handoff_of(room: &mut Room, request: Request) -> Handoff {
    match accept(room, OTHER, request).0 {
        Response::Handoff(handoff) => handoff,
        other => panic!("not a handoff: {other:?}"),
    }
}
pub(super) fn cursor_of(room: &mut Room, name: &str) -> u64 {
    match accept(room, OTHER, get_cursor(name)).0 {
        Response::Cursor(cursor) => cursor.last_read_id,
        other => panic!("not a cursor: {other:?}"),
    }
}
pub(super) fn summary_of(room: &mut Room, scope: &str) -> Option<Summary> {
    match accept(room, OTHER, latest_summary(scope)).0 {
        Response::Summary(summary) => summary,
        other => panic!("not a summary: {other:?}"),
    }
}
pub(super) fn names(participants: &[Participant]) -> Vec<&str> {
    participants
        .iter()
        .map(|participant| participant.name.as_str())
        .collect()
}

/// alice (session ALICE) and bob (session BOB) joined; five messages, two summaries, a cursor.
///
/// 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol.
pub(super) fn populated_room() -> Room {
    let mut room = Room::new();
    accept(&mut room, ALICE, join("alice", "dev"));
    accept(&mut room, BOB, join("bob", "reviewer"));
    accept(&mut room, ALICE, send("alice", "hello", "all"));
    accept(&mut room, BOB, send("bob", "hi alice", "alice"));
    accept(&mut room, ALICE, send("alice", "hi bob", "bob"));
    accept(&mut room, OTHER, send("carol", "hello all", "all"));
    accept(&mut room, BOB, send("bob", "hi carol", "carol"));
    accept(
        &mut room,
        ALICE,
        summarize("alice", "state of things", "all"),
    );
    accept(&mut room, BOB, summarize("bob", "for alice", "alice"));
    accept(&mut room, ALICE, set_cursor("alice", 1));
    room
}

pub(super) fn participant(name: &str) -> Participant {
    Participant {
        name: name.into(),
        role: "dev".into(),
        joined_at: "2020-01-01T00:00:00Z".into(),
        last_seen: "2020-01-01T00:00:00Z".into(),
    }
}

pub(super) fn message(id: u64, to: &str) -> Message {
    Message {
        topic_id: None,
        id,
        ts: "2020-01-01T00:00:00Z".into(),
        from: "old".into(),
        to: to.into(),
        content: format!("message {id}"),
        human: false,
    }
}

pub(super) fn summary(id: u64, scope: &str) -> Summary {
    Summary {
        topic_id: None,
        id,
        ts: "2020-01-01T00:00:00Z".into(),
        from: "old".into(),
        scope: scope.into(),
        content: format!("summary {id}"),
    }
}
