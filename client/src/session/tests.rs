//! The session against a fake daemon: sharing one connection, reconnects and re-joins, retries
//! and their limits, deadlines, links, cancelled waits, and replacing a daemon of another version.

use super::*;
use protocol::{HelloReply, PROTOCOL_VERSION, Refusal, ServerMessage};

/// A room whose lock file names `pid` but is held by nobody: its daemon is gone.
fn room_with_unheld_lock(test: &str, pid: u32) -> (RoomPaths, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("chatroom-session-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let paths = RoomPaths::new(dir.clone(), dir.join("run"));
    std::fs::create_dir_all(&paths.state_dir).unwrap();
    std::fs::write(&paths.lock_file, format!("{pid}\n")).unwrap();
    (paths, dir)
}

#[tokio::test]
async fn replacing_a_daemon_that_already_exited_is_done() {
    let mut exited = std::process::Command::new("true").spawn().unwrap();
    let pid = exited.id();
    exited.wait().unwrap();
    let (paths, dir) = room_with_unheld_lock("replace-exited", pid);
    let replaced = replace_older_daemon(&paths, pid).await;
    std::fs::remove_dir_all(dir).unwrap();
    assert!(replaced.is_ok(), "{}", replaced.unwrap_err());
}

#[tokio::test]
async fn a_pid_in_a_released_lock_is_never_signalled() {
    // The old daemon exited and its pid now belongs to an unrelated process.
    let mut unrelated = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let (paths, dir) = room_with_unheld_lock("replace-reused", unrelated.id());
    let replaced = replace_older_daemon(&paths, unrelated.id()).await;
    let survived = unrelated.try_wait().unwrap().is_none();
    let _ = unrelated.kill();
    let _ = unrelated.wait();
    std::fs::remove_dir_all(dir).unwrap();
    assert!(survived, "the unrelated process was signalled");
    assert!(replaced.is_ok(), "{}", replaced.unwrap_err());
}

#[test]
fn errors_read_as_one_line_for_the_agent() {
    assert_eq!(
        CallError::TooLarge {
            len: 2_000_000,
            max: MAX_CLIENT_FRAME
        }
        .to_string(),
        "request is too large (2000000 bytes; the limit is 1048576)"
    );
    assert_eq!(
        CallError::VersionMismatch {
            daemon_pid: 42,
            daemon_version: 9,
            stop: "/bin/chatroomd stop --root /r".into()
        }
        .to_string(),
        format!(
            "chatroomd (pid 42) speaks protocol v9 but this chatroom-shim speaks v{PROTOCOL_VERSION}: run `/bin/chatroomd stop --root /r` and retry"
        )
    );
    let paths = RoomPaths::new("/r".into(), "/run/chatroom".into());
    assert_eq!(
        stop_command(&paths),
        format!("{} stop --root /r", launch::daemon_program().display())
    );
    assert_eq!(
        CallError::ConnectionLost.to_string(),
        "lost the connection to chatroomd; retry the call"
    );
}

fn status(message_count: u64) -> Outcome {
    Ok(Response::Status(protocol::RoomStatus {
        topics: None,
        participant_count: 0,
        message_count,
        last_activity_ts: None,
    }))
}

#[tokio::test]
async fn concurrent_calls_share_one_session_and_get_their_own_replies() {
    let daemon = crate::fake::Daemon::start("multiplex");
    let client = Session::new(Ok(daemon.paths.clone()));
    let daemon_side = async {
        let mut session = daemon.accept().await;
        let first = session.next_call().await;
        let second = session.next_call().await;
        // Answer in the opposite order, and an id nobody waits for in between.
        for (id, request) in [second, first] {
            session.reply(9999, status(0)).await;
            let outcome = match request {
                Request::GetStatus => status(7),
                Request::GetCursor { name, .. } => Ok(Response::Cursor(protocol::Cursor {
                    topic_id: None,
                    name,
                    last_read_id: 3,
                })),
                other => panic!("unexpected {other:?}"),
            };
            session.reply(id, outcome).await;
        }
        session
    };
    let calls = async {
        tokio::join!(
            client.call(Request::GetStatus),
            client.call(Request::GetCursor {
                topic_id: String::new(),
                name: "ann".into()
            })
        )
    };
    let (_session, (status_outcome, cursor_outcome)) = tokio::join!(daemon_side, calls);
    assert_eq!(status_outcome.unwrap(), status(7));
    assert_eq!(
        cursor_outcome.unwrap(),
        Ok(Response::Cursor(protocol::Cursor {
            topic_id: None,
            name: "ann".into(),
            last_read_id: 3
        }))
    );
}

#[tokio::test]
async fn a_call_lost_with_its_connection_is_sent_again_after_joining_again() {
    let daemon = crate::fake::Daemon::start("reconnect");
    let client = Session::new(Ok(daemon.paths.clone()));
    let first_session = async {
        let mut session = daemon.accept().await;
        let (id, _, request) = session.next_keyed_call().await;
        assert_eq!(
            request,
            Request::Join {
                name: " ann ".into(),
                role: " lead ".into()
            }
        );
        session.reply(id, Ok(Response::Participants(vec![]))).await;
        let (id, _, request) = session.next_keyed_call().await;
        assert_eq!(
            request,
            Request::Join {
                name: "bob".into(),
                role: "general".into()
            }
        );
        session.reply(id, Ok(Response::Participants(vec![]))).await;
        let (id, key, request) = session.next_keyed_call().await;
        assert_eq!(request, Request::Leave { name: "bob".into() });
        assert!(key.is_some(), "a leave is sent with an idempotency key");
        session.reply(id, Ok(Response::Left(true))).await;
        let (_, key, request) = session.next_keyed_call().await;
        let sent = Request::SendMessage {
            topic_id: String::new(),
            name: "ann".into(),
            content: "hi".into(),
            to: "all".into(),
        };
        assert_eq!(request, sent);
        // The daemon goes away with the write unanswered.
        key.expect("a write is sent with an idempotency key")
    };
    let second_session = async {
        let mut session = daemon.accept().await;
        let (id, key, request) = session.next_keyed_call().await;
        assert_eq!(
            request,
            Request::Join {
                name: "ann".into(),
                role: "lead".into()
            },
            "held names first"
        );
        assert_eq!(key, None);
        session.reply(id, Ok(Response::Participants(vec![]))).await;
        let (id, key, request) = session.next_keyed_call().await;
        session.reply(id, Ok(Response::Id(7))).await;
        (key, request, session)
    };
    let calls = async {
        let join = client
            .call(Request::Join {
                name: " ann ".into(),
                role: " lead ".into(),
            })
            .await;
        assert!(join.unwrap().is_ok());
        let join = client
            .call(Request::Join {
                name: "bob".into(),
                role: "general".into(),
            })
            .await;
        assert!(join.unwrap().is_ok());
        let leave = client.call(Request::Leave { name: "bob".into() }).await;
        assert_eq!(leave.unwrap(), Ok(Response::Left(true)));
        client
            .call(Request::SendMessage {
                topic_id: String::new(),
                name: "ann".into(),
                content: "hi".into(),
                to: "all".into(),
            })
            .await
    };
    let daemon_side = async {
        let first_key = first_session.await;
        let (second_key, request, session) = second_session.await;
        (first_key, second_key, request, session)
    };
    let ((first_key, second_key, request, _session), sent) = tokio::join!(daemon_side, calls);
    assert_eq!(
        sent.unwrap(),
        Ok(Response::Id(7)),
        "the agent sees the write succeed"
    );
    assert_eq!(
        second_key,
        Some(first_key),
        "the repeat carries the same key"
    );
    assert!(matches!(request, Request::SendMessage { .. }));
}

#[tokio::test]
async fn an_incompatible_daemon_is_reported_with_what_to_do() {
    let daemon = crate::fake::Daemon::start("version");
    let client = Session::new(Ok(daemon.paths.clone()));
    let daemon_side = async {
        let mut session = daemon.accept_raw().await;
        session
            .send(ServerMessage::HelloReply(HelloReply::Refused {
                daemon_version: 99,
                daemon_pid: 4321,
                message: "protocol mismatch".into(),
            }))
            .await;
        session
    };
    let (_session, result) = tokio::join!(daemon_side, client.call(Request::GetStatus));
    let message = result.unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "this chatroom-shim speaks protocol v{PROTOCOL_VERSION} but the running chatroomd (pid 4321) speaks the newer v99: restart your agent so that it launches the newer chatroom-shim"
        )
    );
}

#[tokio::test]
async fn a_daemon_closing_during_the_handshake_is_retried_once() {
    let daemon = crate::fake::Daemon::start("handshake");
    let client = Session::new(Ok(daemon.paths.clone()));
    let daemon_side = async {
        drop(daemon.accept_raw().await);
        let mut session = daemon.accept().await;
        let (id, _) = session.next_call().await;
        session.reply(id, status(2)).await;
        session
    };
    let (_session, result) = tokio::join!(daemon_side, client.call(Request::GetStatus));
    assert_eq!(result.unwrap(), status(2));
}

/// Runs a scripted conversation, failing the test if it does not end in time.
async fn bounded<T>(conversation: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), conversation)
        .await
        .expect("the conversation did not end within 10s")
}

fn join_request(name: &str) -> Request {
    Request::Join {
        name: name.into(),
        role: "general".into(),
    }
}

#[tokio::test]
async fn a_name_being_left_is_not_joined_again_by_the_reconnect() {
    let daemon = crate::fake::Daemon::start("leaving");
    let client = Session::new(Ok(daemon.paths.clone()));
    let daemon_side = async {
        let mut session = daemon.accept().await;
        for _ in ["ann", "bob"] {
            let (id, _) = session.next_call().await;
            session.reply(id, Ok(Response::Participants(vec![]))).await;
        }
        let (_, first_key, request) = session.next_keyed_call().await;
        assert_eq!(request, Request::Leave { name: "ann".into() });
        // The daemon goes away with the leave unanswered.
        drop(session);
        let mut session = daemon.accept().await;
        let (id, key, request) = session.next_keyed_call().await;
        assert_eq!(request, join_request("bob"), "only bob is joined again");
        session.reply(id, Ok(Response::Participants(vec![]))).await;
        let (id, key_again, request) = session.next_keyed_call().await;
        assert_eq!(request, Request::Leave { name: "ann".into() });
        assert_eq!((key, key_again), (None, first_key));
        // The old session's end released the name, so the repeat finds nobody holding it.
        session.reply(id, Ok(Response::Left(false))).await;
        session
    };
    let calls = async {
        for name in ["ann", "bob"] {
            assert!(client.call(join_request(name)).await.unwrap().is_ok());
        }
        client.call(Request::Leave { name: "ann".into() }).await
    };
    let (_session, left) = bounded(async { tokio::join!(daemon_side, calls) }).await;
    assert_eq!(
        left.unwrap(),
        Ok(Response::Left(true)),
        "the name the agent held did leave"
    );
    assert_eq!(
        client.held().names(),
        [("bob".to_owned(), "general".to_owned())]
    );
}

#[tokio::test]
async fn a_call_the_daemon_dies_of_twice_is_not_sent_again() {
    let daemon = crate::fake::Daemon::start("crashing");
    let client = Session::new(Ok(daemon.paths.clone()));
    let daemon_side = async {
        // Two daemons die with the call in flight; a third one starts and gets nothing.
        for pid in [2, 3] {
            let mut session = daemon.accept_as(pid).await;
            let (_, request) = session.next_call().await;
            assert!(matches!(request, Request::SendMessage { .. }));
        }
        daemon.accept_as(4).await
    };
    let call = client.call(Request::SendMessage {
        topic_id: String::new(),
        name: "ann".into(),
        content: "boom".into(),
        to: "all".into(),
    });
    let (_session, result) = bounded(async { tokio::join!(daemon_side, call) }).await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.starts_with(
            "chatroomd exited twice while handling this call, so it was not sent again; see "
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_daemon_that_never_answers_fails_the_call_at_the_deadline() {
    let daemon = crate::fake::Daemon::start("deadline");
    let client = Session::new(Ok(daemon.paths.clone())).with_deadline(Duration::from_millis(300));
    let daemon_side = async {
        let mut session = daemon.accept().await;
        let _ = session.next_call().await;
        session
    };
    let call = tokio::time::timeout(Duration::from_secs(10), client.call(Request::GetStatus));
    let (_session, result) = tokio::join!(daemon_side, call);
    let result = result.expect("the call ends by its own deadline");
    assert_eq!(
        result.unwrap_err().to_string(),
        "chatroomd did not answer within 300ms; retry the call"
    );
}

#[tokio::test]
async fn a_name_taken_during_a_reconnect_fails_the_next_call_in_one_line() {
    let daemon = crate::fake::Daemon::start("taken");
    let client = Session::new(Ok(daemon.paths.clone()));
    let daemon_side = async {
        let mut session = daemon.accept().await;
        let (id, _) = session.next_call().await;
        session.reply(id, Ok(Response::Participants(vec![]))).await;
        drop(session);
        let mut session = daemon.accept_as(3).await;
        let (id, request) = session.next_call().await;
        assert_eq!(request, join_request("ann"));
        session
            .reply(
                id,
                Err(Refusal::conflict(
                    "name 'ann' is already active in another session",
                )),
            )
            .await;
        let (id, request) = session.next_call().await;
        assert_eq!(request, Request::GetStatus, "the second status call");
        session.reply(id, status(1)).await;
        session
    };
    let calls = async {
        assert!(client.call(join_request("ann")).await.unwrap().is_ok());
        // Wait until the reader saw the connection end, as the next call would.
        while client
            .current
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.is_open())
        {
            tokio::task::yield_now().await;
        }
        let first = client.call(Request::GetStatus).await;
        let second = client.call(Request::GetStatus).await;
        (first, second)
    };
    let (_session, (first, second)) = bounded(async { tokio::join!(daemon_side, calls) }).await;
    assert_eq!(
        first.unwrap_err().to_string(),
        "while this session reconnected to chatroomd, another session joined as 'ann', which this session held; this call was not carried out: join under another name, then retry"
    );
    assert_eq!(second.unwrap(), status(1), "said once, then calls go on");
    assert!(client.held().names().is_empty());
}

fn wait_request(timeout_s: i64) -> Request {
    Request::WaitForMessages {
        name: "ann".into(),
        topic_id: String::new(),
        timeout_s,
        limit: 50,
        mark_read: true,
    }
}

#[test]
fn a_wait_may_take_its_timeout_and_the_margin() {
    let margin = Duration::from_secs(30);
    assert_eq!(
        wait_deadline(&wait_request(50), margin),
        Some(Duration::from_secs(80))
    );
    assert_eq!(
        wait_deadline(&wait_request(100_000), margin),
        Some(Duration::from_secs(630)),
        "bounded even when the daemon will refuse it"
    );
    assert_eq!(wait_deadline(&wait_request(-5), margin), Some(margin));
    assert_eq!(wait_deadline(&Request::GetStatus, margin), None);
}

#[tokio::test]
async fn every_connection_is_linked_before_its_first_call_and_new_ids_at_once() {
    let daemon = crate::fake::Daemon::start("link");
    let client = Session::new(Ok(daemon.paths.clone())).with_link(Link::new(77, "claude-1"));
    let mut connects = client.connects();
    let linked = |id: &str| Request::Link {
        client_session_id: id.into(),
        agent_pid: 77,
    };
    let daemon_side = async {
        let mut session = daemon.accept().await;
        let (id, request) = session.next_call().await;
        assert_eq!(request, linked("claude-1"), "the link comes first");
        session.reply(id, Ok(Response::Linked)).await;
        let (id, request) = session.next_call().await;
        assert_eq!(request, Request::GetStatus);
        session.reply(id, status(1)).await;
        let (id, request) = session.next_call().await;
        assert_eq!(request, linked("codex-1"), "a new id is sent when it comes");
        // A daemon that links nothing refuses; the session goes on.
        session
            .reply(id, Err(Refusal::not_allowed("unknown request")))
            .await;
        drop(session);
        let mut session = daemon.accept_as(3).await;
        for expected in ["claude-1", "codex-1"] {
            let (id, request) = session.next_call().await;
            assert_eq!(
                request,
                linked(expected),
                "a reconnect links every id again"
            );
            session
                .reply(id, Err(Refusal::not_allowed("unknown request")))
                .await;
        }
        let (id, request) = session.next_call().await;
        assert_eq!(request, Request::GetStatus);
        session.reply(id, status(2)).await;
        session
    };
    let calls = async {
        assert_eq!(client.call(Request::GetStatus).await.unwrap(), status(1));
        client.link("codex-1").await;
        client.link("codex-1").await;
        connects.changed().await.unwrap();
        assert_eq!(*connects.borrow_and_update(), 1);
        while client
            .current
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.is_open())
        {
            tokio::task::yield_now().await;
        }
        assert_eq!(client.call(Request::GetStatus).await.unwrap(), status(2));
        assert_eq!(*connects.borrow(), 2);
    };
    let (_session, ()) = bounded(async { tokio::join!(daemon_side, calls) }).await;
}

#[tokio::test]
async fn a_wait_dropped_before_its_answer_is_cancelled_by_its_call_id() {
    let daemon = crate::fake::Daemon::start("cancel");
    let client = Arc::new(Session::new(Ok(daemon.paths.clone())));
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    let daemon_side = async {
        let mut session = daemon.accept().await;
        let (wait_id, key, request) = session.next_keyed_call().await;
        assert_eq!(request, wait_request(50));
        assert!(key.is_some(), "a wait that marks read is keyed");
        sent_tx.send(()).unwrap();
        // Meanwhile the session's other calls go on.
        let (id, request) = session.next_call().await;
        assert_eq!(request, Request::GetStatus);
        session.reply(id, status(4)).await;
        let (cancel_id, request) = session.next_call().await;
        assert_eq!(request, Request::CancelWait { call_id: wait_id });
        session
            .reply(wait_id, Err(Refusal::not_allowed("the wait was cancelled")))
            .await;
        session
            .reply(cancel_id, Ok(Response::Cancelled(true)))
            .await;
        session
    };
    let calls = async {
        let waiting = {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.wait(wait_request(50)).await })
        };
        sent_rx.await.unwrap();
        assert_eq!(client.call(Request::GetStatus).await.unwrap(), status(4));
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
    };
    let (_session, ()) = bounded(async { tokio::join!(daemon_side, calls) }).await;
}

#[tokio::test]
async fn a_wait_outlives_the_deadline_of_other_calls() {
    let daemon = crate::fake::Daemon::start("long-wait");
    let client = Session::new(Ok(daemon.paths.clone())).with_deadline(Duration::from_millis(200));
    let daemon_side = async {
        let mut session = daemon.accept().await;
        let (id, _, request) = session.next_keyed_call().await;
        assert_eq!(request, wait_request(1));
        tokio::time::sleep(Duration::from_millis(600)).await;
        let waited = protocol::Waited {
            unread: protocol::Unread {
                name: "ann".into(),
                topic_id: None,
                last_read_id: 0,
                messages: vec![],
            },
            timed_out: true,
        };
        session.reply(id, Ok(Response::Waited(waited))).await;
        session
    };
    let (_session, outcome) =
        bounded(async { tokio::join!(daemon_side, client.wait(wait_request(1))) }).await;
    assert!(
        matches!(outcome.unwrap(), Ok(Response::Waited(waited)) if waited.timed_out),
        "answered after 600 ms, past the 200 ms deadline of a call, within 1 s + 200 ms"
    );
}

#[test]
fn huge_arguments_are_cut_but_stay_over_every_limit() {
    let client = Session::new(Err("no root in this test".into()));
    let request = Request::SendMessage {
        topic_id: String::new(),
        name: "é".repeat(MAX_CLIENT_FRAME),
        content: format!("  {}  ", "x".repeat(2 * MAX_CLIENT_FRAME)),
        to: "all".into(),
    };
    let (id, bytes) = client.encode(request, None).expect("fits once cut");
    assert!(bytes.len() <= MAX_CLIENT_FRAME + frame::PREFIX_LEN);
    let Ok(ClientMessage::Call {
        id: sent_id,
        request,
    }) = frame::decode(&bytes[frame::PREFIX_LEN..])
    else {
        panic!("not a call");
    };
    assert_eq!(sent_id, id);
    let Request::SendMessage {
        name, content, to, ..
    } = request
    else {
        panic!("not a send")
    };
    // Cut on a character boundary, still far over the 64-character and 64 KiB limits.
    assert!(
        name.len() <= ARGUMENT_CUT && name.chars().count() > 64 && name.chars().all(|c| c == 'é')
    );
    assert_eq!(content, "x".repeat(ARGUMENT_CUT));
    assert_eq!(to, "all");
}

#[test]
fn arguments_within_a_frame_are_sent_untouched() {
    let mut value = format!("  {}  ", "y".repeat(70_000));
    let before = value.clone();
    bound_argument(&mut value);
    assert_eq!(value, before);
}
