//! Claude Code (<https://code.claude.com/docs/en/mcp>, <https://code.claude.com/docs/en/settings>,
//! <https://code.claude.com/docs/en/hooks>): the server in `.mcp.json`, the hooks in
//! `.claude/settings.json` (both shared), and the approvals in the user's settings.

use serde_json::json;

use super::hooks::{self, HookEvent, Row};
use super::{Context, Target, json, path};

/// The client's name on the command line and in `chatroomd hook`.
pub const NAME: &str = "claude-code";

/// What shows a repository uses it, and its CLI.
pub const MARKERS: &[&str] = &[".mcp.json", ".claude"];
pub const COMMANDS: &[&str] = &["claude"];

/// The permission rule that lets every chatroom tool run without asking (`mcp__chatroom` works
/// too; a bare `mcp__*` allows nothing).
pub const ALLOW_TOOLS: &str = "mcp__chatroom__*";

/// Every event the adapters serve; the wake-up hook runs in the background (`asyncRewake`)
/// after each turn and at the start, and wakes an idle session by exiting 2.
const ROWS: &[Row] = &[
    Row::new("SessionStart", HookEvent::SessionStart),
    Row::new("SessionStart", HookEvent::Wake),
    Row::new("UserPromptSubmit", HookEvent::Prompt),
    Row::matching("PostToolUse", HookEvent::PostTool, "*"),
    Row::new("Stop", HookEvent::Stop),
    Row::new("Stop", HookEvent::Wake),
    // The file-editing tools and Bash (https://code.claude.com/docs/en/hooks#pretooluse).
    Row::matching(
        "PreToolUse",
        HookEvent::PreTool,
        "Edit|Write|MultiEdit|NotebookEdit|Bash",
    ),
];

pub fn targets(context: &Context) -> Vec<Target> {
    let root = &context.root;
    let mut targets = vec![
        Target::shared_json(
            root.join(".mcp.json"),
            vec![super::server_entry(&["mcpServers", "chatroom"], &[])],
        ),
        Target::shared_json(
            root.join(".claude/settings.json"),
            vec![json::Entry::Hooks {
                path: path(&["hooks"]),
                events: hooks::events(ROWS, true, |row| {
                    let command = hooks::command(NAME, row.hook);
                    if row.hook == HookEvent::Wake {
                        json!({"type": "command", "command": command, "asyncRewake": true, "timeout": hooks::WAKE_TIMEOUT_S})
                    } else {
                        json!({"type": "command", "command": command, "timeout": hooks::TIMEOUT_S})
                    }
                }),
                nested: true,
            }],
        ),
    ];
    // Both approvals go in the user settings, not `.claude/settings.local.json`: Claude Code
    // ignores `enabledMcpjsonServers` there (anthropics/claude-code#24657, #16402) and took the
    // approval from `~/.claude/settings.json` when tried; the permission rule goes with it so
    // that one personal file holds both and no project file needs to be git-ignored. Both name
    // only the `chatroom` server, so they allow nothing else in any project.
    if let Some(home) = &context.home {
        targets.push(Target::personal_json(
            home.join(".claude/settings.json"),
            vec![
                json::Entry::Item {
                    path: path(&["enabledMcpjsonServers"]),
                    item: json!("chatroom"),
                },
                json::Entry::Item {
                    path: path(&["permissions", "allow"]),
                    item: json!(ALLOW_TOOLS),
                },
            ],
        ));
    }
    targets
}

/// What setup cannot do for Claude Code.
pub fn manual(_context: &Context) -> Vec<String> {
    vec!["claude-code: start a new session; it reads the server, the hooks and the approvals when it starts".into()]
}
