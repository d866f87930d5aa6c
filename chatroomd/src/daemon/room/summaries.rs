//! The summaries: every one in id order (ids of their own, not the messages'), indexed by scope
//! so that a scope's latest is found at once, and the handlers that write and read them
//! (`write_summary`, `read_summaries`, `read_latest_summary`).

use protocol::{Response, Summary};

use super::index::Positions;
use super::params::{content_param, holder_name, limit_param, name_param, non_negative};
use super::undo::Undoable;
use super::{Changes, Handled, Room, SessionId};
use crate::shared::time::format_ts;

/// Every summary, in strictly increasing id order, and the positions of each scope's.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Summaries {
    list: Vec<Summary>,
    /// Positions in `list`, by scope; the last of each is that scope's latest.
    by_scope: Positions,
    /// While recording: how many summaries there were when it began.
    recorded_from: Option<usize>,
}

impl Summaries {
    /// Adds `summary`, whose id must be above every id so far.
    pub(super) fn push(&mut self, summary: Summary) {
        self.by_scope.push(&summary.scope, self.list.len());
        self.list.push(summary);
    }

    /// Appends a new summary from `from` with the next id.
    fn append(&mut self, from: &str, scope: &str, content: &str, now: u64) -> Summary {
        let summary = Summary {
            topic_id: None,
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

    /// The id of the newest summary, 0 when there is none.
    pub(super) fn last_id(&self) -> u64 {
        self.list.last().map_or(0, |summary| summary.id)
    }

    /// The latest summary of exactly `scope`.
    pub(super) fn latest(&self, scope: &str) -> Option<&Summary> {
        let position = self.by_scope.get(scope).last()?;
        Some(&self.list[*position])
    }
}

impl Undoable for Summaries {
    fn begin(&mut self) {
        self.recorded_from = Some(self.list.len());
    }

    fn commit(&mut self) {
        self.recorded_from = None;
    }

    /// Drops the summaries appended since, and their index entries with them.
    fn roll_back(&mut self) {
        let Some(count) = self.recorded_from.take() else {
            return;
        };
        while self.list.len() > count {
            let Some(summary) = self.list.pop() else {
                break;
            };
            self.by_scope.pop(&summary.scope, self.list.len());
        }
    }
}

impl Room {
    pub(super) fn write_summary(
        &mut self,
        session: SessionId,
        name: &str,
        content: &str,
        scope: &str,
        now: u64,
    ) -> Handled {
        let name = holder_name(name)?;
        let content = content_param(content)?;
        let scope = name_param("scope", scope)?;
        self.presence.check_not_held_elsewhere(session, name)?;
        let summary = self.summaries.append(name, scope, content, now);
        let id = summary.id;
        let changes = Changes {
            summaries: vec![summary],
            last_seen: self.presence.touch(name, now),
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

    pub(super) fn read_latest_summary(&self, scope: &str) -> Handled {
        let scope = name_param("scope", scope)?;
        let summary = self.summaries.latest(scope).cloned();
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
