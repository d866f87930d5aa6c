//! The parameters' rules: every string is trimmed, then refused when blank, too long, holding
//! control characters or naming the room itself; every number is refused out of its range. The
//! refusal texts are the contract's, one lowercase line naming the parameter, and nothing is ever
//! silently capped.

use protocol::Refusal;

use super::{BROADCAST, SYSTEM};

/// Names nobody can send as or join as: they would be mistaken for the room itself or for everyone.
const RESERVED_NAMES: [&str; 2] = [SYSTEM, BROADCAST];
pub const MAX_NAME_CHARS: usize = 64;
const MAX_ROLE_CHARS: usize = 256;
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;
const MAX_LIMIT: usize = 100;

/// A required string, trimmed; refused when blank.
pub(super) fn required<'a>(param: &str, value: &'a str) -> Result<&'a str, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Refusal::invalid(format!("{param} must not be blank")));
    }
    Ok(value)
}

/// Refuses text longer than `max_chars` characters or holding control characters.
fn check_text(param: &str, value: &str, max_chars: usize) -> Result<(), Refusal> {
    if value.chars().nth(max_chars).is_some() {
        return Err(Refusal::invalid(format!(
            "{param} must be at most {max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Refusal::invalid(format!(
            "{param} must not contain control characters"
        )));
    }
    Ok(())
}

/// A required name-like parameter (`name`, `to`, `scope`), trimmed and checked.
pub(super) fn name_param<'a>(param: &str, value: &'a str) -> Result<&'a str, Refusal> {
    let value = required(param, value)?;
    check_text(param, value, MAX_NAME_CHARS)?;
    Ok(value)
}

/// An optional name-like parameter (`participant`, the handoff's `name`): blank means none.
pub(super) fn optional_name_param<'a>(
    param: &str,
    value: &'a str,
) -> Result<Option<&'a str>, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    check_text(param, value, MAX_NAME_CHARS)?;
    Ok(Some(value))
}

/// The `name` someone joins, leaves, sends or writes as: a name that is not reserved.
pub(super) fn holder_name(value: &str) -> Result<&str, Refusal> {
    let value = name_param("name", value)?;
    if RESERVED_NAMES.contains(&value) {
        return Err(Refusal::invalid(format!("name '{value}' is reserved")));
    }
    Ok(value)
}

pub(super) fn role_param(value: &str) -> Result<&str, Refusal> {
    let value = required("role", value)?;
    check_text("role", value, MAX_ROLE_CHARS)?;
    Ok(value)
}

/// A required `content`: any text, newlines included, of at most 64 KiB once trimmed.
pub(super) fn content_param(value: &str) -> Result<&str, Refusal> {
    let value = required("content", value)?;
    if value.len() > MAX_CONTENT_BYTES {
        return Err(Refusal::invalid(format!(
            "content must be at most 64 KiB ({MAX_CONTENT_BYTES} bytes)"
        )));
    }
    Ok(value)
}

/// `limit` or `recent_limit`: 1..=100, never silently capped.
pub(super) fn limit_param(param: &str, value: i64) -> Result<usize, Refusal> {
    match usize::try_from(value) {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(Refusal::invalid(format!(
            "{param} must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// `since_id` or `message_id`: >= 0.
pub(super) fn non_negative(param: &str, value: i64) -> Result<u64, Refusal> {
    u64::try_from(value).map_err(|_| Refusal::invalid(format!("{param} must be >= 0")))
}

/// Validates the participant of a subscription like `read_messages`' `participant`: `None` when
/// blank (every message), else the trimmed name.
pub fn subscription_filter(participant: &str) -> Result<Option<String>, Refusal> {
    optional_name_param("participant", participant).map(|name| name.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use protocol::{Message, Participant, Refusal, Request, Response};

    use crate::daemon::room::Room;
    use crate::daemon::room::testkit::*;

    #[test]
    fn invalid_arguments_are_refused_with_exact_messages_and_change_nothing() {
        let long = "x".repeat(65);
        let long_wide = "é".repeat(65);
        let long_role = "r".repeat(257);
        let long_content = "c".repeat(65_537);
        // 32,769 two-byte characters: few characters, too many bytes.
        let wide_content = "é".repeat(32_769);
        let cases: Vec<(Request, &str)> = vec![
            // join
            (join("", "dev"), "name must not be blank"),
            (join(" \t\n ", "dev"), "name must not be blank"),
            (join("", ""), "name must not be blank"),
            (join("carol", "  "), "role must not be blank"),
            (join(&long, "dev"), "name must be at most 64 characters"),
            (
                join(&long_wide, "dev"),
                "name must be at most 64 characters",
            ),
            (
                join("ca\u{7}rol", "dev"),
                "name must not contain control characters",
            ),
            (
                join("ca\nrol", "dev"),
                "name must not contain control characters",
            ),
            (
                join("carol", &long_role),
                "role must be at most 256 characters",
            ),
            (
                join("carol", "de\u{1b}v"),
                "role must not contain control characters",
            ),
            (join("system", "dev"), "name 'system' is reserved"),
            (join(" all ", "dev"), "name 'all' is reserved"),
            // leave
            (leave(""), "name must not be blank"),
            (leave(&long), "name must be at most 64 characters"),
            (leave("a\u{0}b"), "name must not contain control characters"),
            (leave("system"), "name 'system' is reserved"),
            (leave("all"), "name 'all' is reserved"),
            // send_message
            (send("", "hi", "all"), "name must not be blank"),
            (send("alice", " \n ", "all"), "content must not be blank"),
            (send("alice", "hi", "  "), "to must not be blank"),
            (
                send(&long, "hi", "all"),
                "name must be at most 64 characters",
            ),
            (
                send("alice", "hi", &long),
                "to must be at most 64 characters",
            ),
            (
                send("alice", "hi", "b\u{7f}ob"),
                "to must not contain control characters",
            ),
            (
                send("al\u{9}ice", "hi", "all"),
                "name must not contain control characters",
            ),
            (send("system", "hi", "all"), "name 'system' is reserved"),
            (send("all", "hi", "all"), "name 'all' is reserved"),
            (
                send("alice", &long_content, "all"),
                "content must be at most 64 KiB (65536 bytes)",
            ),
            (
                send("alice", &wide_content, "all"),
                "content must be at most 64 KiB (65536 bytes)",
            ),
            // read_messages
            (read(-1, 50, ""), "since_id must be >= 0"),
            (read(0, 0, ""), "limit must be between 1 and 100"),
            (read(0, 101, ""), "limit must be between 1 and 100"),
            (read(0, -5, ""), "limit must be between 1 and 100"),
            (
                read(0, 50, &long),
                "participant must be at most 64 characters",
            ),
            (
                read(0, 50, "b\u{1}ob"),
                "participant must not contain control characters",
            ),
            // get_cursor
            (get_cursor(" "), "name must not be blank"),
            (get_cursor(&long), "name must be at most 64 characters"),
            (
                get_cursor("a\u{85}b"),
                "name must not contain control characters",
            ),
            // set_cursor
            (set_cursor("", 1), "name must not be blank"),
            (set_cursor("alice", -1), "message_id must be >= 0"),
            (
                set_cursor("alice", 6),
                "message_id cannot exceed the latest message id (5)",
            ),
            (set_cursor(&long, 1), "name must be at most 64 characters"),
            // read_unread
            (unread("", 50, true), "name must not be blank"),
            (unread("alice", 0, true), "limit must be between 1 and 100"),
            (
                unread("alice", 101, false),
                "limit must be between 1 and 100",
            ),
            (
                unread("al\rice", 50, true),
                "name must not contain control characters",
            ),
            // write_summary
            (summarize("", "done", "all"), "name must not be blank"),
            (summarize("alice", "", "all"), "content must not be blank"),
            (summarize("alice", "done", " "), "scope must not be blank"),
            (
                summarize("system", "done", "all"),
                "name 'system' is reserved",
            ),
            (summarize("all", "done", "all"), "name 'all' is reserved"),
            (
                summarize("alice", "done", &long),
                "scope must be at most 64 characters",
            ),
            (
                summarize("alice", "done", "a\u{2}ll"),
                "scope must not contain control characters",
            ),
            (
                summarize("alice", &long_content, "all"),
                "content must be at most 64 KiB (65536 bytes)",
            ),
            // read_latest_summary
            (latest_summary(""), "scope must not be blank"),
            (latest_summary(&long), "scope must be at most 64 characters"),
            (
                latest_summary("a\u{3}"),
                "scope must not contain control characters",
            ),
            // get_handoff
            (
                handoff("alice", 0),
                "recent_limit must be between 1 and 100",
            ),
            (handoff("", 101), "recent_limit must be between 1 and 100"),
            (handoff(&long, 10), "name must be at most 64 characters"),
            (
                handoff("a\u{4}", 10),
                "name must not contain control characters",
            ),
        ];
        for (request, expected) in cases {
            let mut room = populated_room();
            let refusal = refuse(&mut room, ALICE, request.clone());
            assert_eq!(refusal, Refusal::invalid(expected), "{request:?}");
        }
    }

    #[test]
    fn boundary_values_are_accepted() {
        let name64 = "x".repeat(64);
        let wide64 = "é".repeat(64);
        let role256 = "r".repeat(256);
        let content64k = "c".repeat(65_536);
        // Padding is trimmed before the length is checked.
        let padded64k = format!("  {content64k}\n");
        let cases = [
            join(&name64, "dev"),
            join(&wide64, &role256),
            join("System", "dev"),
            send("alice", &content64k, "all"),
            send("alice", &padded64k, &name64),
            send("alice", "line one\n\tline two", "all"),
            send("alice", "to the room itself", "system"),
            read(0, 1, ""),
            read(0, 100, "   "),
            read(5, 50, "alice"),
            read(1_000, 50, "alice"),
            set_cursor("alice", 0),
            set_cursor("alice", 5),
            set_cursor("all", 5),
            unread("alice", 1, true),
            unread("alice", 100, false),
            summarize("alice", "x", &name64),
            latest_summary(&name64),
            handoff("", 1),
            handoff("  ", 100),
            handoff("alice", 100),
            get_cursor("nobody"),
            Request::ListParticipants,
            Request::GetStatus,
        ];
        for request in cases {
            accept(&mut populated_room(), ALICE, request);
        }
    }

    #[test]
    fn every_string_is_trimmed_before_use() {
        let mut room = Room::new();
        let (reply, _) = accept(&mut room, ALICE, join("  alice\t", " dev  "));
        let expected = Participant {
            name: "alice".into(),
            role: "dev".into(),
            joined_at: TS0.into(),
            last_seen: TS0.into(),
        };
        assert_eq!(reply, Response::Participants(vec![expected]));
        let (_, changes) = accept(&mut room, BOB, send(" bob ", "\n hi there \n", "  alice  "));
        let message = Message {
            topic_id: None,
            id: 1,
            ts: TS0.into(),
            from: "bob".into(),
            to: "alice".into(),
            content: "hi there".into(),
            human: false,
        };
        assert_eq!(changes.messages, vec![message.clone()]);
        assert_eq!(read_ids(&mut room, read(0, 50, " alice ")), vec![1]);
        assert_eq!(
            ids(&messages_of(
                accept(&mut room, ALICE, unread("\talice", 50, true)).0
            )),
            vec![1]
        );
        assert_eq!(cursor_of(&mut room, " alice "), 1);
        accept(&mut room, BOB, summarize(" bob ", " done ", " alice "));
        let summary = summary_of(&mut room, "  alice ").expect("a summary for alice");
        assert_eq!(
            (summary.from.as_str(), summary.scope.as_str()),
            ("bob", "alice")
        );
        assert_eq!(summary.content, "done");
        let (reply, changes) = accept(&mut room, ALICE, leave("  alice  "));
        assert_eq!(reply, Response::Left(true));
        assert_eq!(changes.messages[0].content, "alice left the chatroom");
    }
}
