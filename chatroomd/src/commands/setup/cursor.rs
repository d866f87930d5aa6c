//! Cursor (<https://cursor.com/docs/context/mcp>, <https://cursor.com/docs/agent/hooks>): the server
//! in `.cursor/mcp.json` and the hooks in `.cursor/hooks.json`, both shared. Not tried here: every
//! Cursor detail is from its docs only.

use serde_json::json;

use super::hooks::{self, HookEvent, Row};
use super::{Context, Target, json, path};

pub const NAME: &str = "cursor";
pub const MARKERS: &[&str] = &[".cursor"];
pub const COMMANDS: &[&str] = &["cursor-agent", "cursor"];

/// `postToolUse` runs after every tool and may add `additional_context`; `beforeSubmitPrompt`
/// can only allow or block a prompt, and `afterFileEdit`/`afterShellExecution`/
/// `afterMCPExecution` reach the model with nothing, so no hook of ours runs there (the adapter
/// would print nothing and deliver nothing: a process per prompt or tool call for no effect).
const ROWS: &[Row] = &[
    Row::new("sessionStart", HookEvent::SessionStart),
    Row::new("postToolUse", HookEvent::PostTool),
    Row::new("stop", HookEvent::Stop),
    Row::new("beforeShellExecution", HookEvent::PreTool),
];

pub fn targets(context: &Context) -> Vec<Target> {
    let root = &context.root;
    let mut hooks_file = Target::shared_json(
        root.join(".cursor/hooks.json"),
        vec![
            json::Entry::Keys {
                path: Vec::new(),
                keys: vec![("version".into(), json!(1))],
                keep_on_remove: true,
            },
            json::Entry::Hooks {
                path: path(&["hooks"]),
                events: hooks::events(ROWS, false, |row| {
                    json!({
                        "command": hooks::command(NAME, row.hook),
                        "timeout": hooks::TIMEOUT_S,
                    })
                }),
                nested: false,
            },
        ],
    );
    // A file left with only the version it needs held nothing but ours.
    hooks_file.residue = Some(json!({"version": 1}));
    vec![
        Target::shared_json(
            root.join(".cursor/mcp.json"),
            vec![super::server_entry(&["mcpServers", "chatroom"], &[])],
        ),
        hooks_file,
    ]
}

pub fn manual(_context: &Context) -> Vec<String> {
    vec!["cursor: not tried here; if Cursor lists the chatroom server as disabled, enable it in its MCP settings".into()]
}
