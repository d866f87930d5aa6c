//! How the subcommands open a connection to the daemon, through `chatroom-client`: the two ways
//! they need ([`connect`] never starts a daemon; [`connect_or_start`] does, the same race-safe
//! way the shim does) and the one line that tells a person how to get past a daemon of another
//! version. `status` and `stop` use [`Connection::reach`] directly: to them such a daemon is
//! something to report or stop, not an error.

use chatroom_client::{Connection, Handshake, Incompatible, Reach};
use protocol::ClientKind;
use protocol::paths::RoomPaths;

/// Connects to the room's daemon as `kind`. `Ok(None)` when no daemon is listening; a daemon of
/// another protocol version is an error that says how to stop it.
pub async fn connect(paths: &RoomPaths, kind: ClientKind) -> anyhow::Result<Option<Connection>> {
    match Connection::reach(paths, kind).await? {
        Reach::Connected(connection) => Ok(Some(connection)),
        Reach::NotRunning => Ok(None),
        Reach::Incompatible(daemon) => Err(incompatible(paths, &daemon)),
    }
}

/// Connects as `kind`, starting the daemon first if none serves the room.
pub async fn connect_or_start(paths: &RoomPaths, kind: ClientKind) -> anyhow::Result<Connection> {
    match Connection::connect_or_start(paths, kind).await? {
        Handshake::Welcome(connection) => Ok(connection),
        Handshake::Incompatible(daemon) => Err(incompatible(paths, &daemon)),
    }
}

/// A command refused by a daemon of another version: what it said, and the way out, which works
/// whatever version it speaks.
fn incompatible(paths: &RoomPaths, daemon: &Incompatible) -> anyhow::Error {
    anyhow::anyhow!(
        "{}; stop it with `chatroomd stop --root {}` and retry",
        daemon.message,
        paths.root.display()
    )
}
