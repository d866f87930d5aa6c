//! `chatroomd hook <client> <event>`: the adapters that put the room before an agent at its
//! client's hook points. The common run is here: read the hook's stdin, find the room and the
//! agent (by the client's session id, else by this process's ancestry), ask the daemon
//! (`Request::Reach`, or `Request::AwaitReach` for the wake hook), and print what the client
//! documents for that event. Each client's stdin fields and output contract are in its own
//! module; [`digest`] is the text.
//!
//! A hook never gets in the agent's way: any failure (no room, no daemon, a socket a sandbox
//! forbids, bad stdin, a refusal, a timeout, even a panic) exits 0 with nothing on stdout or
//! stderr, and leaves one line in the room's `hooks.log` when the room's state directory exists.
//! It never starts a daemon.

pub mod ancestry;
pub mod claude;
pub mod codex;
pub mod cursor;
pub mod digest;
pub mod edits;
pub mod gemini;
pub mod pre_tool;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chatroom_client::{Connection, Reach};
use clap::{Args, ValueEnum};
use protocol::paths::RoomPaths;
use protocol::{ClientKind, HookLink, HookReach, Request, Response};
use serde::Deserialize;
use serde_json::Value;

/// The most stdin a hook reads; more is bad input.
pub const MAX_STDIN: u64 = 1 << 20;
/// How long a hook other than `wake` may take in all, stdin included.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// Messages a delivering hook asks for at most (the digest shows what fits).
pub const LIMIT: i64 = 20;
/// The name of the log in the room's state directory.
pub const LOG_NAME: &str = "hooks.log";
/// How much longer than `--wait-s` the wake hook waits for the daemon's answer.
const WAKE_GRACE: Duration = Duration::from_secs(5);

/// `chatroomd hook <client> <event>`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The agent client running the hook.
    #[arg(value_enum)]
    pub client: Client,
    /// The hook point: `session-start`, `prompt` (before the prompt reaches the model),
    /// `post-tool` (after a tool call), `stop` (the agent is about to end its turn), or `wake`
    /// (Claude Code's `asyncRewake` hook: wait for a message and wake the agent), or `pre-tool`
    /// (before a tool that edits files: denied when another agent holds one exclusively).
    #[arg(value_enum)]
    pub event: Event,
    /// `wake` only: how many seconds to wait for a message (below the hook's own timeout).
    #[arg(long, value_name = "N", default_value_t = 3300, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub wait_s: u32,
}

/// The clients with hook adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Client {
    ClaudeCode,
    Codex,
    Gemini,
    Cursor,
}

/// The hook points, named the same for every client (each client's module maps them to its
/// own event names). A new point adds a variant and an arm per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Event {
    SessionStart,
    Prompt,
    PostTool,
    Stop,
    Wake,
    PreTool,
}

/// What a hook's stdin says, whichever client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookInput {
    /// The client's session id; blank when it gave none.
    pub session_id: String,
    /// The directory the client runs in, when it says.
    pub cwd: Option<PathBuf>,
    /// This stop is itself a continuation a stop hook caused (Claude's and Codex's and
    /// Gemini's `stop_hook_active`; Cursor's `loop_count` at its bound): it must not be kept
    /// going again.
    pub continuation: bool,
}

/// What a hook does in the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Print nothing, exit 0.
    Nothing,
    /// This JSON on stdout, exit 0.
    Json(Value),
    /// This text on stderr, exit 2 (Claude Code's `asyncRewake`).
    Wake(String),
    /// This reason on stderr, exit 2: a tool call denied (Codex's `PreToolUse`).
    Refuse(String),
}

impl Client {
    /// As the command line spells it (and as the log says).
    pub fn name(self) -> &'static str {
        match self {
            Client::ClaudeCode => "claude-code",
            Client::Codex => "codex",
            Client::Gemini => "gemini",
            Client::Cursor => "cursor",
        }
    }

    /// The client's stdin.
    pub fn input(self, stdin: &Value) -> anyhow::Result<HookInput> {
        if !stdin.is_object() {
            bail!("stdin is not a JSON object");
        }
        match self {
            Client::ClaudeCode => claude::input(stdin),
            Client::Codex => codex::input(stdin),
            Client::Gemini => gemini::input(stdin),
            Client::Cursor => cursor::input(stdin),
        }
    }

    /// The client's own name for `event`; `None` when it has no such hook.
    pub fn event_name(self, event: Event) -> Option<&'static str> {
        match self {
            Client::ClaudeCode => claude::event_name(event),
            Client::Codex => codex::event_name(event),
            Client::Gemini => gemini::event_name(event),
            Client::Cursor => cursor::event_name(event),
        }
    }

    /// The output that puts `text` in the model's context at `event`; `None` when the client
    /// documents no way to.
    pub fn context(self, event: Event, text: &str) -> Option<Value> {
        match self {
            Client::ClaudeCode => claude::context(event, text),
            Client::Codex => codex::context(event, text),
            Client::Gemini => gemini::context(event, text),
            Client::Cursor => cursor::context(event, text),
        }
    }

    /// The stop output that keeps the agent going with `text`.
    pub fn keep_going(self, text: &str) -> Option<Value> {
        match self {
            Client::ClaudeCode => claude::keep_going(text),
            Client::Codex => codex::keep_going(text),
            Client::Gemini => gemini::keep_going(text),
            Client::Cursor => cursor::keep_going(text),
        }
    }
}

impl Event {
    /// As the command line spells it (and as the log says).
    pub fn name(self) -> &'static str {
        match self {
            Event::SessionStart => "session-start",
            Event::Prompt => "prompt",
            Event::PostTool => "post-tool",
            Event::Stop => "stop",
            Event::Wake => "wake",
            Event::PreTool => "pre-tool",
        }
    }
}

/// The stdin fields Claude Code, Codex and Gemini CLI share.
pub(crate) fn common_input(stdin: &Value) -> anyhow::Result<HookInput> {
    #[derive(Default, Deserialize)]
    #[serde(default)]
    struct Common {
        session_id: String,
        cwd: Option<PathBuf>,
        stop_hook_active: bool,
    }
    let common = Common::deserialize(stdin)?;
    Ok(HookInput {
        session_id: common.session_id,
        cwd: common.cwd,
        continuation: common.stop_hook_active,
    })
}

/// `{"hookSpecificOutput": {"hookEventName": …, "additionalContext": …}}`, the context output of
/// Claude Code, Codex and Gemini CLI.
pub(crate) fn hook_specific(event_name: &str, text: &str) -> Value {
    serde_json::json!({
        "hookSpecificOutput": {
            "hookEventName": event_name,
            "additionalContext": text,
        }
    })
}

/// What links this hook to its agent: the client's session id, and this process's ancestry.
fn hook_link(input: &HookInput) -> HookLink {
    HookLink {
        session_id: input.session_id.trim().to_owned(),
        ancestors: ancestry::ancestors(std::process::id()),
    }
}

/// What the hook asks the daemon at `event`, or `None` when it has nothing to ask: a client
/// that cannot speak there, or a stop that is already a continuation (asking would mark
/// messages delivered that nobody shows).
fn request(client: Client, event: Event, input: &HookInput, wait_s: u32) -> Option<Request> {
    client.event_name(event)?;
    let hook = hook_link(input);
    match event {
        Event::SessionStart => Some(Request::Reach {
            hook,
            deliver: false,
            limit: 0,
        }),
        Event::Prompt | Event::PostTool => {
            client.context(event, "")?;
            Some(Request::Reach {
                hook,
                deliver: true,
                limit: LIMIT,
            })
        }
        Event::Stop if input.continuation => None,
        Event::Stop => Some(Request::Reach {
            hook,
            deliver: true,
            limit: LIMIT,
        }),
        Event::Wake => Some(Request::AwaitReach {
            hook,
            timeout_s: i64::from(wait_s),
            limit: LIMIT,
        }),
        // Asked by `check_edits`, with the files the call edits.
        Event::PreTool => None,
    }
}

/// What the client is shown for the daemon's answer.
pub fn render(client: Client, event: Event, reach: &HookReach) -> Output {
    let shown = match event {
        Event::SessionStart => {
            digest::greeting(reach).and_then(|text| client.context(event, &text))
        }
        Event::Prompt | Event::PostTool => {
            digest::digest(reach).and_then(|text| client.context(event, &text))
        }
        Event::Stop => digest::digest(reach).and_then(|text| client.keep_going(&text)),
        Event::Wake => return digest::digest(reach).map_or(Output::Nothing, Output::Wake),
        Event::PreTool => None,
    };
    shown.map_or(Output::Nothing, Output::Json)
}

/// Runs the hook and returns its exit status: 0, or 2 when the wake hook wakes the agent.
/// Nothing but the client's documented output is ever printed.
pub fn run(args: HookArgs) -> i32 {
    // A panic must not print to the client's stderr either: it is caught and logged.
    std::panic::set_hook(Box::new(|_| {}));
    let mut state_dir = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        attempt(&args, &mut state_dir)
    }))
    .unwrap_or_else(|panic| {
        let cause = panic
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Err(anyhow!("panicked: {cause}"))
    });
    let written = outcome.and_then(|output| emit(&output).map(|()| output));
    match written {
        Ok(Output::Wake(_) | Output::Refuse(_)) => 2,
        Ok(_) => 0,
        Err(err) => {
            // A failure before the stdin named a directory is logged in the room of the one
            // the hook runs in (clients run hooks in the project).
            let state_dir = state_dir.or_else(|| {
                let cwd = std::env::current_dir().ok()?;
                let paths = RoomPaths::discover(&cwd, None).ok()?;
                paths.state_dir.is_dir().then_some(paths.state_dir)
            });
            if let Some(dir) = state_dir {
                log_failure(&dir, args.client, args.event, &err);
            }
            0
        }
    }
}

/// Everything but the printing: stdin, the room, the daemon's answer, the output.
fn attempt(args: &HookArgs, state_dir: &mut Option<PathBuf>) -> anyhow::Result<Output> {
    let started = Instant::now();
    let deadline = match args.event {
        Event::Wake => Duration::from_secs(u64::from(args.wait_s)) + WAKE_GRACE,
        _ => DEADLINE,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot build a runtime")?;
    let result = runtime.block_on(async {
        // Stdin is read on a blocking thread so that a client holding it open cannot hold the
        // hook past its deadline (the thread is left behind; the process exits).
        let stdin = tokio::time::timeout(DEADLINE, tokio::task::spawn_blocking(read_stdin))
            .await
            .map_err(|_| anyhow!("stdin still open after {}s", DEADLINE.as_secs()))?
            .context("reading stdin")??;
        let input = args.client.input(&stdin).context("bad stdin")?;
        let cwd = match &input.cwd {
            Some(cwd) => cwd.clone(),
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        let paths = RoomPaths::discover(&cwd, None)
            .with_context(|| format!("cannot resolve the room of {}", cwd.display()))?;
        if !paths.state_dir.is_dir() {
            bail!("no room at {}", paths.root.display());
        }
        *state_dir = Some(paths.state_dir.clone());
        if args.event == Event::PreTool {
            let until = started + deadline;
            return check_edits(args.client, &stdin, &input, &paths, &cwd, until).await;
        }
        let Some(request) = request(args.client, args.event, &input, args.wait_s) else {
            return Ok(Output::Nothing);
        };
        let until = started + deadline;
        let reach = match args.event {
            Event::Wake => wait_for_agent(&paths, request, until).await?,
            _ => ask(&paths, request, until)
                .await?
                .ok_or_else(|| anyhow!("no daemon runs for {}", paths.root.display()))?,
        };
        Ok(render(args.client, args.event, &reach))
    });
    runtime.shutdown_background();
    result
}

/// Stdin as one JSON value, at most [`MAX_STDIN`] bytes.
fn read_stdin() -> anyhow::Result<Value> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_STDIN + 1)
        .read_to_end(&mut bytes)
        .context("cannot read stdin")?;
    if bytes.len() as u64 > MAX_STDIN {
        bail!("stdin is over {MAX_STDIN} bytes");
    }
    serde_json::from_slice(&bytes).context("stdin is not JSON")
}

/// The pre-tool hook: the files the call edits, inside the room's repository, asked about in
/// one [`Request::CheckClaims`]; denied in the client's words when another session holds one
/// exclusively. A call that edits nothing we can read, or no daemon, is allowed in silence.
async fn check_edits(
    client: Client,
    stdin: &Value,
    input: &HookInput,
    paths: &RoomPaths,
    cwd: &Path,
    until: Instant,
) -> anyhow::Result<Output> {
    client
        .event_name(Event::PreTool)
        .context("no pre-tool hook for this client")?;
    let root = paths.root.to_string_lossy();
    let cwd = cwd.to_string_lossy();
    let mut files: Vec<String> = pre_tool::edited_files(client, stdin)
        .iter()
        .filter_map(|file| crate::daemon::room::normalise_path(&root, &cwd, file))
        .collect();
    files.dedup();
    files.truncate(crate::daemon::room::MAX_CLAIM_PATHS);
    if files.is_empty() {
        return Ok(Output::Nothing);
    }
    let request = Request::CheckClaims {
        hook: hook_link(input),
        as_names: Vec::new(),
        paths: files,
    };
    match ask_daemon(paths, request, until).await? {
        None => Ok(Output::Nothing),
        Some(Response::ClaimCheck(check)) if check.blocked.is_empty() => Ok(Output::Nothing),
        Some(Response::ClaimCheck(check)) => Ok(pre_tool::deny(client, &pre_tool::reason(&check))),
        Some(other) => bail!("unexpected reply from chatroomd: {other:?}"),
    }
}

/// One request to the running daemon, answered by `until`; `None` when no daemon runs (a hook
/// never starts one).
async fn ask(
    paths: &RoomPaths,
    request: Request,
    until: Instant,
) -> anyhow::Result<Option<HookReach>> {
    match ask_daemon(paths, request, until).await? {
        None => Ok(None),
        Some(Response::Reached(reach)) => Ok(Some(reach)),
        Some(other) => bail!("unexpected reply from chatroomd: {other:?}"),
    }
}

/// [`ask`]'s exchange, whatever the answer.
async fn ask_daemon(
    paths: &RoomPaths,
    request: Request,
    until: Instant,
) -> anyhow::Result<Option<Response>> {
    let exchange = async {
        let connection = match Connection::reach(paths, ClientKind::Control).await? {
            Reach::Connected(connection) => connection,
            Reach::NotRunning => return Ok(None),
            Reach::Incompatible(daemon) => bail!("{}", daemon.message),
        };
        let within = until.saturating_duration_since(Instant::now());
        Ok(Some(connection.request_within(request, within).await?))
    };
    let within = until.saturating_duration_since(Instant::now());
    tokio::time::timeout(within, exchange)
        .await
        .map_err(|_| anyhow!("no answer from chatroomd in time"))?
}

/// The wake hook runs from the agent's first moments (Claude Code starts it at `SessionStart`),
/// when its shim may not have started the daemon or joined a name yet: until `until` it asks
/// again, after 250 ms doubling to 30 s, while no daemon runs or no agent is found. A reach with
/// names is the answer, messages or none (the daemon waited the whole timeout then).
async fn wait_for_agent(
    paths: &RoomPaths,
    request: Request,
    until: Instant,
) -> anyhow::Result<HookReach> {
    let mut pause = Duration::from_millis(250);
    loop {
        match ask(paths, request.clone(), until).await? {
            Some(reach) if !reach.names.is_empty() => return Ok(reach),
            found => {
                let left = until.saturating_duration_since(Instant::now());
                if left <= pause {
                    // Waited out: nothing woke the agent.
                    return Ok(found.unwrap_or_default());
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Prints the output where the client reads it.
fn emit(output: &Output) -> anyhow::Result<()> {
    match output {
        Output::Nothing => Ok(()),
        Output::Json(value) => {
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, value).context("cannot write stdout")?;
            stdout.write_all(b"\n").context("cannot write stdout")?;
            stdout.flush().context("cannot write stdout")
        }
        Output::Wake(text) | Output::Refuse(text) => {
            let mut stderr = std::io::stderr().lock();
            writeln!(stderr, "{text}").context("cannot write stderr")?;
            stderr.flush().context("cannot write stderr")
        }
    }
}

/// One line in `<state_dir>/hooks.log` (rotated to `hooks.log.1` past 4 MiB): when, which
/// hook, and why it said nothing. A log that cannot be written is given up on: the hook stays
/// silent either way.
fn log_failure(state_dir: &Path, client: Client, event: Event, err: &anyhow::Error) {
    let cause = format!("{err:#}").replace(['\n', '\r'], " ");
    let line = format!(
        "{} {} {}: {cause}\n",
        crate::shared::time::format_ts(crate::shared::time::unix_now()),
        client.name(),
        event.name(),
    );
    // Capped like the daemon's log: a hook failing at every tool call cannot fill the disk.
    let _ = crate::shared::logging::append_line(&state_dir.join(LOG_NAME), &line);
}

#[cfg(test)]
mod tests;
