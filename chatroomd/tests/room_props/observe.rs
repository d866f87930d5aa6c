//! What can be seen of a room from outside, through its public accessors and read requests,
//! and the checks of it: the invariants of any room, and what each request or session end did.

use std::collections::BTreeMap;

use chatroomd::daemon::room::{Changes, Room, SessionId};
use proptest::prelude::*;
use protocol::{
    Message, Participant, Request, Response, RoomStatus, Summary, Topic, TopicCounts, TopicStatus,
};

use crate::model::{Scope, name_param, topic_param, visible};
use crate::{BROADCAST, OBSERVER, SESSIONS, SYSTEM};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Observed {
    /// Every message of every scope, read scope by scope and merged in id order.
    pub(crate) messages: Vec<Message>,
    pub(crate) summaries: Vec<Summary>,
    pub(crate) participants: Vec<Participant>,
    pub(crate) cursors: BTreeMap<String, u64>,
    pub(crate) topics: Vec<Topic>,
    pub(crate) topic_cursors: Vec<(String, String, u64)>,
    pub(crate) held: Vec<Vec<String>>,
    status: RoomStatus,
    last_message_id: u64,
    last_activity_ts: Option<String>,
    counts: (usize, usize),
}

impl Observed {
    /// The cursor of `name` in `scope`.
    fn cursor(&self, scope: &Scope, name: &str) -> u64 {
        match scope {
            None => self.cursors.get(name).copied().unwrap_or(0),
            Some(topic) => self
                .topic_cursors
                .iter()
                .find(|(n, t, _)| n == name && t == topic)
                .map_or(0, |(_, _, id)| *id),
        }
    }

    /// The scope `topic_id` names if it is valid and exists.
    pub(crate) fn scope(&self, topic_id: &str) -> Option<Scope> {
        topic_param(topic_id).filter(|scope| {
            scope
                .as_ref()
                .is_none_or(|id| self.topics.iter().any(|topic| &topic.id == id))
        })
    }

    fn in_scope<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a Message> + 'a {
        self.messages
            .iter()
            .filter(move |message| &message.topic_id == scope)
    }

    pub(crate) fn scope_last_id(&self, scope: &Scope) -> u64 {
        self.in_scope(scope).last().map_or(0, |message| message.id)
    }
}

/// The `topic_id` of a topic-scoped request.
pub(crate) fn topic_of(request: &Request) -> Option<&str> {
    match request {
        Request::SendMessage { topic_id, .. }
        | Request::ReadMessages { topic_id, .. }
        | Request::GetCursor { topic_id, .. }
        | Request::SetCursor { topic_id, .. }
        | Request::ReadUnread { topic_id, .. }
        | Request::WriteSummary { topic_id, .. }
        | Request::ReadLatestSummary { topic_id, .. }
        | Request::GetHandoff { topic_id, .. } => Some(topic_id),
        _ => None,
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

pub(crate) fn observe(room: &mut Room, now: u64) -> Result<Observed, TestCaseError> {
    // Every message of every scope (the main room, then each topic) and every summary, a page of
    // at most 100 at a time.
    let topics = room.topics();
    let scopes = std::iter::once(String::new()).chain(topics.iter().map(|topic| topic.id.clone()));
    let mut messages: Vec<Message> = Vec::new();
    for topic_id in scopes {
        let mut since_id = 0;
        loop {
            let request = Request::ReadMessages {
                topic_id: topic_id.clone(),
                since_id,
                limit: 100,
                participant: String::new(),
            };
            let Response::Messages(page) = read(room, request, now)? else {
                return Err(TestCaseError::fail("read_messages gave no messages"));
            };
            let Some(last) = page.last() else { break };
            since_id = last.id as i64;
            let scope = (!topic_id.is_empty()).then(|| topic_id.clone());
            prop_assert!(page.iter().all(|message| message.topic_id == scope));
            messages.extend(page);
        }
    }
    messages.sort_by_key(|message| message.id);
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
        topics,
        topic_cursors: room.topic_cursors(),
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
pub(crate) fn check_invariants(observed: &Observed, fresh: bool) -> Result<(), TestCaseError> {
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
    let open = observed
        .topics
        .iter()
        .filter(|topic| topic.status == TopicStatus::Open)
        .count();
    prop_assert_eq!(
        &observed.status,
        &RoomStatus {
            topics: (!observed.topics.is_empty()).then_some(TopicCounts {
                topic_count: observed.topics.len() as u64,
                open_topic_count: open as u64,
                summary_count: observed.summaries.len() as u64,
            }),
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
    // No cursor points past the newest message of its scope.
    let main_last = observed.scope_last_id(&None);
    prop_assert!(observed.cursors.values().all(|&id| id <= main_last));
    for (name, topic, id) in &observed.topic_cursors {
        let last = observed.scope_last_id(&Some(topic.clone()));
        prop_assert!(
            *id <= last,
            "{name}'s cursor {id} in {topic} is past {last}"
        );
    }
    // Topic records: sorted by id, closed exactly when `closed_at` is set, and active at least as
    // late as they were created and as every message and summary in them. Every record in a
    // topic names one that exists.
    prop_assert!(
        observed
            .topics
            .windows(2)
            .all(|pair| pair[0].id < pair[1].id)
    );
    for topic in &observed.topics {
        prop_assert_eq!(
            topic.closed_at.is_some(),
            topic.status == TopicStatus::Closed
        );
        prop_assert!(topic.created_at <= topic.last_activity_ts);
        let scope = Some(topic.id.clone());
        let newest = observed
            .in_scope(&scope)
            .map(|m| &m.ts)
            .chain(
                observed
                    .summaries
                    .iter()
                    .filter(|s| s.topic_id == scope)
                    .map(|s| &s.ts),
            )
            .max();
        prop_assert!(newest.is_none_or(|ts| *ts <= topic.last_activity_ts));
    }
    let known = |topic: &Option<String>| {
        topic
            .as_ref()
            .is_none_or(|id| observed.topics.iter().any(|t| &t.id == id))
    };
    prop_assert!(observed.messages.iter().all(|m| known(&m.topic_id)));
    prop_assert!(observed.summaries.iter().all(|s| known(&s.topic_id)));
    Ok(())
}

/// What must hold between two consecutive observations, whatever the step.
pub(crate) fn check_step(before: &Observed, after: &Observed) -> Result<(), TestCaseError> {
    for (name, &old) in &before.cursors {
        let new = after.cursor(&None, name);
        prop_assert!(
            new >= old,
            "the cursor of {name:?} went from {old} to {new}"
        );
    }
    for (name, topic, old) in &before.topic_cursors {
        let new = after.cursor(&Some(topic.clone()), name);
        prop_assert!(
            new >= *old,
            "the cursor of {name:?} in {topic} went from {old} to {new}"
        );
    }
    // A topic never goes away, never reopens, and its activity never goes back.
    for old in &before.topics {
        let new = after.topics.iter().find(|topic| topic.id == old.id);
        prop_assert!(new.is_some(), "topic {} went away", old.id);
        let new = new.unwrap();
        prop_assert_eq!((&new.title, &new.created_at), (&old.title, &old.created_at));
        prop_assert!(old.status == TopicStatus::Open || new == old);
        prop_assert!(new.last_activity_ts >= old.last_activity_ts);
    }
    Ok(())
}

/// The properties of one handled request that the contract states directly, checked against
/// what the room showed before and after.
pub(crate) fn check_request(
    request: &Request,
    reply: &Result<Response, protocol::Refusal>,
    changes: &Changes,
    before: &Observed,
    after: &Observed,
) -> Result<(), TestCaseError> {
    // The scope the request names, if it is valid and exists (every success names one).
    let scope = topic_of(request).and_then(|topic_id| before.scope(topic_id));
    let scope = scope.as_ref();
    // A valid name and scope and an id above the scope's newest message: refused, with the
    // contract's message.
    if let Request::SetCursor {
        name, message_id, ..
    } = request
        && let Some(scope) = scope
        && name_param(name).is_some()
        && u64::try_from(*message_id).is_ok_and(|id| id > before.scope_last_id(scope))
    {
        let expected = format!(
            "message_id cannot exceed the latest message id ({})",
            before.scope_last_id(scope)
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
    prop_assert_eq!(
        changes.topic_cursors,
        after.topic_cursors != before.topic_cursors
    );
    prop_assert_eq!(changes.topics, !changes.topic_records.is_empty());
    if changes.topics {
        prop_assert!(!changes.topic_activity);
        for record in &changes.topic_records {
            prop_assert!(after.topics.contains(record), "{record:?}");
        }
    } else {
        prop_assert_eq!(changes.topic_activity, after.topics != before.topics);
    }
    if !changes.membership {
        prop_assert_eq!(changes.last_seen, after.participants != before.participants);
    }
    let Some(scope) = scope else {
        // Only requests with no scope: the topics' own.
        prop_assert!(topic_of(request).is_none(), "{:?} succeeded", request);
        return Ok(());
    };
    match (request, reply) {
        (Request::SendMessage { .. }, Response::Id(id)) => {
            // One id sequence for the whole room.
            prop_assert_eq!(*id, before.last_message_id + 1);
            prop_assert_eq!(&changes.messages[0].topic_id, scope);
        }
        (Request::SetCursor { message_id, .. }, Response::Cursor(cursor)) => {
            prop_assert!(*message_id <= before.scope_last_id(scope) as i64);
            prop_assert_eq!(&cursor.topic_id, scope);
        }
        (
            Request::ReadUnread {
                limit, mark_read, ..
            },
            Response::Unread(unread),
        ) => {
            prop_assert_eq!(&unread.topic_id, scope);
            let old = before.cursor(scope, &unread.name);
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
            prop_assert_eq!(after.cursor(scope, &unread.name), expected);
        }
        (Request::GetHandoff { name, .. }, Response::Handoff(handoff)) => {
            let topic = scope
                .as_ref()
                .and_then(|id| before.topics.iter().find(|t| &t.id == id));
            prop_assert_eq!(handoff.topic.as_ref(), topic);
            prop_assert_eq!(handoff.latest_message_id, before.scope_last_id(scope));
            let name = name.trim();
            if name.is_empty() {
                prop_assert_eq!((handoff.cursor, handoff.unread_count), (None, None));
            } else {
                let cursor = before.cursor(scope, name);
                let unread = before
                    .in_scope(scope)
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
                .in_scope(scope)
                .filter(|m| m.id as i64 > *since_id)
                .filter(|m| participant.is_empty() || visible(m, participant))
                .take(*limit as usize)
                .collect();
            prop_assert_eq!(messages.iter().collect::<Vec<_>>(), expected);
        }
        (Request::ReadLatestSummary { scope: wanted, .. }, Response::Summary(summary)) => {
            let (room_scope, scope) = (scope, wanted.trim());
            let newest = before
                .summaries
                .iter()
                .rev()
                .find(|s| s.scope == scope && &s.topic_id == room_scope);
            prop_assert_eq!(summary.as_ref(), newest);
        }
        _ => {}
    }
    Ok(())
}

/// `end_session` removed exactly the names the session held, each announced in name order.
pub(crate) fn check_end_session(
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
