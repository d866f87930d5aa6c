//! The tools' parameters as the agent's client sends them, and their defaults: the contract's
//! names and defaults, integers as `i64` and strings untrimmed, so that the daemon alone
//! validates them. rmcp derives each tool's input schema from these.

use schemars::JsonSchema;
use serde::Deserialize;

pub(crate) fn general() -> String {
    "general".to_owned()
}

pub(crate) fn all() -> String {
    "all".to_owned()
}

pub(crate) fn nobody() -> String {
    String::new()
}

pub(crate) fn zero() -> i64 {
    0
}

pub(crate) fn fifty() -> i64 {
    50
}

pub(crate) fn ten() -> i64 {
    10
}

pub(crate) fn twenty() -> i64 {
    20
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn open() -> String {
    "open".to_owned()
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct JoinParams {
    /// Your name in the room: unique among the agents present (e.g. "backend-1"), at most 64
    /// characters. Use it in every later call that takes `name`.
    pub name: String,
    /// What you are working on or responsible for (e.g. "backend", "reviewer").
    #[serde(default = "general")]
    pub role: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NameParams {
    /// Your name, as given to join.
    pub name: String,
}

// Every topic-scoped tool takes `topic_id` under the v2 server's name, optional here so that a
// v1 call (no `topic_id`) keeps meaning the main room. Like every string it goes to the daemon
// untrimmed: the daemon alone checks its pattern and that the topic exists.

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendMessageParams {
    /// Your name (the sender).
    pub name: String,
    /// The message text, at most 64 KiB.
    pub content: String,
    /// "all" for everyone, or one participant's name for a direct message.
    #[serde(default = "all")]
    pub to: String,
    /// The topic to post in (an open one, see open_topic); empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadMessagesParams {
    /// Return only messages with an id greater than this; 0 starts at the beginning.
    #[serde(default = "zero")]
    pub since_id: i64,
    /// The most messages to return, 1 to 100.
    #[serde(default = "fifty")]
    pub limit: i64,
    /// If set, only messages visible to this participant (sent to "all" or to it); if empty,
    /// every message.
    #[serde(default = "nobody")]
    pub participant: String,
    /// The topic to read; empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetCursorParams {
    /// The participant whose cursor to return.
    pub name: String,
    /// The topic whose cursor to return (cursors are per topic); empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetCursorParams {
    /// The participant whose cursor moves (normally your own name).
    pub name: String,
    /// Mark every message up to and including this id as read.
    pub message_id: i64,
    /// The topic whose cursor moves; empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadUnreadParams {
    /// Your name.
    pub name: String,
    /// The most messages to return, 1 to 100.
    #[serde(default = "fifty")]
    pub limit: i64,
    /// Move your cursor past the returned messages; false only peeks.
    #[serde(default = "yes")]
    pub mark_read: bool,
    /// The topic to read your unread messages in; empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteSummaryParams {
    /// Your name (the author).
    pub name: String,
    /// The summary: what was done, what is in progress, what is left, at most 64 KiB.
    pub content: String,
    /// "all" for everyone, or the name of the participant the summary is for.
    #[serde(default = "all")]
    pub scope: String,
    /// The topic the summary is about (an open one); empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadLatestSummaryParams {
    /// The scope to look in: "all", or a participant's name.
    #[serde(default = "all")]
    pub scope: String,
    /// The topic to look in; empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetHandoffParams {
    /// Your name; empty for the room-wide view without cursor and unread count.
    #[serde(default = "nobody")]
    pub name: String,
    /// How many of the newest messages to include, 1 to 100.
    #[serde(default = "ten")]
    pub recent_limit: i64,
    /// The topic to resume in; empty for the main room.
    #[serde(default = "nobody")]
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct OpenTopicParams {
    /// The new topic's id: 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or a
    /// digit (e.g. "auth-refactor").
    pub topic_id: String,
    /// What the topic is for, in a few words.
    pub title: String,
    /// Your name, recorded as the topic's creator; empty records "system".
    #[serde(default = "nobody")]
    pub name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CloseTopicParams {
    /// The topic to close.
    pub topic_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTopicsParams {
    /// Your name, to get your cursor, unread count and latest summary in each topic; empty for
    /// the topics alone.
    #[serde(default = "nobody")]
    pub name: String,
    /// "open" (default), "closed" or "all".
    #[serde(default = "open")]
    pub status: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchMessagesParams {
    /// The words to find: all of them, as whole words, case-insensitive; a "quoted phrase"
    /// matches as a phrase.
    pub query: String,
    /// Where to search: empty for the main room, a topic's id, or "*" for the main room and
    /// every topic.
    #[serde(default = "nobody")]
    pub topic_id: String,
    /// If set, only messages visible to this participant (sent to "all" or to it).
    #[serde(default = "nobody")]
    pub participant: String,
    /// If set, only messages sent by this name.
    #[serde(default = "nobody")]
    pub from: String,
    /// The most messages to return, 1 to 100.
    #[serde(default = "twenty")]
    pub limit: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WaitForMessagesParams {
    /// Your name.
    pub name: String,
    /// Where to wait: empty for the main room, a topic's id, or "*" for the main room and every
    /// open topic.
    #[serde(default = "nobody")]
    pub topic_id: String,
    /// The longest to wait for a message, in seconds: 1 to 600.
    #[serde(default = "fifty")]
    pub timeout_s: i64,
    /// The most messages to return, 1 to 100.
    #[serde(default = "fifty")]
    pub limit: i64,
    /// Move your cursor past the returned messages; false only peeks.
    #[serde(default = "yes")]
    pub mark_read: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClaimParams {
    /// Your name, as given to join: the claim is held by it, and ends when it leaves.
    pub name: String,
    /// Repository-relative paths or git wildmatch globs ("src/store.rs", "src/db/**",
    /// "docs/*.md"); a directory covers everything under it. At most 1000.
    pub paths: Vec<String>,
    /// true: nobody else may claim or edit these paths; false: a shared claim, which only
    /// conflicts with exclusive ones.
    #[serde(default = "yes")]
    pub exclusive: bool,
    /// Why you hold it, shown to whoever is refused (e.g. "refactoring the store").
    #[serde(default = "nobody")]
    pub reason: String,
    /// Seconds after which the claim ends on its own; 0 holds it as long as your name is here.
    #[serde(default = "zero")]
    pub ttl_s: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReleaseParams {
    /// Your name, as given to join.
    pub name: String,
    /// The claimed paths or globs to release, as claimed; empty releases all of yours.
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListClaimsParams {
    /// A path or glob: only the claims that overlap it; empty lists every live claim.
    #[serde(default = "nobody")]
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadReceiptsParams {
    /// The id of the message (as send_message returned it).
    pub message_id: i64,
}
