//! The people's commands: `status`, `monitor`, `send`, `tail`, `export`, `topics`, `topic`,
//! `search`, `import` and `hook` (the agent clients' hook adapters). They reach a running daemon
//! through `chatroom-client` ([`control`] opens the connection; none starts a daemon but the writes — `send`, `topic open|close`,
//! `import` — and `tail --follow`), or read the room's files through [`source`] when none runs;
//! [`view`] is the text they print. [`setup`] talks to no daemon: it writes the agent clients'
//! config files.

pub mod claims;
pub mod control;
pub mod hook;
pub mod import;
pub mod monitor;
pub mod search;
pub mod setup;
pub mod source;
pub mod status;
pub mod topics;
pub mod transcript;
pub mod view;
