//! What reaches an agent without its asking: the messages a hook put in its context
//! (delivered, which is not read: the cursors stay), the read of every scope at once that
//! `wait_for_messages("*")` does, and the read receipts a sender asks for.
//!
//! Deliveries are a high-water mark per name (message ids are one increasing sequence for the
//! whole room) with the times they moved. They live in memory only: after a daemon restart a
//! hook may put a message that is still unread in the agent's context once more, and receipts
//! forget when things were delivered or read (not whether they were read: that is the cursor).

use std::collections::BTreeSet;

use protocol::{HookReach, Message, Receipt, Receipts, Refusal, Response, Unread};

use super::params::{limit_param, name_param, non_negative};
use super::topics::Scope;
use super::undo::{RecordedMap, Undoable};
use super::{BROADCAST, Changes, Handled, Room, SYSTEM, SessionId};
use crate::shared::time::format_ts;
use protocol::TopicStatus;

/// How many deliveries per name keep their time.
const DELIVERY_LOG_LEN: usize = 256;

/// The id through which each name has had every message for it delivered, and when each mark
/// was set, as `(through, unix)` ascending.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Deliveries {
    through: RecordedMap<String, u64>,
    log: RecordedMap<String, Vec<(u64, u64)>>,
}

impl Deliveries {
    fn through(&self, name: &str) -> u64 {
        self.through.get(name).copied().unwrap_or(0)
    }

    fn mark(&mut self, name: &str, through: u64, now: u64) {
        if through <= self.through(name) {
            return;
        }
        self.through.insert(name.to_owned(), through);
        let mut log = self.log.get(name).cloned().unwrap_or_default();
        log.push((through, now));
        if log.len() > DELIVERY_LOG_LEN {
            log.remove(0);
        }
        self.log.insert(name.to_owned(), log);
    }

    /// When message `id` was delivered to `name`, if it was and this daemon remembers when.
    fn delivered_at(&self, name: &str, id: u64) -> Option<u64> {
        let log = self.log.get(name)?;
        let first = log.partition_point(|(through, _)| *through < id);
        log.get(first).map(|(_, at)| *at)
    }
}

impl Undoable for Deliveries {
    fn begin(&mut self) {
        self.through.begin();
        self.log.begin();
    }

    fn commit(&mut self) {
        self.through.commit();
        self.log.commit();
    }

    fn roll_back(&mut self) {
        self.through.roll_back();
        self.log.roll_back();
    }
}

/// Whether `message` is for an agent holding `names`: visible to one of them, and sent neither
/// by one of them nor by the room itself (joins and leaves wake nobody).
pub fn reaches(message: &Message, names: &[String]) -> bool {
    message.from != SYSTEM && message.is_for(names)
}

impl Room {
    /// The main room and every open topic: the scopes new messages can arrive in.
    pub fn open_scope_ids(&self) -> Vec<Option<String>> {
        std::iter::once(None)
            .chain(
                self.topics
                    .all()
                    .filter(|topic| topic.status == TopicStatus::Open)
                    .map(|topic| Some(topic.id.clone())),
            )
            .collect()
    }

    /// What a hook tells the agent holding `names` (sorted, not empty): who is here, the main
    /// room's latest summary, how many messages for it are unread, and those it has not had
    /// delivered — people's first, then oldest first, at most `limit`. With `deliver`, the
    /// delivery marks move past them. `names` and `linked_by` are left for the caller.
    pub fn reach(&mut self, names: &[String], deliver: bool, limit: usize, now: u64) -> HookReach {
        let scopes = self.open_scope_ids();
        let mut unread = BTreeSet::new();
        // Per name, the positions of its undelivered messages, ascending.
        let mut undelivered: Vec<(String, Vec<usize>)> = Vec::new();
        for name in names {
            let delivered = self.deliveries.through(name);
            let mut own = Vec::new();
            for scope in &scopes {
                let scope = scope.as_deref();
                let cursor = self.cursors.get(scope, name);
                for position in self
                    .messages
                    .visible_after(scope, name, cursor)
                    .oldest(usize::MAX)
                {
                    let message = self.messages.at(position);
                    if !reaches(message, names) {
                        continue;
                    }
                    unread.insert(position);
                    if message.id > delivered {
                        own.push(position);
                    }
                }
            }
            own.sort_unstable();
            undelivered.push((name.clone(), own));
        }
        let all: BTreeSet<usize> = undelivered
            .iter()
            .flat_map(|(_, positions)| positions.iter().copied())
            .collect();
        let chosen: BTreeSet<usize> = all.iter().copied().take(limit).collect();
        if deliver {
            for (name, positions) in &undelivered {
                // Through the last of its messages before the first one not delivered now.
                let through = positions
                    .iter()
                    .take_while(|position| chosen.contains(position))
                    .last()
                    .map(|&position| self.messages.at(position).id);
                if let Some(through) = through {
                    self.deliveries.mark(name, through, now);
                }
            }
        }
        let mut messages = self.messages.collect(chosen.iter().copied().collect());
        // People first; each group stays oldest first.
        messages.sort_by_key(|message| !message.human);
        HookReach {
            names: Vec::new(),
            linked_by: String::new(),
            participants: self.participants(),
            latest_summary: self.summaries.latest_for(None, None).cloned(),
            unread_count: unread.len() as u64,
            messages,
            more: (all.len() - chosen.len()) as u64,
        }
    }

    /// `read_unread` of every open scope at once (`wait_for_messages` with `topic_id "*"`):
    /// the oldest `limit` unread messages of the main room and the open topics, in id order,
    /// each scope's cursor moved past what it gave with `mark_read`. The record's `topic_id`
    /// is `"*"` and its `last_read_id` the newest id read in any scope.
    pub fn read_unread_every(
        &mut self,
        session: SessionId,
        name: &str,
        limit: i64,
        mark_read: bool,
        now: u64,
    ) -> Handled {
        let name = name_param("name", name)?;
        let limit = limit_param("limit", limit)?;
        let held_elsewhere = self.presence.check_not_held_elsewhere(session, name);
        if mark_read {
            held_elsewhere.clone()?;
        }
        let scopes = self.open_scope_ids();
        let mut positions: Vec<usize> = scopes
            .iter()
            .flat_map(|scope| {
                let scope = scope.as_deref();
                let cursor = self.cursors.get(scope, name);
                self.messages
                    .visible_after(scope, name, cursor)
                    .oldest(limit)
            })
            .collect();
        positions.sort_unstable();
        positions.truncate(limit);
        let messages = self.messages.collect(positions);
        let mut changes = Changes::default();
        if mark_read {
            for scope in &scopes {
                let scope = scope.as_deref();
                let newest = messages
                    .iter()
                    .filter(|message| message.topic_id.as_deref() == scope)
                    .map(|message| message.id)
                    .max();
                if let Some(newest) = newest
                    && self.cursors.advance(scope, name, newest, Some(now))
                {
                    changes.cursors |= scope.is_none();
                    changes.topic_cursors |= scope.is_some();
                }
            }
        }
        changes.last_seen = held_elsewhere.is_ok() && self.presence.touch(name, now);
        let last_read_id = self.highest_cursor(name);
        let unread = Unread {
            name: name.to_owned(),
            topic_id: Some(super::EVERY_SCOPE.to_owned()),
            last_read_id,
            messages,
        };
        Ok((Response::Unread(unread), changes))
    }

    /// The highest cursor of `name` in the main room and the open topics.
    pub fn highest_cursor(&self, name: &str) -> u64 {
        let name = name.trim();
        self.open_scope_ids()
            .iter()
            .map(|scope| self.cursors.get(scope.as_deref(), name))
            .max()
            .unwrap_or(0)
    }

    /// `read_receipts`: who has message `message_id`. `viewer` is the asking session's names
    /// (`None` for a person or a command, who may ask about any message); a direct message is
    /// told only to its sender and its recipient.
    pub fn read_receipts(
        &self,
        message_id: i64,
        viewer: Option<&[String]>,
    ) -> Result<(Response, Changes), Refusal> {
        let id = non_negative("message_id", message_id)?;
        let unknown = || Refusal::invalid(format!("unknown message_id: {id}"));
        let message = self.messages.get(id).ok_or_else(unknown)?;
        let direct = message.to != BROADCAST;
        if direct
            && let Some(names) = viewer
            && !names
                .iter()
                .any(|name| *name == message.from || *name == message.to)
        {
            // As if it did not exist: a direct message is its two ends' business.
            return Err(unknown());
        }
        let scope: Scope<'_> = message.topic_id.as_deref();
        let present: BTreeSet<String> = self
            .participants()
            .into_iter()
            .map(|participant| participant.name)
            .collect();
        let recipients: Vec<String> = match direct {
            true => vec![message.to.clone()],
            false => present
                .iter()
                .filter(|name| **name != message.from)
                .cloned()
                .collect(),
        };
        let receipts = recipients
            .into_iter()
            .map(|name| {
                let read = self.cursors.get(scope, &name) >= id;
                let read_at = read
                    .then(|| self.cursors.read_at(scope, &name, id))
                    .flatten();
                let delivered_at = self.deliveries.delivered_at(&name, id);
                Receipt {
                    present: present.contains(&name),
                    read,
                    read_at: read_at.map(format_ts),
                    delivered_at: delivered_at.map(format_ts),
                    name,
                }
            })
            .collect();
        let receipts = Receipts {
            message_id: id,
            from: message.from.clone(),
            to: message.to.clone(),
            topic_id: message.topic_id.clone(),
            receipts,
        };
        Ok((Response::Receipts(receipts), Changes::default()))
    }
}
