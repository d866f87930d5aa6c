//! The hooks setup installs, as one table per client: which of the client's events runs which
//! `chatroomd hook <client> <event>` command line. The command lines are the contract with the
//! hook adapters (`chatroomd hook`); a new event is one more [`HookEvent`] and one row per
//! client.

use serde_json::{Map, Value};

use super::HOOK_COMMAND_PREFIX;

/// How long a client lets an ordinary hook run: the adapters answer in milliseconds and give up
/// on their own after two seconds, so this only bounds a hook that hangs.
pub const TIMEOUT_S: u64 = 10;
/// How long Claude Code lets the wake-up hook wait for a message (it waits 3300 s by default,
/// below this, and exits by itself).
pub const WAKE_TIMEOUT_S: u64 = 3600;

/// The `<event>` of `chatroomd hook <client> <event>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    /// The session starts: who is here, the latest summary, how many messages wait.
    SessionStart,
    /// The person submitted a prompt: the messages not yet seen, next to it.
    Prompt,
    /// A tool call finished: the messages not yet seen, next to its result.
    PostTool,
    /// The agent is about to stop with messages waiting: keep it going.
    Stop,
    /// Claude Code only: wait in the background and wake the idle session for a message.
    Wake,
    /// Before a tool that edits files: denied when another agent holds one exclusively.
    PreTool,
}

impl HookEvent {
    /// The argument on the command line.
    pub fn arg(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "session-start",
            HookEvent::Prompt => "prompt",
            HookEvent::PostTool => "post-tool",
            HookEvent::Stop => "stop",
            HookEvent::Wake => "wake",
            HookEvent::PreTool => "pre-tool",
        }
    }
}

/// One hook: the client's event name, our event, and the matcher of its group (tool events).
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub event: &'static str,
    pub hook: HookEvent,
    pub matcher: Option<&'static str>,
}

impl Row {
    pub const fn new(event: &'static str, hook: HookEvent) -> Self {
        Self {
            event,
            hook,
            matcher: None,
        }
    }

    pub const fn matching(event: &'static str, hook: HookEvent, matcher: &'static str) -> Self {
        Self {
            event,
            hook,
            matcher: Some(matcher),
        }
    }
}

/// `chatroomd hook <client> <event>`.
pub fn command(client: &str, hook: HookEvent) -> String {
    format!("{HOOK_COMMAND_PREFIX}{client} {}", hook.arg())
}

/// The rows as each event's list of entries, in the order of the table: with `nested`, matcher
/// groups (`{"matcher": …, "hooks": [handlers]}`, one per matcher), else the handlers alone.
/// `handler` renders one row in the client's shape.
pub fn events(
    rows: &[Row],
    nested: bool,
    handler: impl Fn(&Row) -> Value,
) -> Vec<(String, Vec<Value>)> {
    let mut events: Vec<(String, Vec<Value>)> = Vec::new();
    for row in rows {
        let index = match events.iter().position(|(event, _)| event == row.event) {
            Some(index) => index,
            None => {
                events.push((row.event.to_owned(), Vec::new()));
                events.len() - 1
            }
        };
        let list = &mut events[index].1;
        if !nested {
            list.push(handler(row));
            continue;
        }
        let matcher = row.matcher.map(|matcher| Value::String(matcher.to_owned()));
        let group = list
            .iter_mut()
            .find(|group| group.get("matcher") == matcher.as_ref());
        match group {
            Some(group) => group["hooks"]
                .as_array_mut()
                .expect("a group we built has hooks")
                .push(handler(row)),
            None => {
                let mut group = Map::new();
                if let Some(matcher) = matcher {
                    group.insert("matcher".into(), matcher);
                }
                group.insert("hooks".into(), Value::Array(vec![handler(row)]));
                list.push(Value::Object(group));
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_become_groups_per_event_and_matcher_in_table_order() {
        let rows = [
            Row::new("Stop", HookEvent::Stop),
            Row::matching("PostToolUse", HookEvent::PostTool, "*"),
            Row::new("Stop", HookEvent::Wake),
        ];
        let handler = |row: &Row| json!(command("x", row.hook));
        assert_eq!(
            events(&rows, true, handler),
            vec![
                (
                    "Stop".to_owned(),
                    vec![json!({"hooks": ["chatroomd hook x stop", "chatroomd hook x wake"]})]
                ),
                (
                    "PostToolUse".to_owned(),
                    vec![json!({"matcher": "*", "hooks": ["chatroomd hook x post-tool"]})]
                ),
            ]
        );
        assert_eq!(
            events(&rows, false, handler)[0].1,
            vec![
                json!("chatroomd hook x stop"),
                json!("chatroomd hook x wake")
            ]
        );
    }
}
