//! The cursors: the last message id each name has read in each scope — the main room's in v1's
//! `cursors.json`, each topic's in `topic_cursors.json` — moved only forward, and the handlers
//! that read and move them (`get_cursor`, `set_cursor`, `read_unread`). A peek changes nothing,
//! so anyone may peek; acknowledging moves the holder's cursor, so only the holder may.

use protocol::{Cursor, Response, Unread};

use super::params::{limit_param, name_param, non_negative};
use super::topics::Scope;
use super::undo::{RecordedMap, Undoable};
use super::{Changes, Handled, Room, SessionId};
use protocol::Refusal;

/// The last read message id by name in the main room, and by (name, topic) in the topics; a
/// missing entry reads as 0.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Cursors {
    by_name: RecordedMap<String, u64>,
    by_topic: RecordedMap<(String, String), u64>,
    /// When each cursor moved, as `(id, unix)` ascending, the latest [`READ_LOG_LEN`] per
    /// (name, topic or ""), for read receipts. In memory only: a restart forgets the times
    /// (the cursors themselves are stored).
    read_log: RecordedMap<(String, String), Vec<(u64, u64)>>,
}

/// How many cursor moves per name and scope keep their time.
const READ_LOG_LEN: usize = 64;

impl Cursors {
    pub(super) fn restore(cursors: Vec<(String, u64)>) -> Self {
        Self {
            by_name: cursors.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Adds the topic cursors `(name, topic, id)` restored from disk.
    pub(super) fn restore_topics(&mut self, cursors: Vec<(String, String, u64)>) {
        self.by_topic = cursors
            .into_iter()
            .map(|(name, topic, id)| ((name, topic), id))
            .collect();
    }

    /// The cursor of `name` in `scope`, 0 when none is stored.
    pub(super) fn get(&self, scope: Scope<'_>, name: &str) -> u64 {
        match scope {
            None => self.by_name.get(name).copied(),
            // A lookup by a borrowed pair would need a key type of our own; a cursor read
            // allocates two short strings, which is nothing beside the reply it serves.
            Some(topic) => self
                .by_topic
                .get(&(name.to_owned(), topic.to_owned()))
                .copied(),
        }
        .unwrap_or(0)
    }

    /// All stored main-room cursors, sorted by name.
    pub(super) fn all(&self) -> Vec<(String, u64)> {
        self.by_name
            .iter()
            .map(|(name, last_read_id)| (name.clone(), *last_read_id))
            .collect()
    }

    /// All stored topic cursors `(name, topic, id)`, sorted by name, then topic.
    pub(super) fn all_topics(&self) -> Vec<(String, String, u64)> {
        self.by_topic
            .iter()
            .map(|((name, topic), id)| (name.clone(), topic.clone(), *id))
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.by_name.len() + self.by_topic.len()
    }

    /// Moves the cursor of `name` in `scope` up to `message_id`, never back; true if it moved.
    /// `at` (unix seconds) is when, if known, for [`Cursors::read_at`].
    pub(super) fn advance(
        &mut self,
        scope: Scope<'_>,
        name: &str,
        message_id: u64,
        at: Option<u64>,
    ) -> bool {
        if message_id <= self.get(scope, name) {
            return false;
        }
        match scope {
            None => self.by_name.insert(name.to_owned(), message_id),
            Some(topic) => self
                .by_topic
                .insert((name.to_owned(), topic.to_owned()), message_id),
        }
        if let Some(at) = at {
            let key = (name.to_owned(), scope.unwrap_or_default().to_owned());
            let mut log = self.read_log.get(&key).cloned().unwrap_or_default();
            log.push((message_id, at));
            if log.len() > READ_LOG_LEN {
                log.remove(0);
            }
            self.read_log.insert(key, log);
        }
        true
    }

    /// When the cursor of `name` in `scope` first reached `message_id`, if this daemon saw it.
    pub(super) fn read_at(&self, scope: Scope<'_>, name: &str, message_id: u64) -> Option<u64> {
        let key = (name.to_owned(), scope.unwrap_or_default().to_owned());
        let log = self.read_log.get(&key)?;
        let first = log.partition_point(|(id, _)| *id < message_id);
        log.get(first).map(|(_, at)| *at)
    }
}

impl Undoable for Cursors {
    fn begin(&mut self) {
        self.by_name.begin();
        self.by_topic.begin();
        self.read_log.begin();
    }

    fn commit(&mut self) {
        self.by_name.commit();
        self.by_topic.commit();
        self.read_log.commit();
    }

    fn roll_back(&mut self) {
        self.by_name.roll_back();
        self.by_topic.roll_back();
        self.read_log.roll_back();
    }
}

/// The change flags a cursor move in `scope` sets.
fn moved(scope: Scope<'_>, moved: bool) -> Changes {
    Changes {
        cursors: moved && scope.is_none(),
        topic_cursors: moved && scope.is_some(),
        ..Changes::default()
    }
}

impl Room {
    pub(super) fn get_cursor(&self, name: &str, topic_id: &str) -> Handled {
        let name = name_param("name", name)?;
        let scope = self.read_scope(topic_id)?;
        let cursor = Cursor {
            name: name.to_owned(),
            topic_id: scope.map(str::to_owned),
            last_read_id: self.cursors.get(scope, name),
        };
        Ok((Response::Cursor(cursor), Changes::default()))
    }

    pub(super) fn set_cursor(
        &mut self,
        session: SessionId,
        name: &str,
        message_id: i64,
        topic_id: &str,
        now: u64,
    ) -> Handled {
        let name = name_param("name", name)?;
        let message_id = non_negative("message_id", message_id)?;
        let scope = self.read_scope(topic_id)?;
        // The bound is the scope's own latest id; in a room without topics, v1's.
        let latest = self.messages.scope_last_id(scope);
        if message_id > latest {
            return Err(Refusal::invalid(format!(
                "message_id cannot exceed the latest message id ({latest})"
            )));
        }
        self.presence.check_not_held_elsewhere(session, name)?;
        let changes = Changes {
            last_seen: self.presence.touch(name, now),
            ..moved(
                scope,
                self.cursors.advance(scope, name, message_id, Some(now)),
            )
        };
        let cursor = Cursor {
            name: name.to_owned(),
            topic_id: scope.map(str::to_owned),
            last_read_id: self.cursors.get(scope, name),
        };
        Ok((Response::Cursor(cursor), changes))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn read_unread(
        &mut self,
        session: SessionId,
        name: &str,
        limit: i64,
        mark_read: bool,
        topic_id: &str,
        now: u64,
    ) -> Handled {
        let name = name_param("name", name)?;
        let limit = limit_param("limit", limit)?;
        let scope = self.read_scope(topic_id)?;
        // Acknowledging moves the holder's cursor; a peek changes nothing, so anyone may peek.
        let held_elsewhere = self.presence.check_not_held_elsewhere(session, name);
        if mark_read {
            held_elsewhere.clone()?;
        }
        let cursor = self.cursors.get(scope, name);
        let visible = self.messages.visible_after(scope, name, cursor);
        let messages = self.messages.collect(visible.oldest(limit));
        let mut changes = Changes::default();
        if let Some(newest) = messages.last()
            && mark_read
        {
            changes = moved(
                scope,
                self.cursors.advance(scope, name, newest.id, Some(now)),
            );
        }
        // Someone else peeking is no sign of life from the holder.
        changes.last_seen = held_elsewhere.is_ok() && self.presence.touch(name, now);
        let unread = Unread {
            name: name.to_owned(),
            topic_id: scope.map(str::to_owned),
            last_read_id: self.cursors.get(scope, name),
            messages,
        };
        Ok((Response::Unread(unread), changes))
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Cursor, Response};

    use crate::daemon::room::Room;
    use crate::daemon::room::testkit::*;

    #[test]
    fn cursors_are_monotonic_and_bounded_by_the_latest_message() {
        let mut room = populated_room();
        assert_eq!(cursor_of(&mut room, "bob"), 0, "none stored");
        let check = |room: &mut Room, message_id: i64, expected: u64, moved: bool| {
            let (reply, changes) = accept(room, BOB, set_cursor("bob", message_id));
            let cursor = Cursor {
                topic_id: None,
                name: "bob".into(),
                last_read_id: expected,
            };
            assert_eq!(reply, Response::Cursor(cursor), "set_cursor {message_id}");
            assert_eq!(changes.cursors, moved, "set_cursor {message_id}");
        };
        check(&mut room, 0, 0, false);
        check(&mut room, 3, 3, true);
        check(&mut room, 1, 3, false);
        check(&mut room, 3, 3, false);
        check(&mut room, 5, 5, true);
        assert_eq!(cursor_of(&mut room, "bob"), 5);
        assert_eq!(
            room.cursors(),
            [("alice".to_owned(), 1), ("bob".to_owned(), 5)]
        );
        let refusal = refuse(&mut room, OTHER, set_cursor("bob", 6));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (5)"
        );
        // An empty room's latest id is 0.
        let refusal = refuse(&mut Room::new(), OTHER, set_cursor("bob", 1));
        assert_eq!(
            refusal.message,
            "message_id cannot exceed the latest message id (0)"
        );
    }

    #[test]
    fn read_unread_returns_visible_messages_after_the_cursor() {
        // 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol; alice's cursor is 1.
        let mut room = populated_room();
        // mark_read=false peeks: same answer twice, cursor kept.
        for _ in 0..2 {
            let (reply, changes) = accept(&mut room, OTHER, unread("alice", 50, false));
            let Response::Unread(peeked) = reply else {
                panic!("{reply:?}")
            };
            assert_eq!((peeked.name.as_str(), peeked.last_read_id), ("alice", 1));
            assert_eq!(ids(&peeked.messages), [2, 4]);
            assert!(!changes.cursors);
        }
        // The limit applies; mark_read moves the cursor to the highest returned id.
        let (reply, changes) = accept(&mut room, ALICE, unread("alice", 1, true));
        let Response::Unread(first) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!((ids(&first.messages), first.last_read_id), (vec![2], 2));
        assert!(changes.cursors);
        let (rest, _) = accept(&mut room, ALICE, unread("alice", 50, true));
        let Response::Unread(rest) = rest else {
            panic!("{rest:?}")
        };
        assert_eq!((ids(&rest.messages), rest.last_read_id), (vec![4], 4));
        // Nothing unread: the cursor stays and nothing changes.
        let (reply, changes) = accept(&mut room, ALICE, unread("alice", 50, true));
        let Response::Unread(none) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!((none.messages.len(), none.last_read_id), (0, 4));
        assert!(!changes.cursors);
        // bob never read: everything visible to bob.
        let (bob, _) = accept(&mut room, BOB, unread("bob", 50, true));
        let Response::Unread(bob) = bob else {
            panic!("{bob:?}")
        };
        assert_eq!((ids(&bob.messages), bob.last_read_id), (vec![1, 3, 4], 4));
        // A cursor set past messages skips them.
        accept(&mut room, OTHER, set_cursor("carol", 4));
        assert_eq!(read_ids(&mut room, unread("carol", 50, false)), [5]);
        assert_eq!(room.cursors().len(), 3);
    }
}
