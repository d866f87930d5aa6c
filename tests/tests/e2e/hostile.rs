//! Hostile and broken peers on the daemon's socket: garbage, oversized or truncated frames and
//! wrong handshakes cost the daemon the offending connection and nothing else; a client speaking
//! another protocol version is told so, with both versions.

use std::time::Duration;

use chatroom_tests::{Agent, TestRoom, names, process_running, raw};
use interprocess::local_socket::tokio::Stream;
use protocol::frame::{MAX_CLIENT_FRAME, encode, write_frame};
use protocol::{
    ClientKind, ClientMessage, HelloReply, PROTOCOL_VERSION, RefusalKind, Request, Response,
    ServerMessage,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// Well under the daemon's 5 s hello timeout, so a close within it is the daemon reacting to
/// what was sent, not giving up on a silent peer.
const CLOSE_DEADLINE: Duration = Duration::from_secs(3);

async fn connect(room: &TestRoom) -> Stream {
    raw::connect(room, CLOSE_DEADLINE).await
}

fn hello(version: u32, kind: ClientKind) -> ClientMessage {
    raw::hello(version, kind)
}

/// Ends our writing half (the daemon reads end of file), keeping the reading half open.
/// `AsyncWriteExt::shutdown` is a no-op on interprocess streams, hence shutdown(2).
fn shut_down_writing(stream: &Stream) {
    use std::os::fd::{AsFd, AsRawFd};
    let Stream::UdSocket(socket) = stream;
    // SAFETY: shutdown(2) on a descriptor that `stream` keeps open for the duration of the call.
    let result = unsafe { libc::shutdown(socket.as_fd().as_raw_fd(), libc::SHUT_WR) };
    assert_eq!(result, 0, "shutdown: {}", std::io::Error::last_os_error());
}

/// Reads one frame from the daemon, within the deadline.
async fn receive(stream: &mut Stream) -> ServerMessage {
    raw::receive(stream, CLOSE_DEADLINE).await
}

/// Asserts the daemon closes `stream`: a read ends (EOF or an error) before the deadline,
/// without any further frame.
async fn assert_closed(stream: &mut Stream, case: &str) {
    let bytes = raw::read_until_closed(stream, CLOSE_DEADLINE, case).await;
    assert!(bytes.is_empty(), "{case}: unexpected bytes {bytes:?}");
}

/// The agent's session is unaffected: it still holds its name and can write.
async fn agent_still_served(agent: &Agent, room: &TestRoom, pid: u32, case: &str) {
    let id = agent
        .ok(
            "send_message",
            json!({"name": "alice", "content": format!("after {case}")}),
        )
        .await;
    assert!(id["id"].as_u64().is_some(), "{case}");
    assert_eq!(
        names(&agent.ok("list_participants", json!({})).await),
        ["alice"],
        "{case}"
    );
    assert_eq!(room.daemon_pid(), Some(pid), "{case}: the same daemon");
    assert!(process_running(pid), "{case}");
}

#[tokio::test]
async fn bad_bytes_cost_only_their_own_connection() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    let pid = room.daemon_pid().expect("a daemon");

    let valid_hello = encode(
        &hello(PROTOCOL_VERSION, ClientKind::Agent),
        MAX_CLIENT_FRAME,
    )
    .unwrap();
    let just_too_big = u32::try_from(MAX_CLIENT_FRAME + 1)
        .unwrap()
        .to_le_bytes()
        .to_vec();
    let cases: Vec<(&str, bool, Vec<u8>, bool)> = vec![
        // (case, say hello first, bytes, then close our writing half)
        (
            "text garbage",
            false,
            b"GET / HTTP/1.1\r\nHost: chatroom\r\n\r\n".to_vec(),
            false,
        ),
        (
            "an undecodable frame",
            false,
            vec![3, 0, 0, 0, 0xff, 0xff, 0xff],
            false,
        ),
        ("a length prefix of 0xFFFFFFFF", false, vec![0xff; 4], false),
        ("a frame cut short", false, vec![10, 0, 0, 0, 1, 2], true),
        (
            "a call before hello",
            false,
            encode(
                &ClientMessage::Call {
                    id: 1,
                    request: Request::GetStatus,
                },
                MAX_CLIENT_FRAME,
            )
            .unwrap(),
            false,
        ),
        ("an oversized frame after hello", true, vec![0xff; 4], false),
        (
            "a frame one byte over the limit after hello",
            true,
            just_too_big,
            false,
        ),
        (
            "an undecodable call after hello",
            true,
            vec![2, 0, 0, 0, 1, 0xff],
            false,
        ),
        ("a second hello", true, valid_hello, false),
    ];
    for (case, say_hello, bytes, shutdown) in cases {
        let mut stream = connect(&room).await;
        if say_hello {
            write_frame(
                &mut stream,
                &hello(PROTOCOL_VERSION, ClientKind::Agent),
                MAX_CLIENT_FRAME,
            )
            .await
            .unwrap();
            match receive(&mut stream).await {
                ServerMessage::HelloReply(HelloReply::Welcome {
                    version,
                    daemon_pid,
                    ..
                }) => {
                    assert_eq!((version, daemon_pid), (PROTOCOL_VERSION, pid), "{case}");
                }
                other => panic!("{case}: expected a welcome, got {other:?}"),
            }
        }
        // The daemon may close as soon as it has seen enough, so a write may fail part way.
        let _ = stream.write_all(&bytes).await;
        if shutdown {
            shut_down_writing(&stream);
        }
        assert_closed(&mut stream, case).await;
        agent_still_served(&agent, &room, pid, case).await;
    }

    // None of those connections outlived its mistake as a session.
    let status = room.status();
    let sessions = status["daemon"]["sessions"].as_array().expect("sessions");
    assert_eq!(
        sessions.len(),
        1,
        "only the agent's session is left: {status}"
    );
    assert_eq!(sessions[0]["client_pid"], agent.pid);
    assert_eq!(sessions[0]["names"], json!(["alice"]));
}

#[tokio::test]
async fn another_protocol_version_is_refused_naming_both_versions() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    let pid = room.daemon_pid().expect("a daemon");

    for version in [PROTOCOL_VERSION + 1, 0, u32::MAX] {
        let mut stream = connect(&room).await;
        write_frame(
            &mut stream,
            &hello(version, ClientKind::Agent),
            MAX_CLIENT_FRAME,
        )
        .await
        .unwrap();
        match receive(&mut stream).await {
            ServerMessage::HelloReply(HelloReply::Refused {
                daemon_version,
                daemon_pid,
                message,
            }) => {
                assert_eq!(daemon_version, PROTOCOL_VERSION);
                assert_eq!(daemon_pid, pid);
                assert!(
                    message.contains(&format!("v{PROTOCOL_VERSION}"))
                        && message.contains(&format!("v{version}")),
                    "the refusal names both versions: {message}"
                );
            }
            other => panic!("v{version}: expected a refusal, got {other:?}"),
        }
        assert_closed(&mut stream, &format!("v{version}")).await;
        agent_still_served(&agent, &room, pid, &format!("a v{version} client")).await;
    }
}

#[tokio::test]
async fn a_control_connection_holds_no_names() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    let pid = room.daemon_pid().expect("a daemon");

    let mut stream = connect(&room).await;
    write_frame(
        &mut stream,
        &hello(PROTOCOL_VERSION, ClientKind::Control),
        MAX_CLIENT_FRAME,
    )
    .await
    .unwrap();
    assert!(matches!(
        receive(&mut stream).await,
        ServerMessage::HelloReply(HelloReply::Welcome { .. })
    ));
    let join = Request::Join {
        name: "bob".into(),
        role: "general".into(),
    };
    write_frame(
        &mut stream,
        &ClientMessage::Call {
            id: 7,
            request: join,
        },
        MAX_CLIENT_FRAME,
    )
    .await
    .unwrap();
    match receive(&mut stream).await {
        ServerMessage::Reply {
            id: 7,
            outcome: Err(refusal),
        } => {
            assert_eq!(refusal.kind, RefusalKind::NotAllowed, "{refusal:?}");
        }
        other => panic!("expected a refusal of call 7, got {other:?}"),
    }
    // The connection stays usable for what control clients do.
    write_frame(
        &mut stream,
        &ClientMessage::Call {
            id: 8,
            request: Request::GetStatus,
        },
        MAX_CLIENT_FRAME,
    )
    .await
    .unwrap();
    match receive(&mut stream).await {
        ServerMessage::Reply {
            id: 8,
            outcome: Ok(Response::Status(status)),
        } => {
            assert_eq!(status.participant_count, 1);
        }
        other => panic!("expected the status for call 8, got {other:?}"),
    }
    drop(stream);
    agent_still_served(&agent, &room, pid, "a control connection").await;
}
