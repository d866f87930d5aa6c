//! `scripts/bench`: measures chatroom through real shims (rmcp's MCP client → `chatroom-shim`
//! over stdio → `chatroomd` over its socket), next to the floors that say where the time goes:
//! the raw socket protocol against the same daemon, and the same MCP client against a trivial
//! server (in process over a duplex pipe, and as a child process over stdio).
//!
//! Sections: shim cold start; per-tool latency; rooms of 1k to 1M messages (built by writing
//! `.chatroom/messages.jsonl` directly, then loaded by an auto-started daemon); the durable
//! throughput of eight concurrent senders. Rows print as they complete; a JSON summary line ends
//! the output. Every room lives in its own temporary git repository under `$TMPDIR`, and every
//! daemon is stopped when its room is dropped.
//!
//! Figures are set against floors measured in the same run, since the machine and its disk
//! change from run to run: `send_message` p50 over fdatasync p50, the senders' throughput over
//! the most serial senders can get from the disk (senders ÷ fdatasync p50), and the µs each tool
//! adds over the raw socket. Syncs per batch are counted by `strace -f -c` attached to the daemon
//! during untimed bursts (strace stops the daemon at every system call).

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use chatroom_tests::{TestRoom, text_of};
use chatroomd::shared::time::format_ts;
use interprocess::local_socket::GenericFilePath;
use interprocess::local_socket::tokio::{Stream, prelude::*};
use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, read_frame, write_frame};
use protocol::{
    ClientKind, ClientMessage, Hello, HelloReply, PROTOCOL_VERSION, Request, Response,
    ServerMessage,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::{Peer, RoleClient, ServiceExt};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Every single call is bounded by this; a hang fails the run instead of stalling it.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Runs the binary as a trivial stdio MCP server (the floor of a stdio tool call).
const TRIVIAL_SERVER_FLAG: &str = "--trivial-mcp-server";
/// About 100 bytes, like a real status line.
const CONTENT: &str = "build of crate chatroomd passed on linux and macos; now looking at the windows pipe name (issue 42)";
/// 2026-01-01T00:00:00Z, the first timestamp of generated rooms.
const GENERATED_EPOCH: u64 = 1_767_225_600;

const USAGE: &str = "\
usage: bench [--quick] [options]

Measures chatroom through real chatroom-shim processes (release build) and prints a table, then
one JSON summary line. Rooms live under $TMPDIR (default /tmp).

Every figure is set against floors measured in the same run: fdatasync p50 on the rooms'
filesystem (send_message p50 ÷ fdatasync p50), the raw socket protocol (the µs each tool adds
over it, one column per tool), and the disk's limit for serial senders (N senders ÷ fdatasync
p50; the throughput's ratio to it). Syncs per batch are counted with `strace -f -c` attached to
the daemon during untimed bursts: one serial sender (each send its own batch, so syncs per send
are syncs per batch), and N concurrent senders (syncs per acknowledged send). Without strace
they are reported as not measured. The targets of issue 11 end the table.

  --quick             a short smoke run: rooms of 1k and 10k only, fewer iterations
  --spawns N          shim cold starts to time (default 50; quick 10)
  --cold-runs N       first calls against a cold daemon (default 10; quick 3)
  --calls N           timed calls per tool (default 2000; quick 200)
  --warmup N          untimed calls before each timed series (default 200; quick 20)
  --sizes LIST        room sizes, e.g. 1k,10k,100k,1m (default 1k,10k,100k,1m; quick 1k,10k)
  --size-calls N      timed calls per tool and room size (default 500; quick 100)
  --senders N         concurrent agents in the throughput run (default 8)
  --per-sender N      messages each of them sends (default 2000; quick 200)
  -h, --help          this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(TRIVIAL_SERVER_FLAG) {
        return trivial_server_main();
    }
    let options = match Options::parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("bench: {err:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    spawns: usize,
    cold_runs: usize,
    calls: usize,
    warmup: usize,
    sizes: Vec<usize>,
    size_calls: usize,
    senders: usize,
    per_sender: usize,
}

impl Options {
    /// `Ok(None)` asks for the usage text.
    fn parse(args: &[String]) -> anyhow::Result<Option<Self>> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut options = if quick {
            Self {
                quick,
                spawns: 10,
                cold_runs: 3,
                calls: 200,
                warmup: 20,
                sizes: vec![1_000, 10_000],
                size_calls: 100,
                senders: 8,
                per_sender: 200,
            }
        } else {
            Self {
                quick,
                spawns: 50,
                cold_runs: 10,
                calls: 2000,
                warmup: 200,
                sizes: vec![1_000, 10_000, 100_000, 1_000_000],
                size_calls: 500,
                senders: 8,
                per_sender: 2000,
            }
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .with_context(|| format!("{flag} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--quick" => {}
                "-h" | "--help" => return Ok(None),
                "--spawns" => options.spawns = parse_count(&value(arg)?)?,
                "--cold-runs" => options.cold_runs = parse_count(&value(arg)?)?,
                "--calls" => options.calls = parse_count(&value(arg)?)?,
                "--warmup" => options.warmup = parse_count(&value(arg)?)?,
                "--size-calls" => options.size_calls = parse_count(&value(arg)?)?,
                "--senders" => options.senders = parse_count(&value(arg)?)?,
                "--per-sender" => options.per_sender = parse_count(&value(arg)?)?,
                "--sizes" => {
                    options.sizes = value(arg)?
                        .split(',')
                        .map(parse_count)
                        .collect::<anyhow::Result<_>>()?;
                }
                other => bail!("unknown argument {other:?}"),
            }
        }
        for (name, count) in [
            ("--spawns", options.spawns),
            ("--cold-runs", options.cold_runs),
            ("--calls", options.calls),
            ("--size-calls", options.size_calls),
            ("--senders", options.senders),
            ("--per-sender", options.per_sender),
        ] {
            ensure!(count > 0, "{name} must be at least 1");
        }
        ensure!(
            options.sizes.iter().all(|size| *size >= 100),
            "room sizes must be at least 100"
        );
        Ok(Some(options))
    }

    fn to_json(&self) -> Value {
        json!({
            "quick": self.quick,
            "spawns": self.spawns,
            "cold_runs": self.cold_runs,
            "calls": self.calls,
            "warmup": self.warmup,
            "sizes": self.sizes,
            "size_calls": self.size_calls,
            "senders": self.senders,
            "per_sender": self.per_sender,
        })
    }
}

/// `2000`, `10k`, `1m`.
fn parse_count(text: &str) -> anyhow::Result<usize> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, scale) = match text.strip_suffix('k') {
        Some(digits) => (digits, 1_000),
        None => match text.strip_suffix('m') {
            Some(digits) => (digits, 1_000_000),
            None => (text.as_str(), 1),
        },
    };
    let count: usize = digits
        .parse()
        .with_context(|| format!("{text:?} is not a count"))?;
    Ok(count * scale)
}

async fn run(options: Options) -> anyhow::Result<()> {
    let mut report = Report::default();
    report.environment()?;
    report.options = options.to_json();

    shim_start(&options, &mut report)
        .await
        .context("shim cold start")?;
    tool_latency(&options, &mut report)
        .await
        .context("tool latency")?;
    for &size in &options.sizes {
        big_room(&options, size, &mut report)
            .await
            .with_context(|| format!("room of {size} messages"))?;
    }
    throughput(&options, &mut report)
        .await
        .context("throughput")?;
    report.finish();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 1. Shim cold start

async fn shim_start(options: &Options, report: &mut Report) -> anyhow::Result<()> {
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
            tools.tools.len() == 12,
            "expected 12 tools, got {}",
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
        "12 tools",
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

async fn tool_latency(options: &Options, report: &mut Report) -> anyhow::Result<()> {
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
            name: "raw".into(),
            content: CONTENT.into(),
            to: "all".into(),
        },
        Request::ReadUnread {
            name: "bench".into(),
            limit: 50,
            mark_read: false,
        },
        Request::GetHandoff {
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
        "  syncs per batch (one serial sender, so one send per batch; strace -c on the daemon): {}",
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

// ---------------------------------------------------------------------------------------------
// 3. Big rooms

async fn big_room(options: &Options, size: usize, report: &mut Report) -> anyhow::Result<()> {
    report.section(&format!(
        "3. room of {} messages ({} calls per tool)",
        human_count(size),
        options.size_calls
    ));
    let room = TestRoom::new();
    let state_dir = room.state_dir();
    std::fs::create_dir_all(&state_dir).context("creating .chatroom")?;
    eprintln!(
        "bench: writing {} messages to {}",
        human_count(size),
        state_dir.display()
    );
    let write_start = Instant::now();
    let bytes = write_room(&state_dir, size).context("writing the room")?;
    let written_in = write_start.elapsed();

    let start = Instant::now();
    let agent = room.agent_from(quiet_shim(&room)).await;
    let call_start = Instant::now();
    let status = call_json(agent.peer(), "get_status", &json!({})).await?;
    let first_call = call_start.elapsed();
    let total = start.elapsed();
    ensure!(
        status["message_count"].as_u64() == Some(size as u64),
        "the daemon loaded {} messages, expected {size}",
        status["message_count"]
    );
    let load_ms =
        load_ms(&room.log()).context("no `room loaded ... load_ms=` line in the daemon's log")?;
    let pid = room.daemon_pid().context("no daemon")?;
    let (rss_kib, peak_kib) = memory_kib(pid).unwrap_or_default();

    let prefix = format!("room_{size}");
    report.single(
        &format!("{prefix}_first_call"),
        "cold daemon: first get_status answered (incl. load)",
        first_call,
        &format!("spawn → answer {}", ms(total)),
    );
    report.single(
        &format!("{prefix}_load"),
        "  daemon's own load_ms (chatroomd.log)",
        Duration::from_millis(load_ms),
        &format!(
            "{:.1} MB file written in {}; daemon RSS {} MB, peak {} MB",
            bytes as f64 / 1e6,
            ms(written_in),
            rss_kib / 1024,
            peak_kib / 1024
        ),
    );
    report.extra("load_ms", json!(load_ms));
    report.extra("file_bytes", json!(bytes));
    report.extra("rss_kib", json!(rss_kib));
    report.extra("peak_rss_kib", json!(peak_kib));

    let peer = agent.peer();
    let status_args = json!({});
    time_tool(
        peer,
        "get_status",
        &status_args,
        options.warmup.min(options.size_calls),
    )
    .await?;
    let status = time_tool(peer, "get_status", &status_args, options.size_calls).await?;
    report.latency(&format!("{prefix}_get_status"), "get_status", &status, "");

    let read_args = json!({"name": "reader", "mark_read": false});
    let unread = call_json(peer, "read_unread", &read_args).await?;
    let returned = unread["messages"].as_array().map_or(0, Vec::len);
    ensure!(
        (1..50).contains(&returned),
        "read_unread should return a few messages, got {returned}"
    );
    time_tool(
        peer,
        "read_unread",
        &read_args,
        options.warmup.min(options.size_calls),
    )
    .await?;
    let read = time_tool(peer, "read_unread", &read_args, options.size_calls).await?;
    report.latency(
        &format!("{prefix}_read_unread"),
        "read_unread (cursor near the end)",
        &read,
        &format!("{returned} messages, mark_read=false"),
    );

    let handoff_args = json!({"name": "reader"});
    let handoff = call_json(peer, "get_handoff", &handoff_args).await?;
    ensure!(
        handoff["unread_count"].as_u64().is_some(),
        "get_handoff: {handoff}"
    );
    time_tool(
        peer,
        "get_handoff",
        &handoff_args,
        options.warmup.min(options.size_calls),
    )
    .await?;
    let handoff_times = time_tool(peer, "get_handoff", &handoff_args, options.size_calls).await?;
    report.latency(
        &format!("{prefix}_get_handoff"),
        "get_handoff (name set: cursor and unread_count)",
        &handoff_times,
        &format!("unread_count {}", handoff["unread_count"]),
    );

    agent.close().await;
    let stop_start = Instant::now();
    ensure!(room.stop_daemon(), "the daemon was gone before stop");
    report.single(
        &format!("{prefix}_stop"),
        "chatroomd stop (flush and exit)",
        stop_start.elapsed(),
        "",
    );
    drop(room);
    Ok(())
}

/// Writes `count` messages (80% broadcasts, 20% direct messages among five names, ≈100-byte
/// contents) as compact JSON lines, and a cursor for `reader` twenty messages before the end.
/// Returns the size of messages.jsonl.
fn write_room(state_dir: &Path, count: usize) -> std::io::Result<u64> {
    const NAMES: [&str; 5] = ["alice", "bob", "carol", "dave", "reader"];
    const TOPICS: [&str; 4] = [
        "the parser edge cases",
        "flaky socket tests",
        "the release notes",
        "windows paths",
    ];
    let path = state_dir.join("messages.jsonl");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    let mut line = String::with_capacity(256);
    let mut ts = String::new();
    let mut ts_second = u64::MAX;
    for id in 1..=count {
        let second = GENERATED_EPOCH + id as u64 / 4;
        if second != ts_second {
            ts_second = second;
            ts = format_ts(second);
        }
        let from = NAMES[id % 4];
        let to = if id % 5 == 0 {
            NAMES[(id / 5 + 1) % 5]
        } else {
            "all"
        };
        line.clear();
        let _ = writeln!(
            line,
            r#"{{"id":{id},"ts":"{ts}","from":"{from}","to":"{to}","content":"step {id}: updated src/module_{}.rs and ran the suite ({} passed, 0 failed); next: {}"}}"#,
            id % 97,
            100 + id % 900,
            TOPICS[id % TOPICS.len()],
        );
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    let cursors = json!({ "reader": count.saturating_sub(20) });
    std::fs::write(
        state_dir.join("cursors.json"),
        serde_json::to_vec_pretty(&cursors)?,
    )?;
    Ok(std::fs::metadata(&path)?.len())
}

/// The `load_ms=N` of the last "room loaded" line of the daemon's log.
fn load_ms(log: &str) -> Option<u64> {
    let line = log
        .lines()
        .rev()
        .find(|line| line.contains("room loaded"))?;
    let rest = &line[line.find("load_ms=")? + "load_ms=".len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

// ---------------------------------------------------------------------------------------------
// 4. Throughput

async fn throughput(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    let (senders, per_sender) = (options.senders, options.per_sender);
    report.section(&format!(
        "4. durable throughput: {senders} agents × {per_sender} send_message at once (each sends serially)"
    ));
    let room = TestRoom::new();
    let mut agents = Vec::with_capacity(senders);
    for index in 0..senders {
        let agent = room.agent_from(quiet_shim(&room)).await;
        call_tool(
            agent.peer(),
            "join",
            &json!({"name": format!("sender-{index}"), "role": "benchmark"}),
        )
        .await?;
        agents.push(agent);
    }
    let warmup = options.warmup.min(per_sender);
    for (index, agent) in agents.iter().enumerate() {
        time_tool(
            agent.peer(),
            "send_message",
            &json!({"name": format!("sender-{index}"), "content": CONTENT}),
            warmup,
        )
        .await?;
    }
    let daemon_pid = room.daemon_pid().context("no daemon")?;
    let shim_pids: Vec<u32> = agents.iter().map(|agent| agent.pid).collect();
    let cpu_before = CpuSnapshot::take(daemon_pid, &shim_pids);

    let barrier = Arc::new(tokio::sync::Barrier::new(senders + 1));
    let mut tasks = Vec::with_capacity(senders);
    for (index, agent) in agents.into_iter().enumerate() {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let args = json!({"name": format!("sender-{index}"), "content": CONTENT});
            barrier.wait().await;
            let times = time_tool(agent.peer(), "send_message", &args, per_sender).await;
            (agent, times)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut agents = Vec::with_capacity(senders);
    let mut times = Vec::with_capacity(senders * per_sender);
    for task in tasks {
        let (agent, sender_times) = task.await.context("a sender task panicked")?;
        agents.push(agent);
        times.extend(sender_times?);
    }
    let wall = start.elapsed();
    let cpu = CpuSnapshot::take(daemon_pid, &shim_pids).since(&cpu_before);

    let sent = senders * per_sender;
    let expected = senders * (per_sender + warmup);
    let status = call_json(agents[0].peer(), "get_status", &json!({})).await?;
    ensure!(
        status["message_count"].as_u64() == Some(expected as u64),
        "message_count {status} != {expected}"
    );
    let rate = sent as f64 / wall.as_secs_f64();
    // Serial senders each wait for one sync per send at best: the most they can get from this
    // disk is one send per sender per fdatasync.
    let disk_limit = senders as f64 / report.fdatasync_p50.as_secs_f64();
    let of_limit = rate / disk_limit;
    // The same load again, untimed, with strace counting the daemon's syncs: per acknowledged
    // send, since the batches it forms are not visible from outside.
    let burst_per_sender = per_sender.min(100);
    let mut returned = Vec::with_capacity(senders);
    let concurrent_syncs = count_syncs(daemon_pid, async {
        let mut bursts = Vec::with_capacity(senders);
        for (index, agent) in agents.drain(..).enumerate() {
            bursts.push(tokio::spawn(async move {
                let args = json!({"name": format!("sender-{index}"), "content": CONTENT});
                let times = time_tool(agent.peer(), "send_message", &args, burst_per_sender).await;
                (agent, times)
            }));
        }
        for burst in bursts {
            let (agent, times) = burst.await.context("a sender task panicked")?;
            returned.push(agent);
            times?;
        }
        Ok(senders * burst_per_sender)
    })
    .await?;
    agents = returned;
    report.latency(
        "throughput_mcp",
        &format!("send_message through shims, per call ({senders} concurrent)"),
        &times,
        &format!(
            "{rate:.0} msgs/s overall ({sent} in {}); CPU/msg µs: shims {:.0}, daemon {:.0}, clients {:.0}",
            ms(wall),
            cpu.shims * 1e6 / sent as f64,
            cpu.daemon * 1e6 / sent as f64,
            cpu.this_process * 1e6 / sent as f64,
        ),
    );
    report.extra("msgs_per_sec", json!(rate.round()));
    report.extra("wall_ms", json!(round_ms(wall)));
    report.extra("disk_limit_msgs_per_sec", json!(disk_limit.round()));
    report.extra("ratio_to_disk_limit", json!(round3(of_limit)));
    report.extra("syncs_per_send", concurrent_syncs.to_json());
    println!(
        "  {:<54} {:>6} {:>10} {:>10}  {senders} ÷ fdatasync p50 {}; throughput ÷ limit {of_limit:.2}",
        "  the disk's limit for serial senders",
        "-",
        format!("{disk_limit:.0}/s"),
        "-",
        ms(report.fdatasync_p50),
    );
    println!(
        "  {:<54} {:>6} {:>10} {:>10}  {}",
        "  syncs per acknowledged send (strace -c, untimed)",
        concurrent_syncs.per_send().map_or_else(
            || "-".to_owned(),
            |_| (senders * burst_per_sender).to_string()
        ),
        concurrent_syncs
            .per_send()
            .map_or_else(|| "-".to_owned(), |per_send| format!("{per_send:.3}")),
        "-",
        concurrent_syncs.describe(),
    );
    report.last_id = Some("throughput_mcp".to_owned());
    report.throughput_of_limit = Some((rate, of_limit));
    report.extra(
        "cpu_us_per_msg",
        json!({
            "shims": (cpu.shims * 1e6 / sent as f64).round(),
            "daemon": (cpu.daemon * 1e6 / sent as f64).round(),
            "clients": (cpu.this_process * 1e6 / sent as f64).round(),
        }),
    );
    report.throughput = Some(rate);
    for agent in agents {
        agent.close().await;
    }

    // The same load over raw sockets: the daemon's capacity without MCP, stdio and shims.
    let mut clients = Vec::with_capacity(senders);
    for _ in 0..senders {
        clients.push(RawClient::connect(&room.paths().socket, ClientKind::Agent).await?);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(senders + 1));
    let mut tasks = Vec::with_capacity(senders);
    for (index, mut client) in clients.into_iter().enumerate() {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let request = Request::SendMessage {
                name: format!("raw-{index}"),
                content: CONTENT.into(),
                to: "all".into(),
            };
            barrier.wait().await;
            client.time(&request, per_sender).await
        }));
    }
    let cpu_before = CpuSnapshot::take(daemon_pid, &[]);
    barrier.wait().await;
    let start = Instant::now();
    let mut times = Vec::with_capacity(sent);
    for task in tasks {
        times.extend(task.await.context("a raw sender task panicked")??);
    }
    let wall = start.elapsed();
    let cpu = CpuSnapshot::take(daemon_pid, &[]).since(&cpu_before);
    let raw_rate = sent as f64 / wall.as_secs_f64();
    report.latency(
        "throughput_raw",
        &format!("  raw socket SendMessage, per call ({senders} concurrent)"),
        &times,
        &format!(
            "{raw_rate:.0} msgs/s overall ({sent} in {}); CPU/msg µs: daemon {:.0}",
            ms(wall),
            cpu.daemon * 1e6 / sent as f64,
        ),
    );
    report.extra("msgs_per_sec", json!(raw_rate.round()));
    report.extra("wall_ms", json!(round_ms(wall)));
    report.extra(
        "cpu_us_per_msg",
        json!({"daemon": (cpu.daemon * 1e6 / sent as f64).round()}),
    );
    drop(room);
    Ok(())
}

/// CPU seconds (user + system) consumed so far by the daemon, the shims and this process.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSnapshot {
    daemon: f64,
    shims: f64,
    this_process: f64,
}

impl CpuSnapshot {
    fn take(daemon: u32, shims: &[u32]) -> Self {
        Self {
            daemon: cpu_seconds(daemon).unwrap_or_default(),
            shims: shims.iter().filter_map(|pid| cpu_seconds(*pid)).sum(),
            this_process: cpu_seconds(std::process::id()).unwrap_or_default(),
        }
    }

    fn since(self, earlier: &Self) -> Self {
        Self {
            daemon: self.daemon - earlier.daemon,
            shims: self.shims - earlier.shims,
            this_process: self.this_process - earlier.this_process,
        }
    }
}

/// CPU seconds a process has run so far: the sum over its threads of /proc/<pid>/task/*/schedstat
/// (nanoseconds), else utime + stime from /proc/<pid>/stat (clock ticks, 10 ms resolution).
fn cpu_seconds(pid: u32) -> Option<f64> {
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        let nanos: u64 = tasks
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        if nanos > 0 {
            return Some(nanos as f64 / 1e9);
        }
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / per_second.max(1) as f64)
}

// ---------------------------------------------------------------------------------------------
// MCP calls

/// A shim for `room` that logs only warnings to our stderr; the daemon it starts still logs
/// `info` to its file (the bench reads `load_ms` from there).
fn quiet_shim(room: &TestRoom) -> tokio::process::Command {
    let mut command = room.shim_command();
    command.env("CHATROOM_LOG", "warn,chatroomd=info");
    command
}

async fn bounded<T, E>(what: &str, future: impl Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::time::timeout(CALL_TIMEOUT, future)
        .await
        .map_err(|_| anyhow!("{what} timed out after {CALL_TIMEOUT:?}"))?
        .with_context(|| format!("{what} failed"))
}

/// One `tools/call`; a refusal is an error.
async fn call_tool(
    peer: &Peer<RoleClient>,
    tool: &str,
    args: &Value,
) -> anyhow::Result<CallToolResult> {
    let Value::Object(arguments) = args else {
        bail!("tool arguments must be a JSON object")
    };
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.clone());
    let result = bounded(tool, peer.call_tool(params)).await?;
    if result.is_error == Some(true) {
        bail!("{tool} was refused: {}", text_of(&result));
    }
    Ok(result)
}

async fn call_json(peer: &Peer<RoleClient>, tool: &str, args: &Value) -> anyhow::Result<Value> {
    let result = call_tool(peer, tool, args).await?;
    let text = text_of(&result);
    serde_json::from_str(&text).with_context(|| format!("{tool}: result is not JSON: {text}"))
}

/// Calls `tool` `count` times, one after another, and returns each call's latency.
async fn time_tool(
    peer: &Peer<RoleClient>,
    tool: &str,
    args: &Value,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        call_tool(peer, tool, args).await?;
        times.push(start.elapsed());
    }
    Ok(times)
}

fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("chatroom-bench", "0"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_06_18)
}

// ---------------------------------------------------------------------------------------------
// The raw socket protocol

/// A protocol client talking to the daemon directly (what the shim does under MCP). It stays a
/// bare socket with the frame codec of `protocol::frame`, one call at a time, and deliberately
/// not `chatroom-client`'s connection (whose reader and writer tasks are part of what the shim
/// costs): this is the floor the shim is measured against.
struct RawClient {
    stream: Stream,
    buffer: Vec<u8>,
    next_id: u64,
}

impl RawClient {
    async fn connect(socket: &Path, kind: ClientKind) -> anyhow::Result<Self> {
        let name = socket
            .to_fs_name::<GenericFilePath>()
            .context("socket name")?;
        let stream = bounded("connecting to chatroomd", Stream::connect(name)).await?;
        let mut client = Self {
            stream,
            buffer: Vec::new(),
            next_id: 1,
        };
        let hello = ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            client_pid: std::process::id(),
            kind,
        });
        bounded(
            "hello",
            write_frame(&mut client.stream, &hello, MAX_CLIENT_FRAME),
        )
        .await?;
        match client.read().await? {
            ServerMessage::HelloReply(HelloReply::Welcome { .. }) => Ok(client),
            other => bail!("chatroomd did not welcome us: {other:?}"),
        }
    }

    async fn read(&mut self) -> anyhow::Result<ServerMessage> {
        bounded(
            "reading from chatroomd",
            read_frame(&mut self.stream, &mut self.buffer, MAX_SERVER_FRAME),
        )
        .await?
        .context("chatroomd closed the connection")
    }

    async fn call(&mut self, request: &Request) -> anyhow::Result<Response> {
        let id = self.next_id;
        self.next_id += 1;
        let call = ClientMessage::Call {
            id,
            request: request.clone(),
        };
        bounded(
            "writing to chatroomd",
            write_frame(&mut self.stream, &call, MAX_CLIENT_FRAME),
        )
        .await?;
        loop {
            if let ServerMessage::Reply {
                id: reply_id,
                outcome,
            } = self.read().await?
                && reply_id == id
            {
                return outcome
                    .map_err(|refusal| anyhow!("chatroomd refused {request:?}: {refusal}"));
            }
        }
    }

    async fn time(&mut self, request: &Request, count: usize) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            self.call(request).await?;
            times.push(start.elapsed());
        }
        Ok(times)
    }
}

// ---------------------------------------------------------------------------------------------
// The trivial MCP server (the client's floor)

/// The result every trivial `tools/call` returns: a get_status-sized answer.
fn trivial_result() -> Value {
    let status = json!({"participant_count": 1, "message_count": 4000, "last_activity_ts": "2026-01-01T00:00:00Z"});
    json!({
        "content": [{"type": "text", "text": status.to_string()}],
        "structuredContent": status,
        "isError": false,
    })
}

/// The trivial server's answer to one newline-delimited JSON-RPC line: initialize, tools/list,
/// tools/call and ping are answered, anything else with an id is refused, notifications get
/// nothing. No validation, no I/O.
fn trivial_reply(line: &str, call_result: &Value) -> Option<Vec<u8>> {
    let message = serde_json::from_str::<Value>(line).ok()?;
    let id = message.get("id")?;
    let method = message.get("method").and_then(Value::as_str)?;
    let reply = match method {
        "initialize" => json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "trivial", "version": "0"},
        }}),
        "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
            {"name": "get_status", "description": "a constant", "inputSchema": {"type": "object"}},
        ]}}),
        "tools/call" => json!({"jsonrpc": "2.0", "id": id, "result": call_result}),
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        _ => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}})
        }
    };
    let mut bytes = serde_json::to_vec(&reply).expect("JSON values serialize");
    bytes.push(b'\n');
    Some(bytes)
}

/// [`trivial_reply`] over an async pipe (the in-process floor).
async fn serve_trivial(
    reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut lines = BufReader::new(reader).lines();
    let call_result = trivial_result();
    while let Some(line) = lines.next_line().await? {
        if let Some(bytes) = trivial_reply(&line, &call_result) {
            writer.write_all(&bytes).await?;
            writer.flush().await?;
        }
    }
    Ok(())
}

/// An rmcp client connected to [`serve_trivial`] running in this process.
async fn trivial_in_process() -> anyhow::Result<(
    rmcp::service::RunningService<RoleClient, ClientConfig>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    let server = tokio::spawn(serve_trivial(server_read, server_write));
    let (client_read, client_write) = tokio::io::split(client_io);
    let client = bounded(
        "initialize (in process)",
        client_config().serve((client_read, client_write)),
    )
    .await?;
    Ok((client, server))
}

/// `bench --trivial-mcp-server`: [`trivial_reply`] on stdin/stdout, with blocking I/O (the
/// stdio floor: a server process that costs next to nothing).
fn trivial_server_main() -> ExitCode {
    use std::io::BufRead as _;
    let call_result = trivial_result();
    let mut stdout = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else {
            return ExitCode::FAILURE;
        };
        if let Some(bytes) = trivial_reply(&line, &call_result)
            && (stdout.write_all(&bytes).is_err() || stdout.flush().is_err())
        {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report

#[derive(Debug, Clone, Copy)]
struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Self {
            p50: percentile(&sorted, 0.50),
            p99: percentile(&sorted, 0.99),
            mean: total / sorted.len().max(1) as u32,
        }
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis < 10.0 {
        format!("{millis:.3} ms")
    } else if millis < 1000.0 {
        format!("{millis:.1} ms")
    } else {
        format!("{:.2} s", millis / 1000.0)
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn round_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1000.0
}

fn human_count(count: usize) -> String {
    match count {
        _ if count >= 1_000_000 && count.is_multiple_of(1_000_000) => {
            format!("{}M", count / 1_000_000)
        }
        _ if count >= 1_000 && count.is_multiple_of(1_000) => format!("{}k", count / 1_000),
        _ => count.to_string(),
    }
}

/// Rows print as they are added; the JSON summary collects them.
#[derive(Default)]
struct Report {
    environment: Map<String, Value>,
    options: Value,
    results: Map<String, Value>,
    last_id: Option<String>,
    throughput: Option<f64>,
    /// The floor every durable write stands on, probed in this run before anything else.
    fdatasync_p50: Duration,
    /// `send_message` p50 through a shim, and its ratio to [`Report::fdatasync_p50`].
    send_ratio: Option<(Duration, f64)>,
    syncs_per_batch: Option<SyncCount>,
    /// Each read tool's p50 over the raw socket's, in µs.
    read_added_us: Vec<(String, u64)>,
    /// The senders' msgs/s, and its ratio to the disk's limit for serial senders.
    throughput_of_limit: Option<(f64, f64)>,
}

impl Report {
    fn environment(&mut self) -> anyhow::Result<()> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, model)| model.trim())
            })
            .unwrap_or("unknown")
            .to_owned();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |text| text.trim().to_owned());
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("MemTotal:"))
                    .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map_or(0, |kib| kib / 1024);
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .map(|text| {
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let temp_dir = std::env::temp_dir()
            .canonicalize()
            .unwrap_or_else(|_| std::env::temp_dir());
        let filesystem = filesystem_of(&temp_dir);
        let sync = fdatasync_probe(&temp_dir).context("probing fdatasync in the temp dir")?;
        let bin_dir = chatroom_tests::bin_dir();
        let version = std::process::Command::new(chatroom_tests::daemon_bin())
            .arg("--version")
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default();

        println!("chatroom bench — environment");
        println!("  cpus (nproc):   {cpus}");
        println!("  cpu model:      {cpu_model}");
        println!("  kernel:         {kernel}");
        println!("  memory:         {memory_mib} MiB");
        println!("  load average:   {load_average} (other work on the machine skews every figure)");
        println!("  rooms in:       {} ({filesystem})", temp_dir.display());
        println!(
            "  fdatasync:      p50 {} p99 {} (150-byte appends, 200 samples)",
            ms(sync.p50),
            ms(sync.p99)
        );
        println!("  binaries:       {} ({version})", bin_dir.display());
        self.fdatasync_p50 = sync.p50.max(Duration::from_nanos(1));
        self.environment = serde_json::from_value(json!({
            "nproc": cpus,
            "cpu_model": cpu_model,
            "kernel": kernel,
            "memory_mib": memory_mib,
            "load_average": load_average,
            "temp_dir": temp_dir.display().to_string(),
            "filesystem": filesystem,
            "fdatasync_p50_ms": round_ms(sync.p50),
            "fdatasync_p99_ms": round_ms(sync.p99),
            "chatroomd_version": version,
        }))?;
        Ok(())
    }

    fn section(&mut self, title: &str) {
        println!();
        println!("{title}");
        println!(
            "  {:<54} {:>6} {:>10} {:>10}  notes",
            "measurement", "n", "p50", "p99"
        );
    }

    fn latency(&mut self, id: &str, label: &str, samples: &[Duration], note: &str) -> Stats {
        let stats = Stats::of(samples);
        println!(
            "  {label:<54} {:>6} {:>10} {:>10}  {note}",
            samples.len(),
            ms(stats.p50),
            ms(stats.p99)
        );
        self.record(
            id,
            json!({
                "label": label.trim(),
                "n": samples.len(),
                "p50_ms": round_ms(stats.p50),
                "p99_ms": round_ms(stats.p99),
                "mean_ms": round_ms(stats.mean),
            }),
        );
        stats
    }

    /// One measurement taken once.
    fn single(&mut self, id: &str, label: &str, value: Duration, note: &str) {
        println!(
            "  {label:<54} {:>6} {:>10} {:>10}  {note}",
            1,
            ms(value),
            "-"
        );
        self.record(
            id,
            json!({"label": label.trim(), "n": 1, "ms": round_ms(value)}),
        );
    }

    fn record(&mut self, id: &str, value: Value) {
        let _ = std::io::stdout().flush();
        self.results.insert(id.to_owned(), value);
        self.last_id = Some(id.to_owned());
    }

    /// Adds a field to the JSON of the row printed last.
    fn extra(&mut self, key: &str, value: Value) {
        if let Some(Value::Object(row)) = self
            .last_id
            .as_ref()
            .and_then(|id| self.results.get_mut(id))
        {
            row.insert(key.to_owned(), value);
        }
    }

    fn finish(self) {
        let largest_load = self
            .results
            .iter()
            .filter(|(id, _)| id.starts_with("room_1000000_load"))
            .find_map(|(_, row)| row["load_ms"].as_u64());
        println!();
        println!("targets");
        match largest_load {
            Some(load) => println!(
                "  1M messages load in < 2 s:          {} (load_ms={load})",
                if load < 2000 { "met" } else { "MISSED" }
            ),
            None => println!(
                "  1M messages load in < 2 s:          not measured (no 1M room in this run)"
            ),
        }
        if let Some(rate) = self.throughput {
            println!(
                "  ≥ 10,000 durable msgs/s (8 agents):  {} ({rate:.0} msgs/s)",
                if rate >= 10_000.0 { "met" } else { "MISSED" }
            );
        }
        // Issue 11's targets, each against the floor measured in this run.
        let sync_ms = self.fdatasync_p50.as_secs_f64() * 1000.0;
        let send_target = self.send_ratio.map(|(p50, ratio)| {
            let p50_ms = p50.as_secs_f64() * 1000.0;
            let met = p50_ms <= 1.2 * sync_ms + 0.15;
            println!(
                "  send_message p50 ≤ 1.2 × fdatasync p50 + 0.15 ms: {} ({p50_ms:.3} ms, {ratio:.2} × {sync_ms:.3} ms)",
                if met { "met" } else { "MISSED" }
            );
            met
        });
        let limit_target = self.throughput_of_limit.map(|(rate, ratio)| {
            let met = ratio >= 0.8;
            println!(
                "  8 senders ≥ 0.8 × the disk's limit:  {} ({rate:.0} msgs/s = {ratio:.2} × the limit)",
                if met { "met" } else { "MISSED" }
            );
            met
        });
        let sync_target = self.syncs_per_batch.as_ref().and_then(|count| {
            let per_batch = count.per_send();
            println!(
                "  exactly one sync per batch:          {} ({})",
                match per_batch {
                    Some(per_batch) if (per_batch - 1.0).abs() < 0.005 => "met",
                    Some(_) => "MISSED",
                    None => "not measured",
                },
                count.describe()
            );
            per_batch.map(|per_batch| (per_batch - 1.0).abs() < 0.005)
        });
        let reads_target = (!self.read_added_us.is_empty()).then(|| {
            let worst = self
                .read_added_us
                .iter()
                .map(|(_, us)| *us)
                .max()
                .unwrap_or(0);
            let each = self
                .read_added_us
                .iter()
                .map(|(tool, us)| format!("{tool} +{us} µs"))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "  reads add ≤ 100 µs p50 over raw:     {} ({each})",
                if worst <= 100 { "met" } else { "MISSED" }
            );
            worst <= 100
        });
        let targets = json!({
            "load_1m_under_2s": largest_load.map(|load| load < 2000),
            "throughput_at_least_10k": self.throughput.map(|rate| rate >= 10_000.0),
            "send_p50_within_1_2_fdatasync_plus_0_15ms": send_target,
            "throughput_at_least_0_8_disk_limit": limit_target,
            "one_sync_per_batch": sync_target,
            "reads_add_at_most_100us": reads_target,
        });
        let summary = json!({
            "chatroom_bench": 1,
            "environment": self.environment,
            "options": self.options,
            "results": self.results,
            "targets": targets,
        });
        println!();
        println!("{summary}");
    }
}

/// The filesystem type of the mount holding `path`, from /proc/mounts.
fn filesystem_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, mount_point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(mount_point)
                .then(|| (mount_point.len(), kind.to_owned()))
        })
        .max_by_key(|(length, _)| *length)
        .map_or_else(|| "unknown".to_owned(), |(_, kind)| kind)
}

/// What one durable append costs on the rooms' filesystem: 200 appends, each followed by
/// What one durable append costs on the rooms' filesystem: 200 appends, each followed by
/// fdatasync, in a scratch file.
fn fdatasync_probe(dir: &Path) -> anyhow::Result<Stats> {
    let scratch = tempfile::Builder::new().prefix("crsync").tempdir_in(dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(scratch.path().join("probe"))?;
    let line = [b'x'; 150];
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = Instant::now();
        file.write_all(&line)?;
        file.sync_data()?;
        times.push(start.elapsed());
    }
    Ok(Stats::of(&times))
}

// ---------------------------------------------------------------------------------------------
// Syncs counted by strace

/// The system calls that make data durable; whichever the daemon's store uses, all are counted.
const SYNC_SYSCALLS: &str = "trace=fdatasync,fsync,sync_file_range";

/// What `strace -c` counted in the daemon while a burst ran, or why nothing was counted.
#[derive(Debug, Clone)]
enum SyncCount {
    Counted {
        /// Sync system calls of every thread of the daemon during the burst.
        syncs: u64,
        /// Acknowledged sends in the burst.
        sends: usize,
    },
    NotMeasured(String),
}

impl SyncCount {
    fn per_send(&self) -> Option<f64> {
        match self {
            Self::Counted { syncs, sends } => Some(*syncs as f64 / (*sends).max(1) as f64),
            Self::NotMeasured(_) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Counted { syncs, sends } => format!(
                "{:.2} ({syncs} syncs for {sends} acknowledged sends)",
                *syncs as f64 / (*sends).max(1) as f64
            ),
            Self::NotMeasured(why) => format!("not measured ({why})"),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Counted { syncs, sends } => json!({
                "syncs": syncs,
                "sends": sends,
                "per_send": (*syncs as f64 / (*sends).max(1) as f64 * 1000.0).round() / 1000.0,
            }),
            Self::NotMeasured(why) => json!({"not_measured": why}),
        }
    }
}

/// Runs `burst` (which returns how many sends it had acknowledged) with `strace -f -c` attached
/// to every thread of the daemon, and counts the sync system calls it made meanwhile. strace
/// stops the daemon at every system call, so the burst is never one of the timed series.
async fn count_syncs(
    daemon: u32,
    burst: impl Future<Output = anyhow::Result<usize>>,
) -> anyhow::Result<SyncCount> {
    let summary = tempfile::NamedTempFile::new().context("strace's summary file")?;
    let spawned = tokio::process::Command::new("strace")
        .args(["-f", "-c", "-e", SYNC_SYSCALLS, "-o"])
        .arg(summary.path())
        .arg("-p")
        .arg(daemon.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut strace = match spawned {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SyncCount::NotMeasured("strace not installed".into()));
        }
        Err(err) => return Err(err).context("starting strace"),
    };
    // strace says "Process N attached" once per thread (older versions once, "with K threads");
    // the burst starts only when every thread the daemon has now is traced.
    let threads = std::fs::read_dir(format!("/proc/{daemon}/task"))
        .map_or(1, |tasks| tasks.count())
        .max(1);
    let mut lines = BufReader::new(strace.stderr.take().context("strace's stderr")?).lines();
    let mut attached = 0;
    let mut said = Vec::new();
    let ready = tokio::time::timeout(CALL_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("attached") {
                attached += match line.split_once(" with ") {
                    Some((_, rest)) => rest
                        .split_whitespace()
                        .next()
                        .and_then(|count| count.parse().ok())
                        .unwrap_or(1),
                    None => 1,
                };
                if attached >= threads {
                    return true;
                }
            } else {
                said.push(line);
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if !ready {
        let _ = strace.kill().await;
        return Ok(SyncCount::NotMeasured(format!(
            "strace could not attach to the daemon: {}",
            said.join("; ")
        )));
    }
    // Keep reading strace's stderr so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let sends = burst.await;
    // SIGINT makes strace detach and write its summary; it is our child, stopped by its pid.
    if let Some(pid) = strace.id() {
        // SAFETY: kill has no memory preconditions; the pid is our own live child.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    }
    bounded("strace's exit", strace.wait()).await?;
    let sends = sends?;
    let text = std::fs::read_to_string(summary.path()).context("reading strace's summary")?;
    Ok(SyncCount::Counted {
        syncs: strace_total_calls(&text),
        sends,
    })
}

/// The calls of the `total` row of a `strace -c` table (0 when it counted none).
fn strace_total_calls(table: &str) -> u64 {
    table
        .lines()
        .filter(|line| !line.starts_with('%') && !line.starts_with('-'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors,] syscall.
            (fields.len() >= 5 && *fields.last()? != "total")
                .then(|| fields.get(3)?.parse::<u64>().ok())
                .flatten()
        })
        .sum()
}
