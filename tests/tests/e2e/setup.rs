//! `chatroomd setup`, the real binary on temporary repositories with `HOME` pointing at a
//! temporary directory: each client's files in an empty repository (the shapes pinned against the
//! clients' docs), merging into existing configs (keys, comments and order kept), a second run
//! changing nothing, `--dry-run` changing nothing and showing the diff with shared/personal
//! labels, `--remove` restoring the original files byte for byte, a JSONC file refused, and the
//! clients found when none is named.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use chatroom_tests::{DEFAULT_TIMEOUT, TestRoom, keys_in_order, run_bounded};
use serde_json::{Value, json};

/// A repository and a home of its own.
struct Setup {
    room: TestRoom,
    _home: tempfile::TempDir,
    home: PathBuf,
    /// An empty directory for `PATH`, so that no client's command is found unless a test puts
    /// one there.
    bin: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let room = TestRoom::new();
        let home_dir = tempfile::tempdir().expect("a temp home");
        let home = home_dir.path().join("home");
        let bin = home_dir.path().join("bin");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        Self {
            room,
            home,
            bin,
            _home: home_dir,
        }
    }

    /// `chatroomd setup ARGS --root <root>` with this home and an empty `PATH`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["setup"];
        all.extend_from_slice(args);
        let mut command = self.room.chatroomd_command(&all);
        command
            .env("HOME", &self.home)
            .env_remove("CODEX_HOME")
            .env("PATH", &self.bin);
        run_bounded(command, DEFAULT_TIMEOUT).expect("running chatroomd setup")
    }

    /// Like [`Setup::run`], which must succeed: its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "chatroomd setup {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    fn repo(&self, relative: &str) -> PathBuf {
        self.room.root.join(relative)
    }

    fn home(&self, relative: &str) -> PathBuf {
        self.home.join(relative)
    }

    /// Every file of the repository (but `.git`) and of the home, with its bytes.
    fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        collect(&self.room.root, &mut files);
        collect(&self.home, &mut files);
        files
    }
}

fn collect(dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("reading a directory") {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            collect(&path, files);
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const CLIENTS: [&str; 4] = ["claude-code", "codex", "gemini", "cursor"];

/// The server every client launches: `{"command": "chatroom-shim", "args": []}`.
fn server() -> Value {
    json!({"command": "chatroom-shim", "args": []})
}

/// A command hook of ours in the nested shape (Claude Code, Codex).
fn handler(client: &str, event: &str) -> Value {
    json!({"type": "command", "command": format!("chatroomd hook {client} {event}"), "timeout": 10})
}

/// Claude Code: `.mcp.json` `mcpServers` (https://code.claude.com/docs/en/mcp, "Project
/// scope"); hooks in `.claude/settings.json` as `{"hooks": {"<Event>": [{"matcher", "hooks":
/// [{"type": "command", "command", "timeout" (seconds), "asyncRewake"}]}]}}`
/// (https://code.claude.com/docs/en/hooks, "Configuration" and "Asynchronous hooks");
/// `enabledMcpjsonServers` and `permissions.allow` in the user's `~/.claude/settings.json`
/// (https://code.claude.com/docs/en/settings).
#[test]
fn claude_code_gets_its_server_hooks_and_approvals() {
    let setup = Setup::new();
    let out = setup.ok(&["claude-code"]);
    assert_eq!(
        read_json(&setup.repo(".mcp.json")),
        json!({"mcpServers": {"chatroom": server()}})
    );
    let wake = json!({"type": "command", "command": "chatroomd hook claude-code wake", "asyncRewake": true, "timeout": 3600});
    assert_eq!(
        read_json(&setup.repo(".claude/settings.json")),
        json!({"hooks": {
            "SessionStart": [{"hooks": [handler("claude-code", "session-start"), wake]}],
            "UserPromptSubmit": [{"hooks": [handler("claude-code", "prompt")]}],
            "PostToolUse": [{"matcher": "*", "hooks": [handler("claude-code", "post-tool")]}],
            "Stop": [{"hooks": [handler("claude-code", "stop"), wake]}],
            // https://code.claude.com/docs/en/hooks#pretooluse: the file-editing tools and Bash.
            "PreToolUse": [{"matcher": "Edit|Write|MultiEdit|NotebookEdit|Bash", "hooks": [handler("claude-code", "pre-tool")]}],
        }})
    );
    assert_eq!(
        read_json(&setup.home(".claude/settings.json")),
        json!({"enabledMcpjsonServers": ["chatroom"], "permissions": {"allow": ["mcp__chatroom__*"]}})
    );
    assert!(out.contains(".mcp.json  (shared: commit it)"), "{out}");
    assert!(
        out.contains("~/.claude/settings.json  (personal: yours only)"),
        "{out}"
    );
    assert!(
        !setup.repo(".claude/settings.local.json").exists(),
        "nothing personal in the repository"
    );
}

/// Codex: `[mcp_servers.chatroom]` with `command`, `args` and `default_tools_approval_mode`
/// (https://developers.openai.com/codex/mcp, https://developers.openai.com/codex/config-reference);
/// hooks in `.codex/hooks.json` in Claude Code's nesting, `timeout` in seconds
/// (https://developers.openai.com/codex/hooks); project trust as `[projects."<path>"]
/// trust_level = "trusted"` in `~/.codex/config.toml`.
#[test]
fn codex_gets_its_server_hooks_and_the_projects_trust() {
    let setup = Setup::new();
    let out = setup.ok(&["codex"]);
    assert_eq!(
        std::fs::read_to_string(setup.repo(".codex/config.toml")).unwrap(),
        "[mcp_servers.chatroom]\ncommand = \"chatroom-shim\"\nargs = []\ndefault_tools_approval_mode = \"approve\"\n"
    );
    assert_eq!(
        read_json(&setup.repo(".codex/hooks.json")),
        json!({"hooks": {
            "SessionStart": [{"hooks": [handler("codex", "session-start")]}],
            "UserPromptSubmit": [{"hooks": [handler("codex", "prompt")]}],
            "PostToolUse": [{"matcher": "*", "hooks": [handler("codex", "post-tool")]}],
            "Stop": [{"hooks": [handler("codex", "stop")]}],
            // https://developers.openai.com/codex/hooks#pretooluse
            "PreToolUse": [{"matcher": "*", "hooks": [handler("codex", "pre-tool")]}],
        }})
    );
    assert_eq!(
        std::fs::read_to_string(setup.home(".codex/config.toml")).unwrap(),
        format!(
            "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            setup.room.root.display()
        )
    );
    assert!(
        out.contains("open /hooks"),
        "the manual hook trust is said: {out}"
    );
}

/// Gemini: `mcpServers.chatroom` with `"trust": true` and hooks `{"<Event>": [{"hooks":
/// [{"type": "command", "command", "name", "timeout" (milliseconds)}]}]}` in
/// `.gemini/settings.json` (https://geminicli.com/docs/tools/mcp-server,
/// https://geminicli.com/docs/hooks/reference); the folder's trust as `{"<path>": "TRUST_FOLDER"}`
/// in `~/.gemini/trustedFolders.json` (https://geminicli.com/docs/cli/trusted-folders).
#[test]
fn gemini_gets_its_server_hooks_and_the_folders_trust() {
    let setup = Setup::new();
    setup.ok(&["gemini"]);
    let hook = |event: &str| json!({"type": "command", "name": format!("chatroom-{event}"), "command": format!("chatroomd hook gemini {event}"), "timeout": 10000});
    assert_eq!(
        read_json(&setup.repo(".gemini/settings.json")),
        json!({
            "mcpServers": {"chatroom": {"command": "chatroom-shim", "args": [], "trust": true}},
            "hooks": {
                "SessionStart": [{"hooks": [hook("session-start")]}],
                "BeforeAgent": [{"hooks": [hook("prompt")]}],
                "AfterTool": [{"hooks": [hook("post-tool")]}],
                "AfterAgent": [{"hooks": [hook("stop")]}],
                // https://geminicli.com/docs/hooks/reference/: a regular expression of tool names.
                "BeforeTool": [{"matcher": "write_file|replace|run_shell_command", "hooks": [hook("pre-tool")]}],
            },
        })
    );
    let mut trusted = serde_json::Map::new();
    trusted.insert(setup.room.root.display().to_string(), json!("TRUST_FOLDER"));
    assert_eq!(
        read_json(&setup.home(".gemini/trustedFolders.json")),
        Value::Object(trusted)
    );
}

/// Cursor: `.cursor/mcp.json` `mcpServers` (https://cursor.com/docs/context/mcp) and
/// `.cursor/hooks.json` as `{"version": 1, "hooks": {"<event>": [{"command", "timeout"
/// (seconds)}]}}` with the events whose output reaches the model (`sessionStart` and
/// `postToolUse` add `additional_context`, `stop` a `followup_message`;
/// https://cursor.com/docs/agent/hooks); nothing personal.
#[test]
fn cursor_gets_its_server_and_hooks_and_nothing_personal() {
    let setup = Setup::new();
    setup.ok(&["cursor"]);
    assert_eq!(
        read_json(&setup.repo(".cursor/mcp.json")),
        json!({"mcpServers": {"chatroom": server()}})
    );
    let hook =
        |event: &str| json!([{"command": format!("chatroomd hook cursor {event}"), "timeout": 10}]);
    assert_eq!(
        read_json(&setup.repo(".cursor/hooks.json")),
        json!({"version": 1, "hooks": {
            "sessionStart": hook("session-start"),
            "postToolUse": hook("post-tool"),
            "stop": hook("stop"),
            "beforeShellExecution": hook("pre-tool"),
        }})
    );
    assert!(
        std::fs::read_dir(&setup.home).unwrap().next().is_none(),
        "the home stays empty"
    );
}

/// The files a person already has, per client: other keys, other hooks, comments in TOML, and
/// the usual two-space layout (what the clients themselves write).
fn existing_configs(setup: &Setup) {
    write(
        &setup.repo(".mcp.json"),
        "{\n  \"mcpServers\": {\n    \"db\": {\n      \"command\": \"db-mcp\"\n    }\n  }\n}\n",
    );
    write(
        &setup.repo(".claude/settings.json"),
        "{\n  \"model\": \"opus\",\n  \"hooks\": {\n    \"Stop\": [\n      {\n        \"hooks\": [\n          {\n            \"type\": \"command\",\n            \"command\": \"notify-send done\"\n          }\n        ]\n      }\n    ]\n  },\n  \"permissions\": {\n    \"allow\": [\n      \"Bash(cargo test:*)\"\n    ]\n  }\n}\n",
    );
    write(
        &setup.home(".claude/settings.json"),
        "{\n  \"theme\": \"dark\",\n  \"permissions\": {\n    \"allow\": [\n      \"WebSearch\"\n    ]\n  }\n}\n",
    );
    write(
        &setup.repo(".codex/config.toml"),
        "# the team's Codex settings\nmodel = \"gpt-5\"  # pinned\n\n[mcp_servers.db]\ncommand = \"db-mcp\" # our database\n",
    );
    write(
        &setup.home(".codex/config.toml"),
        "# mine\napproval_policy = \"on-request\"\n\n[projects.\"/elsewhere\"]\ntrust_level = \"trusted\"\n",
    );
    write(
        &setup.repo(".gemini/settings.json"),
        "{\n  \"theme\": \"GitHub\",\n  \"mcpServers\": {\n    \"db\": {\n      \"command\": \"db-mcp\"\n    }\n  }\n}\n",
    );
    write(
        &setup.home(".gemini/trustedFolders.json"),
        "{\n  \"/elsewhere\": \"TRUST_PARENT\"\n}\n",
    );
    write(
        &setup.repo(".cursor/hooks.json"),
        "{\n  \"version\": 1,\n  \"hooks\": {\n    \"stop\": [\n      {\n        \"command\": \"./audit.sh\"\n      }\n    ]\n  }\n}\n",
    );
}

#[test]
fn existing_configs_keep_their_keys_comments_and_order_and_remove_restores_their_bytes() {
    let setup = Setup::new();
    existing_configs(&setup);
    let original = setup.files();
    setup.ok(&CLIENTS);

    let claude = read_json(&setup.repo(".claude/settings.json"));
    assert_eq!(keys_in_order(&claude), ["model", "hooks", "permissions"]);
    assert_eq!(
        claude["hooks"]["Stop"][0]["hooks"][0]["command"], "notify-send done",
        "the person's hook stays, first"
    );
    assert_eq!(
        claude["hooks"]["Stop"][1]["hooks"][0]["command"],
        "chatroomd hook claude-code stop"
    );
    assert_eq!(
        claude["permissions"]["allow"],
        json!(["Bash(cargo test:*)"])
    );
    let mcp = read_json(&setup.repo(".mcp.json"));
    assert_eq!(keys_in_order(&mcp["mcpServers"]), ["db", "chatroom"]);
    let personal = read_json(&setup.home(".claude/settings.json"));
    assert_eq!(
        keys_in_order(&personal),
        ["theme", "permissions", "enabledMcpjsonServers"]
    );
    assert_eq!(
        personal["permissions"]["allow"],
        json!(["WebSearch", "mcp__chatroom__*"])
    );

    let codex = std::fs::read_to_string(setup.repo(".codex/config.toml")).unwrap();
    assert!(
        codex.starts_with("# the team's Codex settings\nmodel = \"gpt-5\"  # pinned\n\n[mcp_servers.db]\ncommand = \"db-mcp\" # our database\n"),
        "{codex}"
    );
    assert!(codex.contains("[mcp_servers.chatroom]\ncommand = \"chatroom-shim\""));
    let codex_home = std::fs::read_to_string(setup.home(".codex/config.toml")).unwrap();
    assert!(codex_home.starts_with("# mine\napproval_policy = \"on-request\"\n"));
    assert!(codex_home.contains("[projects.\"/elsewhere\"]\ntrust_level = \"trusted\""));

    let gemini = read_json(&setup.repo(".gemini/settings.json"));
    assert_eq!(keys_in_order(&gemini), ["theme", "mcpServers", "hooks"]);
    assert_eq!(keys_in_order(&gemini["mcpServers"]), ["db", "chatroom"]);
    let folders = read_json(&setup.home(".gemini/trustedFolders.json"));
    assert_eq!(folders["/elsewhere"], "TRUST_PARENT");
    let cursor = read_json(&setup.repo(".cursor/hooks.json"));
    assert_eq!(cursor["hooks"]["stop"][0]["command"], "./audit.sh");
    assert_eq!(
        cursor["hooks"]["stop"][1]["command"],
        "chatroomd hook cursor stop"
    );

    setup.ok(&[&["--remove"], &CLIENTS[..]].concat());
    assert_eq!(
        setup.files(),
        original,
        "--remove leaves exactly the files that were there, byte for byte"
    );
}

#[test]
fn setup_in_an_empty_repository_is_undone_by_remove() {
    let setup = Setup::new();
    setup.ok(&CLIENTS);
    assert_eq!(setup.files().len(), 10, "{:?}", setup.files().keys());
    let out = setup.ok(&[&["--remove"], &CLIENTS[..]].concat());
    assert!(setup.files().is_empty(), "left: {:?}", setup.files().keys());
    assert!(out.contains("deleted      .mcp.json"), "{out}");
    for dir in [".claude", ".codex", ".gemini", ".cursor"] {
        assert!(!setup.repo(dir).exists(), "{dir} is gone");
    }
    let again = setup.ok(&[&["--remove"], &CLIENTS[..]].concat());
    assert!(again.contains("nothing to remove"), "{again}");
}

#[test]
fn a_second_run_changes_nothing_and_says_so() {
    let setup = Setup::new();
    existing_configs(&setup);
    setup.ok(&CLIENTS);
    let first = setup.files();
    let inodes: Vec<u64> = first
        .keys()
        .map(|path| std::fs::metadata(path).unwrap().ino())
        .collect();
    let out = setup.ok(&CLIENTS);
    assert_eq!(setup.files(), first, "byte for byte");
    let again: Vec<u64> = first
        .keys()
        .map(|path| std::fs::metadata(path).unwrap().ino())
        .collect();
    assert_eq!(again, inodes, "no file was even rewritten");
    assert!(out.contains("nothing to change: already set up"), "{out}");
    assert!(!out.contains("updated"), "{out}");
}

#[test]
fn dry_run_changes_nothing_and_shows_each_diff_with_its_label() {
    let setup = Setup::new();
    existing_configs(&setup);
    let before = setup.files();
    let out = setup.ok(&["--dry-run", "claude-code", "codex"]);
    assert_eq!(setup.files(), before, "nothing written");
    assert!(
        out.contains("would update .claude/settings.json  (shared: commit it)\n--- a/.claude/settings.json\n+++ b/.claude/settings.json\n"),
        "{out}"
    );
    assert!(
        out.contains("would update ~/.claude/settings.json  (personal: yours only)"),
        "{out}"
    );
    assert!(out.contains("+      \"mcp__chatroom__*\""), "{out}");
    assert!(
        out.contains("would create .codex/hooks.json  (shared: commit it)\n--- /dev/null\n+++ b/.codex/hooks.json\n"),
        "{out}"
    );
    assert!(out.contains("+[mcp_servers.chatroom]\n"), "{out}");

    setup.ok(&["claude-code", "codex"]);
    let installed = setup.files();
    let out = setup.ok(&["--dry-run", "--remove", "claude-code", "codex"]);
    assert_eq!(setup.files(), installed, "nothing removed");
    assert!(
        out.contains("would delete .codex/hooks.json  (shared: commit it)\n--- a/.codex/hooks.json\n+++ /dev/null\n"),
        "{out}"
    );
}

#[test]
fn a_file_with_comments_is_refused_and_nothing_changes() {
    let setup = Setup::new();
    write(
        &setup.repo(".gemini/settings.json"),
        "{\n  // my theme\n  \"theme\": \"GitHub\"\n}\n",
    );
    let before = setup.files();
    let output = setup.run(&["claude-code", "gemini"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(
            "cannot set up gemini: .gemini/settings.json is not plain JSON (line 2, column 3"
        ),
        "{stderr}"
    );
    assert_eq!(setup.files(), before, "not even claude-code's files");
}

#[test]
fn a_differing_chatroom_server_is_kept_unless_forced() {
    let setup = Setup::new();
    let mine = "{\n  \"mcpServers\": {\n    \"chatroom\": {\n      \"command\": \"/opt/chatroom/chatroom-shim\",\n      \"args\": []\n    }\n  }\n}\n";
    write(&setup.repo(".mcp.json"), mine);
    let out = setup.ok(&["--no-personal", "claude-code"]);
    assert_eq!(
        std::fs::read_to_string(setup.repo(".mcp.json")).unwrap(),
        mine
    );
    assert!(
        out.contains(
            "note: kept your mcpServers.chatroom.command = \"/opt/chatroom/chatroom-shim\""
        ),
        "{out}"
    );
    setup.ok(&["--remove", "--no-personal", "claude-code"]);
    assert_eq!(
        std::fs::read_to_string(setup.repo(".mcp.json")).unwrap(),
        mine,
        "not setup's to remove"
    );
    setup.ok(&["--force", "--no-personal", "claude-code"]);
    assert_eq!(
        read_json(&setup.repo(".mcp.json"))["mcpServers"]["chatroom"],
        server()
    );
    assert!(
        std::fs::read_dir(&setup.home).unwrap().next().is_none(),
        "--no-personal writes nothing at home"
    );
}

#[test]
fn without_a_client_named_it_sets_up_those_it_finds() {
    let setup = Setup::new();
    let output = setup.run(&[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no agent client found"), "{stderr}");
    assert!(stderr.contains("name one (claude-code, codex, gemini, cursor)"));

    std::fs::create_dir(setup.repo(".gemini")).unwrap();
    let codex = setup.bin.join("codex");
    write(&codex, "#!/bin/sh\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = setup.ok(&[]);
    assert!(out.contains(" for codex, gemini\n"), "{out}");
    assert!(setup.repo(".gemini/settings.json").exists());
    assert!(setup.repo(".codex/config.toml").exists());
    assert!(!setup.repo(".mcp.json").exists());
}
