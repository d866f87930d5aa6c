//! The chatroom daemon: one long-lived process per repository that owns the room, persists it to
//! `<root>/.chatroom/`, and serves agents' shims and the `chatroomd` subcommands over a local
//! socket. See ARCHITECTURE.md for the map.
//!
//! The folders are the architecture: [`daemon`] is the long-lived process (the pure room core, the
//! owner, the store, the server), [`commands`] are the people's commands that talk to it or
//! read its files, and [`shared`] is what both use (time, logging). [`cli`] ties them to the
//! command line.

pub mod cli;
pub mod commands;
pub mod daemon;
pub mod shared;
