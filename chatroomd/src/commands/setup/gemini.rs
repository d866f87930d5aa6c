//! Gemini CLI (<https://geminicli.com/docs/tools/mcp-server>, <https://geminicli.com/docs/hooks/reference>,
//! <https://geminicli.com/docs/cli/trusted-folders>): the server and the hooks in
//! `.gemini/settings.json` (shared), and the folder's trust in `~/.gemini/trustedFolders.json`.

use serde_json::json;

use super::hooks::{self, HookEvent, Row};
use super::{Context, Target, json, path};

pub const NAME: &str = "gemini";
pub const MARKERS: &[&str] = &[".gemini"];
pub const COMMANDS: &[&str] = &["gemini"];

/// No matcher: each group runs for every tool and every start.
const ROWS: &[Row] = &[
    Row::new("SessionStart", HookEvent::SessionStart),
    Row::new("BeforeAgent", HookEvent::Prompt),
    Row::new("AfterTool", HookEvent::PostTool),
    Row::new("AfterAgent", HookEvent::Stop),
    // Gemini's matcher is a regular expression over the tool's name.
    Row::matching(
        "BeforeTool",
        HookEvent::PreTool,
        "write_file|replace|run_shell_command",
    ),
];

pub fn targets(context: &Context) -> Vec<Target> {
    let root = &context.root;
    let mut targets = vec![Target::shared_json(
        root.join(".gemini/settings.json"),
        vec![
            // `"trust": true` is shared, on the server: Gemini merges a project's `mcpServers`
            // over the user's server by server, so it cannot live apart from the entry, and it
            // takes effect only in a folder the person has trusted (the personal step below).
            super::server_entry(&["mcpServers", "chatroom"], &[("trust", json!(true))]),
            json::Entry::Hooks {
                path: path(&["hooks"]),
                events: hooks::events(ROWS, true, |row| {
                    json!({
                        "type": "command",
                        "name": format!("chatroom-{}", row.hook.arg()),
                        "command": hooks::command(NAME, row.hook),
                        // Gemini's hook timeouts are in milliseconds.
                        "timeout": hooks::TIMEOUT_S * 1000,
                    })
                }),
                nested: true,
            },
        ],
    )];
    if let Some(home) = &context.home {
        targets.push(Target::personal_json(
            home.join(".gemini/trustedFolders.json"),
            vec![json::Entry::Keys {
                path: Vec::new(),
                keys: vec![(root.to_string_lossy().into_owned(), json!("TRUST_FOLDER"))],
                keep_on_remove: false,
            }],
        ));
    }
    targets
}

pub fn manual(_context: &Context) -> Vec<String> {
    Vec::new()
}
