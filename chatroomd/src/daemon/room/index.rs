//! The indexes beside the room's records: [`Positions`] (record positions grouped by a key, such
//! as a summary's scope) and [`VisibilityIndex`] (who can see which message), so that "visible
//! to P after id X" is a binary search plus a merge of two sorted lists, never a scan.
//!
//! A position is an index into the list the records sit in, in id order, so ascending positions
//! are ascending ids. The index decides from the message itself where it goes: a new key (a topic)
//! changes this file, not its callers.

use std::collections::HashMap;

use protocol::Message;

use super::BROADCAST;

/// Whether `message` is visible to `participant` (contract, "Words"): the rule
/// `VisibilityIndex` answers for many messages at once.
pub fn is_visible_to(message: &Message, participant: &str) -> bool {
    message.to == BROADCAST || message.to == participant
}

/// Positions of records grouped by a key (a recipient or a scope), each list ascending.
///
/// A key with no positions left is removed, so an index after `pop` is the one it was.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq, Debug))]
pub(super) struct Positions(HashMap<String, Vec<usize>>);

impl Positions {
    /// Adds `position`, which must be above every position pushed so far.
    pub(super) fn push(&mut self, key: &str, position: usize) {
        match self.0.get_mut(key) {
            Some(positions) => positions.push(position),
            None => {
                self.0.insert(key.to_owned(), vec![position]);
            }
        }
    }

    /// Removes `position`, which must be the last one pushed under `key`.
    pub(super) fn pop(&mut self, key: &str, position: usize) {
        if let Some(positions) = self.0.get_mut(key) {
            let popped = positions.pop();
            debug_assert_eq!(popped, Some(position), "index out of step under {key:?}");
            if positions.is_empty() {
                self.0.remove(key);
            }
        }
    }

    /// The positions under `key`, ascending.
    pub(super) fn get(&self, key: &str) -> &[usize] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
}

/// Who can see which message: the positions of the broadcasts, and of the direct messages by
/// recipient.
impl Emptiable for Positions {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An index that can tell it holds nothing, so that a topic's can be dropped when a roll back
/// empties it (a room rolled back compares equal to what it was).
pub(super) trait Emptiable {
    fn is_empty(&self) -> bool;
}

/// One index per room scope: the main room's, and each topic's, made on the topic's first
/// record and dropped again when a roll back empties it. Messages and summaries keep theirs in
/// one of these.
#[cfg_attr(test, derive(Clone, PartialEq, Debug))]
pub(super) struct ByScope<I> {
    main: I,
    topics: HashMap<String, I>,
}

impl<I: Default> Default for ByScope<I> {
    fn default() -> Self {
        Self {
            main: I::default(),
            topics: HashMap::new(),
        }
    }
}

impl<I: Default + Emptiable> ByScope<I> {
    /// The index of `scope`; `None` for a topic with no record.
    pub(super) fn get(&self, scope: Option<&str>) -> Option<&I> {
        match scope {
            None => Some(&self.main),
            Some(topic) => self.topics.get(topic),
        }
    }

    /// The index a record of the topic `topic` (none: the main room) goes to, made if new.
    pub(super) fn get_or_make(&mut self, topic: Option<&String>) -> &mut I {
        match topic {
            None => &mut self.main,
            Some(topic) => {
                if !self.topics.contains_key(topic) {
                    self.topics.insert(topic.clone(), I::default());
                }
                self.topics.get_mut(topic).expect("inserted above")
            }
        }
    }

    /// Takes a record of `topic` out of its index with `pop`, dropping a topic's index it
    /// leaves empty.
    pub(super) fn pop(&mut self, topic: Option<&String>, pop: impl FnOnce(&mut I)) {
        match topic {
            None => pop(&mut self.main),
            Some(topic) => {
                if let Some(index) = self.topics.get_mut(topic) {
                    pop(index);
                    if index.is_empty() {
                        self.topics.remove(topic);
                    }
                }
            }
        }
    }
}

#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq, Debug))]
pub(super) struct VisibilityIndex {
    /// Positions of the messages to `"all"`, ascending.
    broadcasts: Vec<usize>,
    /// Positions of the direct messages, by recipient.
    direct: Positions,
}

impl VisibilityIndex {
    /// Indexes `message`, which sits at `position`, above every position indexed so far.
    pub(super) fn push(&mut self, message: &Message, position: usize) {
        if message.to == BROADCAST {
            self.broadcasts.push(position);
        } else {
            self.direct.push(&message.to, position);
        }
    }

    /// Forgets `message` at `position`, which must be the last one indexed.
    pub(super) fn pop(&mut self, message: &Message, position: usize) {
        if message.to == BROADCAST {
            let popped = self.broadcasts.pop();
            debug_assert_eq!(popped, Some(position), "broadcast index out of step");
        } else {
            self.direct.pop(&message.to, position);
        }
    }

    /// The positions, from `start` on, of the messages visible to `name`.
    pub(super) fn visible_from(&self, name: &str, start: usize) -> Visible<'_> {
        Visible {
            broadcasts: from_position(&self.broadcasts, start),
            direct: from_position(self.direct.get(name), start),
        }
    }
}

/// The positions of the messages one participant can see: the broadcasts and the direct
/// messages to it, as two disjoint ascending lists, merged only as far as a read needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Visible<'a> {
    broadcasts: &'a [usize],
    direct: &'a [usize],
}

impl Visible<'_> {
    /// How many positions there are.
    pub(super) fn count(&self) -> usize {
        self.broadcasts.len() + self.direct.len()
    }

    /// Only the positions below `end`.
    pub(super) fn before(self, end: usize) -> Self {
        let before_end =
            |positions: &[usize]| positions.partition_point(|position| *position < end);
        Visible {
            broadcasts: &self.broadcasts[..before_end(self.broadcasts)],
            direct: &self.direct[..before_end(self.direct)],
        }
    }

    /// The `limit` smallest positions, ascending.
    pub(super) fn oldest(&self, limit: usize) -> Vec<usize> {
        merge_oldest(self.broadcasts, self.direct, limit)
    }

    /// The `limit` largest positions, ascending.
    pub(super) fn newest(&self, limit: usize) -> Vec<usize> {
        merge_newest(self.broadcasts, self.direct, limit)
    }
}

/// The tail of an ascending position list from `start` on.
fn from_position(positions: &[usize], start: usize) -> &[usize] {
    &positions[positions.partition_point(|&position| position < start)..]
}

/// The `limit` smallest positions of two disjoint ascending lists, ascending.
fn merge_oldest(first: &[usize], second: &[usize], limit: usize) -> Vec<usize> {
    let mut merged = Vec::with_capacity(limit.min(first.len() + second.len()));
    let (mut first, mut second) = (first.iter().peekable(), second.iter().peekable());
    while merged.len() < limit {
        let next = match (first.peek().copied(), second.peek().copied()) {
            (Some(a), Some(b)) if a < b => first.next(),
            (_, Some(_)) => second.next(),
            (Some(_), None) => first.next(),
            (None, None) => None,
        };
        let Some(&position) = next else { break };
        merged.push(position);
    }
    merged
}

/// The `limit` largest positions of two disjoint ascending lists, ascending.
fn merge_newest(first: &[usize], second: &[usize], limit: usize) -> Vec<usize> {
    let mut merged = Vec::with_capacity(limit.min(first.len() + second.len()));
    let (mut first, mut second) = (
        first.iter().rev().peekable(),
        second.iter().rev().peekable(),
    );
    while merged.len() < limit {
        let next = match (first.peek().copied(), second.peek().copied()) {
            (Some(a), Some(b)) if a > b => first.next(),
            (_, Some(_)) => second.next(),
            (Some(_), None) => first.next(),
            (None, None) => None,
        };
        let Some(&position) = next else { break };
        merged.push(position);
    }
    merged.reverse();
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::room::testkit::message;

    /// An index over messages to these recipients, at positions 0, 1, 2, ...
    fn index_of(recipients: &[&str]) -> VisibilityIndex {
        let mut index = VisibilityIndex::default();
        for (position, to) in recipients.iter().enumerate() {
            index.push(&message(position as u64 + 1, to), position);
        }
        index
    }

    #[test]
    fn merges_take_the_oldest_or_newest_of_both_lists_in_order() {
        let (first, second) = ([0, 3, 4, 9], [1, 2, 7]);
        let check = |limit: usize, oldest: &[usize], newest: &[usize]| {
            assert_eq!(
                merge_oldest(&first, &second, limit),
                oldest,
                "oldest {limit}"
            );
            assert_eq!(
                merge_newest(&first, &second, limit),
                newest,
                "newest {limit}"
            );
        };
        check(0, &[], &[]);
        check(1, &[0], &[9]);
        check(3, &[0, 1, 2], &[4, 7, 9]);
        check(7, &[0, 1, 2, 3, 4, 7, 9], &[0, 1, 2, 3, 4, 7, 9]);
        check(100, &[0, 1, 2, 3, 4, 7, 9], &[0, 1, 2, 3, 4, 7, 9]);
        assert_eq!(merge_oldest(&[], &[5, 6], 10), [5, 6]);
        assert_eq!(merge_newest(&[5, 6], &[], 1), [6]);
        assert!(merge_oldest(&[], &[], 10).is_empty());
    }

    #[test]
    fn visible_is_the_broadcasts_and_own_direct_messages_from_a_position() {
        let index = index_of(&["all", "bob", "alice", "all", "alice", "carol"]);
        let check = |name: &str, start: usize, expected: &[usize]| {
            let visible = index.visible_from(name, start);
            assert_eq!(visible.count(), expected.len(), "{name} from {start}");
            assert_eq!(visible.oldest(usize::MAX), expected, "{name} from {start}");
        };
        check("alice", 0, &[0, 2, 3, 4]);
        check("alice", 3, &[3, 4]);
        check("bob", 0, &[0, 1, 3]);
        check("nobody", 0, &[0, 3]);
        // "all" sees the broadcasts once, not twice.
        check("all", 0, &[0, 3]);
        check("carol", 6, &[]);
        let visible = index.visible_from("alice", 1).before(4);
        assert_eq!((visible.count(), visible.oldest(10)), (2, vec![2, 3]));
        assert_eq!(index.visible_from("alice", 0).newest(2), [3, 4]);
        for (position, to) in ["all", "bob", "alice", "all", "alice", "carol"]
            .iter()
            .enumerate()
        {
            let message = message(position as u64 + 1, to);
            assert_eq!(
                is_visible_to(&message, "alice"),
                ["all", "alice"].contains(to)
            );
        }
    }

    #[test]
    fn pop_puts_the_index_back_as_it_was() {
        let before = index_of(&["all", "alice"]);
        let mut index = before.clone();
        index.push(&message(3, "newcomer"), 2);
        index.push(&message(4, "all"), 3);
        index.push(&message(5, "alice"), 4);
        index.pop(&message(5, "alice"), 4);
        index.pop(&message(4, "all"), 3);
        index.pop(&message(3, "newcomer"), 2);
        assert_eq!(index, before, "a key left empty is removed");
    }
}
