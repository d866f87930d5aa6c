//! Version skew end to end: a person gets out of any mismatch with `chatroomd stop`/`status`,
//! whatever protocol the running daemon speaks, and the handshake stays readable when later
//! versions add fields to the Hello or kinds of client.

use std::time::Duration;

use chatroom_tests::raw::{connect, hello, read_until_closed, receive};
use chatroom_tests::{DEFAULT_TIMEOUT, TestRoom, process_running, wait_exit};
use protocol::frame::{MAX_CLIENT_FRAME, encode};
use protocol::{ClientKind, HelloReply, PROTOCOL_VERSION, ServerMessage};
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// Starts `chatroomd serve` speaking protocol `version` (the test-only switch) and waits until it
/// holds the room.
fn daemon_speaking(room: &TestRoom, version: u32) -> std::process::Child {
    let mut command = room.chatroomd_command(&["serve"]);
    command.env("CHATROOM_TEST_PROTOCOL_VERSION", version.to_string());
    room.spawn_daemon_from(command)
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn stop_and_status_get_a_person_out_of_an_older_or_newer_daemon() {
    for version in [PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1] {
        let room = TestRoom::new();
        let mut daemon = daemon_speaking(&room, version);
        let pid = daemon.id();

        let output = room.chatroomd(&["status"]);
        assert!(output.status.success(), "v{version}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.starts_with(&format!(
                "chatroomd is running: pid {pid}, protocol v{version}, which this chatroomd (protocol v{PROTOCOL_VERSION}) cannot talk to; `chatroomd stop` stops it\n"
            )),
            "v{version}: {text}"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&room.chatroomd(&["status", "--json"]).stdout).unwrap();
        assert_eq!(json["running"], true, "{json}");
        assert_eq!(json["incompatible"]["pid"], pid, "{json}");
        assert_eq!(json["incompatible"]["protocol_version"], version, "{json}");

        // The advice a refused command gives must itself work.
        let output = room.chatroomd(&["send", "--as", "ann", "hi"]);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains("`chatroomd stop --root"),
            "v{version}: {}",
            stderr(&output)
        );

        let output = room.chatroomd(&["stop"]);
        assert!(output.status.success(), "v{version}: {}", stderr(&output));
        assert_eq!(
            stdout(&output),
            format!("chatroomd stopped for {}\n", room.root.display())
        );
        let status = wait_exit(&mut daemon, DEFAULT_TIMEOUT).unwrap();
        assert!(status.success(), "v{version}: stopped cleanly ({status})");
        assert!(!process_running(pid));
        assert!(
            room.log().contains("SIGTERM"),
            "v{version}: a clean shutdown"
        );
        assert_eq!(room.daemon_pid(), None);
    }
}

/// Sends `payload` as one frame and returns the daemon's first answer.
async fn first_reply(room: &TestRoom, payload: &[u8]) -> ServerMessage {
    let mut stream = connect(room, DEFAULT_TIMEOUT).await;
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).await.unwrap();
    receive(&mut stream, DEFAULT_TIMEOUT).await
}

#[tokio::test]
async fn a_hello_with_fields_added_later_is_answered() {
    let room = TestRoom::new();
    let mut daemon = room.spawn_daemon(&[]);
    // What a later client may append after the frozen fields: a varint, a string, an option.
    let appended = [0x96, 0x01, 3, b'a', b'b', b'c', 1, 7];
    let later = PROTOCOL_VERSION + 1;
    let hello_of = |version: u32| {
        encode(&hello(version, ClientKind::Control), MAX_CLIENT_FRAME).unwrap()[4..].to_vec()
    };
    let mut payload = hello_of(later);
    payload.extend_from_slice(&appended);
    // The later client is told which version runs, and who, so that it can replace us.
    match first_reply(&room, &payload).await {
        ServerMessage::HelloReply(HelloReply::Refused {
            daemon_version,
            daemon_pid,
            message,
        }) => {
            assert_eq!(daemon_version, PROTOCOL_VERSION);
            assert_eq!(daemon_pid, daemon.id());
            assert!(
                message.contains(&format!("the client speaks v{later}")),
                "{message}"
            );
        }
        other => panic!("expected a refusal naming the versions, got {other:?}"),
    }
    // Today's Hello, byte for byte, is still welcomed.
    match first_reply(&room, &hello_of(PROTOCOL_VERSION)).await {
        ServerMessage::HelloReply(HelloReply::Welcome { version, .. }) => {
            assert_eq!(version, PROTOCOL_VERSION)
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    room.stop_daemon();
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).unwrap();
}

#[tokio::test]
async fn a_hello_of_a_kind_added_later_is_refused_in_one_line() {
    let room = TestRoom::new();
    let mut daemon = room.spawn_daemon(&[]);
    // Variant 0 (Hello), this version, pid 77, kind code 9 (no kind has it yet).
    let payload = [0, PROTOCOL_VERSION as u8, 77, 9];
    match first_reply(&room, &payload).await {
        ServerMessage::HelloReply(HelloReply::Refused {
            daemon_version,
            daemon_pid,
            message,
        }) => {
            assert_eq!(daemon_version, PROTOCOL_VERSION);
            assert_eq!(daemon_pid, daemon.id());
            assert_eq!(
                message,
                format!(
                    "chatroomd (pid {}) does not know client kind 9; upgrade chatroomd",
                    daemon.id()
                )
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    room.stop_daemon();
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).unwrap();
}

#[tokio::test]
async fn a_first_frame_larger_than_any_hello_ends_the_connection_at_once() {
    let room = TestRoom::new();
    let mut daemon = room.spawn_daemon(&[]);
    let mut stream = connect(&room, DEFAULT_TIMEOUT).await;
    // A length a Hello never has, well under the limit for later frames, and no payload: the
    // daemon must not wait (or allocate) for it.
    stream.write_all(&8000u32.to_le_bytes()).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(2), "an 8000-byte hello").await;
    assert!(process_running(daemon.id()));
    room.stop_daemon();
    wait_exit(&mut daemon, DEFAULT_TIMEOUT).unwrap();
}

#[tokio::test]
async fn a_failed_start_is_logged_once() {
    let room = TestRoom::new();
    // A bad line that is not the last stops the start.
    room.write_state(
        "messages.jsonl",
        "not json\n{\"id\":1,\"ts\":\"2026-01-01T00:00:00Z\",\"from\":\"a\",\"to\":\"all\",\"content\":\"x\"}\n",
    );
    let agent = room.agent().await;
    let refused = agent.err("get_status", json!({})).await;
    assert!(
        refused.contains("chatroomd exited during start"),
        "{refused}"
    );
    let log = room.log();
    let failures = log
        .lines()
        .filter(|line| line.contains("messages.jsonl:1"))
        .count();
    assert_eq!(failures, 1, "{log}");
}
