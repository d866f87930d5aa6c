//! The messages: every one in id order (one id sequence for the whole room), indexed per scope —
//! the main room and each topic — by who can see them ([`VisibilityIndex`]), and the handlers that
//! write and read them (`send_message`, `read_messages`). Reads cost O(log n + result) in the
//! scope they read, whatever the size of the room or of other scopes: nothing here scans.

use protocol::{Message, Response};

use super::index::{ByScope, Emptiable, VisibilityIndex, Visible};
use super::params::optional_name_param;
use super::params::{content_param, holder_name, limit_param, name_param, non_negative};
use super::search::{Filter, Query, SearchIndex};
use super::topics::Scope;
use super::undo::{AppendedList, Undoable};
use super::{Changes, Handled, Room, SessionId};
use crate::shared::time::format_ts;

/// The positions (in the room's list) of one scope's messages, and who can see them.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
struct ScopeIndex {
    /// Every position in the scope, ascending.
    all: Vec<usize>,
    visibility: VisibilityIndex,
}

impl ScopeIndex {
    fn push(&mut self, message: &Message, position: usize) {
        self.all.push(position);
        self.visibility.push(message, position);
    }

    fn pop(&mut self, message: &Message, position: usize) {
        let popped = self.all.pop();
        debug_assert_eq!(popped, Some(position), "scope index out of step");
        self.visibility.pop(message, position);
    }
}

impl Emptiable for ScopeIndex {
    fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// Every message in strictly increasing id order, and each scope's index.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Messages {
    list: AppendedList<Message>,
    scopes: ByScope<ScopeIndex>,
    /// Which words each message holds, for `search_messages`.
    search: SearchIndex,
}

/// The index of a scope with no messages.
static EMPTY: std::sync::LazyLock<ScopeIndex> = std::sync::LazyLock::new(ScopeIndex::default);

impl Messages {
    /// Adds `message`, whose id must be above every id so far, to its scope.
    pub(super) fn push(&mut self, message: Message) {
        let position = self.list.len();
        self.search.push(&message, position);
        self.scopes
            .get_or_make(message.topic_id.as_ref())
            .push(&message, position);
        self.list.push(message);
    }

    /// Appends a new message with the next id of the room to `scope`.
    pub(super) fn append(
        &mut self,
        from: &str,
        to: &str,
        content: &str,
        human: bool,
        scope: Scope<'_>,
        now: u64,
    ) -> Message {
        let message = Message {
            id: self.last_id() + 1,
            ts: format_ts(now),
            topic_id: scope.map(str::to_owned),
            from: from.to_owned(),
            to: to.to_owned(),
            content: content.to_owned(),
            human,
        };
        self.push(message.clone());
        message
    }

    /// Messages in the whole room.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// The newest message id of the whole room, 0 when empty: the id sequence is the room's.
    pub(super) fn last_id(&self) -> u64 {
        self.list.last().map_or(0, |message| message.id)
    }

    /// The newest message's timestamp in the whole room.
    pub(super) fn last_ts(&self) -> Option<String> {
        self.list.last().map(|message| message.ts.clone())
    }

    /// Every message, in id order.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Message> {
        self.list.iter()
    }

    fn scope(&self, scope: Scope<'_>) -> &ScopeIndex {
        self.scopes.get(scope).unwrap_or(&EMPTY)
    }

    /// The newest message id in `scope`, 0 when it has none.
    pub(super) fn scope_last_id(&self, scope: Scope<'_>) -> u64 {
        self.scope(scope)
            .all
            .last()
            .map_or(0, |&position| self.list[position].id)
    }

    /// Up to `limit` messages of `scope` with `id > since_id`, ascending.
    pub(super) fn after(&self, scope: Scope<'_>, since_id: u64, limit: usize) -> Vec<Message> {
        let all = &self.scope(scope).all;
        let start = self.first_position_after(since_id);
        let from = all.partition_point(|&position| position < start);
        self.collect(all[from..].iter().take(limit).copied().collect())
    }

    /// The newest `limit` messages of `scope`, ascending.
    pub(super) fn newest(&self, scope: Scope<'_>, limit: usize) -> Vec<Message> {
        let all = &self.scope(scope).all;
        let from = all.len().saturating_sub(limit);
        self.collect(all[from..].to_vec())
    }

    /// The messages of `scope` visible to `name` with `id > after`.
    pub(super) fn visible_after(&self, scope: Scope<'_>, name: &str, after: u64) -> Visible<'_> {
        self.scope(scope)
            .visibility
            .visible_from(name, self.first_position_after(after))
    }

    /// The messages of `scope` visible to `name` with `after < id <= through`, ascending.
    pub(super) fn visible_between(
        &self,
        scope: Scope<'_>,
        name: &str,
        after: u64,
        through: u64,
    ) -> Vec<Message> {
        let visible = self
            .visible_after(scope, name, after)
            .before(self.first_position_after(through));
        self.collect(visible.oldest(usize::MAX))
    }

    /// The messages at `positions`, in that order.
    pub(super) fn collect(&self, positions: Vec<usize>) -> Vec<Message> {
        positions
            .into_iter()
            .map(|position| self.list[position].clone())
            .collect()
    }

    /// The messages matching `query` that pass `filter`, newest first, at most `limit`.
    pub(super) fn search(&self, query: &Query, filter: &Filter<'_>, limit: usize) -> Vec<Message> {
        self.collect(self.search.search(&self.list, query, filter, limit))
    }

    /// The heap the search index holds, in bytes.
    pub(super) fn search_index_bytes(&self) -> usize {
        self.search.heap_bytes()
    }

    /// The message with `id`, if there is one.
    pub(super) fn get(&self, id: u64) -> Option<&Message> {
        let position = self.first_position_after(id.saturating_sub(1));
        self.list.get(position).filter(|message| message.id == id)
    }

    /// The message at `position` (one a [`Visible`] gave).
    pub(super) fn at(&self, position: usize) -> &Message {
        &self.list[position]
    }

    /// The position of the first message with an id above `id`.
    fn first_position_after(&self, id: u64) -> usize {
        self.list.partition_point(|message| message.id <= id)
    }
}

impl Undoable for Messages {
    fn begin(&mut self) {
        self.list.begin();
    }

    fn commit(&mut self) {
        self.list.commit();
    }

    /// Drops the messages appended since, newest first, and their index entries with them.
    fn roll_back(&mut self) {
        let (scopes, search) = (&mut self.scopes, &mut self.search);
        self.list.roll_back(|message, position| {
            search.pop(message, position);
            scopes.pop(message.topic_id.as_ref(), |index| {
                index.pop(message, position);
            });
        });
    }
}

impl Room {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_message(
        &mut self,
        session: SessionId,
        name: &str,
        content: &str,
        to: &str,
        topic_id: &str,
        human: bool,
        now: u64,
    ) -> Handled {
        let name = holder_name(name)?;
        let content = content_param(content)?;
        let to = name_param("to", to)?;
        let scope = self.write_scope(topic_id)?;
        self.presence.check_not_held_elsewhere(session, name)?;
        let message = self.messages.append(name, to, content, human, scope, now);
        let changes = Changes {
            last_seen: self.presence.touch(name, now),
            topic_activity: self.touch_scope(scope, &message.ts),
            messages: vec![message],
            ..Changes::default()
        };
        Ok((Response::Id(changes.messages[0].id), changes))
    }

    pub(super) fn read_messages(
        &self,
        since_id: i64,
        limit: i64,
        participant: &str,
        topic_id: &str,
    ) -> Handled {
        let since_id = non_negative("since_id", since_id)?;
        let limit = limit_param("limit", limit)?;
        let participant = optional_name_param("participant", participant)?;
        let scope = self.read_scope(topic_id)?;
        let messages = match participant {
            Some(participant) => {
                let visible = self.messages.visible_after(scope, participant, since_id);
                self.messages.collect(visible.oldest(limit))
            }
            None => self.messages.after(scope, since_id, limit),
        };
        Ok((Response::Messages(messages), Changes::default()))
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Message, Request, Response};

    use crate::daemon::room::testkit::*;
    use crate::daemon::room::{Changes, Room};
    use crate::shared::time::format_ts;

    #[test]
    fn send_message_appends_with_the_next_id_and_refreshes_last_seen() {
        let mut room = Room::new();
        accept_at(&mut room, ALICE, join("alice", "dev"), T0);
        let (reply, changes) = accept_at(&mut room, ALICE, send("alice", "one", "all"), T0 + 7);
        assert_eq!(reply, Response::Id(1));
        let expected = Message {
            topic_id: None,
            id: 1,
            ts: format_ts(T0 + 7),
            from: "alice".into(),
            to: "all".into(),
            content: "one".into(),
            human: false,
        };
        assert_eq!(
            changes,
            Changes {
                messages: vec![expected],
                last_seen: true,
                ..Changes::default()
            }
        );
        assert_eq!(room.participants()[0].last_seen, format_ts(T0 + 7));
        // The same second again: last_seen did not change, so it is not reported.
        let (reply, changes) = accept_at(&mut room, ALICE, send("alice", "two", "bob"), T0 + 7);
        assert_eq!(reply, Response::Id(2));
        assert!(!changes.last_seen);
        // Neither sender nor recipient has to be joined; a stranger's message touches no one.
        let (reply, changes) = accept_at(&mut room, OTHER, send("carol", "three", "dave"), T0 + 9);
        assert_eq!(reply, Response::Id(3));
        assert!(!changes.last_seen && !changes.membership);
        assert_eq!(room.participants()[0].last_seen, format_ts(T0 + 7));
        assert_eq!(room.last_message_id(), 3);
        assert_eq!(room.last_activity_ts(), Some(format_ts(T0 + 9)));
    }

    #[test]
    fn read_messages_filters_by_visibility_before_the_limit() {
        // 1 alice→all, 2 bob→alice, 3 alice→bob, 4 carol→all, 5 bob→carol.
        let mut room = populated_room();
        let check = |room: &mut Room, request: Request, expected: &[u64]| {
            assert_eq!(read_ids(room, request.clone()), expected, "{request:?}");
        };
        check(&mut room, read(0, 50, ""), &[1, 2, 3, 4, 5]);
        check(&mut room, read(2, 50, ""), &[3, 4, 5]);
        check(&mut room, read(0, 2, ""), &[1, 2]);
        check(&mut room, read(5, 50, ""), &[]);
        check(&mut room, read(99, 50, ""), &[]);
        // A message from alice to bob is not visible to alice: the contract's rule, literally.
        check(&mut room, read(0, 50, "alice"), &[1, 2, 4]);
        check(&mut room, read(0, 50, "bob"), &[1, 3, 4]);
        check(&mut room, read(0, 50, "carol"), &[1, 4, 5]);
        check(&mut room, read(0, 50, "nobody"), &[1, 4]);
        check(&mut room, read(0, 50, "all"), &[1, 4]);
        check(&mut room, read(1, 2, "alice"), &[2, 4]);
        check(&mut room, read(2, 1, "carol"), &[4]);

        // Filter before limit: many DMs to others, then one broadcast.
        for _ in 0..10 {
            accept(&mut room, OTHER, send("dave", "psst", "bob"));
        }
        accept(&mut room, OTHER, send("dave", "everyone", "all"));
        check(&mut room, read(5, 1, "alice"), &[16]);
        check(&mut room, read(5, 3, "bob"), &[6, 7, 8]);
    }

    #[test]
    fn reads_in_a_large_room_find_the_few_visible_messages() {
        const COUNT: u64 = 200_000;
        let mut room = Room::new();
        // Mostly direct messages between others; every 40,000th a broadcast, every 25,000th
        // (offset by 7) a direct message to alice.
        let mut visible = Vec::new();
        for id in 1..=COUNT {
            let to = if id % 40_000 == 0 {
                "all"
            } else if id % 25_000 == 7 {
                "alice"
            } else if id % 2 == 0 {
                "bob"
            } else {
                "carol"
            };
            if to != "bob" && to != "carol" {
                visible.push(id);
            }
            let outcome = room.handle(OTHER, send("dave", "x", to), T0);
            assert_eq!(outcome.reply, Ok(Response::Id(id)));
        }
        assert_eq!(visible.len(), 13);
        accept(&mut room, OTHER, set_cursor("alice", 100_000));
        let expected_unread: Vec<u64> =
            visible.iter().copied().filter(|&id| id > 100_000).collect();
        assert_eq!(
            expected_unread,
            [
                100_007, 120_000, 125_007, 150_007, 160_000, 175_007, 200_000
            ]
        );

        let peek = unread_of(&mut room, unread("alice", 5, false));
        assert_eq!(ids(&peek.messages), expected_unread[..5]);
        let alice = handoff_of(&mut room, handoff("alice", 3));
        assert_eq!(alice.unread_count, Some(7));
        assert_eq!(ids(&alice.recent_messages), expected_unread[4..]);
        assert_eq!(read_ids(&mut room, read(0, 100, "alice")), visible);
        assert_eq!(
            read_ids(&mut room, read(150_000, 2, "alice")),
            [150_007, 160_000]
        );
        assert_eq!(
            read_ids(&mut room, read(199_998, 100, "")),
            [199_999, 200_000]
        );

        let all = unread_of(&mut room, unread("alice", 100, true));
        assert_eq!(
            (ids(&all.messages), all.last_read_id),
            (expected_unread, COUNT)
        );
        assert_eq!(
            handoff_of(&mut room, handoff("alice", 3)).unread_count,
            Some(0)
        );
    }
}
