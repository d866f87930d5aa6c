//! The undo log: while the owner runs a batch that might not reach the disk, every part of the
//! room records what it is about to change, so that [`Room::roll_back`](super::Room::roll_back)
//! can put the room back exactly as it was when [`Room::begin`](super::Room::begin) was called.
//!
//! Each part of the room records its own changes ([`Undoable`]): the appended lists (messages,
//! summaries) are an [`AppendedList`], which remembers its length, and the keyed state lives in
//! a [`RecordedMap`], which saves a key's value before its first change. A new part (topics, claims) implements [`Undoable`] and joins
//! [`Room::parts`]; nothing else here changes.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::collections::btree_map;

use super::Room;

/// A part of the room that can undo what changed since its recording began.
pub(super) trait Undoable {
    /// Starts recording; a recording in progress is committed first.
    fn begin(&mut self);
    /// Keeps everything since [`Undoable::begin`] and stops recording.
    fn commit(&mut self);
    /// Undoes everything since [`Undoable::begin`] and stops recording; without a recording it
    /// changes nothing.
    fn roll_back(&mut self);
}

impl Room {
    /// Every part of the room that changes, for a recording to begin, commit or roll back.
    pub(super) fn parts(&mut self) -> [&mut dyn Undoable; 8] {
        [
            &mut self.messages,
            &mut self.summaries,
            &mut self.presence,
            &mut self.cursors,
            &mut self.topics,
            &mut self.imports,
            &mut self.deliveries,
            &mut self.claims,
        ]
    }
}

/// A sorted map that, while recording, keeps the value each key had before its first change
/// (`None`: the key was absent). Recording costs one entry per key changed, so a batch of sends in
/// a large room copies nothing but the senders.
/// An append-only list that can take back what was appended since [`AppendedList::begin`]:
/// the shape of the messages and of the summaries. Their indexes hold positions in it, so a
/// roll back hands each record it drops, newest first, with its position, to be unindexed.
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct AppendedList<T> {
    items: Vec<T>,
    /// While recording: how many records there were when it began.
    recorded_from: Option<usize>,
}

impl<T> Default for AppendedList<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            recorded_from: None,
        }
    }
}

impl<T> std::ops::Deref for AppendedList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T> AppendedList<T> {
    pub(super) fn push(&mut self, item: T) {
        self.items.push(item);
    }

    pub(super) fn begin(&mut self) {
        self.recorded_from = Some(self.items.len());
    }

    pub(super) fn commit(&mut self) {
        self.recorded_from = None;
    }

    /// Drops the records appended since [`AppendedList::begin`], newest first, each after
    /// `unindex` has seen it and the position it had; without a recording it drops nothing.
    pub(super) fn roll_back(&mut self, mut unindex: impl FnMut(&T, usize)) {
        let Some(count) = self.recorded_from.take() else {
            return;
        };
        while self.items.len() > count {
            let position = self.items.len() - 1;
            unindex(&self.items[position], position);
            self.items.pop();
        }
    }
}

#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct RecordedMap<K, V> {
    entries: BTreeMap<K, V>,
    /// While recording: each changed key's value before its first change since.
    before: Option<BTreeMap<K, Option<V>>>,
}

impl<K, V> Default for RecordedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
            before: None,
        }
    }
}

impl<K: Ord + Clone, V: Clone> FromIterator<(K, V)> for RecordedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        Self {
            entries: entries.into_iter().collect(),
            before: None,
        }
    }
}

impl<K: Ord + Clone, V: Clone> RecordedMap<K, V> {
    pub(super) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.get(key)
    }

    /// The entries, in key order.
    pub(super) fn iter(&self) -> btree_map::Iter<'_, K, V> {
        self.entries.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn insert(&mut self, key: K, value: V) {
        self.save(&key);
        self.entries.insert(key, value);
    }

    /// The value of `key`, to change: it is recorded as it is now, so ask only to change it.
    pub(super) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        self.save(key);
        self.entries.get_mut(key)
    }

    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        self.save(key);
        self.entries.remove(key)
    }

    /// Records `key` as it is now, before its first change in a recording.
    fn save<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(before) = &mut self.before
            && !before.contains_key(key)
        {
            before.insert(key.to_owned(), self.entries.get(key).cloned());
        }
    }
}

impl<K: Ord + Clone, V: Clone> Undoable for RecordedMap<K, V> {
    fn begin(&mut self) {
        self.before = Some(BTreeMap::new());
    }

    fn commit(&mut self) {
        self.before = None;
    }

    fn roll_back(&mut self) {
        for (key, value) in self.before.take().into_iter().flatten() {
            match value {
                Some(value) => self.entries.insert(key, value),
                None => self.entries.remove(&key),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::{RefusalKind, Request, Response};

    use super::*;
    use crate::daemon::room::testkit::*;

    #[test]
    fn an_appended_list_takes_back_what_came_since_begin_newest_first() {
        let mut list = AppendedList::default();
        list.push("kept");
        // Without a recording, a roll back drops nothing.
        list.roll_back(|_, _| panic!("nothing to unindex"));
        list.begin();
        list.push("a");
        list.push("b");
        let mut unindexed = Vec::new();
        list.roll_back(|item, position| unindexed.push((*item, position)));
        assert_eq!(unindexed, [("b", 2), ("a", 1)]);
        assert_eq!(&*list, ["kept"]);
        list.begin();
        list.push("c");
        list.commit();
        list.roll_back(|_, _| panic!("committed"));
        assert_eq!(&*list, ["kept", "c"]);
    }

    #[test]
    fn a_recorded_map_puts_back_each_key_as_it_was_before_its_first_change() {
        let mut map: RecordedMap<String, u64> = [("a".to_owned(), 1), ("b".to_owned(), 2)]
            .into_iter()
            .collect();
        let before = map.clone();
        map.roll_back();
        assert!(map == before, "nothing to undo without a recording");
        map.begin();
        *map.get_mut("a").unwrap() = 10;
        *map.get_mut("a").unwrap() = 11;
        map.remove("b");
        map.insert("b".to_owned(), 20);
        map.insert("c".to_owned(), 3);
        map.remove("c");
        map.insert("d".to_owned(), 4);
        assert_eq!(
            map.iter()
                .map(|(key, value)| (key.as_str(), *value))
                .collect::<Vec<_>>(),
            [("a", 11), ("b", 20), ("d", 4)]
        );
        map.roll_back();
        assert!(map == before, "roll_back left the map different");
        // A committed change stays.
        map.begin();
        map.insert("e".to_owned(), 5);
        map.commit();
        map.roll_back();
        assert_eq!(map.get("e"), Some(&5));
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn roll_back_undoes_appends_and_every_index() {
        let mut room = populated_room();
        let before = room.clone();
        room.begin();
        // Strangers append, so that only messages, summaries and their indexes change.
        accept(&mut room, OTHER, send("zed", "to all", "all"));
        accept(&mut room, OTHER, send("zed", "to alice", "alice"));
        accept(&mut room, OTHER, send("zed", "to a newcomer", "newcomer"));
        accept(&mut room, OTHER, summarize("zed", "again", "all"));
        accept(&mut room, OTHER, summarize("zed", "new scope", "newcomer"));
        room.roll_back();
        assert!(room == before, "roll_back left the room different");
        assert_eq!(read_ids(&mut room, unread("alice", 50, false)), [2, 4]);
        assert_eq!(read_ids(&mut room, read(0, 50, "newcomer")), [1, 4]);
        assert_eq!(
            summary_of(&mut room, "all").map(|summary| summary.id),
            Some(1)
        );
        assert_eq!(summary_of(&mut room, "newcomer"), None);
        // Ids are handed out again from where they were.
        assert_eq!(
            accept(&mut room, OTHER, send("zed", "again", "alice")).0,
            Response::Id(6)
        );
        assert_eq!(read_ids(&mut room, read(0, 50, "alice")), [1, 2, 4, 6]);

        // Without a recording, or after a commit, there is nothing to undo.
        let before = room.clone();
        room.roll_back();
        assert!(room == before);
        room.begin();
        accept(&mut room, OTHER, send("zed", "kept", "all"));
        room.commit();
        let committed = room.clone();
        room.roll_back();
        assert!(room == committed);
        assert_eq!(room.last_message_id(), 7);
    }

    #[test]
    fn roll_back_undoes_presence_and_cursor_changes() {
        let mut room = populated_room();
        let before = room.clone();
        room.begin();
        // Every kind of change to participants and cursors, several times over the same names.
        let later = T0 + 60;
        accept_at(&mut room, ALICE, join("alice", "lead"), later);
        accept_at(&mut room, OTHER, join("carol", "new"), later);
        accept_at(&mut room, OTHER, join("dave", "new"), later);
        accept_at(&mut room, OTHER, leave("dave"), later);
        accept_at(&mut room, BOB, leave("bob"), later);
        accept_at(
            &mut room,
            OTHER,
            send("carol", "touches carol", "all"),
            later,
        );
        accept_at(&mut room, ALICE, set_cursor("alice", 3), later);
        accept_at(&mut room, OTHER, set_cursor("erin", 2), later);
        accept_at(&mut room, OTHER, unread("carol", 50, true), later);
        room.end_session(OTHER, later + 1);
        accept_at(&mut room, BOB, join("carol", "rejoined"), later + 2);
        room.end_session(ALICE, later + 3);
        room.roll_back();
        assert!(room == before, "roll_back left the room different");

        // The restored room behaves as the old one: the holders are back.
        assert_eq!(
            names(
                &match accept(&mut room, OTHER, Request::ListParticipants).0 {
                    Response::Participants(participants) => participants,
                    other => panic!("{other:?}"),
                }
            ),
            ["alice", "bob"]
        );
        let refusal = refuse(&mut room, OTHER, join("bob", "thief"));
        assert_eq!(refusal.kind, RefusalKind::Conflict);
        assert_eq!(cursor_of(&mut room, "alice"), 1);
        assert_eq!(cursor_of(&mut room, "erin"), 0);
        assert_eq!(room.names_held_by(ALICE), ["alice"]);
    }

    #[test]
    fn a_refusal_during_a_recording_records_nothing_that_changes_the_room() {
        let mut room = populated_room();
        room.begin();
        refuse(&mut room, OTHER, join("alice", "thief"));
        refuse(&mut room, OTHER, leave("bob"));
        refuse(&mut room, OTHER, set_cursor("alice", 99));
        let before_roll_back = room.clone();
        room.roll_back();
        // Only the recording itself is gone.
        room.begin();
        assert!(room == before_roll_back);
    }
}
