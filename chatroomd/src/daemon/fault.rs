//! Test-only faults: the daemon (or its owner task) dying at the exact point the end-to-end
//! tests need, which no outside `kill` can hit reliably. Inert unless its environment variable is set.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use protocol::Request;

/// `CHATROOM_TEST_OWNER_PANIC_ON=<content>`: the owner panics as it handles a
/// `send_message` whose content (trimmed) equals the value, before anything of that batch is
/// stored. It lets the end-to-end tests check that a dead owner ends the daemon.
pub const ENV_OWNER_PANIC_ON: &str = "CHATROOM_TEST_OWNER_PANIC_ON";

/// Called by the owner before it carries out a call. Does nothing unless
/// [`ENV_OWNER_PANIC_ON`] is set and the call is a `send_message` of that content.
pub fn before_call(request: &Request) {
    // Read once: the hook runs on every call, and the environment does not change.
    static POISON: OnceLock<Option<String>> = OnceLock::new();
    let poison = POISON.get_or_init(|| {
        std::env::var(ENV_OWNER_PANIC_ON)
            .ok()
            .map(|content| content.trim().to_owned())
            .filter(|content| !content.is_empty())
    });
    if let (Some(poison), Request::SendMessage { content, .. }) = (poison, request)
        && content.trim() == poison
    {
        panic!("{ENV_OWNER_PANIC_ON}: a send_message with the content {poison:?}");
    }
}

/// `CHATROOM_TEST_CRASH_AFTER_PERSIST=<path of a marker file>`: while the file exists, the owner
/// SIGKILLs its own process right after it stored a batch that holds a keyed call, before any of
/// the batch's replies leave. So the write is on disk but the client never hears of it, which is
/// the case a repeat after a reconnect must answer exactly once. The file holds how many more
/// batches to crash on (empty or unreadable: one); it is rewritten with one less, and removed at
/// the last, so that the daemon a shim starts next (with the same environment) runs normally.
pub const ENV_CRASH_AFTER_PERSIST: &str = "CHATROOM_TEST_CRASH_AFTER_PERSIST";

/// Called by the owner after a batch holding a keyed call was stored and before its replies are
/// queued. Does nothing unless [`ENV_CRASH_AFTER_PERSIST`] names an existing file.
pub fn after_keyed_persist() {
    // Read once: the hook runs on every keyed batch, and the environment does not change.
    static MARKER: OnceLock<Option<PathBuf>> = OnceLock::new();
    let marker = MARKER.get_or_init(|| {
        std::env::var_os(ENV_CRASH_AFTER_PERSIST)
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
    });
    let Some(marker) = marker else {
        return;
    };
    if let Some(remaining) = take_one(marker) {
        tracing::warn!(
            marker = %marker.display(),
            remaining,
            "{ENV_CRASH_AFTER_PERSIST}: killing this daemon after a stored keyed write"
        );
        kill_self();
    }
}

/// `CHATROOM_TEST_CRASH_AT=<step>=<marker path>[,<step>=<marker path>…]`: while a step's marker
/// file exists, the daemon SIGKILLs its own process when it reaches that step of the journal's
/// path, counting the marker down as [`ENV_CRASH_AFTER_PERSIST`] does. The steps:
/// `journal-synced` (a batch is in the synced journal, not yet in the compatible files),
/// `files-written` (it is in both, before its replies leave), `checkpoint` (the compatible files
/// are synced, the journal not yet emptied) and `recovery` (a start replayed part of the
/// journal). Several steps may be armed at once, so one test can crash at one and then at another.
pub const ENV_CRASH_AT: &str = "CHATROOM_TEST_CRASH_AT";

/// A step of the journal's path where [`ENV_CRASH_AT`] can crash the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    JournalSynced,
    FilesWritten,
    Checkpoint,
    Recovery,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::JournalSynced => "journal-synced",
            Step::FilesWritten => "files-written",
            Step::Checkpoint => "checkpoint",
            Step::Recovery => "recovery",
        }
    }
}

/// The armed steps of [`ENV_CRASH_AT`] and their markers.
fn parse_crash_at(value: &str) -> Vec<(String, PathBuf)> {
    value
        .split(',')
        .filter_map(|item| {
            let (step, marker) = item.split_once('=')?;
            (!marker.is_empty()).then(|| (step.trim().to_owned(), PathBuf::from(marker)))
        })
        .collect()
}

/// Called by the store at each step of the journal's path. Does nothing unless
/// [`ENV_CRASH_AT`] arms `step` with an existing marker file.
pub fn crash_at(step: Step) {
    // Read once: the hook runs on every batch, and the environment does not change.
    static ARMED: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| {
        std::env::var(ENV_CRASH_AT)
            .map(|value| parse_crash_at(&value))
            .unwrap_or_default()
    });
    for (name, marker) in armed {
        if name != step.name() {
            continue;
        }
        if let Some(remaining) = take_one(marker) {
            tracing::warn!(
                marker = %marker.display(),
                remaining,
                "{ENV_CRASH_AT}: killing this daemon at {}",
                step.name()
            );
            kill_self();
        }
    }
}

fn kill_self() -> ! {
    #[cfg(unix)]
    // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, so nothing runs after it.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort();
}

/// Uses up one crash of the marker at `marker`: `Some(crashes left after this one)` if it was
/// armed, `None` if there is no marker.
fn take_one(marker: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(marker).ok()?;
    let count = text.trim().parse::<u32>().unwrap_or(1).max(1);
    let remaining = count - 1;
    let stored = match remaining {
        0 => std::fs::remove_file(marker),
        left => std::fs::write(marker, left.to_string()),
    };
    // A marker that cannot be used up would crash every daemon the tests start: stay alive.
    stored.ok().map(|()| remaining)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_counts_down_then_disappears() {
        let dir = std::env::temp_dir().join(format!("chatroomd-fault-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("crash");
        assert_eq!(take_one(&marker), None, "no marker, no crash");
        std::fs::write(&marker, "2").unwrap();
        assert_eq!(take_one(&marker), Some(1));
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "1");
        assert_eq!(take_one(&marker), Some(0));
        assert!(!marker.exists());
        std::fs::write(&marker, "").unwrap();
        assert_eq!(take_one(&marker), Some(0), "an empty marker is one crash");
        assert!(!marker.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn crash_steps_are_read_as_step_and_marker_pairs() {
        assert_eq!(
            parse_crash_at("journal-synced=/tmp/a,recovery=/tmp/b,junk,checkpoint="),
            [
                ("journal-synced".to_owned(), PathBuf::from("/tmp/a")),
                ("recovery".to_owned(), PathBuf::from("/tmp/b")),
            ]
        );
    }
}
