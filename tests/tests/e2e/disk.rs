//! Disk trouble under a running room: a file-size limit reached mid-append, a `.chatroom/` that
//! even root cannot write, and corrupt `participants.json`/`cursors.json` at start. Writes are
//! refused with one line naming the condition, reads keep working, a refused write changes
//! nothing (membership and cursors included), nothing stored is damaged, and writes work again
//! as soon as the disk does. The read-only test needs root (`chattr +i`): skipped with a printed
//! reason when not root, unless `CHATROOM_TEST_REQUIRE_ROOT=1` demands it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chatroom_tests::{
    Agent, DEFAULT_TIMEOUT, TestRoom, contents, eventually, ids, names, process_running,
    run_bounded, runs_as_root, wait_exit,
};
use serde_json::{Value, json};

/// Parses every line of `messages.jsonl`: each one complete JSON record, ids strictly increasing.
fn stored_messages(room: &TestRoom) -> Vec<Value> {
    let text = room.read_state("messages.jsonl");
    assert!(
        text.ends_with('\n'),
        "messages.jsonl ends with a complete line"
    );
    let records: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("a torn line ({err}): {line}"))
        })
        .collect();
    let stored = ids(&Value::Array(records.clone()));
    assert!(
        stored.windows(2).all(|pair| pair[0] < pair[1]),
        "ids increase: {stored:?}"
    );
    records
}

/// Asserts every acknowledged `(id, content)` is stored exactly once, that nothing refused was
/// stored, and that ids run from 1 without a gap.
fn assert_stored_once(room: &TestRoom, acked: &[(u64, String)], refused: &[String]) {
    let records = stored_messages(room);
    let stored_ids = ids(&Value::Array(records.clone()));
    let expected: Vec<u64> = (1..=stored_ids.len() as u64).collect();
    assert_eq!(stored_ids, expected, "ids continue without a gap");
    let stored_contents = contents(&Value::Array(records.clone()));
    for (id, content) in acked {
        let matching: Vec<&Value> = records.iter().filter(|r| r["id"] == *id).collect();
        assert_eq!(matching.len(), 1, "id {id} is stored once");
        assert_eq!(matching[0]["content"], content.as_str(), "id {id}");
        let copies = stored_contents.iter().filter(|c| *c == content).count();
        assert_eq!(copies, 1, "{content:?} is stored once");
    }
    for content in refused {
        assert!(
            !stored_contents.contains(content),
            "a refused message was stored: {content:?}"
        );
    }
}

async fn send(agent: &Agent, name: &str, content: &str) -> u64 {
    agent
        .ok("send_message", json!({"name": name, "content": content}))
        .await["id"]
        .as_u64()
        .expect("an id")
}

/// The reads an agent relies on, all answered from memory while the disk refuses writes:
/// `message_ids` are the newest ids (at most 100), `count` how many messages there are.
async fn assert_reads_work(agent: &Agent, message_ids: &[u64], count: usize, cursor: u64) {
    let since_id = message_ids[0] - 1;
    assert_eq!(
        ids(&agent
            .ok("read_messages", json!({"since_id": since_id, "limit": 100}))
            .await),
        message_ids
    );
    let status = agent.ok("get_status", json!({})).await;
    assert_eq!(status["message_count"], count);
    let peek = agent
        .ok("read_unread", json!({"name": "alice", "mark_read": false}))
        .await;
    assert_eq!(peek["last_read_id"], cursor, "{peek}");
    let handoff = agent
        .ok("get_handoff", json!({"name": "alice", "recent_limit": 5}))
        .await;
    assert_eq!(handoff["cursor"], cursor, "{handoff}");
    assert_eq!(
        handoff["latest_message_id"],
        message_ids[message_ids.len() - 1]
    );
    assert_eq!(
        agent.ok("get_cursor", json!({"name": "alice"})).await["last_read_id"],
        cursor
    );
}

/// The names in the room with their roles and join times (`last_seen` moves with reads).
async fn membership(agent: &Agent) -> Vec<(String, String, String)> {
    let participants = agent.ok("list_participants", json!({})).await;
    participants
        .as_array()
        .expect("participants")
        .iter()
        .map(|participant| {
            let field = |key: &str| participant[key].as_str().unwrap_or_default().to_owned();
            (field("name"), field("role"), field("joined_at"))
        })
        .collect()
}

/// Waits until the daemon has noticed that `agent`'s session ended (the status lists
/// `sessions` sessions), without waiting for its names to leave.
async fn session_ended(room: &TestRoom, sessions: usize) {
    eventually(DEFAULT_TIMEOUT, || async {
        let status = room.status();
        (status["daemon"]["sessions"].as_array().map(Vec::len) == Some(sessions)).then_some(())
    })
    .await
    .expect("the daemon noticed the session end");
}

/// Starts `chatroomd serve` for `room` with a soft RLIMIT_FSIZE of `limit` bytes: no file it
/// writes may grow past that (a hard limit of infinity lets the test raise it later).
fn spawn_limited_daemon(room: &TestRoom, limit: u64) -> std::process::Child {
    let mut command = room.chatroomd_command(&["serve"]);
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        command.pre_exec(move || {
            let soft = libc::rlimit {
                rlim_cur: limit,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &soft) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    room.spawn_daemon_from(command)
}

/// Lifts the file-size limit of the running daemon `pid`.
fn lift_file_size_limit(pid: u32) {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on the daemon we spawned, with a valid new limit and no old-limit pointer.
    let raised = unsafe {
        libc::prlimit(
            pid as i32,
            libc::RLIMIT_FSIZE,
            &unlimited,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(raised, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test]
async fn a_file_size_limit_refuses_writes_keeps_reads_and_recovers() {
    let room = TestRoom::new();
    // A history of 100 messages, then a daemon that may grow no file more than 4 KiB past it.
    let history: String = (1..=100)
        .map(|id| {
            format!(
                "{{\"id\": {id}, \"ts\": \"2026-01-02T03:04:05Z\", \"from\": \"old\", \"to\": \"all\", \"content\": \"history {id}\"}}\n"
            )
        })
        .collect();
    room.write_state("messages.jsonl", &history);
    let mut daemon = spawn_limited_daemon(&room, history.len() as u64 + 4096);
    let pid = daemon.id();

    let (agent, dave) = tokio::join!(room.agent(), room.agent());
    agent.ok("join", json!({"name": "alice"})).await;
    agent.ok("join", json!({"name": "bob"})).await;
    dave.ok("join", json!({"name": "dave"})).await;
    agent
        .ok("set_cursor", json!({"name": "alice", "message_id": 100}))
        .await;

    // Fill messages.jsonl until the limit refuses a write, with large messages and then small
    // ones, so that no record fits any more. The refused appends cross the limit: the kernel
    // writes part of each, then refuses the rest.
    let expected = "the chatroom could not save this change: file too large (os error 27)";
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for (size, label) in [(1000, "large"), (1, "small")] {
        for attempt in 0..50 {
            let content = format!("{label} {attempt} {}", "x".repeat(size));
            let result = agent
                .call(
                    "send_message",
                    json!({"name": "alice", "content": content.clone()}),
                )
                .await
                .expect("send_message answered");
            let text = chatroom_tests::text_of(&result);
            if result.is_error == Some(true) {
                assert_eq!(text, expected);
                refused.push(content);
                break;
            }
            let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
                .as_u64()
                .unwrap();
            acked.push((id, content));
        }
    }
    assert!(
        refused.len() == 2 && acked.len() >= 4,
        "the limit refused writes after a few: {} acknowledged, {} refused",
        acked.len(),
        refused.len()
    );
    let failed_at = Instant::now();
    assert!(process_running(pid), "the daemon survives SIGXFSZ");

    // Every write that appends a message is refused the same way, and changes nothing.
    for attempt in 0..3 {
        let content = format!("refused {attempt} {}", "x".repeat(100));
        assert_eq!(
            agent
                .err("send_message", json!({"name": "alice", "content": content}))
                .await,
            expected
        );
        refused.push(content);
    }
    let members = membership(&agent).await;
    assert_eq!(
        agent.err("leave", json!({"name": "bob"})).await,
        expected,
        "leaving writes a system message"
    );
    assert_eq!(
        membership(&agent).await,
        members,
        "a refused leave keeps the name"
    );
    let message_ids: Vec<u64> = acked.iter().map(|(id, _)| *id).collect();
    assert_eq!(message_ids[0], 101);
    assert_reads_work(&agent, &message_ids, 100 + acked.len(), 100).await;

    // A session that ends now keeps its name until its departure can be stored.
    let mut dave = dave;
    dave.kill();
    dave.reap().await;
    session_ended(&room, 1).await;
    assert_eq!(
        names(&agent.ok("list_participants", json!({})).await),
        ["alice", "bob", "dave"]
    );
    let unavailable = failed_at.elapsed();

    // Raise the running daemon's limit: the very next write is stored.
    lift_file_size_limit(pid);
    let raised_at = Instant::now();
    let last_acked = acked.last().unwrap().0;
    let after = send(&agent, "alice", "after the limit").await;
    let recovery = raised_at.elapsed();
    // The departure waiting since the failure is stored first, in the same batch.
    assert_eq!(after, last_acked + 2, "ids continue without a gap");
    acked.push((after, "after the limit".into()));
    let departure = agent
        .ok("read_messages", json!({"since_id": last_acked, "limit": 1}))
        .await;
    assert_eq!(contents(&departure), ["dave left the chatroom"]);
    assert_eq!(
        names(&agent.ok("list_participants", json!({})).await),
        ["alice", "bob"]
    );
    assert_eq!(
        agent.ok("leave", json!({"name": "bob"})).await,
        json!({"left": true})
    );
    eprintln!(
        "file-size limit: writes refused for {unavailable:?} (reads served throughout); first write after raising the limit took {recovery:?}"
    );

    assert_stored_once(&room, &acked, &refused);
    let log = room.log();
    assert!(
        log.lines()
            .any(|line| line.contains("ERROR") && line.contains("messages.jsonl")),
        "the log names the file:\n{log}"
    );
    assert!(log.contains("writes are stored again"), "{log}");
    assert!(room.stop_daemon());
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).expect("the daemon exits");
    // The history a restart reads is the one the agents were told about.
    let restarted = room.agent().await;
    let all = restarted
        .ok("read_messages", json!({"since_id": 100, "limit": 100}))
        .await;
    assert_eq!(all, json!(stored_messages(&room)[100..]));
}

/// Paths made immutable with `chattr +i`, which denies writes even to root; dropping the guard
/// (the test failing included) makes them writable again so the temp dir can be removed.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: &[PathBuf]) -> Self {
        let mut guard = Self(Vec::new());
        for path in paths {
            chattr("+i", path);
            guard.0.push(path.clone());
        }
        guard
    }

    fn lift(mut self) {
        for path in std::mem::take(&mut self.0).iter().rev() {
            chattr("-i", path);
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let mut command = std::process::Command::new("chattr");
            command.arg("-i").arg(path);
            let _ = run_bounded(command, DEFAULT_TIMEOUT);
        }
    }
}

fn chattr(flag: &str, path: &Path) {
    let mut command = std::process::Command::new("chattr");
    command.arg(flag).arg(path);
    let output = run_bounded(command, DEFAULT_TIMEOUT).unwrap_or_else(|err| {
        panic!("this test needs chattr (e2fsprogs) to make files read-only even to root: {err:#}")
    });
    assert!(
        output.status.success(),
        "chattr {flag} {} failed ({}): this test needs a filesystem with immutable attributes \
         (ext4, xfs, btrfs, tmpfs on Linux >= 6.0) and CAP_LINUX_IMMUTABLE; stderr: {}",
        path.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fails loudly unless the state dir really refuses writes to this (root) process.
fn assert_nobody_can_write(state_dir: &Path) {
    let append = std::fs::OpenOptions::new()
        .append(true)
        .open(state_dir.join("messages.jsonl"));
    assert!(
        append.is_err(),
        "messages.jsonl is still writable after chattr +i: the test would prove nothing"
    );
    let create = std::fs::File::create(state_dir.join("probe"));
    assert!(
        create.is_err(),
        ".chatroom/ still takes new files after chattr +i: the test would prove nothing"
    );
}

#[tokio::test]
async fn a_read_only_state_dir_refuses_writes_changes_nothing_and_recovers() {
    if !runs_as_root(
        "a_read_only_state_dir_refuses_writes_changes_nothing_and_recovers",
        "needs root to make .chatroom/ immutable with chattr +i",
    ) {
        return;
    }
    let room = TestRoom::new();
    let (alice, bob) = tokio::join!(room.agent(), room.agent());
    alice
        .ok("join", json!({"name": "alice", "role": "lead"}))
        .await;
    bob.ok("join", json!({"name": "bob"})).await;
    let mut acked = vec![
        (send(&alice, "alice", "one").await, "one".to_owned()),
        (send(&bob, "bob", "two").await, "two".to_owned()),
        (send(&alice, "alice", "three").await, "three".to_owned()),
    ];
    alice
        .ok("set_cursor", json!({"name": "alice", "message_id": 1}))
        .await;
    alice
        .ok(
            "write_summary",
            json!({"name": "alice", "content": "before"}),
        )
        .await;
    let members = membership(&alice).await;
    let summaries = room.read_state("summaries.jsonl");
    let participants_file = room.read_state("participants.json");
    let cursors_file = room.read_state("cursors.json");

    let state = room.state_dir();
    let files = [
        "messages.jsonl",
        "summaries.jsonl",
        "participants.json",
        "cursors.json",
    ];
    let mut paths: Vec<PathBuf> = files.iter().map(|name| state.join(name)).collect();
    paths.push(state.clone());
    let guard = Immutable::set(&paths);
    assert_nobody_can_write(&state);
    let failed_at = Instant::now();

    let expected = "the chatroom could not save this change: operation not permitted (os error 1)";
    let mut refused = Vec::new();
    for attempt in 0..2 {
        let content = format!("refused {attempt}");
        assert_eq!(
            alice
                .err("send_message", json!({"name": "alice", "content": content}))
                .await,
            expected
        );
        refused.push(content);
    }
    let refusals = [
        (
            "write_summary",
            json!({"name": "alice", "content": "refused summary"}),
        ),
        ("join", json!({"name": "carol"})),
        ("join", json!({"name": "alice", "role": "renamed"})),
        ("leave", json!({"name": "alice"})),
        ("set_cursor", json!({"name": "alice", "message_id": 3})),
        ("set_cursor", json!({"name": "zed", "message_id": 2})),
        ("read_unread", json!({"name": "alice"})),
    ];
    for (tool, args) in refusals {
        assert_eq!(
            alice.err(tool, args.clone()).await,
            expected,
            "{tool} {args}"
        );
    }

    // Nothing those refusals would have changed did change.
    assert_eq!(membership(&alice).await, members);
    assert_eq!(
        bob.err("join", json!({"name": "alice"})).await,
        "name 'alice' is already active in another session",
        "alice's session still holds the name"
    );
    assert_eq!(
        alice.ok("get_cursor", json!({"name": "zed"})).await["last_read_id"],
        0
    );
    assert_eq!(
        alice.ok("read_latest_summary", json!({})).await["content"],
        "before"
    );
    assert_reads_work(&alice, &[1, 2, 3], 3, 1).await;

    // bob's session ends: the name stays until its departure can be stored.
    let mut bob = bob;
    bob.kill();
    bob.reap().await;
    session_ended(&room, 1).await;
    assert_eq!(
        names(&alice.ok("list_participants", json!({})).await),
        ["alice", "bob"]
    );
    let unavailable = failed_at.elapsed();

    guard.lift();
    let lifted_at = Instant::now();
    let after = send(&alice, "alice", "after").await;
    let recovery = lifted_at.elapsed();
    assert_eq!(after, 5, "bob's departure (4) is stored first");
    acked.push((after, "after".into()));
    assert_eq!(
        contents(
            &alice
                .ok("read_messages", json!({"since_id": 3, "limit": 1}))
                .await
        ),
        ["bob left the chatroom"]
    );
    assert_eq!(
        names(&alice.ok("list_participants", json!({})).await),
        ["alice"]
    );
    eprintln!(
        "read-only .chatroom/: writes refused for {unavailable:?} (reads served throughout); first write after lifting took {recovery:?}"
    );

    assert_stored_once(&room, &acked, &refused);
    assert_eq!(room.read_state("summaries.jsonl"), summaries);
    let participants: Value = serde_json::from_str(&room.read_state("participants.json")).unwrap();
    assert_eq!(participants["alice"]["role"], "lead");
    assert_eq!(participants.as_object().unwrap().len(), 1);
    assert_ne!(room.read_state("participants.json"), participants_file);
    assert_eq!(room.read_state("cursors.json"), cursors_file);
    let leftovers: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[tokio::test]
async fn corrupt_participants_and_cursors_cost_their_contents_not_the_room() {
    let room = TestRoom::new();
    let messages = concat!(
        r#"{"id": 1, "ts": "2026-01-02T03:04:05Z", "from": "alice", "to": "all", "content": "kept"}"#,
        "\n",
        r#"{"id": 2, "ts": "2026-01-02T03:04:06Z", "from": "bob", "to": "alice", "content": "also kept"}"#,
        "\n",
    );
    let participants = "{\n  \"alice\": {\n    \"name\": \"alice\",\n    \"role\"";
    let cursors = "{\"alice\": 2,, \"bob\": 1}";
    room.write_state("messages.jsonl", messages);
    room.write_state("participants.json", participants);
    room.write_state("cursors.json", cursors);

    // Without a daemon, status reads around the damage and changes nothing.
    let status = room.status();
    assert_eq!(status["on_disk"]["message_count"], 2, "{status}");
    assert_eq!(room.read_state("cursors.json"), cursors);

    let agent = room.agent().await;
    let stored = agent.ok("read_messages", json!({})).await;
    assert_eq!(contents(&stored), ["kept", "also kept"]);
    assert_eq!(agent.ok("list_participants", json!({})).await, json!([]));
    assert_eq!(
        agent.ok("get_cursor", json!({"name": "alice"})).await["last_read_id"],
        0,
        "cursors start over"
    );

    let log = room.log();
    for (name, position, consequence) in [
        (
            "participants.json",
            "participants.json:4:10:",
            "no participants",
        ),
        ("cursors.json", "cursors.json:1:13:", "reset"),
    ] {
        let warning = log
            .lines()
            .find(|line| line.contains(position))
            .unwrap_or_else(|| panic!("no warning naming {position} in the log:\n{log}"));
        assert!(warning.contains("WARN"), "{warning}");
        assert!(warning.contains(consequence), "{warning}");
        let aside: Vec<PathBuf> = std::fs::read_dir(room.state_dir())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{name}.corrupt-"))
            })
            .collect();
        assert_eq!(aside.len(), 1, "{name} kept aside: {aside:?}");
        assert!(
            warning.contains(&aside[0].display().to_string()),
            "{warning}"
        );
        assert!(!room.state_file(name).exists(), "{name} moved aside");
    }
    assert_eq!(
        std::fs::read_to_string(
            std::fs::read_dir(room.state_dir())
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .find(|path| path.to_string_lossy().contains("cursors.json.corrupt-"))
                .unwrap()
        )
        .unwrap(),
        cursors,
        "the corrupt file is kept byte for byte"
    );

    // The next changes write fresh files; the history is untouched.
    agent.ok("join", json!({"name": "alice"})).await;
    agent
        .ok("set_cursor", json!({"name": "alice", "message_id": 2}))
        .await;
    let participants: Value = serde_json::from_str(&room.read_state("participants.json")).unwrap();
    assert_eq!(participants["alice"]["name"], "alice");
    assert_eq!(
        serde_json::from_str::<Value>(&room.read_state("cursors.json")).unwrap(),
        json!({"alice": 2})
    );
    assert!(room.read_state("messages.jsonl").starts_with(messages));
}

#[tokio::test]
async fn a_daemon_starting_on_a_full_disk_serves_reads_and_catches_up() {
    let room = TestRoom::new();
    // A room left behind with two participants, as a crash or the Python server leaves it.
    let history: String = (1..=30)
        .map(|id| {
            format!(
                "{{\"id\": {id}, \"ts\": \"2026-01-02T03:04:05Z\", \"from\": \"old\", \"to\": \"all\", \"content\": \"history {id}\"}}\n"
            )
        })
        .collect();
    room.write_state("messages.jsonl", &history);
    room.write_state(
        "participants.json",
        r#"{"alice": {"name": "alice", "role": "general", "joined_at": "2026-01-02T03:00:00Z", "last_seen": "2026-01-02T03:04:05Z"},
            "bob": {"name": "bob", "role": "general", "joined_at": "2026-01-02T03:00:00Z", "last_seen": "2026-01-02T03:04:05Z"}}"#,
    );
    // messages.jsonl may not grow by a byte: the departures of alice and bob cannot be stored.
    let mut daemon = spawn_limited_daemon(&room, history.len() as u64);
    let pid = daemon.id();
    let agent = room.agent().await;

    let expected = "the chatroom could not save this change: file too large (os error 27)";
    assert_eq!(
        agent
            .err("send_message", json!({"name": "carol", "content": "hello"}))
            .await,
        expected
    );
    assert_eq!(agent.err("join", json!({"name": "carol"})).await, expected);
    let stored: Vec<u64> = (1..=30).collect();
    assert_eq!(
        ids(&agent.ok("read_messages", json!({"limit": 100})).await),
        stored
    );
    assert_eq!(agent.ok("get_status", json!({})).await["message_count"], 30);
    // Until their departure is stored, the names stay listed.
    assert_eq!(
        names(&agent.ok("list_participants", json!({})).await),
        ["alice", "bob"]
    );
    assert!(
        room.log()
            .contains("could not record the departure of stale participants"),
        "{}",
        room.log()
    );

    lift_file_size_limit(pid);
    assert_eq!(send(&agent, "carol", "hello again").await, 33);
    let departures = agent.ok("read_messages", json!({"since_id": 30})).await;
    assert_eq!(
        contents(&departures),
        [
            "alice left the chatroom",
            "bob left the chatroom",
            "hello again"
        ]
    );
    assert_eq!(agent.ok("list_participants", json!({})).await, json!([]));
    assert_stored_once(&room, &[(33, "hello again".into())], &["hello".into()]);
    assert!(room.stop_daemon());
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).expect("the daemon exits");
}
