//! `chatroomd import` in the batch: who may import, and the refusals that need the daemon's
//! facts rather than the room's. The source arrives read and checked (the connection read it off
//! the owner's thread); the room plans and applies it ([`Room::import`]), and the batch persists
//! it like any write — so an import is durable before its reply, or rolled back whole and
//! refused with the disk's words, like every write of a batch that cannot be stored.

use std::path::Path;

use protocol::{ClientKind, Refusal, Response};
use tracing::info;

use super::{Core, Now};
use crate::daemon::import::{Source, SourceError};
use crate::daemon::room::{Changes, SessionId};

impl Core {
    /// Imports `source` for `session` (a dry run only reports). Only a person's or a command's
    /// session may import: an agent could otherwise rewrite the room's history under everyone.
    pub(super) fn import(
        &mut self,
        session: SessionId,
        source: Result<Source, SourceError>,
        dry_run: bool,
        now: Now,
    ) -> (Result<Response, Refusal>, Changes) {
        let refused = |refusal| (Err(refusal), Changes::default());
        let kind = self.sessions.get(&session).map(|entry| entry.kind);
        if !matches!(kind, Some(ClientKind::Control | ClientKind::Human)) {
            return refused(Refusal::not_allowed(
                "only a person can import a room's history (`chatroomd import DIR`); agent sessions cannot",
            ));
        }
        let source = match source {
            Ok(source) => source,
            Err(err) => return refused(Refusal::invalid(err.0)),
        };
        let own = Path::new(&self.facts.root).join(protocol::paths::STATE_DIR_NAME);
        if source.dir == own {
            return refused(Refusal::invalid(format!(
                "{} is this room's own state directory; there is nothing to import",
                source.dir.display()
            )));
        }
        match self.room.import(&source, dry_run, now.unix) {
            Ok((report, changes)) => {
                info!(
                    session,
                    source = %report.source,
                    format = %report.format,
                    dry_run,
                    messages = report.messages,
                    summaries = report.summaries,
                    topics = report.topics,
                    cursors = report.cursors,
                    remapped = report.remapped,
                    first_message_id = report.first_message_id,
                    last_message_id = report.last_message_id,
                    fingerprint = %source.fingerprint,
                    "import planned"
                );
                (Ok(Response::Imported(report)), changes)
            }
            Err(refusal) => {
                info!(session, source = %source.dir.display(), cause = %refusal, "import refused");
                refused(refusal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use protocol::{ImportReport, RefusalKind, ServerMessage};

    use super::super::{Delivery, Input};
    use super::*;
    use crate::daemon::dedupe::Dedupe;
    use crate::daemon::import::source::{self, Format, SourceFiles};
    use crate::daemon::owner::DaemonFacts;
    use crate::daemon::room::Room;
    use crate::daemon::store::PersistError;

    const T0: u64 = 1_709_210_096;

    fn core() -> (Core, Now) {
        let at = Instant::now();
        let facts = DaemonFacts {
            started: at,
            root: "/repo".into(),
            socket: "/run/s".into(),
            log: "/repo/.chatroom/chatroomd.log".into(),
            import_hint: Some("chatroomd import /repo/.chatroom_v2".into()),
        };
        (
            Core::new(Room::new(), Dedupe::default(), facts, 1, at),
            Now { unix: T0, at },
        )
    }

    fn source_at(dir: &str) -> Source {
        let files = SourceFiles {
            messages: Some(
                br#"{"id": 1, "ts": "2026-04-11T12:00:00Z", "from": "ana", "to": "all", "content": "hi"}
"#
                .to_vec(),
            ),
            cursors: Some(br#"{"ana": 1}"#.to_vec()),
            ..SourceFiles::default()
        };
        source::parse(&PathBuf::from(dir), Format::V1, &files).unwrap()
    }

    fn open(session: SessionId, kind: ClientKind) -> Input {
        Input::Open {
            session,
            kind,
            client_pid: 7,
        }
    }

    fn import(session: SessionId, source: Result<Source, SourceError>, dry_run: bool) -> Input {
        Input::Import {
            session,
            id: 1,
            dry_run,
            source: Box::new(source),
        }
    }

    /// One batch through apply, settle (the disk takes it, or is full) and deliver: the replies.
    fn batch(
        core: &mut Core,
        now: Now,
        inputs: Vec<Input>,
        disk_full: bool,
    ) -> Vec<Result<Response, Refusal>> {
        let plan = core.apply(inputs, now);
        let error = PersistError {
            file: "messages.jsonl".into(),
            cause: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let stored = match disk_full && plan.must_store() {
            true => Err(&error),
            false => Ok(()),
        };
        let settled = core.settle(plan, stored, now);
        let mut replies = Vec::new();
        core.deliver(settled, |_, message| {
            if let ServerMessage::Reply { outcome, .. } = message {
                replies.push(outcome);
            }
            Delivery::Queued
        });
        replies
    }

    fn report_of(reply: &Result<Response, Refusal>) -> &ImportReport {
        match reply {
            Ok(Response::Imported(report)) => report,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_person_or_a_command_imports_and_an_agent_is_refused() {
        let (mut core, now) = core();
        let replies = batch(
            &mut core,
            now,
            vec![
                open(1, ClientKind::Agent),
                import(1, Ok(source_at("/a/.chatroom")), false),
            ],
            false,
        );
        let refusal = replies[0].as_ref().unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::NotAllowed);
        assert!(core.room().is_empty());
        let replies = batch(
            &mut core,
            now,
            vec![
                open(2, ClientKind::Control),
                import(2, Ok(source_at("/a/.chatroom")), false),
            ],
            false,
        );
        assert_eq!(report_of(&replies[0]).messages, 1);
        assert_eq!(core.room().message_count(), 1);
        assert_eq!(core.room().cursor(None, "ana"), 1);
    }

    #[test]
    fn a_bad_source_or_the_rooms_own_directory_is_refused_in_its_words() {
        let (mut core, now) = core();
        let bad = Err(SourceError(
            "/a/messages.jsonl:3: id -1 is not positive".into(),
        ));
        let replies = batch(
            &mut core,
            now,
            vec![
                open(1, ClientKind::Human),
                import(1, bad, false),
                import(1, Ok(source_at("/repo/.chatroom")), false),
            ],
            false,
        );
        assert_eq!(
            replies[0].as_ref().unwrap_err().message,
            "/a/messages.jsonl:3: id -1 is not positive"
        );
        assert_eq!(
            replies[1].as_ref().unwrap_err().message,
            "/repo/.chatroom is this room's own state directory; there is nothing to import"
        );
        assert!(core.room().is_empty());
    }

    #[test]
    fn an_import_the_disk_refuses_is_rolled_back_whole_and_can_be_retried() {
        let (mut core, now) = core();
        let replies = batch(
            &mut core,
            now,
            vec![
                open(1, ClientKind::Control),
                import(1, Ok(source_at("/a/.chatroom")), false),
            ],
            true,
        );
        let refusal = replies[0].as_ref().unwrap_err();
        assert_eq!(refusal.kind, RefusalKind::Storage);
        assert!(core.room().is_empty() && core.room().imports().is_empty());
        let replies = batch(
            &mut core,
            now,
            vec![import(1, Ok(source_at("/a/.chatroom")), false)],
            false,
        );
        assert!(!report_of(&replies[0]).dry_run);
        assert_eq!(core.room().imports().len(), 1);
    }

    #[test]
    fn the_hint_is_offered_only_while_the_room_is_empty() {
        let (mut core, now) = core();
        assert_eq!(
            core.status(now).import_hint.as_deref(),
            Some("chatroomd import /repo/.chatroom_v2")
        );
        let replies = batch(
            &mut core,
            now,
            vec![
                open(1, ClientKind::Control),
                import(1, Ok(source_at("/a/.chatroom")), true),
            ],
            false,
        );
        assert!(report_of(&replies[0]).dry_run);
        assert!(
            core.status(now).import_hint.is_some(),
            "a dry run changed nothing"
        );
        batch(
            &mut core,
            now,
            vec![import(1, Ok(source_at("/a/.chatroom")), false)],
            false,
        );
        assert_eq!(core.status(now).import_hint, None);
    }
}
