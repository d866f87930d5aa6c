//! Keyed writes: the first call of a key is carried out and what it did recorded (made durable
//! with its batch, ahead of the write); a repeat is answered with the first outcome instead of
//! a second effect.

use protocol::{Refusal, Request, Response};
use tracing::debug;

use super::{Core, Now};
use crate::daemon::dedupe::{Key, KeyRecord, Recorded};
use crate::daemon::room::{Changes, SessionId};

impl Core {
    /// A write the client may repeat: the first time it is carried out and its key recorded in
    /// `keys` (stored with the batch, before the write itself); a repeat gets the first outcome.
    pub(super) fn keyed_call(
        &mut self,
        session: SessionId,
        key: Key,
        request: Request,
        now: Now,
        keys: &mut Vec<KeyRecord>,
    ) -> (Result<Response, Refusal>, Changes) {
        if let Some(recorded) = self.dedupe.get(key).cloned() {
            debug!(session, key = %format!("{key:032x}"), first = %recorded, "answering a repeated write");
            return self.replay(session, recorded, request, now);
        }
        // A refused read changes nothing and records nothing, so a bad topic id reads as none.
        let unread_from = match &request {
            Request::ReadUnread { name, topic_id, .. } => {
                let topic = Some(topic_id.trim()).filter(|topic| !topic.is_empty());
                Some(self.room.cursor(topic, name.trim()))
            }
            _ => None,
        };
        let (outcome, changes) = self.call(session, request, now);
        let recorded = match (&outcome, unread_from) {
            (Ok(Response::Unread(unread)), Some(after)) => {
                unread.messages.last().map(|last| Recorded::Unread {
                    name: unread.name.clone(),
                    after,
                    through: last.id,
                    topic_id: unread.topic_id.clone(),
                })
            }
            (Ok(Response::Topic(topic)), None) => Some(Recorded::Opened {
                topic_id: topic.id.clone(),
            }),
            (Ok(Response::Closed(true)), None) => Some(Recorded::Closed),
            (Ok(Response::Id(id)), None) if !changes.messages.is_empty() => {
                Some(Recorded::Message { id: *id })
            }
            (Ok(Response::Id(id)), None) if !changes.summaries.is_empty() => {
                Some(Recorded::Summary { id: *id })
            }
            (Ok(Response::Left(true)), None) => Some(Recorded::Left),
            _ => None,
        };
        if let Some(recorded) = recorded {
            let record = KeyRecord {
                key,
                at: now.unix,
                recorded,
            };
            self.dedupe.insert(record.clone());
            keys.push(record);
        }
        (outcome, changes)
    }

    /// The outcome a keyed write had the first time.
    pub(super) fn replay(
        &mut self,
        session: SessionId,
        recorded: Recorded,
        request: Request,
        now: Now,
    ) -> (Result<Response, Refusal>, Changes) {
        match recorded {
            Recorded::Message { id } | Recorded::Summary { id } => {
                (Ok(Response::Id(id)), Changes::default())
            }
            // The first leave released the name. If this session holds it again (a client that
            // re-joined its names on a new connection before repeating the leave), the repeat
            // still means "let it go": release it again, so the answer is true whatever the
            // client did in between.
            Recorded::Left => {
                let held_again = matches!(&request, Request::Leave { name }
                    if self.room.names_held_by(session).iter().any(|held| held == name.trim()));
                let changes = match held_again {
                    true => self.call(session, request, now).1,
                    false => Changes::default(),
                };
                (Ok(Response::Left(true)), changes)
            }
            Recorded::Unread {
                name,
                after,
                through,
                topic_id,
            } => {
                let scope = topic_id.as_deref();
                let messages = self.room.visible_between(scope, &name, after, through);
                // The cursor move may not have reached the disk before a crash: make sure of it.
                let request = Request::SetCursor {
                    name: name.clone(),
                    message_id: through as i64,
                    topic_id: topic_id.clone().unwrap_or_default(),
                };
                let changes = self.room.handle(session, request, now.unix).changes;
                let last_read_id = self.room.cursor(scope, &name);
                let unread = protocol::Unread {
                    name,
                    topic_id,
                    last_read_id,
                    messages,
                };
                (Ok(Response::Unread(unread)), changes)
            }
            // The topic as it is now: a repeat of the open that created it answers with it.
            Recorded::Opened { topic_id } => match self.room.topic(&topic_id) {
                Some(topic) => (Ok(Response::Topic(topic)), Changes::default()),
                None => (
                    Err(Refusal::invalid(format!("unknown topic_id: {topic_id}"))),
                    Changes::default(),
                ),
            },
            Recorded::Closed => (Ok(Response::Closed(true)), Changes::default()),
            Recorded::UnreadEvery { name, reads } => {
                let mut messages = Vec::new();
                let mut changes = Changes::default();
                for read in &reads {
                    let scope = read.topic_id.as_deref();
                    messages.extend(self.room.visible_between(
                        scope,
                        &name,
                        read.after,
                        read.through,
                    ));
                    // The cursor moves may not have reached the disk before a crash.
                    let request = Request::SetCursor {
                        name: name.clone(),
                        message_id: read.through as i64,
                        topic_id: read.topic_id.clone().unwrap_or_default(),
                    };
                    changes.merge(self.room.handle(session, request, now.unix).changes);
                }
                messages.sort_by_key(|message| message.id);
                let last_read_id = self.room.highest_cursor(&name);
                let unread = protocol::Unread {
                    name,
                    topic_id: Some(crate::daemon::room::EVERY_SCOPE.to_owned()),
                    last_read_id,
                    messages,
                };
                (Ok(Response::Unread(unread)), changes)
            }
        }
    }
}
