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

use crate::claims::{Claim, ClaimCheck, ClaimEvent, ClaimRestore, Claimed, Released};

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
// A reply is built once, encoded into its frame and dropped; boxing its larger records would
// only add an allocation to every one of them.
#[allow(clippy::large_enum_variant)]
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
    /// A topic was opened or closed: its record as it now is.
    Topic(Topic),
    /// A claim was granted, released, expired, or went with its name.
    Claim(ClaimEvent),
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
    /// `send_message`: append one message to the main room (`topic_id` blank) or a topic.
    SendMessage {
        name: String,
        content: String,
        to: String,
        topic_id: String,
    },
    /// `read_messages`: messages of one scope after `since_id`, optionally only those visible to
    /// `participant`.
    ReadMessages {
        since_id: i64,
        limit: i64,
        participant: String,
        topic_id: String,
    },
    /// `list_participants`.
    ListParticipants,
    /// `get_status`.
    GetStatus,
    /// `get_cursor`: the cursor of `name` in one scope.
    GetCursor { name: String, topic_id: String },
    /// `set_cursor`: monotonic, per (name, scope).
    SetCursor {
        name: String,
        message_id: i64,
        topic_id: String,
    },
    /// `read_unread`: messages of one scope visible to `name` after its cursor there.
    ReadUnread {
        name: String,
        limit: i64,
        mark_read: bool,
        topic_id: String,
    },
    /// `write_summary`: append a handoff summary to one scope.
    WriteSummary {
        name: String,
        content: String,
        scope: String,
        topic_id: String,
    },
    /// `read_latest_summary`: in one scope.
    ReadLatestSummary { scope: String, topic_id: String },
    /// `get_handoff`: the compact resume payload of one scope.
    GetHandoff {
        name: String,
        recent_limit: i64,
        topic_id: String,
    },
    /// `chatroomd status`: what the daemon holds.
    DaemonStatus,
    /// `chatroomd stop`: flush and shut down.
    Shutdown,
    /// Start receiving [`Event`]s on this connection: messages visible to `participant` (every
    /// message when it is blank) in the scope `topic_id` names (`""` the main room, `"*"` every
    /// scope), summaries of that scope, topic and presence changes.
    Subscribe {
        participant: String,
        topic_id: String,
    },
    /// Summaries of every scope with `id > since_id`, ascending, at most `limit` (1..=100).
    ReadSummaries { since_id: i64, limit: i64 },
    /// `open_topic`: create an open topic; `name` (optional) is recorded as its creator.
    OpenTopic {
        topic_id: String,
        title: String,
        name: String,
    },
    /// `close_topic`.
    CloseTopic { topic_id: String },
    /// `list_topics`: `status` is `open`, `closed` or `all`; with `name`, each topic carries that
    /// participant's progress in it.
    ListTopics { name: String, status: String },
    /// `search_messages`: messages matching every word (or quoted phrase) of `query`, newest
    /// first, in one scope (`"*"` every scope), visible to `participant` and sent by `from` when
    /// those are set.
    SearchMessages {
        query: String,
        topic_id: String,
        participant: String,
        from: String,
        limit: i64,
    },
    /// `chatroomd import DIR`: bring a Python server's state directory (`.chatroom_v2/` or a
    /// v1 `.chatroom/`) into this room; with `dry_run`, only report what it would import.
    Import { dir: String, dry_run: bool },
    /// `wait_for_messages`: `read_unread` of one scope (`"*"`: the main room and every open
    /// topic) that, when nothing is unread, waits up to `timeout_s` (1..=600) for a message
    /// visible to `name` and not sent by it. Answered once the batch holding such a message is
    /// durable, or at the timeout with `timed_out: true`. The session's other calls go on
    /// meanwhile.
    WaitForMessages {
        name: String,
        topic_id: String,
        timeout_s: i64,
        limit: i64,
        mark_read: bool,
    },
    /// The client gave up on this session's `wait_for_messages` sent as call `call_id` (an MCP
    /// `notifications/cancelled`): the daemon drops the wait, which marks nothing read, and
    /// answers it with a refusal. `Cancelled(false)` when no such wait is pending.
    CancelWait { call_id: u64 },
    /// What links this agent session to its agent, for the hooks to find it: a session id the
    /// client gave the MCP server (`CLAUDE_CODE_SESSION_ID`, Codex's turn metadata), and the
    /// pid of the process that launched the shim (the agent's CLI). A blank id or a zero pid
    /// adds nothing; ids add up (the latest few are kept), the pid replaces the one before.
    Link {
        client_session_id: String,
        agent_pid: u32,
    },
    /// A hook asks about its agent: the agent session is found by `hook.session_id`, else by
    /// the hook's process ancestry. With `deliver`, the messages returned are marked delivered
    /// to the agent's names (which is not reading: cursors stay). `limit` bounds the messages
    /// returned (0..=100; 0 only counts).
    Reach {
        hook: HookLink,
        deliver: bool,
        limit: i64,
    },
    /// The wake-up hook: waits up to `timeout_s` (1..=86400) until a message for the agent's
    /// names arrives that it has neither read nor had delivered, then answers like a delivering
    /// [`Request::Reach`]. One per agent session: a newer one replaces the older, which is
    /// refused. Answered at once when such messages already wait.
    AwaitReach {
        hook: HookLink,
        timeout_s: i64,
        limit: i64,
    },
    /// `read_receipts`: who has message `message_id`, asked by one of this session's names
    /// (or by a person or control session).
    ReadReceipts { message_id: i64 },
    /// `claim`: claim `paths` (repository-relative paths or git wildmatch globs) for `name`,
    /// which this session holds. `ttl_s` > 0 ends them after that many seconds; `restore` is a
    /// client re-claiming, after its daemon died, a claim it held (keeping its age and expiry).
    Claim {
        name: String,
        paths: Vec<String>,
        exclusive: bool,
        reason: String,
        ttl_s: i64,
        restore: Option<ClaimRestore>,
    },
    /// `release`: the claims of `name` on `paths`, or all of its claims when `paths` is empty.
    Release { name: String, paths: Vec<String> },
    /// `list_claims`: every live claim, or those overlapping `path`.
    ListClaims { path: String },
    /// A pre-tool hook or `chatroomd check-claims` asks whether another session's exclusive
    /// claim covers any of `paths` (repository-relative files). The asker's own claims never
    /// count: its names are `as_names` when given, else those of the agent session `hook` finds.
    CheckClaims {
        hook: HookLink,
        as_names: Vec<String>,
        paths: Vec<String>,
    },
}

/// What a hook knows of the agent it runs for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookLink {
    /// The client's session id from the hook's stdin; blank when it has none.
    pub session_id: String,
    /// The hook's ancestors, its parent first (the agent's CLI is among them).
    pub ancestors: Vec<u32>,
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
                | Request::OpenTopic { .. }
                | Request::CloseTopic { .. }
                | Request::Leave { .. }
                | Request::ReadUnread {
                    mark_read: true,
                    ..
                }
                | Request::WaitForMessages {
                    mark_read: true,
                    ..
                }
        )
    }

    /// Every string argument, for a client that must bound them before sending.
    pub fn strings_mut(&mut self) -> Vec<&mut String> {
        match self {
            Request::Join { name, role } => vec![name, role],
            Request::Leave { name } => vec![name],
            Request::GetCursor { name, topic_id }
            | Request::SetCursor { name, topic_id, .. }
            | Request::ReadUnread { name, topic_id, .. }
            | Request::GetHandoff { name, topic_id, .. } => vec![name, topic_id],
            Request::SendMessage {
                name,
                content,
                to,
                topic_id,
            } => vec![name, content, to, topic_id],
            Request::ReadMessages {
                participant,
                topic_id,
                ..
            } => vec![participant, topic_id],
            Request::WriteSummary {
                name,
                content,
                scope,
                topic_id,
            } => vec![name, content, scope, topic_id],
            Request::ReadLatestSummary { scope, topic_id } => vec![scope, topic_id],
            Request::Subscribe {
                participant,
                topic_id,
            } => vec![participant, topic_id],
            Request::ReadSummaries { .. } => Vec::new(),
            Request::OpenTopic {
                topic_id,
                title,
                name,
            } => vec![topic_id, title, name],
            Request::CloseTopic { topic_id } => vec![topic_id],
            Request::ListTopics { name, status } => vec![name, status],
            Request::SearchMessages {
                query,
                topic_id,
                participant,
                from,
                ..
            } => vec![query, topic_id, participant, from],
            Request::Import { dir, .. } => vec![dir],
            Request::WaitForMessages { name, topic_id, .. } => vec![name, topic_id],
            Request::Link {
                client_session_id, ..
            } => vec![client_session_id],
            Request::Reach { hook, .. } | Request::AwaitReach { hook, .. } => {
                vec![&mut hook.session_id]
            }
            Request::CancelWait { .. } | Request::ReadReceipts { .. } => Vec::new(),
            Request::Claim {
                name,
                paths,
                reason,
                ..
            } => std::iter::once(name)
                .chain(std::iter::once(reason))
                .chain(paths.iter_mut())
                .collect(),
            Request::Release { name, paths } => {
                std::iter::once(name).chain(paths.iter_mut()).collect()
            }
            Request::ListClaims { path } => vec![path],
            Request::CheckClaims {
                hook,
                as_names,
                paths,
            } => std::iter::once(&mut hook.session_id)
                .chain(as_names.iter_mut())
                .chain(paths.iter_mut())
                .collect(),
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
    /// `open_topic`: the new topic.
    Topic(Topic),
    /// `close_topic`: whether it was open.
    Closed(bool),
    /// `list_topics`.
    Topics(Vec<TopicListing>),
    /// `chatroomd import`: what was (or, in a dry run, would be) imported.
    Imported(ImportReport),
    /// `wait_for_messages`.
    Waited(Waited),
    /// [`Request::CancelWait`]: whether a wait was pending.
    Cancelled(bool),
    /// [`Request::Link`].
    Linked,
    /// [`Request::Reach`], [`Request::AwaitReach`].
    Reached(HookReach),
    /// `read_receipts`.
    Receipts(Receipts),
    /// `claim`.
    Claimed(Claimed),
    /// `release`.
    Released(Released),
    /// `list_claims`: sorted by path, then name.
    Claims(Vec<Claim>),
    /// [`Request::CheckClaims`].
    ClaimCheck(ClaimCheck),
}

/// `wait_for_messages`: `read_unread`'s record and `"timed_out"`. In the `"*"` scope the
/// record's `topic_id` is `"*"`, each message carries its own, and `last_read_id` is the
/// newest id read in any scope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Waited {
    pub unread: Unread,
    /// No message came before the timeout.
    pub timed_out: bool,
}

/// What a hook learns of its agent ([`Request::Reach`]); the default is what a hook learns
/// when it finds none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookReach {
    /// The names the agent holds, sorted; empty when no agent session was found for the hook
    /// (or it holds no name): the hook then says nothing.
    pub names: Vec<String>,
    /// How the agent was found: `"session_id"`, `"ancestry"`, or blank when it was not.
    pub linked_by: String,
    /// Who is here.
    pub participants: Vec<Participant>,
    /// The latest summary of the main room.
    pub latest_summary: Option<Summary>,
    /// Messages of every scope visible to the names, not sent by them (nor by the room
    /// itself), past their cursors.
    pub unread_count: u64,
    /// Of those, the ones not delivered before, people's first and then oldest first, at most
    /// the request's limit.
    pub messages: Vec<Message>,
    /// Undelivered messages beyond `messages`.
    pub more: u64,
}

/// `read_receipts`: who has one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipts {
    pub message_id: u64,
    pub from: String,
    pub to: String,
    pub topic_id: Option<String>,
    /// For a direct message its recipient; for a broadcast every present participant but the
    /// sender, by name.
    pub receipts: Vec<Receipt>,
}

/// One recipient of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub name: String,
    /// Whether the name is in the room now.
    pub present: bool,
    /// Its cursor in the message's scope is at or past the message.
    pub read: bool,
    /// When the cursor passed it, if this daemon saw it happen.
    pub read_at: Option<String>,
    /// When a hook put it in the agent's context, if one did.
    pub delivered_at: Option<String>,
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

/// A chat message: `{"id", "ts", "from", "to", "content"}`, plus `"topic_id"` after `ts` on a
/// message in a topic and `"human": true` on a message a person posted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub id: u64,
    /// UTC `YYYY-MM-DDTHH:MM:SSZ`.
    pub ts: String,
    /// The topic the message belongs to; `None` in the main room.
    #[serde(default)]
    pub topic_id: Option<String>,
    pub from: String,
    /// A participant's name, or `"all"`.
    pub to: String,
    pub content: String,
    /// Posted by a person through `chatroomd send` rather than by an agent.
    #[serde(default)]
    pub human: bool,
}

/// Postcard (not human-readable) gets every field in order, as it must; JSON (human-readable)
/// gets the `topic_id` key only in a topic and the `human` key only when it is true, so that a
/// room used the v1 way yields exactly the v1 keys, on the wire to agents and on disk.
impl Message {
    /// Whether this message is for an agent holding `names`: a message to all or a direct
    /// message to one of them, sent by none of them. What a wait, a hook and a channel bring
    /// an agent (the daemon also leaves out the room's own messages).
    pub fn is_for(&self, names: &[String]) -> bool {
        !names.contains(&self.from)
            && names
                .iter()
                .any(|name| self.to == "all" || self.to == *name)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let compact = serializer.is_human_readable();
        let with_human = !compact || self.human;
        let with_topic = !compact || self.topic_id.is_some();
        let mut record = serializer.serialize_struct(
            "Message",
            5 + usize::from(with_human) + usize::from(with_topic),
        )?;
        record.serialize_field("id", &self.id)?;
        record.serialize_field("ts", &self.ts)?;
        optional_field(&mut record, "topic_id", &self.topic_id, with_topic)?;
        record.serialize_field("from", &self.from)?;
        record.serialize_field("to", &self.to)?;
        record.serialize_field("content", &self.content)?;
        optional_field(&mut record, "human", &self.human, with_human)?;
        record.end()
    }
}

/// Writes `key` into a record being serialized when `present`, else tells the serializer it is
/// skipped: JSON leaves such keys out so that v1 records keep v1's keys, while postcard, which
/// is positional, always has them present.
fn optional_field<R: SerializeStruct, T: Serialize + ?Sized>(
    record: &mut R,
    key: &'static str,
    value: &T,
    present: bool,
) -> Result<(), R::Error> {
    match present {
        true => record.serialize_field(key, value),
        false => record.skip_field(key),
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

/// A handoff summary: `{"id", "ts", "from", "scope", "content"}`, plus `"topic_id"` after `ts`
/// on a summary in a topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Summary {
    pub id: u64,
    pub ts: String,
    /// The topic the summary belongs to; `None` in the main room.
    #[serde(default)]
    pub topic_id: Option<String>,
    pub from: String,
    /// `"all"` or a participant's name.
    pub scope: String,
    pub content: String,
}

/// As [`Message`]'s: every field for postcard, the `topic_id` key in JSON only in a topic.
impl Serialize for Summary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let with_topic = !serializer.is_human_readable() || self.topic_id.is_some();
        let mut record = serializer.serialize_struct("Summary", 5 + usize::from(with_topic))?;
        record.serialize_field("id", &self.id)?;
        record.serialize_field("ts", &self.ts)?;
        optional_field(&mut record, "topic_id", &self.topic_id, with_topic)?;
        record.serialize_field("from", &self.from)?;
        record.serialize_field("scope", &self.scope)?;
        record.serialize_field("content", &self.content)?;
        record.end()
    }
}

/// A topic: `{"id", "title", "status", "created_by", "created_at", "closed_at",
/// "last_activity_ts"}`, the Python server v2's record (and `topics.json`'s values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub id: String,
    pub title: String,
    pub status: TopicStatus,
    /// The `name` given to `open_topic`, else `"system"`.
    pub created_by: String,
    pub created_at: String,
    pub closed_at: Option<String>,
    /// Moves on open, close, and every message or summary in the topic.
    pub last_activity_ts: String,
}

/// Whether a topic takes writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicStatus {
    Open,
    Closed,
}

impl TopicStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicStatus::Open => "open",
            TopicStatus::Closed => "closed",
        }
    }
}

/// One entry of `list_topics`: the topic, and with a `name` that participant's progress in it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TopicListing {
    pub topic: Topic,
    pub progress: Option<TopicProgress>,
}

/// A participant's place in one topic, as `list_topics(name=...)` adds it to the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicProgress {
    /// The newest message id in the topic (0 when it has none).
    pub latest_message_id: u64,
    pub cursor: u64,
    pub unread_count: u64,
    /// The newest summary in the topic with scope `"all"` or the participant's name.
    pub latest_summary: Option<Summary>,
}

/// What `chatroomd import` brought in (or, in a dry run, would bring in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The source directory, as the daemon resolved it.
    pub source: String,
    /// `"v2"` (a `.chatroom_v2/` with topics) or `"v1"` (a `.chatroom/`).
    pub format: String,
    pub dry_run: bool,
    pub messages: u64,
    pub summaries: u64,
    pub topics: u64,
    /// Cursors brought in, one per (participant, scope).
    pub cursors: u64,
    /// Whether ids had to move because the room already held records; `false` keeps the
    /// source's ids.
    pub remapped: bool,
    /// The ids the imported messages received, first and last (0 when none).
    pub first_message_id: u64,
    pub last_message_id: u64,
}

/// `get_status`: `{"participant_count", "message_count", "last_activity_ts"}`, plus v2's
/// `topic_count`, `open_topic_count` and `summary_count` once the room has a topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoomStatus {
    pub participant_count: u64,
    pub message_count: u64,
    pub last_activity_ts: Option<String>,
    /// `None` in a room that never opened a topic.
    pub topics: Option<TopicCounts>,
}

/// The counts `get_status` adds once the room has a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicCounts {
    pub topic_count: u64,
    pub open_topic_count: u64,
    pub summary_count: u64,
}

/// `get_cursor`, `set_cursor`: `{"name", "last_read_id"}`, with `"topic_id"` after `"name"` in a
/// topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Cursor {
    pub name: String,
    pub topic_id: Option<String>,
    pub last_read_id: u64,
}

/// `read_unread`: `{"name", "last_read_id", "messages"}`, with `"topic_id"` after `"name"` in a
/// topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Unread {
    pub name: String,
    pub topic_id: Option<String>,
    pub last_read_id: u64,
    pub messages: Vec<Message>,
}

/// `get_handoff`: the compact resume payload; in a topic it also carries the topic's record
/// (after `participants`, as v2 places it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Handoff {
    pub participants: Vec<Participant>,
    /// The topic's record when the handoff is of a topic; `None` in the main room.
    pub topic: Option<Topic>,
    pub latest_message_id: u64,
    /// `None` when no name was given.
    pub cursor: Option<u64>,
    /// `None` when no name was given.
    pub unread_count: Option<u64>,
    pub latest_summary: Option<Summary>,
    pub recent_messages: Vec<Message>,
    /// Every live claim, once the room has any; `None` (and no `claims` key in JSON, the v1
    /// shape) when it has none.
    #[serde(default)]
    pub claims: Option<Vec<Claim>>,
}

/// `get_status`'s JSON: v1's three keys, then the topic counts once there are topics.
impl Serialize for RoomStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            let mut record = serializer.serialize_struct("RoomStatus", 4)?;
            record.serialize_field("participant_count", &self.participant_count)?;
            record.serialize_field("message_count", &self.message_count)?;
            record.serialize_field("last_activity_ts", &self.last_activity_ts)?;
            record.serialize_field("topics", &self.topics)?;
            return record.end();
        }
        let extra = if self.topics.is_some() { 3 } else { 0 };
        let mut record = serializer.serialize_struct("RoomStatus", 3 + extra)?;
        record.serialize_field("participant_count", &self.participant_count)?;
        record.serialize_field("message_count", &self.message_count)?;
        record.serialize_field("last_activity_ts", &self.last_activity_ts)?;
        if let Some(counts) = &self.topics {
            record.serialize_field("topic_count", &counts.topic_count)?;
            record.serialize_field("open_topic_count", &counts.open_topic_count)?;
            record.serialize_field("summary_count", &counts.summary_count)?;
        }
        record.end()
    }
}

/// `get_cursor`'s JSON: `topic_id` after `name` only in a topic.
impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let with_topic = !serializer.is_human_readable() || self.topic_id.is_some();
        let mut record = serializer.serialize_struct("Cursor", 2 + usize::from(with_topic))?;
        record.serialize_field("name", &self.name)?;
        optional_field(&mut record, "topic_id", &self.topic_id, with_topic)?;
        record.serialize_field("last_read_id", &self.last_read_id)?;
        record.end()
    }
}

/// `read_unread`'s JSON: `topic_id` after `name` only in a topic.
impl Serialize for Unread {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let with_topic = !serializer.is_human_readable() || self.topic_id.is_some();
        let mut record = serializer.serialize_struct("Unread", 3 + usize::from(with_topic))?;
        record.serialize_field("name", &self.name)?;
        optional_field(&mut record, "topic_id", &self.topic_id, with_topic)?;
        record.serialize_field("last_read_id", &self.last_read_id)?;
        record.serialize_field("messages", &self.messages)?;
        record.end()
    }
}

/// `wait_for_messages`' JSON: `read_unread`'s keys, then `timed_out`.
impl Serialize for Waited {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            let mut record = serializer.serialize_struct("Waited", 2)?;
            record.serialize_field("unread", &self.unread)?;
            record.serialize_field("timed_out", &self.timed_out)?;
            return record.end();
        }
        let unread = &self.unread;
        let with_topic = unread.topic_id.is_some();
        let mut record = serializer.serialize_struct("Waited", 4 + usize::from(with_topic))?;
        record.serialize_field("name", &unread.name)?;
        optional_field(&mut record, "topic_id", &unread.topic_id, with_topic)?;
        record.serialize_field("last_read_id", &unread.last_read_id)?;
        record.serialize_field("messages", &unread.messages)?;
        record.serialize_field("timed_out", &self.timed_out)?;
        record.end()
    }
}

/// `get_handoff`'s JSON: v1's keys, with `topic` after `participants` only in a topic.
impl Serialize for Handoff {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let compact = !serializer.is_human_readable();
        let with_topic = compact || self.topic.is_some();
        let with_claims = compact || self.claims.is_some();
        let mut record = serializer.serialize_struct(
            "Handoff",
            6 + usize::from(with_topic) + usize::from(with_claims),
        )?;
        record.serialize_field("participants", &self.participants)?;
        optional_field(&mut record, "topic", &self.topic, with_topic)?;
        record.serialize_field("latest_message_id", &self.latest_message_id)?;
        record.serialize_field("cursor", &self.cursor)?;
        record.serialize_field("unread_count", &self.unread_count)?;
        record.serialize_field("latest_summary", &self.latest_summary)?;
        record.serialize_field("recent_messages", &self.recent_messages)?;
        optional_field(&mut record, "claims", &self.claims, with_claims)?;
        record.end()
    }
}

/// `list_topics`' JSON: the topic record, then with a name v2's `latest_message_id`, `cursor`,
/// `unread_count` and `latest_summary`.
impl Serialize for TopicListing {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            let mut record = serializer.serialize_struct("TopicListing", 2)?;
            record.serialize_field("topic", &self.topic)?;
            record.serialize_field("progress", &self.progress)?;
            return record.end();
        }
        let extra = if self.progress.is_some() { 4 } else { 0 };
        let topic = &self.topic;
        let mut record = serializer.serialize_struct("TopicListing", 7 + extra)?;
        record.serialize_field("id", &topic.id)?;
        record.serialize_field("title", &topic.title)?;
        record.serialize_field("status", &topic.status)?;
        record.serialize_field("created_by", &topic.created_by)?;
        record.serialize_field("created_at", &topic.created_at)?;
        record.serialize_field("closed_at", &topic.closed_at)?;
        record.serialize_field("last_activity_ts", &topic.last_activity_ts)?;
        if let Some(progress) = &self.progress {
            record.serialize_field("latest_message_id", &progress.latest_message_id)?;
            record.serialize_field("cursor", &progress.cursor)?;
            record.serialize_field("unread_count", &progress.unread_count)?;
            record.serialize_field("latest_summary", &progress.latest_summary)?;
        }
        record.end()
    }
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
    pub topic_count: u64,
    pub open_topic_count: u64,
    /// Every live claim, sorted by path, then name.
    pub claims: Vec<Claim>,
    /// Set when the room is empty and the repository holds a Python server's state it could
    /// import: the command that would import it.
    pub import_hint: Option<String>,
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
            topic_id: None,
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
