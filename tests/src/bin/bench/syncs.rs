//! Syncs per batch, counted by `strace` attached to the daemon during an untimed burst: each
//! sync call with the file it synced (`-y`), so the journal's syncs, the ones on a reply's path,
//! are told from a checkpoint's, which come after the replies once the room is quiet.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::calls::{CALL_TIMEOUT, bounded};

/// The system calls that make data durable; whichever the daemon's store uses, all are counted.
const SYNC_SYSCALLS: &str = "trace=fdatasync,fsync,sync_file_range";

/// How long strace stays attached after a burst: longer than the daemon waits for quiet before
/// it checkpoints (1 s), so the checkpoint the burst calls for is counted with it.
const AFTER_BURST: Duration = Duration::from_millis(1500);

/// What strace counted in the daemon while a burst ran (and for [`AFTER_BURST`] after it), or
/// why nothing was counted.
#[derive(Debug, Clone)]
pub(crate) enum SyncCount {
    Counted {
        /// `fdatasync`s of `.chatroom/journal`: the one each stored batch waits for.
        journal: u64,
        /// Every other sync (the checkpoints': the compatible files, the directory, and the
        /// journal's emptying, which the daemon does with `fsync`), of any thread of the daemon.
        other: u64,
        /// Acknowledged sends in the burst.
        sends: usize,
    },
    NotMeasured(String),
}

impl SyncCount {
    /// Every sync per acknowledged send.
    pub(crate) fn per_send(&self) -> Option<f64> {
        match self {
            Self::Counted {
                journal,
                other,
                sends,
            } => Some(per(journal + other, *sends)),
            Self::NotMeasured(_) => None,
        }
    }

    /// Whether the journal, whose syncs are the ones on the replies' path, was synced exactly
    /// once per acknowledged send.
    pub(crate) fn one_journal_sync_per_send(&self) -> Option<bool> {
        match self {
            Self::Counted { journal, sends, .. } => Some(*journal == *sends as u64),
            Self::NotMeasured(_) => None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Counted {
                journal,
                other,
                sends,
            } => format!(
                "{:.3} journal syncs per send ({journal} for {sends} acknowledged sends), plus {other} checkpoint syncs during the burst and the quiet after it ({:.3} per send)",
                per(*journal, *sends),
                per(*other, *sends),
            ),
            Self::NotMeasured(why) => format!("not measured ({why})"),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let round = |value: f64| (value * 1000.0).round() / 1000.0;
        match self {
            Self::Counted {
                journal,
                other,
                sends,
            } => json!({
                "journal_syncs": journal,
                "checkpoint_syncs": other,
                "sends": sends,
                "journal_per_send": round(per(*journal, *sends)),
                "per_send": round(per(journal + other, *sends)),
            }),
            Self::NotMeasured(why) => json!({"not_measured": why}),
        }
    }
}

/// Syncs per acknowledged send.
fn per(syncs: u64, sends: usize) -> f64 {
    syncs as f64 / sends.max(1) as f64
}

/// Runs `burst` (which returns how many sends it had acknowledged) with `strace -f -y` attached
/// to every thread of the daemon, and counts the sync system calls it made meanwhile and in the
/// [`AFTER_BURST`] quiet after it, by file. strace stops the daemon at every system call, so the
/// burst is never one of the timed series.
pub(crate) async fn count_syncs(
    daemon: u32,
    burst: impl Future<Output = anyhow::Result<usize>>,
) -> anyhow::Result<SyncCount> {
    let summary = tempfile::NamedTempFile::new().context("strace's summary file")?;
    let spawned = tokio::process::Command::new("strace")
        .args(["-f", "-y", "-e", SYNC_SYSCALLS, "-o"])
        .arg(summary.path())
        .arg("-p")
        .arg(daemon.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut strace = match spawned {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SyncCount::NotMeasured("strace not installed".into()));
        }
        Err(err) => return Err(err).context("starting strace"),
    };
    // strace says "Process N attached" once per thread (older versions once, "with K threads");
    // the burst starts only when every thread the daemon has now is traced.
    let threads = std::fs::read_dir(format!("/proc/{daemon}/task"))
        .map_or(1, |tasks| tasks.count())
        .max(1);
    let mut lines = BufReader::new(strace.stderr.take().context("strace's stderr")?).lines();
    let mut attached = 0;
    let mut said = Vec::new();
    let ready = tokio::time::timeout(CALL_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("attached") {
                attached += match line.split_once(" with ") {
                    Some((_, rest)) => rest
                        .split_whitespace()
                        .next()
                        .and_then(|count| count.parse().ok())
                        .unwrap_or(1),
                    None => 1,
                };
                if attached >= threads {
                    return true;
                }
            } else {
                said.push(line);
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if !ready {
        let _ = strace.kill().await;
        return Ok(SyncCount::NotMeasured(format!(
            "strace could not attach to the daemon: {}",
            said.join("; ")
        )));
    }
    // Keep reading strace's stderr so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let sends = burst.await;
    tokio::time::sleep(AFTER_BURST).await;
    // SIGINT makes strace detach and write its summary; it is our child, stopped by its pid.
    if let Some(pid) = strace.id() {
        // SAFETY: kill has no memory preconditions; the pid is our own live child.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    }
    bounded("strace's exit", strace.wait()).await?;
    let sends = sends?;
    let text = std::fs::read_to_string(summary.path()).context("reading strace's output")?;
    let (journal, other) = count_by_file(&text);
    Ok(SyncCount::Counted {
        journal,
        other,
        sends,
    })
}

/// The sync calls in strace's output (one line per call, `-y` naming the file after its
/// descriptor: `fdatasync(7</repo/.chatroom/journal>) = 0`): the journal's `fdatasync`s (a
/// batch's), and the others (a checkpoint empties the journal with `fsync`).
fn count_by_file(output: &str) -> (u64, u64) {
    let mut counts = (0, 0);
    for line in output.lines() {
        let Some(call) = ["fdatasync(", "fsync(", "sync_file_range("]
            .iter()
            .find_map(|name| line.find(name).map(|at| &line[at..]))
        else {
            continue;
        };
        // A call cut by another thread's line is counted where it begins (its `resumed` line
        // names no call).
        let file = call
            .split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map_or("", |(path, _)| path);
        if call.starts_with("fdatasync(") && file.ends_with("/.chatroom/journal") {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::count_by_file;

    #[test]
    fn syncs_are_counted_by_the_file_strace_names() {
        let output = "\
4242  fdatasync(7</tmp/r/.chatroom/journal>) = 0
4242  fdatasync(7</tmp/r/.chatroom/journal> <unfinished ...>
4242  <... fdatasync resumed>) = 0
4242  fdatasync(9</tmp/r/.chatroom/messages.jsonl>) = 0
4242  fsync(11</tmp/r/.chatroom>) = 0
4242  fsync(7</tmp/r/.chatroom/journal>) = 0
4243  +++ exited with 0 +++
";
        assert_eq!(count_by_file(output), (2, 3));
    }
}
