//! Why a call to the daemon got no answer: one enum for the connection and the session, each
//! message the one line an agent (or a person) sees.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use protocol::{Refusal, protocol_version};

use crate::launch::StartError;

/// Why a call got no answer from the daemon. Each message is the one line the agent sees.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("request is too large ({len} bytes; the limit is {max})")]
    TooLarge { len: usize, max: usize },
    #[error("could not encode the request: {0}")]
    Encode(String),
    #[error("lost the connection to chatroomd; retry the call")]
    ConnectionLost,
    #[error("chatroomd did not answer within {deadline:?}; retry the call")]
    TimedOut { deadline: Duration },
    #[error(
        "chatroomd exited twice while handling this call, so it was not sent again; see {log} (or run `chatroomd serve --foreground`)"
    )]
    CrashedDaemon { log: String },
    #[error(
        "while this session reconnected to chatroomd, another session joined as {}, which this session held; this call was not carried out: join under another name, then retry",
        quoted(.names)
    )]
    NamesTaken { names: Vec<String> },
    #[error("chatroomd closed the connection during the handshake; retry the call")]
    HandshakeClosed,
    #[error("chatroomd did not complete the handshake: {0}")]
    Handshake(String),
    // `stop` is the way out: it stops a daemon of any version (a refusal names its pid). It is
    // the `stop` of the chatroomd this shim starts, which is not always the one on PATH.
    #[error(
        "chatroomd (pid {daemon_pid}) speaks protocol v{daemon_version} but this chatroom-shim speaks v{}: run `{stop}` and retry",
        protocol_version()
    )]
    VersionMismatch {
        daemon_pid: u32,
        daemon_version: u32,
        stop: String,
    },
    #[error(
        "this chatroom-shim speaks protocol v{} but the running chatroomd (pid {daemon_pid}) speaks the newer v{daemon_version}: restart your agent so that it launches the newer chatroom-shim",
        protocol_version()
    )]
    ShimOutdated {
        daemon_pid: u32,
        daemon_version: u32,
    },
    #[error(
        "could not replace the older chatroomd (pid {daemon_pid}): {cause}; run `{stop}` and retry"
    )]
    Replace {
        daemon_pid: u32,
        cause: String,
        stop: String,
    },
    #[error("{0}")]
    Start(#[from] StartError),
    #[error("{0}")]
    NoRoot(String),
    // Only from `Connection::reach`: a socket that exists but cannot be connected to for another
    // reason than nobody listening (permissions, another uid). The cause is part of the line.
    #[error("cannot connect to {}: {cause}", socket.display())]
    Connect { socket: PathBuf, cause: io::Error },
    /// Only from [`crate::Connection::request`], for callers to whom a refusal is a failure.
    #[error("{0}")]
    Refused(Refusal),
}

impl CallError {
    /// Whether a new connection may succeed where this one failed: the connection or the daemon
    /// went away.
    pub fn is_transient(&self) -> bool {
        matches!(self, CallError::ConnectionLost | CallError::HandshakeClosed)
    }
}

/// `'ann'` or `names 'ann', 'bob'`: the names of [`CallError::NamesTaken`].
fn quoted(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|name| format!("'{name}'")).collect();
    match list.len() {
        1 => list.join(""),
        _ => format!("names {}", list.join(", ")),
    }
}
