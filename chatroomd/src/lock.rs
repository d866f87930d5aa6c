//! The room lock: an exclusive `flock` on `.chatroom/chatroomd.lock`, held for the daemon's whole
//! life, so that exactly one daemon serves a root. The kernel releases it however the process
//! dies, so a held lock always means a live daemon, and whoever holds it may replace a stale
//! socket file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The held lock; released on drop.
#[derive(Debug)]
pub struct RoomLock {
    _file: File,
}

impl RoomLock {
    /// Takes the lock and records our pid in it. `Ok(Err(pid))` when another process holds it
    /// (`pid` is what that process recorded, or `"unknown"`).
    pub fn acquire(path: &Path) -> io::Result<Result<Self, String>> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Err(read_holder(&mut file))),
            Err(TryLockError::Error(err)) => return Err(err),
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_data()?;
        Ok(Ok(Self { _file: file }))
    }
}

/// Whether some process holds the lock at `path` right now (without taking it for long).
pub fn is_held(path: &Path) -> io::Result<bool> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(err)) => Err(err),
    }
}

/// Blocks until nobody holds the lock at `path` (the daemon has exited), or `timeout` passes.
/// Returns whether the lock was seen free.
pub fn wait_released(path: &Path, timeout: std::time::Duration) -> io::Result<bool> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(err) => return Err(err),
    };
    // A blocking flock wakes exactly when the holder lets go; run it on a helper thread so the
    // wait can be bounded.
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(file.lock().map(|()| drop(file)));
    });
    match wait.recv_timeout(timeout) {
        Ok(result) => result.map(|()| true),
        Err(_) => Ok(false),
    }
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let pid = text.trim();
    if pid.is_empty() {
        "unknown".to_owned()
    } else {
        pid.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatroomd.lock");
        let lock = RoomLock::acquire(&path).unwrap().unwrap();
        assert!(is_held(&path).unwrap());
        assert_eq!(
            RoomLock::acquire(&path).unwrap().unwrap_err(),
            std::process::id().to_string()
        );
        drop(lock);
        assert!(!is_held(&path).unwrap());
        assert!(wait_released(&path, std::time::Duration::from_secs(5)).unwrap());
    }
}
