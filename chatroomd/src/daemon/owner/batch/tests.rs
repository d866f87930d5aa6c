//! The batch core's rules, each checked through one helper, [`Check::batch`]: the inputs and
//! what the disk does with the plan go in; the plan's keys and changes, the replies, the events
//! and the evictions come out. No thread, no file, no channel, no sleep.

mod waits;

use super::*;
use crate::daemon::dedupe::{RETENTION_SECS, Recorded};
use protocol::{HookLink, Participant};

/// 2024-02-29T12:34:56Z.
const T0: u64 = 1_709_210_096;
/// The pid the core reports as its daemon's.
const PID: u32 = 42;

/// What the disk does with a batch's plan.
#[derive(Debug, Clone, Copy)]
enum Disk {
    Takes,
    /// Every write fails as a full disk does.
    Full,
}

/// A core, its clock, and the state of the outboxes.
struct Check {
    core: Core,
    now: Now,
    /// Sessions whose outbox takes nothing more.
    full: Vec<SessionId>,
}

/// One batch, as the tests read it.
#[derive(Debug)]
struct Seen {
    keys: Vec<KeyRecord>,
    changes: Changes,
    stop: bool,
    shutdown_requested: bool,
    /// The replies queued, in order.
    replies: Vec<(SessionId, Result<Response, Refusal>)>,
    /// The call ids of those replies, in the same order.
    reply_ids: Vec<u64>,
    /// The events queued, in order.
    events: Vec<(SessionId, Event)>,
    delivered: Delivered,
}

impl Check {
    fn new() -> Self {
        Self::with(Room::new(), Dedupe::default())
    }

    fn with(room: Room, dedupe: Dedupe) -> Self {
        let at = Instant::now();
        let facts = DaemonFacts {
            started: at,
            root: "/repo".into(),
            socket: "/run/chatroom.sock".into(),
            log: "/repo/.chatroom/chatroomd.log".into(),
            import_hint: None,
        };
        Self {
            core: Core::new(room, dedupe, facts, PID, at),
            now: Now { unix: T0, at },
            full: Vec::new(),
        }
    }

    /// Runs one batch through the three steps: apply `inputs`, store the plan as `disk` does,
    /// deliver to the outboxes (those in `full` take nothing).
    fn batch(&mut self, inputs: Vec<Input>, disk: Disk) -> Seen {
        let plan = self.core.apply(inputs, self.now);
        let (keys, changes) = (plan.keys.clone(), plan.changes.clone());
        let (stop, shutdown_requested) = (plan.stop, plan.shutdown_requested);
        let error = disk_full();
        // As in the shell, a plan with nothing to store is not offered to the disk.
        let stored = match (disk, plan.must_store()) {
            (Disk::Full, true) => Err(&error),
            _ => Ok(()),
        };
        let settled = self.core.settle(plan, stored, self.now);
        let (mut replies, mut events, mut reply_ids) = (Vec::new(), Vec::new(), Vec::new());
        let full = &self.full;
        let delivered = self.core.deliver(settled, |session, message| {
            if full.contains(&session) {
                return Delivery::Full;
            }
            match message {
                ServerMessage::Reply { outcome, id } => {
                    replies.push((session, outcome));
                    reply_ids.push(id);
                }
                ServerMessage::Event(event) => events.push((session, event)),
                other => panic!("the owner sends only replies and events, not {other:?}"),
            }
            Delivery::Queued
        });
        Seen {
            keys,
            changes,
            stop,
            shutdown_requested,
            replies,
            reply_ids,
            events,
            delivered,
        }
    }

    fn later(&mut self, secs: u64) {
        self.now.unix += secs;
        self.now.at += Duration::from_secs(secs);
    }

    /// What a reader of the room can tell apart.
    fn room(&self) -> Snapshot {
        let room = self.core.room();
        Snapshot {
            participants: room.participants(),
            held: (1..=3).map(|session| room.names_held_by(session)).collect(),
            cursors: room.cursors(),
            messages: room.message_count(),
            summaries: room.summary_count(),
        }
    }
}

/// The room as its readers see it: who is there and which session holds what, the cursors, and
/// how many messages and summaries it has.
#[derive(Debug, PartialEq)]
struct Snapshot {
    participants: Vec<Participant>,
    held: Vec<Vec<String>>,
    cursors: Vec<(String, u64)>,
    messages: usize,
    summaries: usize,
}

fn disk_full() -> PersistError {
    PersistError {
        file: "messages.jsonl".into(),
        cause: std::io::Error::from_raw_os_error(libc::ENOSPC),
    }
}

/// What every write of a batch the full disk refused is answered.
fn refused() -> Result<Response, Refusal> {
    Err(Refusal::storage(
        "the chatroom could not save this change: no space left on device (os error 28)",
    ))
}

fn open(session: SessionId) -> Input {
    open_as(session, ClientKind::Agent)
}

fn open_as(session: SessionId, kind: ClientKind) -> Input {
    Input::Open {
        session,
        kind,
        client_pid: 1000 + session as u32,
    }
}

fn close(session: SessionId) -> Input {
    Input::Close { session }
}

fn call(session: SessionId, request: Request) -> Input {
    Input::Call {
        session,
        id: 0,
        key: None,
        request,
    }
}

fn keyed(session: SessionId, key: Key, request: Request) -> Input {
    Input::Call {
        session,
        id: 0,
        key: Some(key),
        request,
    }
}

fn join(name: &str) -> Request {
    Request::Join {
        name: name.into(),
        role: "dev".into(),
    }
}

fn leave(name: &str) -> Request {
    Request::Leave { name: name.into() }
}

fn send(name: &str, to: &str, content: &str) -> Request {
    Request::SendMessage {
        topic_id: String::new(),
        name: name.into(),
        content: content.into(),
        to: to.into(),
    }
}

fn summary(name: &str, content: &str) -> Request {
    Request::WriteSummary {
        topic_id: String::new(),
        name: name.into(),
        content: content.into(),
        scope: "all".into(),
    }
}

fn unread(name: &str) -> Request {
    Request::ReadUnread {
        topic_id: String::new(),
        name: name.into(),
        limit: 100,
        mark_read: true,
    }
}

fn read_messages() -> Request {
    Request::ReadMessages {
        topic_id: String::new(),
        since_id: 0,
        limit: 100,
        participant: String::new(),
    }
}

fn subscribe(participant: &str) -> Request {
    Request::Subscribe {
        topic_id: String::new(),
        participant: participant.into(),
    }
}

fn record(key: Key, recorded: Recorded) -> KeyRecord {
    KeyRecord {
        key,
        at: T0,
        recorded,
    }
}

/// Events in words: a message's content, `summary: <content>`, or `presence`.
fn events(seen: &Seen) -> Vec<(SessionId, String)> {
    let word = |event: &Event| match event {
        Event::Message(message) => message.content.clone(),
        Event::Summary(summary) => format!("summary: {}", summary.content),
        Event::Presence { .. } => "presence".to_owned(),
        Event::Topic(topic) => format!("topic: {}", topic.id),
        Event::Claim(event) => format!("claim {}: {}", event.change.as_str(), event.claim.path),
    };
    let events = seen.events.iter();
    events
        .map(|(session, event)| (*session, word(event)))
        .collect()
}

/// `words` as the events of `session`, for comparing with [`events`].
fn each(session: SessionId, words: &[&str]) -> Vec<(SessionId, String)> {
    let words = words.iter();
    words.map(|word| (session, (*word).to_owned())).collect()
}

fn contents(changes: &Changes) -> Vec<&str> {
    let messages = changes.messages.iter();
    messages.map(|message| message.content.as_str()).collect()
}

#[test]
fn a_batch_the_disk_refuses_is_refused_whole_and_the_room_is_back_where_it_began() {
    let mut check = Check::new();
    check.batch(vec![open(1), open(2), call(1, join("alice"))], Disk::Takes);
    let before = check.room();
    let seen = check.batch(
        vec![
            call(1, send("alice", "all", "hi")),
            call(2, join("bob")),
            call(1, summary("alice", "done")),
            call(
                1,
                Request::SetCursor {
                    topic_id: String::new(),
                    name: "alice".into(),
                    message_id: 1,
                },
            ),
            call(2, leave("bob")),
        ],
        Disk::Full,
    );
    assert_eq!(
        seen.replies,
        vec![
            (1, refused()),
            (2, refused()),
            (1, refused()),
            (1, refused()),
            (2, refused())
        ]
    );
    assert_eq!(check.room(), before);
    assert!(seen.events.is_empty() && seen.delivered == Delivered::default());
}

#[test]
fn a_read_answered_after_a_rolled_back_change_is_answered_again() {
    let mut check = Check::new();
    check.batch(
        vec![
            open(1),
            call(1, join("alice")),
            call(1, send("alice", "all", "first")),
        ],
        Disk::Takes,
    );
    let seen = check.batch(
        vec![
            // Before any change of the batch: its answer stands.
            call(1, read_messages()),
            call(1, send("alice", "all", "second")),
            // It saw "second", which is rolled back: answered again without it.
            call(1, read_messages()),
            call(1, leave("alice")),
            // `false` because of the leave before it; carried out again it would write, and
            // the disk just failed.
            call(1, leave("alice")),
        ],
        Disk::Full,
    );
    let first = &seen.replies[0];
    assert!(
        matches!(&first.1, Ok(Response::Messages(messages)) if messages.len() == 1 && messages[0].content == "first")
    );
    assert_eq!(
        seen.replies[1..],
        [
            (1, refused()),
            first.clone(),
            (1, refused()),
            (1, refused())
        ]
    );
}

#[test]
fn a_repeated_keyed_send_is_answered_with_its_first_id_and_sends_nothing() {
    let mut check = Check::new();
    check.batch(vec![open(1), call(1, join("alice"))], Disk::Takes);
    let first = check.batch(vec![keyed(1, 7, send("alice", "all", "hi"))], Disk::Takes);
    assert_eq!(first.replies, [(1, Ok(Response::Id(1)))]);
    assert_eq!(first.keys, [record(7, Recorded::Message { id: 1 })]);
    let repeat = check.batch(vec![keyed(1, 7, send("alice", "all", "hi"))], Disk::Takes);
    assert_eq!(repeat.replies, [(1, Ok(Response::Id(1)))]);
    assert!(repeat.keys.is_empty() && repeat.changes.is_empty());
    assert_eq!(check.core.room().message_count(), 1);
}

#[test]
fn a_repeated_keyed_summary_is_answered_with_its_first_id_and_writes_nothing() {
    let mut check = Check::new();
    check.batch(vec![open(1), call(1, join("alice"))], Disk::Takes);
    let first = check.batch(vec![keyed(1, 8, summary("alice", "done"))], Disk::Takes);
    assert_eq!(first.keys, [record(8, Recorded::Summary { id: 1 })]);
    let repeat = check.batch(vec![keyed(1, 8, summary("alice", "done"))], Disk::Takes);
    assert_eq!(repeat.replies, [(1, Ok(Response::Id(1)))]);
    assert!(repeat.changes.is_empty());
    assert_eq!(check.core.room().summary_count(), 1);
}

#[test]
fn a_repeated_keyed_read_unread_returns_what_the_first_returned_and_nothing_newer() {
    let mut check = Check::new();
    let setup = vec![
        open(1),
        open(2),
        call(1, join("alice")),
        call(2, join("bob")),
        call(2, send("bob", "all", "one")),
        call(2, send("bob", "alice", "two")),
        call(2, send("bob", "carol", "not for alice")),
    ];
    check.batch(setup, Disk::Takes);
    let first = check.batch(vec![keyed(1, 9, unread("alice"))], Disk::Takes);
    let after = Recorded::Unread {
        topic_id: None,
        name: "alice".into(),
        after: 0,
        through: 2,
    };
    assert_eq!(first.keys, [record(9, after)]);
    let repeat = check.batch(
        vec![
            call(2, send("bob", "all", "three")),
            keyed(1, 9, unread("alice")),
        ],
        Disk::Takes,
    );
    assert_eq!(repeat.replies[1], first.replies[0]);
    assert!(repeat.keys.is_empty());
    assert_eq!(check.core.room().cursor(None, "alice"), 2);
}

#[test]
fn a_keyed_read_unread_repeated_after_a_crash_moves_the_cursor_the_disk_lost() {
    let message = |id: u64| protocol::Message {
        topic_id: None,
        id,
        ts: "2024-02-29T12:34:56Z".into(),
        from: "bob".into(),
        to: "all".into(),
        content: format!("m{id}"),
        human: false,
    };
    let room = Room::restore(
        vec![message(1), message(2), message(3)],
        Vec::new(),
        Vec::new(),
        Vec::new(),
    )
    .unwrap();
    let mut dedupe = Dedupe::default();
    let through_2 = Recorded::Unread {
        topic_id: None,
        name: "alice".into(),
        after: 0,
        through: 2,
    };
    dedupe.insert(record(9, through_2));
    let mut check = Check::with(room, dedupe);
    let seen = check.batch(vec![open(1), keyed(1, 9, unread("alice"))], Disk::Takes);
    let Ok(Response::Unread(answer)) = &seen.replies[0].1 else {
        panic!("{seen:?}");
    };
    assert_eq!((answer.last_read_id, answer.messages.len()), (2, 2));
    assert!(seen.changes.cursors, "the cursor move is stored again");
    assert_eq!(check.core.room().cursor(None, "alice"), 2);
}

#[test]
fn a_repeated_keyed_leave_answers_true_and_releases_the_name_again_if_the_session_rejoined() {
    let mut check = Check::new();
    check.batch(vec![open(1), open(2), call(1, join("alice"))], Disk::Takes);
    let first = check.batch(vec![keyed(1, 5, leave("alice"))], Disk::Takes);
    assert_eq!(
        (first.replies[0].1.clone(), first.keys.clone()),
        (Ok(Response::Left(true)), vec![record(5, Recorded::Left)])
    );

    // Repeated as it is: true, and nothing more happens.
    let repeat = check.batch(vec![keyed(1, 5, leave("alice"))], Disk::Takes);
    assert_eq!(repeat.replies, [(1, Ok(Response::Left(true)))]);
    assert!(repeat.changes.is_empty());

    // The client re-joined the name on a new connection before repeating: let it go again.
    let rejoined = check.batch(
        vec![call(1, join("alice")), keyed(1, 5, leave("alice"))],
        Disk::Takes,
    );
    assert_eq!(rejoined.replies[1], (1, Ok(Response::Left(true))));
    assert_eq!(contents(&rejoined.changes), ["alice left the chatroom"]);
    assert!(check.core.room().names_held_by(1).is_empty());

    // Another session holds the name now: the repeat answers true and leaves it alone.
    let taken = check.batch(
        vec![call(2, join("alice")), keyed(1, 5, leave("alice"))],
        Disk::Takes,
    );
    assert_eq!(taken.replies[1], (1, Ok(Response::Left(true))));
    assert_eq!(check.core.room().names_held_by(2), ["alice"]);
}

#[test]
fn a_keyed_write_the_disk_refused_is_carried_out_when_repeated() {
    let mut check = Check::new();
    check.batch(vec![open(1), call(1, join("alice"))], Disk::Takes);
    let refused_once = check.batch(vec![keyed(1, 7, send("alice", "all", "hi"))], Disk::Full);
    assert_eq!(refused_once.replies, [(1, refused())]);
    let repeat = check.batch(vec![keyed(1, 7, send("alice", "all", "hi"))], Disk::Takes);
    assert_eq!(repeat.replies, [(1, Ok(Response::Id(1)))]);
    assert_eq!(
        (repeat.keys.len(), contents(&repeat.changes)),
        (1, vec!["hi"])
    );
}

#[test]
fn the_keys_file_is_compacted_when_mostly_dead_and_a_failed_rewrite_waits_a_minute() {
    let mut dedupe = Dedupe::with_max_keys(8);
    dedupe.insert(record(1, Recorded::Left));
    dedupe.insert(record(2, Recorded::Left));
    let mut check = Check::with(Room::new(), dedupe);
    // (seconds later, lines in the file, whether the shell rewrote it, keys to rewrite with):
    // two live keys and a slack of 8 keep up to 12 lines.
    let steps: [(u64, usize, Option<bool>, Option<usize>); 6] = [
        (0, 12, None, None),
        (0, 13, Some(false), Some(2)),
        (59, 13, None, None),
        (1, 13, Some(true), Some(2)),
        (0, 13, None, Some(2)),
        // A day later both keys are forgotten first, and 9 lines are all dead.
        (RETENTION_SECS + 1, 9, None, Some(0)),
    ];
    for (step, (later, lines, rewritten, expect)) in steps.into_iter().enumerate() {
        check.later(later);
        let keys = check.core.keys_to_compact(lines, check.now);
        assert_eq!(keys.as_ref().map(Vec::len), expect, "step {step}");
        if let Some(rewritten) = rewritten {
            check.core.compacted(rewritten, check.now);
        }
    }
}

#[test]
fn a_session_whose_outbox_is_full_is_evicted_and_gets_nothing_more() {
    let mut check = Check::new();
    check.full = vec![2];
    let seen = check.batch(
        vec![
            open(1),
            open(2),
            call(2, Request::GetStatus),
            call(1, Request::GetStatus),
            call(2, Request::GetStatus),
        ],
        Disk::Takes,
    );
    assert_eq!(
        seen.replies
            .iter()
            .map(|(session, _)| *session)
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(
        seen.delivered,
        Delivered {
            evicted: vec![2],
            live_sessions: Some(1)
        }
    );
    assert!(!check.core.has_session(2));
    // Its connection then ends: the Close changes nothing more.
    let closed = check.batch(vec![close(2)], Disk::Takes);
    assert_eq!(closed.delivered, Delivered::default());
}

#[test]
fn each_subscriber_gets_what_its_participant_may_see_and_a_full_one_is_evicted() {
    let mut check = Check::new();
    let setup = vec![
        open(1),
        open_as(2, ClientKind::Human),
        open_as(3, ClientKind::Human),
        open_as(4, ClientKind::Human),
        call(1, join("alice")),
        call(2, subscribe("")),
        call(3, subscribe(" bob ")),
        call(4, subscribe("")),
    ];
    check.batch(setup, Disk::Takes);
    check.full = vec![4];
    let seen = check.batch(
        vec![
            call(1, send("alice", "all", "hello")),
            call(1, send("alice", "bob", "psst")),
            call(1, send("alice", "carol", "secret")),
            call(1, summary("alice", "done")),
        ],
        Disk::Takes,
    );
    let expected = [
        each(2, &["hello", "psst", "secret", "summary: done"]),
        each(3, &["hello", "psst", "summary: done"]),
    ];
    assert_eq!(events(&seen), expected.concat());
    assert_eq!(seen.delivered.evicted, [4]);
    // The idle timer's count already leaves the evicted subscriber out (its Close that follows
    // removes nothing more): the agent and the two people still reading.
    assert_eq!(seen.delivered.live_sessions, Some(3));
    let closed = check.batch(vec![close(4)], Disk::Takes);
    assert_eq!(closed.delivered.live_sessions, None);

    // A departure changes the presence, which every subscriber left gets after the message.
    let seen = check.batch(vec![close(1)], Disk::Takes);
    let left = ["alice left the chatroom", "presence"];
    assert_eq!(events(&seen), [each(2, &left), each(3, &left)].concat());
}

#[test]
fn a_departure_the_disk_refused_is_retried_by_the_next_batch_and_the_names_stay_meanwhile() {
    let mut check = Check::new();
    check.batch(
        vec![
            open(1),
            open_as(2, ClientKind::Human),
            call(1, join("alice")),
            call(2, subscribe("")),
        ],
        Disk::Takes,
    );
    let failed = check.batch(vec![close(1)], Disk::Full);
    assert_eq!(
        check.core.room().names_held_by(1),
        ["alice"],
        "nothing is announced that is not stored"
    );
    // The session count changed whatever the disk says; the names did not.
    let presence = failed.events.iter().map(|(_, event)| event);
    assert!(
        matches!(presence.collect::<Vec<_>>()[..], [Event::Presence { participants, sessions }] if participants.len() == 1 && sessions.len() == 1)
    );
    assert!(check.core.departures_pending());
    assert_eq!(
        check.core.next_deadline(),
        Some(check.now.at + DEPARTURE_RETRY)
    );

    check.later(1);
    let retried = check.batch(Vec::new(), Disk::Takes);
    assert_eq!(contents(&retried.changes), ["alice left the chatroom"]);
    assert!(check.core.room().participants().is_empty() && !check.core.departures_pending());
    assert_eq!(check.core.next_deadline(), None);
}

#[test]
fn stale_participants_a_start_could_not_remove_leave_with_the_first_stored_batch() {
    let alice = Participant {
        name: "alice".into(),
        role: "dev".into(),
        joined_at: "2026-01-02T03:04:05Z".into(),
        last_seen: "2026-01-02T03:04:05Z".into(),
    };
    let room = Room::restore(Vec::new(), Vec::new(), vec![alice], Vec::new()).unwrap();
    let mut check = Check::with(room, Dedupe::default());
    assert_eq!(
        check.core.next_deadline(),
        Some(check.now.at + DEPARTURE_RETRY)
    );
    check.batch(Vec::new(), Disk::Full);
    assert_eq!(check.core.room().participants().len(), 1);
    let stored = check.batch(Vec::new(), Disk::Takes);
    assert_eq!(contents(&stored.changes), ["alice left the chatroom"]);
    assert!(!check.core.departures_pending());
}

#[test]
fn last_seen_alone_is_written_within_a_second_and_never_for_a_refused_batch() {
    let mut check = Check::new();
    check.batch(vec![open(1), call(1, join("alice"))], Disk::Takes);
    check.later(5);
    check.batch(vec![call(1, send("alice", "all", "refused"))], Disk::Full);
    assert!(
        !check.core.take_last_seen(),
        "the refused send's last_seen was rolled back"
    );
    check.batch(vec![call(1, send("alice", "all", "stored"))], Disk::Takes);
    assert!(!check.core.last_seen_due(check.now.at));
    assert_eq!(
        check.core.next_deadline(),
        Some(check.now.at + LAST_SEEN_FLUSH)
    );
    assert!(check.core.last_seen_due(check.now.at + LAST_SEEN_FLUSH));
    assert!(check.core.take_last_seen() && !check.core.take_last_seen());
}

#[test]
fn the_daemons_own_requests_are_answered_by_the_core() {
    let mut check = Check::new();
    check.later(3);
    let seen = check.batch(
        vec![
            open_as(1, ClientKind::Control),
            open_as(2, ClientKind::Human),
            call(2, join("ann")),
            call(1, Request::DaemonStatus),
            call(1, Request::Shutdown),
            Input::Stop,
        ],
        Disk::Takes,
    );
    assert!(
        matches!(&seen.replies[0].1, Err(refusal) if refusal.kind == protocol::RefusalKind::NotAllowed)
    );
    let Ok(Response::DaemonStatus(status)) = &seen.replies[1].1 else {
        panic!("{seen:?}");
    };
    assert_eq!(
        (status.pid, status.uptime_secs, status.sessions.len()),
        (PID, 3, 1),
        "a control connection is no session"
    );
    assert_eq!(seen.replies[2].1, Ok(Response::ShuttingDown));
    assert!(seen.shutdown_requested && seen.stop);
    assert_eq!(seen.delivered.live_sessions, Some(1));
}

fn in_topic(mut request: Request, topic: &str) -> Request {
    match &mut request {
        Request::SendMessage { topic_id, .. }
        | Request::WriteSummary { topic_id, .. }
        | Request::ReadUnread { topic_id, .. }
        | Request::Subscribe { topic_id, .. } => *topic_id = topic.into(),
        other => panic!("not scoped here: {other:?}"),
    }
    request
}

fn open_topic(id: &str) -> Request {
    Request::OpenTopic {
        topic_id: id.into(),
        title: id.to_uppercase(),
        name: String::new(),
    }
}

#[test]
fn subscribers_get_the_scopes_they_asked_for_and_the_topics_as_they_open_and_close() {
    let mut check = Check::new();
    let setup = vec![
        open(1),
        open_as(2, ClientKind::Human),
        open_as(3, ClientKind::Human),
        open_as(4, ClientKind::Human),
        call(1, join("alice")),
        call(1, open_topic("auth")),
        call(1, open_topic("ui")),
        call(2, in_topic(subscribe(""), "*")),
        call(3, subscribe("")),
        call(4, in_topic(subscribe("bob"), " auth ")),
    ];
    let seen = check.batch(setup, Disk::Takes);
    assert!(
        seen.replies.iter().all(|(_, reply)| reply.is_ok()),
        "{:?}",
        seen.replies
    );
    let seen = check.batch(
        vec![
            call(1, send("alice", "all", "main")),
            call(1, in_topic(send("alice", "all", "in auth"), "auth")),
            call(
                1,
                in_topic(send("alice", "carol", "auth, to carol"), "auth"),
            ),
            call(1, in_topic(send("alice", "all", "in ui"), "ui")),
            call(1, in_topic(summary("alice", "auth so far"), "auth")),
            call(
                1,
                Request::CloseTopic {
                    topic_id: "ui".into(),
                },
            ),
        ],
        Disk::Takes,
    );
    let expected = [
        each(
            2,
            &[
                "main",
                "in auth",
                "auth, to carol",
                "in ui",
                "summary: auth so far",
                "topic: ui",
            ],
        ),
        each(3, &["main"]),
        each(4, &["in auth", "summary: auth so far"]),
    ];
    assert_eq!(events(&seen), expected.concat());
    // A subscription to a topic that does not exist is refused like a read of it.
    let refused = check.batch(vec![call(2, in_topic(subscribe(""), "nope"))], Disk::Takes);
    assert_eq!(
        refused.replies[0].1.as_ref().unwrap_err().message,
        "unknown topic_id: nope"
    );
}

#[test]
fn keyed_topic_calls_and_topic_reads_answer_a_repeat_with_the_first_outcome() {
    let mut check = Check::new();
    check.batch(
        vec![
            open(1),
            open(2),
            call(1, join("alice")),
            call(2, join("bob")),
        ],
        Disk::Takes,
    );
    let first = check.batch(vec![keyed(1, 20, open_topic("auth"))], Disk::Takes);
    let Ok(Response::Topic(topic)) = &first.replies[0].1 else {
        panic!("{:?}", first.replies)
    };
    assert_eq!(
        first.keys,
        [record(
            20,
            Recorded::Opened {
                topic_id: "auth".into()
            }
        )]
    );
    let repeat = check.batch(vec![keyed(1, 20, open_topic("auth"))], Disk::Takes);
    assert_eq!(repeat.replies[0].1, Ok(Response::Topic(topic.clone())));
    assert!(repeat.changes.is_empty());

    check.batch(
        vec![
            call(2, in_topic(send("bob", "all", "one"), "auth")),
            call(2, send("bob", "all", "main")),
        ],
        Disk::Takes,
    );
    let first = check.batch(
        vec![keyed(1, 21, in_topic(unread("alice"), "auth"))],
        Disk::Takes,
    );
    assert_eq!(
        first.keys,
        [record(
            21,
            Recorded::Unread {
                name: "alice".into(),
                after: 0,
                through: 1,
                topic_id: Some("auth".into()),
            }
        )]
    );
    let repeat = check.batch(
        vec![
            call(2, in_topic(send("bob", "all", "two"), "auth")),
            keyed(1, 21, in_topic(unread("alice"), "auth")),
        ],
        Disk::Takes,
    );
    assert_eq!(repeat.replies[1], first.replies[0]);
    assert_eq!(check.core.room().cursor(Some("auth"), "alice"), 1);
    assert_eq!(check.core.room().cursor(None, "alice"), 0);

    let first = check.batch(
        vec![keyed(
            1,
            22,
            Request::CloseTopic {
                topic_id: "auth".into(),
            },
        )],
        Disk::Takes,
    );
    assert_eq!(first.replies[0].1, Ok(Response::Closed(true)));
    let repeat = check.batch(
        vec![keyed(
            1,
            22,
            Request::CloseTopic {
                topic_id: "auth".into(),
            },
        )],
        Disk::Takes,
    );
    assert_eq!(repeat.replies[0].1, Ok(Response::Closed(true)), "not false");
}

#[test]
fn a_topics_activity_is_written_lazily_like_last_seen() {
    let mut check = Check::new();
    check.batch(
        vec![open_as(1, ClientKind::Human), call(1, open_topic("auth"))],
        Disk::Takes,
    );
    check.core.take_last_seen();
    check.later(1);
    let seen = check.batch(
        vec![call(1, in_topic(send("maria", "all", "hi"), "auth"))],
        Disk::Takes,
    );
    assert!(seen.changes.topic_activity && !seen.changes.topics);
    assert!(seen.changes.needs_sync(), "the message itself is durable");
    assert!(check.core.last_seen_due(check.now.at + LAST_SEEN_FLUSH));
    assert!(check.core.take_last_seen());
}

fn claim(name: &str, path: &str, ttl_s: i64) -> Request {
    Request::Claim {
        name: name.into(),
        paths: vec![path.into()],
        exclusive: true,
        reason: "work".into(),
        ttl_s,
        restore: None,
    }
}

#[test]
fn claims_are_published_as_they_come_and_go_and_a_ttl_sets_the_owners_timer() {
    let mut check = Check::new();
    check.batch(
        vec![
            open(1),
            open(2),
            call(1, join("alice")),
            call(2, subscribe("")),
        ],
        Disk::Takes,
    );
    let seen = check.batch(vec![call(1, claim("alice", "src/a.rs", 30))], Disk::Takes);
    assert!(matches!(&seen.replies[..], [(1, Ok(Response::Claimed(_)))]));
    assert_eq!(events(&seen), each(2, &["claim granted: src/a.rs"]));
    assert!(
        seen.keys.is_empty() && !seen.changes.needs_sync(),
        "claims are not stored"
    );
    // Due once the clock is past its expires_at (T0 + 30), not before.
    let due = check.core.next_deadline().expect("the ttl sets a deadline");
    assert_eq!(due, check.now.at + Duration::from_secs(31));
    check.later(30);
    assert!(!check.core.claims_due(check.now.at));
    check.later(1);
    assert!(check.core.claims_due(check.now.at));
    let seen = check.batch(vec![], Disk::Takes);
    assert_eq!(events(&seen), each(2, &["claim expired: src/a.rs"]));
    assert_eq!(check.core.next_deadline(), None);
    // A session's end takes its claims, as the room sees.
    check.batch(vec![call(1, claim("alice", "src/b.rs", 0))], Disk::Takes);
    let seen = check.batch(vec![close(1)], Disk::Takes);
    let words = events(&seen);
    assert!(
        words.contains(&(2, "claim departed: src/b.rs".to_owned())),
        "{words:?}"
    );
}

#[test]
fn a_claim_in_a_batch_the_disk_refuses_is_refused_and_rolled_back() {
    let mut check = Check::new();
    check.batch(vec![open(1), call(1, join("alice"))], Disk::Takes);
    let seen = check.batch(
        vec![
            call(1, claim("alice", "src/a.rs", 0)),
            call(1, send("alice", "all", "hi")),
        ],
        Disk::Full,
    );
    assert_eq!(seen.replies, vec![(1, refused()), (1, refused())]);
    assert!(check.core.room().claims(T0).is_empty());
    // Alone, a claim needs no disk: granted even while the disk is full.
    let seen = check.batch(vec![call(1, claim("alice", "src/a.rs", 0))], Disk::Full);
    assert!(matches!(&seen.replies[..], [(1, Ok(Response::Claimed(_)))]));
    assert_eq!(check.core.room().claims(T0).len(), 1);
}

#[test]
fn a_claim_check_leaves_out_the_claims_of_the_agent_its_hook_belongs_to() {
    let mut check = Check::new();
    let link = |agent_pid: u32| Request::Link {
        client_session_id: String::new(),
        agent_pid,
    };
    check.batch(
        vec![
            open(1),
            open(2),
            call(1, link(501)),
            call(2, link(502)),
            call(1, join("alice")),
            call(2, join("bob")),
            call(1, claim("alice", "src/**", 0)),
        ],
        Disk::Takes,
    );
    let ask = |ancestors: Vec<u32>, as_names: Vec<String>| Request::CheckClaims {
        hook: HookLink {
            session_id: String::new(),
            ancestors,
        },
        as_names,
        paths: vec!["src/a.rs".into(), "README.md".into()],
    };
    let checked = |check: &mut Check, request| match check
        .batch(vec![call(2, request)], Disk::Takes)
        .replies
        .pop()
    {
        Some((_, Ok(Response::ClaimCheck(found)))) => found,
        other => panic!("{other:?}"),
    };
    // bob's hook (its ancestry holds bob's agent): alice's claim blocks src/a.rs only.
    let found = checked(&mut check, ask(vec![900, 502], vec![]));
    assert_eq!(
        (found.names.as_slice(), found.linked_by.as_str()),
        (&["bob".to_owned()][..], "ancestry")
    );
    assert_eq!(found.blocked.len(), 1);
    assert_eq!(found.blocked[0].path, "src/a.rs");
    // alice's own hook: nothing.
    let found = checked(&mut check, ask(vec![900, 501], vec![]));
    assert!(found.blocked.is_empty(), "{found:?}");
    // Named by the caller, as `check-claims --as alice` does.
    let found = checked(&mut check, ask(vec![], vec!["alice".into()]));
    assert_eq!(found.linked_by, "as");
    assert!(found.blocked.is_empty());
    // Nobody found: every exclusive claim counts.
    let found = checked(&mut check, ask(vec![1], vec![]));
    assert_eq!((found.linked_by.as_str(), found.blocked.len()), ("", 1));
}
