//! Sections 1 and 2: the shim's cold start, and each tool's latency next to its floors.

use std::time::Instant;

use anyhow::{Context, ensure};
use chatroom_tests::TestRoom;
use protocol::{ClientKind, Request};
use serde_json::json;

use crate::CONTENT;
use crate::calls::{bounded, call_json, call_tool, quiet_shim, time_tool};
use crate::floors::{RawClient, TRIVIAL_SERVER_FLAG, trivial_in_process};
use crate::options::Options;
use crate::report::Report;
use crate::stats::{CpuSnapshot, Stats, ms, round_ms, round3};
use crate::syncs::count_syncs;

// ---------------------------------------------------------------------------------------------
// 1. Shim cold start

/// The tools `tools/list` shows (as `e2e tools::` lists them).
const TOOLS: usize = 21;

pub(crate) async fn shim_start(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    report.section(&format!(
        "1. shim cold start (no daemon involved; {} spawns)",
        options.spawns
    ));
    let room = TestRoom::new();
    let mut initialized = Vec::with_capacity(options.spawns);
    let mut listed = Vec::with_capacity(options.spawns);
    for _ in 0..options.spawns {
        let start = Instant::now();
        let agent = room.agent_from(quiet_shim(&room)).await;
        initialized.push(start.elapsed());
        let tools = bounded("tools/list", agent.peer().list_tools(None)).await?;
        listed.push(start.elapsed());
        ensure!(
            tools.tools.len() == TOOLS,
            "expected {TOOLS} tools, got {}",
            tools.tools.len()
        );
        agent.close().await;
    }
    ensure!(
        room.daemon_pid().is_none(),
        "initialize and tools/list must not start chatroomd"
    );
    report.latency(
        "shim_spawn_initialize",
        "spawn → initialize answered",
        &initialized,
        "",
    );
    report.latency(
        "shim_spawn_tools_list",
        "spawn → initialize → tools/list answered",
        &listed,
        &format!("{TOOLS} tools"),
    );
    drop(room);

    let mut totals = Vec::with_capacity(options.cold_runs);
    let mut first_calls = Vec::with_capacity(options.cold_runs);
    for _ in 0..options.cold_runs {
        let room = TestRoom::new();
        let start = Instant::now();
        let agent = room.agent_from(quiet_shim(&room)).await;
        let call_start = Instant::now();
        call_tool(agent.peer(), "get_status", &json!({})).await?;
        first_calls.push(call_start.elapsed());
        totals.push(start.elapsed());
        ensure!(
            room.daemon_pid().is_some(),
            "the first tool call should have started chatroomd"
        );
        agent.close().await;
    }
    report.latency(
        "cold_daemon_spawn_to_first_call",
        "fresh repo: spawn → initialize → first get_status",
        &totals,
        "auto-starts chatroomd",
    );
    report.latency(
        "cold_daemon_first_call",
        "  of which the first get_status (daemon start)",
        &first_calls,
        "",
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Per-tool latency, and the floors

pub(crate) async fn tool_latency(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    let calls = options.calls;
    report.section(&format!(
        "2. tool latency, one agent, {calls} calls each after {} warm-up (content ≈ {} bytes)",
        options.warmup,
        CONTENT.len()
    ));
    let room = TestRoom::new();
    let agent = room.agent_from(quiet_shim(&room)).await;
    let peer = agent.peer();
    call_tool(peer, "join", &json!({"name": "bench", "role": "benchmark"})).await?;

    let daemon = room.daemon_pid().context("no daemon")?;
    let shim = [agent.pid];
    let send_args = json!({"name": "bench", "content": CONTENT});
    time_tool(peer, "send_message", &send_args, options.warmup).await?;
    let cpu = CpuSnapshot::take(daemon, &shim);
    let send = time_tool(peer, "send_message", &send_args, calls).await?;
    let send_cpu = CpuSnapshot::take(daemon, &shim).since(&cpu);
    // One agent sending serially waits for each acknowledgement, so each of its sends is a batch
    // of its own: syncs per send here are syncs per batch.
    let serial_sends = calls.min(200);
    let serial_syncs = count_syncs(daemon, async {
        time_tool(peer, "send_message", &send_args, serial_sends).await?;
        Ok(serial_sends)
    })
    .await?;

    // The cursor sits five messages before the end and read_unread does not move it, so every
    // call does the same work and returns the same five messages.
    let latest = call_json(peer, "get_status", &json!({})).await?["message_count"]
        .as_u64()
        .context("message_count")?;
    call_tool(
        peer,
        "set_cursor",
        &json!({"name": "bench", "message_id": latest - 5}),
    )
    .await?;
    let read_args = json!({"name": "bench", "mark_read": false});
    let returned = call_json(peer, "read_unread", &read_args).await?["messages"]
        .as_array()
        .map_or(0, Vec::len);
    ensure!(
        returned == 5,
        "read_unread should return 5 messages, got {returned}"
    );
    time_tool(peer, "read_unread", &read_args, options.warmup).await?;
    let cpu = CpuSnapshot::take(daemon, &shim);
    let read = time_tool(peer, "read_unread", &read_args, calls).await?;
    let read_cpu = CpuSnapshot::take(daemon, &shim).since(&cpu);

    let handoff_args = json!({"name": "bench"});
    time_tool(peer, "get_handoff", &handoff_args, options.warmup).await?;
    let cpu = CpuSnapshot::take(daemon, &shim);
    let handoff = time_tool(peer, "get_handoff", &handoff_args, calls).await?;
    let handoff_cpu = CpuSnapshot::take(daemon, &shim).since(&cpu);
    let cpu = CpuSnapshot::take(daemon, &shim);
    let status = time_tool(peer, "get_status", &json!({}), calls).await?;
    let status_cpu = CpuSnapshot::take(daemon, &shim).since(&cpu);

    // The same requests over the raw socket protocol: what the daemon itself costs.
    let mut raw = RawClient::connect(&room.paths().socket, ClientKind::Agent).await?;
    let raw_requests = [
        Request::SendMessage {
            topic_id: String::new(),
            name: "raw".into(),
            content: CONTENT.into(),
            to: "all".into(),
        },
        Request::ReadUnread {
            topic_id: String::new(),
            name: "bench".into(),
            limit: 50,
            mark_read: false,
        },
        Request::GetHandoff {
            topic_id: String::new(),
            name: "bench".into(),
            recent_limit: 10,
        },
        Request::GetStatus,
    ];
    raw.time(&Request::GetStatus, options.warmup).await?;
    // The sends go last: they would add unread messages for the reads.
    let mut raw_series = Vec::new();
    for request in raw_requests.iter().rev() {
        let cpu = CpuSnapshot::take(daemon, &[]);
        let times = raw.time(request, calls).await?;
        raw_series.push((times, CpuSnapshot::take(daemon, &[]).since(&cpu)));
    }
    raw_series.reverse();

    let mcp_series = [
        ("send_message", "durable", send, send_cpu),
        ("read_unread", "5 messages", read, read_cpu),
        ("get_handoff", "10 recent", handoff, handoff_cpu),
        ("get_status", "", status, status_cpu),
    ];
    let per_call = |seconds: f64| seconds * 1e6 / calls as f64;
    let mut per_tool = Vec::with_capacity(mcp_series.len());
    for ((tool, what, mcp, mcp_cpu), (raw, raw_cpu)) in mcp_series.into_iter().zip(&raw_series) {
        let (mcp_p50, raw_p50) = (Stats::of(&mcp).p50, Stats::of(raw).p50);
        let added = mcp_p50.saturating_sub(raw_p50);
        let note = format!(
            "{what}{}+{} over raw; CPU/call µs: shim {:.0}, daemon {:.0}, client {:.0}",
            if what.is_empty() { "" } else { "; " },
            ms(added),
            per_call(mcp_cpu.shims),
            per_call(mcp_cpu.daemon),
            per_call(mcp_cpu.this_process),
        );
        report.latency(
            &format!("mcp_{tool}"),
            &format!("{tool} through shim + daemon"),
            &mcp,
            &note,
        );
        report.extra("added_over_raw_p50_ms", json!(round_ms(added)));
        report.extra("added_over_raw_p50_us", json!(added.as_micros() as u64));
        if tool == "send_message" {
            let ratio = mcp_p50.as_secs_f64() / report.fdatasync_p50.as_secs_f64();
            report.extra("ratio_to_fdatasync_p50", json!(round3(ratio)));
            report.extra("syncs_per_batch", serial_syncs.to_json());
            report.send_ratio = Some((mcp_p50, ratio));
            report.syncs_per_batch = Some(serial_syncs.clone());
        }
        per_tool.push((tool, mcp_p50, raw_p50, added, mcp_cpu));
        report.extra(
            "cpu_us_per_call",
            json!({
                "shim": per_call(mcp_cpu.shims).round(),
                "daemon": per_call(mcp_cpu.daemon).round(),
                "client": per_call(mcp_cpu.this_process).round(),
            }),
        );
        report.latency(
            &format!("raw_{tool}"),
            &format!("  {tool} raw socket to the daemon"),
            raw,
            &format!("CPU/call µs: daemon {:.0}", per_call(raw_cpu.daemon)),
        );
        report.extra(
            "cpu_us_per_call",
            json!({"daemon": per_call(raw_cpu.daemon).round()}),
        );
    }

    // The same figures side by side, one row per tool, against the floors of this run.
    println!();
    println!(
        "  {:<14} {:>10} {:>10} {:>12} {:>12} {:>12} {:>12}",
        "per tool", "shim p50", "raw p50", "added µs", "shim CPU µs", "dmn CPU µs", "clnt CPU µs"
    );
    for (tool, mcp_p50, raw_p50, added, cpu) in &per_tool {
        println!(
            "  {tool:<14} {:>10} {:>10} {:>12} {:>12.0} {:>12.0} {:>12.0}",
            ms(*mcp_p50),
            ms(*raw_p50),
            added.as_micros(),
            per_call(cpu.shims),
            per_call(cpu.daemon),
            per_call(cpu.this_process),
        );
        if *tool != "send_message" {
            report
                .read_added_us
                .push(((*tool).to_owned(), added.as_micros() as u64));
        }
    }
    let fdatasync_p50 = report.fdatasync_p50;
    println!(
        "  send_message p50 ÷ fdatasync p50 ({}): {}",
        ms(fdatasync_p50),
        report
            .send_ratio
            .map_or_else(|| "-".to_owned(), |(_, ratio)| format!("{ratio:.2}"))
    );
    println!(
        "  syncs per batch (one serial sender, so one send per batch; strace on the daemon): {}",
        serial_syncs.describe()
    );
    println!();
    report.section("   floors");

    // The MCP client's own floor: the same rmcp client and call against a trivial server.
    let (in_process, _server) = trivial_in_process().await?;
    time_tool(in_process.peer(), "get_status", &json!({}), options.warmup).await?;
    let floor = time_tool(in_process.peer(), "get_status", &json!({}), calls).await?;
    report.latency(
        "floor_in_process",
        "floor: rmcp client ↔ trivial server, in process",
        &floor,
        "tokio duplex pipe, no daemon",
    );
    let _ = bounded("closing the in-process client", in_process.cancel()).await;
    let mut trivial = tokio::process::Command::new(std::env::current_exe().context("current exe")?);
    trivial.arg(TRIVIAL_SERVER_FLAG);
    let stdio_floor_agent = room.agent_from(trivial).await;
    time_tool(
        stdio_floor_agent.peer(),
        "get_status",
        &json!({}),
        options.warmup,
    )
    .await?;
    let stdio_floor = time_tool(stdio_floor_agent.peer(), "get_status", &json!({}), calls).await?;
    report.latency(
        "floor_stdio_process",
        "floor: rmcp client ↔ trivial server process, stdio",
        &stdio_floor,
        "same pipes as a shim, no daemon",
    );
    stdio_floor_agent.close().await;

    // A new agent joining a room whose daemon already runs.
    let mut warm_first = Vec::with_capacity(options.cold_runs);
    for _ in 0..options.cold_runs {
        let start = Instant::now();
        let newcomer = room.agent_from(quiet_shim(&room)).await;
        call_tool(newcomer.peer(), "get_status", &json!({})).await?;
        warm_first.push(start.elapsed());
        newcomer.close().await;
    }
    report.latency(
        "warm_daemon_spawn_to_first_call",
        "new shim, daemon running: spawn → first get_status",
        &warm_first,
        "",
    );
    agent.close().await;
    Ok(())
}
