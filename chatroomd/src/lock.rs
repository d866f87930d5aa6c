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
        assert!(protocol::launch::lock_held(&path));
        assert_eq!(
            RoomLock::acquire(&path).unwrap().unwrap_err(),
            std::process::id().to_string()
        );
        drop(lock);
        assert!(!protocol::launch::lock_held(&path));
        assert!(protocol::launch::wait_released(&path, std::time::Duration::from_secs(5)).unwrap());
    }
}
