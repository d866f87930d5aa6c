//! The journal (`.chatroom/journal`): each stored batch as one length- and checksum-framed
//! record, appended and synced once, so a batch is durable with a single `fdatasync`.
//!
//! A record holds the very bytes the batch adds to the compatible files: the lines it appends to
//! `idempotency.jsonl`, `messages.jsonl` and `summaries.jsonl`, and the new contents of
//! `participants.json` and `cursors.json` when they changed. The store writes those bytes to the
//! compatible files after the journal is synced, without syncing them, and syncs them all at a
//! checkpoint, after which the journal is emptied. A start replays every record whose effects are
//! not all in the compatible files ([`recover`]): a line is appended only if its id (or key) is
//! not there yet, and an object is rewritten from the last record that holds it, so replaying
//! twice, or after a crash in the middle of replaying, changes nothing more.
//!
//! On disk a record is `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload]`, and
//! the payload is sections in a fixed order (keys, messages, summaries, then the objects
//! participants, cursors, topics, topic cursors, imports), each `[length: u32 LE][bytes]`, with
//! the length `u32::MAX` for an object the batch left alone. A record may end after the cursors
//! (the journal of a daemon from before topics): the objects it lacks were left alone. A record cut short by a crash, or whose checksum fails, ends the journal: it was
//! never synced, so no reply counted on it.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use crate::daemon::dedupe::KeyRecord;
use crate::daemon::store::{
    self, CURSORS_FILE, KEYS_FILE, Loaded, MESSAGES_FILE, Mode, OBJECT_FILES, PARTICIPANTS_FILE,
    SUMMARIES_FILE,
};

pub const JOURNAL_FILE: &str = "journal";

/// The header of a record: its payload's length and checksum.
const HEADER: usize = 8;
/// The fewest payload bytes a record holds: its keys, messages and summaries sections' lengths.
/// A header with a shorter length (the zeros the journal is padded with) ends the journal.
const MIN_PAYLOAD: usize = 12;
/// The section length that marks an object the batch did not change.
const ABSENT: u32 = u32::MAX;

/// What one batch adds to the compatible files, as the bytes written there.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    /// Whole lines for `idempotency.jsonl`.
    pub keys: Vec<u8>,
    /// Whole lines for `messages.jsonl`.
    pub messages: Vec<u8>,
    /// Whole lines for `summaries.jsonl`.
    pub summaries: Vec<u8>,
    /// The new `participants.json`, if the batch changed it.
    pub participants: Option<Vec<u8>>,
    /// The new `cursors.json`, if the batch changed it.
    pub cursors: Option<Vec<u8>>,
    /// The new `topics.json`, if the batch changed it.
    pub topics: Option<Vec<u8>>,
    /// The new `topic_cursors.json`, if the batch changed it.
    pub topic_cursors: Option<Vec<u8>>,
    /// The new `imports.json`, if the batch changed it.
    pub imports: Option<Vec<u8>>,
}

impl Record {
    /// Appends this record, framed, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        for section in [&self.keys, &self.messages, &self.summaries] {
            put_section(out, Some(section));
        }
        for object in self.objects() {
            put_section(out, object);
        }
        let payload = &out[start + HEADER..];
        let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let checksum = crc32(payload);
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
        out[start + 4..start + HEADER].copy_from_slice(&checksum.to_le_bytes());
    }

    fn decode_payload(mut payload: &[u8]) -> Option<Self> {
        let keys = take_section(&mut payload)??;
        let messages = take_section(&mut payload)??;
        let summaries = take_section(&mut payload)??;
        let participants = take_section(&mut payload)?;
        let cursors = take_section(&mut payload)?;
        // Absent in a record written before topics: nothing to take, the objects untouched.
        let mut optional = || match payload.is_empty() {
            true => Some(None),
            false => take_section(&mut payload),
        };
        let topics = optional()?;
        let topic_cursors = optional()?;
        let imports = optional()?;
        payload.is_empty().then_some(Self {
            keys,
            messages,
            summaries,
            participants,
            cursors,
            topics,
            topic_cursors,
            imports,
        })
    }

    /// The objects in [`OBJECT_FILES`]' order, each `None` when the batch left it alone.
    pub fn objects(&self) -> [Option<&Vec<u8>>; 5] {
        [
            self.participants.as_ref(),
            self.cursors.as_ref(),
            self.topics.as_ref(),
            self.topic_cursors.as_ref(),
            self.imports.as_ref(),
        ]
    }
}

fn put_section(out: &mut Vec<u8>, section: Option<&Vec<u8>>) {
    match section {
        Some(bytes) => {
            // A batch is bounded far below 4 GiB (frames are at most 1 MiB, batches 512 calls).
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

/// `None`: the payload is malformed; `Some(None)`: an absent object.
fn take_section(payload: &mut &[u8]) -> Option<Option<Vec<u8>>> {
    let (length, rest) = payload.split_first_chunk::<4>()?;
    let length = u32::from_le_bytes(*length);
    if length == ABSENT {
        *payload = rest;
        return Some(None);
    }
    let length = length as usize;
    if rest.len() < length {
        return None;
    }
    let (bytes, rest) = rest.split_at(length);
    *payload = rest;
    Some(Some(bytes.to_vec()))
}

/// The whole records at the start of `bytes`, and how many bytes they take. The zero padding
/// the daemon keeps after its records (a header of length 0) ends the journal, as does the first
/// record that is cut short or fails its checksum (see the module's comment).
pub fn decode(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let length = u32::from_le_bytes(header[..4].try_into().expect("four bytes")) as usize;
        if length < MIN_PAYLOAD {
            break;
        }
        let checksum = u32::from_le_bytes(header[4..].try_into().expect("four bytes"));
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + length) else {
            break;
        };
        if crc32(payload) != checksum {
            break;
        }
        let Some(record) = Record::decode_payload(payload) else {
            break;
        };
        records.push(record);
        at += HEADER + length;
    }
    (records, at)
}

/// The bytes after the whole records that are not zero padding: from the end of the records to
/// the last byte that is not zero (a torn or corrupt record), or 0 when the rest is all zeros.
pub fn torn_bytes(bytes: &[u8], whole: usize) -> usize {
    bytes[whole..]
        .iter()
        .rposition(|byte| *byte != 0)
        .map_or(0, |last| last + 1)
}

/// Whether the journal at `path` holds bytes a start would replay or drop as torn: anything
/// but zero padding. A missing journal holds nothing.
pub fn holds_records(path: &Path) -> io::Result<bool> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes.iter().any(|byte| *byte != 0)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// CRC-32 (IEEE, as zlib computes it), by the `crc32fast` crate rather than a table of ours.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// What a start found in the journal.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Whole records read.
    pub records: usize,
    /// Lines appended to the compatible files because they were not there yet.
    pub lines_replayed: usize,
    /// JSON objects written from the journal (the last version of each it holds).
    pub objects_rewritten: usize,
    /// Bytes past the last whole record (a torn or corrupt tail), dropped; the zero padding
    /// after them is not counted (see [`torn_bytes`]).
    pub torn_bytes: usize,
    /// Where a journal was set aside unreplayed because the files had moved on without it.
    pub stale: Option<std::path::PathBuf>,
}

/// Brings the compatible files in `state_dir` up to date from the journal, makes them durable
/// and empties the journal, and brings `loaded` along with them. `loaded` must be what
/// `store::load(state_dir, Mode::Repair)` has just read (the repair cuts a torn tail off each
/// JSONL file, so every line appended here starts a line of its own); it is left as such a load
/// would read the files now, so a start parses the history once. Safe to run any number of
/// times, and to be cut short anywhere (the journal is emptied only once every file it fed is
/// synced).
pub fn recover(state_dir: &Path, loaded: &mut Loaded) -> Result<Recovered, store::LoadError> {
    let path = state_dir.join(JOURNAL_FILE);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| store::LoadError::Io { path, cause }
    };
    let mut bytes = Vec::new();
    match File::open(&path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Recovered::default()),
        Err(err) => return Err(io_err(&path)(err)),
    }
    if bytes.is_empty() {
        return Ok(Recovered::default());
    }
    // The load's warnings stay: what it cut or set aside (a torn tail the journal then mends, a
    // corrupt object) is logged by the start beside the replay, so no repair goes unreported.
    let (records, whole) = decode(&bytes);
    let mut recovered = Recovered {
        records: records.len(),
        lines_replayed: 0,
        objects_rewritten: 0,
        torn_bytes: torn_bytes(&bytes, whole),
        stale: None,
    };
    let mut last_message = loaded.messages.last().map_or(0, |message| message.id);
    let mut last_summary = loaded.summaries.last().map_or(0, |summary| summary.id);
    let mut keys: HashSet<u128> = loaded.keys.iter().map(|record| record.key).collect();
    let mut appends: [(&str, Vec<u8>); 3] = [
        (KEYS_FILE, Vec::new()),
        (MESSAGES_FILE, Vec::new()),
        (SUMMARIES_FILE, Vec::new()),
    ];
    // The newest content of each object in the journal, in OBJECT_FILES' order.
    let mut objects: [Option<Vec<u8>>; 5] = Default::default();
    let corrupt = |name: &str, cause: serde_json::Error| store::LoadError::Corrupt {
        path: path.clone(),
        line: 0,
        cause: format!("a record's {name} line: {cause}"),
    };
    // A line the files already hold by its id must be that very record. If it is not, another
    // writer (a daemon of an earlier version, which knows no journal) has written the room
    // since this journal was left behind, and replaying it would put old keys and objects over
    // newer ones: it is set aside for a person to look at instead.
    let mut stale = false;
    let (mut messages, mut summaries) = (Vec::new(), Vec::new());
    for record in &records {
        for line in lines(&record.messages) {
            let message: protocol::Message =
                serde_json::from_slice(line).map_err(|err| corrupt(MESSAGES_FILE, err))?;
            if message.id <= last_message {
                let held = loaded
                    .messages
                    .binary_search_by_key(&message.id, |held| held.id)
                    .ok()
                    .map(|at| &loaded.messages[at]);
                stale |= held != Some(&message);
            }
            messages.push((line, message));
        }
        for line in lines(&record.summaries) {
            let summary: protocol::Summary =
                serde_json::from_slice(line).map_err(|err| corrupt(SUMMARIES_FILE, err))?;
            if summary.id <= last_summary {
                let held = loaded
                    .summaries
                    .binary_search_by_key(&summary.id, |held| held.id)
                    .ok()
                    .map(|at| &loaded.summaries[at]);
                stale |= held != Some(&summary);
            }
            summaries.push((line, summary));
        }
    }
    if stale {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let aside = state_dir.join(format!("{JOURNAL_FILE}.stale-{secs}"));
        std::fs::rename(&path, &aside).map_err(io_err(&path))?;
        recovered.stale = Some(aside);
        return Ok(recovered);
    }
    // What the files lack, in the order it is appended to them: the room in memory gets the same.
    let (mut new_keys, mut new_messages, mut new_summaries) = (Vec::new(), Vec::new(), Vec::new());
    for record in &records {
        for line in lines(&record.keys) {
            let key: KeyRecord =
                serde_json::from_slice(line).map_err(|err| corrupt(KEYS_FILE, err))?;
            if keys.insert(key.key) {
                push_line(&mut appends[0].1, line);
                new_keys.push(key);
            }
        }
        for (newest, object) in objects.iter_mut().zip(record.objects()) {
            if let Some(bytes) = object {
                *newest = Some(bytes.clone());
            }
        }
    }
    for (line, message) in messages {
        if message.id > last_message {
            last_message = message.id;
            push_line(&mut appends[1].1, line);
            new_messages.push(message);
        }
    }
    for (line, summary) in summaries {
        if summary.id > last_summary {
            last_summary = summary.id;
            push_line(&mut appends[2].1, line);
            new_summaries.push(summary);
        }
    }
    for (name, lines) in &appends {
        if lines.is_empty() {
            continue;
        }
        recovered.lines_replayed += lines.iter().filter(|byte| **byte == b'\n').count();
        let file_path = state_dir.join(name);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file_path)
            .map_err(io_err(&file_path))?;
        file.write_all(lines)
            .and_then(|()| file.sync_data())
            .map_err(io_err(&file_path))?;
        crate::daemon::fault::crash_at(crate::daemon::fault::Step::Recovery);
    }
    for (name, object) in OBJECT_FILES.into_iter().zip(&objects) {
        if let Some(object) = object {
            recovered.objects_rewritten += 1;
            store::write_bytes_atomically(state_dir, name, object)
                .map_err(|err| io_err(&state_dir.join(name))(err.cause))?;
            crate::daemon::fault::crash_at(crate::daemon::fault::Step::Recovery);
        }
    }
    // Every file the journal fed is durable: only now may the journal be emptied.
    let journal = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    journal
        .set_len(0)
        .and_then(|()| journal.sync_data())
        .map_err(io_err(&path))?;
    loaded.keys.extend(new_keys);
    loaded.messages.extend(new_messages);
    loaded.summaries.extend(new_summaries);
    // Each object is read from the bytes just written as a load reads its file (a corrupt one
    // would be reported and set aside), after the journal is emptied as that load used to be.
    for (name, object) in OBJECT_FILES.into_iter().zip(&objects) {
        let Some(object) = object else { continue };
        let file_path = state_dir.join(name);
        match name {
            PARTICIPANTS_FILE => {
                loaded.participants =
                    store::participants_of(&file_path, object, Mode::Repair, &mut loaded.warnings)?;
            }
            CURSORS_FILE => {
                loaded.cursors =
                    store::cursors_of(&file_path, object, Mode::Repair, &mut loaded.warnings)?;
            }
            _ => store::object_of(name, &file_path, object, Mode::Repair, loaded)?,
        }
    }
    Ok(recovered)
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
}

fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE_1: &str = "{\"id\":1,\"ts\":\"2026-01-02T03:04:05Z\",\"from\":\"ann\",\"to\":\"all\",\"content\":\"one\"}\n";
    const MESSAGE_2: &str = "{\"id\":2,\"ts\":\"2026-01-02T03:04:06Z\",\"from\":\"ann\",\"to\":\"all\",\"content\":\"two\"}\n";
    const SUMMARY_1: &str = "{\"id\":1,\"ts\":\"2026-01-02T03:04:07Z\",\"from\":\"ann\",\"scope\":\"all\",\"content\":\"done\"}\n";

    fn key_line(key: u128, id: u64) -> String {
        let record = KeyRecord {
            key,
            at: 1,
            recorded: crate::daemon::dedupe::Recorded::Message { id },
        };
        format!("{}\n", serde_json::to_string(&record).unwrap())
    }

    /// Two batches: ann's first message with its key and the cursors, then a second message, a
    /// summary and the participants.
    fn two_records() -> [Record; 2] {
        [
            Record {
                keys: key_line(10, 1).into_bytes(),
                messages: MESSAGE_1.as_bytes().to_vec(),
                cursors: Some(b"{\n  \"ann\": 1\n}\n".to_vec()),
                ..Record::default()
            },
            Record {
                keys: key_line(11, 2).into_bytes(),
                messages: MESSAGE_2.as_bytes().to_vec(),
                summaries: SUMMARY_1.as_bytes().to_vec(),
                participants: Some(b"{}\n".to_vec()),
                ..Record::default()
            },
        ]
    }

    fn journal_of(records: &[Record]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in records {
            record.encode(&mut bytes);
        }
        bytes
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap_or_default()
    }

    #[test]
    fn records_round_trip_with_absent_and_empty_sections_kept_apart() {
        let mut records = two_records().to_vec();
        records.push(Record {
            cursors: Some(Vec::new()),
            ..Record::default()
        });
        let bytes = journal_of(&records);
        assert_eq!(decode(&bytes), (records, bytes.len()));
        // The check value of CRC-32/ISO-HDLC, as zlib computes it.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn topic_objects_round_trip_and_a_record_from_before_topics_still_decodes() {
        let with_topics = Record {
            messages: MESSAGE_1.as_bytes().to_vec(),
            topics: Some(b"{\"t\": {}}".to_vec()),
            topic_cursors: Some(Vec::new()),
            imports: Some(b"{}".to_vec()),
            ..Record::default()
        };
        let bytes = journal_of(std::slice::from_ref(&with_topics));
        assert_eq!(decode(&bytes), (vec![with_topics], bytes.len()));
        // A record as a daemon from before topics framed it: five sections, nothing after.
        let old = &two_records()[0];
        let mut payload = Vec::new();
        for section in [&old.keys, &old.messages, &old.summaries] {
            put_section(&mut payload, Some(section));
        }
        put_section(&mut payload, old.participants.as_ref());
        put_section(&mut payload, old.cursors.as_ref());
        let mut framed = (payload.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&crc32(&payload).to_le_bytes());
        framed.extend_from_slice(&payload);
        assert_eq!(decode(&framed), (vec![old.clone()], framed.len()));
        // A payload with a partial trailing section is malformed, not a shorter record.
        let mut torn = payload.clone();
        torn.extend_from_slice(&[1, 0]);
        let mut framed = (torn.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&crc32(&torn).to_le_bytes());
        framed.extend_from_slice(&torn);
        assert_eq!(decode(&framed).0, Vec::<Record>::new());
    }

    #[test]
    fn recovery_rewrites_the_topic_objects_and_loads_them() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record {
            topics: Some(
                br#"{"auth": {"id": "auth", "title": "Auth", "status": "open", "created_by": "system", "created_at": "2026-01-01T00:00:00Z", "closed_at": null, "last_activity_ts": "2026-01-01T00:00:00Z"}}"#
                    .to_vec(),
            ),
            topic_cursors: Some(br#"{"ann": {"auth": 3}}"#.to_vec()),
            ..Record::default()
        };
        std::fs::write(dir.path().join(JOURNAL_FILE), journal_of(&[record])).unwrap();
        let (recovered, loaded) = start(dir.path());
        assert_eq!(recovered.objects_rewritten, 2);
        assert_eq!(loaded.topics.len(), 1);
        assert_eq!(loaded.topics[0].id, "auth");
        assert_eq!(
            loaded.topic_cursors,
            [("ann".to_owned(), "auth".to_owned(), 3)]
        );
        assert!(read(dir.path(), store::TOPICS_FILE).contains("\"auth\""));
        assert!(!dir.path().join(store::IMPORTS_FILE).exists());
    }

    #[test]
    fn a_torn_or_corrupt_tail_record_ends_the_journal() {
        let records = two_records();
        let bytes = journal_of(&records);
        let first = journal_of(&records[..1]).len();
        // Cut anywhere inside the second record: only the first is read.
        for cut in [first + 1, first + HEADER, bytes.len() - 1] {
            assert_eq!(
                decode(&bytes[..cut]),
                (records[..1].to_vec(), first),
                "cut at {cut}"
            );
        }
        // A flipped bit in the second record's payload fails its checksum.
        let mut corrupt = bytes.clone();
        corrupt[first + HEADER + 5] ^= 0x40;
        assert_eq!(decode(&corrupt), (records[..1].to_vec(), first));
        // A length past the end of the file is a torn header, not an allocation.
        let mut huge = bytes[..first].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(decode(&huge), (records[..1].to_vec(), first));
    }

    /// A start's look at `dir`: one repair-mode load, then [`recover`] on it. Checks that the
    /// room it leaves in memory is the one a load of the files now reads, record for record; a
    /// load after the repairs finds nothing to warn of, while the start keeps the first load's
    /// warnings to log them.
    fn start(dir: &Path) -> (Recovered, Loaded) {
        let journalled = std::fs::metadata(dir.join(JOURNAL_FILE)).is_ok_and(|meta| meta.len() > 0);
        let mut loaded = store::load(dir, Mode::Repair).unwrap();
        let recovered = recover(dir, &mut loaded).unwrap();
        let fresh = store::load(dir, Mode::ReadOnly).unwrap();
        assert!(fresh.warnings.is_empty(), "{:?}", fresh.warnings);
        if !journalled {
            assert_eq!(recovered, Recovered::default());
        }
        let fresh = Loaded {
            warnings: loaded.warnings.clone(),
            ..fresh
        };
        assert_eq!(loaded, fresh, "{recovered:?}");
        (recovered, loaded)
    }

    /// Nothing but a journal of [`two_records`] and a torn record after them.
    fn journal_only(dir: &Path) {
        let mut bytes = journal_of(&two_records());
        bytes.extend_from_slice(b"\x10\x00\x00\x00torn");
        std::fs::write(dir.join(JOURNAL_FILE), &bytes).unwrap();
    }

    /// The crash came after the first batch was written whole and the second batch's key and
    /// half of its message line: the key is there, the message is torn, the summary and
    /// participants never came.
    fn partly_written(dir: &Path) {
        std::fs::write(
            dir.join(KEYS_FILE),
            format!("{}{}", key_line(10, 1), key_line(11, 2)),
        )
        .unwrap();
        std::fs::write(
            dir.join(MESSAGES_FILE),
            format!("{MESSAGE_1}{}", &MESSAGE_2[..20]),
        )
        .unwrap();
        std::fs::write(dir.join(CURSORS_FILE), "{\n  \"ann\": 1\n}\n").unwrap();
        std::fs::write(dir.join(JOURNAL_FILE), journal_of(&two_records())).unwrap();
    }

    /// An older daemon gave id 2 to another message after this journal was left behind.
    fn moved_on(dir: &Path) {
        std::fs::write(
            dir.join(MESSAGES_FILE),
            format!("{MESSAGE_1}{}", MESSAGE_2.replace("two", "another")),
        )
        .unwrap();
        std::fs::write(dir.join(CURSORS_FILE), "{\"ann\": 2}").unwrap();
        std::fs::write(dir.join(JOURNAL_FILE), journal_of(&two_records())).unwrap();
    }

    /// A clean stop left no journal; the crash of a Python server tore the last message line.
    fn no_journal(dir: &Path) {
        std::fs::write(
            dir.join(MESSAGES_FILE),
            format!("{MESSAGE_1}{}", &MESSAGE_2[..20]),
        )
        .unwrap();
    }

    #[test]
    fn recovery_replays_what_is_missing_once_and_empties_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        journal_only(dir.path());
        let bytes = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();

        let (recovered, _) = start(dir.path());
        assert_eq!(
            recovered,
            Recovered {
                records: 2,
                lines_replayed: 5,
                objects_rewritten: 2,
                torn_bytes: 8,
                stale: None,
            }
        );
        let expected = [
            (MESSAGES_FILE, format!("{MESSAGE_1}{MESSAGE_2}")),
            (SUMMARIES_FILE, SUMMARY_1.to_owned()),
            (KEYS_FILE, format!("{}{}", key_line(10, 1), key_line(11, 2))),
            (PARTICIPANTS_FILE, "{}\n".to_owned()),
            (CURSORS_FILE, "{\n  \"ann\": 1\n}\n".to_owned()),
        ];
        for (name, text) in &expected {
            assert_eq!(&read(dir.path(), name), text, "{name}");
        }
        assert_eq!(read(dir.path(), JOURNAL_FILE), "", "the journal is emptied");

        // The same journal again (a crash before it was emptied): nothing is added twice.
        std::fs::write(dir.path().join(JOURNAL_FILE), &bytes).unwrap();
        let (again, loaded) = start(dir.path());
        assert_eq!(again.lines_replayed, 0, "{again:?}");
        for (name, text) in &expected {
            assert_eq!(
                &read(dir.path(), name),
                text,
                "{name} after a second recovery"
            );
        }
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.messages.len(), 2);
    }

    #[test]
    fn recovery_finishes_a_batch_whose_files_were_partly_written() {
        let dir = tempfile::tempdir().unwrap();
        partly_written(dir.path());

        let (recovered, loaded) = start(dir.path());
        assert_eq!(recovered.lines_replayed, 2, "{recovered:?}");
        assert_eq!(
            read(dir.path(), MESSAGES_FILE),
            format!("{MESSAGE_1}{MESSAGE_2}"),
            "the torn line is cut and written whole once"
        );
        assert_eq!(read(dir.path(), SUMMARIES_FILE), SUMMARY_1);
        assert_eq!(
            read(dir.path(), KEYS_FILE),
            format!("{}{}", key_line(10, 1), key_line(11, 2)),
            "a key already there is not appended again"
        );
        assert_eq!(read(dir.path(), PARTICIPANTS_FILE), "{}\n");
        // The start logs the torn line it cut, beside the replay that wrote it whole.
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(
            loaded.warnings[0].contains(MESSAGES_FILE),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn a_journal_the_files_moved_on_from_is_set_aside_unreplayed() {
        let dir = tempfile::tempdir().unwrap();
        moved_on(dir.path());
        let files = read(dir.path(), MESSAGES_FILE);

        let (recovered, _) = start(dir.path());
        let aside = recovered.stale.expect("set aside");
        assert!(aside.exists() && !dir.path().join(JOURNAL_FILE).exists());
        assert_eq!(read(dir.path(), MESSAGES_FILE), files);
        assert_eq!(read(dir.path(), CURSORS_FILE), "{\"ann\": 2}");
        assert_eq!(
            read(dir.path(), KEYS_FILE),
            "",
            "no old key names the other message"
        );
    }

    #[test]
    fn no_journal_or_an_empty_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(start(dir.path()).0, Recovered::default());
        std::fs::write(dir.path().join(JOURNAL_FILE), "").unwrap();
        assert_eq!(start(dir.path()).0, Recovered::default());
        assert!(!dir.path().join(MESSAGES_FILE).exists());
    }

    /// What a start holds in memory: message and summary contents, keys, cursors, and how many
    /// repairs it logs.
    #[derive(Debug, PartialEq)]
    struct Held {
        messages: Vec<String>,
        summaries: Vec<String>,
        keys: Vec<u128>,
        cursors: Vec<(String, u64)>,
        warnings: usize,
    }

    impl Held {
        fn of(loaded: &Loaded) -> Self {
            Self {
                messages: loaded.messages.iter().map(|m| m.content.clone()).collect(),
                summaries: loaded.summaries.iter().map(|s| s.content.clone()).collect(),
                keys: loaded.keys.iter().map(|record| record.key).collect(),
                cursors: loaded.cursors.clone(),
                warnings: loaded.warnings.len(),
            }
        }

        fn new(
            messages: &[&str],
            summaries: &[&str],
            keys: &[u128],
            cursors: &[(&str, u64)],
            warnings: usize,
        ) -> Self {
            Self {
                messages: messages.iter().map(|text| (*text).to_owned()).collect(),
                summaries: summaries.iter().map(|text| (*text).to_owned()).collect(),
                keys: keys.to_vec(),
                cursors: cursors
                    .iter()
                    .map(|(name, id)| ((*name).to_owned(), *id))
                    .collect(),
                warnings,
            }
        }
    }

    #[test]
    fn a_start_loads_once_and_holds_what_a_load_after_recovery_reads() {
        type Scenario = (&'static str, fn(&Path), Held);
        let scenarios: [Scenario; 4] = [
            (
                "replay",
                journal_only,
                Held::new(&["one", "two"], &["done"], &[10, 11], &[("ann", 1)], 0),
            ),
            // The torn message line is mended from the journal, and the cut is logged.
            (
                "partly written",
                partly_written,
                Held::new(&["one", "two"], &["done"], &[10, 11], &[("ann", 1)], 1),
            ),
            (
                "stale",
                moved_on,
                Held::new(&["one", "another"], &[], &[], &[("ann", 2)], 0),
            ),
            // Without a journal the load's repair is logged, as before.
            (
                "no journal",
                no_journal,
                Held::new(&["one"], &[], &[], &[], 1),
            ),
        ];
        for (scenario, setup, expected) in scenarios {
            let dir = tempfile::tempdir().unwrap();
            setup(dir.path());
            // `start` checks the whole room against a load of the files after recovery.
            let (_, loaded) = start(dir.path());
            assert_eq!(Held::of(&loaded), expected, "{scenario}");
        }
    }

    #[test]
    fn zero_padding_ends_the_journal_and_is_not_torn() {
        let records = two_records();
        let mut bytes = journal_of(&records);
        let whole = bytes.len();
        bytes.resize(whole + 4096, 0);
        assert_eq!(decode(&bytes), (records.to_vec(), whole));
        assert_eq!(torn_bytes(&bytes, whole), 0);
        // A torn record before the padding is counted, the padding after it is not.
        bytes[whole..whole + 8].copy_from_slice(b"\x10\x00\x00\x00torn");
        assert_eq!(decode(&bytes), (records.to_vec(), whole));
        assert_eq!(torn_bytes(&bytes, whole), 8);
        assert_eq!(decode(&[0; 4096]), (Vec::new(), 0));
    }

    #[test]
    fn a_reader_without_the_zero_length_check_also_stops_at_the_padding() {
        // An older daemon's decode reads a zero header as an empty payload with checksum 0:
        // it passes the checksum and fails to parse, which ends the journal there too.
        assert_eq!(crc32(&[]), 0);
        assert_eq!(Record::decode_payload(&[]), None);
        let old_decode = |bytes: &[u8]| {
            let mut records = Vec::new();
            let mut at = 0;
            while let Some(header) = bytes.get(at..at + HEADER) {
                let length = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
                let checksum = u32::from_le_bytes(header[4..].try_into().unwrap());
                let Some(payload) = bytes.get(at + HEADER..at + HEADER + length) else {
                    break;
                };
                if crc32(payload) != checksum {
                    break;
                }
                let Some(record) = Record::decode_payload(payload) else {
                    break;
                };
                records.push(record);
                at += HEADER + length;
            }
            (records, at)
        };
        let records = two_records();
        let mut bytes = journal_of(&records);
        let whole = bytes.len();
        bytes.resize(1 << 20, 0);
        assert_eq!(old_decode(&bytes), (records.to_vec(), whole));
        assert_eq!(old_decode(&bytes), decode(&bytes));
    }

    #[test]
    fn recovery_of_records_then_zeros_replays_exactly_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = journal_of(&two_records());
        bytes.resize(1 << 20, 0);
        std::fs::write(dir.path().join(JOURNAL_FILE), &bytes).unwrap();
        let (recovered, loaded) = start(dir.path());
        assert_eq!(
            recovered,
            Recovered {
                records: 2,
                lines_replayed: 5,
                objects_rewritten: 2,
                torn_bytes: 0,
                stale: None,
            }
        );
        assert_eq!(loaded.messages.len(), 2);
        assert_eq!(
            read(dir.path(), MESSAGES_FILE),
            format!("{MESSAGE_1}{MESSAGE_2}")
        );
        // Padding alone replays nothing and reports nothing.
        std::fs::write(dir.path().join(JOURNAL_FILE), vec![0; 1 << 20]).unwrap();
        let (recovered, _) = start(dir.path());
        assert_eq!(recovered, Recovered::default());
        assert_eq!(
            read(dir.path(), MESSAGES_FILE),
            format!("{MESSAGE_1}{MESSAGE_2}")
        );
    }
}
