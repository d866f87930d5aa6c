//! The topics: v2's explicit workstreams beside the main room, their records (`open_topic`,
//! `close_topic`, `list_topics`) and the scope rules every topic-scoped tool shares — a blank
//! `topic_id` is the main room, any other must match the contract's pattern and name a topic
//! that exists, and only an open topic takes writes.
//!
//! A topic's messages, summaries and cursors live with the other messages, summaries and cursors,
//! indexed per scope (`messages`, `summaries`, `cursors`); this part holds the records alone.

use protocol::{
    Message, Refusal, Response, Summary, Topic, TopicListing, TopicProgress, TopicStatus,
};

use super::params::{optional_name_param, required};
use super::undo::{RecordedMap, Undoable};
use super::{Changes, Handled, Room, SYSTEM};
use crate::shared::time::format_ts;

/// A scope: `None` is the main room, `Some(id)` a topic.
pub type Scope<'a> = Option<&'a str>;

/// The longest topic id the pattern allows.
const MAX_TOPIC_ID_CHARS: usize = 64;
const MAX_TITLE_CHARS: usize = 256;
/// What every bad `topic_id` is told: the contract's pattern.
const TOPIC_ID_RULE: &str = "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$";

/// Every topic record, by id.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Topics {
    by_id: RecordedMap<String, Topic>,
}

impl Topics {
    pub(super) fn restore(topics: Vec<Topic>) -> Self {
        Self {
            by_id: topics
                .into_iter()
                .map(|topic| (topic.id.clone(), topic))
                .collect(),
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<&Topic> {
        self.by_id.get(id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn open_count(&self) -> usize {
        self.by_id
            .iter()
            .filter(|(_, topic)| topic.status == TopicStatus::Open)
            .count()
    }

    /// Every record, by id.
    pub(super) fn all(&self) -> impl Iterator<Item = &Topic> {
        self.by_id.iter().map(|(_, topic)| topic)
    }

    pub(super) fn insert(&mut self, topic: Topic) {
        self.by_id.insert(topic.id.clone(), topic);
    }

    /// Moves the topic's `last_activity_ts` to `ts` (a message or summary in it); true if it
    /// changed.
    pub(super) fn touch(&mut self, id: &str, ts: &str) -> bool {
        match self.by_id.get(id) {
            Some(topic) if topic.last_activity_ts.as_str() < ts => {}
            _ => return false,
        }
        if let Some(topic) = self.by_id.get_mut(id) {
            topic.last_activity_ts = ts.to_owned();
        }
        true
    }
}

impl Undoable for Topics {
    fn begin(&mut self) {
        self.by_id.begin();
    }

    fn commit(&mut self) {
        self.by_id.commit();
    }

    fn roll_back(&mut self) {
        self.by_id.roll_back();
    }
}

/// A `topic_id` as the contract wants it: trimmed, then matching `^[a-z0-9][a-z0-9._-]{0,63}$`.
/// `None` when blank.
pub(super) fn topic_id_param(value: &str) -> Result<Option<&str>, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let mut chars = value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit());
    let rest_ok = chars
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-');
    if !first_ok || !rest_ok || value.len() > MAX_TOPIC_ID_CHARS {
        return Err(Refusal::invalid(TOPIC_ID_RULE));
    }
    Ok(Some(value))
}

/// The `topic_id` that names every scope at once (search, subscriptions, waits).
pub const EVERY_SCOPE: &str = "*";

/// What a subscribed session is sent: the messages of its scopes visible to its participant,
/// the summaries of its scopes, and the records of its topics as they open and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Only messages visible to this name; every message when `None`.
    pub participant: Option<String>,
    /// `None`: every scope; `Some(None)`: the main room; `Some(Some(id))`: that topic.
    pub scope: Option<Option<String>>,
}

impl Subscription {
    fn in_scope(&self, topic: Option<&String>) -> bool {
        match &self.scope {
            None => true,
            Some(scope) => scope.as_ref() == topic,
        }
    }

    pub fn wants_message(&self, message: &Message) -> bool {
        self.in_scope(message.topic_id.as_ref())
            && self
                .participant
                .as_deref()
                .is_none_or(|name| super::is_visible_to(message, name))
    }

    pub fn wants_summary(&self, summary: &Summary) -> bool {
        self.in_scope(summary.topic_id.as_ref())
    }

    /// A topic's record when it opens or closes: for subscriptions of every scope or of it.
    pub fn wants_topic(&self, topic: &Topic) -> bool {
        match &self.scope {
            None => true,
            Some(scope) => scope.as_deref() == Some(topic.id.as_str()),
        }
    }
}

fn unknown(id: &str) -> Refusal {
    Refusal::invalid(format!("unknown topic_id: {id}"))
}

impl Room {
    /// Validates a subscription like a read: `participant` as `read_messages`' (blank: every
    /// message), `topic_id` blank for the main room, `"*"` for every scope, else a topic that
    /// exists.
    pub fn subscription(&self, participant: &str, topic_id: &str) -> Result<Subscription, Refusal> {
        let participant = optional_name_param("participant", participant)?.map(str::to_owned);
        let scope = match topic_id.trim() {
            EVERY_SCOPE => None,
            _ => Some(self.read_scope(topic_id)?.map(str::to_owned)),
        };
        Ok(Subscription { participant, scope })
    }

    /// The scope a topic-scoped read names: the main room when blank, else a topic that exists
    /// (open or closed).
    pub(super) fn read_scope<'a>(&self, topic_id: &'a str) -> Result<Scope<'a>, Refusal> {
        let scope = topic_id_param(topic_id)?;
        if let Some(id) = scope
            && self.topics.get(id).is_none()
        {
            return Err(unknown(id));
        }
        Ok(scope)
    }

    /// The scope a write names: as [`Room::read_scope`], and a topic must be open.
    pub(super) fn write_scope<'a>(&self, topic_id: &'a str) -> Result<Scope<'a>, Refusal> {
        let scope = self.read_scope(topic_id)?;
        if let Some(id) = scope
            && self.topics.get(id).map(|topic| topic.status) == Some(TopicStatus::Closed)
        {
            return Err(Refusal::invalid(format!("topic '{id}' is closed")));
        }
        Ok(scope)
    }

    /// A message or summary went into `scope` at `ts`: a topic's `last_activity_ts` follows.
    pub(super) fn touch_scope(&mut self, scope: Scope<'_>, ts: &str) -> bool {
        scope.is_some_and(|id| self.topics.touch(id, ts))
    }

    /// Whether the room has ever opened a topic: until then it is a v1 room, files and all.
    pub fn has_topics(&self) -> bool {
        self.topics.len() > 0
    }

    /// The record of the topic `id`.
    pub fn topic(&self, id: &str) -> Option<Topic> {
        self.topics.get(id).cloned()
    }

    /// Every topic record, by id.
    pub fn topics(&self) -> Vec<Topic> {
        self.topics.all().cloned().collect()
    }

    /// How many topics there are, and how many are open.
    pub fn topic_counts(&self) -> (usize, usize) {
        (self.topics.len(), self.topics.open_count())
    }

    pub(super) fn open_topic(
        &mut self,
        topic_id: &str,
        title: &str,
        name: &str,
        now: u64,
    ) -> Handled {
        let id = topic_id_param(topic_id)?
            .ok_or_else(|| Refusal::invalid("topic_id must not be blank"))?;
        let title = required("title", title)?;
        if title.chars().nth(MAX_TITLE_CHARS).is_some() {
            return Err(Refusal::invalid(format!(
                "title must be at most {MAX_TITLE_CHARS} characters"
            )));
        }
        if title.chars().any(char::is_control) {
            return Err(Refusal::invalid(
                "title must not contain control characters",
            ));
        }
        let created_by = optional_name_param("name", name)?.unwrap_or(SYSTEM);
        if self.topics.get(id).is_some() {
            return Err(Refusal::invalid(format!("topic '{id}' already exists")));
        }
        let ts = format_ts(now);
        let topic = Topic {
            id: id.to_owned(),
            title: title.to_owned(),
            status: TopicStatus::Open,
            created_by: created_by.to_owned(),
            created_at: ts.clone(),
            closed_at: None,
            last_activity_ts: ts,
        };
        self.topics.insert(topic.clone());
        let changes = Changes {
            topics: true,
            topic_records: vec![topic.clone()],
            ..Changes::default()
        };
        Ok((Response::Topic(topic), changes))
    }

    pub(super) fn close_topic(&mut self, topic_id: &str, now: u64) -> Handled {
        let id = topic_id_param(topic_id)?
            .ok_or_else(|| Refusal::invalid("topic_id must not be blank"))?;
        let Some(topic) = self.topics.get(id) else {
            return Err(unknown(id));
        };
        if topic.status == TopicStatus::Closed {
            return Ok((Response::Closed(false), Changes::default()));
        }
        let ts = format_ts(now);
        let mut topic = topic.clone();
        topic.status = TopicStatus::Closed;
        topic.closed_at = Some(ts.clone());
        topic.last_activity_ts = ts;
        self.topics.insert(topic.clone());
        let changes = Changes {
            topics: true,
            topic_records: vec![topic],
            ..Changes::default()
        };
        Ok((Response::Closed(true), changes))
    }

    pub(super) fn list_topics(&self, name: &str, status: &str) -> Handled {
        let name = optional_name_param("name", name)?;
        let wanted = match required("status", status)? {
            "open" => Some(TopicStatus::Open),
            "closed" => Some(TopicStatus::Closed),
            "all" => None,
            _ => {
                return Err(Refusal::invalid("status must be one of: open, closed, all"));
            }
        };
        let mut listings: Vec<TopicListing> = self
            .topics
            .all()
            .filter(|topic| wanted.is_none_or(|status| topic.status == status))
            .map(|topic| TopicListing {
                topic: topic.clone(),
                progress: name.map(|name| self.progress(&topic.id, name)),
            })
            .collect();
        // v2's order: the latest activity first, ties by id descending.
        listings.sort_by(|a, b| {
            (&b.topic.last_activity_ts, &b.topic.id).cmp(&(&a.topic.last_activity_ts, &a.topic.id))
        });
        Ok((Response::Topics(listings), Changes::default()))
    }

    /// Where `name` stands in the topic `id`.
    fn progress(&self, id: &str, name: &str) -> TopicProgress {
        let scope = Some(id);
        let cursor = self.cursors.get(scope, name);
        TopicProgress {
            latest_message_id: self.messages.scope_last_id(scope),
            cursor,
            unread_count: self.messages.visible_after(scope, name, cursor).count() as u64,
            latest_summary: self.summaries.latest_for(scope, Some(name)).cloned(),
        }
    }
}
