//! Bounded waits: polls ([`wait_for`], [`eventually`]), a child's exit ([`wait_exit`]) and a
//! command run to completion ([`run_bounded`]). Every wait has a deadline.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

/// Polls `condition` until it holds or `timeout` passes. For conditions only observable by
/// asking (the room's state through another process); every use has a deadline.
pub fn wait_for(
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls the async `probe` until it yields a value or `timeout` passes; returns the value and
/// how long it took. For conditions only observable by asking the room through an agent; every
/// use has a deadline.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> anyhow::Result<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok((value, start.elapsed()));
        }
        if start.elapsed() > timeout {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits for a child to exit, killing it after `timeout`; returns its status.
pub fn wait_exit(
    child: &mut std::process::Child,
    timeout: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("pid {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a command to completion, killing it after `timeout`.
pub fn run_bounded(
    mut command: std::process::Command,
    timeout: Duration,
) -> anyhow::Result<Output> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let output = child.wait_with_output()?;
            bail!(
                "timed out after {timeout:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
