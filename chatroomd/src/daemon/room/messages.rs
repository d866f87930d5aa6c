//! The messages: every one in id order beside its [`VisibilityIndex`], and the handlers that
//! write and read them (`send_message`, `read_messages`). Reads cost O(log n + result) at any
//! size: nothing here scans the whole room.

use protocol::{Message, Response};

use super::index::{VisibilityIndex, Visible};
use super::params::optional_name_param;
use super::params::{content_param, holder_name, limit_param, name_param, non_negative};
use super::search::{Filter, Query, SearchIndex};
use super::undo::Undoable;
use super::{Changes, Handled, Room, SessionId};
use crate::shared::time::format_ts;

/// Every message, in strictly increasing id order (a restored history may have gaps), and who
/// can see which.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Messages {
    list: Vec<Message>,
    index: VisibilityIndex,
    /// Which words each message holds, for `search_messages`.
    search: SearchIndex,
    /// While recording: how many messages there were when it began.
    recorded_from: Option<usize>,
}

impl Messages {
    /// Adds `message`, whose id must be above every id so far.
    pub(super) fn push(&mut self, message: Message) {
        self.index.push(&message, self.list.len());
        self.search.push(&message, self.list.len());
        self.list.push(message);
    }

    /// Appends a new message from `from` with the next id.
    pub(super) fn append(
        &mut self,
        from: &str,
        to: &str,
        content: &str,
        human: bool,
        now: u64,
    ) -> Message {
        let message = Message {
            topic_id: None,
            id: self.last_id() + 1,
            ts: format_ts(now),
            from: from.to_owned(),
            to: to.to_owned(),
            content: content.to_owned(),
            human,
        };
        self.push(message.clone());
        message
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// The newest message's id, or 0 when there is none.
    pub(super) fn last_id(&self) -> u64 {
        self.list.last().map_or(0, |message| message.id)
    }

    /// The newest message's timestamp, or `None` when there is none.
    pub(super) fn last_ts(&self) -> Option<String> {
        self.list.last().map(|message| message.ts.clone())
    }

    /// Up to `limit` messages with an id above `since_id`, whoever they are to.
    pub(super) fn after(&self, since_id: u64, limit: usize) -> Vec<Message> {
        let start = self.first_position_after(since_id);
        let end = self.list.len().min(start + limit);
        self.list[start..end].to_vec()
    }

    /// The `limit` newest messages, whoever they are to, ascending.
    pub(super) fn newest(&self, limit: usize) -> Vec<Message> {
        let start = self.list.len().saturating_sub(limit);
        self.list[start..].to_vec()
    }

    /// The positions of the messages visible to `name` with an id above `after`.
    pub(super) fn visible_after(&self, name: &str, after: u64) -> Visible<'_> {
        self.index
            .visible_from(name, self.first_position_after(after))
    }

    /// The messages visible to `name` with `after < id <= through`, ascending.
    pub(super) fn visible_between(&self, name: &str, after: u64, through: u64) -> Vec<Message> {
        let visible = self
            .visible_after(name, after)
            .before(self.first_position_after(through));
        self.collect(visible.oldest(usize::MAX))
    }

    /// The messages at these positions.
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

    /// The position of the first message whose id is above `id`.
    fn first_position_after(&self, id: u64) -> usize {
        self.list.partition_point(|message| message.id <= id)
    }
}

impl Undoable for Messages {
    fn begin(&mut self) {
        self.recorded_from = Some(self.list.len());
    }

    fn commit(&mut self) {
        self.recorded_from = None;
    }

    /// Drops the messages appended since, and their index entries with them.
    fn roll_back(&mut self) {
        let Some(count) = self.recorded_from.take() else {
            return;
        };
        while self.list.len() > count {
            let Some(message) = self.list.pop() else {
                break;
            };
            self.index.pop(&message, self.list.len());
            self.search.pop(&message, self.list.len());
        }
    }
}

impl Room {
    pub(super) fn send_message(
        &mut self,
        session: SessionId,
        name: &str,
        content: &str,
        to: &str,
        human: bool,
        now: u64,
    ) -> Handled {
        let name = holder_name(name)?;
        let content = content_param(content)?;
        let to = name_param("to", to)?;
        self.presence.check_not_held_elsewhere(session, name)?;
        let message = self.messages.append(name, to, content, human, now);
        let changes = Changes {
            last_seen: self.presence.touch(name, now),
            messages: vec![message],
            ..Changes::default()
        };
        Ok((Response::Id(changes.messages[0].id), changes))
    }

    pub(super) fn read_messages(&self, since_id: i64, limit: i64, participant: &str) -> Handled {
        let since_id = non_negative("since_id", since_id)?;
        let limit = limit_param("limit", limit)?;
        let participant = optional_name_param("participant", participant)?;
        let messages = match participant {
            Some(participant) => {
                let visible = self.messages.visible_after(participant, since_id);
                self.messages.collect(visible.oldest(limit))
            }
            None => self.messages.after(since_id, limit),
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
