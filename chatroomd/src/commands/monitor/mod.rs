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

use std::collections::VecDeque;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use chatroom_client::CallError;
use protocol::paths::RoomPaths;
use protocol::{DaemonStatus, Message, Participant, SessionInfo, Summary, Topic};

use crate::daemon::room::subscription_filter;

mod disk;
mod live;
mod render;
#[cfg(test)]
mod tests;

use disk::DiskRoom;
use live::Live;
use render::draw;
pub use render::render;

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
    /// Every live claim, sorted by path then name: the daemon's status at each refresh, kept
    /// current by claim events in between. Empty (and not shown) when none, or no daemon.
    pub claims: Vec<protocol::Claim>,
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
