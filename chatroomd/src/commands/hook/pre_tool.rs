//! The pre-tool hook: before an agent's client runs a tool that edits files, it asks the daemon
//! whether another session holds one of them exclusively, and if so denies the call with a reason
//! the model reads. Pure here: which files a client's tool call edits ([`edited_files`]), and the
//! client's documented denial ([`deny`]); `mod.rs` asks the daemon in between.
//!
//! What each client sends and expects (each cited in its fixture's `SOURCE.md` and in the tests):
//! - Claude Code `PreToolUse` (<https://code.claude.com/docs/en/hooks#pretooluse>): `tool_name`
//!   `Edit`/`Write`/`MultiEdit` with `tool_input.file_path`, `NotebookEdit` with
//!   `tool_input.notebook_path`, `Bash` with `tool_input.command`; denied by
//!   `hookSpecificOutput.permissionDecision: "deny"` with `permissionDecisionReason`.
//! - Codex `PreToolUse` (<https://developers.openai.com/codex/hooks#pretooluse>): `tool_name`
//!   `apply_patch` with the patch envelope in `tool_input.command`, `Bash` with the command;
//!   denied by exit status 2 with the reason on stderr.
//! - Gemini CLI `BeforeTool` (<https://geminicli.com/docs/hooks/reference/>): `tool_name`
//!   `write_file`/`replace` with `tool_input.file_path`, `run_shell_command` with
//!   `tool_input.command`; denied by `{"decision": "deny", "reason": …}`.
//! - Cursor `beforeShellExecution` (<https://cursor.com/docs/agent/hooks>): `command`; denied by
//!   `{"permission": "deny", "user_message": …, "agent_message": …}`. Cursor's file edits have
//!   no hook before them (only `afterFileEdit`), so only its shell commands are checked.
//!
//! A shell command is read by `edits::shell_paths`, which knows only simple forms: what it cannot
//! parse names no file and is allowed.

use serde_json::{Value, json};

use super::edits::{patch_paths, shell_paths};
use super::{Client, Output};

/// The files the tool call on `stdin` would edit, as the client named them (absolute or relative
/// to its `cwd`); empty for a tool that edits nothing we can read.
pub fn edited_files(client: Client, stdin: &Value) -> Vec<String> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let input = &stdin["tool_input"];
    let tool = stdin["tool_name"].as_str().unwrap_or_default();
    match client {
        Client::ClaudeCode => match tool {
            "Edit" | "Write" | "MultiEdit" => text(&input["file_path"]).into_iter().collect(),
            "NotebookEdit" => text(&input["notebook_path"]).into_iter().collect(),
            "Bash" => shell_paths(input["command"].as_str().unwrap_or_default()),
            _ => Vec::new(),
        },
        Client::Codex => {
            let command = match &input["command"] {
                Value::String(command) => command.clone(),
                // An argv, as older Codex versions pass a shell call.
                Value::Array(words) => words
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            };
            match tool {
                "apply_patch" => patch_paths(&command),
                "Bash" | "shell" | "exec_command" if command.contains("*** Begin Patch") => {
                    patch_paths(&command)
                }
                "Bash" | "shell" | "exec_command" => shell_paths(&command),
                _ => Vec::new(),
            }
        }
        Client::Gemini => match tool {
            "write_file" | "replace" | "edit" => text(&input["file_path"]).into_iter().collect(),
            "run_shell_command" => shell_paths(input["command"].as_str().unwrap_or_default()),
            _ => Vec::new(),
        },
        Client::Cursor => shell_paths(stdin["command"].as_str().unwrap_or_default()),
    }
}

/// The client's documented denial of the tool call, with `reason` for the model.
pub fn deny(client: Client, reason: &str) -> Output {
    match client {
        Client::ClaudeCode => Output::Json(json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        })),
        Client::Codex => Output::Refuse(reason.to_owned()),
        Client::Gemini => Output::Json(json!({"decision": "deny", "reason": reason})),
        Client::Cursor => Output::Json(json!({
            "permission": "deny",
            "user_message": reason,
            "agent_message": reason,
        })),
    }
}

/// What the model reads: each claim in the way, then what to do.
pub fn reason(check: &protocol::ClaimCheck) -> String {
    let sentences: Vec<String> = check
        .blocked
        .iter()
        .map(protocol::ClaimConflict::sentence)
        .collect();
    let mut holders: Vec<&str> = check
        .blocked
        .iter()
        .map(|conflict| conflict.held_by.name.as_str())
        .collect();
    holders.dedup();
    let mut reason = format!(
        "{}; ask {} in the chatroom (send_message to {}), or wait until the claim is released",
        sentences.join("; "),
        if holders.len() == 1 { "it" } else { "them" },
        holders.join(", "),
    );
    // Linked to no session, or to one that holds no name: its own claims cannot be told apart.
    if check.names.is_empty() {
        reason.push_str(
            " (no name of this session was found in the chatroom: if it holds the claim, join from this session)",
        );
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(client: &str) -> Value {
        let path = format!(
            "{}/../tests/fixtures/hooks/{client}/pre-tool.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
    }

    #[test]
    fn each_clients_documented_edit_names_its_file() {
        let cases = [
            (
                Client::ClaudeCode,
                "claude-code",
                "/home/user/project/src/store.rs",
            ),
            (Client::Codex, "codex", "src/store.rs"),
            (Client::Gemini, "gemini", "/home/user/project/src/store.rs"),
            (Client::Cursor, "cursor", "src/store.rs"),
        ];
        for (client, folder, file) in cases {
            assert_eq!(edited_files(client, &fixture(folder)), [file], "{folder}");
        }
    }

    #[test]
    fn the_other_tools_of_each_client_are_read_as_they_edit() {
        let call = |tool: &str, input: Value| json!({"tool_name": tool, "tool_input": input});
        let claude = |tool, input| edited_files(Client::ClaudeCode, &call(tool, input));
        assert_eq!(
            claude("Write", json!({"file_path": "/r/a.rs"})),
            ["/r/a.rs"]
        );
        assert_eq!(
            claude("MultiEdit", json!({"file_path": "/r/a.rs"})),
            ["/r/a.rs"]
        );
        assert_eq!(
            claude("NotebookEdit", json!({"notebook_path": "/r/n.ipynb"})),
            ["/r/n.ipynb"]
        );
        assert_eq!(
            claude("Bash", json!({"command": "rm a.rs && echo x > b.rs"})),
            ["a.rs", "b.rs"]
        );
        assert!(claude("Read", json!({"file_path": "/r/a.rs"})).is_empty());
        // A shell command we cannot read names nothing: it is allowed.
        assert!(
            claude(
                "Bash",
                json!({"command": "python3 -c \"open('a.rs','w')\""})
            )
            .is_empty()
        );
        let codex = |tool, input| edited_files(Client::Codex, &call(tool, input));
        assert_eq!(
            codex("Bash", json!({"command": "sed -i s/a/b/ x.rs"})),
            ["x.rs"]
        );
        assert_eq!(
            codex(
                "shell",
                json!({"command": ["apply_patch", "*** Begin Patch\n*** Add File: n.rs\n*** End Patch"]})
            ),
            ["n.rs"]
        );
        let gemini = |tool, input| edited_files(Client::Gemini, &call(tool, input));
        assert_eq!(
            gemini("write_file", json!({"file_path": "/r/w.rs"})),
            ["/r/w.rs"]
        );
        assert_eq!(
            gemini("run_shell_command", json!({"command": "tee t.rs"})),
            ["t.rs"]
        );
        assert!(gemini("read_file", json!({"absolute_path": "/r/w.rs"})).is_empty());
    }

    #[test]
    fn each_client_is_denied_in_its_documented_words() {
        // https://code.claude.com/docs/en/hooks#pretooluse
        assert_eq!(
            deny(Client::ClaudeCode, "why"),
            Output::Json(
                json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "why"}})
            )
        );
        // https://developers.openai.com/codex/hooks#pretooluse: exit 2, the reason on stderr.
        assert_eq!(deny(Client::Codex, "why"), Output::Refuse("why".into()));
        // https://geminicli.com/docs/hooks/reference/
        assert_eq!(
            deny(Client::Gemini, "why"),
            Output::Json(json!({"decision": "deny", "reason": "why"}))
        );
        // https://cursor.com/docs/agent/hooks
        assert_eq!(
            deny(Client::Cursor, "why"),
            Output::Json(
                json!({"permission": "deny", "user_message": "why", "agent_message": "why"})
            )
        );
    }
}
