//! One file's change: read it, merge setup's entries in (or take them out), and hold the text
//! before and after; then show it as a unified diff, or write it atomically (a temporary file in
//! the same directory, synced, renamed over the old one, with the old one's permissions).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Content, Outcome, Target, json, toml};

/// A file's text before and after (`None`: the file is not there, or is to be deleted).
#[derive(Debug)]
pub struct Change {
    pub before: Option<String>,
    pub after: Option<String>,
    pub notes: Vec<String>,
}

impl Change {
    /// Whether the file changes at all.
    pub fn changes(&self) -> bool {
        self.before != self.after
    }

    /// What happens to the file, in the words of the summary.
    pub fn verb(&self, dry_run: bool) -> &'static str {
        match (&self.before, &self.after, dry_run) {
            (None, None, _) => "not there",
            (before, after, _) if before == after => "unchanged",
            (None, Some(_), false) => "created",
            (None, Some(_), true) => "would create",
            (Some(_), None, false) => "deleted",
            (Some(_), None, true) => "would delete",
            (Some(_), Some(_), false) => "updated",
            (Some(_), Some(_), true) => "would update",
        }
    }
}

/// Reads `target`'s file and merges its entries in (`remove`: takes them out). The error is the
/// file's problem in a few words, for the caller to prefix with its name.
pub fn plan(target: &Target, remove: bool, force: bool) -> Result<Change, String> {
    let before = match fs::read_to_string(&target.path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(format!("cannot be read: {err}")),
    };
    let mut outcome = Outcome::default();
    if remove && before.is_none() {
        return Ok(Change {
            before,
            after: None,
            notes: Vec::new(),
        });
    }
    let text = before.as_deref().unwrap_or("");
    let after = match &target.content {
        Content::Json(entries) => {
            let mut doc = json::parse(text)?;
            for entry in entries {
                if remove {
                    json::remove(&mut doc, entry, force, &mut outcome);
                } else {
                    json::install(&mut doc, entry, force, &mut outcome)?;
                }
            }
            let left_empty = doc.is_empty()
                || target
                    .residue
                    .as_ref()
                    .is_some_and(|residue| residue == &Value::Object(doc.clone()));
            if json::parse(text).is_ok_and(|original| original == doc) {
                // Nothing changed: the text stays exactly as it is.
                before.clone()
            } else if remove && left_empty {
                None
            } else {
                Some(json::render(&doc, before.as_deref()))
            }
        }
        Content::Toml(entries) => {
            let mut doc = toml::parse(text)?;
            for entry in entries {
                if remove {
                    toml::remove(&mut doc, entry, force, &mut outcome);
                } else {
                    toml::install(&mut doc, entry, force, &mut outcome)?;
                }
            }
            let after = doc.to_string();
            if after == text {
                before.clone()
            } else if remove && after.trim().is_empty() {
                None
            } else {
                Some(after)
            }
        }
    };
    Ok(Change {
        before,
        after,
        notes: outcome.notes,
    })
}

/// The change as a unified diff, with `name` in its headers.
pub fn diff(change: &Change, name: &str) -> String {
    let before = change.before.as_deref().unwrap_or("");
    let after = change.after.as_deref().unwrap_or("");
    let old = if change.before.is_some() {
        format!("a/{name}")
    } else {
        "/dev/null".into()
    };
    let new = if change.after.is_some() {
        format!("b/{name}")
    } else {
        "/dev/null".into()
    };
    let mut text = similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Writes the change to `path`: the new text atomically, or deletes the file (and then its
/// directory, if that is left empty, as setup made it).
pub fn apply(path: &Path, change: &Change) -> std::io::Result<()> {
    if !change.changes() {
        return Ok(());
    }
    // A config file that is a symlink (dotfiles kept elsewhere) is written where it points.
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match &change.after {
        Some(text) => write_atomic(&path, text),
        None => {
            fs::remove_file(&path)?;
            if let Some(dir) = path.parent() {
                // Fails, harmlessly, when anything else is in it.
                let _ = fs::remove_dir(dir);
            }
            Ok(())
        }
    }
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let permissions = fs::metadata(path).ok().map(|meta| meta.permissions());
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp: PathBuf = dir.join(format!(".{name}.chatroom-setup-{}", std::process::id()));
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::setup::{Scope, server_entry};

    #[test]
    fn a_write_keeps_the_files_permissions_and_remove_deletes_what_is_left_empty() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/mcp.json");
        let target = Target::new(
            path.clone(),
            Scope::Shared,
            Content::Json(vec![server_entry(&["mcpServers", "chatroom"], &[])]),
        );
        let change = plan(&target, false, false).unwrap();
        assert_eq!(change.verb(false), "created");
        apply(&path, &change).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        let again = plan(&target, false, false).unwrap();
        assert!(!again.changes(), "a second run changes nothing");

        fs::write(&path, "{\n  \"other\": 1\n}\n").unwrap();
        apply(&path, &plan(&target, false, false).unwrap()).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let removed = plan(&target, true, false).unwrap();
        assert_eq!(removed.after.as_deref(), Some("{\n  \"other\": 1\n}\n"));

        fs::write(&path, "{}").unwrap();
        apply(&path, &plan(&target, false, false).unwrap()).unwrap();
        let removed = plan(&target, true, false).unwrap();
        assert_eq!(removed.verb(false), "deleted");
        apply(&path, &removed).unwrap();
        assert!(!path.exists());
        assert!(
            !dir.path().join("sub").exists(),
            "the emptied directory goes too"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(
            leftovers.is_empty(),
            "no temporary file left: {leftovers:?}"
        );
    }

    #[test]
    fn a_symlinked_config_is_written_where_it_points() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/settings.json");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, "{}\n").unwrap();
        let link = dir.path().join("settings.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let target = Target::new(
            link.clone(),
            Scope::Personal,
            Content::Json(vec![server_entry(&["mcpServers", "chatroom"], &[])]),
        );
        apply(&link, &plan(&target, false, false).unwrap()).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(fs::read_to_string(&real).unwrap().contains("chatroom-shim"));
    }

    #[test]
    fn the_diff_names_the_file_and_shows_the_lines() {
        let change = Change {
            before: None,
            after: Some("{\n  \"a\": 1\n}\n".into()),
            notes: Vec::new(),
        };
        assert_eq!(
            diff(&change, ".mcp.json"),
            "--- /dev/null\n+++ b/.mcp.json\n@@ -0,0 +1,3 @@\n+{\n+  \"a\": 1\n+}\n"
        );
    }
}
