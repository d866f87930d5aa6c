//! Connect-or-start: reaching the room's daemon, starting it first when nobody serves the room.
//! The starter's half of the launch handshake whose daemon half is `chatroomd serve --ready-fd`.
//! Also the watching of the room lock from outside ([`lock_held`], [`lock_holder`],
//! [`wait_released`]) and the one way anything signals a daemon ([`stop_holder`]).
//!
//! Racing starters serialize on a start lock (an flock in the runtime dir, released by the kernel
//! even if its holder is killed), and the one holding it checks again before starting, so a burst
//! of shims on a fresh repository starts exactly one daemon. The daemon says when it is ready by
//! writing [`protocol::READY_LINE`] to an inherited pipe; nothing here sleeps to guess.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use interprocess::local_socket::tokio::{Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ToFsName};
use protocol::paths::RoomPaths;

/// How long to wait for another client that is starting the daemon.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a freshly spawned daemon has to signal readiness (it normally takes milliseconds).
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one socket connect may take; a live listener answers at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The variable naming the daemon binary to start, for tests and unusual installs.
pub const ENV_DAEMON: &str = "CHATROOM_DAEMON";

/// Why the daemon could not be reached or started. Each message is one line meant for the agent
/// (and the person behind it): it says what failed and where to look.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    // The causes are part of each one-line message, and so are not also reported as `source`
    // (an error chain would print them twice).
    #[error("cannot prepare {}: {cause}", path.display())]
    Setup { path: PathBuf, cause: io::Error },
    #[error(
        "timed out after {}s waiting for another client to start chatroomd (start lock {})",
        LOCK_TIMEOUT.as_secs(),
        path.display()
    )]
    LockTimeout { path: PathBuf },
    #[error(
        "could not run `{program}`: {cause}; install chatroomd next to chatroom-shim or on PATH, or set {ENV_DAEMON}"
    )]
    Spawn { program: String, cause: io::Error },
    #[error(
        "chatroomd exited during start ({status}); see {}, or run `{} serve --foreground --root {}` to see why",
        hint.log.display(), hint.program, hint.root.display()
    )]
    Exited { status: String, hint: Hint },
    #[error(
        "chatroomd did not become ready within {}s; see {}, or run `{} serve --foreground --root {}` to see why",
        READY_TIMEOUT.as_secs(), hint.log.display(), hint.program, hint.root.display()
    )]
    NotReady { hint: Hint },
    // Not `serve --foreground`: with a daemon holding the room it would fail the same way.
    // `stop` works on any daemon holding the lock, reachable or not.
    #[error(
        "chatroomd is running but its socket {} refused the connection ({cause}); see {}, or run `{} stop --root {}` and retry",
        socket.display(), hint.log.display(), hint.program, hint.root.display()
    )]
    Connect {
        socket: PathBuf,
        cause: io::Error,
        hint: Hint,
    },
    #[error("chatroomd is not running, and starting it automatically is only supported on unix")]
    Unsupported,
    #[error("the process holding the room lock exited while chatroomd was starting")]
    HolderGone,
}

/// What a startup failure points the user at.
#[derive(Debug, Clone)]
pub struct Hint {
    pub log: PathBuf,
    pub program: String,
    pub root: PathBuf,
}

/// Connects to the room's daemon, starting it if nobody serves the room yet.
pub async fn connect_or_start(paths: &RoomPaths) -> Result<Stream, StartError> {
    match connect_room(paths).await {
        Ok(stream) => return Ok(stream),
        Err(err) => tracing::debug!(cause = %err, "no daemon answered; starting one"),
    }
    protocol::paths::ensure_private_dir(&paths.runtime_dir).map_err(|cause| StartError::Setup {
        path: paths.runtime_dir.clone(),
        cause,
    })?;
    // Held until this function returns, i.e. until we are connected or have given up, so that
    // the shims queued behind us find the daemon we started instead of starting another.
    let _start_lock = lock_start(&paths.start_lock).await?;
    if let Ok(stream) = connect_room(paths).await {
        tracing::debug!("another shim started the daemon while we waited");
        return Ok(stream);
    }
    // A daemon that just died may still hold the room lock for a moment after its socket
    // stopped answering, and the daemon we start then exits as if another served the room:
    // start again once that lock is gone (a bounded number of times).
    let mut attempts = 0;
    loop {
        attempts += 1;
        match start(paths).await {
            Err(StartError::HolderGone) if attempts < 5 => {
                tracing::info!("the previous chatroomd was still exiting; starting again");
            }
            result => return result,
        }
    }
}

/// Connects to the daemon serving the room, wherever it runs, without ever starting one: first
/// the socket the daemon recorded in `.chatroom/` (see [`protocol::paths::recorded_endpoint`]),
/// which finds a daemon started from another environment, then the socket this process's own
/// environment yields. The error is the latter's: `NotFound` or `ConnectionRefused` when nobody
/// serves the room.
pub async fn connect_room(paths: &RoomPaths) -> io::Result<Stream> {
    match protocol::paths::recorded_endpoint(paths) {
        Ok(Some(socket)) if socket != paths.socket => match connect(&socket).await {
            Ok(stream) => return Ok(stream),
            Err(err) => {
                tracing::debug!(socket = %socket.display(), cause = %err, "the recorded endpoint did not answer");
            }
        },
        Ok(_) => {}
        // Left behind by a daemon that was killed: its socket went with its runtime dir.
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(cause = %err, "the recorded endpoint is gone");
        }
        Err(err) => tracing::warn!(cause = %err, "not using the recorded endpoint"),
    }
    connect(&paths.socket).await
}

/// One attempt to connect to the socket at `socket`. A socket served by another user is refused
/// (where the platform says who serves it): the socket may have been named by a file in a
/// repository others can write.
pub async fn connect(socket: &Path) -> io::Result<Stream> {
    let name = socket.to_fs_name::<GenericFilePath>()?;
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, Stream::connect(name)).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the socket did not accept the connection in time",
            ));
        }
    };
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let ours = unsafe { libc::geteuid() };
        if let Some(theirs) = stream.peer_creds().ok().and_then(|creds| creds.euid())
            && theirs != ours
        {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is served by uid {theirs}, not the current user",
                    socket.display()
                ),
            ));
        }
    }
    Ok(stream)
}

/// Takes the exclusive start lock, waiting at most [`LOCK_TIMEOUT`] for its holder.
async fn lock_start(path: &Path) -> Result<File, StartError> {
    let setup = |cause| StartError::Setup {
        path: path.to_path_buf(),
        cause,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(setup)?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(err)) => return Err(setup(err)),
    }
    // flock blocks a thread. If we give up first, that thread stays blocked until the holder
    // lets go and then drops the file (releasing the lock) on its own; main's process::exit
    // makes sure it never delays the shim's exit.
    let waiting = tokio::task::spawn_blocking(move || file.lock().map(|()| file));
    match tokio::time::timeout(LOCK_TIMEOUT, waiting).await {
        Ok(Ok(Ok(file))) => Ok(file),
        Ok(Ok(Err(err))) => Err(setup(err)),
        Ok(Err(join_error)) => Err(setup(io::Error::other(join_error))),
        Err(_) => Err(StartError::LockTimeout {
            path: path.to_path_buf(),
        }),
    }
}

/// The daemon binary: `$CHATROOM_DAEMON`, else `chatroomd` installed next to this executable,
/// else `chatroomd` from `PATH`. What a client starts, and so what its advice names.
pub fn daemon_program() -> PathBuf {
    if let Some(program) = std::env::var_os(ENV_DAEMON).filter(|value| !value.is_empty()) {
        return PathBuf::from(program);
    }
    let file_name = format!("chatroomd{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&file_name)))
        .filter(|sibling| sibling.is_file())
        .unwrap_or_else(|| PathBuf::from(file_name))
}

#[cfg(not(unix))]
async fn start(_paths: &RoomPaths) -> Result<Stream, StartError> {
    Err(StartError::Unsupported)
}

/// Spawns the daemon (with the start lock held), waits for its readiness signal and connects.
#[cfg(unix)]
async fn start(paths: &RoomPaths) -> Result<Stream, StartError> {
    use std::os::fd::AsRawFd;
    use std::process::Stdio;

    let program = daemon_program();
    let hint = Hint {
        log: paths.log_file.clone(),
        program: program.display().to_string(),
        root: paths.root.clone(),
    };
    std::fs::create_dir_all(&paths.state_dir).map_err(|cause| StartError::Setup {
        path: paths.state_dir.clone(),
        cause,
    })?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log_file)
        .map_err(|cause| StartError::Setup {
            path: paths.log_file.clone(),
            cause,
        })?;
    let (ready_read, ready_write) = ready_pipe().map_err(|cause| StartError::Spawn {
        program: hint.program.clone(),
        cause,
    })?;
    let ready_fd = ready_write.as_raw_fd();

    let mut command = tokio::process::Command::new(&program);
    command
        .arg("serve")
        .arg("--root")
        .arg(&paths.root)
        .arg("--ready-fd")
        .arg(ready_fd.to_string())
        // Never our stdout: the MCP client would see stray bytes, and would not see EOF on the
        // shim's stdout until the daemon exits.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // calls (setsid, fcntl) on an fd number copied in by value.
    unsafe {
        command.pre_exec(move || {
            // Its own session: the daemon outlives this shim and must not receive the signals
            // an MCP client sends to the shim's process group when it shuts the shim down.
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            // The pipe was made close-on-exec so that no other child inherits it; this child is
            // the one that must.
            let flags = libc::fcntl(ready_fd, libc::F_GETFD);
            if flags == -1 || libc::fcntl(ready_fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = command.spawn();
    // Only the child may hold the write end, or the end-of-file that tells us it died never comes.
    drop(ready_write);
    let mut child = spawned.map_err(|cause| StartError::Spawn {
        program: hint.program.clone(),
        cause,
    })?;
    tracing::info!(pid = child.id(), program = %hint.program, "started chatroomd");

    let signalled = tokio::time::timeout(READY_TIMEOUT, wait_ready(ready_read)).await;
    match signalled {
        Ok(Ok(true)) => {
            reap(child);
            connect(&paths.socket)
                .await
                .map_err(|cause| StartError::Connect {
                    socket: paths.socket.clone(),
                    cause,
                    hint,
                })
        }
        Ok(Ok(false)) | Ok(Err(_)) => {
            // The write end closed without the ready line: the daemon is on its way out.
            let status = match tokio::time::timeout(READY_TIMEOUT, child.wait()).await {
                Ok(Ok(status)) => status,
                Ok(Err(err)) => {
                    return Err(StartError::Exited {
                        status: format!("its status is unknown: {err}"),
                        hint,
                    });
                }
                Err(_) => {
                    kill(child);
                    return Err(StartError::NotReady { hint });
                }
            };
            if status.code() == Some(protocol::EXIT_ALREADY_RUNNING) {
                tracing::info!("another chatroomd already serves this room; connecting to it");
                return match connect_to_winner(paths, hint).await? {
                    Some(stream) => Ok(stream),
                    None => Err(StartError::HolderGone),
                };
            }
            Err(StartError::Exited {
                status: describe(status),
                hint,
            })
        }
        Err(_) => {
            kill(child);
            Err(StartError::NotReady { hint })
        }
    }
}

/// A pipe whose ends are both close-on-exec, so only the child we choose inherits the write end.
#[cfg(unix)]
fn ready_pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads the readiness pipe to the ready line (`true`) or to end of file without it (`false`).
#[cfg(unix)]
async fn wait_ready(read_end: std::os::fd::OwnedFd) -> io::Result<bool> {
    use tokio::io::AsyncReadExt;
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(read_end)?;
    let mut received = Vec::with_capacity(protocol::READY_LINE.len());
    let mut chunk = [0u8; 64];
    while received.len() < protocol::READY_LINE.len() {
        let read = pipe.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..read]);
    }
    Ok(received.starts_with(protocol::READY_LINE))
}

/// Lost a start race to a daemon started some other way (by hand, say): it holds the room's
/// lock but may not have bound its socket yet, and it gives us no readiness signal, so we retry
/// the connection with backoff for a bounded time.
#[cfg(unix)]
///
/// `Ok(None)` when the holder of the room lock turns out to be gone: a daemon killed a moment
/// ago can refuse connections before the kernel has released its lock, so our daemon saw the
/// lock held by a dead process; the caller then starts one again.
async fn connect_to_winner(paths: &RoomPaths, hint: Hint) -> Result<Option<Stream>, StartError> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut pause = Duration::from_millis(10);
    loop {
        // The winner may have been started from another environment, with its socket in
        // another runtime dir: it records where, once bound.
        match connect_room(paths).await {
            Ok(stream) => return Ok(Some(stream)),
            Err(_) if !lock_held(&paths.lock_file) => return Ok(None),
            Err(cause) if tokio::time::Instant::now() + pause > deadline => {
                return Err(StartError::Connect {
                    socket: paths.socket.clone(),
                    cause,
                    hint,
                });
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
        }
    }
}

/// Whether a live process holds the room lock (an flock: released by the kernel when its holder
/// dies, however it dies). The probe takes the lock shared, for a moment: probes never exclude
/// each other, and a daemon starting meanwhile (it takes the lock exclusively) retries rather
/// than name the probe's pid-less moment as another daemon.
pub fn lock_held(lock_file: &Path) -> bool {
    match OpenOptions::new().read(true).open(lock_file) {
        Ok(file) => matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// The pid recorded in the room lock by the live process holding it; `None` when nobody holds
/// it or it records no pid (yet).
pub fn lock_holder(lock_file: &Path) -> Option<u32> {
    if !lock_held(lock_file) {
        return None;
    }
    std::fs::read_to_string(lock_file).ok()?.trim().parse().ok()
}

/// Why a daemon could not be stopped from outside.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("{} names pid {holder}, not pid {pid}, as the room's daemon", lock_file.display())]
    NotTheHolder {
        lock_file: PathBuf,
        pid: u32,
        holder: String,
    },
    #[error("cannot signal pid {pid}: {cause}")]
    Signal { pid: u32, cause: io::Error },
    #[error("pid {pid} still holds {} after {}s", lock_file.display(), timeout.as_secs())]
    StillRunning {
        pid: u32,
        lock_file: PathBuf,
        timeout: Duration,
    },
    #[error("cannot watch {}: {cause}", lock_file.display())]
    Watch {
        lock_file: PathBuf,
        cause: io::Error,
    },
}

/// Stops the daemon `pid` from outside, whatever protocol it speaks: SIGTERM (its clean
/// shutdown), then waits at most `timeout` for the room lock to be released. Only a process that
/// holds this room's lock and recorded `pid` in it is signalled, never a pid that might have been
/// reused; a lock nobody holds, or "no such process", means it is already gone. Blocks.
pub fn stop_holder(lock_file: &Path, pid: u32, timeout: Duration) -> Result<(), StopError> {
    if !lock_held(lock_file) {
        return Ok(());
    }
    let holder = std::fs::read_to_string(lock_file).unwrap_or_default();
    if holder.trim().parse::<u32>().ok() != Some(pid) {
        return Err(StopError::NotTheHolder {
            lock_file: lock_file.to_path_buf(),
            pid,
            holder: match holder.trim() {
                "" => "no pid".to_owned(),
                holder => holder.to_owned(),
            },
        });
    }
    #[cfg(unix)]
    {
        // SAFETY: kill(2) with a pid read from the lock that process holds.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) } != 0 {
            let cause = io::Error::last_os_error();
            // It exited between the check and the signal: the lock is on its way to release.
            if cause.raw_os_error() != Some(libc::ESRCH) {
                return Err(StopError::Signal { pid, cause });
            }
        }
    }
    match wait_released(lock_file, timeout) {
        Ok(true) => Ok(()),
        Ok(false) => Err(StopError::StillRunning {
            pid,
            lock_file: lock_file.to_path_buf(),
            timeout,
        }),
        Err(cause) => Err(StopError::Watch {
            lock_file: lock_file.to_path_buf(),
            cause,
        }),
    }
}

/// Blocks until nobody holds the room lock (its daemon has exited), or `timeout` passes; returns
/// whether the lock was seen free. For those who stop a daemon (`chatroomd stop`, a shim
/// replacing an older daemon) and must know it is gone.
pub fn wait_released(lock_file: &Path, timeout: Duration) -> io::Result<bool> {
    let file = match OpenOptions::new().read(true).open(lock_file) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(err) => return Err(err),
    };
    // A blocking flock wakes exactly when the holder lets go; run it on a helper thread so the
    // wait can be bounded. Shared, like every probe, so that watchers never exclude each other.
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(file.lock_shared().map(|()| drop(file)));
    });
    match wait.recv_timeout(timeout) {
        Ok(result) => result.map(|()| true),
        Err(_) => Ok(false),
    }
}

/// Waits for the daemon in the background so it never lingers as a zombie while we run.
#[cfg(unix)]
fn reap(mut child: tokio::process::Child) {
    tokio::spawn(async move {
        match child.wait().await {
            Ok(status) => tracing::info!(status = %describe(status), "chatroomd exited"),
            Err(err) => tracing::warn!(cause = %err, "could not wait for chatroomd"),
        }
    });
}

/// Ends a daemon we started that missed its readiness deadline, so that it does not keep the
/// room's lock away from the next attempt.
#[cfg(unix)]
fn kill(mut child: tokio::process::Child) {
    if let Err(err) = child.start_kill() {
        tracing::warn!(cause = %err, "could not kill the unresponsive chatroomd");
    }
    reap(child);
}

/// `exit status 1`, `killed by signal 9`.
#[cfg(unix)]
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn hint() -> Hint {
        Hint {
            log: PathBuf::from("/r/.chatroom/chatroomd.log"),
            program: "chatroomd".into(),
            root: PathBuf::from("/r"),
        }
    }

    #[test]
    fn startup_failures_name_the_log_and_the_foreground_command() {
        let exited = StartError::Exited {
            status: "exit status 1".into(),
            hint: hint(),
        };
        assert_eq!(
            exited.to_string(),
            "chatroomd exited during start (exit status 1); see /r/.chatroom/chatroomd.log, or run `chatroomd serve --foreground --root /r` to see why"
        );
        assert_eq!(
            StartError::NotReady { hint: hint() }.to_string(),
            "chatroomd did not become ready within 10s; see /r/.chatroom/chatroomd.log, or run `chatroomd serve --foreground --root /r` to see why"
        );
    }

    #[test]
    fn an_error_chain_names_the_os_error_once() {
        let err = StartError::Setup {
            path: PathBuf::from("/run/chatroom"),
            cause: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(
            chain(&err),
            "cannot prepare /run/chatroom: Permission denied (os error 13)"
        );
    }

    #[test]
    fn exit_statuses_read_naturally() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe(std::process::ExitStatus::from_raw(1 << 8)),
            "exit status 1"
        );
        assert_eq!(
            describe(std::process::ExitStatus::from_raw(9)),
            "killed by signal 9"
        );
    }

    #[tokio::test]
    async fn readiness_is_the_ready_line_and_eof_is_not() {
        use std::io::Write;
        let (read_end, write_end) = ready_pipe().unwrap();
        File::from(write_end).write_all(b"ready\n").unwrap();
        assert!(wait_ready(read_end).await.unwrap());

        let (read_end, write_end) = ready_pipe().unwrap();
        drop(write_end);
        assert!(!wait_ready(read_end).await.unwrap());

        let (read_end, write_end) = ready_pipe().unwrap();
        File::from(write_end).write_all(b"rea").unwrap();
        assert!(!wait_ready(read_end).await.unwrap());
    }

    #[tokio::test]
    async fn the_start_lock_excludes_a_second_holder_until_released() {
        let dir = tempfile_dir();
        let path = dir.join("room.start");
        let first = lock_start(&path).await.unwrap();
        let other = OpenOptions::new().write(true).open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(first);
        let second = lock_start(&path).await.unwrap();
        drop(second);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `err` and its sources, as `chatroomd: …` prints them.
    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// A fresh private directory; the crate does not depend on `tempfile`.
    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "chatroom-client-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
