//! `scripts/demo`: a real chatroom session, narrated. Two agents (each a real `chatroom-shim`
//! driven over stdio by rmcp's MCP client) meet in a fresh temporary git repository: the first
//! tool call starts `chatroomd`, they talk, read, hand off; then one agent is killed with SIGKILL
//! and the other sees it leave. Every step is checked; any surprise ends the demo with a non-zero
//! exit status.

#![allow(clippy::print_stdout)]

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chatroom_tests::{Agent, TestRoom, text_of, wait_for};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Rendered JSON lines stay within this width where they can.
const WIDTH: usize = 100;

/// Tool arguments in the order they are written: `args!(name = "claude", role = "implementer")`.
macro_rules! args {
    ($($key:ident = $value:expr),* $(,)?) => {
        vec![$((stringify!($key), serde_json::json!($value))),*]
    };
}

type Args = Vec<(&'static str, Value)>;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(demo()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// One participant of the transcript: a display name and its MCP client.
struct Actor {
    name: &'static str,
    agent: Agent,
}

impl Actor {
    /// Calls `tool`, prints `name → tool(args)` and its result, and returns the JSON value.
    /// A refusal is a failure of the demo.
    async fn ok(&self, tool: &str, args: Args) -> anyhow::Result<Value> {
        let (text, elapsed) = self.call(tool, args, false).await?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{tool}: result is not JSON: {text}"))?;
        let ordered: Json = serde_json::from_str(&text).expect("parsed once already");
        println!("  ← ({}) {}", format_duration(elapsed), render(&ordered, 2));
        Ok(value)
    }

    /// Calls `tool` expecting a refusal (`isError: true`) and returns its message.
    async fn refused(&self, tool: &str, args: Args) -> anyhow::Result<String> {
        let (message, elapsed) = self.call(tool, args, true).await?;
        println!("  ✗ refused ({}): {message}", format_duration(elapsed));
        Ok(message)
    }

    /// Prints the call, makes it, and returns the result's text and how long it took.
    async fn call(
        &self,
        tool: &str,
        args: Args,
        expect_error: bool,
    ) -> anyhow::Result<(String, Duration)> {
        let shown: Vec<String> = args
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        println!();
        println!("{} → {tool}({})", self.name, shown.join(", "));
        let arguments: Map<String, Value> = args
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        let start = Instant::now();
        let result = self
            .agent
            .call(tool, Value::Object(arguments))
            .await
            .with_context(|| format!("{} → {tool}", self.name))?;
        let elapsed = start.elapsed();
        let text = text_of(&result);
        match (result.is_error == Some(true), expect_error) {
            (true, false) => bail!("{} → {tool} was refused: {text}", self.name),
            (false, true) => bail!(
                "{} → {tool} should have been refused, got {text}",
                self.name
            ),
            _ => Ok((text, elapsed)),
        }
    }
}
async fn demo() -> anyhow::Result<()> {
    let room = TestRoom::new();
    let temp_dir = room
        .root
        .parent()
        .map(|dir| dir.to_path_buf())
        .unwrap_or_else(|| room.root.clone());
    heading("A fresh repository");
    println!("git repository: {}", room.root.display());
    println!("socket dir:     {}", room.runtime_dir.display());
    println!("binaries:       {}", chatroom_tests::bin_dir().display());
    show_status(&room, "before any agent")?;

    heading("Two agents start their MCP servers (chatroom-shim over stdio)");
    let claude = Actor {
        name: "claude",
        agent: room.agent_from(quiet_shim(&room)).await,
    };
    let codex = Actor {
        name: "codex",
        agent: room.agent_from(quiet_shim(&room)).await,
    };
    let tools = claude
        .agent
        .peer()
        .list_all_tools()
        .await
        .context("tools/list")?;
    let mut tool_names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    tool_names.sort_unstable();
    println!(
        "claude: shim pid {}, codex: shim pid {}",
        claude.agent.pid, codex.agent.pid
    );
    println!(
        "tools/list ({}): {}",
        tool_names.len(),
        tool_names.join(", ")
    );
    ensure!(
        tool_names.len() == 21,
        "expected the contract's 16 tools and our 5, got {}",
        tool_names.len()
    );
    ensure!(
        room.daemon_pid().is_none(),
        "no daemon should run before the first tool call"
    );
    println!("no daemon yet: a shim connects on its first tool call");

    heading("They join (the first call starts chatroomd)");
    let joined = claude
        .ok("join", args!(name = "claude", role = "implementer"))
        .await?;
    let daemon_pid = room
        .daemon_pid()
        .context("the first tool call should have started chatroomd")?;
    println!("  (chatroomd started, pid {daemon_pid})");
    ensure!(names_of(&joined) == ["claude"], "join result: {joined}");
    let joined = codex
        .ok("join", args!(name = "codex", role = "reviewer"))
        .await?;
    ensure!(
        names_of(&joined) == ["claude", "codex"],
        "join result: {joined}"
    );

    heading("Broadcast and direct messages");
    let plan = "Starting on the retry logic in src/net.rs; I will push a branch within the hour.";
    let sent = claude
        .ok("send_message", args!(name = "claude", content = plan))
        .await?;
    let broadcast_id = id_of(&sent)?;
    let ask = "Ping me when it is ready; I will review the backoff bounds first.";
    let sent = codex
        .ok(
            "send_message",
            args!(name = "codex", to = "claude", content = ask),
        )
        .await?;
    let ask_id = id_of(&sent)?;
    let ready =
        "Branch retry-backoff is up: jittered backoff capped at 30 s, tests in tests/retry.rs.";
    let sent = claude
        .ok(
            "send_message",
            args!(name = "claude", to = "codex", content = ready),
        )
        .await?;
    let ready_id = id_of(&sent)?;

    heading("Each reads what is unread for it (direct messages reach only their recipient)");
    let unread = codex.ok("read_unread", args!(name = "codex")).await?;
    ensure!(
        message_ids(&unread) == [broadcast_id, ready_id],
        "codex should see the broadcast and its DM: {unread}"
    );
    let unread = claude.ok("read_unread", args!(name = "claude")).await?;
    ensure!(
        message_ids(&unread) == [broadcast_id, ask_id],
        "claude should see the broadcast and its DM: {unread}"
    );
    let unread = codex.ok("read_unread", args!(name = "codex")).await?;
    ensure!(
        message_ids(&unread).is_empty(),
        "the cursor should have moved: {unread}"
    );

    heading("Review, handoff summary, get_handoff");
    let review = "Reviewed retry-backoff: approved, one nit (log the final attempt).";
    codex
        .ok("send_message", args!(name = "codex", content = review))
        .await?;
    let summary = "retry-backoff implemented and approved by codex; left: log the final attempt, merge after CI.";
    claude
        .ok("write_summary", args!(name = "claude", content = summary))
        .await?;
    let handoff = codex.ok("get_handoff", args!(name = "codex")).await?;
    ensure!(
        handoff["latest_summary"]["content"] == summary,
        "get_handoff should carry the summary: {handoff}"
    );
    ensure!(
        names_of(&handoff["participants"]) == ["claude", "codex"],
        "participants: {handoff}"
    );

    heading("codex waits for claude instead of polling; claude asks who has read its message");
    let (waited, asked) = tokio::join!(
        codex.ok("wait_for_messages", args!(name = "codex", timeout_s = 30)),
        async {
            // codex's shim answers another call while its wait is parked: then claude writes.
            codex.ok("get_status", args!()).await?;
            let nit = "Logged the final attempt; merging after CI.";
            let sent = claude
                .ok(
                    "send_message",
                    args!(name = "claude", to = "codex", content = nit),
                )
                .await?;
            id_of(&sent)
        }
    );
    let (waited, asked) = (waited?, asked?);
    ensure!(
        waited["timed_out"] == false && message_ids(&waited).last() == Some(&asked),
        "codex's wait should end with claude's message (read_unread's, so its own broadcast too): {waited}"
    );
    let receipts = claude
        .ok("read_receipts", args!(message_id = asked))
        .await?;
    ensure!(
        receipts["receipts"][0]["read"] == true,
        "codex has read it: {receipts}"
    );

    heading("A name belongs to one live session");
    let refusal = codex
        .refused("join", args!(name = "claude", role = "impostor"))
        .await?;
    ensure!(
        refusal.contains("already active in another session"),
        "unexpected refusal: {refusal}"
    );

    heading("Claims: who is editing what");
    claude
        .ok(
            "claim",
            args!(
                name = "claude",
                paths = ["src/store/**"],
                reason = "refactoring the store"
            ),
        )
        .await?;
    let claimed = codex
        .ok(
            "claim",
            args!(name = "codex", paths = ["src/store/db.rs", "README.md"]),
        )
        .await?;
    ensure!(
        claimed["conflicts"][0]["held_by"]["name"] == "claude"
            && claimed["granted"][0]["path"] == "README.md",
        "codex's src/store/db.rs is claude's, README.md is free: {claimed}"
    );

    show_status(&room, "two agents connected")?;

    heading("claude's shim is killed with SIGKILL");
    let Actor {
        agent: mut claude_agent,
        ..
    } = claude;
    let claude_pid = claude_agent.pid;
    println!("$ kill -9 {claude_pid}");
    claude_agent.kill();
    let noticed = wait_for(Duration::from_secs(5), || {
        !session_pids(&room.status()).contains(&u64::from(claude_pid))
    })
    .context("chatroomd did not notice the killed shim")?;
    drop(claude_agent);
    println!(
        "chatroomd dropped the session within {} (as seen by polling `chatroomd status`)",
        format_duration(noticed)
    );
    let status = show_status(&room, "after the kill")?;
    ensure!(
        !status.contains("claude") && {
            let json = room.status();
            json["daemon"]["sessions"]
                .as_array()
                .is_some_and(|sessions| {
                    sessions.len() == 1 && sessions[0]["names"] == serde_json::json!(["codex"])
                })
        },
        "claude should be gone:\n{status}"
    );

    heading("codex reads the system message");
    let unread = codex.ok("read_unread", args!(name = "codex")).await?;
    let left = unread["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .cloned()
        .unwrap_or_default();
    ensure!(
        left["from"] == "system" && left["content"] == "claude left the chatroom",
        "codex should read \"claude left the chatroom\": {unread}"
    );
    let participants = codex.ok("list_participants", args!()).await?;
    ensure!(
        names_of(&participants) == ["codex"],
        "only codex should remain: {participants}"
    );
    heading("claude's claims went with it");
    let claimed = codex
        .ok("claim", args!(name = "codex", paths = ["src/store/db.rs"]))
        .await?;
    ensure!(
        claimed["conflicts"] == serde_json::json!([]),
        "claude's claim should be gone with its session: {claimed}"
    );

    heading("Done: codex's client exits, the daemon is stopped");
    codex.agent.close().await;
    println!("$ chatroomd stop --root {}", room.root.display());
    let output = room.chatroomd(&["stop"]);
    print!("{}", String::from_utf8_lossy(&output.stdout));
    ensure!(
        output.status.success(),
        "chatroomd stop failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        room.daemon_pid().is_none(),
        "chatroomd still holds the room after stop"
    );
    drop(room);
    ensure!(!temp_dir.exists(), "{} was not removed", temp_dir.display());
    println!("removed {}", temp_dir.display());
    println!();
    println!("demo passed");
    Ok(())
}

/// A shim for `room` that keeps its own log to warnings (the daemon it starts still logs
/// `info` to its file).
fn quiet_shim(room: &TestRoom) -> tokio::process::Command {
    let mut command = room.shim_command();
    command.env("CHATROOM_LOG", "warn,chatroomd=info");
    command
}

/// Runs and prints `chatroomd status` (text), returning the text.
fn show_status(room: &TestRoom, when: &str) -> anyhow::Result<String> {
    println!();
    println!("$ chatroomd status   # {when}");
    let output = room.chatroomd(&["status"]);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    for line in text.lines() {
        println!("  {line}");
    }
    ensure!(
        output.status.success(),
        "chatroomd status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(text)
}

fn heading(title: &str) {
    println!();
    println!(
        "── {title} {}",
        "─".repeat(WIDTH.saturating_sub(title.chars().count() + 4))
    );
}

fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros < 10_000 {
        format!("{:.2} ms", micros as f64 / 1000.0)
    } else {
        format!("{} ms", micros / 1000)
    }
}

fn id_of(value: &Value) -> anyhow::Result<u64> {
    value["id"]
        .as_u64()
        .with_context(|| format!("no id in {value}"))
}

/// The names of a participant list.
fn names_of(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|entry| entry["name"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

fn message_ids(unread: &Value) -> Vec<u64> {
    unread["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|message| message["id"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// The client pids of the daemon's live sessions, from `chatroomd status --json`.
fn session_pids(status: &Value) -> Vec<u64> {
    status["daemon"]["sessions"]
        .as_array()
        .map(|sessions| {
            sessions
                .iter()
                .filter_map(|session| session["client_pid"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// JSON that keeps its members in the order the shim wrote them (serde_json's `Value` sorts
/// them), for display only.
enum Json {
    /// A scalar, as compact JSON text.
    Scalar(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Scalar(value.to_string()))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::Scalar(value.to_string()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Scalar(value.to_string()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        Ok(Json::Scalar(Value::from(value).to_string()))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::Scalar(Value::from(value).to_string()))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Scalar("null".to_owned()))
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Scalar("null".to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Json>()? {
            members.push(member);
        }
        Ok(Json::Object(members))
    }
}

/// `{"id": 1, "to": "all"}`: one line, spaced for reading.
fn one_line(json: &Json) -> String {
    match json {
        Json::Scalar(text) => text.clone(),
        Json::Array(items) => {
            let items: Vec<String> = items.iter().map(one_line).collect();
            format!("[{}]", items.join(", "))
        }
        Json::Object(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(key, value)| format!("{}: {}", Value::from(key.as_str()), one_line(value)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
    }
}

/// One line where it fits in [`WIDTH`], and always for a flat record (a message, a
/// participant); otherwise one member per line, recursively.
fn render(json: &Json, indent: usize) -> String {
    let line = one_line(json);
    let flat = match json {
        Json::Object(members) => members
            .iter()
            .all(|(_, value)| matches!(value, Json::Scalar(_))),
        _ => false,
    };
    if flat || indent + line.chars().count() <= WIDTH {
        return line;
    }
    let pad = " ".repeat(indent + 2);
    let close = " ".repeat(indent);
    match json {
        Json::Object(members) if !members.is_empty() => {
            let members: Vec<String> = members
                .iter()
                .map(|(key, value)| {
                    format!(
                        "{pad}{}: {}",
                        Value::from(key.as_str()),
                        render(value, indent + 2)
                    )
                })
                .collect();
            format!("{{\n{}\n{close}}}", members.join(",\n"))
        }
        Json::Array(items) if !items.is_empty() => {
            let items: Vec<String> = items
                .iter()
                .map(|item| format!("{pad}{}", render(item, indent + 2)))
                .collect();
            format!("[\n{}\n{close}]", items.join(",\n"))
        }
        _ => line,
    }
}
