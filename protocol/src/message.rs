//! Every message that crosses the socket, as plain postcard-friendly types.
//!
//! Postcard is not self-describing: structs are positional and enum variants are indices. So the
//! rules are: plain structs and externally tagged enums only (no `serde_json::Value`, no
//! `#[serde(flatten)]`, no `skip_serializing_if`); only ever append enum variants; and the
//! handshake is variant 0 of both [`ClientMessage`] and [`ServerMessage`] forever, with [`Hello`]
//! and [`HelloReply`] frozen, so that any two versions can always recognise a mismatch.
//!
//! Tool inputs travel as the agent gave them (untrimmed strings, signed integers): the daemon is
//! the single place where they are validated, so every client gets the same refusals.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// The handshake; must be the first frame of a connection and is never sent again.
    Hello(Hello),
    /// A request; its reply carries the same `id`. Several may be in flight on one connection.
    Call { id: u64, request: Request },
    /// A write that a client may send again after losing its connection (or its daemon): the
    /// daemon carries it out once per `key`, durably, and answers a repeat with the first
    /// outcome. See [`Request::wants_key`].
    KeyedCall {
        id: u64,
        key: u128,
        request: Request,
    },
}

/// What the daemon sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// The answer to [`Hello`]; the first frame the daemon sends.
    HelloReply(HelloReply),
    /// The outcome of the [`ClientMessage::Call`] with the same `id`.
    Reply {
        id: u64,
        outcome: Result<Response, Refusal>,
    },
    /// Something happened in the room; sent only to sessions that asked with
    /// [`Request::Subscribe`], once the change is durable. Frames may interleave with replies.
    /// (Postcard cannot skip a variant it does not know: appending one bumps PROTOCOL_VERSION.)
    Event(Event),
}

/// What the daemon pushes to subscribed sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A new message visible to the subscription's participant (every message when it has none).
    Message(Message),
    /// A new summary.
    Summary(Summary),
    /// The participants or the live sessions changed (a join, a leave, a session's start or end).
    Presence {
        participants: Vec<Participant>,
        sessions: Vec<SessionInfo>,
    },
}

/// Frozen forever: the first frame of every connection.
///
/// On the wire it is `0` (the variant), then `version`, `client_pid` and the kind's
/// [`ClientKind::code`], each a varint, and then whatever fields later versions append. A daemon
/// reads it with [`crate::frame::decode_hello`], which ignores appended fields and reads the kind
/// as a bare code, so every daemon from this one on can answer any later client (with a version
/// refusal, or with a one-line refusal of a kind it does not know) instead of dropping it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's [`crate::PROTOCOL_VERSION`].
    pub version: u32,
    /// The client's process id, shown by `chatroomd status`.
    pub client_pid: u32,
    /// What kind of client this is; only agent sessions can hold names.
    pub kind: ClientKind,
}

/// A [`Hello`] as a daemon reads it: the kind as its code, which may name a kind added after
/// this daemon was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloFrame {
    pub version: u32,
    pub client_pid: u32,
    pub kind_code: u32,
}

impl HelloFrame {
    /// The kind, if this daemon knows it.
    pub fn kind(&self) -> Option<ClientKind> {
        ClientKind::from_code(self.kind_code)
    }
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// An agent's session through `chatroom-shim`: it may hold names, and it keeps the daemon alive.
    Agent,
    /// A short-lived command (`chatroomd status`, `chatroomd stop`): holds no names.
    Control,
    /// A person through `chatroomd send`, `tail` or `monitor`: holds no names, keeps the daemon
    /// alive while connected, and the messages it sends are marked as a person's.
    Human,
}

impl ClientKind {
    /// Every kind, in code order. Kinds are only ever appended.
    pub const ALL: [ClientKind; 3] = [ClientKind::Agent, ClientKind::Control, ClientKind::Human];

    /// The kind's code in a [`Hello`]: its variant index, which is how postcard encodes it.
    pub fn code(self) -> u32 {
        match self {
            ClientKind::Agent => 0,
            ClientKind::Control => 1,
            ClientKind::Human => 2,
        }
    }

    /// The kind with this code; `None` for a kind added after this build.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// Frozen forever: the daemon's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    /// The session is open.
    Welcome {
        version: u32,
        session_id: u64,
        daemon_pid: u32,
    },
    /// The versions differ; the daemon closes the connection after this frame.
    Refused {
        daemon_version: u32,
        daemon_pid: u32,
        message: String,
    },
}

/// One request per tool of the contract, plus the daemon's own control requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// `join`: register `name` for this session.
    Join { name: String, role: String },
    /// `leave`: release `name` if this session holds it.
    Leave { name: String },
    /// `send_message`: append one message.
    SendMessage {
        name: String,
        content: String,
        to: String,
    },
    /// `read_messages`: messages after `since_id`, optionally only those visible to `participant`.
    ReadMessages {
        since_id: i64,
        limit: i64,
        participant: String,
    },
    /// `list_participants`.
    ListParticipants,
    /// `get_status`.
    GetStatus,
    /// `get_cursor`.
    GetCursor { name: String },
    /// `set_cursor`: monotonic.
    SetCursor { name: String, message_id: i64 },
    /// `read_unread`: messages visible to `name` after its cursor.
    ReadUnread {
        name: String,
        limit: i64,
        mark_read: bool,
    },
    /// `write_summary`: append a handoff summary.
    WriteSummary {
        name: String,
        content: String,
        scope: String,
    },
    /// `read_latest_summary`.
    ReadLatestSummary { scope: String },
    /// `get_handoff`: the compact resume payload.
    GetHandoff { name: String, recent_limit: i64 },
    /// `chatroomd status`: what the daemon holds.
    DaemonStatus,
    /// `chatroomd stop`: flush and shut down.
    Shutdown,
    /// Start receiving [`Event`]s on this connection: messages visible to `participant` (every
    /// message when it is blank), summaries, and presence changes.
    Subscribe { participant: String },
    /// Summaries with `id > since_id`, ascending, at most `limit` (1..=100).
    ReadSummaries { since_id: i64, limit: i64 },
}

impl Request {
    /// Whether carrying this request out twice would differ from carrying it out once, so that a
    /// client retrying it after a lost connection must send it as a [`ClientMessage::KeyedCall`]:
    /// appends (`send_message`, `write_summary`), a `read_unread` that marks read (a repeat would
    /// return nothing), and `leave` (a repeat would answer `false`).
    pub fn wants_key(&self) -> bool {
        matches!(
            self,
            Request::SendMessage { .. }
                | Request::WriteSummary { .. }
                | Request::Leave { .. }
                | Request::ReadUnread {
                    mark_read: true,
                    ..
                }
        )
    }

    /// Every string argument, for a client that must bound them before sending.
    pub fn strings_mut(&mut self) -> Vec<&mut String> {
        match self {
            Request::Join { name, role } => vec![name, role],
            Request::Leave { name } | Request::GetCursor { name } => vec![name],
            Request::SendMessage { name, content, to } => vec![name, content, to],
            Request::ReadMessages { participant, .. } => vec![participant],
            Request::SetCursor { name, .. } | Request::ReadUnread { name, .. } => vec![name],
            Request::WriteSummary {
                name,
                content,
                scope,
            } => vec![name, content, scope],
            Request::ReadLatestSummary { scope } => vec![scope],
            Request::GetHandoff { name, .. } => vec![name],
            Request::Subscribe { participant } => vec![participant],
            Request::ReadSummaries { .. } => Vec::new(),
            Request::ListParticipants
            | Request::GetStatus
            | Request::DaemonStatus
            | Request::Shutdown => Vec::new(),
        }
    }
}

/// The successful result of a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// `join`, `list_participants`: all participants, sorted by name.
    Participants(Vec<Participant>),
    /// `leave`.
    Left(bool),
    /// `send_message`, `write_summary`: the new record's id.
    Id(u64),
    /// `read_messages`.
    Messages(Vec<Message>),
    /// `get_status`.
    Status(RoomStatus),
    /// `get_cursor`, `set_cursor`.
    Cursor(Cursor),
    /// `read_unread`.
    Unread(Unread),
    /// `read_latest_summary`.
    Summary(Option<Summary>),
    /// `get_handoff`.
    Handoff(Handoff),
    /// `chatroomd status`.
    DaemonStatus(DaemonStatus),
    /// `chatroomd stop`: the daemon is shutting down.
    ShuttingDown,
    /// [`Request::Subscribe`]: events follow on this connection.
    Subscribed,
    /// [`Request::ReadSummaries`].
    Summaries(Vec<Summary>),
}

/// Why a request was not carried out. It changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// One lowercase line naming the offending parameter or condition.
    pub message: String,
}

/// The broad reason for a [`Refusal`], for callers that react differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalKind {
    /// An argument broke a rule of the contract.
    Invalid,
    /// The request conflicts with another session (a name held elsewhere).
    Conflict,
    /// The request is not allowed for this kind of session.
    NotAllowed,
    /// The state could not be made durable; nothing was acknowledged.
    Storage,
}

impl Refusal {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::Invalid,
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::Conflict,
            message: message.into(),
        }
    }
    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::NotAllowed,
            message: message.into(),
        }
    }
    pub fn storage(message: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::Storage,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A chat message: `{"id", "ts", "from", "to", "content"}`, plus `"human": true` on a message a
/// person posted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub id: u64,
    /// UTC `YYYY-MM-DDTHH:MM:SSZ`.
    pub ts: String,
    pub from: String,
    /// A participant's name, or `"all"`.
    pub to: String,
    pub content: String,
    /// Posted by a person through `chatroomd send` rather than by an agent.
    #[serde(default)]
    pub human: bool,
}

/// Postcard (not human-readable) gets every field in order, as it must; JSON (human-readable)
/// gets the `human` key only when it is true, so that a room used the v1 way yields exactly the
/// v1 keys, on the wire to agents and on disk.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let with_human = !serializer.is_human_readable() || self.human;
        let mut record = serializer.serialize_struct("Message", 5 + usize::from(with_human))?;
        record.serialize_field("id", &self.id)?;
        record.serialize_field("ts", &self.ts)?;
        record.serialize_field("from", &self.from)?;
        record.serialize_field("to", &self.to)?;
        record.serialize_field("content", &self.content)?;
        if with_human {
            record.serialize_field("human", &self.human)?;
        } else {
            record.skip_field("human")?;
        }
        record.end()
    }
}

/// A name present in the room: `{"name", "role", "joined_at", "last_seen"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub name: String,
    pub role: String,
    pub joined_at: String,
    pub last_seen: String,
}

/// A handoff summary: `{"id", "ts", "from", "scope", "content"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub id: u64,
    pub ts: String,
    pub from: String,
    /// `"all"` or a participant's name.
    pub scope: String,
    pub content: String,
}

/// `get_status`: `{"participant_count", "message_count", "last_activity_ts"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStatus {
    pub participant_count: u64,
    pub message_count: u64,
    pub last_activity_ts: Option<String>,
}

/// `get_cursor`, `set_cursor`: `{"name", "last_read_id"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub name: String,
    pub last_read_id: u64,
}

/// `read_unread`: `{"name", "last_read_id", "messages"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unread {
    pub name: String,
    pub last_read_id: u64,
    pub messages: Vec<Message>,
}

/// `get_handoff`: the compact resume payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub participants: Vec<Participant>,
    pub latest_message_id: u64,
    /// `None` when no name was given.
    pub cursor: Option<u64>,
    /// `None` when no name was given.
    pub unread_count: Option<u64>,
    pub latest_summary: Option<Summary>,
    pub recent_messages: Vec<Message>,
}

/// `chatroomd status`: what a running daemon holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub pid: u32,
    pub package_version: String,
    pub protocol_version: u32,
    pub uptime_secs: u64,
    pub root: String,
    pub socket: String,
    pub log: String,
    pub sessions: Vec<SessionInfo>,
    pub participants: Vec<Participant>,
    pub message_count: u64,
    pub summary_count: u64,
    pub last_activity_ts: Option<String>,
}

/// One live session of an agent or a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: u64,
    pub client_pid: u32,
    pub names: Vec<String>,
    pub kind: ClientKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(human: bool) -> Message {
        Message {
            id: 7,
            ts: "2026-11-24T00:00:00Z".into(),
            from: "ana".into(),
            to: "all".into(),
            content: "hi".into(),
            human,
        }
    }

    #[test]
    fn json_records_carry_the_human_key_only_on_a_persons_messages() {
        let agent = serde_json::to_string(&message(false)).unwrap();
        assert_eq!(
            agent,
            r#"{"id":7,"ts":"2026-11-24T00:00:00Z","from":"ana","to":"all","content":"hi"}"#
        );
        let person = serde_json::to_string(&message(true)).unwrap();
        assert_eq!(
            person,
            r#"{"id":7,"ts":"2026-11-24T00:00:00Z","from":"ana","to":"all","content":"hi","human":true}"#
        );
        assert_eq!(
            serde_json::from_str::<Message>(&agent).unwrap(),
            message(false)
        );
        assert_eq!(
            serde_json::from_str::<Message>(&person).unwrap(),
            message(true)
        );
    }

    #[test]
    fn postcard_carries_every_field() {
        for human in [false, true] {
            let bytes = postcard::to_allocvec(&message(human)).unwrap();
            assert_eq!(
                postcard::from_bytes::<Message>(&bytes).unwrap(),
                message(human)
            );
        }
    }
}
