//! Where the read-only commands (`status`, `monitor`, `tail`, `export`) get the room from: the
//! running daemon when there is one (never starting one), else the files, read without changing
//! them. Either way the answers follow the contract's rules (visibility, order).

use std::path::Path;

use protocol::paths::RoomPaths;
use protocol::{ClientKind, Message, Participant, Request, Response, Summary};

use crate::control::ControlClient;
use crate::room::is_visible_to;
use crate::store::{self, Loaded};

/// Records per request when paging through a live room (the contract's largest `limit`).
const PAGE: i64 = 100;

/// The room, live or on disk.
#[derive(Debug)]
pub enum Source {
    /// A connection to the running daemon.
    Live(Box<ControlClient>),
    /// What the files hold; no daemon runs.
    Disk(Box<Loaded>),
}

impl Source {
    /// The daemon if one runs (connected as `kind`), else the files.
    pub async fn open(paths: &RoomPaths, kind: ClientKind) -> anyhow::Result<Self> {
        match ControlClient::connect(paths, kind).await? {
            Some(client) => Ok(Self::Live(Box::new(client))),
            None => Ok(Self::Disk(Box::new(load_from_disk(&paths.state_dir)?))),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Self::Live(_))
    }

    /// Messages with `id > since_id` (visible to `participant` when given), ascending, all of them.
    pub async fn messages_after(
        &mut self,
        since_id: u64,
        participant: Option<&str>,
    ) -> anyhow::Result<Vec<Message>> {
        match self {
            Self::Live(client) => {
                let mut messages: Vec<Message> = Vec::new();
                loop {
                    let since = messages.last().map_or(since_id, |message| message.id);
                    let request = Request::ReadMessages {
                        since_id: since as i64,
                        limit: PAGE,
                        participant: participant.unwrap_or("").to_owned(),
                    };
                    let Response::Messages(page) = client.request(request).await? else {
                        anyhow::bail!("unexpected reply from chatroomd to read_messages");
                    };
                    let done = page.len() < PAGE as usize;
                    messages.extend(page);
                    if done {
                        return Ok(messages);
                    }
                }
            }
            Self::Disk(loaded) => Ok(loaded
                .messages
                .iter()
                .filter(|message| message.id > since_id)
                .filter(|message| participant.is_none_or(|name| is_visible_to(message, name)))
                .cloned()
                .collect()),
        }
    }

    /// The newest `count` (1..=100) messages (visible to `participant` when given), ascending.
    pub async fn latest_messages(
        &mut self,
        count: usize,
        participant: Option<&str>,
    ) -> anyhow::Result<Vec<Message>> {
        match self {
            Self::Live(client) => {
                let request = Request::GetHandoff {
                    name: participant.unwrap_or("").to_owned(),
                    recent_limit: count as i64,
                };
                let Response::Handoff(handoff) = client.request(request).await? else {
                    anyhow::bail!("unexpected reply from chatroomd to get_handoff");
                };
                Ok(handoff.recent_messages)
            }
            Self::Disk(loaded) => Ok(latest_visible(&loaded.messages, count, participant)),
        }
    }

    /// Every summary, ascending.
    pub async fn summaries(&mut self) -> anyhow::Result<Vec<Summary>> {
        match self {
            Self::Live(client) => {
                let mut summaries: Vec<Summary> = Vec::new();
                loop {
                    let since = summaries.last().map_or(0, |summary| summary.id);
                    let request = Request::ReadSummaries {
                        since_id: since as i64,
                        limit: PAGE,
                    };
                    let Response::Summaries(page) = client.request(request).await? else {
                        anyhow::bail!("unexpected reply from chatroomd to read_summaries");
                    };
                    let done = page.len() < PAGE as usize;
                    summaries.extend(page);
                    if done {
                        return Ok(summaries);
                    }
                }
            }
            Self::Disk(loaded) => Ok(loaded.summaries.clone()),
        }
    }

    /// The participants: present ones from the daemon, recorded ones from the files.
    pub async fn participants(&mut self) -> anyhow::Result<Vec<Participant>> {
        match self {
            Self::Live(client) => match client.request(Request::ListParticipants).await? {
                Response::Participants(participants) => Ok(participants),
                _ => anyhow::bail!("unexpected reply from chatroomd to list_participants"),
            },
            Self::Disk(loaded) => Ok(loaded.participants.clone()),
        }
    }
}

/// The newest `count` of `messages` (those visible to `participant` when given), ascending: what
/// `get_handoff` answers as recent messages, computed over records read from disk.
pub fn latest_visible(
    messages: &[Message],
    count: usize,
    participant: Option<&str>,
) -> Vec<Message> {
    let mut latest: Vec<Message> = messages
        .iter()
        .rev()
        .filter(|message| participant.is_none_or(|name| is_visible_to(message, name)))
        .take(count)
        .cloned()
        .collect();
    latest.reverse();
    latest
}

/// Reads the files without repairing anything; a torn last line is skipped.
pub fn load_from_disk(state_dir: &Path) -> anyhow::Result<Loaded> {
    Ok(store::load(state_dir, store::Mode::ReadOnly)?)
}
