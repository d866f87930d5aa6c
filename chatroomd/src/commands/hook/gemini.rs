//! Gemini CLI's hooks (<https://geminicli.com/docs/hooks/reference>): stdin carries
//! `session_id`, `cwd` and, at `AfterAgent`, `stop_hook_active`; stdout must be JSON only.
//! Context goes out as `hookSpecificOutput.additionalContext` at `SessionStart` (the first turn),
//! `BeforeAgent` (appended to the prompt) and `AfterTool` (appended to the tool result);
//! `AfterAgent` with `{"decision": "deny", "reason": …}` sends the reason to the agent as a new
//! prompt. Gemini has no way to wake an idle session.

use serde_json::Value;

use super::{Event, HookInput, common_input, hook_specific};

/// What Gemini CLI's stdin says.
pub fn input(stdin: &Value) -> anyhow::Result<HookInput> {
    common_input(stdin)
}

/// The hook event Gemini CLI fires for `event`.
pub fn event_name(event: Event) -> Option<&'static str> {
    match event {
        Event::SessionStart => Some("SessionStart"),
        Event::Prompt => Some("BeforeAgent"),
        Event::PostTool => Some("AfterTool"),
        Event::Stop => Some("AfterAgent"),
        Event::Wake => None,
        Event::PreTool => Some("BeforeTool"),
    }
}

/// Context for the model at `event`.
pub fn context(event: Event, text: &str) -> Option<Value> {
    Some(hook_specific(event_name(event)?, text))
}

/// The response rejected, so that the agent retries with `reason` as its prompt.
pub fn keep_going(text: &str) -> Option<Value> {
    Some(serde_json::json!({ "decision": "deny", "reason": text }))
}
