//! `chatroomd monitor`: a live view of the room for the person running the agents. It follows
//! the room through events the daemon pushes (no re-reading of files while a daemon runs), and
//! redraws in place on a terminal; in a pipe it prints plain frames with no control codes. With
//! no daemon running it shows the room from disk, reading only what was appended since it last
//! looked, says so, and never starts one; it switches to the live view as soon as a daemon
//! appears.
//!
//! It shows the main room, and beside it an overview of the open topics (last activity, the
//! latest summary's first line, and the viewing participant's unread count), once the room has
//! any: a room used the v1 way looks exactly as before topics. With `--topic` it shows that one
//! topic instead: its record, its latest summary and its latest messages.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatroom_client::{CallError, Connection};
use protocol::paths::RoomPaths;
use protocol::{
    ClientKind, DaemonStatus, Event, Message, Participant, Request, Response, SessionInfo, Summary,
    Topic, TopicStatus,
};

use crate::commands::control;
use crate::shared::time::unix_now;

use crate::commands::source::{self, JsonObjectFile, JsonlTail};
use crate::commands::transcript::write_stdout;
use crate::commands::view;
use crate::daemon::room::{is_visible_to, subscription_filter};
use crate::daemon::store;

/// What the monitor shows and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many of the latest messages to show (1..=100).
    pub limit: usize,
    /// Show what this participant would see (its visible messages and summaries).
    pub participant: Option<String>,
    /// How often to refresh ages and counts, and to re-read the files when no daemon runs.
    pub interval: Duration,
    /// Print one frame and exit.
    pub once: bool,
    /// Show this topic (its id, already checked against the contract's rule) instead of the
    /// main room and the overview of topics.
    pub topic: Option<String>,
}

impl Options {
    /// Whether a record whose `topic_id` is `topic` belongs to what the view shows.
    fn shows(&self, topic: Option<&str>) -> bool {
        topic == self.topic.as_deref()
    }

    /// Whether a summary of scope `scope` is one the view's participant reads (every
    /// participant reads those for `all`).
    fn reads_summary(&self, scope: &str) -> bool {
        scope == "all" || self.participant.as_deref() == Some(scope)
    }
}

/// The shortest and longest `--interval`: faster would only redraw for nothing, and a longer
/// one (or an infinite one) is not a refresh at all and overflows the timer.
const INTERVAL_SECS: std::ops::RangeInclusive<f64> = 0.1..=3600.0;

/// `--interval` as a duration, refused with one line when it is not a number of seconds in
/// [`INTERVAL_SECS`].
pub fn interval(secs: f64) -> anyhow::Result<Duration> {
    if !INTERVAL_SECS.contains(&secs) {
        anyhow::bail!(
            "--interval must be between {} and {} seconds, not {secs:?}",
            INTERVAL_SECS.start(),
            INTERVAL_SECS.end()
        );
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Everything one frame shows.
#[derive(Debug, Default, Clone)]
pub struct Frame {
    pub root: String,
    /// `None` when no daemon runs (the frame then comes from the files).
    pub daemon: Option<DaemonStatus>,
    pub participants: Vec<Participant>,
    pub sessions: Vec<SessionInfo>,
    /// The latest messages of the scope shown (the main room, or the topic of `--topic`).
    pub messages: VecDeque<Message>,
    pub latest_summary: Option<Summary>,
    pub message_count: u64,
    pub summary_count: u64,
    pub last_activity_ts: Option<String>,
    /// `(topics, open topics)` in the room; `None` in a room that never opened one.
    pub topic_counts: Option<(u64, u64)>,
    /// The open topics, most recently active first, in a view of the main room of a room that
    /// has topics; `None` otherwise.
    pub topics: Option<Vec<TopicRow>>,
    /// With `--topic`: the topic's record (`None` until it is known).
    pub topic: Option<Topic>,
    /// With `--topic` and `--participant`: the participant's unread count in the topic.
    pub unread: Option<u64>,
    /// A problem to show under the header (a lost connection, an unreadable file).
    pub notice: Option<String>,
}

/// One line of the overview of open topics.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRow {
    pub topic: Topic,
    /// The viewing participant's unread count in the topic; `None` without `--participant`.
    pub unread: Option<u64>,
    /// The newest summary in the topic the viewer reads (scope `all`, or the participant's).
    pub latest_summary: Option<Summary>,
}

/// Runs the monitor until interrupted (or after one frame with `--once`).
pub async fn monitor(paths: &RoomPaths, options: Options) -> anyhow::Result<()> {
    let terminal = std::io::stdout().is_terminal();
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    if let Some(participant) = &options.participant {
        // Refused here, once, in the daemon's words: a refusal later means a daemon in trouble.
        subscription_filter(participant).map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
    }
    let mut disk: Option<DiskRoom> = None;
    // Why the last live view ended or the last connection failed, for the next frame.
    let mut notice: Option<String> = None;
    loop {
        // A daemon going away (or not quite up, or of another version) may hang up or refuse
        // mid-handshake: the files are shown meanwhile, saying so, and it is tried again at the
        // next tick. A refusal is the room's answer to what was asked (an unknown topic), the
        // same from any daemon: it ends the monitor.
        let live = match Live::connect(paths, &options).await {
            Ok(live) => live,
            Err(err) if is_refusal(&err) => return Err(err),
            Err(err) => {
                notice = Some(format!("cannot reach chatroomd: {err:#}"));
                None
            }
        };
        match live {
            Some(mut live) => {
                notice = None;
                draw(&live.state.frame, &options, terminal)?;
                if options.once {
                    return Ok(());
                }
                let mut last_draw = Instant::now();
                loop {
                    tokio::select! {
                        event = live.connection.next_event() => match event {
                            Some(event) => live.state.apply(event, &options),
                            None => break,
                        },
                        _ = ticker.tick() => {
                            if let Err(err) = live.refresh(&options).await {
                                notice = Some(format!("lost the daemon: {err:#}"));
                                break;
                            }
                        }
                        _ = &mut interrupted => return Ok(()),
                    }
                    // Bursts of events redraw at most every 50 ms.
                    if last_draw.elapsed() >= Duration::from_millis(50)
                        || !live.connection.has_event()
                    {
                        if live.state.topics_stale
                            && let Err(err) = live.refresh_topics(&options).await
                        {
                            notice = Some(format!("lost the daemon: {err:#}"));
                            break;
                        }
                        draw(&live.state.frame, &options, terminal)?;
                        last_draw = Instant::now();
                    }
                }
            }
            None => {
                // Kept while the daemon comes and goes: the files only grow meanwhile (or are
                // cut back, which the tails notice), so each look reads only what is new.
                let disk = disk.get_or_insert_with(|| {
                    DiskRoom::new(paths.root.display().to_string(), &paths.state_dir)
                });
                let mut frame = disk.frame(&options);
                if let Some(id) = &options.topic
                    && frame.topic.is_none()
                    && frame.notice.is_none()
                {
                    // The room's refusal, as a daemon would give it.
                    anyhow::bail!("unknown topic_id: {id}");
                }
                if let Some(notice) = notice.take() {
                    frame.notice = Some(match frame.notice {
                        Some(problem) => format!("{notice}; {problem}"),
                        None => notice,
                    });
                }
                draw(&frame, &options, terminal)?;
                if options.once {
                    return Ok(());
                }
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = &mut interrupted => return Ok(()),
                }
            }
        }
    }
}

/// Whether `err` is the daemon refusing a request (rather than failing to answer it).
fn is_refusal(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<CallError>(), Some(CallError::Refused(_)))
}

/// A live view: one connection, subscribed to the room's events and asked for what events do
/// not carry. Events that arrive while a query is answered wait in the connection, in order.
struct Live {
    state: Followed,
    connection: Connection,
}

/// What a live view knows, kept up to date by events ([`Followed::apply`], pure) and by the
/// queries [`Live`] makes.
#[derive(Debug, Default)]
struct Followed {
    frame: Frame,
    /// Whether an event changed the topics since they were last asked for (their order, last
    /// activity, unread counts): they are asked for again before the next frame is drawn.
    topics_stale: bool,
    /// The newest summary the viewer reads in each topic, kept from events between listings.
    topic_summaries: BTreeMap<String, Summary>,
    /// The topics whose latest summary was asked for on this connection (once each: events
    /// carry the later ones).
    summaries_asked: BTreeSet<String>,
}

impl Live {
    async fn connect(paths: &RoomPaths, options: &Options) -> anyhow::Result<Option<Self>> {
        // A person watching is a session (listed, and keeping the daemon from its idle exit); a
        // single frame is a one-shot command.
        let kind = match options.once {
            true => ClientKind::Control,
            false => ClientKind::Human,
        };
        let Some(connection) = control::connect(paths, kind).await? else {
            return Ok(None);
        };
        let participant = options.participant.clone().unwrap_or_default();
        let topic_id = options.topic.clone().unwrap_or_default();
        // Subscribe before taking the snapshot; events it already covers are skipped by id. The
        // main room's view follows every scope, for the overview of topics beside it.
        if !options.once {
            connection
                .request(Request::Subscribe {
                    topic_id: options.topic.as_deref().unwrap_or("*").to_owned(),
                    participant: participant.clone(),
                })
                .await?;
        }
        let Response::Handoff(handoff) = connection
            .request(Request::GetHandoff {
                topic_id,
                name: participant,
                recent_limit: options.limit as i64,
            })
            .await?
        else {
            anyhow::bail!("unexpected reply from chatroomd to get_handoff");
        };
        let mut live = Self {
            state: Followed {
                frame: Frame {
                    root: paths.root.display().to_string(),
                    messages: handoff.recent_messages.into(),
                    latest_summary: handoff.latest_summary,
                    topic: handoff.topic,
                    unread: handoff.unread_count.filter(|_| options.topic.is_some()),
                    ..Frame::default()
                },
                ..Followed::default()
            },
            connection,
        };
        live.refresh(options).await?;
        Ok(Some(live))
    }

    /// Re-reads what events do not carry: uptime, counts, sessions, and the topics (a cursor
    /// moved by a read is not an event).
    async fn refresh(&mut self, options: &Options) -> anyhow::Result<()> {
        let Response::DaemonStatus(status) = self.connection.request(Request::DaemonStatus).await?
        else {
            anyhow::bail!("unexpected reply from chatroomd to status");
        };
        self.state.frame.participants = status.participants.clone();
        self.state.frame.sessions = status.sessions.clone();
        self.state.frame.message_count = status.message_count;
        self.state.frame.summary_count = status.summary_count;
        self.state.frame.last_activity_ts = status.last_activity_ts.clone();
        self.state.frame.topic_counts =
            (status.topic_count > 0).then_some((status.topic_count, status.open_topic_count));
        self.state.frame.daemon = Some(status);
        self.refresh_topics(options).await
    }

    /// Asks for the topic shown (its record and the participant's unread count), or for the
    /// overview of open topics beside the main room.
    async fn refresh_topics(&mut self, options: &Options) -> anyhow::Result<()> {
        self.state.topics_stale = false;
        let participant = options.participant.clone().unwrap_or_default();
        if let Some(topic_id) = &options.topic {
            let Response::Handoff(handoff) = self
                .connection
                .request(Request::GetHandoff {
                    topic_id: topic_id.clone(),
                    name: participant,
                    recent_limit: 1,
                })
                .await?
            else {
                anyhow::bail!("unexpected reply from chatroomd to get_handoff");
            };
            self.state.frame.topic = handoff.topic;
            self.state.frame.unread = handoff.unread_count;
            return Ok(());
        }
        if self.state.frame.topic_counts.is_none() {
            self.state.frame.topics = None;
            return Ok(());
        }
        let Response::Topics(listings) = self
            .connection
            .request(Request::ListTopics {
                name: participant,
                status: "open".to_owned(),
            })
            .await?
        else {
            anyhow::bail!("unexpected reply from chatroomd to list_topics");
        };
        let mut rows = Vec::with_capacity(listings.len());
        for listing in listings {
            let id = listing.topic.id.clone();
            match &listing.progress {
                // A participant's listing carries the summary it reads.
                Some(progress) => {
                    self.state.summaries_asked.insert(id.clone());
                    if let Some(summary) = &progress.latest_summary {
                        self.state.keep_summary(&id, summary.clone());
                    }
                }
                None if !self.state.summaries_asked.contains(&id) => {
                    self.state.summaries_asked.insert(id.clone());
                    let Response::Summary(summary) = self
                        .connection
                        .request(Request::ReadLatestSummary {
                            scope: "all".to_owned(),
                            topic_id: id.clone(),
                        })
                        .await?
                    else {
                        anyhow::bail!("unexpected reply from chatroomd to read_latest_summary");
                    };
                    if let Some(summary) = summary {
                        self.state.keep_summary(&id, summary);
                    }
                }
                None => {}
            }
            rows.push(TopicRow {
                unread: listing
                    .progress
                    .as_ref()
                    .map(|progress| progress.unread_count),
                latest_summary: self.state.topic_summaries.get(&id).cloned(),
                topic: listing.topic,
            });
        }
        self.state.frame.topics = Some(rows);
        Ok(())
    }
}

impl Followed {
    /// Keeps `summary` as the newest of topic `id` unless a newer one is kept already.
    fn keep_summary(&mut self, id: &str, summary: Summary) {
        let newer = self
            .topic_summaries
            .get(id)
            .is_none_or(|kept| kept.id < summary.id);
        if newer {
            self.topic_summaries.insert(id.to_owned(), summary);
        }
    }

    fn apply(&mut self, event: Event, options: &Options) {
        match event {
            Event::Message(message) => {
                let frame = &mut self.frame;
                frame.message_count += 1;
                frame.last_activity_ts = Some(message.ts.clone());
                if message.topic_id.is_some() && options.topic.is_none() {
                    // Beside the main room: a topic's order, activity and unread count moved.
                    self.topics_stale = true;
                }
                if !options.shows(message.topic_id.as_deref())
                    || frame
                        .messages
                        .back()
                        .is_some_and(|last| last.id >= message.id)
                {
                    return;
                }
                frame.messages.push_back(message);
                while frame.messages.len() > options.limit {
                    frame.messages.pop_front();
                }
            }
            Event::Summary(summary) => {
                self.frame.summary_count += 1;
                if !options.reads_summary(&summary.scope) {
                    return;
                }
                if let (Some(id), None) = (&summary.topic_id, &options.topic) {
                    let id = id.clone();
                    self.keep_summary(&id, summary);
                    self.topics_stale = true;
                    return;
                }
                let frame = &mut self.frame;
                if options.shows(summary.topic_id.as_deref())
                    && frame
                        .latest_summary
                        .as_ref()
                        .is_none_or(|latest| latest.id < summary.id)
                {
                    frame.latest_summary = Some(summary);
                }
            }
            Event::Presence {
                participants,
                sessions,
            } => {
                self.frame.participants = participants;
                self.frame.sessions = sessions;
            }
            Event::Topic(topic) => {
                if options.topic.as_deref() == Some(topic.id.as_str()) {
                    self.frame.topic = Some(topic);
                } else if options.topic.is_none() {
                    // Opened or closed: the counts and the overview change.
                    let (count, open) = self.frame.topic_counts.unwrap_or((0, 0));
                    let known = self
                        .frame
                        .topics
                        .as_ref()
                        .is_some_and(|rows| rows.iter().any(|row| row.topic.id == topic.id));
                    self.frame.topic_counts = Some(match topic.status {
                        TopicStatus::Open if !known => (count + 1, open + 1),
                        TopicStatus::Closed if known => (count, open.saturating_sub(1)),
                        _ => (count, open),
                    });
                    self.topics_stale = true;
                }
            }
        }
    }
}

/// The room as its files show it, for when no daemon serves it. Each look reads only what was
/// appended to `messages.jsonl` and `summaries.jsonl` since the last (a file replaced or cut back
/// is read again from its start), and `participants.json`, `topics.json` and
/// `topic_cursors.json` only when they changed (a room used the v1 way has neither of the last
/// two), and keeps only what a frame shows: counts, the latest visible messages and summary,
/// the participants, and per topic what the overview shows.
struct DiskRoom {
    root: String,
    messages_file: JsonlTail,
    summaries_file: JsonlTail,
    participants_file: JsonObjectFile,
    topics_file: JsonObjectFile,
    topic_cursors_file: JsonObjectFile,
    messages: LatestMessages,
    summaries: LatestSummary,
    participants: BTreeMap<String, Participant>,
    topics: BTreeMap<String, Topic>,
    /// name → topic → last read id, as `topic_cursors.json` holds them.
    topic_cursors: BTreeMap<String, BTreeMap<String, u64>>,
}

/// What a frame shows of the messages read so far.
#[derive(Debug, Clone, Default)]
struct LatestMessages {
    /// The newest messages of the scope shown and visible in the view, at most `--limit`.
    visible: VecDeque<Message>,
    count: u64,
    last_activity_ts: Option<String>,
    /// With `--participant`: per topic, the ids of the messages visible to it, ascending, to
    /// count what it has not read (its cursor moves while the monitor runs). Shared with the
    /// clones a frame makes, and copied only when a clone adds to it (a record lacking its
    /// newline, in a topic): a look costs what it reads, not what the room holds.
    visible_in_topics: Arc<BTreeMap<String, Vec<u64>>>,
    /// Per topic, the newest message's timestamp (see [`DiskRoom::with_activity`]).
    newest_in_topics: BTreeMap<String, String>,
}

impl LatestMessages {
    fn add(&mut self, message: Message, options: &Options) {
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
    fn unread_in(&self, topic: &str, cursor: u64) -> u64 {
        self.visible_in_topics.get(topic).map_or(0, |ids| {
            (ids.len() - ids.partition_point(|id| *id <= cursor)) as u64
        })
    }
}

/// What a frame shows of the summaries read so far.
#[derive(Debug, Clone, Default)]
struct LatestSummary {
    count: u64,
    /// The newest summary of the scope shown, for everyone or for the viewing participant.
    latest: Option<Summary>,
    /// The same per topic, for the overview beside the main room.
    in_topics: BTreeMap<String, Summary>,
    /// Per topic, the newest summary's timestamp, whoever it is for.
    newest_in_topics: BTreeMap<String, String>,
}

impl LatestSummary {
    fn add(&mut self, summary: Summary, options: &Options) {
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
fn newest(newest: &mut BTreeMap<String, String>, topic: &str, ts: &str) {
    match newest.get_mut(topic) {
        Some(kept) if kept.as_str() >= ts => {}
        Some(kept) => ts.clone_into(kept),
        None => {
            newest.insert(topic.to_owned(), ts.to_owned());
        }
    }
}

/// What the disk view keeps of a JSONL file: the newest records it shows and their count.
trait Latest<T>: Clone + Default {
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
fn follow<T: serde::de::DeserializeOwned, L: Latest<T>>(
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
fn reread<T: serde::de::DeserializeOwned + Default>(
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
    fn new(root: String, state_dir: &Path) -> Self {
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
    fn frame(&mut self, options: &Options) -> Frame {
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
fn with_activity(topic: &Topic, messages: &LatestMessages, summaries: &LatestSummary) -> Topic {
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
fn sort_like_list_topics(rows: &mut [TopicRow]) {
    rows.sort_by(|a, b| {
        (&b.topic.last_activity_ts, &b.topic.id).cmp(&(&a.topic.last_activity_ts, &a.topic.id))
    });
}

fn draw(frame: &Frame, options: &Options, terminal: bool) -> anyhow::Result<()> {
    let mut text = render(frame, options, unix_now(), terminal);
    if terminal {
        // Home, then clear below: the frame is redrawn in place.
        text = format!("\x1b[H\x1b[2J{text}");
    } else {
        text.push('\n');
    }
    write_stdout(&text)
}

/// How many characters of a title and of a summary the overview of topics shows.
const TITLE_CHARS: usize = 40;
const SUMMARY_CHARS: usize = 60;

/// One frame as text. `styled` adds bold headings (terminal only); the layout is the same.
pub fn render(frame: &Frame, options: &Options, now: u64, styled: bool) -> String {
    use std::fmt::Write as _;
    let heading = |text: &str| {
        if styled {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        heading(&format!("chatroom · {}", view::inline(&frame.root)))
    );
    match &frame.daemon {
        Some(daemon) => {
            let _ = writeln!(
                out,
                "daemon: pid {}, version {}, up {}",
                daemon.pid,
                view::inline(&daemon.package_version),
                view::duration(daemon.uptime_secs)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "daemon: down (showing the room from disk; it starts with the first agent)"
            );
        }
    }
    if let Some(id) = &options.topic {
        match &frame.topic {
            Some(topic) => {
                let _ = writeln!(
                    out,
                    "topic: {}, last activity {}",
                    view::topic_heading(topic),
                    view::ago(&topic.last_activity_ts, now)
                );
            }
            None => {
                let _ = writeln!(out, "topic: {}", view::inline(id));
            }
        }
    }
    if let Some(participant) = &options.participant {
        let unread = frame
            .unread
            .map_or_else(String::new, |unread| format!(" ({unread} unread here)"));
        let _ = writeln!(out, "view: what {} sees{unread}", view::inline(participant));
    }
    if let Some(notice) = &frame.notice {
        // A notice may quote a file's contents (a parse error).
        let _ = writeln!(out, "note: {}", view::inline(notice));
    }
    let topic_counts = frame
        .topic_counts
        .map_or_else(String::new, |(count, open)| {
            format!("  topics: {open} open of {count}")
        });
    let _ = writeln!(
        out,
        "messages: {}  summaries: {}  sessions: {}  last activity: {}{topic_counts}",
        frame.message_count,
        frame.summary_count,
        frame.sessions.len(),
        frame
            .last_activity_ts
            .as_deref()
            .map_or_else(|| "never".to_owned(), |ts| view::ago(ts, now))
    );
    let _ = writeln!(out);
    let title = if frame.daemon.is_some() {
        "participants"
    } else {
        "participants recorded on disk"
    };
    let _ = writeln!(
        out,
        "{}",
        heading(&format!("{title} ({})", frame.participants.len()))
    );
    if frame.participants.is_empty() {
        let _ = writeln!(out, "  nobody");
    } else {
        out.push_str(&view::participants_table(
            &frame.participants,
            &frame.sessions,
            now,
        ));
    }
    if let Some(people) = view::people_line(&frame.sessions) {
        let _ = writeln!(out, "{people}");
    }
    if let Some(rows) = &frame.topics {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", heading(&format!("open topics ({})", rows.len())));
        if rows.is_empty() {
            let _ = writeln!(out, "  none open");
        } else {
            out.push_str(&topic_overview(rows, now));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", heading("latest summary"));
    match &frame.latest_summary {
        Some(summary) => {
            let _ = writeln!(out, "{}", view::indent(&view::summary_text(summary), "  "));
        }
        None => {
            let _ = writeln!(out, "  none yet");
        }
    }
    let _ = writeln!(out);
    // Where the messages are from, once the room has more than one place they can be.
    let place = match (&options.topic, &frame.topics) {
        (Some(id), _) => format!(" in topic {}", view::inline(id)),
        (None, Some(_)) => " in the main room".to_owned(),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        out,
        "{}",
        heading(&format!(
            "latest messages{place} ({} shown)",
            frame.messages.len()
        ))
    );
    if frame.messages.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for message in &frame.messages {
        let _ = writeln!(out, "{}", view::indent(&view::message_line(message), "  "));
    }
    out
}

/// The overview of open topics: one line each, with the viewer's unread count when the rows
/// carry one, and the first line of the latest summary.
fn topic_overview(rows: &[TopicRow], now: u64) -> String {
    let with_unread = rows.iter().any(|row| row.unread.is_some());
    let summary = |row: &TopicRow| {
        row.latest_summary.as_ref().map_or_else(
            || "-".to_owned(),
            |summary| {
                format!(
                    "{}: {}",
                    summary.from,
                    view::snippet(&summary.content, SUMMARY_CHARS)
                )
            },
        )
    };
    if with_unread {
        let mut table = vec![[
            "ID".to_owned(),
            "LAST ACTIVITY".to_owned(),
            "UNREAD".to_owned(),
            "TITLE".to_owned(),
            "LATEST SUMMARY".to_owned(),
        ]];
        table.extend(rows.iter().map(|row| {
            [
                row.topic.id.clone(),
                view::ago(&row.topic.last_activity_ts, now),
                row.unread.unwrap_or(0).to_string(),
                view::snippet(&row.topic.title, TITLE_CHARS),
                summary(row),
            ]
        }));
        view::table(&table)
    } else {
        let mut table = vec![[
            "ID".to_owned(),
            "LAST ACTIVITY".to_owned(),
            "TITLE".to_owned(),
            "LATEST SUMMARY".to_owned(),
        ]];
        table.extend(rows.iter().map(|row| {
            [
                row.topic.id.clone(),
                view::ago(&row.topic.last_activity_ts, now),
                view::snippet(&row.topic.title, TITLE_CHARS),
                summary(row),
            ]
        }));
        view::table(&table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::time::parse_ts;

    fn message_line_json(id: u64, to: &str) -> String {
        format!(
            "{{\"id\":{id},\"ts\":\"2026-11-24T09:15:{:02}Z\",\"from\":\"bo\",\"to\":\"{to}\",\"content\":\"m{id}\"}}\n",
            id % 60
        )
    }

    fn append(path: &std::path::Path, text: &str) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn with_no_daemon_each_look_reads_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let messages = dir.path().join(store::MESSAGES_FILE);
        let history: String = (1..=3000)
            .map(|id| message_line_json(id, if id % 2 == 0 { "ana" } else { "all" }))
            .chain(std::iter::once(message_line_json(3001, "cy")))
            .collect();
        append(&messages, &history);
        append(
            &dir.path().join(store::SUMMARIES_FILE),
            "{\"id\":1,\"ts\":\"t\",\"from\":\"bo\",\"scope\":\"ana\",\"content\":\"s1\"}\n\
             {\"id\":2,\"ts\":\"t\",\"from\":\"bo\",\"scope\":\"cy\",\"content\":\"s2\"}\n",
        );
        std::fs::write(
            dir.path().join(store::PARTICIPANTS_FILE),
            r#"{"bo":{"name":"bo","role":"dev","joined_at":"t","last_seen":"t"}}"#,
        )
        .unwrap();
        let options = Options {
            limit: 3,
            participant: Some("ana".into()),
            interval: Duration::from_secs(2),
            once: false,
            topic: None,
        };
        let mut disk = DiskRoom::new("/repo".into(), dir.path());
        let ids = |frame: &Frame| frame.messages.iter().map(|m| m.id).collect::<Vec<_>>();

        let frame = disk.frame(&options);
        assert_eq!(ids(&frame), [2998, 2999, 3000], "what ana sees");
        assert_eq!((frame.message_count, frame.summary_count), (3001, 2));
        assert_eq!(frame.latest_summary.unwrap().content, "s1");
        assert_eq!(frame.participants.len(), 1);
        assert_eq!(frame.notice, None);
        assert_eq!(disk.messages_file.bytes_read(), history.len() as u64);

        // One message more: only its line is read (and one byte to see the file is the same);
        // participants.json, unchanged, is not read again.
        let line = message_line_json(3002, "all");
        append(&messages, &line);
        let before = disk.messages_file.bytes_read();
        let frame = disk.frame(&options);
        assert_eq!(
            disk.messages_file.bytes_read() - before,
            1 + line.len() as u64
        );
        assert_eq!(ids(&frame), [2999, 3000, 3002]);
        assert_eq!(frame.message_count, 3002);
        assert_eq!(
            frame.last_activity_ts.as_deref(),
            Some("2026-11-24T09:15:02Z")
        );
        assert_eq!(disk.participants_file.reads(), 1);

        // A last record lacking its newline is shown, and counted once.
        append(&messages, message_line_json(3003, "ana").trim_end());
        for _ in 0..2 {
            let frame = disk.frame(&options);
            assert_eq!(
                (ids(&frame), frame.message_count),
                (vec![3000, 3002, 3003], 3003)
            );
        }
        append(&messages, "\n");
        let frame = disk.frame(&options);
        assert_eq!(
            (ids(&frame), frame.message_count),
            (vec![3000, 3002, 3003], 3003)
        );

        // The file replaced by a shorter one: counted again from its start.
        std::fs::write(&messages, message_line_json(1, "all")).unwrap();
        let frame = disk.frame(&options);
        assert_eq!((ids(&frame), frame.message_count), (vec![1], 1));

        // A corrupt line is named; what was shown stays.
        append(&messages, "not json\n");
        let frame = disk.frame(&options);
        assert_eq!(ids(&frame), [1]);
        let notice = frame.notice.unwrap();
        assert!(notice.contains("messages.jsonl:2: "), "{notice}");
    }

    fn options(participant: Option<&str>, topic: Option<&str>) -> Options {
        Options {
            limit: 3,
            participant: participant.map(str::to_owned),
            interval: Duration::from_secs(2),
            once: false,
            topic: topic.map(str::to_owned),
        }
    }

    fn topic_json(id: &str, status: &str, last_activity: &str) -> String {
        let closed_at = if status == "closed" {
            format!("\"{last_activity}\"")
        } else {
            "null".to_owned()
        };
        format!(
            "\"{id}\":{{\"id\":\"{id}\",\"title\":\"about {id}\",\"status\":\"{status}\",\"created_by\":\"ana\",\"created_at\":\"2026-11-24T09:00:00Z\",\"closed_at\":{closed_at},\"last_activity_ts\":\"{last_activity}\"}}"
        )
    }

    fn in_topic(id: u64, topic: &str, to: &str) -> String {
        format!(
            "{{\"id\":{id},\"ts\":\"2026-11-24T09:15:{:02}Z\",\"topic_id\":\"{topic}\",\"from\":\"bo\",\"to\":\"{to}\",\"content\":\"m{id}\"}}\n",
            id % 60
        )
    }

    #[test]
    fn with_no_daemon_the_topics_come_from_their_files_beside_the_main_room() {
        let dir = tempfile::tempdir().unwrap();
        let messages = dir.path().join(store::MESSAGES_FILE);
        append(&messages, &message_line_json(1, "all"));
        append(&messages, &in_topic(2, "auth", "all"));
        append(&messages, &in_topic(3, "auth", "cy"));
        append(&messages, &in_topic(4, "auth", "ana"));
        append(&messages, &message_line_json(5, "all"));
        append(&messages, &in_topic(6, "db", "all"));
        append(
            &dir.path().join(store::SUMMARIES_FILE),
            "{\"id\":1,\"ts\":\"2026-11-24T09:15:08Z\",\"topic_id\":\"auth\",\"from\":\"bo\",\"scope\":\"all\",\"content\":\"auth: half done\\nmore\"}\n\
             {\"id\":2,\"ts\":\"2026-11-24T09:15:07Z\",\"from\":\"bo\",\"scope\":\"all\",\"content\":\"main summary\"}\n\
             {\"id\":3,\"ts\":\"2026-11-24T09:15:08Z\",\"topic_id\":\"auth\",\"from\":\"bo\",\"scope\":\"cy\",\"content\":\"for cy\"}\n",
        );
        // The daemon writes a topic's activity lazily: the files' records say more.
        let topics = format!(
            "{{{},{},{}}}",
            topic_json("auth", "open", "2026-11-24T09:00:00Z"),
            topic_json("db", "open", "2026-11-24T09:00:00Z"),
            topic_json("old", "closed", "2026-11-24T09:15:00Z")
        );
        std::fs::write(dir.path().join(source::TOPICS_FILE), topics).unwrap();
        std::fs::write(
            dir.path().join(source::TOPIC_CURSORS_FILE),
            r#"{"ana":{"auth":2}}"#,
        )
        .unwrap();

        // The main room, what ana sees: main messages only; the overview in list_topics' order
        // with her unread counts (auth: 4 is unread, 3 is not hers; db: 6) and the summaries
        // she reads.
        let ana = options(Some("ana"), None);
        let mut disk = DiskRoom::new("/repo".into(), dir.path());
        let frame = disk.frame(&ana);
        let ids = |frame: &Frame| frame.messages.iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(&frame), [1, 5]);
        assert_eq!(frame.message_count, 6, "the whole room's count");
        assert_eq!(
            frame.latest_summary.as_ref().unwrap().content,
            "main summary"
        );
        assert_eq!(frame.topic_counts, Some((3, 2)));
        let rows = frame.topics.clone().unwrap();
        let overview: Vec<(&str, Option<u64>, Option<&str>)> = rows
            .iter()
            .map(|row| {
                (
                    row.topic.id.as_str(),
                    row.unread,
                    row.latest_summary.as_ref().map(|s| s.content.as_str()),
                )
            })
            .collect();
        assert_eq!(
            overview,
            [
                ("auth", Some(1), Some("auth: half done\nmore")),
                ("db", Some(1), None),
            ]
        );
        let text = render(
            &frame,
            &ana,
            parse_ts("2026-11-24T09:15:10Z").unwrap(),
            false,
        );
        for expected in [
            "messages: 6  summaries: 3  sessions: 0  last activity: 4s ago  topics: 2 open of 3",
            "open topics (2)\n  ID    LAST ACTIVITY  UNREAD  TITLE       LATEST SUMMARY\n  auth  2s ago         1       about auth  bo: auth: half done…\n  db    4s ago         1       about db    -\n",
            "latest messages in the main room (2 shown)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }

        // Her cursor moves: the count follows, reading only the cursors file again.
        std::fs::write(
            dir.path().join(source::TOPIC_CURSORS_FILE),
            r#"{"ana":{"auth":4,"db":6}}"#,
        )
        .unwrap();
        let frame = disk.frame(&ana);
        let unread: Vec<_> = frame.topics.unwrap().iter().map(|row| row.unread).collect();
        assert_eq!(unread, [Some(0), Some(0)]);

        // Without a participant: no unread counts, every message of the scope.
        let everyone = options(None, None);
        let frame = DiskRoom::new("/repo".into(), dir.path()).frame(&everyone);
        assert!(frame.topics.unwrap().iter().all(|row| row.unread.is_none()));

        // One topic: its record, its messages, its latest summary for cy, cy's unread count.
        let cy = options(Some("cy"), Some("auth"));
        let frame = DiskRoom::new("/repo".into(), dir.path()).frame(&cy);
        assert_eq!(ids(&frame), [2, 3]);
        assert_eq!(frame.topic.as_ref().unwrap().title, "about auth");
        assert_eq!(frame.latest_summary.as_ref().unwrap().content, "for cy");
        assert_eq!(frame.unread, Some(2));
        assert!(frame.topics.is_none());
        let text = render(
            &frame,
            &cy,
            parse_ts("2026-11-24T09:15:10Z").unwrap(),
            false,
        );
        for expected in [
            "topic: auth — about auth (open, opened by ana at 2026-11-24T09:00:00Z), last activity 2s ago",
            "view: what cy sees (2 unread here)",
            "latest messages in topic auth (2 shown)",
            "  #3 [auth] 2026-11-24T09:15:03Z bo → cy [direct]: m3",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        let unknown = DiskRoom::new("/repo".into(), dir.path()).frame(&options(None, Some("x")));
        assert!(unknown.topic.is_none());
    }

    #[test]
    fn a_room_without_topics_shows_no_trace_of_them() {
        let dir = tempfile::tempdir().unwrap();
        append(
            &dir.path().join(store::MESSAGES_FILE),
            &message_line_json(1, "all"),
        );
        let everyone = options(None, None);
        let frame = DiskRoom::new("/repo".into(), dir.path()).frame(&everyone);
        assert_eq!((frame.topic_counts, frame.topics.is_none()), (None, true));
        let text = render(&frame, &everyone, 0, false);
        assert!(!text.contains("topic"), "{text}");
        assert!(text.contains("\nlatest messages (1 shown)\n"), "{text}");
    }

    fn event_message(id: u64, topic: Option<&str>) -> Event {
        Event::Message(Message {
            topic_id: topic.map(str::to_owned),
            id,
            ts: "2026-11-24T09:15:00Z".into(),
            from: "bo".into(),
            to: "all".into(),
            content: format!("m{id}"),
            human: false,
        })
    }

    fn event_summary(id: u64, topic: Option<&str>, scope: &str) -> Event {
        Event::Summary(Summary {
            topic_id: topic.map(str::to_owned),
            id,
            ts: "2026-11-24T09:15:00Z".into(),
            from: "bo".into(),
            scope: scope.into(),
            content: format!("s{id}"),
        })
    }

    fn topic_record(id: &str, status: TopicStatus) -> Topic {
        Topic {
            id: id.into(),
            title: "t".into(),
            status,
            created_by: "system".into(),
            created_at: "2026-11-24T09:00:00Z".into(),
            closed_at: None,
            last_activity_ts: "2026-11-24T09:00:00Z".into(),
        }
    }

    #[test]
    fn live_events_keep_the_main_room_apart_from_the_topics_beside_it() {
        let ana = options(Some("ana"), None);
        let mut followed = Followed::default();
        followed.apply(event_message(1, None), &ana);
        followed.apply(event_message(2, Some("auth")), &ana);
        let ids: Vec<u64> = followed.frame.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1], "a topic's message is not the main room's");
        assert_eq!(followed.frame.message_count, 2);
        assert!(followed.topics_stale, "the overview asks again");

        followed.topics_stale = false;
        followed.apply(event_summary(1, Some("auth"), "all"), &ana);
        followed.apply(event_summary(2, Some("auth"), "cy"), &ana);
        followed.apply(event_summary(3, None, "ana"), &ana);
        assert_eq!(followed.topic_summaries["auth"].id, 1, "not cy's summary");
        assert_eq!(followed.frame.latest_summary.as_ref().unwrap().id, 3);
        assert!(followed.topics_stale);

        followed.apply(Event::Topic(topic_record("db", TopicStatus::Open)), &ana);
        assert_eq!(followed.frame.topic_counts, Some((1, 1)));

        // One topic's view: only its records, and its record as events bring it.
        let auth = options(None, Some("auth"));
        let mut followed = Followed::default();
        followed.apply(event_message(4, Some("auth")), &auth);
        followed.apply(event_message(5, None), &auth);
        followed.apply(event_summary(4, Some("auth"), "all"), &auth);
        followed.apply(event_summary(5, Some("db"), "all"), &auth);
        let ids: Vec<u64> = followed.frame.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, [4]);
        assert_eq!(followed.frame.latest_summary.as_ref().unwrap().id, 4);
        followed.apply(Event::Topic(topic_record("db", TopicStatus::Closed)), &auth);
        assert_eq!(followed.frame.topic, None, "another topic's record");
        followed.apply(
            Event::Topic(topic_record("auth", TopicStatus::Closed)),
            &auth,
        );
        assert_eq!(
            followed.frame.topic.as_ref().map(|topic| topic.status),
            Some(TopicStatus::Closed)
        );
        assert!(!followed.topics_stale, "no overview in a topic's view");
    }

    #[test]
    fn the_interval_is_a_bounded_number_of_seconds() {
        assert_eq!(interval(0.1).unwrap(), Duration::from_millis(100));
        assert_eq!(interval(3600.0).unwrap(), Duration::from_secs(3600));
        for secs in [1e20, f64::INFINITY, f64::NAN, 0.0, -1.0, 0.09, 3600.5] {
            let err = interval(secs).unwrap_err().to_string();
            assert!(
                err.starts_with("--interval must be between 0.1 and 3600 seconds, not "),
                "{err}"
            );
        }
    }

    #[test]
    fn a_plain_frame_has_every_section_and_no_control_codes() {
        let now = parse_ts("2026-11-24T09:15:10Z").unwrap();
        let frame = Frame {
            root: "/repo".into(),
            participants: vec![Participant {
                name: "ana".into(),
                role: "reviewer".into(),
                joined_at: "2026-11-24T09:00:00Z".into(),
                last_seen: "2026-11-24T09:15:00Z".into(),
            }],
            messages: vec![Message {
                topic_id: None,
                id: 1,
                ts: "2026-11-24T09:15:00Z".into(),
                from: "bo".into(),
                to: "ana".into(),
                content: "look".into(),
                human: true,
            }]
            .into(),
            message_count: 1,
            last_activity_ts: Some("2026-11-24T09:15:00Z".into()),
            ..Frame::default()
        };
        let options = Options {
            limit: 20,
            participant: Some("ana".into()),
            interval: Duration::from_secs(2),
            once: true,
            topic: None,
        };
        let text = render(&frame, &options, now, false);
        assert!(!text.contains('\x1b'));
        for expected in [
            "chatroom · /repo",
            "daemon: down",
            "view: what ana sees",
            "messages: 1  summaries: 0  sessions: 0  last activity: 10s ago",
            "participants recorded on disk (1)",
            "  ana   reviewer  -        10s ago",
            "latest summary\n  none yet",
            "  #1 2026-11-24T09:15:00Z bo (person) → ana [direct]: look",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(render(&frame, &options, now, true).contains("\x1b[1m"));
    }

    #[test]
    fn a_frame_shows_what_agents_wrote_without_letting_it_act() {
        let hostile = "\x1b]52;c;aGk=\x07\u{9b}2J\u{202e}";
        let frame = Frame {
            root: "/re\rpo".into(),
            participants: vec![Participant {
                name: format!("ana{hostile}"),
                role: hostile.into(),
                joined_at: hostile.into(),
                last_seen: hostile.into(),
            }],
            messages: vec![Message {
                topic_id: None,
                id: 1,
                ts: hostile.into(),
                from: hostile.into(),
                to: hostile.into(),
                content: format!("{hostile}\n{hostile}"),
                human: false,
            }]
            .into(),
            latest_summary: Some(Summary {
                topic_id: None,
                id: 1,
                ts: hostile.into(),
                from: hostile.into(),
                scope: hostile.into(),
                content: hostile.into(),
            }),
            last_activity_ts: Some(hostile.into()),
            notice: Some(format!("cannot read the room: {hostile}")),
            ..Frame::default()
        };
        let options = Options {
            limit: 20,
            participant: Some(hostile.into()),
            interval: Duration::from_secs(2),
            once: true,
            topic: None,
        };
        for styled in [false, true] {
            let text = render(&frame, &options, 0, styled);
            // Only our own bold headings may use ESC.
            let unstyled = text.replace("\x1b[1m", "").replace("\x1b[0m", "");
            assert!(
                !unstyled
                    .chars()
                    .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
                "{text}"
            );
            assert!(
                text.contains("\\u{1b}]52;c;aGk=\\u{7}\\u{9b}2J\\u{202e}"),
                "{text}"
            );
            assert!(text.contains("chatroom · /re\\u{d}po"), "{text}");
        }

        // The topics a file or an agent named: the overview, and one topic's view.
        let topic = Topic {
            id: format!("t{hostile}"),
            title: format!("{hostile}\n{hostile}"),
            status: TopicStatus::Open,
            created_by: hostile.into(),
            created_at: hostile.into(),
            closed_at: Some(hostile.into()),
            last_activity_ts: hostile.into(),
        };
        let mut in_topic = frame.clone();
        in_topic.topics = Some(vec![TopicRow {
            topic: topic.clone(),
            unread: Some(1),
            latest_summary: frame.latest_summary.clone(),
        }]);
        let mut one_topic = frame.clone();
        one_topic.topic = Some(topic);
        for (frame, topic) in [(in_topic, None), (one_topic, Some(format!("t{hostile}")))] {
            let options = Options {
                topic,
                ..options.clone()
            };
            let text = render(&frame, &options, 0, false);
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
                "{text}"
            );
            assert!(text.contains("t\\u{1b}]52;c;aGk="), "{text}");
        }
    }
}
