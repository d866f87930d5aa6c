//! The owner's pure batch core: what a batch of commands does to the room, the idempotency keys
//! and the session table, and everything that follows from storing it or failing to.
//!
//! It touches no file, no channel, no clock and no thread, in the manner of quinn-proto: the
//! shell ([`super`]) reads the time and passes it in as [`Now`], strips the channels off the
//! commands ([`Input`]), stores the [`Plan`] this core makes, hands back the result, and queues
//! the frames through a delivery step that tells the core whether an outbox took one
//! ([`Delivery`]). A batch so runs in three steps, and persist-then-reply is their order:
//!
//! 1. [`Core::apply`] applies the inputs to the room in order (recording an undo) and returns
//!    the [`Plan`]: the changes and keys to persist once for the whole batch (group commit).
//! 2. [`Core::settle`] takes the result of persisting. Stored: the room commits. Not stored: the
//!    room is rolled back to where the batch began, the batch's keys are forgotten, every write
//!    is refused with the operating system's words, the reads answered after a rolled-back
//!    change are answered again, and the departures of sessions that ended in the batch are
//!    kept to be retried.
//! 3. [`Core::deliver`] queues the replies, then publishes the durable news to subscribers
//!    (each message only to those who may see it), evicting every session whose outbox is full.
//!
//! It logs its decisions with `tracing`, which is an observation, not an effect: nothing it
//! decides depends on it.

mod import;
mod keyed;
#[cfg(test)]
mod tests;
mod waits;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use protocol::{
    ClientKind, DaemonStatus, Event, Refusal, Request, Response, ServerMessage, SessionInfo,
};
use tracing::{debug, error, info, warn};

use super::DaemonFacts;
use crate::daemon::dedupe::{Dedupe, Key, KeyRecord};
use crate::daemon::room::{Caller, Changes, Room, SessionId, Subscription};
use crate::daemon::store::PersistError;

/// How long `last_seen`-only changes may stay in memory before `participants.json` is rewritten.
pub(super) const LAST_SEEN_FLUSH: Duration = Duration::from_secs(1);
/// How often the departures that could not be stored are tried again.
pub(super) const DEPARTURE_RETRY: Duration = Duration::from_secs(1);
/// How long after a failed compaction of the keys file the next one is tried.
pub(super) const COMPACTION_RETRY: Duration = Duration::from_secs(60);

/// The time, read by the shell: unix seconds for the room's timestamps and the keys' ages, and
/// a monotonic instant for the owner's timers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    pub unix: u64,
    pub at: Instant,
}

/// A [`super::Command`] as the core sees it: the outbox, the eviction token and the permit stay
/// with the shell.
#[derive(Debug, Clone)]
pub(super) enum Input {
    Open {
        session: SessionId,
        kind: ClientKind,
        client_pid: u32,
    },
    Call {
        session: SessionId,
        id: u64,
        key: Option<Key>,
        request: Request,
    },
    /// `chatroomd import`, with the source the connection read (see `import.rs`).
    Import {
        session: SessionId,
        id: u64,
        dry_run: bool,
        source: Box<Result<crate::daemon::import::Source, crate::daemon::import::SourceError>>,
    },
    Close {
        session: SessionId,
    },
    Stop,
}

/// What became of a frame the shell was asked to queue in a session's outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    Queued,
    /// The connection is gone; its `Close` follows.
    Gone,
    /// The outbox is full: the session does not read, and is evicted.
    Full,
}

/// The core's state: the room, the keys, the sessions, and the owner's timers.
pub(super) struct Core {
    room: Room,
    /// The keys of recent keyed writes, for answering repeats.
    dedupe: Dedupe,
    facts: DaemonFacts,
    /// This daemon's pid, for `chatroomd status`.
    pid: u32,
    sessions: BTreeMap<SessionId, Session>,
    last_seen_dirty_since: Option<Instant>,
    /// Sessions that ended in a batch that could not be stored: their names leave (and the
    /// system messages are written) as soon as a batch is stored again.
    departures: Vec<SessionId>,
    /// Participants restored from disk whose departure the start could not store.
    orphans_pending: bool,
    /// Set while batches cannot be stored.
    storage_failure: Option<StorageFailure>,
    /// Set after a failed compaction of the keys file, so a full disk is not retried per batch.
    compaction_not_before: Option<Instant>,
    /// The calls parked until a message comes for them or their time is up (`waits.rs`).
    waits: Vec<waits::Wait>,
    /// When the next claim's `ttl_s` runs out, as of the last batch.
    claim_expiry: Option<Instant>,
}

/// A live session as the core knows it; its outbox is the shell's.
#[derive(Debug, Clone)]
struct Session {
    kind: ClientKind,
    client_pid: u32,
    /// `Some` once the session subscribed: what it is sent.
    subscription: Option<Subscription>,
    /// What links an agent's session to its client's hooks.
    links: waits::Links,
}

/// Batches in a row that could not be stored.
#[derive(Debug, Clone, Copy)]
struct StorageFailure {
    since: Instant,
    last: Instant,
    batches: u64,
}

/// A reply waiting for its batch to be durable.
#[derive(Debug)]
struct PendingReply {
    session: SessionId,
    id: u64,
    outcome: Result<Response, Refusal>,
    /// Whether this request changed durable state (and so fails if the batch cannot be stored).
    wrote: bool,
    /// A request that changed nothing but ran after a change of the same batch, kept so that it
    /// can be answered again if that change is rolled back (its answer may have seen it).
    rerun: Option<Request>,
    /// An answered wait: parked again, unanswered, if the batch is not stored, since its answer
    /// may hold what is rolled back (`waits.rs`).
    wait: Option<Box<waits::Wait>>,
}

impl PendingReply {
    /// The answer to a call that changed nothing, sent as it is whatever becomes of the batch.
    fn unchanged(session: SessionId, id: u64, outcome: Result<Response, Refusal>) -> Self {
        Self {
            session,
            id,
            outcome,
            wrote: false,
            rerun: None,
            wait: None,
        }
    }
}

/// What an applied batch must make durable before any of its replies leave.
#[derive(Debug)]
pub(super) struct Plan {
    /// The keys of the batch's keyed writes, stored ahead of the writes (see `Store::persist`).
    pub keys: Vec<KeyRecord>,
    pub changes: Changes,
    /// A `Stop` was among the inputs.
    pub stop: bool,
    /// A client asked the daemon to shut down.
    pub shutdown_requested: bool,
    /// The batch holds a keyed call (for the crash-after-persist fault).
    pub keyed: bool,
    replies: Vec<PendingReply>,
    /// Sessions that ended in this batch (or whose departure is retried in it).
    closed: Vec<SessionId>,
    /// Agent and person sessions before the batch, to tell whether presence changed.
    sessions_before: usize,
}

impl Plan {
    /// Whether anything must reach the disk: durable changes, or keys.
    pub fn must_store(&self) -> bool {
        self.changes.needs_sync() || !self.keys.is_empty()
    }
}

/// A batch whose fate is known, with the replies it is to deliver.
#[derive(Debug)]
pub(super) struct Settled {
    /// Whether the batch's changes are durable (a batch with nothing to store counts).
    stored: bool,
    /// The changes to publish when stored.
    changes: Changes,
    replies: Vec<PendingReply>,
    sessions_before: usize,
    /// Keys were stored: the keys file grew, and may be worth compacting.
    pub keys_stored: bool,
    /// A keyed call's write was stored (for the crash-after-persist fault).
    pub keyed_stored: bool,
}

/// What delivering a settled batch decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Delivered {
    /// Sessions dropped for not reading: the shell ends their connections.
    pub evicted: Vec<SessionId>,
    /// The count of agent and person sessions, when it changed.
    pub live_sessions: Option<usize>,
}

impl Core {
    /// The core over a loaded room. Orphans still in it mean the start could not store their
    /// departure: that is a failed batch like any other, and it sets the same retry timer.
    pub fn new(room: Room, dedupe: Dedupe, facts: DaemonFacts, pid: u32, at: Instant) -> Self {
        let orphans_pending = room.has_orphans();
        Self {
            room,
            dedupe,
            facts,
            pid,
            sessions: BTreeMap::new(),
            last_seen_dirty_since: None,
            departures: Vec::new(),
            orphans_pending,
            storage_failure: orphans_pending.then_some(StorageFailure {
                since: at,
                last: at,
                batches: 1,
            }),
            compaction_not_before: None,
            waits: Vec::new(),
            claim_expiry: None,
        }
    }

    /// The room as the core holds it, for the shell's store to read.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// Whether departures wait for a batch: an empty batch is then worth running.
    pub fn departures_pending(&self) -> bool {
        self.orphans_pending || !self.departures.is_empty()
    }

    /// When the owner must act without a command: flush `last_seen`, retry departures, or
    /// answer a wait that is ready or due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let flush = self
            .last_seen_dirty_since
            .map(|since| since + LAST_SEEN_FLUSH);
        let retry = self
            .departures_pending()
            .then(|| {
                self.storage_failure
                    .map(|failure| failure.last + DEPARTURE_RETRY)
            })
            .flatten();
        let waits = self.waits_deadline(self.facts.started);
        flush
            .into_iter()
            .chain(retry)
            .chain(waits)
            .chain(self.claim_expiry)
            .min()
    }

    /// When the owner must end the room's next claim to expire. Unix seconds are whole, and
    /// `now.unix` is rounded down: counting from it never ends a claim early.
    fn next_claim_expiry(&self, now: Now) -> Option<Instant> {
        self.room
            .next_claim_expiry()
            .map(|expires| now.at + Duration::from_secs(expires.saturating_sub(now.unix)))
    }

    /// Whether a claim's `ttl_s` has run out: an empty batch then ends it.
    pub fn claims_due(&self, at: Instant) -> bool {
        self.claim_expiry.is_some_and(|expiry| expiry <= at)
    }

    /// Whether `last_seen`-only changes have waited long enough to be written.
    pub fn last_seen_due(&self, at: Instant) -> bool {
        self.last_seen_dirty_since
            .is_some_and(|since| at.saturating_duration_since(since) >= LAST_SEEN_FLUSH)
    }

    /// Whether `last_seen`-only changes wait to be written; they are then taken as written
    /// (a failed rewrite is not retried: `last_seen` is not acknowledged data).
    pub fn take_last_seen(&mut self) -> bool {
        self.last_seen_dirty_since.take().is_some()
    }

    /// Step 1: applies `inputs` in order and returns what must be stored before any reply.
    pub fn apply(&mut self, inputs: impl IntoIterator<Item = Input>, now: Now) -> Plan {
        // Keys past a day or past the bound are forgotten before any repeat could match them.
        self.dedupe.prune(now.unix);
        self.room.begin();
        let mut changes = Changes::default();
        let mut keys: Vec<KeyRecord> = Vec::new();
        // Departures a failed batch (or the start) could not store go first, as if their
        // sessions closed now.
        if self.orphans_pending {
            changes.merge(self.room.remove_orphans(now.unix));
        }
        // Claims are scanned only when one is due, not in every batch.
        if self.claims_due(now.at) {
            changes.merge(self.room.expire_claims(now.unix));
        }
        let mut closed = std::mem::take(&mut self.departures);
        for session in &closed {
            changes.merge(self.room.end_session(*session, now.unix));
        }
        let mut replies = Vec::new();
        // Waits that became ready in the last batch, or whose time is up, are answered first.
        self.answer_waits(now, &mut keys, &mut changes, &mut replies);
        let mut stop = false;
        let mut shutdown_requested = false;
        let mut keyed = false;
        let sessions_before = self.live_sessions();
        for input in inputs {
            match input {
                Input::Open {
                    session,
                    kind,
                    client_pid,
                } => {
                    debug!(
                        session,
                        client_pid,
                        kind = super::kind_name(kind),
                        "session opened"
                    );
                    let entry = Session {
                        kind,
                        client_pid,
                        subscription: None,
                        links: waits::Links::default(),
                    };
                    self.sessions.insert(session, entry);
                }
                Input::Close { session } => {
                    if let Some(entry) = self.sessions.remove(&session) {
                        debug!(session, client_pid = entry.client_pid, "session closed");
                    }
                    self.drop_waits(session);
                    for name in self.room.names_held_by(session) {
                        info!(session, name, "a name left with its session");
                    }
                    changes.merge(self.room.end_session(session, now.unix));
                    closed.push(session);
                }
                Input::Call {
                    session,
                    id,
                    key,
                    request:
                        request @ (Request::WaitForMessages { .. }
                        | Request::AwaitReach { .. }
                        | Request::CancelWait { .. }),
                } => {
                    keyed |= key.is_some();
                    let input = (session, id, key);
                    self.wait_call(input, request, now, &mut keys, &mut changes, &mut replies);
                }
                Input::Call {
                    session,
                    id,
                    key,
                    request,
                } => {
                    // Only small requests are kept: a send or a summary always writes or is
                    // refused for its arguments alone, whatever else the batch did.
                    let rerun = (changes.writes()
                        && !matches!(
                            request,
                            Request::SendMessage { .. } | Request::WriteSummary { .. }
                        ))
                    .then(|| request.clone());
                    keyed |= key.is_some();
                    let (outcome, call_changes) = match key {
                        Some(key) => self.keyed_call(session, key, request, now, &mut keys),
                        None => self.call(session, request, now),
                    };
                    let wrote = call_changes.writes();
                    shutdown_requested |= matches!(outcome, Ok(Response::ShuttingDown));
                    changes.merge(call_changes);
                    replies.push(PendingReply {
                        session,
                        id,
                        outcome,
                        wrote,
                        rerun: rerun.filter(|_| !wrote),
                        wait: None,
                    });
                }
                Input::Import {
                    session,
                    id,
                    dry_run,
                    source,
                } => {
                    let (outcome, call_changes) = self.import(session, *source, dry_run, now);
                    let wrote = call_changes.needs_sync();
                    changes.merge(call_changes);
                    replies.push(PendingReply {
                        session,
                        id,
                        outcome,
                        wrote,
                        rerun: None,
                        wait: None,
                    });
                }
                Input::Stop => stop = true,
            }
        }
        // The waits this batch's messages are for are answered in it: their replies leave with
        // the batch's, once it is durable (and they wait on if it cannot be stored).
        self.wake(&changes.messages);
        self.answer_waits(now, &mut keys, &mut changes, &mut replies);
        // Only a batch that changed the claims can have moved the next expiry.
        if !changes.claims.is_empty() {
            self.claim_expiry = self.next_claim_expiry(now);
        }
        Plan {
            keys,
            changes,
            stop,
            shutdown_requested,
            keyed,
            replies,
            closed,
            sessions_before,
        }
    }

    /// Step 2: the plan was stored (`Ok`) or not (the store's error); `now.at` is when that was
    /// known, which the retry timers count from.
    pub fn settle(&mut self, plan: Plan, stored: Result<(), &PersistError>, now: Now) -> Settled {
        let must_store = plan.must_store();
        let Plan {
            keys,
            changes,
            keyed,
            mut replies,
            mut closed,
            sessions_before,
            ..
        } = plan;
        match stored {
            Ok(()) => {
                self.room.commit();
                self.orphans_pending = false;
                // Only a batch that wrote shows the disk takes writes again.
                if must_store && let Some(failure) = self.storage_failure.take() {
                    info!(
                        failed_batches = failure.batches,
                        unavailable_ms =
                            now.at.saturating_duration_since(failure.since).as_millis() as u64,
                        "writes are stored again"
                    );
                }
                if changes.last_seen || changes.topic_activity {
                    self.mark_last_seen(now.at);
                }
                Settled {
                    stored: true,
                    changes,
                    replies,
                    sessions_before,
                    keys_stored: !keys.is_empty(),
                    keyed_stored: keyed,
                }
            }
            Err(err) => {
                self.room.roll_back();
                for record in &keys {
                    self.dedupe.remove(record.key);
                }
                self.repark(&mut replies, now);
                self.refuse_batch(err, &mut replies, now);
                // The claims are back as they were: expiries the batch undid are tried again
                // with the departures, not at once.
                self.claim_expiry = self
                    .next_claim_expiry(now)
                    .map(|expiry| expiry.max(now.at + DEPARTURE_RETRY));
                // The sessions are gone whatever the disk says; their names leave once it can
                // be recorded.
                closed.retain(|session| !self.room.names_held_by(*session).is_empty());
                self.departures = closed;
                Settled {
                    stored: false,
                    changes: Changes::default(),
                    replies,
                    sessions_before,
                    keys_stored: false,
                    keyed_stored: false,
                }
            }
        }
    }

    /// Step 3: queues the replies through `deliver`, then publishes the batch's news to the
    /// subscribers. A session whose outbox is full is evicted at once: it gets nothing more.
    pub fn deliver(
        &mut self,
        settled: Settled,
        mut deliver: impl FnMut(SessionId, ServerMessage) -> Delivery,
    ) -> Delivered {
        let mut evicted = Vec::new();
        for reply in settled.replies {
            if !self.sessions.contains_key(&reply.session) {
                continue;
            }
            let message = ServerMessage::Reply {
                id: reply.id,
                outcome: reply.outcome,
            };
            match deliver(reply.session, message) {
                Delivery::Queued => {}
                // The client went away with a call in flight (its Close command follows): an
                // ordinary end, which the client repeats the call after if it wanted it.
                Delivery::Gone => {
                    debug!(
                        session = reply.session,
                        "the session ended before its reply"
                    );
                }
                // Not reading: evicting it ends the connection, and its Close command follows.
                Delivery::Full => {
                    warn!(
                        session = reply.session,
                        "session does not read its replies; dropping the session"
                    );
                    self.sessions.remove(&reply.session);
                    evicted.push(reply.session);
                }
            }
        }
        // Counted before the subscribers are served, as the presence they are sent is.
        let sessions_after = self.live_sessions();
        let sessions_changed = sessions_after != settled.sessions_before;
        let slow = match settled.stored {
            true => self.publish(&settled.changes, sessions_changed, &mut deliver),
            false if sessions_changed => self.publish(&Changes::default(), true, &mut deliver),
            false => Vec::new(),
        };
        for session in slow {
            // A subscriber that does not keep up is dropped rather than buffered without bound;
            // its connection ends, and it can subscribe again.
            warn!(session, "subscriber outbox full; dropping the session");
            self.sessions.remove(&session);
            evicted.push(session);
        }
        // Counted again for the presence watch (the idle timer): a subscriber evicted just now
        // is gone, and its later Close finds nothing to remove, so the count taken before the
        // publishing would stay one too high until another session came or went.
        let sessions_now = self.live_sessions();
        Delivered {
            evicted,
            live_sessions: (sessions_now != settled.sessions_before).then_some(sessions_now),
        }
    }

    /// The keys to rewrite `idempotency.jsonl` with, when a file of `key_lines` lines is mostly
    /// forgotten keys and no failed compaction asks to wait. Asked right after a stored batch,
    /// so every key in the table is durable and the new file loses none of them.
    pub fn keys_to_compact(&mut self, key_lines: usize, now: Now) -> Option<Vec<KeyRecord>> {
        // The batch's own keys may have taken the table past its bound.
        self.dedupe.prune(now.unix);
        let waiting = self
            .compaction_not_before
            .is_some_and(|not_before| now.at < not_before);
        (self.dedupe.file_is_mostly_dead(key_lines) && !waiting).then(|| self.dedupe.records())
    }

    /// The shell rewrote the keys file (`true`) or could not: then the next try waits a minute.
    pub fn compacted(&mut self, rewritten: bool, now: Now) {
        self.compaction_not_before = (!rewritten).then(|| now.at + COMPACTION_RETRY);
    }

    /// How many keys are remembered (for the shell's log).
    pub fn live_keys(&self) -> usize {
        self.dedupe.len()
    }

    /// Whether `session` is in the table (opened, neither closed nor evicted).
    #[cfg(test)]
    pub fn has_session(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// After a batch could not be stored and was rolled back: its writes are refused with the
    /// cause, and the requests that changed nothing but may have seen a rolled-back change are
    /// answered again from the room as it is now. One that would now write is refused too: the
    /// disk just failed.
    fn refuse_batch(&mut self, err: &PersistError, replies: &mut [PendingReply], now: Now) {
        let failure = self.storage_failure.get_or_insert(StorageFailure {
            since: now.at,
            last: now.at,
            batches: 0,
        });
        failure.last = now.at;
        failure.batches += 1;
        let batches = failure.batches;
        // The first failure is an error in the log; a disk that stays full is not a flood.
        if batches == 1 {
            error!(file = %err.file, cause = %err.cause, "could not store a batch; its writes are refused until the disk takes them");
        } else {
            debug!(file = %err.file, cause = %err.cause, batches, "still cannot store");
        }
        let refusal = Refusal::storage(format!(
            "the chatroom could not save this change: {}",
            err.condition()
        ));
        for reply in replies.iter_mut() {
            if reply.wrote {
                reply.outcome = Err(refusal.clone());
                continue;
            }
            let Some(request) = reply.rerun.take() else {
                continue;
            };
            self.room.begin();
            let (outcome, changes) = self.call(reply.session, request, now);
            if changes.writes() {
                self.room.roll_back();
                reply.outcome = Err(refusal.clone());
            } else {
                self.room.commit();
                reply.outcome = outcome;
                if changes.last_seen || changes.topic_activity {
                    self.mark_last_seen(now.at);
                }
            }
        }
    }

    /// `last_seen` changed in memory: it is written within [`LAST_SEEN_FLUSH`] of the first such
    /// change.
    fn mark_last_seen(&mut self, at: Instant) {
        self.last_seen_dirty_since.get_or_insert(at);
    }

    /// Pushes a durable batch's news to the subscribed sessions: each new message to those that
    /// can see it, each new summary, and the presence when names or sessions changed. Returns
    /// the subscribers whose outbox was full.
    fn publish(
        &self,
        changes: &Changes,
        sessions_changed: bool,
        deliver: &mut impl FnMut(SessionId, ServerMessage) -> Delivery,
    ) -> Vec<SessionId> {
        if !self
            .sessions
            .values()
            .any(|entry| entry.subscription.is_some())
        {
            return Vec::new();
        }
        let claims = changes.claims.iter().cloned().map(Event::Claim);
        let presence = (changes.membership || sessions_changed).then(|| Event::Presence {
            participants: self.room.participants(),
            sessions: self.session_infos(),
        });
        let mut slow = Vec::new();
        for (session, entry) in &self.sessions {
            let Some(subscription) = &entry.subscription else {
                continue;
            };
            let messages = changes
                .messages
                .iter()
                .filter(|message| subscription.wants_message(message));
            let summaries = changes
                .summaries
                .iter()
                .filter(|summary| subscription.wants_summary(summary));
            let topics = changes
                .topic_records
                .iter()
                .filter(|topic| subscription.wants_topic(topic));
            let events = messages
                .cloned()
                .map(Event::Message)
                .chain(summaries.cloned().map(Event::Summary))
                .chain(topics.cloned().map(Event::Topic))
                .chain(claims.clone())
                .chain(presence.clone());
            for event in events {
                match deliver(*session, ServerMessage::Event(event)) {
                    Delivery::Queued => {}
                    // Gone already; its Close command follows.
                    Delivery::Gone => break,
                    Delivery::Full => {
                        slow.push(*session);
                        break;
                    }
                }
            }
        }
        slow
    }

    /// One request, unkeyed: the daemon's own requests here, the room's in the room.
    fn call(
        &mut self,
        session: SessionId,
        request: Request,
        now: Now,
    ) -> (Result<Response, Refusal>, Changes) {
        let kind = self.sessions.get(&session).map(|entry| entry.kind);
        let unchanged = |reply| (reply, Changes::default());
        match request {
            Request::DaemonStatus => unchanged(Ok(Response::DaemonStatus(self.status(now)))),
            Request::Shutdown => unchanged(Ok(Response::ShuttingDown)),
            Request::Subscribe {
                participant,
                topic_id,
            } => unchanged(self.subscribe(session, &participant, &topic_id)),
            Request::Link {
                client_session_id,
                agent_pid,
            } => unchanged(self.link(session, &client_session_id, agent_pid)),
            Request::Reach {
                hook,
                deliver,
                limit,
            } => unchanged(self.reach_call(&hook, deliver, limit, now)),
            Request::CheckClaims {
                hook,
                as_names,
                paths,
            } => unchanged(self.check_claims_call(&hook, as_names, &paths, now)),
            // A person or a command may ask about any message; an agent about its own.
            Request::ReadReceipts { message_id } if kind != Some(ClientKind::Agent) => unchanged(
                self.room
                    .read_receipts(message_id, None)
                    .map(|(reply, _)| reply),
            ),
            Request::Join { .. } if kind != Some(ClientKind::Agent) => {
                unchanged(Err(Refusal::not_allowed(
                    "only agent sessions can join the room; a person posts with `chatroomd send --as NAME`",
                )))
            }
            request => {
                let caller = Caller {
                    session,
                    human: kind == Some(ClientKind::Human),
                };
                let outcome = self.room.handle_as(caller, request, now.unix);
                (outcome.reply, outcome.changes)
            }
        }
    }

    fn subscribe(
        &mut self,
        session: SessionId,
        participant: &str,
        topic_id: &str,
    ) -> Result<Response, Refusal> {
        let filter = self.room.subscription(participant, topic_id)?;
        let entry = self
            .sessions
            .get_mut(&session)
            .ok_or_else(|| Refusal::not_allowed("the session has ended"))?;
        entry.subscription = Some(filter);
        Ok(Response::Subscribed)
    }

    /// The live sessions of agents and people (control connections are not sessions).
    fn session_infos(&self) -> Vec<SessionInfo> {
        self.sessions
            .iter()
            .filter(|(_, entry)| entry.kind != ClientKind::Control)
            .map(|(session, entry)| SessionInfo {
                session_id: *session,
                client_pid: entry.client_pid,
                names: self.room.names_held_by(*session),
                kind: entry.kind,
            })
            .collect()
    }

    fn status(&self, now: Now) -> DaemonStatus {
        let (topic_count, open_topic_count) = self.room.topic_counts();
        DaemonStatus {
            pid: self.pid,
            package_version: protocol::PACKAGE_VERSION.to_owned(),
            protocol_version: protocol::PROTOCOL_VERSION,
            uptime_secs: now
                .at
                .saturating_duration_since(self.facts.started)
                .as_secs(),
            root: self.facts.root.clone(),
            socket: self.facts.socket.clone(),
            log: self.facts.log.clone(),
            sessions: self.session_infos(),
            participants: self.room.participants(),
            message_count: self.room.message_count() as u64,
            summary_count: self.room.summary_count() as u64,
            last_activity_ts: self.room.last_activity_ts(),
            topic_count: topic_count as u64,
            open_topic_count: open_topic_count as u64,
            claims: self.room.claims(now.unix),
            import_hint: self
                .room
                .is_empty()
                .then(|| self.facts.import_hint.clone())
                .flatten(),
        }
    }

    fn live_sessions(&self) -> usize {
        self.sessions
            .values()
            .filter(|entry| entry.kind != ClientKind::Control)
            .count()
    }
}
