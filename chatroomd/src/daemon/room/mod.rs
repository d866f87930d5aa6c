//! The room: its participants, messages, summaries and cursors, and the contract's rules over them.
//!
//! This is the pure core of the daemon. It does no I/O, reads no clock and spawns nothing: the
//! owner passes the time in, and persists the [`Changes`] a call returns before its reply leaves.
//! Reads cost O(log n + result) at any size, because the messages are kept in id order beside
//! indexes of who can see them; nothing here scans the whole room.
//!
//! This file holds the [`Room`], the dispatch of a request to the concern that answers it, and
//! the facade the rest of the daemon uses. Each concern is a module beside it: `params` (the
//! parameters' rules and refusal texts), `presence` (participants, holders, `join`, `last_seen`,
//! the name guard), `departures` (`leave`, a session's end, orphans), `messages` with `index`
//! (the messages and who can see them, per scope), `search` (which words each message holds,
//! and `search_messages`), `cursors`, `summaries`, `handoff`, `topics`
//! (the topic records and the scope rules), `imports` (the sources imported), `reach` (what
//! hooks delivered, the read of every scope, read receipts), `undo` (what a
//! batch changed, to roll it back) and `changes` (what the store must persist). A concern's handlers
//! are `impl Room` blocks in its own module; its state is a part of the room with a small API.

mod changes;
mod claims;
mod cursors;
mod departures;
mod handoff;
mod import;
mod imports;
mod index;
mod messages;
mod params;
mod presence;
mod reach;
mod search;
mod summaries;
#[cfg(test)]
mod testkit;
mod topics;
mod undo;

use protocol::{
    Message, Participant, Refusal, Request, Response, RoomStatus, Summary, Topic, TopicCounts,
};

pub use changes::Changes;
use claims::Claims;
pub(crate) use claims::{MAX_CLAIM_PATHS, normalise_path};
use cursors::Cursors;
pub use imports::ImportRecord;
use imports::Imports;
pub use index::is_visible_to;
use messages::Messages;
pub use params::{MAX_CONTENT_BYTES, MAX_NAME_CHARS, subscription_filter};
use presence::Presence;
use reach::Deliveries;
pub use reach::reaches;
use summaries::Summaries;
use topics::Topics;
pub use topics::{
    EVERY_SCOPE, MAX_TITLE_CHARS, Scope, Subscription, TOPIC_ID_RULE, topic_id_param,
};

/// The daemon's id for one connection; presence belongs to sessions.
pub type SessionId = u64;

/// Who is making a request: the session, and whether it is a person's (`chatroomd send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub session: SessionId,
    pub human: bool,
}

/// The recipient of a broadcast, and the default scope of a summary.
const BROADCAST: &str = "all";
/// The sender of the room's own messages.
const SYSTEM: &str = "system";

/// The result of one request: the reply, and what it changed (nothing when refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub reply: Result<Response, Refusal>,
    pub changes: Changes,
}

/// The whole state of one chatroom: one part per concern, each recording its own changes while
/// a batch is recorded ([`Room::begin`]).
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub struct Room {
    messages: Messages,
    summaries: Summaries,
    presence: Presence,
    cursors: Cursors,
    topics: Topics,
    imports: Imports,
    deliveries: Deliveries,
    claims: Claims,
}

/// A room call's successful result, before it becomes an [`Outcome`].
type Handled = Result<(Response, Changes), Refusal>;

impl Room {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a room from what the store loaded. Participants loaded from disk are held by no
    /// session ("orphans") until a session joins as them or [`Room::remove_orphans`] runs.
    ///
    /// Messages and summaries come in file order; their ids must be positive and strictly
    /// increasing, otherwise the error names the offending id.
    pub fn restore(
        messages: Vec<Message>,
        summaries: Vec<Summary>,
        participants: Vec<Participant>,
        cursors: Vec<(String, u64)>,
    ) -> Result<Self, String> {
        check_increasing("message", messages.iter().map(|message| message.id))?;
        check_increasing("summary", summaries.iter().map(|summary| summary.id))?;
        let mut room = Self {
            presence: Presence::restore(participants),
            cursors: Cursors::restore(cursors),
            ..Self::default()
        };
        for message in messages {
            room.messages.push(message);
        }
        for summary in summaries {
            room.summaries.push(summary);
        }
        Ok(room)
    }

    /// Adds what the store loaded for topics and imports to a room [`Room::restore`] rebuilt:
    /// the topic records, the topic cursors `(name, topic, id)` and the imports. A topic's
    /// `last_activity_ts` is written lazily, so it is brought up to its newest message or
    /// summary here. A topic that records name but `topics.json` lacks (a file set aside as
    /// corrupt) gets a record again — open, titled by its id, created at its first record — so
    /// its history stays reachable; each such repair is returned as a line for the log.
    pub fn restore_topics(
        &mut self,
        topics: Vec<Topic>,
        topic_cursors: Vec<(String, String, u64)>,
        imports: Vec<ImportRecord>,
    ) -> Vec<String> {
        self.topics = Topics::restore(topics);
        self.cursors.restore_topics(topic_cursors);
        self.imports = Imports::restore(imports);
        // Each topic named by a record -> (its first ts, its newest ts), in the order first named.
        let mut named: Vec<(String, String, String)> = Vec::new();
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let records = self
            .messages
            .iter()
            .map(|message| (&message.topic_id, &message.ts))
            .chain(
                self.summaries
                    .iter()
                    .map(|summary| (&summary.topic_id, &summary.ts)),
            );
        for (topic, ts) in records {
            let Some(topic) = topic else { continue };
            match at.get(topic) {
                Some(&index) => {
                    let entry = &mut named[index];
                    if *ts < entry.1 {
                        entry.1.clone_from(ts);
                    }
                    if *ts > entry.2 {
                        entry.2.clone_from(ts);
                    }
                }
                None => {
                    at.insert(topic.clone(), named.len());
                    named.push((topic.clone(), ts.clone(), ts.clone()));
                }
            }
        }
        let mut repairs = Vec::new();
        for (id, first, newest) in named {
            match self.topics.get(&id) {
                Some(topic) => {
                    if topic.last_activity_ts < newest {
                        let mut topic = topic.clone();
                        topic.last_activity_ts = newest;
                        self.topics.insert(topic);
                    }
                }
                None => {
                    self.topics.insert(Topic {
                        id: id.clone(),
                        title: id.clone(),
                        status: protocol::TopicStatus::Open,
                        created_by: SYSTEM.to_owned(),
                        created_at: first,
                        closed_at: None,
                        last_activity_ts: newest,
                    });
                    repairs.push(format!(
                        "topic '{id}' has records but no entry in topics.json: it is open again, titled by its id"
                    ));
                }
            }
        }
        repairs
    }

    /// Handles one contract request for an agent's `session` at `now` (unix seconds). A refused
    /// request changes nothing. [`Request::DaemonStatus`], [`Request::Shutdown`] and
    /// [`Request::Subscribe`] are the daemon's own, not the room's, and are refused here.
    pub fn handle(&mut self, session: SessionId, request: Request, now: u64) -> Outcome {
        self.handle_as(
            Caller {
                session,
                human: false,
            },
            request,
            now,
        )
    }

    /// Like [`Room::handle`], for a caller that may be a person: a person's messages carry
    /// `human: true`.
    pub fn handle_as(&mut self, caller: Caller, request: Request, now: u64) -> Outcome {
        let Caller { session, human } = caller;
        let handled = match request {
            Request::Join { name, role } => self.join(session, &name, &role, now),
            Request::Leave { name } => self.leave(session, &name, now),
            Request::SendMessage {
                name,
                content,
                to,
                topic_id,
            } => self.send_message(session, &name, &content, &to, &topic_id, human, now),
            Request::ReadSummaries { since_id, limit } => self.read_summaries(since_id, limit),
            Request::ReadMessages {
                since_id,
                limit,
                participant,
                topic_id,
            } => self.read_messages(since_id, limit, &participant, &topic_id),
            Request::ListParticipants => Ok((
                Response::Participants(self.participants()),
                Changes::default(),
            )),
            Request::GetStatus => Ok((Response::Status(self.status()), Changes::default())),
            Request::GetCursor { name, topic_id } => self.get_cursor(&name, &topic_id),
            Request::SetCursor {
                name,
                message_id,
                topic_id,
            } => self.set_cursor(session, &name, message_id, &topic_id, now),
            Request::ReadUnread {
                name,
                limit,
                mark_read,
                topic_id,
            } => self.read_unread(session, &name, limit, mark_read, &topic_id, now),
            Request::WriteSummary {
                name,
                content,
                scope,
                topic_id,
            } => self.write_summary(session, &name, &content, &scope, &topic_id, now),
            Request::ReadLatestSummary { scope, topic_id } => {
                self.read_latest_summary(&scope, &topic_id)
            }
            Request::GetHandoff {
                name,
                recent_limit,
                topic_id,
            } => self.get_handoff(&name, recent_limit, &topic_id, now),
            Request::OpenTopic {
                topic_id,
                title,
                name,
            } => self.open_topic(session, &topic_id, &title, &name, now),
            Request::CloseTopic { topic_id } => self.close_topic(&topic_id, now),
            Request::ListTopics { name, status } => self.list_topics(&name, &status),
            Request::SearchMessages {
                query,
                topic_id,
                participant,
                from,
                limit,
            } => self.search_messages(&query, &topic_id, &participant, &from, limit),
            Request::DaemonStatus => {
                Err(Refusal::not_allowed("daemon_status is not a room request"))
            }
            Request::Shutdown => Err(Refusal::not_allowed("shutdown is not a room request")),
            Request::Subscribe { .. } => {
                Err(Refusal::not_allowed("subscribe is not a room request"))
            }
            Request::Import { .. } => Err(Refusal::not_allowed("import is not a room request")),
            Request::Claim {
                name,
                paths,
                exclusive,
                reason,
                ttl_s,
                restore,
            } => self.claim(
                session,
                &name,
                &paths,
                exclusive,
                &reason,
                ttl_s,
                restore.as_ref(),
                now,
            ),
            Request::Release { name, paths } => self.release(session, &name, &paths, now),
            Request::ListClaims { path } => self.list_claims(&path, now),
            Request::ReadReceipts { message_id } => {
                let names = self.names_held_by(session);
                self.read_receipts(message_id, (!human).then_some(&names[..]))
            }
            Request::WaitForMessages { .. }
            | Request::CancelWait { .. }
            | Request::Link { .. }
            | Request::Reach { .. }
            | Request::AwaitReach { .. }
            | Request::CheckClaims { .. } => Err(Refusal::not_allowed(
                "waits and hooks are the daemon's requests, not the room's",
            )),
        };
        match handled {
            Ok((reply, changes)) => Outcome {
                reply: Ok(reply),
                changes,
            },
            Err(refusal) => Outcome {
                reply: Err(refusal),
                changes: Changes::default(),
            },
        }
    }

    /// A session ended, however it ended: every name it held leaves, in name order, each with
    /// the system message of `leave`.
    pub fn end_session(&mut self, session: SessionId, now: u64) -> Changes {
        self.remove_members(|holder| holder == Some(session), now)
    }

    /// Participants restored from disk that no session holds leave, in name order, each with
    /// the system message of `leave`. Presence is connection lifetime, and after a restart
    /// nobody is connected.
    pub fn remove_orphans(&mut self, now: u64) -> Changes {
        self.remove_members(|holder| holder.is_none(), now)
    }

    /// Starts recording changes so that [`Room::roll_back`] can undo them: the owner calls it
    /// before a batch whose changes might not reach the disk. A recording in progress is
    /// committed first.
    pub fn begin(&mut self) {
        self.parts().into_iter().for_each(|part| part.begin());
    }

    /// Keeps everything since [`Room::begin`] and stops recording.
    pub fn commit(&mut self) {
        self.parts().into_iter().for_each(|part| part.commit());
    }

    /// Undoes everything since [`Room::begin`] — appended messages and summaries with their
    /// indexes, joins, leaves, role and `last_seen` changes, cursor moves — and stops recording.
    /// Without a recording it changes nothing.
    pub fn roll_back(&mut self) {
        self.parts().into_iter().for_each(|part| part.roll_back());
    }

    /// Whether participants restored from disk are still held by no session.
    pub fn has_orphans(&self) -> bool {
        self.presence.has_orphans()
    }

    /// All participants, sorted by name.
    pub fn participants(&self) -> Vec<Participant> {
        self.presence.participants()
    }

    /// All stored main-room cursors, sorted by name.
    pub fn cursors(&self) -> Vec<(String, u64)> {
        self.cursors.all()
    }

    /// All stored topic cursors `(name, topic, id)`, sorted by name, then topic.
    pub fn topic_cursors(&self) -> Vec<(String, String, u64)> {
        self.cursors.all_topics()
    }

    /// The names `session` holds, sorted.
    pub fn names_held_by(&self, session: SessionId) -> Vec<String> {
        self.presence.names_held_by(session)
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    pub fn summary_count(&self) -> usize {
        self.summaries.len()
    }

    /// The newest message's id, or 0 in an empty room.
    pub fn last_message_id(&self) -> u64 {
        self.messages.last_id()
    }

    /// The newest message's timestamp, or `None` in an empty room.
    pub fn last_activity_ts(&self) -> Option<String> {
        self.messages.last_ts()
    }

    /// The id of the newest summary, 0 when there is none.
    pub fn last_summary_id(&self) -> u64 {
        self.summaries.last_id()
    }

    /// Whether `session` may move the cursors of `name` (it holds it, or nobody does).
    pub fn may_move_cursor(&self, session: SessionId, name: &str) -> Result<(), Refusal> {
        self.presence.check_not_held_elsewhere(session, name.trim())
    }

    /// The cursor of `name` in `scope` (0 when none is stored); `name` and the topic as the
    /// room stores them (trimmed).
    pub fn cursor(&self, scope: Scope<'_>, name: &str) -> u64 {
        self.cursors.get(scope, name)
    }

    /// The messages of `scope` visible to `name` with `after < id <= through`, ascending: what
    /// a `read_unread` that moved the cursor from `after` to `through` returned, for answering
    /// a repeat of it the same way.
    pub fn visible_between(
        &self,
        scope: Scope<'_>,
        name: &str,
        after: u64,
        through: u64,
    ) -> Vec<Message> {
        self.messages.visible_between(scope, name, after, through)
    }

    fn status(&self) -> RoomStatus {
        let (topic_count, open_topic_count) = self.topic_counts();
        RoomStatus {
            participant_count: self.presence.len() as u64,
            message_count: self.messages.len() as u64,
            last_activity_ts: self.last_activity_ts(),
            topics: self.has_topics().then(|| TopicCounts {
                topic_count: topic_count as u64,
                open_topic_count: open_topic_count as u64,
                summary_count: self.summaries.len() as u64,
            }),
        }
    }
}

impl std::fmt::Debug for Room {
    /// Counts only: a room may hold a million messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("messages", &self.messages.len())
            .field("summaries", &self.summaries.len())
            .field("participants", &self.presence.len())
            .field("cursors", &self.cursors.len())
            .field("topics", &self.topics.len())
            .field("claims", &self.claims.len())
            .finish()
    }
}

fn check_increasing(kind: &str, ids: impl Iterator<Item = u64>) -> Result<(), String> {
    let mut previous = 0;
    for id in ids {
        if id == 0 {
            return Err(format!("{kind} id 0 is not positive"));
        }
        if id <= previous {
            return Err(format!(
                "{kind} id {id} is not greater than the id before it ({previous})"
            ));
        }
        previous = id;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use protocol::{Message, RefusalKind, Summary};

    use super::*;
    use crate::shared::time::format_ts;
    use testkit::*;

    #[test]
    fn requests_for_the_daemon_are_not_allowed() {
        for request in [Request::DaemonStatus, Request::Shutdown] {
            let refusal = refuse(&mut populated_room(), ALICE, request);
            assert_eq!(refusal.kind, RefusalKind::NotAllowed);
            assert!(
                refusal.message.ends_with("is not a room request"),
                "{refusal}"
            );
        }
    }

    #[test]
    fn get_status_and_list_participants() {
        let mut room = Room::new();
        let empty = RoomStatus {
            topics: None,
            participant_count: 0,
            message_count: 0,
            last_activity_ts: None,
        };
        assert_eq!(
            accept(&mut room, OTHER, Request::GetStatus).0,
            Response::Status(empty)
        );
        let mut room = populated_room();
        accept_at(&mut room, OTHER, send("carol", "late", "all"), T0 + 42);
        let status = RoomStatus {
            topics: None,
            participant_count: 2,
            message_count: 6,
            last_activity_ts: Some(format_ts(T0 + 42)),
        };
        assert_eq!(
            accept(&mut room, OTHER, Request::GetStatus).0,
            Response::Status(status)
        );
        let (reply, changes) = accept(&mut room, OTHER, Request::ListParticipants);
        assert_eq!(reply, Response::Participants(room.participants()));
        assert!(changes.is_empty());
    }

    #[test]
    fn restore_rebuilds_indexes_and_continues_the_ids() {
        // Gaps, as a hand-edited or Python-written history may have.
        let messages = vec![
            message(3, "all"),
            message(7, "alice"),
            message(8, "bob"),
            message(20, "all"),
        ];
        let summaries = vec![summary(2, "all"), summary(5, "alice"), summary(9, "all")];
        let cursors = vec![("alice".to_owned(), 7)];
        let mut room =
            Room::restore(messages, summaries, vec![participant("alice")], cursors).unwrap();
        assert_eq!((room.message_count(), room.summary_count()), (4, 3));
        assert_eq!(room.last_message_id(), 20);
        assert_eq!(room.cursors(), [("alice".to_owned(), 7)]);
        assert_eq!(read_ids(&mut room, read(0, 50, "alice")), [3, 7, 20]);
        assert_eq!(
            read_ids(&mut room, read(4, 50, "")),
            [7, 8, 20],
            "since_id inside a gap"
        );
        assert_eq!(read_ids(&mut room, unread("alice", 50, false)), [20]);
        assert_eq!(
            summary_of(&mut room, "all").map(|summary| summary.id),
            Some(9)
        );
        assert_eq!(
            summary_of(&mut room, "alice").map(|summary| summary.id),
            Some(5)
        );
        let refusal = refuse(&mut room, OTHER, set_cursor("bob", 21));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (20)"
        );
        assert_eq!(
            accept(&mut room, OTHER, send("carol", "next", "all")).0,
            Response::Id(21)
        );
        assert_eq!(
            accept(&mut room, OTHER, summarize("carol", "next", "all")).0,
            Response::Id(10)
        );
    }

    #[test]
    fn restore_refuses_ids_that_do_not_increase() {
        let check = |messages: Vec<Message>, summaries: Vec<Summary>, expected: &str| {
            let error = Room::restore(messages, summaries, vec![], vec![]).unwrap_err();
            assert_eq!(error, expected);
        };
        check(
            vec![message(1, "all"), message(3, "all"), message(2, "all")],
            vec![],
            "message id 2 is not greater than the id before it (3)",
        );
        check(
            vec![message(1, "all"), message(1, "all")],
            vec![],
            "message id 1 is not greater than the id before it (1)",
        );
        check(
            vec![message(0, "all")],
            vec![],
            "message id 0 is not positive",
        );
        check(
            vec![message(1, "all")],
            vec![summary(4, "all"), summary(4, "bob")],
            "summary id 4 is not greater than the id before it (4)",
        );
    }
}
