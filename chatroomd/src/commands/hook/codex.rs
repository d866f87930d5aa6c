//! Codex's hooks (the schemas in
//! <https://github.com/openai/codex/tree/main/codex-rs/hooks/schema/generated>): stdin carries
//! `session_id`, `cwd` and, at `Stop`, `stop_hook_active`, like Claude Code's. Context goes out
//! as `hookSpecificOutput.additionalContext` at `SessionStart`, `UserPromptSubmit` and
//! `PostToolUse` (every output object refuses keys it does not know); `Stop` continues with
//! `{"decision": "block", "reason": …}`. Codex has no way to wake an idle session.

use serde_json::Value;

use super::{Event, HookInput, common_input, hook_specific};

/// What Codex's stdin says.
pub fn input(stdin: &Value) -> anyhow::Result<HookInput> {
    common_input(stdin)
}

/// The hook event Codex fires for `event`; none wakes an idle session.
pub fn event_name(event: Event) -> Option<&'static str> {
    match event {
        Event::SessionStart => Some("SessionStart"),
        Event::Prompt => Some("UserPromptSubmit"),
        Event::PostTool => Some("PostToolUse"),
        Event::Stop => Some("Stop"),
        Event::Wake => None,
        Event::PreTool => Some("PreToolUse"),
    }
}

/// Context for the model at `event`.
pub fn context(event: Event, text: &str) -> Option<Value> {
    Some(hook_specific(event_name(event)?, text))
}

/// A stop refused with `reason`, which Codex sends on as the next prompt.
pub fn keep_going(text: &str) -> Option<Value> {
    Some(serde_json::json!({ "decision": "block", "reason": text }))
}
