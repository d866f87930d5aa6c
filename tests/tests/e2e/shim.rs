//! The shim as a person meets it: `--help` and `--version`, a stray argument, a terminal on
//! stdin; and what its stderr says when a client makes a mistake.

use std::process::{Command, Stdio};

use chatroom_tests::{DEFAULT_TIMEOUT, TestRoom, run_bounded, shim_bin};
use rmcp::model::CallToolRequestParams;
use tokio::io::AsyncReadExt;

fn shim(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(shim_bin());
    command.args(args).stdin(Stdio::null());
    run_bounded(command, DEFAULT_TIMEOUT).expect("the shim runs")
}

#[test]
fn help_and_version_print_to_stdout_and_exit_0() {
    for flag in ["--help", "-h"] {
        let output = shim(&[flag]);
        assert!(output.status.success(), "{flag}: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(text.starts_with("chatroom-shim "), "{text}");
        for needle in ["MCP client", ".mcp.json", "config.toml", "CHATROOM_ROOT"] {
            assert!(text.contains(needle), "{flag}: {needle} in {text}");
        }
        assert!(output.stderr.is_empty());
    }
    for flag in ["--version", "-V"] {
        let output = shim(&[flag]);
        assert!(output.status.success(), "{flag}: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        assert_eq!(
            text,
            format!(
                "chatroom-shim {} (protocol v{})\n",
                protocol::PACKAGE_VERSION,
                protocol::PROTOCOL_VERSION
            )
        );
    }
}

#[test]
fn an_unknown_argument_is_one_line_on_stderr_and_exit_2() {
    let output = shim(&["--root", "/tmp"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "nothing on stdout");
    let text = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        text,
        "chatroom-shim: unexpected argument \"--root\" (it takes none but --help and --version)\n"
    );
}

/// Opens a pseudo-terminal; returns the master and the path of its slave.
fn pseudo_terminal() -> (std::fs::File, std::path::PathBuf) {
    use std::os::fd::FromRawFd;
    // SAFETY: the usual posix_openpt sequence; each result is checked before use, and the
    // master fd is owned by the File from here on.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0, "grantpt");
        assert_eq!(libc::unlockpt(master), 0, "unlockpt");
        let name = libc::ptsname(master);
        assert!(!name.is_null(), "ptsname");
        let path = std::ffi::CStr::from_ptr(name).to_str().unwrap().to_owned();
        (std::fs::File::from_raw_fd(master), path.into())
    }
}

#[tokio::test]
async fn a_person_running_it_on_a_terminal_is_told_what_it_is() {
    let room = TestRoom::new();
    let (_master, slave) = pseudo_terminal();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave)
        .unwrap();
    let mut command = room.shim_command();
    command
        .stdin(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut note = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(DEFAULT_TIMEOUT, async {
        while !note.ends_with(b"\n") {
            let read = stderr.read(&mut chunk).await.unwrap();
            assert!(read > 0, "stderr ended before the note");
            note.extend_from_slice(&chunk[..read]);
        }
    })
    .await
    .expect("a note on stderr");
    let note = String::from_utf8(note).unwrap();
    assert!(
        note.starts_with("chatroom-shim: this is the chatroom's MCP server")
            && note.contains("MCP client should launch it")
            && note.trim_end().lines().count() == 1,
        "{note}"
    );
    // It keeps serving (a launcher may hand it a terminal), and writes nothing to stdout.
    assert_eq!(child.try_wait().unwrap(), None, "still running");
    child.kill().await.unwrap();
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .await
        .unwrap();
    assert!(stdout.is_empty(), "nothing on stdout: {stdout:?}");
}

#[tokio::test]
async fn a_refused_request_is_logged_in_words_not_as_a_debug_dump() {
    let room = TestRoom::new();
    let mut command = room.shim_command();
    // Our own info lines on; rmcp left at its default.
    command.env("CHATROOM_LOG", "info");
    let (agent, mut stderr) = room.agent_capturing_stderr(command).await;
    let refused = agent
        .peer()
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await;
    assert!(refused.is_err(), "an unknown tool is a JSON-RPC error");
    agent.close().await;
    let mut log = String::new();
    tokio::time::timeout(DEFAULT_TIMEOUT, stderr.read_to_string(&mut log))
        .await
        .expect("stderr ends with the shim")
        .unwrap();
    assert!(!log.contains("ErrorData"), "no debug dump: {log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("refused a tool call"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("tool=no_such_tool"), "{}", lines[0]);
}
