//! `chatroomd monitor`: a live view of the room for the person running the agents. It follows
//! the room through events the daemon pushes (no re-reading of files while a daemon runs), and
//! redraws in place on a terminal; in a pipe it prints plain frames with no control codes. With
//! no daemon running it shows the room from disk, reading only what was appended since it last
//! looked, says so, and never starts one; it switches to the live view as soon as a daemon
//! appears.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chatroom_client::Connection;
use protocol::paths::RoomPaths;
use protocol::{
    ClientKind, DaemonStatus, Event, Message, Participant, Request, Response, SessionInfo, Summary,
};

use crate::commands::control;
use crate::shared::time::unix_now;

use crate::commands::source::{JsonObjectFile, JsonlTail};
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
    pub messages: VecDeque<Message>,
    pub latest_summary: Option<Summary>,
    pub message_count: u64,
    pub summary_count: u64,
    pub last_activity_ts: Option<String>,
    /// A problem to show under the header (a lost connection, an unreadable file).
    pub notice: Option<String>,
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
        // next tick.
        let live = Live::connect(paths, &options).await.unwrap_or_else(|err| {
            notice = Some(format!("cannot reach chatroomd: {err:#}"));
            None
        });
        match live {
            Some(mut live) => {
                notice = None;
                draw(&live.frame, &options, terminal)?;
                if options.once {
                    return Ok(());
                }
                let mut last_draw = Instant::now();
                loop {
                    tokio::select! {
                        event = live.connection.next_event() => match event {
                            Some(event) => live.apply(event, &options),
                            None => break,
                        },
                        _ = ticker.tick() => {
                            if let Err(err) = live.refresh().await {
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
                        draw(&live.frame, &options, terminal)?;
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

/// A live view: one connection, subscribed to the room's events and asked for what events do
/// not carry. Events that arrive while a query is answered wait in the connection, in order.
struct Live {
    frame: Frame,
    connection: Connection,
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
        // Subscribe before taking the snapshot; events it already covers are skipped by id.
        if !options.once {
            connection
                .request(Request::Subscribe {
                    topic_id: String::new(),
                    participant: participant.clone(),
                })
                .await?;
        }
        let Response::Handoff(handoff) = connection
            .request(Request::GetHandoff {
                topic_id: String::new(),
                name: participant,
                recent_limit: options.limit as i64,
            })
            .await?
        else {
            anyhow::bail!("unexpected reply from chatroomd to get_handoff");
        };
        let mut live = Self {
            frame: Frame {
                root: paths.root.display().to_string(),
                messages: handoff.recent_messages.into(),
                latest_summary: handoff.latest_summary,
                ..Frame::default()
            },
            connection,
        };
        live.refresh().await?;
        Ok(Some(live))
    }

    /// Re-reads what events do not carry: uptime, counts, sessions.
    async fn refresh(&mut self) -> anyhow::Result<()> {
        let Response::DaemonStatus(status) = self.connection.request(Request::DaemonStatus).await?
        else {
            anyhow::bail!("unexpected reply from chatroomd to status");
        };
        self.frame.participants = status.participants.clone();
        self.frame.sessions = status.sessions.clone();
        self.frame.message_count = status.message_count;
        self.frame.summary_count = status.summary_count;
        self.frame.last_activity_ts = status.last_activity_ts.clone();
        self.frame.daemon = Some(status);
        Ok(())
    }

    fn apply(&mut self, event: Event, options: &Options) {
        let frame = &mut self.frame;
        match event {
            Event::Message(message) => {
                if frame
                    .messages
                    .back()
                    .is_some_and(|last| last.id >= message.id)
                {
                    return;
                }
                frame.message_count += 1;
                frame.last_activity_ts = Some(message.ts.clone());
                frame.messages.push_back(message);
                while frame.messages.len() > options.limit {
                    frame.messages.pop_front();
                }
            }
            Event::Summary(summary) => {
                frame.summary_count += 1;
                let wanted = summary.scope == "all"
                    || options.participant.as_deref() == Some(summary.scope.as_str());
                if wanted
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
                frame.participants = participants;
                frame.sessions = sessions;
            }
            Event::Topic(_) => {}
        }
    }
}

/// The room as its files show it, for when no daemon serves it. Each look reads only what was
/// appended to `messages.jsonl` and `summaries.jsonl` since the last (a file replaced or cut back
/// is read again from its start), and `participants.json` only when it changed, and keeps only
/// what a frame shows: counts, the latest visible messages and summary, the participants.
struct DiskRoom {
    root: String,
    messages_file: JsonlTail,
    summaries_file: JsonlTail,
    participants_file: JsonObjectFile,
    messages: LatestMessages,
    summaries: LatestSummary,
    participants: Vec<Participant>,
}

/// What a frame shows of the messages read so far.
#[derive(Debug, Clone, Default)]
struct LatestMessages {
    /// The newest messages visible in the view, at most `--limit`.
    visible: VecDeque<Message>,
    count: u64,
    last_activity_ts: Option<String>,
}

impl LatestMessages {
    fn add(&mut self, message: Message, options: &Options) {
        self.count += 1;
        self.last_activity_ts = Some(message.ts.clone());
        let participant = options.participant.as_deref();
        if participant.is_none_or(|name| is_visible_to(&message, name)) {
            self.visible.push_back(message);
            if self.visible.len() > options.limit {
                self.visible.pop_front();
            }
        }
    }
}

/// What a frame shows of the summaries read so far.
#[derive(Debug, Clone, Default)]
struct LatestSummary {
    count: u64,
    /// The newest summary for everyone or for the viewing participant.
    latest: Option<Summary>,
}

impl LatestSummary {
    fn add(&mut self, summary: Summary, options: &Options) {
        self.count += 1;
        if summary.scope == "all" || options.participant.as_deref() == Some(summary.scope.as_str())
        {
            self.latest = Some(summary);
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

impl DiskRoom {
    fn new(root: String, state_dir: &Path) -> Self {
        Self {
            root,
            messages_file: JsonlTail::new(state_dir.join(store::MESSAGES_FILE)),
            summaries_file: JsonlTail::new(state_dir.join(store::SUMMARIES_FILE)),
            participants_file: JsonObjectFile::new(state_dir.join(store::PARTICIPANTS_FILE)),
            messages: LatestMessages::default(),
            summaries: LatestSummary::default(),
            participants: Vec::new(),
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
        match self
            .participants_file
            .read_if_changed::<BTreeMap<String, Participant>>()
        {
            Ok(Some(participants)) => self.participants = participants.into_values().collect(),
            Ok(None) => {}
            Err(err) => {
                self.participants.clear();
                problems.push(format!("{err:#}"));
            }
        }
        Frame {
            root: self.root.clone(),
            daemon: None,
            participants: self.participants.clone(),
            sessions: Vec::new(),
            messages: messages.visible,
            latest_summary: summaries.latest,
            message_count: messages.count,
            summary_count: summaries.count,
            last_activity_ts: messages.last_activity_ts,
            notice: (!problems.is_empty())
                .then(|| format!("cannot read the room: {}", problems.join("; "))),
        }
    }
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
    if let Some(participant) = &options.participant {
        let _ = writeln!(out, "view: what {} sees", view::inline(participant));
    }
    if let Some(notice) = &frame.notice {
        // A notice may quote a file's contents (a parse error).
        let _ = writeln!(out, "note: {}", view::inline(notice));
    }
    let _ = writeln!(
        out,
        "messages: {}  summaries: {}  sessions: {}  last activity: {}",
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
    let _ = writeln!(
        out,
        "{}",
        heading(&format!("latest messages ({} shown)", frame.messages.len()))
    );
    if frame.messages.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for message in &frame.messages {
        let _ = writeln!(out, "{}", view::indent(&view::message_line(message), "  "));
    }
    out
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
    }
}
