//! The reconnecting session: this agent's session with the daemon, opened at the first call,
//! shared by concurrent calls, and reopened after a drop with the session's names joined again.
//! Every rule of a call's life is here: one deadline, the retries and their backoff, the re-join
//! of held names, idempotency keys for writes, and what to do about a daemon of another version.
//! So are the two things each connection owes the hooks and the waits: the [`Link`] sent before
//! anything else on it, and a `wait_for_messages` abandoned by its caller cancelled on the
//! connection that carried it ([`Session::wait`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol::frame::{self, FrameError, MAX_CLIENT_FRAME};
use protocol::paths::RoomPaths;
use protocol::{ClientKind, ClientMessage, Request, Response, protocol_version};

use crate::claims::HeldClaims;
use crate::connection::{Connection, Handshake, Outcome};
use crate::{CallError, launch};

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
/// What links this session to its agent, sent as [`Request::Link`] on every connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// The pid of the agent CLI that launched the shim (0: none).
    pub agent_pid: u32,
    /// The client session ids given to the MCP server, oldest first (`CLAUDE_CODE_SESSION_ID`,
    /// each new Codex session id); blank ones are never kept.
    pub client_session_ids: Vec<String>,
}

impl Link {
    /// The agent process and, if the client gave one, its session id.
    pub fn new(agent_pid: u32, client_session_id: &str) -> Self {
        let mut link = Self {
            agent_pid,
            client_session_ids: Vec::new(),
        };
        link.add(client_session_id);
        link
    }

    /// Adds `id` unless it is blank or known; returns whether it was new.
    pub fn add(&mut self, id: &str) -> bool {
        let id = id.trim();
        if id.is_empty() || self.client_session_ids.iter().any(|known| known == id) {
            return false;
        }
        self.client_session_ids.push(id.to_owned());
        true
    }

    /// The requests that tell a new connection all of it: one per id (the daemon keeps the
    /// latest few, so the newest goes last), or the pid alone; none when there is nothing.
    pub fn requests(&self) -> Vec<Request> {
        match self.client_session_ids.as_slice() {
            [] if self.agent_pid == 0 => Vec::new(),
            [] => vec![self.request("")],
            ids => ids.iter().map(|id| self.request(id)).collect(),
        }
    }

    /// The link of `client_session_id` (blank: the pid alone) with the agent's pid.
    fn request(&self, client_session_id: &str) -> Request {
        Request::Link {
            client_session_id: client_session_id.to_owned(),
            agent_pid: self.agent_pid,
        }
    }
}

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

/// A change to the names this session holds, read off a request before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameChange {
    Join { name: String, role: String },
    Leave { name: String },
}

impl NameChange {
    pub fn of(request: &Request) -> Option<Self> {
        // The daemon stores names trimmed; keying by the trimmed value keeps " ann" and "ann"
        // one name here too.
        match request {
            Request::Join { name, role } => Some(Self::Join {
                name: name.trim().to_owned(),
                role: role.trim().to_owned(),
            }),
            Request::Leave { name } => Some(Self::Leave {
                name: name.trim().to_owned(),
            }),
            _ => None,
        }
    }
}

/// The names this session holds and their roles: what to join again after a reconnect.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldNames {
    roles: BTreeMap<String, String>,
    /// Names with a leave in flight, with how many: not joined again by a reconnect.
    leaving: BTreeMap<String, usize>,
}

impl HeldNames {
    /// Notes a request about to be sent; returns whether the name it concerns is held now.
    pub fn begin(&mut self, change: &NameChange) -> bool {
        match change {
            NameChange::Join { name, .. } => self.roles.contains_key(name),
            NameChange::Leave { name } => {
                *self.leaving.entry(name.clone()).or_default() += 1;
                self.roles.contains_key(name)
            }
        }
    }

    /// Undoes [`HeldNames::begin`] once the request is answered or has failed.
    pub fn end(&mut self, change: &NameChange) {
        if let NameChange::Leave { name } = change
            && let Some(count) = self.leaving.get_mut(name)
        {
            *count -= 1;
            if *count == 0 {
                self.leaving.remove(name);
            }
        }
    }

    /// Records the effect of a request the daemon answered; refusals change nothing.
    pub fn apply(&mut self, change: NameChange, outcome: &Outcome) {
        match (change, outcome) {
            (NameChange::Join { name, role }, Ok(Response::Participants(_))) => {
                self.roles.insert(name, role);
            }
            // After a successful leave this session holds the name no more, whether it held it
            // before (`true`) or nobody did (`false`).
            (NameChange::Leave { name }, Ok(Response::Left(_))) => {
                self.roles.remove(&name);
            }
            _ => {}
        }
    }

    pub fn forget(&mut self, name: &str) {
        self.roles.remove(name);
    }

    /// Every held name with its role, in name order.
    pub fn names(&self) -> Vec<(String, String)> {
        self.roles
            .iter()
            .map(|(name, role)| (name.clone(), role.clone()))
            .collect()
    }

    /// What a new connection joins again: every held name but those being left, which went with
    /// the old connection and stay gone (the repeated leave then answers for them).
    pub fn for_reconnect(&mut self) -> Vec<(String, String)> {
        let leaving = &self.leaving;
        self.roles.retain(|name, _| !leaving.contains_key(name));
        self.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{HelloReply, PROTOCOL_VERSION, Refusal, ServerMessage};

    fn join(name: &str, role: &str) -> NameChange {
        NameChange::of(&Request::Join {
            name: name.into(),
            role: role.into(),
        })
        .unwrap()
    }

    fn leave(name: &str) -> NameChange {
        NameChange::of(&Request::Leave { name: name.into() }).unwrap()
    }

    fn joined() -> Outcome {
        Ok(Response::Participants(vec![]))
    }

    fn pairs(held: &HeldNames) -> Vec<(&str, &str)> {
        held.roles
            .iter()
            .map(|(name, role)| (name.as_str(), role.as_str()))
            .collect()
    }

    #[test]
    fn joins_are_held_trimmed_with_their_latest_role() {
        let mut held = HeldNames::default();
        held.apply(join("  ann ", "general"), &joined());
        held.apply(join("bob", "review"), &joined());
        held.apply(join("ann", " lead "), &joined());
        assert_eq!(pairs(&held), [("ann", "lead"), ("bob", "review")]);
        assert_eq!(
            held.names(),
            [
                ("ann".to_owned(), "lead".to_owned()),
                ("bob".to_owned(), "review".to_owned())
            ]
        );
    }

    #[test]
    fn refusals_and_odd_replies_change_nothing() {
        let mut held = HeldNames::default();
        held.apply(
            join("ann", "general"),
            &Err(Refusal::conflict(
                "name 'ann' is already active in another session",
            )),
        );
        held.apply(join("ann", "general"), &Ok(Response::Id(1)));
        assert!(held.names().is_empty());

        held.apply(join("ann", "general"), &joined());
        held.apply(
            leave("ann"),
            &Err(Refusal::conflict("name 'ann' is held by another session")),
        );
        assert_eq!(pairs(&held), [("ann", "general")]);
    }

    #[test]
    fn leaving_releases_the_name() {
        let mut held = HeldNames::default();
        held.apply(join("ann", "general"), &joined());
        held.apply(join("bob", "general"), &joined());
        held.apply(leave(" ann"), &Ok(Response::Left(true)));
        assert_eq!(pairs(&held), [("bob", "general")]);
        held.apply(leave("bob"), &Ok(Response::Left(false)));
        assert!(held.names().is_empty());
    }

    #[test]
    fn a_reconnect_drops_the_names_being_left() {
        let mut held = HeldNames::default();
        held.apply(join("ann", "general"), &joined());
        held.apply(join("bob", "general"), &joined());
        assert!(held.begin(&leave("ann")), "ann was held");
        assert_eq!(
            held.for_reconnect(),
            [("bob".to_owned(), "general".to_owned())]
        );
        held.end(&leave("ann"));
        assert_eq!(
            held.for_reconnect(),
            [("bob".to_owned(), "general".to_owned())]
        );
        assert!(
            !held.begin(&leave("ann")),
            "ann is gone even if the leave failed"
        );
    }

    #[test]
    fn forgetting_a_name_taken_elsewhere() {
        let mut held = HeldNames::default();
        held.apply(join("ann", "general"), &joined());
        held.forget("ann");
        assert!(held.names().is_empty());
    }

    #[test]
    fn only_join_and_leave_change_names() {
        assert_eq!(NameChange::of(&Request::ListParticipants), None);
        assert_eq!(
            NameChange::of(&Request::SendMessage {
                topic_id: String::new(),
                name: "ann".into(),
                content: "hi".into(),
                to: "all".into(),
            }),
            None
        );
    }

    /// A room whose lock file names `pid` but is held by nobody: its daemon is gone.
    fn room_with_unheld_lock(test: &str, pid: u32) -> (RoomPaths, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("chatroom-session-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = RoomPaths::new(dir.clone(), dir.join("run"));
        std::fs::create_dir_all(&paths.state_dir).unwrap();
        std::fs::write(&paths.lock_file, format!("{pid}\n")).unwrap();
        (paths, dir)
    }

    #[tokio::test]
    async fn replacing_a_daemon_that_already_exited_is_done() {
        let mut exited = std::process::Command::new("true").spawn().unwrap();
        let pid = exited.id();
        exited.wait().unwrap();
        let (paths, dir) = room_with_unheld_lock("replace-exited", pid);
        let replaced = replace_older_daemon(&paths, pid).await;
        std::fs::remove_dir_all(dir).unwrap();
        assert!(replaced.is_ok(), "{}", replaced.unwrap_err());
    }

    #[tokio::test]
    async fn a_pid_in_a_released_lock_is_never_signalled() {
        // The old daemon exited and its pid now belongs to an unrelated process.
        let mut unrelated = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let (paths, dir) = room_with_unheld_lock("replace-reused", unrelated.id());
        let replaced = replace_older_daemon(&paths, unrelated.id()).await;
        let survived = unrelated.try_wait().unwrap().is_none();
        let _ = unrelated.kill();
        let _ = unrelated.wait();
        std::fs::remove_dir_all(dir).unwrap();
        assert!(survived, "the unrelated process was signalled");
        assert!(replaced.is_ok(), "{}", replaced.unwrap_err());
    }

    #[test]
    fn errors_read_as_one_line_for_the_agent() {
        assert_eq!(
            CallError::TooLarge {
                len: 2_000_000,
                max: MAX_CLIENT_FRAME
            }
            .to_string(),
            "request is too large (2000000 bytes; the limit is 1048576)"
        );
        assert_eq!(
            CallError::VersionMismatch {
                daemon_pid: 42,
                daemon_version: 9,
                stop: "/bin/chatroomd stop --root /r".into()
            }
            .to_string(),
            format!(
                "chatroomd (pid 42) speaks protocol v9 but this chatroom-shim speaks v{PROTOCOL_VERSION}: run `/bin/chatroomd stop --root /r` and retry"
            )
        );
        let paths = RoomPaths::new("/r".into(), "/run/chatroom".into());
        assert_eq!(
            stop_command(&paths),
            format!("{} stop --root /r", launch::daemon_program().display())
        );
        assert_eq!(
            CallError::ConnectionLost.to_string(),
            "lost the connection to chatroomd; retry the call"
        );
    }

    fn status(message_count: u64) -> Outcome {
        Ok(Response::Status(protocol::RoomStatus {
            topics: None,
            participant_count: 0,
            message_count,
            last_activity_ts: None,
        }))
    }

    #[tokio::test]
    async fn concurrent_calls_share_one_session_and_get_their_own_replies() {
        let daemon = crate::fake::Daemon::start("multiplex");
        let client = Session::new(Ok(daemon.paths.clone()));
        let daemon_side = async {
            let mut session = daemon.accept().await;
            let first = session.next_call().await;
            let second = session.next_call().await;
            // Answer in the opposite order, and an id nobody waits for in between.
            for (id, request) in [second, first] {
                session.reply(9999, status(0)).await;
                let outcome = match request {
                    Request::GetStatus => status(7),
                    Request::GetCursor { name, .. } => Ok(Response::Cursor(protocol::Cursor {
                        topic_id: None,
                        name,
                        last_read_id: 3,
                    })),
                    other => panic!("unexpected {other:?}"),
                };
                session.reply(id, outcome).await;
            }
            session
        };
        let calls = async {
            tokio::join!(
                client.call(Request::GetStatus),
                client.call(Request::GetCursor {
                    topic_id: String::new(),
                    name: "ann".into()
                })
            )
        };
        let (_session, (status_outcome, cursor_outcome)) = tokio::join!(daemon_side, calls);
        assert_eq!(status_outcome.unwrap(), status(7));
        assert_eq!(
            cursor_outcome.unwrap(),
            Ok(Response::Cursor(protocol::Cursor {
                topic_id: None,
                name: "ann".into(),
                last_read_id: 3
            }))
        );
    }

    #[tokio::test]
    async fn a_call_lost_with_its_connection_is_sent_again_after_joining_again() {
        let daemon = crate::fake::Daemon::start("reconnect");
        let client = Session::new(Ok(daemon.paths.clone()));
        let first_session = async {
            let mut session = daemon.accept().await;
            let (id, _, request) = session.next_keyed_call().await;
            assert_eq!(
                request,
                Request::Join {
                    name: " ann ".into(),
                    role: " lead ".into()
                }
            );
            session.reply(id, Ok(Response::Participants(vec![]))).await;
            let (id, _, request) = session.next_keyed_call().await;
            assert_eq!(
                request,
                Request::Join {
                    name: "bob".into(),
                    role: "general".into()
                }
            );
            session.reply(id, Ok(Response::Participants(vec![]))).await;
            let (id, key, request) = session.next_keyed_call().await;
            assert_eq!(request, Request::Leave { name: "bob".into() });
            assert!(key.is_some(), "a leave is sent with an idempotency key");
            session.reply(id, Ok(Response::Left(true))).await;
            let (_, key, request) = session.next_keyed_call().await;
            let sent = Request::SendMessage {
                topic_id: String::new(),
                name: "ann".into(),
                content: "hi".into(),
                to: "all".into(),
            };
            assert_eq!(request, sent);
            // The daemon goes away with the write unanswered.
            key.expect("a write is sent with an idempotency key")
        };
        let second_session = async {
            let mut session = daemon.accept().await;
            let (id, key, request) = session.next_keyed_call().await;
            assert_eq!(
                request,
                Request::Join {
                    name: "ann".into(),
                    role: "lead".into()
                },
                "held names first"
            );
            assert_eq!(key, None);
            session.reply(id, Ok(Response::Participants(vec![]))).await;
            let (id, key, request) = session.next_keyed_call().await;
            session.reply(id, Ok(Response::Id(7))).await;
            (key, request, session)
        };
        let calls = async {
            let join = client
                .call(Request::Join {
                    name: " ann ".into(),
                    role: " lead ".into(),
                })
                .await;
            assert!(join.unwrap().is_ok());
            let join = client
                .call(Request::Join {
                    name: "bob".into(),
                    role: "general".into(),
                })
                .await;
            assert!(join.unwrap().is_ok());
            let leave = client.call(Request::Leave { name: "bob".into() }).await;
            assert_eq!(leave.unwrap(), Ok(Response::Left(true)));
            client
                .call(Request::SendMessage {
                    topic_id: String::new(),
                    name: "ann".into(),
                    content: "hi".into(),
                    to: "all".into(),
                })
                .await
        };
        let daemon_side = async {
            let first_key = first_session.await;
            let (second_key, request, session) = second_session.await;
            (first_key, second_key, request, session)
        };
        let ((first_key, second_key, request, _session), sent) = tokio::join!(daemon_side, calls);
        assert_eq!(
            sent.unwrap(),
            Ok(Response::Id(7)),
            "the agent sees the write succeed"
        );
        assert_eq!(
            second_key,
            Some(first_key),
            "the repeat carries the same key"
        );
        assert!(matches!(request, Request::SendMessage { .. }));
    }

    #[tokio::test]
    async fn an_incompatible_daemon_is_reported_with_what_to_do() {
        let daemon = crate::fake::Daemon::start("version");
        let client = Session::new(Ok(daemon.paths.clone()));
        let daemon_side = async {
            let mut session = daemon.accept_raw().await;
            session
                .send(ServerMessage::HelloReply(HelloReply::Refused {
                    daemon_version: 99,
                    daemon_pid: 4321,
                    message: "protocol mismatch".into(),
                }))
                .await;
            session
        };
        let (_session, result) = tokio::join!(daemon_side, client.call(Request::GetStatus));
        let message = result.unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "this chatroom-shim speaks protocol v{PROTOCOL_VERSION} but the running chatroomd (pid 4321) speaks the newer v99: restart your agent so that it launches the newer chatroom-shim"
            )
        );
    }

    #[tokio::test]
    async fn a_daemon_closing_during_the_handshake_is_retried_once() {
        let daemon = crate::fake::Daemon::start("handshake");
        let client = Session::new(Ok(daemon.paths.clone()));
        let daemon_side = async {
            drop(daemon.accept_raw().await);
            let mut session = daemon.accept().await;
            let (id, _) = session.next_call().await;
            session.reply(id, status(2)).await;
            session
        };
        let (_session, result) = tokio::join!(daemon_side, client.call(Request::GetStatus));
        assert_eq!(result.unwrap(), status(2));
    }

    /// Runs a scripted conversation, failing the test if it does not end in time.
    async fn bounded<T>(conversation: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), conversation)
            .await
            .expect("the conversation did not end within 10s")
    }

    fn join_request(name: &str) -> Request {
        Request::Join {
            name: name.into(),
            role: "general".into(),
        }
    }

    #[tokio::test]
    async fn a_name_being_left_is_not_joined_again_by_the_reconnect() {
        let daemon = crate::fake::Daemon::start("leaving");
        let client = Session::new(Ok(daemon.paths.clone()));
        let daemon_side = async {
            let mut session = daemon.accept().await;
            for _ in ["ann", "bob"] {
                let (id, _) = session.next_call().await;
                session.reply(id, Ok(Response::Participants(vec![]))).await;
            }
            let (_, first_key, request) = session.next_keyed_call().await;
            assert_eq!(request, Request::Leave { name: "ann".into() });
            // The daemon goes away with the leave unanswered.
            drop(session);
            let mut session = daemon.accept().await;
            let (id, key, request) = session.next_keyed_call().await;
            assert_eq!(request, join_request("bob"), "only bob is joined again");
            session.reply(id, Ok(Response::Participants(vec![]))).await;
            let (id, key_again, request) = session.next_keyed_call().await;
            assert_eq!(request, Request::Leave { name: "ann".into() });
            assert_eq!((key, key_again), (None, first_key));
            // The old session's end released the name, so the repeat finds nobody holding it.
            session.reply(id, Ok(Response::Left(false))).await;
            session
        };
        let calls = async {
            for name in ["ann", "bob"] {
                assert!(client.call(join_request(name)).await.unwrap().is_ok());
            }
            client.call(Request::Leave { name: "ann".into() }).await
        };
        let (_session, left) = bounded(async { tokio::join!(daemon_side, calls) }).await;
        assert_eq!(
            left.unwrap(),
            Ok(Response::Left(true)),
            "the name the agent held did leave"
        );
        assert_eq!(
            client.held().names(),
            [("bob".to_owned(), "general".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_call_the_daemon_dies_of_twice_is_not_sent_again() {
        let daemon = crate::fake::Daemon::start("crashing");
        let client = Session::new(Ok(daemon.paths.clone()));
        let daemon_side = async {
            // Two daemons die with the call in flight; a third one starts and gets nothing.
            for pid in [2, 3] {
                let mut session = daemon.accept_as(pid).await;
                let (_, request) = session.next_call().await;
                assert!(matches!(request, Request::SendMessage { .. }));
            }
            daemon.accept_as(4).await
        };
        let call = client.call(Request::SendMessage {
            topic_id: String::new(),
            name: "ann".into(),
            content: "boom".into(),
            to: "all".into(),
        });
        let (_session, result) = bounded(async { tokio::join!(daemon_side, call) }).await;
        let message = result.unwrap_err().to_string();
        assert!(
            message.starts_with(
                "chatroomd exited twice while handling this call, so it was not sent again; see "
            ),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_daemon_that_never_answers_fails_the_call_at_the_deadline() {
        let daemon = crate::fake::Daemon::start("deadline");
        let client =
            Session::new(Ok(daemon.paths.clone())).with_deadline(Duration::from_millis(300));
        let daemon_side = async {
            let mut session = daemon.accept().await;
            let _ = session.next_call().await;
            session
        };
        let call = tokio::time::timeout(Duration::from_secs(10), client.call(Request::GetStatus));
        let (_session, result) = tokio::join!(daemon_side, call);
        let result = result.expect("the call ends by its own deadline");
        assert_eq!(
            result.unwrap_err().to_string(),
            "chatroomd did not answer within 300ms; retry the call"
        );
    }

    #[tokio::test]
    async fn a_name_taken_during_a_reconnect_fails_the_next_call_in_one_line() {
        let daemon = crate::fake::Daemon::start("taken");
        let client = Session::new(Ok(daemon.paths.clone()));
        let daemon_side = async {
            let mut session = daemon.accept().await;
            let (id, _) = session.next_call().await;
            session.reply(id, Ok(Response::Participants(vec![]))).await;
            drop(session);
            let mut session = daemon.accept_as(3).await;
            let (id, request) = session.next_call().await;
            assert_eq!(request, join_request("ann"));
            session
                .reply(
                    id,
                    Err(Refusal::conflict(
                        "name 'ann' is already active in another session",
                    )),
                )
                .await;
            let (id, request) = session.next_call().await;
            assert_eq!(request, Request::GetStatus, "the second status call");
            session.reply(id, status(1)).await;
            session
        };
        let calls = async {
            assert!(client.call(join_request("ann")).await.unwrap().is_ok());
            // Wait until the reader saw the connection end, as the next call would.
            while client
                .current
                .lock()
                .await
                .as_ref()
                .is_some_and(|c| c.is_open())
            {
                tokio::task::yield_now().await;
            }
            let first = client.call(Request::GetStatus).await;
            let second = client.call(Request::GetStatus).await;
            (first, second)
        };
        let (_session, (first, second)) = bounded(async { tokio::join!(daemon_side, calls) }).await;
        assert_eq!(
            first.unwrap_err().to_string(),
            "while this session reconnected to chatroomd, another session joined as 'ann', which this session held; this call was not carried out: join under another name, then retry"
        );
        assert_eq!(second.unwrap(), status(1), "said once, then calls go on");
        assert!(client.held().names().is_empty());
    }

    fn wait_request(timeout_s: i64) -> Request {
        Request::WaitForMessages {
            name: "ann".into(),
            topic_id: String::new(),
            timeout_s,
            limit: 50,
            mark_read: true,
        }
    }

    #[test]
    fn a_link_sends_every_id_with_the_pid_or_the_pid_alone() {
        assert!(Link::default().requests().is_empty(), "nothing to link");
        let pid_only = Link::new(42, "  ");
        assert_eq!(
            pid_only.requests(),
            [Request::Link {
                client_session_id: String::new(),
                agent_pid: 42
            }]
        );
        let mut link = Link::new(42, "claude-1");
        assert!(link.add(" codex-1 "));
        assert!(!link.add("codex-1"), "a known id is not new");
        assert!(!link.add(""), "a blank id is nothing");
        let ids: Vec<_> = link
            .requests()
            .into_iter()
            .map(|request| match request {
                Request::Link {
                    client_session_id,
                    agent_pid: 42,
                } => client_session_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["claude-1", "codex-1"]);
    }

    #[test]
    fn a_wait_may_take_its_timeout_and_the_margin() {
        let margin = Duration::from_secs(30);
        assert_eq!(
            wait_deadline(&wait_request(50), margin),
            Some(Duration::from_secs(80))
        );
        assert_eq!(
            wait_deadline(&wait_request(100_000), margin),
            Some(Duration::from_secs(630)),
            "bounded even when the daemon will refuse it"
        );
        assert_eq!(wait_deadline(&wait_request(-5), margin), Some(margin));
        assert_eq!(wait_deadline(&Request::GetStatus, margin), None);
    }

    #[tokio::test]
    async fn every_connection_is_linked_before_its_first_call_and_new_ids_at_once() {
        let daemon = crate::fake::Daemon::start("link");
        let client = Session::new(Ok(daemon.paths.clone())).with_link(Link::new(77, "claude-1"));
        let mut connects = client.connects();
        let linked = |id: &str| Request::Link {
            client_session_id: id.into(),
            agent_pid: 77,
        };
        let daemon_side = async {
            let mut session = daemon.accept().await;
            let (id, request) = session.next_call().await;
            assert_eq!(request, linked("claude-1"), "the link comes first");
            session.reply(id, Ok(Response::Linked)).await;
            let (id, request) = session.next_call().await;
            assert_eq!(request, Request::GetStatus);
            session.reply(id, status(1)).await;
            let (id, request) = session.next_call().await;
            assert_eq!(request, linked("codex-1"), "a new id is sent when it comes");
            // A daemon that links nothing refuses; the session goes on.
            session
                .reply(id, Err(Refusal::not_allowed("unknown request")))
                .await;
            drop(session);
            let mut session = daemon.accept_as(3).await;
            for expected in ["claude-1", "codex-1"] {
                let (id, request) = session.next_call().await;
                assert_eq!(
                    request,
                    linked(expected),
                    "a reconnect links every id again"
                );
                session
                    .reply(id, Err(Refusal::not_allowed("unknown request")))
                    .await;
            }
            let (id, request) = session.next_call().await;
            assert_eq!(request, Request::GetStatus);
            session.reply(id, status(2)).await;
            session
        };
        let calls = async {
            assert_eq!(client.call(Request::GetStatus).await.unwrap(), status(1));
            client.link("codex-1").await;
            client.link("codex-1").await;
            connects.changed().await.unwrap();
            assert_eq!(*connects.borrow_and_update(), 1);
            while client
                .current
                .lock()
                .await
                .as_ref()
                .is_some_and(|c| c.is_open())
            {
                tokio::task::yield_now().await;
            }
            assert_eq!(client.call(Request::GetStatus).await.unwrap(), status(2));
            assert_eq!(*connects.borrow(), 2);
        };
        let (_session, ()) = bounded(async { tokio::join!(daemon_side, calls) }).await;
    }

    #[tokio::test]
    async fn a_wait_dropped_before_its_answer_is_cancelled_by_its_call_id() {
        let daemon = crate::fake::Daemon::start("cancel");
        let client = Arc::new(Session::new(Ok(daemon.paths.clone())));
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
        let daemon_side = async {
            let mut session = daemon.accept().await;
            let (wait_id, key, request) = session.next_keyed_call().await;
            assert_eq!(request, wait_request(50));
            assert!(key.is_some(), "a wait that marks read is keyed");
            sent_tx.send(()).unwrap();
            // Meanwhile the session's other calls go on.
            let (id, request) = session.next_call().await;
            assert_eq!(request, Request::GetStatus);
            session.reply(id, status(4)).await;
            let (cancel_id, request) = session.next_call().await;
            assert_eq!(request, Request::CancelWait { call_id: wait_id });
            session
                .reply(wait_id, Err(Refusal::not_allowed("the wait was cancelled")))
                .await;
            session
                .reply(cancel_id, Ok(Response::Cancelled(true)))
                .await;
            session
        };
        let calls = async {
            let waiting = {
                let client = Arc::clone(&client);
                tokio::spawn(async move { client.wait(wait_request(50)).await })
            };
            sent_rx.await.unwrap();
            assert_eq!(client.call(Request::GetStatus).await.unwrap(), status(4));
            waiting.abort();
            assert!(waiting.await.unwrap_err().is_cancelled());
        };
        let (_session, ()) = bounded(async { tokio::join!(daemon_side, calls) }).await;
    }

    #[tokio::test]
    async fn a_wait_outlives_the_deadline_of_other_calls() {
        let daemon = crate::fake::Daemon::start("long-wait");
        let client =
            Session::new(Ok(daemon.paths.clone())).with_deadline(Duration::from_millis(200));
        let daemon_side = async {
            let mut session = daemon.accept().await;
            let (id, _, request) = session.next_keyed_call().await;
            assert_eq!(request, wait_request(1));
            tokio::time::sleep(Duration::from_millis(600)).await;
            let waited = protocol::Waited {
                unread: protocol::Unread {
                    name: "ann".into(),
                    topic_id: None,
                    last_read_id: 0,
                    messages: vec![],
                },
                timed_out: true,
            };
            session.reply(id, Ok(Response::Waited(waited))).await;
            session
        };
        let (_session, outcome) =
            bounded(async { tokio::join!(daemon_side, client.wait(wait_request(1))) }).await;
        assert!(
            matches!(outcome.unwrap(), Ok(Response::Waited(waited)) if waited.timed_out),
            "answered after 600 ms, past the 200 ms deadline of a call, within 1 s + 200 ms"
        );
    }

    #[test]
    fn huge_arguments_are_cut_but_stay_over_every_limit() {
        let client = Session::new(Err("no root in this test".into()));
        let request = Request::SendMessage {
            topic_id: String::new(),
            name: "é".repeat(MAX_CLIENT_FRAME),
            content: format!("  {}  ", "x".repeat(2 * MAX_CLIENT_FRAME)),
            to: "all".into(),
        };
        let (id, bytes) = client.encode(request, None).expect("fits once cut");
        assert!(bytes.len() <= MAX_CLIENT_FRAME + frame::PREFIX_LEN);
        let Ok(ClientMessage::Call {
            id: sent_id,
            request,
        }) = frame::decode(&bytes[frame::PREFIX_LEN..])
        else {
            panic!("not a call");
        };
        assert_eq!(sent_id, id);
        let Request::SendMessage {
            name, content, to, ..
        } = request
        else {
            panic!("not a send")
        };
        // Cut on a character boundary, still far over the 64-character and 64 KiB limits.
        assert!(
            name.len() <= ARGUMENT_CUT
                && name.chars().count() > 64
                && name.chars().all(|c| c == 'é')
        );
        assert_eq!(content, "x".repeat(ARGUMENT_CUT));
        assert_eq!(to, "all");
    }

    #[test]
    fn arguments_within_a_frame_are_sent_untouched() {
        let mut value = format!("  {}  ", "y".repeat(70_000));
        let before = value.clone();
        bound_argument(&mut value);
        assert_eq!(value, before);
    }
}
