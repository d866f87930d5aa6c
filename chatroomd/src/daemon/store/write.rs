//! Writing `.chatroom/`: the [`Store`] of the owner (a batch journalled and synced once,
//! then written to the compatible files; checkpoints; the keys file's rewrite; the lazy flush),
//! the append-only [`Log`]s, and the atomic replacement of a JSON object.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use protocol::{Participant, Topic};

use crate::daemon::dedupe::KeyRecord;
use crate::daemon::fault;
use crate::daemon::journal::{JOURNAL_FILE, Record};
use crate::daemon::room::{Changes, ImportRecord, Room};

use super::*;

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

/// When a checkpoint runs. It syncs every compatible file the journal fed and empties the
/// journal: a few syncs, shared by many batches and paid while the room is quiet, off every
/// reply's path. A journal of [`CHECKPOINT_RECORDS`] records or [`CHECKPOINT_BYTES`] bytes is
/// checkpointed at once, however busy the room (its replies are sent first); one of
/// [`IDLE_CHECKPOINT_RECORDS`] records once no batch was stored for [`CHECKPOINT_IDLE`]; any
/// other once none was stored for [`CHECKPOINT_QUIET`]. A start replays at most the busy bound.
pub(super) const CHECKPOINT_RECORDS: usize = 1024;
pub(super) const CHECKPOINT_BYTES: u64 = 4 << 20;
pub(super) const IDLE_CHECKPOINT_RECORDS: usize = 64;
pub(super) const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);
pub(super) const CHECKPOINT_QUIET: Duration = Duration::from_secs(60);

/// The open files of one room, written only by the owner.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Every batch, synced once; the compatible files below are written from it unsynced and
    /// synced at a checkpoint (see `journal`).
    journal: Journal,
    /// Records in the journal since it was last emptied.
    journal_records: usize,
    /// The records and bytes at which a busy room's next checkpoint is due: a failed one waits
    /// as long again before it is tried, so a disk that refuses syncs is not asked after every
    /// batch.
    checkpoint_at: (usize, u64),
    /// The records the journal held when a checkpoint last failed (0 after one succeeds): a
    /// quiet room retries only once the journal has grown past them.
    failed_at: usize,
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
        let journal = Journal::open(state_dir)?;
        let store = Self {
            journal,
            journal_records: 0,
            checkpoint_at: (CHECKPOINT_RECORDS, CHECKPOINT_BYTES),
            failed_at: 0,
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
        self.store(&record, Durability::Now)?;
        self.key_lines += keys.len();
        Ok(())
    }

    /// Journals `record` (synced, or left to the next sync), then writes it to the compatible
    /// files; all or nothing.
    pub(super) fn store(
        &mut self,
        record: &Record,
        journal: Durability,
    ) -> Result<(), PersistError> {
        self.buffer.clear();
        record.encode(&mut self.buffer);
        if let Err(err) = self.journal.append(&self.buffer, journal) {
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

    /// When the next [`Store::checkpoint`] is due, given when the last batch was stored (see
    /// [`CHECKPOINT_RECORDS`] for the rules); `None` while the journal holds nothing to sync.
    pub fn checkpoint_due_at(&self, last_stored: Instant) -> Option<Instant> {
        let records = self.journal_records;
        if records >= self.checkpoint_at.0 || self.journal.len >= self.checkpoint_at.1 {
            Some(last_stored)
        } else if records >= self.failed_at + IDLE_CHECKPOINT_RECORDS {
            Some(last_stored + CHECKPOINT_IDLE)
        } else if records > self.failed_at {
            Some(last_stored + CHECKPOINT_QUIET)
        } else {
            None
        }
    }

    /// Syncs every compatible file the journal fed since the last checkpoint, then empties the
    /// journal. On an error the journal keeps its records (a start replays them) and the next
    /// checkpoint tries again.
    pub fn checkpoint(&mut self) -> Result<(), PersistError> {
        if self.journal.len == 0 {
            return Ok(());
        }
        let result = self.sync_and_empty_journal();
        (self.checkpoint_at, self.failed_at) = match result {
            Ok(()) => ((CHECKPOINT_RECORDS, CHECKPOINT_BYTES), 0),
            Err(_) => (
                (
                    self.journal_records + CHECKPOINT_RECORDS,
                    self.journal.len + CHECKPOINT_BYTES,
                ),
                self.journal_records,
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

    /// Checkpoints, then cuts the (then all-zero) journal to 0 bytes and syncs it: what a clean
    /// stop leaves, so that a journal of 0 bytes tells tools no daemon left batches behind. On a
    /// failed checkpoint the journal keeps its records, for the next start to replay. The store
    /// stays usable: a later record pads the journal again.
    pub fn close(&mut self) -> Result<(), PersistError> {
        self.checkpoint()?;
        self.journal.truncate()
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
    /// `last_activity_ts`). Like a batch, it goes through the journal, but its record is not
    /// synced on its own: nobody waits for it, and the next batch's sync (or the checkpoint)
    /// makes it durable with that batch. A crash before then loses at most this flush, which is
    /// lazy by definition; a start cuts a torn record off the journal's tail.
    pub fn write_lazy(&mut self, room: &Room) -> Result<(), PersistError> {
        let record = Record {
            participants: Some(pretty_json(PARTICIPANTS_FILE, &participants_object(room))?),
            topics: room
                .has_topics()
                .then(|| pretty_json(TOPICS_FILE, &topics_object(room)))
                .transpose()?,
            ..Record::default()
        };
        self.store(&record, Durability::Later)
    }
}

impl Drop for Store {
    /// A store dropped while its journal holds no records (after the clean stop's checkpoint)
    /// cuts the journal's zero padding off, as [`Store::close`] does: cutting zeros loses
    /// nothing, whenever it happens. A journal still holding records is left for a start.
    fn drop(&mut self) {
        if self.journal.len == 0
            && self.journal.appended == 0
            && let Err(err) = self.journal.truncate()
        {
            tracing::warn!(file = JOURNAL_FILE, cause = %err.cause, "could not cut the journal's zero padding off");
        }
    }
}

/// `topics.json`: v2's `id → topic`.
pub(super) fn topics_object(room: &Room) -> BTreeMap<String, Topic> {
    room.topics()
        .into_iter()
        .map(|topic| (topic.id.clone(), topic))
        .collect()
}

/// `topic_cursors.json`: v2's `name → {topic_id → id}`.
pub(super) fn topic_cursors_object(room: &Room) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut object: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (name, topic, id) in room.topic_cursors() {
        object.entry(name).or_default().insert(topic, id);
    }
    object
}

/// `imports.json`: `fingerprint → import`.
pub(super) fn imports_object(room: &Room) -> BTreeMap<String, ImportRecord> {
    room.imports()
        .into_iter()
        .map(|record| (record.fingerprint.clone(), record))
        .collect()
}

pub(super) fn participants_object(room: &Room) -> BTreeMap<String, Participant> {
    room.participants()
        .into_iter()
        .map(|participant| (participant.name.clone(), participant))
        .collect()
}

/// An append-only JSONL file, and how much of it is committed: appended
/// and kept.
#[derive(Debug)]
pub(super) struct Log {
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

/// Whether a write is synced at once, or left to a later sync: a checkpoint's, for what the
/// journal holds, or the next batch's, for a lazy journal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
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

/// How much of the journal is written with zeros ahead of its records, and how much more when a
/// record would end past the file: records are then overwrites inside the file's size, which an
/// `fdatasync` makes durable without also writing the inode (the size).
pub(super) const JOURNAL_PREALLOC: u64 = 256 << 10;
/// Zeros are written in chunks of this size.
const ZERO_CHUNK: usize = 64 * 1024;

/// The journal: records written in place from offset 0 over zero padding (see `journal`'s
/// decode, which stops at a zero header), not appended. Zeros past the committed records are
/// always harmless, so the file's size is only a hint of how much padding there is.
#[derive(Debug)]
pub(super) struct Journal {
    file: File,
    /// The committed length: the bytes of the records kept, from offset 0.
    len: u64,
    /// The file's length as last known (written zeros or records); records ending within it
    /// are overwrites.
    size: u64,
    /// Bytes of the current batch's record written at `len`, until committed or abandoned.
    appended: u64,
    /// An earlier failed record could not be cut off: cut before the next one.
    cut_pending: bool,
    /// A chunk of zeros, allocated once.
    zeros: Vec<u8>,
}

impl Journal {
    /// Opens (creating) the journal of `dir`, which must hold no records (a start replays them
    /// first, [`crate::daemon::journal::recover`]): only nothing or zero padding is accepted.
    /// Pads it with zeros to [`JOURNAL_PREALLOC`] and syncs that, as well as the disk allows: a
    /// file-size limit or a full disk leaves less padding, and records then grow the file.
    fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join(JOURNAL_FILE);
        if crate::daemon::journal::holds_records(&path)? {
            return Err(io::Error::other(
                "the journal holds batches not yet replayed into the room's files",
            ));
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let mut journal = Self {
            size: file.metadata()?.len(),
            file,
            len: 0,
            appended: 0,
            cut_pending: false,
            zeros: vec![0; ZERO_CHUNK],
        };
        if journal.size < JOURNAL_PREALLOC {
            let padded = journal
                .zero(journal.size, JOURNAL_PREALLOC)
                .and_then(|()| journal.file.sync_data());
            if let Err(err) = padded {
                tracing::warn!(file = JOURNAL_FILE, cause = %err, "could not pad the journal with zeros; its records will grow it instead");
            }
            journal.size = journal.file.metadata()?.len();
        }
        Ok(journal)
    }

    /// Writes zeros over `[from, to)`, unsynced.
    fn zero(&self, from: u64, to: u64) -> io::Result<()> {
        let mut at = from;
        while at < to {
            let chunk = (to - at).min(ZERO_CHUNK as u64) as usize;
            self.file.write_all_at(&self.zeros[..chunk], at)?;
            at += chunk as u64;
        }
        Ok(())
    }

    /// Writes the framed `record` after the committed ones, durable at once or at the next
    /// sync (the next record's or a checkpoint's); it counts once committed. A record that
    /// would end past the file first extends it with at least [`JOURNAL_PREALLOC`] zeros (the
    /// record's sync covers them); if the disk refuses those, the record is still tried.
    fn append(&mut self, record: &[u8], sync: Durability) -> Result<(), PersistError> {
        if self.cut_pending {
            self.cut().map_err(PersistError::new(JOURNAL_FILE))?;
        }
        let end = self.len + record.len() as u64;
        // From here the file may hold part of a record past `len`: `abandon` cuts it off.
        self.appended = record.len() as u64;
        if end > self.size {
            let grown = (end + JOURNAL_PREALLOC).next_multiple_of(JOURNAL_PREALLOC);
            if self.zero(end, grown).is_ok() {
                self.size = grown;
            }
        }
        self.file
            .write_all_at(record, self.len)
            .map_err(PersistError::new(JOURNAL_FILE))?;
        self.size = self.size.max(end);
        match sync {
            Durability::Now => self
                .file
                .sync_data()
                .map_err(PersistError::new(JOURNAL_FILE)),
            Durability::Later => Ok(()),
        }
    }

    fn commit(&mut self) {
        self.len += self.appended;
        self.appended = 0;
    }

    /// Cuts off the record of a refused batch (see [`Log::abandon`]).
    fn abandon(&mut self) {
        if self.appended == 0 && !self.cut_pending {
            return;
        }
        self.appended = 0;
        if let Err(err) = self.cut() {
            tracing::warn!(file = JOURNAL_FILE, cause = %err, "could not cut off a failed record; retrying before the next one");
        }
    }

    /// Cuts the file back to the committed records, durably (the next record pads it again).
    fn cut(&mut self) -> io::Result<()> {
        self.cut_pending = true;
        self.file.set_len(self.len)?;
        self.file.sync_data()?;
        self.size = self.len;
        self.cut_pending = false;
        Ok(())
    }

    /// Empties the journal once a checkpoint made its records redundant: every byte they took
    /// is overwritten with zeros and synced, so that no old record can be read after a new,
    /// shorter one is written over its start. The padding stays. It is synced with `fsync`,
    /// where a batch's record is synced with `fdatasync`: the checkpoint is rare, and a count of
    /// system calls (the bench's strace) can tell the two apart.
    fn empty(&mut self) -> Result<(), PersistError> {
        self.zero(0, self.len)
            .and_then(|()| self.file.sync_all())
            .map_err(PersistError::new(JOURNAL_FILE))?;
        self.len = 0;
        Ok(())
    }

    /// Cuts an empty journal to 0 bytes, durably (a clean stop's).
    fn truncate(&mut self) -> Result<(), PersistError> {
        debug_assert_eq!(self.len, 0);
        if self.size == 0 && !self.cut_pending {
            return Ok(());
        }
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_data())
            .map_err(PersistError::new(JOURNAL_FILE))?;
        self.size = 0;
        self.cut_pending = false;
        Ok(())
    }
}

pub(super) fn encode_lines<T: serde::Serialize>(records: &[T]) -> Result<Vec<u8>, PersistError> {
    let mut buffer = Vec::with_capacity(records.len() * 192);
    for record in records {
        serde_json::to_writer(&mut buffer, record)
            .map_err(|err| PersistError::new("a record")(io::Error::other(err)))?;
        buffer.push(b'\n');
    }
    Ok(buffer)
}

/// A JSON object as the Python server writes it: pretty, with a final newline.
pub(super) fn pretty_json<T: serde::Serialize>(
    name: &str,
    value: &T,
) -> Result<Vec<u8>, PersistError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|err| PersistError::new(name)(io::Error::other(err)))?;
    bytes.push(b'\n');
    Ok(bytes)
}

pub(super) fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

pub(super) fn dir_label(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |name| format!("{}/", name.to_string_lossy()),
    )
}

/// Writes `bytes` to the temp file of `dir/name`, synced now or left to a checkpoint; a failure
/// removes the temp file, so no partial file is left behind.
pub(super) fn stage_bytes(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sync: Durability,
) -> Result<(), PersistError> {
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
pub(super) fn write_json_atomically<T: serde::Serialize>(
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

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
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
