//! The plan of an import: which records a [`Source`] adds to a room, under which ids, and where
//! each cursor lands. Pure: the room is described by a [`Target`], and nothing is changed here.
//!
//! Ids are kept when they fit — every source id above the room's last id of its kind, which an
//! empty room always satisfies — and otherwise numbered on from the room's last id, in the
//! source's order, so a remapped history reads exactly as it did. A cursor is mapped to the new
//! id of the newest source message at or below it in its own scope (a cursor between ids, or
//! above the scope's last message, keeps meaning "read up to there"). Two things are refused:
//! a source already imported — by its fingerprint, or, for a source that has grown since, by the
//! fingerprint of its beginning — and a topic the room already has: merging two histories under
//! one id would splice two conversations that merely chose the same slug, with two statuses and
//! two sets of cursors, into one that neither room had.

use std::collections::{BTreeMap, BTreeSet};

use protocol::{ImportReport, Message, Summary, Topic};

use super::source::{Source, fingerprint};

/// What the plan needs to know about the room it imports into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub last_message_id: u64,
    pub last_summary_id: u64,
    /// The room's records of the topics the source has too.
    pub topics: BTreeMap<String, Topic>,
    /// The newest message id of each scope the room has messages in (`None`: the main room).
    pub scope_last: BTreeMap<Option<String>, u64>,
    /// Every stored cursor, by (name, scope).
    pub cursors: BTreeMap<(String, Option<String>), u64>,
    /// The fingerprints of the sources imported before.
    pub imported: BTreeSet<String>,
    /// The sources imported before that had no topics, by what they held: a source that has
    /// grown since is recognised by the fingerprint of its first records. (One with topics is
    /// recognised by them: they are here already.)
    pub earlier: Vec<EarlierImport>,
}

/// A source without topics imported before: its fingerprint and how many records it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierImport {
    pub fingerprint: String,
    pub messages: usize,
    pub summaries: usize,
}

/// A cursor to store: `name` has read up to `last_read_id` in one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCursor {
    pub name: String,
    pub topic_id: Option<String>,
    pub last_read_id: u64,
}

/// The records an import appends, with their ids in this room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In the source's order, with the ids they get here.
    pub messages: Vec<Message>,
    pub summaries: Vec<Summary>,
    pub topics: Vec<Topic>,
    /// The cursors to store (each at or above the room's own, which it replaces).
    pub cursors: Vec<PlannedCursor>,
    /// Cursors of the source left out: the participant has unread messages in that scope of
    /// this room, which the imported cursor (past them, since imported ids come after) would
    /// mark read. The imported messages are then unread too; nothing is hidden.
    pub cursors_kept: Vec<(String, Option<String>)>,
    /// Whether any id had to move.
    pub remapped: bool,
    pub fingerprint: String,
}

/// Why a source cannot be imported into this room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "this source was imported before (fingerprint {fingerprint}); importing it again would duplicate its history"
    )]
    AlreadyImported { fingerprint: String },
    #[error(
        "this source was imported before (fingerprint {fingerprint}) and has grown since by {} and {}; importing it again would duplicate what was imported",
        count(*messages, "message", "messages"),
        count(*summaries, "summary", "summaries")
    )]
    Grown {
        fingerprint: String,
        messages: usize,
        summaries: usize,
    },
    #[error("{}", topics_exist(ids, *as_imported))]
    TopicsExist {
        ids: Vec<String>,
        /// Every one of them is here with the source's title, creator and creation time: the
        /// source (an earlier state of it) was imported before.
        as_imported: bool,
    },
    /// Every empty source has the same fingerprint, and importing one changes nothing.
    #[error("the source holds no messages, summaries or topics; there is nothing to import")]
    Empty,
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn topics_exist(ids: &[String], as_imported: bool) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    let (topics, exist) = match quoted.as_slice() {
        [one] => (format!("topic {one}"), "exists"),
        _ => (format!("topics {}", quoted.join(", ")), "exist"),
    };
    match as_imported {
        true => format!(
            "{topics} already {exist} in this room as the source has them: the source was imported before (it may have grown since); nothing was imported"
        ),
        false => format!("{topics} already {exist} in this room; nothing was imported"),
    }
}

/// Plans importing `source` into the room `target` describes.
pub fn plan(source: &Source, target: &Target) -> Result<Plan, PlanError> {
    if source.messages.is_empty() && source.summaries.is_empty() && source.topics.is_empty() {
        return Err(PlanError::Empty);
    }
    if target.imported.contains(&source.fingerprint) {
        return Err(PlanError::AlreadyImported {
            fingerprint: source.fingerprint.clone(),
        });
    }
    if source.topics.is_empty()
        && let Some(grown) = grown_from(source, &target.earlier)
    {
        return Err(grown);
    }
    let clashing: Vec<&Topic> = source
        .topics
        .iter()
        .filter(|topic| target.topics.contains_key(&topic.id))
        .collect();
    if !clashing.is_empty() {
        let same = |topic: &Topic| {
            let ours = &target.topics[&topic.id];
            (&ours.title, &ours.created_by, &ours.created_at)
                == (&topic.title, &topic.created_by, &topic.created_at)
        };
        return Err(PlanError::TopicsExist {
            as_imported: clashing.iter().all(|topic| same(topic)),
            ids: clashing.iter().map(|topic| topic.id.clone()).collect(),
        });
    }

    let keep_message_ids = source
        .messages
        .first()
        .is_none_or(|first| first.id > target.last_message_id);
    let keep_summary_ids = source
        .summaries
        .first()
        .is_none_or(|first| first.id > target.last_summary_id);

    // The new id of each source message, per scope, in ascending old id: what cursors map by.
    let mut by_scope: BTreeMap<Option<String>, Vec<(u64, u64)>> = BTreeMap::new();
    let mut messages = Vec::with_capacity(source.messages.len());
    for (offset, message) in source.messages.iter().enumerate() {
        let id = match keep_message_ids {
            true => message.id,
            false => target.last_message_id + offset as u64 + 1,
        };
        by_scope
            .entry(message.topic_id.clone())
            .or_default()
            .push((message.id, id));
        messages.push(Message {
            id,
            ..message.clone()
        });
    }
    let summaries = source
        .summaries
        .iter()
        .enumerate()
        .map(|(offset, summary)| Summary {
            id: match keep_summary_ids {
                true => summary.id,
                false => target.last_summary_id + offset as u64 + 1,
            },
            ..summary.clone()
        })
        .collect();

    let mut cursors = Vec::new();
    let mut cursors_kept = Vec::new();
    for cursor in &source.cursors {
        let scope = &cursor.topic_id;
        // Mapped even when the ids stay: a kept value between or above the source's ids could
        // name a message of this room's, and marking that read is not the import's to do.
        let last_read_id = mapped(by_scope.get(scope), cursor.last_read_id);
        if last_read_id == 0 {
            // Nothing read: the same as no cursor.
            continue;
        }
        let key = (cursor.name.clone(), scope.clone());
        let ours = target.cursors.get(&key).copied().unwrap_or(0);
        let scope_last = target.scope_last.get(scope).copied().unwrap_or(0);
        if ours < scope_last {
            cursors_kept.push(key);
            continue;
        }
        cursors.push(PlannedCursor {
            name: cursor.name.clone(),
            topic_id: scope.clone(),
            last_read_id: last_read_id.max(ours),
        });
    }

    Ok(Plan {
        messages,
        summaries,
        topics: source.topics.clone(),
        cursors,
        cursors_kept,
        remapped: !(keep_message_ids && keep_summary_ids),
        fingerprint: source.fingerprint.clone(),
    })
}

/// The earlier import `source` is a grown copy of: one whose fingerprint is that of the
/// source's first records.
fn grown_from(source: &Source, earlier: &[EarlierImport]) -> Option<PlanError> {
    earlier.iter().find_map(|import| {
        let fits =
            import.messages <= source.messages.len() && import.summaries <= source.summaries.len();
        let beginning = fits.then(|| {
            fingerprint(
                &[],
                &source.messages[..import.messages],
                &source.summaries[..import.summaries],
            )
        })?;
        (beginning == import.fingerprint).then(|| PlanError::Grown {
            fingerprint: import.fingerprint.clone(),
            messages: source.messages.len() - import.messages,
            summaries: source.summaries.len() - import.summaries,
        })
    })
}

/// The new id of the newest message at or below `old` among `ids` (old, new ascending), 0 when
/// there is none.
fn mapped(ids: Option<&Vec<(u64, u64)>>, old: u64) -> u64 {
    let Some(ids) = ids else {
        return 0;
    };
    let below = ids.partition_point(|(source_id, _)| *source_id <= old);
    below.checked_sub(1).map_or(0, |index| ids[index].1)
}

impl Plan {
    /// What the import brought in (or, with `dry_run`, would bring in) from `source`.
    pub fn report(&self, source: &Source, dry_run: bool) -> ImportReport {
        ImportReport {
            source: source.dir.display().to_string(),
            format: source.format.as_str().to_owned(),
            dry_run,
            messages: self.messages.len() as u64,
            summaries: self.summaries.len() as u64,
            topics: self.topics.len() as u64,
            cursors: self.cursors.len() as u64,
            remapped: self.remapped,
            first_message_id: self.messages.first().map_or(0, |message| message.id),
            last_message_id: self.messages.last().map_or(0, |message| message.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use protocol::TopicStatus;

    use super::*;
    use crate::daemon::import::source::{Format, SourceCursor, fingerprint};

    fn message(id: u64, topic: Option<&str>) -> Message {
        Message {
            id,
            ts: "2026-04-11T12:00:00Z".into(),
            topic_id: topic.map(str::to_owned),
            from: "claude".into(),
            to: "all".into(),
            content: format!("m{id}"),
            human: false,
        }
    }

    fn summary(id: u64) -> Summary {
        Summary {
            id,
            ts: "2026-04-11T12:00:00Z".into(),
            topic_id: None,
            from: "claude".into(),
            scope: "all".into(),
            content: format!("s{id}"),
        }
    }

    fn topic(id: &str) -> Topic {
        Topic {
            id: id.into(),
            title: id.to_uppercase(),
            status: TopicStatus::Closed,
            created_by: "system".into(),
            created_at: "2026-04-11T12:00:00Z".into(),
            closed_at: Some("2026-04-11T13:00:00Z".into()),
            last_activity_ts: "2026-04-11T13:00:00Z".into(),
        }
    }

    fn cursor(name: &str, topic: Option<&str>, id: u64) -> SourceCursor {
        SourceCursor {
            name: name.into(),
            topic_id: topic.map(str::to_owned),
            last_read_id: id,
        }
    }

    /// A source with main-room messages 2, 4, 7 and topic `t` messages 5, 9; summaries 1, 3.
    fn source(cursors: Vec<SourceCursor>) -> Source {
        let messages = vec![
            message(2, None),
            message(4, None),
            message(5, Some("t")),
            message(7, None),
            message(9, Some("t")),
        ];
        let summaries = vec![summary(1), summary(3)];
        let topics = vec![topic("t")];
        Source {
            dir: PathBuf::from("/src/.chatroom"),
            format: Format::V1,
            fingerprint: fingerprint(&topics, &messages, &summaries),
            messages,
            summaries,
            topics,
            cursors,
        }
    }

    fn ids(plan: &Plan) -> (Vec<u64>, Vec<u64>) {
        (
            plan.messages.iter().map(|m| m.id).collect(),
            plan.summaries.iter().map(|s| s.id).collect(),
        )
    }

    fn planned(plan: &Plan) -> Vec<(&str, Option<&str>, u64)> {
        plan.cursors
            .iter()
            .map(|c| (c.name.as_str(), c.topic_id.as_deref(), c.last_read_id))
            .collect()
    }

    #[test]
    fn an_empty_room_keeps_every_id() {
        let source = source(vec![cursor("ana", None, 6), cursor("ana", Some("t"), 5)]);
        let plan = plan(&source, &Target::default()).unwrap();
        assert_eq!(ids(&plan), (vec![2, 4, 5, 7, 9], vec![1, 3]));
        assert!(!plan.remapped);
        // A cursor between ids becomes the id below it: the same messages are unread.
        assert_eq!(planned(&plan), [("ana", None, 4), ("ana", Some("t"), 5)]);
        assert_eq!(plan.topics, source.topics);
        let report = plan.report(&source, true);
        assert_eq!(
            (
                report.messages,
                report.summaries,
                report.topics,
                report.cursors
            ),
            (5, 2, 1, 2)
        );
        assert_eq!((report.first_message_id, report.last_message_id), (2, 9));
        assert_eq!((report.format.as_str(), report.dry_run), ("v1", true));
    }

    #[test]
    fn a_room_with_records_numbers_the_source_on_in_its_order() {
        let target = Target {
            last_message_id: 10,
            last_summary_id: 2,
            ..Target::default()
        };
        let plan = plan(&source(vec![]), &target).unwrap();
        assert_eq!(ids(&plan), (vec![11, 12, 13, 14, 15], vec![3, 4]));
        let contents: Vec<_> = plan.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            ["m2", "m4", "m5", "m7", "m9"],
            "the order is the source's"
        );
        assert!(plan.remapped);
        assert_eq!(plan.messages[2].topic_id.as_deref(), Some("t"));
    }

    #[test]
    fn ids_that_fit_above_the_room_are_kept_kind_by_kind() {
        let target = Target {
            last_message_id: 1,
            last_summary_id: 1,
            ..Target::default()
        };
        let plan = plan(&source(vec![]), &target).unwrap();
        assert_eq!(ids(&plan), (vec![2, 4, 5, 7, 9], vec![2, 3]));
        assert!(plan.remapped, "the summaries moved");
    }

    #[test]
    fn cursors_map_to_the_newest_message_at_or_below_them_in_their_scope() {
        let target = Target {
            last_message_id: 100,
            ..Target::default()
        };
        // New ids: main 2→101, 4→102, 7→104; topic t 5→103, 9→105.
        let check = |topic: Option<&str>, old: u64, new: Option<u64>| {
            let plan = plan(&source(vec![cursor("ana", topic, old)]), &target).unwrap();
            let expected: Vec<_> = new.into_iter().map(|id| ("ana", topic, id)).collect();
            assert_eq!(planned(&plan), expected, "{topic:?} {old}");
        };
        check(None, 2, Some(101));
        check(None, 3, Some(101)); // between ids
        check(None, 5, Some(102)); // 5 is a topic's message: the main room's newest at or below is 4
        check(None, 7, Some(104));
        check(None, 50, Some(104)); // above the scope's last
        check(None, 1, None); // below every message: nothing read
        check(None, 0, None);
        check(Some("t"), 4, None);
        check(Some("t"), 5, Some(103));
        check(Some("t"), 8, Some(103));
        check(Some("t"), 9, Some(105));
    }

    #[test]
    fn a_cursor_never_marks_the_rooms_own_unread_messages_read() {
        let target = Target {
            last_message_id: 10,
            scope_last: [(None, 10)].into(),
            cursors: [
                (("ana".to_owned(), None), 10),
                (("bob".to_owned(), None), 6),
            ]
            .into(),
            ..Target::default()
        };
        let source = source(vec![
            cursor("ana", None, 4),
            cursor("bob", None, 7),
            cursor("cyd", None, 7),
            cursor("bob", Some("t"), 9),
        ]);
        let plan = plan(&source, &target).unwrap();
        // ana read everything here: her imported cursor moves on to the import's message 4.
        // bob and cyd have unread messages here: their main-room cursors stay. bob's cursor in
        // the new topic has nothing of this room to hide.
        assert_eq!(planned(&plan), [("ana", None, 12), ("bob", Some("t"), 15)]);
        assert_eq!(
            plan.cursors_kept,
            [("bob".to_owned(), None), ("cyd".to_owned(), None)]
        );
    }

    #[test]
    fn a_source_imported_before_or_a_topic_the_room_has_is_refused() {
        let source = source(vec![]);
        let target = Target {
            imported: [source.fingerprint.clone()].into(),
            ..Target::default()
        };
        let error = plan(&source, &target).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "this source was imported before (fingerprint {}); importing it again would duplicate its history",
                source.fingerprint
            )
        );
        let ours = |id: &str| Topic {
            title: "Ours".into(),
            ..topic(id)
        };
        let target = Target {
            topics: [("t".to_owned(), ours("t")), ("u".to_owned(), ours("u"))].into(),
            ..Target::default()
        };
        assert_eq!(
            plan(&source, &target).unwrap_err().to_string(),
            "topic 't' already exists in this room; nothing was imported"
        );
        let mut two = source.clone();
        two.topics.push(topic("u"));
        assert_eq!(
            plan(&two, &target).unwrap_err().to_string(),
            "topics 't', 'u' already exist in this room; nothing was imported"
        );
        // Here as the source has them (the status may differ): imported before, and grown.
        let target = Target {
            topics: [(
                "t".to_owned(),
                Topic {
                    status: protocol::TopicStatus::Open,
                    closed_at: None,
                    ..topic("t")
                },
            )]
            .into(),
            ..Target::default()
        };
        assert_eq!(
            plan(&source, &target).unwrap_err().to_string(),
            "topic 't' already exists in this room as the source has them: the source was imported before (it may have grown since); nothing was imported"
        );
    }

    #[test]
    fn an_empty_source_is_refused() {
        let mut empty = source(vec![cursor("ana", None, 3)]);
        empty.messages.clear();
        empty.summaries.clear();
        empty.topics.clear();
        assert_eq!(plan(&empty, &Target::default()), Err(PlanError::Empty));
        // Topics alone are something to import.
        empty.topics.push(topic("t"));
        let plan = plan(&empty, &Target::default()).unwrap();
        assert!(plan.messages.is_empty() && plan.cursors.is_empty() && !plan.remapped);
        let report = plan.report(&empty, false);
        assert_eq!(
            (
                report.topics,
                report.first_message_id,
                report.last_message_id
            ),
            (1, 0, 0)
        );
    }

    #[test]
    fn a_source_without_topics_that_grew_since_its_import_is_refused() {
        let mut before = source(vec![]);
        before.topics.clear();
        before.messages.retain(|message| message.topic_id.is_none());
        before.messages.truncate(2);
        before.summaries.truncate(1);
        before.fingerprint = fingerprint(&[], &before.messages, &before.summaries);
        let mut grown = source(vec![]);
        grown.topics.clear();
        grown.messages.retain(|message| message.topic_id.is_none());
        grown.fingerprint = fingerprint(&[], &grown.messages, &grown.summaries);
        let earlier = EarlierImport {
            fingerprint: before.fingerprint.clone(),
            messages: before.messages.len(),
            summaries: before.summaries.len(),
        };
        let target = Target {
            last_message_id: 4,
            earlier: vec![earlier.clone()],
            ..Target::default()
        };
        assert_eq!(
            plan(&grown, &target).unwrap_err(),
            PlanError::Grown {
                fingerprint: before.fingerprint.clone(),
                messages: 1,
                summaries: 1
            }
        );
        // A source that only begins alike is another source.
        let mut other = grown.clone();
        other.messages[0].content = "changed".into();
        other.fingerprint = fingerprint(&[], &other.messages, &other.summaries);
        assert!(plan(&other, &target).is_ok());
        // And a shorter one is no grown copy.
        let shorter = Target {
            earlier: vec![EarlierImport {
                messages: 9,
                ..earlier
            }],
            ..target
        };
        assert!(plan(&grown, &shorter).is_ok());
    }
}
