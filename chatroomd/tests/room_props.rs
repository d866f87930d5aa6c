//! Property tests of the room: random sequences of requests from a few sessions, with a clock
//! that never goes back, checked step by step against a plain reference model of the contract
//! and against the invariants that must hold whatever the model says.

use std::collections::BTreeMap;

use chatroomd::daemon::room::{Caller, Changes, Room, SessionId};
use chatroomd::shared::time::format_ts;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use protocol::{
    Cursor, Handoff, Message, Participant, RefusalKind, Request, Response, RoomStatus, Summary,
    Unread,
};

/// 2024-02-29T12:34:56Z.
const T0: u64 = 1_709_210_096;
/// The sessions that act; names are only ever held by these.
const SESSIONS: [SessionId; 3] = [1, 2, 3];
/// A session that only reads, to observe the room.
const OBSERVER: SessionId = 99;
const BROADCAST: &str = "all";
const SYSTEM: &str = "system";

// The reference model: the contract's tables written out as plainly as possible, with none of
// the room's indexes. Its refusals are kinds only; the room's unit tests pin the exact texts.

#[derive(Debug, Default, Clone)]
struct Model {
    messages: Vec<Message>,
    summaries: Vec<Summary>,
    /// Each participant and the session holding it (none for one restored from disk).
    members: BTreeMap<String, (Participant, Option<SessionId>)>,
    cursors: BTreeMap<String, u64>,
}

type Modelled = Result<(Response, Changes), RefusalKind>;

fn invalid<T>(value: Option<T>) -> Result<T, RefusalKind> {
    value.ok_or(RefusalKind::Invalid)
}

fn plain_text(value: &str, max_chars: usize) -> Option<String> {
    let value = value.trim();
    let fine = !value.is_empty()
        && value.chars().count() <= max_chars
        && !value.chars().any(char::is_control);
    fine.then(|| value.to_owned())
}

/// `name`, `to`, `scope`: required, at most 64 characters, no control characters.
fn name_param(value: &str) -> Option<String> {
    plain_text(value, 64)
}

/// The name one joins, leaves, sends or writes as: also not reserved.
fn holder_param(value: &str) -> Option<String> {
    name_param(value).filter(|name| name != BROADCAST && name != SYSTEM)
}

/// `participant`, the handoff's `name`: blank means none.
fn optional_param(value: &str) -> Option<Option<String>> {
    if value.trim().is_empty() {
        Some(None)
    } else {
        name_param(value).map(Some)
    }
}

fn role_param(value: &str) -> Option<String> {
    plain_text(value, 256)
}

fn content_param(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value.len() <= 64 * 1024).then(|| value.to_owned())
}

fn limit_param(value: i64) -> Option<usize> {
    (1..=100).contains(&value).then_some(value as usize)
}

fn id_param(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}

fn visible(message: &Message, name: &str) -> bool {
    message.to == BROADCAST || message.to == name
}

impl Model {
    fn handle(&mut self, caller: Caller, request: &Request, now: u64) -> Modelled {
        let session = caller.session;
        match request {
            Request::Join { name, role } => {
                let name = invalid(holder_param(name))?;
                let role = invalid(role_param(role))?;
                match self.members.get_mut(&name) {
                    Some((participant, Some(holder))) if *holder == session => {
                        participant.role = role;
                        participant.last_seen = format_ts(now);
                    }
                    Some((_, Some(_))) => return Err(RefusalKind::Conflict),
                    // Nobody, or an orphan: joined afresh.
                    _ => {
                        let participant = Participant {
                            name: name.clone(),
                            role,
                            joined_at: format_ts(now),
                            last_seen: format_ts(now),
                        };
                        self.members.insert(name, (participant, Some(session)));
                    }
                }
                let changes = Changes {
                    membership: true,
                    ..Changes::default()
                };
                Ok((Response::Participants(self.participants()), changes))
            }
            Request::Leave { name } => {
                let name = invalid(holder_param(name))?;
                match self.members.get(&name) {
                    None => Ok((Response::Left(false), Changes::default())),
                    Some((_, Some(holder))) if *holder != session => Err(RefusalKind::Conflict),
                    Some(_) => Ok((Response::Left(true), self.remove(&name, now))),
                }
            }
            Request::SendMessage {
                name, content, to, ..
            } => {
                let name = invalid(holder_param(name))?;
                let content = invalid(content_param(content))?;
                let to = invalid(name_param(to))?;
                self.not_held_elsewhere(&name, session)?;
                let message = self.append(&name, &to, &content, caller.human, now);
                let changes = Changes {
                    last_seen: self.touch(&name, now),
                    messages: vec![message.clone()],
                    ..Changes::default()
                };
                Ok((Response::Id(message.id), changes))
            }
            Request::ReadMessages {
                since_id,
                limit,
                participant,
                ..
            } => {
                let since_id = invalid(id_param(*since_id))?;
                let limit = invalid(limit_param(*limit))?;
                let participant = invalid(optional_param(participant))?;
                let messages = self
                    .messages
                    .iter()
                    .filter(|message| message.id > since_id)
                    .filter(|message| participant.as_ref().is_none_or(|p| visible(message, p)))
                    .take(limit)
                    .cloned()
                    .collect();
                Ok((Response::Messages(messages), Changes::default()))
            }
            Request::ListParticipants => Ok((
                Response::Participants(self.participants()),
                Changes::default(),
            )),
            Request::GetStatus => {
                let status = RoomStatus {
                    topics: None,
                    participant_count: self.members.len() as u64,
                    message_count: self.messages.len() as u64,
                    last_activity_ts: self.messages.last().map(|message| message.ts.clone()),
                };
                Ok((Response::Status(status), Changes::default()))
            }
            Request::GetCursor { name, .. } => {
                let name = invalid(name_param(name))?;
                let cursor = Cursor {
                    topic_id: None,
                    last_read_id: self.cursor(&name),
                    name,
                };
                Ok((Response::Cursor(cursor), Changes::default()))
            }
            Request::SetCursor {
                name, message_id, ..
            } => {
                let name = invalid(name_param(name))?;
                let message_id = invalid(id_param(*message_id))?;
                if message_id > self.last_id() {
                    return Err(RefusalKind::Invalid);
                }
                self.not_held_elsewhere(&name, session)?;
                let mut changes = Changes::default();
                let last_read_id = self.advance(&name, message_id, &mut changes);
                changes.last_seen = self.touch(&name, now);
                let cursor = Cursor {
                    topic_id: None,
                    name,
                    last_read_id,
                };
                Ok((Response::Cursor(cursor), changes))
            }
            Request::ReadUnread {
                name,
                limit,
                mark_read,
                ..
            } => {
                let name = invalid(name_param(name))?;
                let limit = invalid(limit_param(*limit))?;
                let held_elsewhere = self.not_held_elsewhere(&name, session);
                if *mark_read {
                    held_elsewhere?;
                }
                let cursor = self.cursor(&name);
                let messages: Vec<Message> = self
                    .messages
                    .iter()
                    .filter(|message| message.id > cursor && visible(message, &name))
                    .take(limit)
                    .cloned()
                    .collect();
                let mut changes = Changes::default();
                let last_read_id = match messages.last() {
                    Some(newest) if *mark_read => self.advance(&name, newest.id, &mut changes),
                    _ => cursor,
                };
                // Another session's peek is no sign of life from the holder.
                changes.last_seen = held_elsewhere.is_ok() && self.touch(&name, now);
                let unread = Unread {
                    topic_id: None,
                    name,
                    last_read_id,
                    messages,
                };
                Ok((Response::Unread(unread), changes))
            }
            Request::WriteSummary {
                name,
                content,
                scope,
                ..
            } => {
                let name = invalid(holder_param(name))?;
                let content = invalid(content_param(content))?;
                let scope = invalid(name_param(scope))?;
                self.not_held_elsewhere(&name, session)?;
                let summary = Summary {
                    topic_id: None,
                    id: self.summaries.last().map_or(0, |summary| summary.id) + 1,
                    ts: format_ts(now),
                    from: name.clone(),
                    scope,
                    content,
                };
                self.summaries.push(summary.clone());
                let changes = Changes {
                    last_seen: self.touch(&name, now),
                    summaries: vec![summary.clone()],
                    ..Changes::default()
                };
                Ok((Response::Id(summary.id), changes))
            }
            Request::ReadSummaries { since_id, limit } => {
                let since_id = invalid(id_param(*since_id))?;
                let limit = invalid(limit_param(*limit))?;
                let summaries = self
                    .summaries
                    .iter()
                    .filter(|summary| summary.id > since_id)
                    .take(limit)
                    .cloned()
                    .collect();
                Ok((Response::Summaries(summaries), Changes::default()))
            }
            Request::ReadLatestSummary { scope, .. } => {
                let scope = invalid(name_param(scope))?;
                let latest = self.latest_summary(|summary| summary.scope == scope);
                Ok((Response::Summary(latest), Changes::default()))
            }
            Request::GetHandoff {
                name, recent_limit, ..
            } => {
                let name = invalid(optional_param(name))?;
                let recent_limit = invalid(limit_param(*recent_limit))?;
                let sees = |message: &&Message| name.as_ref().is_none_or(|n| visible(message, n));
                let (cursor, unread_count) = match &name {
                    Some(name) => {
                        let cursor = self.cursor(name);
                        let unread = self
                            .messages
                            .iter()
                            .filter(sees)
                            .filter(|message| message.id > cursor)
                            .count();
                        (Some(cursor), Some(unread as u64))
                    }
                    None => (None, None),
                };
                let mut recent_messages: Vec<Message> = self
                    .messages
                    .iter()
                    .rev()
                    .filter(sees)
                    .take(recent_limit)
                    .cloned()
                    .collect();
                recent_messages.reverse();
                let latest_summary = self.latest_summary(|summary| {
                    summary.scope == BROADCAST || Some(&summary.scope) == name.as_ref()
                });
                let handoff = Handoff {
                    topic: None,
                    participants: self.participants(),
                    latest_message_id: self.last_id(),
                    cursor,
                    unread_count,
                    latest_summary,
                    recent_messages,
                };
                Ok((Response::Handoff(handoff), Changes::default()))
            }
            Request::DaemonStatus
            | Request::Shutdown
            | Request::Subscribe { .. }
            | Request::Import { .. } => Err(RefusalKind::NotAllowed),
            // The model is of a room used the v1 way; topics and search have their own tests.
            Request::OpenTopic { .. }
            | Request::CloseTopic { .. }
            | Request::ListTopics { .. }
            | Request::SearchMessages { .. } => unreachable!("not generated: {request:?}"),
        }
    }

    fn restore(history: &History) -> Self {
        let orphan = |participant: &Participant| {
            let name = participant.name.clone();
            (name, (participant.clone(), None))
        };
        Self {
            messages: history.messages.clone(),
            summaries: history.summaries.clone(),
            members: history.participants.iter().map(orphan).collect(),
            cursors: history.cursors.iter().cloned().collect(),
        }
    }

    fn end_session(&mut self, session: SessionId, now: u64) -> Changes {
        self.remove_held_by(Some(session), now)
    }

    fn remove_orphans(&mut self, now: u64) -> Changes {
        self.remove_held_by(None, now)
    }

    fn remove_held_by(&mut self, session: Option<SessionId>, now: u64) -> Changes {
        let names: Vec<String> = self
            .members
            .iter()
            .filter(|(_, (_, holder))| *holder == session)
            .map(|(name, _)| name.clone())
            .collect();
        let mut changes = Changes::default();
        for name in names {
            changes.merge(self.remove(&name, now));
        }
        changes
    }

    fn remove(&mut self, name: &str, now: u64) -> Changes {
        self.members.remove(name);
        let content = format!("{name} left the chatroom");
        let message = self.append(SYSTEM, BROADCAST, &content, false, now);
        Changes {
            messages: vec![message],
            membership: true,
            ..Changes::default()
        }
    }

    fn append(&mut self, from: &str, to: &str, content: &str, human: bool, now: u64) -> Message {
        let message = Message {
            topic_id: None,
            id: self.last_id() + 1,
            ts: format_ts(now),
            from: from.to_owned(),
            to: to.to_owned(),
            content: content.to_owned(),
            human,
        };
        self.messages.push(message.clone());
        message
    }

    /// Only the holder of a name held by a live session writes under it.
    fn not_held_elsewhere(&self, name: &str, session: SessionId) -> Result<(), RefusalKind> {
        match self.members.get(name) {
            Some((_, Some(holder))) if *holder != session => Err(RefusalKind::Conflict),
            _ => Ok(()),
        }
    }

    fn touch(&mut self, name: &str, now: u64) -> bool {
        match self.members.get_mut(name) {
            Some((participant, _)) if participant.last_seen != format_ts(now) => {
                participant.last_seen = format_ts(now);
                true
            }
            _ => false,
        }
    }

    fn advance(&mut self, name: &str, message_id: u64, changes: &mut Changes) -> u64 {
        let cursor = self.cursor(name);
        if message_id <= cursor {
            return cursor;
        }
        self.cursors.insert(name.to_owned(), message_id);
        changes.cursors = true;
        message_id
    }

    fn cursor(&self, name: &str) -> u64 {
        self.cursors.get(name).copied().unwrap_or(0)
    }

    fn last_id(&self) -> u64 {
        self.messages.last().map_or(0, |message| message.id)
    }

    fn latest_summary(&self, matches: impl Fn(&Summary) -> bool) -> Option<Summary> {
        self.summaries.iter().rev().find(|s| matches(s)).cloned()
    }

    fn participants(&self) -> Vec<Participant> {
        self.members.values().map(|(p, _)| p.clone()).collect()
    }

    fn names_held_by(&self, session: SessionId) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, (_, holder))| *holder == Some(session))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

// What can be seen of a room from outside, through its public accessors and read requests.

#[derive(Debug, Clone, PartialEq)]
struct Observed {
    messages: Vec<Message>,
    summaries: Vec<Summary>,
    participants: Vec<Participant>,
    cursors: BTreeMap<String, u64>,
    held: Vec<Vec<String>>,
    status: RoomStatus,
    last_message_id: u64,
    last_activity_ts: Option<String>,
    counts: (usize, usize),
}

impl Observed {
    fn cursor(&self, name: &str) -> u64 {
        self.cursors.get(name).copied().unwrap_or(0)
    }
}

/// A read the observer makes; it must succeed and change nothing.
fn read(room: &mut Room, request: Request, now: u64) -> Result<Response, TestCaseError> {
    let outcome = room.handle(OBSERVER, request.clone(), now);
    prop_assert_eq!(&outcome.changes, &Changes::default(), "{:?}", request);
    outcome
        .reply
        .map_err(|refusal| TestCaseError::fail(format!("{request:?} was refused: {refusal}")))
}

fn observe(room: &mut Room, now: u64) -> Result<Observed, TestCaseError> {
    // Every message and summary, a page of at most 100 at a time.
    let mut messages: Vec<Message> = Vec::new();
    loop {
        let since_id = messages.last().map_or(0, |message| message.id) as i64;
        let request = Request::ReadMessages {
            topic_id: String::new(),
            since_id,
            limit: 100,
            participant: String::new(),
        };
        let Response::Messages(page) = read(room, request, now)? else {
            return Err(TestCaseError::fail("read_messages gave no messages"));
        };
        if page.is_empty() {
            break;
        }
        messages.extend(page);
    }
    let mut summaries: Vec<Summary> = Vec::new();
    loop {
        let since_id = summaries.last().map_or(0, |summary| summary.id) as i64;
        let request = Request::ReadSummaries {
            since_id,
            limit: 100,
        };
        let Response::Summaries(page) = read(room, request, now)? else {
            return Err(TestCaseError::fail("read_summaries gave no summaries"));
        };
        if page.is_empty() {
            break;
        }
        summaries.extend(page);
    }
    let Response::Status(status) = read(room, Request::GetStatus, now)? else {
        return Err(TestCaseError::fail("get_status gave no status"));
    };
    Ok(Observed {
        messages,
        summaries,
        participants: room.participants(),
        cursors: room.cursors().into_iter().collect(),
        held: SESSIONS
            .iter()
            .map(|&session| room.names_held_by(session))
            .collect(),
        status,
        last_message_id: room.last_message_id(),
        last_activity_ts: room.last_activity_ts(),
        counts: (room.message_count(), room.summary_count()),
    })
}

/// The invariants of any room, whatever happened to it. `fresh`: it started empty rather than
/// from a history that may have gaps in its ids and participants nobody holds.
fn check_invariants(observed: &Observed, fresh: bool) -> Result<(), TestCaseError> {
    let message_ids: Vec<u64> = observed.messages.iter().map(|m| m.id).collect();
    let summary_ids: Vec<u64> = observed.summaries.iter().map(|s| s.id).collect();
    for ids in [&message_ids, &summary_ids] {
        prop_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
        if fresh {
            // From 1 without gaps: a truncate takes the newest ids back, so it leaves none.
            prop_assert!(ids.iter().copied().eq(1..=ids.len() as u64), "{ids:?}");
        }
    }
    prop_assert_eq!(
        observed.counts,
        (observed.messages.len(), observed.summaries.len())
    );
    prop_assert_eq!(
        observed.last_message_id,
        message_ids.last().copied().unwrap_or(0)
    );
    prop_assert_eq!(
        &observed.last_activity_ts,
        &observed.messages.last().map(|m| m.ts.clone())
    );
    prop_assert_eq!(
        &observed.status,
        &RoomStatus {
            topics: None,
            participant_count: observed.participants.len() as u64,
            message_count: observed.messages.len() as u64,
            last_activity_ts: observed.last_activity_ts.clone(),
        }
    );
    // A name is held by at most one session, and only a participant's name is held; in a
    // fresh room, which has no orphans, every participant is held.
    let mut held: Vec<&String> = observed.held.iter().flatten().collect();
    held.sort();
    prop_assert!(held.windows(2).all(|pair| pair[0] != pair[1]), "{held:?}");
    let names: Vec<&String> = observed.participants.iter().map(|p| &p.name).collect();
    prop_assert!(held.iter().all(|name| names.contains(name)), "{held:?}");
    if fresh {
        prop_assert_eq!(held, names, "names held by the sessions");
    }
    // No cursor points past the newest message.
    prop_assert!(
        observed
            .cursors
            .values()
            .all(|&id| id <= observed.last_message_id)
    );
    Ok(())
}

/// What must hold between two consecutive observations, whatever the step.
fn check_step(before: &Observed, after: &Observed) -> Result<(), TestCaseError> {
    for (name, &old) in &before.cursors {
        let new = after.cursor(name);
        prop_assert!(
            new >= old,
            "the cursor of {name:?} went from {old} to {new}"
        );
    }
    Ok(())
}

/// The properties of one handled request that the contract states directly, checked against
/// what the room showed before and after.
fn check_request(
    request: &Request,
    reply: &Result<Response, protocol::Refusal>,
    changes: &Changes,
    before: &Observed,
    after: &Observed,
) -> Result<(), TestCaseError> {
    // A valid name and an id above the newest message: refused, with the contract's message.
    if let Request::SetCursor {
        name, message_id, ..
    } = request
        && name_param(name).is_some()
        && u64::try_from(*message_id).is_ok_and(|id| id > before.last_message_id)
    {
        let expected = format!(
            "message_id cannot exceed the latest message id ({})",
            before.last_message_id
        );
        let message = reply.as_ref().err().map(|refusal| refusal.message.as_str());
        prop_assert_eq!(message, Some(expected.as_str()));
    }
    let Ok(reply) = reply else {
        prop_assert_eq!(changes, &Changes::default(), "a refusal changed something");
        prop_assert_eq!(before, after, "a refusal changed the room");
        return Ok(());
    };
    // The changes are exactly what the store must persist: the appended records, and a flag
    // for each file that differs.
    prop_assert_eq!(
        &after.messages[before.messages.len()..],
        &changes.messages[..]
    );
    prop_assert_eq!(
        &after.summaries[before.summaries.len()..],
        &changes.summaries[..]
    );
    prop_assert_eq!(changes.cursors, after.cursors != before.cursors);
    if !changes.membership {
        prop_assert_eq!(changes.last_seen, after.participants != before.participants);
    }
    match (request, reply) {
        (Request::SendMessage { .. }, Response::Id(id)) => {
            prop_assert_eq!(*id, before.last_message_id + 1);
        }
        (Request::SetCursor { message_id, .. }, Response::Cursor(_)) => {
            prop_assert!(*message_id <= before.last_message_id as i64);
        }
        (
            Request::ReadUnread {
                limit, mark_read, ..
            },
            Response::Unread(unread),
        ) => {
            let old = before.cursor(&unread.name);
            let ids: Vec<u64> = unread.messages.iter().map(|m| m.id).collect();
            prop_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
            prop_assert!(ids.iter().all(|&id| id > old), "{ids:?} after {old}");
            prop_assert!(ids.len() as i64 <= *limit);
            prop_assert!(
                unread.messages.iter().all(|m| visible(m, &unread.name)),
                "a message not visible to {:?}",
                unread.name
            );
            let expected = match ids.last() {
                Some(&newest) if *mark_read => old.max(newest),
                _ => old,
            };
            prop_assert_eq!(unread.last_read_id, expected);
            prop_assert_eq!(after.cursor(&unread.name), expected);
        }
        (Request::GetHandoff { name, .. }, Response::Handoff(handoff)) => {
            let name = name.trim();
            if name.is_empty() {
                prop_assert_eq!((handoff.cursor, handoff.unread_count), (None, None));
            } else {
                let cursor = before.cursor(name);
                let unread = before
                    .messages
                    .iter()
                    .filter(|m| m.id > cursor && visible(m, name))
                    .count();
                prop_assert_eq!(
                    (handoff.cursor, handoff.unread_count),
                    (Some(cursor), Some(unread as u64))
                );
            }
        }
        (
            Request::ReadMessages {
                since_id,
                limit,
                participant,
                ..
            },
            Response::Messages(messages),
        ) => {
            let participant = participant.trim();
            let expected: Vec<&Message> = before
                .messages
                .iter()
                .filter(|m| m.id as i64 > *since_id)
                .filter(|m| participant.is_empty() || visible(m, participant))
                .take(*limit as usize)
                .collect();
            prop_assert_eq!(messages.iter().collect::<Vec<_>>(), expected);
        }
        (Request::ReadLatestSummary { scope, .. }, Response::Summary(summary)) => {
            let scope = scope.trim();
            let newest = before.summaries.iter().rev().find(|s| s.scope == scope);
            prop_assert_eq!(summary.as_ref(), newest);
        }
        _ => {}
    }
    Ok(())
}

/// `end_session` removed exactly the names the session held, each announced in name order.
fn check_end_session(
    session: SessionId,
    changes: &Changes,
    before: &Observed,
    after: &Observed,
) -> Result<(), TestCaseError> {
    let index = SESSIONS.iter().position(|&s| s == session).unwrap();
    let released = &before.held[index];
    prop_assert!(after.held[index].is_empty());
    let remaining: Vec<&String> = after.participants.iter().map(|p| &p.name).collect();
    let expected: Vec<&String> = before
        .participants
        .iter()
        .map(|p| &p.name)
        .filter(|name| !released.contains(name))
        .collect();
    prop_assert_eq!(remaining, expected);
    let announced: Vec<String> = changes.messages.iter().map(|m| m.content.clone()).collect();
    let expected: Vec<String> = released
        .iter()
        .map(|name| format!("{name} left the chatroom"))
        .collect();
    prop_assert_eq!(announced, expected);
    prop_assert!(
        changes
            .messages
            .iter()
            .all(|m| m.from == SYSTEM && m.to == BROADCAST && !m.human)
    );
    prop_assert_eq!(
        &after.messages[before.messages.len()..],
        &changes.messages[..]
    );
    prop_assert_eq!(changes.membership, !released.is_empty());
    Ok(())
}

// The operations, and strategies for them.

/// What the store loads from disk: ids strictly increasing but with gaps, as a hand-edited or
/// Python-written history may have; participants that no session holds yet; cursors.
#[derive(Debug, Clone)]
struct History {
    messages: Vec<Message>,
    summaries: Vec<Summary>,
    participants: Vec<Participant>,
    cursors: Vec<(String, u64)>,
}

fn history() -> impl Strategy<Value = History> {
    const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];
    let messages = vec(
        (
            1u64..4,
            select(&["all", "alice", "bob", "old"][..]),
            any::<bool>(),
        ),
        0..12,
    );
    let summaries = vec((1u64..4, select(&["all", "alice", "old"][..])), 0..4);
    let cursors = vec((select(&PEOPLE[..]), any::<Index>()), 0..4);
    (messages, summaries, vec(any::<bool>(), 4), cursors).prop_map(
        |(messages, summaries, present, cursors)| {
            let ts = "2020-01-01T00:00:00Z".to_owned();
            let mut id = 0;
            let messages: Vec<Message> = messages
                .into_iter()
                .map(|(gap, to, human)| {
                    id += gap;
                    Message {
                        topic_id: None,
                        id,
                        ts: ts.clone(),
                        from: "old".into(),
                        to: to.into(),
                        content: format!("message {id}"),
                        human,
                    }
                })
                .collect();
            let mut id = 0;
            let summaries = summaries
                .into_iter()
                .map(|(gap, scope)| {
                    id += gap;
                    Summary {
                        topic_id: None,
                        id,
                        ts: ts.clone(),
                        from: "old".into(),
                        scope: scope.into(),
                        content: format!("summary {id}"),
                    }
                })
                .collect();
            let participants = PEOPLE
                .iter()
                .zip(present)
                .filter(|(_, present)| *present)
                .map(|(name, _)| Participant {
                    name: (*name).into(),
                    role: "dev".into(),
                    joined_at: ts.clone(),
                    last_seen: ts.clone(),
                })
                .collect();
            // Each cursor at one of the ids, or 0.
            let ids: Vec<u64> = std::iter::once(0)
                .chain(messages.iter().map(|m| m.id))
                .collect();
            let cursors = cursors
                .into_iter()
                .map(|(name, at)| (name.to_owned(), ids[at.index(ids.len())]))
                .collect();
            History {
                messages,
                summaries,
                participants,
                cursors,
            }
        },
    )
}

#[derive(Debug, Clone)]
enum Action {
    /// A request from one of the sessions, as an agent or as a person. With `from_newest`, the
    /// request's id counts back from the newest one, so that it lands among the room's ids.
    Call {
        session: SessionId,
        human: bool,
        from_newest: bool,
        request: Request,
    },
    /// The session ends, however it ends.
    EndSession(SessionId),
    /// The participants nobody holds leave, as after a restart.
    RemoveOrphans,
    /// A batch of appends whose persistence failed: handled, then taken back with `truncate`.
    AppendThenTruncate {
        session: SessionId,
        requests: Vec<Request>,
    },
}

#[derive(Debug, Clone)]
struct Step {
    /// Seconds the clock moves forward before the action; often none, so that `last_seen`
    /// sometimes stays the same.
    advance: u64,
    action: Action,
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => select(&["alice", "bob", "carol", "dave"][..]).prop_map(str::to_owned),
        2 => select(&[" alice ", "\tbob\n"][..]).prop_map(str::to_owned),
        2 => select(&["", "  ", "all", " system", "bad\u{7}name"][..]).prop_map(str::to_owned),
        1 => Just("x".repeat(65)),
        1 => Just("é".repeat(64)),
    ]
}

/// A recipient or a scope: everyone, or a name.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&["all", " all "][..]).prop_map(str::to_owned),
        4 => name(),
    ]
}

/// A participant filter or a handoff name: none, or a name.
fn optional_name() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => select(&["", "  "][..]).prop_map(str::to_owned),
        4 => name(),
    ]
}

fn role() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&["dev", " reviewer ", "lead"][..]).prop_map(str::to_owned),
        1 => select(&["", " ", "de\u{0}v"][..]).prop_map(str::to_owned),
        1 => Just("r".repeat(257)),
    ]
}

fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        16 => select(&["hello", "  padded\n", "two\nlines", "héllo 🎉", "tab\there", "\u{1}"][..])
            .prop_map(str::to_owned),
        1 => select(&["", " \n\t "][..]).prop_map(str::to_owned),
        1 => Just("c".repeat(64 * 1024 + 1)),
    ]
}

fn limit() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 1i64..=6,
        1 => Just(100),
        1 => select(&[0, 101, -1, i64::MIN, i64::MAX][..]),
    ]
}

/// A message or summary id: mostly near the room's few dozen ids, sometimes nowhere near.
fn id() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..4,
        3 => 0i64..16,
        2 => 0i64..70,
        1 => select(&[-1, i64::MIN, i64::MAX][..]),
    ]
}

fn send() -> impl Strategy<Value = Request> {
    (name(), content(), target()).prop_map(|(name, content, to)| Request::SendMessage {
        topic_id: String::new(),
        name,
        content,
        to,
    })
}

fn write_summary() -> impl Strategy<Value = Request> {
    (name(), content(), target()).prop_map(|(name, content, scope)| Request::WriteSummary {
        topic_id: String::new(),
        name,
        content,
        scope,
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        3 => (name(), role()).prop_map(|(name, role)| Request::Join { name, role }),
        2 => name().prop_map(|name| Request::Leave { name }),
        10 => send(),
        2 => (id(), limit(), optional_name()).prop_map(|(since_id, limit, participant)| {
            Request::ReadMessages { topic_id: String::new(), since_id, limit, participant }
        }),
        3 => (name(), limit(), any::<bool>()).prop_map(|(name, limit, mark_read)| {
            Request::ReadUnread { topic_id: String::new(), name, limit, mark_read }
        }),
        1 => name().prop_map(|name| Request::GetCursor { topic_id: String::new(), name }),
        3 => (name(), id()).prop_map(|(name, message_id)| Request::SetCursor { topic_id: String::new(), name, message_id }),
        2 => write_summary(),
        1 => target().prop_map(|scope| Request::ReadLatestSummary { topic_id: String::new(), scope }),
        1 => (id(), limit()).prop_map(|(since_id, limit)| Request::ReadSummaries { since_id, limit }),
        2 => (optional_name(), limit()).prop_map(|(name, recent_limit)| {
            Request::GetHandoff { topic_id: String::new(), name, recent_limit }
        }),
        1 => select(vec![
            Request::ListParticipants,
            Request::GetStatus,
            Request::DaemonStatus,
            Request::Shutdown,
            Request::Subscribe { topic_id: String::new(), participant: String::new() },
        ]),
    ]
}

fn session() -> impl Strategy<Value = SessionId> {
    select(&SESSIONS[..])
}

fn step() -> impl Strategy<Value = Step> {
    let action = prop_oneof![
        20 => (session(), prop::bool::weighted(0.2), any::<bool>(), request()).prop_map(
            |(session, human, from_newest, request)| Action::Call {
                session,
                human,
                from_newest,
                request,
            }
        ),
        1 => session().prop_map(Action::EndSession),
        1 => Just(Action::RemoveOrphans),
        1 => (session(), vec(prop_oneof![3 => send(), 1 => write_summary()], 1..4))
            .prop_map(|(session, requests)| Action::AppendThenTruncate { session, requests }),
    ];
    let advance = prop_oneof![3 => Just(0u64), 2 => 1u64..3, 1 => Just(86_400 * 366)];
    (advance, action).prop_map(|(advance, action)| Step { advance, action })
}

/// Makes the id of `request` count back from the newest message (or summary) id.
fn count_back(request: &mut Request, observed: &Observed) {
    let newest_message = observed.last_message_id as i64;
    let newest_summary = observed.summaries.len() as i64;
    match request {
        Request::SetCursor { message_id: id, .. } | Request::ReadMessages { since_id: id, .. } => {
            *id = newest_message.saturating_sub(*id);
        }
        Request::ReadSummaries { since_id, .. } => {
            *since_id = newest_summary.saturating_sub(*since_id)
        }
        _ => {}
    }
}

/// Handles `request` in both the room and the model and expects the same outcome.
fn handle_both(
    room: &mut Room,
    model: &mut Model,
    caller: Caller,
    request: &Request,
    now: u64,
) -> Result<(Result<Response, protocol::Refusal>, Changes), TestCaseError> {
    let outcome = room.handle_as(caller, request.clone(), now);
    match (&outcome.reply, model.handle(caller, request, now)) {
        (Ok(reply), Ok((expected, expected_changes))) => {
            prop_assert_eq!(reply, &expected, "the reply to {:?}", request);
            prop_assert_eq!(
                &outcome.changes,
                &expected_changes,
                "the changes of {:?}",
                request
            );
        }
        (Err(refusal), Err(kind)) => {
            prop_assert_eq!(refusal.kind, kind, "{:?}: {}", request, refusal);
            prop_assert!(!refusal.message.is_empty() && !refusal.message.contains('\n'));
        }
        (reply, expected) => {
            return Err(TestCaseError::fail(format!(
                "{request:?} gave {reply:?}, the model {expected:?}"
            )));
        }
    }
    Ok((outcome.reply, outcome.changes))
}

/// The room as the model sees it must be the room as observed.
fn check_model(model: &Model, observed: &Observed) -> Result<(), TestCaseError> {
    prop_assert_eq!(&model.messages, &observed.messages);
    prop_assert_eq!(&model.summaries, &observed.summaries);
    prop_assert_eq!(&model.participants(), &observed.participants);
    prop_assert_eq!(&model.cursors, &observed.cursors);
    for (index, &session) in SESSIONS.iter().enumerate() {
        prop_assert_eq!(&model.names_held_by(session), &observed.held[index]);
    }
    Ok(())
}

/// Runs `steps` on a room restored from `history`, or on a fresh one.
fn run(history: Option<History>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let fresh = history.is_none();
    let (mut room, mut model) = match history {
        None => (Room::new(), Model::default()),
        Some(history) => {
            let room = Room::restore(
                history.messages.clone(),
                history.summaries.clone(),
                history.participants.clone(),
                history.cursors.clone(),
            )
            .map_err(TestCaseError::fail)?;
            (room, Model::restore(&history))
        }
    };
    let mut now = T0;
    let mut before = observe(&mut room, now)?;
    check_model(&model, &before)?;
    for step in steps {
        now += step.advance;
        match step.action {
            Action::Call {
                session,
                human,
                from_newest,
                mut request,
            } => {
                if from_newest {
                    count_back(&mut request, &before);
                }
                let caller = Caller { session, human };
                let (reply, changes) = handle_both(&mut room, &mut model, caller, &request, now)?;
                let after = observe(&mut room, now)?;
                check_request(&request, &reply, &changes, &before, &after)?;
                before = check_after(&model, fresh, before, after)?;
            }
            Action::EndSession(session) => {
                let changes = room.end_session(session, now);
                prop_assert_eq!(&changes, &model.end_session(session, now));
                let after = observe(&mut room, now)?;
                check_end_session(session, &changes, &before, &after)?;
                before = check_after(&model, fresh, before, after)?;
            }
            Action::RemoveOrphans => {
                let changes = room.remove_orphans(now);
                prop_assert_eq!(&changes, &model.remove_orphans(now));
                let after = observe(&mut room, now)?;
                before = check_after(&model, fresh, before, after)?;
            }
            Action::AppendThenTruncate { session, requests } => {
                // A batch that could not be stored: handled, then rolled back whole.
                let saved = model.clone();
                let caller = Caller {
                    session,
                    human: false,
                };
                room.begin();
                for request in &requests {
                    let _ = handle_both(&mut room, &mut model, caller, request, now)?;
                }
                room.roll_back();
                model = saved;
                let after = observe(&mut room, now)?;
                prop_assert_eq!(
                    &after,
                    &before,
                    "a rolled-back batch leaves the room as it was"
                );
                before = check_after(&model, fresh, before, after)?;
            }
        }
    }
    Ok(())
}

/// The checks of every step; returns the observation to compare the next step with.
fn check_after(
    model: &Model,
    fresh: bool,
    before: Observed,
    after: Observed,
) -> Result<Observed, TestCaseError> {
    check_invariants(&after, fresh)?;
    check_step(&before, &after)?;
    check_model(model, &after)?;
    Ok(after)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random sequences of requests, session ends and undone batches from three sessions keep
    /// the room equal to the reference model and every invariant of the contract.
    #[test]
    fn random_sequences_keep_the_rooms_invariants(steps in vec(step(), 0..=60)) {
        run(None, steps)?;
    }

    /// The same from a restored history: ids with gaps, participants nobody holds, cursors.
    #[test]
    fn restored_rooms_keep_their_invariants(
        history in history(),
        steps in vec(step(), 0..=60),
    ) {
        run(Some(history), steps)?;
    }
}
