//! `chatroomd import`: bringing a Python server's state directory into this room.
//!
//! [`source`] reads and checks a source into plain records with a fingerprint of its history
//! (the only part that touches the disk, and only to read); [`plan`] decides, purely, which ids
//! the records get here and where each cursor lands. The room applies a plan as one batch
//! (`room/import.rs`), so an import is persisted whole before its reply, like every write, or
//! not at all.

use std::path::Path;

pub mod plan;
pub mod source;

pub use plan::{EarlierImport, Plan, PlanError, PlannedCursor, Target, plan};
pub use source::{Format, Source, SourceCursor, SourceError, read};

/// The command that would import the Python v2 server's state in the repository at `root`,
/// when there is one with something in it: what `chatroomd status` and the log suggest while
/// this room is empty. A `.chatroom/` is not hinted at: that is this room's own directory.
pub fn hint(root: &Path) -> Option<String> {
    let dir = root.join(source::V2_DIR);
    let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |meta| meta.len());
    // The v2 server creates `topics.json` as `{}` on first use, before anything is written.
    let holds_something = size(source::MESSAGES_FILE) > 0 || size(source::TOPICS_FILE) > 2;
    holds_something.then(|| format!("chatroomd import {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_a_v2_state_that_holds_something() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(hint(root.path()), None);
        let dir = root.path().join(source::V2_DIR);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(source::MESSAGES_FILE), "").unwrap();
        std::fs::write(dir.join(source::TOPICS_FILE), "{}").unwrap();
        assert_eq!(
            hint(root.path()),
            None,
            "a first use left nothing to import"
        );
        std::fs::write(dir.join(source::TOPICS_FILE), r#"{"a": {}}"#).unwrap();
        assert_eq!(
            hint(root.path()),
            Some(format!("chatroomd import {}", dir.display()))
        );
    }
}
