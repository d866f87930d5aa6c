//! How the room looks to a person: the text shared by `status`, `monitor`, `tail`, `export` and
//! `topics` (participant and topic tables, message lines, durations). Pure functions of their
//! inputs and `now`. A message or summary of a topic always says which (`#12 [auth-fix] …`), so
//! a stream of every scope reads unambiguously; one of the main room looks as it did before
//! topics existed.
//!
//! Everything an agent wrote (content, names, roles, scopes, and whatever the files hold) is
//! untrusted: it goes through [`inline`] or [`indent`] on its way to a terminal, so that no
//! escape sequence it carries can act (set the clipboard, clear the screen, reorder a line).

use std::borrow::Cow;
use std::fmt::Write as _;

use protocol::{ClientKind, Message, Participant, SessionInfo, Summary, Topic, TopicListing};

use crate::shared::time::parse_ts;

/// Text made safe to print on one line of a terminal. Every control character (C0, DEL, C1,
/// and `\n` too) and every bidi embedding, override or isolate (U+202A–U+202E, U+2066–U+2069,
/// which reorder the rest of a line) is shown as its code point the way Rust writes it: ESC as
/// `\u{1b}`, a bare carriage return as `\u{d}`, U+202E as `\u{202e}`. A tab becomes four spaces
/// (it only moves the cursor, but would break a table's columns). Borrowed when nothing changes.
pub fn inline(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        match character {
            '\t' => out.push_str("    "),
            character if acts_on_terminal(character) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(character));
            }
            character => out.push(character),
        }
    }
    Cow::Owned(out)
}

/// Whether printing `character` could do more than show a glyph.
fn acts_on_terminal(character: char) -> bool {
    character.is_control() || matches!(character, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `3s`, `4m 12s`, `2h 5m`, `3d 4h`.
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// How long ago `ts` was, e.g. `12s ago`; the timestamp itself when it cannot be read.
pub fn ago(ts: &str, now: u64) -> String {
    match parse_ts(ts) {
        Some(then) if then <= now => format!("{} ago", duration(now - then)),
        Some(_) => "just now".to_owned(),
        None => inline(ts).into_owned(),
    }
}

/// The participants as an aligned table: name, role, the session holding the name, and how
/// long since the participant was last active. `sessions` is empty when no daemon runs.
pub fn participants_table(
    participants: &[Participant],
    sessions: &[SessionInfo],
    now: u64,
) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "ROLE".to_owned(),
        "SESSION".to_owned(),
        "LAST ACTIVE".to_owned(),
        "JOINED".to_owned(),
    ]];
    for participant in participants {
        let session = sessions
            .iter()
            .find(|session| session.names.contains(&participant.name))
            .map_or_else(
                || "-".to_owned(),
                |session| format!("#{} (pid {})", session.session_id, session.client_pid),
            );
        rows.push([
            participant.name.clone(),
            participant.role.clone(),
            session,
            ago(&participant.last_seen, now),
            participant.joined_at.clone(),
        ]);
    }
    table(&rows)
}

/// The sessions of people (monitors, `tail --follow`, `send`): one line each.
pub fn people_line(sessions: &[SessionInfo]) -> Option<String> {
    let people: Vec<String> = sessions
        .iter()
        .filter(|session| session.kind == ClientKind::Human)
        .map(|session| format!("#{} (pid {})", session.session_id, session.client_pid))
        .collect();
    (!people.is_empty()).then(|| format!("people watching: {}", people.join(", ")))
}

/// Left-aligned columns separated by two spaces, no trailing spaces. Every cell goes through
/// [`inline`], so a table row stays one safe line whatever its cells hold.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let rows: Vec<[Cow<'_, str>; N]> = rows
        .iter()
        .map(|row| std::array::from_fn(|index| inline(&row[index])))
        .collect();
    let mut widths = [0; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
            if index + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Who a message is from, marking a person's messages; safe to print.
pub fn sender(message: &Message) -> String {
    let from = inline(&message.from);
    if message.human {
        format!("{from} (person)")
    } else {
        from.into_owned()
    }
}

/// One message as text: `#12 2026-11-24T09:15:10Z alice → bob [direct]: content`, with the
/// topic after the id in a topic (`#12 [auth-fix] 2026-…`) and further lines of the content
/// indented under it; safe to print.
pub fn message_line(message: &Message) -> String {
    let direct = if message.to == "all" { "" } else { " [direct]" };
    let mut out = format!(
        "#{}{} {} {} → {}{direct}: ",
        message.id,
        topic_tag(message.topic_id.as_deref()),
        inline(&message.ts),
        sender(message),
        inline(&message.to)
    );
    let mut lines = message.content.lines();
    out.push_str(&inline(lines.next().unwrap_or("")));
    for line in lines {
        out.push_str("\n    ");
        out.push_str(&inline(line));
    }
    out
}

/// ` [auth-fix]` for a record in a topic; nothing in the main room.
pub fn topic_tag(topic_id: Option<&str>) -> String {
    topic_id.map_or_else(String::new, |id| format!(" [{}]", inline(id)))
}

/// A summary as one heading line and its content; safe to print.
pub fn summary_text(summary: &Summary) -> String {
    format!(
        "#{}{} by {} (scope {}) at {}:\n{}",
        summary.id,
        topic_tag(summary.topic_id.as_deref()),
        inline(&summary.from),
        inline(&summary.scope),
        inline(&summary.ts),
        indent(&summary.content, "    ")
    )
}

/// The first line of `text`, cut to `max_chars` characters with `…` when longer; safe to print.
pub fn snippet(text: &str, max_chars: usize) -> String {
    let first = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let first = first.trim();
    let more = first.chars().nth(max_chars).is_some() || text.trim().lines().nth(1).is_some();
    let mut out: String = first.chars().take(max_chars).collect();
    if more {
        out.push('…');
    }
    inline(&out).into_owned()
}

/// One topic in a line: `auth-fix — Fix the login flow (open, opened by claude at TS)`, and
/// `closed at TS` once closed; safe to print.
pub fn topic_heading(topic: &Topic) -> String {
    let mut out = format!(
        "{} — {} ({}, opened by {} at {}",
        inline(&topic.id),
        inline(&topic.title),
        topic.status.as_str(),
        inline(&topic.created_by),
        inline(&topic.created_at)
    );
    if let Some(closed_at) = &topic.closed_at {
        let _ = write!(out, ", closed at {}", inline(closed_at));
    }
    out.push(')');
    out
}

/// `chatroomd topics`: one line per topic, with its unread count when the listing was asked
/// for a participant.
pub fn topics_table(listings: &[TopicListing], now: u64) -> String {
    let with_progress = listings.iter().any(|listing| listing.progress.is_some());
    let mut rows: Vec<[String; 5]> = vec![[
        "ID".to_owned(),
        "STATUS".to_owned(),
        "LAST ACTIVITY".to_owned(),
        if with_progress { "UNREAD" } else { "" }.to_owned(),
        "TITLE".to_owned(),
    ]];
    for listing in listings {
        let topic = &listing.topic;
        rows.push([
            topic.id.clone(),
            topic.status.as_str().to_owned(),
            ago(&topic.last_activity_ts, now),
            listing
                .progress
                .as_ref()
                .map_or_else(String::new, |progress| progress.unread_count.to_string()),
            topic.title.clone(),
        ]);
    }
    if with_progress {
        table(&rows)
    } else {
        let rows: Vec<[String; 4]> = rows
            .into_iter()
            .map(|[id, status, active, _, title]| [id, status, active, title])
            .collect();
        table(&rows)
    }
}

/// Every line of `text` with `prefix` before it, each made safe by [`inline`]: line breaks
/// (`\n`, and `\r\n`) stay line breaks, and nothing else reaches the terminal raw.
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{}", inline(line)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &str, human: bool, content: &str) -> Message {
        Message {
            topic_id: None,
            id: 3,
            ts: "2026-11-24T09:15:10Z".into(),
            from: "ana".into(),
            to: to.into(),
            content: content.into(),
            human,
        }
    }

    #[test]
    fn message_lines_mark_direct_and_person_messages_and_indent_continuations() {
        assert_eq!(
            message_line(&message("all", false, "hi")),
            "#3 2026-11-24T09:15:10Z ana → all: hi"
        );
        assert_eq!(
            message_line(&message("bo", true, "one\ntwo")),
            "#3 2026-11-24T09:15:10Z ana (person) → bo [direct]: one\n    two"
        );
    }

    #[test]
    fn a_record_of_a_topic_says_which_and_one_of_the_main_room_looks_as_before() {
        let mut in_topic = message("bo", false, "one\ntwo");
        in_topic.topic_id = Some("auth-fix".into());
        assert_eq!(
            message_line(&in_topic),
            "#3 [auth-fix] 2026-11-24T09:15:10Z ana → bo [direct]: one\n    two"
        );
        in_topic.topic_id = Some("a\x1b[2J".into());
        assert_eq!(
            message_line(&in_topic),
            "#3 [a\\u{1b}[2J] 2026-11-24T09:15:10Z ana → bo [direct]: one\n    two"
        );
        let summary = Summary {
            topic_id: Some("db".into()),
            id: 2,
            ts: "2026-11-24T09:15:10Z".into(),
            from: "ana".into(),
            scope: "all".into(),
            content: "done".into(),
        };
        assert_eq!(
            summary_text(&summary),
            "#2 [db] by ana (scope all) at 2026-11-24T09:15:10Z:\n    done"
        );
        assert_eq!(topic_tag(None), "");
    }

    #[test]
    fn a_snippet_is_the_first_line_marked_when_anything_is_cut() {
        assert_eq!(snippet("short", 10), "short");
        assert_eq!(snippet("  \n  first line  \nsecond", 20), "first line…");
        assert_eq!(snippet("abcdefghij", 4), "abcd…");
        assert_eq!(snippet("ééééé", 5), "ééééé");
        assert_eq!(snippet("a\x1b[2Jb", 20), "a\\u{1b}[2Jb");
        assert_eq!(snippet("", 5), "");
    }

    #[test]
    fn a_topic_heading_names_its_state() {
        let mut topic = Topic {
            id: "auth-fix".into(),
            title: "Fix the login flow".into(),
            status: protocol::TopicStatus::Open,
            created_by: "claude".into(),
            created_at: "2026-11-24T09:00:00Z".into(),
            closed_at: None,
            last_activity_ts: "2026-11-24T09:15:00Z".into(),
        };
        assert_eq!(
            topic_heading(&topic),
            "auth-fix — Fix the login flow (open, opened by claude at 2026-11-24T09:00:00Z)"
        );
        topic.status = protocol::TopicStatus::Closed;
        topic.closed_at = Some("2026-11-24T10:00:00Z".into());
        topic.title = "\u{202e}x".into();
        assert_eq!(
            topic_heading(&topic),
            "auth-fix — \\u{202e}x (closed, opened by claude at 2026-11-24T09:00:00Z, closed at 2026-11-24T10:00:00Z)"
        );
    }

    #[test]
    fn inline_shows_what_would_act_on_a_terminal_as_code_points() {
        for (raw, shown) in [
            ("plain — ünïcode ✓", "plain — ünïcode ✓"),
            ("\x1b]52;c;aGk=\x07", "\\u{1b}]52;c;aGk=\\u{7}"),
            ("\x1b[2Jgone", "\\u{1b}[2Jgone"),
            ("fake\rreal", "fake\\u{d}real"),
            (
                "\0 \x7f \u{80} \u{9b}31m \u{9f}",
                "\\u{0} \\u{7f} \\u{80} \\u{9b}31m \\u{9f}",
            ),
            ("a\nb", "a\\u{a}b"),
            ("a\tb", "a    b"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{202e}\\u{2066}\\u{2067}\\u{2068}\\u{2069}",
            ),
            // Neighbours of the ranges are ordinary text.
            (
                "\u{a0}\u{2029}\u{2070}\u{200d}",
                "\u{a0}\u{2029}\u{2070}\u{200d}",
            ),
        ] {
            assert_eq!(inline(raw), shown, "{raw:?}");
        }
        assert!(matches!(inline("nothing to do"), Cow::Borrowed(_)));
        // What it shows is itself safe, so showing it again changes nothing.
        assert_eq!(inline(&inline("\x1b[2J")), inline("\x1b[2J"));
    }

    #[test]
    fn every_field_an_agent_wrote_is_shown_safely() {
        let mut hostile = message("b\u{202e}o", true, "one\x1b[2J\r\ntwo\rthree\n\u{9b}four");
        hostile.from = "a\x1bn".into();
        hostile.ts = "\x07".into();
        assert_eq!(
            message_line(&hostile),
            "#3 \\u{7} a\\u{1b}n (person) → b\\u{202e}o [direct]: one\\u{1b}[2J\n    two\\u{d}three\n    \\u{9b}four"
        );
        let summary = Summary {
            topic_id: None,
            id: 2,
            ts: "2026-11-24T09:15:10Z".into(),
            from: "ana".into(),
            scope: "x\u{2066}".into(),
            content: "done\x1b]0;title\x07\nnext".into(),
        };
        assert_eq!(
            summary_text(&summary),
            "#2 by ana (scope x\\u{2066}) at 2026-11-24T09:15:10Z:\n    done\\u{1b}]0;title\\u{7}\n    next"
        );
        assert_eq!(indent("a\x1b\n\x7fb", "> "), "> a\\u{1b}\n> \\u{7f}b");
        // Columns line up on what is shown, not on the raw text.
        let participants = vec![Participant {
            name: "ana".into(),
            role: "re\u{202e}v".into(),
            joined_at: "\x1b[2J".into(),
            last_seen: "\r".into(),
        }];
        assert_eq!(
            participants_table(&participants, &[], 0),
            "  NAME  ROLE         SESSION  LAST ACTIVE  JOINED\n  ana   re\\u{202e}v  -        \\u{d}        \\u{1b}[2J\n"
        );
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m 1s");
        assert_eq!(duration(7260), "2h 1m");
        assert_eq!(duration(90_000), "1d 1h");
        let now = parse_ts("2026-11-24T09:15:10Z").unwrap();
        assert_eq!(ago("2026-11-24T09:14:58Z", now), "12s ago");
        assert_eq!(ago("2026-11-24T09:15:11Z", now), "just now");
        assert_eq!(ago("yesterday", now), "yesterday");
    }

    #[test]
    fn participants_table_shows_the_holding_session() {
        let participants = vec![Participant {
            name: "ana".into(),
            role: "reviewer".into(),
            joined_at: "2026-11-24T09:00:00Z".into(),
            last_seen: "2026-11-24T09:15:00Z".into(),
        }];
        let sessions = vec![SessionInfo {
            session_id: 4,
            client_pid: 99,
            names: vec!["ana".into()],
            kind: ClientKind::Agent,
        }];
        let now = parse_ts("2026-11-24T09:15:10Z").unwrap();
        assert_eq!(
            participants_table(&participants, &sessions, now),
            "  NAME  ROLE      SESSION      LAST ACTIVE  JOINED\n  ana   reviewer  #4 (pid 99)  10s ago      2026-11-24T09:00:00Z\n"
        );
    }
}
