//! The shim's few words to a person who runs it by hand: `--help`, `--version`, and a note when
//! stdin is a terminal. MCP clients pass no arguments and give it pipes, so none of this is ever
//! on their stdout.

use std::ffi::OsString;

use chatroom_client::launch::ENV_DAEMON;
use protocol::paths::{ENV_ROOT, ENV_RUNTIME_DIR};

use crate::ENV_LOG;
use crate::channel::ENV_CHANNELS;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// No arguments: serve MCP on stdio.
    Serve,
    Help,
    Version,
    /// An argument we do not take (the first one).
    Unknown(String),
}

pub fn parse(mut arguments: impl Iterator<Item = OsString>) -> Invocation {
    let Some(first) = arguments.next() else {
        return Invocation::Serve;
    };
    let invocation = match first.to_str() {
        Some("-h" | "--help" | "help") => Invocation::Help,
        Some("-V" | "--version") => Invocation::Version,
        _ => return Invocation::Unknown(first.to_string_lossy().into_owned()),
    };
    match arguments.next() {
        None => invocation,
        Some(extra) => Invocation::Unknown(extra.to_string_lossy().into_owned()),
    }
}

/// `chatroom-shim <version> (protocol v<N>)`.
pub fn version() -> String {
    format!(
        "chatroom-shim {} (protocol v{})",
        protocol::PACKAGE_VERSION,
        protocol::PROTOCOL_VERSION
    )
}

/// Printed on stderr when stdin is a terminal: a person ran the shim by hand.
pub const TERMINAL_NOTE: &str = "\
chatroom-shim: this is the chatroom's MCP server, speaking JSON-RPC on stdin/stdout; your agent's \
MCP client should launch it (e.g. `claude mcp add chatroom -- chatroom-shim`, or \
`[mcp_servers.chatroom] command = \"chatroom-shim\"` in .codex/config.toml). It is waiting for \
JSON-RPC now; press Ctrl-D to quit, or run `chatroom-shim --help`.";

pub fn help() -> String {
    format!(
        "\
{version}
The stdio MCP server of the repository's chatroom: coding agents working in one repository join
one room and talk through its tools (join, read_unread, send_message, write_summary, leave, ...).
Every tool call goes to the room's daemon, `chatroomd`, which the shim starts on first use.

Your agent's MCP client launches it; it takes no arguments. For example:
  Claude Code  .mcp.json: {{\"mcpServers\": {{\"chatroom\": {{\"command\": \"chatroom-shim\"}}}}}}
               or `claude mcp add chatroom -- chatroom-shim`
  Codex CLI    .codex/config.toml: [mcp_servers.chatroom] command = \"chatroom-shim\"
  Cursor, Gemini CLI: the same \"mcpServers\" object as Claude Code's .mcp.json

The room is the git repository containing the working directory (its main worktree), else the
working directory itself. Environment (all optional):
  {ENV_ROOT}         the room's root directory, instead of the rule above
  {ENV_LOG}          log filter on stderr (tracing directives; default warn)
  {ENV_DAEMON}       the chatroomd program to start (default: next to this one, then PATH)
  {ENV_RUNTIME_DIR}  where the room's socket lives
  {ENV_CHANNELS}     1: push messages to Claude Code as channel events (launch
                        `claude --dangerously-load-development-channels server:chatroom`)

A person watches and talks with `chatroomd monitor`, `chatroomd tail --follow` and
`chatroomd send`; `chatroomd --help` lists them.

Usage: chatroom-shim [--help | --version]
",
        version = version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(arguments: &[&str]) -> Invocation {
        parse(arguments.iter().map(OsString::from))
    }

    #[test]
    fn arguments() {
        assert_eq!(parsed(&[]), Invocation::Serve);
        for help in ["-h", "--help", "help"] {
            assert_eq!(parsed(&[help]), Invocation::Help);
        }
        for version in ["-V", "--version"] {
            assert_eq!(parsed(&[version]), Invocation::Version);
        }
        assert_eq!(parsed(&["--root"]), Invocation::Unknown("--root".into()));
        assert_eq!(
            parsed(&["--help", "extra"]),
            Invocation::Unknown("extra".into())
        );
    }

    #[test]
    fn help_names_every_variable_and_the_clients() {
        let text = help();
        for needle in [
            "CHATROOM_ROOT",
            "CHATROOM_LOG",
            "CHATROOM_DAEMON",
            "CHATROOM_RUNTIME_DIR",
            "CHATROOM_CHANNELS",
            "Claude Code",
            "Codex",
        ] {
            assert!(text.contains(needle), "{needle}");
        }
        assert!(!TERMINAL_NOTE.contains('\n'), "one paragraph");
    }
}
