//! The `chatroomd` command line: `serve`, `status`, `stop`. Each subcommand's doc comment is its
//! help text.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use protocol::paths::RoomPaths;
use protocol::{DaemonStatus, Participant, Request, Response};
use serde::Serialize;

use crate::control::ControlClient;
use crate::server::{ServeConfig, ServeError};
use crate::{lock, logging, store};

/// The chatroom daemon: one per repository, shared by every agent's chatroom-shim.
#[derive(Debug, Parser)]
#[command(name = "chatroomd", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon for a repository (what chatroom-shim starts automatically).
    Serve(ServeArgs),
    /// Show whether a daemon is running, its sessions and participants, and what is on disk.
    Status(StatusArgs),
    /// Shut the daemon down cleanly, flushing everything, and wait until it has exited.
    Stop(RootArg),
}

/// Which room: `--root`, else `CHATROOM_ROOT`, else the git main working tree of the current
/// directory, else the current directory (the same rule as chatroom-shim).
#[derive(Debug, Args)]
pub struct RootArg {
    /// The repository whose room to use.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Stay attached to the terminal and log to stderr instead of .chatroom/chatroomd.log.
    #[arg(long)]
    pub foreground: bool,
    /// Exit after this many seconds without agent sessions; 0 never exits.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub idle_timeout: u64,
    /// Write a readiness line to this inherited file descriptor once the socket is bound
    /// (used by chatroom-shim when it starts the daemon).
    #[arg(long, value_name = "FD", hide = true)]
    pub ready_fd: Option<i32>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the parsed command and returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Status(args) => {
            logging::to_stderr("warn");
            let paths = room_paths(&args.root)?;
            block_on(status(&paths, args.json))
        }
        Command::Stop(args) => {
            logging::to_stderr("warn");
            let paths = room_paths(&args)?;
            block_on(stop(&paths))
        }
    }
}

fn room_paths(arg: &RootArg) -> anyhow::Result<RoomPaths> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    RoomPaths::discover(&cwd, arg.root.as_deref()).context("cannot resolve the room's root")
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a current-thread runtime")
        .block_on(future)
}

fn serve(args: ServeArgs) -> anyhow::Result<i32> {
    let paths = room_paths(&args.root)?;
    if args.foreground {
        logging::to_stderr("info");
    } else {
        logging::to_file(&paths.log_file)
            .with_context(|| format!("cannot open the log {}", paths.log_file.display()))?;
    }
    let config = ServeConfig {
        idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        ready_fd: args.ready_fd,
        paths,
    };
    let log_file = config.paths.log_file.clone();
    match crate::server::serve(config) {
        Ok(()) => Ok(0),
        Err(err @ ServeError::AlreadyRunning { .. }) => {
            eprintln!("chatroomd: {err}");
            Ok(protocol::EXIT_ALREADY_RUNNING)
        }
        Err(ServeError::Other(err)) => {
            tracing::error!("{err:#}");
            if args.foreground {
                Err(err)
            } else {
                Err(err.context(format!(
                    "chatroomd failed to start; see {} or run `chatroomd serve --foreground`",
                    log_file.display()
                )))
            }
        }
    }
}

/// `chatroomd status --json`: one document whether or not a daemon runs.
#[derive(Debug, Serialize)]
struct StatusReport {
    running: bool,
    root: String,
    state_dir: String,
    socket: String,
    log: String,
    /// What the running daemon reports; `null` when none runs.
    daemon: Option<DaemonStatus>,
    /// What the files hold; `null` when a daemon runs (it is the authority then).
    on_disk: Option<DiskStatus>,
}

#[derive(Debug, Serialize)]
struct DiskStatus {
    message_count: u64,
    summary_count: u64,
    /// Names recorded in participants.json; without a daemon nobody is connected, so a running
    /// daemon drops them at start.
    participants: Vec<Participant>,
    last_activity_ts: Option<String>,
}

async fn status(paths: &RoomPaths, json: bool) -> anyhow::Result<i32> {
    let daemon = match ControlClient::connect(paths).await? {
        Some(mut client) => match client.call(Request::DaemonStatus).await? {
            Some(Ok(Response::DaemonStatus(status))) => Some(status),
            Some(Ok(other)) => anyhow::bail!("unexpected reply from chatroomd: {other:?}"),
            Some(Err(refusal)) => anyhow::bail!("{refusal}"),
            None => anyhow::bail!("chatroomd closed the connection"),
        },
        None => None,
    };
    let on_disk = match daemon {
        Some(_) => None,
        None => Some(disk_status(&paths.state_dir)?),
    };
    let report = StatusReport {
        running: daemon.is_some(),
        root: paths.root.display().to_string(),
        state_dir: paths.state_dir.display().to_string(),
        socket: paths.socket.display().to_string(),
        log: paths.log_file.display().to_string(),
        daemon,
        on_disk,
    };
    let text = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        render_status(&report)
    };
    print_stdout(&text);
    Ok(0)
}

fn disk_status(state_dir: &Path) -> anyhow::Result<DiskStatus> {
    let loaded = store::load(state_dir, store::Mode::ReadOnly)?;
    Ok(DiskStatus {
        message_count: loaded.messages.len() as u64,
        summary_count: loaded.summaries.len() as u64,
        last_activity_ts: loaded.messages.last().map(|message| message.ts.clone()),
        participants: loaded.participants,
    })
}

fn render_status(report: &StatusReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match &report.daemon {
        Some(daemon) => {
            let _ = writeln!(
                out,
                "chatroomd is running: pid {}, version {}, protocol v{}, up {}",
                daemon.pid,
                daemon.package_version,
                daemon.protocol_version,
                format_duration(daemon.uptime_secs)
            );
        }
        None => {
            let _ = writeln!(out, "chatroomd is not running for this room");
        }
    }
    let _ = writeln!(out, "root:    {}", report.root);
    let _ = writeln!(out, "socket:  {}", report.socket);
    let _ = writeln!(out, "log:     {}", report.log);
    if let Some(daemon) = &report.daemon {
        let _ = writeln!(out, "sessions: {}", daemon.sessions.len());
        for session in &daemon.sessions {
            let names = if session.names.is_empty() {
                "-".to_owned()
            } else {
                session.names.join(", ")
            };
            let _ = writeln!(
                out,
                "  session {:<6} client pid {:<8} names: {}",
                session.session_id, session.client_pid, names
            );
        }
        write_participants(&mut out, &daemon.participants);
        let _ = writeln!(
            out,
            "messages: {}  summaries: {}  last activity: {}",
            daemon.message_count,
            daemon.summary_count,
            daemon.last_activity_ts.as_deref().unwrap_or("never")
        );
    }
    if let Some(disk) = &report.on_disk {
        let _ = writeln!(out, "on disk ({}):", report.state_dir);
        let _ = writeln!(
            out,
            "messages: {}  summaries: {}  last activity: {}",
            disk.message_count,
            disk.summary_count,
            disk.last_activity_ts.as_deref().unwrap_or("never")
        );
        if !disk.participants.is_empty() {
            let _ = writeln!(out, "recorded participants (not connected):");
            write_participants(&mut out, &disk.participants);
        }
    }
    out
}

fn write_participants(out: &mut String, participants: &[Participant]) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "participants: {}", participants.len());
    for participant in participants {
        let _ = writeln!(
            out,
            "  {:<20} role {:<12} joined {}  last seen {}",
            participant.name, participant.role, participant.joined_at, participant.last_seen
        );
    }
}

fn format_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}

async fn stop(paths: &RoomPaths) -> anyhow::Result<i32> {
    let Some(mut client) = ControlClient::connect(paths).await? else {
        print_stdout(&format!(
            "chatroomd is not running for {}\n",
            paths.root.display()
        ));
        return Ok(0);
    };
    match client.call(Request::Shutdown).await? {
        Some(Ok(Response::ShuttingDown)) | None => {}
        Some(Ok(other)) => anyhow::bail!("unexpected reply from chatroomd: {other:?}"),
        Some(Err(refusal)) => anyhow::bail!("{refusal}"),
    }
    drop(client);
    let lock_file = paths.lock_file.clone();
    let released = tokio::task::spawn_blocking(move || {
        lock::wait_released(&lock_file, Duration::from_secs(30))
    })
    .await
    .context("waiting for chatroomd to exit")??;
    if !released {
        anyhow::bail!(
            "chatroomd accepted the shutdown but still holds {} after 30s",
            paths.lock_file.display()
        );
    }
    print_stdout(&format!("chatroomd stopped for {}\n", paths.root.display()));
    Ok(0)
}

#[allow(clippy::print_stdout)]
fn print_stdout(text: &str) {
    print!("{text}");
}
