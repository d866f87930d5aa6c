//! Where a room lives: the root resolution rule of the contract and every path derived from it.
//!
//! The shim, the daemon and the CLI all call these functions, so they cannot disagree about which
//! room a directory belongs to or where its socket is.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// Overrides the root resolution entirely.
pub const ENV_ROOT: &str = "CHATROOM_ROOT";
/// Overrides the per-user runtime directory that holds sockets.
pub const ENV_RUNTIME_DIR: &str = "CHATROOM_RUNTIME_DIR";
/// The name of the state directory inside the root.
pub const STATE_DIR_NAME: &str = ".chatroom";
/// The file in the state directory naming the running daemon's socket.
pub const ENDPOINT_FILE_NAME: &str = "chatroomd.endpoint";

/// Resolves the room's root (contract, "Words"): `CHATROOM_ROOT` if set and not blank; otherwise
/// the main working tree of the git repository containing `cwd`, so that linked worktrees share one
/// room; otherwise `cwd` itself. The result is canonical.
pub fn resolve_root(cwd: &Path, env_root: Option<&OsStr>) -> io::Result<PathBuf> {
    if let Some(root) = env_root.filter(|value| !value.to_string_lossy().trim().is_empty()) {
        return explicit_root(cwd, root, |root| format!("{ENV_ROOT}={}", root.display()));
    }
    let cwd = cwd.canonicalize()?;
    Ok(git_main_worktree(&cwd).unwrap_or(cwd))
}

/// A root given by the person (`--root DIR` or `CHATROOM_ROOT`), relative to `cwd`, canonical.
/// A root that cannot be used is reported under the name it was given by (`named`), so that the
/// person knows which of the two to fix.
fn explicit_root(cwd: &Path, root: &OsStr, named: impl Fn(&Path) -> String) -> io::Result<PathBuf> {
    let root = cwd.join(root);
    root.canonicalize().map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("{} cannot be used: {err}", named(&root)),
        )
    })
}

/// Finds the main working tree of the git repository containing `dir` by reading `.git` entries,
/// without running git. A linked worktree's `.git` file points at `<main>/.git/worktrees/<name>`,
/// whose `commondir` names the main `.git`; a submodule's points at a git dir with no `commondir`
/// and is its own root.
fn git_main_worktree(dir: &Path) -> Option<PathBuf> {
    for candidate in dir.ancestors() {
        let dot_git = candidate.join(".git");
        let Ok(meta) = std::fs::metadata(&dot_git) else {
            continue;
        };
        if meta.is_dir() {
            return Some(candidate.to_path_buf());
        }
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let gitdir = text
            .lines()
            .find_map(|line| line.strip_prefix("gitdir:"))?
            .trim();
        let gitdir = candidate.join(gitdir);
        let Ok(common) = std::fs::read_to_string(gitdir.join("commondir")) else {
            return Some(candidate.to_path_buf());
        };
        let common = gitdir.join(common.trim()).canonicalize().ok()?;
        return match common.file_name() {
            Some(name) if name == ".git" => common.parent().map(Path::to_path_buf),
            _ => Some(candidate.to_path_buf()),
        };
    }
    None
}

/// Every path that belongs to one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPaths {
    /// The canonical root.
    pub root: PathBuf,
    /// `<root>/.chatroom`.
    pub state_dir: PathBuf,
    /// Held (flock) by the one daemon serving this root; contains its pid.
    pub lock_file: PathBuf,
    /// The daemon's log.
    pub log_file: PathBuf,
    /// The per-user directory holding the socket (mode 0700).
    pub runtime_dir: PathBuf,
    /// The local socket (a named pipe path on Windows).
    pub socket: PathBuf,
    /// Held (flock) by a client while it starts a daemon, so that racing clients start one.
    pub start_lock: PathBuf,
    /// Where the running daemon records the socket it bound (see [`record_endpoint`]): clients
    /// whose environment yields another runtime dir find the daemon through it.
    pub endpoint_file: PathBuf,
}

impl RoomPaths {
    /// The paths of the room at `root` (already resolved), with sockets under `runtime_dir`
    /// (see [`runtime_dir`]).
    pub fn new(root: PathBuf, runtime_dir: PathBuf) -> Self {
        let state_dir = root.join(STATE_DIR_NAME);
        let key = room_key(&root);
        #[cfg(unix)]
        let socket = runtime_dir.join(format!("{key}.sock"));
        #[cfg(windows)]
        let socket = PathBuf::from(format!(r"\\.\pipe\chatroom-{}-{key}", user_tag()));
        Self {
            lock_file: state_dir.join("chatroomd.lock"),
            log_file: state_dir.join("chatroomd.log"),
            endpoint_file: state_dir.join(ENDPOINT_FILE_NAME),
            start_lock: runtime_dir.join(format!("{key}.start")),
            socket,
            runtime_dir,
            state_dir,
            root,
        }
    }

    /// Resolves the root from `cwd` and the environment and derives every path.
    pub fn discover(cwd: &Path, explicit_root: Option<&Path>) -> io::Result<Self> {
        let env_root = std::env::var_os(ENV_ROOT);
        let root = match explicit_root {
            Some(root) => self::explicit_root(cwd, root.as_os_str(), |root| {
                format!("--root {}", root.display())
            })?,
            None => resolve_root(cwd, env_root.as_deref())?,
        };
        Ok(Self::new(root, runtime_dir()))
    }
}

/// A short, stable name for a root: FNV-1a (a fixed algorithm, unlike `DefaultHasher`, so that
/// binaries from different builds agree) over the canonical path, as 16 hex digits. It keeps
/// socket paths far below the ~104-byte `sun_path` limit however deep the repository is.
pub fn room_key(root: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in root.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The per-user runtime directory: `CHATROOM_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/chatroom`,
/// else `<temp dir>/chatroom-<uid>`. Call [`ensure_private_dir`] before binding in it.
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(ENV_RUNTIME_DIR).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) =
        directories::BaseDirs::new().and_then(|dirs| dirs.runtime_dir().map(Path::to_path_buf))
    {
        return dir.join("chatroom");
    }
    std::env::temp_dir().join(format!("chatroom-{}", user_tag()))
}

/// Creates `dir` if needed and makes sure only the current user can enter it (mode 0700, owned by
/// us). A directory owned by someone else is refused rather than used.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
        let meta = std::fs::symlink_metadata(dir)?;
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        if !meta.is_dir() || meta.uid() != uid {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not a directory owned by the current user",
                    dir.display()
                ),
            ));
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Records, in the state directory, the socket the daemon has bound, so that every client of the
/// root finds it whatever its own environment says (`XDG_RUNTIME_DIR` set or not, another
/// `TMPDIR` or `HOME`): agents in different MCP clients would otherwise compute different sockets
/// and split into two rooms. Written to a temp file and renamed, so readers never see half a
/// path. Only the holder of the room lock calls this.
pub fn record_endpoint(paths: &RoomPaths) -> io::Result<()> {
    let temp = paths.state_dir.join(format!("{ENDPOINT_FILE_NAME}.new"));
    let mut text = paths.socket.as_os_str().as_encoded_bytes().to_vec();
    text.push(b'\n');
    let written =
        std::fs::write(&temp, &text).and_then(|()| std::fs::rename(&temp, &paths.endpoint_file));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Removes the record of a daemon that is shutting down cleanly (it still holds the room lock,
/// so the record is its own).
pub fn forget_endpoint(paths: &RoomPaths) -> io::Result<()> {
    match std::fs::remove_file(&paths.endpoint_file) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// The socket the running daemon recorded, if it is one this user may trust: `Ok(None)` when
/// nothing is recorded. `.chatroom/` lives in a repository that others may be able to write, so
/// a recorded path is used only if it is this room's socket name (`<room key>.sock`) in a
/// directory owned by the current user that nobody else can enter, and is a socket owned by the
/// current user. Anything else is an error naming what is wrong, and is not connected to.
pub fn recorded_endpoint(paths: &RoomPaths) -> io::Result<Option<PathBuf>> {
    let bytes = match std::fs::read(&paths.endpoint_file) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let untrusted = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} {why}", paths.endpoint_file.display()),
        )
    };
    let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    #[cfg(unix)]
    let socket = {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(OsStr::from_bytes(line))
    };
    #[cfg(not(unix))]
    let socket = match std::str::from_utf8(line) {
        Ok(text) => PathBuf::from(text),
        Err(_) => return Err(untrusted("does not hold a path")),
    };
    let expected_name = paths.socket.file_name();
    if !socket.is_absolute() || socket.file_name() != expected_name {
        return Err(untrusted("does not name this room's socket"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let dir = socket
            .parent()
            .ok_or_else(|| untrusted("names no directory"))?;
        let dir_meta = std::fs::symlink_metadata(dir)?;
        if !dir_meta.is_dir() || dir_meta.uid() != uid || dir_meta.mode() & 0o077 != 0 {
            return Err(untrusted(
                "names a socket outside a private directory of the current user",
            ));
        }
        let meta = std::fs::symlink_metadata(&socket)?;
        if !meta.file_type().is_socket() || meta.uid() != uid {
            return Err(untrusted(
                "names something that is not a socket of the current user",
            ));
        }
    }
    Ok(Some(socket))
}

/// Identifies the current user in shared namespaces (the temp dir, the Windows pipe namespace).
fn user_tag() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }.to_string()
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME")
            .unwrap_or_else(|_| "user".to_owned())
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_root_wins_and_blank_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        let sub = canonical.join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert_eq!(
            resolve_root(&sub, Some(canonical.as_os_str())).unwrap(),
            canonical
        );
        assert_eq!(resolve_root(&sub, Some(OsStr::new("  "))).unwrap(), sub);
    }

    #[test]
    fn git_repo_root_and_linked_worktree_share_the_main_tree() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().canonicalize().unwrap().join("main");
        std::fs::create_dir_all(main.join(".git/worktrees/wt")).unwrap();
        std::fs::create_dir_all(main.join("src/deep")).unwrap();
        assert_eq!(resolve_root(&main.join("src/deep"), None).unwrap(), main);

        let linked = dir.path().canonicalize().unwrap().join("linked");
        std::fs::create_dir_all(linked.join("x")).unwrap();
        std::fs::write(
            linked.join(".git"),
            format!("gitdir: {}\n", main.join(".git/worktrees/wt").display()),
        )
        .unwrap();
        std::fs::write(main.join(".git/worktrees/wt/commondir"), "../..\n").unwrap();
        assert_eq!(resolve_root(&linked.join("x"), None).unwrap(), main);

        let submodule = main.join("sub");
        std::fs::create_dir_all(main.join(".git/modules/sub")).unwrap();
        std::fs::create_dir_all(&submodule).unwrap();
        std::fs::write(submodule.join(".git"), "gitdir: ../.git/modules/sub\n").unwrap();
        assert_eq!(resolve_root(&submodule, None).unwrap(), submodule);
    }

    #[test]
    fn a_root_that_cannot_be_used_is_blamed_on_the_flag_that_named_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nonexistent");
        let err = RoomPaths::discover(dir.path(), Some(&missing)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "--root {} cannot be used: No such file or directory (os error 2)",
                missing.display()
            )
        );
        let err = resolve_root(dir.path(), Some(missing.as_os_str())).unwrap_err();
        assert!(err.to_string().starts_with("CHATROOM_ROOT="), "{err}");
    }

    #[test]
    fn outside_git_the_cwd_is_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        assert_eq!(resolve_root(&canonical, None).unwrap(), canonical);
    }

    #[test]
    fn socket_path_is_short_and_stable_for_deep_roots() {
        let deep = PathBuf::from(format!("/{}", "very-long-directory-name/".repeat(20)));
        let paths = RoomPaths::new(deep.clone(), PathBuf::from("/tmp/chatroom-1000"));
        assert!(
            paths.socket.as_os_str().len() <= 100,
            "{}",
            paths.socket.display()
        );
        assert_eq!(
            paths,
            RoomPaths::new(deep, PathBuf::from("/tmp/chatroom-1000"))
        );
        assert_eq!(
            room_key(Path::new("/a")),
            "07d66707b49cd92d" /* FNV-1a 64, checked against an independent implementation; must never change */
        );
        assert_ne!(room_key(Path::new("/a")), room_key(Path::new("/b")));
    }

    #[cfg(unix)]
    #[test]
    fn a_recorded_endpoint_is_used_only_if_it_is_a_private_socket_of_ours() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("repo");
        std::fs::create_dir_all(root.join(STATE_DIR_NAME)).unwrap();
        let runtime = dir.path().join("rt");
        ensure_private_dir(&runtime).unwrap();
        let paths = RoomPaths::new(root.clone(), runtime.clone());
        assert_eq!(recorded_endpoint(&paths).unwrap(), None, "nothing recorded");

        let _listener = std::os::unix::net::UnixListener::bind(&paths.socket).unwrap();
        record_endpoint(&paths).unwrap();
        // Another environment computes another runtime dir, and reads the record.
        let elsewhere = RoomPaths::new(root.clone(), dir.path().join("other"));
        assert_eq!(
            recorded_endpoint(&elsewhere).unwrap(),
            Some(paths.socket.clone())
        );
        assert!(
            !paths
                .state_dir
                .join(format!("{ENDPOINT_FILE_NAME}.new"))
                .exists()
        );

        let refused = |contents: &[u8]| {
            std::fs::write(&paths.endpoint_file, contents).unwrap();
            let err = recorded_endpoint(&elsewhere).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&paths.endpoint_file.display().to_string()),
                "{err}"
            );
            err.to_string()
        };
        let other_room = runtime.join("0123456789abcdef.sock");
        let _other = std::os::unix::net::UnixListener::bind(&other_room).unwrap();
        assert!(
            refused(format!("{}\n", other_room.display()).as_bytes())
                .ends_with("does not name this room's socket")
        );
        let name = paths.socket.file_name().unwrap().to_string_lossy();
        assert!(
            refused(format!("rt/{name}\n").as_bytes())
                .ends_with("does not name this room's socket")
        );
        // A socket in a directory others can enter could be anyone's.
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
        record_endpoint(&paths).unwrap();
        assert!(
            recorded_endpoint(&elsewhere)
                .unwrap_err()
                .to_string()
                .ends_with("names a socket outside a private directory of the current user")
        );
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Not a socket.
        let plain = dir.path().join("plain");
        ensure_private_dir(&plain).unwrap();
        std::fs::write(plain.join(&*name), "").unwrap();
        assert!(
            refused(format!("{}\n", plain.join(&*name).display()).as_bytes())
                .ends_with("names something that is not a socket of the current user")
        );

        record_endpoint(&paths).unwrap();
        forget_endpoint(&paths).unwrap();
        assert_eq!(recorded_endpoint(&elsewhere).unwrap(), None);
        forget_endpoint(&paths).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_dir_is_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("rt");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&runtime).unwrap();
        assert_eq!(
            std::fs::metadata(&runtime).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
