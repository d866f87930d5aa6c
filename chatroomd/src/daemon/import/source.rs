//! Reading a source for `chatroomd import`: a Python server's state directory (`.chatroom_v2/`,
//! or a v1 `.chatroom/` of it or of another room of ours) made into plain, checked records and a
//! fingerprint of their content.
//!
//! Every record is checked before anything is imported, so that a source is taken whole or not at
//! all: ids positive and increasing, timestamps in the contract's format, topic ids matching its
//! pattern and naming a topic of `topics.json`, names and contents within its limits. The first
//! problem found stops the read, in one line that names the file, the line and what is wrong.
//! [`read`] is the only function here that touches the disk; [`parse`] does the rest from the
//! files' bytes, so that it is tested without a directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use protocol::{Message, Summary, Topic, TopicStatus};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::daemon::journal::JOURNAL_FILE;
use crate::daemon::room::{
    MAX_CONTENT_BYTES, MAX_NAME_CHARS, MAX_TITLE_CHARS, TOPIC_ID_RULE, topic_id_param,
};
use crate::shared::time::parse_ts;

// A source's files have the names the store gives ours (`topic_cursors.json` is ours only; the
// journal holds batches a daemon of ours acknowledged but may not have written to the files
// yet), and its records the limits the room puts on requests.
pub use crate::daemon::store::{
    CURSORS_FILE, MESSAGES_FILE, SUMMARIES_FILE, TOPIC_CURSORS_FILE, TOPICS_FILE,
};
/// The v1 state directory (both servers', and ours).
pub use protocol::paths::STATE_DIR_NAME as V1_DIR;
/// The Python v2 server's state directory.
pub const V2_DIR: &str = ".chatroom_v2";

/// Which layout a source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Python v1 server's `.chatroom/` (and ours, which may add topics and people's marks).
    V1,
    /// The Python v2 server's `.chatroom_v2/`: every message, summary and cursor in a topic.
    V2,
}

impl Format {
    /// The name [`protocol::ImportReport::format`] carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::V1 => "v1",
            Format::V2 => "v2",
        }
    }
}

/// One stored cursor of the source: `name` has read up to `last_read_id` in one scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceCursor {
    pub name: String,
    /// `None` for the main room.
    pub topic_id: Option<String>,
    pub last_read_id: u64,
}

/// A source read whole and checked: its records in file order, and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The state directory that was read.
    pub dir: PathBuf,
    pub format: Format,
    /// Ascending ids, as in the file; main-room messages carry no topic.
    pub messages: Vec<Message>,
    /// Ascending ids, as in the file.
    pub summaries: Vec<Summary>,
    /// Sorted by id.
    pub topics: Vec<Topic>,
    /// Sorted by name, then scope (the main room first).
    pub cursors: Vec<SourceCursor>,
    /// SHA-256 of the source's history, in hex (see [`fingerprint`]).
    pub fingerprint: String,
}

/// Why a source cannot be imported: one line naming the file (and the line) and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl SourceError {
    fn at(path: &Path, line: usize, what: impl std::fmt::Display) -> Self {
        Self(format!("{}:{line}: {what}", path.display()))
    }

    fn of(path: &Path, what: impl std::fmt::Display) -> Self {
        Self(format!("{}: {what}", path.display()))
    }
}

/// The bytes of a source's files, `None` for a file that is not there.
#[derive(Debug, Clone, Default)]
pub struct SourceFiles {
    pub messages: Option<Vec<u8>>,
    pub summaries: Option<Vec<u8>>,
    pub topics: Option<Vec<u8>>,
    pub cursors: Option<Vec<u8>>,
    pub topic_cursors: Option<Vec<u8>>,
}

/// The state directory `dir` names: `dir` itself when it holds a `messages.jsonl`, else the
/// `.chatroom_v2/` or `.chatroom/` inside it (a repository's root), and the format that
/// directory has.
pub fn locate(dir: &Path) -> Result<(PathBuf, Format), SourceError> {
    let dir = std::fs::canonicalize(dir).map_err(|err| SourceError::of(dir, lowercase(&err)))?;
    if !dir.is_dir() {
        return Err(SourceError::of(&dir, "not a directory"));
    }
    if dir.join(MESSAGES_FILE).is_file() {
        let format = format_of(&dir);
        return Ok((dir, format));
    }
    let v2 = dir.join(V2_DIR);
    let v1 = dir.join(V1_DIR);
    match (
        v2.join(MESSAGES_FILE).is_file(),
        v1.join(MESSAGES_FILE).is_file(),
    ) {
        (true, false) => Ok((v2, Format::V2)),
        (false, true) => Ok((v1, Format::V1)),
        // A repository where this project's daemon ran has its `.chatroom/` beside the Python
        // server's `.chatroom_v2/`: that one is a live room (its own daemon serves it), so the
        // repository's importable history is the v2 one. Two histories of the Python servers'
        // are for the person to choose between.
        (true, true) if is_ours(&v1) => Ok((v2, Format::V2)),
        (true, true) => Err(SourceError::of(
            &dir,
            format!("holds both {V2_DIR}/ and {V1_DIR}/; name the one to import"),
        )),
        (false, false) => Err(SourceError::of(
            &dir,
            format!(
                "not a chatroom state directory (no {MESSAGES_FILE}, no {V2_DIR}/ or {V1_DIR}/)"
            ),
        )),
    }
}

/// Whether a `.chatroom/` is a room of this project's: its daemon leaves a lock and a log there.
fn is_ours(state_dir: &Path) -> bool {
    ["chatroomd.lock", "chatroomd.log", JOURNAL_FILE]
        .iter()
        .any(|name| state_dir.join(name).exists())
}

/// A state directory's format: by its name when it is one of the servers' names, else by what
/// it holds (a `topics.json` without our `topic_cursors.json` is the v2 server's).
fn format_of(dir: &Path) -> Format {
    match dir.file_name().and_then(|name| name.to_str()) {
        Some(V2_DIR) => Format::V2,
        Some(V1_DIR) => Format::V1,
        _ if dir.join(TOPICS_FILE).is_file() && !dir.join(TOPIC_CURSORS_FILE).exists() => {
            Format::V2
        }
        _ => Format::V1,
    }
}

/// Reads and checks the state directory `dir` (or the one inside it, see [`locate`]).
pub fn read(dir: &Path) -> Result<Source, SourceError> {
    let (dir, format) = locate(dir)?;
    // A daemon of ours acknowledges a batch once it is in the journal, and writes the files
    // after: a journal with records means the files may lack acknowledged writes.
    let journal = dir.join(JOURNAL_FILE);
    // Its zero padding holds nothing; a journal that cannot be read is taken to hold records.
    if !matches!(crate::daemon::journal::holds_records(&journal), Ok(false)) {
        return Err(SourceError::of(
            &journal,
            "holds writes not yet in the room's files; stop that room's daemon first (`chatroomd stop --root <its repository>`)",
        ));
    }
    let file = |name: &str| -> Result<Option<Vec<u8>>, SourceError> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(SourceError::of(&path, lowercase(&err))),
        }
    };
    let files = SourceFiles {
        messages: file(MESSAGES_FILE)?,
        summaries: file(SUMMARIES_FILE)?,
        topics: file(TOPICS_FILE)?,
        cursors: file(CURSORS_FILE)?,
        topic_cursors: match format {
            Format::V1 => file(TOPIC_CURSORS_FILE)?,
            Format::V2 => None,
        },
    };
    parse(&dir, format, &files)
}

/// Checks the files of the `format` source at `dir` and makes its records.
pub fn parse(dir: &Path, format: Format, files: &SourceFiles) -> Result<Source, SourceError> {
    let topics = parse_topics(&dir.join(TOPICS_FILE), files.topics.as_deref())?;
    let known: BTreeSet<&str> = topics.iter().map(|topic| topic.id.as_str()).collect();
    let scope = Scope {
        format,
        known: &known,
    };
    let messages = parse_jsonl(
        &dir.join(MESSAGES_FILE),
        files.messages.as_deref(),
        "message",
        |record: RawMessage| scope.message(record),
    )?;
    let summaries = parse_jsonl(
        &dir.join(SUMMARIES_FILE),
        files.summaries.as_deref(),
        "summary",
        |record: RawSummary| scope.summary(record),
    )?;
    let mut cursors = parse_cursors(
        &dir.join(CURSORS_FILE),
        files.cursors.as_deref(),
        match format {
            Format::V1 => CursorShape::MainRoom,
            Format::V2 => CursorShape::Topics,
        },
        &known,
    )?;
    cursors.extend(parse_cursors(
        &dir.join(TOPIC_CURSORS_FILE),
        files.topic_cursors.as_deref(),
        CursorShape::Topics,
        &known,
    )?);
    cursors.sort();
    let fingerprint = fingerprint(&topics, &messages, &summaries);
    Ok(Source {
        dir: dir.to_path_buf(),
        format,
        messages,
        summaries,
        topics,
        cursors,
        fingerprint,
    })
}

/// The fingerprint of a source: SHA-256 over what never changes once written, the history —
/// each topic's id, title, creator and creation time (sorted by id), then every message and
/// every summary as the compact JSON record the room stores, in file order. What a source's
/// own server changes in place (a topic's status and activity, cursors, participants) is left
/// out, so a source that was only read from or had a topic closed since is still the source
/// that was imported.
pub fn fingerprint(topics: &[Topic], messages: &[Message], summaries: &[Summary]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"chatroom import fingerprint 1\ntopics\n");
    for topic in topics {
        let fixed = (
            &topic.id,
            &topic.title,
            &topic.created_by,
            &topic.created_at,
        );
        hasher.update(serde_json::to_vec(&fixed).expect("strings serialize"));
        hasher.update(b"\n");
    }
    hasher.update(b"messages\n");
    for message in messages {
        hasher.update(serde_json::to_vec(message).expect("a message serializes"));
        hasher.update(b"\n");
    }
    hasher.update(b"summaries\n");
    for summary in summaries {
        hasher.update(serde_json::to_vec(summary).expect("a summary serializes"));
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A message line as either server writes it (`human` only ours, `topic_id` v2's and ours).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    id: i64,
    ts: String,
    #[serde(default)]
    topic_id: Option<String>,
    from: String,
    to: String,
    content: String,
    #[serde(default)]
    human: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSummary {
    id: i64,
    ts: String,
    #[serde(default)]
    topic_id: Option<String>,
    from: String,
    scope: String,
    content: String,
}

/// A `topics.json` value as the v2 server writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    id: String,
    title: String,
    status: String,
    created_by: String,
    created_at: String,
    closed_at: Option<String>,
    last_activity_ts: String,
}

/// The rules a record's scope follows: which topics exist, and whether the main room does.
struct Scope<'a> {
    format: Format,
    known: &'a BTreeSet<&'a str>,
}

impl Scope<'_> {
    fn topic(&self, topic_id: Option<String>) -> Result<Option<String>, String> {
        match topic_id {
            None if self.format == Format::V2 => Err(format!(
                "topic_id is missing (every record of a {V2_DIR}/ is in a topic)"
            )),
            None => Ok(None),
            Some(topic_id) => {
                check_topic_id(&topic_id)?;
                if !self.known.contains(topic_id.as_str()) {
                    return Err(format!(
                        "topic_id '{topic_id}' names no topic of {TOPICS_FILE}"
                    ));
                }
                Ok(Some(topic_id))
            }
        }
    }

    fn message(&self, raw: RawMessage) -> Result<(u64, Message), String> {
        let id = positive_id(raw.id)?;
        check_ts("ts", &raw.ts)?;
        let topic_id = self.topic(raw.topic_id)?;
        check_name("from", &raw.from)?;
        check_name("to", &raw.to)?;
        check_content(&raw.content)?;
        let message = Message {
            id,
            ts: raw.ts,
            topic_id,
            from: raw.from,
            to: raw.to,
            content: raw.content,
            human: raw.human,
        };
        Ok((id, message))
    }

    fn summary(&self, raw: RawSummary) -> Result<(u64, Summary), String> {
        let id = positive_id(raw.id)?;
        check_ts("ts", &raw.ts)?;
        let topic_id = self.topic(raw.topic_id)?;
        check_name("from", &raw.from)?;
        check_name("scope", &raw.scope)?;
        check_content(&raw.content)?;
        let summary = Summary {
            id,
            ts: raw.ts,
            topic_id,
            from: raw.from,
            scope: raw.scope,
            content: raw.content,
        };
        Ok((id, summary))
    }
}

/// Parses a JSONL file line by line (blank lines skipped, as both servers skip them), checking
/// each record with `check` and that ids increase. A missing file holds nothing.
fn parse_jsonl<Raw: serde::de::DeserializeOwned, T>(
    path: &Path,
    bytes: Option<&[u8]>,
    kind: &str,
    check: impl Fn(Raw) -> Result<(u64, T), String>,
) -> Result<Vec<T>, SourceError> {
    let Some(bytes) = bytes else {
        return Ok(Vec::new());
    };
    let mut records = Vec::new();
    let mut previous = 0;
    let mut lines = bytes.split(|byte| *byte == b'\n').enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let raw: Raw = serde_json::from_slice(line).map_err(|err| {
            // The last piece of a file has no newline after it: an unterminated, unparsable
            // last line is an append that was cut short.
            let torn = lines.peek().is_none();
            let what = if torn && err.is_eof() {
                format!("a torn last line (an append cut short): {err}")
            } else {
                format!("not a {kind} record: {err}")
            };
            SourceError::at(path, number, what)
        })?;
        let (id, record) = check(raw).map_err(|what| SourceError::at(path, number, what))?;
        if id <= previous {
            return Err(SourceError::at(
                path,
                number,
                format!("{kind} id {id} is not greater than the id before it ({previous})"),
            ));
        }
        previous = id;
        records.push(record);
    }
    Ok(records)
}

/// Parses `topics.json` (`id → topic`), checking every record; sorted by id.
fn parse_topics(path: &Path, bytes: Option<&[u8]>) -> Result<Vec<Topic>, SourceError> {
    let Some((map, lines)) = parse_object::<RawTopic>(path, bytes)? else {
        return Ok(Vec::new());
    };
    let mut topics = Vec::with_capacity(map.len());
    for (key, raw) in map {
        let line = lines.get(&key).copied().unwrap_or(1);
        let topic = topic_of(&key, raw)
            .map_err(|what| SourceError::at(path, line, format!("topic '{key}': {what}")))?;
        topics.push(topic);
    }
    Ok(topics)
}

fn topic_of(key: &str, raw: RawTopic) -> Result<Topic, String> {
    check_topic_id(key)?;
    if raw.id != key {
        return Err(format!("its record's id is '{}'", raw.id));
    }
    if raw.title.trim().is_empty() {
        return Err("title must not be blank".into());
    }
    check_text("title", &raw.title, MAX_TITLE_CHARS)?;
    check_name("created_by", &raw.created_by)?;
    check_ts("created_at", &raw.created_at)?;
    check_ts("last_activity_ts", &raw.last_activity_ts)?;
    let status = match raw.status.as_str() {
        "open" => TopicStatus::Open,
        "closed" => TopicStatus::Closed,
        other => return Err(format!("status '{other}' is neither open nor closed")),
    };
    match (status, &raw.closed_at) {
        (TopicStatus::Open, Some(_)) => return Err("an open topic has a closed_at".into()),
        (TopicStatus::Closed, None) => return Err("a closed topic has no closed_at".into()),
        (_, Some(closed_at)) => check_ts("closed_at", closed_at)?,
        (TopicStatus::Open, None) => {}
    }
    Ok(Topic {
        id: raw.id,
        title: raw.title,
        status,
        created_by: raw.created_by,
        created_at: raw.created_at,
        closed_at: raw.closed_at,
        last_activity_ts: raw.last_activity_ts,
    })
}

/// What the values of a cursors file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CursorShape {
    /// v1's `cursors.json`: `name → id`, the main room.
    MainRoom,
    /// v2's `cursors.json` and our `topic_cursors.json`: `name → {topic_id → id}`.
    Topics,
}

fn parse_cursors(
    path: &Path,
    bytes: Option<&[u8]>,
    shape: CursorShape,
    known: &BTreeSet<&str>,
) -> Result<Vec<SourceCursor>, SourceError> {
    let Some((map, lines)) = parse_object::<serde_json::Value>(path, bytes)? else {
        return Ok(Vec::new());
    };
    let mut cursors = Vec::new();
    for (name, value) in map {
        let line = lines.get(&name).copied().unwrap_or(1);
        let fail =
            |what: String| SourceError::at(path, line, format!("cursor of '{name}': {what}"));
        check_name("name", &name).map_err(fail)?;
        match shape {
            CursorShape::MainRoom => {
                let last_read_id = cursor_value(&value).map_err(fail)?;
                cursors.push(SourceCursor {
                    name: name.clone(),
                    topic_id: None,
                    last_read_id,
                });
            }
            CursorShape::Topics => {
                // The v2 server reads a null or empty-string entry as no cursors.
                let per_topic = match &value {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(text) if text.is_empty() => continue,
                    serde_json::Value::Object(per_topic) => per_topic,
                    _ => {
                        return Err(fail(
                            "must map topic ids to message ids (this file has no main room)".into(),
                        ));
                    }
                };
                for (topic_id, value) in per_topic {
                    let in_topic = |what: String| fail(format!("topic '{topic_id}': {what}"));
                    check_topic_id(topic_id).map_err(in_topic)?;
                    if !known.contains(topic_id.as_str()) {
                        return Err(in_topic(format!("names no topic of {TOPICS_FILE}")));
                    }
                    let last_read_id = cursor_value(value).map_err(in_topic)?;
                    cursors.push(SourceCursor {
                        name: name.clone(),
                        topic_id: Some(topic_id.clone()),
                        last_read_id,
                    });
                }
            }
        }
    }
    Ok(cursors)
}

fn cursor_value(value: &serde_json::Value) -> Result<u64, String> {
    value
        .as_u64()
        .ok_or_else(|| format!("{value} is not a message id (an integer >= 0)"))
}

/// A JSON object file's entries, and the line each top-level key is on.
type Object<V> = (BTreeMap<String, V>, BTreeMap<String, usize>);

/// A JSON object file as a map, with the line each top-level key is on (for naming where a bad
/// entry is); `None` for a missing or blank file.
fn parse_object<V: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: Option<&[u8]>,
) -> Result<Option<Object<V>>, SourceError> {
    let Some(bytes) = bytes.filter(|bytes| !bytes.iter().all(u8::is_ascii_whitespace)) else {
        return Ok(None);
    };
    let map: BTreeMap<String, V> = serde_json::from_slice(bytes).map_err(|err| {
        let (line, column) = (err.line(), err.column());
        let cause = err.to_string();
        let cause = cause
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&cause)
            .to_owned();
        SourceError::at(
            path,
            line.max(1),
            format!("not a JSON object of records: {cause}"),
        )
    })?;
    Ok(Some((map, top_level_key_lines(bytes))))
}

/// The line (1-based) of each key of the top-level object in `bytes`, which must be valid JSON.
/// Only keys at depth one count: a topic named `title` is not found inside another's record.
fn top_level_key_lines(bytes: &[u8]) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\n' => line += 1,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = index;
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    // A string holds no raw newline in valid JSON; an escape skips a byte.
                    if bytes[index] == b'\\' {
                        index += 1;
                    }
                    index += 1;
                }
                let end = (index + 1).min(bytes.len());
                let after = bytes[end..].iter().find(|byte| !byte.is_ascii_whitespace());
                if depth == 1
                    && after == Some(&b':')
                    && let Ok(key) = serde_json::from_slice::<String>(&bytes[start..end])
                {
                    lines.entry(key).or_insert(line);
                }
            }
            _ => {}
        }
        index += 1;
    }
    lines
}

fn positive_id(id: i64) -> Result<u64, String> {
    u64::try_from(id)
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("id {id} is not positive"))
}

fn check_ts(field: &str, ts: &str) -> Result<(), String> {
    match parse_ts(ts) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{field} '{ts}' is not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ"
        )),
    }
}

/// The contract's topic id rule, the room's own ([`topic_id_param`]); a stored id must already be
/// in its canonical (trimmed) form.
fn check_topic_id(topic_id: &str) -> Result<(), String> {
    match topic_id_param(topic_id) {
        Ok(Some(valid)) if valid == topic_id => Ok(()),
        _ => Err(format!("{TOPIC_ID_RULE}, not '{topic_id}'")),
    }
}

/// A name (`from`, `to`, `scope`, a cursor's name, `created_by`): not blank, at most 64
/// characters, no control characters.
fn check_name(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be blank"));
    }
    check_text(field, value, MAX_NAME_CHARS)
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.chars().nth(max_chars).is_some() {
        return Err(format!("{field} is longer than {max_chars} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(())
}

fn check_content(content: &str) -> Result<(), String> {
    if content.trim().is_empty() {
        return Err("content must not be blank".into());
    }
    if content.len() > MAX_CONTENT_BYTES {
        return Err(format!(
            "content is {} bytes, over the contract's 64 KiB",
            content.len()
        ));
    }
    Ok(())
}

/// An I/O error in the lowercase words the rest of the daemon uses.
fn lowercase(err: &io::Error) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPICS: &str = r#"{"alpha": {"closed_at": null, "created_at": "2026-04-11T12:00:00Z", "created_by": "system", "id": "alpha", "last_activity_ts": "2026-04-11T12:05:00Z", "status": "open", "title": "Alpha"}, "beta": {"closed_at": "2026-04-11T13:00:00Z", "created_at": "2026-04-11T12:01:00Z", "created_by": "claude", "id": "beta", "last_activity_ts": "2026-04-11T13:00:00Z", "status": "closed", "title": "Beta"}}"#;
    const MESSAGES: &str = concat!(
        r#"{"id": 1, "ts": "2026-04-11T12:00:01Z", "topic_id": "alpha", "from": "claude", "to": "all", "content": "start"}"#,
        "\n",
        r#"{"id": 2, "ts": "2026-04-11T12:00:02Z", "topic_id": "beta", "from": "codex", "to": "claude", "content": "hi"}"#,
        "\n",
        r#"{"id": 3, "ts": "2026-04-11T12:00:03Z", "topic_id": "alpha", "from": "codex", "to": "all", "content": "more"}"#,
        "\n",
    );
    const SUMMARIES: &str = concat!(
        r#"{"id": 1, "ts": "2026-04-11T12:05:00Z", "topic_id": "alpha", "from": "claude", "scope": "all", "content": "done"}"#,
        "\n",
    );
    const CURSORS: &str =
        r#"{"claude": {"alpha": 3, "beta": 2}, "codex": {"alpha": 1}, "gone": null}"#;

    fn v2_files() -> SourceFiles {
        SourceFiles {
            messages: Some(MESSAGES.into()),
            summaries: Some(SUMMARIES.into()),
            topics: Some(TOPICS.into()),
            cursors: Some(CURSORS.into()),
            topic_cursors: None,
        }
    }

    fn dir() -> PathBuf {
        PathBuf::from("/src/.chatroom_v2")
    }

    /// Parses `files` as `format` and returns the error's text.
    fn refusal(format: Format, files: &SourceFiles) -> String {
        parse(&dir(), format, files).unwrap_err().0
    }

    #[test]
    fn a_v2_source_becomes_its_records() {
        let source = parse(&dir(), Format::V2, &v2_files()).unwrap();
        assert_eq!(source.format, Format::V2);
        let ids: Vec<_> = source.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(source.messages[1].topic_id.as_deref(), Some("beta"));
        assert_eq!(source.messages[1].to, "claude");
        assert!(!source.messages[1].human);
        assert_eq!(source.summaries.len(), 1);
        let topics: Vec<_> = source
            .topics
            .iter()
            .map(|t| (t.id.as_str(), t.status))
            .collect();
        assert_eq!(
            topics,
            [("alpha", TopicStatus::Open), ("beta", TopicStatus::Closed)]
        );
        assert_eq!(
            source.topics[1].closed_at.as_deref(),
            Some("2026-04-11T13:00:00Z")
        );
        let cursor = |name: &str, topic: &str, id| SourceCursor {
            name: name.into(),
            topic_id: Some(topic.into()),
            last_read_id: id,
        };
        assert_eq!(
            source.cursors,
            [
                cursor("claude", "alpha", 3),
                cursor("claude", "beta", 2),
                cursor("codex", "alpha", 1)
            ]
        );
        assert_eq!(source.fingerprint.len(), 64);
    }

    #[test]
    fn a_v1_source_of_ours_brings_its_topics_and_peoples_marks() {
        let files = SourceFiles {
            messages: Some(
                concat!(
                    r#"{"id":1,"ts":"2026-01-01T00:00:00Z","from":"ana","to":"all","content":"main"}"#,
                    "\n\n",
                    r#"{"id":4,"ts":"2026-01-01T00:00:01Z","topic_id":"alpha","from":"bob","to":"all","content":"in a topic"}"#,
                    "\n",
                    r#"{"id":5,"ts":"2026-01-01T00:00:02Z","from":"eve","to":"ana","content":"a person","human":true}"#,
                    "\n",
                )
                .into(),
            ),
            summaries: None,
            topics: Some(TOPICS.into()),
            cursors: Some(r#"{"ana": 5, "bob": 0}"#.into()),
            topic_cursors: Some(r#"{"bob": {"alpha": 4}}"#.into()),
        };
        let source = parse(Path::new("/src/.chatroom"), Format::V1, &files).unwrap();
        assert_eq!(source.messages.len(), 3);
        assert_eq!(source.messages[0].topic_id, None);
        assert!(source.messages[2].human);
        let cursors: Vec<_> = source
            .cursors
            .iter()
            .map(|c| (c.name.as_str(), c.topic_id.as_deref(), c.last_read_id))
            .collect();
        assert_eq!(
            cursors,
            [
                ("ana", None, 5),
                ("bob", None, 0),
                ("bob", Some("alpha"), 4)
            ]
        );
        assert!(source.summaries.is_empty());
    }

    #[test]
    fn every_bad_record_is_named_by_file_line_and_problem() {
        let with_message_line = |line: &str| {
            let mut files = v2_files();
            files.messages = Some(format!("{MESSAGES}{line}\n").into());
            refusal(Format::V2, &files)
        };
        let msg = "/src/.chatroom_v2/messages.jsonl:4:";
        let check = |line: &str, expected: &str| {
            assert_eq!(
                with_message_line(line),
                format!("{msg} {expected}"),
                "{line}"
            );
        };
        check(
            r#"{"id": 3, "ts": "2026-04-11T12:00:03Z", "topic_id": "alpha", "from": "a", "to": "all", "content": "x"}"#,
            "message id 3 is not greater than the id before it (3)",
        );
        check(
            r#"{"id": -4, "ts": "2026-04-11T12:00:03Z", "topic_id": "alpha", "from": "a", "to": "all", "content": "x"}"#,
            "id -4 is not positive",
        );
        check(
            r#"{"id": 4, "ts": "2026-04-11 12:00:03", "topic_id": "alpha", "from": "a", "to": "all", "content": "x"}"#,
            "ts '2026-04-11 12:00:03' is not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ",
        );
        check(
            r#"{"id": 4, "ts": "2026-04-11T12:00:03Z", "topic_id": "Alpha", "from": "a", "to": "all", "content": "x"}"#,
            "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$, not 'Alpha'",
        );
        check(
            r#"{"id": 4, "ts": "2026-04-11T12:00:03Z", "topic_id": "gamma", "from": "a", "to": "all", "content": "x"}"#,
            "topic_id 'gamma' names no topic of topics.json",
        );
        check(
            r#"{"id": 4, "ts": "2026-04-11T12:00:03Z", "from": "a", "to": "all", "content": "x"}"#,
            "topic_id is missing (every record of a .chatroom_v2/ is in a topic)",
        );
        let long = "n".repeat(65);
        check(
            &format!(
                r#"{{"id": 4, "ts": "2026-04-11T12:00:03Z", "topic_id": "alpha", "from": "{long}", "to": "all", "content": "x"}}"#
            ),
            "from is longer than 64 characters",
        );
        check(
            r#"{"id": 4, "ts": "2026-04-11T12:00:03Z", "topic_id": "alpha", "from": "a", "to": "b\u0007", "content": "x"}"#,
            "to contains control characters",
        );
        check(
            r#"{"id": 4, "ts": "2026-04-11T12:00:03Z", "topic_id": "alpha", "from": "a", "to": "all", "content": "  "}"#,
            "content must not be blank",
        );
        let unknown = with_message_line(
            r#"{"id": 4, "ts": "2026-04-11T12:00:03Z", "topic_id": "alpha", "from": "a", "to": "all", "content": "x", "extra": 1}"#,
        );
        assert!(
            unknown.starts_with(&format!(
                "{msg} not a message record: unknown field `extra`"
            )),
            "{unknown}"
        );
        let broken = with_message_line("{not json");
        assert!(
            broken.starts_with(&format!("{msg} not a message record")),
            "{broken}"
        );
    }

    #[test]
    fn a_torn_last_line_is_named_as_such() {
        let mut files = v2_files();
        files.messages = Some(format!("{MESSAGES}{{\"id\": 4, \"ts\": \"2026").into());
        let error = refusal(Format::V2, &files);
        assert!(
            error.starts_with("/src/.chatroom_v2/messages.jsonl:4: a torn last line"),
            "{error}"
        );
    }

    #[test]
    fn bad_topics_and_cursors_name_the_line_of_their_entry() {
        let mut files = v2_files();
        files.topics = Some(
            "{\n  \"alpha\": {\"closed_at\": null, \"created_at\": \"2026-04-11T12:00:00Z\", \"created_by\": \"system\", \"id\": \"alpha\", \"last_activity_ts\": \"2026-04-11T12:05:00Z\", \"status\": \"open\", \"title\": \"Alpha\"},\n  \"title\": {\"closed_at\": null, \"created_at\": \"2026-04-11T12:00:00Z\", \"created_by\": \"system\", \"id\": \"title\", \"last_activity_ts\": \"2026-04-11T12:05:00Z\", \"status\": \"archived\", \"title\": \"T\"}\n}".into(),
        );
        assert_eq!(
            refusal(Format::V2, &files),
            "/src/.chatroom_v2/topics.json:3: topic 'title': status 'archived' is neither open nor closed"
        );
        let mut files = v2_files();
        files.topics = Some(
            TOPICS
                .replace(
                    r#""closed_at": "2026-04-11T13:00:00Z""#,
                    r#""closed_at": null"#,
                )
                .into(),
        );
        assert_eq!(
            refusal(Format::V2, &files),
            "/src/.chatroom_v2/topics.json:1: topic 'beta': a closed topic has no closed_at"
        );
        let mut files = v2_files();
        files.topics = Some(TOPICS.replace(r#""id": "beta""#, r#""id": "gamma""#).into());
        assert_eq!(
            refusal(Format::V2, &files),
            "/src/.chatroom_v2/topics.json:1: topic 'beta': its record's id is 'gamma'"
        );
        let mut files = v2_files();
        files.cursors = Some("{\"claude\": {\"alpha\": 3},\n \"codex\": {\"gamma\": 1}}".into());
        assert_eq!(
            refusal(Format::V2, &files),
            "/src/.chatroom_v2/cursors.json:2: cursor of 'codex': topic 'gamma': names no topic of topics.json"
        );
        let mut files = v2_files();
        files.cursors = Some(r#"{"claude": 3}"#.into());
        assert_eq!(
            refusal(Format::V2, &files),
            "/src/.chatroom_v2/cursors.json:1: cursor of 'claude': must map topic ids to message ids (this file has no main room)"
        );
        let mut files = v2_files();
        files.cursors = Some("{\"claude\": {\"alpha\": -1}}".into());
        assert_eq!(
            refusal(Format::V2, &files),
            "/src/.chatroom_v2/cursors.json:1: cursor of 'claude': topic 'alpha': -1 is not a message id (an integer >= 0)"
        );
        let mut files = v2_files();
        files.cursors = Some("{\"claude\": \n".into());
        let error = refusal(Format::V2, &files);
        assert!(
            error
                .starts_with("/src/.chatroom_v2/cursors.json:2: not a JSON object of records: EOF"),
            "{error}"
        );
    }

    #[test]
    fn the_fingerprint_follows_the_history_and_nothing_else() {
        let base = parse(&dir(), Format::V2, &v2_files()).unwrap().fingerprint;
        // Read since (cursors), a topic closed since, another directory: the same source.
        let mut files = v2_files();
        files.cursors =
            Some(r#"{"claude": {"alpha": 3, "beta": 2}, "codex": {"alpha": 3}}"#.into());
        files.topics = Some(
            TOPICS
                .replace(
                    r#""closed_at": null, "created_at": "2026-04-11T12:00:00Z""#,
                    r#""closed_at": "2026-04-12T00:00:00Z", "created_at": "2026-04-11T12:00:00Z""#,
                )
                .replace(r#""status": "open""#, r#""status": "closed""#)
                .into(),
        );
        let same = parse(Path::new("/elsewhere"), Format::V2, &files).unwrap();
        assert_eq!(same.topics[0].status, TopicStatus::Closed);
        assert_eq!(same.fingerprint, base);
        // A message more, or one word changed: another source.
        let mut files = v2_files();
        files.messages = Some(MESSAGES.replace("more", "most").into());
        assert_ne!(parse(&dir(), Format::V2, &files).unwrap().fingerprint, base);
        let mut files = v2_files();
        files.summaries = None;
        assert_ne!(parse(&dir(), Format::V2, &files).unwrap().fingerprint, base);
    }

    #[test]
    fn missing_files_are_empty_and_blank_lines_are_skipped() {
        let files = SourceFiles {
            messages: Some(b"\n  \n".to_vec()),
            ..SourceFiles::default()
        };
        let source = parse(&dir(), Format::V2, &files).unwrap();
        assert!(
            source.messages.is_empty() && source.topics.is_empty() && source.cursors.is_empty()
        );
    }

    #[test]
    fn top_level_keys_are_found_on_their_lines_only_at_depth_one() {
        let text = "{\n \"a\": {\"b\": 1,\n \"c\": \"x\\\"y\"},\n \"b\\u0041\" : 2}";
        let lines = top_level_key_lines(text.as_bytes());
        let found: Vec<_> = lines.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(found, [("a", 2), ("bA", 4)]);
    }

    #[test]
    fn locate_finds_the_state_directory_and_its_format() {
        let root = tempfile::tempdir().unwrap();
        let error = locate(root.path()).unwrap_err().0;
        assert!(
            error.ends_with(
                "not a chatroom state directory (no messages.jsonl, no .chatroom_v2/ or .chatroom/)"
            ),
            "{error}"
        );
        let v2 = root.path().join(V2_DIR);
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v2.join(MESSAGES_FILE), "").unwrap();
        let (found, format) = locate(root.path()).unwrap();
        assert_eq!(
            (found.file_name().unwrap(), format),
            (std::ffi::OsStr::new(V2_DIR), Format::V2)
        );
        assert_eq!(locate(&v2).unwrap().1, Format::V2);
        let v1 = root.path().join(V1_DIR);
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(v1.join(MESSAGES_FILE), "").unwrap();
        let error = locate(root.path()).unwrap_err().0;
        assert!(
            error.ends_with("holds both .chatroom_v2/ and .chatroom/; name the one to import"),
            "{error}"
        );
        assert_eq!(locate(&v1).unwrap().1, Format::V1);
        // Once this project's daemon has run there, its `.chatroom/` is a live room, not a source.
        std::fs::write(v1.join("chatroomd.log"), "").unwrap();
        assert_eq!(locate(root.path()).unwrap().1, Format::V2);
        // A copy under another name: a topics.json without topic_cursors.json is the v2 server's.
        let copy = root.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        std::fs::write(copy.join(MESSAGES_FILE), "").unwrap();
        assert_eq!(locate(&copy).unwrap().1, Format::V1);
        std::fs::write(copy.join(TOPICS_FILE), "{}").unwrap();
        assert_eq!(locate(&copy).unwrap().1, Format::V2);
        std::fs::write(copy.join(TOPIC_CURSORS_FILE), "{}").unwrap();
        assert_eq!(locate(&copy).unwrap().1, Format::V1);
    }

    #[test]
    fn a_journal_with_records_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let v1 = root.path().join(V1_DIR);
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(v1.join(MESSAGES_FILE), "").unwrap();
        std::fs::write(v1.join(JOURNAL_FILE), "").unwrap();
        assert!(
            read(root.path()).is_ok(),
            "an empty journal is a clean stop"
        );
        std::fs::write(v1.join(JOURNAL_FILE), vec![0; 4096]).unwrap();
        assert!(
            read(root.path()).is_ok(),
            "a journal of zero padding holds no writes"
        );
        std::fs::write(v1.join(JOURNAL_FILE), "x").unwrap();
        let error = read(root.path()).unwrap_err().0;
        assert!(
            error.contains("journal: holds writes not yet in the room's files"),
            "{error}"
        );
    }

    /// The fixtures the end-to-end tests import, read as `read` reads them.
    #[test]
    fn the_fixtures_read_as_their_readme_says() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/import");
        let v2 = read(&fixtures.join("v2")).unwrap();
        assert_eq!(v2.format, Format::V2);
        assert_eq!(
            (v2.messages.len(), v2.summaries.len(), v2.topics.len()),
            (6, 2, 2)
        );
        assert_eq!(v2.topics[1].status, TopicStatus::Closed);
        assert_eq!(v2.cursors.len(), 3);
        assert!(v2.dir.ends_with(".chatroom_v2"));
        let v1 = read(&fixtures.join("v1/chatroom")).unwrap();
        assert_eq!(v1.format, Format::V1);
        assert_eq!(
            (v1.messages.len(), v1.summaries.len(), v1.cursors.len()),
            (5, 1, 2)
        );
        assert!(v1.messages[3].human);
        let error = read(&fixtures.join("corrupt")).unwrap_err().0;
        assert!(
            error.ends_with(".chatroom_v2/messages.jsonl:3: ts '2026-04-11 12:01:00' is not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ"),
            "{error}"
        );
    }
}
