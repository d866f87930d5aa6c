//! The daemon's own client, used by the `chatroomd` subcommands that talk to a running daemon.
//! [`ControlClient::connect`] never starts a daemon (`status`, `stop`, `monitor`, `tail`,
//! `export` report what is there); [`ControlClient::connect_or_start`] does, the same race-safe
//! way the shim does (`send`, `tail --follow`).

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use anyhow::{Context, bail};
use interprocess::local_socket::tokio::Stream;
use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, read_frame, write_frame};
use protocol::paths::RoomPaths;
use protocol::{
    ClientKind, ClientMessage, Event, Hello, HelloReply, Refusal, Request, Response, ServerMessage,
    protocol_version,
};

/// How long a command waits for the daemon to answer one request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A handshaken connection to the daemon.
#[derive(Debug)]
pub struct ControlClient {
    stream: Stream,
    buffer: Vec<u8>,
    next_id: u64,
    /// Events that arrived while a reply was awaited, in order.
    events: VecDeque<Event>,
}

/// What [`ControlClient::reach`] found.
#[derive(Debug)]
pub enum Reach {
    /// A daemon of this protocol version accepted the session.
    Connected(ControlClient),
    /// A daemon runs but speaks another protocol version (it said so in its refusal).
    Incompatible(Incompatible),
    /// No daemon answers for this root.
    NotRunning,
}

/// A running daemon this build cannot talk to, as its handshake refusal describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Incompatible {
    pub pid: u32,
    pub protocol_version: u32,
    /// The daemon's own words.
    pub message: String,
}

impl ControlClient {
    /// Connects to the room's daemon as `kind`. `Ok(None)` when no daemon is listening; a daemon
    /// of another protocol version is an error that says how to stop it.
    pub async fn connect(paths: &RoomPaths, kind: ClientKind) -> anyhow::Result<Option<Self>> {
        match Self::reach(paths, kind).await? {
            Reach::Connected(client) => Ok(Some(client)),
            Reach::NotRunning => Ok(None),
            Reach::Incompatible(daemon) => Err(incompatible(paths, &daemon)),
        }
    }

    /// Connects to the room's daemon as `kind`, wherever its socket is (the endpoint it recorded,
    /// else the one this environment yields), and says what it found. Never starts a daemon.
    pub async fn reach(paths: &RoomPaths, kind: ClientKind) -> anyhow::Result<Reach> {
        let stream = match chatroom_client::launch::connect_room(paths).await {
            Ok(stream) => stream,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(Reach::NotRunning);
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot connect to {}", paths.socket.display()));
            }
        };
        Self::handshake(stream, kind).await
    }

    /// Connects as `kind`, starting the daemon first if none serves the room.
    pub async fn connect_or_start(paths: &RoomPaths, kind: ClientKind) -> anyhow::Result<Self> {
        let stream = chatroom_client::launch::connect_or_start(paths).await?;
        match Self::handshake(stream, kind).await? {
            Reach::Connected(client) => Ok(client),
            Reach::Incompatible(daemon) => Err(incompatible(paths, &daemon)),
            Reach::NotRunning => bail!("chatroomd closed the connection during the handshake"),
        }
    }

    async fn handshake(stream: Stream, kind: ClientKind) -> anyhow::Result<Reach> {
        let mut client = Self {
            stream,
            buffer: Vec::new(),
            next_id: 1,
            events: VecDeque::new(),
        };
        let hello = ClientMessage::Hello(Hello {
            version: protocol_version(),
            client_pid: std::process::id(),
            kind,
        });
        write_frame(&mut client.stream, &hello, MAX_CLIENT_FRAME).await?;
        match client.read(Some(REPLY_TIMEOUT)).await? {
            Some(ServerMessage::HelloReply(HelloReply::Welcome { .. })) => {
                Ok(Reach::Connected(client))
            }
            // The same version refusing us is not a skew `stop` could fix: say what it said.
            Some(ServerMessage::HelloReply(HelloReply::Refused {
                daemon_version,
                message,
                ..
            })) if daemon_version == protocol_version() => bail!("{message}"),
            Some(ServerMessage::HelloReply(HelloReply::Refused {
                daemon_version,
                daemon_pid,
                message,
            })) => Ok(Reach::Incompatible(Incompatible {
                pid: daemon_pid,
                protocol_version: daemon_version,
                message,
            })),
            Some(other) => bail!("unexpected first frame from chatroomd: {other:?}"),
            None => bail!("chatroomd closed the connection during the handshake"),
        }
    }

    /// Sends one request and waits for its reply. `Ok(None)` if the daemon closed the connection
    /// first (as it may right after accepting a shutdown). Events that arrive meanwhile are kept
    /// for [`ControlClient::next_event`].
    pub async fn call(
        &mut self,
        request: Request,
    ) -> anyhow::Result<Option<Result<Response, Refusal>>> {
        let id = self.next_id;
        self.next_id += 1;
        write_frame(
            &mut self.stream,
            &ClientMessage::Call { id, request },
            MAX_CLIENT_FRAME,
        )
        .await?;
        loop {
            match self.read(Some(REPLY_TIMEOUT)).await? {
                Some(ServerMessage::Reply {
                    id: reply_id,
                    outcome,
                }) if reply_id == id => {
                    return Ok(Some(outcome));
                }
                Some(ServerMessage::Event(event)) => self.events.push_back(event),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// Like [`ControlClient::call`], for requests that must succeed: a refusal or a closed
    /// connection is an error.
    pub async fn request(&mut self, request: Request) -> anyhow::Result<Response> {
        match self.call(request).await? {
            Some(Ok(response)) => Ok(response),
            Some(Err(refusal)) => bail!("{refusal}"),
            None => bail!("chatroomd closed the connection"),
        }
    }

    /// The next pushed event (after [`Request::Subscribe`]); `Ok(None)` when the daemon closed
    /// the connection. Waits as long as it takes.
    pub async fn next_event(&mut self) -> anyhow::Result<Option<Event>> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        loop {
            match self.read(None).await? {
                Some(ServerMessage::Event(event)) => return Ok(Some(event)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    async fn read(&mut self, timeout: Option<Duration>) -> anyhow::Result<Option<ServerMessage>> {
        let read =
            read_frame::<ServerMessage, _>(&mut self.stream, &mut self.buffer, MAX_SERVER_FRAME);
        let frame = match timeout {
            Some(timeout) => tokio::time::timeout(timeout, read)
                .await
                .context("chatroomd did not answer in time")?,
            None => read.await,
        };
        match frame {
            Ok(frame) => Ok(frame),
            Err(protocol::frame::FrameError::Io(err))
                if err.kind() == io::ErrorKind::ConnectionReset =>
            {
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// A command refused by a daemon of another version: what it said, and the way out, which works
/// whatever version it speaks.
fn incompatible(paths: &RoomPaths, daemon: &Incompatible) -> anyhow::Error {
    anyhow::anyhow!(
        "{}; stop it with `chatroomd stop --root {}` and retry",
        daemon.message,
        paths.root.display()
    )
}
