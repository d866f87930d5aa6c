//! The one owner of the room: a task that holds the [`Room`] and the [`Store`].
//!
//! Connections talk to it only through [`Command`]s on a channel. It takes every command that is
//! queued, applies them to the room in order, makes their changes durable with one
//! [`Store::persist`] (group commit: one journal record and one sync), and only then hands the
//! replies to the sessions' outboxes: persist, then reply. Once the room is quiet (or the journal
//! has grown long), and at a clean stop, it checkpoints the store (syncs the compatible files,
//! empties the journal), after the batch's replies are written.
//!
//! The owner and every connection share the daemon's one thread (a current-thread runtime): a
//! request reaches the owner, and its reply the connection, without waking another thread,
//! which on these machines cost more than the work of most requests. The owner's `fdatasync`
//! blocks that thread, and that is the group commit: the requests that arrive meanwhile wait in
//! their sockets and are read, all of them, into the next batch.
//!
//! What a batch does is decided by the pure core in [`batch`] (apply, settle, deliver), which
//! is where the rules live and are tested: the rollback of a batch that cannot be stored, the
//! re-answered reads, the replayed keyed writes, the retried departures, the evictions and the
//! events each subscriber may see. This module is the thin shell around it: the task, the
//! channel, the clock, the store and the keys file's compaction, the sessions' outboxes and
//! eviction tokens, the presence watch and the test-only faults. And if the task ends for any
//! reason, a panic included, it cancels the daemon's shutdown token on its way out: a daemon
//! without its owner answers nothing, so it leaves by its one shutdown path, releasing the lock
//! for the next client to start a fresh one.

mod batch;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use protocol::{ClientKind, Request, ServerMessage};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::daemon::dedupe::{Dedupe, Key};
use crate::daemon::import::{Source, SourceError};
use crate::daemon::room::{Room, SessionId};
use crate::daemon::store::Store;
use crate::shared::time::unix_now;
use batch::{Core, Delivery, Input, Now};

/// How many queued commands one batch takes at most, so a flood cannot delay replies unboundedly.
const MAX_BATCH: usize = 512;

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
    /// `chatroomd import`: the source as the connection read it (off this thread, so a large or
    /// slow source never holds up the room), to be planned and carried out as one write.
    Import {
        session: SessionId,
        id: u64,
        dry_run: bool,
        source: Box<Result<Source, SourceError>>,
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
    /// The command that would import the Python server's state found in the repository at the
    /// start, offered while the room is empty (`crate::daemon::import::hint`).
    pub import_hint: Option<String>,
}

/// The sending side, cloned into every connection.
#[derive(Debug, Clone)]
pub struct OwnerHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl OwnerHandle {
    /// Sends a command; `false` if the owner has stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

/// A session's side of the channels: where its frames go, and how its connection is ended.
struct Outbox {
    sender: mpsc::Sender<ServerMessage>,
    evict: CancellationToken,
}

/// Starts the owner task (on the current runtime). It runs until it receives [`Command::Stop`] (or every handle is gone).
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
    tokio::task::JoinHandle<()>,
) {
    let (commands, receiver) = mpsc::unbounded_channel();
    let (owner, presence_rx) = Owner::new(room, store, dedupe, facts);
    let task = tokio::spawn(async move {
        let _exit = CancelOnExit(shutdown);
        owner.run(receiver).await;
    });
    (OwnerHandle { commands }, presence_rx, task)
}

/// Cancels the daemon's shutdown token when the owner task ends, by returning or by unwinding.
struct CancelOnExit(CancellationToken);

impl Drop for CancelOnExit {
    fn drop(&mut self) {
        if std::thread::panicking() {
            error!("the room owner panicked; shutting the daemon down");
        }
        self.0.cancel();
    }
}

/// The shell: the core, and everything it must not touch.
struct Owner {
    core: Core,
    store: Store,
    /// The outboxes of the sessions the core knows, by the same ids.
    outboxes: BTreeMap<SessionId, Outbox>,
    presence: watch::Sender<Presence>,
    /// When a batch (or the lazy flush) last went to the journal: checkpoints wait for quiet.
    last_stored: Instant,
}

impl Owner {
    fn new(
        room: Room,
        store: Store,
        dedupe: Dedupe,
        facts: DaemonFacts,
    ) -> (Self, watch::Receiver<Presence>) {
        let (presence, presence_rx) = watch::channel(Presence {
            live_sessions: 0,
            shutdown_requested: false,
        });
        let core = Core::new(room, dedupe, facts, std::process::id(), Instant::now());
        let owner = Owner {
            core,
            store,
            outboxes: BTreeMap::new(),
            presence,
            last_stored: Instant::now(),
        };
        (owner, presence_rx)
    }

    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let checkpoint = self.store.checkpoint_due_at(self.last_stored);
            let deadline = self
                .core
                .next_deadline()
                .into_iter()
                .chain(checkpoint)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                command = receiver.recv() => match command {
                    Some(command) => batch.push(command),
                    None => break,
                },
                // A deadline: an empty batch retries the departures, then last_seen is flushed.
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            let idle = batch.is_empty()
                && !self.core.departures_pending()
                && !self.core.waits_due(Instant::now())
                && !self.core.claims_due(Instant::now());
            let stop = if idle {
                false
            } else {
                self.handle_batch(&mut batch)
            };
            if self.core.last_seen_due(Instant::now()) {
                self.flush_last_seen();
            }
            if stop {
                break;
            }
            if self
                .store
                .checkpoint_due_at(self.last_stored)
                .is_some_and(|due| due <= Instant::now())
            {
                // The batch's replies are queued to connections that run on this thread: they
                // are written before the checkpoint's few syncs, which so delay none of them.
                tokio::task::yield_now().await;
                self.checkpoint();
            }
        }
        self.flush_last_seen();
        // A clean stop leaves the compatible files complete and synced, and the journal empty:
        // 0 bytes, its zero padding cut off.
        if let Err(err) = self.store.close() {
            warn!(file = %err.file, cause = %err.cause, "could not checkpoint the journal at the stop; its batches stay there until the next start");
        }
        info!(
            messages = self.core.room().message_count(),
            "room owner stopped"
        );
    }

    /// Runs one batch through the core's three steps, doing the I/O between them; returns
    /// whether a `Stop` was seen.
    fn handle_batch(&mut self, batch: &mut Vec<Command>) -> bool {
        let now = Now {
            unix: unix_now(),
            at: Instant::now(),
        };
        // The permits bound each connection's requests in flight; they are released once the
        // batch's replies are queued.
        let mut permits = Vec::new();
        let inputs: Vec<Input> = batch
            .drain(..)
            .map(|command| self.admit(command, &mut permits))
            .collect();
        let plan = self.core.apply(inputs, now);
        if plan.shutdown_requested {
            self.presence
                .send_modify(|presence| presence.shutdown_requested = true);
        }
        let stored = match plan.must_store() {
            false => Ok(()),
            true => {
                self.last_stored = Instant::now();
                self.store
                    .persist(&plan.keys, &plan.changes, self.core.room())
            }
        };
        let stop = plan.stop;
        // The timers the outcome sets count from when it is known.
        let now = Now {
            at: Instant::now(),
            ..now
        };
        let settled = self.core.settle(plan, stored.as_ref().map(|_| ()), now);
        if settled.keys_stored {
            self.compact_keys(now);
        }
        if settled.keyed_stored {
            crate::daemon::fault::after_keyed_persist();
        }
        let outboxes = &self.outboxes;
        let delivered = self.core.deliver(settled, |session, message| {
            let Some(outbox) = outboxes.get(&session) else {
                return Delivery::Gone;
            };
            match outbox.sender.try_send(message) {
                Ok(()) => Delivery::Queued,
                Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
                Err(mpsc::error::TrySendError::Full(_)) => Delivery::Full,
            }
        });
        drop(permits);
        for session in delivered.evicted {
            // Ends the connection at once, queued frames and all; its Close command follows.
            if let Some(outbox) = self.outboxes.remove(&session) {
                outbox.evict.cancel();
            }
        }
        if let Some(live_sessions) = delivered.live_sessions {
            self.presence
                .send_modify(|presence| presence.live_sessions = live_sessions);
        }
        stop
    }

    /// Takes a command's channels into the shell and hands the core the rest. The test-only
    /// owner panic fires here, before anything of the batch is applied or stored.
    fn admit(&mut self, command: Command, permits: &mut Vec<OwnedSemaphorePermit>) -> Input {
        match command {
            Command::Open {
                session,
                kind,
                client_pid,
                outbox,
                evict,
            } => {
                let outbox = Outbox {
                    sender: outbox,
                    evict,
                };
                self.outboxes.insert(session, outbox);
                Input::Open {
                    session,
                    kind,
                    client_pid,
                }
            }
            Command::Call {
                session,
                id,
                key,
                request,
                permit,
            } => {
                crate::daemon::fault::before_call(&request);
                permits.extend(permit);
                Input::Call {
                    session,
                    id,
                    key,
                    request,
                }
            }
            Command::Import {
                session,
                id,
                dry_run,
                source,
                permit,
            } => {
                permits.extend(permit);
                Input::Import {
                    session,
                    id,
                    dry_run,
                    source,
                }
            }
            Command::Close { session } => {
                self.outboxes.remove(&session);
                Input::Close { session }
            }
            Command::Stop => Input::Stop,
        }
    }

    /// Rewrites `idempotency.jsonl` with the live keys when the core finds most of its lines
    /// are forgotten ones.
    fn compact_keys(&mut self, now: Now) {
        let lines = self.store.key_lines();
        let Some(records) = self.core.keys_to_compact(lines, now) else {
            return;
        };
        match self.store.rewrite_keys(&records) {
            Ok(()) => {
                self.core.compacted(true, now);
                debug!(
                    lines_before = lines,
                    live_keys = self.core.live_keys(),
                    "compacted the idempotency keys"
                );
            }
            Err(err) => {
                self.core.compacted(false, now);
                warn!(file = %err.file, cause = %err.cause, "could not compact the idempotency keys; trying again in a minute");
            }
        }
    }

    /// Syncs the compatible files and empties the journal; a failure keeps the journal, which
    /// still holds every batch, and the next checkpoint tries again.
    fn checkpoint(&mut self) {
        if let Err(err) = self.store.checkpoint() {
            warn!(file = %err.file, cause = %err.cause, "could not checkpoint the journal; its batches stay there until the next checkpoint or start");
        }
    }

    fn flush_last_seen(&mut self) {
        if !self.core.take_last_seen() {
            return;
        }
        // A journal record too: the checkpoint's quiet is counted from it.
        self.last_stored = Instant::now();
        if let Err(err) = self.store.write_lazy(self.core.room()) {
            warn!(file = %err.file, cause = %err.cause, "could not rewrite participants.json or topics.json; last_seen and topic activity stay in memory");
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
    use protocol::Event;

    fn facts() -> DaemonFacts {
        DaemonFacts {
            started: Instant::now(),
            root: String::new(),
            socket: String::new(),
            log: String::new(),
            import_hint: None,
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
            topic_id: None,
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
        assert!(!owner.core.has_session(2), "the session is dropped");
        assert!(!owner.outboxes.contains_key(&2), "and its outbox with it");
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let messages = dir.path().join(MESSAGES_FILE);
        let left = runtime.block_on(async {
            let shutdown = CancellationToken::new();
            let (owner, _presence, task) = spawn(room, store, Dedupe::default(), facts(), shutdown);
            let deadline = Instant::now() + Duration::from_secs(10);
            let left = loop {
                let text = std::fs::read_to_string(&messages).unwrap_or_default();
                if text.contains("alice left the chatroom") || Instant::now() > deadline {
                    break text;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            owner.send(Command::Stop);
            task.await.unwrap();
            left
        });
        assert!(left.contains("alice left the chatroom"), "{left:?}");
        let participants = std::fs::read_to_string(dir.path().join(PARTICIPANTS_FILE)).unwrap();
        assert_eq!(participants.trim(), "{}");
    }
}
