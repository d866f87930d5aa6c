//! `chatroomd status`: whether a daemon serves the room, what it holds (sessions, participants,
//! counts, topics once there are any), and where everything lives; with no daemon, what the
//! files hold. Never starts one.

use std::fmt::Write as _;

use protocol::paths::RoomPaths;
use protocol::{ClientKind, DaemonStatus, Participant, Request, Response, TopicStatus};
use serde::Serialize;

use chatroom_client::{Connection, Incompatible, Reach};

use crate::commands::source::load_from_disk;
use crate::commands::transcript::write_stdout;
use crate::commands::view;
use crate::shared::time::unix_now;

/// `chatroomd status --json`: one document whether or not a daemon runs.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub running: bool,
    pub root: String,
    pub state_dir: String,
    pub socket: String,
    pub log: String,
    /// What the running daemon reports; `null` when none runs or it speaks another version.
    pub daemon: Option<DaemonStatus>,
    /// A running daemon of another protocol version (which `chatroomd stop` stops); `null`
    /// otherwise.
    pub incompatible: Option<Incompatible>,
    /// What the files hold; `null` when a daemon runs (it is the authority then).
    pub on_disk: Option<DiskStatus>,
}

/// What the files of a room no daemon serves hold.
#[derive(Debug, Serialize)]
pub struct DiskStatus {
    pub message_count: u64,
    pub summary_count: u64,
    /// Names recorded in participants.json; nobody is connected without a daemon, and a daemon
    /// drops them when it starts.
    pub participants: Vec<Participant>,
    pub last_activity_ts: Option<String>,
    /// The topics the files hold and how many are open; absent in a room that has none, so a
    /// room used the v1 way reports what it always did.
    #[serde(skip_serializing_if = "is_zero")]
    pub topic_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub open_topic_count: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// Prints the status as text, or as JSON with `json`.
pub async fn status(paths: &RoomPaths, json: bool) -> anyhow::Result<()> {
    let (daemon, incompatible) = match Connection::reach(paths, ClientKind::Control).await? {
        Reach::Connected(connection) => match connection.request(Request::DaemonStatus).await? {
            Response::DaemonStatus(status) => (Some(status), None),
            other => anyhow::bail!("unexpected reply from chatroomd: {other:?}"),
        },
        Reach::Incompatible(daemon) => (None, Some(daemon)),
        Reach::NotRunning => (None, None),
    };
    let on_disk = match daemon {
        Some(_) => None,
        None => {
            let loaded = load_from_disk(&paths.state_dir)?;
            Some(DiskStatus {
                message_count: loaded.messages.len() as u64,
                summary_count: loaded.summaries.len() as u64,
                last_activity_ts: loaded.messages.last().map(|message| message.ts.clone()),
                participants: loaded.participants,
                topic_count: loaded.topics.len() as u64,
                open_topic_count: loaded
                    .topics
                    .iter()
                    .filter(|topic| topic.status == TopicStatus::Open)
                    .count() as u64,
            })
        }
    };
    let report = StatusReport {
        running: daemon.is_some() || incompatible.is_some(),
        root: paths.root.display().to_string(),
        state_dir: paths.state_dir.display().to_string(),
        // Where the daemon really listens, which another environment may have chosen.
        socket: match &daemon {
            Some(daemon) => daemon.socket.clone(),
            None => paths.socket.display().to_string(),
        },
        log: paths.log_file.display().to_string(),
        daemon,
        incompatible,
        on_disk,
    };
    let text = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        render(&report, unix_now())
    };
    write_stdout(&text)
}

/// The report as the text a person reads.
pub fn render(report: &StatusReport, now: u64) -> String {
    let mut out = String::new();
    match &report.daemon {
        Some(daemon) => {
            let _ = writeln!(
                out,
                "chatroomd is running: pid {}, version {}, protocol v{}, up {}",
                daemon.pid,
                view::inline(&daemon.package_version),
                daemon.protocol_version,
                view::duration(daemon.uptime_secs)
            );
        }
        None => match &report.incompatible {
            Some(other) => {
                let _ = writeln!(
                    out,
                    "chatroomd is running: pid {}, protocol v{}, which this chatroomd (protocol v{}) cannot talk to; `chatroomd stop` stops it",
                    other.pid,
                    other.protocol_version,
                    protocol::protocol_version()
                );
            }
            None => {
                let _ = writeln!(out, "chatroomd is not running for this room");
            }
        },
    }
    // A directory name may hold anything a file name can.
    let _ = writeln!(out, "root:    {}", view::inline(&report.root));
    let _ = writeln!(out, "socket:  {}", view::inline(&report.socket));
    let _ = writeln!(out, "log:     {}", view::inline(&report.log));
    if let Some(daemon) = &report.daemon {
        let _ = writeln!(out, "\nsessions ({})", daemon.sessions.len());
        let mut rows = vec![[
            "SESSION".to_owned(),
            "KIND".to_owned(),
            "CLIENT PID".to_owned(),
            "NAMES".to_owned(),
        ]];
        for session in &daemon.sessions {
            let kind = match session.kind {
                ClientKind::Agent => "agent",
                ClientKind::Human => "person",
                ClientKind::Control => "control",
            };
            let names = if session.names.is_empty() {
                "-".to_owned()
            } else {
                session.names.join(", ")
            };
            rows.push([
                format!("#{}", session.session_id),
                kind.to_owned(),
                session.client_pid.to_string(),
                names,
            ]);
        }
        if !daemon.sessions.is_empty() {
            out.push_str(&view::table(&rows));
        }
        let _ = writeln!(out, "\nparticipants ({})", daemon.participants.len());
        if !daemon.participants.is_empty() {
            out.push_str(&view::participants_table(
                &daemon.participants,
                &daemon.sessions,
                now,
            ));
        }
        let _ = writeln!(
            out,
            "\n{}",
            counts(
                daemon.message_count,
                daemon.summary_count,
                &daemon.last_activity_ts,
                (daemon.topic_count, daemon.open_topic_count)
            )
        );
        if !daemon.claims.is_empty() {
            let _ = writeln!(out, "\nclaims ({})", daemon.claims.len());
            out.push_str(&crate::commands::claims::table(&daemon.claims));
        }
        if let Some(command) = &daemon.import_hint {
            let _ = writeln!(
                out,
                "\nthis room is empty and the repository holds a Python server's state; import it with: {}",
                view::inline(command)
            );
        }
    }
    if let Some(disk) = &report.on_disk {
        let _ = writeln!(out, "\non disk ({}):", view::inline(&report.state_dir));
        let _ = writeln!(
            out,
            "{}",
            counts(
                disk.message_count,
                disk.summary_count,
                &disk.last_activity_ts,
                (disk.topic_count, disk.open_topic_count)
            )
        );
        if !disk.participants.is_empty() {
            let _ = writeln!(
                out,
                "participants recorded (not connected; dropped when a daemon starts):"
            );
            out.push_str(&view::participants_table(&disk.participants, &[], now));
        }
    }
    out
}

/// `messages: N  summaries: N  last activity: TS`, for the running daemon and for the files,
/// then `  topics: N open of M` in a room that has topics.
fn counts(
    messages: u64,
    summaries: u64,
    last_activity: &Option<String>,
    (topics, open_topics): (u64, u64),
) -> String {
    let topics = if topics > 0 {
        format!("  topics: {open_topics} open of {topics}")
    } else {
        String::new()
    };
    format!(
        "messages: {messages}  summaries: {summaries}  last activity: {}{topics}",
        view::inline(last_activity.as_deref().unwrap_or("never"))
    )
}

#[cfg(test)]
mod tests {
    use protocol::SessionInfo;

    use super::*;

    #[test]
    fn the_text_shows_what_agents_wrote_without_letting_it_act() {
        let hostile = "\x1b]52;c;aGk=\x07\u{85}\u{202d}";
        let participant = Participant {
            name: hostile.into(),
            role: hostile.into(),
            joined_at: hostile.into(),
            last_seen: hostile.into(),
        };
        let report = |daemon: Option<DaemonStatus>, on_disk: Option<DiskStatus>| StatusReport {
            running: daemon.is_some(),
            root: format!("/repo{hostile}"),
            state_dir: format!("/repo{hostile}/.chatroom"),
            socket: "/run/s".into(),
            log: "/repo/.chatroom/chatroomd.log".into(),
            daemon,
            incompatible: None,
            on_disk,
        };
        let daemon = DaemonStatus {
            pid: 1,
            package_version: "0.1.0".into(),
            protocol_version: 1,
            uptime_secs: 5,
            claims: vec![],
            root: "/repo".into(),
            socket: "/run/s".into(),
            log: "/repo/.chatroom/chatroomd.log".into(),
            message_count: 1,
            summary_count: 0,
            topic_count: 0,
            open_topic_count: 0,
            import_hint: None,
            sessions: vec![SessionInfo {
                session_id: 1,
                client_pid: 2,
                names: vec![hostile.into()],
                kind: ClientKind::Agent,
            }],
            participants: vec![participant.clone()],
            last_activity_ts: Some(hostile.into()),
        };
        let disk = DiskStatus {
            message_count: 1,
            summary_count: 0,
            participants: vec![participant],
            last_activity_ts: Some(hostile.into()),
            topic_count: 0,
            open_topic_count: 0,
        };
        for report in [report(Some(daemon), None), report(None, Some(disk))] {
            let text = render(&report, 0);
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' || c == '\u{202d}'),
                "{text}"
            );
            assert!(
                text.contains("\\u{1b}]52;c;aGk=\\u{7}\\u{85}\\u{202d}"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_import_hint_is_one_line_naming_the_command() {
        let daemon = |import_hint: Option<String>| DaemonStatus {
            pid: 1,
            package_version: "0.1.0".into(),
            protocol_version: 1,
            uptime_secs: 5,
            claims: vec![],
            root: "/repo".into(),
            socket: "/run/s".into(),
            log: "/repo/.chatroom/chatroomd.log".into(),
            message_count: 0,
            summary_count: 0,
            topic_count: 0,
            open_topic_count: 0,
            import_hint,
            sessions: vec![],
            participants: vec![],
            last_activity_ts: None,
        };
        let report = |daemon| StatusReport {
            running: true,
            root: "/repo".into(),
            state_dir: "/repo/.chatroom".into(),
            socket: "/run/s".into(),
            log: "/repo/.chatroom/chatroomd.log".into(),
            daemon: Some(daemon),
            incompatible: None,
            on_disk: None,
        };
        let hint = "chatroomd import /repo/.chatroom_v2";
        let text = render(&report(daemon(Some(hint.into()))), 0);
        assert!(
            text.ends_with(&format!(
                "\nthis room is empty and the repository holds a Python server's state; import it with: {hint}\n"
            )),
            "{text}"
        );
        let text = render(&report(daemon(None)), 0);
        assert!(!text.contains("import"), "{text}");
    }
}
