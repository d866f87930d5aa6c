//! The reconnecting session: this agent's session with the daemon, opened at the first call,
//! shared by concurrent calls, and reopened after a drop with the session's names joined again.
//! Every rule of a call's life is here: one deadline, the retries and their backoff, the re-join
//! of held names, idempotency keys for writes, and what to do about a daemon of another version.
//! So are the two things each connection owes the hooks and the waits: the [`Link`] sent before
//! anything else on it, and a `wait_for_messages` abandoned by its caller cancelled on the
//! connection that carried it ([`Session::wait`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol::frame::{self, FrameError, MAX_CLIENT_FRAME};
use protocol::paths::RoomPaths;
use protocol::{ClientKind, ClientMessage, Request, Response, protocol_version};

use crate::claims::HeldClaims;
use crate::connection::{Connection, Handshake, Outcome};
use crate::{CallError, launch};

mod link;
mod names;

pub use link::Link;
pub use names::{HeldNames, NameChange};

/// The longest one tool call may take in all: connecting (and starting the daemon), every attempt
/// and the waits between them. Generous, because a durable write on a loaded disk can be slow and
/// a late success beats a spurious failure, yet well under the 60 s after which older Codex
/// versions abandon a call: the agent must read our one line, not the client's timeout.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// The wait before the third attempt of a call; it doubles for each later one, up to
/// [`BACKOFF_CAP`]. The second attempt goes at once: the first loss is nearly always a daemon
/// that died, and the shim starts a fresh one in milliseconds; a call kept waiting meanwhile
/// would only be more likely to be in flight when the next death comes.
const BACKOFF_START: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_secs(1);

/// How long past its own `timeout_s` a `wait_for_messages` may take before the session gives up
/// on it: the session's deadline for any call (the connect, a durable write, a retry).
fn wait_deadline(request: &Request, margin: Duration) -> Option<Duration> {
    match request {
        Request::WaitForMessages { timeout_s, .. } => {
            // Out of range is refused at once by the daemon; the deadline just stays bounded.
            let seconds = (*timeout_s).clamp(0, 600) as u64;
            Some(Duration::from_secs(seconds) + margin)
        }
        _ => None,
    }
}

/// The call a [`Session::wait`] has in flight: the connection it went out on and its call id.
type InFlightWait = Mutex<Option<(Arc<Connection>, u64)>>;

/// The client side of this agent's session with the daemon.
pub struct Session {
    /// Resolved once at startup; an error is reported by every call instead of failing startup,
    /// so that `tools/list` works wherever the shim runs.
    paths: Result<RoomPaths, String>,
    /// Call ids are unique for the life of the shim, across connections, so a late reply on an
    /// old connection can never be mistaken for a new call's.
    next_id: AtomicU64,
    /// The open connection, if any. The async lock makes concurrent first calls share one
    /// connect-or-start and one re-join instead of racing.
    current: tokio::sync::Mutex<Option<Arc<Connection>>>,
    held: Mutex<HeldNames>,
    /// The claims this session's names hold, to claim again after a re-join.
    claims: Mutex<HeldClaims>,
    /// Names a re-join found taken by another session, until the agent's next call reports them.
    taken: Mutex<Vec<String>>,
    /// [`CALL_DEADLINE`], shorter in tests.
    deadline: Duration,
    /// Sent on every new connection before anything else.
    link: Mutex<Link>,
    /// Counts the connections opened, for whoever follows the daemon beside this session (the
    /// channel's event stream): a change means a (new) daemon is there to subscribe to.
    connects: tokio::sync::watch::Sender<u64>,
}

impl Session {
    pub fn new(paths: Result<RoomPaths, String>) -> Self {
        Self {
            paths,
            next_id: AtomicU64::new(1),
            current: tokio::sync::Mutex::new(None),
            held: Mutex::new(HeldNames::default()),
            claims: Mutex::new(HeldClaims::default()),
            taken: Mutex::new(Vec::new()),
            deadline: CALL_DEADLINE,
            link: Mutex::new(Link::default()),
            connects: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The same client, linked to its agent by `link` on every connection.
    pub fn with_link(self, link: Link) -> Self {
        *lock(&self.link) = link;
        self
    }

    /// Links this session to one more client session id (Codex's, from a tool call): sent now
    /// if it is new, and on every later connection. A blank or known id sends nothing.
    pub async fn link(&self, client_session_id: &str) {
        let request = {
            let mut link = lock(&self.link);
            if !link.add(client_session_id) {
                return;
            }
            link.request(client_session_id.trim())
        };
        // A connection opened by this very call has sent it already; twice adds nothing.
        match self.call(request).await {
            Ok(Ok(_)) => tracing::debug!(client_session_id, "linked the session"),
            Ok(Err(refusal)) => tracing::info!(cause = %refusal, "chatroomd refused the link"),
            Err(err) => tracing::info!(cause = %err, "could not link the session"),
        }
    }

    /// The names this session holds now, in name order.
    pub fn held_names(&self) -> Vec<String> {
        self.held()
            .names()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Changes each time this session opens a connection to a daemon (its value counts them).
    pub fn connects(&self) -> tokio::sync::watch::Receiver<u64> {
        self.connects.subscribe()
    }

    /// Where the room is, if it was found.
    pub fn paths(&self) -> Option<&RoomPaths> {
        self.paths.as_ref().ok()
    }

    /// A `wait_for_messages` call: like [`Session::call`], with `timeout_s` plus the session's
    /// deadline to answer in, and cancelled if the caller drops it before it is answered (an MCP
    /// `notifications/cancelled`): [`Request::CancelWait`] goes out on the connection that
    /// carries the wait, so the daemon drops it and marks nothing read.
    pub async fn wait(&self, request: Request) -> Result<Outcome, CallError> {
        let deadline = wait_deadline(&request, self.deadline).unwrap_or(self.deadline);
        let mut guard = CancelOnDrop {
            session: self,
            in_flight: Mutex::new(None),
            answered: false,
        };
        let result = self
            .bounded(request, deadline, Some(&guard.in_flight))
            .await;
        guard.answered = true;
        result
    }

    /// The same client with another overall deadline per call.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sends one request and waits for its outcome, connecting (and starting the daemon) first
    /// if this session has no live connection. If the connection (or the daemon) is lost on the
    /// way, the call is sent again on a new one, after this session's names are joined again: a
    /// write goes with an idempotency key, so the daemon carries it out once however often it
    /// arrives.
    pub async fn call(&self, request: Request) -> Result<Outcome, CallError> {
        let claims_request = HeldClaims::concerns(&request).then(|| request.clone());
        let result = self.call_once(request).await;
        if let (Some(request), Ok(outcome)) = (&claims_request, &result) {
            lock(&self.claims).apply(request, outcome);
        }
        result
    }

    /// [`Session::call`], keeping the names held up to date.
    async fn call_once(&self, request: Request) -> Result<Outcome, CallError> {
        let change = NameChange::of(&request);
        // A name being left is not joined again by a reconnect under this call: the repeated
        // leave would otherwise meet a name this session holds anew.
        let held_before = change
            .as_ref()
            .is_some_and(|change| self.held().begin(change));
        // Ended however the call ends, a cancelled one included.
        let _pending = change.as_ref().map(|change| Pending {
            client: self,
            change,
        });
        let result = self.bounded(request, self.deadline, None).await;
        let Some(change) = &change else {
            return result;
        };
        let mut outcome = result?;
        // A leave repeated on a new connection finds the name already gone when the session that
        // held it ended with the old connection: the agent's name did leave, as it asked.
        if let (NameChange::Leave { .. }, true, Ok(Response::Left(false))) =
            (change, held_before, &outcome)
        {
            outcome = Ok(Response::Left(true));
        }
        self.held().apply(change.clone(), &outcome);
        Ok(outcome)
    }

    /// [`Session::attempts`] within `deadline`.
    async fn bounded(
        &self,
        request: Request,
        deadline: Duration,
        in_flight: Option<&InFlightWait>,
    ) -> Result<Outcome, CallError> {
        match tokio::time::timeout(deadline, self.attempts(request, in_flight)).await {
            Ok(result) => result,
            Err(_elapsed) => {
                tracing::warn!(
                    ?deadline,
                    "chatroomd did not answer in time; giving up on the call"
                );
                Err(CallError::TimedOut { deadline })
            }
        }
    }

    /// Sends `request` until it is answered: again on a new connection, after a growing pause,
    /// when the connection or the daemon is lost under it, at most [`MAX_ATTEMPTS`] times, and
    /// not again once the daemon died twice while it was in flight (a request that crashes the
    /// daemon must not restart it in a loop).
    /// `in_flight`, if given, holds the connection and id of the attempt on the wire.
    async fn attempts(
        &self,
        request: Request,
        in_flight: Option<&InFlightWait>,
    ) -> Result<Outcome, CallError> {
        let key = request.wants_key().then(new_key);
        let mut attempt = 1;
        let mut pause = Duration::ZERO;
        // The daemon the last attempt was lost on, and how many daemons died under this call.
        let mut lost_on: Option<u32> = None;
        let mut deaths = 0;
        loop {
            let (id, bytes) = self.encode(request.clone(), key)?;
            let result = match self.connection().await {
                Ok(connection) => {
                    if lost_on.is_some_and(|pid| pid != connection.daemon_pid()) {
                        deaths += 1;
                    }
                    if deaths >= 2 {
                        tracing::error!(
                            deaths,
                            "chatroomd died twice with this call in flight; not sending it again"
                        );
                        return Err(CallError::CrashedDaemon {
                            log: self.log_file(),
                        });
                    }
                    // A fresh call learns first of names its session lost; a repeat goes on,
                    // since the daemon may have carried it out already.
                    let taken = match attempt {
                        1 => std::mem::take(&mut *self.taken()),
                        _ => Vec::new(),
                    };
                    if !taken.is_empty() {
                        return Err(CallError::NamesTaken { names: taken });
                    }
                    lost_on = Some(connection.daemon_pid());
                    if let Some(in_flight) = in_flight {
                        *lock(in_flight) = Some((Arc::clone(&connection), id));
                    }
                    connection.send_frame(id, bytes).await
                }
                Err(err) => Err(err),
            };
            match result {
                Err(err) if attempt < MAX_ATTEMPTS && err.is_transient() => {
                    tracing::info!(
                        attempt,
                        cause = %err,
                        pause_ms = pause.as_millis() as u64,
                        "sending the call again on a new connection"
                    );
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    pause = (pause * 2).clamp(BACKOFF_START, BACKOFF_CAP);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn taken(&self) -> MutexGuard<'_, Vec<String>> {
        self.taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log_file(&self) -> String {
        match &self.paths {
            Ok(paths) => paths.log_file.display().to_string(),
            Err(_) => "the chatroomd log".to_owned(),
        }
    }

    fn encode(&self, request: Request, key: Option<u128>) -> Result<(u64, Vec<u8>), CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let call = |id, request| match key {
            Some(key) => ClientMessage::KeyedCall { id, key, request },
            None => ClientMessage::Call { id, request },
        };
        let mut message = call(id, request);
        match frame::encode(&message, MAX_CLIENT_FRAME) {
            Ok(bytes) => return Ok((id, bytes)),
            Err(FrameError::TooLarge { .. }) => {}
            Err(err) => return Err(CallError::Encode(err.to_string())),
        }
        // Too large for a frame: cut each huge argument down to a size that is still over every
        // limit the daemon enforces, so that the daemon (the one validator) refuses it naming
        // the parameter and its limit, as it does for arguments just over the limit. The request
        // is taken back out of the message rather than cloned for every call up front.
        let (ClientMessage::Call { mut request, .. }
        | ClientMessage::KeyedCall { mut request, .. }) = message
        else {
            unreachable!("built as a call just above");
        };
        for value in request.strings_mut() {
            bound_argument(value);
        }
        message = call(id, request);
        match frame::encode(&message, MAX_CLIENT_FRAME) {
            Ok(bytes) => Ok((id, bytes)),
            Err(FrameError::TooLarge { len, max }) => Err(CallError::TooLarge { len, max }),
            Err(err) => Err(CallError::Encode(err.to_string())),
        }
    }

    fn held(&self) -> MutexGuard<'_, HeldNames> {
        // The bookkeeping stays consistent even if a holder panicked: every update is one insert
        // or remove.
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live connection, opening a new one (and re-joining this session's names on it) if
    /// there is none or the last one dropped.
    async fn connection(&self) -> Result<Arc<Connection>, CallError> {
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref().filter(|c| c.is_open()) {
            return Ok(Arc::clone(connection));
        }
        *current = None;
        let paths = self
            .paths
            .as_ref()
            .map_err(|err| CallError::NoRoot(err.clone()))?;
        let connection = match open(paths).await {
            // A daemon shutting down (idle timeout, `chatroomd stop`) may accept and then close
            // us; the second attempt starts a fresh one.
            Err(CallError::HandshakeClosed) => open(paths).await?,
            // An older daemon survived an upgrade: stop it cleanly and start ours.
            Err(CallError::VersionMismatch {
                daemon_pid,
                daemon_version,
                ..
            }) if daemon_version < protocol_version() => {
                tracing::warn!(daemon_pid, daemon_version, "replacing an older chatroomd");
                replace_older_daemon(paths, daemon_pid).await?;
                open(paths).await?
            }
            Err(CallError::VersionMismatch {
                daemon_pid,
                daemon_version,
                ..
            }) => {
                return Err(CallError::ShimOutdated {
                    daemon_pid,
                    daemon_version,
                });
            }
            result => result?,
        };
        let connection = Arc::new(connection);
        // Before any call, so that a hook run for this agent finds it as soon as it holds a name.
        self.send_link(&connection).await?;
        // Empty on the first connection; after a drop, the names the agent still believes it
        // has, and then their claims.
        self.rejoin(&connection).await?;
        self.reclaim(&connection).await?;
        *current = Some(Arc::clone(&connection));
        self.connects.send_modify(|count| *count += 1);
        Ok(connection)
    }

    /// Tells a new connection what links it to the agent. A refusal (a daemon that links
    /// nothing) is logged and the session goes on: the link serves the hooks, not the tools.
    async fn send_link(&self, connection: &Connection) -> Result<(), CallError> {
        let requests = lock(&self.link).requests();
        for request in requests {
            let (id, bytes) = self.encode(request, None)?;
            match connection.send_frame(id, bytes).await? {
                Ok(_) => {}
                Err(refusal) => {
                    tracing::info!(cause = %refusal, "chatroomd refused the link");
                }
            }
        }
        Ok(())
    }

    /// Joins again, on a new connection, every name the previous one held: to the agent the
    /// session simply continues.
    async fn rejoin(&self, connection: &Connection) -> Result<(), CallError> {
        let names = self.held().for_reconnect();
        for (name, role) in names {
            let (id, bytes) = self.encode(
                Request::Join {
                    name: name.clone(),
                    role,
                },
                None,
            )?;
            match connection.send_frame(id, bytes).await? {
                Ok(Response::Participants(_)) => {
                    tracing::info!(%name, "joined again after reconnecting");
                }
                Ok(other) => {
                    tracing::error!(%name, reply = ?other, "unexpected reply to a re-join");
                }
                Err(refusal) => {
                    // Another session took the name while we were away: it is theirs now, and
                    // this session stops claiming it. The agent's next call says so.
                    tracing::info!(%name, cause = %refusal, "could not join again after reconnecting");
                    self.held().forget(&name);
                    lock(&self.claims).forget_name(&name);
                    self.taken().push(name);
                }
            }
        }
        Ok(())
    }
}

impl Session {
    /// Claims again, on a new connection, what the names joined again held: a daemon that died
    /// took its claims with it. A claim that expired meanwhile, or that another session took
    /// while the daemon was away, is forgotten (and said in the log).
    async fn reclaim(&self, connection: &Connection) -> Result<(), CallError> {
        let requests = lock(&self.claims).for_reconnect();
        for request in requests {
            let (id, bytes) = self.encode(request.clone(), None)?;
            let outcome = connection.send_frame(id, bytes).await?;
            let kept = lock(&self.claims).restored(&request, &outcome);
            if let Request::Claim { name, paths, .. } = &request {
                match kept {
                    true => tracing::info!(%name, ?paths, "claimed again after reconnecting"),
                    false => {
                        tracing::info!(%name, ?paths, reply = ?outcome, "a claim did not survive the reconnect")
                    }
                }
            }
        }
        Ok(())
    }
}

/// Cancels a [`Session::wait`] dropped before its answer came.
struct CancelOnDrop<'a> {
    session: &'a Session,
    in_flight: InFlightWait,
    answered: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let Some((connection, call_id)) = lock(&self.in_flight).take() else {
            return;
        };
        if !connection.is_open() {
            // The daemon drops the waits of a session that ended.
            return;
        }
        let Ok((cancel_id, bytes)) = self.session.encode(Request::CancelWait { call_id }, None)
        else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        tracing::debug!(call_id, "cancelling an abandoned wait");
        runtime.spawn(async move {
            connection.cancel_call(call_id, cancel_id, bytes).await;
        });
    }
}

/// Locks `mutex` even if a holder panicked: every update under these locks is one assignment.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A name change in flight, ended in [`HeldNames`] when its call ends.
struct Pending<'a> {
    client: &'a Session,
    change: &'a NameChange,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.client.held().end(self.change);
    }
}

/// How often one call is sent in all, when connections keep getting lost under it.
const MAX_ATTEMPTS: u32 = 5;

/// Connects (starting the daemon if needed) and handshakes as an agent; a daemon of another
/// version is [`CallError::VersionMismatch`], which [`Session::connection`] acts on.
async fn open(paths: &RoomPaths) -> Result<Connection, CallError> {
    match Connection::connect_or_start(paths, ClientKind::Agent).await? {
        Handshake::Welcome(mut connection) => {
            // The session never subscribes: an event would be of no use to anyone.
            connection.ignore_events();
            Ok(connection)
        }
        Handshake::Incompatible(daemon) => Err(CallError::VersionMismatch {
            daemon_pid: daemon.pid,
            daemon_version: daemon.protocol_version,
            stop: stop_command(paths),
        }),
    }
}

/// How long an older daemon gets to shut down when it is being replaced.
const REPLACE_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh idempotency key: a per-process random seed (from the OS) plus a counter, so keys
/// never repeat within a process and practically never across processes.
fn new_key() -> u128 {
    static SEED: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut bytes = [0u8; 16];
        let random = std::fs::File::open("/dev/urandom")
            .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut bytes));
        if random.is_err() {
            // No /dev/urandom (not unix): the clock and the pid are unique enough per process.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            bytes = (nanos ^ (u128::from(std::process::id()) << 96)).to_le_bytes();
        }
        u128::from_le_bytes(bytes)
    });
    seed.wrapping_add(u128::from(COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Stops an older daemon (found by its version refusal) so that ours can start: SIGTERM is its
/// clean shutdown, and the room lock tells when it is gone. Only the process that still holds this
/// room's lock and recorded its pid there is signalled, never a pid that might have been reused;
/// a released lock or "no such process" means it is already gone.
async fn replace_older_daemon(paths: &RoomPaths, daemon_pid: u32) -> Result<(), CallError> {
    let lock_file = paths.lock_file.clone();
    let stopped = tokio::task::spawn_blocking(move || {
        launch::stop_holder(&lock_file, daemon_pid, REPLACE_TIMEOUT)
    })
    .await;
    let cause = match stopped {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(err)) => err.to_string(),
        Err(err) => err.to_string(),
    };
    Err(CallError::Replace {
        daemon_pid,
        cause,
        stop: stop_command(paths),
    })
}

/// The command that stops the room's daemon whatever protocol it speaks: `stop` of the chatroomd
/// this shim would start.
fn stop_command(paths: &RoomPaths) -> String {
    format!(
        "{} stop --root {}",
        launch::daemon_program().display(),
        paths.root.display()
    )
}

/// The most bytes of one argument sent once a request is too large for a frame: far above every
/// limit of the contract (64 KiB of content, 64-character names), and small enough that the few
/// arguments of one request fit in [`MAX_CLIENT_FRAME`] together.
const ARGUMENT_CUT: usize = 256 * 1024;

/// Trims `value` (as the daemon will) if it is over [`ARGUMENT_CUT`], and cuts it to that length
/// on a character boundary if it still is.
fn bound_argument(value: &mut String) {
    if value.len() <= ARGUMENT_CUT {
        return;
    }
    let trimmed = value.trim();
    let mut end = trimmed.len().min(ARGUMENT_CUT);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    *value = trimmed[..end].to_owned();
}

#[cfg(test)]
mod tests;
