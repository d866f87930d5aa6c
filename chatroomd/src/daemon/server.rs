//! `chatroomd serve`: takes the room's lock, loads the room, binds the socket, signals readiness,
//! and serves connections until one shutdown path fires (a signal, the idle timer, or a client's
//! `Shutdown`).
//!
//! One task per connection. A connection first proves itself with a [`Hello`]; from then on it is
//! a session, and a guard reports its end to the owner however it ends (EOF, a bad frame, an
//! error, a panic), which is what ties presence to the connection's lifetime.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use interprocess::local_socket::tokio::{Listener, Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use protocol::frame::{
    MAX_CLIENT_FRAME, MAX_HELLO_FRAME, MAX_SERVER_FRAME, decode_hello, read_frame, read_payload,
    write_frame,
};
use protocol::paths::RoomPaths;
use protocol::{ClientMessage, HelloReply, Request, ServerMessage, protocol_version};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::daemon::dedupe::Dedupe;
use crate::daemon::import;
use crate::daemon::lock::RoomLock;
use crate::daemon::owner::{self, Command, DaemonFacts, OwnerHandle, Presence};
use crate::daemon::room::{Room, SessionId};
use crate::daemon::store;

/// At most this many connections are served at once; more wait in the accept backlog.
const MAX_CONNECTIONS: usize = 1024;
/// Requests one connection may have in flight; further frames wait until a reply is queued.
const MAX_IN_FLIGHT: usize = 64;
/// Replies and events queued for one connection before it counts as not reading.
const OUTBOX_CAPACITY: usize = 256;
/// A connection must say Hello within this time.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long open connections get to wind down at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Everything `serve` needs; tests build one directly.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub paths: RoomPaths,
    /// Exit after this long without agent sessions; `None` never.
    pub idle_timeout: Option<Duration>,
    /// Write [`protocol::READY_LINE`] to this inherited file descriptor once serving.
    pub ready_fd: Option<i32>,
}

/// Why `serve` did not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("another chatroomd (pid {pid}) already holds the room at {root}")]
    AlreadyRunning { pid: String, root: String },
    /// The owner task ended without being asked to (it panicked): the daemon shut down.
    #[error("the room owner stopped unexpectedly ({0}); chatroomd shut down")]
    OwnerDied(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Runs the daemon to completion. Logging must already be set up.
pub fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let started = Instant::now();
    // Past a file-size limit (RLIMIT_FSIZE) a write gets SIGXFSZ, whose default kills the
    // process. Ignored, the write fails with EFBIG instead, and the store refuses the batch as it
    // does on a full disk.
    #[cfg(unix)]
    // SAFETY: setting a signal to SIG_IGN has no preconditions, and nothing here handles SIGXFSZ.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let paths = &config.paths;
    std::fs::create_dir_all(&paths.state_dir)
        .with_context(|| format!("cannot create {}", paths.state_dir.display()))?;
    let lock = match RoomLock::acquire(&paths.lock_file).context("cannot take the room lock")? {
        Ok(lock) => lock,
        Err(holder) => {
            return Err(ServeError::AlreadyRunning {
                pid: holder,
                root: paths.root.display().to_string(),
            });
        }
    };
    if let Err(err) = store::ensure_gitignored(&paths.root) {
        warn!(cause = %err, "could not add .chatroom/ to .gitignore");
    }

    // The room is read once. Batches the last daemon journalled but had not yet written to (or
    // synced in) the compatible files then go there, and into the room as read, so that it
    // holds every acknowledged write.
    let mut loaded =
        store::load(&paths.state_dir, store::Mode::Repair).context("cannot load the room")?;
    let recovered = crate::daemon::journal::recover(&paths.state_dir, &mut loaded)
        .context("cannot replay the journal")?;
    if let Some(aside) = &recovered.stale {
        warn!(kept = %aside.display(), "the journal holds batches another writer has since written over; it is set aside unreplayed");
    } else if recovered.records > 0 || recovered.torn_bytes > 0 {
        info!(
            records = recovered.records,
            lines_replayed = recovered.lines_replayed,
            objects_rewritten = recovered.objects_rewritten,
            torn_bytes = recovered.torn_bytes,
            "replayed the journal"
        );
    }
    for warning in &loaded.warnings {
        warn!("{warning}");
    }
    let (message_count, summary_count) = (loaded.messages.len(), loaded.summaries.len());
    let key_lines = loaded.keys.len();
    let mut room = Room::restore(
        loaded.messages,
        loaded.summaries,
        loaded.participants,
        loaded.cursors,
    )
    .map_err(|cause| anyhow::anyhow!("cannot load the room: {cause}"))?;
    for repair in room.restore_topics(loaded.topics, loaded.topic_cursors, loaded.imports) {
        warn!("{repair}");
    }
    let mut store = store::Store::open(&paths.state_dir)
        .with_context(|| format!("cannot open the files in {}", paths.state_dir.display()))?;
    let dedupe = Dedupe::restore(
        loaded.keys,
        room.last_message_id(),
        room.last_summary_id(),
        crate::shared::time::unix_now(),
        crate::daemon::dedupe::max_keys_from_env(),
    );
    store.set_key_lines(key_lines);
    // Keys whose write never reached the disk, or that are too old, are gone from the table;
    // keep the file from growing without bound by rewriting it when most of it is dead (the
    // owner does the same while running), and at once when it names a write that is not on
    // disk, before another write takes that id.
    if (dedupe.file_is_mostly_dead(key_lines) || dedupe.dropped_unstored() > 0)
        && let Err(err) = store.rewrite_keys(&dedupe.records())
    {
        warn!(file = %err.file, cause = %err.cause, "could not compact the idempotency keys; trying again at the next start");
    }
    // Nobody is connected to a daemon that just started: names left over from a crash (or from
    // another server) leave now, as their sessions did. On a disk that takes nothing the room
    // still starts, to be read; the owner records the departures once a write is stored.
    room.begin();
    let orphans = room.remove_orphans(crate::shared::time::unix_now());
    if !orphans.is_empty() {
        match store.persist(&[], &orphans, &room) {
            Ok(()) => {
                room.commit();
                info!(count = orphans.messages.len(), "stale participants left");
            }
            Err(err) => {
                room.roll_back();
                warn!(file = %err.file, cause = %err.cause, "could not record the departure of stale participants; they stay listed until a write is stored");
            }
        }
    }
    room.commit();
    info!(
        root = %paths.root.display(),
        messages = message_count,
        summaries = summary_count,
        load_ms = started.elapsed().as_millis() as u64,
        search_index_bytes = room.search_index_bytes(),
        "room loaded"
    );

    // A repository that used the Python v2 server has its history in `.chatroom_v2/`, which
    // this room does not read: while the room is empty, the log and `chatroomd status` say how
    // to bring it in.
    let import_hint = room.is_empty().then(|| import::hint(&paths.root)).flatten();
    if let Some(command) = &import_hint {
        info!(
            command = %command,
            "this room is empty and the repository holds a Python server's state; import it with `{command}`"
        );
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let listener = bind(&config.paths)?;
        info!(socket = %config.paths.socket.display(), pid = std::process::id(), "serving");
        // Clients whose environment yields another socket directory find us through this;
        // without it they still find us when their environment matches ours.
        if let Err(err) = protocol::paths::record_endpoint(&config.paths) {
            warn!(file = %config.paths.endpoint_file.display(), cause = %err, "could not record the socket for clients from other environments");
        }
        if let Some(fd) = config.ready_fd {
            signal_ready(fd);
        }
        let facts = DaemonFacts {
            started,
            root: config.paths.root.display().to_string(),
            socket: config.paths.socket.display().to_string(),
            log: config.paths.log_file.display().to_string(),
            import_hint,
        };
        let shutdown = CancellationToken::new();
        let (owner, presence, owner_thread) =
            owner::spawn(room, store, dedupe, facts, shutdown.clone());
        tokio::spawn(shutdown_on_signals(shutdown.clone()));
        tokio::spawn(shutdown_when_idle_or_asked(
            presence,
            config.idle_timeout,
            shutdown.clone(),
        ));
        run(listener, owner.clone(), shutdown).await;
        owner.send(Command::Stop);
        // A panicked owner ended the accept loop itself (it cancels `shutdown` as it unwinds);
        // the daemon then leaves by the same path as any shutdown and reports the failure.
        match owner_thread.await {
            Ok(()) => Ok(()),
            Err(err) if err.is_panic() => {
                Err(ServeError::OwnerDied(panic_message(&*err.into_panic())))
            }
            Err(err) => Err(ServeError::OwnerDied(err.to_string())),
        }
    });
    // Still holding the lock, so the record is ours to remove.
    if let Err(err) = protocol::paths::forget_endpoint(&config.paths) {
        warn!(file = %config.paths.endpoint_file.display(), cause = %err, "could not remove the socket record");
    }
    // Released on every way out, so the next client call starts a fresh daemon at once.
    drop(lock);
    if result.is_ok() {
        info!("stopped");
    }
    result
}

/// Whether a first frame that decodes leniently as a Hello can be one. The Hello of this version
/// or an older one has exactly the frozen fields: only a later version's may carry more, which
/// this daemon skips to tell that client to replace it. Anything else that merely starts like a
/// Hello (a daemon's own `Welcome` or `Refused` sent back at it, say) is dropped unanswered, like
/// any other garbage.
fn is_a_clients_hello(hello: &protocol::HelloFrame, payload: &[u8]) -> bool {
    match hello.version {
        version if version <= protocol_version() => {
            matches!(
                protocol::frame::decode::<ClientMessage>(payload),
                Ok(ClientMessage::Hello(_))
            ) || protocol::ClientKind::from_code(hello.kind_code).is_none()
        }
        _ => true,
    }
}

/// The text a panic was raised with, if it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| String::from("no message"))
}

/// Binds the socket. Only called with the room lock held, so a socket file that is still there
/// belongs to a dead daemon and may be replaced.
fn bind(paths: &RoomPaths) -> anyhow::Result<Listener> {
    protocol::paths::ensure_private_dir(&paths.runtime_dir).with_context(|| {
        format!(
            "cannot use the runtime directory {}",
            paths.runtime_dir.display()
        )
    })?;
    let name = || paths.socket.as_path().to_fs_name::<GenericFilePath>();
    let options = || {
        ListenerOptions::new()
            .name(name().expect("socket path is a valid name"))
            .try_overwrite(true)
    };
    name().with_context(|| format!("invalid socket path {}", paths.socket.display()))?;
    #[cfg(unix)]
    let listener = {
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        match options().mode(0o600).create_tokio() {
            Err(err) if err.kind() == std::io::ErrorKind::Unsupported => options().create_tokio(),
            other => other,
        }
    };
    #[cfg(not(unix))]
    let listener = options().create_tokio();
    listener.with_context(|| format!("cannot bind {}", paths.socket.display()))
}

#[cfg(unix)]
fn signal_ready(fd: i32) {
    use std::os::fd::FromRawFd;
    // SAFETY: the starter passed this descriptor to us for exactly this purpose; we own it from
    // here and close it right after writing.
    let mut pipe = unsafe { File::from_raw_fd(fd) };
    if let Err(err) = pipe.write_all(protocol::READY_LINE) {
        warn!(fd, cause = %err, "could not signal readiness");
    }
}

#[cfg(not(unix))]
fn signal_ready(_fd: i32) {}

/// The accept loop: one task per connection, at most [`MAX_CONNECTIONS`] at once, until
/// `shutdown` fires; then open connections get [`SHUTDOWN_GRACE`] to finish.
pub async fn run(listener: Listener, owner: OwnerHandle, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let next_session = Arc::new(AtomicU64::new(1));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit.expect("semaphore never closed"),
            () = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(err) => {
                    warn!(cause = %err, "accept failed");
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let session = next_session.fetch_add(1, Ordering::Relaxed);
        let owner = owner.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(err) = connection(stream, session, owner, shutdown).await {
                debug!(session, cause = %err, "connection ended with an error");
            }
            drop(permit);
        });
        // Reap finished tasks so the set does not grow with every connection ever made.
        while let Some(result) = tasks.try_join_next() {
            if let Err(err) = result {
                error!(cause = %err, "a connection task panicked");
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Reports the end of a session to the owner when dropped, whatever ended it.
struct SessionGuard {
    session: SessionId,
    owner: OwnerHandle,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.owner.send(Command::Close {
            session: self.session,
        });
    }
}

async fn connection(
    stream: Stream,
    session: SessionId,
    owner: OwnerHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Err(err) = check_peer(&stream) {
        warn!(session, cause = %err, "refused a connection");
        return Ok(());
    }
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buffer = Vec::new();
    // The first frame is read with the Hello's small limit, and decoded leniently (fields that
    // later versions append are ignored, the kind is read as a code), so that this daemon
    // answers every later client instead of dropping it.
    let hello = match tokio::time::timeout(
        HELLO_TIMEOUT,
        read_payload(&mut reader, &mut buffer, MAX_HELLO_FRAME),
    )
    .await
    {
        Err(_) => bail!("no hello within {HELLO_TIMEOUT:?}"),
        Ok(Ok(true)) => match decode_hello(&buffer) {
            Ok(Some(hello)) if !is_a_clients_hello(&hello, &buffer) => {
                bail!("the first frame was not a hello")
            }
            Ok(Some(hello)) => hello,
            Ok(None) => bail!("the first frame was not a hello"),
            Err(err) => return Err(err).context("bad hello frame"),
        },
        Ok(Ok(false)) => return Ok(()),
        Ok(Err(err)) => return Err(err).context("bad hello frame"),
    };
    let version = protocol_version();
    let kind = match (hello.version == version, hello.kind()) {
        (true, Some(kind)) => kind,
        (same_version, _) => {
            // The version first: a later client that also brings a new kind is told to replace
            // this daemon, which is what it needs.
            let message = if same_version {
                format!(
                    "chatroomd (pid {}) does not know client kind {}; upgrade chatroomd",
                    std::process::id(),
                    hello.kind_code
                )
            } else {
                format!(
                    "chatroomd (pid {}) speaks protocol v{version} but the client speaks v{}",
                    std::process::id(),
                    hello.version
                )
            };
            // The normal first step of an upgrade: the client replaces this daemon or says why not.
            info!(session, client_pid = hello.client_pid, "{message}");
            let refusal = ServerMessage::HelloReply(HelloReply::Refused {
                daemon_version: version,
                daemon_pid: std::process::id(),
                message,
            });
            write_frame(&mut writer, &refusal, MAX_SERVER_FRAME).await?;
            return Ok(());
        }
    };
    let welcome = ServerMessage::HelloReply(HelloReply::Welcome {
        version,
        session_id: session,
        daemon_pid: std::process::id(),
    });
    write_frame(&mut writer, &welcome, MAX_SERVER_FRAME).await?;

    let (outbox, mut inbox) = mpsc::channel::<ServerMessage>(OUTBOX_CAPACITY);
    let evict = CancellationToken::new();
    if !owner.send(Command::Open {
        session,
        kind,
        client_pid: hello.client_pid,
        outbox,
        evict: evict.clone(),
    }) {
        return Ok(());
    }
    let guard = SessionGuard {
        session,
        owner: owner.clone(),
    };
    debug!(
        session,
        client_pid = hello.client_pid,
        kind = owner::kind_name(kind),
        "session started"
    );

    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let write_loop = async move {
        while let Some(message) = inbox.recv().await {
            write_frame(&mut writer, &message, MAX_SERVER_FRAME).await?;
        }
        anyhow::Ok(())
    };
    let read_loop = async {
        loop {
            let permit = in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            match read_frame::<ClientMessage, _>(&mut reader, &mut buffer, MAX_CLIENT_FRAME).await {
                Ok(Some(ClientMessage::Call {
                    id,
                    request: Request::Import { dir, dry_run },
                })) => {
                    // The source is read here, on a blocking thread, so that the owner only
                    // plans and applies it: a large or slow source never holds up the room.
                    let source = tokio::task::spawn_blocking(move || import::read(Path::new(&dir)))
                        .await
                        .unwrap_or_else(|err| {
                            Err(import::SourceError(format!(
                                "reading the source failed: {err}"
                            )))
                        });
                    let call = Command::Import {
                        session,
                        id,
                        dry_run,
                        source: Box::new(source),
                        permit: Some(permit),
                    };
                    if !owner.send(call) {
                        return Ok(());
                    }
                }
                Ok(Some(ClientMessage::Call { id, request })) => {
                    let call = Command::Call {
                        session,
                        id,
                        key: None,
                        request,
                        permit: Some(permit),
                    };
                    if !owner.send(call) {
                        return Ok(());
                    }
                }
                Ok(Some(ClientMessage::KeyedCall { id, key, request })) => {
                    let call = Command::Call {
                        session,
                        id,
                        key: Some(key),
                        request,
                        permit: Some(permit),
                    };
                    if !owner.send(call) {
                        return Ok(());
                    }
                }
                Ok(Some(ClientMessage::Hello(_))) => bail!("a second hello"),
                Ok(None) => return Ok(()),
                Err(err) => return Err(err).context("bad frame"),
            }
        }
    };
    tokio::pin!(write_loop);
    tokio::select! {
        result = read_loop => result,
        result = &mut write_loop => result,
        // The owner dropped this session for not reading its replies or events: end now rather
        // than wait, holding a full outbox, for a peer that may never read again.
        () = evict.cancelled() => bail!("evicted: the peer does not read"),
        () = shutdown.cancelled() => {
            // Stop reading, but deliver what is already queued (the reply to `chatroomd stop`
            // among it): closing the session drops the owner's end of the outbox, which ends the
            // write loop once it is drained.
            drop(guard);
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, write_loop).await;
            Ok(())
        }
    }
}

/// Refuses peers running as another user, where the platform tells who the peer is.
fn check_peer(stream: &Stream) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let ours = unsafe { libc::geteuid() };
        if let Some(theirs) = stream.peer_creds().ok().and_then(|creds| creds.euid())
            && theirs != ours
        {
            bail!("refusing a peer running as uid {theirs}");
        }
    }
    let _ = stream;
    Ok(())
}

async fn shutdown_on_signals(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            warn!("cannot listen for signals");
            return;
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => info!("SIGINT: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    shutdown.cancel();
}

async fn shutdown_when_idle_or_asked(
    mut presence: watch::Receiver<Presence>,
    idle_timeout: Option<Duration>,
    shutdown: CancellationToken,
) {
    loop {
        let current = *presence.borrow_and_update();
        if current.shutdown_requested {
            info!("shutdown requested by a client");
            break;
        }
        let idle = current.live_sessions == 0;
        let changed = presence.changed();
        match idle_timeout.filter(|_| idle) {
            Some(timeout) => tokio::select! {
                result = changed => if result.is_err() { return },
                () = tokio::time::sleep(timeout) => {
                    info!(idle_secs = timeout.as_secs(), "no sessions for the idle timeout: shutting down");
                    break;
                }
            },
            None => {
                if changed.await.is_err() {
                    return;
                }
            }
        }
    }
    shutdown.cancel();
}
