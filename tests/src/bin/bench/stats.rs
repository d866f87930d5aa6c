//! Statistics of timed samples, the formatting of figures, and CPU time read from /proc.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) mean: Duration,
}

impl Stats {
    pub(crate) fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Self {
            p50: percentile(&sorted, 0.50),
            p99: percentile(&sorted, 0.99),
            mean: total / sorted.len().max(1) as u32,
        }
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub(crate) fn ms(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis < 10.0 {
        format!("{millis:.3} ms")
    } else if millis < 1000.0 {
        format!("{millis:.1} ms")
    } else {
        format!("{:.2} s", millis / 1000.0)
    }
}

pub(crate) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

pub(crate) fn round_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1000.0
}

pub(crate) fn human_count(count: usize) -> String {
    match count {
        _ if count >= 1_000_000 && count.is_multiple_of(1_000_000) => {
            format!("{}M", count / 1_000_000)
        }
        _ if count >= 1_000 && count.is_multiple_of(1_000) => format!("{}k", count / 1_000),
        _ => count.to_string(),
    }
}

/// CPU seconds (user + system) consumed so far by the daemon, the shims and this process.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuSnapshot {
    pub(crate) daemon: f64,
    pub(crate) shims: f64,
    pub(crate) this_process: f64,
}

impl CpuSnapshot {
    pub(crate) fn take(daemon: u32, shims: &[u32]) -> Self {
        Self {
            daemon: cpu_seconds(daemon).unwrap_or_default(),
            shims: shims.iter().filter_map(|pid| cpu_seconds(*pid)).sum(),
            this_process: cpu_seconds(std::process::id()).unwrap_or_default(),
        }
    }

    pub(crate) fn since(self, earlier: &Self) -> Self {
        Self {
            daemon: self.daemon - earlier.daemon,
            shims: self.shims - earlier.shims,
            this_process: self.this_process - earlier.this_process,
        }
    }
}

/// CPU seconds a process has run so far: the sum over its threads of /proc/<pid>/task/*/schedstat
/// (nanoseconds), else utime + stime from /proc/<pid>/stat (clock ticks, 10 ms resolution).
fn cpu_seconds(pid: u32) -> Option<f64> {
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        let nanos: u64 = tasks
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        if nanos > 0 {
            return Some(nanos as f64 / 1e9);
        }
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / per_second.max(1) as f64)
}
