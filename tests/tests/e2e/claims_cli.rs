//! Claims for people, run as processes against a real daemon: `chatroomd claims` (text and
//! `--json`), the claims in `status`, `check-claims` on the staged files (linked by ancestry or
//! named with `--as`), and the git pre-commit hook `setup --git-hook` installs, chained after a
//! hook that was already there.
//!
//! The agent's shim runs under a `sh` of its own (the agent's CLI, as it were), so that the
//! test process, which runs `chatroomd check-claims` and `git commit`, is not that agent's
//! ancestor: a person's commit, not the agent's.

use std::path::Path;
use std::process::Output;

use chatroom_tests::{Agent, DEFAULT_TIMEOUT, TestRoom, run_bounded, shim_bin, text_of};
use serde_json::{Value, json};

fn git(root: &Path, args: &[&str]) -> Output {
    let mut command = std::process::Command::new("git");
    command.args(args).current_dir(root);
    run_bounded(command, DEFAULT_TIMEOUT).expect("running git")
}

fn git_ok(root: &Path, args: &[&str]) {
    let output = git(root, args);
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Calls a claims tool (whose records the harness's contract check does not know) and returns
/// its JSON, asserting success.
async fn tool(agent: &Agent, name: &str, args: Value) -> Value {
    let result = agent.call(name, args).await.expect("calling the tool");
    let body = text_of(&result);
    assert_ne!(result.is_error, Some(true), "{name} failed: {body}");
    serde_json::from_str(&body).expect("the tool's JSON")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `git commit` in the room's repository, run the way a person runs it (with the room's
/// runtime directory, so the hook's chatroomd finds the daemon).
fn commit(room: &TestRoom, message: &str) -> Output {
    let mut command = std::process::Command::new("git");
    command
        .args(["commit", "-q", "-m", message])
        .current_dir(&room.root)
        .env(protocol::paths::ENV_RUNTIME_DIR, &room.runtime_dir)
        .env_remove(protocol::paths::ENV_ROOT);
    run_bounded(command, DEFAULT_TIMEOUT).expect("running git commit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_touching_a_file_another_agent_claims_is_refused_until_it_is_released() {
    let room = TestRoom::new();
    let root = room.root.clone();
    git_ok(&root, &["config", "user.name", "Test Person"]);
    git_ok(&root, &["config", "user.email", "person@example.com"]);
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/store.rs"), "// store\n").unwrap();
    std::fs::write(root.join("src/other.rs"), "// other\n").unwrap();

    // No daemon yet: nothing is claimed, and none is started.
    let output = room.chatroomd(&["claims"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "no claims\n");
    git_ok(&root, &["add", "src/store.rs", "src/other.rs"]);
    let output = room.chatroomd(&["check-claims"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(room.daemon_pid().is_none(), "check-claims started a daemon");

    // Agent A, under a shell of its own, joins as codex and claims src/store.rs.
    let mut shim = tokio::process::Command::new("sh");
    shim.arg("-c").arg("\"$0\"; exit $?").arg(shim_bin());
    room.configure(&mut shim);
    let agent = room.agent_from(shim).await;
    agent.ok("join", json!({"name": "codex"})).await;
    let claimed = tool(
        &agent,
        "claim",
        json!({"name": "codex", "paths": ["src/store.rs"], "reason": "refactoring the store"}),
    )
    .await;
    assert_eq!(claimed["granted"][0]["path"], "src/store.rs", "{claimed}");

    // `claims`, its --json and status show it.
    let output = room.chatroomd(&["claims"]);
    let listing = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(listing.starts_with("  PATH"), "{listing}");
    for word in [
        "src/store.rs",
        "codex",
        "exclusive",
        "refactoring the store",
    ] {
        assert!(listing.contains(word), "{word} missing: {listing}");
    }
    let output = room.chatroomd(&["claims", "--json"]);
    let records: Value = serde_json::from_slice(&output.stdout).expect("claims --json");
    let keys: Vec<&str> = records[0]
        .as_object()
        .expect("a claim record")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, chatroom_tests::CLAIM_KEYS, "{records}");
    assert_eq!(records[0]["name"], "codex");
    assert_eq!(records.as_array().unwrap().len(), 1);
    let output = room.chatroomd(&["claims", "--path", "src/other.rs"]);
    assert_eq!(text(&output.stdout), "no claims\n");
    let output = room.chatroomd(&["status"]);
    let status = text(&output.stdout);
    assert!(status.contains("\nclaims (1)\n"), "{status}");
    assert!(status.contains("refactoring the store"), "{status}");

    // A person's check: src/store.rs blocked, src/other.rs not.
    let output = room.chatroomd(&["check-claims"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "chatroom: src/store.rs is claimed by codex for 'refactoring the store' since "
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("src/other.rs"), "{stderr}");
    assert!(stderr.ends_with(
        "chatroom: ask the holder in the chatroom, or commit with --no-verify to override\n"
    ));
    // As the holder, its own claim does not count; as anyone else it does.
    let output = room.chatroomd(&["check-claims", "--as", "codex"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = room.chatroomd(&["check-claims", "--as", "someone-else"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    // Named paths; one outside the repository is noted and skipped.
    let output = room.chatroomd(&["check-claims", "src/other.rs", "/etc/hostname"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("/etc/hostname is outside the repository"));

    // The hook, chained after one that was there (and writes a marker).
    let hooks = root.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let marker = root.join("old-hook-ran");
    std::fs::write(
        hooks.join("pre-commit"),
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            hooks.join("pre-commit"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    let output = room.chatroomd(&["setup", "--git-hook"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(hooks.join("pre-commit.chatroom-chained").exists());
    let output = room.chatroomd(&["setup", "--git-hook"]);
    assert!(
        text(&output.stdout).contains("unchanged"),
        "{}",
        text(&output.stdout)
    );

    let output = commit(&room, "touches the store");
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "the commit went through: {stderr}"
    );
    assert!(
        stderr.contains("src/store.rs is claimed by codex"),
        "{stderr}"
    );
    assert!(marker.exists(), "the chained hook did not run");
    std::fs::remove_file(&marker).unwrap();

    tool(
        &agent,
        "release",
        json!({"name": "codex", "paths": ["src/store.rs"]}),
    )
    .await;
    let output = commit(&room, "touches the store");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(marker.exists(), "the chained hook did not run");

    agent.close().await;
    room.finish();
}
