//! The README's quick start runs `scripts/demo`; this keeps the demo it runs honest in CI by
//! running the same driver against the binaries under test.

use chatroom_tests::{DEFAULT_TIMEOUT, bin_dir, run_bounded};

#[test]
fn the_demo_runs_to_the_end() {
    let demo = bin_dir().join(format!("demo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        demo.exists(),
        "{} is missing: run scripts/test",
        demo.display()
    );
    let output = run_bounded(std::process::Command::new(&demo), DEFAULT_TIMEOUT * 3)
        .expect("running the demo");
    let transcript = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && transcript.trim_end().ends_with("demo passed"),
        "the demo failed ({}):\n{transcript}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "join(",
        "send_message(",
        "read_unread(",
        "write_summary(",
        "kill -9",
        "left the chatroom",
    ] {
        assert!(transcript.contains(step), "the transcript lacks {step:?}");
    }
}
