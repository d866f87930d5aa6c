//! [`TestRoom`]: a fresh temporary git repository with its own socket directory, the commands
//! that run `chatroom-shim` and `chatroomd` in it, and the daemon's life there (started, killed,
//! stopped; dropping a room stops it).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use protocol::paths::RoomPaths;
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::transport::TokioChildProcess;
use serde_json::Value;

use crate::{
    Agent, DEFAULT_TIMEOUT, RECORD_KEYS, daemon_bin, daemon_processes, log_filter, process_running,
    run_bounded, shim_bin, wait_for,
};

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
    /// the child: it must stop the daemon and reap it ([`wait_exit`](crate::wait_exit)).
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

/// Reads `path` to a string, empty if it does not exist.
pub fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
