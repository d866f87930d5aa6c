//! Property tests of the room: random sequences of requests from a few sessions, with a clock
//! that never goes back, checked step by step against a plain reference model of the contract
//! and against the invariants that must hold whatever the model says.
//!
//! The requests use topics too: `topic_id` on the topic-scoped ones from a small pool (the main
//! room most often, two topics, one padded, one never opened, one that breaks the pattern), and
//! `open_topic`, `close_topic`, `list_topics`. `search_messages` is not generated: search has its
//! own property test.

mod model;
mod observe;
mod strategies;

use chatroomd::daemon::room::{Caller, Changes, Room, SessionId};
use proptest::prelude::*;
use protocol::{Request, Response};

use model::Model;
use observe::{
    Observed, check_end_session, check_invariants, check_request, check_step, observe, topic_of,
};
use strategies::{Action, History, Step, history, steps};

/// 2024-02-29T12:34:56Z.
const T0: u64 = 1_709_210_096;
/// The sessions that act; names are only ever held by these.
const SESSIONS: [SessionId; 3] = [1, 2, 3];
/// A session that only reads, to observe the room.
const OBSERVER: SessionId = 99;
const BROADCAST: &str = "all";
const SYSTEM: &str = "system";

/// Makes the id of `request` count back from the newest message (or summary) id.
fn count_back(request: &mut Request, observed: &Observed) {
    // From the newest message of the request's scope, when it names one.
    let scope = topic_of(request)
        .and_then(|topic_id| observed.scope(topic_id))
        .unwrap_or(None);
    let newest_message = observed.scope_last_id(&scope) as i64;
    let newest_summary = observed.summaries.len() as i64;
    match request {
        Request::SetCursor { message_id: id, .. } | Request::ReadMessages { since_id: id, .. } => {
            *id = newest_message.saturating_sub(*id);
        }
        Request::ReadSummaries { since_id, .. } => {
            *since_id = newest_summary.saturating_sub(*since_id)
        }
        _ => {}
    }
}

/// Handles `request` in both the room and the model and expects the same outcome.
fn handle_both(
    room: &mut Room,
    model: &mut Model,
    caller: Caller,
    request: &Request,
    now: u64,
) -> Result<(Result<Response, protocol::Refusal>, Changes), TestCaseError> {
    let outcome = room.handle_as(caller, request.clone(), now);
    match (&outcome.reply, model.handle(caller, request, now)) {
        (Ok(reply), Ok((expected, expected_changes))) => {
            prop_assert_eq!(reply, &expected, "the reply to {:?}", request);
            prop_assert_eq!(
                &outcome.changes,
                &expected_changes,
                "the changes of {:?}",
                request
            );
        }
        (Err(refusal), Err(kind)) => {
            prop_assert_eq!(refusal.kind, kind, "{:?}: {}", request, refusal);
            prop_assert!(!refusal.message.is_empty() && !refusal.message.contains('\n'));
        }
        (reply, expected) => {
            return Err(TestCaseError::fail(format!(
                "{request:?} gave {reply:?}, the model {expected:?}"
            )));
        }
    }
    Ok((outcome.reply, outcome.changes))
}

/// The room as the model sees it must be the room as observed.
fn check_model(model: &Model, observed: &Observed) -> Result<(), TestCaseError> {
    prop_assert_eq!(&model.messages, &observed.messages);
    prop_assert_eq!(&model.summaries, &observed.summaries);
    prop_assert_eq!(&model.participants(), &observed.participants);
    prop_assert_eq!(&model.cursors, &observed.cursors);
    prop_assert_eq!(
        &model.topics.values().cloned().collect::<Vec<_>>(),
        &observed.topics
    );
    prop_assert_eq!(&model.topic_cursor_list(), &observed.topic_cursors);
    for (index, &session) in SESSIONS.iter().enumerate() {
        prop_assert_eq!(&model.names_held_by(session), &observed.held[index]);
    }
    Ok(())
}

/// Runs `steps` on a room restored from `history`, or on a fresh one.
fn run(history: Option<History>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let fresh = history.is_none();
    let (mut room, mut model) = match history {
        None => (Room::new(), Model::default()),
        Some(history) => {
            let room = Room::restore(
                history.messages.clone(),
                history.summaries.clone(),
                history.participants.clone(),
                history.cursors.clone(),
            )
            .map_err(TestCaseError::fail)?;
            (room, Model::restore(&history))
        }
    };
    let mut now = T0;
    let mut before = observe(&mut room, now)?;
    check_model(&model, &before)?;
    for step in steps {
        now += step.advance;
        match step.action {
            Action::Call {
                session,
                human,
                from_newest,
                mut request,
            } => {
                if from_newest {
                    count_back(&mut request, &before);
                }
                let caller = Caller { session, human };
                let (reply, changes) = handle_both(&mut room, &mut model, caller, &request, now)?;
                let after = observe(&mut room, now)?;
                check_request(&request, &reply, &changes, &before, &after)?;
                before = check_after(&model, fresh, before, after)?;
            }
            Action::EndSession(session) => {
                let changes = room.end_session(session, now);
                prop_assert_eq!(&changes, &model.end_session(session, now));
                let after = observe(&mut room, now)?;
                check_end_session(session, &changes, &before, &after)?;
                before = check_after(&model, fresh, before, after)?;
            }
            Action::RemoveOrphans => {
                let changes = room.remove_orphans(now);
                prop_assert_eq!(&changes, &model.remove_orphans(now));
                let after = observe(&mut room, now)?;
                before = check_after(&model, fresh, before, after)?;
            }
            Action::AppendThenTruncate { session, requests } => {
                // A batch that could not be stored: handled, then rolled back whole.
                let saved = model.clone();
                let caller = Caller {
                    session,
                    human: false,
                };
                room.begin();
                for request in &requests {
                    let _ = handle_both(&mut room, &mut model, caller, request, now)?;
                }
                room.roll_back();
                model = saved;
                let after = observe(&mut room, now)?;
                prop_assert_eq!(
                    &after,
                    &before,
                    "a rolled-back batch leaves the room as it was"
                );
                before = check_after(&model, fresh, before, after)?;
            }
        }
    }
    Ok(())
}

/// The checks of every step; returns the observation to compare the next step with.
fn check_after(
    model: &Model,
    fresh: bool,
    before: Observed,
    after: Observed,
) -> Result<Observed, TestCaseError> {
    check_invariants(&after, fresh)?;
    check_step(&before, &after)?;
    check_model(model, &after)?;
    Ok(after)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random sequences of requests, session ends and undone batches from three sessions keep
    /// the room equal to the reference model and every invariant of the contract.
    #[test]
    fn random_sequences_keep_the_rooms_invariants(steps in steps()) {
        run(None, steps)?;
    }

    /// The same from a restored history: ids with gaps, participants nobody holds, cursors.
    #[test]
    fn restored_rooms_keep_their_invariants(
        history in history(),
        steps in steps(),
    ) {
        run(Some(history), steps)?;
    }
}
