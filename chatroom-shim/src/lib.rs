//! `chatroom-shim`: the stdio MCP server each agent's MCP client launches.
//!
//! It holds no chat logic. Each tool call becomes one `protocol::Request` sent over a single
//! long-lived local-socket connection to the room's `chatroomd`, started on demand; that
//! connection is the agent's session, so the agent's presence ends when the shim does.
//!
//! - [`tools`]: the MCP server and its twenty-one tools (twelve of v1, four for topics and
//!   search, `wait_for_messages`, `read_receipts`, and `claim`, `release`, `list_claims`).
//! - [`params`]: the tools' parameters and defaults, from which rmcp derives their schemas.
//! - [`link`]: what links the shim to its agent for the hooks (parent pid, client session ids).
//! - [`channel`]: Claude Code channels (`CHATROOM_CHANNELS=1`): messages pushed as notifications.
//! - [`render`]: daemon outcomes as the contract's tool results.
//! - [`input`]: stdin lines repaired so that broken text gets an error result, not silence.
//! - [`cli`]: `--help`, `--version` and the note for a person who runs the shim by hand.
//! - `chatroom_client::Session` (the client crate, shared with the `chatroomd` subcommands): the
//!   session with the daemon: connect-or-start, handshake, concurrent calls, reconnect, re-join.
//!
//! Stdout carries JSON-RPC and nothing else: logs go to stderr.

pub mod channel;
pub mod cli;
pub mod input;
pub mod link;
pub mod params;
pub mod render;
pub mod tools;

use anyhow::Context;
use protocol::paths::RoomPaths;
use rmcp::ServiceExt;
use tracing_subscriber::EnvFilter;

/// The variable holding the log filter (`tracing` directives), shared with the daemon.
pub const ENV_LOG: &str = "CHATROOM_LOG";

/// Serves MCP on stdin/stdout until the client closes stdin.
pub async fn run() -> anyhow::Result<()> {
    init_logging();
    // Resolved now but reported per call: `initialize` and `tools/list` must work even where no
    // room can be found, and the agent then sees why in the tool result.
    let paths = std::env::current_dir()
        .and_then(|cwd| RoomPaths::discover(&cwd, None))
        .map_err(|err| format!("cannot find the chatroom root: {err}"));
    match &paths {
        Ok(paths) => tracing::debug!(
            root = %paths.root.display(),
            socket = %paths.socket.display(),
            "serving the room"
        ),
        Err(err) => tracing::warn!(cause = %err, "no room"),
    }
    watch_parent();
    let session = chatroom_client::Session::new(paths).with_link(link::from_env());
    let channels = channel::enabled();
    let mut server = tools::Chatroom::new(session);
    if channels {
        server = server.with_channels();
    }
    let session = server.session();
    // MCP clients launch us with pipes: drive them on the reactor rather than tokio's blocking
    // pool, which costs a thread hand-off per message (a third of the shim's CPU under load).
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let service = server
        .serve((input::repaired(stdin), stdout))
        .await
        .context("mcp initialization failed")?;
    if channels {
        tokio::spawn(channel::forward(session, service.peer().clone()));
    }
    let reason = service
        .waiting()
        .await
        .context("the mcp service stopped abnormally")?;
    tracing::debug!(?reason, "mcp client went away");
    Ok(())
}

/// How often the shim checks that the process that launched it is still there.
const PARENT_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// Exits when the MCP client that launched us dies while our stdin stays open (a pipe held by a
/// grandchild, say): we are re-parented, and without this the session, and the agent's presence,
/// would outlive the agent. Polling `getppid` works wherever the client runs; `PR_SET_PDEATHSIG`
/// would fire when the spawning *thread* exits, which in a multi-threaded client is not the
/// client's end.
fn watch_parent() {
    #[cfg(unix)]
    {
        // SAFETY: getppid has no preconditions and cannot fail.
        let parent = unsafe { libc::getppid() };
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(PARENT_CHECK);
            loop {
                ticks.tick().await;
                // SAFETY: as above.
                let now = unsafe { libc::getppid() };
                if now != parent {
                    tracing::warn!(
                        parent,
                        now,
                        "the MCP client that launched us is gone; exiting"
                    );
                    std::process::exit(0);
                }
            }
        });
    }
}

/// The filter without `CHATROOM_LOG`: our warnings, and only rmcp's errors, since rmcp logs
/// every refused request at warn as a Rust debug dump; [`tools`] says those in words instead.
pub const DEFAULT_LOG: &str = "warn,rmcp=error";

/// Logs to stderr, without colours, filtered by `CHATROOM_LOG` (default [`DEFAULT_LOG`]). A
/// filter that does not name rmcp keeps it to errors, as the default does.
fn init_logging() {
    let mut filter = std::env::var(ENV_LOG).unwrap_or_default();
    if !filter.trim().is_empty() && !filter.contains("rmcp") {
        filter.push_str(",rmcp=error");
    }
    let (filter, invalid) = match EnvFilter::try_new(&filter) {
        Ok(parsed) if !filter.trim().is_empty() => (parsed, None),
        Ok(_) => (EnvFilter::new(DEFAULT_LOG), None),
        Err(err) => (EnvFilter::new(DEFAULT_LOG), Some(err)),
    };
    // Fails only if a subscriber is already set (a test harness, an embedding program); theirs
    // then wins, which is what they want.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    if let Some(err) = invalid {
        tracing::warn!(cause = %err, "ignoring the invalid {ENV_LOG}");
    }
}
