//! The `chatroomd` command line: the daemon itself (`serve`, `stop`) and the surfaces for the
//! people watching (`status`, `monitor`, `send`, `tail`, `export`, `topics`, `topic`). Each
//! subcommand's doc comment is its help text. Every subcommand goes through the daemon when one runs, so the daemon stays
//! the only writer of `.chatroom/`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use protocol::paths::RoomPaths;
use protocol::{ClientKind, Request, Response};

use chatroom_client::{CallError, Connection, Reach};

use crate::commands::source::{self, Scope, TopicFilter};
use crate::commands::transcript::{self, Format, Start, write_stdout};
use crate::commands::{monitor, status, topics};
use crate::daemon::server::{ServeConfig, ServeError};
use crate::shared::logging;

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
    /// Never starts a daemon.
    Status(StatusArgs),
    /// Shut the daemon down cleanly, flushing everything, and wait until it has exited.
    Stop(RootArg),
    /// Watch the room live: participants, the open topics, the latest summary and the latest
    /// messages of the main room (or, with --topic, of one topic), redrawn as they change. With
    /// no daemon running it shows the room from disk and starts none.
    Monitor(MonitorArgs),
    /// Post a message as a person, in the main room or (--topic) a topic. Agents see it like
    /// any message, marked `"human": true`. Starts the daemon if none runs.
    Send(SendArgs),
    /// Print messages as text or JSON lines; with --follow, keep printing new ones as they
    /// arrive (starting the daemon if none runs). Without --follow it never starts one.
    Tail(TailArgs),
    /// Print the whole room (participants, messages, summaries, topics), or one topic, as JSON
    /// or as a Markdown transcript. Never starts a daemon.
    Export(ExportArgs),
    /// List the room's topics, most recently active first: one line each, or with --json the
    /// records of the list_topics tool. Never starts a daemon.
    Topics(TopicsArgs),
    /// Open or close a topic as a person, validated like an agent's open_topic and close_topic.
    /// Starts the daemon if none runs.
    Topic(TopicArgs),
    /// Find messages by their words, newest first, in the main room, a topic or every scope
    /// (`search_messages` for a person). Never starts a daemon.
    Search(crate::commands::search::SearchArgs),
    /// Bring a Python server's history (a `.chatroom_v2/` or a v1 `.chatroom/`) into this room.
    /// Starts the daemon if none runs.
    ///
    /// DIR is the state directory, or a repository holding one. Messages and summaries come in
    /// order with their timestamps, authors, recipients and topics; topics with their status;
    /// cursors per participant and topic. Ids are kept in an empty room and renumbered after
    /// this room's own otherwise. A source imported before (grown since or not), a topic this
    /// room already has, or a corrupt source (named by file and line) is refused, and nothing
    /// changes. Participants are not imported: presence is a live connection here.
    Import(crate::commands::import::ImportArgs),
    /// An agent client's hook: puts the room before the agent (who it is and who is here at
    /// session start; messages for it next to its prompts and tool results, and as a reason to
    /// go on when it stops; `claude-code wake` waits and wakes it). Reads the hook's JSON on
    /// stdin and prints what that client documents for the event. Never starts a daemon; any
    /// failure prints nothing, exits 0 and is logged to .chatroom/hooks.log.
    Hook(crate::commands::hook::HookArgs),
    /// Make this repository ready for agent clients: the chatroom MCP server, the approvals
    /// each client asks for, and the `chatroomd hook` hooks.
    ///
    /// CLIENT is claude-code, codex, gemini or cursor; with none named, those the repository has
    /// configuration for or whose command is on PATH. Setup merges into existing files keeping
    /// every other key, comment and order, and a second run changes nothing. Shared files are in
    /// the repository (commit them), personal ones under $HOME (yours only); --dry-run shows
    /// which is which and the exact change. Never starts a daemon.
    Setup(crate::commands::setup::SetupArgs),
    /// List every live claim (who is editing what): one line each, or with --json the records
    /// of the list_claims tool. Never starts a daemon; with none running nothing is claimed.
    Claims(ClaimsArgs),
    /// Exit 1, naming each file on stderr, when another session's exclusive claim covers one of
    /// PATHS (default: the staged files, both sides of a rename): the git pre-commit hook that
    /// `setup --git-hook` installs. Run from an agent's shell, that agent's own claims do not
    /// count; --as names whose claims do not count instead. Exit 0 when nothing is blocked (or
    /// no daemon runs), 2 when it cannot tell (not a git repository). Never starts a daemon.
    CheckClaims(CheckClaimsArgs),
}

#[derive(Debug, Args)]
pub struct ClaimsArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Only the claims overlapping this repository-relative path or glob.
    #[arg(long, value_name = "P")]
    pub path: Option<String>,
    /// Print the list_claims records as one JSON array instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckClaimsArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Check as this name: its claims do not count (repeatable); without it, the agent whose
    /// shell runs this command is found from the process ancestry.
    #[arg(long = "as", value_name = "NAME")]
    pub names: Vec<String>,
    /// Files to check, relative to the current directory; a path outside the repository is
    /// noted and skipped.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// How many of the latest messages to show (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// Show what this participant would see: only messages visible to it, and its summaries.
    #[arg(long, value_name = "NAME")]
    pub participant: Option<String>,
    /// Seconds between refreshes of ages and counts (and of the files when no daemon runs),
    /// from 0.1 to 3600.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub interval: f64,
    /// Print one frame and exit (for scripts and CI).
    #[arg(long)]
    pub once: bool,
    /// Show one topic (its record, latest summary and messages) instead of the main room.
    #[arg(long, value_name = "ID")]
    pub topic: Option<String>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The name to post as (the same rules as an agent's name).
    #[arg(long = "as", value_name = "NAME")]
    pub name: String,
    /// A participant for a direct message; everyone when absent.
    #[arg(long, value_name = "NAME", default_value = "all")]
    pub to: String,
    /// Post in this topic instead of the main room (it must be open).
    #[arg(long, value_name = "ID", default_value = "")]
    pub topic: String,
    /// The message; `-` reads it from stdin.
    #[arg(value_name = "TEXT")]
    pub text: String,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Print every message after this id (instead of the last --lines).
    #[arg(long, value_name = "ID", conflicts_with = "lines")]
    pub since: Option<u64>,
    /// How many of the latest messages to print first (1 to 100).
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub lines: u16,
    /// Only messages visible to this participant (to "all" or to it).
    #[arg(long, value_name = "NAME")]
    pub participant: Option<String>,
    /// Keep printing new messages as the daemon stores them.
    #[arg(short, long)]
    pub follow: bool,
    /// One JSON object per line, in the contract's message shape.
    #[arg(long)]
    pub json: bool,
    /// Messages of this topic instead of the main room's; `*` for every scope at once (each
    /// message of a topic then says which).
    #[arg(long, value_name = "ID")]
    pub topic: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// One JSON document (the default).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// A readable Markdown transcript.
    #[arg(long)]
    pub markdown: bool,
    /// Only this topic: its record, messages and summaries.
    #[arg(long, value_name = "ID")]
    pub topic: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Which topics to list.
    #[arg(long, value_enum, default_value_t = TopicFilter::Open)]
    pub status: TopicFilter,
    /// Add this participant's unread count in each topic (with --json: list_topics' progress
    /// keys for it).
    #[arg(long, value_name = "NAME")]
    pub participant: Option<String>,
    /// Print the list_topics records as one JSON array instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TopicArgs {
    #[command(subcommand)]
    pub action: TopicAction,
}

#[derive(Debug, Subcommand)]
pub enum TopicAction {
    /// Open a topic: ID (lowercase letters, digits, `.`, `_`, `-`; at most 64) and its TITLE.
    Open(TopicOpenArgs),
    /// Close an open topic: it keeps its history and stays readable, but takes no more writes.
    Close(TopicCloseArgs),
}

#[derive(Debug, Args)]
pub struct TopicOpenArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Record this name as the topic's creator (else `system`, as for an agent that gives none).
    #[arg(long = "as", value_name = "NAME")]
    pub name: Option<String>,
    /// The new topic's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// What the topic is about.
    #[arg(value_name = "TITLE")]
    pub title: String,
}

#[derive(Debug, Args)]
pub struct TopicCloseArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The topic's id.
    #[arg(value_name = "ID")]
    pub id: String,
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
        Command::Hook(args) => Ok(crate::commands::hook::run(args)),
        Command::Setup(args) => crate::commands::setup::run(args),
        Command::CheckClaims(args) => {
            logging::to_stderr("warn");
            let paths = match room_paths(&args.root) {
                Ok(paths) => paths,
                Err(err) => {
                    eprintln!("chatroom: check-claims: {err:#}");
                    return Ok(crate::commands::claims::EXIT_BAD_INPUT);
                }
            };
            let names: Vec<String> = args
                .names
                .iter()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect();
            Ok(block_on(crate::commands::claims::check(
                &paths,
                &names,
                &args.paths,
            )))
        }
        Command::Stop(args) => {
            logging::to_stderr("warn");
            let paths = room_paths(&args)?;
            block_on(stop(&paths))
        }
        command => {
            logging::to_stderr("warn");
            block_on(surface(command))?;
            Ok(0)
        }
    }
}

/// The commands for people: everything but `serve` and `stop`.
async fn surface(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Status(args) => status::status(&room_paths(&args.root)?, args.json).await,
        Command::Monitor(args) => {
            let options = monitor::Options {
                limit: usize::from(args.limit),
                participant: non_blank(args.participant),
                interval: monitor::interval(args.interval)?,
                once: args.once,
                // One topic: `*` (every scope) is what the monitor shows without --topic.
                topic: non_blank(args.topic)
                    .map(|topic| source::topic_id(&topic).map(str::to_owned))
                    .transpose()
                    .map_err(|refusal| anyhow::anyhow!("{refusal}"))?,
            };
            monitor::monitor(&room_paths(&args.root)?, options).await
        }
        Command::Send(args) => {
            let paths = room_paths(&args.root)?;
            transcript::send(&paths, &args.name, &args.to, &args.topic, &args.text).await
        }
        Command::Tail(args) => {
            let start = match args.since {
                Some(id) => Start::Since(id),
                None => Start::Last(usize::from(args.lines)),
            };
            let format = if args.json {
                Format::JsonLines
            } else {
                Format::Text
            };
            let participant = non_blank(args.participant);
            let scope = scope(args.topic.as_deref())?;
            let paths = room_paths(&args.root)?;
            transcript::tail(
                &paths,
                start,
                participant.as_deref(),
                &scope,
                args.follow,
                format,
            )
            .await
        }
        Command::Export(args) => {
            let paths = room_paths(&args.root)?;
            transcript::export(&paths, args.topic.as_deref(), args.markdown).await
        }
        Command::Topics(args) => {
            let participant = non_blank(args.participant);
            let paths = room_paths(&args.root)?;
            topics::list(&paths, args.status, participant.as_deref(), args.json).await
        }
        Command::Topic(TopicArgs {
            action: TopicAction::Open(args),
        }) => {
            let paths = room_paths(&args.root)?;
            topics::open(&paths, &args.id, &args.title, args.name.as_deref()).await
        }
        Command::Topic(TopicArgs {
            action: TopicAction::Close(args),
        }) => topics::close(&room_paths(&args.root)?, &args.id).await,
        Command::Search(args) => {
            crate::commands::search::search(&room_paths(&args.root)?, args).await
        }
        Command::Import(args) => {
            crate::commands::import::import(&room_paths(&args.root)?, &args.dir, args.dry_run).await
        }
        Command::Claims(args) => {
            let path = non_blank(args.path);
            crate::commands::claims::list(&room_paths(&args.root)?, path.as_deref(), args.json)
                .await
        }
        Command::Serve(_)
        | Command::Stop(_)
        | Command::Hook(_)
        | Command::Setup(_)
        | Command::CheckClaims(_) => {
            unreachable!("handled by run")
        }
    }
}

/// What `--topic` names, refused in the room's words when it cannot name a scope.
fn scope(topic: Option<&str>) -> anyhow::Result<Scope> {
    Scope::from_arg(topic).map_err(|refusal| anyhow::anyhow!("{refusal}"))
}

fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
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
    match crate::daemon::server::serve(config) {
        Ok(()) => Ok(0),
        Err(err @ ServeError::AlreadyRunning { .. }) => {
            eprintln!("chatroomd: {err}");
            Ok(protocol::EXIT_ALREADY_RUNNING)
        }
        Err(err @ ServeError::OwnerDied(_)) => {
            // Not a failed start: the daemon ran, lost its owner and shut down. The next client
            // call starts a fresh one.
            tracing::error!("{err}");
            Err(err.into())
        }
        Err(ServeError::Other(err)) => {
            // main prints the error to stderr; it goes to the log as well only when stderr is
            // not already the log (a starter points the daemon's stderr at it), or it would be
            // there twice.
            if args.foreground || stderr_is(&log_file) {
                Err(err)
            } else {
                tracing::error!("{err:#}");
                Err(err.context(format!(
                    "chatroomd failed to start; see {} or run `chatroomd serve --foreground`",
                    log_file.display()
                )))
            }
        }
    }
}

/// How long `stop` waits for the daemon to release the room.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// `chatroomd stop`: a `Shutdown` request to a daemon of this version; a daemon of any other
/// version (it refuses the handshake, naming its pid), or one that holds the room but does not
/// answer, gets SIGTERM, its clean shutdown. Either way it waits until the room lock is released.
/// This is how a person gets out of any version skew, so it must never need the daemon's
/// cooperation beyond that.
async fn stop(paths: &RoomPaths) -> anyhow::Result<i32> {
    let pid = match Connection::reach(paths, ClientKind::Control).await? {
        Reach::Connected(connection) => {
            // A daemon may close the connection right after accepting the shutdown.
            match connection.call(Request::Shutdown).await {
                Ok(Ok(Response::ShuttingDown)) | Err(CallError::ConnectionLost) => {}
                Ok(Ok(other)) => anyhow::bail!("unexpected reply from chatroomd: {other:?}"),
                Ok(Err(refusal)) => anyhow::bail!("{refusal}"),
                Err(err) => return Err(err.into()),
            }
            drop(connection);
            None
        }
        Reach::Incompatible(daemon) => Some(daemon.pid),
        Reach::NotRunning => match chatroom_client::launch::lock_holder(&paths.lock_file) {
            Some(pid) => Some(pid),
            None => {
                write_stdout(&format!(
                    "chatroomd is not running for {}\n",
                    paths.root.display()
                ))?;
                return Ok(0);
            }
        },
    };
    let lock_file = paths.lock_file.clone();
    tokio::task::spawn_blocking(move || match pid {
        Some(pid) => chatroom_client::launch::stop_holder(&lock_file, pid, STOP_TIMEOUT)
            .map_err(anyhow::Error::from),
        None => {
            match chatroom_client::launch::wait_released(&lock_file, STOP_TIMEOUT) {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!(
                    "chatroomd accepted the shutdown but still holds {} after {}s",
                    lock_file.display(),
                    STOP_TIMEOUT.as_secs()
                )),
                Err(err) => Err(anyhow::Error::from(err)
                    .context(format!("cannot watch {}", lock_file.display()))),
            }
        }
    })
    .await
    .context("waiting for chatroomd to exit")??;
    write_stdout(&format!("chatroomd stopped for {}\n", paths.root.display()))?;
    Ok(0)
}

/// Whether this process's stderr is the file at `path`.
fn stderr_is(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() else {
            return false;
        };
        match (
            std::fs::File::from(stderr).metadata(),
            std::fs::metadata(path),
        ) {
            (Ok(ours), Ok(log)) => ours.dev() == log.dev() && ours.ino() == log.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}
