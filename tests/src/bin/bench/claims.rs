//! Claims in a room holding 1,000 live claims (900 files, 100 globs, held by another agent):
//! `claim` and `list_claims` through a real shim against the same requests on the raw socket,
//! the daemon's check of an edit on the raw socket, and a `chatroomd hook claude-code pre-tool`
//! process, spawn to exit, allowing an edit and denying one, against the floor of spawning
//! `chatroomd --version` in the same run.

use std::io::Write as _;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chatroom_tests::{TestRoom, daemon_bin};
use protocol::{HookLink, Request, Response};
use serde_json::json;

use crate::calls::{bounded, call_json, quiet_shim};
use crate::hooks::{run_hook, session, spawn_times};
use crate::options::Options;
use crate::report::Report;
use crate::stats::round3;

const LIVE_CLAIMS: usize = 1000;
const SESSION_ID: &str = "bench-claims-session";

pub(crate) async fn claims(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    let calls = options.calls.min(1000);
    let runs = options.spawns;
    report.section(&format!(
        "9. claims, {LIVE_CLAIMS} live claims held by another agent ({calls} calls, {runs} hook runs)"
    ));
    let room = TestRoom::new();
    let agent = room.agent_from(quiet_shim(&room)).await;
    call_json(agent.peer(), "join", &json!({"name": "alice"})).await?;
    // The other agent's session holds the claims; ours is linked for the hook.
    let holder = session(&room, "bob", "bench-holder").await?;
    for batch in 0..LIVE_CLAIMS / 100 {
        let paths = (0..100)
            .map(|n| match n {
                0..90 => format!("src/mod{batch}/file{n}.rs"),
                _ => format!("docs/part{batch}/sub{n}/**"),
            })
            .collect();
        let claim = Request::Claim {
            name: "bob".into(),
            paths,
            exclusive: true,
            reason: "bench".into(),
            ttl_s: 0,
            restore: None,
        };
        match bounded("claim", holder.request(claim)).await? {
            Response::Claimed(claimed) if claimed.conflicts.is_empty() => {}
            other => bail!("the holder's claims were not granted: {other:?}"),
        }
    }
    let raw = session(&room, "carol", SESSION_ID).await?;

    // `claim` of a fresh file each time (then released, untimed), through the shim and raw.
    let mut shim_claim = Vec::with_capacity(calls);
    let mut raw_claim = Vec::with_capacity(calls);
    for n in 0..options.warmup + calls {
        let path = format!("lib/free{n}.rs");
        let start = Instant::now();
        let granted = call_json(
            agent.peer(),
            "claim",
            &json!({"name": "alice", "paths": [path], "reason": "bench"}),
        )
        .await?;
        let took = start.elapsed();
        ensure!(granted["conflicts"] == json!([]), "{granted}");
        call_json(agent.peer(), "release", &json!({"name": "alice"})).await?;
        let claim = Request::Claim {
            name: "carol".into(),
            paths: vec![format!("lib/raw{n}.rs")],
            exclusive: true,
            reason: "bench".into(),
            ttl_s: 0,
            restore: None,
        };
        let start = Instant::now();
        bounded("claim", raw.request(claim)).await?;
        let raw_took = start.elapsed();
        let release = Request::Release {
            name: "carol".into(),
            paths: vec![],
        };
        bounded("release", raw.request(release)).await?;
        if n >= options.warmup {
            shim_claim.push(took);
            raw_claim.push(raw_took);
        }
    }
    let floor = report.latency(
        "claims_raw_claim",
        "floor: Claim on the raw socket",
        &raw_claim,
        "",
    );
    let shim = report.latency(
        "claims_claim",
        "claim through the shim",
        &shim_claim,
        "a fresh file, checked against 1,000",
    );
    report.extra(
        "added_us_over_raw",
        json!((shim.p50.as_secs_f64() - floor.p50.as_secs_f64()) * 1e6),
    );

    // The daemon's check of one edit, on the raw socket: what a hook waits for.
    let check = Request::CheckClaims {
        hook: HookLink {
            session_id: SESSION_ID.into(),
            ancestors: vec![],
        },
        as_names: vec![],
        paths: vec!["src/mod5/file7.rs".into()],
    };
    let mut checks = Vec::with_capacity(calls);
    for n in 0..options.warmup + calls {
        let start = Instant::now();
        let reply = bounded("check", raw.request(check.clone())).await?;
        let took = start.elapsed();
        ensure!(
            matches!(&reply, Response::ClaimCheck(found) if found.blocked.len() == 1),
            "{reply:?}"
        );
        if n >= options.warmup {
            checks.push(took);
        }
    }
    report.latency(
        "claims_check_raw",
        "CheckClaims of one file on the raw socket",
        &checks,
        "claimed by bob: blocked",
    );

    // The pre-tool hook: a process per edit, as the client runs it.
    let floor_version = spawn_times(runs, || {
        let mut command = Command::new(daemon_bin());
        command.arg("--version");
        command
    })?;
    let allowed = stdin_file(&room, "lib/unclaimed.rs")?;
    let denied = stdin_file(&room, "src/mod5/file7.rs")?;
    let mut allow_times = Vec::with_capacity(runs);
    let mut deny_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (took, stdout) = run_hook(&room, "pre-tool", &allowed)?;
        ensure!(stdout.is_empty(), "an unclaimed file, yet: {stdout}");
        allow_times.push(took);
        let (took, stdout) = run_hook(&room, "pre-tool", &denied)?;
        ensure!(
            stdout.contains("\"permissionDecision\":\"deny\"") && stdout.contains("claimed by bob"),
            "a claimed file, yet: {stdout:?}"
        );
        deny_times.push(took);
    }
    let floor = report.latency(
        "claims_floor_version",
        "floor: spawn chatroomd --version → exit",
        &floor_version,
        "",
    );
    let allow = report.latency(
        "claims_hook_allow",
        "hook claude-code pre-tool, edit allowed",
        &allow_times,
        "prints nothing",
    );
    let deny = report.latency(
        "claims_hook_deny",
        "hook claude-code pre-tool, edit denied",
        &deny_times,
        "permissionDecision deny",
    );
    let ratio_allow = allow.p50.as_secs_f64() / floor.p50.as_secs_f64();
    let ratio_deny = deny.p50.as_secs_f64() / floor.p50.as_secs_f64();
    report.figure(
        "claims_hook_ratio",
        "pre-tool hook p50 ÷ chatroomd --version p50 (allow / deny)",
        &format!("{ratio_allow:.2} / {ratio_deny:.2}"),
        "the room's part of an edit",
        json!({"allow": round3(ratio_allow), "deny": round3(ratio_deny)}),
    );
    drop(raw);
    drop(holder);
    agent.close().await;
    Ok(())
}

/// Claude Code's `PreToolUse` stdin of an `Edit` of `file` by carol's session.
fn stdin_file(room: &TestRoom, file: &str) -> anyhow::Result<std::fs::File> {
    let stdin = json!({
        "session_id": SESSION_ID,
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": room.root,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Edit",
        "tool_input": {
            "file_path": room.root.join(file),
            "old_string": "a",
            "new_string": "b",
        },
    });
    let mut stdin_file = tempfile::tempfile().context("stdin file")?;
    stdin_file.write_all(stdin.to_string().as_bytes())?;
    Ok(stdin_file)
}
