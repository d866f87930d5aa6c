//! The topics: v2's explicit workstreams beside the main room, their records (`open_topic`,
//! `close_topic`, `list_topics`) and the scope rules every topic-scoped tool shares — a blank
//! `topic_id` is the main room, any other must match the contract's pattern and name a topic
//! that exists, and only an open topic takes writes.
//!
//! A topic's messages, summaries and cursors live with the other messages, summaries and cursors,
//! indexed per scope (`messages`, `summaries`, `cursors`); this part holds the records alone.

use protocol::{
    Message, Refusal, Response, Summary, Topic, TopicListing, TopicProgress, TopicStatus,
};

use super::params::{holder_name, optional_name_param, required};
use super::undo::{RecordedMap, Undoable};
use super::{Changes, Handled, Room, SYSTEM, SessionId};
use crate::shared::time::format_ts;

/// A scope: `None` is the main room, `Some(id)` a topic.
pub type Scope<'a> = Option<&'a str>;

/// The longest topic id the pattern allows.
const MAX_TOPIC_ID_CHARS: usize = 64;
pub const MAX_TITLE_CHARS: usize = 256;
/// What every bad `topic_id` is told: the contract's pattern.
pub const TOPIC_ID_RULE: &str = "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$";

/// Every topic record, by id.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Topics {
    by_id: RecordedMap<String, Topic>,
}

impl Topics {
    pub(super) fn restore(topics: Vec<Topic>) -> Self {
        Self {
            by_id: topics
                .into_iter()
                .map(|topic| (topic.id.clone(), topic))
                .collect(),
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<&Topic> {
        self.by_id.get(id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn open_count(&self) -> usize {
        self.by_id
            .iter()
            .filter(|(_, topic)| topic.status == TopicStatus::Open)
            .count()
    }

    /// Every record, by id.
    pub(super) fn all(&self) -> impl Iterator<Item = &Topic> {
        self.by_id.iter().map(|(_, topic)| topic)
    }

    pub(super) fn insert(&mut self, topic: Topic) {
        self.by_id.insert(topic.id.clone(), topic);
    }

    /// Moves the topic's `last_activity_ts` to `ts` (a message or summary in it); true if it
    /// changed.
    pub(super) fn touch(&mut self, id: &str, ts: &str) -> bool {
        match self.by_id.get(id) {
            Some(topic) if topic.last_activity_ts.as_str() < ts => {}
            _ => return false,
        }
        if let Some(topic) = self.by_id.get_mut(id) {
            topic.last_activity_ts = ts.to_owned();
        }
        true
    }
}

impl Undoable for Topics {
    fn begin(&mut self) {
        self.by_id.begin();
    }

    fn commit(&mut self) {
        self.by_id.commit();
    }

    fn roll_back(&mut self) {
        self.by_id.roll_back();
    }
}

/// A `topic_id` as the contract wants it: trimmed, then matching `^[a-z0-9][a-z0-9._-]{0,63}$`.
/// `None` when blank.
pub fn topic_id_param(value: &str) -> Result<Option<&str>, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let mut chars = value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit());
    let rest_ok = chars
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-');
    if !first_ok || !rest_ok || value.len() > MAX_TOPIC_ID_CHARS {
        return Err(Refusal::invalid(TOPIC_ID_RULE));
    }
    Ok(Some(value))
}

/// The `topic_id` that names every scope at once (search, subscriptions, waits).
pub const EVERY_SCOPE: &str = "*";

/// What a subscribed session is sent: the messages of its scopes visible to its participant,
/// the summaries of its scopes, and the records of its topics as they open and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Only messages visible to this name; every message when `None`.
    pub participant: Option<String>,
    /// `None`: every scope; `Some(None)`: the main room; `Some(Some(id))`: that topic.
    pub scope: Option<Option<String>>,
}

impl Subscription {
    fn in_scope(&self, topic: Option<&String>) -> bool {
        match &self.scope {
            None => true,
            Some(scope) => scope.as_ref() == topic,
        }
    }

    pub fn wants_message(&self, message: &Message) -> bool {
        self.in_scope(message.topic_id.as_ref())
            && self
                .participant
                .as_deref()
                .is_none_or(|name| super::is_visible_to(message, name))
    }

    pub fn wants_summary(&self, summary: &Summary) -> bool {
        self.in_scope(summary.topic_id.as_ref())
    }

    /// A topic's record when it opens or closes: for subscriptions of every scope or of it.
    pub fn wants_topic(&self, topic: &Topic) -> bool {
        match &self.scope {
            None => true,
            Some(scope) => scope.as_deref() == Some(topic.id.as_str()),
        }
    }
}

fn unknown(id: &str) -> Refusal {
    Refusal::invalid(format!("unknown topic_id: {id}"))
}

impl Room {
    /// Validates a subscription like a read: `participant` as `read_messages`' (blank: every
    /// message), `topic_id` blank for the main room, `"*"` for every scope, else a topic that
    /// exists.
    pub fn subscription(&self, participant: &str, topic_id: &str) -> Result<Subscription, Refusal> {
        let participant = optional_name_param("participant", participant)?.map(str::to_owned);
        let scope = match topic_id.trim() {
            EVERY_SCOPE => None,
            _ => Some(self.read_scope(topic_id)?.map(str::to_owned)),
        };
        Ok(Subscription { participant, scope })
    }

    /// The scope a topic-scoped read names: the main room when blank, else a topic that exists
    /// (open or closed).
    pub(super) fn read_scope<'a>(&self, topic_id: &'a str) -> Result<Scope<'a>, Refusal> {
        let scope = topic_id_param(topic_id)?;
        if let Some(id) = scope
            && self.topics.get(id).is_none()
        {
            return Err(unknown(id));
        }
        Ok(scope)
    }

    /// The scope a write names: as [`Room::read_scope`], and a topic must be open.
    pub(super) fn write_scope<'a>(&self, topic_id: &'a str) -> Result<Scope<'a>, Refusal> {
        let scope = self.read_scope(topic_id)?;
        if let Some(id) = scope
            && self.topics.get(id).map(|topic| topic.status) == Some(TopicStatus::Closed)
        {
            return Err(Refusal::invalid(format!("topic '{id}' is closed")));
        }
        Ok(scope)
    }

    /// A message or summary went into `scope` at `ts`: a topic's `last_activity_ts` follows (in
    /// memory; `topics.json` catches up lazily, and a start derives it from the records).
    pub(super) fn touch_scope(&mut self, scope: Scope<'_>, ts: &str) -> bool {
        scope.is_some_and(|id| self.topics.touch(id, ts))
    }

    /// Whether the room has ever opened a topic: until then it is a v1 room, files and all.
    pub fn has_topics(&self) -> bool {
        self.topics.len() > 0
    }

    /// The record of the topic `id`.
    pub fn topic(&self, id: &str) -> Option<Topic> {
        self.topics.get(id).cloned()
    }

    /// Every topic record, by id.
    pub fn topics(&self) -> Vec<Topic> {
        self.topics.all().cloned().collect()
    }

    /// How many topics there are, and how many are open.
    pub fn topic_counts(&self) -> (usize, usize) {
        (self.topics.len(), self.topics.open_count())
    }

    pub(super) fn open_topic(
        &mut self,
        session: SessionId,
        topic_id: &str,
        title: &str,
        name: &str,
        now: u64,
    ) -> Handled {
        let id = topic_id_param(topic_id)?
            .ok_or_else(|| Refusal::invalid("topic_id must not be blank"))?;
        let title = required("title", title)?;
        if title.chars().nth(MAX_TITLE_CHARS).is_some() {
            return Err(Refusal::invalid(format!(
                "title must be at most {MAX_TITLE_CHARS} characters"
            )));
        }
        if title.chars().any(char::is_control) {
            return Err(Refusal::invalid(
                "title must not contain control characters",
            ));
        }
        // The creator is a name like a sender: not reserved, and not another live session's.
        let created_by = match name.trim() {
            "" => SYSTEM,
            name => {
                let name = holder_name(name)?;
                self.presence.check_not_held_elsewhere(session, name)?;
                name
            }
        };
        if self.topics.get(id).is_some() {
            return Err(Refusal::invalid(format!("topic '{id}' already exists")));
        }
        let ts = format_ts(now);
        let topic = Topic {
            id: id.to_owned(),
            title: title.to_owned(),
            status: TopicStatus::Open,
            created_by: created_by.to_owned(),
            created_at: ts.clone(),
            closed_at: None,
            last_activity_ts: ts,
        };
        self.topics.insert(topic.clone());
        let changes = Changes {
            topics: true,
            topic_records: vec![topic.clone()],
            ..Changes::default()
        };
        Ok((Response::Topic(topic), changes))
    }

    pub(super) fn close_topic(&mut self, topic_id: &str, now: u64) -> Handled {
        let id = topic_id_param(topic_id)?
            .ok_or_else(|| Refusal::invalid("topic_id must not be blank"))?;
        let Some(topic) = self.topics.get(id) else {
            return Err(unknown(id));
        };
        if topic.status == TopicStatus::Closed {
            return Ok((Response::Closed(false), Changes::default()));
        }
        let ts = format_ts(now);
        let mut topic = topic.clone();
        topic.status = TopicStatus::Closed;
        topic.closed_at = Some(ts.clone());
        topic.last_activity_ts = ts;
        self.topics.insert(topic.clone());
        let changes = Changes {
            topics: true,
            topic_records: vec![topic],
            ..Changes::default()
        };
        Ok((Response::Closed(true), changes))
    }

    pub(super) fn list_topics(&self, name: &str, status: &str) -> Handled {
        let name = optional_name_param("name", name)?;
        let wanted = match required("status", status)? {
            "open" => Some(TopicStatus::Open),
            "closed" => Some(TopicStatus::Closed),
            "all" => None,
            _ => {
                return Err(Refusal::invalid("status must be one of: open, closed, all"));
            }
        };
        let mut listings: Vec<TopicListing> = self
            .topics
            .all()
            .filter(|topic| wanted.is_none_or(|status| topic.status == status))
            .map(|topic| TopicListing {
                topic: topic.clone(),
                progress: name.map(|name| self.progress(&topic.id, name)),
            })
            .collect();
        // v2's order: the latest activity first, ties by id descending.
        listings.sort_by(|a, b| {
            (&b.topic.last_activity_ts, &b.topic.id).cmp(&(&a.topic.last_activity_ts, &a.topic.id))
        });
        Ok((Response::Topics(listings), Changes::default()))
    }

    /// Where `name` stands in the topic `id`.
    fn progress(&self, id: &str, name: &str) -> TopicProgress {
        let scope = Some(id);
        let cursor = self.cursors.get(scope, name);
        TopicProgress {
            latest_message_id: self.messages.scope_last_id(scope),
            cursor,
            unread_count: self.messages.visible_after(scope, name, cursor).count() as u64,
            latest_summary: self.summaries.latest_for(scope, Some(name)).cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Cursor, Refusal, Request, Response, Topic, TopicCounts, TopicStatus};

    use crate::daemon::room::testkit::*;
    use crate::daemon::room::{Changes, Room};
    use crate::shared::time::format_ts;

    fn topic_of(reply: Response) -> Topic {
        match reply {
            Response::Topic(topic) => topic,
            other => panic!("not a topic: {other:?}"),
        }
    }

    fn listed(room: &mut Room, name: &str, status: &str) -> Vec<protocol::TopicListing> {
        match accept(room, OTHER, list_topics(name, status)).0 {
            Response::Topics(listings) => listings,
            other => panic!("not topics: {other:?}"),
        }
    }

    /// The populated main room, plus topic `auth` (opened at T0 + 10 by alice) holding
    /// 6 alice→all, 7 bob→alice, 8 bob→carol, and topic `ui` (T0 + 20, by nobody) holding
    /// 9 carol→all; then a main-room message 10 alice→all.
    fn room_with_topics() -> Room {
        let mut room = populated_room();
        accept_at(
            &mut room,
            ALICE,
            open_topic("auth", "Auth rework", "alice"),
            T0 + 10,
        );
        accept_at(
            &mut room,
            ALICE,
            in_topic(send("alice", "a1", "all"), "auth"),
            T0 + 11,
        );
        accept_at(
            &mut room,
            BOB,
            in_topic(send("bob", "a2", "alice"), "auth"),
            T0 + 12,
        );
        accept_at(
            &mut room,
            BOB,
            in_topic(send("bob", "a3", "carol"), "auth"),
            T0 + 13,
        );
        accept_at(&mut room, OTHER, open_topic("ui", "UI", ""), T0 + 20);
        accept_at(
            &mut room,
            OTHER,
            in_topic(send("carol", "u1", "all"), "ui"),
            T0 + 21,
        );
        accept_at(
            &mut room,
            ALICE,
            send("alice", "main again", "all"),
            T0 + 30,
        );
        room
    }

    #[test]
    fn open_topic_creates_the_v2_record_and_refuses_bad_or_existing_ids() {
        let mut room = Room::new();
        accept(&mut room, BOB, join("bob", "dev"));
        let (reply, changes) = accept_at(
            &mut room,
            OTHER,
            open_topic(" auth-fix.v2_1 ", " Fix auth ", ""),
            T0,
        );
        let expected = Topic {
            id: "auth-fix.v2_1".into(),
            title: "Fix auth".into(),
            status: TopicStatus::Open,
            created_by: "system".into(),
            created_at: format_ts(T0),
            closed_at: None,
            last_activity_ts: format_ts(T0),
        };
        assert_eq!(topic_of(reply), expected);
        assert_eq!(
            changes,
            Changes {
                topics: true,
                topic_records: vec![expected.clone()],
                ..Changes::default()
            }
        );
        let by_alice = topic_of(accept(&mut room, OTHER, open_topic("b", "B", " alice ")).0);
        assert_eq!(by_alice.created_by, "alice", "ours: the creator's name");

        let pattern = "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$";
        for bad in ["Auth", "-x", ".x", "a b", "a/b", "é", &"a".repeat(65)] {
            let refusal = refuse(&mut room, OTHER, open_topic(bad, "t", ""));
            assert_eq!(refusal.message, pattern, "{bad:?}");
        }
        for (request, message) in [
            (open_topic("  ", "t", ""), "topic_id must not be blank"),
            (open_topic("new", "  ", ""), "title must not be blank"),
            (
                open_topic("new", "t\u{7}", ""),
                "title must not contain control characters",
            ),
            (
                open_topic(" auth-fix.v2_1", "again", ""),
                "topic 'auth-fix.v2_1' already exists",
            ),
            (
                open_topic("new", "t", "system"),
                "name 'system' is reserved",
            ),
        ] {
            assert_eq!(
                refuse(&mut room, OTHER, request.clone()).message,
                message,
                "{request:?}"
            );
        }
    }

    #[test]
    fn a_sixty_four_character_id_is_the_longest() {
        let mut room = Room::new();
        let longest = "a".repeat(64);
        assert_eq!(
            topic_of(accept(&mut room, OTHER, open_topic(&longest, "t", "")).0).id,
            longest
        );
    }

    #[test]
    fn every_topic_scoped_tool_refuses_bad_and_unknown_topics_alike() {
        let mut room = room_with_topics();
        let scoped = [
            send("alice", "x", "all"),
            read(0, 50, ""),
            get_cursor("alice"),
            set_cursor("alice", 0),
            unread("alice", 50, false),
            summarize("alice", "x", "all"),
            latest_summary("all"),
            handoff("alice", 10),
        ];
        for request in scoped {
            let unknown = refuse(&mut room, ALICE, in_topic(request.clone(), " nope "));
            assert_eq!(unknown.message, "unknown topic_id: nope", "{request:?}");
            let bad = refuse(&mut room, ALICE, in_topic(request.clone(), "No!"));
            assert_eq!(
                bad.message, "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$",
                "{request:?}"
            );
        }
        assert_eq!(
            refuse(&mut room, OTHER, close_topic("nope")).message,
            "unknown topic_id: nope"
        );
        assert_eq!(
            refuse(&mut room, OTHER, close_topic(" ")).message,
            "topic_id must not be blank"
        );
    }

    #[test]
    fn scopes_do_not_see_each_other() {
        let mut room = room_with_topics();
        // The main room reads exactly what it read before the topics, plus its own message 10.
        assert_eq!(read_ids(&mut room, read(0, 50, "")), [1, 2, 3, 4, 5, 10]);
        assert_eq!(
            read_ids(&mut room, in_topic(read(0, 50, ""), "auth")),
            [6, 7, 8]
        );
        assert_eq!(
            read_ids(&mut room, in_topic(read(0, 50, "alice"), "auth")),
            [6, 7]
        );
        assert_eq!(
            read_ids(&mut room, in_topic(read(6, 50, ""), "auth")),
            [7, 8]
        );
        assert_eq!(
            read_ids(&mut room, in_topic(read(0, 1, "carol"), "auth")),
            [6]
        );
        assert_eq!(read_ids(&mut room, in_topic(read(0, 50, ""), "ui")), [9]);
        // Message ids are one sequence for the room, so a topic's have gaps.
        let (reply, _) = accept(&mut room, BOB, in_topic(send("bob", "u2", "all"), "ui"));
        assert_eq!(reply, Response::Id(11));
        let main = handoff_of(&mut room, handoff("carol", 10));
        assert_eq!(ids(&main.recent_messages), [1, 4, 5, 10]);
        assert_eq!(main.latest_message_id, 10, "the main room's own latest");
        assert_eq!(main.topic, None, "v1's shape in the main room");
    }

    #[test]
    fn cursors_and_unread_are_per_scope() {
        let mut room = room_with_topics();
        // alice's main-room cursor is 1 (populated_room); in auth she has none.
        let cursor = match accept(&mut room, OTHER, in_topic(get_cursor("alice"), "auth")).0 {
            Response::Cursor(cursor) => cursor,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            cursor,
            Cursor {
                name: "alice".into(),
                topic_id: Some("auth".into()),
                last_read_id: 0
            }
        );
        let peek = unread_of(&mut room, in_topic(unread("alice", 50, false), "auth"));
        assert_eq!(
            (ids(&peek.messages), peek.topic_id.as_deref()),
            (vec![6, 7], Some("auth"))
        );
        let (reply, changes) = accept(&mut room, ALICE, in_topic(unread("alice", 1, true), "auth"));
        let Response::Unread(read) = reply else {
            panic!()
        };
        assert_eq!((ids(&read.messages), read.last_read_id), (vec![6], 6));
        assert!(changes.topic_cursors && !changes.cursors, "{changes:?}");
        assert_eq!(
            cursor_of(&mut room, "alice"),
            1,
            "the main room's cursor did not move"
        );
        assert_eq!(
            room.topic_cursors(),
            [("alice".to_owned(), "auth".to_owned(), 6)]
        );
        // The main room's unread: v1's shape, its own messages.
        let main = unread_of(&mut room, unread("alice", 50, false));
        assert_eq!((ids(&main.messages), main.topic_id), (vec![2, 4, 10], None));

        // set_cursor's bound is the scope's own latest id.
        let refusal = refuse(&mut room, ALICE, in_topic(set_cursor("alice", 9), "auth"));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (8)"
        );
        let refusal = refuse(&mut room, ALICE, in_topic(set_cursor("alice", 10), "ui"));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (9)"
        );
        let refusal = refuse(&mut room, ALICE, set_cursor("alice", 11));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (10)"
        );
        // Monotonic per scope.
        accept(&mut room, ALICE, in_topic(set_cursor("alice", 8), "auth"));
        let (reply, changes) = accept(&mut room, ALICE, in_topic(set_cursor("alice", 7), "auth"));
        assert_eq!(
            reply,
            Response::Cursor(Cursor {
                name: "alice".into(),
                topic_id: Some("auth".into()),
                last_read_id: 8
            })
        );
        assert!(!changes.topic_cursors);
        // Someone else's live name cannot be moved there either.
        let refusal = refuse(&mut room, BOB, in_topic(set_cursor("alice", 8), "ui"));
        assert_eq!(refusal.message, "name 'alice' is held by another session");
    }

    #[test]
    fn summaries_and_the_handoff_are_per_scope() {
        let mut room = room_with_topics();
        accept_at(
            &mut room,
            ALICE,
            in_topic(summarize("alice", "auth state", "all"), "auth"),
            T0 + 40,
        );
        accept_at(
            &mut room,
            BOB,
            in_topic(summarize("bob", "for carol", "carol"), "auth"),
            T0 + 41,
        );
        // The main room's latest summaries are untouched by the topic's.
        assert_eq!(
            summary_of(&mut room, "all").map(|s| s.content),
            Some("state of things".into())
        );
        let latest = match accept(&mut room, OTHER, in_topic(latest_summary("all"), "auth")).0 {
            Response::Summary(summary) => summary.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!((latest.id, latest.topic_id.as_deref()), (3, Some("auth")));
        let none = accept(&mut room, OTHER, in_topic(latest_summary("all"), "ui")).0;
        assert_eq!(none, Response::Summary(None));

        let carol = handoff_of(&mut room, in_topic(handoff("carol", 10), "auth"));
        assert_eq!(
            carol.topic.as_ref().map(|topic| topic.id.as_str()),
            Some("auth")
        );
        assert_eq!(carol.latest_message_id, 8);
        assert_eq!((carol.cursor, carol.unread_count), (Some(0), Some(2)));
        assert_eq!(ids(&carol.recent_messages), [6, 8]);
        assert_eq!(
            carol.latest_summary.map(|s| s.id),
            Some(4),
            "scope carol is newer than all"
        );
        let blank = handoff_of(&mut room, in_topic(handoff("", 2), "auth"));
        assert_eq!((blank.cursor, blank.unread_count), (None, None));
        assert_eq!(ids(&blank.recent_messages), [7, 8]);
        assert_eq!(
            blank.latest_summary.map(|s| s.id),
            Some(3),
            "only scope all without a name"
        );
    }

    #[test]
    fn closed_topics_refuse_writes_and_keep_their_reads() {
        let mut room = room_with_topics();
        let (reply, changes) = accept_at(&mut room, OTHER, close_topic(" auth "), T0 + 50);
        assert_eq!(reply, Response::Closed(true));
        let closed = room.topic("auth").unwrap();
        assert_eq!(closed.status, TopicStatus::Closed);
        assert_eq!(closed.closed_at, Some(format_ts(T0 + 50)));
        assert_eq!(closed.last_activity_ts, format_ts(T0 + 50));
        assert_eq!(changes.topic_records, std::slice::from_ref(&closed));
        let (again, changes) = accept_at(&mut room, OTHER, close_topic("auth"), T0 + 60);
        assert_eq!(
            (again, changes),
            (Response::Closed(false), Changes::default())
        );
        assert_eq!(
            room.topic("auth").unwrap(),
            closed,
            "a second close changes nothing"
        );

        for request in [
            send("alice", "late", "all"),
            summarize("alice", "late", "all"),
        ] {
            let refusal = refuse(&mut room, ALICE, in_topic(request, "auth"));
            assert_eq!(refusal.message, "topic 'auth' is closed");
        }
        assert_eq!(
            read_ids(&mut room, in_topic(read(0, 50, ""), "auth")),
            [6, 7, 8]
        );
        accept(
            &mut room,
            ALICE,
            in_topic(unread("alice", 50, true), "auth"),
        );
        accept(&mut room, ALICE, in_topic(set_cursor("alice", 8), "auth"));
        assert_eq!(
            handoff_of(&mut room, in_topic(handoff("alice", 10), "auth")).topic,
            Some(closed)
        );
    }

    #[test]
    fn activity_moves_with_messages_and_summaries_and_orders_the_list() {
        let mut room = room_with_topics();
        assert_eq!(
            room.topic("auth").unwrap().last_activity_ts,
            format_ts(T0 + 13)
        );
        assert_eq!(
            room.topic("ui").unwrap().last_activity_ts,
            format_ts(T0 + 21)
        );
        let ids_of = |listings: &[protocol::TopicListing]| {
            listings
                .iter()
                .map(|l| l.topic.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids_of(&listed(&mut room, "", "open")), ["ui", "auth"]);
        let (_, changes) = accept_at(
            &mut room,
            BOB,
            in_topic(summarize("bob", "s", "all"), "auth"),
            T0 + 40,
        );
        assert!(
            changes.topic_activity && !changes.topics,
            "a summary moves the topic's activity, lazily"
        );
        assert_eq!(ids_of(&listed(&mut room, "", "open")), ["auth", "ui"]);
        // Ties: id descending, as v2 sorts.
        accept_at(&mut room, OTHER, open_topic("zz", "Z", ""), T0 + 40);
        assert_eq!(ids_of(&listed(&mut room, "", "all")), ["zz", "auth", "ui"]);
        accept_at(&mut room, OTHER, close_topic("ui"), T0 + 45);
        assert_eq!(ids_of(&listed(&mut room, "", "open")), ["zz", "auth"]);
        assert_eq!(ids_of(&listed(&mut room, "", "closed")), ["ui"]);
        assert_eq!(
            ids_of(&listed(&mut room, "", " all ")),
            ["ui", "zz", "auth"]
        );
        // A main-room message moves no topic.
        let (_, changes) = accept_at(&mut room, ALICE, send("alice", "m", "all"), T0 + 99);
        assert!(!changes.topics && !changes.topic_activity);

        for (status, message) in [
            ("", "status must not be blank"),
            ("opened", "status must be one of: open, closed, all"),
            ("OPEN", "status must be one of: open, closed, all"),
        ] {
            assert_eq!(
                refuse(&mut room, OTHER, list_topics("", status)).message,
                message
            );
        }
    }

    #[test]
    fn list_topics_with_a_name_carries_its_progress() {
        let mut room = room_with_topics();
        accept(&mut room, ALICE, in_topic(set_cursor("alice", 6), "auth"));
        accept(
            &mut room,
            BOB,
            in_topic(summarize("bob", "for alice", "alice"), "auth"),
        );
        let listings = listed(&mut room, "alice", "open");
        let auth = listings.iter().find(|l| l.topic.id == "auth").unwrap();
        let progress = auth.progress.clone().unwrap();
        assert_eq!(
            (
                progress.latest_message_id,
                progress.cursor,
                progress.unread_count
            ),
            (8, 6, 1)
        );
        assert_eq!(
            progress.latest_summary.map(|s| s.scope),
            Some("alice".into())
        );
        let ui = listings.iter().find(|l| l.topic.id == "ui").unwrap();
        let progress = ui.progress.clone().unwrap();
        assert_eq!(
            (
                progress.latest_message_id,
                progress.cursor,
                progress.unread_count
            ),
            (9, 0, 1)
        );
        assert_eq!(progress.latest_summary, None);
        assert!(
            listed(&mut room, "", "open")
                .iter()
                .all(|l| l.progress.is_none())
        );
    }

    #[test]
    fn status_gains_topic_counts_only_once_there_is_a_topic() {
        let mut room = populated_room();
        let Response::Status(v1) = accept(&mut room, OTHER, Request::GetStatus).0 else {
            panic!()
        };
        assert_eq!(v1.topics, None);
        let mut room = room_with_topics();
        accept(&mut room, OTHER, close_topic("ui"));
        let Response::Status(status) = accept(&mut room, OTHER, Request::GetStatus).0 else {
            panic!()
        };
        assert_eq!(
            status.topics,
            Some(TopicCounts {
                topic_count: 2,
                open_topic_count: 1,
                summary_count: 2
            })
        );
        // message_count and last_activity_ts keep v1's meaning over the whole room.
        assert_eq!(status.message_count, 10);
        assert_eq!(status.last_activity_ts, Some(format_ts(T0 + 30)));
    }

    #[test]
    fn a_rolled_back_batch_takes_its_topics_messages_and_cursors_with_it() {
        let mut room = room_with_topics();
        let before = room.clone();
        room.begin();
        accept(&mut room, OTHER, open_topic("new", "New", ""));
        accept(
            &mut room,
            OTHER,
            in_topic(send("carol", "n1", "all"), "new"),
        );
        accept(
            &mut room,
            ALICE,
            in_topic(send("alice", "a4", "all"), "auth"),
        );
        accept(
            &mut room,
            ALICE,
            in_topic(unread("alice", 50, true), "auth"),
        );
        accept(&mut room, OTHER, close_topic("ui"));
        accept(
            &mut room,
            ALICE,
            in_topic(summarize("alice", "s", "all"), "auth"),
        );
        room.roll_back();
        assert!(room == before, "the room is as it was before the batch");
        assert_eq!(
            read_ids(&mut room, in_topic(read(0, 50, ""), "auth")),
            [6, 7, 8]
        );
        assert_eq!(
            refuse(&mut room, OTHER, in_topic(read(0, 50, ""), "new")).message,
            "unknown topic_id: new"
        );
        assert_eq!(
            accept(
                &mut room,
                OTHER,
                in_topic(send("carol", "again", "all"), "ui")
            )
            .0,
            Response::Id(11)
        );
    }

    #[test]
    fn leaving_writes_to_the_main_room() {
        let mut room = room_with_topics();
        let changes = room.end_session(ALICE, T0 + 70);
        assert_eq!(changes.messages.len(), 1);
        assert_eq!(changes.messages[0].topic_id, None);
        assert!(!changes.topics);
    }

    #[test]
    fn restore_keeps_topics_and_reopens_those_only_records_name() {
        let mut source = room_with_topics();
        accept(
            &mut source,
            ALICE,
            in_topic(unread("alice", 50, true), "auth"),
        );
        accept_at(&mut source, OTHER, close_topic("ui"), T0 + 50);
        let messages: Vec<_> = source.messages.iter().cloned().collect();
        let summaries: Vec<_> = source.summaries.iter().cloned().collect();
        let mut room = Room::restore(
            messages.clone(),
            summaries.clone(),
            vec![],
            source.cursors(),
        )
        .unwrap();
        // topics.json as a crash may leave it: written before the latest activity.
        let mut stale = source.topics();
        stale[0].last_activity_ts = stale[0].created_at.clone();
        let repairs = room.restore_topics(stale, source.topic_cursors(), vec![]);
        assert!(repairs.is_empty(), "{repairs:?}");
        assert_eq!(
            room.topics(),
            source.topics(),
            "the activity is derived again"
        );
        assert_eq!(room.cursor(Some("auth"), "alice"), 7);
        assert_eq!(
            read_ids(&mut room, in_topic(read(0, 50, ""), "auth")),
            [6, 7, 8]
        );

        // topics.json lost: the topics named by records come back, open, titled by their ids.
        let mut room = Room::restore(messages, summaries, vec![], vec![]).unwrap();
        let repairs = room.restore_topics(vec![], vec![], vec![]);
        assert_eq!(repairs.len(), 2, "{repairs:?}");
        let auth = room.topic("auth").unwrap();
        assert_eq!(
            (auth.title.as_str(), auth.status),
            ("auth", TopicStatus::Open)
        );
        assert_eq!(
            (auth.created_at.clone(), auth.last_activity_ts.clone()),
            (format_ts(T0 + 11), format_ts(T0 + 13))
        );
        assert_eq!(read_ids(&mut room, in_topic(read(0, 50, ""), "ui")), [9]);
    }

    #[test]
    fn refusals_name_the_topic_as_trimmed() {
        let mut room = room_with_topics();
        accept(&mut room, OTHER, close_topic("ui"));
        let refusal: Refusal = refuse(
            &mut room,
            ALICE,
            in_topic(send("alice", "x", "all"), "  ui "),
        );
        assert_eq!(refusal.message, "topic 'ui' is closed");
    }
}
