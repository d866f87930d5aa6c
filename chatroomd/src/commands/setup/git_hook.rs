//! `chatroomd setup --git-hook`: a git pre-commit hook that runs `chatroomd check-claims`, so a
//! commit touching a file another session holds exclusively is refused, naming it. It goes
//! where git looks for hooks (`git rev-parse --git-path hooks`: `core.hooksPath` and worktrees
//! included). It chains, never replaces: a pre-commit hook of someone else's is moved to
//! `pre-commit.chatroom-chained` and ours runs it first, failing when it fails. A second run
//! changes nothing; `--remove` deletes ours and puts the chained one back.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The line that tells our hook from anyone else's.
pub const MARKER: &str = "# chatroom: installed by `chatroomd setup --git-hook`";

/// Where a hook that was there before ours is kept, beside ours.
pub const CHAINED: &str = "pre-commit.chatroom-chained";

/// The hook's text, running `chatroomd` at `binary`.
pub fn script(binary: &Path) -> String {
    format!(
        "#!/bin/sh\n{MARKER}\n\
         # Refuses a commit touching a file another session claims exclusively; --no-verify skips it.\n\
         # A pre-commit hook that was here before runs first, from {CHAINED}.\n\
         chained=\"$(dirname \"$0\")/{CHAINED}\"\n\
         if [ -x \"$chained\" ]; then\n  \"$chained\" \"$@\" || exit $?\nfi\n\
         exec {} check-claims\n",
        sh_quote(&binary.to_string_lossy())
    )
}

/// `text` as one single-quoted `sh` word.
pub fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// One step setup takes on the hooks directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Move someone else's pre-commit to [`CHAINED`].
    Chain,
    /// Write our hook (new or changed).
    Write(String),
    /// Delete our hook.
    Delete,
    /// Move [`CHAINED`] back to pre-commit.
    Unchain,
}

/// What setup does given the current pre-commit (`existing`), whether a chained one exists,
/// and whether it is removing. Empty: nothing to do.
pub fn plan(
    existing: Option<&str>,
    chained_exists: bool,
    wanted: &str,
    remove: bool,
) -> anyhow::Result<Vec<Step>> {
    let ours = existing.is_some_and(|text| text.contains(MARKER));
    if remove {
        if !ours {
            return Ok(Vec::new());
        }
        let mut steps = vec![Step::Delete];
        if chained_exists {
            steps.push(Step::Unchain);
        }
        return Ok(steps);
    }
    match existing {
        Some(text) if ours && text == wanted => Ok(Vec::new()),
        Some(_) if ours => Ok(vec![Step::Write(wanted.to_owned())]),
        Some(_) if chained_exists => bail!(
            "a pre-commit hook is there and so is {CHAINED}: merge them by hand, then run setup again"
        ),
        Some(_) => Ok(vec![Step::Chain, Step::Write(wanted.to_owned())]),
        None => Ok(vec![Step::Write(wanted.to_owned())]),
    }
}

/// The hooks directory git uses for the repository at `root`.
pub fn hooks_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--git-path", "hooks"])
        .current_dir(root)
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "{} is not a git repository: {}",
            root.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let dir = String::from_utf8(output.stdout).context("git printed a path that is not UTF-8")?;
    Ok(root.join(dir.trim_end_matches('\n')))
}

/// Installs (or with `remove` takes out) the hook for the repository at `root`; with `dry_run`
/// only says what it would do. Returns what it says.
pub fn run(root: &Path, dry_run: bool, remove: bool) -> anyhow::Result<String> {
    let binary = std::env::current_exe().context("cannot find this chatroomd's path")?;
    let dir = hooks_dir(root)?;
    let hook = dir.join("pre-commit");
    let chained = dir.join(CHAINED);
    let existing = match std::fs::read(&hook) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", hook.display())),
    };
    let steps = plan(
        existing.as_deref(),
        chained.exists(),
        &script(&binary),
        remove,
    )?;
    let verb = if dry_run { "would " } else { "" };
    let mut out = String::new();
    if steps.is_empty() {
        out.push_str(&format!("git hook {}: unchanged\n", hook.display()));
        return Ok(out);
    }
    if !dry_run {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for step in steps {
        match step {
            Step::Chain => {
                out.push_str(&format!(
                    "{verb}move the existing {} to {} (ours runs it first)\n",
                    hook.display(),
                    chained.display()
                ));
                if !dry_run {
                    std::fs::rename(&hook, &chained)
                        .with_context(|| format!("cannot move {}", hook.display()))?;
                }
            }
            Step::Write(text) => {
                out.push_str(&format!(
                    "{verb}write {} (runs {} check-claims)\n",
                    hook.display(),
                    binary.display()
                ));
                if dry_run {
                    out.push_str(&text);
                } else {
                    std::fs::write(&hook, text)
                        .with_context(|| format!("cannot write {}", hook.display()))?;
                    make_executable(&hook)?;
                }
            }
            Step::Delete => {
                out.push_str(&format!("{verb}delete {}\n", hook.display()));
                if !dry_run {
                    std::fs::remove_file(&hook)
                        .with_context(|| format!("cannot delete {}", hook.display()))?;
                }
            }
            Step::Unchain => {
                out.push_str(&format!(
                    "{verb}move {} back to {}\n",
                    chained.display(),
                    hook.display()
                ));
                if !dry_run {
                    std::fs::rename(&chained, &hook)
                        .with_context(|| format!("cannot move {}", chained.display()))?;
                }
            }
        }
    }
    Ok(out)
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_runs_the_chained_hook_then_checks_claims() {
        let text = script(Path::new("/opt/it's/chatroomd"));
        assert!(text.starts_with("#!/bin/sh\n"), "{text}");
        assert!(text.contains(MARKER), "{text}");
        assert!(text.contains(CHAINED), "{text}");
        assert!(
            text.ends_with("exec '/opt/it'\\''s/chatroomd' check-claims\n"),
            "{text}"
        );
        let chained_at = text.find("\"$chained\" \"$@\"").unwrap();
        assert!(chained_at < text.find("check-claims\n").unwrap());
    }

    #[test]
    fn installing_chains_someone_elses_hook_and_a_second_run_changes_nothing() {
        let ours = script(Path::new("/bin/chatroomd"));
        assert_eq!(
            plan(None, false, &ours, false).unwrap(),
            [Step::Write(ours.clone())]
        );
        assert_eq!(
            plan(Some("#!/bin/sh\nmake lint\n"), false, &ours, false).unwrap(),
            [Step::Chain, Step::Write(ours.clone())]
        );
        assert!(plan(Some(&ours), true, &ours, false).unwrap().is_empty());
        // Ours, from a chatroomd that moved: rewritten, the chained hook left as it is.
        let older = script(Path::new("/old/chatroomd"));
        assert_eq!(
            plan(Some(&older), true, &ours, false).unwrap(),
            [Step::Write(ours.clone())]
        );
        // Someone's hook and a chained one: nothing is guessed.
        assert!(plan(Some("#!/bin/sh\n"), true, &ours, false).is_err());
    }

    #[test]
    fn removing_takes_out_only_ours_and_puts_the_chained_one_back() {
        let ours = script(Path::new("/bin/chatroomd"));
        assert_eq!(
            plan(Some(&ours), true, &ours, true).unwrap(),
            [Step::Delete, Step::Unchain]
        );
        assert_eq!(
            plan(Some(&ours), false, &ours, true).unwrap(),
            [Step::Delete]
        );
        assert!(
            plan(Some("#!/bin/sh\n"), false, &ours, true)
                .unwrap()
                .is_empty()
        );
        assert!(plan(None, false, &ours, true).unwrap().is_empty());
    }
}
