//! `chatroom-client`: the one client of `chatroomd`, used by the shim, the `chatroomd`
//! subcommands and the tests.
//!
//! - [`launch`]: connect-or-start (race-safe, with signalled readiness), the peer-uid check, and
//!   the room lock watched from outside (`stop_holder`, `lock_held`, `wait_released`).
//! - [`connection`]: one handshaken connection; concurrent calls by id, pushed events on the
//!   same socket, and a daemon of another version as an outcome ([`Reach`], [`Handshake`]).
//!   A short-lived command (`status`, the hook) is [`Connection::reach`] and one call.
//! - [`session`]: the agent's reconnecting session: one deadline per call, retries with
//!   backoff, re-join of held names, idempotency keys, replacing an older daemon.
//! - [`claims`]: the claims the session holds, claimed again with their age after a daemon
//!   died.
//! - [`error`]: [`CallError`], one line per way a call can fail.
//!
//! `protocol` is the wire contract; everything that opens sockets, spawns the daemon or reads
//! its lock is here.

pub mod claims;
pub mod connection;
pub mod error;
#[cfg(all(test, unix))]
mod fake;
pub mod launch;
pub mod session;

pub use connection::{Connection, Handshake, Incompatible, Outcome, Reach};
pub use error::CallError;
pub use session::{Link, Session};
