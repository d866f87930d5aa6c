//! The one owner of the room: a dedicated thread that holds the [`Room`] and the [`Store`].
//!
//! Connections talk to it only through [`Command`]s on a channel. It takes every command that is
//! queued, applies them to the room in order, makes their changes durable with one
//! [`Store::persist`] (group commit), and only then hands the replies to the sessions' outboxes:
//! persist, then reply. Running on its own thread keeps `fdatasync` off the async runtime.
//!
//! A batch that cannot be stored (a full disk, a read-only `.chatroom/`) is rolled back whole:
//! its writes are refused with the cause, the reads it answered after a rolled-back change are
//! answered again, and the departures of sessions that ended in it are retried until the disk
//! takes them (the names stay listed meanwhile: nothing is announced that is not stored).
//!
//! The idempotency keys stay bounded while it runs: they are pruned before every batch and
//! their file is compacted once most of it is dead. And if the thread ends for any reason, a
//! panic included, it cancels the daemon's shutdown token on its way out: a daemon without its
//! owner answers nothing, so it leaves by its one shutdown path, releasing the lock for the next
//! client to start a fresh one.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use protocol::{
    ClientKind, DaemonStatus, Event, Refusal, Request, Response, ServerMessage, SessionInfo,
};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::daemon::dedupe::{Dedupe, Key, KeyRecord, Recorded};
use crate::daemon::room::{self, Caller, Changes, Room, SessionId};
use crate::daemon::store::{PersistError, Store};
use crate::shared::time::unix_now;

/// How many queued commands one batch takes at most, so a flood cannot delay replies unboundedly.
const MAX_BATCH: usize = 512;
/// How long `last_seen`-only changes may stay in memory before `participants.json` is rewritten.
const LAST_SEEN_FLUSH: Duration = Duration::from_secs(1);
/// How often the departures that could not be stored are tried again.
const DEPARTURE_RETRY: Duration = Duration::from_secs(1);
/// How long after a failed compaction of the keys file the next one is tried.
const COMPACTION_RETRY: Duration = Duration::from_secs(60);

/// A message to the owner.
#[derive(Debug)]
pub enum Command {
    /// A connection finished its handshake. Replies and (later) events go to `outbox`; the
    /// owner cancels `evict` when it drops the session for not reading, and the connection
    /// then ends at once, queued frames and all.
    Open {
        session: SessionId,
        kind: ClientKind,
        client_pid: u32,
        outbox: mpsc::Sender<ServerMessage>,
        evict: CancellationToken,
    },
    /// A request from `session`; the reply carries `id`. The permit bounds a connection's
    /// requests in flight and is released once the reply is queued.
    Call {
        session: SessionId,
        id: u64,
        /// The idempotency key of a write the client may repeat.
        key: Option<Key>,
        request: Request,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// The connection of `session` ended, however it ended.
    Close { session: SessionId },
    /// The server is shutting down: flush and end the thread.
    Stop,
}

/// What the owner tells the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// Agent and person sessions open now (control connections do not count): the idle timer
    /// runs at zero.
    pub live_sessions: usize,
    /// A client asked the daemon to shut down.
    pub shutdown_requested: bool,
}

/// Facts about the daemon that `chatroomd status` reports besides the room.
#[derive(Debug, Clone)]
pub struct DaemonFacts {
    pub started: Instant,
    pub root: String,
    pub socket: String,
    pub log: String,
}

/// The sending side, cloned into every connection.
#[derive(Debug, Clone)]
pub struct OwnerHandle {
    commands: Sender<Command>,
}

impl OwnerHandle {
    /// Sends a command; `false` if the owner has stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

struct SessionEntry {
    kind: ClientKind,
    client_pid: u32,
    outbox: mpsc::Sender<ServerMessage>,
    evict: CancellationToken,
    /// `Some` once the session subscribed: `Some(None)` for every message, `Some(Some(name))`
    /// for the messages visible to `name`.
    subscription: Option<Option<String>>,
}

/// Starts the owner thread. It runs until it receives [`Command::Stop`] (or every handle is gone).
/// However it ends, a panic included, it cancels `shutdown` on its way out: a daemon without its
/// owner can answer nothing, so it must not linger holding the lock (see [`CancelOnExit`]).
pub fn spawn(
    room: Room,
    store: Store,
    dedupe: Dedupe,
    facts: DaemonFacts,
    shutdown: CancellationToken,
) -> (
    OwnerHandle,
    watch::Receiver<Presence>,
    std::thread::JoinHandle<()>,
) {
    let (commands, receiver) = channel();
    let (owner, presence_rx) = Owner::new(room, store, dedupe, facts);
    let thread = std::thread::Builder::new()
        .name("room-owner".into())
        .spawn(move || {
            let _exit = CancelOnExit(shutdown);
            owner.run(receiver);
        })
        .expect("spawning the room owner thread");
    (OwnerHandle { commands }, presence_rx, thread)
}

impl Owner {
    fn new(
        room: Room,
        store: Store,
        dedupe: Dedupe,
        facts: DaemonFacts,
    ) -> (Self, watch::Receiver<Presence>) {
        let (presence_tx, presence_rx) = watch::channel(Presence {
            live_sessions: 0,
            shutdown_requested: false,
        });
        let room_has_orphans = room.has_orphans();
        let owner = Owner {
            room,
            store,
            dedupe,
            facts,
            sessions: BTreeMap::new(),
            presence: presence_tx,
            last_seen_dirty_since: None,
            departures: Vec::new(),
            orphans_pending: room_has_orphans,
            // Orphans still in the room mean the start could not store their departure: that is a
            // failed batch like any other, and it sets the same retry timer.
            storage_failure: room_has_orphans.then(|| {
                let now = Instant::now();
                StorageFailure {
                    since: now,
                    last: now,
                    batches: 1,
                }
            }),
            compaction_not_before: None,
        };
        (owner, presence_rx)
    }
}

/// Cancels the daemon's shutdown token when the owner thread ends, by returning or by unwinding.
struct CancelOnExit(CancellationToken);

impl Drop for CancelOnExit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            error!("the room owner thread panicked; shutting the daemon down");
        }
        self.0.cancel();
    }
}

struct Owner {
    room: Room,
    store: Store,
    /// The keys of recent keyed writes, for answering repeats.
    dedupe: Dedupe,
    facts: DaemonFacts,
    sessions: BTreeMap<SessionId, SessionEntry>,
    presence: watch::Sender<Presence>,
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
}

/// Batches in a row that could not be stored.
#[derive(Debug, Clone, Copy)]
struct StorageFailure {
    since: Instant,
    last: Instant,
    batches: u64,
}

/// A reply waiting for its batch to be durable.
struct PendingReply {
    session: SessionId,
    id: u64,
    outcome: Result<Response, Refusal>,
    /// Whether this request changed durable state (and so fails if the batch cannot be stored).
    wrote: bool,
    /// A request that changed nothing but ran after a change of the same batch, kept so that it
    /// can be answered again if that change is rolled back (its answer may have seen it).
    rerun: Option<Request>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Owner {
    fn run(mut self, receiver: Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let timeout = self
                .next_deadline()
                .map_or(Duration::from_secs(3600), |deadline| {
                    deadline.saturating_duration_since(Instant::now())
                });
            match receiver.recv_timeout(timeout) {
                Ok(command) => batch.push(command),
                // A deadline: an empty batch retries the departures, then last_seen is flushed.
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            let stop = if batch.is_empty() && !self.departures_pending() {
                false
            } else {
                self.handle_batch(&mut batch)
            };
            if self
                .last_seen_dirty_since
                .is_some_and(|since| since.elapsed() >= LAST_SEEN_FLUSH)
            {
                self.flush_last_seen();
            }
            if stop {
                break;
            }
        }
        self.flush_last_seen();
        info!(messages = self.room.message_count(), "room owner stopped");
    }

    /// When the owner must act without a command: flush `last_seen`, or retry departures.
    fn next_deadline(&self) -> Option<Instant> {
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
        flush.into_iter().chain(retry).min()
    }

    fn departures_pending(&self) -> bool {
        self.orphans_pending || !self.departures.is_empty()
    }

    /// Applies a batch and delivers its replies; returns whether a `Stop` was seen.
    fn handle_batch(&mut self, batch: &mut Vec<Command>) -> bool {
        let now = unix_now();
        // Keys past a day or past the bound are forgotten before any repeat could match them.
        self.dedupe.prune(now);
        self.room.begin();
        let mut changes = Changes::default();
        let mut keys: Vec<KeyRecord> = Vec::new();
        // Departures a failed batch (or the start) could not store go first, as if their
        // sessions closed now.
        if self.orphans_pending {
            changes.merge(self.room.remove_orphans(now));
        }
        let mut closed = std::mem::take(&mut self.departures);
        for session in &closed {
            changes.merge(self.room.end_session(*session, now));
        }
        let mut replies: Vec<PendingReply> = Vec::with_capacity(batch.len());
        let mut stop = false;
        let mut keyed = false;
        let sessions_before = self.live_sessions();
        for command in batch.drain(..) {
            match command {
                Command::Open {
                    session,
                    kind,
                    client_pid,
                    outbox,
                    evict,
                } => {
                    debug!(
                        session,
                        client_pid,
                        kind = kind_name(kind),
                        "session opened"
                    );
                    let entry = SessionEntry {
                        kind,
                        client_pid,
                        outbox,
                        evict,
                        subscription: None,
                    };
                    self.sessions.insert(session, entry);
                }
                Command::Close { session } => {
                    if let Some(entry) = self.sessions.remove(&session) {
                        debug!(session, client_pid = entry.client_pid, "session closed");
                    }
                    for name in self.room.names_held_by(session) {
                        info!(session, name, "a name left with its session");
                    }
                    let ended = self.room.end_session(session, now);
                    changes.merge(ended);
                    closed.push(session);
                }
                Command::Call {
                    session,
                    id,
                    key,
                    request,
                    permit,
                } => {
                    // Only small requests are kept: a send or a summary always writes or is
                    // refused for its arguments alone, whatever else the batch did.
                    let rerun = (changes.needs_sync()
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
                    let wrote = call_changes.needs_sync();
                    if matches!(outcome, Ok(Response::ShuttingDown)) {
                        self.presence
                            .send_modify(|presence| presence.shutdown_requested = true);
                    }
                    changes.merge(call_changes);
                    replies.push(PendingReply {
                        session,
                        id,
                        outcome,
                        wrote,
                        rerun: rerun.filter(|_| !wrote),
                        _permit: permit,
                    });
                }
                Command::Stop => stop = true,
            }
        }
        // A batch's keys are stored with it, ahead of its appends (see `Store::persist`).
        let must_store = changes.needs_sync() || !keys.is_empty();
        let stored = match must_store {
            false => Ok(()),
            true => self.store.persist(&keys, &changes, &self.room),
        };
        match &stored {
            Ok(()) => {
                self.room.commit();
                self.orphans_pending = false;
                // Only a batch that wrote shows the disk takes writes again.
                if must_store && let Some(failure) = self.storage_failure.take() {
                    info!(
                        failed_batches = failure.batches,
                        unavailable_ms = failure.since.elapsed().as_millis() as u64,
                        "writes are stored again"
                    );
                }
                if changes.last_seen && self.last_seen_dirty_since.is_none() {
                    self.last_seen_dirty_since = Some(Instant::now());
                }
                if !keys.is_empty() {
                    self.compact_keys(now);
                }
                if keyed {
                    crate::daemon::fault::after_keyed_persist();
                }
            }
            Err(err) => {
                self.room.roll_back();
                for record in &keys {
                    self.dedupe.remove(record.key);
                }
                self.refuse_batch(err, &mut replies, now);
                // The sessions are gone whatever the disk says; their names leave once it can
                // be recorded.
                closed.retain(|session| !self.room.names_held_by(*session).is_empty());
                self.departures = closed;
            }
        }
        for reply in replies {
            let Some(entry) = self.sessions.get(&reply.session) else {
                continue;
            };
            let message = ServerMessage::Reply {
                id: reply.id,
                outcome: reply.outcome,
            };
            match entry.outbox.try_send(message) {
                Ok(()) => {}
                // The client went away with a call in flight (its Close command follows): an
                // ordinary end, which the client repeats the call after if it wanted it.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    debug!(
                        session = reply.session,
                        "the session ended before its reply"
                    );
                }
                // Not reading: evicting it ends the connection, and its Close command follows.
                Err(mpsc::error::TrySendError::Full(_)) => {
                    warn!(
                        session = reply.session,
                        "session does not read its replies; dropping the session"
                    );
                    self.evict(reply.session);
                }
            }
        }
        let sessions_after = self.live_sessions();
        let sessions_changed = sessions_after != sessions_before;
        match stored {
            Ok(()) => self.publish(&changes, sessions_changed),
            Err(_) if sessions_changed => self.publish(&Changes::default(), true),
            Err(_) => {}
        }
        if sessions_changed {
            self.presence
                .send_modify(|presence| presence.live_sessions = sessions_after);
        }
        stop
    }

    /// After a batch could not be stored and was rolled back: its writes are refused with the
    /// cause, and the requests that changed nothing but may have seen a rolled-back change are
    /// answered again from the room as it is now. One that would now write is refused too: the
    /// disk just failed.
    fn refuse_batch(&mut self, err: &PersistError, replies: &mut [PendingReply], now: u64) {
        let now_instant = Instant::now();
        let failure = self.storage_failure.get_or_insert(StorageFailure {
            since: now_instant,
            last: now_instant,
            batches: 0,
        });
        failure.last = now_instant;
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
            if changes.needs_sync() {
                self.room.roll_back();
                reply.outcome = Err(refusal.clone());
            } else {
                self.room.commit();
                reply.outcome = outcome;
                if changes.last_seen && self.last_seen_dirty_since.is_none() {
                    self.last_seen_dirty_since = Some(Instant::now());
                }
            }
        }
    }

    /// Rewrites `idempotency.jsonl` with the live keys once most of its lines are forgotten
    /// ones. Called right after a stored batch, so every key in the table is durable and the
    /// new file loses none of them.
    fn compact_keys(&mut self, now: u64) {
        // The batch's own keys may have taken the table past its bound.
        self.dedupe.prune(now);
        let lines = self.store.key_lines();
        if !self.dedupe.file_is_mostly_dead(lines)
            || self
                .compaction_not_before
                .is_some_and(|not_before| Instant::now() < not_before)
        {
            return;
        }
        match self.store.rewrite_keys(&self.dedupe.records()) {
            Ok(()) => {
                self.compaction_not_before = None;
                debug!(
                    lines_before = lines,
                    live_keys = self.dedupe.len(),
                    "compacted the idempotency keys"
                );
            }
            Err(err) => {
                self.compaction_not_before = Some(Instant::now() + COMPACTION_RETRY);
                warn!(file = %err.file, cause = %err.cause, "could not compact the idempotency keys; trying again in a minute");
            }
        }
    }

    /// Drops a session that does not read: its connection ends at once.
    fn evict(&mut self, session: SessionId) {
        if let Some(entry) = self.sessions.remove(&session) {
            entry.evict.cancel();
        }
    }

    /// Pushes a durable batch's news to the subscribed sessions: each new message to those that
    /// can see it, each new summary, and the presence when names or sessions changed.
    fn publish(&mut self, changes: &Changes, sessions_changed: bool) {
        if !self
            .sessions
            .values()
            .any(|entry| entry.subscription.is_some())
        {
            return;
        }
        let presence = (changes.membership || sessions_changed).then(|| Event::Presence {
            participants: self.room.participants(),
            sessions: self.session_infos(),
        });
        let mut slow = Vec::new();
        for (session, entry) in &self.sessions {
            let Some(filter) = &entry.subscription else {
                continue;
            };
            let visible = changes.messages.iter().filter(|message| match filter {
                Some(participant) => room::is_visible_to(message, participant),
                None => true,
            });
            let events = visible
                .cloned()
                .map(Event::Message)
                .chain(changes.summaries.iter().cloned().map(Event::Summary))
                .chain(presence.clone());
            for event in events {
                match entry.outbox.try_send(ServerMessage::Event(event)) {
                    Ok(()) => {}
                    // Gone already; its Close command follows.
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        slow.push(*session);
                        break;
                    }
                }
            }
        }
        for session in slow {
            // A subscriber that does not keep up is dropped rather than buffered without bound;
            // its connection ends, and it can subscribe again.
            warn!(session, "subscriber outbox full; dropping the session");
            self.evict(session);
        }
    }

    fn call(
        &mut self,
        session: SessionId,
        request: Request,
        now: u64,
    ) -> (Result<Response, Refusal>, Changes) {
        crate::daemon::fault::before_call(&request);
        let kind = self.sessions.get(&session).map(|entry| entry.kind);
        let unchanged = |reply| (reply, Changes::default());
        match request {
            Request::DaemonStatus => unchanged(Ok(Response::DaemonStatus(self.status()))),
            Request::Shutdown => unchanged(Ok(Response::ShuttingDown)),
            Request::Subscribe { participant } => unchanged(self.subscribe(session, &participant)),
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
                let outcome = self.room.handle_as(caller, request, now);
                (outcome.reply, outcome.changes)
            }
        }
    }

    /// A write the client may repeat: the first time it is carried out and its key recorded
    /// (made durable with the batch, before the write itself); a repeat gets the first outcome.
    fn keyed_call(
        &mut self,
        session: SessionId,
        key: Key,
        request: Request,
        now: u64,
        keys: &mut Vec<KeyRecord>,
    ) -> (Result<Response, Refusal>, Changes) {
        if let Some(recorded) = self.dedupe.get(key).cloned() {
            debug!(session, key = %format!("{key:032x}"), first = %recorded, "answering a repeated write");
            return self.replay(session, recorded, request, now);
        }
        let unread_from = match &request {
            Request::ReadUnread { name, .. } => Some(self.room.cursor(name.trim())),
            _ => None,
        };
        let (outcome, changes) = self.call(session, request, now);
        let recorded = match (&outcome, unread_from) {
            (Ok(Response::Unread(unread)), Some(after)) => {
                unread.messages.last().map(|last| Recorded::Unread {
                    name: unread.name.clone(),
                    after,
                    through: last.id,
                })
            }
            (Ok(Response::Id(id)), None) if !changes.messages.is_empty() => {
                Some(Recorded::Message { id: *id })
            }
            (Ok(Response::Id(id)), None) if !changes.summaries.is_empty() => {
                Some(Recorded::Summary { id: *id })
            }
            (Ok(Response::Left(true)), None) => Some(Recorded::Left),
            _ => None,
        };
        if let Some(recorded) = recorded {
            let record = KeyRecord {
                key,
                at: now,
                recorded,
            };
            self.dedupe.insert(record.clone());
            keys.push(record);
        }
        (outcome, changes)
    }

    /// The outcome a keyed write had the first time.
    fn replay(
        &mut self,
        session: SessionId,
        recorded: Recorded,
        request: Request,
        now: u64,
    ) -> (Result<Response, Refusal>, Changes) {
        match recorded {
            Recorded::Message { id } | Recorded::Summary { id } => {
                (Ok(Response::Id(id)), Changes::default())
            }
            // The first leave released the name. If this session holds it again (a client that
            // re-joined its names on a new connection before repeating the leave), the repeat
            // still means "let it go": release it again, so the answer is true whatever the
            // client did in between.
            Recorded::Left => {
                let held_again = matches!(&request, Request::Leave { name }
                    if self.room.names_held_by(session).iter().any(|held| held == name.trim()));
                let changes = match held_again {
                    true => self.call(session, request, now).1,
                    false => Changes::default(),
                };
                (Ok(Response::Left(true)), changes)
            }
            Recorded::Unread {
                name,
                after,
                through,
            } => {
                let messages = self.room.visible_between(&name, after, through);
                // The cursor move may not have reached the disk before a crash: make sure of it.
                let request = Request::SetCursor {
                    name: name.clone(),
                    message_id: through as i64,
                };
                let changes = self.room.handle(session, request, now).changes;
                let last_read_id = self.room.cursor(&name);
                let unread = protocol::Unread {
                    name,
                    last_read_id,
                    messages,
                };
                (Ok(Response::Unread(unread)), changes)
            }
        }
    }

    fn subscribe(&mut self, session: SessionId, participant: &str) -> Result<Response, Refusal> {
        let filter = room::subscription_filter(participant)?;
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

    fn status(&self) -> DaemonStatus {
        DaemonStatus {
            pid: std::process::id(),
            package_version: protocol::PACKAGE_VERSION.to_owned(),
            protocol_version: protocol::PROTOCOL_VERSION,
            uptime_secs: self.facts.started.elapsed().as_secs(),
            root: self.facts.root.clone(),
            socket: self.facts.socket.clone(),
            log: self.facts.log.clone(),
            sessions: self.session_infos(),
            participants: self.room.participants(),
            message_count: self.room.message_count() as u64,
            summary_count: self.room.summary_count() as u64,
            last_activity_ts: self.room.last_activity_ts(),
        }
    }

    fn live_sessions(&self) -> usize {
        self.sessions
            .values()
            .filter(|entry| entry.kind != ClientKind::Control)
            .count()
    }

    fn flush_last_seen(&mut self) {
        if self.last_seen_dirty_since.take().is_some()
            && let Err(err) = self.store.write_participants(&self.room)
        {
            warn!(file = %err.file, cause = %err.cause, "could not rewrite participants.json; last_seen stays in memory");
        }
    }
}

/// A session kind in the log's words.
pub fn kind_name(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Agent => "agent",
        ClientKind::Human => "person",
        ClientKind::Control => "control",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::store::{MESSAGES_FILE, PARTICIPANTS_FILE};

    fn facts() -> DaemonFacts {
        DaemonFacts {
            started: Instant::now(),
            root: String::new(),
            socket: String::new(),
            log: String::new(),
        }
    }

    /// Runs `body` with this thread's `tracing` events (debug and up) written to a string.
    fn logged(body: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, body);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn open(session: SessionId, outbox: mpsc::Sender<ServerMessage>) -> Command {
        Command::Open {
            session,
            kind: ClientKind::Agent,
            client_pid: 7,
            outbox,
            evict: CancellationToken::new(),
        }
    }

    fn status_call(session: SessionId) -> Command {
        Command::Call {
            session,
            id: 1,
            key: None,
            request: Request::GetStatus,
            permit: None,
        }
    }

    #[test]
    fn a_client_gone_before_its_reply_is_no_warning_but_one_that_does_not_read_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (mut owner, _presence) = Owner::new(Room::new(), store, Dedupe::default(), facts());

        // The client closed its connection with a call in flight: an ordinary end.
        let (gone, inbox) = mpsc::channel(4);
        drop(inbox);
        let log = logged(|| {
            owner.handle_batch(&mut vec![open(1, gone), status_call(1)]);
        });
        assert!(!log.contains("WARN"), "{log}");
        assert!(log.contains("the session ended before its reply"), "{log}");

        // A client whose outbox is full does not read: that is trouble, and it is dropped.
        let (full, _inbox) = mpsc::channel(1);
        full.try_send(ServerMessage::Event(Event::Summary(protocol::Summary {
            id: 1,
            ts: String::new(),
            from: "a".into(),
            scope: "all".into(),
            content: "x".into(),
        })))
        .unwrap();
        let log = logged(|| {
            owner.handle_batch(&mut vec![open(2, full), status_call(2)]);
        });
        assert!(
            log.contains("WARN") && log.contains("does not read its replies"),
            "{log}"
        );
        assert!(!owner.sessions.contains_key(&2), "the session is dropped");
    }

    #[test]
    fn stale_participants_a_start_could_not_remove_leave_on_the_retry_timer() {
        let dir = tempfile::tempdir().unwrap();
        let alice = protocol::Participant {
            name: "alice".into(),
            role: "dev".into(),
            joined_at: "2026-01-02T03:04:05Z".into(),
            last_seen: "2026-01-02T03:04:05Z".into(),
        };
        let mut room = Room::restore(Vec::new(), Vec::new(), vec![alice], Vec::new()).unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        // The start's attempt fails as `serve` sees it on a disk that takes nothing: the
        // participants' temp file cannot be created.
        let blocker = dir.path().join(format!(".{PARTICIPANTS_FILE}.tmp"));
        std::fs::create_dir(&blocker).unwrap();
        room.begin();
        let orphans = room.remove_orphans(unix_now());
        assert!(store.persist(&[], &orphans, &room).is_err());
        room.roll_back();
        std::fs::remove_dir(&blocker).unwrap();

        // The disk takes writes again, and no client ever sends a command: the owner's own
        // timer must retry the departure.
        let shutdown = CancellationToken::new();
        let (owner, _presence, thread) = spawn(room, store, Dedupe::default(), facts(), shutdown);
        let messages = dir.path().join(MESSAGES_FILE);
        let deadline = Instant::now() + Duration::from_secs(10);
        let left = loop {
            let text = std::fs::read_to_string(&messages).unwrap_or_default();
            if text.contains("alice left the chatroom") || Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        owner.send(Command::Stop);
        thread.join().unwrap();
        assert!(left.contains("alice left the chatroom"), "{left:?}");
        let participants = std::fs::read_to_string(dir.path().join(PARTICIPANTS_FILE)).unwrap();
        assert_eq!(participants.trim(), "{}");
    }
}
