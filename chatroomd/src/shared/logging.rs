//! Logging setup: `tracing` to the daemon's log file (or stderr in the foreground), filtered by
//! `CHATROOM_LOG` (the same variable the shim reads).
//!
//! The log file is capped: past [`MAX_LOG_BYTES`] it is renamed to `chatroomd.log.1` (replacing
//! the previous one) and a fresh file is started, both when a daemon opens it and while it
//! writes. A room that cannot start appends a failure at every call; checking at open keeps
//! those many short-lived starts bounded too. tracing-appender rotates by time, not size, and a
//! size cap is a few lines here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The filter variable shared by the daemon and the shim.
pub const ENV_LOG: &str = "CHATROOM_LOG";
/// The size past which `chatroomd.log` is rotated; with the one old file kept, the log takes at
/// most about twice this.
pub const MAX_LOG_BYTES: u64 = 4 * 1024 * 1024;
/// Test-only: a smaller [`MAX_LOG_BYTES`] (a positive number of bytes), so that a test can
/// watch the rotation with a few lines. Unset, the real cap applies.
pub const ENV_TEST_LOG_MAX_BYTES: &str = "CHATROOM_TEST_LOG_MAX_BYTES";

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_env(ENV_LOG).unwrap_or_else(|_| EnvFilter::new(default))
}

fn max_log_bytes() -> u64 {
    std::env::var(ENV_TEST_LOG_MAX_BYTES)
        .ok()
        .and_then(|value| value.trim().parse::<u64>().ok())
        .filter(|max| *max > 0)
        .unwrap_or(MAX_LOG_BYTES)
}

/// Logs to `log_file` (appending, rotated past the cap), creating its directory.
pub fn to_file(log_file: &Path) -> io::Result<()> {
    if let Some(dir) = log_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = RotatingLog::open(log_file, max_log_bytes())?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Ok(())
}

/// Logs to stderr (the foreground daemon and the short-lived subcommands).
pub fn to_stderr(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Appends one line to the capped log at `path` (rotated like `chatroomd.log`): the hooks'
/// `hooks.log`, written by short-lived processes, one line each.
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    RotatingLog::open(path, max_log_bytes())?.write_all(line.as_bytes())
}

/// An appended log file that is renamed to `<name>.1` and started afresh once it would pass
/// `max` bytes. The starter hands a daemon its log as stderr too (for panics and the final
/// error line): when stderr is the file being rotated, it is moved to the new file as well.
struct RotatingLog {
    path: PathBuf,
    file: File,
    /// The file's length as far as this process knows (its own writes since it opened it).
    len: u64,
    max: u64,
}

impl RotatingLog {
    fn open(path: &Path, max: u64) -> io::Result<Self> {
        let file = open_append(path)?;
        let len = file.metadata()?.len();
        let mut log = Self {
            path: path.to_path_buf(),
            file,
            len,
            max,
        };
        if log.len >= max {
            log.rotate()?;
        }
        Ok(log)
    }

    /// `chatroomd.log` → `chatroomd.log.1` (replacing it), then a fresh `chatroomd.log`.
    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, PathBuf::from(old))?;
        let file = open_append(&self.path)?;
        #[cfg(unix)]
        move_stderr(&self.file, &file);
        self.file = file;
        self.len = 0;
        Ok(())
    }
}

impl Write for RotatingLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.len > 0
            && self.len + bytes.len() as u64 > self.max
            && let Err(err) = self.rotate()
        {
            // Keep logging to the file we have rather than lose the line; the next write tries
            // again.
            let _ = writeln!(self.file, "could not rotate {}: {err}", self.path.display());
        }
        let written = self.file.write(bytes)?;
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Points stderr at `new` if it is `old` (the same file), so the daemon's last words (a panic,
/// the final error line) land in the current log rather than in the rotated one.
#[cfg(unix)]
fn move_stderr(old: &File, new: &File) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(old) = old.metadata() else {
        return;
    };
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct, and fstat only writes
    // into the struct we pass; a closed fd 2 is reported as an error.
    let stderr = unsafe {
        let mut stderr = std::mem::zeroed::<libc::stat>();
        (libc::fstat(2, &mut stderr) == 0).then_some(stderr)
    };
    let Some(stderr) = stderr else {
        return;
    };
    // The casts are no-ops on Linux; elsewhere the fields are narrower or signed.
    #[allow(clippy::unnecessary_cast)]
    let same_file = stderr.st_dev as u64 == old.dev() && stderr.st_ino as u64 == old.ino();
    if same_file {
        // SAFETY: both descriptors are open; dup2 replaces fd 2 atomically.
        unsafe {
            libc::dup2(new.as_raw_fd(), 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |metadata| metadata.len())
    }

    #[test]
    fn the_log_is_rotated_past_the_cap_keeping_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatroomd.log");
        let mut log = RotatingLog::open(&path, 1000).unwrap();
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..35 {
            log.write_all(line.as_bytes()).unwrap();
        }
        // 3500 bytes went in: 10 lines in each of three files, the oldest gone.
        assert_eq!(size(&path), 500);
        assert_eq!(size(&dir.path().join("chatroomd.log.1")), 1000);
        assert!(!dir.path().join("chatroomd.log.2").exists());
    }

    #[test]
    fn a_log_already_past_the_cap_is_rotated_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatroomd.log");
        std::fs::write(&path, "old start\n".repeat(200)).unwrap();
        let mut log = RotatingLog::open(&path, 1000).unwrap();
        log.write_all(b"new start\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new start\n");
        assert_eq!(size(&dir.path().join("chatroomd.log.1")), 2000);
        // Below the cap, it is only appended to.
        drop(log);
        let mut log = RotatingLog::open(&path, 1000).unwrap();
        log.write_all(b"another\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "new start\nanother\n"
        );
    }
}
