//! [`Agent`]: one `chatroom-shim` driven by rmcp's MCP client, whose calls check the contract's
//! result rules ([`Agent::ok`], [`Agent::err`]), and the reads over a whole room
//! ([`all_messages`], [`assert_gap_free`]).

use anyhow::{Context, bail};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::RunningService;
use serde_json::Value;

use crate::{
    CLAIM_RECORD_KEYS, DEFAULT_TIMEOUT, TOPIC_RECORD_KEYS, check_records_among, is_compact_json,
    process_running,
};

/// One agent: a `chatroom-shim` process driven over stdio by rmcp's client.
pub struct Agent {
    pub(crate) client: Option<RunningService<RoleClient, ClientConfig>>,
    /// The shim's process id.
    pub pid: u32,
    /// The record shapes [`Agent::ok`] admits: v1's, unless [`Agent::with_topic_records`].
    pub(crate) records: &'static [&'static [&'static str]],
}

impl Agent {
    fn client(&self) -> &RunningService<RoleClient, ClientConfig> {
        self.client.as_ref().expect("agent already closed")
    }

    /// This agent's [`Agent::ok`] also admits the records of topics ([`TOPIC_RECORD_KEYS`]). An
    /// agent that never names a topic keeps v1's shapes only, which is how a test holds that a
    /// room used the v1 way yields v1 records.
    pub fn with_topic_records(mut self) -> Self {
        self.records = TOPIC_RECORD_KEYS;
        self
    }

    /// This agent's [`Agent::ok`] also admits the records of claims ([`CLAIM_RECORD_KEYS`]).
    pub fn with_claim_records(mut self) -> Self {
        self.records = CLAIM_RECORD_KEYS;
        self
    }

    /// The raw MCP peer, for listing tools and reading server info.
    pub fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.client().peer()
    }

    /// Calls `tool` with `args` (a JSON object) and returns the raw result.
    pub async fn call(&self, tool: &str, args: Value) -> anyhow::Result<CallToolResult> {
        let Value::Object(arguments) = args else {
            bail!("tool arguments must be a JSON object")
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let result = tokio::time::timeout(DEFAULT_TIMEOUT, self.client().call_tool(params))
            .await
            .with_context(|| format!("{tool} timed out"))??;
        Ok(result)
    }

    /// Calls `tool`, asserts success and the contract's result shape, and returns the JSON value.
    /// The shape: one text block of compact JSON whose objects are records of the contract with
    /// exactly its keys in its order ([`check_records`](crate::check_records)); an object is
    /// also the `structuredContent`, a list is wrapped there as `{"result": [...]}`, and `null`
    /// has none.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        self.ok_text(tool, args).await.0
    }

    /// Like [`Agent::ok`], also returning the text block as sent.
    pub async fn ok_text(&self, tool: &str, args: Value) -> (Value, String) {
        let result = self
            .call(tool, args)
            .await
            .unwrap_or_else(|err| panic!("{tool}: {err:#}"));
        assert_ne!(
            result.is_error,
            Some(true),
            "{tool} failed: {}",
            text_of(&result)
        );
        assert_eq!(
            result.content.len(),
            1,
            "{tool}: one content block: {result:?}"
        );
        let text = text_of(&result);
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{tool}: not JSON ({err}): {text}"));
        assert!(
            is_compact_json(&text),
            "{tool}: the text block must be compact JSON: {text}"
        );
        if let Err(problem) = check_records_among(&text, self.records) {
            panic!("{tool}: {problem}: {text}");
        }
        match &value {
            Value::Object(_) => assert_eq!(
                result.structured_content.as_ref(),
                Some(&value),
                "{tool}: structuredContent"
            ),
            Value::Array(_) => assert_eq!(
                result.structured_content,
                Some(serde_json::json!({ "result": value })),
                "{tool}: lists are wrapped in structuredContent"
            ),
            _ => assert_eq!(
                result.structured_content, None,
                "{tool}: a scalar result has no structuredContent"
            ),
        }
        (value, text)
    }

    /// Calls `tool`, asserts it was refused (`isError: true`) and returns the message: one line,
    /// not starting with a capital, without a trailing period.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let result = self
            .call(tool, args)
            .await
            .unwrap_or_else(|err| panic!("{tool}: {err:#}"));
        let text = text_of(&result);
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} should have been refused, got {text}"
        );
        assert!(
            !text.contains('\n'),
            "{tool}: refusals are one line: {text:?}"
        );
        assert!(
            !text.is_empty() && !text.starts_with(char::is_uppercase),
            "{tool}: refusals are lowercase: {text:?}"
        );
        assert!(
            !text.ends_with('.'),
            "{tool}: refusals have no trailing period: {text:?}"
        );
        text
    }

    /// Kills the shim with SIGKILL (its MCP client is left without a server).
    pub fn kill(&mut self) {
        // SAFETY: plain kill(2) on the child we spawned.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }

    /// Closes the MCP session the way clients do: stdin is closed, then the shim should exit.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(DEFAULT_TIMEOUT, client.cancel()).await;
        }
    }

    /// Waits until the shim has exited and been reaped, which happens on its own once it is
    /// killed ([`Agent::kill`]): the client sees its stdout end and waits for the process.
    /// Panics if that takes longer than [`DEFAULT_TIMEOUT`].
    pub async fn reap(mut self) {
        let pid = self.pid;
        if let Some(client) = self.client.take() {
            tokio::time::timeout(DEFAULT_TIMEOUT, client.waiting())
                .await
                .unwrap_or_else(|_| panic!("shim {pid} was not reaped"))
                .expect("the MCP client task failed");
        }
        assert!(!process_running(pid), "shim {pid} is still running");
    }
}

/// The text of a result's first content block.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|text| text.text.clone())
        .unwrap_or_default()
}

/// Every message in the room as `agent` reads it, paging through `read_messages`.
pub async fn all_messages(agent: &Agent) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    loop {
        let since = messages
            .last()
            .map_or(0, |message| message["id"].as_u64().unwrap());
        let page = agent
            .ok(
                "read_messages",
                serde_json::json!({"since_id": since, "limit": 100}),
            )
            .await;
        let page = page.as_array().expect("a list of messages").clone();
        if page.is_empty() {
            return messages;
        }
        messages.extend(page);
    }
}

/// Asserts the messages' ids are 1, 2, 3, … with no gap and no repeat.
pub fn assert_gap_free(messages: &[Value]) {
    let ids: Vec<u64> = messages
        .iter()
        .map(|message| message["id"].as_u64().expect("an id"))
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids strictly increasing from 1, with no gap"
    );
}
