//! Presence is the session's lifetime: a shim killed with SIGKILL or closed by its client frees
//! its names within one second, with the same system message as `leave`, and a name is only ever
//! held by one live session, however many race for it.

use std::time::{Duration, Instant};

use chatroom_tests::{Agent, TestRoom, eventually, names, process_running};
use serde_json::json;
use tokio::task::JoinSet;

/// The contract's bound: a name is free again as soon as its holder is gone.
const LIVENESS_DEADLINE: Duration = Duration::from_secs(1);

/// Waits until `observer` sees the system message `"<name> left the chatroom"`, and returns how
/// long that took from `since`. Panics after [`LIVENESS_DEADLINE`].
pub(crate) async fn left_within_deadline(observer: &Agent, name: &str, since: Instant) -> Duration {
    let expected = format!("{name} left the chatroom");
    let found = eventually(LIVENESS_DEADLINE, || async {
        let messages = observer.ok("read_messages", json!({"limit": 100})).await;
        messages
            .as_array()
            .expect("a list")
            .iter()
            .find(|message| message["content"] == expected.as_str())
            .cloned()
    })
    .await;
    let elapsed = since.elapsed();
    let message = found
        .unwrap_or_else(|_| panic!("\"{expected}\" did not appear within {LIVENESS_DEADLINE:?}"))
        .0;
    assert!(
        elapsed <= LIVENESS_DEADLINE,
        "\"{expected}\" took {elapsed:?}, over {LIVENESS_DEADLINE:?}"
    );
    assert_eq!(message["from"], "system");
    assert_eq!(message["to"], "all");
    elapsed
}

/// A room where `holder` holds "alice" and "alice-2" and `observer` holds "observer".
async fn two_agents(room: &TestRoom) -> (Agent, Agent) {
    let (holder, observer) = tokio::join!(room.agent(), room.agent());
    holder
        .ok("join", json!({"name": "alice", "role": "dev"}))
        .await;
    holder.ok("join", json!({"name": "alice-2"})).await;
    observer.ok("join", json!({"name": "observer"})).await;
    (holder, observer)
}

/// After the holder is gone: both of its names left, once each, and can be taken at once.
async fn names_are_free(room: &TestRoom, observer: &Agent) {
    let messages = observer.ok("read_messages", json!({"limit": 100})).await;
    for name in ["alice", "alice-2"] {
        let announced = messages
            .as_array()
            .unwrap()
            .iter()
            .filter(|message| message["content"] == format!("{name} left the chatroom").as_str())
            .count();
        assert_eq!(announced, 1, "{name}: {messages}");
    }
    assert_eq!(
        names(&observer.ok("list_participants", json!({})).await),
        ["observer"]
    );
    let successor = room.agent().await;
    let joined = successor.ok("join", json!({"name": "alice"})).await;
    assert_eq!(names(&joined), ["alice", "observer"]);
    observer.ok("join", json!({"name": "alice-2"})).await;
}

#[tokio::test]
async fn a_killed_shim_leaves_within_one_second() {
    let room = TestRoom::new();
    let (mut holder, observer) = two_agents(&room).await;
    let pid = holder.pid;

    let killed_at = Instant::now();
    holder.kill();
    let elapsed = left_within_deadline(&observer, "alice", killed_at).await;
    left_within_deadline(&observer, "alice-2", killed_at).await;
    eprintln!("a killed shim's names left after {elapsed:?}");

    holder.reap().await;
    assert!(!process_running(pid));
    names_are_free(&room, &observer).await;
}

#[tokio::test]
async fn a_shim_whose_stdin_closes_leaves_within_one_second() {
    let room = TestRoom::new();
    let (holder, observer) = two_agents(&room).await;
    let pid = holder.pid;

    let closed_at = Instant::now();
    // `close` returns once the shim has exited (it is reaped); the client would SIGTERM it only
    // after 3 s, so observing the departure within one second proves the shim left on its own.
    holder.close().await;
    let elapsed = left_within_deadline(&observer, "alice", closed_at).await;
    left_within_deadline(&observer, "alice-2", closed_at).await;
    eprintln!("a closed shim's names left after {elapsed:?}");

    assert!(!process_running(pid));
    names_are_free(&room, &observer).await;
}

#[tokio::test]
async fn of_eight_sessions_racing_for_one_name_exactly_one_wins() {
    let room = std::sync::Arc::new(TestRoom::new());
    let mut starting = JoinSet::new();
    for _ in 0..8 {
        let room = room.clone();
        starting.spawn(async move { room.agent().await });
    }
    let mut agents = Vec::new();
    while let Some(agent) = starting.join_next().await {
        let agent = agent.expect("starting an agent");
        // Connect first, so that the joins themselves race rather than the daemon's start.
        agent.ok("get_status", json!({})).await;
        agents.push(agent);
    }

    let mut racing = JoinSet::new();
    for (index, agent) in agents.into_iter().enumerate() {
        racing.spawn(async move {
            let result = agent
                .call(
                    "join",
                    json!({"name": "x", "role": format!("racer-{index}")}),
                )
                .await
                .expect("join answered");
            (index, agent, result)
        });
    }
    let mut winners = Vec::new();
    let mut agents = Vec::new();
    while let Some(joined) = racing.join_next().await {
        let (index, agent, result) = joined.expect("a racer");
        let text = chatroom_tests::text_of(&result);
        if result.is_error == Some(true) {
            assert_eq!(text, "name 'x' is already active in another session");
        } else {
            winners.push((index, text));
        }
        agents.push(agent);
    }
    assert_eq!(winners.len(), 1, "exactly one join succeeds: {winners:?}");
    let participants = agents[0].ok("list_participants", json!({})).await;
    assert_eq!(names(&participants), ["x"]);
    assert_eq!(participants[0]["role"], format!("racer-{}", winners[0].0));
    assert_eq!(
        agents[0].ok("get_status", json!({})).await["message_count"],
        0
    );

    for agent in agents {
        agent.close().await;
    }
    let room = std::sync::Arc::into_inner(room).expect("the only reference");
    room.finish();
}
