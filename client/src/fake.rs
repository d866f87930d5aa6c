//! A stand-in for chatroomd in the crate's unit tests: a real socket in a private directory,
//! whose side of each conversation a test scripts step by step (the hello it reads, the frames
//! it sends back). Shared by the connection's and the session's tests.

use std::path::PathBuf;

use interprocess::local_socket::tokio::{Listener, Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use protocol::frame::{self, MAX_CLIENT_FRAME, MAX_SERVER_FRAME};
use protocol::paths::RoomPaths;
use protocol::{
    ClientKind, ClientMessage, Hello, HelloReply, PROTOCOL_VERSION, Request, ServerMessage,
};
use tokio::io::{ReadHalf, WriteHalf};

use crate::connection::Outcome;

pub struct Daemon {
    pub paths: RoomPaths,
    listener: Listener,
    dir: PathBuf,
}

impl Daemon {
    /// Listens on the socket of a fresh room named after `test`.
    pub fn start(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("chatroom-client-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let paths = RoomPaths::new(dir.clone(), dir.join("run"));
        protocol::paths::ensure_private_dir(&paths.runtime_dir).unwrap();
        let name = paths
            .socket
            .as_path()
            .to_fs_name::<GenericFilePath>()
            .unwrap();
        let listener = ListenerOptions::new().name(name).create_tokio().unwrap();
        Self {
            paths,
            listener,
            dir,
        }
    }

    /// Accepts a connection and reads its hello (of this version and process), unanswered.
    pub async fn accept_hello(&self) -> (Session, Hello) {
        let stream = self.listener.accept().await.unwrap();
        let (reader, writer) = tokio::io::split(stream);
        let mut session = Session {
            reader,
            writer,
            buf: Vec::new(),
        };
        match session.read().await {
            Some(ClientMessage::Hello(hello)) => {
                assert_eq!(hello.version, PROTOCOL_VERSION);
                assert_eq!(hello.client_pid, std::process::id());
                (session, hello)
            }
            other => panic!("expected a hello, got {other:?}"),
        }
    }

    /// Accepts an agent's connection without answering its handshake.
    pub async fn accept_raw(&self) -> Session {
        let (session, hello) = self.accept_hello().await;
        assert_eq!(hello.kind, ClientKind::Agent);
        session
    }

    /// Accepts a connection and welcomes it.
    pub async fn accept(&self) -> Session {
        self.accept_as(2).await
    }

    /// Accepts a connection and welcomes it as the daemon with pid `daemon_pid`.
    pub async fn accept_as(&self, daemon_pid: u32) -> Session {
        let mut session = self.accept_raw().await;
        session
            .send(ServerMessage::HelloReply(HelloReply::Welcome {
                version: PROTOCOL_VERSION,
                session_id: 1,
                daemon_pid,
            }))
            .await;
        session
    }

    /// Accepts a connection of any kind and answers its hello with `reply`; returns the kind.
    pub async fn accept_answering(&self, reply: HelloReply) -> (Session, ClientKind) {
        let (mut session, hello) = self.accept_hello().await;
        session.send(ServerMessage::HelloReply(reply)).await;
        (session, hello.kind)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The daemon's side of one connection.
pub struct Session {
    reader: ReadHalf<Stream>,
    writer: WriteHalf<Stream>,
    buf: Vec<u8>,
}

impl Session {
    async fn read(&mut self) -> Option<ClientMessage> {
        frame::read_frame(&mut self.reader, &mut self.buf, MAX_CLIENT_FRAME)
            .await
            .unwrap()
    }

    pub async fn send(&mut self, message: ServerMessage) {
        frame::write_frame(&mut self.writer, &message, MAX_SERVER_FRAME)
            .await
            .unwrap();
    }

    pub async fn next_call(&mut self) -> (u64, Request) {
        let (id, _, request) = self.next_keyed_call().await;
        (id, request)
    }

    /// The next call, with its idempotency key if it has one.
    pub async fn next_keyed_call(&mut self) -> (u64, Option<u128>, Request) {
        match self.read().await {
            Some(ClientMessage::Call { id, request }) => (id, None, request),
            Some(ClientMessage::KeyedCall { id, key, request }) => (id, Some(key), request),
            other => panic!("expected a call, got {other:?}"),
        }
    }

    pub async fn reply(&mut self, id: u64, outcome: Outcome) {
        self.send(ServerMessage::Reply { id, outcome }).await;
    }
}
