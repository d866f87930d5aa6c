//! How the room looks to a person: the text shared by `status`, `monitor`, `tail` and `export`
//! (participant tables, message lines, durations). Pure functions of their inputs and `now`.

use std::fmt::Write as _;

use protocol::{ClientKind, Message, Participant, SessionInfo, Summary};

use crate::room::parse_ts;

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
        None => ts.to_owned(),
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

/// Left-aligned columns separated by two spaces, no trailing spaces.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
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

/// Who a message is from, marking a person's messages.
pub fn sender(message: &Message) -> String {
    if message.human {
        format!("{} (person)", message.from)
    } else {
        message.from.clone()
    }
}

/// One message as text: `#12 2026-11-24T09:15:10Z alice → bob [direct]: content`, with further
/// lines of the content indented under it.
pub fn message_line(message: &Message) -> String {
    let direct = if message.to == "all" { "" } else { " [direct]" };
    let mut out = format!(
        "#{} {} {} → {}{direct}: ",
        message.id,
        message.ts,
        sender(message),
        message.to
    );
    let mut lines = message.content.lines();
    out.push_str(lines.next().unwrap_or(""));
    for line in lines {
        out.push_str("\n    ");
        out.push_str(line);
    }
    out
}

/// A summary as one heading line and its content.
pub fn summary_text(summary: &Summary) -> String {
    format!(
        "#{} by {} (scope {}) at {}:\n{}",
        summary.id,
        summary.from,
        summary.scope,
        summary.ts,
        indent(&summary.content, "    ")
    )
}

/// Every line of `text` with `prefix` before it.
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &str, human: bool, content: &str) -> Message {
        Message {
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
