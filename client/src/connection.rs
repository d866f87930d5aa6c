//! One multiplexed connection to the daemon: the handshake (a daemon of another version is an
//! outcome, not an error), concurrent calls matched to their replies by id, and the events the
//! daemon pushes to a subscribed session, all on the same socket.
//!
//! A reader task routes each reply to its waiter and each event to the event channel; a writer
//! task drains an outbox, so that a call abandoned mid-write (a timeout, a cancelled tool call)
//! can never leave half a frame on the wire. Either task seeing the socket end marks the
//! connection closed and fails every call still waiting.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use interprocess::local_socket::tokio::Stream;
use protocol::frame::{self, FrameError, MAX_CLIENT_FRAME, MAX_SERVER_FRAME};
use protocol::paths::RoomPaths;
use protocol::{
    ClientKind, ClientMessage, Event, Hello, HelloReply, Refusal, Request, Response, ServerMessage,
    protocol_version,
};
use tokio::io::{AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::CallError;
use crate::launch;

/// What the daemon answered: a result, or a refusal that changed nothing.
pub type Outcome = Result<Response, Refusal>;

/// The longest the handshake may take once the socket is connected.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Connection::call`] waits for one reply. The reconnecting session has its own
/// overall deadline per call instead ([`crate::session::CALL_DEADLINE`]).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pushed events not yet taken by [`Connection::next_event`]. A subscriber this far behind is
/// not reading: the connection is dropped (as the daemon evicts a session that does not read)
/// rather than buffering without bound, and the caller reconnects.
const EVENT_BUFFER: usize = 1024;
/// The read buffer of a connection: a typical reply fits whole, a large one is read through it.
const READ_BUFFER: usize = 64 * 1024;

/// What [`Connection::reach`] found.
#[derive(Debug)]
pub enum Reach {
    /// A daemon of this protocol version accepted the session.
    Connected(Connection),
    /// A daemon runs but speaks another protocol version (it said so in its refusal).
    Incompatible(Incompatible),
    /// No daemon answers for this root.
    NotRunning,
}

/// How a handshake ended when the daemon answered it.
#[derive(Debug)]
pub enum Handshake {
    /// A daemon of this protocol version accepted the session.
    Welcome(Connection),
    /// A daemon of another protocol version, as it described itself.
    Incompatible(Incompatible),
}

/// A running daemon this build cannot talk to, as its handshake refusal describes it (the
/// frozen `HelloReply::Refused` names its pid and version, so every version can say this).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Incompatible {
    pub pid: u32,
    pub protocol_version: u32,
    /// The daemon's own words.
    pub message: String,
}

/// One open, handshaken connection to the daemon.
pub struct Connection {
    /// The daemon that welcomed us: a new pid after a reconnect means the old daemon died.
    daemon_pid: u32,
    session_id: u64,
    calls: Arc<InFlight>,
    outbox: mpsc::UnboundedSender<Vec<u8>>,
    reader: tokio::task::AbortHandle,
    /// `None` once the owner said it will not read events ([`Connection::ignore_events`]).
    events: Option<mpsc::Receiver<Event>>,
    /// Ids of the calls made through [`Connection::call`]. The session numbers its own calls
    /// across connections and never mixes the two on one connection.
    next_id: AtomicU64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Connection")
            .field("daemon_pid", &self.daemon_pid)
            .field("session_id", &self.session_id)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to the room's daemon as `kind`, wherever its socket is (the endpoint it recorded,
    /// else the one this environment yields), and says what it found. Never starts a daemon: what
    /// `status`, `stop`, the read-only commands and the hook use.
    pub async fn reach(paths: &RoomPaths, kind: ClientKind) -> Result<Reach, CallError> {
        let stream = match launch::connect_room(paths).await {
            Ok(stream) => stream,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(Reach::NotRunning);
            }
            Err(cause) => {
                return Err(CallError::Connect {
                    socket: paths.socket.clone(),
                    cause,
                });
            }
        };
        Ok(match Self::handshake(stream, kind).await? {
            Handshake::Welcome(connection) => Reach::Connected(connection),
            Handshake::Incompatible(daemon) => Reach::Incompatible(daemon),
        })
    }

    /// Connects as `kind`, starting the daemon first if none serves the room (race-safe, see
    /// [`launch::connect_or_start`]), and handshakes.
    pub async fn connect_or_start(
        paths: &RoomPaths,
        kind: ClientKind,
    ) -> Result<Handshake, CallError> {
        let stream = launch::connect_or_start(paths).await?;
        Self::handshake(stream, kind).await
    }

    /// Says hello as `kind` on a freshly connected `stream` and waits at most
    /// [`HANDSHAKE_TIMEOUT`] for the answer.
    pub async fn handshake(stream: Stream, kind: ClientKind) -> Result<Handshake, CallError> {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, hello(&mut reader, &mut writer, kind))
            .await
            .map_err(|_| {
                CallError::Handshake(format!("no answer within {}s", HANDSHAKE_TIMEOUT.as_secs()))
            })??;
        let welcome = match answer {
            Answer::Welcome(welcome) => welcome,
            Answer::Incompatible(daemon) => return Ok(Handshake::Incompatible(daemon)),
        };
        tracing::info!(
            session_id = welcome.session_id,
            daemon_pid = welcome.daemon_pid,
            "connected to chatroomd"
        );
        let calls = Arc::new(InFlight::default());
        let (outbox, frames) = mpsc::unbounded_channel();
        let (events_in, events) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(write_loop(writer, frames, Arc::clone(&calls)));
        // Buffered, so that a reply's length prefix and payload come in one read, not two (and a
        // burst of events in one for many): a system call less per call. The handshake above read
        // exactly its frame, so nothing the daemon sent after it is lost to the old reader.
        let reader = BufReader::with_capacity(READ_BUFFER, reader);
        let reader = tokio::spawn(read_loop(reader, Arc::clone(&calls), events_in)).abort_handle();
        Ok(Handshake::Welcome(Self {
            daemon_pid: welcome.daemon_pid,
            session_id: welcome.session_id,
            calls,
            outbox,
            reader,
            events: Some(events),
            next_id: AtomicU64::new(1),
        }))
    }

    /// The pid of the daemon that accepted this connection.
    pub fn daemon_pid(&self) -> u32 {
        self.daemon_pid
    }

    /// The session id the daemon gave this connection.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Whether the connection still stands: neither its reader nor its writer saw it end.
    pub fn is_open(&self) -> bool {
        self.calls.is_open()
    }

    /// Sends `request` and waits at most [`REPLY_TIMEOUT`] for its outcome. Concurrent calls
    /// share the connection; each gets its own reply.
    pub async fn call(&self, request: Request) -> Result<Outcome, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.bounded_call(ClientMessage::Call { id, request }, id)
            .await
    }

    /// Like [`Connection::call`], for a write sent with an idempotency key: the daemon carries
    /// it out once however often the same key arrives.
    pub async fn keyed_call(&self, key: u128, request: Request) -> Result<Outcome, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.bounded_call(ClientMessage::KeyedCall { id, key, request }, id)
            .await
    }

    /// Like [`Connection::call`], for requests that must succeed: a refusal is
    /// [`CallError::Refused`].
    pub async fn request(&self, request: Request) -> Result<Response, CallError> {
        self.call(request).await?.map_err(CallError::Refused)
    }

    /// Like [`Connection::request`], waiting up to `deadline` instead of [`REPLY_TIMEOUT`]: for
    /// a request whose work grows with its input (an import of a whole history).
    pub async fn request_within(
        &self,
        request: Request,
        deadline: Duration,
    ) -> Result<Response, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.bounded_call_within(ClientMessage::Call { id, request }, id, deadline)
            .await?
            .map_err(CallError::Refused)
    }

    async fn bounded_call(&self, message: ClientMessage, id: u64) -> Result<Outcome, CallError> {
        self.bounded_call_within(message, id, REPLY_TIMEOUT).await
    }

    async fn bounded_call_within(
        &self,
        message: ClientMessage,
        id: u64,
        deadline: Duration,
    ) -> Result<Outcome, CallError> {
        let bytes = match frame::encode(&message, MAX_CLIENT_FRAME) {
            Ok(bytes) => bytes,
            Err(FrameError::TooLarge { len, max }) => return Err(CallError::TooLarge { len, max }),
            Err(err) => return Err(CallError::Encode(err.to_string())),
        };
        tokio::time::timeout(deadline, self.send_frame(id, bytes))
            .await
            .map_err(|_| CallError::TimedOut { deadline })?
    }

    /// Sends one encoded call (a frame whose call id is `id`) and waits for the reply with the
    /// same id, as long as it takes: the caller bounds it.
    pub(crate) async fn send_frame(&self, id: u64, bytes: Vec<u8>) -> Result<Outcome, CallError> {
        let reply = self.calls.register(id).ok_or(CallError::ConnectionLost)?;
        // Whatever happens next (reply, timeout, the caller going away), the entry must not
        // outlive this call.
        let _forget = Forget {
            calls: &self.calls,
            id,
        };
        self.outbox
            .send(bytes)
            .map_err(|_| CallError::ConnectionLost)?;
        reply.await.map_err(|_closed| CallError::ConnectionLost)
    }

    /// Cancels call `call_id`, whose caller has gone, by sending `bytes` (call `cancel_id`, a
    /// [`Request::CancelWait`]). The daemon then answers the cancelled call with a refusal that
    /// nobody reads: it is taken here rather than logged as a reply to no call.
    pub(crate) async fn cancel_call(&self, call_id: u64, cancel_id: u64, bytes: Vec<u8>) {
        let Some(cancelled_reply) = self.calls.register(call_id) else {
            return;
        };
        let _forget = Forget {
            calls: &self.calls,
            id: call_id,
        };
        match tokio::time::timeout(REPLY_TIMEOUT, self.send_frame(cancel_id, bytes)).await {
            Ok(Ok(Ok(Response::Cancelled(true)))) => {
                // Its refusal comes before or just after this answer; if it never does, the
                // entry goes anyway.
                let _ = tokio::time::timeout(REPLY_TIMEOUT, cancelled_reply).await;
            }
            Ok(Ok(Ok(Response::Cancelled(false)))) => {
                tracing::debug!(call_id, "the wait had ended before it was cancelled");
            }
            Ok(Ok(outcome)) => tracing::info!(call_id, ?outcome, "could not cancel the wait"),
            Ok(Err(err)) => tracing::info!(call_id, cause = %err, "could not cancel the wait"),
            Err(_) => tracing::info!(call_id, "chatroomd did not answer the cancel of a wait"),
        }
    }

    /// The next event the daemon pushed (after a [`Request::Subscribe`]), in the order they came,
    /// those that arrived while a reply was awaited included. `None` once the connection has
    /// ended and every event before its end was taken.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.as_mut()?.recv().await
    }

    /// Whether an event is waiting to be taken.
    pub fn has_event(&self) -> bool {
        self.events
            .as_ref()
            .is_some_and(|events| !events.is_empty())
    }

    /// Drops events from now on, for an owner that never subscribes (a stray event is harmless).
    pub fn ignore_events(&mut self) {
        self.events = None;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // With the reader gone and the outbox closed (the writer then ends), both halves of the
        // socket are dropped and the daemon sees the session end.
        self.reader.abort();
    }
}

/// What the daemon said when it accepted the session.
struct Welcome {
    session_id: u64,
    daemon_pid: u32,
}

/// How a daemon answered our hello.
enum Answer {
    Welcome(Welcome),
    Incompatible(Incompatible),
}

async fn hello(
    reader: &mut ReadHalf<Stream>,
    writer: &mut WriteHalf<Stream>,
    kind: ClientKind,
) -> Result<Answer, CallError> {
    let hello = ClientMessage::Hello(Hello {
        version: protocol_version(),
        client_pid: std::process::id(),
        kind,
    });
    if let Err(err) = frame::write_frame(writer, &hello, MAX_CLIENT_FRAME).await {
        return Err(match err {
            FrameError::Io(_) => CallError::HandshakeClosed,
            other => CallError::Handshake(other.to_string()),
        });
    }
    let mut buf = Vec::new();
    let reply =
        match frame::read_frame::<ServerMessage, _>(reader, &mut buf, MAX_SERVER_FRAME).await {
            Ok(Some(reply)) => reply,
            Ok(None) | Err(FrameError::Truncated) | Err(FrameError::Io(_)) => {
                return Err(CallError::HandshakeClosed);
            }
            Err(err) => return Err(CallError::Handshake(err.to_string())),
        };
    match reply {
        ServerMessage::HelloReply(HelloReply::Welcome {
            version,
            session_id,
            daemon_pid,
        }) if version == protocol_version() => Ok(Answer::Welcome(Welcome {
            session_id,
            daemon_pid,
        })),
        // A refusal from a daemon of our own version is not a skew (a kind it does not know, say):
        // its words are the message.
        ServerMessage::HelloReply(HelloReply::Refused {
            daemon_version,
            message,
            ..
        }) if daemon_version == protocol_version() => Err(CallError::Handshake(message)),
        ServerMessage::HelloReply(HelloReply::Refused {
            daemon_version,
            daemon_pid,
            message,
        }) => Ok(Answer::Incompatible(Incompatible {
            pid: daemon_pid,
            protocol_version: daemon_version,
            message,
        })),
        // No daemon welcomes another version, but one that did could not be understood either.
        ServerMessage::HelloReply(HelloReply::Welcome {
            version,
            daemon_pid,
            ..
        }) => Ok(Answer::Incompatible(Incompatible {
            pid: daemon_pid,
            protocol_version: version,
            message: format!(
                "chatroomd (pid {daemon_pid}) welcomed us speaking protocol v{version}, not v{}",
                protocol_version()
            ),
        })),
        ServerMessage::Reply { id, .. } => Err(CallError::Handshake(format!(
            "a reply to call {id} came before the handshake"
        ))),
        ServerMessage::Event(_) => Err(CallError::Handshake(
            "an event came before the handshake".to_owned(),
        )),
    }
}

/// Routes each reply to its waiter and each event to the event channel until the connection
/// ends, then fails whoever still waits.
async fn read_loop(
    mut reader: BufReader<ReadHalf<Stream>>,
    calls: Arc<InFlight>,
    events: mpsc::Sender<Event>,
) {
    let mut buf = Vec::new();
    loop {
        match frame::read_frame::<ServerMessage, _>(&mut reader, &mut buf, MAX_SERVER_FRAME).await {
            Ok(Some(ServerMessage::Reply { id, outcome })) => calls.resolve(id, outcome),
            Ok(Some(ServerMessage::HelloReply(reply))) => {
                tracing::warn!(?reply, "ignoring a second handshake reply from chatroomd");
            }
            Ok(Some(ServerMessage::Event(event))) => match events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Closed(event)) => {
                    tracing::debug!(?event, "ignoring an event from chatroomd");
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        "{EVENT_BUFFER} events from chatroomd are unread; dropping the connection"
                    );
                    break;
                }
            },
            // Normal when the daemon stops (idle timeout, `chatroomd stop`); a call in flight
            // says what it means for it.
            Ok(None) => {
                tracing::info!("chatroomd closed the connection");
                break;
            }
            // A daemon that died mid-frame or reset the connection is the same event as a close
            // (the call is sent again on a new connection); a frame we cannot read is trouble.
            Err(err @ (FrameError::Truncated | FrameError::Io(_))) => {
                tracing::info!(cause = %err, "lost the connection to chatroomd");
                break;
            }
            Err(err) => {
                tracing::warn!(cause = %err, "dropping the connection to chatroomd");
                break;
            }
        }
    }
    calls.close();
}

/// Writes queued frames in order until the connection is dropped or a write fails.
async fn write_loop(
    mut writer: WriteHalf<Stream>,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
    calls: Arc<InFlight>,
) {
    while let Some(bytes) = frames.recv().await {
        let written = async {
            writer.write_all(&bytes).await?;
            writer.flush().await
        };
        if let Err(err) = written.await {
            // The daemon is gone (broken pipe, reset): the call is sent again on a new
            // connection, and only a call that finally fails is the caller's business.
            tracing::info!(cause = %err, "could not write to chatroomd");
            calls.close();
            return;
        }
    }
}

/// The calls waiting for a reply on one connection.
#[derive(Default)]
struct InFlight {
    state: Mutex<InFlightState>,
}

#[derive(Default)]
struct InFlightState {
    closed: bool,
    waiters: HashMap<u64, oneshot::Sender<Outcome>>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, InFlightState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_open(&self) -> bool {
        !self.lock().closed
    }

    /// Registers a waiter for `id`; `None` once the connection has ended.
    fn register(&self, id: u64) -> Option<oneshot::Receiver<Outcome>> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        state.waiters.insert(id, sender);
        Some(receiver)
    }

    fn resolve(&self, id: u64, outcome: Outcome) {
        match self.lock().waiters.remove(&id) {
            // The waiter may have just given up (timeout); its reply is of no use to anyone.
            Some(waiter) => drop(waiter.send(outcome)),
            None => tracing::warn!(id, "ignoring a reply to a call nobody waits for"),
        }
    }

    fn forget(&self, id: u64) {
        self.lock().waiters.remove(&id);
    }

    /// Marks the connection ended; dropping the senders fails every waiting call.
    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.waiters.clear();
    }
}

/// Removes a call's waiter however the call ends.
struct Forget<'a> {
    calls: &'a InFlight,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.calls.forget(self.id);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use protocol::{PROTOCOL_VERSION, RoomStatus};

    fn welcome() -> HelloReply {
        HelloReply::Welcome {
            version: PROTOCOL_VERSION,
            session_id: 5,
            daemon_pid: 77,
        }
    }

    fn status(message_count: u64) -> Response {
        Response::Status(RoomStatus {
            topics: None,
            participant_count: 0,
            message_count,
            last_activity_ts: None,
        })
    }

    #[tokio::test]
    async fn events_pushed_while_a_reply_is_awaited_are_kept_in_order() {
        let fake = crate::fake::Daemon::start("events");
        let daemon_side = async {
            let (mut session, kind) = fake.accept_answering(welcome()).await;
            assert_eq!(kind, ClientKind::Human);
            let (id, _) = session.next_call().await;
            // Two events before the reply, one after it; then the daemon goes away.
            let presence = || {
                ServerMessage::Event(Event::Presence {
                    participants: vec![],
                    sessions: vec![],
                })
            };
            for message in [
                presence(),
                presence(),
                ServerMessage::Reply {
                    id,
                    outcome: Ok(status(3)),
                },
                presence(),
            ] {
                session.send(message).await;
            }
        };
        let client_side = async {
            let Reach::Connected(mut connection) =
                Connection::reach(&fake.paths, ClientKind::Human)
                    .await
                    .unwrap()
            else {
                panic!("not connected");
            };
            assert_eq!((connection.daemon_pid(), connection.session_id()), (77, 5));
            let reply = connection.request(Request::GetStatus).await.unwrap();
            let mut events = 0;
            while let Some(event) = connection.next_event().await {
                assert!(matches!(event, Event::Presence { .. }));
                events += 1;
            }
            (reply, events, connection.is_open())
        };
        let ((), (reply, events, open)) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(daemon_side, client_side)
        })
        .await
        .expect("the conversation ends");
        assert_eq!(reply, status(3));
        assert_eq!(events, 3, "every event, those before the reply included");
        assert!(!open, "the end of the stream closes the connection");
    }

    #[tokio::test]
    async fn reach_reports_a_daemon_of_another_version_and_a_room_nobody_serves() {
        let fake = crate::fake::Daemon::start("reach");
        let daemon_side = fake.accept_answering(HelloReply::Refused {
            daemon_version: 1,
            daemon_pid: 4321,
            message: "protocol mismatch".into(),
        });
        let (_session, reached) = tokio::join!(
            daemon_side,
            Connection::reach(&fake.paths, ClientKind::Control)
        );
        let Reach::Incompatible(daemon) = reached.unwrap() else {
            panic!("not reported as incompatible");
        };
        assert_eq!(
            daemon,
            Incompatible {
                pid: 4321,
                protocol_version: 1,
                message: "protocol mismatch".into(),
            }
        );

        let nobody = RoomPaths::new(
            fake.paths.root.join("elsewhere"),
            fake.paths.root.join("none"),
        );
        assert!(matches!(
            Connection::reach(&nobody, ClientKind::Control)
                .await
                .unwrap(),
            Reach::NotRunning
        ));
    }
}
