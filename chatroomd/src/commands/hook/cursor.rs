//! Cursor's hooks (<https://cursor.com/docs/agent/hooks>; not run here, so unverified against
//! a real Cursor): stdin carries `conversation_id` (and `session_id` at `sessionStart`), the
//! `workspace_roots` (and `cwd` at some events) and, at `stop`, `loop_count` — how many
//! follow-ups in a row this stop hook has already caused. `sessionStart` and `postToolUse` add
//! context with `{"additional_context": …}`; `stop` continues with `{"followup_message": …}`,
//! submitted as the next user message. `beforeSubmitPrompt` can only allow or block the
//! prompt, and the `after…Execution`/`afterFileEdit` hooks output nothing, so the prompt hook
//! says nothing (and marks nothing delivered). No wake mechanism.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::{Event, HookInput};

/// Follow-ups a stop hook may cause in a row before the messages wait for the next prompt
/// (Cursor's own cap is 5).
pub const FOLLOWUPS: u64 = 3;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Stdin {
    conversation_id: String,
    session_id: String,
    cwd: Option<PathBuf>,
    workspace_roots: Vec<PathBuf>,
    loop_count: u64,
}

/// What Cursor's stdin says: the conversation is the session, the first workspace root the
/// directory when no `cwd` is given, and a stop past [`FOLLOWUPS`] a continuation.
pub fn input(stdin: &Value) -> anyhow::Result<HookInput> {
    let stdin = Stdin::deserialize(stdin)?;
    let session_id = if stdin.conversation_id.trim().is_empty() {
        stdin.session_id
    } else {
        stdin.conversation_id
    };
    Ok(HookInput {
        session_id,
        cwd: stdin
            .cwd
            .or_else(|| stdin.workspace_roots.into_iter().next()),
        continuation: stdin.loop_count >= FOLLOWUPS,
    })
}

/// The hook event Cursor fires for `event`.
pub fn event_name(event: Event) -> Option<&'static str> {
    match event {
        Event::SessionStart => Some("sessionStart"),
        Event::Prompt => Some("beforeSubmitPrompt"),
        Event::PostTool => Some("postToolUse"),
        Event::Stop => Some("stop"),
        Event::Wake => None,
        Event::PreTool => Some("beforeShellExecution"),
    }
}

/// Context at the session's start or after a tool; none next to a prompt.
pub fn context(event: Event, text: &str) -> Option<Value> {
    match event {
        Event::SessionStart | Event::PostTool => {
            Some(serde_json::json!({ "additional_context": text }))
        }
        Event::Prompt | Event::Stop | Event::Wake | Event::PreTool => None,
    }
}

/// A follow-up message that keeps the agent going.
pub fn keep_going(text: &str) -> Option<Value> {
    Some(serde_json::json!({ "followup_message": text }))
}
