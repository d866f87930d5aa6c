//! The wire contract between `chatroom-shim` (and the `chatroomd` CLI) and the `chatroomd` daemon.
//!
//! What both sides of the socket must agree on, and nothing else: the typed messages
//! ([`ClientMessage`], [`ServerMessage`] and what they carry), the frame codec that moves them over
//! a byte stream ([`frame`]) and the per-repository path rules ([`paths`]). This crate knows
//! nothing about MCP, about the room's rules or about the files inside `.chatroom/`; connecting
//! to the daemon, or starting it, is `chatroom-client`'s.

pub mod claims;
pub mod frame;
pub mod message;
pub mod paths;

pub use claims::*;
pub use message::*;

/// The protocol version carried by [`Hello`]. Bump it whenever any message's encoding changes
/// (postcard encodes structs positionally and enum variants by index, so adding a field is a change).
pub const PROTOCOL_VERSION: u32 = 5;

/// The protocol version this process speaks: [`PROTOCOL_VERSION`], unless the test-only variable
/// `CHATROOM_TEST_PROTOCOL_VERSION` says otherwise. The end-to-end tests use it to make an older
/// or newer side out of the same binaries; nothing else should set it.
pub fn protocol_version() -> u32 {
    static VERSION: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        std::env::var("CHATROOM_TEST_PROTOCOL_VERSION")
            .ok()
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(PROTOCOL_VERSION)
    })
}

/// The version of the crates, shown by `chatroomd status` and in handshake refusals.
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The exit status of `chatroomd serve` when another daemon already holds the room: a client that
/// started it lost a start race and should simply connect to the winner.
pub const EXIT_ALREADY_RUNNING: i32 = 3;

/// The line `chatroomd serve --ready-fd N` writes to fd N once its socket accepts connections.
pub const READY_LINE: &[u8] = b"ready\n";
