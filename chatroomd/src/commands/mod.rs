//! The people's commands: `status`, `monitor`, `send`, `tail` and `export`. They reach a running
//! daemon through [`control`] (never starting one, except `send`), or read the room's files
//! through [`source`] when none runs; [`view`] is the text they print.

pub mod control;
pub mod monitor;
pub mod source;
pub mod status;
pub mod transcript;
pub mod view;
