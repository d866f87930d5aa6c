//! Section 3: big rooms, their history written as a file, the daemon's load time and memory.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chatroom_tests::TestRoom;
use chatroomd::shared::time::format_ts;
use serde_json::json;

use crate::calls::{call_json, quiet_shim, time_tool};
use crate::options::Options;
use crate::report::Report;
use crate::stats::{human_count, ms};

/// 2026-01-01T00:00:00Z, the first timestamp of generated rooms.
pub(crate) const GENERATED_EPOCH: u64 = 1_767_225_600;

pub(crate) async fn big_room(
    options: &Options,
    size: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
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
pub(crate) fn write_room(state_dir: &Path, count: usize) -> std::io::Result<u64> {
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
pub(crate) fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
