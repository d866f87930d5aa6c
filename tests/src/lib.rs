//! The harness shared by the end-to-end tests, the demo and the benchmark: a fresh temporary git
//! repository per [`TestRoom`], real `chatroom-shim` processes driven by rmcp's MCP client
//! ([`Agent`]), and the `chatroomd` CLI. Dropping a `TestRoom` stops its daemon (and kills it if
//! a stop does not work), so no test leaves a daemon behind; [`TestRoom::finish`] also checks it.
//!
//! Besides those: the contract's result rules as checks ([`Agent::ok`], [`Agent::err`],
//! [`check_records`], [`is_timestamp`]), small accessors for JSON results ([`ids`], [`names`],
//! [`contents`], [`keys`]), bounded waits ([`wait_for`], [`eventually`], [`wait_exit`],
//! [`run_bounded`]) and process checks that read `/proc` ([`process_running`],
//! [`daemon_processes`], [`rss_kib`], [`open_fds`]), and the gate of the tests that need root
//! ([`runs_as_root`]). Every wait has a deadline.
//!
//! The modules: `room` ([`TestRoom`]), `agent` ([`Agent`] and the reads over a whole room),
//! `records` (the result rules and the JSON accessors), `waits`, `process` (the `/proc` checks,
//! the root gate, the clock) and [`raw`] (connections to the daemon's socket below MCP); this
//! file holds the timeout, the log filter and the binaries' paths, and re-exports the rest.

use std::path::PathBuf;
use std::time::Duration;

mod agent;
mod process;
pub mod raw;
mod records;
mod room;
mod waits;

pub use agent::{Agent, all_messages, assert_gap_free, text_of};
pub use process::{
    ENV_REQUIRE_ROOT, SKIP_PREFIX, daemon_processes, open_fds, process_alive, process_running,
    rss_kib, runs_as_root, unix_now,
};
pub use records::{
    CLAIM_KEYS, CLAIM_RECORD_KEYS, RECORD_KEYS, TOPIC_KEYS, TOPIC_RECORD_KEYS, check_records,
    check_records_among, contents, ids, is_compact_json, is_timestamp, keys, keys_in_order, names,
};
pub use room::{TestRoom, read_or_empty};
pub use waits::{eventually, run_bounded, wait_exit, wait_for};

/// Every wait in the harness is bounded by this unless a caller gives its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The log filter every process of a room runs with: `CHATROOM_LOG` if set, else the daemon's
/// own events at `info` (in its log file) and only warnings from the shims (on the test's stderr).
pub fn log_filter() -> String {
    std::env::var("CHATROOM_LOG").unwrap_or_else(|_| "warn,chatroomd=info".into())
}

/// The directory holding the built binaries: `CHATROOM_BIN_DIR`, else the cargo target profile
/// directory this executable was built into (tests live in `target/<profile>/deps/`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHATROOM_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, which scripts/test does)",
        path.display()
    );
    path
}

/// The `chatroom-shim` binary under test.
pub fn shim_bin() -> PathBuf {
    binary("chatroom-shim")
}

/// The `chatroomd` binary under test.
pub fn daemon_bin() -> PathBuf {
    binary("chatroomd")
}
