//! The MCP client's side of every section: quiet shims, bounded and timed tool calls.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chatroom_tests::{TestRoom, text_of};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::{Peer, RoleClient};
use serde_json::Value;

/// Every single call is bounded by this; a hang fails the run instead of stalling it.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A shim for `room` that logs only warnings to our stderr; the daemon it starts still logs
/// `info` to its file (the bench reads `load_ms` from there).
pub(crate) fn quiet_shim(room: &TestRoom) -> tokio::process::Command {
    let mut command = room.shim_command();
    command.env("CHATROOM_LOG", "warn,chatroomd=info");
    command
}

pub(crate) async fn bounded<T, E>(
    what: &str,
    future: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::time::timeout(CALL_TIMEOUT, future)
        .await
        .map_err(|_| anyhow!("{what} timed out after {CALL_TIMEOUT:?}"))?
        .with_context(|| format!("{what} failed"))
}

/// One `tools/call`; a refusal is an error.
pub(crate) async fn call_tool(
    peer: &Peer<RoleClient>,
    tool: &str,
    args: &Value,
) -> anyhow::Result<CallToolResult> {
    let Value::Object(arguments) = args else {
        bail!("tool arguments must be a JSON object")
    };
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.clone());
    let result = bounded(tool, peer.call_tool(params)).await?;
    if result.is_error == Some(true) {
        bail!("{tool} was refused: {}", text_of(&result));
    }
    Ok(result)
}

pub(crate) async fn call_json(
    peer: &Peer<RoleClient>,
    tool: &str,
    args: &Value,
) -> anyhow::Result<Value> {
    let result = call_tool(peer, tool, args).await?;
    let text = text_of(&result);
    serde_json::from_str(&text).with_context(|| format!("{tool}: result is not JSON: {text}"))
}

/// Calls `tool` `count` times, one after another, and returns each call's latency.
pub(crate) async fn time_tool(
    peer: &Peer<RoleClient>,
    tool: &str,
    args: &Value,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        call_tool(peer, tool, args).await?;
        times.push(start.elapsed());
    }
    Ok(times)
}

pub(crate) fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("chatroom-bench", "0"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_06_18)
}
