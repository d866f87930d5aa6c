//! `chatroomd import DIR`: asks the room's daemon (starting one if none runs) to bring in a
//! Python server's state directory, and prints what it imported, or with `--dry-run` what it
//! would. The daemon reads the source and carries the import out as one write, so the daemon
//! stays the only writer of `.chatroom/` and an import is durable before this prints.

use std::fmt::Write as _;
use std::path::Path;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use protocol::paths::RoomPaths;
use protocol::{ClientKind, ImportReport, Request, Response};

use crate::commands::control;
use crate::commands::transcript::write_stdout;
use crate::commands::view;

/// How long the command waits for the daemon to read, check and store a whole history: a
/// million messages take seconds in a release build, many more in a debug one. The usual 10 s
/// reply bound would give up on an import the daemon then completes.
const IMPORT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// `chatroomd import`'s arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub root: crate::cli::RootArg,
    /// The source: a `.chatroom_v2/`, a `.chatroom/`, or a repository holding one of them.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Only print what would be imported; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Imports `dir` (relative to the current directory) into the room at `paths`.
pub async fn import(paths: &RoomPaths, dir: &Path, dry_run: bool) -> anyhow::Result<()> {
    // The daemon runs in another directory: it gets the path as this shell means it.
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = cwd.join(dir);
    let dir = dir
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", dir.display()))?
        .to_owned();
    let connection = control::connect_or_start(paths, ClientKind::Control).await?;
    match connection
        .request_within(Request::Import { dir, dry_run }, IMPORT_DEADLINE)
        .await?
    {
        Response::Imported(report) => write_stdout(&render(&report)),
        other => anyhow::bail!("unexpected reply from chatroomd: {other:?}"),
    }
}

/// What was imported (or would be), as a person reads it.
pub fn render(report: &ImportReport) -> String {
    let mut out = String::new();
    let verb = match report.dry_run {
        true => "would import",
        false => "imported",
    };
    let _ = writeln!(
        out,
        "{verb} {} ({} format): {}, {}, {}, {}",
        view::inline(&report.source),
        report.format,
        count(report.messages, "message", "messages"),
        count(report.summaries, "summary", "summaries"),
        count(report.topics, "topic", "topics"),
        count(report.cursors, "cursor", "cursors"),
    );
    if report.messages > 0 {
        let ids = match report.remapped {
            true => "renumbered after this room's own records",
            false => "the source's own ids, kept",
        };
        let _ = writeln!(
            out,
            "message ids {}..={}: {ids}",
            report.first_message_id, report.last_message_id
        );
    } else if report.remapped {
        let _ = writeln!(out, "summary ids renumbered after this room's own");
    }
    if report.dry_run {
        let _ = writeln!(out, "nothing was changed (--dry-run)");
    }
    out
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(dry_run: bool, remapped: bool) -> ImportReport {
        ImportReport {
            source: "/repo/.chatroom_v2".into(),
            format: "v2".into(),
            dry_run,
            messages: 6,
            summaries: 1,
            topics: 2,
            cursors: 3,
            remapped,
            first_message_id: 11,
            last_message_id: 16,
        }
    }

    #[test]
    fn the_report_says_what_moved_and_whether_anything_changed() {
        assert_eq!(
            render(&report(false, false)),
            "imported /repo/.chatroom_v2 (v2 format): 6 messages, 1 summary, 2 topics, 3 cursors\n\
             message ids 11..=16: the source's own ids, kept\n"
        );
        assert_eq!(
            render(&report(true, true)),
            "would import /repo/.chatroom_v2 (v2 format): 6 messages, 1 summary, 2 topics, 3 cursors\n\
             message ids 11..=16: renumbered after this room's own records\n\
             nothing was changed (--dry-run)\n"
        );
    }
}
