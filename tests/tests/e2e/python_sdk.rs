//! The shim driven by another MCP implementation: the official Python SDK's client
//! (`tests/python/sdk_client.py`), in the interpreter of the venv `scripts/test` prepares.

use std::path::Path;
use std::time::Duration;

use chatroom_tests::{TestRoom, log_filter, run_bounded, shim_bin};

/// The variable `scripts/test` sets to the venv's interpreter.
const ENV_PYTHON: &str = "CHATROOM_TEST_PYTHON";

#[test]
fn the_official_python_sdk_drives_the_shim() {
    let python = std::env::var_os(ENV_PYTHON).unwrap_or_else(|| {
        panic!(
            "{ENV_PYTHON} is not set: run the tests with scripts/test, which installs the Python MCP SDK into \
             target/pyenv and points {ENV_PYTHON} at its interpreter"
        )
    });
    assert!(
        Path::new(&python).exists(),
        "{ENV_PYTHON}={} does not exist: run scripts/test (or scripts/python-env)",
        Path::new(&python).display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/sdk_client.py");
    let room = TestRoom::new();

    let mut command = std::process::Command::new(&python);
    command
        .arg(&script)
        .arg(shim_bin())
        .arg(&room.root)
        .current_dir(&room.root)
        .env(protocol::paths::ENV_RUNTIME_DIR, &room.runtime_dir)
        .env_remove(protocol::paths::ENV_ROOT)
        .env("CHATROOM_LOG", log_filter())
        .stdin(std::process::Stdio::null());
    let output = run_bounded(command, Duration::from_secs(60)).expect("running sdk_client.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sdk_client.py failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("python sdk: ok"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // The script's sessions ran against this room's daemon, and it recorded them.
    let status = room.status();
    assert_eq!(status["running"], true, "{status}");
    assert!(
        status["daemon"]["message_count"].as_u64() >= Some(3),
        "{status}"
    );
    room.finish();
}
