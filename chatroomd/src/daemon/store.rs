//! The room on disk: the compatible `.chatroom/` files, loaded at start and written durably.
//!
//! `messages.jsonl` and `summaries.jsonl` are append-only, one compact JSON record a line;
//! `participants.json` (name → participant) and `cursors.json` (name → last read id) are JSON
//! objects replaced atomically (temp file, rename). The owner batches the changes of every
//! request it has queued into one [`Store::persist`] call, which is acknowledged after a single
//! `fdatasync`: of the batch's record in the journal (see `journal`), from which the compatible
//! files are then written without a sync of their own. A checkpoint every few dozen batches,
//! and at a clean stop, syncs them and empties the journal; a start replays what a crash left
//! in it.
//!
//! Topics add three objects beside the v1 files, each written only once the room has something
//! to put in it, so a room used the v1 way keeps exactly the v1 files: `topics.json` (v2's
//! `id → topic`), `topic_cursors.json` (v2's `name → {topic_id → id}`) and `imports.json`
//! (`fingerprint → import`, see `chatroomd import`).
//!
//! A batch is stored whole or not at all: if any file cannot be written (a full disk, a file-size
//! limit, a read-only directory) the appends already made are cut off again and the JSON objects
//! are left as they were, so the owner can roll the room back and refuse the batch. Damage found
//! at load is repaired where nothing is lost (a torn last line) and set aside where the room can
//! do without the file (a corrupt `participants.json` or `cursors.json`); anything else stops the
//! start and names the place.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::{Message, Participant, Summary, Topic};
use serde::de::DeserializeOwned;

use crate::daemon::dedupe::KeyRecord;
use crate::daemon::fault;
use crate::daemon::journal::{JOURNAL_FILE, Record};
use crate::daemon::room::{Changes, ImportRecord, Room};

pub const MESSAGES_FILE: &str = "messages.jsonl";
pub const SUMMARIES_FILE: &str = "summaries.jsonl";
pub const PARTICIPANTS_FILE: &str = "participants.json";
pub const CURSORS_FILE: &str = "cursors.json";
pub const TOPICS_FILE: &str = "topics.json";
pub const TOPIC_CURSORS_FILE: &str = "topic_cursors.json";
pub const IMPORTS_FILE: &str = "imports.json";
/// Every JSON object the store replaces whole, in the order a batch writes them.
pub const OBJECT_FILES: [&str; 5] = [
    PARTICIPANTS_FILE,
    CURSORS_FILE,
    TOPICS_FILE,
    TOPIC_CURSORS_FILE,
    IMPORTS_FILE,
];
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

/// The bytes of a JSON object file; a missing one reads as none (an empty object).
fn read_object(path: &Path) -> Result<Vec<u8>, LoadError> {
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
fn parse_json_object<T: DeserializeOwned + Default>(
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
fn set_aside(path: &Path) -> io::Result<PathBuf> {
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

/// A write to `.chatroom/` that failed: which file, and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {cause}")]
pub struct PersistError {
    pub file: String,
    pub cause: io::Error,
}

impl PersistError {
    fn new(file: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let file = file.into();
        move |cause| Self { file, cause }
    }

    /// The cause as a person reads it: the operating system's words, lowercase
    /// (`no space left on device (os error 28)`).
    pub fn condition(&self) -> String {
        let text = self.cause.to_string();
        let mut chars = text.chars();
        match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => text,
        }
    }
}

/// How many journal records, or bytes, a checkpoint waits for at most: it syncs every compatible
/// file the journal fed and empties the journal, a few syncs shared by this many batches.
const CHECKPOINT_RECORDS: usize = 64;
const CHECKPOINT_BYTES: u64 = 4 << 20;

/// The open files of one room, written only by the owner thread.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Every batch, synced once; the compatible files below are written from it unsynced and
    /// synced at a checkpoint (see `journal`).
    journal: Log,
    /// Records in the journal since it was last emptied.
    journal_records: usize,
    /// The records and bytes at which the next checkpoint is due: a failed one waits as long
    /// again before it is tried, so a disk that refuses syncs is not asked after every batch.
    checkpoint_at: (usize, u64),
    messages: Log,
    summaries: Log,
    keys: Log,
    /// Lines in the keys file, live and forgotten, for deciding when to compact it.
    key_lines: usize,
    /// A failed batch may have replaced an object (`participants.json`, `cursors.json`, a topic
    /// file) with what the room then rolled back: the next batch rewrites them from the room.
    objects_stale: bool,
    /// An object was replaced since the last checkpoint and is not synced yet.
    objects_unsynced: bool,
    /// Reused between batches to build the bytes of one journal record.
    buffer: Vec<u8>,
}

impl Store {
    /// Opens (creating) the append-only files of `state_dir`, which must exist, and removes the
    /// temp files a crash in the middle of a JSON rewrite may have left. A room used for the
    /// first time (none of the four v1 files there) gets all four, the objects as `{}`, as the
    /// Python server creates them; a later start leaves a missing object missing (a corrupt one
    /// set aside stays visibly gone until the room changes it). The journal must have been
    /// replayed first ([`crate::daemon::journal::recover`]): a journal still holding records is refused.
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        let first_use = [
            MESSAGES_FILE,
            SUMMARIES_FILE,
            PARTICIPANTS_FILE,
            CURSORS_FILE,
        ]
        .iter()
        .all(|name| !state_dir.join(name).exists());
        for name in OBJECT_FILES.into_iter().chain([KEYS_FILE]) {
            match std::fs::remove_file(state_dir.join(temp_name(name))) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        let journal = Log::open(state_dir, JOURNAL_FILE)?;
        if journal.len != 0 {
            return Err(io::Error::other(
                "the journal holds batches not yet replayed into the room's files",
            ));
        }
        let store = Self {
            journal,
            journal_records: 0,
            checkpoint_at: (CHECKPOINT_RECORDS, CHECKPOINT_BYTES),
            messages: Log::open(state_dir, MESSAGES_FILE)?,
            summaries: Log::open(state_dir, SUMMARIES_FILE)?,
            keys: Log::open(state_dir, KEYS_FILE)?,
            key_lines: 0,
            dir: state_dir.to_path_buf(),
            objects_stale: false,
            objects_unsynced: false,
            buffer: Vec::with_capacity(64 * 1024),
        };
        if first_use {
            let empty: BTreeMap<String, u64> = BTreeMap::new();
            for name in [PARTICIPANTS_FILE, CURSORS_FILE] {
                write_json_atomically(state_dir, name, &empty).map_err(|err| err.cause)?;
            }
        }
        // Make the files' directory entries durable once, so later fdatasyncs suffice.
        sync_dir(&store.dir)?;
        Ok(store)
    }

    /// Makes `changes` durable, with the idempotency `keys` of the batch's writes, with one
    /// fdatasync: the batch goes to the journal as one record and is synced there, then its new
    /// lines are appended to the JSONL files and the JSON objects whose durable content changed
    /// are replaced, all unsynced (a checkpoint syncs them; until then the journal holds the
    /// batch). Returns only once the journal record is on disk. `last_seen`-only changes are
    /// left to [`Store::write_lazy`]. A crash before the compatible files are written
    /// is repaired at the next start, keys included, so a record on disk always has its key.
    ///
    /// All or nothing: on an error the appends of this call are cut off again, the journal
    /// record with them, and the JSON objects keep their old contents (or are marked to be
    /// rewritten by the next call), so the files hold what the room holds once the caller rolls
    /// the batch back.
    pub fn persist(
        &mut self,
        keys: &[KeyRecord],
        changes: &Changes,
        room: &Room,
    ) -> Result<(), PersistError> {
        let stale = self.objects_stale;
        // A topic-era object is rewritten after a failed batch only if the room has one to
        // write: a v1 room must not grow topic files.
        let topics_stale = stale && room.has_topics();
        let record = Record {
            keys: encode_lines(keys)?,
            messages: encode_lines(&changes.messages)?,
            summaries: encode_lines(&changes.summaries)?,
            participants: (changes.membership || stale)
                .then(|| pretty_json(PARTICIPANTS_FILE, &participants_object(room)))
                .transpose()?,
            cursors: (changes.cursors || stale)
                .then(|| {
                    let cursors: BTreeMap<String, u64> = room.cursors().into_iter().collect();
                    pretty_json(CURSORS_FILE, &cursors)
                })
                .transpose()?,
            topics: (changes.topics || topics_stale)
                .then(|| pretty_json(TOPICS_FILE, &topics_object(room)))
                .transpose()?,
            topic_cursors: (changes.topic_cursors || topics_stale)
                .then(|| pretty_json(TOPIC_CURSORS_FILE, &topic_cursors_object(room)))
                .transpose()?,
            imports: (changes.imports || (stale && !room.imports().is_empty()))
                .then(|| pretty_json(IMPORTS_FILE, &imports_object(room)))
                .transpose()?,
        };
        self.store(&record)?;
        self.key_lines += keys.len();
        Ok(())
    }

    /// Journals `record`, then writes it to the compatible files; all or nothing.
    fn store(&mut self, record: &Record) -> Result<(), PersistError> {
        self.buffer.clear();
        record.encode(&mut self.buffer);
        if let Err(err) = self.journal.append(&self.buffer, Durability::Now) {
            self.journal.abandon();
            return Err(err);
        }
        fault::crash_at(fault::Step::JournalSynced);
        let mut staged = Vec::new();
        let result = self.write_compatible(record, &mut staged);
        if result.is_ok() {
            self.journal.commit();
            self.journal_records += 1;
            self.keys.commit();
            self.messages.commit();
            self.summaries.commit();
            self.objects_stale = false;
            fault::crash_at(fault::Step::FilesWritten);
        } else {
            // A key left on disk for a write that was refused could later name another write
            // with the same id: the keys are cut off with the rest, and the journal record too,
            // so that no start replays a refused batch.
            self.journal.abandon();
            self.keys.abandon();
            self.messages.abandon();
            self.summaries.abandon();
            for temp in staged {
                let _ = std::fs::remove_file(self.dir.join(temp_name(temp)));
            }
        }
        result
    }

    /// Writes a journalled record to the compatible files, unsynced, in the order that leaves
    /// the least to undo: the JSON objects to temp files first (where a full disk shows), then
    /// the logs are appended, and only then are the temp files renamed over the objects.
    fn write_compatible(
        &mut self,
        record: &Record,
        staged: &mut Vec<&'static str>,
    ) -> Result<(), PersistError> {
        for (name, object) in OBJECT_FILES.into_iter().zip(record.objects()) {
            if let Some(bytes) = object {
                stage_bytes(&self.dir, name, bytes, Durability::Later)?;
                staged.push(name);
            }
        }
        for (log, bytes) in [
            (&mut self.keys, &record.keys),
            (&mut self.messages, &record.messages),
            (&mut self.summaries, &record.summaries),
        ] {
            if !bytes.is_empty() {
                log.append(bytes, Durability::Later)?;
            }
        }
        if !staged.is_empty() {
            // From the first rename on, an object may hold what the room is about to roll back.
            self.objects_stale = true;
            self.objects_unsynced = true;
            while let Some(name) = staged.first().copied() {
                std::fs::rename(self.dir.join(temp_name(name)), self.dir.join(name))
                    .map_err(PersistError::new(name))?;
                staged.remove(0);
            }
        }
        Ok(())
    }

    /// Whether enough batches are journalled for a [`Store::checkpoint`].
    pub fn checkpoint_due(&self) -> bool {
        self.journal_records >= self.checkpoint_at.0 || self.journal.len >= self.checkpoint_at.1
    }

    /// Syncs every compatible file the journal fed since the last checkpoint, then empties the
    /// journal. On an error the journal keeps its records (a start replays them) and the next
    /// checkpoint tries again.
    pub fn checkpoint(&mut self) -> Result<(), PersistError> {
        if self.journal.len == 0 {
            return Ok(());
        }
        let result = self.sync_and_empty_journal();
        self.checkpoint_at = match result {
            Ok(()) => (CHECKPOINT_RECORDS, CHECKPOINT_BYTES),
            Err(_) => (
                self.journal_records + CHECKPOINT_RECORDS,
                self.journal.len + CHECKPOINT_BYTES,
            ),
        };
        result
    }

    fn sync_and_empty_journal(&mut self) -> Result<(), PersistError> {
        for log in [&mut self.keys, &mut self.messages, &mut self.summaries] {
            log.sync()?;
        }
        if self.objects_unsynced {
            for name in OBJECT_FILES {
                match File::open(self.dir.join(name)) {
                    Ok(file) => file.sync_all().map_err(PersistError::new(name))?,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => return Err(PersistError::new(name)(err)),
                }
            }
            sync_dir(&self.dir).map_err(PersistError::new(dir_label(&self.dir)))?;
            self.objects_unsynced = false;
        }
        fault::crash_at(fault::Step::Checkpoint);
        self.journal.empty()?;
        self.journal_records = 0;
        Ok(())
    }

    /// Replaces the keys file with `records` (the keys still remembered), atomically, to keep
    /// it from growing without bound: the new file is written and synced beside the old one and
    /// renamed over it, so a crash leaves the old file or the new one, each with every live key.
    pub fn rewrite_keys(&mut self, records: &[KeyRecord]) -> Result<(), PersistError> {
        self.buffer = encode_lines(records)?;
        let temp = self.dir.join(temp_name(KEYS_FILE));
        // The new file is opened for appending before it is renamed into place, so that once
        // the rename is done nothing can fail that would leave the appends going to the old,
        // unlinked file.
        let written = std::fs::write(&temp, &self.buffer)
            .and_then(|()| Log::open_path(&temp, KEYS_FILE))
            .and_then(|log| {
                log.file.sync_all()?;
                std::fs::rename(&temp, self.dir.join(KEYS_FILE))?;
                Ok(log)
            });
        let log = match written {
            Ok(log) => log,
            Err(err) => {
                let _ = std::fs::remove_file(&temp);
                return Err(PersistError::new(KEYS_FILE)(err));
            }
        };
        self.keys = log;
        self.key_lines = records.len();
        // The new file is in place (a crash from here on finds it); the directory sync makes the
        // rename itself durable.
        sync_dir(&self.dir).map_err(PersistError::new(dir_label(&self.dir)))
    }

    /// Tells the store how many lines the keys file held at load (it does not read it itself).
    pub fn set_key_lines(&mut self, lines: usize) {
        self.key_lines = lines;
    }

    /// Lines in the keys file now: those loaded, appended since, or rewritten.
    pub fn key_lines(&self) -> usize {
        self.key_lines
    }

    /// Replaces `participants.json` with the room's current participants, and `topics.json`
    /// with its topics when it has any: the lazily written state (`last_seen`, a topic's
    /// `last_activity_ts`). Like a batch, it goes through the journal, so it costs one sync.
    pub fn write_lazy(&mut self, room: &Room) -> Result<(), PersistError> {
        let record = Record {
            participants: Some(pretty_json(PARTICIPANTS_FILE, &participants_object(room))?),
            topics: room
                .has_topics()
                .then(|| pretty_json(TOPICS_FILE, &topics_object(room)))
                .transpose()?,
            ..Record::default()
        };
        self.store(&record)
    }
}

/// `topics.json`: v2's `id → topic`.
fn topics_object(room: &Room) -> BTreeMap<String, Topic> {
    room.topics()
        .into_iter()
        .map(|topic| (topic.id.clone(), topic))
        .collect()
}

/// `topic_cursors.json`: v2's `name → {topic_id → id}`.
fn topic_cursors_object(room: &Room) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut object: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (name, topic, id) in room.topic_cursors() {
        object.entry(name).or_default().insert(topic, id);
    }
    object
}

/// `imports.json`: `fingerprint → import`.
fn imports_object(room: &Room) -> BTreeMap<String, ImportRecord> {
    room.imports()
        .into_iter()
        .map(|record| (record.fingerprint.clone(), record))
        .collect()
}

fn participants_object(room: &Room) -> BTreeMap<String, Participant> {
    room.participants()
        .into_iter()
        .map(|participant| (participant.name.clone(), participant))
        .collect()
}

/// An append-only file (a JSONL file or the journal), and how much of it is committed: appended
/// and kept.
#[derive(Debug)]
struct Log {
    name: &'static str,
    file: File,
    /// The committed length; the file never keeps more than this past a failed batch, unless
    /// even cutting it failed (then `cut_pending`).
    len: u64,
    /// Bytes of the current batch appended beyond `len`, until it is committed or abandoned.
    appended: u64,
    /// An earlier failed append could not be cut off: cut before the next append.
    cut_pending: bool,
    /// Appended to without a sync since the last [`Log::sync`].
    unsynced: bool,
}

/// Whether a write is synced at once, or left to a checkpoint because the journal holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Now,
    Later,
}

impl Log {
    fn open(dir: &Path, name: &'static str) -> io::Result<Self> {
        Self::open_path(&dir.join(name), name)
    }

    /// Opens the file at `path`, known as `name` in errors.
    fn open_path(path: &Path, name: &'static str) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            name,
            file,
            len,
            appended: 0,
            cut_pending: false,
            unsynced: false,
        })
    }

    /// Appends `bytes` (whole lines or whole records), durable at once or at the next
    /// [`Log::sync`]; they count once committed.
    fn append(&mut self, bytes: &[u8], sync: Durability) -> Result<(), PersistError> {
        if self.cut_pending {
            self.cut().map_err(PersistError::new(self.name))?;
        }
        // From here the file may hold a partial line past `len`: a short write (a file-size
        // limit, a full disk) or a failed sync leave one, and `abandon` cuts it off.
        self.appended = bytes.len() as u64;
        self.file
            .write_all(bytes)
            .map_err(PersistError::new(self.name))?;
        match sync {
            Durability::Now => self.file.sync_data().map_err(PersistError::new(self.name)),
            Durability::Later => {
                self.unsynced = true;
                Ok(())
            }
        }
    }

    /// Makes every append since the last sync durable.
    fn sync(&mut self) -> Result<(), PersistError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(PersistError::new(self.name))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Cuts the whole file off (the journal, once a checkpoint made its records redundant).
    fn empty(&mut self) -> Result<(), PersistError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_data())
            .map_err(PersistError::new(self.name))?;
        self.len = 0;
        Ok(())
    }

    fn commit(&mut self) {
        self.len += self.appended;
        self.appended = 0;
    }

    /// Cuts off what this batch appended. If even that fails, the next append tries again
    /// first, and a load in between drops a torn tail; lines are never glued or duplicated.
    fn abandon(&mut self) {
        if self.appended == 0 && !self.cut_pending {
            return;
        }
        self.appended = 0;
        if let Err(err) = self.cut() {
            tracing::warn!(file = self.name, cause = %err, "could not cut off a failed append; retrying before the next one");
        }
    }

    fn cut(&mut self) -> io::Result<()> {
        self.cut_pending = true;
        if self.file.metadata()?.len() != self.len {
            self.file.set_len(self.len)?;
            // Writes go to the end (O_APPEND), which is `len` again. Make the shorter length
            // durable, so that a crash cannot bring refused lines back.
            self.file.sync_data()?;
        }
        self.cut_pending = false;
        Ok(())
    }
}

fn encode_lines<T: serde::Serialize>(records: &[T]) -> Result<Vec<u8>, PersistError> {
    let mut buffer = Vec::with_capacity(records.len() * 192);
    for record in records {
        serde_json::to_writer(&mut buffer, record)
            .map_err(|err| PersistError::new("a record")(io::Error::other(err)))?;
        buffer.push(b'\n');
    }
    Ok(buffer)
}

/// A JSON object as the Python server writes it: pretty, with a final newline.
fn pretty_json<T: serde::Serialize>(name: &str, value: &T) -> Result<Vec<u8>, PersistError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|err| PersistError::new(name)(io::Error::other(err)))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

fn dir_label(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |name| format!("{}/", name.to_string_lossy()),
    )
}

/// Writes `bytes` to the temp file of `dir/name`, synced now or left to a checkpoint; a failure
/// removes the temp file, so no partial file is left behind.
fn stage_bytes(dir: &Path, name: &str, bytes: &[u8], sync: Durability) -> Result<(), PersistError> {
    let temp = dir.join(temp_name(name));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        match sync {
            Durability::Now => file.sync_all(),
            Durability::Later => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(PersistError::new(temp_name(name)))
}

/// Writes `value` as pretty JSON to `dir/name` through a temp file, fsync and rename, so a reader
/// (or a crash) sees the old or the new file, never a mix.
fn write_json_atomically<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<(), PersistError> {
    write_bytes_atomically(dir, name, &pretty_json(name, value)?)
}

/// Writes `bytes` to `dir/name` through a synced temp file and a rename, then syncs the
/// directory: durable, and old or new to any reader, never a mix.
pub fn write_bytes_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PersistError> {
    stage_bytes(dir, name, bytes, Durability::Now)?;
    let renamed = std::fs::rename(dir.join(temp_name(name)), dir.join(name));
    if renamed.is_err() {
        let _ = std::fs::remove_file(dir.join(temp_name(name)));
    }
    renamed.map_err(PersistError::new(name))?;
    sync_dir(dir).map_err(PersistError::new(dir_label(dir)))
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
    }

    #[test]
    fn a_corrupt_object_is_reported_set_aside_and_read_as_empty() {
        let participants = "{\n  \"alice\": {\"name\": \"alice\",";
        let cursors = "{\n \"alice\": \"x\"\n}";
        let dir = dir_with(&[
            (MESSAGES_FILE, PY_MESSAGES),
            (PARTICIPANTS_FILE, participants),
            (CURSORS_FILE, cursors),
        ]);

        // Looking changes nothing.
        let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
        assert!(loaded.participants.is_empty() && loaded.cursors.is_empty());
        assert_eq!(loaded.messages.len(), 2);
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CURSORS_FILE)).unwrap(),
            cursors
        );

        let loaded = load(dir.path(), Mode::Repair).unwrap();
        assert!(loaded.participants.is_empty() && loaded.cursors.is_empty());
        assert_eq!(loaded.messages.len(), 2, "the history is untouched");
        let [participants_warning, cursors_warning] = &loaded.warnings[..] else {
            panic!("two warnings: {:?}", loaded.warnings);
        };
        assert!(
            participants_warning.contains("participants.json:2:")
                && participants_warning.contains("no participants"),
            "{participants_warning}"
        );
        assert!(
            cursors_warning.contains("cursors.json:2:13: not a valid JSON object (invalid type: string \"x\", expected u64);")
                && cursors_warning.contains("reset"),
            "{cursors_warning}"
        );
        // Each is kept aside, byte for byte, under a name the warning gives.
        for (name, text, warning) in [
            (PARTICIPANTS_FILE, participants, participants_warning),
            (CURSORS_FILE, cursors, cursors_warning),
        ] {
            assert!(!dir.path().join(name).exists(), "{name} was set aside");
            let aside: Vec<PathBuf> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| {
                    path.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("{name}.corrupt-"))
                })
                .collect();
            assert_eq!(aside.len(), 1, "{aside:?}");
            assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), text);
            assert!(
                warning.contains(&aside[0].display().to_string()),
                "{warning}"
            );
        }
        // Loading again finds nothing wrong.
        let loaded = load(dir.path(), Mode::Repair).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    /// A room with one message appended to it, and the changes to persist.
    fn one_change(room: &mut Room, request: protocol::Request) -> Changes {
        let outcome = room.handle(1, request, 1_700_000_000);
        assert!(outcome.reply.is_ok(), "{:?}", outcome.reply);
        outcome.changes
    }

    fn send(content: &str) -> protocol::Request {
        protocol::Request::SendMessage {
            topic_id: String::new(),
            name: "alice".into(),
            content: content.into(),
            to: "all".into(),
        }
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_v1_room_keeps_the_v1_files_and_a_topic_adds_the_v2_objects() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut room = Room::new();
        let changes = one_change(&mut room, send("one"));
        store.persist(&[], &changes, &room).unwrap();
        store.checkpoint().unwrap();
        let v1 = [
            "cursors.json",
            "idempotency.jsonl",
            "journal",
            "messages.jsonl",
            "participants.json",
            "summaries.jsonl",
        ];
        assert_eq!(files_in(dir.path()), v1);

        let open = protocol::Request::OpenTopic {
            topic_id: "auth".into(),
            title: "Auth".into(),
            name: String::new(),
        };
        let changes = one_change(&mut room, open);
        store.persist(&[], &changes, &room).unwrap();
        let mut changes = one_change(
            &mut room,
            protocol::Request::SendMessage {
                topic_id: "auth".into(),
                name: "alice".into(),
                content: "in auth".into(),
                to: "all".into(),
            },
        );
        changes.merge(one_change(
            &mut room,
            protocol::Request::ReadUnread {
                topic_id: "auth".into(),
                name: "bob".into(),
                limit: 10,
                mark_read: true,
            },
        ));
        store.persist(&[], &changes, &room).unwrap();
        let topics: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(TOPICS_FILE)).unwrap())
                .unwrap();
        assert_eq!(topics["auth"]["title"], "Auth");
        assert_eq!(topics["auth"]["status"], "open");
        assert_eq!(topics["auth"]["closed_at"], serde_json::Value::Null);
        let cursors: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(TOPIC_CURSORS_FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(cursors, serde_json::json!({"bob": {"auth": 2}}));
        let lines = std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap();
        let lines: Vec<&str> = lines.lines().collect();
        assert!(lines[0].starts_with(r#"{"id":1,"ts":"#) && !lines[0].contains("topic_id"));
        assert!(
            lines[1].contains(r#","topic_id":"auth","from":"alice""#),
            "{}",
            lines[1]
        );
        assert!(!dir.path().join(IMPORTS_FILE).exists());
        // And it all loads back.
        let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
        assert_eq!(loaded.topics, room.topics());
        assert_eq!(loaded.topic_cursors, room.topic_cursors());
        assert_eq!(loaded.messages[1].topic_id.as_deref(), Some("auth"));
    }

    #[test]
    fn a_corrupt_topic_object_is_set_aside_and_read_as_empty() {
        let dir = dir_with(&[(TOPICS_FILE, "{not json"), (TOPIC_CURSORS_FILE, "[1]")]);
        let loaded = load(dir.path(), Mode::Repair).unwrap();
        assert!(loaded.topics.is_empty() && loaded.topic_cursors.is_empty());
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(
            loaded.warnings[0].contains("topics.json:1:2"),
            "{:?}",
            loaded.warnings
        );
        assert!(!dir.path().join(TOPICS_FILE).exists(), "set aside");
    }

    #[test]
    fn a_failed_persist_leaves_every_file_as_it_was() {
        let dir = dir_with(&[]);
        let mut store = Store::open(dir.path()).unwrap();
        let mut room = Room::new();
        let join = protocol::Request::Join {
            name: "alice".into(),
            role: "general".into(),
        };
        let changes = one_change(&mut room, join);
        store.persist(&[], &changes, &room).unwrap();
        let changes = one_change(&mut room, send("kept"));
        store.persist(&[], &changes, &room).unwrap();
        let messages = std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap();
        let participants = std::fs::read_to_string(dir.path().join(PARTICIPANTS_FILE)).unwrap();

        // The temp file cannot be created: nothing is written at all.
        let temp = dir.path().join(temp_name(PARTICIPANTS_FILE));
        std::fs::create_dir(&temp).unwrap();
        room.begin();
        let mut changes = one_change(&mut room, send("refused"));
        changes.membership = true;
        let err = store.persist(&[], &changes, &room).unwrap_err();
        assert_eq!(err.file, ".participants.json.tmp", "{err}");
        assert!(err.condition().starts_with("is a directory"), "{err}");
        room.roll_back();
        std::fs::remove_dir(&temp).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap(),
            messages
        );

        // The rename fails after the message was appended and synced: the append is cut off.
        std::fs::remove_file(dir.path().join(PARTICIPANTS_FILE)).unwrap();
        std::fs::create_dir_all(dir.path().join(PARTICIPANTS_FILE).join("blocker")).unwrap();
        room.begin();
        let mut changes = one_change(&mut room, send("refused again"));
        changes.membership = true;
        let err = store.persist(&[], &changes, &room).unwrap_err();
        assert_eq!(err.file, PARTICIPANTS_FILE, "{err}");
        room.roll_back();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap(),
            messages
        );
        assert!(!temp.exists(), "no temp file is left behind");
        std::fs::remove_dir_all(dir.path().join(PARTICIPANTS_FILE)).unwrap();

        // The next batch writes clean lines after the kept ones and, since the objects may be
        // out of step, rewrites them too.
        let changes = one_change(&mut room, send("after"));
        store.persist(&[], &changes, &room).unwrap();
        let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let contents: Vec<&str> = loaded
            .messages
            .iter()
            .map(|message| message.content.as_str())
            .collect();
        assert_eq!(contents, ["kept", "after"]);
        assert_eq!(
            loaded.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(PARTICIPANTS_FILE)).unwrap(),
            participants
        );
    }

    #[test]
    fn a_batch_is_one_journal_record_until_a_checkpoint_and_a_refused_one_leaves_none() {
        let dir = dir_with(&[]);
        let journal_bytes = || std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut room = Room::new();
        let join = protocol::Request::Join {
            name: "alice".into(),
            role: "general".into(),
        };
        let changes = one_change(&mut room, join);
        store.persist(&[], &changes, &room).unwrap();
        let changes = one_change(&mut room, send("journalled"));
        store.persist(&[], &changes, &room).unwrap();
        let (records, whole) = crate::daemon::journal::decode(&journal_bytes());
        assert_eq!((records.len(), whole), (2, journal_bytes().len()));
        assert!(records[0].participants.is_some() && records[1].participants.is_none());
        assert_eq!(
            records[1].messages,
            std::fs::read(dir.path().join(MESSAGES_FILE)).unwrap()[records[0].messages.len()..],
            "the file gets the journal's very bytes"
        );

        // A batch the files refuse is cut off the journal too.
        let before = journal_bytes();
        std::fs::create_dir(dir.path().join(temp_name(CURSORS_FILE))).unwrap();
        room.begin();
        let mut changes = one_change(&mut room, send("refused"));
        changes.cursors = true;
        assert!(store.persist(&[], &changes, &room).is_err());
        room.roll_back();
        std::fs::remove_dir(dir.path().join(temp_name(CURSORS_FILE))).unwrap();
        assert_eq!(journal_bytes(), before);

        assert!(!store.checkpoint_due());
        store.checkpoint().unwrap();
        assert!(
            journal_bytes().is_empty(),
            "a checkpoint empties the journal"
        );
        let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
        assert_eq!(loaded.messages.len(), 1);
        assert_eq!(loaded.participants.len(), 1);
        // A store does not open over a journal nobody replayed.
        std::fs::write(dir.path().join(JOURNAL_FILE), before).unwrap();
        assert!(Store::open(dir.path()).is_err());
    }

    #[test]
    fn compacting_the_keys_keeps_the_live_ones_and_later_appends_land_in_the_new_file() {
        use crate::daemon::dedupe::Recorded;
        let key = |key: u128| KeyRecord {
            key,
            at: 1,
            recorded: Recorded::Left,
        };
        let dir = dir_with(&[]);
        let mut store = Store::open(dir.path()).unwrap();
        let room = Room::new();
        store
            .persist(&[key(1), key(2), key(3)], &Changes::default(), &room)
            .unwrap();
        assert_eq!(store.key_lines(), 3);
        store.rewrite_keys(&[key(3)]).unwrap();
        assert_eq!(store.key_lines(), 1);
        store
            .persist(&[key(4)], &Changes::default(), &room)
            .unwrap();
        assert_eq!(store.key_lines(), 2);
        let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
        let keys: Vec<u128> = loaded.keys.iter().map(|record| record.key).collect();
        assert_eq!(keys, [3, 4]);
        assert!(!dir.path().join(temp_name(KEYS_FILE)).exists());
    }

    #[test]
    fn leftover_temp_files_are_removed_at_open() {
        let dir = dir_with(&[
            (".cursors.json.tmp", "{\"half\": "),
            (".idempotency.jsonl.tmp", "{\"key\":"),
        ]);
        Store::open(dir.path()).unwrap();
        assert!(!dir.path().join(".cursors.json.tmp").exists());
        assert!(!dir.path().join(".idempotency.jsonl.tmp").exists());
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
