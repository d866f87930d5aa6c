//! The room on disk: the compatible `.chatroom/` files, loaded at start and written durably.
//!
//! `messages.jsonl` and `summaries.jsonl` are append-only, one compact JSON record a line;
//! `participants.json` (name → participant) and `cursors.json` (name → last read id) are JSON
//! objects replaced atomically (temp file, fsync, rename, fsync of the directory). An append is
//! acknowledged only after `fdatasync`; the owner batches the changes of every request it has
//! queued into one [`Store::persist`] call, so concurrent writers share one sync (group commit).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use protocol::{Message, Participant, Summary};
use serde::de::DeserializeOwned;

use crate::dedupe::KeyRecord;
use crate::room::{Changes, Room};

pub const MESSAGES_FILE: &str = "messages.jsonl";
pub const SUMMARIES_FILE: &str = "summaries.jsonl";
pub const PARTICIPANTS_FILE: &str = "participants.json";
pub const CURSORS_FILE: &str = "cursors.json";
/// Ours, not the Python server's: the idempotency keys of recent writes (see `dedupe`).
pub const KEYS_FILE: &str = "idempotency.jsonl";

/// A load that cannot go on: the message names the file and where in it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}:{line}: {cause}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        cause: String,
    },
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: io::Error },
}

/// Everything read from `.chatroom/`, plus what had to be repaired on the way.
#[derive(Debug, Default)]
pub struct Loaded {
    pub messages: Vec<Message>,
    pub summaries: Vec<Summary>,
    pub participants: Vec<Participant>,
    pub cursors: Vec<(String, u64)>,
    /// The idempotency keys of recent writes, oldest first.
    pub keys: Vec<KeyRecord>,
    /// Human-readable notes about repairs (a dropped torn line), for the log.
    pub warnings: Vec<String>,
}

/// Whether loading may change the files (the daemon) or must only look (`chatroomd status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Repair,
    ReadOnly,
}

/// Reads the room from `state_dir`. Missing files are an empty room. In [`Mode::Repair`] a torn
/// last line (a crash mid-append) is cut off the file; in [`Mode::ReadOnly`] it is only skipped.
pub fn load(state_dir: &Path, mode: Mode) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    loaded.messages = load_jsonl(&state_dir.join(MESSAGES_FILE), mode, &mut loaded.warnings)?;
    loaded.summaries = load_jsonl(&state_dir.join(SUMMARIES_FILE), mode, &mut loaded.warnings)?;
    let participants: BTreeMap<String, Participant> =
        load_json_object(&state_dir.join(PARTICIPANTS_FILE))?;
    loaded.participants = participants.into_values().collect();
    let cursors: BTreeMap<String, u64> = load_json_object(&state_dir.join(CURSORS_FILE))?;
    loaded.cursors = cursors.into_iter().collect();
    loaded.keys = load_jsonl(&state_dir.join(KEYS_FILE), mode, &mut loaded.warnings)?;
    Ok(loaded)
}

fn load_jsonl<T: DeserializeOwned>(
    path: &Path,
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<Vec<T>, LoadError> {
    let io_err = |cause| LoadError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut bytes).map_err(io_err)?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_err(err)),
    };
    let mut records = Vec::with_capacity(bytes.len() / 160);
    let mut start = 0;
    let mut line_number = 0;
    while start < bytes.len() {
        line_number += 1;
        let (end, terminated) = match memchr_newline(&bytes[start..]) {
            Some(offset) => (start + offset, true),
            None => (bytes.len(), false),
        };
        let line = &bytes[start..end];
        let next = if terminated { end + 1 } else { end };
        if line.iter().all(u8::is_ascii_whitespace) {
            start = next;
            continue;
        }
        match serde_json::from_slice::<T>(line) {
            Ok(record) => records.push(record),
            // Only an unterminated final line can be the torn tail of an interrupted append.
            Err(err) if !terminated => {
                warnings.push(format!(
                    "{}:{line_number}: dropped a torn last line ({} bytes): {err}",
                    path.display(),
                    line.len()
                ));
                if mode == Mode::Repair {
                    truncate_file(path, start as u64).map_err(io_err)?;
                }
                return Ok(records);
            }
            Err(err) => {
                return Err(LoadError::Corrupt {
                    path: path.to_path_buf(),
                    line: line_number,
                    cause: err.to_string(),
                });
            }
        }
        if !terminated && mode == Mode::Repair {
            // A complete record whose newline never made it: finish the line so the next append
            // does not glue onto it.
            let mut file = OpenOptions::new().append(true).open(path).map_err(io_err)?;
            file.write_all(b"\n")
                .and_then(|()| file.sync_data())
                .map_err(io_err)?;
        }
        start = next;
    }
    Ok(records)
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|byte| *byte == b'\n')
}

fn truncate_file(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

fn load_json_object<T: DeserializeOwned + Default>(path: &Path) -> Result<T, LoadError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(T::default()),
        Err(cause) => {
            return Err(LoadError::Io {
                path: path.to_path_buf(),
                cause,
            });
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|err| LoadError::Corrupt {
        path: path.to_path_buf(),
        line: err.line(),
        cause: format!("column {}: {err}", err.column()),
    })
}

/// The open files of one room, written only by the owner thread.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    messages: File,
    summaries: File,
    keys: File,
    /// Reused between batches to build the bytes of one append.
    buffer: Vec<u8>,
}

impl Store {
    /// Opens (creating) the append-only files of `state_dir`, which must exist.
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        let open = |name: &str| -> io::Result<File> {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(state_dir.join(name))?;
            file.seek(SeekFrom::End(0))?;
            Ok(file)
        };
        let store = Self {
            messages: open(MESSAGES_FILE)?,
            summaries: open(SUMMARIES_FILE)?,
            keys: open(KEYS_FILE)?,
            dir: state_dir.to_path_buf(),
            buffer: Vec::with_capacity(64 * 1024),
        };
        // Make the files' directory entries durable once, so later fdatasyncs suffice.
        sync_dir(&store.dir)?;
        Ok(store)
    }

    /// Makes `changes` durable: appends new records (one write and one fdatasync per file) and
    /// rewrites the JSON objects whose durable content changed. Returns only once all of it is
    /// on disk. `last_seen`-only changes are left to [`Store::write_participants`].
    pub fn persist(&mut self, changes: &Changes, room: &Room) -> io::Result<()> {
        if !changes.messages.is_empty() {
            append_records(&mut self.messages, &mut self.buffer, &changes.messages)?;
        }
        if !changes.summaries.is_empty() {
            append_records(&mut self.summaries, &mut self.buffer, &changes.summaries)?;
        }
        if changes.membership {
            self.write_participants(room)?;
        }
        if changes.cursors {
            let cursors: BTreeMap<String, u64> = room.cursors().into_iter().collect();
            write_json_atomically(&self.dir, CURSORS_FILE, &cursors)?;
        }
        Ok(())
    }

    /// Makes the idempotency keys of a batch durable. Called before [`Store::persist`] of the
    /// same batch, so that every write on disk has its key on disk.
    pub fn append_keys(&mut self, records: &[KeyRecord]) -> io::Result<()> {
        append_records(&mut self.keys, &mut self.buffer, records)
    }

    /// Replaces the keys file with `records` (the ones still remembered), atomically.
    pub fn rewrite_keys(&mut self, records: &[KeyRecord]) -> io::Result<()> {
        let mut bytes = Vec::new();
        for record in records {
            serde_json::to_writer(&mut bytes, record).map_err(io::Error::other)?;
            bytes.push(b'\n');
        }
        replace_atomically(&self.dir, KEYS_FILE, &bytes)?;
        let mut file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(self.dir.join(KEYS_FILE))?;
        file.seek(SeekFrom::End(0))?;
        self.keys = file;
        Ok(())
    }

    /// Replaces `participants.json` with the room's current participants.
    pub fn write_participants(&mut self, room: &Room) -> io::Result<()> {
        let participants: BTreeMap<String, Participant> = room
            .participants()
            .into_iter()
            .map(|participant| (participant.name.clone(), participant))
            .collect();
        write_json_atomically(&self.dir, PARTICIPANTS_FILE, &participants)
    }
}

fn append_records<T: serde::Serialize>(
    file: &mut File,
    buffer: &mut Vec<u8>,
    records: &[T],
) -> io::Result<()> {
    buffer.clear();
    for record in records {
        serde_json::to_writer(&mut *buffer, record).map_err(io::Error::other)?;
        buffer.push(b'\n');
    }
    let start = file.stream_position()?;
    if let Err(err) = file.write_all(buffer).and_then(|()| file.sync_data()) {
        // Leave no partial line behind to be glued to the next append; if even that fails the
        // torn tail is cut at the next load.
        let _ = file
            .set_len(start)
            .and_then(|()| file.seek(SeekFrom::Start(start)).map(drop));
        return Err(err);
    }
    Ok(())
}

/// Writes `value` as pretty JSON to `dir/name`, atomically.
fn write_json_atomically<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    replace_atomically(dir, name, &bytes)
}

/// Replaces `dir/name` with `bytes` through a temp file, fsync and rename, so a reader (or a
/// crash) sees the old or the new file, never a mix.
fn replace_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let path = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Adds `.chatroom/` to `<root>/.gitignore` unless a line already ignores it.
pub fn ensure_gitignored(root: &Path) -> io::Result<()> {
    let path = root.join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err),
    };
    let ignored = existing.lines().map(str::trim).any(|line| {
        matches!(
            line,
            ".chatroom" | ".chatroom/" | "/.chatroom" | "/.chatroom/"
        )
    });
    if ignored {
        return Ok(());
    }
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let separator = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    file.write_all(format!("{separator}.chatroom/\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY_MESSAGES: &str = concat!(
        "{\"id\": 1, \"ts\": \"2026-01-02T03:04:05Z\", \"from\": \"alice\", \"to\": \"all\", \"content\": \"hi\"}\n",
        "{\"id\": 2, \"ts\": \"2026-01-02T03:04:06Z\", \"from\": \"bob\", \"to\": \"alice\", \"content\": \"caf\\u00e9\"}\n",
    );

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn missing_files_are_an_empty_room() {
        let dir = dir_with(&[]);
        let loaded = load(dir.path(), Mode::Repair).unwrap();
        assert!(loaded.messages.is_empty() && loaded.summaries.is_empty());
        assert!(
            loaded.participants.is_empty()
                && loaded.cursors.is_empty()
                && loaded.warnings.is_empty()
        );
    }

    #[test]
    fn python_formatted_files_load() {
        let dir = dir_with(&[
            (MESSAGES_FILE, PY_MESSAGES),
            (
                SUMMARIES_FILE,
                "{\"id\": 1, \"ts\": \"2026-01-02T03:04:07Z\", \"from\": \"alice\", \"scope\": \"all\", \"content\": \"done\"}\n",
            ),
            (
                PARTICIPANTS_FILE,
                "{\n  \"alice\": {\n    \"name\": \"alice\",\n    \"role\": \"general\",\n    \"joined_at\": \"2026-01-02T03:04:00Z\",\n    \"last_seen\": \"2026-01-02T03:04:05Z\"\n  }\n}",
            ),
            (CURSORS_FILE, "{\"alice\": 2, \"bob\": 1}"),
        ]);
        let loaded = load(dir.path(), Mode::Repair).unwrap();
        assert_eq!(loaded.messages.len(), 2);
        assert_eq!(loaded.messages[1].content, "café");
        assert_eq!(loaded.summaries[0].content, "done");
        assert_eq!(loaded.participants[0].joined_at, "2026-01-02T03:04:00Z");
        assert_eq!(
            loaded.cursors,
            vec![("alice".to_owned(), 2), ("bob".to_owned(), 1)]
        );
    }

    #[test]
    fn torn_last_line_is_dropped_and_cut_only_in_repair_mode() {
        let torn = format!("{PY_MESSAGES}{{\"id\": 3, \"ts\": \"2026-01");
        let dir = dir_with(&[(MESSAGES_FILE, &torn)]);
        let path = dir.path().join(MESSAGES_FILE);

        let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
        assert_eq!(loaded.messages.len(), 2);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(
            loaded.warnings[0].contains("messages.jsonl:3"),
            "{}",
            loaded.warnings[0]
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            torn,
            "read-only mode must not touch the file"
        );

        let loaded = load(dir.path(), Mode::Repair).unwrap();
        assert_eq!(loaded.messages.len(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), PY_MESSAGES);
    }

    #[test]
    fn complete_unterminated_last_line_is_kept_and_terminated() {
        let text = PY_MESSAGES.trim_end();
        let dir = dir_with(&[(MESSAGES_FILE, text)]);
        let loaded = load(dir.path(), Mode::Repair).unwrap();
        assert_eq!(loaded.messages.len(), 2);
        assert!(loaded.warnings.is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap(),
            PY_MESSAGES
        );
    }

    #[test]
    fn corruption_before_the_end_names_file_and_line() {
        let text = format!("{{\"id\": 1, broken\n{PY_MESSAGES}");
        let dir = dir_with(&[(MESSAGES_FILE, &text)]);
        let err = load(dir.path(), Mode::Repair).unwrap_err().to_string();
        assert!(err.contains("messages.jsonl:1:"), "{err}");
        let dir = dir_with(&[(CURSORS_FILE, "{\n \"alice\": \"x\"\n}")]);
        let err = load(dir.path(), Mode::Repair).unwrap_err().to_string();
        assert!(err.contains("cursors.json:2:"), "{err}");
    }

    #[test]
    fn gitignore_gets_one_line_once() {
        let dir = dir_with(&[(".gitignore", "target")]);
        ensure_gitignored(dir.path()).unwrap();
        ensure_gitignored(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
            "target\n.chatroom/\n"
        );
        let fresh = dir_with(&[]);
        ensure_gitignored(fresh.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(fresh.path().join(".gitignore")).unwrap(),
            ".chatroom/\n"
        );
    }
}
