//! What a handled request changed ([`Changes`]): what the store persists before the reply leaves,
//! and whether it must be durable first.

use protocol::{ClaimEvent, Message, Summary, Topic};

/// What a handled request changed, for the store to persist before the reply leaves.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// Appended messages, in id order.
    pub messages: Vec<Message>,
    /// Appended summaries, in id order.
    pub summaries: Vec<Summary>,
    /// A participant was added or removed, or its role changed: participants.json must be
    /// durably rewritten.
    pub membership: bool,
    /// Only `last_seen` timestamps changed: participants.json may be rewritten lazily.
    pub last_seen: bool,
    /// A main-room cursor moved: cursors.json must be durably rewritten.
    pub cursors: bool,
    /// A topic was opened or closed: topics.json must be durably rewritten.
    pub topics: bool,
    /// Only topics' `last_activity_ts` moved (a message or summary in a topic): topics.json may
    /// be rewritten lazily, like `last_seen`, since a start derives it from the records anyway.
    pub topic_activity: bool,
    /// The topics opened or closed, as they now are, for the subscribers.
    pub topic_records: Vec<Topic>,
    /// A topic cursor moved: topic_cursors.json must be durably rewritten.
    pub topic_cursors: bool,
    /// A source was imported: imports.json must be durably rewritten.
    pub imports: bool,
    /// Claims granted, released or ended, for the subscribers. Claims live in memory only, so
    /// these need no sync; but a batch rolled back undoes them too ([`Changes::writes`]).
    pub claims: Vec<ClaimEvent>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.summaries.is_empty()
            && !self.membership
            && !self.last_seen
            && !self.cursors
            && !self.topics
            && !self.topic_activity
            && self.topic_records.is_empty()
            && !self.topic_cursors
            && !self.imports
            && self.claims.is_empty()
    }

    /// Adds `other`, which happened after `self`.
    pub fn merge(&mut self, other: Changes) {
        self.messages.extend(other.messages);
        self.summaries.extend(other.summaries);
        self.membership |= other.membership;
        self.last_seen |= other.last_seen;
        self.cursors |= other.cursors;
        self.topics |= other.topics;
        self.topic_activity |= other.topic_activity;
        self.topic_records.extend(other.topic_records);
        self.topic_cursors |= other.topic_cursors;
        self.imports |= other.imports;
        self.claims.extend(other.claims);
    }

    /// Whether the request changed the room in a way that a batch rolled back undoes, so that
    /// its reply must not say it happened: a durable change, or a claim's.
    pub fn writes(&self) -> bool {
        self.needs_sync() || !self.claims.is_empty()
    }

    /// Whether anything must be durable before the reply leaves (everything but `last_seen` and
    /// `topic_activity`).
    pub fn needs_sync(&self) -> bool {
        // The lazy ones are not acknowledged data.
        !self.messages.is_empty()
            || !self.summaries.is_empty()
            || self.membership
            || self.cursors
            || self.topics
            || self.topic_cursors
            || self.imports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::room::testkit::{message, summary};

    #[test]
    fn changes_merge_and_report_what_needs_a_sync() {
        assert!(Changes::default().is_empty());
        assert!(!Changes::default().needs_sync());
        let lazy = Changes {
            last_seen: true,
            ..Changes::default()
        };
        assert!(!lazy.is_empty() && !lazy.needs_sync());
        for durable in [
            Changes {
                messages: vec![message(1, "all")],
                ..Changes::default()
            },
            Changes {
                summaries: vec![summary(1, "all")],
                ..Changes::default()
            },
            Changes {
                membership: true,
                ..Changes::default()
            },
            Changes {
                cursors: true,
                ..Changes::default()
            },
            Changes {
                topics: true,
                ..Changes::default()
            },
            Changes {
                topic_cursors: true,
                ..Changes::default()
            },
            Changes {
                imports: true,
                ..Changes::default()
            },
        ] {
            assert!(!durable.is_empty() && durable.needs_sync(), "{durable:?}");
        }
        let mut merged = Changes {
            messages: vec![message(1, "all")],
            last_seen: true,
            ..Changes::default()
        };
        merged.merge(Changes {
            messages: vec![message(2, "bob")],
            summaries: vec![summary(1, "all")],
            cursors: true,
            ..Changes::default()
        });
        let expected = Changes {
            messages: vec![message(1, "all"), message(2, "bob")],
            summaries: vec![summary(1, "all")],
            membership: false,
            last_seen: true,
            cursors: true,
            ..Changes::default()
        };
        assert_eq!(merged, expected);
    }
}
