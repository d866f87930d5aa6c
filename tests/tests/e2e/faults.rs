//! Faults the daemon design must survive, injected against the real binaries: the daemon killed
//! with SIGKILL in the middle of writes (again and again), a shim orphaned with its stdin held
//! open, and an older and a newer protocol version meeting after an upgrade.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chatroom_tests::{
    DEFAULT_TIMEOUT, TestRoom, all_messages, assert_gap_free, eventually, names, process_running,
    shim_bin, text_of, wait_exit, wait_for,
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_the_daemon_during_writes_loses_nothing_acknowledged() {
    const AGENTS: usize = 4;
    const PER_AGENT: usize = 250;
    const KILLS: usize = 15;
    let room = TestRoom::new();
    let mut agents = Vec::new();
    for index in 0..AGENTS {
        let agent = room.agent().await;
        agent
            .ok(
                "join",
                json!({"name": format!("writer-{index}"), "role": "writer"}),
            )
            .await;
        agents.push(Arc::new(agent));
    }
    let acknowledged = Arc::new(AtomicU64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for (index, agent) in agents.iter().enumerate() {
        let agent = Arc::clone(agent);
        let acknowledged = Arc::clone(&acknowledged);
        writers.spawn(async move {
            let mut acked = Vec::new();
            let mut failed = Vec::new();
            for number in 0..PER_AGENT {
                let content = format!("writer-{index} message {number}");
                let args = json!({"name": format!("writer-{index}"), "content": content});
                let result = agent
                    .call("send_message", args)
                    .await
                    .expect("the MCP call itself");
                if result.is_error == Some(true) {
                    failed.push((content, text_of(&result)));
                } else {
                    acked.push(content);
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
            }
            (acked, failed)
        });
    }

    // Kill the daemon whenever writes are flowing: after each kill, wait for progress (new
    // acknowledgements through a new daemon) before the next one.
    let mut outages = Vec::new();
    for _ in 0..KILLS {
        let before = acknowledged.load(Ordering::SeqCst);
        let progressed = eventually(DEFAULT_TIMEOUT, || {
            let acknowledged = Arc::clone(&acknowledged);
            async move { (acknowledged.load(Ordering::SeqCst) >= before + 5).then_some(()) }
        })
        .await;
        if progressed.is_err()
            || acknowledged.load(Ordering::SeqCst) as usize >= AGENTS * PER_AGENT - 20
        {
            break;
        }
        let Some(pid) = room.daemon_pid() else {
            continue;
        };
        // SAFETY: kill(2) on the daemon named by the room's lock.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let killed_at = Instant::now();
        let at_kill = acknowledged.load(Ordering::SeqCst);
        let resumed = eventually(DEFAULT_TIMEOUT, || {
            let acknowledged = Arc::clone(&acknowledged);
            async move { (acknowledged.load(Ordering::SeqCst) > at_kill + 1).then_some(()) }
        })
        .await;
        assert!(
            resumed.is_ok(),
            "writes did not resume after the daemon was killed"
        );
        outages.push(killed_at.elapsed());
    }
    assert!(
        outages.len() >= 3,
        "only {} kills happened during the writes",
        outages.len()
    );

    let mut acked = Vec::new();
    let mut failed = Vec::new();
    while let Some(result) = writers.join_next().await {
        let (writer_acked, writer_failed) = result.unwrap();
        acked.extend(writer_acked);
        failed.extend(writer_failed);
    }
    let observer = room.agent().await;
    let messages = all_messages(&observer).await;
    assert_gap_free(&messages);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for message in messages
        .iter()
        .filter(|message| message["from"] != "system")
    {
        *seen
            .entry(message["content"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for content in &acked {
        assert_eq!(
            seen.get(content),
            Some(&1),
            "acknowledged {content:?} must be stored exactly once"
        );
    }
    for (content, error) in &failed {
        assert!(
            seen.get(content).copied().unwrap_or(0) <= 1,
            "{content:?} stored twice ({error})"
        );
    }
    assert!(
        seen.values().all(|count| *count == 1),
        "no message is stored twice"
    );
    // Every line on disk is whole and parses; the file holds exactly what the room serves.
    let lines: Vec<Value> = room
        .read_state("messages.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a whole JSON line"))
        .collect();
    assert_eq!(lines, messages);
    // The writers' names came back with their sessions.
    let present = observer.ok("list_participants", json!({})).await;
    for index in 0..AGENTS {
        assert!(
            names(&present).contains(&format!("writer-{index}")),
            "{present}"
        );
    }
    eprintln!(
        "{} kills; {} writes acknowledged, {} failed; outage (kill → next acknowledged write): max {:?}, mean {:?}",
        outages.len(),
        acked.len(),
        failed.len(),
        outages.iter().max().unwrap(),
        outages.iter().sum::<Duration>() / outages.len() as u32
    );
    assert!(failed.is_empty(), "the agents saw failures: {failed:?}");
    drop(agents);
    room.finish();
}

/// Speaks just enough MCP over a shim's stdio to join a name.
fn mcp_line(stdin: &mut impl Write, message: Value) {
    writeln!(stdin, "{message}").unwrap();
    stdin.flush().unwrap();
}

#[tokio::test]
async fn an_orphaned_shim_exits_and_its_names_leave_within_a_second() {
    let room = TestRoom::new();
    let observer = room.agent().await;
    observer.ok("join", json!({"name": "observer"})).await;

    // The MCP "client" is a shell that launches the shim and is then killed, while the test keeps
    // the shim's stdin open: only the shim's own watch on its parent can end it.
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        // A background job's stdin is /dev/null: hand it ours through fd 3.
        .arg("exec 3<&0; \"$0\" <&3 3<&- & echo $!; wait")
        .arg(shim_bin())
        .current_dir(&room.root)
        .env(protocol::paths::ENV_RUNTIME_DIR, &room.runtime_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut shell = shell.spawn().unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    let mut stdout = BufReader::new(shell.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let shim_pid: u32 = line
        .trim()
        .parse()
        .expect("the shell prints the shim's pid");
    mcp_line(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "orphan-test", "version": "0"}}}),
    );
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"id\":1"), "{line}");
    mcp_line(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    mcp_line(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "join", "arguments": {"name": "orphan"}}}),
    );
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.contains("\"id\":2") && line.contains("orphan"),
        "{line}"
    );

    shell.kill().unwrap();
    let killed_at = Instant::now();
    shell.wait().unwrap();
    let exited = wait_for(Duration::from_secs(1), || !process_running(shim_pid));
    assert!(
        exited.is_ok(),
        "the orphaned shim {shim_pid} is still running with its stdin open"
    );
    let left = eventually(Duration::from_secs(1), || async {
        let messages = observer.ok("read_messages", json!({"limit": 100})).await;
        messages
            .as_array()
            .unwrap()
            .iter()
            .any(|message| message["content"] == "orphan left the chatroom")
            .then_some(())
    })
    .await;
    assert!(
        left.is_ok(),
        "the orphan's name did not leave within a second"
    );
    eprintln!(
        "orphaned shim: exited and its name left {:?} after its parent died",
        killed_at.elapsed()
    );
    drop(stdin);
    room.finish();
}

/// A shim command speaking another protocol version (the test-only switch).
fn shim_speaking(room: &TestRoom, version: u32) -> tokio::process::Command {
    let mut command = room.shim_command();
    command.env("CHATROOM_TEST_PROTOCOL_VERSION", version.to_string());
    command
}

#[tokio::test]
async fn a_newer_shim_replaces_an_older_daemon_and_carries_on() {
    let room = TestRoom::new();
    let current = protocol::PROTOCOL_VERSION;
    // An agent on the old version starts an old daemon (the shim passes its environment on).
    let old_agent = room.agent_from(shim_speaking(&room, current - 1)).await;
    old_agent.ok("join", json!({"name": "old-timer"})).await;
    old_agent
        .ok(
            "send_message",
            json!({"name": "old-timer", "content": "written before the upgrade"}),
        )
        .await;
    let old_daemon = room.daemon_pid().expect("the old daemon runs");

    let new_agent = room.agent().await;
    let started = Instant::now();
    new_agent.ok("join", json!({"name": "newcomer"})).await;
    let took = started.elapsed();
    let new_daemon = room.daemon_pid().expect("a daemon runs");
    assert_ne!(new_daemon, old_daemon, "the old daemon was replaced");
    assert!(!process_running(old_daemon), "the old daemon exited");
    let messages = new_agent.ok("read_messages", json!({})).await;
    assert_eq!(messages[0]["content"], "written before the upgrade");
    assert!(
        room.log().contains("SIGTERM"),
        "the old daemon shut down cleanly"
    );

    // The old shim now meets a newer daemon: one line telling the user what to restart.
    let refused = old_agent.err("get_status", json!({})).await;
    assert!(
        refused.contains("restart your agent") && refused.contains(&format!("v{current}")),
        "{refused}"
    );
    eprintln!("upgrade: the first call of the newer shim took {took:?}, including the replacement");
    room.finish();
}

#[tokio::test]
async fn an_older_shim_meeting_a_newer_daemon_is_told_what_to_restart() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "current"})).await;
    let daemon = room.daemon_pid().unwrap();
    let old_agent = room
        .agent_from(shim_speaking(&room, protocol::PROTOCOL_VERSION - 1))
        .await;
    let refused = old_agent.err("join", json!({"name": "old"})).await;
    assert_eq!(
        refused,
        format!(
            "this chatroom-shim speaks protocol v{} but the running chatroomd (pid {daemon}) speaks the newer v{}: restart your agent so that it launches the newer chatroom-shim",
            protocol::PROTOCOL_VERSION - 1,
            protocol::PROTOCOL_VERSION
        )
    );
    assert_eq!(
        room.daemon_pid(),
        Some(daemon),
        "the newer daemon is left alone"
    );
    agent.ok("get_status", json!({})).await;
    room.finish();
}

#[test]
fn a_keyed_write_repeated_on_a_raw_connection_is_carried_out_once() {
    use interprocess::local_socket::prelude::*;
    use interprocess::local_socket::{GenericFilePath, Stream};
    use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, decode, encode, payload_len};
    use protocol::{ClientKind, ClientMessage, Hello, Request, Response, ServerMessage};
    use std::io::Read;

    let room = TestRoom::new();
    let mut daemon = room.spawn_daemon(&["--idle-timeout", "0"]);
    let connect = || {
        // A restarted daemon holds the lock a moment before it has replaced the dead one's
        // socket file: retry refused connects until it accepts (bounded).
        let name = room.paths().socket.to_fs_name::<GenericFilePath>().unwrap();
        let mut connected = None;
        wait_for(DEFAULT_TIMEOUT, || {
            connected = Stream::connect(name.clone()).ok();
            connected.is_some()
        })
        .expect("the daemon accepts connections");
        let mut stream = connected.unwrap();
        let hello = ClientMessage::Hello(Hello {
            version: protocol::PROTOCOL_VERSION,
            client_pid: std::process::id(),
            kind: ClientKind::Agent,
        });
        stream
            .write_all(&encode(&hello, MAX_CLIENT_FRAME).unwrap())
            .unwrap();
        stream
    };
    let read = |stream: &mut Stream| -> ServerMessage {
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).unwrap();
        let mut payload = vec![0u8; payload_len(prefix, MAX_SERVER_FRAME).unwrap()];
        stream.read_exact(&mut payload).unwrap();
        decode(&payload).unwrap()
    };
    let send = |stream: &mut Stream, id: u64| -> ServerMessage {
        let request = Request::SendMessage {
            topic_id: String::new(),
            name: "ann".into(),
            content: "once".into(),
            to: "all".into(),
        };
        let call = ClientMessage::KeyedCall {
            id,
            key: 0xfeed,
            request,
        };
        stream
            .write_all(&encode(&call, MAX_CLIENT_FRAME).unwrap())
            .unwrap();
        read(stream)
    };
    let mut first = connect();
    let _welcome = read(&mut first);
    assert!(matches!(
        send(&mut first, 1),
        ServerMessage::Reply {
            id: 1,
            outcome: Ok(Response::Id(1))
        }
    ));
    drop(first);
    // Again through a new connection, and again after a restart of the daemon.
    let mut second = connect();
    let _welcome = read(&mut second);
    assert!(matches!(
        send(&mut second, 7),
        ServerMessage::Reply {
            id: 7,
            outcome: Ok(Response::Id(1))
        }
    ));
    drop(second);
    // SAFETY: kill(2) on the daemon we spawned.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGKILL) };
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).unwrap();
    let mut daemon = room.spawn_daemon(&["--idle-timeout", "0"]);
    let mut third = connect();
    let _welcome = read(&mut third);
    assert!(matches!(
        send(&mut third, 9),
        ServerMessage::Reply {
            id: 9,
            outcome: Ok(Response::Id(1))
        }
    ));
    drop(third);
    let lines = room.read_state("messages.jsonl");
    assert_eq!(
        lines
            .lines()
            .filter(|line| line.contains("\"once\""))
            .count(),
        1,
        "{lines}"
    );
    room.stop_daemon();
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).unwrap();
}
