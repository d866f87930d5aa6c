//! Who may connect: the socket's directory is private to the user (0700) and the socket 0600, and
//! even when those are loosened by hand the daemon refuses a peer of another uid (it checks the
//! peer's credentials). Needs root to act as another user: skipped with a printed reason when
//! not root, unless `CHATROOM_TEST_REQUIRE_ROOT=1` demands it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use chatroom_tests::{DEFAULT_TIMEOUT, TestRoom, run_bounded, runs_as_root};
use protocol::frame::{MAX_CLIENT_FRAME, encode};
use protocol::{ClientKind, ClientMessage, Hello, PROTOCOL_VERSION};
use serde_json::json;

const NOBODY: &str = "65534";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Connects to `socket` as uid 65534, sends a Hello and reports what happened, one word.
fn connect_as_nobody(socket: &Path) -> String {
    let hello = encode(
        &ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            client_pid: 1,
            kind: ClientKind::Agent,
        }),
        MAX_CLIENT_FRAME,
    )
    .unwrap();
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("denied"); sys.exit()
s.settimeout(10)
# The daemon may close the connection before the hello is even sent: that is a refusal too.
try:
    s.sendall(bytes.fromhex(sys.argv[2]))
    data = s.recv(64)
except (BrokenPipeError, ConnectionResetError):
    data = b""
print("closed" if not data else "answered")
"#;
    let hex: String = hello.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid",
            NOBODY,
            "--regid",
            NOBODY,
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .arg(socket)
        .arg(hex);
    let output = run_bounded(command, DEFAULT_TIMEOUT).expect("setpriv runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn only_the_owner_can_reach_the_daemon() {
    if !runs_as_root(
        "only_the_owner_can_reach_the_daemon",
        "needs root to act as another user",
    ) {
        return;
    }
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "owner"})).await;
    let paths = room.paths();
    assert_eq!(
        mode(&paths.runtime_dir),
        0o700,
        "the socket directory is private"
    );
    assert_eq!(mode(&paths.socket), 0o600, "the socket is private");

    // Let another user walk down to the runtime directory: it still stops them.
    let temp_root = room.root.parent().unwrap();
    chmod(temp_root, 0o711);
    assert_eq!(connect_as_nobody(&paths.socket), "denied");

    // Open the directory and the socket to everyone: the daemon itself refuses the peer.
    chmod(&paths.runtime_dir, 0o711);
    chmod(&paths.socket, 0o666);
    assert_eq!(
        connect_as_nobody(&paths.socket),
        "closed",
        "a peer of another uid gets no answer"
    );
    assert!(
        room.log().contains("refusing a peer running as uid 65534"),
        "{}",
        room.log()
    );
    chmod(&paths.socket, 0o600);
    chmod(&paths.runtime_dir, 0o700);
    chmod(temp_root, 0o700);

    // The owner's session is untouched.
    let present = agent.ok("list_participants", json!({})).await;
    assert_eq!(present[0]["name"], "owner");
    room.finish();
}
