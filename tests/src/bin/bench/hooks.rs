//! The hook adapters' cost: one `chatroomd hook claude-code prompt` process, spawn to exit, with
//! nothing to deliver and with 10 messages waiting, against the floor of spawning the same
//! binary for `--version` (and `/bin/true`) in the same run. A client runs a hook at every
//! prompt and tool call, so this is what the room adds to each.

use std::io::{Seek as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chatroom_client::{Connection, Reach};
use chatroom_tests::{TestRoom, daemon_bin};
use protocol::{ClientKind, Request, Response};
use serde_json::json;

use crate::calls::{bounded, quiet_shim};
use crate::options::Options;
use crate::report::Report;
use crate::stats::round3;

const SESSION_ID: &str = "bench-session";
const WAITING: usize = 10;

pub(crate) async fn hooks(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    let runs = options.spawns;
    report.section(&format!(
        "7. hooks: `chatroomd hook claude-code prompt`, spawn → exit ({runs} runs each)"
    ));
    let room = TestRoom::new();
    // A shim starts the daemon; two agent sessions stand in for the linked agent and a peer.
    let starter = room.agent_from(quiet_shim(&room)).await;
    crate::calls::call_tool(starter.peer(), "get_status", &json!({})).await?;
    let agent = session(&room, "alice", SESSION_ID).await?;
    let peer = session(&room, "bob", "bench-peer").await?;

    let stdin = stdin_file(&room)?;
    let floor_true = spawn_times(runs, || Command::new("/bin/true"))?;
    let floor_version = spawn_times(runs, || {
        let mut command = Command::new(daemon_bin());
        command.arg("--version");
        command
    })?;
    let mut nothing = Vec::with_capacity(runs);
    let mut waiting = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (took, stdout) = run_hook(&room, "prompt", &stdin)?;
        ensure!(
            stdout.is_empty(),
            "nothing to deliver, yet the hook printed {stdout}"
        );
        nothing.push(took);
        for n in 0..WAITING {
            let send = Request::SendMessage {
                name: "bob".into(),
                content: format!("{} ({n})", crate::CONTENT),
                to: "alice".into(),
                topic_id: String::new(),
            };
            bounded("send_message", peer.request(send)).await?;
        }
        let (took, stdout) = run_hook(&room, "prompt", &stdin)?;
        ensure!(
            stdout.contains(&format!("{WAITING} new messages for alice")),
            "10 messages waiting, yet the hook printed {stdout:?}"
        );
        waiting.push(took);
    }
    drop(agent);
    starter.close().await;

    report.latency(
        "hook_floor_true",
        "floor: spawn /bin/true → exit",
        &floor_true,
        "",
    );
    let floor = report.latency(
        "hook_floor_version",
        "floor: spawn chatroomd --version → exit",
        &floor_version,
        "",
    );
    let idle = report.latency(
        "hook_prompt_nothing",
        "hook prompt, nothing to deliver",
        &nothing,
        "prints nothing",
    );
    let ratio = idle.p50.as_secs_f64() / floor.p50.as_secs_f64();
    report.extra("p50_over_version_floor", json!(round3(ratio)));
    let busy = report.latency(
        "hook_prompt_ten_waiting",
        "hook prompt, 10 messages waiting",
        &waiting,
        "digest of 10, marked delivered",
    );
    let ratio_busy = busy.p50.as_secs_f64() / floor.p50.as_secs_f64();
    report.extra("p50_over_version_floor", json!(round3(ratio_busy)));
    report.figure(
        "hook_ratio",
        "hook p50 ÷ chatroomd --version p50 (nothing / 10 waiting)",
        &format!("{ratio:.2} / {ratio_busy:.2}"),
        "the room's part of a hook",
        json!({"nothing": round3(ratio), "ten_waiting": round3(ratio_busy)}),
    );
    Ok(())
}

/// An agent session that joins `name` and links itself to the client session `id`, as a shim
/// does.
pub(crate) async fn session(room: &TestRoom, name: &str, id: &str) -> anyhow::Result<Connection> {
    let Reach::Connected(connection) = Connection::reach(&room.paths(), ClientKind::Agent).await?
    else {
        bail!("no daemon for the hook bench")
    };
    let join = Request::Join {
        name: name.into(),
        role: "bench".into(),
    };
    bounded("join", connection.request(join)).await?;
    let link = Request::Link {
        client_session_id: id.into(),
        agent_pid: 0,
    };
    match bounded("link", connection.request(link)).await? {
        Response::Linked => Ok(connection),
        other => bail!("link answered {other:?}"),
    }
}

/// Claude Code's `UserPromptSubmit` stdin for the linked session, in a file every run rereads.
fn stdin_file(room: &TestRoom) -> anyhow::Result<std::fs::File> {
    let stdin = json!({
        "session_id": SESSION_ID,
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": room.root,
        "permission_mode": "default",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "go on",
    });
    let mut file = tempfile::tempfile().context("stdin file")?;
    file.write_all(stdin.to_string().as_bytes())?;
    Ok(file)
}

/// One `chatroomd hook claude-code <event>` run: how long from spawn to exit, and its stdout.
pub(crate) fn run_hook(
    room: &TestRoom,
    event: &str,
    stdin: &std::fs::File,
) -> anyhow::Result<(Duration, String)> {
    let mut stdin = stdin.try_clone()?;
    stdin.rewind()?;
    let mut command = Command::new(daemon_bin());
    command
        .args(["hook", "claude-code", event])
        .current_dir(&room.root)
        .env(protocol::paths::ENV_RUNTIME_DIR, &room.runtime_dir)
        .env_remove(protocol::paths::ENV_ROOT)
        .stdin(Stdio::from(stdin))
        .stderr(Stdio::null());
    let start = Instant::now();
    let output = command.output().context("running chatroomd hook")?;
    let took = start.elapsed();
    ensure!(
        output.status.success(),
        "chatroomd hook exited {}",
        output.status
    );
    Ok((took, String::from_utf8_lossy(&output.stdout).into_owned()))
}

pub(crate) fn spawn_times(
    runs: usize,
    command: impl Fn() -> Command,
) -> anyhow::Result<Vec<Duration>> {
    (0..runs)
        .map(|_| {
            let mut command = command();
            command.stdout(Stdio::null()).stderr(Stdio::null());
            let start = Instant::now();
            let status = command.status().context("spawning a floor")?;
            ensure!(status.success(), "floor exited {status}");
            Ok(start.elapsed())
        })
        .collect()
}
