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

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use protocol::paths::RoomPaths;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

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

/// A fresh git repository with its own runtime (socket) directory.
pub struct TestRoom {
    _temp: tempfile::TempDir,
    /// The canonical repository root.
    pub root: PathBuf,
    /// The private socket directory for this room (`CHATROOM_RUNTIME_DIR`).
    pub runtime_dir: PathBuf,
}

impl TestRoom {
    /// Creates the repository with `git init`.
    pub fn new() -> Self {
        // Short paths under /tmp keep the socket path well inside sun_path.
        let temp = tempfile::Builder::new()
            .prefix("cr")
            .tempdir_in(std::env::temp_dir())
            .expect("temp dir");
        let root = temp.path().join("repo");
        std::fs::create_dir(&root).expect("repo dir");
        let status = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(&root)
            .status()
            .expect("git init");
        assert!(status.success(), "git init failed");
        let root = root.canonicalize().expect("canonical root");
        let runtime_dir = temp.path().join("rt");
        Self {
            _temp: temp,
            root,
            runtime_dir,
        }
    }

    /// The paths both binaries derive for this room.
    pub fn paths(&self) -> RoomPaths {
        RoomPaths::new(self.root.clone(), self.runtime_dir.clone())
    }

    /// `<root>/.chatroom`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(protocol::paths::STATE_DIR_NAME)
    }

    /// Applies the environment every process of this room runs with.
    pub fn configure(&self, command: &mut tokio::process::Command) {
        command
            .current_dir(&self.root)
            .env(protocol::paths::ENV_RUNTIME_DIR, &self.runtime_dir)
            .env_remove(protocol::paths::ENV_ROOT)
            .env("CHATROOM_LOG", log_filter());
    }

    /// A `chatroom-shim` command for this room (stdin/stdout for MCP, stderr inherited).
    pub fn shim_command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(shim_bin());
        self.configure(&mut command);
        command
    }

    /// Launches a shim and completes the MCP handshake with rmcp's client, announcing the
    /// protocol version real clients use today.
    pub async fn agent(&self) -> Agent {
        self.agent_from(self.shim_command()).await
    }

    /// Like [`TestRoom::agent`] with one more environment variable, which the daemon it starts
    /// inherits too (a `CHATROOM_TEST_*` fault, say).
    pub async fn agent_with_env(&self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Agent {
        let mut command = self.shim_command();
        command.env(key, value);
        self.agent_from(command).await
    }

    /// Like [`TestRoom::agent_from`], with the shim's stderr piped to the caller instead of
    /// inherited.
    pub async fn agent_capturing_stderr(
        &self,
        command: tokio::process::Command,
    ) -> (Agent, tokio::process::ChildStderr) {
        let (transport, stderr) = TokioChildProcess::builder(command)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning chatroom-shim");
        let agent = self.agent_over(transport).await;
        (agent, stderr.expect("a piped stderr"))
    }

    /// Like [`TestRoom::agent`] with a prepared command (another working directory, say).
    pub async fn agent_from(&self, command: tokio::process::Command) -> Agent {
        let (transport, _stderr) = TokioChildProcess::builder(command)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning chatroom-shim");
        self.agent_over(transport).await
    }

    async fn agent_over(&self, transport: TokioChildProcess) -> Agent {
        let pid = transport.id().expect("shim pid");
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("chatroom-tests", "0"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_06_18);
        let client = tokio::time::timeout(DEFAULT_TIMEOUT, info.serve(transport))
            .await
            .expect("MCP initialize timed out")
            .expect("MCP initialize failed");
        Agent {
            client: Some(client),
            pid,
            records: RECORD_KEYS,
        }
    }

    /// A `chatroomd ARGS --root <root>` command for this room (stdin on /dev/null).
    pub fn chatroomd_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(daemon_bin());
        command
            .args(args)
            .arg("--root")
            .arg(&self.root)
            .current_dir(&self.root)
            .env(protocol::paths::ENV_RUNTIME_DIR, &self.runtime_dir)
            .env_remove(protocol::paths::ENV_ROOT)
            .env("CHATROOM_LOG", log_filter())
            .stdin(Stdio::null());
        command
    }

    /// A `chatroom-shim` command for this room run in another environment: none of the
    /// variables that choose the socket directory (`CHATROOM_RUNTIME_DIR`, `XDG_RUNTIME_DIR`,
    /// `TMPDIR`, `HOME`) is inherited, and `vars` sets those it wants. As agents in different
    /// MCP clients run (Codex, for one, passes no `XDG_RUNTIME_DIR`).
    pub fn shim_command_env(&self, vars: &[(&str, &Path)]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(shim_bin());
        command.current_dir(&self.root);
        for (name, value) in environment(vars) {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// Like [`TestRoom::chatroomd_command`] in another environment (see
    /// [`TestRoom::shim_command_env`]).
    pub fn chatroomd_command_env(
        &self,
        args: &[&str],
        vars: &[(&str, &Path)],
    ) -> std::process::Command {
        let mut command = self.chatroomd_command(args);
        for (name, value) in environment(vars) {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// Runs `chatroomd ARGS --root <root>` to completion (bounded by [`DEFAULT_TIMEOUT`]).
    pub fn chatroomd(&self, args: &[&str]) -> Output {
        run_bounded(self.chatroomd_command(args), DEFAULT_TIMEOUT).expect("running chatroomd")
    }

    /// Starts `chatroomd serve ARGS --root <root>` in the background (output discarded; the
    /// daemon logs to its log file) and waits until it holds the room's lock. The caller owns
    /// the child: it must stop the daemon and reap it ([`wait_exit`]).
    pub fn spawn_daemon(&self, args: &[&str]) -> std::process::Child {
        let mut serve = vec!["serve"];
        serve.extend_from_slice(args);
        self.spawn_daemon_from(self.chatroomd_command(&serve))
    }

    /// Like [`TestRoom::spawn_daemon`] with a prepared `chatroomd serve` command (one that sets
    /// a resource limit before `exec`, say).
    pub fn spawn_daemon_from(&self, mut command: std::process::Command) -> std::process::Child {
        // A record left by a killed daemon would say "listening" too early: with no daemon
        // holding the room it is stale, and goes.
        if self.daemon_pid().is_none() {
            let _ = std::fs::remove_file(&self.paths().endpoint_file);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning chatroomd serve");
        let pid = child.id();
        // The endpoint record is written once the socket listens; the socket's file exists a
        // moment earlier (bound, not yet listening), when a connection is still refused.
        let started = wait_for(DEFAULT_TIMEOUT, || {
            self.daemon_pid() == Some(pid) && self.paths().endpoint_file.exists()
                || matches!(child.try_wait(), Ok(Some(_)))
        });
        assert!(
            started.is_ok(),
            "chatroomd serve (pid {pid}) did not take the room"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "chatroomd serve exited at start ({status}); log:\n{}",
                self.log()
            );
        }
        child
    }

    /// `chatroomd status --json`, parsed.
    pub fn status(&self) -> Value {
        let output = self.chatroomd(&["status", "--json"]);
        assert!(
            output.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("status --json is JSON")
    }

    /// The pid of the daemon holding this room's lock, if one does. The client crate's probe
    /// takes the lock shared, so a daemon starting at that moment never mistakes the test's
    /// look for another daemon (an exclusive probe would make it exit as if one ran).
    pub fn daemon_pid(&self) -> Option<u32> {
        chatroom_client::launch::lock_holder(&self.paths().lock_file)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.paths().log_file).unwrap_or_default()
    }

    /// `<root>/.chatroom/<name>`.
    pub fn state_file(&self, name: &str) -> PathBuf {
        self.state_dir().join(name)
    }

    /// The text of `<root>/.chatroom/<name>`, empty if it does not exist.
    pub fn read_state(&self, name: &str) -> String {
        read_or_empty(&self.state_file(name))
    }

    /// Writes `<root>/.chatroom/<name>` (a fixture, before any daemon runs).
    pub fn write_state(&self, name: &str, contents: &str) {
        std::fs::create_dir_all(self.state_dir()).expect("creating .chatroom");
        std::fs::write(self.state_file(name), contents).expect("writing a state file");
    }

    /// Stops the daemon (as dropping does), then asserts that its process has ended and that no
    /// `chatroomd` process serving this root is left. For the end of tests that start many
    /// processes.
    pub fn finish(self) {
        let root = self.root.clone();
        let pid = self.daemon_pid();
        self.stop_daemon();
        assert_eq!(self.daemon_pid(), None, "the daemon survived a stop");
        drop(self);
        // The lock is released before the process has quite finished exiting: wait for that too.
        let gone = || daemon_processes(&root).is_empty() && !pid.is_some_and(process_running);
        let left = wait_for(DEFAULT_TIMEOUT, gone);
        assert!(
            left.is_ok(),
            "chatroomd still running for {}: {:?}",
            root.display(),
            daemon_processes(&root)
        );
    }

    /// Kills the daemon with SIGKILL and waits until its lock is released; returns its pid.
    pub fn kill_daemon(&self) -> u32 {
        let pid = self.daemon_pid().expect("a daemon to kill");
        // SAFETY: plain kill(2) on a pid we read from the room's lock file.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        wait_for(DEFAULT_TIMEOUT, || self.daemon_pid() != Some(pid)).expect("daemon did not die");
        pid
    }

    /// Stops the daemon with `chatroomd stop`; kills it if that fails. Returns whether one ran.
    pub fn stop_daemon(&self) -> bool {
        let Some(pid) = self.daemon_pid() else {
            return false;
        };
        let output = self.chatroomd(&["stop"]);
        if !output.status.success() || self.daemon_pid().is_some() {
            // SAFETY: plain kill(2) on a pid we read from the room's lock file.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            wait_for(DEFAULT_TIMEOUT, || self.daemon_pid().is_none()).expect("daemon did not die");
        }
        true
    }
}

impl Default for TestRoom {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRoom {
    fn drop(&mut self) {
        self.stop_daemon();
    }
}

/// One agent: a `chatroom-shim` process driven over stdio by rmcp's client.
pub struct Agent {
    client: Option<RunningService<RoleClient, ClientConfig>>,
    /// The shim's process id.
    pub pid: u32,
    /// The record shapes [`Agent::ok`] admits: v1's, unless [`Agent::with_topic_records`].
    records: &'static [&'static [&'static str]],
}

impl Agent {
    fn client(&self) -> &RunningService<RoleClient, ClientConfig> {
        self.client.as_ref().expect("agent already closed")
    }

    /// This agent's [`Agent::ok`] also admits the records of topics ([`TOPIC_RECORD_KEYS`]). An
    /// agent that never names a topic keeps v1's shapes only, which is how a test holds that a
    /// room used the v1 way yields v1 records.
    pub fn with_topic_records(mut self) -> Self {
        self.records = TOPIC_RECORD_KEYS;
        self
    }

    /// This agent's [`Agent::ok`] also admits the records of claims ([`CLAIM_RECORD_KEYS`]).
    pub fn with_claim_records(mut self) -> Self {
        self.records = CLAIM_RECORD_KEYS;
        self
    }

    /// The raw MCP peer, for listing tools and reading server info.
    pub fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.client().peer()
    }

    /// Calls `tool` with `args` (a JSON object) and returns the raw result.
    pub async fn call(&self, tool: &str, args: Value) -> anyhow::Result<CallToolResult> {
        let Value::Object(arguments) = args else {
            bail!("tool arguments must be a JSON object")
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let result = tokio::time::timeout(DEFAULT_TIMEOUT, self.client().call_tool(params))
            .await
            .with_context(|| format!("{tool} timed out"))??;
        Ok(result)
    }

    /// Calls `tool`, asserts success and the contract's result shape, and returns the JSON value.
    /// The shape: one text block of compact JSON whose objects are records of the contract with
    /// exactly its keys in its order ([`check_records`]); an object is also the
    /// `structuredContent`, a list is wrapped there as `{"result": [...]}`, and `null` has none.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        self.ok_text(tool, args).await.0
    }

    /// Like [`Agent::ok`], also returning the text block as sent.
    pub async fn ok_text(&self, tool: &str, args: Value) -> (Value, String) {
        let result = self
            .call(tool, args)
            .await
            .unwrap_or_else(|err| panic!("{tool}: {err:#}"));
        assert_ne!(
            result.is_error,
            Some(true),
            "{tool} failed: {}",
            text_of(&result)
        );
        assert_eq!(
            result.content.len(),
            1,
            "{tool}: one content block: {result:?}"
        );
        let text = text_of(&result);
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{tool}: not JSON ({err}): {text}"));
        assert!(
            is_compact_json(&text),
            "{tool}: the text block must be compact JSON: {text}"
        );
        if let Err(problem) = check_records_among(&text, self.records) {
            panic!("{tool}: {problem}: {text}");
        }
        match &value {
            Value::Object(_) => assert_eq!(
                result.structured_content.as_ref(),
                Some(&value),
                "{tool}: structuredContent"
            ),
            Value::Array(_) => assert_eq!(
                result.structured_content,
                Some(serde_json::json!({ "result": value })),
                "{tool}: lists are wrapped in structuredContent"
            ),
            _ => assert_eq!(
                result.structured_content, None,
                "{tool}: a scalar result has no structuredContent"
            ),
        }
        (value, text)
    }

    /// Calls `tool`, asserts it was refused (`isError: true`) and returns the message: one line,
    /// not starting with a capital, without a trailing period.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let result = self
            .call(tool, args)
            .await
            .unwrap_or_else(|err| panic!("{tool}: {err:#}"));
        let text = text_of(&result);
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} should have been refused, got {text}"
        );
        assert!(
            !text.contains('\n'),
            "{tool}: refusals are one line: {text:?}"
        );
        assert!(
            !text.is_empty() && !text.starts_with(char::is_uppercase),
            "{tool}: refusals are lowercase: {text:?}"
        );
        assert!(
            !text.ends_with('.'),
            "{tool}: refusals have no trailing period: {text:?}"
        );
        text
    }

    /// Kills the shim with SIGKILL (its MCP client is left without a server).
    pub fn kill(&mut self) {
        // SAFETY: plain kill(2) on the child we spawned.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }

    /// Closes the MCP session the way clients do: stdin is closed, then the shim should exit.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(DEFAULT_TIMEOUT, client.cancel()).await;
        }
    }

    /// Waits until the shim has exited and been reaped, which happens on its own once it is
    /// killed ([`Agent::kill`]): the client sees its stdout end and waits for the process.
    /// Panics if that takes longer than [`DEFAULT_TIMEOUT`].
    pub async fn reap(mut self) {
        let pid = self.pid;
        if let Some(client) = self.client.take() {
            tokio::time::timeout(DEFAULT_TIMEOUT, client.waiting())
                .await
                .unwrap_or_else(|_| panic!("shim {pid} was not reaped"))
                .expect("the MCP client task failed");
        }
        assert!(!process_running(pid), "shim {pid} is still running");
    }
}

/// The text of a result's first content block.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|text| text.text.clone())
        .unwrap_or_default()
}

/// Whether `text` (valid JSON) has no whitespace outside its strings.
pub fn is_compact_json(text: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for character in text.chars() {
        if in_string {
            match character {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if character == '"' {
            in_string = true;
        } else if character.is_whitespace() {
            return false;
        }
    }
    true
}

/// An array of the contract's v1 record shapes followed by `$extra` shapes: [`RECORD_KEYS`] and
/// [`TOPIC_RECORD_KEYS`] share the first part.
macro_rules! record_shapes {
    ($($extra:expr),* $(,)?) => {
        &[
            &["id", "ts", "from", "to", "content"],
            // A message a person posted with `chatroomd send`: the one record that carries a further key.
            &["id", "ts", "from", "to", "content", "human"],
            &["name", "role", "joined_at", "last_seen"],
            &["id", "ts", "from", "scope", "content"],
            &["participant_count", "message_count", "last_activity_ts"],
            &["name", "last_read_id"],
            &["name", "last_read_id", "messages"],
            &[
                "participants",
                "latest_message_id",
                "cursor",
                "unread_count",
                "latest_summary",
                "recent_messages",
            ],
            &["id"],
            &["left"],
            $($extra,)*
        ]
    };
}

/// The keys of every record of the contract, in the contract's order (and the Python server's,
/// which writes dicts in insertion order).
pub const RECORD_KEYS: &[&[&str]] = record_shapes!();

/// [`RECORD_KEYS`] and the records a room with topics adds (the contract's "Topics"): a message
/// or summary in a topic (`topic_id` after `ts`), a cursor or unread result in a topic
/// (`topic_id` after `name`), a topic's handoff (`topic` after `participants`), `get_status`
/// with the topic counts, the topic record, a `list_topics(name=...)` entry, `close_topic`'s.
pub const TOPIC_RECORD_KEYS: &[&[&str]] = record_shapes![
    &["id", "ts", "topic_id", "from", "to", "content"],
    &["id", "ts", "topic_id", "from", "to", "content", "human"],
    &["id", "ts", "topic_id", "from", "scope", "content"],
    &["name", "topic_id", "last_read_id"],
    &["name", "topic_id", "last_read_id", "messages"],
    &[
        "participants",
        "topic",
        "latest_message_id",
        "cursor",
        "unread_count",
        "latest_summary",
        "recent_messages",
    ],
    &[
        "participant_count",
        "message_count",
        "last_activity_ts",
        "topic_count",
        "open_topic_count",
        "summary_count",
    ],
    &[
        "id",
        "title",
        "status",
        "created_by",
        "created_at",
        "closed_at",
        "last_activity_ts",
    ],
    &[
        "id",
        "title",
        "status",
        "created_by",
        "created_at",
        "closed_at",
        "last_activity_ts",
        "latest_message_id",
        "cursor",
        "unread_count",
        "latest_summary",
    ],
    &["closed"],
];

/// A claim record's keys, in their order (`list_claims`, `chatroomd claims --json`).
pub const CLAIM_KEYS: [&str; 7] = [
    "path",
    "name",
    "exclusive",
    "reason",
    "since",
    "expires_at",
    "held_s",
];

/// [`RECORD_KEYS`] and the records of claims: a claim, a conflict, `claim`'s and `release`'s
/// results, and a handoff once the room has claims (`claims` last).
pub const CLAIM_RECORD_KEYS: &[&[&str]] = record_shapes![
    &CLAIM_KEYS,
    &["path", "held_by"],
    &["name", "granted", "conflicts"],
    &["name", "released"],
    &[
        "participants",
        "latest_message_id",
        "cursor",
        "unread_count",
        "latest_summary",
        "recent_messages",
        "claims",
    ],
];

/// Checks that every object in the JSON `text`, at any depth, is one of the contract's
/// [`RECORD_KEYS`] with exactly its keys in its order.
pub fn check_records(text: &str) -> Result<(), String> {
    check_records_among(text, RECORD_KEYS)
}

/// Like [`check_records`], against the record shapes `shapes` (such as [`TOPIC_RECORD_KEYS`]).
pub fn check_records_among(text: &str, shapes: &[&[&str]]) -> Result<(), String> {
    fn walk(node: &Ordered, shapes: &[&[&str]]) -> Result<(), String> {
        match node {
            Ordered::Object(entries) => {
                let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                let shape = shapes.iter().find(|shape| {
                    let mut expected = shape.to_vec();
                    expected.sort_unstable();
                    expected == sorted
                });
                match shape {
                    None => {
                        return Err(format!(
                            "an object with keys {keys:?} is no record of the contract"
                        ));
                    }
                    Some(shape) if **shape != keys[..] => {
                        return Err(format!(
                            "keys {keys:?} are not in the contract's order {shape:?}"
                        ));
                    }
                    Some(_) => {}
                }
                entries
                    .iter()
                    .try_for_each(|(_, value)| walk(value, shapes))
            }
            Ordered::Array(items) => items.iter().try_for_each(|item| walk(item, shapes)),
            Ordered::Scalar => Ok(()),
        }
    }
    let node: Ordered = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    walk(&node, shapes)
}

/// A JSON value that remembers the order of object keys (`serde_json::Value` sorts them).
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar,
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Ordered::Object(entries))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The variables of [`TestRoom::shim_command_env`]: those that choose the socket directory
/// removed unless `vars` sets them, the root's and the log filter's as every test process has.
fn environment(vars: &[(&str, &Path)]) -> Vec<(String, Option<std::ffi::OsString>)> {
    let mut env: Vec<(String, Option<std::ffi::OsString>)> = [
        protocol::paths::ENV_RUNTIME_DIR,
        "XDG_RUNTIME_DIR",
        "TMPDIR",
        "HOME",
        protocol::paths::ENV_ROOT,
    ]
    .into_iter()
    .map(|name| (name.to_owned(), None))
    .collect();
    env.push(("CHATROOM_LOG".to_owned(), Some(log_filter().into())));
    for (name, value) in vars {
        env.retain(|(existing, _)| existing != name);
        env.push(((*name).to_owned(), Some(value.as_os_str().to_owned())));
    }
    env
}

/// Polls `condition` until it holds or `timeout` passes. For conditions only observable by
/// asking (the room's state through another process); every use has a deadline.
pub fn wait_for(
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls the async `probe` until it yields a value or `timeout` passes; returns the value and
/// how long it took. For conditions only observable by asking the room through an agent; every
/// use has a deadline.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> anyhow::Result<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok((value, start.elapsed()));
        }
        if start.elapsed() > timeout {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits for a child to exit, killing it after `timeout`; returns its status.
pub fn wait_exit(
    child: &mut std::process::Child,
    timeout: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("pid {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a command to completion, killing it after `timeout`.
pub fn run_bounded(
    mut command: std::process::Command,
    timeout: Duration,
) -> anyhow::Result<Output> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let output = child.wait_with_output()?;
            bail!(
                "timed out after {timeout:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Set to `1` to make a test that needs root fail instead of skipping when not run as root
/// (`.ci/run` sets it, since CI runs as root and a skipped fault test there would hide a gap).
pub const ENV_REQUIRE_ROOT: &str = "CHATROOM_TEST_REQUIRE_ROOT";

/// How the line a root-only test prints when it skips begins (`scripts/test` counts these lines
/// by their fixed ending, which names [`ENV_REQUIRE_ROOT`]).
pub const SKIP_PREFIX: &str = "skipped ";

/// Whether the root-only test `test` may run: true as root. Otherwise it writes one line to
/// stderr naming the test and why it needs root (`needs`, e.g. "needs root to act as another
/// user") and returns false so the test returns early, or, with [`ENV_REQUIRE_ROOT`] set to `1`,
/// fails the test with that reason. The line goes straight to the stderr fd, past libtest's
/// capture of `eprintln!`, so a skip shows up even for a test that passes.
pub fn runs_as_root(test: &str, needs: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let required = std::env::var_os(ENV_REQUIRE_ROOT).is_some_and(|value| value == "1");
    assert!(
        !required,
        "{test} {needs}, and {ENV_REQUIRE_ROOT}=1 makes it required: run it as root"
    );
    let line =
        format!("{SKIP_PREFIX}{test}: {needs} (set {ENV_REQUIRE_ROOT}=1 to make this a failure)\n");
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// Whether a process with this pid exists (and is not a zombie we could still reap).
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Whether the process `pid` exists and is not a zombie (Linux: reads `/proc/<pid>/stat`).
/// Unlike [`process_alive`], a process that exited but was not reaped yet counts as gone.
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
        Err(_) => false,
    }
}

/// The resident set size of process `pid` in KiB (Linux: `VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("reading /proc/{pid}/status: {err}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// How many file descriptors process `pid` has open (Linux: entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|err| panic!("reading /proc/{pid}/fd: {err}"))
        .count()
}

/// The pids of the running `chatroomd` processes whose command line names `root` (Linux: scans
/// `/proc/*/cmdline`; zombies have an empty command line and are not counted).
pub fn daemon_processes(root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let root = root.as_os_str().as_encoded_bytes();
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let mut args = cmdline.split(|byte| *byte == 0);
            let is_daemon = args.next().is_some_and(|program| {
                Path::new(std::ffi::OsStr::from_bytes(program)).file_name()
                    == Some("chatroomd".as_ref())
            });
            is_daemon && args.any(|arg| arg == root)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The current Unix time in whole seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Whether `text` is a timestamp of the contract: UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b'T',
            13 | 16 => *byte == b':',
            19 => *byte == b'Z',
            _ => byte.is_ascii_digit(),
        })
}

/// The `id`s of a list of records (messages or summaries).
pub fn ids(records: &Value) -> Vec<u64> {
    records
        .as_array()
        .expect("a list of records")
        .iter()
        .map(|record| record["id"].as_u64().expect("an id"))
        .collect()
}

/// The `content`s of a list of records.
pub fn contents(records: &Value) -> Vec<String> {
    records
        .as_array()
        .expect("a list of records")
        .iter()
        .map(|record| record["content"].as_str().expect("a content").to_owned())
        .collect()
}

/// The `name`s of a list of participants.
pub fn names(participants: &Value) -> Vec<String> {
    participants
        .as_array()
        .expect("a list of participants")
        .iter()
        .map(|participant| participant["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// The keys of a JSON object, sorted.
pub fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The keys of a JSON object in the order they came in (the workspace builds serde_json with
/// `preserve_order`, so a parsed object keeps the order of its text).
pub fn keys_in_order(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// Reads `path` to a string, empty if it does not exist.
pub fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_has_no_whitespace_outside_strings() {
        assert!(is_compact_json(r#"{"a":[1,2],"b":"x y\" z"}"#));
        assert!(!is_compact_json(r#"{"a": 1}"#));
        assert!(!is_compact_json("[1,\n2]"));
    }

    #[test]
    fn records_need_the_contract_keys_in_order() {
        assert_eq!(
            check_records(r#"[{"id":1,"ts":"t","from":"a","to":"all","content":"c"}]"#),
            Ok(())
        );
        assert_eq!(
            check_records(r#"{"name":"a","last_read_id":0,"messages":[]}"#),
            Ok(())
        );
        assert_eq!(check_records("null"), Ok(()));
        assert!(check_records(r#"{"ts":"t","id":1,"from":"a","to":"all","content":"c"}"#).is_err());
        assert!(check_records(r#"{"id":1,"extra":2}"#).is_err());
        assert!(check_records(r#"{"left":true,"why":"x"}"#).is_err());
    }

    #[test]
    fn topic_records_are_admitted_only_where_asked_for() {
        let in_topic = r#"[{"id":1,"ts":"t","topic_id":"a","from":"a","to":"all","content":"c"}]"#;
        assert!(
            check_records(in_topic).is_err(),
            "v1 shapes only by default"
        );
        assert_eq!(check_records_among(in_topic, TOPIC_RECORD_KEYS), Ok(()));
        let misplaced = r#"[{"id":1,"topic_id":"a","ts":"t","from":"a","to":"all","content":"c"}]"#;
        assert!(check_records_among(misplaced, TOPIC_RECORD_KEYS).is_err());
        // Every v1 shape stays admitted beside the topic ones.
        for shape in RECORD_KEYS {
            assert!(TOPIC_RECORD_KEYS.contains(shape), "{shape:?}");
        }
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        assert!(is_timestamp("2026-01-02T03:04:05Z"));
        assert!(!is_timestamp("2026-01-02T03:04:05.123Z"));
        assert!(!is_timestamp("2026-01-02 03:04:05Z"));
        assert!(!is_timestamp("2026-01-02T03:04:05+00:00"));
    }

    #[test]
    fn process_checks_see_this_process() {
        assert!(process_running(std::process::id()));
        assert!(daemon_processes(Path::new("/nonexistent/root")).is_empty());
    }
}

/// Every message in the room as `agent` reads it, paging through `read_messages`.
pub async fn all_messages(agent: &Agent) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    loop {
        let since = messages
            .last()
            .map_or(0, |message| message["id"].as_u64().unwrap());
        let page = agent
            .ok(
                "read_messages",
                serde_json::json!({"since_id": since, "limit": 100}),
            )
            .await;
        let page = page.as_array().expect("a list of messages").clone();
        if page.is_empty() {
            return messages;
        }
        messages.extend(page);
    }
}

/// Asserts the messages' ids are 1, 2, 3, … with no gap and no repeat.
pub fn assert_gap_free(messages: &[Value]) {
    let ids: Vec<u64> = messages
        .iter()
        .map(|message| message["id"].as_u64().expect("an id"))
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids strictly increasing from 1, with no gap"
    );
}

/// Raw connections to the daemon's socket, below MCP: for the tests that send what no well-
/// behaved client would (bad frames, silent peers, wrong versions, chosen call ids and keys), so
/// they hold the bare stream rather than a `chatroom_client::Connection`; the frames they send
/// are still encoded by `protocol::frame`, the codec the daemon and the client use.
pub mod raw {
    use std::time::Duration;

    use interprocess::local_socket::GenericFilePath;
    use interprocess::local_socket::tokio::{Stream, prelude::*};
    use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, read_frame, write_frame};
    use protocol::{ClientKind, ClientMessage, Hello, HelloReply, PROTOCOL_VERSION, ServerMessage};
    use tokio::io::AsyncReadExt;

    use crate::TestRoom;

    /// Connects to the room's socket within `timeout`.
    pub async fn connect(room: &TestRoom, timeout: Duration) -> Stream {
        let name = room
            .paths()
            .socket
            .to_fs_name::<GenericFilePath>()
            .expect("a socket name");
        tokio::time::timeout(timeout, Stream::connect(name))
            .await
            .expect("connect timed out")
            .expect("connecting to the daemon")
    }

    /// A `Hello` of `version` from this process.
    pub fn hello(version: u32, kind: ClientKind) -> ClientMessage {
        ClientMessage::Hello(Hello {
            version,
            client_pid: std::process::id(),
            kind,
        })
    }

    /// Reads one frame from the daemon within `timeout`.
    pub async fn receive(stream: &mut Stream, timeout: Duration) -> ServerMessage {
        let mut buffer = Vec::new();
        tokio::time::timeout(
            timeout,
            read_frame::<ServerMessage, _>(stream, &mut buffer, MAX_SERVER_FRAME),
        )
        .await
        .expect("no frame from the daemon in time")
        .expect("a well-formed frame")
        .expect("a frame, not the end of the stream")
    }

    /// Connects and completes the handshake as `kind`.
    pub async fn session(room: &TestRoom, kind: ClientKind, timeout: Duration) -> Stream {
        let mut stream = connect(room, timeout).await;
        write_frame(
            &mut stream,
            &hello(PROTOCOL_VERSION, kind),
            MAX_CLIENT_FRAME,
        )
        .await
        .unwrap();
        match receive(&mut stream, timeout).await {
            ServerMessage::HelloReply(HelloReply::Welcome { .. }) => stream,
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// Reads until the daemon closes `stream` (EOF or an error) and returns the bytes read;
    /// panics if it stays open past `deadline`.
    pub async fn read_until_closed(stream: &mut Stream, deadline: Duration, case: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        let ended = tokio::time::timeout(deadline, async {
            let mut chunk = [0u8; 64 * 1024];
            loop {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => bytes.extend_from_slice(&chunk[..read]),
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "{case}: the daemon kept the connection open");
        bytes
    }
}
