//! Idempotency keys: what the daemon remembers about keyed writes so that a client repeating one
//! after a lost connection or a daemon crash gets the first outcome instead of a second effect.
//!
//! Each record is made durable (in `.chatroom/idempotency.jsonl`, by the store) before the
//! write it describes, so a write on disk always has its key on disk; a key whose write never
//! reached the disk is dropped at load ([`Dedupe::restore`]), and the repeat then carries the
//! write out for the first time.
//!
//! The table is bounded while the daemon runs, not only at start: keys older than a day and the
//! oldest past [`MAX_KEYS`] are forgotten before every batch ([`Dedupe::prune`]), and the owner
//! rewrites the file once most of its lines are forgotten keys ([`Dedupe::file_is_mostly_dead`]).

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// A client-chosen key, unique per logical call (random 128 bits).
pub type Key = u128;

/// How long a key is remembered: retries come within seconds, a day is plenty.
pub const RETENTION_SECS: u64 = 24 * 3600;
/// The most keys remembered at once, whatever their age.
pub const MAX_KEYS: usize = 100_000;
/// Test-only: a smaller [`MAX_KEYS`] (a positive integer), so that an end-to-end test can watch
/// the bound and the compaction of `idempotency.jsonl` with a few writes. Unset, the real
/// bound applies.
pub const ENV_TEST_KEY_LIMIT: &str = "CHATROOM_TEST_KEY_LIMIT";

/// The most keys remembered: [`MAX_KEYS`], or the test-only [`ENV_TEST_KEY_LIMIT`].
pub fn max_keys_from_env() -> usize {
    std::env::var(ENV_TEST_KEY_LIMIT)
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|limit| *limit > 0)
        .unwrap_or(MAX_KEYS)
}

/// What a keyed write did, enough to answer its repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    /// `send_message` appended this message.
    Message { id: u64 },
    /// `write_summary` appended this summary.
    Summary { id: u64 },
    /// `read_unread` returned the messages visible to `name` in `(after, through]` and moved the
    /// cursor to `through`.
    Unread {
        name: String,
        after: u64,
        through: u64,
        /// The topic read, absent for the main room (and in records written before topics).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic_id: Option<String>,
    },
    /// `wait_for_messages` over every scope (`"*"`) returned, per scope read, the messages
    /// visible to `name` in `(after, through]` and moved that scope's cursor to `through`.
    UnreadEvery { name: String, reads: Vec<ScopeRead> },
    /// `leave` released the name.
    Left,
    /// `open_topic` opened this topic.
    Opened { topic_id: String },
    /// `close_topic` closed an open topic.
    Closed,
}

/// One scope's part of a [`Recorded::UnreadEvery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRead {
    /// The topic, absent for the main room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    pub after: u64,
    pub through: u64,
}

/// What the first call did, in words, for the log.
impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Message { id } => write!(f, "sent message {id}"),
            Self::Summary { id } => write!(f, "wrote summary {id}"),
            Self::Unread {
                name,
                after,
                through,
                topic_id,
            } => {
                write!(
                    f,
                    "read {name}'s unread messages after {after} through {through}"
                )?;
                match topic_id {
                    Some(topic) => write!(f, " in topic {topic}"),
                    None => Ok(()),
                }
            }
            Self::UnreadEvery { name, reads } => {
                write!(f, "read {name}'s unread messages in {} scopes", reads.len())
            }
            Self::Left => write!(f, "left"),
            Self::Opened { topic_id } => write!(f, "opened topic {topic_id}"),
            Self::Closed => write!(f, "closed a topic"),
        }
    }
}

/// One line of `idempotency.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key as 32 hex digits (JSON has no 128-bit integers).
    #[serde(with = "hex_key")]
    pub key: Key,
    /// Unix seconds when the write was carried out.
    pub at: u64,
    pub recorded: Recorded,
}

/// The remembered keys, oldest first.
#[derive(Debug)]
pub struct Dedupe {
    by_key: HashMap<Key, Recorded>,
    order: VecDeque<(Key, u64)>,
    /// The most keys kept at once ([`MAX_KEYS`] but in tests).
    max_keys: usize,
    /// How many records [`Dedupe::restore`] dropped because their write is not on disk.
    unstored: usize,
}

impl Default for Dedupe {
    fn default() -> Self {
        Self::with_max_keys(MAX_KEYS)
    }
}

impl Dedupe {
    /// An empty table that keeps at most `max_keys` keys.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            order: VecDeque::new(),
            max_keys: max_keys.max(1),
            unstored: 0,
        }
    }

    /// Rebuilds the table from the records on disk, keeping only those whose write is on disk
    /// too (ids up to the last stored ones) and that are young enough at `now`, at most
    /// `max_keys` of them.
    pub fn restore(
        records: Vec<KeyRecord>,
        last_message_id: u64,
        last_summary_id: u64,
        now: u64,
        max_keys: usize,
    ) -> Self {
        let mut dedupe = Self::with_max_keys(max_keys);
        // An id is given to one stored write only. When two records name the same message (or
        // summary) id, the earlier one's key reached the disk but its write did not (a crash
        // between the two), and after the restart another write got the id: kept, that key
        // would answer its repeat with someone else's message, and the repeat's write would be
        // lost though acknowledged.
        let claim = |recorded: &Recorded| match recorded {
            Recorded::Message { id } => Some((false, *id)),
            Recorded::Summary { id } => Some((true, *id)),
            _ => None,
        };
        let mut last_claim = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            if let Some(claimed) = claim(&record.recorded) {
                last_claim.insert(claimed, index);
            }
        }
        for (index, record) in records.into_iter().enumerate() {
            let superseded = claim(&record.recorded)
                .is_some_and(|claimed| last_claim.get(&claimed) != Some(&index));
            let stored = !superseded
                && match record.recorded {
                    Recorded::Message { id } => id <= last_message_id,
                    Recorded::Summary { id } => id <= last_summary_id,
                    Recorded::Unread { through, .. } => through <= last_message_id,
                    Recorded::UnreadEvery { ref reads, .. } => {
                        reads.iter().all(|read| read.through <= last_message_id)
                    }
                    Recorded::Left | Recorded::Opened { .. } | Recorded::Closed => true,
                };
            if !stored {
                dedupe.unstored += 1;
            } else if record.at + RETENTION_SECS >= now {
                dedupe.insert(record);
            }
        }
        dedupe.prune(now);
        dedupe
    }

    /// How many records the restore dropped because their write never reached the disk. The
    /// file must lose them at once: once a later write takes the id such a record names, the
    /// next start could not tell it from a stored one.
    pub fn dropped_unstored(&self) -> usize {
        self.unstored
    }

    pub fn get(&self, key: Key) -> Option<&Recorded> {
        self.by_key.get(&key)
    }

    pub fn insert(&mut self, record: KeyRecord) {
        if self.by_key.insert(record.key, record.recorded).is_none() {
            self.order.push_back((record.key, record.at));
        }
    }

    /// Forgets `key` (its write was not stored after all).
    pub fn remove(&mut self, key: Key) {
        if self.by_key.remove(&key).is_some() {
            self.order.retain(|(kept, _)| *kept != key);
        }
    }

    /// Drops keys older than [`RETENTION_SECS`] and the oldest beyond the bound; returns how
    /// many were dropped. Costs one step per key dropped.
    pub fn prune(&mut self, now: u64) -> usize {
        let before = self.order.len();
        while let Some(&(key, at)) = self.order.front() {
            if self.order.len() <= self.max_keys && at + RETENTION_SECS >= now {
                break;
            }
            self.order.pop_front();
            self.by_key.remove(&key);
        }
        before - self.order.len()
    }

    /// Whether a keys file of `file_lines` lines is mostly forgotten keys and worth rewriting
    /// with the live ones: more dead lines than live keys, plus a slack so that a small table
    /// is not rewritten at every write. The file so stays below about twice the live keys
    /// plus the slack, and each rewrite is paid for by as many appends as it copies lines.
    pub fn file_is_mostly_dead(&self, file_lines: usize) -> bool {
        let slack = self.max_keys.min(1000);
        file_lines > 2 * self.len() + slack
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The remembered keys as records, oldest first (for compacting the file).
    pub fn records(&self) -> Vec<KeyRecord> {
        self.order
            .iter()
            .filter_map(|(key, at)| {
                let recorded = self.by_key.get(key)?.clone();
                Some(KeyRecord {
                    key: *key,
                    at: *at,
                    recorded,
                })
            })
            .collect()
    }
}

mod hex_key {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(key: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{key:032x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        u128::from_str_radix(&text, 16).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Key, at: u64, recorded: Recorded) -> KeyRecord {
        KeyRecord { key, at, recorded }
    }

    #[test]
    fn keys_round_trip_as_hex_json() {
        let line = record(u128::MAX - 1, 7, Recorded::Message { id: 3 });
        let json = serde_json::to_string(&line).unwrap();
        assert_eq!(
            json,
            r#"{"key":"fffffffffffffffffffffffffffffffe","at":7,"recorded":{"message":{"id":3}}}"#
        );
        assert_eq!(serde_json::from_str::<KeyRecord>(&json).unwrap(), line);
    }

    #[test]
    fn restore_drops_keys_whose_write_is_not_on_disk_and_old_keys() {
        let now = 10 * RETENTION_SECS;
        let dedupe = Dedupe::restore(
            vec![
                record(1, now, Recorded::Message { id: 5 }),
                record(2, now, Recorded::Message { id: 6 }),
                record(3, now, Recorded::Summary { id: 2 }),
                record(
                    4,
                    now,
                    Recorded::Unread {
                        topic_id: None,
                        name: "a".into(),
                        after: 1,
                        through: 6,
                    },
                ),
                record(5, now - RETENTION_SECS - 1, Recorded::Left),
                record(6, now, Recorded::Left),
            ],
            5,
            2,
            now,
            MAX_KEYS,
        );
        assert_eq!(dedupe.get(1), Some(&Recorded::Message { id: 5 }));
        assert_eq!(dedupe.get(2), None, "message 6 never reached the disk");
        assert_eq!(dedupe.get(3), Some(&Recorded::Summary { id: 2 }));
        assert_eq!(dedupe.get(4), None, "its cursor target is not on disk");
        assert_eq!(dedupe.get(5), None, "too old");
        assert_eq!(dedupe.get(6), Some(&Recorded::Left));
        assert_eq!(dedupe.len(), 3);
    }

    #[test]
    fn prune_forgets_keys_past_a_day_and_past_the_bound_oldest_first() {
        let mut dedupe = Dedupe::with_max_keys(3);
        for key in 1..=3 {
            dedupe.insert(record(key, 1000 + key as u64, Recorded::Left));
        }
        assert_eq!(dedupe.prune(1001 + RETENTION_SECS), 0, "a day old is kept");
        assert_eq!(dedupe.prune(1002 + RETENTION_SECS), 1, "older is not");
        assert_eq!(dedupe.get(1), None);
        dedupe.insert(record(4, 1000 + RETENTION_SECS, Recorded::Left));
        dedupe.insert(record(5, 1000 + RETENTION_SECS, Recorded::Left));
        assert_eq!(dedupe.prune(1000 + RETENTION_SECS), 1, "past the bound");
        assert_eq!(
            dedupe.records().iter().map(|r| r.key).collect::<Vec<_>>(),
            [3, 4, 5]
        );
    }

    #[test]
    fn the_file_is_rewritten_only_when_most_of_it_is_dead() {
        let mut dedupe = Dedupe::with_max_keys(8);
        for key in 0..8 {
            dedupe.insert(record(key, 1, Recorded::Left));
        }
        // 8 live keys, slack 8: up to 24 lines are kept as they are.
        assert!(!dedupe.file_is_mostly_dead(24));
        assert!(dedupe.file_is_mostly_dead(25));
        // The real bound's slack is 1000 lines.
        let mut real = Dedupe::default();
        real.insert(record(1, 1, Recorded::Left));
        assert!(!real.file_is_mostly_dead(1002));
        assert!(real.file_is_mostly_dead(1003));
    }

    #[test]
    fn a_key_whose_id_a_later_write_took_is_dropped() {
        let now = 10 * RETENTION_SECS;
        // Key 1's message 6 never reached the disk; after the restart key 2's write got id 6,
        // and the repeat of key 1 was stored as 7.
        let dedupe = Dedupe::restore(
            vec![
                record(1, now, Recorded::Message { id: 6 }),
                record(3, now, Recorded::Summary { id: 6 }),
                record(2, now, Recorded::Message { id: 6 }),
                record(4, now, Recorded::Message { id: 8 }),
            ],
            7,
            6,
            now,
            MAX_KEYS,
        );
        assert_eq!(dedupe.get(1), None, "message 6 is key 2's");
        assert_eq!(dedupe.get(2), Some(&Recorded::Message { id: 6 }));
        assert_eq!(
            dedupe.get(3),
            Some(&Recorded::Summary { id: 6 }),
            "another sequence"
        );
        assert_eq!(dedupe.get(4), None);
        assert_eq!(dedupe.dropped_unstored(), 2);
    }

    #[test]
    fn remove_and_the_count_bound() {
        let mut dedupe = Dedupe::default();
        for key in 0..(MAX_KEYS as u128 + 10) {
            dedupe.insert(record(key, 100, Recorded::Left));
        }
        dedupe.prune(100);
        assert_eq!(dedupe.len(), MAX_KEYS);
        assert_eq!(dedupe.get(0), None);
        assert!(dedupe.get(10).is_some());
        dedupe.remove(10);
        assert_eq!(dedupe.get(10), None);
        assert_eq!(dedupe.records().len(), MAX_KEYS - 1);
    }
}
