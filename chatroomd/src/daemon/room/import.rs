//! `chatroomd import` in the room: planning a checked [`Source`] against what the room holds
//! and carrying the plan out through the room's parts — topics, messages, summaries, cursors and
//! the import's own record — in one call, so the owner persists it as one batch or rolls all of
//! it back. The rules (which ids, which cursors, what is refused) are the pure plan's
//! (`crate::daemon::import::plan`); this is where they meet the room.

use protocol::{ImportReport, Refusal};

use super::{Changes, ImportRecord, Room};
use crate::daemon::import::{self, EarlierImport, PlanError, Source, Target};
use crate::shared::time::format_ts;

impl Room {
    /// Whether the room holds no history at all: no message, no summary, no topic. Such a room
    /// keeps an import's ids exactly, and is the one `chatroomd status` offers an import to.
    pub fn is_empty(&self) -> bool {
        self.messages.len() == 0 && self.summaries.len() == 0 && !self.has_topics()
    }

    /// What the plan of importing `source` needs to know of this room.
    fn import_target(&self, source: &Source) -> Target {
        let mut target = Target {
            last_message_id: self.messages.last_id(),
            last_summary_id: self.summaries.last_id(),
            topics: source
                .topics
                .iter()
                .filter_map(|topic| self.topics.get(&topic.id))
                .map(|topic| (topic.id.clone(), topic.clone()))
                .collect(),
            earlier: self
                .imports()
                .into_iter()
                .filter(|record| record.topics == 0)
                .map(|record| EarlierImport {
                    fingerprint: record.fingerprint,
                    messages: record.messages as usize,
                    summaries: record.summaries as usize,
                })
                .collect(),
            ..Target::default()
        };
        if self.imported(&source.fingerprint).is_some() {
            target.imported.insert(source.fingerprint.clone());
        }
        for cursor in &source.cursors {
            let scope = cursor.topic_id.as_deref();
            target
                .scope_last
                .entry(cursor.topic_id.clone())
                .or_insert_with(|| self.messages.scope_last_id(scope));
            let ours = self.cursors.get(scope, &cursor.name);
            if ours > 0 {
                target
                    .cursors
                    .insert((cursor.name.clone(), cursor.topic_id.clone()), ours);
            }
        }
        target
    }

    /// Imports `source` at `now`: its topics, then its messages and summaries in its order with
    /// the ids the plan gives them, then its cursors, and the record that it was imported (by
    /// its fingerprint), all as one change. With `dry_run` only the report, and nothing changes.
    /// A refusal changes nothing either.
    pub fn import(
        &mut self,
        source: &Source,
        dry_run: bool,
        now: u64,
    ) -> Result<(ImportReport, Changes), Refusal> {
        let plan = import::plan(source, &self.import_target(source)).map_err(|err| match err {
            PlanError::AlreadyImported { .. }
            | PlanError::Grown { .. }
            | PlanError::TopicsExist { .. } => Refusal::conflict(err.to_string()),
            PlanError::Empty => Refusal::invalid(err.to_string()),
        })?;
        let report = plan.report(source, dry_run);
        if dry_run {
            return Ok((report, Changes::default()));
        }
        for topic in &plan.topics {
            self.topics.insert(topic.clone());
        }
        for message in &plan.messages {
            self.messages.push(message.clone());
        }
        for summary in &plan.summaries {
            self.summaries.push(summary.clone());
        }
        let mut changes = Changes {
            topics: !plan.topics.is_empty(),
            topic_records: plan.topics.clone(),
            ..Changes::default()
        };
        for cursor in &plan.cursors {
            let scope = cursor.topic_id.as_deref();
            if self
                .cursors
                .advance(scope, &cursor.name, cursor.last_read_id, None)
            {
                changes.cursors |= scope.is_none();
                changes.topic_cursors |= scope.is_some();
            }
        }
        changes.merge(self.record_import(ImportRecord {
            fingerprint: plan.fingerprint.clone(),
            source: report.source.clone(),
            format: report.format.clone(),
            imported_at: format_ts(now),
            messages: report.messages,
            summaries: report.summaries,
            topics: report.topics,
            cursors: report.cursors,
            first_message_id: report.first_message_id,
            last_message_id: report.last_message_id,
        }));
        changes.messages = plan.messages;
        changes.summaries = plan.summaries;
        Ok((report, changes))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use protocol::{RefusalKind, Request, Response, TopicStatus};
    use serde_json::json;

    use super::*;
    use crate::daemon::import::source::{self, Format, SourceFiles};
    use crate::daemon::room::testkit::*;

    /// The v2 fixture of the end-to-end tests, from its bytes.
    fn v2_source() -> Source {
        let fixture = |name: &str| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/import/v2/.chatroom_v2")
                .join(name);
            Some(std::fs::read(path).unwrap())
        };
        let files = SourceFiles {
            messages: fixture(source::MESSAGES_FILE),
            summaries: fixture(source::SUMMARIES_FILE),
            topics: fixture(source::TOPICS_FILE),
            cursors: fixture(source::CURSORS_FILE),
            topic_cursors: None,
        };
        source::parse(Path::new("/src/.chatroom_v2"), Format::V2, &files).unwrap()
    }

    fn v1_source() -> Source {
        let messages = (1..=3)
            .map(|id| json!({"id": id, "ts": "2026-03-01T09:00:00Z", "from": "ana", "to": "all", "content": format!("v1 {id}")}).to_string() + "\n")
            .collect::<String>();
        let files = SourceFiles {
            messages: Some(messages.into()),
            cursors: Some(br#"{"ana": 2, "bob": 3}"#.to_vec()),
            ..SourceFiles::default()
        };
        source::parse(Path::new("/src/.chatroom"), Format::V1, &files).unwrap()
    }

    /// Everything a client could observe of the room's history and cursors.
    type Snapshot = (
        Vec<protocol::Message>,
        Vec<protocol::Summary>,
        Vec<protocol::Topic>,
        Vec<(String, u64)>,
        Vec<(String, String, u64)>,
        Vec<ImportRecord>,
    );

    fn snapshot(room: &Room) -> Snapshot {
        (
            room.messages.iter().cloned().collect(),
            room.summaries.iter().cloned().collect(),
            room.topics(),
            room.cursors(),
            room.topic_cursors(),
            room.imports(),
        )
    }

    fn unread_in(room: &mut Room, name: &str, topic: &str) -> (u64, Vec<u64>) {
        let request = Request::ReadUnread {
            name: name.into(),
            limit: 50,
            mark_read: false,
            topic_id: topic.into(),
        };
        match accept(room, OTHER, request).0 {
            Response::Unread(unread) => (
                unread.last_read_id,
                unread.messages.iter().map(|m| m.id).collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_v2_source_lands_in_an_empty_room_as_it_was() {
        let mut room = Room::new();
        assert!(room.is_empty());
        let source = v2_source();
        let (report, changes) = room.import(&source, false, T0).unwrap();
        assert!(!report.remapped && !report.dry_run);
        assert_eq!(
            (
                report.messages,
                report.summaries,
                report.topics,
                report.cursors
            ),
            (6, 2, 2, 3)
        );
        assert_eq!((report.first_message_id, report.last_message_id), (1, 6));
        assert!(changes.needs_sync() && changes.topics && changes.topic_cursors && changes.imports);
        assert!(!changes.cursors, "a v2 source has no main-room cursor");
        assert_eq!(changes.messages.len(), 6);
        assert_eq!(changes.topic_records.len(), 2);
        assert!(!room.is_empty());
        let closed = room.topic("release-notes").unwrap();
        assert_eq!(closed.status, TopicStatus::Closed);
        assert_eq!(closed.closed_at.as_deref(), Some("2026-04-11T12:05:00Z"));
        // claude read up to 4 in parser-refactor: 6 is unread; codex read 3: 4 and 6.
        assert_eq!(
            unread_in(&mut room, "claude", "parser-refactor"),
            (4, vec![6])
        );
        assert_eq!(
            unread_in(&mut room, "codex", "parser-refactor"),
            (3, vec![4, 6])
        );
        assert_eq!(unread_in(&mut room, "claude", "release-notes"), (5, vec![]));
        assert_eq!(room.imported(&source.fingerprint).unwrap().messages, 6);
        // Closed stays closed: writes there are refused as in the source.
        let refusal = refuse(
            &mut room,
            OTHER,
            Request::SendMessage {
                name: "x".into(),
                content: "late".into(),
                to: "all".into(),
                topic_id: "release-notes".into(),
            },
        );
        assert_eq!(refusal.message, "topic 'release-notes' is closed");
    }

    #[test]
    fn a_second_import_of_the_same_source_is_refused_and_changes_nothing() {
        let mut room = Room::new();
        let source = v2_source();
        room.import(&source, false, T0).unwrap();
        let before = room.clone();
        let refusal = room.import(&source, true, T0).unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Conflict);
        assert!(
            refusal
                .message
                .starts_with("this source was imported before"),
            "{refusal}"
        );
        assert!(room == before);
    }

    #[test]
    fn a_v1_source_after_the_rooms_own_messages_is_renumbered_with_its_cursors() {
        let mut room = populated_room();
        let last = room.last_message_id();
        // ana has read everything here; bob has not.
        accept(
            &mut room,
            OTHER,
            Request::SetCursor {
                name: "ana".into(),
                message_id: last as i64,
                topic_id: String::new(),
            },
        );
        let (report, changes) = room.import(&v1_source(), false, T0).unwrap();
        assert!(report.remapped);
        assert_eq!(
            (report.first_message_id, report.last_message_id),
            (last + 1, last + 3)
        );
        assert_eq!(
            report.cursors, 1,
            "bob's cursor would hide his unread messages here"
        );
        assert!(changes.cursors);
        assert_eq!(room.cursor(None, "ana"), last + 2);
        assert_eq!(room.cursor(None, "bob"), 0);
    }

    #[test]
    fn a_dry_run_reports_and_changes_nothing() {
        let mut room = populated_room();
        let before = room.clone();
        let (report, changes) = room.import(&v2_source(), true, T0).unwrap();
        assert!(report.dry_run && report.remapped);
        assert!(changes.is_empty());
        assert!(room == before);
    }

    #[test]
    fn an_import_rolls_back_whole() {
        let mut room = populated_room();
        let before = snapshot(&room);
        room.begin();
        room.import(&v2_source(), false, T0).unwrap();
        room.roll_back();
        assert_eq!(snapshot(&room), before);
        // And the same source can be imported then: nothing of it was kept.
        assert!(room.import(&v2_source(), false, T0).is_ok());
    }

    #[test]
    fn a_topic_the_room_has_is_refused() {
        let mut room = Room::new();
        accept(
            &mut room,
            OTHER,
            Request::OpenTopic {
                topic_id: "release-notes".into(),
                title: "Ours".into(),
                name: String::new(),
            },
        );
        assert!(!room.is_empty());
        let before = room.clone();
        let refusal = room.import(&v2_source(), false, T0).unwrap_err();
        assert_eq!(
            refusal.message,
            "topic 'release-notes' already exists in this room; nothing was imported"
        );
        assert!(room == before);
    }
}
