//! Logging setup: `tracing` to the daemon's log file (or stderr in the foreground), filtered by
//! `CHATROOM_LOG` (the same variable the shim reads).

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The filter variable shared by the daemon and the shim.
pub const ENV_LOG: &str = "CHATROOM_LOG";

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env(ENV_LOG).unwrap_or_else(|_| EnvFilter::new(default))
}

/// Logs to `log_file` (appending), creating its directory.
pub fn to_file(log_file: &Path) -> std::io::Result<()> {
    if let Some(dir) = log_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Ok(())
}

/// Logs to stderr (the foreground daemon and the short-lived subcommands).
pub fn to_stderr(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
