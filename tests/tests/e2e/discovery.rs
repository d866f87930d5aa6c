//! One room whatever the environment: shims and `chatroomd` commands started with different
//! variables (`XDG_RUNTIME_DIR` set or not, another `TMPDIR` or `HOME`, as different MCP clients
//! pass them) compute different socket paths, and must still find the one daemon of their root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatroom_tests::{
    Agent, DEFAULT_TIMEOUT, TestRoom, contents, daemon_processes, names, run_bounded,
};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// Three environments for the same repository, each with its own private directories.
struct Environments {
    _temp: tempfile::TempDir,
    /// `XDG_RUNTIME_DIR` set (a desktop session, Claude Code).
    xdg: Vec<(&'static str, PathBuf)>,
    /// No `XDG_RUNTIME_DIR` (Codex passes none), its own `TMPDIR`.
    plain: Vec<(&'static str, PathBuf)>,
    /// No `XDG_RUNTIME_DIR`, another `TMPDIR` and another `HOME`.
    other_home: Vec<(&'static str, PathBuf)>,
}

impl Environments {
    fn new() -> Self {
        // Short paths under /tmp keep every socket path inside sun_path.
        let temp = tempfile::Builder::new().prefix("crd").tempdir().unwrap();
        let dir = |name: &str| {
            let path = temp.path().join(name);
            std::fs::create_dir(&path).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
            path
        };
        Self {
            xdg: vec![("XDG_RUNTIME_DIR", dir("xdg")), ("TMPDIR", dir("t0"))],
            plain: vec![("TMPDIR", dir("t1"))],
            other_home: vec![("TMPDIR", dir("t2")), ("HOME", dir("home"))],
            _temp: temp,
        }
    }
}

fn vars<'a>(env: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    env.iter()
        .map(|(name, path)| (*name, path.as_path()))
        .collect()
}

async fn agent_in(room: &TestRoom, env: &[(&'static str, PathBuf)]) -> Agent {
    room.agent_from(room.shim_command_env(&vars(env))).await
}

fn chatroomd_in(
    room: &TestRoom,
    env: &[(&'static str, PathBuf)],
    args: &[&str],
) -> std::process::Output {
    let output = run_bounded(
        room.chatroomd_command_env(args, &vars(env)),
        DEFAULT_TIMEOUT,
    )
    .expect("running chatroomd");
    assert!(
        output.status.success(),
        "chatroomd {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn shims_and_commands_from_different_environments_share_one_daemon() {
    let room = TestRoom::new();
    let envs = Environments::new();

    let ann = agent_in(&room, &envs.xdg).await;
    ann.ok("join", json!({"name": "ann"})).await;
    ann.ok(
        "send_message",
        json!({"name": "ann", "content": "from ann"}),
    )
    .await;
    let daemon = room.daemon_pid().expect("ann's shim started a daemon");

    // A person's command without XDG_RUNTIME_DIR.
    chatroomd_in(&room, &envs.plain, &["send", "--as", "bob", "from bob"]);

    // An agent with another TMPDIR and HOME sees both, and ann.
    let cat = agent_in(&room, &envs.other_home).await;
    cat.ok("join", json!({"name": "cat"})).await;
    let messages = cat.ok("read_messages", json!({})).await;
    let seen = contents(&messages);
    assert!(
        seen.contains(&"from ann".to_owned()) && seen.contains(&"from bob".to_owned()),
        "{seen:?}"
    );
    cat.ok(
        "send_message",
        json!({"name": "cat", "content": "from cat"}),
    )
    .await;
    let participants = ann.ok("list_participants", json!({})).await;
    assert_eq!(names(&participants), ["ann", "cat"], "{participants}");
    let messages = ann.ok("read_messages", json!({})).await;
    assert!(contents(&messages).contains(&"from cat".to_owned()));

    // status from a third environment reports the one daemon and both agents' sessions.
    let status: Value =
        serde_json::from_slice(&chatroomd_in(&room, &envs.plain, &["status", "--json"]).stdout)
            .unwrap();
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["daemon"]["pid"], daemon, "{status}");
    let agents = status["daemon"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|session| session["kind"] == "agent")
        .count();
    assert_eq!(agents, 2, "{status}");
    assert_eq!(room.daemon_pid(), Some(daemon));
    assert_eq!(daemon_processes(&room.root), [daemon]);

    // stop from yet another environment (the harness's own runtime dir) finds it too, and the
    // record of where it listened goes with it.
    let endpoint = room.paths().endpoint_file;
    assert!(endpoint.exists());
    ann.close().await;
    cat.close().await;
    chatroomd_in(&room, &envs.other_home, &["stop"]);
    assert_eq!(room.daemon_pid(), None, "stopped");
    assert!(
        !endpoint.exists(),
        "the endpoint record is removed at a clean stop"
    );
    room.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_starters_from_different_environments_start_one_daemon() {
    let room = Arc::new(TestRoom::new());
    let envs = Arc::new(Environments::new());
    // Each environment has its own start lock, so only the room lock serialises them: the
    // losers must find the winner's socket, wherever it is.
    let mut starting = JoinSet::new();
    for index in 0..6 {
        let (room, envs) = (room.clone(), envs.clone());
        starting.spawn(async move {
            let env = [&envs.xdg, &envs.plain, &envs.other_home][index % 3];
            let agent = agent_in(&room, env).await;
            let joined = agent
                .ok("join", json!({"name": format!("agent-{index}")}))
                .await;
            assert!(names(&joined).contains(&format!("agent-{index}")));
            agent
        });
    }
    let mut agents = Vec::new();
    while let Some(started) = starting.join_next().await {
        agents.push(started.expect("an agent starts and joins"));
    }
    let participants = agents[0].ok("list_participants", json!({})).await;
    assert_eq!(names(&participants).len(), 6, "{participants}");
    let daemon = room.daemon_pid().expect("a daemon runs");
    assert_eq!(daemon_processes(&room.root), [daemon]);
    for agent in agents {
        agent.close().await;
    }
    Arc::into_inner(room).expect("the last reference").finish();
}
