//! Claude Code's hooks (<https://code.claude.com/docs/en/hooks>): stdin carries `session_id`,
//! `cwd` and, at `Stop`, `stop_hook_active`. Context goes out as
//! `hookSpecificOutput.additionalContext` (JSON rather than plain stdout: plain stdout is
//! context only at `SessionStart` and `UserPromptSubmit`, JSON works at every event); `Stop`
//! keeps Claude going with `{"decision": "block", "reason": …}`; the `asyncRewake` wake hook
//! exits 2 with the digest on stderr, which wakes Claude even when it is idle.

use serde_json::Value;

use super::{Event, HookInput, common_input, hook_specific};

/// What Claude Code's stdin says.
pub fn input(stdin: &Value) -> anyhow::Result<HookInput> {
    common_input(stdin)
}

/// The hook event Claude Code fires for `event` (setup installs the hook there).
pub fn event_name(event: Event) -> Option<&'static str> {
    Some(match event {
        Event::SessionStart => "SessionStart",
        Event::Prompt => "UserPromptSubmit",
        Event::PostTool => "PostToolUse",
        Event::Stop | Event::Wake => "Stop",
        Event::PreTool => "PreToolUse",
    })
}

/// Context placed next to the prompt, the tool result, or at the session's start.
pub fn context(event: Event, text: &str) -> Option<Value> {
    Some(hook_specific(event_name(event)?, text))
}

/// A stop refused so that Claude goes on with `reason` as its next instruction.
pub fn keep_going(text: &str) -> Option<Value> {
    Some(serde_json::json!({ "decision": "block", "reason": text }))
}
