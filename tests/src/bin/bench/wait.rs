//! `wait_for_messages` wake-up latency: a message sent over the raw socket protocol → the
//! waiter's answer, for a waiter behind a real shim (rmcp's MCP client → `chatroom-shim` →
//! `chatroomd`), beside the same wake-up of a waiter on the raw socket in the same run (the
//! floor: what the daemon's durable batch and its answer to the waiter cost). Both intervals
//! include the send's durable write, since a waiter is answered once the batch is durable.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chatroom_tests::TestRoom;
use protocol::{ClientKind, Request, Response};
use serde_json::json;

use crate::CONTENT;
use crate::calls::{call_json, quiet_shim};
use crate::floors::RawClient;
use crate::options::Options;
use crate::report::Report;
use crate::stats::round3;

/// The pause before each send, outside the timed interval, in which the wait reaches the daemon
/// and parks there (nothing outside the daemon can see that it has).
const SETTLE: Duration = Duration::from_millis(5);

pub(crate) async fn wait_wakeup(options: &Options, report: &mut Report) -> anyhow::Result<()> {
    let count = (options.calls / 10).max(20);
    let warmup = (options.warmup / 10).max(2);
    report.section(&format!(
        "8. wait_for_messages wake-up: message sent → waiter answered ({count} wakes each)"
    ));
    let room = TestRoom::new();
    let agent = room.agent_from(quiet_shim(&room)).await;
    call_json(agent.peer(), "join", &json!({"name": "ann"})).await?;
    let socket = room.paths().socket;
    let mut sender = RawClient::connect(&socket, ClientKind::Agent).await?;
    let mut waiter = RawClient::connect(&socket, ClientKind::Agent).await?;
    for (client, name) in [(&mut sender, "bob"), (&mut waiter, "raw-ann")] {
        client
            .call(&Request::Join {
                name: name.into(),
                role: "general".into(),
            })
            .await?;
    }
    let send_to = |to: &str| Request::SendMessage {
        topic_id: String::new(),
        name: "bob".into(),
        content: CONTENT.into(),
        to: to.into(),
    };

    let (to_shim, to_raw) = (send_to("ann"), send_to("raw-ann"));
    let wait_args = json!({"name": "ann", "timeout_s": 30});
    let mut shim = Vec::with_capacity(count);
    for round in 0..warmup + count {
        let wait = async {
            let waited = call_json(agent.peer(), "wait_for_messages", &wait_args).await;
            (waited, Instant::now())
        };
        let send = async {
            tokio::time::sleep(SETTLE).await;
            let start = Instant::now();
            sender.call(&to_shim).await.map(|_| start)
        };
        let ((waited, answered), start) = tokio::join!(wait, send);
        let (waited, start) = (waited?, start?);
        ensure!(
            waited["timed_out"] == false
                && waited["messages"].as_array().is_some_and(|m| m.len() == 1),
            "the shim's wait was not answered with the message: {waited}"
        );
        if round >= warmup {
            shim.push(answered.saturating_duration_since(start));
        }
    }

    let wait_request = Request::WaitForMessages {
        name: "raw-ann".into(),
        topic_id: String::new(),
        timeout_s: 30,
        limit: 50,
        mark_read: true,
    };
    let mut raw = Vec::with_capacity(count);
    for round in 0..warmup + count {
        let wait = async {
            let waited = waiter.call(&wait_request).await;
            (waited, Instant::now())
        };
        let send = async {
            tokio::time::sleep(SETTLE).await;
            let start = Instant::now();
            sender.call(&to_raw).await.map(|_| start)
        };
        let ((waited, answered), start) = tokio::join!(wait, send);
        let start = start?;
        match waited.context("the raw wait")? {
            Response::Waited(waited) if !waited.timed_out && waited.unread.messages.len() == 1 => {}
            other => anyhow::bail!("the raw wait was not answered with the message: {other:?}"),
        }
        if round >= warmup {
            raw.push(answered.saturating_duration_since(start));
        }
    }

    let shim_stats = report.latency(
        "wait_wakeup_shim",
        "raw send → shim waiter's result (MCP)",
        &shim,
        "includes the send's fdatasync",
    );
    let raw_stats = report.latency(
        "wait_wakeup_raw",
        "raw send → raw-socket waiter's reply (floor)",
        &raw,
        "same daemon, same run",
    );
    let ratio = shim_stats.p50.as_secs_f64() / raw_stats.p50.as_secs_f64().max(1e-9);
    report.figure(
        "wait_wakeup_ratio",
        "shim wake-up p50 ÷ raw wake-up p50",
        &format!("{ratio:.2}×"),
        &format!(
            "the shim adds {:.0} µs at p50",
            (shim_stats.p50.as_secs_f64() - raw_stats.p50.as_secs_f64()) * 1e6
        ),
        json!({"ratio": round3(ratio)}),
    );
    agent.close().await;
    Ok(())
}
