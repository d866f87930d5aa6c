//! The handoff (`get_handoff`): one read that gathers what a newcomer needs from every part of
//! the room — the participants, the latest id, a name's cursor and unread count, the latest
//! summary that concerns it, and the recent messages it can see. It marks nothing read.

use protocol::{Handoff, Response};

use super::params::{limit_param, optional_name_param};
use super::{Changes, Handled, Room};

impl Room {
    pub(super) fn get_handoff(
        &self,
        name: &str,
        recent_limit: i64,
        topic_id: &str,
        now: u64,
    ) -> Handled {
        let name = optional_name_param("name", name)?;
        let recent_limit = limit_param("recent_limit", recent_limit)?;
        let scope = self.read_scope(topic_id)?;
        let (cursor, unread_count) = match name {
            Some(name) => {
                let cursor = self.cursors.get(scope, name);
                let unread = self.messages.visible_after(scope, name, cursor).count();
                (Some(cursor), Some(unread as u64))
            }
            None => (None, None),
        };
        let latest_summary = self.summaries.latest_for(scope, name).cloned();
        let recent_messages = match name {
            Some(name) => {
                let visible = self.messages.visible_after(scope, name, 0);
                self.messages.collect(visible.newest(recent_limit))
            }
            None => self.messages.newest(scope, recent_limit),
        };
        let handoff = Handoff {
            participants: self.presence.participants(),
            topic: scope.and_then(|id| self.topics.get(id)).cloned(),
            latest_message_id: self.messages.scope_last_id(scope),
            cursor,
            unread_count,
            latest_summary,
            recent_messages,
            // The v1 shape until the room has claims.
            claims: self.has_claims().then(|| self.claims(now)),
        };
        Ok((Response::Handoff(handoff), Changes::default()))
    }
}
#[cfg(test)]
mod tests {
    use protocol::Handoff;

    use crate::daemon::room::Room;
    use crate::daemon::room::testkit::*;

    #[test]
    fn handoff_without_a_name_covers_the_whole_room() {
        let mut room = populated_room();
        let whole = handoff_of(&mut room, handoff("  ", 3));
        assert_eq!(names(&whole.participants), ["alice", "bob"]);
        assert_eq!(whole.latest_message_id, 5);
        assert_eq!((whole.cursor, whole.unread_count), (None, None));
        // Only scope "all", even though a newer summary exists for alice.
        assert_eq!(whole.latest_summary.map(|summary| summary.id), Some(1));
        assert_eq!(ids(&whole.recent_messages), [3, 4, 5]);
        assert_eq!(read_ids(&mut room, handoff("", 100)), [1, 2, 3, 4, 5]);

        let empty = handoff_of(&mut Room::new(), handoff("", 10));
        let expected = Handoff {
            topic: None,
            participants: vec![],
            latest_message_id: 0,
            cursor: None,
            unread_count: None,
            latest_summary: None,
            recent_messages: vec![],
            claims: None,
        };
        assert_eq!(empty, expected);
    }

    #[test]
    fn handoff_with_a_name_is_that_participants_view() {
        // 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol; alice's cursor is 1;
        // summary 1 is for all, summary 2 for alice.
        let mut room = populated_room();
        let alice = handoff_of(&mut room, handoff("alice", 2));
        assert_eq!((alice.cursor, alice.unread_count), (Some(1), Some(2)));
        assert_eq!(alice.latest_summary.map(|summary| summary.id), Some(2));
        assert_eq!(ids(&alice.recent_messages), [2, 4]);
        assert_eq!(read_ids(&mut room, handoff("alice", 100)), [1, 2, 4]);
        assert_eq!(read_ids(&mut room, handoff("carol", 1)), [5]);

        let bob = handoff_of(&mut room, handoff("bob", 10));
        assert_eq!((bob.cursor, bob.unread_count), (Some(0), Some(3)));
        assert_eq!(bob.latest_summary.map(|summary| summary.id), Some(1));

        // A newer "all" summary wins over an older one of the name's own.
        accept(&mut room, OTHER, summarize("carol", "newest", "all"));
        let alice = handoff_of(&mut room, handoff("alice", 10));
        assert_eq!(alice.latest_summary.map(|summary| summary.id), Some(3));
        // Reading the handoff marks nothing read.
        assert_eq!(alice.cursor, Some(1));
        assert_eq!(cursor_of(&mut room, "alice"), 1);
    }
}
