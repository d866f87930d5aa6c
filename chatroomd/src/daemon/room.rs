//! The room: its participants, messages, summaries and cursors, and the contract's rules over them.
//!
//! This is the pure core of the daemon. It does no I/O, reads no clock and spawns nothing: the
//! owner passes the time in, and persists the [`Changes`] a call returns before its reply leaves.
//! Reads cost O(log n + result) at any size, because the messages are kept in id order beside
//! indexes of who can see them; nothing here scans the whole room.

use std::collections::{BTreeMap, HashMap};

use crate::shared::time::format_ts;
use protocol::{
    Cursor, Handoff, Message, Participant, Refusal, Request, Response, RoomStatus, Summary, Unread,
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
/// Names nobody can send as or join as: they would be mistaken for the room itself or for everyone.
const RESERVED_NAMES: [&str; 2] = [SYSTEM, BROADCAST];
const MAX_NAME_CHARS: usize = 64;
const MAX_ROLE_CHARS: usize = 256;
const MAX_CONTENT_BYTES: usize = 64 * 1024;
const MAX_LIMIT: usize = 100;

/// What a handled request changed, for the store to persist before the reply leaves.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// Appended messages, in id order.
    pub messages: Vec<Message>,
    /// Appended summaries, in id order.
    pub summaries: Vec<Summary>,
    /// A participant was added or removed, or its role changed: participants.json must be
    /// durably rewritten.
    pub membership: bool,
    /// Only `last_seen` timestamps changed: participants.json may be rewritten lazily.
    pub last_seen: bool,
    /// A cursor moved: cursors.json must be durably rewritten.
    pub cursors: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.summaries.is_empty()
            && !self.membership
            && !self.last_seen
            && !self.cursors
    }

    /// Adds `other`, which happened after `self`.
    pub fn merge(&mut self, other: Changes) {
        self.messages.extend(other.messages);
        self.summaries.extend(other.summaries);
        self.membership |= other.membership;
        self.last_seen |= other.last_seen;
        self.cursors |= other.cursors;
    }

    /// Whether anything must be durable before the reply leaves (everything but `last_seen`).
    pub fn needs_sync(&self) -> bool {
        !self.messages.is_empty() || !self.summaries.is_empty() || self.membership || self.cursors
    }
}

/// The result of one request: the reply, and what it changed (nothing when refused).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub reply: Result<Response, Refusal>,
    pub changes: Changes,
}

/// The whole state of one chatroom.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub struct Room {
    /// Every message, in strictly increasing id order (a restored history may have gaps).
    messages: Vec<Message>,
    /// Positions in `messages` of the messages to `"all"`, ascending.
    broadcasts: Vec<usize>,
    /// Positions in `messages` of the direct messages, by recipient.
    direct: Index,
    /// Every summary, in strictly increasing id order.
    summaries: Vec<Summary>,
    /// Positions in `summaries`, by scope; the last of each list is that scope's latest.
    summaries_by_scope: Index,
    /// The participants by name, so that listing them is already sorted.
    members: BTreeMap<String, Member>,
    /// The last read message id by name; a missing name reads as 0.
    cursors: BTreeMap<String, u64>,
    /// What the batch in progress changed, while one is recorded ([`Room::begin`]).
    undo: Option<Undo>,
}

/// How to put the room back as it was when [`Room::begin`] was called: the counts of messages
/// and summaries then, and the value each participant and cursor had before its first change
/// since (`None`: it did not exist). Recording costs one entry per name changed, so a batch of
/// sends in a large room copies nothing but the senders.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
struct Undo {
    message_count: usize,
    summary_count: usize,
    members: BTreeMap<String, Option<Member>>,
    cursors: BTreeMap<String, Option<u64>>,
}

/// A participant and the session holding its name.
#[derive(Clone)]
#[cfg_attr(test, derive(PartialEq))]
struct Member {
    participant: Participant,
    /// `None` for a participant restored from disk that no session has joined as since.
    holder: Option<SessionId>,
}

/// Positions of records grouped by a key (a recipient or a scope), each list ascending.
///
/// A key with no positions left is removed, so an index after `truncate` is the one it was.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
struct Index(HashMap<String, Vec<usize>>);

impl Index {
    fn push(&mut self, key: &str, position: usize) {
        match self.0.get_mut(key) {
            Some(positions) => positions.push(position),
            None => {
                self.0.insert(key.to_owned(), vec![position]);
            }
        }
    }

    /// Removes `position`, which must be the last one pushed under `key`.
    fn pop(&mut self, key: &str, position: usize) {
        if let Some(positions) = self.0.get_mut(key) {
            let popped = positions.pop();
            debug_assert_eq!(popped, Some(position), "index out of step under {key:?}");
            if positions.is_empty() {
                self.0.remove(key);
            }
        }
    }

    fn get(&self, key: &str) -> &[usize] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
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
        let mut room = Self::new();
        for message in messages {
            room.push_message(message);
        }
        for summary in summaries {
            room.push_summary(summary);
        }
        for participant in participants {
            let member = Member {
                participant,
                holder: None,
            };
            room.members.insert(member.participant.name.clone(), member);
        }
        room.cursors = cursors.into_iter().collect();
        Ok(room)
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
            Request::SendMessage { name, content, to } => {
                self.send_message(session, &name, &content, &to, human, now)
            }
            Request::ReadSummaries { since_id, limit } => self.read_summaries(since_id, limit),
            Request::ReadMessages {
                since_id,
                limit,
                participant,
            } => self.read_messages(since_id, limit, &participant),
            Request::ListParticipants => Ok((
                Response::Participants(self.participants()),
                Changes::default(),
            )),
            Request::GetStatus => Ok((Response::Status(self.status()), Changes::default())),
            Request::GetCursor { name } => self.get_cursor(&name),
            Request::SetCursor { name, message_id } => {
                self.set_cursor(session, &name, message_id, now)
            }
            Request::ReadUnread {
                name,
                limit,
                mark_read,
            } => self.read_unread(session, &name, limit, mark_read, now),
            Request::WriteSummary {
                name,
                content,
                scope,
            } => self.write_summary(session, &name, &content, &scope, now),
            Request::ReadLatestSummary { scope } => self.read_latest_summary(&scope),
            Request::GetHandoff { name, recent_limit } => self.get_handoff(&name, recent_limit),
            Request::DaemonStatus => {
                Err(Refusal::not_allowed("daemon_status is not a room request"))
            }
            Request::Shutdown => Err(Refusal::not_allowed("shutdown is not a room request")),
            Request::Subscribe { .. } => {
                Err(Refusal::not_allowed("subscribe is not a room request"))
            }
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
        self.undo = Some(Undo {
            message_count: self.messages.len(),
            summary_count: self.summaries.len(),
            ..Undo::default()
        });
    }

    /// Keeps everything since [`Room::begin`] and stops recording.
    pub fn commit(&mut self) {
        self.undo = None;
    }

    /// Undoes everything since [`Room::begin`] — appended messages and summaries with their
    /// indexes, joins, leaves, role and `last_seen` changes, cursor moves — and stops recording.
    /// Without a recording it changes nothing.
    pub fn roll_back(&mut self) {
        let Some(undo) = self.undo.take() else {
            return;
        };
        self.truncate(undo.message_count, undo.summary_count);
        for (name, member) in undo.members {
            match member {
                Some(member) => self.members.insert(name, member),
                None => self.members.remove(&name),
            };
        }
        for (name, cursor) in undo.cursors {
            match cursor {
                Some(cursor) => self.cursors.insert(name, cursor),
                None => self.cursors.remove(&name),
            };
        }
    }

    /// Drops the messages and summaries beyond these counts, and every index entry with them.
    fn truncate(&mut self, message_count: usize, summary_count: usize) {
        while self.messages.len() > message_count {
            let Some(message) = self.messages.pop() else {
                break;
            };
            let position = self.messages.len();
            if message.to == BROADCAST {
                let popped = self.broadcasts.pop();
                debug_assert_eq!(popped, Some(position), "broadcast index out of step");
            } else {
                self.direct.pop(&message.to, position);
            }
        }
        while self.summaries.len() > summary_count {
            let Some(summary) = self.summaries.pop() else {
                break;
            };
            self.summaries_by_scope
                .pop(&summary.scope, self.summaries.len());
        }
    }

    /// Records the participant `name` as it is now, before its first change in a recording.
    fn save_member(&mut self, name: &str) {
        if let Some(undo) = &mut self.undo
            && !undo.members.contains_key(name)
        {
            undo.members
                .insert(name.to_owned(), self.members.get(name).cloned());
        }
    }

    /// Records the cursor of `name` as it is now, before its first change in a recording.
    fn save_cursor(&mut self, name: &str) {
        if let Some(undo) = &mut self.undo
            && !undo.cursors.contains_key(name)
        {
            undo.cursors
                .insert(name.to_owned(), self.cursors.get(name).copied());
        }
    }

    /// Whether participants restored from disk are still held by no session.
    pub fn has_orphans(&self) -> bool {
        self.members.values().any(|member| member.holder.is_none())
    }

    /// All participants, sorted by name.
    pub fn participants(&self) -> Vec<Participant> {
        self.members
            .values()
            .map(|member| member.participant.clone())
            .collect()
    }

    /// All stored cursors, sorted by name.
    pub fn cursors(&self) -> Vec<(String, u64)> {
        self.cursors
            .iter()
            .map(|(name, last_read_id)| (name.clone(), *last_read_id))
            .collect()
    }

    /// The names `session` holds, sorted.
    pub fn names_held_by(&self, session: SessionId) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, member)| member.holder == Some(session))
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    pub fn summary_count(&self) -> usize {
        self.summaries.len()
    }

    /// The newest message's id, or 0 in an empty room.
    pub fn last_message_id(&self) -> u64 {
        self.messages.last().map_or(0, |message| message.id)
    }

    /// The newest message's timestamp, or `None` in an empty room.
    pub fn last_activity_ts(&self) -> Option<String> {
        self.messages.last().map(|message| message.ts.clone())
    }

    fn join(&mut self, session: SessionId, name: &str, role: &str, now: u64) -> Handled {
        let name = holder_name(name)?;
        let role = role_param(role)?;
        let holder = self.members.get(name).map(|member| member.holder);
        if let Some(Some(holder)) = holder
            && holder != session
        {
            return Err(Refusal::conflict(format!(
                "name '{name}' is already active in another session"
            )));
        }
        self.save_member(name);
        match self.members.get_mut(name) {
            Some(member) if holder == Some(Some(session)) => {
                member.participant.role = role.to_owned();
                member.participant.last_seen = format_ts(now);
            }
            // New, or an orphan held by nobody: whoever joins as it starts afresh.
            _ => {
                let ts = format_ts(now);
                let participant = Participant {
                    name: name.to_owned(),
                    role: role.to_owned(),
                    joined_at: ts.clone(),
                    last_seen: ts,
                };
                let member = Member {
                    participant,
                    holder: Some(session),
                };
                self.members.insert(name.to_owned(), member);
            }
        }
        // A rejoin may only refresh `last_seen`, but the caller asked to be registered: make it
        // durable every time rather than reason about which fields moved.
        let changes = Changes {
            membership: true,
            ..Changes::default()
        };
        Ok((Response::Participants(self.participants()), changes))
    }

    fn leave(&mut self, session: SessionId, name: &str, now: u64) -> Handled {
        let name = holder_name(name)?;
        match self.members.get(name).map(|member| member.holder) {
            None => Ok((Response::Left(false), Changes::default())),
            Some(Some(holder)) if holder != session => Err(Refusal::conflict(format!(
                "name '{name}' is held by another session"
            ))),
            // Held by this session, or an orphan nobody holds.
            Some(_) => {
                let changes = self.remove_member(name, now);
                Ok((Response::Left(true), changes))
            }
        }
    }

    fn send_message(
        &mut self,
        session: SessionId,
        name: &str,
        content: &str,
        to: &str,
        human: bool,
        now: u64,
    ) -> Handled {
        let name = holder_name(name)?;
        let content = content_param(content)?;
        let to = name_param("to", to)?;
        self.check_not_held_elsewhere(session, name)?;
        let message = self.append_message(name, to, content, human, now);
        let changes = Changes {
            last_seen: self.touch(name, now),
            messages: vec![message],
            ..Changes::default()
        };
        Ok((Response::Id(changes.messages[0].id), changes))
    }

    fn read_messages(&self, since_id: i64, limit: i64, participant: &str) -> Handled {
        let since_id = non_negative("since_id", since_id)?;
        let limit = limit_param("limit", limit)?;
        let participant = optional_name_param("participant", participant)?;
        let start = self.first_position_after(since_id);
        let messages = match participant {
            Some(participant) => {
                let (broadcasts, direct) = self.visible_after(participant, start);
                self.collect(merge_oldest(broadcasts, direct, limit))
            }
            None => {
                let end = self.messages.len().min(start + limit);
                self.messages[start..end].to_vec()
            }
        };
        Ok((Response::Messages(messages), Changes::default()))
    }

    fn status(&self) -> RoomStatus {
        RoomStatus {
            participant_count: self.members.len() as u64,
            message_count: self.messages.len() as u64,
            last_activity_ts: self.last_activity_ts(),
        }
    }

    fn get_cursor(&self, name: &str) -> Handled {
        let name = name_param("name", name)?;
        let cursor = Cursor {
            name: name.to_owned(),
            last_read_id: self.cursor(name),
        };
        Ok((Response::Cursor(cursor), Changes::default()))
    }

    fn set_cursor(&mut self, session: SessionId, name: &str, message_id: i64, now: u64) -> Handled {
        let name = name_param("name", name)?;
        let message_id = non_negative("message_id", message_id)?;
        let latest = self.last_message_id();
        if message_id > latest {
            return Err(Refusal::invalid(format!(
                "message_id cannot exceed the latest message id ({latest})"
            )));
        }
        self.check_not_held_elsewhere(session, name)?;
        let mut changes = Changes::default();
        let last_read_id = self.advance_cursor(name, message_id, &mut changes);
        changes.last_seen = self.touch(name, now);
        let cursor = Cursor {
            name: name.to_owned(),
            last_read_id,
        };
        Ok((Response::Cursor(cursor), changes))
    }

    fn read_unread(
        &mut self,
        session: SessionId,
        name: &str,
        limit: i64,
        mark_read: bool,
        now: u64,
    ) -> Handled {
        let name = name_param("name", name)?;
        let limit = limit_param("limit", limit)?;
        // Acknowledging moves the holder's cursor; a peek changes nothing, so anyone may peek.
        let held_elsewhere = self.check_not_held_elsewhere(session, name);
        if mark_read {
            held_elsewhere.clone()?;
        }
        let cursor = self.cursor(name);
        let (broadcasts, direct) = self.visible_after(name, self.first_position_after(cursor));
        let messages = self.collect(merge_oldest(broadcasts, direct, limit));
        let mut changes = Changes::default();
        let last_read_id = match messages.last() {
            Some(newest) if mark_read => self.advance_cursor(name, newest.id, &mut changes),
            _ => cursor,
        };
        // Someone else peeking is no sign of life from the holder.
        changes.last_seen = held_elsewhere.is_ok() && self.touch(name, now);
        let unread = Unread {
            name: name.to_owned(),
            last_read_id,
            messages,
        };
        Ok((Response::Unread(unread), changes))
    }

    fn write_summary(
        &mut self,
        session: SessionId,
        name: &str,
        content: &str,
        scope: &str,
        now: u64,
    ) -> Handled {
        let name = holder_name(name)?;
        let content = content_param(content)?;
        let scope = name_param("scope", scope)?;
        self.check_not_held_elsewhere(session, name)?;
        let summary = Summary {
            id: self.summaries.last().map_or(0, |summary| summary.id) + 1,
            ts: format_ts(now),
            from: name.to_owned(),
            scope: scope.to_owned(),
            content: content.to_owned(),
        };
        let id = summary.id;
        self.push_summary(summary.clone());
        let changes = Changes {
            summaries: vec![summary],
            last_seen: self.touch(name, now),
            ..Changes::default()
        };
        Ok((Response::Id(id), changes))
    }

    fn read_summaries(&self, since_id: i64, limit: i64) -> Handled {
        let since_id = non_negative("since_id", since_id)?;
        let limit = limit_param("limit", limit)?;
        let start = self
            .summaries
            .partition_point(|summary| summary.id <= since_id);
        let end = self.summaries.len().min(start + limit);
        Ok((
            Response::Summaries(self.summaries[start..end].to_vec()),
            Changes::default(),
        ))
    }

    fn read_latest_summary(&self, scope: &str) -> Handled {
        let scope = name_param("scope", scope)?;
        let summary = self
            .latest_summary_position(scope)
            .map(|position| self.summaries[position].clone());
        Ok((Response::Summary(summary), Changes::default()))
    }

    fn get_handoff(&self, name: &str, recent_limit: i64) -> Handled {
        let name = optional_name_param("name", name)?;
        let recent_limit = limit_param("recent_limit", recent_limit)?;
        let (cursor, unread_count) = match name {
            Some(name) => {
                let cursor = self.cursor(name);
                let (broadcasts, direct) =
                    self.visible_after(name, self.first_position_after(cursor));
                (Some(cursor), Some((broadcasts.len() + direct.len()) as u64))
            }
            None => (None, None),
        };
        let latest_all = self.latest_summary_position(BROADCAST);
        let latest_own = name.and_then(|name| self.latest_summary_position(name));
        // Positions follow ids, so the larger position is the newer summary.
        let latest_summary = latest_all
            .max(latest_own)
            .map(|position| self.summaries[position].clone());
        let recent_messages = match name {
            Some(name) => {
                let (broadcasts, direct) = self.visible_after(name, 0);
                self.collect(merge_newest(broadcasts, direct, recent_limit))
            }
            None => {
                let start = self.messages.len().saturating_sub(recent_limit);
                self.messages[start..].to_vec()
            }
        };
        let handoff = Handoff {
            participants: self.participants(),
            latest_message_id: self.last_message_id(),
            cursor,
            unread_count,
            latest_summary,
            recent_messages,
        };
        Ok((Response::Handoff(handoff), Changes::default()))
    }

    /// Appends a new message from `from` with the next id.
    fn append_message(
        &mut self,
        from: &str,
        to: &str,
        content: &str,
        human: bool,
        now: u64,
    ) -> Message {
        let message = Message {
            id: self.last_message_id() + 1,
            ts: format_ts(now),
            from: from.to_owned(),
            to: to.to_owned(),
            content: content.to_owned(),
            human,
        };
        self.push_message(message.clone());
        message
    }

    fn push_message(&mut self, message: Message) {
        let position = self.messages.len();
        if message.to == BROADCAST {
            self.broadcasts.push(position);
        } else {
            self.direct.push(&message.to, position);
        }
        self.messages.push(message);
    }

    fn push_summary(&mut self, summary: Summary) {
        self.summaries_by_scope
            .push(&summary.scope, self.summaries.len());
        self.summaries.push(summary);
    }

    /// Removes every member whose holder matches, in name order, each with a system message.
    fn remove_members(&mut self, leaves: impl Fn(Option<SessionId>) -> bool, now: u64) -> Changes {
        let names: Vec<String> = self
            .members
            .iter()
            .filter(|(_, member)| leaves(member.holder))
            .map(|(name, _)| name.clone())
            .collect();
        let mut changes = Changes::default();
        for name in names {
            changes.merge(self.remove_member(&name, now));
        }
        changes
    }

    /// Removes `name` from the participants and announces it to everyone.
    fn remove_member(&mut self, name: &str, now: u64) -> Changes {
        self.save_member(name);
        self.members.remove(name);
        let content = format!("{name} left the chatroom");
        let message = self.append_message(SYSTEM, BROADCAST, &content, false, now);
        Changes {
            messages: vec![message],
            membership: true,
            ..Changes::default()
        }
    }

    /// Refuses to act as `name` while another live session holds it: only its holder speaks,
    /// summarises or moves its cursor under it. A name nobody holds (never joined, or restored
    /// from disk with no session) stays usable by anyone, as in v1.
    fn check_not_held_elsewhere(&self, session: SessionId, name: &str) -> Result<(), Refusal> {
        match self.members.get(name).and_then(|member| member.holder) {
            Some(holder) if holder != session => Err(Refusal::conflict(format!(
                "name '{name}' is held by another session"
            ))),
            _ => Ok(()),
        }
    }

    /// Refreshes the `last_seen` of `name` if it is a participant; true if the value changed.
    fn touch(&mut self, name: &str, now: u64) -> bool {
        let ts = format_ts(now);
        match self.members.get(name) {
            Some(member) if member.participant.last_seen != ts => {}
            _ => return false,
        }
        self.save_member(name);
        if let Some(member) = self.members.get_mut(name) {
            member.participant.last_seen = ts;
        }
        true
    }

    /// The cursor of `name` (0 when none is stored); `name` as the room stores it (trimmed).
    pub fn cursor(&self, name: &str) -> u64 {
        self.cursors.get(name).copied().unwrap_or(0)
    }

    /// The messages visible to `name` with `after < id <= through`, ascending: what a
    /// `read_unread` that moved the cursor from `after` to `through` returned, for answering a
    /// repeat of it the same way.
    pub fn visible_between(&self, name: &str, after: u64, through: u64) -> Vec<Message> {
        let (start, end) = (
            self.first_position_after(after),
            self.first_position_after(through),
        );
        let (broadcasts, direct) = self.visible_after(name, start);
        let before_end =
            |positions: &[usize]| positions.partition_point(|position| *position < end);
        let (broadcasts, direct) = (
            &broadcasts[..before_end(broadcasts)],
            &direct[..before_end(direct)],
        );
        self.collect(merge_oldest(broadcasts, direct, usize::MAX))
    }

    /// The id of the newest summary, 0 when there is none.
    pub fn last_summary_id(&self) -> u64 {
        self.summaries.last().map_or(0, |summary| summary.id)
    }

    /// Moves the cursor of `name` up to `message_id`, never back; returns the cursor after.
    fn advance_cursor(&mut self, name: &str, message_id: u64, changes: &mut Changes) -> u64 {
        let cursor = self.cursor(name);
        if message_id <= cursor {
            return cursor;
        }
        self.save_cursor(name);
        self.cursors.insert(name.to_owned(), message_id);
        changes.cursors = true;
        message_id
    }

    /// The position of the first message whose id is above `id`.
    fn first_position_after(&self, id: u64) -> usize {
        self.messages.partition_point(|message| message.id <= id)
    }

    /// The positions, from `start` on, of the messages visible to `name`: the broadcasts and the
    /// direct messages to it, as two ascending lists.
    fn visible_after(&self, name: &str, start: usize) -> (&[usize], &[usize]) {
        (
            from_position(&self.broadcasts, start),
            from_position(self.direct.get(name), start),
        )
    }

    fn latest_summary_position(&self, scope: &str) -> Option<usize> {
        self.summaries_by_scope.get(scope).last().copied()
    }

    fn collect(&self, positions: Vec<usize>) -> Vec<Message> {
        positions
            .into_iter()
            .map(|position| self.messages[position].clone())
            .collect()
    }
}

impl std::fmt::Debug for Room {
    /// Counts only: a room may hold a million messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("messages", &self.messages.len())
            .field("summaries", &self.summaries.len())
            .field("participants", &self.members.len())
            .field("cursors", &self.cursors.len())
            .finish()
    }
}

/// The tail of an ascending position list from `start` on.
fn from_position(positions: &[usize], start: usize) -> &[usize] {
    &positions[positions.partition_point(|&position| position < start)..]
}

/// The `limit` smallest positions of two disjoint ascending lists, ascending.
fn merge_oldest(first: &[usize], second: &[usize], limit: usize) -> Vec<usize> {
    let mut merged = Vec::with_capacity(limit.min(first.len() + second.len()));
    let (mut first, mut second) = (first.iter().peekable(), second.iter().peekable());
    while merged.len() < limit {
        let next = match (first.peek().copied(), second.peek().copied()) {
            (Some(a), Some(b)) if a < b => first.next(),
            (_, Some(_)) => second.next(),
            (Some(_), None) => first.next(),
            (None, None) => None,
        };
        let Some(&position) = next else { break };
        merged.push(position);
    }
    merged
}

/// The `limit` largest positions of two disjoint ascending lists, ascending.
fn merge_newest(first: &[usize], second: &[usize], limit: usize) -> Vec<usize> {
    let mut merged = Vec::with_capacity(limit.min(first.len() + second.len()));
    let (mut first, mut second) = (
        first.iter().rev().peekable(),
        second.iter().rev().peekable(),
    );
    while merged.len() < limit {
        let next = match (first.peek().copied(), second.peek().copied()) {
            (Some(a), Some(b)) if a > b => first.next(),
            (_, Some(_)) => second.next(),
            (Some(_), None) => first.next(),
            (None, None) => None,
        };
        let Some(&position) = next else { break };
        merged.push(position);
    }
    merged.reverse();
    merged
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

/// A required string, trimmed; refused when blank.
fn required<'a>(param: &str, value: &'a str) -> Result<&'a str, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Refusal::invalid(format!("{param} must not be blank")));
    }
    Ok(value)
}

/// Refuses text longer than `max_chars` characters or holding control characters.
fn check_text(param: &str, value: &str, max_chars: usize) -> Result<(), Refusal> {
    if value.chars().nth(max_chars).is_some() {
        return Err(Refusal::invalid(format!(
            "{param} must be at most {max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Refusal::invalid(format!(
            "{param} must not contain control characters"
        )));
    }
    Ok(())
}

/// A required name-like parameter (`name`, `to`, `scope`), trimmed and checked.
fn name_param<'a>(param: &str, value: &'a str) -> Result<&'a str, Refusal> {
    let value = required(param, value)?;
    check_text(param, value, MAX_NAME_CHARS)?;
    Ok(value)
}

/// An optional name-like parameter (`participant`, the handoff's `name`): blank means none.
fn optional_name_param<'a>(param: &str, value: &'a str) -> Result<Option<&'a str>, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    check_text(param, value, MAX_NAME_CHARS)?;
    Ok(Some(value))
}

/// The `name` someone joins, leaves, sends or writes as: a name that is not reserved.
fn holder_name(value: &str) -> Result<&str, Refusal> {
    let value = name_param("name", value)?;
    if RESERVED_NAMES.contains(&value) {
        return Err(Refusal::invalid(format!("name '{value}' is reserved")));
    }
    Ok(value)
}

fn role_param(value: &str) -> Result<&str, Refusal> {
    let value = required("role", value)?;
    check_text("role", value, MAX_ROLE_CHARS)?;
    Ok(value)
}

/// A required `content`: any text, newlines included, of at most 64 KiB once trimmed.
fn content_param(value: &str) -> Result<&str, Refusal> {
    let value = required("content", value)?;
    if value.len() > MAX_CONTENT_BYTES {
        return Err(Refusal::invalid(format!(
            "content must be at most 64 KiB ({MAX_CONTENT_BYTES} bytes)"
        )));
    }
    Ok(value)
}

/// `limit` or `recent_limit`: 1..=100, never silently capped.
fn limit_param(param: &str, value: i64) -> Result<usize, Refusal> {
    match usize::try_from(value) {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(Refusal::invalid(format!(
            "{param} must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// `since_id` or `message_id`: >= 0.
fn non_negative(param: &str, value: i64) -> Result<u64, Refusal> {
    u64::try_from(value).map_err(|_| Refusal::invalid(format!("{param} must be >= 0")))
}

/// Validates the participant of a subscription like `read_messages`' `participant`: `None` when
/// blank (every message), else the trimmed name.
pub fn subscription_filter(participant: &str) -> Result<Option<String>, Refusal> {
    optional_name_param("participant", participant).map(|name| name.map(str::to_owned))
}

/// Whether `message` is visible to `participant` (contract, "Words").
pub fn is_visible_to(message: &Message, participant: &str) -> bool {
    message.to == BROADCAST || message.to == participant
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::RefusalKind;

    /// 2024-02-29T12:34:56Z, a leap day.
    const T0: u64 = 1_709_210_096;
    const TS0: &str = "2024-02-29T12:34:56Z";
    const ALICE: SessionId = 1;
    const BOB: SessionId = 2;
    const OTHER: SessionId = 3;

    fn join(name: &str, role: &str) -> Request {
        Request::Join {
            name: name.into(),
            role: role.into(),
        }
    }
    fn leave(name: &str) -> Request {
        Request::Leave { name: name.into() }
    }
    fn send(name: &str, content: &str, to: &str) -> Request {
        Request::SendMessage {
            name: name.into(),
            content: content.into(),
            to: to.into(),
        }
    }
    fn read(since_id: i64, limit: i64, participant: &str) -> Request {
        Request::ReadMessages {
            since_id,
            limit,
            participant: participant.into(),
        }
    }
    fn get_cursor(name: &str) -> Request {
        Request::GetCursor { name: name.into() }
    }
    fn set_cursor(name: &str, message_id: i64) -> Request {
        Request::SetCursor {
            name: name.into(),
            message_id,
        }
    }
    fn unread(name: &str, limit: i64, mark_read: bool) -> Request {
        Request::ReadUnread {
            name: name.into(),
            limit,
            mark_read,
        }
    }
    fn summarize(name: &str, content: &str, scope: &str) -> Request {
        Request::WriteSummary {
            name: name.into(),
            content: content.into(),
            scope: scope.into(),
        }
    }
    fn latest_summary(scope: &str) -> Request {
        Request::ReadLatestSummary {
            scope: scope.into(),
        }
    }
    fn handoff(name: &str, recent_limit: i64) -> Request {
        Request::GetHandoff {
            name: name.into(),
            recent_limit,
        }
    }

    /// Handles `request` at `now` and expects it to succeed.
    fn accept_at(
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
    fn accept(room: &mut Room, session: SessionId, request: Request) -> (Response, Changes) {
        accept_at(room, session, request, T0)
    }

    /// Handles `request` and expects a refusal that changed nothing at all.
    fn refuse(room: &mut Room, session: SessionId, request: Request) -> Refusal {
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

    fn messages_of(reply: Response) -> Vec<Message> {
        match reply {
            Response::Messages(messages) => messages,
            Response::Unread(unread) => unread.messages,
            Response::Handoff(handoff) => handoff.recent_messages,
            other => panic!("not a list of messages: {other:?}"),
        }
    }
    fn ids(messages: &[Message]) -> Vec<u64> {
        messages.iter().map(|message| message.id).collect()
    }
    /// The ids of the messages a read returns (read_messages, read_unread or get_handoff).
    fn read_ids(room: &mut Room, request: Request) -> Vec<u64> {
        ids(&messages_of(accept(room, OTHER, request).0))
    }
    fn unread_of(room: &mut Room, request: Request) -> Unread {
        match accept(room, OTHER, request).0 {
            Response::Unread(unread) => unread,
            other => panic!("not unread: {other:?}"),
        }
    }
    fn handoff_of(room: &mut Room, request: Request) -> Handoff {
        match accept(room, OTHER, request).0 {
            Response::Handoff(handoff) => handoff,
            other => panic!("not a handoff: {other:?}"),
        }
    }
    fn cursor_of(room: &mut Room, name: &str) -> u64 {
        match accept(room, OTHER, get_cursor(name)).0 {
            Response::Cursor(cursor) => cursor.last_read_id,
            other => panic!("not a cursor: {other:?}"),
        }
    }
    fn summary_of(room: &mut Room, scope: &str) -> Option<Summary> {
        match accept(room, OTHER, latest_summary(scope)).0 {
            Response::Summary(summary) => summary,
            other => panic!("not a summary: {other:?}"),
        }
    }
    fn names(participants: &[Participant]) -> Vec<&str> {
        participants
            .iter()
            .map(|participant| participant.name.as_str())
            .collect()
    }

    /// alice (session ALICE) and bob (session BOB) joined; five messages, two summaries, a cursor.
    ///
    /// 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol.
    fn populated_room() -> Room {
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

    #[test]
    fn invalid_arguments_are_refused_with_exact_messages_and_change_nothing() {
        let long = "x".repeat(65);
        let long_wide = "é".repeat(65);
        let long_role = "r".repeat(257);
        let long_content = "c".repeat(65_537);
        // 32,769 two-byte characters: few characters, too many bytes.
        let wide_content = "é".repeat(32_769);
        let cases: Vec<(Request, &str)> = vec![
            // join
            (join("", "dev"), "name must not be blank"),
            (join(" \t\n ", "dev"), "name must not be blank"),
            (join("", ""), "name must not be blank"),
            (join("carol", "  "), "role must not be blank"),
            (join(&long, "dev"), "name must be at most 64 characters"),
            (
                join(&long_wide, "dev"),
                "name must be at most 64 characters",
            ),
            (
                join("ca\u{7}rol", "dev"),
                "name must not contain control characters",
            ),
            (
                join("ca\nrol", "dev"),
                "name must not contain control characters",
            ),
            (
                join("carol", &long_role),
                "role must be at most 256 characters",
            ),
            (
                join("carol", "de\u{1b}v"),
                "role must not contain control characters",
            ),
            (join("system", "dev"), "name 'system' is reserved"),
            (join(" all ", "dev"), "name 'all' is reserved"),
            // leave
            (leave(""), "name must not be blank"),
            (leave(&long), "name must be at most 64 characters"),
            (leave("a\u{0}b"), "name must not contain control characters"),
            (leave("system"), "name 'system' is reserved"),
            (leave("all"), "name 'all' is reserved"),
            // send_message
            (send("", "hi", "all"), "name must not be blank"),
            (send("alice", " \n ", "all"), "content must not be blank"),
            (send("alice", "hi", "  "), "to must not be blank"),
            (
                send(&long, "hi", "all"),
                "name must be at most 64 characters",
            ),
            (
                send("alice", "hi", &long),
                "to must be at most 64 characters",
            ),
            (
                send("alice", "hi", "b\u{7f}ob"),
                "to must not contain control characters",
            ),
            (
                send("al\u{9}ice", "hi", "all"),
                "name must not contain control characters",
            ),
            (send("system", "hi", "all"), "name 'system' is reserved"),
            (send("all", "hi", "all"), "name 'all' is reserved"),
            (
                send("alice", &long_content, "all"),
                "content must be at most 64 KiB (65536 bytes)",
            ),
            (
                send("alice", &wide_content, "all"),
                "content must be at most 64 KiB (65536 bytes)",
            ),
            // read_messages
            (read(-1, 50, ""), "since_id must be >= 0"),
            (read(0, 0, ""), "limit must be between 1 and 100"),
            (read(0, 101, ""), "limit must be between 1 and 100"),
            (read(0, -5, ""), "limit must be between 1 and 100"),
            (
                read(0, 50, &long),
                "participant must be at most 64 characters",
            ),
            (
                read(0, 50, "b\u{1}ob"),
                "participant must not contain control characters",
            ),
            // get_cursor
            (get_cursor(" "), "name must not be blank"),
            (get_cursor(&long), "name must be at most 64 characters"),
            (
                get_cursor("a\u{85}b"),
                "name must not contain control characters",
            ),
            // set_cursor
            (set_cursor("", 1), "name must not be blank"),
            (set_cursor("alice", -1), "message_id must be >= 0"),
            (
                set_cursor("alice", 6),
                "message_id cannot exceed the latest message id (5)",
            ),
            (set_cursor(&long, 1), "name must be at most 64 characters"),
            // read_unread
            (unread("", 50, true), "name must not be blank"),
            (unread("alice", 0, true), "limit must be between 1 and 100"),
            (
                unread("alice", 101, false),
                "limit must be between 1 and 100",
            ),
            (
                unread("al\rice", 50, true),
                "name must not contain control characters",
            ),
            // write_summary
            (summarize("", "done", "all"), "name must not be blank"),
            (summarize("alice", "", "all"), "content must not be blank"),
            (summarize("alice", "done", " "), "scope must not be blank"),
            (
                summarize("system", "done", "all"),
                "name 'system' is reserved",
            ),
            (summarize("all", "done", "all"), "name 'all' is reserved"),
            (
                summarize("alice", "done", &long),
                "scope must be at most 64 characters",
            ),
            (
                summarize("alice", "done", "a\u{2}ll"),
                "scope must not contain control characters",
            ),
            (
                summarize("alice", &long_content, "all"),
                "content must be at most 64 KiB (65536 bytes)",
            ),
            // read_latest_summary
            (latest_summary(""), "scope must not be blank"),
            (latest_summary(&long), "scope must be at most 64 characters"),
            (
                latest_summary("a\u{3}"),
                "scope must not contain control characters",
            ),
            // get_handoff
            (
                handoff("alice", 0),
                "recent_limit must be between 1 and 100",
            ),
            (handoff("", 101), "recent_limit must be between 1 and 100"),
            (handoff(&long, 10), "name must be at most 64 characters"),
            (
                handoff("a\u{4}", 10),
                "name must not contain control characters",
            ),
        ];
        for (request, expected) in cases {
            let mut room = populated_room();
            let refusal = refuse(&mut room, ALICE, request.clone());
            assert_eq!(refusal, Refusal::invalid(expected), "{request:?}");
        }
    }

    #[test]
    fn boundary_values_are_accepted() {
        let name64 = "x".repeat(64);
        let wide64 = "é".repeat(64);
        let role256 = "r".repeat(256);
        let content64k = "c".repeat(65_536);
        // Padding is trimmed before the length is checked.
        let padded64k = format!("  {content64k}\n");
        let cases = [
            join(&name64, "dev"),
            join(&wide64, &role256),
            join("System", "dev"),
            send("alice", &content64k, "all"),
            send("alice", &padded64k, &name64),
            send("alice", "line one\n\tline two", "all"),
            send("alice", "to the room itself", "system"),
            read(0, 1, ""),
            read(0, 100, "   "),
            read(5, 50, "alice"),
            read(1_000, 50, "alice"),
            set_cursor("alice", 0),
            set_cursor("alice", 5),
            set_cursor("all", 5),
            unread("alice", 1, true),
            unread("alice", 100, false),
            summarize("alice", "x", &name64),
            latest_summary(&name64),
            handoff("", 1),
            handoff("  ", 100),
            handoff("alice", 100),
            get_cursor("nobody"),
            Request::ListParticipants,
            Request::GetStatus,
        ];
        for request in cases {
            accept(&mut populated_room(), ALICE, request);
        }
    }

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
    fn every_string_is_trimmed_before_use() {
        let mut room = Room::new();
        let (reply, _) = accept(&mut room, ALICE, join("  alice\t", " dev  "));
        let expected = Participant {
            name: "alice".into(),
            role: "dev".into(),
            joined_at: TS0.into(),
            last_seen: TS0.into(),
        };
        assert_eq!(reply, Response::Participants(vec![expected]));
        let (_, changes) = accept(&mut room, BOB, send(" bob ", "\n hi there \n", "  alice  "));
        let message = Message {
            id: 1,
            ts: TS0.into(),
            from: "bob".into(),
            to: "alice".into(),
            content: "hi there".into(),
            human: false,
        };
        assert_eq!(changes.messages, vec![message.clone()]);
        assert_eq!(read_ids(&mut room, read(0, 50, " alice ")), vec![1]);
        assert_eq!(
            ids(&messages_of(
                accept(&mut room, ALICE, unread("\talice", 50, true)).0
            )),
            vec![1]
        );
        assert_eq!(cursor_of(&mut room, " alice "), 1);
        accept(&mut room, BOB, summarize(" bob ", " done ", " alice "));
        let summary = summary_of(&mut room, "  alice ").expect("a summary for alice");
        assert_eq!(
            (summary.from.as_str(), summary.scope.as_str()),
            ("bob", "alice")
        );
        assert_eq!(summary.content, "done");
        let (reply, changes) = accept(&mut room, ALICE, leave("  alice  "));
        assert_eq!(reply, Response::Left(true));
        assert_eq!(changes.messages[0].content, "alice left the chatroom");
    }

    #[test]
    fn join_registers_updates_and_refuses_names_held_elsewhere() {
        let mut room = Room::new();
        let (reply, changes) = accept_at(&mut room, ALICE, join("bob", "dev"), T0);
        assert_eq!(
            changes,
            Changes {
                membership: true,
                ..Changes::default()
            }
        );
        assert!(matches!(reply, Response::Participants(ref list) if names(list) == ["bob"]));
        let (reply, _) = accept_at(&mut room, BOB, join("alice", "lead"), T0 + 1);
        let Response::Participants(list) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(names(&list), ["alice", "bob"], "sorted by name");

        // The same session joining again updates role and last_seen, and keeps joined_at.
        let (_, changes) = accept_at(&mut room, BOB, join("alice", "reviewer"), T0 + 100);
        assert_eq!(
            changes,
            Changes {
                membership: true,
                ..Changes::default()
            }
        );
        let alice = &room.participants()[0];
        assert_eq!(alice.role, "reviewer");
        assert_eq!(alice.joined_at, format_ts(T0 + 1));
        assert_eq!(alice.last_seen, format_ts(T0 + 100));

        // One session may hold several names; another session may hold none of them.
        let refusal = refuse(&mut room, OTHER, join("alice", "dev"));
        assert_eq!(
            refusal,
            Refusal::conflict("name 'alice' is already active in another session")
        );
        assert_eq!(room.names_held_by(BOB), ["alice"]);
        assert_eq!(room.names_held_by(ALICE), ["bob"]);
        assert_eq!(room.message_count(), 0, "join writes no message");

        // Free again after leave, and after the holder's session ends.
        accept(&mut room, BOB, leave("alice"));
        accept_at(&mut room, OTHER, join("alice", "dev"), T0 + 200);
        assert_eq!(room.names_held_by(OTHER), ["alice"]);
        assert_eq!(room.participants()[0].joined_at, format_ts(T0 + 200));
        room.end_session(ALICE, T0 + 300);
        accept(&mut room, OTHER, join("bob", "dev"));
        assert_eq!(room.names_held_by(OTHER), ["alice", "bob"]);
    }

    #[test]
    fn leave_removes_own_names_with_a_system_message() {
        let mut room = populated_room();
        let (reply, changes) = accept_at(&mut room, ALICE, leave("alice"), T0 + 5);
        assert_eq!(reply, Response::Left(true));
        let expected = Message {
            id: 6,
            ts: format_ts(T0 + 5),
            from: "system".into(),
            to: "all".into(),
            content: "alice left the chatroom".into(),
            human: false,
        };
        assert_eq!(
            changes,
            Changes {
                messages: vec![expected.clone()],
                membership: true,
                ..Changes::default()
            }
        );
        assert_eq!(names(&room.participants()), ["bob"]);
        assert_eq!(
            messages_of(accept(&mut room, OTHER, read(5, 50, "")).0),
            vec![expected]
        );

        // Nobody holds it (any more): false, and nothing written.
        for name in ["alice", "nobody"] {
            let (reply, changes) = accept(&mut room, ALICE, leave(name));
            assert_eq!(reply, Response::Left(false));
            assert!(changes.is_empty());
        }
        assert_eq!(room.message_count(), 6);

        // Held by another session: refused, and bob stays.
        let refusal = refuse(&mut room, ALICE, leave("bob"));
        assert_eq!(
            refusal,
            Refusal::conflict("name 'bob' is held by another session")
        );
        assert_eq!(names(&room.participants()), ["bob"]);
    }

    #[test]
    fn a_name_held_by_another_session_cannot_be_written_as() {
        // alice is held by ALICE, bob by BOB; carol is held by nobody.
        let held = "name 'alice' is held by another session";
        let writes = [
            send("alice", "i am alice", "all"),
            summarize("alice", "says alice", "all"),
            set_cursor("alice", 5),
            unread("alice", 50, true),
        ];
        for request in writes.clone() {
            let mut room = populated_room();
            assert_eq!(
                refuse(&mut room, BOB, request.clone()),
                Refusal::conflict(held),
                "{request:?}"
            );
            // A person (`chatroomd send --as alice`) is refused the same way.
            let before = room.clone();
            let caller = Caller {
                session: OTHER,
                human: true,
            };
            let outcome = room.handle_as(caller, request.clone(), T0 + 60);
            assert_eq!(outcome.reply, Err(Refusal::conflict(held)), "{request:?}");
            assert!(outcome.changes.is_empty() && room == before, "{request:?}");
            // Its holder may, and so may anyone once nobody holds it.
            accept(&mut room, ALICE, request.clone());
            accept(&mut room, ALICE, leave("alice"));
            accept(&mut room, BOB, request);
        }
        // Bad arguments are still named first.
        let mut room = populated_room();
        assert_eq!(
            refuse(&mut room, BOB, send("alice", " ", "all")),
            Refusal::invalid("content must not be blank")
        );
        // A name nobody holds stays usable by anyone, as in v1.
        for request in [
            send("carol", "hi", "all"),
            summarize("carol", "notes", "all"),
            set_cursor("carol", 2),
            unread("carol", 50, true),
        ] {
            accept(&mut room, BOB, request);
        }
        // Peeks change nothing, so they are open to all: not even alice's last_seen moves.
        let before = room.clone();
        for request in [unread("alice", 50, false), get_cursor("alice")] {
            let (_, changes) = accept_at(&mut room, BOB, request, T0 + 60);
            assert!(changes.is_empty());
        }
        assert!(
            room == before,
            "a peek at another session's name changed the room"
        );
    }

    #[test]
    fn send_message_appends_with_the_next_id_and_refreshes_last_seen() {
        let mut room = Room::new();
        accept_at(&mut room, ALICE, join("alice", "dev"), T0);
        let (reply, changes) = accept_at(&mut room, ALICE, send("alice", "one", "all"), T0 + 7);
        assert_eq!(reply, Response::Id(1));
        let expected = Message {
            id: 1,
            ts: format_ts(T0 + 7),
            from: "alice".into(),
            to: "all".into(),
            content: "one".into(),
            human: false,
        };
        assert_eq!(
            changes,
            Changes {
                messages: vec![expected],
                last_seen: true,
                ..Changes::default()
            }
        );
        assert_eq!(room.participants()[0].last_seen, format_ts(T0 + 7));
        // The same second again: last_seen did not change, so it is not reported.
        let (reply, changes) = accept_at(&mut room, ALICE, send("alice", "two", "bob"), T0 + 7);
        assert_eq!(reply, Response::Id(2));
        assert!(!changes.last_seen);
        // Neither sender nor recipient has to be joined; a stranger's message touches no one.
        let (reply, changes) = accept_at(&mut room, OTHER, send("carol", "three", "dave"), T0 + 9);
        assert_eq!(reply, Response::Id(3));
        assert!(!changes.last_seen && !changes.membership);
        assert_eq!(room.participants()[0].last_seen, format_ts(T0 + 7));
        assert_eq!(room.last_message_id(), 3);
        assert_eq!(room.last_activity_ts(), Some(format_ts(T0 + 9)));
    }

    #[test]
    fn last_seen_is_refreshed_by_summaries_cursors_and_unread_reads_only() {
        let check = |request: Request, refreshes: bool| {
            let mut room = populated_room();
            let (_, changes) = accept_at(&mut room, ALICE, request.clone(), T0 + 30);
            assert_eq!(changes.last_seen, refreshes, "{request:?}");
            let expected = if refreshes {
                format_ts(T0 + 30)
            } else {
                TS0.to_owned()
            };
            assert_eq!(room.participants()[0].last_seen, expected, "{request:?}");
        };
        check(send("alice", "x", "all"), true);
        check(summarize("alice", "x", "all"), true);
        check(set_cursor("alice", 1), true);
        check(unread("alice", 10, false), true);
        check(send("carol", "x", "alice"), false);
        check(get_cursor("alice"), false);
        check(read(0, 50, "alice"), false);
        check(handoff("alice", 10), false);
        check(latest_summary("alice"), false);
        check(Request::ListParticipants, false);
    }

    #[test]
    fn read_messages_filters_by_visibility_before_the_limit() {
        // 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol.
        let mut room = populated_room();
        let check = |room: &mut Room, request: Request, expected: &[u64]| {
            assert_eq!(read_ids(room, request.clone()), expected, "{request:?}");
        };
        check(&mut room, read(0, 50, ""), &[1, 2, 3, 4, 5]);
        check(&mut room, read(2, 50, ""), &[3, 4, 5]);
        check(&mut room, read(0, 2, ""), &[1, 2]);
        check(&mut room, read(5, 50, ""), &[]);
        check(&mut room, read(99, 50, ""), &[]);
        // A message from alice to bob is not visible to alice: the contract's rule, literally.
        check(&mut room, read(0, 50, "alice"), &[1, 2, 4]);
        check(&mut room, read(0, 50, "bob"), &[1, 3, 4]);
        check(&mut room, read(0, 50, "carol"), &[1, 4, 5]);
        check(&mut room, read(0, 50, "nobody"), &[1, 4]);
        check(&mut room, read(0, 50, "all"), &[1, 4]);
        check(&mut room, read(1, 2, "alice"), &[2, 4]);
        check(&mut room, read(2, 1, "carol"), &[4]);

        // Filter before limit: many DMs to others, then one broadcast.
        for _ in 0..10 {
            accept(&mut room, OTHER, send("dave", "psst", "bob"));
        }
        accept(&mut room, OTHER, send("dave", "everyone", "all"));
        check(&mut room, read(5, 1, "alice"), &[16]);
        check(&mut room, read(5, 3, "bob"), &[6, 7, 8]);
    }

    #[test]
    fn cursors_are_monotonic_and_bounded_by_the_latest_message() {
        let mut room = populated_room();
        assert_eq!(cursor_of(&mut room, "bob"), 0, "none stored");
        let check = |room: &mut Room, message_id: i64, expected: u64, moved: bool| {
            let (reply, changes) = accept(room, BOB, set_cursor("bob", message_id));
            let cursor = Cursor {
                name: "bob".into(),
                last_read_id: expected,
            };
            assert_eq!(reply, Response::Cursor(cursor), "set_cursor {message_id}");
            assert_eq!(changes.cursors, moved, "set_cursor {message_id}");
        };
        check(&mut room, 0, 0, false);
        check(&mut room, 3, 3, true);
        check(&mut room, 1, 3, false);
        check(&mut room, 3, 3, false);
        check(&mut room, 5, 5, true);
        assert_eq!(cursor_of(&mut room, "bob"), 5);
        assert_eq!(
            room.cursors(),
            [("alice".to_owned(), 1), ("bob".to_owned(), 5)]
        );
        let refusal = refuse(&mut room, OTHER, set_cursor("bob", 6));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (5)"
        );
        // An empty room's latest id is 0.
        let refusal = refuse(&mut Room::new(), OTHER, set_cursor("bob", 1));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (0)"
        );
    }

    #[test]
    fn read_unread_returns_visible_messages_after_the_cursor() {
        // 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol; alice's cursor is 1.
        let mut room = populated_room();
        // mark_read=false peeks: same answer twice, cursor kept.
        for _ in 0..2 {
            let (reply, changes) = accept(&mut room, OTHER, unread("alice", 50, false));
            let Response::Unread(peeked) = reply else {
                panic!("{reply:?}")
            };
            assert_eq!((peeked.name.as_str(), peeked.last_read_id), ("alice", 1));
            assert_eq!(ids(&peeked.messages), [2, 4]);
            assert!(!changes.cursors);
        }
        // The limit applies; mark_read moves the cursor to the highest returned id.
        let (reply, changes) = accept(&mut room, ALICE, unread("alice", 1, true));
        let Response::Unread(first) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!((ids(&first.messages), first.last_read_id), (vec![2], 2));
        assert!(changes.cursors);
        let (rest, _) = accept(&mut room, ALICE, unread("alice", 50, true));
        let Response::Unread(rest) = rest else {
            panic!("{rest:?}")
        };
        assert_eq!((ids(&rest.messages), rest.last_read_id), (vec![4], 4));
        // Nothing unread: the cursor stays and nothing changes.
        let (reply, changes) = accept(&mut room, ALICE, unread("alice", 50, true));
        let Response::Unread(none) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!((none.messages.len(), none.last_read_id), (0, 4));
        assert!(!changes.cursors);
        // bob never read: everything visible to bob.
        let (bob, _) = accept(&mut room, BOB, unread("bob", 50, true));
        let Response::Unread(bob) = bob else {
            panic!("{bob:?}")
        };
        assert_eq!((ids(&bob.messages), bob.last_read_id), (vec![1, 3, 4], 4));
        // A cursor set past messages skips them.
        accept(&mut room, OTHER, set_cursor("carol", 4));
        assert_eq!(read_ids(&mut room, unread("carol", 50, false)), [5]);
        assert_eq!(room.cursors().len(), 3);
    }

    #[test]
    fn summaries_have_their_own_ids_and_are_found_by_exact_scope() {
        let mut room = populated_room();
        assert_eq!(room.summary_count(), 2);
        let (reply, changes) =
            accept_at(&mut room, OTHER, summarize("carol", "newer", "all"), T0 + 3);
        assert_eq!(
            reply,
            Response::Id(3),
            "summary ids do not follow message ids"
        );
        let expected = Summary {
            id: 3,
            ts: format_ts(T0 + 3),
            from: "carol".into(),
            scope: "all".into(),
            content: "newer".into(),
        };
        assert_eq!(
            changes,
            Changes {
                summaries: vec![expected.clone()],
                ..Changes::default()
            }
        );
        assert_eq!(room.message_count(), 5, "a summary is not a message");
        assert_eq!(summary_of(&mut room, "all"), Some(expected));
        assert_eq!(
            summary_of(&mut room, "alice").map(|summary| summary.id),
            Some(2)
        );
        assert_eq!(
            summary_of(&mut room, "Alice"),
            None,
            "scopes compare exactly"
        );
        assert_eq!(summary_of(&mut room, "bob"), None);
    }

    #[test]
    fn handoff_without_a_name_covers_the_whole_room() {
        let mut room = populated_room();
        let whole = handoff_of(&mut room, handoff("  ", 3));
        assert_eq!(names(&whole.participants), ["alice", "bob"]);
        assert_eq!(whole.latest_message_id, 5);
        assert_eq!((whole.cursor, whole.unread_count), (None, None));
        // Only scope "all", even though a newer summary exists for alice.
        assert_eq!(whole.latest_summary.map(|summary| summary.id), Some(1));
        assert_eq!(ids(&whole.recent_messages), [3, 4, 5]);
        assert_eq!(read_ids(&mut room, handoff("", 100)), [1, 2, 3, 4, 5]);

        let empty = handoff_of(&mut Room::new(), handoff("", 10));
        let expected = Handoff {
            participants: vec![],
            latest_message_id: 0,
            cursor: None,
            unread_count: None,
            latest_summary: None,
            recent_messages: vec![],
        };
        assert_eq!(empty, expected);
    }

    #[test]
    fn handoff_with_a_name_is_that_participants_view() {
        // 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol; alice's cursor is 1;
        // summary 1 is for all, summary 2 for alice.
        let mut room = populated_room();
        let alice = handoff_of(&mut room, handoff("alice", 2));
        assert_eq!((alice.cursor, alice.unread_count), (Some(1), Some(2)));
        assert_eq!(alice.latest_summary.map(|summary| summary.id), Some(2));
        assert_eq!(ids(&alice.recent_messages), [2, 4]);
        assert_eq!(read_ids(&mut room, handoff("alice", 100)), [1, 2, 4]);
        assert_eq!(read_ids(&mut room, handoff("carol", 1)), [5]);

        let bob = handoff_of(&mut room, handoff("bob", 10));
        assert_eq!((bob.cursor, bob.unread_count), (Some(0), Some(3)));
        assert_eq!(bob.latest_summary.map(|summary| summary.id), Some(1));

        // A newer "all" summary wins over an older one of the name's own.
        accept(&mut room, OTHER, summarize("carol", "newest", "all"));
        let alice = handoff_of(&mut room, handoff("alice", 10));
        assert_eq!(alice.latest_summary.map(|summary| summary.id), Some(3));
        // Reading the handoff marks nothing read.
        assert_eq!(alice.cursor, Some(1));
        assert_eq!(cursor_of(&mut room, "alice"), 1);
    }

    #[test]
    fn get_status_and_list_participants() {
        let mut room = Room::new();
        let empty = RoomStatus {
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
    fn end_session_releases_its_names_in_name_order() {
        let mut room = populated_room();
        accept(&mut room, ALICE, join("zed", "dev"));
        accept(&mut room, ALICE, join("amy", "dev"));
        let changes = room.end_session(ALICE, T0 + 9);
        let contents: Vec<&str> = changes
            .messages
            .iter()
            .map(|message| message.content.as_str())
            .collect();
        assert_eq!(
            contents,
            [
                "alice left the chatroom",
                "amy left the chatroom",
                "zed left the chatroom"
            ]
        );
        assert_eq!(ids(&changes.messages), [6, 7, 8]);
        assert!(
            changes
                .messages
                .iter()
                .all(|message| message.from == "system"
                    && message.to == "all"
                    && message.ts == format_ts(T0 + 9))
        );
        assert!(changes.membership && changes.needs_sync());
        assert_eq!(names(&room.participants()), ["bob"]);
        assert!(room.names_held_by(ALICE).is_empty());
        // Ending it again, or a session that held nothing, changes nothing.
        assert!(room.end_session(ALICE, T0 + 10).is_empty());
        assert!(room.end_session(OTHER, T0 + 10).is_empty());
        assert_eq!(room.message_count(), 8);
    }

    fn participant(name: &str) -> Participant {
        Participant {
            name: name.into(),
            role: "dev".into(),
            joined_at: "2020-01-01T00:00:00Z".into(),
            last_seen: "2020-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn orphans_can_be_joined_left_or_removed() {
        let orphans = ["carol", "alice", "bob", "dave"].map(participant).to_vec();
        let mut room = Room::restore(vec![], vec![], orphans, vec![]).unwrap();
        assert_eq!(
            names(&room.participants()),
            ["alice", "bob", "carol", "dave"]
        );
        // Joining as an orphan takes it afresh.
        accept(&mut room, ALICE, join("bob", "lead"));
        let bob = room.participants()[1].clone();
        assert_eq!((bob.role.as_str(), bob.joined_at.as_str()), ("lead", TS0));
        assert_eq!(room.names_held_by(ALICE), ["bob"]);
        // Leaving as an orphan removes it, with the system message.
        let (reply, changes) = accept(&mut room, OTHER, leave("dave"));
        assert_eq!(reply, Response::Left(true));
        assert_eq!(changes.messages[0].content, "dave left the chatroom");

        let changes = room.remove_orphans(T0);
        let contents: Vec<&str> = changes
            .messages
            .iter()
            .map(|message| message.content.as_str())
            .collect();
        assert_eq!(
            contents,
            ["alice left the chatroom", "carol left the chatroom"]
        );
        assert_eq!(ids(&changes.messages), [2, 3]);
        assert!(changes.membership);
        assert_eq!(names(&room.participants()), ["bob"]);
        assert!(room.remove_orphans(T0).is_empty());
    }

    fn message(id: u64, to: &str) -> Message {
        Message {
            id,
            ts: "2020-01-01T00:00:00Z".into(),
            from: "old".into(),
            to: to.into(),
            content: format!("message {id}"),
            human: false,
        }
    }

    fn summary(id: u64, scope: &str) -> Summary {
        Summary {
            id,
            ts: "2020-01-01T00:00:00Z".into(),
            from: "old".into(),
            scope: scope.into(),
            content: format!("summary {id}"),
        }
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

    #[test]
    fn roll_back_undoes_appends_and_every_index() {
        let mut room = populated_room();
        let before = room.clone();
        room.begin();
        // Strangers append, so that only messages, summaries and their indexes change.
        accept(&mut room, OTHER, send("zed", "to all", "all"));
        accept(&mut room, OTHER, send("zed", "to alice", "alice"));
        accept(&mut room, OTHER, send("zed", "to a newcomer", "newcomer"));
        accept(&mut room, OTHER, summarize("zed", "again", "all"));
        accept(&mut room, OTHER, summarize("zed", "new scope", "newcomer"));
        room.roll_back();
        assert!(room == before, "roll_back left the room different");
        assert_eq!(read_ids(&mut room, unread("alice", 50, false)), [2, 4]);
        assert_eq!(read_ids(&mut room, read(0, 50, "newcomer")), [1, 4]);
        assert_eq!(
            summary_of(&mut room, "all").map(|summary| summary.id),
            Some(1)
        );
        assert_eq!(summary_of(&mut room, "newcomer"), None);
        // Ids are handed out again from where they were.
        assert_eq!(
            accept(&mut room, OTHER, send("zed", "again", "alice")).0,
            Response::Id(6)
        );
        assert_eq!(read_ids(&mut room, read(0, 50, "alice")), [1, 2, 4, 6]);

        // Without a recording, or after a commit, there is nothing to undo.
        let before = room.clone();
        room.roll_back();
        assert!(room == before);
        room.begin();
        accept(&mut room, OTHER, send("zed", "kept", "all"));
        room.commit();
        let committed = room.clone();
        room.roll_back();
        assert!(room == committed);
        assert_eq!(room.last_message_id(), 7);
    }

    #[test]
    fn roll_back_undoes_presence_and_cursor_changes() {
        let mut room = populated_room();
        let before = room.clone();
        room.begin();
        // Every kind of change to participants and cursors, several times over the same names.
        let later = T0 + 60;
        accept_at(&mut room, ALICE, join("alice", "lead"), later);
        accept_at(&mut room, OTHER, join("carol", "new"), later);
        accept_at(&mut room, OTHER, join("dave", "new"), later);
        accept_at(&mut room, OTHER, leave("dave"), later);
        accept_at(&mut room, BOB, leave("bob"), later);
        accept_at(
            &mut room,
            OTHER,
            send("carol", "touches carol", "all"),
            later,
        );
        accept_at(&mut room, ALICE, set_cursor("alice", 3), later);
        accept_at(&mut room, OTHER, set_cursor("erin", 2), later);
        accept_at(&mut room, OTHER, unread("carol", 50, true), later);
        room.end_session(OTHER, later + 1);
        accept_at(&mut room, BOB, join("carol", "rejoined"), later + 2);
        room.end_session(ALICE, later + 3);
        room.roll_back();
        assert!(room == before, "roll_back left the room different");

        // The restored room behaves as the old one: the holders are back.
        assert_eq!(
            names(
                &match accept(&mut room, OTHER, Request::ListParticipants).0 {
                    Response::Participants(participants) => participants,
                    other => panic!("{other:?}"),
                }
            ),
            ["alice", "bob"]
        );
        let refusal = refuse(&mut room, OTHER, join("bob", "thief"));
        assert_eq!(refusal.kind, RefusalKind::Conflict);
        assert_eq!(cursor_of(&mut room, "alice"), 1);
        assert_eq!(cursor_of(&mut room, "erin"), 0);
        assert_eq!(room.names_held_by(ALICE), ["alice"]);
    }

    #[test]
    fn a_refusal_during_a_recording_records_nothing_that_changes_the_room() {
        let mut room = populated_room();
        room.begin();
        refuse(&mut room, OTHER, join("alice", "thief"));
        refuse(&mut room, OTHER, leave("bob"));
        refuse(&mut room, OTHER, set_cursor("alice", 99));
        let before_roll_back = room.clone();
        room.roll_back();
        // Only the recording itself is gone.
        room.begin();
        assert!(room == before_roll_back);
    }

    #[test]
    fn changes_merge_and_report_what_needs_a_sync() {
        assert!(Changes::default().is_empty());
        assert!(!Changes::default().needs_sync());
        let lazy = Changes {
            last_seen: true,
            ..Changes::default()
        };
        assert!(!lazy.is_empty() && !lazy.needs_sync());
        for durable in [
            Changes {
                messages: vec![message(1, "all")],
                ..Changes::default()
            },
            Changes {
                summaries: vec![summary(1, "all")],
                ..Changes::default()
            },
            Changes {
                membership: true,
                ..Changes::default()
            },
            Changes {
                cursors: true,
                ..Changes::default()
            },
        ] {
            assert!(!durable.is_empty() && durable.needs_sync(), "{durable:?}");
        }
        let mut merged = Changes {
            messages: vec![message(1, "all")],
            last_seen: true,
            ..Changes::default()
        };
        merged.merge(Changes {
            messages: vec![message(2, "bob")],
            summaries: vec![summary(1, "all")],
            cursors: true,
            ..Changes::default()
        });
        let expected = Changes {
            messages: vec![message(1, "all"), message(2, "bob")],
            summaries: vec![summary(1, "all")],
            membership: false,
            last_seen: true,
            cursors: true,
        };
        assert_eq!(merged, expected);
    }

    #[test]
    fn reads_in_a_large_room_find_the_few_visible_messages() {
        const COUNT: u64 = 200_000;
        let mut room = Room::new();
        // Mostly direct messages between others; every 40,000th a broadcast, every 25,000th
        // (offset by 7) a direct message to alice.
        let mut visible = Vec::new();
        for id in 1..=COUNT {
            let to = if id % 40_000 == 0 {
                "all"
            } else if id % 25_000 == 7 {
                "alice"
            } else if id % 2 == 0 {
                "bob"
            } else {
                "carol"
            };
            if to != "bob" && to != "carol" {
                visible.push(id);
            }
            let outcome = room.handle(OTHER, send("dave", "x", to), T0);
            assert_eq!(outcome.reply, Ok(Response::Id(id)));
        }
        assert_eq!(visible.len(), 13);
        accept(&mut room, OTHER, set_cursor("alice", 100_000));
        let expected_unread: Vec<u64> =
            visible.iter().copied().filter(|&id| id > 100_000).collect();
        assert_eq!(
            expected_unread,
            [
                100_007, 120_000, 125_007, 150_007, 160_000, 175_007, 200_000
            ]
        );

        let peek = unread_of(&mut room, unread("alice", 5, false));
        assert_eq!(ids(&peek.messages), expected_unread[..5]);
        let alice = handoff_of(&mut room, handoff("alice", 3));
        assert_eq!(alice.unread_count, Some(7));
        assert_eq!(ids(&alice.recent_messages), expected_unread[4..]);
        assert_eq!(read_ids(&mut room, read(0, 100, "alice")), visible);
        assert_eq!(
            read_ids(&mut room, read(150_000, 2, "alice")),
            [150_007, 160_000]
        );
        assert_eq!(
            read_ids(&mut room, read(199_998, 100, "")),
            [199_999, 200_000]
        );

        let all = unread_of(&mut room, unread("alice", 100, true));
        assert_eq!(
            (ids(&all.messages), all.last_read_id),
            (expected_unread, COUNT)
        );
        assert_eq!(
            handoff_of(&mut room, handoff("alice", 3)).unread_count,
            Some(0)
        );
    }
}
