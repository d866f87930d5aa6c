//! The chatroom daemon: one long-lived process per repository that owns the room, persists it to
//! `<root>/.chatroom/`, and serves agents' shims and the `chatroomd` subcommands over a local
//! socket. See ARCHITECTURE.md for the map.

pub mod cli;
pub mod control;
pub mod dedupe;
pub mod fault;
pub mod lock;
pub mod logging;
pub mod monitor;
pub mod owner;
pub mod room;
pub mod server;
pub mod source;
pub mod status;
pub mod store;
pub mod transcript;
pub mod view;
