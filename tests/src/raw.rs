//! Raw connections to the daemon's socket, below MCP: for the tests that send what no well-
//! behaved client would (bad frames, silent peers, wrong versions, chosen call ids and keys), so
//! they hold the bare stream rather than a `chatroom_client::Connection`; the frames they send
//! are still encoded by `protocol::frame`, the codec the daemon and the client use.

use std::time::Duration;

use interprocess::local_socket::GenericFilePath;
use interprocess::local_socket::tokio::{Stream, prelude::*};
use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, read_frame, write_frame};
use protocol::{ClientKind, ClientMessage, Hello, HelloReply, PROTOCOL_VERSION, ServerMessage};
use tokio::io::AsyncReadExt;

use crate::TestRoom;

/// Connects to the room's socket within `timeout`.
pub async fn connect(room: &TestRoom, timeout: Duration) -> Stream {
    let name = room
        .paths()
        .socket
        .to_fs_name::<GenericFilePath>()
        .expect("a socket name");
    tokio::time::timeout(timeout, Stream::connect(name))
        .await
        .expect("connect timed out")
        .expect("connecting to the daemon")
}

/// A `Hello` of `version` from this process.
pub fn hello(version: u32, kind: ClientKind) -> ClientMessage {
    ClientMessage::Hello(Hello {
        version,
        client_pid: std::process::id(),
        kind,
    })
}

/// Reads one frame from the daemon within `timeout`.
pub async fn receive(stream: &mut Stream, timeout: Duration) -> ServerMessage {
    let mut buffer = Vec::new();
    tokio::time::timeout(
        timeout,
        read_frame::<ServerMessage, _>(stream, &mut buffer, MAX_SERVER_FRAME),
    )
    .await
    .expect("no frame from the daemon in time")
    .expect("a well-formed frame")
    .expect("a frame, not the end of the stream")
}

/// Connects and completes the handshake as `kind`.
pub async fn session(room: &TestRoom, kind: ClientKind, timeout: Duration) -> Stream {
    let mut stream = connect(room, timeout).await;
    write_frame(
        &mut stream,
        &hello(PROTOCOL_VERSION, kind),
        MAX_CLIENT_FRAME,
    )
    .await
    .unwrap();
    match receive(&mut stream, timeout).await {
        ServerMessage::HelloReply(HelloReply::Welcome { .. }) => stream,
        other => panic!("expected a welcome, got {other:?}"),
    }
}

/// Reads until the daemon closes `stream` (EOF or an error) and returns the bytes read;
/// panics if it stays open past `deadline`.
pub async fn read_until_closed(stream: &mut Stream, deadline: Duration, case: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    let ended = tokio::time::timeout(deadline, async {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => bytes.extend_from_slice(&chunk[..read]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "{case}: the daemon kept the connection open");
    bytes
}
