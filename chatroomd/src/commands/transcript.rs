//! The commands that move messages between the room and a person or a script: `send` (post as a
//! person), `tail` (read, optionally follow, as text or JSON lines) and `export` (the whole room
//! as JSON or Markdown), each in the main room or, with `--topic`, in a topic (`tail` also in
//! every scope at once). All of them go through the daemon when one runs; only `send` (a send
//! the room would accept) and `tail --follow` start one.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use anyhow::{Context, bail};
use protocol::paths::RoomPaths;
use protocol::{ClientKind, Event, Message, Request, Response, Topic};
use serde::Serialize;

use chatroom_client::Connection;

use crate::commands::control;
use crate::commands::source::{self, Scope, Source, TopicFilter};
use crate::commands::view;
use crate::daemon::room::{Caller, Room, subscription_filter};
use crate::shared::time::format_ts;
use crate::shared::time::unix_now;

/// `chatroomd send`: posts `text` (stdin when it is `-`) as `name`, marked as a person's message,
/// to the main room or (`topic` not blank) a topic. Prints the new message's id.
pub async fn send(
    paths: &RoomPaths,
    name: &str,
    to: &str,
    topic: &str,
    text: &str,
) -> anyhow::Result<()> {
    let content = if text == "-" {
        let mut content = String::new();
        std::io::stdin()
            .read_to_string(&mut content)
            .context("cannot read the message from stdin (it must be UTF-8)")?;
        content
    } else {
        text.to_owned()
    };
    let topic_id = match topic.trim() {
        "" => String::new(),
        topic => source::topic_id(topic)
            .map_err(|refusal| anyhow::anyhow!("{refusal}"))?
            .to_owned(),
    };
    let mut request = Request::SendMessage {
        topic_id: String::new(),
        name: name.to_owned(),
        content,
        to: to.to_owned(),
    };
    // A refused send must not leave a daemon behind that it started for nothing. What the room
    // refuses in a main-room send depends on the request alone, never on the room's state, so
    // an empty room refuses exactly what the daemon would, in its words; the daemon still
    // decides. A topic's existence is the room's state: the files say it when no daemon runs.
    let caller = Caller {
        session: 0,
        human: true,
    };
    if let Err(refusal) = Room::new()
        .handle_as(caller, request.clone(), unix_now())
        .reply
    {
        bail!("{refusal}");
    }
    if let Request::SendMessage {
        topic_id: field, ..
    } = &mut request
    {
        field.clone_from(&topic_id);
    }
    let connection = if topic_id.is_empty() {
        control::connect_or_start(paths, ClientKind::Human).await?
    } else {
        control::connect_or_start_checked(paths, ClientKind::Human, request.clone()).await?
    };
    match connection.request(request).await? {
        Response::Id(id) => {
            write_stdout(&format!("sent message #{id}\n"))?;
            Ok(())
        }
        other => bail!("unexpected reply from chatroomd: {other:?}"),
    }
}

/// How `tail` prints messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    JsonLines,
}

/// What `tail` prints first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every message after this id.
    Since(u64),
    /// The newest this many (1..=100).
    Last(usize),
}

/// `chatroomd tail`: prints messages, then with `follow` every new one as it is stored.
///
/// A followed tail outlives its daemon: when the connection is lost (the daemon stopped, was
/// killed or replaced) it waits for the next one to appear, without starting one itself (an
/// agent's next call does), then prints what it missed and carries on, each message once.
pub async fn tail(
    paths: &RoomPaths,
    start: Start,
    participant: Option<&str>,
    scope: &Scope,
    follow: bool,
    format: Format,
) -> anyhow::Result<()> {
    if let Some(participant) = participant {
        // Refused before anything, in the daemon's words: the files are read without it, and
        // `--follow` would start a daemon only to be refused.
        subscription_filter(participant).map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
    }
    if !follow {
        let mut source = Source::open(paths, ClientKind::Control).await?;
        for message in initial(&mut source, start, participant, scope).await? {
            print_message(&message, format)?;
        }
        return Ok(());
    }
    let mut last_id = match start {
        Start::Since(id) => id,
        Start::Last(_) => 0,
    };
    // A topic that does not exist would start a daemon only to refuse the subscription: a read
    // of it is refused the same way.
    let client = match scope.topic() {
        Some(id) => {
            let probe = Request::ReadMessages {
                since_id: 0,
                limit: 1,
                participant: String::new(),
                topic_id: id.to_owned(),
            };
            control::connect_or_start_checked(paths, ClientKind::Human, probe).await?
        }
        None => control::connect_or_start(paths, ClientKind::Human).await?,
    };
    // The first connection's errors are the person's to see (a daemon that cannot start, or
    // of another version, or an unknown topic); later ones are a daemon coming and going.
    let mut client = catch_up(client, start, participant, scope, &mut last_id, format).await?;
    loop {
        let lost = follow_events(&mut client, &mut last_id, format).await?;
        tracing::warn!(cause = %lost, last_id, "lost chatroomd; waiting for it to come back");
        client = loop {
            let client = reconnect(paths).await;
            match catch_up(
                client,
                Start::Since(last_id),
                participant,
                scope,
                &mut last_id,
                format,
            )
            .await
            {
                Ok(client) => break client,
                Err(err) => {
                    let cause = format!("{err:#}");
                    tracing::warn!(%cause, "reconnected to chatroomd but lost it again");
                    // Not a loop as fast as a daemon can refuse.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
    }
}

/// Subscribes `client`, then prints the history `start` asks for, skipping ids up to
/// `last_id`. Subscribing first means nothing stored in between is missed; the events that
/// overlap the history are skipped by id.
async fn catch_up(
    client: Connection,
    start: Start,
    participant: Option<&str>,
    scope: &Scope,
    last_id: &mut u64,
    format: Format,
) -> anyhow::Result<Connection> {
    client
        .request(Request::Subscribe {
            topic_id: scope.wire().to_owned(),
            participant: participant.unwrap_or("").to_owned(),
        })
        .await?;
    let mut source = Source::Live(Box::new(client));
    for message in initial(&mut source, start, participant, scope).await? {
        if message.id > *last_id {
            *last_id = message.id;
            print_message(&message, format)?;
        }
    }
    let Source::Live(client) = source else {
        unreachable!("opened live")
    };
    Ok(*client)
}

/// Prints every new message `client` is pushed until the connection is lost; returns why.
/// Only a failure to print is an error.
async fn follow_events(
    client: &mut Connection,
    last_id: &mut u64,
    format: Format,
) -> anyhow::Result<String> {
    loop {
        // The connection's reader says why it ended (in the log); here an end is an end.
        match client.next_event().await {
            Some(Event::Message(message)) if message.id > *last_id => {
                *last_id = message.id;
                print_message(&message, format)?;
            }
            Some(_) => {}
            None => return Ok("lost the connection to chatroomd".to_owned()),
        }
    }
}

/// The first time a daemon answers again, as a person's session; never starts one. Tries
/// again after 50 ms, doubling up to 2 s between tries, for as long as it takes.
async fn reconnect(paths: &RoomPaths) -> Connection {
    const FIRST: Duration = Duration::from_millis(50);
    const LONGEST: Duration = Duration::from_secs(2);
    let mut backoff = FIRST;
    let mut last_cause = String::new();
    loop {
        match control::connect(paths, ClientKind::Human).await {
            Ok(Some(client)) => return client,
            Ok(None) => {}
            // A daemon that is going away (or just coming up) may fail the handshake; one of
            // another version always does. Said once per cause, not at every try.
            Err(err) => {
                let cause = format!("{err:#}");
                if cause != last_cause {
                    tracing::warn!(%cause, "cannot reconnect to chatroomd yet");
                    last_cause = cause;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(LONGEST);
    }
}

async fn initial(
    source: &mut Source,
    start: Start,
    participant: Option<&str>,
    scope: &Scope,
) -> anyhow::Result<Vec<Message>> {
    match start {
        Start::Since(id) => source.messages_after(id, participant, scope).await,
        Start::Last(count) => source.latest_messages(count, participant, scope).await,
    }
}

fn print_message(message: &Message, format: Format) -> anyhow::Result<()> {
    let mut line = match format {
        Format::Text => view::message_line(message),
        Format::JsonLines => serde_json::to_string(message)?,
    };
    line.push('\n');
    write_stdout(&line)
}

/// `chatroomd export --json`: the whole room (or one topic) as one document. A room used the v1
/// way has exactly v1's keys; `topic` appears in a topic's export, `topics` in a whole room's
/// that has any.
#[derive(Debug, Serialize)]
struct Export {
    root: String,
    exported_at: String,
    /// Whether a daemon was running (participants are then the present ones; otherwise those
    /// recorded on disk).
    live: bool,
    /// The topic exported, with `--topic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<Topic>,
    participants: Vec<protocol::Participant>,
    messages: Vec<Message>,
    summaries: Vec<protocol::Summary>,
    /// Every topic, by id, in an export of the whole room.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    topics: Vec<Topic>,
}

/// `chatroomd export`: everything in the room (every scope), or with `topic` one topic's
/// messages and summaries, as JSON or as a Markdown transcript.
pub async fn export(paths: &RoomPaths, topic: Option<&str>, markdown: bool) -> anyhow::Result<()> {
    // Without --topic, an export is of everything; `--topic '*'` says the same.
    let scope = match Scope::from_arg(topic).map_err(|refusal| anyhow::anyhow!("{refusal}"))? {
        Scope::Main => Scope::Every,
        scope => scope,
    };
    let mut source = Source::open(paths, ClientKind::Control).await?;
    let (topic, topics) = match scope.topic() {
        Some(id) => (Some(source.topic(id).await?), Vec::new()),
        None => {
            let mut topics: Vec<Topic> = source
                .topics(TopicFilter::All, None)
                .await?
                .into_iter()
                .map(|listing| listing.topic)
                .collect();
            topics.sort_by(|a, b| a.id.cmp(&b.id));
            (None, topics)
        }
    };
    let export = Export {
        root: paths.root.display().to_string(),
        exported_at: format_ts(unix_now()),
        live: source.is_live(),
        topic,
        participants: source.participants().await?,
        messages: source.messages_after(0, None, &scope).await?,
        summaries: source.summaries(&scope).await?,
        topics,
    };
    let text = if markdown {
        markdown_transcript(&export)
    } else {
        serde_json::to_string_pretty(&export)? + "\n"
    };
    write_stdout(&text)
}

fn markdown_transcript(export: &Export) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Chatroom transcript: `{}`{}\n",
        view::inline(&export.root),
        export
            .topic
            .as_ref()
            .map_or_else(String::new, |topic| format!(
                ", topic `{}`",
                view::inline(&topic.id)
            ))
    );
    if let Some(topic) = &export.topic {
        let _ = writeln!(out, "Topic {}.\n", view::topic_heading(topic));
    }
    let _ = writeln!(
        out,
        "Exported {}: {} messages, {} summaries, {} participants{}.\n",
        export.exported_at,
        export.messages.len(),
        export.summaries.len(),
        export.participants.len(),
        if export.live {
            " present"
        } else {
            " recorded on disk (no daemon was running)"
        }
    );
    let _ = writeln!(out, "## Participants\n");
    if export.participants.is_empty() {
        let _ = writeln!(out, "Nobody.\n");
    } else {
        let _ = writeln!(
            out,
            "| name | role | joined | last seen |\n|---|---|---|---|"
        );
        for participant in &export.participants {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                escape_cell(&participant.name),
                escape_cell(&participant.role),
                escape_cell(&participant.joined_at),
                escape_cell(&participant.last_seen)
            );
        }
        out.push('\n');
    }
    if !export.topics.is_empty() {
        let _ = writeln!(
            out,
            "## Topics\n\n| id | title | status | opened by | opened | closed | last activity |\n|---|---|---|---|---|---|---|"
        );
        for topic in &export.topics {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                escape_cell(&topic.id),
                escape_cell(&topic.title),
                topic.status.as_str(),
                escape_cell(&topic.created_by),
                escape_cell(&topic.created_at),
                escape_cell(topic.closed_at.as_deref().unwrap_or("-")),
                escape_cell(&topic.last_activity_ts)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Messages\n");
    for message in &export.messages {
        let direct = if message.to == "all" {
            String::new()
        } else {
            " (direct)".to_owned()
        };
        let _ = writeln!(
            out,
            "**#{}{} · {} · {} → {}{direct}**\n\n{}\n",
            message.id,
            view::topic_tag(message.topic_id.as_deref()),
            view::inline(&message.ts),
            view::sender(message),
            view::inline(&message.to),
            view::indent(&message.content, "> ")
        );
    }
    let _ = writeln!(out, "## Summaries\n");
    for summary in &export.summaries {
        let _ = writeln!(
            out,
            "### #{}{} · {} · {} (scope {})\n\n{}\n",
            summary.id,
            view::topic_tag(summary.topic_id.as_deref()),
            view::inline(&summary.ts),
            view::inline(&summary.from),
            view::inline(&summary.scope),
            view::indent(&summary.content, "")
        );
    }
    out
}

/// A table cell: safe to print, and one cell (a `|` would end it).
fn escape_cell(text: &str) -> String {
    view::inline(text).replace('|', "\\|")
}

/// Writes to stdout; a closed pipe (`| head`) ends the command quietly instead of panicking.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        result => Ok(result?),
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Participant, Summary};

    use super::*;

    #[test]
    fn a_markdown_transcript_shows_what_agents_wrote_without_letting_it_act() {
        let hostile = "\x1b[2J\r\u{9b}|\u{2066}";
        let export = Export {
            root: "/repo".into(),
            exported_at: "2026-11-24T09:15:10Z".into(),
            live: true,
            topic: None,
            topics: Vec::new(),
            participants: vec![Participant {
                name: hostile.into(),
                role: format!("{hostile}\nrole"),
                joined_at: hostile.into(),
                last_seen: hostile.into(),
            }],
            messages: vec![Message {
                topic_id: None,
                id: 1,
                ts: hostile.into(),
                from: hostile.into(),
                to: hostile.into(),
                content: format!("{hostile}\nnext"),
                human: false,
            }],
            summaries: vec![Summary {
                topic_id: None,
                id: 1,
                ts: hostile.into(),
                from: hostile.into(),
                scope: hostile.into(),
                content: format!("{hostile}\nnext"),
            }],
        };
        let text = markdown_transcript(&export);
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{2066}'),
            "{text}"
        );
        let shown = "\\u{1b}[2J\\u{d}\\u{9b}|\\u{2066}";
        let cell = shown.replace('|', "\\|");
        assert!(
            text.contains(&format!(
                "| {cell} | {cell}\\u{{a}}role | {cell} | {cell} |"
            )),
            "one table row:\n{text}"
        );
        assert!(text.contains(&format!("> {shown}\n> next")), "{text}");
        assert!(
            text.contains(&format!(
                "### #1 · {shown} · {shown} (scope {shown})\n\n{shown}\nnext"
            )),
            "{text}"
        );
    }
}
