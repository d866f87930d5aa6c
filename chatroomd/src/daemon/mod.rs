//! The daemon: the long-lived process that owns one repository's room. [`room`] is the pure core
//! (no I/O, no clock); [`owner`] is the one thread that holds it and the [`store`], applying
//! batches of commands and persisting them before it replies; [`server`] accepts connections
//! and turns frames into the owner's commands; [`dedupe`] remembers keyed writes; [`lock`] keeps
//! one daemon per root; [`import`] reads and plans `chatroomd import` (the room carries it
//! out); [`fault`] holds the test-only faults.

pub mod dedupe;
pub mod fault;
pub mod import;
pub mod journal;
pub mod lock;
pub mod owner;
pub mod room;
pub mod server;
pub mod store;
