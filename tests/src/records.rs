//! The contract's result rules as checks: compact JSON ([`is_compact_json`]), records with
//! exactly the contract's keys in its order ([`check_records`], [`RECORD_KEYS`] and the shapes of
//! topics and claims), timestamps ([`is_timestamp`]), and small accessors for JSON results
//! ([`ids`], [`names`], [`contents`], [`keys`]).

use serde_json::Value;

/// Whether `text` (valid JSON) has no whitespace outside its strings.
pub fn is_compact_json(text: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for character in text.chars() {
        if in_string {
            match character {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if character == '"' {
            in_string = true;
        } else if character.is_whitespace() {
            return false;
        }
    }
    true
}

/// An array of the contract's v1 record shapes followed by `$extra` shapes: [`RECORD_KEYS`] and
/// [`TOPIC_RECORD_KEYS`] share the first part.
macro_rules! record_shapes {
    ($($extra:expr),* $(,)?) => {
        &[
            &["id", "ts", "from", "to", "content"],
            // A message a person posted with `chatroomd send`: the one record that carries a further key.
            &["id", "ts", "from", "to", "content", "human"],
            &["name", "role", "joined_at", "last_seen"],
            &["id", "ts", "from", "scope", "content"],
            &["participant_count", "message_count", "last_activity_ts"],
            &["name", "last_read_id"],
            &["name", "last_read_id", "messages"],
            &[
                "participants",
                "latest_message_id",
                "cursor",
                "unread_count",
                "latest_summary",
                "recent_messages",
            ],
            &["id"],
            &["left"],
            $($extra,)*
        ]
    };
}

/// The keys of every record of the contract, in the contract's order (and the Python server's,
/// which writes dicts in insertion order).
pub const RECORD_KEYS: &[&[&str]] = record_shapes!();

/// [`RECORD_KEYS`] and the records a room with topics adds (the contract's "Topics"): a message
/// or summary in a topic (`topic_id` after `ts`), a cursor or unread result in a topic
/// (`topic_id` after `name`), a topic's handoff (`topic` after `participants`), `get_status`
/// with the topic counts, the topic record, a `list_topics(name=...)` entry, `close_topic`'s.
pub const TOPIC_RECORD_KEYS: &[&[&str]] = record_shapes![
    &["id", "ts", "topic_id", "from", "to", "content"],
    &["id", "ts", "topic_id", "from", "to", "content", "human"],
    &["id", "ts", "topic_id", "from", "scope", "content"],
    &["name", "topic_id", "last_read_id"],
    &["name", "topic_id", "last_read_id", "messages"],
    &[
        "participants",
        "topic",
        "latest_message_id",
        "cursor",
        "unread_count",
        "latest_summary",
        "recent_messages",
    ],
    &[
        "participant_count",
        "message_count",
        "last_activity_ts",
        "topic_count",
        "open_topic_count",
        "summary_count",
    ],
    &TOPIC_KEYS,
    &[
        "id",
        "title",
        "status",
        "created_by",
        "created_at",
        "closed_at",
        "last_activity_ts",
        "latest_message_id",
        "cursor",
        "unread_count",
        "latest_summary",
    ],
    &["closed"],
];

/// A topic record's keys, in v2's order (`open_topic`, `list_topics`, a topic's handoff).
pub const TOPIC_KEYS: [&str; 7] = [
    "id",
    "title",
    "status",
    "created_by",
    "created_at",
    "closed_at",
    "last_activity_ts",
];

/// A claim record's keys, in their order (`list_claims`, `chatroomd claims --json`).
pub const CLAIM_KEYS: [&str; 7] = [
    "path",
    "name",
    "exclusive",
    "reason",
    "since",
    "expires_at",
    "held_s",
];

/// [`RECORD_KEYS`] and the records of claims: a claim, a conflict, `claim`'s and `release`'s
/// results, and a handoff once the room has claims (`claims` last).
pub const CLAIM_RECORD_KEYS: &[&[&str]] = record_shapes![
    &CLAIM_KEYS,
    &["path", "held_by"],
    &["name", "granted", "conflicts"],
    &["name", "released"],
    &[
        "participants",
        "latest_message_id",
        "cursor",
        "unread_count",
        "latest_summary",
        "recent_messages",
        "claims",
    ],
];

/// Checks that every object in the JSON `text`, at any depth, is one of the contract's
/// [`RECORD_KEYS`] with exactly its keys in its order.
pub fn check_records(text: &str) -> Result<(), String> {
    check_records_among(text, RECORD_KEYS)
}

/// Like [`check_records`], against the record shapes `shapes` (such as [`TOPIC_RECORD_KEYS`]).
pub fn check_records_among(text: &str, shapes: &[&[&str]]) -> Result<(), String> {
    fn walk(node: &Ordered, shapes: &[&[&str]]) -> Result<(), String> {
        match node {
            Ordered::Object(entries) => {
                let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                let shape = shapes.iter().find(|shape| {
                    let mut expected = shape.to_vec();
                    expected.sort_unstable();
                    expected == sorted
                });
                match shape {
                    None => {
                        return Err(format!(
                            "an object with keys {keys:?} is no record of the contract"
                        ));
                    }
                    Some(shape) if **shape != keys[..] => {
                        return Err(format!(
                            "keys {keys:?} are not in the contract's order {shape:?}"
                        ));
                    }
                    Some(_) => {}
                }
                entries
                    .iter()
                    .try_for_each(|(_, value)| walk(value, shapes))
            }
            Ordered::Array(items) => items.iter().try_for_each(|item| walk(item, shapes)),
            Ordered::Scalar => Ok(()),
        }
    }
    let node: Ordered = serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))?;
    walk(&node, shapes)
}

/// A JSON value that remembers the order of object keys (`serde_json::Value` sorts them).
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar,
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Ordered::Object(entries))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Whether `text` is a timestamp of the contract: UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            10 => *byte == b'T',
            13 | 16 => *byte == b':',
            19 => *byte == b'Z',
            _ => byte.is_ascii_digit(),
        })
}

/// The `id`s of a list of records (messages or summaries).
pub fn ids(records: &Value) -> Vec<u64> {
    records
        .as_array()
        .expect("a list of records")
        .iter()
        .map(|record| record["id"].as_u64().expect("an id"))
        .collect()
}

/// The `content`s of a list of records.
pub fn contents(records: &Value) -> Vec<String> {
    records
        .as_array()
        .expect("a list of records")
        .iter()
        .map(|record| record["content"].as_str().expect("a content").to_owned())
        .collect()
}

/// The `name`s of a list of participants.
pub fn names(participants: &Value) -> Vec<String> {
    participants
        .as_array()
        .expect("a list of participants")
        .iter()
        .map(|participant| participant["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// The keys of a JSON object, sorted.
pub fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The keys of a JSON object in the order they came in (the workspace builds serde_json with
/// `preserve_order`, so a parsed object keeps the order of its text).
pub fn keys_in_order(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_has_no_whitespace_outside_strings() {
        assert!(is_compact_json(r#"{"a":[1,2],"b":"x y\" z"}"#));
        assert!(!is_compact_json(r#"{"a": 1}"#));
        assert!(!is_compact_json("[1,\n2]"));
    }

    #[test]
    fn records_need_the_contract_keys_in_order() {
        assert_eq!(
            check_records(r#"[{"id":1,"ts":"t","from":"a","to":"all","content":"c"}]"#),
            Ok(())
        );
        assert_eq!(
            check_records(r#"{"name":"a","last_read_id":0,"messages":[]}"#),
            Ok(())
        );
        assert_eq!(check_records("null"), Ok(()));
        assert!(check_records(r#"{"ts":"t","id":1,"from":"a","to":"all","content":"c"}"#).is_err());
        assert!(check_records(r#"{"id":1,"extra":2}"#).is_err());
        assert!(check_records(r#"{"left":true,"why":"x"}"#).is_err());
    }

    #[test]
    fn topic_records_are_admitted_only_where_asked_for() {
        let in_topic = r#"[{"id":1,"ts":"t","topic_id":"a","from":"a","to":"all","content":"c"}]"#;
        assert!(
            check_records(in_topic).is_err(),
            "v1 shapes only by default"
        );
        assert_eq!(check_records_among(in_topic, TOPIC_RECORD_KEYS), Ok(()));
        let misplaced = r#"[{"id":1,"topic_id":"a","ts":"t","from":"a","to":"all","content":"c"}]"#;
        assert!(check_records_among(misplaced, TOPIC_RECORD_KEYS).is_err());
        // Every v1 shape stays admitted beside the topic ones.
        for shape in RECORD_KEYS {
            assert!(TOPIC_RECORD_KEYS.contains(shape), "{shape:?}");
        }
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        assert!(is_timestamp("2026-01-02T03:04:05Z"));
        assert!(!is_timestamp("2026-01-02T03:04:05.123Z"));
        assert!(!is_timestamp("2026-01-02 03:04:05Z"));
        assert!(!is_timestamp("2026-01-02T03:04:05+00:00"));
    }
}
