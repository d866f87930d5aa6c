//! `chatroom-client`: the one client of `chatroomd`, used by the shim, the `chatroomd`
//! subcommands and the tests.
//!
//! - [`launch`]: connect-or-start (race-safe, with signalled readiness), the peer-uid check, and
//!   the room lock watched from outside (`stop_holder`, `lock_held`, `wait_released`).
//!
//! `protocol` is the wire contract; everything that opens sockets, spawns the daemon or reads
//! its lock is here.

pub mod launch;
