//! Load: 64 sessions sending and reading at once for a minute (`CHATROOM_LOAD_SECS` to change
//! it): no error, no message lost or stored twice; the latencies are printed for the record
//! (speed is judged by `scripts/bench`, never asserted here).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatroom_tests::{Agent, TestRoom, all_messages, assert_gap_free};
use serde_json::json;

const SESSIONS: usize = 64;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_sessions_for_a_minute_lose_nothing() {
    let seconds: u64 = std::env::var("CHATROOM_LOAD_SECS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(60);
    let room = TestRoom::new();
    let mut agents = Vec::new();
    for index in 0..SESSIONS {
        let agent = room.agent().await;
        agent
            .ok("join", json!({"name": format!("agent-{index}")}))
            .await;
        agents.push(Arc::new(agent));
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, agent) in agents.iter().enumerate() {
        let agent = Arc::clone(agent);
        tasks.spawn(async move {
            let name = format!("agent-{index}");
            let (mut sent, mut send_times, mut read_times, mut errors) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut number = 0;
            while Instant::now() < deadline {
                let to = if number % 4 == 0 {
                    format!("agent-{}", (index + 1) % SESSIONS)
                } else {
                    "all".to_owned()
                };
                let content = format!("{name} #{number}");
                let started = Instant::now();
                let result = agent
                    .call(
                        "send_message",
                        json!({"name": name, "to": to, "content": content}),
                    )
                    .await;
                send_times.push(started.elapsed());
                match result {
                    Ok(result) if result.is_error != Some(true) => sent.push(content),
                    Ok(result) => errors.push(chatroom_tests::text_of(&result)),
                    Err(err) => errors.push(err.to_string()),
                }
                if number % 3 == 0 {
                    let started = Instant::now();
                    let result = agent
                        .call("read_unread", json!({"name": name, "limit": 100}))
                        .await;
                    read_times.push(started.elapsed());
                    match result {
                        Ok(result) if result.is_error != Some(true) => {}
                        Ok(result) => errors.push(chatroom_tests::text_of(&result)),
                        Err(err) => errors.push(err.to_string()),
                    }
                }
                number += 1;
            }
            (sent, send_times, read_times, errors)
        });
    }
    let (mut sent, mut send_times, mut read_times, mut errors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(result) = tasks.join_next().await {
        let (a, b, c, d) = result.unwrap();
        sent.extend(a);
        send_times.extend(b);
        read_times.extend(c);
        errors.extend(d);
    }
    assert!(
        errors.is_empty(),
        "{} calls failed, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );

    let observer: &Agent = &agents[0];
    let messages = all_messages(observer).await;
    assert_gap_free(&messages);
    let mut stored: HashMap<&str, usize> = HashMap::new();
    for message in &messages {
        *stored
            .entry(message["content"].as_str().unwrap())
            .or_default() += 1;
    }
    assert_eq!(
        messages.len(),
        sent.len(),
        "exactly the acknowledged messages are stored"
    );
    for content in &sent {
        assert_eq!(
            stored.get(content.as_str()),
            Some(&1),
            "{content:?} stored once"
        );
    }
    send_times.sort();
    read_times.sort();
    eprintln!(
        "load: {SESSIONS} sessions for {seconds}s: {} messages ({:.0}/s), {} read_unread; send p50 {:?} p99 {:?} max {:?}; read_unread p50 {:?} p99 {:?} max {:?}",
        sent.len(),
        sent.len() as f64 / seconds as f64,
        read_times.len(),
        percentile(&send_times, 0.5),
        percentile(&send_times, 0.99),
        send_times.last().unwrap(),
        percentile(&read_times, 0.5),
        percentile(&read_times, 0.99),
        read_times.last().unwrap(),
    );
    drop(agents);
    room.finish();
}
