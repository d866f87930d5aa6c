//! Codex CLI (<https://developers.openai.com/codex/config-reference>,
//! <https://developers.openai.com/codex/hooks>): the server in `.codex/config.toml` and the hooks
//! in `.codex/hooks.json` (both shared), and the project's trust in the user's config.

use serde_json::json;

use super::hooks::{self, HookEvent, Row};
use super::{Context, Target, json, path};

pub const NAME: &str = "codex";
pub const MARKERS: &[&str] = &[".codex"];
pub const COMMANDS: &[&str] = &["codex"];

/// Codex ignores a matcher on `UserPromptSubmit` and `Stop`; `*` matches every tool.
const ROWS: &[Row] = &[
    Row::new("SessionStart", HookEvent::SessionStart),
    Row::new("UserPromptSubmit", HookEvent::Prompt),
    Row::matching("PostToolUse", HookEvent::PostTool, "*"),
    Row::new("Stop", HookEvent::Stop),
    // Every tool: the hook reads apply_patch's patch and Bash's command, and allows the rest
    // (https://developers.openai.com/codex/hooks#pretooluse).
    Row::matching("PreToolUse", HookEvent::PreTool, "*"),
];

pub fn targets(context: &Context) -> Vec<Target> {
    let root = &context.root;
    // `default_tools_approval_mode` is shared, in the server's own table: it is part of what
    // the server is (its tools only touch the room), every collaborator wants the tools to run
    // unasked (a headless `codex exec` refuses them otherwise), and it cannot take effect
    // before each person trusts the project, which is the personal step below.
    let mut server = super::server_toml(&["mcp_servers", "chatroom"]);
    server
        .keys
        .push(("default_tools_approval_mode".into(), "approve".into()));
    let mut targets = vec![
        Target::shared_toml(root.join(".codex/config.toml"), vec![server]),
        Target::shared_json(
            root.join(".codex/hooks.json"),
            vec![json::Entry::Hooks {
                path: path(&["hooks"]),
                events: hooks::events(
                    ROWS,
                    true,
                    |row| json!({"type": "command", "command": hooks::command(NAME, row.hook), "timeout": hooks::TIMEOUT_S}),
                ),
                nested: true,
            }],
        ),
    ];
    if let Some(codex_home) = &context.codex_home {
        let root = root.to_string_lossy().into_owned();
        targets.push(Target::personal_toml(
            codex_home.join("config.toml"),
            vec![super::toml::Entry {
                path: vec!["projects".into(), root],
                keys: vec![("trust_level".into(), "trusted".into())],
            }],
        ));
    }
    targets
}

/// Codex runs a project hook only once the person has trusted that hook: it records the trust
/// in `~/.codex/config.toml` as `[hooks.state."<hooks.json path>:<event>:<group>:<handler>"]
/// trusted_hash = "sha256:…"`, the hash of Codex's own normalised form of the hook (openai/codex,
/// `codex-rs/hooks/src/engine/discovery.rs`). Setup could compute it, but the normalisation
/// changes between Codex versions (which optional fields it keeps) and a wrong hash makes Codex
/// skip the hook without a word, so setup leaves this to Codex's own review screen.
pub fn manual(context: &Context) -> Vec<String> {
    vec![format!(
        "codex: trust each chatroom hook once: run `codex` in {}, open /hooks and trust the `chatroomd hook codex …` entries (a headless `codex exec` runs untrusted hooks only with --dangerously-bypass-hook-trust)",
        context.root.display()
    )]
}
