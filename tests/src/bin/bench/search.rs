//! Section 5: `search_messages` in rooms of 1k to 1M messages, with the search index's heap
//! (the daemon logs it at load) beside it. Three two-word queries: a common one (its hits are
//! the newest messages, so the walk stops at the limit at once), a selective one (the rarer word
//! leads, a few thousand hits in 1M), and one whose words never meet (the whole walk, the worst
//! case of an intersection). Through the shim when it offers the tool, and always over the raw
//! socket, which is what the daemon itself costs.

use anyhow::{Context, bail, ensure};
use chatroom_tests::TestRoom;
use protocol::{ClientKind, Request, Response};
use rmcp::{Peer, RoleClient};
use serde_json::{Value, json};

use crate::calls::{bounded, call_json, quiet_shim, time_tool};
use crate::floors::RawClient;
use crate::options::Options;
use crate::report::Report;
use crate::rooms::{memory_kib, write_room};
use crate::stats::{Stats, human_count, ms, round_ms};

/// The queries, against the contents `rooms::write_room` writes: "next: flaky socket tests" in
/// a quarter of the messages; "42" where `id % 97 == 42` (module_42) and "windows" in another
/// quarter, together in 1 of 388; "socket" and "windows" never in one message.
const QUERIES: [(&str, &str, &str); 3] = [
    ("common", "flaky socket", "hits are the newest messages"),
    ("selective", "42 windows", "the rarer word leads"),
    ("disjoint", "socket windows", "no hit: the whole walk"),
];

/// The result limit of every timed search (the tool's default).
const LIMIT: i64 = 20;

pub(crate) async fn search(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    report.section(&format!(
        "5. search_messages, two-word queries, limit {LIMIT} ({} calls each)",
        options.size_calls
    ));
    for &size in &options.search_sizes {
        search_room(options, size, report)
            .await
            .with_context(|| format!("searching a room of {size} messages"))?;
    }
    Ok(())
}

async fn search_room(options: &Options, size: usize, report: &mut Report) -> anyhow::Result<()> {
    let room = TestRoom::new();
    let state_dir = room.state_dir();
    std::fs::create_dir_all(&state_dir).context("creating .chatroom")?;
    eprintln!("bench: writing {} messages for search", human_count(size));
    write_room(&state_dir, size).context("writing the room")?;
    let agent = room.agent_from(quiet_shim(&room)).await;
    let peer = agent.peer();
    let status = call_json(peer, "get_status", &json!({})).await?;
    ensure!(
        status["message_count"].as_u64() == Some(size as u64),
        "the daemon loaded {} messages, expected {size}",
        status["message_count"]
    );
    let index_bytes = logged_number(&room.log(), "search_index_bytes=")
        .context("no `room loaded ... search_index_bytes=` in the daemon's log")?;
    let pid = room.daemon_pid().context("no daemon")?;
    let (rss_kib, _) = memory_kib(pid).unwrap_or_default();
    let prefix = format!("search_{size}");
    report.figure(
        &format!("{prefix}_index"),
        &format!("room of {}: search index heap", human_count(size)),
        &format!("{:.1} MB", index_bytes as f64 / 1e6),
        &format!(
            "{:.0} bytes a message; daemon RSS {} MB",
            index_bytes as f64 / size as f64,
            rss_kib / 1024
        ),
        json!({"index_bytes": index_bytes, "bytes_per_message": index_bytes / size as u64, "rss_kib": rss_kib}),
    );

    let through_shim = shim_offers(
        peer,
        "search_messages",
        &["query", "topic_id", "participant", "from", "limit"],
    )
    .await?;
    let mut raw = RawClient::connect(&room.paths().socket, ClientKind::Agent).await?;
    let warmup = options.warmup.min(options.size_calls);
    for (kind, query, what) in QUERIES {
        let request = Request::SearchMessages {
            query: query.into(),
            topic_id: String::new(),
            participant: String::new(),
            from: String::new(),
            limit: LIMIT,
        };
        let hits = match raw.call(&request).await? {
            Response::Messages(messages) => messages.len(),
            other => bail!("search_messages answered {other:?}"),
        };
        let note = format!("{query:?}: {hits} hits; {what}");
        raw.time(&request, warmup).await?;
        let raw_times = raw.time(&request, options.size_calls).await?;
        let raw_p50 = Stats::of(&raw_times).p50;
        let mut p50 = raw_p50;
        if through_shim {
            let args = json!({"query": query, "limit": LIMIT});
            let returned = call_json(peer, "search_messages", &args).await?;
            ensure!(
                returned.as_array().map(Vec::len) == Some(hits),
                "the shim's search_messages returned {returned}, the daemon {hits} messages"
            );
            time_tool(peer, "search_messages", &args, warmup).await?;
            let times = time_tool(peer, "search_messages", &args, options.size_calls).await?;
            let stats = report.latency(
                &format!("{prefix}_{kind}"),
                &format!("search {kind} through shim + daemon"),
                &times,
                &format!(
                    "{note}; +{} over raw",
                    ms(Stats::of(&times).p50.saturating_sub(raw_p50))
                ),
            );
            report.extra("hits", json!(hits));
            report.extra("raw_p50_ms", json!(round_ms(raw_p50)));
            p50 = stats.p50;
        }
        report.latency(
            &format!("{prefix}_{kind}_raw"),
            &format!("  search {kind} raw socket to the daemon"),
            &raw_times,
            &if through_shim {
                String::new()
            } else {
                format!("{note} (the shim has no search_messages yet)")
            },
        );
        report.extra("hits", json!(hits));
        report
            .searches
            .push((size, kind.to_owned(), p50, through_shim));
    }
    agent.close().await;
    ensure!(room.stop_daemon(), "the daemon was gone before stop");
    Ok(())
}

/// Whether the shim lists `tool` with every one of `params`: a tool without a parameter would
/// ignore it, and time the wrong call.
pub(crate) async fn shim_offers(
    peer: &Peer<RoleClient>,
    tool: &str,
    params: &[&str],
) -> anyhow::Result<bool> {
    let tools = bounded("tools/list", peer.list_all_tools()).await?;
    Ok(tools.iter().any(|listed| {
        listed.name == tool
            && listed
                .input_schema
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|properties| {
                    params.iter().all(|param| properties.contains_key(*param))
                })
    }))
}

/// The number after `field` on the last "room loaded" line of the daemon's log.
pub(crate) fn logged_number(log: &str, field: &str) -> Option<u64> {
    let line = log
        .lines()
        .rev()
        .find(|line| line.contains("room loaded"))?;
    let rest = &line[line.find(field)? + field.len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}
