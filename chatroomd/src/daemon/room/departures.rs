//! Departures: how names leave the room — `leave`, the end of the session holding them, and the
//! orphans a restart leaves behind — each announced to everyone by a system message.

use protocol::{ClaimChange, Refusal, Response};

use super::params::holder_name;
use super::{BROADCAST, Changes, Handled, Room, SYSTEM, SessionId};

impl Room {
    pub(super) fn leave(&mut self, session: SessionId, name: &str, now: u64) -> Handled {
        let name = holder_name(name)?;
        match self.presence.holder(name) {
            None => Ok((Response::Left(false), Changes::default())),
            Some(Some(holder)) if holder != session => Err(Refusal::conflict(format!(
                "name '{name}' is held by another session"
            ))),
            // Held by this session, or an orphan nobody holds.
            Some(_) => {
                let changes = self.remove_member(name, now);
                Ok((Response::Left(true), changes))
            }
        }
    }

    /// Removes every member whose holder matches, in name order, each with a system message.
    pub(super) fn remove_members(
        &mut self,
        leaves: impl Fn(Option<SessionId>) -> bool,
        now: u64,
    ) -> Changes {
        let mut changes = Changes::default();
        for name in self.presence.names_where(leaves) {
            changes.merge(self.remove_member(&name, now));
        }
        changes
    }

    /// Removes `name` from the participants, with its claims, and announces it to everyone.
    fn remove_member(&mut self, name: &str, now: u64) -> Changes {
        self.presence.remove(name);
        let claims = self.claims.remove_name(name, ClaimChange::Departed, now);
        let content = format!("{name} left the chatroom");
        let message = self
            .messages
            .append(SYSTEM, BROADCAST, &content, false, None, now);
        Changes {
            messages: vec![message],
            membership: true,
            claims,
            ..Changes::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Message, Refusal, Response};

    use crate::daemon::room::testkit::*;
    use crate::daemon::room::{Changes, Room};
    use crate::shared::time::format_ts;

    #[test]
    fn leave_removes_own_names_with_a_system_message() {
        let mut room = populated_room();
        let (reply, changes) = accept_at(&mut room, ALICE, leave("alice"), T0 + 5);
        assert_eq!(reply, Response::Left(true));
        let expected = Message {
            topic_id: None,
            id: 6,
            ts: format_ts(T0 + 5),
            from: "system".into(),
            to: "all".into(),
            content: "alice left the chatroom".into(),
            human: false,
        };
        assert_eq!(
            changes,
            Changes {
                messages: vec![expected.clone()],
                membership: true,
                ..Changes::default()
            }
        );
        assert_eq!(names(&room.participants()), ["bob"]);
        assert_eq!(
            messages_of(accept(&mut room, OTHER, read(5, 50, "")).0),
            vec![expected]
        );

        // Nobody holds it (any more): false, and nothing written.
        for name in ["alice", "nobody"] {
            let (reply, changes) = accept(&mut room, ALICE, leave(name));
            assert_eq!(reply, Response::Left(false));
            assert!(changes.is_empty());
        }
        assert_eq!(room.message_count(), 6);

        // Held by another session: refused, and bob stays.
        let refusal = refuse(&mut room, ALICE, leave("bob"));
        assert_eq!(
            refusal,
            Refusal::conflict("name 'bob' is held by another session")
        );
        assert_eq!(names(&room.participants()), ["bob"]);
    }

    #[test]
    fn end_session_releases_its_names_in_name_order() {
        let mut room = populated_room();
        accept(&mut room, ALICE, join("zed", "dev"));
        accept(&mut room, ALICE, join("amy", "dev"));
        let changes = room.end_session(ALICE, T0 + 9);
        let contents: Vec<&str> = changes
            .messages
            .iter()
            .map(|message| message.content.as_str())
            .collect();
        assert_eq!(
            contents,
            [
                "alice left the chatroom",
                "amy left the chatroom",
                "zed left the chatroom"
            ]
        );
        assert_eq!(ids(&changes.messages), [6, 7, 8]);
        assert!(
            changes
                .messages
                .iter()
                .all(|message| message.from == "system"
                    && message.to == "all"
                    && message.ts == format_ts(T0 + 9))
        );
        assert!(changes.membership && changes.needs_sync());
        assert_eq!(names(&room.participants()), ["bob"]);
        assert!(room.names_held_by(ALICE).is_empty());
        // Ending it again, or a session that held nothing, changes nothing.
        assert!(room.end_session(ALICE, T0 + 10).is_empty());
        assert!(room.end_session(OTHER, T0 + 10).is_empty());
        assert_eq!(room.message_count(), 8);
    }

    #[test]
    fn orphans_can_be_joined_left_or_removed() {
        let orphans = ["carol", "alice", "bob", "dave"].map(participant).to_vec();
        let mut room = Room::restore(vec![], vec![], orphans, vec![]).unwrap();
        assert_eq!(
            names(&room.participants()),
            ["alice", "bob", "carol", "dave"]
        );
        // Joining as an orphan takes it afresh.
        accept(&mut room, ALICE, join("bob", "lead"));
        let bob = room.participants()[1].clone();
        assert_eq!((bob.role.as_str(), bob.joined_at.as_str()), ("lead", TS0));
        assert_eq!(room.names_held_by(ALICE), ["bob"]);
        // Leaving as an orphan removes it, with the system message.
        let (reply, changes) = accept(&mut room, OTHER, leave("dave"));
        assert_eq!(reply, Response::Left(true));
        assert_eq!(changes.messages[0].content, "dave left the chatroom");

        let changes = room.remove_orphans(T0);
        let contents: Vec<&str> = changes
            .messages
            .iter()
            .map(|message| message.content.as_str())
            .collect();
        assert_eq!(
            contents,
            ["alice left the chatroom", "carol left the chatroom"]
        );
        assert_eq!(ids(&changes.messages), [2, 3]);
        assert!(changes.membership);
        assert_eq!(names(&room.participants()), ["bob"]);
        assert!(room.remove_orphans(T0).is_empty());
    }
}
