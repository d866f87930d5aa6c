//! Section 4: the durable throughput of concurrent senders, and where its CPU goes.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use chatroom_tests::TestRoom;
use protocol::{ClientKind, Request};
use serde_json::json;

use crate::CONTENT;
use crate::calls::{call_json, call_tool, quiet_shim, time_tool};
use crate::floors::RawClient;
use crate::options::Options;
use crate::report::Report;
use crate::stats::{CpuSnapshot, ms, round_ms, round3};
use crate::syncs::count_syncs;

pub(crate) async fn throughput(options: &Options, report: &mut Report) -> anyhow::Result<()> {
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
        "  syncs per acknowledged send (strace, untimed)",
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
                topic_id: String::new(),
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
