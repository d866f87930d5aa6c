//! `chatroomd topics` (the room's topics, as a person reads them or as `list_topics`' records)
//! and `chatroomd topic open|close` (a person opening or closing a topic). The writes are the
//! agents' `open_topic` and `close_topic`, sent as a person's session and decided by the daemon;
//! like `send`, they are refused before a daemon is started when the room would refuse them.

use anyhow::bail;
use protocol::paths::RoomPaths;
use protocol::{ClientKind, Request, Response, TopicListing};

use crate::commands::control;
use crate::commands::source::{self, Source, TopicFilter};
use crate::commands::transcript::write_stdout;
use crate::commands::view;
use crate::daemon::room::{Caller, Room};
use crate::shared::time::unix_now;

/// `chatroomd topics`: the topics `filter` asks for, most recently active first, with
/// `participant`'s unread counts when given; `json` prints `list_topics`' records exactly (one
/// compact array, as the tool's text). Never starts a daemon: with none, the files answer.
pub async fn list(
    paths: &RoomPaths,
    filter: TopicFilter,
    participant: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut source = Source::open(paths, ClientKind::Control).await?;
    let topics = source.topics(filter, participant).await?;
    let text = if json {
        serde_json::to_string(&topics)? + "\n"
    } else {
        render(&topics, filter, unix_now())
    };
    write_stdout(&text)
}

/// The listing as text: one line per topic under a header, or one line saying there is none.
pub fn render(topics: &[TopicListing], filter: TopicFilter, now: u64) -> String {
    if topics.is_empty() {
        return match filter {
            TopicFilter::Open => "no open topics\n",
            TopicFilter::Closed => "no closed topics\n",
            TopicFilter::All => "no topics\n",
        }
        .to_owned();
    }
    view::topics_table(topics, now)
}

/// A person's session: what a person's commands are, to the room.
const PERSON: Caller = Caller {
    session: 0,
    human: true,
};

/// `chatroomd topic open ID TITLE [--as NAME]`: opens the topic, `name` recorded as its creator.
pub async fn open(
    paths: &RoomPaths,
    topic_id: &str,
    title: &str,
    name: Option<&str>,
) -> anyhow::Result<()> {
    let request = Request::OpenTopic {
        topic_id: topic_id.to_owned(),
        title: title.to_owned(),
        name: name.unwrap_or("").to_owned(),
    };
    // What an empty room refuses in an open depends on the request alone (an id already taken
    // is the only refusal that depends on the room, and the files' topics say it when no daemon
    // runs): refused here in the daemon's words, before a daemon is started for nothing.
    if let Err(refusal) = Room::new()
        .handle_as(PERSON, request.clone(), unix_now())
        .reply
    {
        bail!("{refusal}");
    }
    let connection =
        control::connect_or_start_checked(paths, ClientKind::Human, request.clone()).await?;
    match connection.request(request).await? {
        Response::Topic(topic) => write_stdout(&format!(
            "opened topic {}: {}\n",
            view::inline(&topic.id),
            view::inline(&topic.title)
        )),
        other => bail!("unexpected reply from chatroomd: {other:?}"),
    }
}

/// `chatroomd topic close ID`: closes the topic; closing a closed one changes nothing and says
/// so (as `close_topic` answers `{"closed": false}`), an unknown one is refused.
pub async fn close(paths: &RoomPaths, topic_id: &str) -> anyhow::Result<()> {
    let id = match topic_id.trim() {
        "" => bail!("topic_id must not be blank"),
        id => source::topic_id(id)
            .map_err(|refusal| anyhow::anyhow!("{refusal}"))?
            .to_owned(),
    };
    let request = Request::CloseTopic {
        topic_id: id.clone(),
    };
    let connection =
        control::connect_or_start_checked(paths, ClientKind::Human, request.clone()).await?;
    match connection.request(request).await? {
        Response::Closed(true) => write_stdout(&format!("closed topic {id}\n")),
        Response::Closed(false) => write_stdout(&format!("topic {id} was already closed\n")),
        other => bail!("unexpected reply from chatroomd: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Summary, Topic, TopicProgress, TopicStatus};

    use super::*;
    use crate::shared::time::parse_ts;

    fn listing(id: &str, status: TopicStatus, unread: Option<u64>) -> TopicListing {
        TopicListing {
            topic: Topic {
                id: id.into(),
                title: format!("about {id}"),
                status,
                created_by: "claude".into(),
                created_at: "2026-11-24T09:00:00Z".into(),
                closed_at: None,
                last_activity_ts: "2026-11-24T09:15:00Z".into(),
            },
            progress: unread.map(|unread_count| TopicProgress {
                latest_message_id: 9,
                cursor: 2,
                unread_count,
                latest_summary: None::<Summary>,
            }),
        }
    }

    #[test]
    fn one_line_per_topic_with_unread_counts_only_for_a_participant() {
        let now = parse_ts("2026-11-24T09:15:10Z").unwrap();
        let plain = [
            listing("auth-fix", TopicStatus::Open, None),
            listing("db", TopicStatus::Closed, None),
        ];
        assert_eq!(
            render(&plain, TopicFilter::All, now),
            "  ID        STATUS  LAST ACTIVITY  TITLE\n  auth-fix  open    10s ago        about auth-fix\n  db        closed  10s ago        about db\n"
        );
        let theirs = [listing("auth-fix", TopicStatus::Open, Some(3))];
        assert_eq!(
            render(&theirs, TopicFilter::Open, now),
            "  ID        STATUS  LAST ACTIVITY  UNREAD  TITLE\n  auth-fix  open    10s ago        3       about auth-fix\n"
        );
        assert_eq!(render(&[], TopicFilter::Open, now), "no open topics\n");
        assert_eq!(render(&[], TopicFilter::Closed, now), "no closed topics\n");
        assert_eq!(render(&[], TopicFilter::All, now), "no topics\n");
    }

    #[test]
    fn what_an_agent_wrote_in_a_topic_cannot_act_on_the_terminal() {
        let mut hostile = listing("x", TopicStatus::Open, Some(1));
        hostile.topic.title = "\x1b[2Jgone\u{202e}".into();
        hostile.topic.last_activity_ts = "\x07".into();
        let text = render(&[hostile], TopicFilter::Open, 0);
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
            "{text}"
        );
        assert!(text.contains("\\u{1b}[2Jgone\\u{202e}"), "{text}");
    }
}
