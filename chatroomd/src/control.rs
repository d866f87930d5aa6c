//! The daemon's own client, used by the `chatroomd` subcommands that talk to a running daemon
//! (`status`, `stop`). It never starts a daemon: these commands report what is there.

use std::io;
use std::time::Duration;

use anyhow::{Context, bail};
use interprocess::local_socket::GenericFilePath;
use interprocess::local_socket::tokio::{Stream, prelude::*};
use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, read_frame, write_frame};
use protocol::paths::RoomPaths;
use protocol::{
    ClientKind, ClientMessage, Hello, HelloReply, PROTOCOL_VERSION, Refusal, Request, Response,
    ServerMessage,
};

/// How long a control command waits for the daemon to answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A handshaken control connection.
#[derive(Debug)]
pub struct ControlClient {
    stream: Stream,
    buffer: Vec<u8>,
    next_id: u64,
}

impl ControlClient {
    /// Connects to the room's daemon. `Ok(None)` when no daemon is listening.
    pub async fn connect(paths: &RoomPaths) -> anyhow::Result<Option<Self>> {
        let name = paths.socket.as_path().to_fs_name::<GenericFilePath>()?;
        let stream = match Stream::connect(name).await {
            Ok(stream) => stream,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(None);
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot connect to {}", paths.socket.display()));
            }
        };
        let mut client = Self {
            stream,
            buffer: Vec::new(),
            next_id: 1,
        };
        let hello = ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            client_pid: std::process::id(),
            kind: ClientKind::Control,
        });
        write_frame(&mut client.stream, &hello, MAX_CLIENT_FRAME).await?;
        match client.read().await? {
            Some(ServerMessage::HelloReply(HelloReply::Welcome { .. })) => Ok(Some(client)),
            Some(ServerMessage::HelloReply(HelloReply::Refused { message, .. })) => {
                bail!("{message}")
            }
            Some(other) => bail!("unexpected first frame from chatroomd: {other:?}"),
            None => bail!("chatroomd closed the connection during the handshake"),
        }
    }

    /// Sends one request and waits for its reply. `Ok(None)` if the daemon closed the connection
    /// first (as it may right after accepting a shutdown).
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
            match self.read().await? {
                Some(ServerMessage::Reply {
                    id: reply_id,
                    outcome,
                }) if reply_id == id => return Ok(Some(outcome)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    async fn read(&mut self) -> anyhow::Result<Option<ServerMessage>> {
        let frame = tokio::time::timeout(
            REPLY_TIMEOUT,
            read_frame::<ServerMessage, _>(&mut self.stream, &mut self.buffer, MAX_SERVER_FRAME),
        )
        .await
        .context("chatroomd did not answer in time")?;
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
