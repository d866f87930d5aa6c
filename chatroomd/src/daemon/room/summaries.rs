//! The summaries: every one in id order (ids of their own, not the messages'), indexed by room
//! scope (the main room or a topic) and summary scope (`"all"` or a name) so that the latest of
//! either is found at once, and the handlers that write and read them (`write_summary`,
//! `read_summaries`, `read_latest_summary`).

use protocol::{Response, Summary};

use super::index::{ByScope, Positions};
use super::params::{content_param, holder_name, limit_param, name_param, non_negative};
use super::topics::Scope;
use super::undo::{AppendedList, Undoable};
use super::{BROADCAST, Changes, Handled, Room, SessionId};
use crate::shared::time::format_ts;

/// Every summary, in strictly increasing id order, and the positions of each scope's.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Summaries {
    list: AppendedList<Summary>,
    /// Positions in `list`, by room scope, then by summary scope; the last of each is the
    /// latest.
    scopes: ByScope<Positions>,
}

impl Summaries {
    /// Adds `summary`, whose id must be above every id so far.
    pub(super) fn push(&mut self, summary: Summary) {
        let position = self.list.len();
        self.scopes
            .get_or_make(summary.topic_id.as_ref())
            .push(&summary.scope, position);
        self.list.push(summary);
    }

    /// Appends a new summary from `from` to `room_scope` with the next id.
    fn append(
        &mut self,
        from: &str,
        scope: &str,
        content: &str,
        room_scope: Scope<'_>,
        now: u64,
    ) -> Summary {
        let summary = Summary {
            topic_id: room_scope.map(str::to_owned),
            id: self.last_id() + 1,
            ts: format_ts(now),
            from: from.to_owned(),
            scope: scope.to_owned(),
            content: content.to_owned(),
        };
        self.push(summary.clone());
        summary
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Every summary, in id order.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Summary> {
        self.list.iter()
    }

    /// The id of the newest summary, 0 when there is none.
    pub(super) fn last_id(&self) -> u64 {
        self.list.last().map_or(0, |summary| summary.id)
    }

    /// The latest summary in `room_scope` of exactly `scope`.
    pub(super) fn latest(&self, room_scope: Scope<'_>, scope: &str) -> Option<&Summary> {
        let position = self.scopes.get(room_scope)?.get(scope).last()?;
        Some(&self.list[*position])
    }

    /// The latest summary in `room_scope` that concerns `name`: of scope `"all"` or `name` (only
    /// `"all"` without a name).
    pub(super) fn latest_for(&self, room_scope: Scope<'_>, name: Option<&str>) -> Option<&Summary> {
        let latest_all = self.latest(room_scope, BROADCAST);
        let latest_own = name.and_then(|name| self.latest(room_scope, name));
        // Ids grow with each summary, so the larger id is the newer one.
        latest_all
            .into_iter()
            .chain(latest_own)
            .max_by_key(|summary| summary.id)
    }
}

impl Undoable for Summaries {
    fn begin(&mut self) {
        self.list.begin();
    }

    fn commit(&mut self) {
        self.list.commit();
    }

    /// Drops the summaries appended since, and their index entries with them.
    fn roll_back(&mut self) {
        let scopes = &mut self.scopes;
        self.list.roll_back(|summary, position| {
            scopes.pop(summary.topic_id.as_ref(), |positions| {
                positions.pop(&summary.scope, position);
            });
        });
    }
}

impl Room {
    pub(super) fn write_summary(
        &mut self,
        session: SessionId,
        name: &str,
        content: &str,
        scope: &str,
        topic_id: &str,
        now: u64,
    ) -> Handled {
        let name = holder_name(name)?;
        let content = content_param(content)?;
        let scope = name_param("scope", scope)?;
        let room_scope = self.write_scope(topic_id)?;
        self.presence.check_not_held_elsewhere(session, name)?;
        let summary = self.summaries.append(name, scope, content, room_scope, now);
        let id = summary.id;
        let changes = Changes {
            last_seen: self.presence.touch(name, now),
            topic_activity: self.touch_scope(room_scope, &summary.ts),
            summaries: vec![summary],
            ..Changes::default()
        };
        Ok((Response::Id(id), changes))
    }

    pub(super) fn read_summaries(&self, since_id: i64, limit: i64) -> Handled {
        let since_id = non_negative("since_id", since_id)?;
        let limit = limit_param("limit", limit)?;
        let list = &self.summaries.list;
        let start = list.partition_point(|summary| summary.id <= since_id);
        let end = list.len().min(start + limit);
        Ok((
            Response::Summaries(list[start..end].to_vec()),
            Changes::default(),
        ))
    }

    pub(super) fn read_latest_summary(&self, scope: &str, topic_id: &str) -> Handled {
        let scope = name_param("scope", scope)?;
        let room_scope = self.read_scope(topic_id)?;
        let summary = self.summaries.latest(room_scope, scope).cloned();
        Ok((Response::Summary(summary), Changes::default()))
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Response, Summary};

    use crate::daemon::room::testkit::*;
    use crate::daemon::room::{Changes, Room};
    use crate::shared::time::format_ts;

    #[test]
    fn read_summaries_pages_by_id_across_scopes() {
        // Summary 1 is for all, summary 2 for alice.
        let mut room = populated_room();
        accept(&mut room, OTHER, summarize("carol", "third", "carol"));
        let page = |room: &mut Room, since_id: i64, limit: i64| -> Vec<u64> {
            let request = protocol::Request::ReadSummaries { since_id, limit };
            match accept(room, OTHER, request).0 {
                Response::Summaries(summaries) => summaries.iter().map(|s| s.id).collect(),
                other => panic!("not summaries: {other:?}"),
            }
        };
        assert_eq!(page(&mut room, 0, 100), [1, 2, 3]);
        assert_eq!(page(&mut room, 0, 2), [1, 2]);
        assert_eq!(page(&mut room, 2, 100), [3]);
        assert_eq!(page(&mut room, 3, 100), Vec::<u64>::new());
        assert_eq!(page(&mut room, 99, 1), Vec::<u64>::new());
    }

    #[test]
    fn summaries_have_their_own_ids_and_are_found_by_exact_scope() {
        let mut room = populated_room();
        assert_eq!(room.summary_count(), 2);
        let (reply, changes) =
            accept_at(&mut room, OTHER, summarize("carol", "newer", "all"), T0 + 3);
        assert_eq!(
            reply,
            Response::Id(3),
            "summary ids do not follow message ids"
        );
        let expected = Summary {
            topic_id: None,
            id: 3,
            ts: format_ts(T0 + 3),
            from: "carol".into(),
            scope: "all".into(),
            content: "newer".into(),
        };
        assert_eq!(
            changes,
            Changes {
                summaries: vec![expected.clone()],
                ..Changes::default()
            }
        );
        assert_eq!(room.message_count(), 5, "a summary is not a message");
        assert_eq!(summary_of(&mut room, "all"), Some(expected));
        assert_eq!(
            summary_of(&mut room, "alice").map(|summary| summary.id),
            Some(2)
        );
        assert_eq!(
            summary_of(&mut room, "Alice"),
            None,
            "scopes compare exactly"
        );
        assert_eq!(summary_of(&mut room, "bob"), None);
    }
}
