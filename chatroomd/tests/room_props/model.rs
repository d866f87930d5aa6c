//! The reference model: the contract's tables written out as plainly as possible, with none of
//! the room's indexes. Its refusals are kinds only; the room's unit tests pin the exact texts.
//! A scope is `None` for the main room, `Some(id)` for a topic; every per-scope read scans.

use std::collections::BTreeMap;

use chatroomd::daemon::room::{Caller, Changes, SessionId};
use chatroomd::shared::time::format_ts;
use protocol::{
    Cursor, Handoff, Message, Participant, RefusalKind, Request, Response, RoomStatus, Summary,
    Topic, TopicCounts, TopicListing, TopicProgress, TopicStatus, Unread,
};

use crate::strategies::History;
use crate::{BROADCAST, SYSTEM};

#[derive(Debug, Default, Clone)]
pub(crate) struct Model {
    /// Every message of every scope, one id sequence.
    pub(crate) messages: Vec<Message>,
    /// Every summary of every scope, one id sequence.
    pub(crate) summaries: Vec<Summary>,
    /// Each participant and the session holding it (none for one restored from disk).
    members: BTreeMap<String, (Participant, Option<SessionId>)>,
    /// The main room's cursors.
    pub(crate) cursors: BTreeMap<String, u64>,
    /// The topic records, by id.
    pub(crate) topics: BTreeMap<String, Topic>,
    /// The topics' cursors, by (name, topic).
    topic_cursors: BTreeMap<(String, String), u64>,
}

pub(crate) type Scope = Option<String>;

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
pub(crate) fn name_param(value: &str) -> Option<String> {
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

/// A `topic_id`: trimmed; blank is the main room, anything else must match
/// `^[a-z0-9][a-z0-9._-]{0,63}$`.
pub(crate) fn topic_param(value: &str) -> Option<Scope> {
    let value = value.trim();
    if value.is_empty() {
        return Some(None);
    }
    let first = value.chars().next()?;
    let fine = (first.is_ascii_lowercase() || first.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c))
        && value.chars().count() <= 64;
    fine.then(|| Some(value.to_owned()))
}

/// `open_topic`'s and `close_topic`'s `topic_id`: required.
fn topic_id_param(value: &str) -> Option<String> {
    topic_param(value).flatten()
}

pub(crate) fn visible(message: &Message, name: &str) -> bool {
    message.to == BROADCAST || message.to == name
}

impl Model {
    pub(crate) fn handle(&mut self, caller: Caller, request: &Request, now: u64) -> Modelled {
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
                name,
                content,
                to,
                topic_id,
            } => {
                let name = invalid(holder_param(name))?;
                let content = invalid(content_param(content))?;
                let to = invalid(name_param(to))?;
                let scope = self.write_scope(topic_id)?;
                self.not_held_elsewhere(&name, session)?;
                let message = self.append(&name, &to, &content, caller.human, &scope, now);
                let changes = Changes {
                    last_seen: self.touch(&name, now),
                    topic_activity: self.touch_topic(&scope, now),
                    messages: vec![message.clone()],
                    ..Changes::default()
                };
                Ok((Response::Id(message.id), changes))
            }
            Request::ReadMessages {
                since_id,
                limit,
                participant,
                topic_id,
            } => {
                let since_id = invalid(id_param(*since_id))?;
                let limit = invalid(limit_param(*limit))?;
                let participant = invalid(optional_param(participant))?;
                let scope = self.read_scope(topic_id)?;
                let messages = self
                    .in_scope(&scope)
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
                    topics: (!self.topics.is_empty()).then(|| TopicCounts {
                        topic_count: self.topics.len() as u64,
                        open_topic_count: self
                            .topics
                            .values()
                            .filter(|topic| topic.status == TopicStatus::Open)
                            .count() as u64,
                        summary_count: self.summaries.len() as u64,
                    }),
                    participant_count: self.members.len() as u64,
                    message_count: self.messages.len() as u64,
                    last_activity_ts: self.messages.last().map(|message| message.ts.clone()),
                };
                Ok((Response::Status(status), Changes::default()))
            }
            Request::GetCursor { name, topic_id } => {
                let name = invalid(name_param(name))?;
                let scope = self.read_scope(topic_id)?;
                let cursor = Cursor {
                    last_read_id: self.cursor(&scope, &name),
                    topic_id: scope,
                    name,
                };
                Ok((Response::Cursor(cursor), Changes::default()))
            }
            Request::SetCursor {
                name,
                message_id,
                topic_id,
            } => {
                let name = invalid(name_param(name))?;
                let message_id = invalid(id_param(*message_id))?;
                let scope = self.read_scope(topic_id)?;
                // The bound is the scope's own latest id.
                if message_id > self.scope_last_id(&scope) {
                    return Err(RefusalKind::Invalid);
                }
                self.not_held_elsewhere(&name, session)?;
                let mut changes = Changes::default();
                let last_read_id = self.advance(&scope, &name, message_id, &mut changes);
                changes.last_seen = self.touch(&name, now);
                let cursor = Cursor {
                    topic_id: scope,
                    name,
                    last_read_id,
                };
                Ok((Response::Cursor(cursor), changes))
            }
            Request::ReadUnread {
                name,
                limit,
                mark_read,
                topic_id,
            } => {
                let name = invalid(name_param(name))?;
                let limit = invalid(limit_param(*limit))?;
                let scope = self.read_scope(topic_id)?;
                let held_elsewhere = self.not_held_elsewhere(&name, session);
                if *mark_read {
                    held_elsewhere?;
                }
                let cursor = self.cursor(&scope, &name);
                let messages: Vec<Message> = self
                    .in_scope(&scope)
                    .filter(|message| message.id > cursor && visible(message, &name))
                    .take(limit)
                    .cloned()
                    .collect();
                let mut changes = Changes::default();
                let last_read_id = match messages.last() {
                    Some(newest) if *mark_read => {
                        self.advance(&scope, &name, newest.id, &mut changes)
                    }
                    _ => cursor,
                };
                // Another session's peek is no sign of life from the holder.
                changes.last_seen = held_elsewhere.is_ok() && self.touch(&name, now);
                let unread = Unread {
                    topic_id: scope,
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
                topic_id,
            } => {
                let name = invalid(holder_param(name))?;
                let content = invalid(content_param(content))?;
                let scope = invalid(name_param(scope))?;
                let room_scope = self.write_scope(topic_id)?;
                self.not_held_elsewhere(&name, session)?;
                let summary = Summary {
                    topic_id: room_scope.clone(),
                    id: self.summaries.last().map_or(0, |summary| summary.id) + 1,
                    ts: format_ts(now),
                    from: name.clone(),
                    scope,
                    content,
                };
                self.summaries.push(summary.clone());
                let changes = Changes {
                    last_seen: self.touch(&name, now),
                    topic_activity: self.touch_topic(&room_scope, now),
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
            Request::ReadLatestSummary { scope, topic_id } => {
                let scope = invalid(name_param(scope))?;
                let room_scope = self.read_scope(topic_id)?;
                let latest = self.latest_summary(&room_scope, |summary| summary.scope == scope);
                Ok((Response::Summary(latest), Changes::default()))
            }
            Request::GetHandoff {
                name,
                recent_limit,
                topic_id,
            } => {
                let name = invalid(optional_param(name))?;
                let recent_limit = invalid(limit_param(*recent_limit))?;
                let scope = self.read_scope(topic_id)?;
                let sees = |message: &&Message| name.as_ref().is_none_or(|n| visible(message, n));
                let (cursor, unread_count) = match &name {
                    Some(name) => {
                        let cursor = self.cursor(&scope, name);
                        let unread = self
                            .in_scope(&scope)
                            .filter(sees)
                            .filter(|message| message.id > cursor)
                            .count();
                        (Some(cursor), Some(unread as u64))
                    }
                    None => (None, None),
                };
                let mut recent_messages: Vec<Message> = self
                    .in_scope(&scope)
                    .rev()
                    .filter(sees)
                    .take(recent_limit)
                    .cloned()
                    .collect();
                recent_messages.reverse();
                let latest_summary = self.latest_summary(&scope, |summary| {
                    summary.scope == BROADCAST || Some(&summary.scope) == name.as_ref()
                });
                let handoff = Handoff {
                    topic: scope.as_ref().map(|id| self.topics[id].clone()),
                    participants: self.participants(),
                    latest_message_id: self.scope_last_id(&scope),
                    cursor,
                    unread_count,
                    latest_summary,
                    recent_messages,
                    // The model never claims: claims are `claims/tests.rs`'s.
                    claims: None,
                };
                Ok((Response::Handoff(handoff), Changes::default()))
            }
            Request::DaemonStatus
            | Request::Shutdown
            | Request::Subscribe { .. }
            | Request::Import { .. }
            | Request::WaitForMessages { .. }
            | Request::CancelWait { .. }
            | Request::Link { .. }
            | Request::Reach { .. }
            | Request::AwaitReach { .. } => Err(RefusalKind::NotAllowed),
            // Not generated here: receipts read the in-memory delivery and read times, which
            // the model does not keep; `owner/batch/tests/waits.rs` holds them.
            Request::ReadReceipts { .. } => unreachable!("read_receipts is not generated"),
            // Claims are in memory only and their rules are `claims/tests.rs`'s.
            Request::Claim { .. }
            | Request::Release { .. }
            | Request::ListClaims { .. }
            | Request::CheckClaims { .. } => unreachable!("claims are not generated"),
            Request::OpenTopic {
                topic_id,
                title,
                name,
            } => {
                let id = invalid(topic_id_param(topic_id))?;
                let title = invalid(plain_text(title, 256))?;
                // The creator is checked like a sender; blank is v2's "system".
                let created_by = if name.trim().is_empty() {
                    SYSTEM.to_owned()
                } else {
                    let name = invalid(holder_param(name))?;
                    self.not_held_elsewhere(&name, session)?;
                    name
                };
                if self.topics.contains_key(&id) {
                    return Err(RefusalKind::Invalid);
                }
                let topic = Topic {
                    id: id.clone(),
                    title,
                    status: TopicStatus::Open,
                    created_by,
                    created_at: format_ts(now),
                    closed_at: None,
                    last_activity_ts: format_ts(now),
                };
                self.topics.insert(id, topic.clone());
                let changes = Changes {
                    topics: true,
                    topic_records: vec![topic.clone()],
                    ..Changes::default()
                };
                Ok((Response::Topic(topic), changes))
            }
            Request::CloseTopic { topic_id } => {
                let id = invalid(topic_id_param(topic_id))?;
                let topic = self.topics.get_mut(&id).ok_or(RefusalKind::Invalid)?;
                if topic.status == TopicStatus::Closed {
                    return Ok((Response::Closed(false), Changes::default()));
                }
                topic.status = TopicStatus::Closed;
                topic.closed_at = Some(format_ts(now));
                topic.last_activity_ts = format_ts(now);
                let changes = Changes {
                    topics: true,
                    topic_records: vec![topic.clone()],
                    ..Changes::default()
                };
                Ok((Response::Closed(true), changes))
            }
            Request::ListTopics { name, status } => {
                let name = invalid(optional_param(name))?;
                let wanted = match status.trim() {
                    "open" => Some(TopicStatus::Open),
                    "closed" => Some(TopicStatus::Closed),
                    "all" => None,
                    // Blank or anything else.
                    _ => return Err(RefusalKind::Invalid),
                };
                let mut listings: Vec<TopicListing> = self
                    .topics
                    .values()
                    .filter(|topic| wanted.is_none_or(|status| topic.status == status))
                    .map(|topic| TopicListing {
                        topic: topic.clone(),
                        progress: name.as_ref().map(|name| self.progress(&topic.id, name)),
                    })
                    .collect();
                // The latest activity first, ties by id descending.
                listings.sort_by(|a, b| {
                    let key = |listing: &TopicListing| {
                        (
                            listing.topic.last_activity_ts.clone(),
                            listing.topic.id.clone(),
                        )
                    };
                    key(b).cmp(&key(a))
                });
                Ok((Response::Topics(listings), Changes::default()))
            }
            // Search has its own property test (the room's search module); it is not generated.
            Request::SearchMessages { .. } => unreachable!("not generated: {request:?}"),
        }
    }

    /// The scope a read names: the main room when blank, else a topic that exists.
    fn read_scope(&self, topic_id: &str) -> Result<Scope, RefusalKind> {
        let scope = invalid(topic_param(topic_id))?;
        match &scope {
            Some(id) if !self.topics.contains_key(id) => Err(RefusalKind::Invalid),
            _ => Ok(scope),
        }
    }

    /// The scope a write names: as a read's, and a topic must be open.
    fn write_scope(&self, topic_id: &str) -> Result<Scope, RefusalKind> {
        let scope = self.read_scope(topic_id)?;
        match &scope {
            Some(id) if self.topics[id].status == TopicStatus::Closed => Err(RefusalKind::Invalid),
            _ => Ok(scope),
        }
    }

    /// The messages of one scope, ascending.
    fn in_scope<'a>(
        &'a self,
        scope: &'a Scope,
    ) -> impl DoubleEndedIterator<Item = &'a Message> + 'a {
        self.messages
            .iter()
            .filter(move |message| &message.topic_id == scope)
    }

    fn scope_last_id(&self, scope: &Scope) -> u64 {
        self.in_scope(scope).last().map_or(0, |message| message.id)
    }

    /// A message or summary went into `scope` now: a topic's `last_activity_ts` moves (if it
    /// is not already now); true if it moved.
    fn touch_topic(&mut self, scope: &Scope, now: u64) -> bool {
        let Some(topic) = scope.as_ref().and_then(|id| self.topics.get_mut(id)) else {
            return false;
        };
        let ts = format_ts(now);
        if topic.last_activity_ts == ts {
            return false;
        }
        topic.last_activity_ts = ts;
        true
    }

    /// Where `name` stands in the topic `id`, as `list_topics` shows it.
    fn progress(&self, id: &str, name: &str) -> TopicProgress {
        let scope = Some(id.to_owned());
        let cursor = self.cursor(&scope, name);
        TopicProgress {
            latest_message_id: self.scope_last_id(&scope),
            cursor,
            unread_count: self
                .in_scope(&scope)
                .filter(|message| message.id > cursor && visible(message, name))
                .count() as u64,
            latest_summary: self.latest_summary(&scope, |summary| {
                summary.scope == BROADCAST || summary.scope == name
            }),
        }
    }

    pub(crate) fn restore(history: &History) -> Self {
        let orphan = |participant: &Participant| {
            let name = participant.name.clone();
            (name, (participant.clone(), None))
        };
        Self {
            messages: history.messages.clone(),
            summaries: history.summaries.clone(),
            members: history.participants.iter().map(orphan).collect(),
            cursors: history.cursors.iter().cloned().collect(),
            ..Self::default()
        }
    }

    pub(crate) fn end_session(&mut self, session: SessionId, now: u64) -> Changes {
        self.remove_held_by(Some(session), now)
    }

    pub(crate) fn remove_orphans(&mut self, now: u64) -> Changes {
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
        let message = self.append(SYSTEM, BROADCAST, &content, false, &None, now);
        Changes {
            messages: vec![message],
            membership: true,
            ..Changes::default()
        }
    }

    fn append(
        &mut self,
        from: &str,
        to: &str,
        content: &str,
        human: bool,
        scope: &Scope,
        now: u64,
    ) -> Message {
        let message = Message {
            topic_id: scope.clone(),
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

    /// Moves the cursor of `name` in `scope` up to `message_id`, never back.
    fn advance(
        &mut self,
        scope: &Scope,
        name: &str,
        message_id: u64,
        changes: &mut Changes,
    ) -> u64 {
        let cursor = self.cursor(scope, name);
        if message_id <= cursor {
            return cursor;
        }
        match scope {
            None => {
                self.cursors.insert(name.to_owned(), message_id);
                changes.cursors = true;
            }
            Some(id) => {
                self.topic_cursors
                    .insert((name.to_owned(), id.clone()), message_id);
                changes.topic_cursors = true;
            }
        }
        message_id
    }

    fn cursor(&self, scope: &Scope, name: &str) -> u64 {
        match scope {
            None => self.cursors.get(name),
            Some(id) => self.topic_cursors.get(&(name.to_owned(), id.clone())),
        }
        .copied()
        .unwrap_or(0)
    }

    /// The newest message id of the whole room: the id sequence is the room's.
    fn last_id(&self) -> u64 {
        self.messages.last().map_or(0, |message| message.id)
    }

    /// The newest summary in `scope` that `matches`.
    fn latest_summary(&self, scope: &Scope, matches: impl Fn(&Summary) -> bool) -> Option<Summary> {
        self.summaries
            .iter()
            .rev()
            .find(|s| &s.topic_id == scope && matches(s))
            .cloned()
    }

    pub(crate) fn topic_cursor_list(&self) -> Vec<(String, String, u64)> {
        self.topic_cursors
            .iter()
            .map(|((name, topic), id)| (name.clone(), topic.clone(), *id))
            .collect()
    }

    pub(crate) fn participants(&self) -> Vec<Participant> {
        self.members.values().map(|(p, _)| p.clone()).collect()
    }

    pub(crate) fn names_held_by(&self, session: SessionId) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, (_, holder))| *holder == Some(session))
            .map(|(name, _)| name.clone())
            .collect()
    }
}
