//! Where the read-only commands (`status`, `monitor`, `tail`, `export`, `topics`) get the room
//! from: the running daemon when there is one (never starting one), else the files, read without
//! changing them into a [`Room`] that answers the same requests by the same rules (visibility,
//! scopes, order, unread counts), so that a command cannot tell the two apart. For a view that
//! keeps watching the files ([`crate::commands::monitor`] with no daemon), [`JsonlTail`] reads
//! only what was appended since it last looked, and [`JsonObjectFile`] re-reads an object only
//! when the file changed. [`Scope`] is what a command's `--topic` names.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use protocol::paths::RoomPaths;
use protocol::{
    ClientKind, Message, Participant, Refusal, Request, Response, Summary, Topic, TopicListing,
};

use chatroom_client::Connection;

use crate::commands::control;
use crate::daemon::journal::JOURNAL_FILE;
use crate::daemon::room::{Caller, EVERY_SCOPE, Room};
use crate::daemon::store::{self, LoadError, Loaded};
use crate::shared::time::unix_now;
use serde::de::DeserializeOwned;

/// Records per request when paging through a room (the contract's largest `limit`).
const PAGE: i64 = 100;

/// The contract's files for topics, beside the v1 files ("On disk"): absent in a v1 room.
pub use store::{TOPIC_CURSORS_FILE, TOPICS_FILE};

/// Which part of the room a command looks at, as its `--topic` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No `--topic`: the main room, which is all there is in a room used the v1 way.
    Main,
    /// `--topic ID`: one topic.
    Topic(String),
    /// `--topic '*'`: the main room and every topic, each message saying where it belongs.
    Every,
}

impl Scope {
    /// The scope `--topic` names: none (or blank) is the main room, `*` every scope, anything
    /// else one topic, trimmed and refused in the room's words when it cannot be a topic's id.
    pub fn from_arg(topic: Option<&str>) -> Result<Self, Refusal> {
        match topic.map(str::trim) {
            None | Some("") => Ok(Self::Main),
            Some(EVERY_SCOPE) => Ok(Self::Every),
            Some(id) => topic_id(id).map(|id| Self::Topic(id.to_owned())),
        }
    }

    /// The scope as the wire names it in `topic_id`: `""`, the topic's id, or `"*"`.
    pub fn wire(&self) -> &str {
        match self {
            Self::Main => "",
            Self::Topic(id) => id,
            Self::Every => EVERY_SCOPE,
        }
    }

    /// Whether a record whose `topic_id` is `topic` belongs to this scope.
    pub fn holds(&self, topic: Option<&str>) -> bool {
        match self {
            Self::Main => topic.is_none(),
            Self::Topic(id) => topic == Some(id.as_str()),
            Self::Every => true,
        }
    }

    /// The one topic this scope is, if it is one.
    pub fn topic(&self) -> Option<&str> {
        match self {
            Self::Topic(id) => Some(id),
            Self::Main | Self::Every => None,
        }
    }
}

/// The contract's rule for a non-blank `topic_id` (`^[a-z0-9][a-z0-9._-]{0,63}$`) — the room's
/// own, with its refusal text — for the commands to refuse a bad `--topic` before they reach
/// for a daemon (a daemon started for `tail --follow` would not know better).
pub fn topic_id(value: &str) -> Result<&str, Refusal> {
    crate::daemon::room::topic_id_param(value)?
        .ok_or_else(|| Refusal::invalid(crate::daemon::room::TOPIC_ID_RULE))
}

/// The room, live or on disk.
#[derive(Debug)]
pub enum Source {
    /// A connection to the running daemon.
    Live(Box<Connection>),
    /// The room the files hold, restored as the daemon would restore it; no daemon runs.
    Disk(Box<Room>),
}

impl Source {
    /// The daemon if one runs (connected as `kind`), else the files.
    pub async fn open(paths: &RoomPaths, kind: ClientKind) -> anyhow::Result<Self> {
        match control::connect(paths, kind).await? {
            Some(connection) => Ok(Self::Live(Box::new(connection))),
            None => Ok(Self::Disk(Box::new(room_from_disk(&paths.state_dir)?))),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Self::Live(_))
    }

    /// Answers one read: the daemon's answer, or the restored room's by the same code. A
    /// refusal is an error in the room's words.
    pub async fn request(&mut self, request: Request) -> anyhow::Result<Response> {
        match self {
            Self::Live(client) => Ok(client.request(request).await?),
            // Session 0 is nobody's: the reads this answers look at no session.
            Self::Disk(room) => room
                .handle(0, request, unix_now())
                .reply
                .map_err(|refusal| anyhow::anyhow!("{refusal}")),
        }
    }

    /// Messages of `scope` with `id > since_id` (visible to `participant` when given),
    /// ascending, all of them.
    pub async fn messages_after(
        &mut self,
        since_id: u64,
        participant: Option<&str>,
        scope: &Scope,
    ) -> anyhow::Result<Vec<Message>> {
        let mut merged = Vec::new();
        for topic_id in self.scope_ids(scope).await? {
            let mut messages: Vec<Message> = Vec::new();
            loop {
                let since = messages.last().map_or(since_id, |message| message.id);
                let request = Request::ReadMessages {
                    topic_id: topic_id.clone(),
                    since_id: since as i64,
                    limit: PAGE,
                    participant: participant.unwrap_or("").to_owned(),
                };
                let Response::Messages(page) = self.request(request).await? else {
                    anyhow::bail!("unexpected reply from chatroomd to read_messages");
                };
                let done = page.len() < PAGE as usize;
                messages.extend(page);
                if done {
                    break;
                }
            }
            merged = merge_by_id(merged, messages);
        }
        Ok(merged)
    }

    /// The newest `count` (1..=100) messages of `scope` (visible to `participant` when given),
    /// ascending.
    pub async fn latest_messages(
        &mut self,
        count: usize,
        participant: Option<&str>,
        scope: &Scope,
    ) -> anyhow::Result<Vec<Message>> {
        let mut merged = Vec::new();
        for topic_id in self.scope_ids(scope).await? {
            let request = Request::GetHandoff {
                topic_id,
                name: participant.unwrap_or("").to_owned(),
                recent_limit: count as i64,
            };
            let Response::Handoff(handoff) = self.request(request).await? else {
                anyhow::bail!("unexpected reply from chatroomd to get_handoff");
            };
            merged = merge_by_id(merged, handoff.recent_messages);
        }
        let surplus = merged.len().saturating_sub(count);
        merged.drain(..surplus);
        Ok(merged)
    }

    /// The `topic_id`s whose reads make up `scope`: every topic's besides the main room's for
    /// [`Scope::Every`] (a read names one scope at a time).
    async fn scope_ids(&mut self, scope: &Scope) -> anyhow::Result<Vec<String>> {
        Ok(match scope {
            Scope::Main => vec![String::new()],
            Scope::Topic(id) => vec![id.clone()],
            Scope::Every => std::iter::once(String::new())
                .chain(
                    self.topics(TopicFilter::All, None)
                        .await?
                        .into_iter()
                        .map(|listing| listing.topic.id),
                )
                .collect(),
        })
    }

    /// Every summary of `scope`, ascending.
    pub async fn summaries(&mut self, scope: &Scope) -> anyhow::Result<Vec<Summary>> {
        let mut summaries: Vec<Summary> = Vec::new();
        loop {
            let since = summaries.last().map_or(0, |summary| summary.id);
            let request = Request::ReadSummaries {
                since_id: since as i64,
                limit: PAGE,
            };
            let Response::Summaries(page) = self.request(request).await? else {
                anyhow::bail!("unexpected reply from chatroomd to read_summaries");
            };
            let done = page.len() < PAGE as usize;
            summaries.extend(page);
            if done {
                break;
            }
        }
        summaries.retain(|summary| scope.holds(summary.topic_id.as_deref()));
        Ok(summaries)
    }

    /// The participants: present ones from the daemon, recorded ones from the files.
    pub async fn participants(&mut self) -> anyhow::Result<Vec<Participant>> {
        match self.request(Request::ListParticipants).await? {
            Response::Participants(participants) => Ok(participants),
            _ => anyhow::bail!("unexpected reply from chatroomd to list_participants"),
        }
    }

    /// `list_topics`: the topics `filter` asks for, most recently active first, each with
    /// `participant`'s progress in it when one is given.
    pub async fn topics(
        &mut self,
        filter: TopicFilter,
        participant: Option<&str>,
    ) -> anyhow::Result<Vec<TopicListing>> {
        let request = Request::ListTopics {
            name: participant.unwrap_or("").to_owned(),
            status: filter.as_str().to_owned(),
        };
        match self.request(request).await? {
            Response::Topics(topics) => Ok(topics),
            _ => anyhow::bail!("unexpected reply from chatroomd to list_topics"),
        }
    }

    /// The record of the topic `id`; refused in the room's words when there is none.
    pub async fn topic(&mut self, id: &str) -> anyhow::Result<Topic> {
        let request = Request::GetHandoff {
            topic_id: id.to_owned(),
            name: String::new(),
            recent_limit: 1,
        };
        match self.request(request).await? {
            Response::Handoff(handoff) => handoff
                .topic
                .ok_or_else(|| anyhow::anyhow!("chatroomd sent no record for topic {id}")),
            _ => anyhow::bail!("unexpected reply from chatroomd to get_handoff"),
        }
    }
}

/// `list_topics`' `status`: which topics to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopicFilter {
    Open,
    Closed,
    All,
}

impl TopicFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::All => "all",
        }
    }
}

/// Two ascending lists of messages as one (ids are one sequence across every scope).
fn merge_by_id(first: Vec<Message>, second: Vec<Message>) -> Vec<Message> {
    if first.is_empty() {
        return second;
    }
    let mut merged = Vec::with_capacity(first.len() + second.len());
    let mut second = second.into_iter().peekable();
    for message in first {
        while let Some(next) = second.next_if(|next| next.id < message.id) {
            merged.push(next);
        }
        merged.push(message);
    }
    merged.extend(second);
    merged
}

/// Reads the files without repairing anything; a torn last line is skipped.
pub fn load_from_disk(state_dir: &Path) -> anyhow::Result<Loaded> {
    Ok(store::load(state_dir, store::Mode::ReadOnly)?)
}

/// The room the files hold, as a daemon starting on them would restore it (before it removes
/// the participants nobody holds, which a person reading the files still wants to see).
pub fn room_from_disk(state_dir: &Path) -> anyhow::Result<Room> {
    let loaded = load_from_disk(state_dir)?;
    let mut room = Room::restore(
        loaded.messages,
        loaded.summaries,
        loaded.participants,
        loaded.cursors,
    )
    .map_err(|cause| anyhow::anyhow!("cannot read the room in {}: {cause}", state_dir.display()))?;
    // The repairs it reports (a topic its records name but topics.json lacks) are the daemon's
    // to log when it starts; a reader sees the room as the daemon would serve it.
    let _repairs = room.restore_topics(loaded.topics, loaded.topic_cursors, loaded.imports);
    Ok(room)
}

/// What a write to a topic would meet, read from the files of a room no daemon serves, so
/// that a person's write the room would refuse is refused before a daemon is started for it.
/// `None` when the files cannot say for sure: the journal holds batches a start would replay
/// first (the topic might be among them).
pub fn topics_on_disk(state_dir: &Path) -> anyhow::Result<Option<BTreeMap<String, Topic>>> {
    let journal = state_dir.join(JOURNAL_FILE);
    // A daemon's journal is zero padding when it holds no batches (a missing one holds none).
    match crate::daemon::journal::holds_records(&journal) {
        Ok(true) => return Ok(None),
        Ok(false) => {}
        Err(err) => {
            return Err(anyhow::Error::new(err).context(journal.display().to_string()));
        }
    }
    let mut file = JsonObjectFile::new(state_dir.join(TOPICS_FILE));
    Ok(Some(file.read_if_changed()?.unwrap_or_default()))
}

/// The room's own refusal of `probe`, a person's request, in a room holding `topics` (the
/// files' topics) and nothing else: what a request whose fate depends only on the topics (an
/// unknown, closed or existing one) would meet, in the room's words. `None` if it would be taken.
pub fn refusal_among(topics: &BTreeMap<String, Topic>, probe: Request) -> Option<String> {
    let mut room = Room::new();
    room.restore_topics(topics.values().cloned().collect(), Vec::new(), Vec::new());
    let person = Caller {
        session: 0,
        human: true,
    };
    room.handle_as(person, probe, unix_now())
        .reply
        .err()
        .map(|refusal| refusal.message)
}

/// How much of a JSONL file [`JsonlTail`] reads at a time, so that a first look at a large
/// history does not hold all of it in memory at once.
const CHUNK: usize = 1 << 20;

/// A JSONL file read a piece at a time: each [`JsonlTail::read_new`] parses only the complete
/// lines appended since the last one. A file replaced (another inode), truncated or rewritten
/// in place (the byte before the remembered offset is no longer a line end) is read again from
/// its start. A last line without its newline (an append still being written, or torn) is not
/// consumed until it is complete, though a whole record there is shown (see
/// [`Appended::unterminated`]).
#[derive(Debug)]
pub struct JsonlTail {
    path: PathBuf,
    /// The device and inode of the file read so far.
    identity: Option<(u64, u64)>,
    /// Where the next unread line starts: everything before it has been returned.
    offset: u64,
    /// Lines consumed, so that an error names the line as [`store::load`] does.
    lines: usize,
    /// Bytes read from the file since this tail was made: the work done, for tests.
    bytes_read: u64,
}

/// What one [`JsonlTail::read_new`] found.
#[derive(Debug)]
pub struct Appended<T> {
    /// The file is not the one read before (replaced, truncated, rewritten or removed):
    /// `records` start from its beginning and whatever was returned before no longer holds.
    pub restarted: bool,
    /// The records of the new complete lines, in file order.
    pub records: Vec<T>,
    /// The record on a last line that lacks only its newline: it follows `records`, but is not
    /// consumed (the next call returns it again, then as a record once its line is complete).
    pub unterminated: Option<T>,
}

impl JsonlTail {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            identity: None,
            offset: 0,
            lines: 0,
            bytes_read: 0,
        }
    }

    /// Bytes read from the file so far, in all calls.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The records appended since the last call (all of them on the first). A line that does
    /// not parse is an error naming `file:line`, and nothing of this call is consumed, so the
    /// next call reads the same lines again. A missing file is an empty one.
    pub fn read_new<T: DeserializeOwned>(&mut self) -> Result<Appended<T>, LoadError> {
        let path = self.path.clone();
        let io_err = |cause| LoadError::Io {
            path: path.clone(),
            cause,
        };
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let restarted = self.identity.is_some();
                self.identity = None;
                self.offset = 0;
                self.lines = 0;
                return Ok(Appended {
                    restarted,
                    records: Vec::new(),
                    unterminated: None,
                });
            }
            Err(err) => return Err(io_err(err)),
        };
        let metadata = file.metadata().map_err(io_err)?;
        let identity = (metadata.dev(), metadata.ino());
        let same = self.identity == Some(identity)
            && metadata.len() >= self.offset
            && (self.offset == 0 || self.line_end_before_offset(&file).map_err(io_err)?);
        let restarted = self.identity.is_some() && !same;
        let (mut offset, mut lines) = if same {
            (self.offset, self.lines)
        } else {
            (0, 0)
        };
        file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        let mut records = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = vec![0; CHUNK];
        loop {
            let read = file.read(&mut chunk).map_err(io_err)?;
            if read == 0 {
                break;
            }
            self.bytes_read += read as u64;
            pending.extend_from_slice(&chunk[..read]);
            let mut start = 0;
            while let Some(newline) = pending[start..].iter().position(|byte| *byte == b'\n') {
                let line = &pending[start..start + newline];
                lines += 1;
                if !line.iter().all(u8::is_ascii_whitespace) {
                    let record =
                        serde_json::from_slice(line).map_err(|err| LoadError::Corrupt {
                            path: self.path.clone(),
                            line: lines,
                            cause: err.to_string(),
                        })?;
                    records.push(record);
                }
                start += newline + 1;
            }
            offset += start as u64;
            pending.drain(..start);
        }
        // A whole record may lack only its newline (the daemon adds it when it starts): shown,
        // as `store::load` reads it, but read again next time. Anything else there is an
        // append in progress or torn, and waits.
        let unterminated = serde_json::from_slice(&pending).ok();
        self.identity = Some(identity);
        self.offset = offset;
        self.lines = lines;
        Ok(Appended {
            restarted,
            records,
            unterminated,
        })
    }

    /// Whether the byte before the remembered offset is still the end of a line: if not, the
    /// file was rewritten in place under us.
    fn line_end_before_offset(&mut self, file: &File) -> io::Result<bool> {
        let mut byte = [0];
        file.read_exact_at(&mut byte, self.offset - 1)?;
        self.bytes_read += 1;
        Ok(byte == *b"\n")
    }
}

/// A JSON object file (`participants.json`) read again only when it changed: another inode
/// (the daemon replaces it by a rename), another size or another modification time.
#[derive(Debug)]
pub struct JsonObjectFile {
    path: PathBuf,
    stamp: Option<(u64, u64, u64, std::time::SystemTime)>,
    /// How many times the file was read and parsed: the work done, for tests.
    reads: u64,
}

impl JsonObjectFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            stamp: None,
            reads: 0,
        }
    }

    /// How many times the file was read.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The object if the file changed since the last call (or on the first): `Ok(None)` when
    /// it did not. A missing or blank file is the default (empty) object; one that does not
    /// parse is an error naming `file:line:column`, and is read again next time.
    pub fn read_if_changed<T: DeserializeOwned + Default>(&mut self) -> anyhow::Result<Option<T>> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(metadata) => Some((
                metadata.dev(),
                metadata.ino(),
                metadata.len(),
                metadata.modified()?,
            )),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => {
                return Err(anyhow::Error::new(err).context(self.path.display().to_string()));
            }
        };
        if self.reads > 0 && stamp == self.stamp {
            return Ok(None);
        }
        self.reads += 1;
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(anyhow::Error::new(err).context(self.path.display().to_string()));
            }
        };
        let object = if text.trim().is_empty() {
            T::default()
        } else {
            serde_json::from_str(&text).map_err(|err| {
                anyhow::anyhow!(
                    "{}:{}:{}: {err}",
                    self.path.display(),
                    err.line(),
                    err.column()
                )
            })?
        };
        self.stamp = stamp;
        Ok(Some(object))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn read(tail: &mut JsonlTail) -> (bool, Vec<u64>) {
        let appended = tail.read_new::<serde_json::Value>().unwrap();
        let ids = appended
            .records
            .iter()
            .map(|record| record["id"].as_u64().unwrap())
            .collect();
        (appended.restarted, ids)
    }

    fn message(id: u64, topic: Option<&str>) -> Message {
        Message {
            id,
            ts: "2026-11-24T09:15:10Z".into(),
            topic_id: topic.map(str::to_owned),
            from: "ana".into(),
            to: "all".into(),
            content: format!("m{id}"),
            human: false,
        }
    }

    #[test]
    fn topic_names_a_scope_by_the_contracts_rule() {
        assert_eq!(Scope::from_arg(None), Ok(Scope::Main));
        assert_eq!(Scope::from_arg(Some("  ")), Ok(Scope::Main));
        assert_eq!(Scope::from_arg(Some(" * ")), Ok(Scope::Every));
        assert_eq!(
            Scope::from_arg(Some(" auth-fix.2_b ")),
            Ok(Scope::Topic("auth-fix.2_b".into()))
        );
        let longest = format!("a{}", "b".repeat(63));
        assert_eq!(topic_id(&longest), Ok(longest.as_str()));
        let refusal = "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$";
        for bad in [
            "Auth",
            "-auth",
            ".a",
            "a b",
            "a/b",
            "é",
            "a\u{1b}",
            "**",
            &format!("a{}", "b".repeat(64)),
        ] {
            assert_eq!(
                Scope::from_arg(Some(bad)).unwrap_err().message,
                refusal,
                "{bad:?}"
            );
        }
        assert_eq!(Scope::Main.wire(), "");
        assert_eq!(Scope::Every.wire(), "*");
        assert_eq!(Scope::Topic("db".into()).wire(), "db");
        assert!(Scope::Main.holds(None) && !Scope::Main.holds(Some("db")));
        let db = Scope::Topic("db".into());
        assert!(db.holds(Some("db")) && !db.holds(Some("dbx")) && !db.holds(None));
        assert!(Scope::Every.holds(None) && Scope::Every.holds(Some("db")));
    }

    #[test]
    fn scopes_merge_into_one_stream_in_id_order() {
        let ids = |messages: &[Message]| messages.iter().map(|m| m.id).collect::<Vec<_>>();
        let main = vec![message(1, None), message(4, None), message(5, None)];
        let topic = vec![
            message(2, Some("a")),
            message(3, Some("a")),
            message(9, Some("a")),
        ];
        assert_eq!(ids(&merge_by_id(main.clone(), topic)), [1, 2, 3, 4, 5, 9]);
        assert_eq!(ids(&merge_by_id(Vec::new(), main.clone())), [1, 4, 5]);
        assert_eq!(ids(&merge_by_id(main, Vec::new())), [1, 4, 5]);
    }

    #[test]
    fn a_write_to_a_topic_is_judged_from_the_files_only_when_they_can_tell() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            topics_on_disk(dir.path()).unwrap(),
            Some(BTreeMap::new()),
            "a v1 room has no topics.json"
        );
        std::fs::write(
            dir.path().join(TOPICS_FILE),
            r#"{"db":{"id":"db","title":"Schema","status":"closed","created_by":"system","created_at":"2026-11-24T09:00:00Z","closed_at":"2026-11-24T09:10:00Z","last_activity_ts":"2026-11-24T09:10:00Z"},
                "ui":{"id":"ui","title":"Look","status":"open","created_by":"ana","created_at":"2026-11-24T09:00:00Z","closed_at":null,"last_activity_ts":"2026-11-24T09:00:00Z"}}"#,
        )
        .unwrap();
        let topics = topics_on_disk(dir.path()).unwrap().unwrap();
        let send = |topic: &str| Request::SendMessage {
            name: "maria".into(),
            content: "hi".into(),
            to: "all".into(),
            topic_id: topic.into(),
        };
        assert_eq!(refusal_among(&topics, send("ui")), None);
        assert_eq!(
            refusal_among(&topics, send("db")).as_deref(),
            Some("topic 'db' is closed")
        );
        assert_eq!(
            refusal_among(&topics, send("api")).as_deref(),
            Some("unknown topic_id: api")
        );
        std::fs::write(dir.path().join(JOURNAL_FILE), b"x").unwrap();
        assert_eq!(
            topics_on_disk(dir.path()).unwrap(),
            None,
            "a journal a start would replay may hold the topic"
        );
        std::fs::write(dir.path().join(JOURNAL_FILE), vec![0; 4096]).unwrap();
        assert!(
            topics_on_disk(dir.path()).unwrap().is_some(),
            "zero padding holds no batches"
        );
        std::fs::write(dir.path().join(JOURNAL_FILE), b"").unwrap();
        std::fs::write(dir.path().join(TOPICS_FILE), "{").unwrap();
        let err = topics_on_disk(dir.path()).unwrap_err().to_string();
        assert!(err.contains("topics.json:1:1"), "{err}");
    }

    #[test]
    fn a_tail_reads_only_what_was_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        let mut tail = JsonlTail::new(path.clone());
        assert_eq!(read(&mut tail), (false, vec![]), "no file yet");
        let history: String = (1..=1000).map(|id| format!("{{\"id\":{id}}}\n")).collect();
        append(&path, &history);
        assert_eq!(read(&mut tail).1, (1..=1000).collect::<Vec<_>>());
        assert_eq!(tail.bytes_read(), history.len() as u64);

        // Nothing new: one byte looked at (that the file was not rewritten), nothing parsed.
        let before = tail.bytes_read();
        assert_eq!(read(&mut tail), (false, vec![]));
        assert_eq!(tail.bytes_read() - before, 1);

        let line = "{\"id\":1001}\n\n";
        append(&path, line);
        let before = tail.bytes_read();
        assert_eq!(
            read(&mut tail),
            (false, vec![1001]),
            "a blank line is skipped"
        );
        assert_eq!(tail.bytes_read() - before, 1 + line.len() as u64);
    }

    #[test]
    fn a_line_is_consumed_only_once_it_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        let mut tail = JsonlTail::new(path.clone());
        append(&path, "{\"id\":1}\n{\"id\":");
        assert_eq!(read(&mut tail), (false, vec![1]));
        let unterminated = |tail: &mut JsonlTail| {
            let appended = tail.read_new::<serde_json::Value>().unwrap();
            assert!(appended.records.is_empty());
            appended
                .unterminated
                .map(|record| record["id"].as_u64().unwrap())
        };
        assert_eq!(unterminated(&mut tail), None, "torn");
        append(&path, "2}");
        assert_eq!(
            unterminated(&mut tail),
            Some(2),
            "whole but for its newline"
        );
        assert_eq!(unterminated(&mut tail), Some(2), "and not consumed");
        append(&path, "\n{\"id\":3}\n");
        assert_eq!(read(&mut tail), (false, vec![2, 3]));
    }

    #[test]
    fn a_truncated_replaced_or_rewritten_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        let mut tail = JsonlTail::new(path.clone());
        append(&path, "{\"id\":1}\n{\"id\":2}\n");
        assert_eq!(read(&mut tail).1, [1, 2]);

        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&path, "{\"id\":7}\n");
        assert_eq!(read(&mut tail), (true, vec![7]), "truncated");

        let replacement = dir.path().join("new.jsonl");
        append(&replacement, "{\"id\":8}\n{\"id\":9}\n");
        std::fs::rename(&replacement, &path).unwrap();
        assert_eq!(read(&mut tail), (true, vec![8, 9]), "replaced");

        // Same inode, longer, but the old line end is gone: rewritten in place.
        std::fs::write(&path, "{\"id\":10,\"x\":1}\n{\"id\":11}\n").unwrap();
        assert_eq!(read(&mut tail), (true, vec![10, 11]), "rewritten");

        std::fs::remove_file(&path).unwrap();
        assert_eq!(read(&mut tail), (true, vec![]), "removed");
        append(&path, "{\"id\":1}\n");
        assert_eq!(read(&mut tail), (false, vec![1]));
    }

    #[test]
    fn a_bad_line_is_named_and_nothing_of_its_read_is_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.jsonl");
        let mut tail = JsonlTail::new(path.clone());
        append(&path, "{\"id\":1}\n");
        assert_eq!(read(&mut tail).1, [1]);
        append(&path, "{\"id\":2}\nnot json\n");
        let err = tail
            .read_new::<serde_json::Value>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("messages.jsonl:3: "), "{err}");
        let err = tail
            .read_new::<serde_json::Value>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("messages.jsonl:3: "),
            "the same line again: {err}"
        );
    }

    #[test]
    fn an_object_file_is_read_again_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("participants.json");
        let mut object = JsonObjectFile::new(path.clone());
        type Map = std::collections::BTreeMap<String, u64>;
        assert_eq!(object.read_if_changed::<Map>().unwrap(), Some(Map::new()));
        assert_eq!(object.read_if_changed::<Map>().unwrap(), None);
        std::fs::write(dir.path().join("tmp"), "{\"a\":1}").unwrap();
        std::fs::rename(dir.path().join("tmp"), &path).unwrap();
        let changed = object.read_if_changed::<Map>().unwrap();
        assert_eq!(changed, Some(Map::from([("a".to_owned(), 1)])));
        assert_eq!(object.read_if_changed::<Map>().unwrap(), None);
        assert_eq!(object.reads(), 2);
        std::fs::write(&path, "{\"a\":").unwrap();
        let err = object.read_if_changed::<Map>().unwrap_err().to_string();
        assert!(err.contains("participants.json:1:5: "), "{err}");
        assert!(object.read_if_changed::<Map>().is_err(), "tried again");
    }
}
