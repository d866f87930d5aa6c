//! Presence: the participants, the session holding each name, `join`, `last_seen`, and the name
//! guard: a name a live session holds is written under only by that session
//! ([`Presence::check_not_held_elsewhere`]). How names leave is in `departures.rs`.

use protocol::{Participant, Refusal, Response};

use super::params::{holder_name, role_param};
use super::undo::{RecordedMap, Undoable};
use super::{Changes, Handled, Room, SessionId};
use crate::shared::time::format_ts;

/// The participants by name, so that listing them is already sorted.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Presence {
    members: RecordedMap<String, Member>,
}

/// A participant and the session holding its name.
#[derive(Clone)]
#[cfg_attr(test, derive(PartialEq))]
struct Member {
    participant: Participant,
    /// `None` for a participant restored from disk that no session has joined as since.
    holder: Option<SessionId>,
}

impl Presence {
    /// Participants loaded from disk, held by no session ("orphans").
    pub(super) fn restore(participants: Vec<Participant>) -> Self {
        let members = participants
            .into_iter()
            .map(|participant| {
                let member = Member {
                    participant,
                    holder: None,
                };
                (member.participant.name.clone(), member)
            })
            .collect();
        Self { members }
    }

    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// All participants, sorted by name.
    pub(super) fn participants(&self) -> Vec<Participant> {
        self.members
            .iter()
            .map(|(_, member)| member.participant.clone())
            .collect()
    }

    /// The names `session` holds, sorted.
    pub(super) fn names_held_by(&self, session: SessionId) -> Vec<String> {
        self.names_where(|holder| holder == Some(session))
    }

    /// Whether participants restored from disk are still held by no session.
    pub(super) fn has_orphans(&self) -> bool {
        self.members
            .iter()
            .any(|(_, member)| member.holder.is_none())
    }

    /// The names whose holder matches, sorted.
    pub(super) fn names_where(&self, matches: impl Fn(Option<SessionId>) -> bool) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, member)| matches(member.holder))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Refuses to act as `name` while another live session holds it: only its holder speaks,
    /// summarises or moves its cursor under it. A name nobody holds (never joined, or restored
    /// from disk with no session) stays usable by anyone, as in v1.
    pub(super) fn check_not_held_elsewhere(
        &self,
        session: SessionId,
        name: &str,
    ) -> Result<(), Refusal> {
        match self.members.get(name).and_then(|member| member.holder) {
            Some(holder) if holder != session => Err(Refusal::conflict(format!(
                "name '{name}' is held by another session"
            ))),
            _ => Ok(()),
        }
    }

    /// Refreshes the `last_seen` of `name` if it is a participant; true if the value changed.
    pub(super) fn touch(&mut self, name: &str, now: u64) -> bool {
        let ts = format_ts(now);
        match self.members.get(name) {
            Some(member) if member.participant.last_seen != ts => {}
            _ => return false,
        }
        if let Some(member) = self.members.get_mut(name) {
            member.participant.last_seen = ts;
        }
        true
    }

    /// Registers `session` as the holder of `name`: a rejoin refreshes role and `last_seen`;
    /// a new name, or an orphan held by nobody, starts afresh. Refused while another session
    /// holds it.
    fn join(
        &mut self,
        session: SessionId,
        name: &str,
        role: &str,
        now: u64,
    ) -> Result<(), Refusal> {
        let holder = self.members.get(name).map(|member| member.holder);
        if let Some(Some(holder)) = holder
            && holder != session
        {
            return Err(Refusal::conflict(format!(
                "name '{name}' is already active in another session"
            )));
        }
        match self.members.get_mut(name) {
            Some(member) if holder == Some(Some(session)) => {
                member.participant.role = role.to_owned();
                member.participant.last_seen = format_ts(now);
            }
            // New, or an orphan held by nobody: whoever joins as it starts afresh.
            _ => {
                let ts = format_ts(now);
                let participant = Participant {
                    name: name.to_owned(),
                    role: role.to_owned(),
                    joined_at: ts.clone(),
                    last_seen: ts,
                };
                let member = Member {
                    participant,
                    holder: Some(session),
                };
                self.members.insert(name.to_owned(), member);
            }
        }
        Ok(())
    }

    /// Whether `name` is a participant, and who holds it: `None` when it is not one.
    pub(super) fn holder(&self, name: &str) -> Option<Option<SessionId>> {
        self.members.get(name).map(|member| member.holder)
    }

    /// Removes `name` from the participants, whoever holds it.
    pub(super) fn remove(&mut self, name: &str) {
        self.members.remove(name);
    }
}

impl Undoable for Presence {
    fn begin(&mut self) {
        self.members.begin();
    }

    fn commit(&mut self) {
        self.members.commit();
    }

    fn roll_back(&mut self) {
        self.members.roll_back();
    }
}

impl Room {
    pub(super) fn join(&mut self, session: SessionId, name: &str, role: &str, now: u64) -> Handled {
        let name = holder_name(name)?;
        let role = role_param(role)?;
        self.presence.join(session, name, role, now)?;
        // A rejoin may only refresh `last_seen`, but the caller asked to be registered: make it
        // durable every time rather than reason about which fields moved.
        let changes = Changes {
            membership: true,
            ..Changes::default()
        };
        Ok((
            Response::Participants(self.presence.participants()),
            changes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Refusal, Request, Response};

    use crate::daemon::room::testkit::*;
    use crate::daemon::room::{Caller, Changes, Room};
    use crate::shared::time::format_ts;

    #[test]
    fn join_registers_updates_and_refuses_names_held_elsewhere() {
        let mut room = Room::new();
        let (reply, changes) = accept_at(&mut room, ALICE, join("bob", "dev"), T0);
        assert_eq!(
            changes,
            Changes {
                membership: true,
                ..Changes::default()
            }
        );
        assert!(matches!(reply, Response::Participants(ref list) if names(list) == ["bob"]));
        let (reply, _) = accept_at(&mut room, BOB, join("alice", "lead"), T0 + 1);
        let Response::Participants(list) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(names(&list), ["alice", "bob"], "sorted by name");

        // The same session joining again updates role and last_seen, and keeps joined_at.
        let (_, changes) = accept_at(&mut room, BOB, join("alice", "reviewer"), T0 + 100);
        assert_eq!(
            changes,
            Changes {
                membership: true,
                ..Changes::default()
            }
        );
        let alice = &room.participants()[0];
        assert_eq!(alice.role, "reviewer");
        assert_eq!(alice.joined_at, format_ts(T0 + 1));
        assert_eq!(alice.last_seen, format_ts(T0 + 100));

        // One session may hold several names; another session may hold none of them.
        let refusal = refuse(&mut room, OTHER, join("alice", "dev"));
        assert_eq!(
            refusal,
            Refusal::conflict("name 'alice' is already active in another session")
        );
        assert_eq!(room.names_held_by(BOB), ["alice"]);
        assert_eq!(room.names_held_by(ALICE), ["bob"]);
        assert_eq!(room.message_count(), 0, "join writes no message");

        // Free again after leave, and after the holder's session ends.
        accept(&mut room, BOB, leave("alice"));
        accept_at(&mut room, OTHER, join("alice", "dev"), T0 + 200);
        assert_eq!(room.names_held_by(OTHER), ["alice"]);
        assert_eq!(room.participants()[0].joined_at, format_ts(T0 + 200));
        room.end_session(ALICE, T0 + 300);
        accept(&mut room, OTHER, join("bob", "dev"));
        assert_eq!(room.names_held_by(OTHER), ["alice", "bob"]);
    }

    #[test]
    fn a_name_held_by_another_session_cannot_be_written_as() {
        // alice is held by ALICE, bob by BOB; carol is held by nobody.
        let held = "name 'alice' is held by another session";
        let writes = [
            send("alice", "i am alice", "all"),
            summarize("alice", "says alice", "all"),
            set_cursor("alice", 5),
            unread("alice", 50, true),
        ];
        for request in writes.clone() {
            let mut room = populated_room();
            assert_eq!(
                refuse(&mut room, BOB, request.clone()),
                Refusal::conflict(held),
                "{request:?}"
            );
            // A person (`chatroomd send --as alice`) is refused the same way.
            let before = room.clone();
            let caller = Caller {
                session: OTHER,
                human: true,
            };
            let outcome = room.handle_as(caller, request.clone(), T0 + 60);
            assert_eq!(outcome.reply, Err(Refusal::conflict(held)), "{request:?}");
            assert!(outcome.changes.is_empty() && room == before, "{request:?}");
            // Its holder may, and so may anyone once nobody holds it.
            accept(&mut room, ALICE, request.clone());
            accept(&mut room, ALICE, leave("alice"));
            accept(&mut room, BOB, request);
        }
        // Bad arguments are still named first.
        let mut room = populated_room();
        assert_eq!(
            refuse(&mut room, BOB, send("alice", " ", "all")),
            Refusal::invalid("content must not be blank")
        );
        // A name nobody holds stays usable by anyone, as in v1.
        for request in [
            send("carol", "hi", "all"),
            summarize("carol", "notes", "all"),
            set_cursor("carol", 2),
            unread("carol", 50, true),
        ] {
            accept(&mut room, BOB, request);
        }
        // Peeks change nothing, so they are open to all: not even alice's last_seen moves.
        let before = room.clone();
        for request in [unread("alice", 50, false), get_cursor("alice")] {
            let (_, changes) = accept_at(&mut room, BOB, request, T0 + 60);
            assert!(changes.is_empty());
        }
        assert!(
            room == before,
            "a peek at another session's name changed the room"
        );
    }

    #[test]
    fn last_seen_is_refreshed_by_summaries_cursors_and_unread_reads_only() {
        let check = |request: Request, refreshes: bool| {
            let mut room = populated_room();
            let (_, changes) = accept_at(&mut room, ALICE, request.clone(), T0 + 30);
            assert_eq!(changes.last_seen, refreshes, "{request:?}");
            let expected = if refreshes {
                format_ts(T0 + 30)
            } else {
                TS0.to_owned()
            };
            assert_eq!(room.participants()[0].last_seen, expected, "{request:?}");
        };
        check(send("alice", "x", "all"), true);
        check(summarize("alice", "x", "all"), true);
        check(set_cursor("alice", 1), true);
        check(unread("alice", 10, false), true);
        check(send("carol", "x", "alice"), false);
        check(get_cursor("alice"), false);
        check(read(0, 50, "alice"), false);
        check(handoff("alice", 10), false);
        check(latest_summary("alice"), false);
        check(Request::ListParticipants, false);
    }
}
