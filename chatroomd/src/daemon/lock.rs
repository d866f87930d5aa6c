//! The room lock: an exclusive `flock` on `.chatroom/chatroomd.lock`, held for the daemon's whole
//! life, so that exactly one daemon serves a root. The kernel releases it however the process
//! dies, so a held lock always means a live daemon, and whoever holds it may replace a stale
//! socket file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a start keeps trying for a lock held by something that is not a live daemon: a probe
/// (`chatroom_client::launch::lock_held`) holds it for microseconds, and a daemon that just took it
/// writes its pid right away.
const PROBE_GRACE: Duration = Duration::from_secs(1);

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
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(err)) => return Err(err),
            }
            // The recorded pid is only the holder's if that process lives: otherwise a probe or
            // a daemon that has not written its pid yet holds the lock, and naming the dead
            // daemon would send the person after a process that does not exist.
            let holder = read_holder(&mut file);
            if holder.parse().is_ok_and(process_exists) {
                return Ok(Err(holder));
            }
            if started.elapsed() > PROBE_GRACE {
                return Ok(Err("unknown".to_owned()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_data()?;
        Ok(Ok(Self { _file: file }))
    }
}

/// Whether `pid` names a live process (one we may not be allowed to signal counts).
fn process_exists(pid: i32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
        pid > 0
            && (unsafe { libc::kill(pid, 0) } == 0
                || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
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
        assert!(chatroom_client::launch::lock_held(&path));
        assert_eq!(
            RoomLock::acquire(&path).unwrap().unwrap_err(),
            std::process::id().to_string()
        );
        drop(lock);
        assert!(!chatroom_client::launch::lock_held(&path));
        assert!(
            chatroom_client::launch::wait_released(&path, std::time::Duration::from_secs(5))
                .unwrap()
        );
    }

    /// The pid of a process that has exited (and been reaped).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_probe_of_the_lock_is_not_named_as_a_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatroomd.lock");
        // A daemon died and left its pid; someone checks the lock just as a new daemon starts.
        std::fs::write(&path, format!("{}\n", dead_pid())).unwrap();
        let probe = std::fs::File::open(&path).unwrap();
        probe.try_lock_shared().unwrap();
        let released = std::thread::spawn(move || {
            // A probe holds the lock for a moment only.
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(probe);
        });
        let lock = RoomLock::acquire(&path).unwrap();
        released.join().unwrap();
        assert!(lock.is_ok(), "the start gave up: {lock:?}");
    }

    #[test]
    fn a_dead_pid_is_never_named_as_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatroomd.lock");
        let dead = dead_pid();
        std::fs::write(&path, format!("{dead}\n")).unwrap();
        // Held all along by something that records no pid of its own.
        let other = std::fs::File::open(&path).unwrap();
        other.try_lock_shared().unwrap();
        let holder = RoomLock::acquire(&path).unwrap().unwrap_err();
        assert_ne!(holder, dead.to_string());
        assert_eq!(holder, "unknown");
    }
}
