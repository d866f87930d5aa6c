//! Reading `.chatroom/` at start (and for the read-only commands): the JSONL histories, with a
//! torn tail repaired, and the JSON objects, a corrupt one set aside and read as empty.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::{Message, Participant, Summary, Topic};
use serde::de::DeserializeOwned;

use crate::daemon::dedupe::KeyRecord;
use crate::daemon::room::ImportRecord;

use super::*;

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
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub messages: Vec<Message>,
    pub summaries: Vec<Summary>,
    pub participants: Vec<Participant>,
    pub cursors: Vec<(String, u64)>,
    /// `topics.json`, by id.
    pub topics: Vec<Topic>,
    /// `topic_cursors.json` as `(name, topic, id)`, by name, then topic.
    pub topic_cursors: Vec<(String, String, u64)>,
    /// `imports.json`, by fingerprint.
    pub imports: Vec<ImportRecord>,
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
    // Neither object is history: participants leave when a daemon starts anyway, and a lost
    // cursor only means messages read again. So a corrupt one costs its contents, not the room,
    // and is kept aside for a person to look at.
    let path = state_dir.join(PARTICIPANTS_FILE);
    let bytes = read_object(&path)?;
    loaded.participants = participants_of(&path, &bytes, mode, &mut loaded.warnings)?;
    let path = state_dir.join(CURSORS_FILE);
    let bytes = read_object(&path)?;
    loaded.cursors = cursors_of(&path, &bytes, mode, &mut loaded.warnings)?;
    for name in [TOPICS_FILE, TOPIC_CURSORS_FILE, IMPORTS_FILE] {
        let path = state_dir.join(name);
        let bytes = read_object(&path)?;
        object_of(name, &path, &bytes, mode, &mut loaded)?;
    }
    loaded.keys = load_jsonl(&state_dir.join(KEYS_FILE), mode, &mut loaded.warnings)?;
    Ok(loaded)
}

/// The participants in `bytes`, the contents of the `participants.json` at `path`, as [`load`]
/// reads them (by name); a corrupt file is handled as [`parse_json_object`] says.
pub(crate) fn participants_of(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<Vec<Participant>, LoadError> {
    let participants: BTreeMap<String, Participant> =
        parse_json_object(path, bytes, mode, "starting with no participants", warnings)?;
    Ok(participants.into_values().collect())
}

/// The cursors in `bytes`, the contents of the `cursors.json` at `path`, as [`load`] reads them
/// (by name); a corrupt file is handled as [`parse_json_object`] says.
pub(crate) fn cursors_of(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, u64)>, LoadError> {
    let cursors: BTreeMap<String, u64> = parse_json_object(
        path,
        bytes,
        mode,
        "every cursor is reset to 0, so unread messages are read again",
        warnings,
    )?;
    Ok(cursors.into_iter().collect())
}

/// Reads one of the topic-era objects (`name`, one of [`TOPICS_FILE`], [`TOPIC_CURSORS_FILE`],
/// [`IMPORTS_FILE`]) from `bytes` into `loaded`; a corrupt file is handled as
/// [`parse_json_object`] says.
pub(crate) fn object_of(
    name: &str,
    path: &Path,
    bytes: &[u8],
    mode: Mode,
    loaded: &mut Loaded,
) -> Result<(), LoadError> {
    let warnings = &mut loaded.warnings;
    match name {
        TOPICS_FILE => {
            let topics: BTreeMap<String, Topic> = parse_json_object(
                path,
                bytes,
                mode,
                "topics named by messages are listed again, open and titled by their ids",
                warnings,
            )?;
            loaded.topics = topics.into_values().collect();
        }
        TOPIC_CURSORS_FILE => {
            let cursors: BTreeMap<String, BTreeMap<String, u64>> = parse_json_object(
                path,
                bytes,
                mode,
                "every topic cursor is reset to 0, so unread messages are read again",
                warnings,
            )?;
            loaded.topic_cursors = cursors
                .into_iter()
                .flat_map(|(name, topics)| {
                    topics
                        .into_iter()
                        .map(move |(topic, id)| (name.clone(), topic, id))
                })
                .collect();
        }
        IMPORTS_FILE => {
            let imports: BTreeMap<String, ImportRecord> = parse_json_object(
                path,
                bytes,
                mode,
                "the room no longer knows which sources it imported",
                warnings,
            )?;
            loaded.imports = imports.into_values().collect();
        }
        other => unreachable!("not a topic-era object: {other}"),
    }
    Ok(())
}

pub(super) fn load_jsonl<T: DeserializeOwned>(
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

pub(super) fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|byte| *byte == b'\n')
}

pub(super) fn truncate_file(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// The bytes of a JSON object file; a missing one reads as none (an empty object).
pub(super) fn read_object(path: &Path) -> Result<Vec<u8>, LoadError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(cause) => Err(LoadError::Io {
            path: path.to_path_buf(),
            cause,
        }),
    }
}

/// Parses `bytes`, the contents of the JSON object file at `path`. Blank bytes are empty. A
/// corrupt object is reported in `warnings` with its line and column and read as empty
/// (`consequence` says what that means); in [`Mode::Repair`] the file is also renamed to
/// `<name>.corrupt-<unix secs>` so that nothing is lost and the next change writes a fresh file.
pub(super) fn parse_json_object<T: DeserializeOwned + Default>(
    path: &Path,
    bytes: &[u8],
    mode: Mode,
    consequence: &str,
    warnings: &mut Vec<String>,
) -> Result<T, LoadError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let err = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let kept = match mode {
        Mode::ReadOnly => String::from("the file is left as it is"),
        Mode::Repair => match set_aside(path) {
            Ok(aside) => format!("the file is kept as {}", aside.display()),
            Err(cause) => {
                return Err(LoadError::Io {
                    path: path.to_path_buf(),
                    cause,
                });
            }
        },
    };
    let (line, column) = (err.line(), err.column());
    let cause = err.to_string();
    let cause = cause
        .strip_suffix(&format!(" at line {line} column {column}"))
        .unwrap_or(&cause);
    warnings.push(format!(
        "{}:{line}:{column}: not a valid JSON object ({cause}); {consequence}; {kept}",
        path.display(),
    ));
    Ok(T::default())
}

/// Renames a corrupt file to `<name>.corrupt-<unix secs>` (with a further `-N` if that is taken)
/// and makes the rename durable.
pub(super) fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut aside = dir.join(format!("{name}.corrupt-{secs}"));
    let mut attempt = 1;
    while aside.exists() {
        aside = dir.join(format!("{name}.corrupt-{secs}-{attempt}"));
        attempt += 1;
    }
    std::fs::rename(path, &aside)?;
    sync_dir(dir)?;
    Ok(aside)
}
