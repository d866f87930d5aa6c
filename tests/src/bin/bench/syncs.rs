//! Syncs per batch, counted by `strace -c` attached to the daemon during an untimed burst.

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::calls::{CALL_TIMEOUT, bounded};

/// The system calls that make data durable; whichever the daemon's store uses, all are counted.
const SYNC_SYSCALLS: &str = "trace=fdatasync,fsync,sync_file_range";

/// What `strace -c` counted in the daemon while a burst ran, or why nothing was counted.
#[derive(Debug, Clone)]
pub(crate) enum SyncCount {
    Counted {
        /// Sync system calls of every thread of the daemon during the burst.
        syncs: u64,
        /// Acknowledged sends in the burst.
        sends: usize,
    },
    NotMeasured(String),
}

impl SyncCount {
    pub(crate) fn per_send(&self) -> Option<f64> {
        match self {
            Self::Counted { syncs, sends } => Some(*syncs as f64 / (*sends).max(1) as f64),
            Self::NotMeasured(_) => None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Counted { syncs, sends } => format!(
                "{:.2} ({syncs} syncs for {sends} acknowledged sends)",
                *syncs as f64 / (*sends).max(1) as f64
            ),
            Self::NotMeasured(why) => format!("not measured ({why})"),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Self::Counted { syncs, sends } => json!({
                "syncs": syncs,
                "sends": sends,
                "per_send": (*syncs as f64 / (*sends).max(1) as f64 * 1000.0).round() / 1000.0,
            }),
            Self::NotMeasured(why) => json!({"not_measured": why}),
        }
    }
}

/// Runs `burst` (which returns how many sends it had acknowledged) with `strace -f -c` attached
/// to every thread of the daemon, and counts the sync system calls it made meanwhile. strace
/// stops the daemon at every system call, so the burst is never one of the timed series.
pub(crate) async fn count_syncs(
    daemon: u32,
    burst: impl Future<Output = anyhow::Result<usize>>,
) -> anyhow::Result<SyncCount> {
    let summary = tempfile::NamedTempFile::new().context("strace's summary file")?;
    let spawned = tokio::process::Command::new("strace")
        .args(["-f", "-c", "-e", SYNC_SYSCALLS, "-o"])
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
    // SIGINT makes strace detach and write its summary; it is our child, stopped by its pid.
    if let Some(pid) = strace.id() {
        // SAFETY: kill has no memory preconditions; the pid is our own live child.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    }
    bounded("strace's exit", strace.wait()).await?;
    let sends = sends?;
    let text = std::fs::read_to_string(summary.path()).context("reading strace's summary")?;
    Ok(SyncCount::Counted {
        syncs: strace_total_calls(&text),
        sends,
    })
}

/// The calls of the `total` row of a `strace -c` table (0 when it counted none).
fn strace_total_calls(table: &str) -> u64 {
    table
        .lines()
        .filter(|line| !line.starts_with('%') && !line.starts_with('-'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors,] syscall.
            (fields.len() >= 5 && *fields.last()? != "total")
                .then(|| fields.get(3)?.parse::<u64>().ok())
                .flatten()
        })
        .sum()
}
