//! The live view: one connection subscribed to the room's events, and the pure half that
//! applies them to what a frame shows ([`Followed::apply`]).

use std::collections::{BTreeMap, BTreeSet};

use chatroom_client::Connection;
use protocol::paths::RoomPaths;
use protocol::{ClientKind, Event, Request, Response, Summary, TopicStatus};

use crate::commands::control;

use super::*;

/// A live view: one connection, subscribed to the room's events and asked for what events do
/// not carry. Events that arrive while a query is answered wait in the connection, in order.
pub(super) struct Live {
    pub(super) state: Followed,
    pub(super) connection: Connection,
}

/// What a live view knows, kept up to date by events ([`Followed::apply`], pure) and by the
/// queries [`Live`] makes.
#[derive(Debug, Default)]
pub(super) struct Followed {
    pub(super) frame: Frame,
    /// Whether an event changed the topics since they were last asked for (their order, last
    /// activity, unread counts): they are asked for again before the next frame is drawn.
    pub(super) topics_stale: bool,
    /// The newest summary the viewer reads in each topic, kept from events between listings.
    pub(super) topic_summaries: BTreeMap<String, Summary>,
    /// The topics whose latest summary was asked for on this connection (once each: events
    /// carry the later ones).
    pub(super) summaries_asked: BTreeSet<String>,
}

impl Live {
    pub(super) async fn connect(
        paths: &RoomPaths,
        options: &Options,
    ) -> anyhow::Result<Option<Self>> {
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
    pub(super) async fn refresh(&mut self, options: &Options) -> anyhow::Result<()> {
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
        self.state.frame.claims = status.claims.clone();
        self.state.frame.daemon = Some(status);
        self.refresh_topics(options).await
    }

    /// Asks for the topic shown (its record and the participant's unread count), or for the
    /// overview of open topics beside the main room.
    pub(super) async fn refresh_topics(&mut self, options: &Options) -> anyhow::Result<()> {
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
    pub(super) fn keep_summary(&mut self, id: &str, summary: Summary) {
        let newer = self
            .topic_summaries
            .get(id)
            .is_none_or(|kept| kept.id < summary.id);
        if newer {
            self.topic_summaries.insert(id.to_owned(), summary);
        }
    }

    pub(super) fn apply(&mut self, event: Event, options: &Options) {
        match event {
            Event::Claim(event) => apply_claim(&mut self.frame.claims, event),
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

/// A claim event on the claims shown: granted adds (or replaces the same path and name);
/// released, expired and departed take it out.
pub(super) fn apply_claim(claims: &mut Vec<protocol::Claim>, event: protocol::ClaimEvent) {
    let claim = event.claim;
    claims.retain(|held| !(held.path == claim.path && held.name == claim.name));
    if event.change == protocol::ClaimChange::Granted {
        claims.push(claim);
        claims.sort_by(|a, b| (&a.path, &a.name).cmp(&(&b.path, &b.name)));
    }
}
