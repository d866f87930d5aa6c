//! The view from disk, for when no daemon answers: the files read only for what was appended
//! or changed since the last look, kept down to what a frame shows.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use protocol::{Message, Participant, Summary, Topic, TopicStatus};

use crate::commands::source::{self, JsonObjectFile, JsonlTail};
use crate::daemon::room::is_visible_to;
use crate::daemon::store;

use super::*;

/// The room as its files show it, for when no daemon serves it. Each look reads only what was
/// appended to `messages.jsonl` and `summaries.jsonl` since the last (a file replaced or cut back
/// is read again from its start), and `participants.json`, `topics.json` and
/// `topic_cursors.json` only when they changed (a room used the v1 way has neither of the last
/// two), and keeps only what a frame shows: counts, the latest visible messages and summary,
/// the participants, and per topic what the overview shows.
pub(super) struct DiskRoom {
    pub(super) root: String,
    pub(super) messages_file: JsonlTail,
    pub(super) summaries_file: JsonlTail,
    pub(super) participants_file: JsonObjectFile,
    pub(super) topics_file: JsonObjectFile,
    pub(super) topic_cursors_file: JsonObjectFile,
    pub(super) messages: LatestMessages,
    pub(super) summaries: LatestSummary,
    pub(super) participants: BTreeMap<String, Participant>,
    pub(super) topics: BTreeMap<String, Topic>,
    /// name → topic → last read id, as `topic_cursors.json` holds them.
    pub(super) topic_cursors: BTreeMap<String, BTreeMap<String, u64>>,
}

/// What a frame shows of the messages read so far.
#[derive(Debug, Clone, Default)]
pub(super) struct LatestMessages {
    /// The newest messages of the scope shown and visible in the view, at most `--limit`.
    pub(super) visible: VecDeque<Message>,
    pub(super) count: u64,
    pub(super) last_activity_ts: Option<String>,
    /// With `--participant`: per topic, the ids of the messages visible to it, ascending, to
    /// count what it has not read (its cursor moves while the monitor runs). Shared with the
    /// clones a frame makes, and copied only when a clone adds to it (a record lacking its
    /// newline, in a topic): a look costs what it reads, not what the room holds.
    pub(super) visible_in_topics: Arc<BTreeMap<String, Vec<u64>>>,
    /// Per topic, the newest message's timestamp (see [`DiskRoom::with_activity`]).
    pub(super) newest_in_topics: BTreeMap<String, String>,
}

impl LatestMessages {
    pub(super) fn add(&mut self, message: Message, options: &Options) {
        self.count += 1;
        self.last_activity_ts = Some(message.ts.clone());
        let participant = options.participant.as_deref();
        let visible = participant.is_none_or(|name| is_visible_to(&message, name));
        if let Some(topic) = &message.topic_id {
            newest(&mut self.newest_in_topics, topic, &message.ts);
        }
        if let (Some(topic), Some(_), true) = (&message.topic_id, participant, visible) {
            Arc::make_mut(&mut self.visible_in_topics)
                .entry(topic.clone())
                .or_default()
                .push(message.id);
        }
        if visible && options.shows(message.topic_id.as_deref()) {
            self.visible.push_back(message);
            if self.visible.len() > options.limit {
                self.visible.pop_front();
            }
        }
    }

    /// How many messages of `topic` visible to the participant lie after `cursor`.
    pub(super) fn unread_in(&self, topic: &str, cursor: u64) -> u64 {
        self.visible_in_topics.get(topic).map_or(0, |ids| {
            (ids.len() - ids.partition_point(|id| *id <= cursor)) as u64
        })
    }
}

/// What a frame shows of the summaries read so far.
#[derive(Debug, Clone, Default)]
pub(super) struct LatestSummary {
    pub(super) count: u64,
    /// The newest summary of the scope shown, for everyone or for the viewing participant.
    pub(super) latest: Option<Summary>,
    /// The same per topic, for the overview beside the main room.
    pub(super) in_topics: BTreeMap<String, Summary>,
    /// Per topic, the newest summary's timestamp, whoever it is for.
    pub(super) newest_in_topics: BTreeMap<String, String>,
}

impl LatestSummary {
    pub(super) fn add(&mut self, summary: Summary, options: &Options) {
        self.count += 1;
        if let Some(topic) = &summary.topic_id {
            newest(&mut self.newest_in_topics, topic, &summary.ts);
        }
        if !options.reads_summary(&summary.scope) {
            return;
        }
        if let Some(topic) = &summary.topic_id {
            self.in_topics.insert(topic.clone(), summary.clone());
        }
        if options.shows(summary.topic_id.as_deref()) {
            self.latest = Some(summary);
        }
    }
}

/// Keeps `ts` as the newest timestamp of `topic` unless a later one is kept. Timestamps of the
/// contract's one format compare as text.
pub(super) fn newest(newest: &mut BTreeMap<String, String>, topic: &str, ts: &str) {
    match newest.get_mut(topic) {
        Some(kept) if kept.as_str() >= ts => {}
        Some(kept) => ts.clone_into(kept),
        None => {
            newest.insert(topic.to_owned(), ts.to_owned());
        }
    }
}

/// What the disk view keeps of a JSONL file: the newest records it shows and their count.
pub(super) trait Latest<T>: Clone + Default {
    fn add(&mut self, record: T, options: &Options);
}

impl Latest<Message> for LatestMessages {
    fn add(&mut self, message: Message, options: &Options) {
        LatestMessages::add(self, message, options);
    }
}

impl Latest<Summary> for LatestSummary {
    fn add(&mut self, summary: Summary, options: &Options) {
        LatestSummary::add(self, summary, options);
    }
}

/// Takes what was appended to `file` into `latest` (from scratch if the file was replaced) and
/// returns what this frame shows. A record lacking only its newline is shown in this frame only:
/// it is read again, as a record, next time. A file that cannot be read is named in `problems`,
/// and what was read before stays shown.
pub(super) fn follow<T: serde::de::DeserializeOwned, L: Latest<T>>(
    file: &mut JsonlTail,
    latest: &mut L,
    options: &Options,
    problems: &mut Vec<String>,
) -> L {
    match file.read_new::<T>() {
        Ok(appended) => {
            if appended.restarted {
                *latest = L::default();
            }
            for record in appended.records {
                latest.add(record, options);
            }
            let mut shown = latest.clone();
            if let Some(record) = appended.unterminated {
                shown.add(record, options);
            }
            shown
        }
        Err(err) => {
            problems.push(err.to_string());
            latest.clone()
        }
    }
}

/// Reads an object file into `kept` when it changed; a file that cannot be read empties `kept`
/// and is named in `problems`.
pub(super) fn reread<T: serde::de::DeserializeOwned + Default>(
    file: &mut JsonObjectFile,
    kept: &mut T,
    problems: &mut Vec<String>,
) {
    match file.read_if_changed::<T>() {
        Ok(Some(object)) => *kept = object,
        Ok(None) => {}
        Err(err) => {
            *kept = T::default();
            problems.push(format!("{err:#}"));
        }
    }
}

impl DiskRoom {
    pub(super) fn new(root: String, state_dir: &Path) -> Self {
        Self {
            root,
            messages_file: JsonlTail::new(state_dir.join(store::MESSAGES_FILE)),
            summaries_file: JsonlTail::new(state_dir.join(store::SUMMARIES_FILE)),
            participants_file: JsonObjectFile::new(state_dir.join(store::PARTICIPANTS_FILE)),
            topics_file: JsonObjectFile::new(state_dir.join(source::TOPICS_FILE)),
            topic_cursors_file: JsonObjectFile::new(state_dir.join(source::TOPIC_CURSORS_FILE)),
            messages: LatestMessages::default(),
            summaries: LatestSummary::default(),
            participants: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_cursors: BTreeMap::new(),
        }
    }

    /// Reads what changed on disk and returns the frame. A file that cannot be read is named
    /// in the frame's notice; what was read before stays shown.
    pub(super) fn frame(&mut self, options: &Options) -> Frame {
        let mut problems = Vec::new();
        let messages = follow(
            &mut self.messages_file,
            &mut self.messages,
            options,
            &mut problems,
        );
        let summaries = follow(
            &mut self.summaries_file,
            &mut self.summaries,
            options,
            &mut problems,
        );
        reread(
            &mut self.participants_file,
            &mut self.participants,
            &mut problems,
        );
        reread(&mut self.topics_file, &mut self.topics, &mut problems);
        if options.participant.is_some() {
            reread(
                &mut self.topic_cursors_file,
                &mut self.topic_cursors,
                &mut problems,
            );
        }
        let cursor = |topic: &str| {
            options
                .participant
                .as_ref()
                .and_then(|name| self.topic_cursors.get(name))
                .and_then(|cursors| cursors.get(topic))
                .copied()
                .unwrap_or(0)
        };
        let unread = |topic: &str| {
            options
                .participant
                .as_ref()
                .map(|_| messages.unread_in(topic, cursor(topic)))
        };
        let records: Vec<Topic> = self
            .topics
            .values()
            .map(|topic| with_activity(topic, &messages, &summaries))
            .collect();
        let open = records
            .iter()
            .filter(|topic| topic.status == TopicStatus::Open);
        let topic_counts =
            (!records.is_empty()).then(|| (records.len() as u64, open.clone().count() as u64));
        let topics = match (&options.topic, topic_counts) {
            (None, Some(_)) => {
                let mut rows: Vec<TopicRow> = open
                    .map(|topic| TopicRow {
                        unread: unread(&topic.id),
                        latest_summary: summaries.in_topics.get(&topic.id).cloned(),
                        topic: topic.clone(),
                    })
                    .collect();
                sort_like_list_topics(&mut rows);
                Some(rows)
            }
            _ => None,
        };
        let topic = options
            .topic
            .as_ref()
            .and_then(|id| records.iter().find(|topic| &topic.id == id).cloned());
        Frame {
            claims: Vec::new(),
            root: self.root.clone(),
            daemon: None,
            participants: self.participants.values().cloned().collect(),
            sessions: Vec::new(),
            unread: options.topic.as_deref().and_then(unread),
            messages: messages.visible,
            latest_summary: summaries.latest,
            message_count: messages.count,
            summary_count: summaries.count,
            last_activity_ts: messages.last_activity_ts,
            topic_counts,
            topics,
            topic,
            notice: (!problems.is_empty())
                .then(|| format!("cannot read the room: {}", problems.join("; "))),
        }
    }
}

/// `topic` with its last activity brought up to its newest record: the daemon writes a topic's
/// activity to `topics.json` lazily (within a second, and at a clean stop), and derives it from
/// the records when it starts, so the files' records are what it would answer.
pub(super) fn with_activity(
    topic: &Topic,
    messages: &LatestMessages,
    summaries: &LatestSummary,
) -> Topic {
    let mut topic = topic.clone();
    for newest in [
        messages.newest_in_topics.get(&topic.id),
        summaries.newest_in_topics.get(&topic.id),
    ]
    .into_iter()
    .flatten()
    {
        if newest > &topic.last_activity_ts {
            topic.last_activity_ts.clone_from(newest);
        }
    }
    topic
}

/// `list_topics`' order: the most recently active first, ties by id descending (the v2
/// server's). Timestamps of one format compare as text.
pub(super) fn sort_like_list_topics(rows: &mut [TopicRow]) {
    rows.sort_by(|a, b| {
        (&b.topic.last_activity_ts, &b.topic.id).cmp(&(&a.topic.last_activity_ts, &a.topic.id))
    });
}
