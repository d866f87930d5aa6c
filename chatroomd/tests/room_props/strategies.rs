//! The operations, and strategies for them: a history to restore, and steps from the sessions.

use chatroomd::daemon::room::SessionId;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use protocol::{Message, Participant, Request, Summary};

use crate::SESSIONS;

/// What the store loads from disk: ids strictly increasing but with gaps, as a hand-edited or
/// Python-written history may have; participants that no session holds yet; cursors.
#[derive(Debug, Clone)]
pub(crate) struct History {
    pub(crate) messages: Vec<Message>,
    pub(crate) summaries: Vec<Summary>,
    pub(crate) participants: Vec<Participant>,
    pub(crate) cursors: Vec<(String, u64)>,
}

pub(crate) fn history() -> impl Strategy<Value = History> {
    const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];
    let messages = vec(
        (
            1u64..4,
            select(&["all", "alice", "bob", "old"][..]),
            any::<bool>(),
        ),
        0..12,
    );
    let summaries = vec((1u64..4, select(&["all", "alice", "old"][..])), 0..4);
    let cursors = vec((select(&PEOPLE[..]), any::<Index>()), 0..4);
    (messages, summaries, vec(any::<bool>(), 4), cursors).prop_map(
        |(messages, summaries, present, cursors)| {
            let ts = "2020-01-01T00:00:00Z".to_owned();
            let mut id = 0;
            let messages: Vec<Message> = messages
                .into_iter()
                .map(|(gap, to, human)| {
                    id += gap;
                    Message {
                        topic_id: None,
                        id,
                        ts: ts.clone(),
                        from: "old".into(),
                        to: to.into(),
                        content: format!("message {id}"),
                        human,
                    }
                })
                .collect();
            let mut id = 0;
            let summaries = summaries
                .into_iter()
                .map(|(gap, scope)| {
                    id += gap;
                    Summary {
                        topic_id: None,
                        id,
                        ts: ts.clone(),
                        from: "old".into(),
                        scope: scope.into(),
                        content: format!("summary {id}"),
                    }
                })
                .collect();
            let participants = PEOPLE
                .iter()
                .zip(present)
                .filter(|(_, present)| *present)
                .map(|(name, _)| Participant {
                    name: (*name).into(),
                    role: "dev".into(),
                    joined_at: ts.clone(),
                    last_seen: ts.clone(),
                })
                .collect();
            // Each cursor at one of the ids, or 0.
            let ids: Vec<u64> = std::iter::once(0)
                .chain(messages.iter().map(|m| m.id))
                .collect();
            let cursors = cursors
                .into_iter()
                .map(|(name, at)| (name.to_owned(), ids[at.index(ids.len())]))
                .collect();
            History {
                messages,
                summaries,
                participants,
                cursors,
            }
        },
    )
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// A request from one of the sessions, as an agent or as a person. With `from_newest`, the
    /// request's id counts back from the newest one, so that it lands among the room's ids.
    Call {
        session: SessionId,
        human: bool,
        from_newest: bool,
        request: Request,
    },
    /// The session ends, however it ends.
    EndSession(SessionId),
    /// The participants nobody holds leave, as after a restart.
    RemoveOrphans,
    /// A batch of appends whose persistence failed: handled, then taken back with `truncate`.
    AppendThenTruncate {
        session: SessionId,
        requests: Vec<Request>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// Seconds the clock moves forward before the action; often none, so that `last_seen`
    /// sometimes stays the same.
    pub(crate) advance: u64,
    pub(crate) action: Action,
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => select(&["alice", "bob", "carol", "dave"][..]).prop_map(str::to_owned),
        2 => select(&[" alice ", "\tbob\n"][..]).prop_map(str::to_owned),
        2 => select(&["", "  ", "all", " system", "bad\u{7}name"][..]).prop_map(str::to_owned),
        1 => Just("x".repeat(65)),
        1 => Just("é".repeat(64)),
    ]
}

/// A recipient or a scope: everyone, or a name.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&["all", " all "][..]).prop_map(str::to_owned),
        4 => name(),
    ]
}

/// A participant filter or a handoff name: none, or a name.
fn optional_name() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => select(&["", "  "][..]).prop_map(str::to_owned),
        4 => name(),
    ]
}

fn role() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&["dev", " reviewer ", "lead"][..]).prop_map(str::to_owned),
        1 => select(&["", " ", "de\u{0}v"][..]).prop_map(str::to_owned),
        1 => Just("r".repeat(257)),
    ]
}

fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        16 => select(&["hello", "  padded\n", "two\nlines", "héllo 🎉", "tab\there", "\u{1}"][..])
            .prop_map(str::to_owned),
        1 => select(&["", " \n\t "][..]).prop_map(str::to_owned),
        1 => Just("c".repeat(64 * 1024 + 1)),
    ]
}

fn limit() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 1i64..=6,
        1 => Just(100),
        1 => select(&[0, 101, -1, i64::MIN, i64::MAX][..]),
    ]
}

/// A message or summary id: mostly near the room's few dozen ids, sometimes nowhere near.
fn id() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..4,
        3 => 0i64..16,
        2 => 0i64..70,
        1 => select(&[-1, i64::MIN, i64::MAX][..]),
    ]
}

/// A `topic_id`: mostly the main room, else a topic that may exist, the same padded, one never
/// opened and one that breaks the pattern.
fn topic_id() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just(""),
        4 => Just("auth"),
        3 => Just("ui"),
        1 => Just(" auth "),
        1 => Just("nope"),
        1 => Just("Bad!"),
    ]
    .prop_map(str::to_owned)
}

/// An id to open or close: the same pool, each as likely.
fn topic_to_open() -> impl Strategy<Value = String> {
    select(&["", "auth", "ui", " auth ", "nope", "Bad!"][..]).prop_map(str::to_owned)
}

fn title() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&["Auth rework", " UI "][..]).prop_map(str::to_owned),
        1 => select(&["", "  ", "t\u{7}"][..]).prop_map(str::to_owned),
        1 => Just("t".repeat(257)),
    ]
}

fn status() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&["open", "closed", "all", " all "][..]).prop_map(str::to_owned),
        1 => select(&["", " ", "OPEN", "any"][..]).prop_map(str::to_owned),
    ]
}

fn send() -> impl Strategy<Value = Request> {
    (name(), content(), target(), topic_id()).prop_map(|(name, content, to, topic_id)| {
        Request::SendMessage {
            topic_id,
            name,
            content,
            to,
        }
    })
}

fn write_summary() -> impl Strategy<Value = Request> {
    (name(), content(), target(), topic_id()).prop_map(|(name, content, scope, topic_id)| {
        Request::WriteSummary {
            topic_id,
            name,
            content,
            scope,
        }
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        3 => (name(), role()).prop_map(|(name, role)| Request::Join { name, role }),
        2 => name().prop_map(|name| Request::Leave { name }),
        10 => send(),
        2 => (id(), limit(), optional_name(), topic_id()).prop_map(
            |(since_id, limit, participant, topic_id)| {
                Request::ReadMessages { topic_id, since_id, limit, participant }
            }
        ),
        3 => (name(), limit(), any::<bool>(), topic_id()).prop_map(
            |(name, limit, mark_read, topic_id)| {
                Request::ReadUnread { topic_id, name, limit, mark_read }
            }
        ),
        1 => (name(), topic_id()).prop_map(|(name, topic_id)| Request::GetCursor { topic_id, name }),
        3 => (name(), id(), topic_id()).prop_map(|(name, message_id, topic_id)| {
            Request::SetCursor { topic_id, name, message_id }
        }),
        2 => write_summary(),
        1 => (target(), topic_id()).prop_map(|(scope, topic_id)| {
            Request::ReadLatestSummary { topic_id, scope }
        }),
        1 => (id(), limit()).prop_map(|(since_id, limit)| Request::ReadSummaries { since_id, limit }),
        2 => (optional_name(), limit(), topic_id()).prop_map(|(name, recent_limit, topic_id)| {
            Request::GetHandoff { topic_id, name, recent_limit }
        }),
        2 => (topic_to_open(), title(), optional_name()).prop_map(|(topic_id, title, name)| {
            Request::OpenTopic { topic_id, title, name }
        }),
        1 => topic_to_open().prop_map(|topic_id| Request::CloseTopic { topic_id }),
        2 => (optional_name(), status()).prop_map(|(name, status)| {
            Request::ListTopics { name, status }
        }),
        // search_messages is not generated: search has its own property test.
        1 => select(vec![
            Request::ListParticipants,
            Request::GetStatus,
            Request::DaemonStatus,
            Request::Shutdown,
            Request::Subscribe { topic_id: String::new(), participant: String::new() },
        ]),
    ]
}

fn session() -> impl Strategy<Value = SessionId> {
    select(&SESSIONS[..])
}

fn step() -> impl Strategy<Value = Step> {
    let action = prop_oneof![
        20 => (session(), prop::bool::weighted(0.2), any::<bool>(), request()).prop_map(
            |(session, human, from_newest, request)| Action::Call {
                session,
                human,
                from_newest,
                request,
            }
        ),
        1 => session().prop_map(Action::EndSession),
        1 => Just(Action::RemoveOrphans),
        1 => (session(), vec(prop_oneof![3 => send(), 1 => write_summary()], 1..4))
            .prop_map(|(session, requests)| Action::AppendThenTruncate { session, requests }),
    ];
    let advance = prop_oneof![3 => Just(0u64), 2 => 1u64..3, 1 => Just(86_400 * 366)];
    (advance, action).prop_map(|(advance, action)| Step { advance, action })
}

/// A sequence of steps; half of them begin by opening the topics `auth` and `ui`, so that the
/// topic-scoped requests that follow often find a topic to work in.
pub(crate) fn steps() -> impl Strategy<Value = Vec<Step>> {
    (any::<bool>(), vec(step(), 0..=60)).prop_map(|(with_topics, steps)| {
        let open = |id: &str, title: &str| Step {
            advance: 0,
            action: Action::Call {
                session: SESSIONS[0],
                human: false,
                from_newest: false,
                request: Request::OpenTopic {
                    topic_id: id.to_owned(),
                    title: title.to_owned(),
                    name: String::new(),
                },
            },
        };
        let prelude = [open("auth", "Auth rework"), open("ui", "UI")];
        let prelude = prelude.into_iter().filter(|_| with_topics);
        prelude.chain(steps).collect()
    })
}
