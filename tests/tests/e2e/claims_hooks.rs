//! Claims enforced at the edit: each client's pre-tool hook, run as the real `chatroomd hook`
//! with its documented stdin (`tests/fixtures/hooks/<client>/pre-tool.json`), denies an agent's
//! edit of a file another agent holds exclusively, in the client's documented output, and allows
//! the holder's own edit and an edit of an unclaimed file (in silence).

use std::path::Path;
use std::process::Output;

use chatroom_tests::TestRoom;
use protocol::{Request, Response};

use crate::reach::linked;
use serde_json::{Value, json};

const CLIENTS: [&str; 4] = ["claude-code", "codex", "gemini", "cursor"];

/// The client's `pre-tool` fixture in `root`, for the client session `id`, editing `file`.
fn stdin_of(client: &str, root: &Path, id: &str, file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/hooks")
        .join(client)
        .join("pre-tool.json");
    let text = std::fs::read_to_string(&path)
        .expect("fixture")
        .replace("src/store.rs", file)
        .replace("/home/user/project", &root.display().to_string());
    let mut stdin: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let object = stdin.as_object_mut().expect("an object");
    let id_key = if client == "cursor" {
        "conversation_id"
    } else {
        "session_id"
    };
    object.insert(id_key.into(), json!(id));
    stdin
}

/// `chatroomd hook <client> pre-tool` as a client runs it (`reach::hook`: under `sh`, from
/// elsewhere; the stdin's `cwd` names the room).
fn hook(room: &TestRoom, client: &str, stdin: &Value) -> Output {
    crate::reach::hook(room, &[client, "pre-tool"], stdin)
}

fn assert_allowed(client: &str, output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{client}: {output:?}");
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "{client}: {output:?}"
    );
}

/// The denial's reason, checked against the client's documented shape.
fn denial(client: &str, output: &Output) -> String {
    let stdout = || -> Value {
        assert_eq!(output.status.code(), Some(0), "{client}: {output:?}");
        assert!(output.stderr.is_empty(), "{client}: {output:?}");
        serde_json::from_slice(&output.stdout).expect("stdout is JSON")
    };
    match client {
        // https://code.claude.com/docs/en/hooks#pretooluse
        "claude-code" => {
            let value = stdout();
            let specific = &value["hookSpecificOutput"];
            assert_eq!(specific["hookEventName"], "PreToolUse", "{value}");
            assert_eq!(specific["permissionDecision"], "deny", "{value}");
            specific["permissionDecisionReason"]
                .as_str()
                .unwrap()
                .to_owned()
        }
        // https://developers.openai.com/codex/hooks#pretooluse: exit 2, the reason on stderr.
        "codex" => {
            assert_eq!(output.status.code(), Some(2), "{output:?}");
            assert!(output.stdout.is_empty(), "{output:?}");
            String::from_utf8(output.stderr.clone())
                .unwrap()
                .trim_end()
                .to_owned()
        }
        // https://geminicli.com/docs/hooks/reference/
        "gemini" => {
            let value = stdout();
            assert_eq!(value["decision"], "deny", "{value}");
            value["reason"].as_str().unwrap().to_owned()
        }
        // https://cursor.com/docs/agent/hooks (beforeShellExecution)
        "cursor" => {
            let value = stdout();
            assert_eq!(value["permission"], "deny", "{value}");
            assert!(value["user_message"].is_string(), "{value}");
            value["agent_message"].as_str().unwrap().to_owned()
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn each_clients_pre_tool_hook_denies_an_edit_of_anothers_claim_and_allows_the_holders() {
    let room = TestRoom::new();
    let starter = room.agent().await;
    starter.ok("list_participants", json!({})).await;
    let codex = linked(&room, "codex", "holder-session").await;
    let claimed = Request::Claim {
        name: "codex".into(),
        paths: vec!["src/store.rs".into()],
        exclusive: true,
        reason: "refactoring the store".into(),
        ttl_s: 0,
        restore: None,
    };
    match codex.request(claimed).await.expect("claim") {
        Response::Claimed(claimed) => assert_eq!(claimed.granted.len(), 1),
        other => panic!("{other:?}"),
    }
    let _claude = linked(&room, "claude", "editor-session").await;
    for client in CLIENTS {
        // Another agent's edit of the claimed file: denied, naming holder, reason and age.
        let output = hook(
            &room,
            client,
            &stdin_of(client, &room.root, "editor-session", "src/store.rs"),
        );
        let reason = denial(client, &output);
        assert!(
            reason
                .starts_with("src/store.rs is claimed by codex for 'refactoring the store' since ")
                && reason.contains("; ask it in the chatroom (send_message to codex)"),
            "{client}: {reason}"
        );
        assert!(
            !reason.contains("was found in the chatroom"),
            "{client}: {reason}"
        );
        // The holder's own edit: allowed.
        let own = hook(
            &room,
            client,
            &stdin_of(client, &room.root, "holder-session", "src/store.rs"),
        );
        assert_allowed(client, &own);
        // An unclaimed file: allowed.
        let free = hook(
            &room,
            client,
            &stdin_of(client, &room.root, "editor-session", "src/other.rs"),
        );
        assert_allowed(client, &free);
        // An agent the room does not know: denied, and told why it may be its own claim.
        let unknown = hook(
            &room,
            client,
            &stdin_of(client, &room.root, "stranger", "src/store.rs"),
        );
        assert!(
            denial(client, &unknown).contains("was found in the chatroom"),
            "{client}"
        );
    }
    // Released: everyone may edit it again.
    let release = Request::Release {
        name: "codex".into(),
        paths: vec![],
    };
    codex.request(release).await.expect("release");
    for client in CLIENTS {
        let output = hook(
            &room,
            client,
            &stdin_of(client, &room.root, "editor-session", "src/store.rs"),
        );
        assert_allowed(client, &output);
    }
    starter.close().await;
    room.finish();
}

#[tokio::test]
async fn a_pre_tool_hook_without_a_daemon_or_an_edit_allows_in_silence() {
    let room = TestRoom::new();
    std::fs::create_dir_all(room.state_dir()).expect("state dir");
    for client in CLIENTS {
        let output = hook(
            &room,
            client,
            &stdin_of(client, &room.root, "s", "src/store.rs"),
        );
        assert_allowed(client, &output);
    }
    // A tool that edits nothing we can read (Claude's Read) is allowed without asking.
    let mut read = stdin_of("claude-code", &room.root, "s", "src/store.rs");
    read["tool_name"] = json!("Read");
    assert_allowed("claude-code", &hook(&room, "claude-code", &read));
    assert!(room.daemon_pid().is_none(), "a hook never starts a daemon");
}
