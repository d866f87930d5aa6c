//! Reach in the core: the calls that wait (`wait_for_messages`, the wake-up hook's
//! [`Request::AwaitReach`]), what links an agent's session to the hooks of its client, and the
//! hooks' [`Request::Reach`].
//!
//! A wait that finds nothing for its caller is parked here, holding no permit and no thread.
//! The batch that applies a message for it answers it at its end, after the message: the
//! read (and a `mark_read` wait's cursor move) is stored with the message in the batch's one
//! sync, and the reply leaves with the batch's, once it is durable. If the batch cannot be
//! stored, the wait is parked again unanswered ([`Core::repark`]). A wait past its deadline
//! is answered by the next batch, with `timed_out`; nothing polls: the shell runs a batch as
//! soon as a wait is due or ready ([`Core::waits_due`], [`Core::next_deadline`]). A wait the
//! client cancels, or whose session ends, is dropped without reading anything.

use std::time::{Duration, Instant};

use protocol::{ClientKind, HookLink, HookReach, Message, Refusal, Request, Response, Waited};
use tracing::debug;

use super::{Core, Now, PendingReply};
use crate::daemon::dedupe::{Key, KeyRecord, Recorded, ScopeRead};
use crate::daemon::room::{Changes, EVERY_SCOPE, SessionId, reaches};

/// How many waits one session may have pending.
pub(super) const MAX_WAITS_PER_SESSION: usize = 16;
/// How many client session ids a session keeps (Codex sends one per thread).
const MAX_LINKS: usize = 8;
/// `wait_for_messages`' `timeout_s` bounds.
const WAIT_TIMEOUT_S: std::ops::RangeInclusive<i64> = 1..=600;
/// The wake-up hook's `timeout_s` bounds (a day).
const AWAIT_TIMEOUT_S: std::ops::RangeInclusive<i64> = 1..=86_400;
/// A hook's `limit` bounds.
const REACH_LIMIT: std::ops::RangeInclusive<i64> = 0..=100;

/// What links an agent's session to its client, for the hooks to find it.
#[derive(Debug, Clone, Default)]
pub(super) struct Links {
    /// The client's session ids, oldest first, at most [`MAX_LINKS`].
    session_ids: Vec<String>,
    /// The process that launched the shim (the agent's CLI); 0 when unknown.
    agent_pid: u32,
}

/// The scope a `wait_for_messages` watches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WaitScope {
    Main,
    Topic(String),
    Every,
}

impl WaitScope {
    fn of(topic_id: &str) -> Self {
        match topic_id.trim() {
            "" => Self::Main,
            EVERY_SCOPE => Self::Every,
            topic => Self::Topic(topic.to_owned()),
        }
    }

    fn holds(&self, message: &Message) -> bool {
        match self {
            Self::Main => message.topic_id.is_none(),
            Self::Topic(topic) => message.topic_id.as_deref() == Some(topic),
            Self::Every => true,
        }
    }
}

/// What a parked call waits for.
#[derive(Debug, Clone)]
enum Awaited {
    /// `wait_for_messages`: a message for `name` in `scope`.
    Messages {
        key: Option<Key>,
        name: String,
        scope: WaitScope,
        limit: i64,
        mark_read: bool,
    },
    /// The wake-up hook of the agent whose (first) session is `agent`.
    Reach {
        agent: SessionId,
        hook: HookLink,
        limit: i64,
    },
}

/// A parked call.
#[derive(Debug, Clone)]
pub(super) struct Wait {
    session: SessionId,
    id: u64,
    awaited: Awaited,
    deadline: Instant,
    /// A stored message is for it (or its agent left): answer it in the next batch.
    ready: bool,
}

impl Core {
    /// Whether a parked wait is ready or past its deadline: a batch is then worth running.
    pub fn waits_due(&self, at: Instant) -> bool {
        self.waits
            .iter()
            .any(|wait| wait.ready || wait.deadline <= at)
    }

    /// The earliest deadline among the parked waits (now, if one is ready).
    pub(super) fn waits_deadline(&self, at: Instant) -> Option<Instant> {
        self.waits
            .iter()
            .map(|wait| if wait.ready { at } else { wait.deadline })
            .min()
    }

    /// How many waits are parked (for tests and the log).
    #[cfg(test)]
    pub fn parked(&self) -> usize {
        self.waits.len()
    }

    /// A call that may wait ([`Request::WaitForMessages`], [`Request::AwaitReach`]) or cancel
    /// one ([`Request::CancelWait`]): its replies, if any are due now, go to `replies`.
    pub(super) fn wait_call(
        &mut self,
        input: (SessionId, u64, Option<Key>),
        request: Request,
        now: Now,
        keys: &mut Vec<KeyRecord>,
        changes: &mut Changes,
        replies: &mut Vec<PendingReply>,
    ) {
        let (session, id, key) = input;
        let reply = |outcome| PendingReply::unchanged(session, id, outcome);
        let (awaited, timeout_s) = match request {
            Request::CancelWait { call_id } => {
                let position = self
                    .waits
                    .iter()
                    .position(|wait| wait.session == session && wait.id == call_id);
                if let Some(position) = position {
                    let wait = self.waits.remove(position);
                    debug!(session, call = call_id, "a wait was cancelled");
                    let refusal = Refusal::invalid("the wait was cancelled by the client");
                    replies.push(PendingReply::unchanged(session, wait.id, Err(refusal)));
                }
                replies.push(reply(Ok(Response::Cancelled(position.is_some()))));
                return;
            }
            Request::WaitForMessages {
                name,
                topic_id,
                timeout_s,
                limit,
                mark_read,
            } => {
                if !WAIT_TIMEOUT_S.contains(&timeout_s) {
                    let refusal = Refusal::invalid("timeout_s must be between 1 and 600");
                    replies.push(reply(Err(refusal)));
                    return;
                }
                let awaited = Awaited::Messages {
                    key,
                    scope: WaitScope::of(&topic_id),
                    name: name.trim().to_owned(),
                    limit,
                    mark_read,
                };
                (awaited, timeout_s)
            }
            Request::AwaitReach {
                hook,
                timeout_s,
                limit,
            } => {
                if !AWAIT_TIMEOUT_S.contains(&timeout_s) {
                    let refusal = Refusal::invalid("timeout_s must be between 1 and 86400");
                    replies.push(reply(Err(refusal)));
                    return;
                }
                if !REACH_LIMIT.contains(&limit) {
                    replies.push(reply(Err(reach_limit_refusal())));
                    return;
                }
                let agent = self.agent_of(&hook).0.first().copied();
                let Some(agent) = agent else {
                    // No agent to wait for: the hook says nothing.
                    let outcome = Ok(Response::Reached(self.reach(&hook, false, 0, now)));
                    replies.push(reply(outcome));
                    return;
                };
                (Awaited::Reach { agent, hook, limit }, timeout_s)
            }
            other => unreachable!("not a waiting call: {other:?}"),
        };
        let wait = Wait {
            session,
            id,
            awaited,
            deadline: now.at + Duration::from_secs(timeout_s as u64),
            ready: false,
        };
        let parked = self.waits.iter().filter(|w| w.session == session).count();
        if let Some(wait) = self.answer(wait, false, now, keys, changes, replies) {
            if parked >= MAX_WAITS_PER_SESSION {
                let refusal = Refusal::invalid(format!(
                    "this session already has {MAX_WAITS_PER_SESSION} waits pending"
                ));
                replies.push(reply(Err(refusal)));
                return;
            }
            self.park(wait, replies);
        }
    }

    /// Parks `wait`. A wake-up hook replaces the one its agent had: that one is refused.
    fn park(&mut self, wait: Wait, replies: &mut Vec<PendingReply>) {
        if let Awaited::Reach { agent, .. } = &wait.awaited {
            let agent = *agent;
            let replaced = |other: &Wait| matches!(&other.awaited, Awaited::Reach { agent: a, .. } if *a == agent);
            for older in self.waits.iter().filter(|other| replaced(other)) {
                let refusal =
                    Refusal::conflict("replaced by a newer wake-up hook of the same agent");
                replies.push(PendingReply::unchanged(
                    older.session,
                    older.id,
                    Err(refusal),
                ));
            }
            self.waits.retain(|other| !replaced(other));
        }
        self.waits.push(wait);
    }

    /// Answers the parked waits that are ready or due, at the start of a batch; the ones that
    /// find nothing after all (what woke them was read meanwhile) wait on.
    pub(super) fn answer_waits(
        &mut self,
        now: Now,
        keys: &mut Vec<KeyRecord>,
        changes: &mut Changes,
        replies: &mut Vec<PendingReply>,
    ) {
        if !self.waits_due(now.at) {
            return;
        }
        let (due, parked): (Vec<Wait>, Vec<Wait>) = std::mem::take(&mut self.waits)
            .into_iter()
            .partition(|wait| wait.ready || wait.deadline <= now.at);
        self.waits = parked;
        for mut wait in due {
            let timed_out = wait.deadline <= now.at;
            wait.ready = false;
            if let Some(wait) = self.answer(wait, timed_out, now, keys, changes, replies) {
                self.waits.push(wait);
            }
        }
    }

    /// Answers `wait` if there is something for it, or if `timed_out`; gives it back otherwise.
    fn answer(
        &mut self,
        wait: Wait,
        timed_out: bool,
        now: Now,
        keys: &mut Vec<KeyRecord>,
        changes: &mut Changes,
        replies: &mut Vec<PendingReply>,
    ) -> Option<Wait> {
        let (session, id) = (wait.session, wait.id);
        let (outcome, call_changes) = match &wait.awaited {
            Awaited::Messages {
                key,
                name,
                scope,
                limit,
                mark_read,
            } => {
                // A repeat of a wait that was answered gets the first answer.
                let repeated = key.is_some_and(|key| self.dedupe.get(key).is_some());
                let peeked = match repeated || timed_out {
                    true => Ok(true),
                    false => self.peek(session, name, scope, *limit, *mark_read, now),
                };
                match peeked {
                    Ok(true) => self
                        .read_for_wait(session, *key, name, scope, *limit, *mark_read, now, keys),
                    Ok(false) => return Some(wait),
                    Err(refusal) => (Err(refusal), Changes::default()),
                }
            }
            Awaited::Reach { hook, limit, agent } => {
                let agent_gone = !self.sessions.contains_key(agent);
                let reach = self.reach(hook, true, *limit as usize, now);
                if reach.messages.is_empty() && !timed_out && !agent_gone {
                    return Some(wait);
                }
                (Ok(Response::Reached(reach)), Changes::default())
            }
        };
        let wrote = call_changes.needs_sync();
        changes.merge(call_changes);
        replies.push(PendingReply {
            session,
            id,
            outcome,
            wrote,
            rerun: None,
            wait: Some(Box::new(wait)),
        });
        None
    }

    /// A batch was not stored: the waits it answered before their deadline are parked again,
    /// unanswered (what woke them may be rolled back; the next message or the deadline answers
    /// them). Those past their deadline keep their answer, a write among them refused.
    pub(super) fn repark(&mut self, replies: &mut Vec<PendingReply>, now: Now) {
        let mut kept = Vec::with_capacity(replies.len());
        for mut reply in replies.drain(..) {
            match reply.wait.take() {
                Some(wait) if wait.deadline > now.at => {
                    debug!(
                        session = wait.session,
                        call = wait.id,
                        "a wait waits on: its batch was not stored"
                    );
                    self.waits.push(*wait);
                }
                _ => kept.push(reply),
            }
        }
        *replies = kept;
    }

    /// Whether `name` has an unread message in `scope` that is for it (not its own, not the
    /// room's); a refusal for arguments the read refuses.
    fn peek(
        &mut self,
        session: SessionId,
        name: &str,
        scope: &WaitScope,
        limit: i64,
        mark_read: bool,
        now: Now,
    ) -> Result<bool, Refusal> {
        if mark_read {
            self.room.may_move_cursor(session, name)?;
        }
        let peeked = match scope {
            WaitScope::Every => self
                .room
                .read_unread_every(session, name, limit, false, now.unix)
                .map(|(reply, _)| reply),
            _ => {
                self.room
                    .handle(session, unread(name, scope, limit, false), now.unix)
                    .reply
            }
        }?;
        let Response::Unread(unread) = peeked else {
            unreachable!("a read answers with unread messages");
        };
        let for_it = [unread.name.clone()];
        Ok(unread
            .messages
            .iter()
            .any(|message| reaches(message, &for_it)))
    }

    /// The read a wait answers with: `read_unread` of its scope (keyed when the call was, so a
    /// repeat is answered alike), as `Waited`.
    #[allow(clippy::too_many_arguments)]
    fn read_for_wait(
        &mut self,
        session: SessionId,
        key: Option<Key>,
        name: &str,
        scope: &WaitScope,
        limit: i64,
        mark_read: bool,
        now: Now,
        keys: &mut Vec<KeyRecord>,
    ) -> (Result<Response, Refusal>, Changes) {
        let (outcome, changes) = match scope {
            WaitScope::Every => self.read_every(session, key, name, limit, mark_read, now, keys),
            _ => {
                let request = unread(name, scope, limit, mark_read);
                match key {
                    Some(key) => self.keyed_call(session, key, request, now, keys),
                    None => self.call(session, request, now),
                }
            }
        };
        let outcome = outcome.map(|reply| match reply {
            Response::Unread(unread) => {
                let for_it = [unread.name.clone()];
                let timed_out = !unread.messages.iter().any(|m| reaches(m, &for_it));
                Response::Waited(Waited { unread, timed_out })
            }
            other => other,
        });
        (outcome, changes)
    }

    /// The read of every scope, keyed like `read_unread`: the first time its reads per scope
    /// are recorded (with the batch, ahead of the cursor moves), and a repeat is answered with
    /// the same messages.
    #[allow(clippy::too_many_arguments)]
    fn read_every(
        &mut self,
        session: SessionId,
        key: Option<Key>,
        name: &str,
        limit: i64,
        mark_read: bool,
        now: Now,
        keys: &mut Vec<KeyRecord>,
    ) -> (Result<Response, Refusal>, Changes) {
        if let Some(key) = key
            && let Some(recorded) = self.dedupe.get(key).cloned()
        {
            return self.replay(session, recorded, Request::ListParticipants, now);
        }
        let before: Vec<(Option<String>, u64)> = self
            .room
            .open_scope_ids()
            .into_iter()
            .map(|scope| {
                let cursor = self.room.cursor(scope.as_deref(), name.trim());
                (scope, cursor)
            })
            .collect();
        let (reply, changes) = match self
            .room
            .read_unread_every(session, name, limit, mark_read, now.unix)
        {
            Ok(read) => read,
            Err(refusal) => return (Err(refusal), Changes::default()),
        };
        if let (Some(key), Response::Unread(unread)) = (key, &reply)
            && mark_read
            && !unread.messages.is_empty()
        {
            let reads = before
                .into_iter()
                .filter_map(|(topic_id, after)| {
                    let through = unread
                        .messages
                        .iter()
                        .filter(|message| message.topic_id == topic_id)
                        .map(|message| message.id)
                        .max()?;
                    Some(ScopeRead {
                        topic_id,
                        after,
                        through,
                    })
                })
                .collect();
            let record = KeyRecord {
                key,
                at: now.unix,
                recorded: Recorded::UnreadEvery {
                    name: unread.name.clone(),
                    reads,
                },
            };
            self.dedupe.insert(record.clone());
            keys.push(record);
        }
        (Ok(reply), changes)
    }

    /// The parked waits that `messages` (just applied) are for become ready.
    pub(super) fn wake(&mut self, messages: &[Message]) {
        for index in 0..self.waits.len() {
            let wait = &self.waits[index];
            if wait.ready {
                continue;
            }
            let ready = match &wait.awaited {
                Awaited::Messages { name, scope, .. } => {
                    let for_it = [name.clone()];
                    messages
                        .iter()
                        .any(|message| scope.holds(message) && reaches(message, &for_it))
                }
                Awaited::Reach { hook, .. } => {
                    let names = self.names_of(&self.agent_of(hook).0);
                    messages.iter().any(|message| reaches(message, &names))
                }
            };
            self.waits[index].ready = ready;
        }
    }

    /// A session ended: its parked calls go with it, unanswered and having read nothing; the
    /// wake-up hooks of its agent are answered (with nothing, as it is gone) in the next batch.
    pub(super) fn drop_waits(&mut self, session: SessionId) {
        self.waits.retain(|wait| wait.session != session);
        for wait in &mut self.waits {
            if matches!(wait.awaited, Awaited::Reach { agent, .. } if agent == session) {
                wait.ready = true;
            }
        }
    }

    /// [`Request::Link`]: only an agent's session links itself.
    pub(super) fn link(
        &mut self,
        session: SessionId,
        client_session_id: &str,
        agent_pid: u32,
    ) -> Result<Response, Refusal> {
        let entry = self
            .sessions
            .get_mut(&session)
            .filter(|entry| entry.kind == ClientKind::Agent)
            .ok_or_else(|| Refusal::not_allowed("only an agent's session links itself"))?;
        let links = &mut entry.links;
        let id = client_session_id.trim();
        if !id.is_empty() && !links.session_ids.iter().any(|known| known == id) {
            if links.session_ids.len() == MAX_LINKS {
                links.session_ids.remove(0);
            }
            links.session_ids.push(id.to_owned());
        }
        if agent_pid > 1 {
            links.agent_pid = agent_pid;
        }
        debug!(session, client_session_id = id, agent_pid, "session linked");
        Ok(Response::Linked)
    }

    /// [`Request::Reach`], checked.
    pub(super) fn reach_call(
        &mut self,
        hook: &HookLink,
        deliver: bool,
        limit: i64,
        now: Now,
    ) -> Result<Response, Refusal> {
        if !REACH_LIMIT.contains(&limit) {
            return Err(reach_limit_refusal());
        }
        Ok(Response::Reached(self.reach(
            hook,
            deliver,
            limit as usize,
            now,
        )))
    }

    /// [`Request::CheckClaims`]: the exclusive claims of others over `paths`. The asker is the
    /// names it gives, else the agent session `hook` finds; an asker found by neither owns no
    /// claim, so every exclusive claim counts against it.
    pub(super) fn check_claims_call(
        &self,
        hook: &HookLink,
        as_names: Vec<String>,
        paths: &[String],
        now: Now,
    ) -> Result<Response, Refusal> {
        let (own, linked_by) = match as_names.is_empty() {
            false => {
                let mut names: Vec<String> =
                    as_names.iter().map(|name| name.trim().to_owned()).collect();
                names.sort();
                names.dedup();
                (names, "as")
            }
            true => {
                let (sessions, linked_by) = self.agent_of(hook);
                (self.names_of(&sessions), linked_by)
            }
        };
        self.room.claim_check(own, linked_by, paths, now.unix)
    }

    /// What the hook of `hook` tells its agent (none found: no names, nothing delivered).
    fn reach(&mut self, hook: &HookLink, deliver: bool, limit: usize, now: Now) -> HookReach {
        let (sessions, linked_by) = self.agent_of(hook);
        let names = self.names_of(&sessions);
        let limit = if names.is_empty() { 0 } else { limit };
        let mut reach = self.room.reach(&names, deliver, limit, now.unix);
        reach.names = names;
        reach.linked_by = linked_by.to_owned();
        reach
    }

    /// The agent sessions a hook belongs to, and how they were found: by the client's session
    /// id; else by the nearest of the hook's ancestors that launched a shim.
    fn agent_of(&self, hook: &HookLink) -> (Vec<SessionId>, &'static str) {
        let agents = || {
            self.sessions
                .iter()
                .filter(|(_, entry)| entry.kind == ClientKind::Agent)
        };
        let id = hook.session_id.trim();
        if !id.is_empty() {
            let found: Vec<SessionId> = agents()
                .filter(|(_, entry)| entry.links.session_ids.iter().any(|known| known == id))
                .map(|(session, _)| *session)
                .collect();
            if !found.is_empty() {
                return (found, "session_id");
            }
        }
        for &pid in hook.ancestors.iter().filter(|pid| **pid > 1) {
            let found: Vec<SessionId> = agents()
                .filter(|(_, entry)| entry.links.agent_pid == pid)
                .map(|(session, _)| *session)
                .collect();
            if !found.is_empty() {
                return (found, "ancestry");
            }
        }
        (Vec::new(), "")
    }

    /// The names `sessions` hold, sorted, each once.
    fn names_of(&self, sessions: &[SessionId]) -> Vec<String> {
        let mut names: Vec<String> = sessions
            .iter()
            .flat_map(|session| self.room.names_held_by(*session))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn reach_limit_refusal() -> Refusal {
    Refusal::invalid("limit must be between 0 and 100")
}

/// `read_unread` of one scope (not [`WaitScope::Every`]).
fn unread(name: &str, scope: &WaitScope, limit: i64, mark_read: bool) -> Request {
    let topic_id = match scope {
        WaitScope::Topic(topic) => topic.clone(),
        _ => String::new(),
    };
    Request::ReadUnread {
        name: name.to_owned(),
        limit,
        mark_read,
        topic_id,
    }
}
