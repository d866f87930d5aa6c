//! Section 6: topics. `read_unread` and `get_handoff` in one topic of a 100-topic room of 1M
//! messages next to the same calls in a 100-topic room of 1k (reads must stay flat in the room's
//! size), `list_topics` over the 100 topics, plain and with a participant's progress, and a
//! durable `send_message` into the topic beside one into the main room. The
//! rooms are written as files before the daemon starts (`messages.jsonl` with `topic_id`,
//! `summaries.jsonl`, `topics.json`, `topic_cursors.json`), as the contract's "On disk" has them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use chatroom_tests::TestRoom;
use chatroomd::shared::time::format_ts;
use protocol::{ClientKind, Request, Response};
use serde_json::{Value, json};

use crate::calls::{call_json, quiet_shim, time_tool};
use crate::floors::RawClient;
use crate::options::Options;
use crate::report::Report;
use crate::rooms::{GENERATED_EPOCH, memory_kib};
use crate::search::shim_offers;
use crate::stats::{Stats, human_count, ms};

/// Topics in each room; one scope in 101 is the main room.
const TOPICS: usize = 100;
/// The topic every per-topic read is timed in.
const MEASURED: &str = "topic-42";
/// Messages after `reader`'s cursor in the measured topic.
const UNREAD: usize = 5;

/// One timed call: its name, the shim tool's arguments, the same as a request, and a note.
struct Call {
    id: &'static str,
    tool: &'static str,
    args: Value,
    request: Request,
}

fn calls() -> Vec<Call> {
    vec![
        Call {
            id: "read_unread",
            tool: "read_unread",
            args: json!({"name": "reader", "topic_id": MEASURED, "mark_read": false}),
            request: Request::ReadUnread {
                name: "reader".into(),
                limit: 50,
                mark_read: false,
                topic_id: MEASURED.into(),
            },
        },
        Call {
            id: "get_handoff",
            tool: "get_handoff",
            args: json!({"name": "reader", "topic_id": MEASURED}),
            request: Request::GetHandoff {
                name: "reader".into(),
                recent_limit: 10,
                topic_id: MEASURED.into(),
            },
        },
        Call {
            id: "list_topics",
            tool: "list_topics",
            args: json!({}),
            request: Request::ListTopics {
                name: String::new(),
                status: "open".into(),
            },
        },
        Call {
            id: "list_topics_named",
            tool: "list_topics",
            args: json!({"name": "reader"}),
            request: Request::ListTopics {
                name: "reader".into(),
                status: "open".into(),
            },
        },
        // The writes come last, so the reads above see the room as written. A send into a topic
        // takes the main room's path (the topic's activity is written lazily), which these two
        // show side by side.
        Call {
            id: "send_in_topic",
            tool: "send_message",
            args: json!({"name": "writer", "topic_id": MEASURED, "content": SENT}),
            request: Request::SendMessage {
                name: "writer".into(),
                content: SENT.into(),
                to: "all".into(),
                topic_id: MEASURED.into(),
            },
        },
        Call {
            id: "send_in_main_room",
            tool: "send_message",
            args: json!({"name": "writer", "content": SENT}),
            request: Request::SendMessage {
                name: "writer".into(),
                content: SENT.into(),
                to: "all".into(),
                topic_id: String::new(),
            },
        },
    ]
}

/// What the timed sends say (about 100 bytes, like the latency section's).
const SENT: &str = "bench: a message of about a hundred bytes, sent durably into the room while it is being timed.";

pub(crate) async fn topic_rooms(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    let [small, large] = options.topic_sizes;
    report.section(&format!(
        "6. topics: one topic of {TOPICS}, in rooms of {} and {} messages ({} calls each)",
        human_count(small),
        human_count(large),
        options.size_calls
    ));
    let small_p50 = topic_room(options, small, report)
        .await
        .with_context(|| format!("the topic room of {small} messages"))?;
    let large_p50 = topic_room(options, large, report)
        .await
        .with_context(|| format!("the topic room of {large} messages"))?;
    println!();
    println!(
        "  {:<22} {:>12} {:>12} {:>8}",
        "per call (raw p50)",
        human_count(small),
        human_count(large),
        "ratio"
    );
    for ((id, small), (_, large)) in small_p50.iter().zip(&large_p50) {
        let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-9);
        println!(
            "  {id:<22} {:>12} {:>12} {ratio:>8.2}",
            ms(*small),
            ms(*large)
        );
        report
            .topic_ratios
            .push((id.clone(), *small, *large, ratio));
    }
    Ok(())
}

/// Measures one room; returns each call's raw p50, by call.
async fn topic_room(
    options: &Options,
    size: usize,
    report: &mut Report,
) -> anyhow::Result<Vec<(String, Duration)>> {
    let room = TestRoom::new();
    let state_dir = room.state_dir();
    std::fs::create_dir_all(&state_dir).context("creating .chatroom")?;
    eprintln!(
        "bench: writing {} messages in {TOPICS} topics",
        human_count(size)
    );
    write_topic_room(&state_dir, size).context("writing the room")?;
    let agent = room.agent_from(quiet_shim(&room)).await;
    let peer = agent.peer();
    let status = call_json(peer, "get_status", &json!({})).await?;
    ensure!(
        status["message_count"].as_u64() == Some(size as u64),
        "the daemon loaded {} messages, expected {size}",
        status["message_count"]
    );
    let pid = room.daemon_pid().context("no daemon")?;
    let (rss_kib, _) = memory_kib(pid).unwrap_or_default();
    eprintln!(
        "bench: topic room of {} loaded, daemon RSS {} MB",
        human_count(size),
        rss_kib / 1024
    );

    let mut raw = RawClient::connect(&room.paths().socket, ClientKind::Agent).await?;
    let warmup = options.warmup.min(options.size_calls);
    let prefix = format!("topics_{size}");
    let mut p50s = Vec::new();
    for call in calls() {
        let returned = describe(&raw.call(&call.request).await?)?;
        let params: Vec<&str> = call
            .args
            .as_object()
            .map(|args| args.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let through_shim = shim_offers(peer, call.tool, &params).await?;
        raw.time(&call.request, warmup).await?;
        let raw_times = raw.time(&call.request, options.size_calls).await?;
        let raw_p50 = Stats::of(&raw_times).p50;
        if through_shim {
            time_tool(peer, call.tool, &call.args, warmup).await?;
            let times = time_tool(peer, call.tool, &call.args, options.size_calls).await?;
            report.latency(
                &format!("{prefix}_{}", call.id),
                &format!("{} through shim + daemon", call.id),
                &times,
                &format!(
                    "{returned}; +{} over raw",
                    ms(Stats::of(&times).p50.saturating_sub(raw_p50))
                ),
            );
        }
        report.latency(
            &format!("{prefix}_{}_raw", call.id),
            &format!("  {} raw socket to the daemon", call.id),
            &raw_times,
            &if through_shim {
                String::new()
            } else {
                format!("{returned} (the shim does not offer this call yet)")
            },
        );
        p50s.push((call.id.to_owned(), raw_p50));
    }
    agent.close().await;
    ensure!(room.stop_daemon(), "the daemon was gone before stop");
    Ok(p50s)
}

/// What a reply held, for the notes.
fn describe(reply: &Response) -> anyhow::Result<String> {
    Ok(match reply {
        Response::Unread(unread) => {
            ensure!(
                !unread.messages.is_empty() && unread.messages.len() <= UNREAD,
                "read_unread returned {} messages",
                unread.messages.len()
            );
            format!("{} messages", unread.messages.len())
        }
        Response::Handoff(handoff) => {
            ensure!(handoff.topic.is_some(), "get_handoff without its topic");
            format!(
                "unread_count {}, {} recent",
                handoff.unread_count.unwrap_or_default(),
                handoff.recent_messages.len()
            )
        }
        Response::Topics(topics) => {
            ensure!(
                topics.len() == TOPICS,
                "list_topics listed {}",
                topics.len()
            );
            format!("{} topics", topics.len())
        }
        Response::Id(id) => format!("durable; id {id}"),
        other => bail!("unexpected reply {other:?}"),
    })
}

/// The scope of message `id`: one in 101 is in the main room (`None`), the others spread over
/// the topics.
fn scope_of(id: usize) -> Option<usize> {
    let scope = id % (TOPICS + 1);
    (scope < TOPICS).then_some(scope)
}

fn topic_name(index: usize) -> String {
    format!("topic-{index:02}")
}

/// Writes a room of `count` messages (as `rooms::write_room`'s: 80% broadcasts, the rest
/// direct among five names, ≈100 bytes each) spread over 100 topics and the main room, one
/// summary per topic, the topics' records, and `reader`'s cursor in the measured topic
/// [`UNREAD`] messages before its end.
fn write_topic_room(state_dir: &Path, count: usize) -> std::io::Result<()> {
    const NAMES: [&str; 5] = ["alice", "bob", "carol", "dave", "reader"];
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(state_dir.join("messages.jsonl"))?,
    );
    let mut line = String::with_capacity(256);
    let mut measured_ids = Vec::new();
    let (mut ts, mut ts_second) = (String::new(), u64::MAX);
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
        let _ = write!(line, r#"{{"id":{id},"ts":"{ts}","#);
        if let Some(topic) = scope_of(id) {
            let _ = write!(line, r#""topic_id":"{}","#, topic_name(topic));
            if topic_name(topic) == MEASURED {
                measured_ids.push(id);
            }
        }
        let _ = writeln!(
            line,
            r#""from":"{from}","to":"{to}","content":"step {id}: updated src/module_{}.rs and ran the suite ({} passed, 0 failed)"}}"#,
            id % 97,
            100 + id % 900,
        );
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;

    let created = format_ts(GENERATED_EPOCH);
    let mut summaries = String::new();
    let mut topics = BTreeMap::new();
    // Each topic's summary is its last activity, after every message.
    let summary_ts = format_ts(GENERATED_EPOCH + count as u64 / 4 + 1);
    for index in 0..TOPICS {
        let name = topic_name(index);
        let _ = writeln!(
            summaries,
            r#"{{"id":{},"ts":"{summary_ts}","topic_id":"{name}","from":"alice","scope":"all","content":"where {name} stands"}}"#,
            index + 1
        );
        topics.insert(
            name.clone(),
            json!({
                "id": name,
                "title": format!("workstream {index}"),
                "status": "open",
                "created_by": "system",
                "created_at": created,
                "closed_at": null,
                "last_activity_ts": summary_ts,
            }),
        );
    }
    std::fs::write(state_dir.join("summaries.jsonl"), summaries)?;
    std::fs::write(
        state_dir.join("topics.json"),
        serde_json::to_vec_pretty(&topics)?,
    )?;
    let cursor = measured_ids
        .len()
        .checked_sub(UNREAD + 1)
        .map_or(0, |index| measured_ids[index]);
    std::fs::write(
        state_dir.join("topic_cursors.json"),
        serde_json::to_vec_pretty(&json!({"reader": {MEASURED: cursor}}))?,
    )?;
    std::fs::write(state_dir.join("cursors.json"), b"{}")?;
    std::fs::write(state_dir.join("participants.json"), b"{}")?;
    Ok(())
}
