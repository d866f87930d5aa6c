//! `chatroomd claims` (every live claim, as a person reads it or as `list_claims` returns it)
//! and `chatroomd check-claims` (whether another session's exclusive claim covers files about
//! to be committed: the git pre-commit hook `setup --git-hook` installs). Neither starts a
//! daemon: with none running, nothing is claimed (claims are presence, not history).

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use protocol::paths::RoomPaths;
use protocol::{Claim, ClaimCheck, ClientKind, HookLink, Request, Response};

use crate::commands::control;
use crate::commands::hook::ancestry;
use crate::commands::transcript::write_stdout;
use crate::commands::view;
use crate::daemon::room::normalise_path;

/// The most paths one `CheckClaims` request carries.
pub const CHECK_CHUNK: usize = crate::daemon::room::MAX_CLAIM_PATHS;

/// `chatroomd claims [--path P] [--json]`.
pub async fn list(paths: &RoomPaths, path: Option<&str>, json: bool) -> anyhow::Result<()> {
    let claims = match control::connect(paths, ClientKind::Control).await? {
        Some(connection) => {
            let request = Request::ListClaims {
                path: path.unwrap_or("").to_owned(),
            };
            match connection.request(request).await? {
                Response::Claims(claims) => claims,
                other => bail!("unexpected reply from chatroomd: {other:?}"),
            }
        }
        None => Vec::new(),
    };
    let text = if json {
        serde_json::to_string(&claims)? + "\n"
    } else {
        render(&claims)
    };
    write_stdout(&text)
}

/// The claims as text: a table, or one line saying there is none.
pub fn render(claims: &[Claim]) -> String {
    if claims.is_empty() {
        return "no claims\n".to_owned();
    }
    table(claims)
}

/// PATH, NAME, KIND, HELD, EXPIRES, REASON: one row per claim (what `status` and `monitor` show
/// too). Everything in it an agent wrote is made inert.
pub fn table(claims: &[Claim]) -> String {
    let mut rows = vec![[
        "PATH".to_owned(),
        "NAME".to_owned(),
        "KIND".to_owned(),
        "HELD".to_owned(),
        "EXPIRES".to_owned(),
        "REASON".to_owned(),
    ]];
    for claim in claims {
        rows.push([
            view::inline(&claim.path).into_owned(),
            view::inline(&claim.name).into_owned(),
            if claim.exclusive {
                "exclusive"
            } else {
                "shared"
            }
            .to_owned(),
            protocol::held_for(claim.held_s),
            claim
                .expires_at
                .as_deref()
                .map_or("-".to_owned(), |at| view::inline(at).into_owned()),
            if claim.reason.is_empty() {
                "-".to_owned()
            } else {
                view::inline(&claim.reason).into_owned()
            },
        ]);
    }
    view::table(&rows)
}

/// What `check-claims` concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing blocked: exit 0.
    Clear,
    /// These lines go to stderr; exit 1.
    Blocked(Vec<String>),
}

/// The exit status for a blocked commit.
pub const EXIT_BLOCKED: i32 = 1;
/// The exit status for input `check-claims` cannot use (not a repository, git failing).
pub const EXIT_BAD_INPUT: i32 = 2;

/// `chatroomd check-claims [--as NAME]... [PATHS...]`: the exit status.
pub async fn check(paths: &RoomPaths, as_names: &[String], files: &[String]) -> i32 {
    match check_inner(paths, as_names, files).await {
        Ok(Verdict::Clear) => 0,
        Ok(Verdict::Blocked(lines)) => {
            for line in lines {
                eprintln!("{line}");
            }
            EXIT_BLOCKED
        }
        Err(err) => {
            eprintln!("chatroom: check-claims: {err:#}");
            EXIT_BAD_INPUT
        }
    }
}

async fn check_inner(
    paths: &RoomPaths,
    as_names: &[String],
    files: &[String],
) -> anyhow::Result<Verdict> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let toplevel = git_toplevel(&cwd)?;
    let candidates = if files.is_empty() {
        staged(&toplevel)?
    } else {
        let (inside, outside) = repository_paths(&toplevel, &cwd, files);
        for path in outside {
            eprintln!(
                "chatroom: {} is outside the repository; not checked",
                view::inline(&path)
            );
        }
        inside
    };
    if candidates.is_empty() {
        return Ok(Verdict::Clear);
    }
    let Some(connection) = control::connect(paths, ClientKind::Control).await? else {
        // No daemon: no session holds anything.
        return Ok(Verdict::Clear);
    };
    let hook = HookLink {
        session_id: String::new(),
        ancestors: if as_names.is_empty() {
            ancestry::ancestors(std::process::id())
        } else {
            Vec::new()
        },
    };
    let mut blocked = Vec::new();
    for chunk in candidates.chunks(CHECK_CHUNK) {
        let request = Request::CheckClaims {
            hook: hook.clone(),
            as_names: as_names.to_vec(),
            paths: chunk.to_vec(),
        };
        match connection.request(request).await? {
            Response::ClaimCheck(ClaimCheck { blocked: more, .. }) => blocked.extend(more),
            other => bail!("unexpected reply from chatroomd: {other:?}"),
        }
    }
    Ok(verdict(&blocked))
}

/// The lines a blocked commit prints: one per blocked file, then the way forward.
pub fn verdict(blocked: &[protocol::ClaimConflict]) -> Verdict {
    if blocked.is_empty() {
        return Verdict::Clear;
    }
    let mut lines: Vec<String> = blocked
        .iter()
        .map(|conflict| format!("chatroom: {}", view::inline(&conflict.sentence())))
        .collect();
    lines.push(
        "chatroom: ask the holder in the chatroom, or commit with --no-verify to override"
            .to_owned(),
    );
    Verdict::Blocked(lines)
}

/// `paths` as repository-relative paths (resolved against `cwd`), and those outside `toplevel`.
pub fn repository_paths(
    toplevel: &Path,
    cwd: &Path,
    paths: &[String],
) -> (Vec<String>, Vec<String>) {
    let root = toplevel.to_string_lossy();
    let cwd = cwd.to_string_lossy();
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for path in paths {
        match normalise_path(&root, &cwd, path) {
            Some(relative) => {
                if !inside.contains(&relative) {
                    inside.push(relative);
                }
            }
            None => outside.push(path.clone()),
        }
    }
    (inside, outside)
}

/// The working tree's top directory.
fn git_toplevel(cwd: &Path) -> anyhow::Result<std::path::PathBuf> {
    let out = git(cwd, &["rev-parse", "--show-toplevel"])?;
    let text = String::from_utf8(out).context("git printed a path that is not UTF-8")?;
    Ok(std::path::PathBuf::from(text.trim_end_matches('\n')))
}

/// The staged files, both sides of a rename (`--no-renames` lists the old path as deleted and
/// the new one as added), repository-relative as git prints them.
fn staged(toplevel: &Path) -> anyhow::Result<Vec<String>> {
    let out = git(
        toplevel,
        &[
            "diff",
            "--cached",
            "--name-only",
            "-z",
            "--no-renames",
            "--diff-filter=ACMRD",
        ],
    )?;
    Ok(split_nul(&out))
}

/// `git -z` output as paths.
pub fn split_nul(out: &[u8]) -> Vec<String> {
    out.split(|byte| *byte == 0)
        .filter(|path| !path.is_empty())
        .map(|path| String::from_utf8_lossy(path).into_owned())
        .collect()
}

fn git(cwd: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ClaimConflict;

    fn claim(path: &str, exclusive: bool, reason: &str) -> Claim {
        Claim {
            path: path.into(),
            name: "codex".into(),
            exclusive,
            reason: reason.into(),
            since: "2026-12-03T07:00:00Z".into(),
            expires_at: None,
            held_s: 245,
        }
    }

    #[test]
    fn claims_read_as_a_table_or_say_there_are_none() {
        assert_eq!(render(&[]), "no claims\n");
        let text = render(&[
            claim("src/store.rs", true, "refactoring the store"),
            claim("docs/**", false, ""),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].contains("PATH") && lines[0].contains("REASON"),
            "{text}"
        );
        assert!(lines[1].contains("src/store.rs") && lines[1].contains("exclusive"));
        assert!(lines[1].contains("4 min") && lines[1].contains("refactoring the store"));
        assert!(lines[2].contains("shared") && lines[2].contains('-'));
    }

    #[test]
    fn a_blocked_file_is_one_line_then_the_way_forward() {
        assert_eq!(verdict(&[]), Verdict::Clear);
        let blocked = [ClaimConflict {
            path: "src/store.rs".into(),
            held_by: claim("src/store.rs", true, "refactoring the store"),
        }];
        assert_eq!(
            verdict(&blocked),
            Verdict::Blocked(vec![
                "chatroom: src/store.rs is claimed by codex for 'refactoring the store' since 4 min".into(),
                "chatroom: ask the holder in the chatroom, or commit with --no-verify to override".into(),
            ])
        );
    }

    #[test]
    fn paths_resolve_against_the_repository_and_outsiders_are_set_aside() {
        let (inside, outside) = repository_paths(
            Path::new("/repo"),
            Path::new("/repo/src"),
            &[
                "store.rs".into(),
                "../src/./store.rs".into(),
                "/repo/README.md".into(),
                "/etc/passwd".into(),
                "../../x".into(),
            ],
        );
        assert_eq!(inside, ["src/store.rs", "README.md"]);
        assert_eq!(outside, ["/etc/passwd", "../../x"]);
    }

    #[test]
    fn nul_separated_paths_split_cleanly() {
        assert_eq!(split_nul(b"a b.rs\0src/x\0"), ["a b.rs", "src/x"]);
        assert!(split_nul(b"").is_empty());
    }
}
