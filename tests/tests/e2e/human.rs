//! The surfaces for the people watching, run as processes against a real daemon: `monitor`,
//! `send`, `tail`, `export` and `status`, and which of them may start a daemon.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chatroom_tests::{Agent, DEFAULT_TIMEOUT, TestRoom, all_messages, wait_exit};
use serde_json::{Value, json};

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "chatroomd failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

async fn joined(room: &TestRoom, name: &str, role: &str) -> Agent {
    let agent = room.agent().await;
    agent.ok("join", json!({"name": name, "role": role})).await;
    agent
}

#[tokio::test]
async fn monitor_once_in_a_pipe_shows_participants_and_the_latest_messages() {
    let room = TestRoom::new();
    let claude = joined(&room, "claude", "implementer").await;
    let _codex = joined(&room, "codex", "reviewer").await;
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "content": "starting on the parser"}),
        )
        .await;
    claude
        .ok(
            "write_summary",
            json!({"name": "claude", "content": "parser half done"}),
        )
        .await;
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "to": "codex", "content": "a moment ago"}),
        )
        .await;

    let text = stdout(&room.chatroomd(&["monitor", "--once"]));
    assert!(
        !text.contains('\x1b'),
        "no control codes in a pipe:\n{text}"
    );
    for expected in [
        "daemon: pid",
        "participants (2)",
        "claude",
        "implementer",
        "codex",
        "reviewer",
        "parser half done",
        "claude → all: starting on the parser",
        "claude → codex [direct]: a moment ago",
    ] {
        assert!(
            text.contains(expected),
            "monitor --once lacks {expected:?}:\n{text}"
        );
    }

    // What one participant sees: not the direct messages to others.
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "to": "gemini", "content": "for gemini only"}),
        )
        .await;
    let codex_view = stdout(&room.chatroomd(&[
        "monitor",
        "--once",
        "--participant",
        "codex",
        "--limit",
        "5",
    ]));
    assert!(
        codex_view.contains("a moment ago") && !codex_view.contains("for gemini only"),
        "{codex_view}"
    );
    room.finish();
}

#[tokio::test]
async fn a_persons_message_reaches_the_agents_marked_as_a_persons() {
    let room = TestRoom::new();
    let claude = joined(&room, "claude", "implementer").await;
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "content": "agent speaking"}),
        )
        .await;

    let sent = stdout(&room.chatroomd(&[
        "send",
        "--as",
        "maria",
        "--to",
        "claude",
        "please pause the migration",
    ]));
    assert_eq!(sent.trim(), "sent message #2");
    let unread = claude.ok("read_unread", json!({"name": "claude"})).await;
    let messages = unread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{unread}");
    assert_eq!(
        messages[0].get("human"),
        None,
        "an agent's message keeps exactly the v1 keys"
    );
    assert_eq!(
        messages[1],
        json!({"id": 2, "ts": messages[1]["ts"], "from": "maria", "to": "claude",
               "content": "please pause the migration", "human": true})
    );

    // From stdin, with the same validation as an agent's message.
    let mut command = room.chatroomd_command(&["send", "--as", "maria", "-"]);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all("line one\nline two\n".as_bytes()).unwrap();
    }
    assert!(wait_exit(&mut child, DEFAULT_TIMEOUT).unwrap().success());
    let last = claude.ok("read_messages", json!({"since_id": 2})).await;
    assert_eq!(last[0]["content"], "line one\nline two");

    let refused = room.chatroomd(&["send", "--as", "system", "hi"]);
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "chatroomd: name 'system' is reserved\n"
    );
    let blank = room.chatroomd(&["send", "--as", "maria", "   "]);
    assert_eq!(
        String::from_utf8_lossy(&blank.stderr),
        "chatroomd: content must not be blank\n"
    );
    let status = claude.ok("get_status", json!({})).await;
    assert_eq!(status["message_count"], 3, "refused sends change nothing");

    // A person cannot be mistaken for a participant: sending does not join.
    let participants = claude.ok("list_participants", json!({})).await;
    assert_eq!(participants.as_array().unwrap().len(), 1);
    room.finish();
}

#[tokio::test]
async fn tail_follow_json_receives_a_new_message_within_a_second() {
    let room = TestRoom::new();
    let claude = joined(&room, "claude", "implementer").await;
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "content": "before tail"}),
        )
        .await;

    let mut child = room
        .chatroomd_command(&["tail", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let received = stdout_lines(&mut child);
    // The history line proves tail has subscribed (it subscribes before reading history).
    let (first, _) = received
        .recv_timeout(DEFAULT_TIMEOUT)
        .expect("the history line");
    assert_eq!(
        serde_json::from_str::<Value>(&first).unwrap()["content"],
        "before tail"
    );

    let sent_at = Instant::now();
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "to": "codex", "content": "after tail"}),
        )
        .await;
    let (line, arrived) = received
        .recv_timeout(Duration::from_secs(1))
        .expect("a followed line within a second");
    assert!(arrived.duration_since(sent_at) < Duration::from_secs(1));
    let message: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        message,
        json!({"id": 2, "ts": message["ts"], "from": "claude", "to": "codex", "content": "after tail"}),
        "one contract message per line"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    room.finish();
}

#[tokio::test]
async fn tail_prints_text_and_json_lines_with_since_and_participant() {
    let room = TestRoom::new();
    let claude = joined(&room, "claude", "implementer").await;
    for (to, content) in [
        ("all", "one"),
        ("codex", "two\nlines"),
        ("gemini", "three"),
        ("all", "four"),
    ] {
        claude
            .ok(
                "send_message",
                json!({"name": "claude", "to": to, "content": content}),
            )
            .await;
    }
    let text = stdout(&room.chatroomd(&["tail"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("#1 ") && lines[0].ends_with("claude → all: one"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("claude → codex [direct]: two") && lines[2] == "    lines",
        "{text}"
    );

    let json_lines =
        stdout(&room.chatroomd(&["tail", "--json", "--since", "1", "--participant", "codex"]));
    let ids: Vec<u64> = json_lines
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [2, 4], "visible to codex after id 1:\n{json_lines}");
    let last_two = stdout(&room.chatroomd(&["tail", "-n", "2", "--json"]));
    assert_eq!(last_two.lines().count(), 2);
    room.finish();
}

#[tokio::test]
async fn export_json_round_trips_every_message_live_and_from_disk() {
    let room = TestRoom::new();
    let claude = joined(&room, "claude", "implementer").await;
    for index in 0..230 {
        let to = if index % 3 == 0 { "codex" } else { "all" };
        let content = format!("message {index} — ünïcode\nsecond line");
        claude
            .ok(
                "send_message",
                json!({"name": "claude", "to": to, "content": content}),
            )
            .await;
    }
    claude
        .ok(
            "write_summary",
            json!({"name": "claude", "content": "done", "scope": "codex"}),
        )
        .await;
    let expected = all_messages(&claude).await;
    assert_eq!(expected.len(), 230);

    let live: Value =
        serde_json::from_str(&stdout(&room.chatroomd(&["export", "--json"]))).unwrap();
    assert_eq!(live["live"], true);
    assert_eq!(live["messages"].as_array().unwrap(), &expected);
    assert_eq!(live["summaries"][0]["content"], "done");
    assert_eq!(live["participants"][0]["name"], "claude");

    claude.close().await;
    room.stop_daemon();
    let offline: Value = serde_json::from_str(&stdout(&room.chatroomd(&["export"]))).unwrap();
    assert_eq!(offline["live"], false);
    // The claude session ended, so the room gained its system message.
    let offline_messages = offline["messages"].as_array().unwrap();
    assert_eq!(&offline_messages[..230], &expected[..]);
    assert_eq!(offline_messages[230]["content"], "claude left the chatroom");
    assert_eq!(room.daemon_pid(), None, "export does not start a daemon");

    let markdown = stdout(&room.chatroomd(&["export", "--markdown"]));
    assert!(markdown.starts_with("# Chatroom transcript"));
    assert!(
        markdown.contains("**#1 · ") && markdown.contains("> message 0 — ünïcode\n> second line"),
        "{markdown}"
    );
    assert!(markdown.contains("### #1 · ") && markdown.contains("claude (scope codex)"));
    room.finish();
}

#[test]
fn reading_commands_never_start_a_daemon() {
    let room = TestRoom::new();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["monitor", "--once"],
        &["tail"],
        &["tail", "--json", "--since", "0"],
        &["export"],
        &["export", "--markdown"],
        &["stop"],
    ] {
        let output = room.chatroomd(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(room.daemon_pid(), None, "{args:?} started a daemon");
        assert!(!room.paths().socket.exists(), "{args:?} left a socket");
    }
    let monitor = stdout(&room.chatroomd(&["monitor", "--once"]));
    assert!(monitor.contains("daemon: down"), "{monitor}");

    // Writing goes through a daemon, so send starts one.
    stdout(&room.chatroomd(&["send", "--as", "maria", "anyone here?"]));
    assert!(room.daemon_pid().is_some(), "send starts the daemon");
    let status = room.status();
    assert_eq!(status["daemon"]["message_count"], 1);
    room.finish();
}

#[tokio::test]
async fn status_shows_sessions_and_participants_as_a_table() {
    let room = TestRoom::new();
    let claude = joined(&room, "claude", "implementer").await;
    let text = stdout(&room.chatroomd(&["status"]));
    assert!(text.contains("SESSION  KIND   CLIENT PID  NAMES"), "{text}");
    assert!(text.contains(&format!("agent  {}", claude.pid)), "{text}");
    assert!(text.contains("NAME    ROLE         SESSION"), "{text}");
    let json = room.status();
    assert_eq!(json["daemon"]["sessions"][0]["kind"], "agent");
    assert_eq!(json["daemon"]["sessions"][0]["names"], json!(["claude"]));
    room.finish();
}

#[test]
fn every_command_explains_itself() {
    let room = TestRoom::new();
    for (command, options) in [
        (
            "monitor",
            &[
                "--limit",
                "--participant",
                "--interval",
                "--once",
                "--topic",
                "--root",
            ][..],
        ),
        ("send", &["--as", "--to", "--topic", "TEXT", "--root"]),
        (
            "tail",
            &[
                "--follow",
                "--since",
                "--participant",
                "--json",
                "--lines",
                "--topic",
                "--root",
            ],
        ),
        ("export", &["--json", "--markdown", "--topic", "--root"]),
        ("status", &["--json", "--root"]),
    ] {
        let help = room
            .chatroomd_command(&[command, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        for option in options {
            assert!(
                text.contains(option),
                "{command} --help lacks {option}:\n{text}"
            );
        }
    }
    let bad = room.chatroomd(&["monitor", "--once", "--limit", "0"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--limit"),
        "names the option"
    );
}

/// What an agent could write to take over a person's terminal: an OSC 52 clipboard write, a
/// screen clear, a bare carriage return that overwrites the line, a C1 CSI, DEL and a bidi
/// override that reorders the rest of the line.
const HOSTILE: &str = "clip\x1b]52;c;aGk=\x07 clear\x1b[2J ret\rover c1\u{9b}31m del\x7f bidi\u{202e}txt\nsecond line";

/// The hostile content as the text views show it.
const HOSTILE_SHOWN: &str = "clip\\u{1b}]52;c;aGk=\\u{7} clear\\u{1b}[2J ret\\u{d}over c1\\u{9b}31m del\\u{7f} bidi\\u{202e}txt";

/// Asserts `text` holds no character a terminal would act on, but line breaks.
fn assert_terminal_safe(what: &str, text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(raw.is_empty(), "{what} prints raw {raw:?}:\n{text}");
}

#[tokio::test]
async fn people_see_control_characters_rendered_visibly_and_json_keeps_them() {
    let room = TestRoom::new();
    // The daemon refuses control characters in names and roles, but not format characters.
    let role = "dev\u{202e}ved";
    let eve = joined(&room, "eve", role).await;
    eve.ok("send_message", json!({"name": "eve", "content": HOSTILE}))
        .await;
    eve.ok("write_summary", json!({"name": "eve", "content": HOSTILE}))
        .await;

    let check_views = |when: &str| {
        let monitor = stdout(&room.chatroomd(&["monitor", "--once"]));
        assert_terminal_safe(&format!("monitor --once {when}"), &monitor);
        assert!(
            monitor.contains(&format!("eve → all: {HOSTILE_SHOWN}\n      second line")),
            "{monitor}"
        );
        assert!(
            monitor.contains(&format!("      {HOSTILE_SHOWN}\n      second line")),
            "{monitor}"
        );
        assert!(monitor.contains("dev\\u{202e}ved"), "{monitor}");

        let tail = stdout(&room.chatroomd(&["tail"]));
        assert_terminal_safe(&format!("tail {when}"), &tail);
        assert!(
            tail.contains(&format!("eve → all: {HOSTILE_SHOWN}\n    second line\n")),
            "{tail}"
        );

        let status = stdout(&room.chatroomd(&["status"]));
        assert_terminal_safe(&format!("status {when}"), &status);
        assert!(status.contains("dev\\u{202e}ved"), "{status}");

        let markdown = stdout(&room.chatroomd(&["export", "--markdown"]));
        assert_terminal_safe(&format!("export --markdown {when}"), &markdown);
        assert!(
            markdown.contains(&format!("> {HOSTILE_SHOWN}\n> second line")),
            "{markdown}"
        );

        // JSON is for programs: byte-exact.
        let json_lines = stdout(&room.chatroomd(&["tail", "--json"]));
        let first: Value = serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
        assert_eq!(first["content"], HOSTILE, "tail --json {when}");
        let export: Value =
            serde_json::from_str(&stdout(&room.chatroomd(&["export", "--json"]))).unwrap();
        assert_eq!(export["messages"][0]["content"], HOSTILE, "export {when}");
        assert_eq!(export["summaries"][0]["content"], HOSTILE, "export {when}");
    };
    check_views("live");
    let export: Value =
        serde_json::from_str(&stdout(&room.chatroomd(&["export", "--json"]))).unwrap();
    assert_eq!(export["participants"][0]["role"], role);

    // From disk: files another version wrote may hold what this daemon refuses, a name with
    // ESC in it say.
    eve.close().await;
    room.stop_daemon();
    let recorded = json!({
        "eve": {"name": "eve", "role": role, "joined_at": "2026-11-24T09:00:00Z", "last_seen": "2026-11-24T09:00:00Z"},
        "\u{1b}[2Jmallory": {"name": "\u{1b}[2Jmallory", "role": "x", "joined_at": "2026-11-24T09:00:00Z", "last_seen": "\r"},
    });
    room.write_state("participants.json", &recorded.to_string());
    check_views("from disk");
    let status = stdout(&room.chatroomd(&["status"]));
    assert!(status.contains("\\u{1b}[2Jmallory"), "{status}");
    room.finish();
}

#[test]
fn monitor_refuses_bad_options_in_one_line() {
    let room = TestRoom::new();
    for (interval, shown) in [
        ("1e20", "1e20"),
        ("inf", "inf"),
        ("NaN", "NaN"),
        ("0", "0.0"),
        ("-1", "-1.0"),
        ("0.09", "0.09"),
        ("3600.5", "3600.5"),
    ] {
        let output = room.chatroomd(&["monitor", "--once", &format!("--interval={interval}")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "--interval {interval}: {stderr}"
        );
        assert_eq!(
            stderr,
            format!("chatroomd: --interval must be between 0.1 and 3600 seconds, not {shown}\n"),
        );
    }
    for interval in ["0.1", "3600"] {
        stdout(&room.chatroomd(&["monitor", "--once", "--interval", interval]));
    }
    // Refused as the daemon would refuse it, whether or not one runs.
    let output = room.chatroomd(&["monitor", "--once", "--participant", "a\x07b"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "chatroomd: participant must not contain control characters\n"
    );
}

#[test]
fn a_refused_send_starts_no_daemon() {
    let room = TestRoom::new();
    let too_long = "x".repeat(64 * 1024 + 1);
    for (args, error) in [
        (&["--as", "maria", "  \n "][..], "content must not be blank"),
        (&["--as", "system", "hi"], "name 'system' is reserved"),
        (&["--as", " ", "hi"], "name must not be blank"),
        (
            &["--as", "ma\x07ria", "hi"],
            "name must not contain control characters",
        ),
        (&["--as", "maria", "--to", "", "hi"], "to must not be blank"),
        (
            &["--as", "maria", &too_long],
            "content must be at most 64 KiB (65536 bytes)",
        ),
    ] {
        let mut command = vec!["send"];
        command.extend_from_slice(args);
        let output = room.chatroomd(&command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{error}: {stderr}");
        assert_eq!(stderr, format!("chatroomd: {error}\n"));
        assert_eq!(
            room.daemon_pid(),
            None,
            "a refused send ({error}) started a daemon"
        );
        assert!(!room.paths().socket.exists());
    }
}

/// Reads the JSON lines `received` carries until one has `content`; each within the default
/// timeout.
fn json_lines_until(received: &mpsc::Receiver<(String, Instant)>, content: &str) -> Vec<Value> {
    let mut lines = Vec::new();
    loop {
        let (line, _) = received
            .recv_timeout(DEFAULT_TIMEOUT)
            .unwrap_or_else(|_| panic!("no line with {content:?} after {lines:?}"));
        let message: Value = serde_json::from_str(&line).expect("a JSON line");
        let done = message["content"] == content;
        lines.push(message);
        if done {
            return lines;
        }
    }
}

#[tokio::test]
async fn tail_follow_carries_on_across_daemon_restarts_without_gaps_or_repeats() {
    let room = TestRoom::new();
    let claude = joined(&room, "claude", "implementer").await;
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "content": "before"}),
        )
        .await;
    let mut child = room
        .chatroomd_command(&["tail", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let received = stdout_lines(&mut child);
    let mut printed = json_lines_until(&received, "before");

    // A daemon killed outright; the agent's next call starts another.
    room.kill_daemon();
    claude
        .ok(
            "send_message",
            json!({"name": "claude", "content": "after a kill"}),
        )
        .await;
    printed.extend(json_lines_until(&received, "after a kill"));

    // A daemon stopped cleanly; two messages stored before tail can be back.
    room.stop_daemon();
    for content in ["after a stop", "and one more"] {
        claude
            .ok(
                "send_message",
                json!({"name": "claude", "content": content}),
            )
            .await;
    }
    printed.extend(json_lines_until(&received, "and one more"));
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "tail --follow is still running"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // Every message the room holds, each once, in order.
    let stored = all_messages(&claude).await;
    assert_eq!(printed, stored);
    chatroom_tests::assert_gap_free(&printed);
    room.finish();
}

/// Bytes process `pid` has read through read(2) and the like, from `/proc/<pid>/io`.
/// The lines `child` prints on its piped stdout, as they come, each with when it came.
fn stdout_lines(child: &mut std::process::Child) -> mpsc::Receiver<(String, Instant)> {
    let (lines, received) = mpsc::channel();
    let reader = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if lines.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    received
}

/// Waits (each line within the default timeout) for the next line holding `text`.
fn next_line_with(received: &mpsc::Receiver<(String, Instant)>, text: &str) {
    loop {
        let (line, _) = received
            .recv_timeout(DEFAULT_TIMEOUT)
            .unwrap_or_else(|_| panic!("no line with {text:?}"));
        if line.contains(text) {
            break;
        }
    }
}

fn bytes_read_by(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("reading /proc/<pid>/io");
    io.lines()
        .find_map(|line| line.strip_prefix("rchar: "))
        .and_then(|value| value.parse().ok())
        .expect("an rchar line")
}

#[test]
fn monitor_without_a_daemon_reads_only_what_is_new() {
    let room = TestRoom::new();
    let line = |id: u64| {
        format!(
            "{{\"id\":{id},\"ts\":\"2026-11-24T09:15:10Z\",\"from\":\"bo\",\"to\":\"all\",\"content\":\"message number {id} of a long history\"}}\n"
        )
    };
    let history: String = (1..=20_000).map(line).collect();
    room.write_state("messages.jsonl", &history);

    let mut child = room
        .chatroomd_command(&["monitor", "--interval", "0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let received = stdout_lines(&mut child);
    let frame_with = |text: &str| next_line_with(&received, text);
    frame_with("messages: 20000");
    let at_first_frame = bytes_read_by(child.id());
    assert!(at_first_frame >= history.len() as u64);
    for _ in 0..10 {
        frame_with("messages: 20000");
    }
    // Appended as the daemon appends: one write at the end.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(room.state_file("messages.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut file, line(20_001).as_bytes()).unwrap();
    frame_with("message number 20001 of a long history");
    let since = bytes_read_by(child.id()) - at_first_frame;
    child.kill().unwrap();
    child.wait().unwrap();
    // Eleven looks at a file of 2 MB: far less than one more read of it.
    assert!(
        since < history.len() as u64 / 4,
        "monitor read {since} bytes in eleven refreshes of a {} byte history",
        history.len()
    );
    assert_eq!(room.daemon_pid(), None);
}

#[tokio::test]
async fn monitor_rides_out_a_daemon_that_hangs_up_and_goes_live_when_one_answers() {
    let room = TestRoom::new();
    // Something at the socket that accepts and hangs up at once, as a daemon going away may.
    let socket = room.paths().socket;
    protocol::paths::ensure_private_dir(socket.parent().unwrap()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let once = stdout(&room.chatroomd(&["monitor", "--once"]));
    assert!(once.contains("note: cannot reach chatroomd: "), "{once}");
    assert!(once.contains("daemon: down"), "{once}");

    let mut child = room
        .chatroomd_command(&["monitor", "--interval", "0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let received = stdout_lines(&mut child);
    let line_with = |text: &str| next_line_with(&received, text);
    line_with("note: cannot reach chatroomd");
    // The impostor goes; a real daemon comes with the first agent.
    std::fs::remove_file(&socket).unwrap();
    let claude = joined(&room, "claude", "implementer").await;
    line_with("daemon: pid");
    line_with("claude");
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the monitor is still running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    drop(claude);
    room.finish();
}

#[test]
fn tail_refuses_a_bad_participant_in_one_line_and_starts_no_daemon() {
    let room = TestRoom::new();
    for args in [&["tail"][..], &["tail", "--follow"]] {
        let mut command = args.to_vec();
        command.extend(["--participant", "a\x1bb"]);
        let output = room.chatroomd(&command);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "chatroomd: participant must not contain control characters\n",
            "{args:?}"
        );
        assert_eq!(room.daemon_pid(), None, "{args:?} started a daemon");
    }
}
