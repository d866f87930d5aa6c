//! `chatroomd hook <client> <event>` end to end: each client's documented stdin (the fixtures in
//! `tests/fixtures/hooks/<client>/`, their doc URLs in each folder's `SOURCE.md`) piped into the
//! real binary, run as a client runs it (`sh -c …` whose parent stands in for the agent's CLI),
//! against a real daemon, the output parsed and held to the documented schema.
//!
//! Most tests link the agent the way a shim does — an agent session that joins its name and
//! sends `Link` with the client's session id — through `chatroom-client`, so that they hold the
//! hook and the daemon whatever the shim's state. The `shim_` tests use a real shim instead: the
//! one found by `CLAUDE_CODE_SESSION_ID` and the one found by ancestry.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chatroom_client::{Connection, Reach};
use chatroom_tests::{Agent, DEFAULT_TIMEOUT, TestRoom, daemon_bin, run_bounded, wait_exit};
use protocol::{ClientKind, Request, Response};
use serde_json::{Value, json};

const CLIENTS: [&str; 4] = ["claude-code", "codex", "gemini", "cursor"];

/// `tests/fixtures/hooks/<client>/<event>.json`, pointed at `root` and the session `id`.
fn stdin_of(client: &str, event: &str, root: &Path, id: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/hooks")
        .join(client)
        .join(format!("{event}.json"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    let mut stdin: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let object = stdin.as_object_mut().expect("an object");
    if client == "cursor" {
        object.insert("conversation_id".into(), json!(id));
        object.insert("workspace_roots".into(), json!([root]));
        if object.contains_key("session_id") {
            object.insert("session_id".into(), json!(id));
        }
        if object.contains_key("cwd") {
            object.insert("cwd".into(), json!(root));
        }
    } else {
        object.insert("session_id".into(), json!(id));
        object.insert("cwd".into(), json!(root));
    }
    stdin
}

/// `chatroomd hook ARGS` as a client runs a hook: `sh -c` with `stdin` on its stdin, the room's
/// socket directory in its environment and nothing else of the room's (the room comes from the
/// stdin's directory).
fn hook_command(room: &TestRoom, args: &[&str], stdin: &Value) -> Command {
    let file = tempfile::tempfile().expect("stdin file");
    std::io::Write::write_all(&mut &file, stdin.to_string().as_bytes()).expect("stdin");
    std::io::Seek::rewind(&mut &file).expect("rewind");
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("\"$0\" hook \"$@\"; exit $?")
        .arg(daemon_bin())
        .args(args)
        .current_dir(std::env::temp_dir())
        .env(protocol::paths::ENV_RUNTIME_DIR, &room.runtime_dir)
        .env_remove(protocol::paths::ENV_ROOT)
        .stdin(Stdio::from(file));
    command
}

pub(crate) fn hook(room: &TestRoom, args: &[&str], stdin: &Value) -> Output {
    run_bounded(hook_command(room, args, stdin), DEFAULT_TIMEOUT).expect("running the hook")
}

/// The hook's stdout as JSON, after asserting it exited 0 with nothing on stderr.
fn json_out(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {output:?}"))
}

/// The hook said nothing at all and exited 0.
fn assert_silent(output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(output.stdout.is_empty(), "stdout: {output:?}");
    assert!(output.stderr.is_empty(), "stderr: {output:?}");
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The context a client is given, checked against its documented shape: Claude Code
/// (https://code.claude.com/docs/en/hooks), Codex
/// (https://github.com/openai/codex/tree/main/codex-rs/hooks/schema/generated, every object
/// `additionalProperties: false`) and Gemini CLI (https://geminicli.com/docs/hooks/reference)
/// take `{"hookSpecificOutput": {"hookEventName", "additionalContext"}}`; Cursor
/// (https://cursor.com/docs/agent/hooks) `{"additional_context"}` at sessionStart/postToolUse.
fn context_of(client: &str, event_name: &str, output: &Output) -> String {
    let value = json_out(output);
    if client == "cursor" {
        assert_eq!(keys(&value), ["additional_context"], "{value}");
        return value["additional_context"].as_str().unwrap().to_owned();
    }
    assert_eq!(keys(&value), ["hookSpecificOutput"], "{value}");
    let specific = &value["hookSpecificOutput"];
    assert_eq!(
        keys(specific),
        ["hookEventName", "additionalContext"],
        "{value}"
    );
    assert_eq!(specific["hookEventName"], event_name, "{value}");
    specific["additionalContext"].as_str().unwrap().to_owned()
}

/// The documented hook event names of `chatroomd hook <client> <event>`.
fn event_name(client: &str, event: &str) -> &'static str {
    match (client, event) {
        ("claude-code" | "codex", "session-start") | ("gemini", "session-start") => "SessionStart",
        ("claude-code" | "codex", "prompt") => "UserPromptSubmit",
        ("claude-code" | "codex", "post-tool") => "PostToolUse",
        ("gemini", "prompt") => "BeforeAgent",
        ("gemini", "post-tool") => "AfterTool",
        ("cursor", "session-start") => "sessionStart",
        ("cursor", "post-tool") => "postToolUse",
        other => panic!("no context event {other:?}"),
    }
}

/// An agent session standing in for a shim: it joins `name` and links itself to the client's
/// session `id`, as the shim does with `CLAUDE_CODE_SESSION_ID` or Codex's turn metadata.
pub(crate) async fn linked(room: &TestRoom, name: &str, id: &str) -> Connection {
    linked_as(room, name, id, 0).await
}

/// [`linked`] with the pid of the agent's CLI, as the shim sends its parent's.
async fn linked_as(room: &TestRoom, name: &str, id: &str, agent_pid: u32) -> Connection {
    let Reach::Connected(connection) = Connection::reach(&room.paths(), ClientKind::Agent)
        .await
        .expect("reaching the daemon")
    else {
        panic!("no daemon for the linked session")
    };
    let join = Request::Join {
        name: name.into(),
        role: format!("{name}'s role"),
    };
    connection.request(join).await.expect("join");
    let link = Request::Link {
        client_session_id: id.into(),
        agent_pid,
    };
    assert!(matches!(
        connection.request(link).await.expect("link"),
        Response::Linked
    ));
    connection
}

/// A room with its daemon started by a shim that holds no name.
async fn started() -> (TestRoom, Agent) {
    let room = TestRoom::new();
    let starter = room.agent().await;
    starter.ok("list_participants", json!({})).await;
    (room, starter)
}

fn person_says(room: &TestRoom, to: &str, text: &str) -> u64 {
    let output = room.chatroomd(&["send", "--as", "carol", "--to", to, text]);
    assert!(output.status.success(), "{output:?}");
    newest_visible_to(room, to)
}

/// The id of the newest message visible to `name`, through `chatroomd tail`.
fn newest_visible_to(room: &TestRoom, name: &str) -> u64 {
    let output = room.chatroomd(&["tail", "--json", "-n", "1", "--participant", name]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().expect("a message");
    let message: Value = serde_json::from_str(line).expect("a JSON line");
    message["id"].as_u64().expect("an id")
}

async fn read_unread(connection: &Connection, name: &str) -> Vec<u64> {
    let request = Request::ReadUnread {
        name: name.into(),
        limit: 100,
        mark_read: false,
        topic_id: String::new(),
    };
    match connection.request(request).await.expect("read_unread") {
        Response::Unread(unread) => unread.messages.iter().map(|message| message.id).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn session_start_tells_each_client_who_it_is_and_who_is_here() {
    let (room, _starter) = started().await;
    let mut sessions = Vec::new();
    for client in CLIENTS {
        let name = format!("{}-agent", client.replace('-', ""));
        sessions.push(linked(&room, &name, &format!("sid-{client}")).await);
        person_says(&room, &name, "hello");
    }
    for client in CLIENTS {
        let name = format!("{}-agent", client.replace('-', ""));
        let stdin = stdin_of(
            client,
            "session-start",
            &room.root,
            &format!("sid-{client}"),
        );
        let output = hook(&room, &[client, "session-start"], &stdin);
        let text = context_of(client, event_name(client, "session-start"), &output);
        assert!(
            text.starts_with(&format!("chatroom: you are {name};")),
            "{text}"
        );
        assert!(text.contains(&format!("{name} ({name}'s role)")), "{text}");
        assert!(text.contains("latest summary: none"), "{text}");
        assert!(text.contains("1 message wait"), "{text}");
    }
    // Session start delivers nothing: the prompt hook still has the message.
    let stdin = stdin_of("codex", "prompt", &room.root, "sid-codex");
    let text = context_of(
        "codex",
        "UserPromptSubmit",
        &hook(&room, &["codex", "prompt"], &stdin),
    );
    assert!(text.contains("#"), "{text}");
}

#[tokio::test]
async fn prompt_and_post_tool_deliver_each_message_once_and_leave_it_unread() {
    let (room, _starter) = started().await;
    for client in CLIENTS {
        let name = format!("{}-agent", client.replace('-', ""));
        let id = format!("sid-{client}");
        let session = linked(&room, &name, &id).await;
        let first = person_says(&room, &name, "first\nof two");
        let second = person_says(&room, &name, "second");
        let (prompt, post_tool) = (
            stdin_of(client, "prompt", &room.root, &id),
            stdin_of(client, "post-tool", &room.root, &id),
        );
        let delivering = if client == "cursor" {
            // Cursor's beforeSubmitPrompt cannot add context: it says nothing and delivers
            // nothing, and postToolUse brings the messages.
            assert_silent(&hook(&room, &[client, "prompt"], &prompt));
            hook(&room, &[client, "post-tool"], &post_tool)
        } else {
            hook(&room, &[client, "prompt"], &prompt)
        };
        let event = if client == "cursor" {
            "post-tool"
        } else {
            "prompt"
        };
        let text = context_of(client, event_name(client, event), &delivering);
        assert!(
            text.starts_with(&format!(
                "chatroom: 2 new messages for {name} (delivered, still unread: call \
                 read_unread(name=\"{name}\") to mark them read):"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("\n#{first} carol (person) → {name}: first of two")),
            "{text}"
        );
        assert!(text.contains(&format!("\n#{second} carol (person) → {name}: second")));
        // Delivered once: neither hook shows them again.
        assert_silent(&hook(&room, &[client, "prompt"], &prompt));
        assert_silent(&hook(&room, &[client, "post-tool"], &post_tool));
        // Delivered is not read.
        let still_unread = read_unread(&session, &name).await;
        assert!(
            still_unread.contains(&first) && still_unread.contains(&second),
            "{still_unread:?}"
        );
        // A new one is delivered alone.
        let third = person_says(&room, &name, "third");
        let text = context_of(
            client,
            event_name(client, "post-tool"),
            &hook(&room, &[client, "post-tool"], &post_tool),
        );
        assert!(
            text.starts_with(&format!("chatroom: 1 new message for {name}")),
            "{text}"
        );
        assert!(text.contains(&format!("#{third} ")) && !text.contains(&format!("#{first} ")));
    }
}

/// The stop hook keeps an agent going once per batch of messages, and never from a stop that a
/// stop hook already caused: Claude Code, Codex (`{"decision": "block", "reason"}`,
/// https://code.claude.com/docs/en/hooks, codex-rs/hooks/schema/generated/stop.command.output),
/// Gemini (`{"decision": "deny", "reason"}` at AfterAgent, https://geminicli.com/docs/hooks/reference),
/// Cursor (`{"followup_message"}`, bounded by `loop_count`, https://cursor.com/docs/agent/hooks).
#[tokio::test]
async fn stop_keeps_the_agent_going_once_and_never_from_a_continuation() {
    let (room, _starter) = started().await;
    for client in CLIENTS {
        let name = format!("{}-agent", client.replace('-', ""));
        let id = format!("sid-{client}");
        let _session = linked(&room, &name, &id).await;
        let stop = stdin_of(client, "stop", &room.root, &id);
        assert_silent(&hook(&room, &[client, "stop"], &stop));
        let message = person_says(&room, &name, "please also update the docs");
        let mut continued = stop.clone();
        if client == "cursor" {
            continued["loop_count"] = json!(3);
        } else {
            continued["stop_hook_active"] = json!(true);
        }
        assert_silent(&hook(&room, &[client, "stop"], &continued));
        let value = json_out(&hook(&room, &[client, "stop"], &stop));
        let reason = match client {
            "cursor" => {
                assert_eq!(keys(&value), ["followup_message"], "{value}");
                value["followup_message"].as_str().unwrap().to_owned()
            }
            _ => {
                assert_eq!(keys(&value), ["decision", "reason"], "{value}");
                let decision = if client == "gemini" { "deny" } else { "block" };
                assert_eq!(value["decision"], decision);
                value["reason"].as_str().unwrap().to_owned()
            }
        };
        assert!(
            reason.contains(&format!("#{message} carol (person) → {name}: please also")),
            "{reason}"
        );
        // The same messages never keep it going twice.
        assert_silent(&hook(&room, &[client, "stop"], &stop));
    }
}

#[tokio::test]
async fn the_wake_hook_exits_2_at_a_message_and_not_for_the_agents_own() {
    let (room, _starter) = started().await;
    let alice = linked(&room, "alice", "sid-wake").await;
    let stdin = stdin_of("claude-code", "stop", &room.root, "sid-wake");
    // Its own message wakes nothing: the wait runs out and the hook exits 0, silent.
    let mut own = hook_command(&room, &["claude-code", "wake", "--wait-s", "1"], &stdin);
    own.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut waiting = own.spawn().expect("wake hook");
    let send = Request::SendMessage {
        name: "alice".into(),
        content: "note to all".into(),
        to: "all".into(),
        topic_id: String::new(),
    };
    alice.request(send).await.expect("send");
    let status = wait_exit(&mut waiting, DEFAULT_TIMEOUT).expect("the wake hook exits");
    assert_eq!(status.code(), Some(0));
    assert_eq!(output_of(&mut waiting), (String::new(), String::new()));

    // Another's message wakes it at once.
    let mut wake = Command::new(daemon_bin());
    wake.args(["hook", "claude-code", "wake", "--wait-s", "30"])
        .current_dir(std::env::temp_dir())
        .env(protocol::paths::ENV_RUNTIME_DIR, &room.runtime_dir)
        .env_remove(protocol::paths::ENV_ROOT);
    let mut wake = hook_direct(wake, &stdin);
    let pid = wake.id();
    // Parked once its connection is open (a message before that is answered at once anyway).
    chatroom_tests::wait_for(DEFAULT_TIMEOUT, || has_socket(pid)).expect("the hook connects");
    let bob = linked(&room, "bob", "sid-bob").await;
    let send = Request::SendMessage {
        name: "bob".into(),
        content: "review my branch".into(),
        to: "alice".into(),
        topic_id: String::new(),
    };
    let Response::Id(id) = bob.request(send).await.expect("send") else {
        panic!("no id")
    };
    let sent = Instant::now();
    let status = wait_exit(&mut wake, DEFAULT_TIMEOUT).expect("wake exits");
    let woke_after = sent.elapsed();
    assert_eq!(status.code(), Some(2));
    let (stdout, stderr) = output_of(&mut wake);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!("#{id} bob → alice: review my branch")),
        "{stderr}"
    );
    assert!(
        woke_after < Duration::from_millis(100),
        "woke after {woke_after:?}"
    );
    // Delivered by the wake: the next prompt has nothing new.
    let prompt = stdin_of("claude-code", "prompt", &room.root, "sid-wake");
    assert_silent(&hook(&room, &["claude-code", "prompt"], &prompt));
}

/// The stdout and stderr of an exited child.
fn output_of(child: &mut std::process::Child) -> (String, String) {
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (stdout, stderr)
}

fn hook_direct(mut command: Command, stdin: &Value) -> std::process::Child {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the hook");
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.to_string().as_bytes()).unwrap();
    drop(input);
    child
}

/// Whether process `pid` holds a socket open (Linux).
fn has_socket(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
    })
}

#[test]
fn without_a_daemon_a_hook_is_silent_starts_none_and_logs_why() {
    let room = TestRoom::new();
    std::fs::create_dir(room.state_dir()).unwrap();
    for client in CLIENTS {
        let stdin = stdin_of(client, "session-start", &room.root, "sid");
        assert_silent(&hook(&room, &[client, "session-start"], &stdin));
    }
    // Bad stdin names no directory: the log is the room of the directory the hook runs in, as
    // clients run hooks in the project.
    let mut bad = hook_command(&room, &["codex", "prompt"], &json!({"session_id": 7}));
    bad.current_dir(&room.root);
    assert_silent(&run_bounded(bad, DEFAULT_TIMEOUT).unwrap());
    assert_eq!(room.daemon_pid(), None);
    assert!(!room.paths().socket.exists());
    let log = std::fs::read_to_string(room.state_dir().join("hooks.log")).expect("hooks.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 5, "{log}");
    for (line, client) in lines.iter().zip(CLIENTS) {
        assert!(
            line.contains(&format!(" {client} session-start: no daemon runs for ")),
            "{line}"
        );
        assert!(
            chatroom_tests::is_timestamp(line.split(' ').next().unwrap()),
            "{line}"
        );
    }
    assert!(
        lines[4].contains(" codex prompt: bad stdin"),
        "{}",
        lines[4]
    );
}

#[test]
fn without_a_room_a_hook_is_silent_and_creates_nothing() {
    let room = TestRoom::new();
    let stdin = stdin_of("claude-code", "prompt", &room.root, "sid");
    assert_silent(&hook(&room, &["claude-code", "prompt"], &stdin));
    // Not even valid JSON: still silent.
    let mut garbage = hook_command(&room, &["gemini", "stop"], &json!(null));
    garbage.stdin(Stdio::null());
    assert_silent(&run_bounded(garbage, DEFAULT_TIMEOUT).unwrap());
    assert!(!room.state_dir().exists());
    assert_eq!(room.daemon_pid(), None);
}

/// With no session id in common, the hook's ancestry finds the agent whose CLI (this test
/// process, the parent of the hook's `sh -c`) linked it; the daemon is started bare so that no
/// other session claims the same CLI.
#[tokio::test]
async fn ancestry_finds_the_agent_of_the_hooks_cli() {
    let room = TestRoom::new();
    let mut daemon = room.spawn_daemon(&[]);
    {
        let _session = linked_as(&room, "codex-agent", "", std::process::id()).await;
        let id = person_says(&room, "codex-agent", "found you");
        let stdin = stdin_of("codex", "prompt", &room.root, "never-linked");
        let text = context_of(
            "codex",
            "UserPromptSubmit",
            &hook(&room, &["codex", "prompt"], &stdin),
        );
        assert!(
            text.contains(&format!("#{id} carol (person) → codex-agent")),
            "{text}"
        );
    }
    room.stop_daemon();
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).expect("the daemon exits");
}

/// A real shim launched with `CLAUDE_CODE_SESSION_ID` (as Claude Code launches it) is the agent
/// of the Claude hooks whose stdin carries that `session_id`.
#[tokio::test]
async fn shim_found_by_the_claude_session_id() {
    let room = TestRoom::new();
    let other = room.agent().await;
    other.ok("join", json!({"name": "other"})).await;
    let agent = room
        .agent_with_env("CLAUDE_CODE_SESSION_ID", "claude-sid-1")
        .await;
    agent.ok("join", json!({"name": "alice"})).await;
    let id = person_says(&room, "alice", "hi alice");
    let stdin = stdin_of("claude-code", "prompt", &room.root, "claude-sid-1");
    let text = context_of(
        "claude-code",
        "UserPromptSubmit",
        &hook(&room, &["claude-code", "prompt"], &stdin),
    );
    assert!(
        text.contains(&format!("#{id} carol (person) → alice: hi alice")),
        "{text}"
    );
    assert!(!text.contains("other"), "{text}");
}

/// A real shim is the agent of a hook run by the same parent (the stand-in for the agent's CLI
/// is this test process: it launched the shim, and the hook runs under `sh -c` below it), even
/// when no session id links them.
#[tokio::test]
async fn shim_found_by_ancestry() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "gem"})).await;
    let id = person_says(&room, "gem", "hi gem");
    let stdin = stdin_of("gemini", "prompt", &room.root, "an-id-nobody-linked");
    let text = context_of(
        "gemini",
        "BeforeAgent",
        &hook(&room, &["gemini", "prompt"], &stdin),
    );
    assert!(
        text.contains(&format!("#{id} carol (person) → gem: hi gem")),
        "{text}"
    );
}
