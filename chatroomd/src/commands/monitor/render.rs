//! A frame as text: the main room, the overview of open topics, or one topic.

use crate::shared::time::unix_now;

use crate::commands::transcript::write_stdout;
use crate::commands::view;

use super::*;

pub(super) fn draw(frame: &Frame, options: &Options, terminal: bool) -> anyhow::Result<()> {
    let mut text = render(frame, options, unix_now(), terminal);
    if terminal {
        // Home, then clear below: the frame is redrawn in place.
        text = format!("\x1b[H\x1b[2J{text}");
    } else {
        text.push('\n');
    }
    write_stdout(&text)
}

/// How many characters of a title and of a summary the overview of topics shows.
pub(super) const TITLE_CHARS: usize = 40;
pub(super) const SUMMARY_CHARS: usize = 60;

/// One frame as text. `styled` adds bold headings (terminal only); the layout is the same.
pub fn render(frame: &Frame, options: &Options, now: u64, styled: bool) -> String {
    use std::fmt::Write as _;
    let heading = |text: &str| {
        if styled {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        heading(&format!("chatroom · {}", view::inline(&frame.root)))
    );
    match &frame.daemon {
        Some(daemon) => {
            let _ = writeln!(
                out,
                "daemon: pid {}, version {}, up {}",
                daemon.pid,
                view::inline(&daemon.package_version),
                view::duration(daemon.uptime_secs)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "daemon: down (showing the room from disk; it starts with the first agent)"
            );
        }
    }
    if let Some(id) = &options.topic {
        match &frame.topic {
            Some(topic) => {
                let _ = writeln!(
                    out,
                    "topic: {}, last activity {}",
                    view::topic_heading(topic),
                    view::ago(&topic.last_activity_ts, now)
                );
            }
            None => {
                let _ = writeln!(out, "topic: {}", view::inline(id));
            }
        }
    }
    if let Some(participant) = &options.participant {
        let unread = frame
            .unread
            .map_or_else(String::new, |unread| format!(" ({unread} unread here)"));
        let _ = writeln!(out, "view: what {} sees{unread}", view::inline(participant));
    }
    if let Some(notice) = &frame.notice {
        // A notice may quote a file's contents (a parse error).
        let _ = writeln!(out, "note: {}", view::inline(notice));
    }
    let topic_counts = frame
        .topic_counts
        .map_or_else(String::new, |(count, open)| {
            format!("  topics: {open} open of {count}")
        });
    let _ = writeln!(
        out,
        "messages: {}  summaries: {}  sessions: {}  last activity: {}{topic_counts}",
        frame.message_count,
        frame.summary_count,
        frame.sessions.len(),
        frame
            .last_activity_ts
            .as_deref()
            .map_or_else(|| "never".to_owned(), |ts| view::ago(ts, now))
    );
    let _ = writeln!(out);
    let title = if frame.daemon.is_some() {
        "participants"
    } else {
        "participants recorded on disk"
    };
    let _ = writeln!(
        out,
        "{}",
        heading(&format!("{title} ({})", frame.participants.len()))
    );
    if frame.participants.is_empty() {
        let _ = writeln!(out, "  nobody");
    } else {
        out.push_str(&view::participants_table(
            &frame.participants,
            &frame.sessions,
            now,
        ));
    }
    if let Some(people) = view::people_line(&frame.sessions) {
        let _ = writeln!(out, "{people}");
    }
    if !frame.claims.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            heading(&format!("claims ({})", frame.claims.len()))
        );
        out.push_str(&crate::commands::claims::table(&frame.claims));
    }
    if let Some(rows) = &frame.topics {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", heading(&format!("open topics ({})", rows.len())));
        if rows.is_empty() {
            let _ = writeln!(out, "  none open");
        } else {
            out.push_str(&topic_overview(rows, now));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", heading("latest summary"));
    match &frame.latest_summary {
        Some(summary) => {
            let _ = writeln!(out, "{}", view::indent(&view::summary_text(summary), "  "));
        }
        None => {
            let _ = writeln!(out, "  none yet");
        }
    }
    let _ = writeln!(out);
    // Where the messages are from, once the room has more than one place they can be.
    let place = match (&options.topic, &frame.topics) {
        (Some(id), _) => format!(" in topic {}", view::inline(id)),
        (None, Some(_)) => " in the main room".to_owned(),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        out,
        "{}",
        heading(&format!(
            "latest messages{place} ({} shown)",
            frame.messages.len()
        ))
    );
    if frame.messages.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for message in &frame.messages {
        let _ = writeln!(out, "{}", view::indent(&view::message_line(message), "  "));
    }
    out
}

/// The overview of open topics: one line each, with the viewer's unread count when the rows
/// carry one, and the first line of the latest summary.
pub(super) fn topic_overview(rows: &[TopicRow], now: u64) -> String {
    let with_unread = rows.iter().any(|row| row.unread.is_some());
    let summary = |row: &TopicRow| {
        row.latest_summary.as_ref().map_or_else(
            || "-".to_owned(),
            |summary| {
                format!(
                    "{}: {}",
                    summary.from,
                    view::snippet(&summary.content, SUMMARY_CHARS)
                )
            },
        )
    };
    if with_unread {
        let mut table = vec![[
            "ID".to_owned(),
            "LAST ACTIVITY".to_owned(),
            "UNREAD".to_owned(),
            "TITLE".to_owned(),
            "LATEST SUMMARY".to_owned(),
        ]];
        table.extend(rows.iter().map(|row| {
            [
                row.topic.id.clone(),
                view::ago(&row.topic.last_activity_ts, now),
                row.unread.unwrap_or(0).to_string(),
                view::snippet(&row.topic.title, TITLE_CHARS),
                summary(row),
            ]
        }));
        view::table(&table)
    } else {
        let mut table = vec![[
            "ID".to_owned(),
            "LAST ACTIVITY".to_owned(),
            "TITLE".to_owned(),
            "LATEST SUMMARY".to_owned(),
        ]];
        table.extend(rows.iter().map(|row| {
            [
                row.topic.id.clone(),
                view::ago(&row.topic.last_activity_ts, now),
                view::snippet(&row.topic.title, TITLE_CHARS),
                summary(row),
            ]
        }));
        view::table(&table)
    }
}
