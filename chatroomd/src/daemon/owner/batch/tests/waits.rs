//! The waits, the hooks' links and deliveries, and the read receipts, through the batch core:
//! a wait is answered by the batch after the one that stored its message, at its deadline, or
//! never (cancelled, or its session gone) — and then it has read nothing.

use super::*;
use protocol::{HookLink, HookReach, Receipts, RefusalKind, Waited};

fn call_id(session: SessionId, id: u64, request: Request) -> Input {
    Input::Call {
        session,
        id,
        key: None,
        request,
    }
}

fn wait(name: &str, topic: &str, timeout_s: i64) -> Request {
    Request::WaitForMessages {
        name: name.into(),
        topic_id: topic.into(),
        timeout_s,
        limit: 50,
        mark_read: true,
    }
}

fn hook(session_id: &str, ancestors: &[u32]) -> HookLink {
    HookLink {
        session_id: session_id.into(),
        ancestors: ancestors.to_vec(),
    }
}

fn reach(link: HookLink, deliver: bool) -> Request {
    Request::Reach {
        hook: link,
        deliver,
        limit: 10,
    }
}

fn link(id: &str, pid: u32) -> Request {
    Request::Link {
        client_session_id: id.into(),
        agent_pid: pid,
    }
}

/// The reply to call `id` in `seen`, if there is one.
fn reply_to(seen: &Seen, session: SessionId, id: u64) -> Option<&Result<Response, Refusal>> {
    seen.replies
        .iter()
        .zip(&seen.reply_ids)
        .find(|((to, _), reply_id)| *to == session && **reply_id == id)
        .map(|((_, outcome), _)| outcome)
}

fn waited(seen: &Seen, session: SessionId, id: u64) -> Waited {
    match reply_to(seen, session, id) {
        Some(Ok(Response::Waited(waited))) => waited.clone(),
        other => panic!("no wait answered as call {id}: {other:?} in {seen:?}"),
    }
}

fn reached(seen: &Seen, session: SessionId, id: u64) -> HookReach {
    match reply_to(seen, session, id) {
        Some(Ok(Response::Reached(reach))) => reach.clone(),
        other => panic!("no reach answered as call {id}: {other:?} in {seen:?}"),
    }
}

fn message_contents(messages: &[protocol::Message]) -> Vec<&str> {
    messages
        .iter()
        .map(|message| message.content.as_str())
        .collect()
}

/// Alice holds session 1 and bob session 2, and both have read everything.
fn two_agents() -> Check {
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
    check.batch(
        vec![call(2, unread("bob")), call(1, unread("alice"))],
        Disk::Takes,
    );
    check
}

#[test]
fn a_wait_is_answered_by_the_batch_that_stores_a_message_for_it() {
    let mut check = two_agents();
    let seen = check.batch(vec![call_id(2, 7, wait("bob", "", 50))], Disk::Takes);
    assert!(reply_to(&seen, 2, 7).is_none(), "nothing unread: it waits");
    assert_eq!(check.core.parked(), 1);

    // Its own broadcast, a direct message to someone else, the room's own messages: none wakes it.
    let seen = check.batch(
        vec![
            call(2, send("bob", "all", "mine")),
            call(1, send("alice", "carol", "not for bob")),
            open(3),
            call(3, join("carol")),
        ],
        Disk::Takes,
    );
    assert!(reply_to(&seen, 2, 7).is_none());
    assert!(!check.core.waits_due(check.now.at), "{seen:?}");

    // A message for it: the batch that stores it answers the wait, reading, in its one sync.
    let seen = check.batch(vec![call(1, send("alice", "bob", "for bob"))], Disk::Takes);
    let answer = waited(&seen, 2, 7);
    assert!(!answer.timed_out);
    assert_eq!(
        message_contents(&answer.unread.messages),
        ["mine", "for bob"]
    );
    assert!(
        seen.changes.cursors,
        "the read is stored with the batch that answers it"
    );
    assert_eq!(
        answer.unread.last_read_id,
        check.core.room().cursor(None, "bob")
    );
    assert_eq!(check.core.parked(), 0);
}

#[test]
fn a_wait_with_a_message_waiting_is_answered_at_once() {
    let mut check = two_agents();
    check.batch(vec![call(1, send("alice", "all", "hello"))], Disk::Takes);
    let seen = check.batch(vec![call_id(2, 7, wait("bob", "", 50))], Disk::Takes);
    let answer = waited(&seen, 2, 7);
    assert_eq!(message_contents(&answer.unread.messages), ["hello"]);
    assert!(!answer.timed_out && seen.changes.cursors);
    assert_eq!(check.core.parked(), 0);
}

#[test]
fn a_wait_times_out_at_its_deadline_having_read_nothing_new() {
    let mut check = two_agents();
    check.batch(vec![call_id(2, 7, wait("bob", "", 5))], Disk::Takes);
    check.later(4);
    assert!(!check.core.waits_due(check.now.at));
    assert!(
        check
            .core
            .next_deadline()
            .is_some_and(|at| at <= check.now.at + Duration::from_secs(1))
    );
    check.later(1);
    assert!(check.core.waits_due(check.now.at));
    let seen = check.batch(Vec::new(), Disk::Takes);
    let answer = waited(&seen, 2, 7);
    assert!(answer.timed_out && answer.unread.messages.is_empty());
    assert_eq!(check.core.parked(), 0);
}

#[test]
fn a_cancelled_wait_is_refused_and_marks_nothing_read() {
    let mut check = two_agents();
    check.batch(vec![call_id(2, 7, wait("bob", "", 50))], Disk::Takes);
    let seen = check.batch(
        vec![call_id(2, 8, Request::CancelWait { call_id: 7 })],
        Disk::Takes,
    );
    assert!(
        matches!(reply_to(&seen, 2, 7), Some(Err(refusal)) if refusal.kind == RefusalKind::Invalid)
    );
    assert_eq!(reply_to(&seen, 2, 8), Some(&Ok(Response::Cancelled(true))));
    let cursor = check.core.room().cursor(None, "bob");
    let seen = check.batch(vec![call(1, send("alice", "all", "after"))], Disk::Takes);
    assert!(!check.core.waits_due(check.now.at), "{seen:?}");
    assert_eq!(check.core.room().cursor(None, "bob"), cursor);
    // Cancelling what is not pending says so.
    let seen = check.batch(
        vec![call_id(2, 9, Request::CancelWait { call_id: 7 })],
        Disk::Takes,
    );
    assert_eq!(reply_to(&seen, 2, 9), Some(&Ok(Response::Cancelled(false))));
}

#[test]
fn a_wait_whose_session_ends_is_dropped_unanswered() {
    let mut check = two_agents();
    check.batch(vec![call(1, send("alice", "all", "before"))], Disk::Takes);
    check.batch(vec![call(2, unread("bob"))], Disk::Takes);
    let cursor = check.core.room().cursor(None, "bob");
    check.batch(vec![call_id(2, 7, wait("bob", "", 50))], Disk::Takes);
    check.batch(vec![close(2)], Disk::Takes);
    assert_eq!(check.core.parked(), 0);
    let seen = check.batch(vec![call(1, send("alice", "bob", "gone?"))], Disk::Takes);
    assert!(reply_to(&seen, 2, 7).is_none());
    assert_eq!(check.core.room().cursor(None, "bob"), cursor);
}

#[test]
fn a_wait_watches_its_scope_and_every_scope_with_a_star() {
    let mut check = two_agents();
    check.batch(vec![call(1, open_topic("t"))], Disk::Takes);
    check.batch(
        vec![
            call_id(2, 7, wait("bob", "", 50)),
            call_id(2, 8, wait("bob", "t", 50)),
            call_id(2, 9, wait("bob", "*", 50)),
        ],
        Disk::Takes,
    );
    assert_eq!(check.core.parked(), 3);
    let seen = check.batch(
        vec![call(1, in_topic(send("alice", "all", "in t"), "t"))],
        Disk::Takes,
    );
    assert!(
        reply_to(&seen, 2, 7).is_none(),
        "the main room's wait sleeps on"
    );
    let in_t = waited(&seen, 2, 8);
    assert_eq!(in_t.unread.topic_id.as_deref(), Some("t"));
    assert_eq!(message_contents(&in_t.unread.messages), ["in t"]);
    // The topic's wait read it first (answered in the order they were parked): the star's
    // finds it read and waits on rather than answer with nothing.
    assert!(reply_to(&seen, 2, 9).is_none());
    let seen = check.batch(vec![call(1, send("alice", "all", "main"))], Disk::Takes);
    let main = waited(&seen, 2, 7);
    assert_eq!(message_contents(&main.unread.messages), ["main"]);
    assert!(
        reply_to(&seen, 2, 9).is_none(),
        "read by the main room's wait first"
    );
    let seen = check.batch(
        vec![call(1, in_topic(send("alice", "all", "again"), "t"))],
        Disk::Takes,
    );
    let star = waited(&seen, 2, 9);
    assert_eq!(star.unread.topic_id.as_deref(), Some("*"));
    assert_eq!(message_contents(&star.unread.messages), ["again"]);
    assert_eq!(
        serde_json::to_value(&star).unwrap()["topic_id"],
        serde_json::json!("*")
    );
}

#[test]
fn bad_waits_are_refused_with_one_line_and_park_nothing() {
    let mut check = two_agents();
    let seen = check.batch(
        vec![
            call_id(2, 1, wait("bob", "", 0)),
            call_id(2, 2, wait("bob", "", 601)),
            call_id(2, 3, wait("bob", "nope", 5)),
            call_id(2, 4, wait("alice", "", 5)),
        ],
        Disk::Takes,
    );
    let refusal = |id| match reply_to(&seen, 2, id) {
        Some(Err(refusal)) => refusal.message.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(refusal(1), "timeout_s must be between 1 and 600");
    assert_eq!(refusal(2), "timeout_s must be between 1 and 600");
    assert_eq!(refusal(3), "unknown topic_id: nope");
    assert_eq!(refusal(4), "name 'alice' is held by another session");
    assert_eq!(check.core.parked(), 0);
    // A session's waits are bounded.
    let waits = (0..=MAX_WAITS as u64).map(|id| call_id(2, 100 + id, wait("bob", "", 50)));
    let seen = check.batch(waits.collect(), Disk::Takes);
    assert_eq!(check.core.parked(), MAX_WAITS);
    assert!(matches!(
        reply_to(&seen, 2, 100 + MAX_WAITS as u64),
        Some(Err(_))
    ));
}

const MAX_WAITS: usize = super::super::waits::MAX_WAITS_PER_SESSION;

#[test]
fn a_hook_finds_its_agent_by_session_id_then_by_ancestry_and_delivery_is_not_reading() {
    let mut check = two_agents();
    check.batch(
        vec![
            open_as(3, ClientKind::Control),
            call(1, link("claude-1", 500)),
        ],
        Disk::Takes,
    );
    check.batch(
        vec![
            call(2, send("bob", "all", "to all")),
            call(2, send("bob", "alice", "to alice")),
            call(2, send("bob", "carol", "not for alice")),
        ],
        Disk::Takes,
    );
    let seen = check.batch(
        vec![
            call_id(3, 1, reach(hook("claude-1", &[]), false)),
            call_id(3, 2, reach(hook("", &[900, 500, 1]), true)),
            call_id(3, 3, reach(hook("claude-1", &[]), true)),
            call_id(3, 4, reach(hook("other", &[900, 1]), true)),
        ],
        Disk::Takes,
    );
    let peek = reached(&seen, 3, 1);
    assert_eq!(
        (peek.names.clone(), peek.linked_by.as_str()),
        (vec!["alice".to_owned()], "session_id")
    );
    assert_eq!(message_contents(&peek.messages), ["to all", "to alice"]);
    assert_eq!((peek.unread_count, peek.more), (2, 0));
    let delivered = reached(&seen, 3, 2);
    assert_eq!(delivered.linked_by, "ancestry");
    assert_eq!(
        message_contents(&delivered.messages),
        ["to all", "to alice"]
    );
    let again = reached(&seen, 3, 3);
    assert!(again.messages.is_empty(), "delivered once");
    assert_eq!(again.unread_count, 2, "delivery is not reading");
    let nobody = reached(&seen, 3, 4);
    assert!(nobody.names.is_empty() && nobody.messages.is_empty() && nobody.linked_by.is_empty());
    // read_unread still returns them, and only a read moves the cursor.
    let seen = check.batch(vec![call(1, unread("alice"))], Disk::Takes);
    let Some(Ok(Response::Unread(read))) = seen.replies.first().map(|(_, outcome)| outcome.clone())
    else {
        panic!("{seen:?}")
    };
    assert_eq!(message_contents(&read.messages), ["to all", "to alice"]);
    // Only an agent's session links itself.
    let seen = check.batch(vec![call_id(3, 5, link("x", 7))], Disk::Takes);
    assert!(
        matches!(reply_to(&seen, 3, 5), Some(Err(refusal)) if refusal.kind == RefusalKind::NotAllowed)
    );
}

#[test]
fn people_come_first_and_a_limit_delivers_the_oldest_keeping_the_rest_for_later() {
    let mut check = two_agents();
    check.batch(
        vec![
            open_as(3, ClientKind::Control),
            open_as(4, ClientKind::Human),
            call(1, link("c", 0)),
        ],
        Disk::Takes,
    );
    let mut sends: Vec<Input> = (1..=3)
        .map(|n| call(2, send("bob", "all", &format!("b{n}"))))
        .collect();
    sends.push(call(4, send("maria", "all", "from a person")));
    check.batch(sends, Disk::Takes);
    let limited = Request::Reach {
        hook: hook("c", &[]),
        deliver: true,
        limit: 2,
    };
    let seen = check.batch(vec![call_id(3, 1, limited.clone())], Disk::Takes);
    let first = reached(&seen, 3, 1);
    assert_eq!(message_contents(&first.messages), ["b1", "b2"]);
    assert_eq!(first.more, 2);
    let seen = check.batch(vec![call_id(3, 2, limited)], Disk::Takes);
    let second = reached(&seen, 3, 2);
    assert_eq!(
        message_contents(&second.messages),
        ["from a person", "b3"],
        "people first"
    );
    let seen = check.batch(
        vec![call_id(
            3,
            3,
            Request::Reach {
                hook: hook("c", &[]),
                deliver: true,
                limit: 101,
            },
        )],
        Disk::Takes,
    );
    assert!(
        matches!(reply_to(&seen, 3, 3), Some(Err(refusal)) if refusal.message == "limit must be between 0 and 100")
    );
}

#[test]
fn the_wake_up_hook_waits_for_its_agent_and_a_newer_one_replaces_it() {
    let mut check = two_agents();
    check.batch(
        vec![
            open_as(3, ClientKind::Control),
            open_as(4, ClientKind::Control),
            call(1, link("c", 0)),
        ],
        Disk::Takes,
    );
    let await_reach = || Request::AwaitReach {
        hook: hook("c", &[]),
        timeout_s: 60,
        limit: 10,
    };
    check.batch(vec![call_id(3, 1, await_reach())], Disk::Takes);
    let seen = check.batch(vec![call_id(4, 1, await_reach())], Disk::Takes);
    assert!(
        matches!(reply_to(&seen, 3, 1), Some(Err(refusal)) if refusal.kind == RefusalKind::Conflict)
    );
    assert_eq!(check.core.parked(), 1);
    // The agent's own message wakes nothing.
    check.batch(vec![call(1, send("alice", "all", "mine"))], Disk::Takes);
    assert!(!check.core.waits_due(check.now.at));
    let seen = check.batch(vec![call(2, send("bob", "alice", "wake up"))], Disk::Takes);
    let woken = reached(&seen, 4, 1);
    assert_eq!(message_contents(&woken.messages), ["wake up"]);
    // Delivered: a new wake-up hook waits again rather than repeat it.
    check.batch(vec![call_id(4, 2, await_reach())], Disk::Takes);
    assert_eq!(check.core.parked(), 1);
    // Its agent leaving answers it, with nothing.
    let seen = check.batch(vec![close(1)], Disk::Takes);
    let gone = reached(&seen, 4, 2);
    assert!(gone.names.is_empty() && gone.messages.is_empty());
}

#[test]
fn receipts_tell_who_read_and_who_had_it_delivered() {
    let mut check = two_agents();
    check.batch(
        vec![
            open(3),
            call(3, join("carol")),
            open_as(4, ClientKind::Control),
            call(1, link("a", 0)),
        ],
        Disk::Takes,
    );
    check.later(10);
    let seen = check.batch(
        vec![
            call(2, send("bob", "alice", "dm")),
            call(2, send("bob", "all", "everyone")),
        ],
        Disk::Takes,
    );
    let ids: Vec<u64> = seen
        .changes
        .messages
        .iter()
        .map(|message| message.id)
        .collect();
    check.later(5);
    check.batch(vec![call(4, reach(hook("a", &[]), true))], Disk::Takes);
    check.later(5);
    check.batch(vec![call(3, unread("carol"))], Disk::Takes);
    let receipts = |check: &mut Check, session, id: u64| {
        let seen = check.batch(
            vec![call(
                session,
                Request::ReadReceipts {
                    message_id: id as i64,
                },
            )],
            Disk::Takes,
        );
        match seen.replies[0].1.clone() {
            Ok(Response::Receipts(receipts)) => Ok(receipts),
            Err(refusal) => Err(refusal.message),
            other => panic!("{other:?}"),
        }
    };
    let dm: Receipts = receipts(&mut check, 2, ids[0]).unwrap();
    assert_eq!(dm.receipts.len(), 1);
    let alice = &dm.receipts[0];
    assert_eq!(
        (alice.name.as_str(), alice.present, alice.read),
        ("alice", true, false)
    );
    assert_eq!(
        alice.delivered_at.as_deref(),
        Some(crate::shared::time::format_ts(T0 + 15).as_str())
    );
    // Carol is neither end of the direct message: for her it does not exist.
    assert_eq!(
        receipts(&mut check, 3, ids[0]).unwrap_err(),
        format!("unknown message_id: {}", ids[0])
    );
    // A command may ask about anything.
    assert!(receipts(&mut check, 4, ids[0]).is_ok());
    let all = receipts(&mut check, 3, ids[1]).unwrap();
    let by_name: Vec<(&str, bool, bool, bool)> = all
        .receipts
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.read,
                r.read_at.is_some(),
                r.delivered_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        by_name,
        [("alice", false, false, true), ("carol", true, true, false)]
    );
    assert_eq!(
        all.receipts[1].read_at.as_deref(),
        Some(crate::shared::time::format_ts(T0 + 20).as_str())
    );
    assert_eq!(
        receipts(&mut check, 3, 999).unwrap_err(),
        "unknown message_id: 999"
    );
}

#[test]
fn a_keyed_wait_repeated_after_its_answer_was_lost_gets_the_same_messages_in_every_scope() {
    let mut check = two_agents();
    check.batch(vec![call(1, open_topic("t"))], Disk::Takes);
    check.batch(
        vec![
            call(1, send("alice", "all", "main")),
            call(1, in_topic(send("alice", "all", "topic"), "t")),
        ],
        Disk::Takes,
    );
    let keyed_wait = |scope: &str| Input::Call {
        session: 2,
        id: 7,
        key: Some(0xabc + scope.len() as u128),
        request: wait("bob", scope, 5),
    };
    let first = check.batch(vec![keyed_wait("*")], Disk::Takes);
    let first = waited(&first, 2, 7);
    assert_eq!(message_contents(&first.unread.messages), ["main", "topic"]);
    check.batch(vec![call(1, send("alice", "all", "later"))], Disk::Takes);
    // The client never saw the answer and asks again with the same key.
    let again = check.batch(vec![keyed_wait("*")], Disk::Takes);
    let again = waited(&again, 2, 7);
    assert_eq!(again.unread.messages, first.unread.messages);
    assert!(!again.timed_out);
    assert_eq!(check.core.parked(), 0);
}

#[test]
fn a_wait_answered_in_a_batch_the_disk_refuses_waits_on_unanswered() {
    let mut check = two_agents();
    check.batch(vec![call_id(2, 7, wait("bob", "", 50))], Disk::Takes);
    let cursor = check.core.room().cursor(None, "bob");
    let seen = check.batch(vec![call(1, send("alice", "bob", "lost"))], Disk::Full);
    assert_eq!(
        seen.replies,
        [(1, refused())],
        "the send is refused, the wait not answered"
    );
    assert_eq!(check.core.parked(), 1, "{seen:?}");
    assert_eq!(check.core.room().cursor(None, "bob"), cursor);
    let seen = check.batch(vec![call(1, send("alice", "bob", "kept"))], Disk::Takes);
    let answer = waited(&seen, 2, 7);
    assert_eq!(message_contents(&answer.unread.messages), ["kept"]);
    assert_eq!(check.core.parked(), 0);
}
