//! The floors a tool call is measured against: the raw socket protocol, and a trivial MCP
//! server (in process over a duplex pipe, and as a child process over stdio).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use interprocess::local_socket::GenericFilePath;
use interprocess::local_socket::tokio::{Stream, prelude::*};
use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, read_frame, write_frame};
use protocol::{
    ClientKind, ClientMessage, Hello, HelloReply, PROTOCOL_VERSION, Request, Response,
    ServerMessage,
};
use rmcp::model::ClientConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::calls::{bounded, client_config};

/// Runs the binary as a trivial stdio MCP server (the floor of a stdio tool call).
pub(crate) const TRIVIAL_SERVER_FLAG: &str = "--trivial-mcp-server";

// ---------------------------------------------------------------------------------------------
// The raw socket protocol

/// A protocol client talking to the daemon directly (what the shim does under MCP). It stays a
/// bare socket with the frame codec of `protocol::frame`, one call at a time, and deliberately
/// not `chatroom-client`'s connection (whose reader and writer tasks are part of what the shim
/// costs): this is the floor the shim is measured against.
pub(crate) struct RawClient {
    stream: Stream,
    buffer: Vec<u8>,
    next_id: u64,
}

impl RawClient {
    pub(crate) async fn connect(socket: &Path, kind: ClientKind) -> anyhow::Result<Self> {
        let name = socket
            .to_fs_name::<GenericFilePath>()
            .context("socket name")?;
        let stream = bounded("connecting to chatroomd", Stream::connect(name)).await?;
        let mut client = Self {
            stream,
            buffer: Vec::new(),
            next_id: 1,
        };
        let hello = ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            client_pid: std::process::id(),
            kind,
        });
        bounded(
            "hello",
            write_frame(&mut client.stream, &hello, MAX_CLIENT_FRAME),
        )
        .await?;
        match client.read().await? {
            ServerMessage::HelloReply(HelloReply::Welcome { .. }) => Ok(client),
            other => bail!("chatroomd did not welcome us: {other:?}"),
        }
    }

    async fn read(&mut self) -> anyhow::Result<ServerMessage> {
        bounded(
            "reading from chatroomd",
            read_frame(&mut self.stream, &mut self.buffer, MAX_SERVER_FRAME),
        )
        .await?
        .context("chatroomd closed the connection")
    }

    pub(crate) async fn call(&mut self, request: &Request) -> anyhow::Result<Response> {
        let id = self.next_id;
        self.next_id += 1;
        let call = ClientMessage::Call {
            id,
            request: request.clone(),
        };
        bounded(
            "writing to chatroomd",
            write_frame(&mut self.stream, &call, MAX_CLIENT_FRAME),
        )
        .await?;
        loop {
            if let ServerMessage::Reply {
                id: reply_id,
                outcome,
            } = self.read().await?
                && reply_id == id
            {
                return outcome
                    .map_err(|refusal| anyhow!("chatroomd refused {request:?}: {refusal}"));
            }
        }
    }

    pub(crate) async fn time(
        &mut self,
        request: &Request,
        count: usize,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            self.call(request).await?;
            times.push(start.elapsed());
        }
        Ok(times)
    }
}

// ---------------------------------------------------------------------------------------------
// The trivial MCP server (the client's floor)

/// The result every trivial `tools/call` returns: a get_status-sized answer.
fn trivial_result() -> Value {
    let status = json!({"participant_count": 1, "message_count": 4000, "last_activity_ts": "2026-01-01T00:00:00Z"});
    json!({
        "content": [{"type": "text", "text": status.to_string()}],
        "structuredContent": status,
        "isError": false,
    })
}

/// The trivial server's answer to one newline-delimited JSON-RPC line: initialize, tools/list,
/// tools/call and ping are answered, anything else with an id is refused, notifications get
/// nothing. No validation, no I/O.
fn trivial_reply(line: &str, call_result: &Value) -> Option<Vec<u8>> {
    let message = serde_json::from_str::<Value>(line).ok()?;
    let id = message.get("id")?;
    let method = message.get("method").and_then(Value::as_str)?;
    let reply = match method {
        "initialize" => json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "trivial", "version": "0"},
        }}),
        "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
            {"name": "get_status", "description": "a constant", "inputSchema": {"type": "object"}},
        ]}}),
        "tools/call" => json!({"jsonrpc": "2.0", "id": id, "result": call_result}),
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        _ => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}})
        }
    };
    let mut bytes = serde_json::to_vec(&reply).expect("JSON values serialize");
    bytes.push(b'\n');
    Some(bytes)
}

/// [`trivial_reply`] over an async pipe (the in-process floor).
async fn serve_trivial(
    reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut lines = BufReader::new(reader).lines();
    let call_result = trivial_result();
    while let Some(line) = lines.next_line().await? {
        if let Some(bytes) = trivial_reply(&line, &call_result) {
            writer.write_all(&bytes).await?;
            writer.flush().await?;
        }
    }
    Ok(())
}

/// An rmcp client connected to [`serve_trivial`] running in this process.
pub(crate) async fn trivial_in_process() -> anyhow::Result<(
    rmcp::service::RunningService<RoleClient, ClientConfig>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    let server = tokio::spawn(serve_trivial(server_read, server_write));
    let (client_read, client_write) = tokio::io::split(client_io);
    let client = bounded(
        "initialize (in process)",
        client_config().serve((client_read, client_write)),
    )
    .await?;
    Ok((client, server))
}

/// `bench --trivial-mcp-server`: [`trivial_reply`] on stdin/stdout, with blocking I/O (the
/// stdio floor: a server process that costs next to nothing).
pub(crate) fn trivial_server_main() -> ExitCode {
    use std::io::BufRead as _;
    let call_result = trivial_result();
    let mut stdout = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else {
            return ExitCode::FAILURE;
        };
        if let Some(bytes) = trivial_reply(&line, &call_result)
            && (stdout.write_all(&bytes).is_err() || stdout.flush().is_err())
        {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
