//! Process checks that read `/proc` ([`process_running`], [`daemon_processes`], [`rss_kib`],
//! [`open_fds`]), the gate of the tests that need root ([`runs_as_root`]), and the clock
//! ([`unix_now`]).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Set to `1` to make a test that needs root fail instead of skipping when not run as root
/// (`.ci/run` sets it, since CI runs as root and a skipped fault test there would hide a gap).
pub const ENV_REQUIRE_ROOT: &str = "CHATROOM_TEST_REQUIRE_ROOT";

/// How the line a root-only test prints when it skips begins (`scripts/test` counts these lines
/// by their fixed ending, which names [`ENV_REQUIRE_ROOT`]).
pub const SKIP_PREFIX: &str = "skipped ";

/// Whether the root-only test `test` may run: true as root. Otherwise it writes one line to
/// stderr naming the test and why it needs root (`needs`, e.g. "needs root to act as another
/// user") and returns false so the test returns early, or, with [`ENV_REQUIRE_ROOT`] set to `1`,
/// fails the test with that reason. The line goes straight to the stderr fd, past libtest's
/// capture of `eprintln!`, so a skip shows up even for a test that passes.
pub fn runs_as_root(test: &str, needs: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let required = std::env::var_os(ENV_REQUIRE_ROOT).is_some_and(|value| value == "1");
    assert!(
        !required,
        "{test} {needs}, and {ENV_REQUIRE_ROOT}=1 makes it required: run it as root"
    );
    let line =
        format!("{SKIP_PREFIX}{test}: {needs} (set {ENV_REQUIRE_ROOT}=1 to make this a failure)\n");
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// Whether a process with this pid exists (and is not a zombie we could still reap).
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Whether the process `pid` exists and is not a zombie (Linux: reads `/proc/<pid>/stat`).
/// Unlike [`process_alive`], a process that exited but was not reaped yet counts as gone.
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
        Err(_) => false,
    }
}

/// The resident set size of process `pid` in KiB (Linux: `VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("reading /proc/{pid}/status: {err}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// How many file descriptors process `pid` has open (Linux: entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|err| panic!("reading /proc/{pid}/fd: {err}"))
        .count()
}

/// The pids of the running `chatroomd` processes whose command line names `root` (Linux: scans
/// `/proc/*/cmdline`; zombies have an empty command line and are not counted).
pub fn daemon_processes(root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let root = root.as_os_str().as_encoded_bytes();
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let mut args = cmdline.split(|byte| *byte == 0);
            let is_daemon = args.next().is_some_and(|program| {
                Path::new(std::ffi::OsStr::from_bytes(program)).file_name()
                    == Some("chatroomd".as_ref())
            });
            is_daemon && args.any(|arg| arg == root)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The current Unix time in whole seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_checks_see_this_process() {
        assert!(process_running(std::process::id()));
        assert!(daemon_processes(Path::new("/nonexistent/root")).is_empty());
    }
}
