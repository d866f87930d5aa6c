//! The daemon's life: exactly one per repository however many shims start it at once, no lost or
//! duplicated message under concurrent senders, the exit status of a second `serve`, and the exit
//! after the idle timeout.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chatroom_tests::{
    Agent, DEFAULT_TIMEOUT, TestRoom, daemon_processes, ids, names, process_running, wait_exit,
    wait_for,
};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// Starts `count` shims at once in `room`, each calling a tool immediately (joining as
/// `agent-<i>`), and returns them in index order.
async fn start_at_once(room: &Arc<TestRoom>, count: usize) -> Vec<Agent> {
    let mut starting = JoinSet::new();
    for index in 0..count {
        let room = room.clone();
        starting.spawn(async move {
            let agent = room.agent().await;
            let joined = agent
                .ok("join", json!({"name": format!("agent-{index}")}))
                .await;
            assert!(names(&joined).contains(&format!("agent-{index}")));
            (index, agent)
        });
    }
    let mut agents: Vec<(usize, Agent)> = Vec::new();
    while let Some(started) = starting.join_next().await {
        agents.push(started.expect("an agent starts and joins"));
    }
    agents.sort_by_key(|(index, _)| *index);
    agents.into_iter().map(|(_, agent)| agent).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_shims_starting_at_once_share_one_daemon() {
    for round in 0..5 {
        let room = Arc::new(TestRoom::new());
        let agents = start_at_once(&room, 8).await;

        let pid = room.daemon_pid().expect("a daemon holds the room");
        let status = room.status();
        assert_eq!(status["running"], true, "round {round}: {status}");
        assert_eq!(status["daemon"]["pid"], pid, "round {round}: {status}");
        let sessions = status["daemon"]["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 8, "round {round}: {status}");
        let mut shims: Vec<u64> = sessions
            .iter()
            .map(|session| session["client_pid"].as_u64().unwrap())
            .collect();
        shims.sort_unstable();
        let mut expected: Vec<u64> = agents.iter().map(|agent| u64::from(agent.pid)).collect();
        expected.sort_unstable();
        assert_eq!(shims, expected, "round {round}: one session per shim");
        assert_eq!(
            daemon_processes(&room.root),
            [pid],
            "round {round}: exactly one chatroomd serves {}",
            room.root.display()
        );
        let participants = agents[0].ok("list_participants", json!({})).await;
        assert_eq!(participants.as_array().unwrap().len(), 8);

        for agent in agents {
            agent.close().await;
        }
        Arc::into_inner(room).expect("the only reference").finish();
        assert!(!process_running(pid), "round {round}: the daemon is gone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_senders_get_unique_gap_free_ids_and_lose_nothing() {
    const SENDERS: usize = 8;
    const EACH: usize = 50;
    const TOTAL: u64 = (SENDERS * EACH) as u64;
    let room = Arc::new(TestRoom::new());
    let agents = start_at_once(&room, SENDERS).await;

    let mut sending = JoinSet::new();
    for (index, agent) in agents.into_iter().enumerate() {
        sending.spawn(async move {
            let mut ids = Vec::with_capacity(EACH);
            for number in 0..EACH {
                let reply = agent
                    .ok(
                        "send_message",
                        json!({"name": format!("agent-{index}"), "content": format!("{index}/{number}")}),
                    )
                    .await;
                ids.push(reply["id"].as_u64().expect("an id"));
            }
            (agent, ids)
        });
    }
    let mut agents = Vec::new();
    let mut all_ids = Vec::new();
    while let Some(sent) = sending.join_next().await {
        let (agent, ids) = sent.expect("a sender");
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "one sender's ids increase: {ids:?}"
        );
        all_ids.extend(ids);
        agents.push(agent);
    }
    all_ids.sort_unstable();
    assert_eq!(
        all_ids,
        (1..=TOTAL).collect::<Vec<_>>(),
        "unique and gap-free"
    );

    // Every message is in the room exactly once, and in the file exactly once.
    let expected: BTreeSet<String> = (0..SENDERS)
        .flat_map(|index| (0..EACH).map(move |number| format!("{index}/{number}")))
        .collect();
    let mut read: Vec<Value> = Vec::new();
    let mut since_id = 0;
    loop {
        let page = agents[0]
            .ok("read_messages", json!({"since_id": since_id, "limit": 100}))
            .await;
        let page = page.as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        since_id = last["id"].as_u64().unwrap();
        read.extend(page);
    }
    assert_eq!(
        ids(&Value::Array(read.clone())),
        (1..=TOTAL).collect::<Vec<_>>()
    );
    let read_contents: Vec<String> = read
        .iter()
        .map(|message| message["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        read_contents.iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    for message in &read {
        let (index, _) = message["content"]
            .as_str()
            .unwrap()
            .split_once('/')
            .unwrap();
        assert_eq!(message["from"], format!("agent-{index}"));
    }

    let file = room.read_state("messages.jsonl");
    let lines: Vec<Value> = file
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON record"))
        .collect();
    assert_eq!(
        lines, read,
        "messages.jsonl holds exactly what the room serves"
    );
    assert_eq!(
        agents[0].ok("get_status", json!({})).await["message_count"],
        TOTAL
    );

    for agent in agents {
        agent.close().await;
    }
    Arc::into_inner(room).expect("the only reference").finish();
}

#[tokio::test]
async fn a_second_serve_exits_with_status_3_naming_the_holder() {
    let room = TestRoom::new();
    let mut first = room.spawn_daemon(&[]);
    let pid = first.id();

    for args in [&["serve"][..], &["serve", "--foreground"][..]] {
        let second = room.chatroomd(args);
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("pid {pid}")),
            "{args:?} names the holder: {stderr}"
        );
        assert!(
            stderr.contains(&room.root.display().to_string()),
            "{args:?} names the room: {stderr}"
        );
    }
    // The first one is undisturbed and serves agents.
    assert_eq!(room.daemon_pid(), Some(pid));
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    assert_eq!(room.status()["daemon"]["pid"], pid);
    agent.close().await;

    let stop = room.chatroomd(&["stop"]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let status = wait_exit(&mut first, DEFAULT_TIMEOUT).expect("the daemon exits after stop");
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
    assert_eq!(room.daemon_pid(), None);
    assert!(!room.paths().socket.exists(), "the socket is removed");
}

#[tokio::test]
async fn the_daemon_exits_on_its_own_after_the_idle_timeout() {
    let room = TestRoom::new();
    let mut daemon = room.spawn_daemon(&["--idle-timeout", "2"]);
    let pid = daemon.id();

    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    let status = room.status();
    assert_eq!(
        status["daemon"]["pid"], pid,
        "the agent is served by our daemon: {status}"
    );
    assert_eq!(status["daemon"]["sessions"].as_array().unwrap().len(), 1);
    agent.close().await;

    // An exit is the signal; the deadline only bounds the wait.
    let exited =
        wait_exit(&mut daemon, Duration::from_secs(15)).expect("the daemon exits when idle");
    assert_eq!(exited.code(), Some(0), "an idle exit is a clean exit");
    wait_for(Duration::from_secs(5), || !room.paths().socket.exists())
        .expect("the socket file is removed");
    assert_eq!(room.daemon_pid(), None);
    // Nothing is lost: the departure was recorded before the exit.
    let status = room.status();
    assert_eq!(status["running"], false);
    assert_eq!(status["on_disk"]["message_count"], 1, "{status}");
    assert_eq!(status["on_disk"]["participants"], json!([]), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shim_carries_concurrent_calls() {
    const CALLS: u64 = 40;
    let room = TestRoom::new();
    let agent = Arc::new(room.agent().await);
    agent.ok("join", json!({"name": "alice"})).await;

    let mut calls = JoinSet::new();
    for number in 0..CALLS {
        let agent = agent.clone();
        calls.spawn(async move {
            // Interleave writes and reads on the one session.
            let reply = agent
                .ok(
                    "send_message",
                    json!({"name": "alice", "content": format!("call {number}")}),
                )
                .await;
            agent.ok("read_messages", json!({"limit": 100})).await;
            reply["id"].as_u64().expect("an id")
        });
    }
    let mut sent = Vec::new();
    while let Some(id) = calls.join_next().await {
        sent.push(id.expect("a call"));
    }
    sent.sort_unstable();
    assert_eq!(sent, (1..=CALLS).collect::<Vec<_>>());
    let messages = agent.ok("read_messages", json!({"limit": 100})).await;
    let mut seen: Vec<String> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["content"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut expected: Vec<String> = (0..CALLS).map(|number| format!("call {number}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(
        room.status()["daemon"]["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn subdirectories_and_linked_worktrees_share_the_room() {
    let room = TestRoom::new();
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(&room.root)
            .output()
            .expect("running git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    git(&["commit", "-q", "--allow-empty", "-m", "start"]);
    let worktree = room.root.parent().expect("the temp dir").join("wt");
    git(&["worktree", "add", "-q", worktree.to_str().unwrap()]);
    let deep = worktree.join("src/deep");
    std::fs::create_dir_all(&deep).unwrap();
    let sub = room.root.join("sub");
    std::fs::create_dir_all(&sub).unwrap();

    let main_agent = room.agent().await;
    main_agent.ok("join", json!({"name": "main"})).await;
    let mut in_sub = room.shim_command();
    in_sub.current_dir(&sub);
    let mut in_worktree = room.shim_command();
    in_worktree.current_dir(&deep);
    let (sub_agent, worktree_agent) =
        tokio::join!(room.agent_from(in_sub), room.agent_from(in_worktree));
    sub_agent.ok("join", json!({"name": "sub"})).await;
    let joined = worktree_agent.ok("join", json!({"name": "worktree"})).await;
    assert_eq!(names(&joined), ["main", "sub", "worktree"]);

    let status = room.status();
    assert_eq!(
        status["daemon"]["sessions"].as_array().unwrap().len(),
        3,
        "{status}"
    );
    assert_eq!(daemon_processes(&room.root).len(), 1);
    assert!(
        !worktree.join(".chatroom").exists(),
        "the worktree has no room of its own"
    );
    assert!(!sub.join(".chatroom").exists());
}

#[tokio::test]
async fn a_dead_owner_thread_ends_the_daemon_and_the_next_call_starts_a_fresh_one() {
    let room = TestRoom::new();
    // Only this first daemon has the fault: the one the shim starts next is healthy.
    let mut command = room.chatroomd_command(&["serve"]);
    command.env("CHATROOM_TEST_OWNER_PANIC_ON", "poison");
    let mut first = room.spawn_daemon_from(command);
    let pid = first.id();

    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    agent
        .ok(
            "send_message",
            json!({"name": "alice", "content": "before"}),
        )
        .await;
    // The owner panics on this send before storing it. Its daemon must go (not linger with a
    // live accept loop and the lock), so the shim's repeat reaches a fresh daemon and is stored.
    let sent = agent
        .ok(
            "send_message",
            json!({"name": "alice", "content": "poison"}),
        )
        .await;
    let status = wait_exit(&mut first, DEFAULT_TIMEOUT).expect("the daemon exits with its owner");
    assert_eq!(status.code(), Some(1), "an owner's death is a failure");
    let log = room.log();
    assert!(
        log.contains("the room owner stopped unexpectedly"),
        "the log says why: {log}"
    );
    let fresh = room.daemon_pid().expect("a fresh daemon serves the room");
    assert_ne!(fresh, pid);

    let messages = agent.ok("read_messages", json!({})).await;
    let contents: Vec<String> = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["from"] == "alice")
        .map(|message| message["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(contents, ["before", "poison"], "{messages}");
    assert_eq!(sent["id"].as_u64(), ids(&messages).last().copied());
    agent.close().await;
    room.finish();
}
