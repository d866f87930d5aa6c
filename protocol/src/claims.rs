//! Claims: who is editing what. A claim is a repository-relative path or git-wildmatch glob held
//! by a name, for as long as the session holding that name lives (and, with a ttl, no longer
//! than that). The room keeps claims in memory only: they are presence, not history.

use serde::{Deserialize, Serialize};

/// One live claim, as every surface shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The claimed path or glob, normalised (`./src//a.rs` is `src/a.rs`).
    pub path: String,
    /// The name holding it.
    pub name: String,
    /// Exclusive claims conflict with every overlapping claim of another session, and block
    /// that session's edits; shared ones conflict only with exclusive ones.
    pub exclusive: bool,
    /// Why it is held, as its holder said; may be blank.
    pub reason: String,
    /// When it was first granted, UTC `YYYY-MM-DDTHH:MM:SSZ`.
    pub since: String,
    /// When it ends on its own (`ttl_s`), if it does.
    pub expires_at: Option<String>,
    /// Seconds since `since`, when the answer was made.
    pub held_s: u64,
}

/// A requested path that another session's claim overlaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimConflict {
    /// The path as requested (normalised).
    pub path: String,
    /// The claim in the way.
    pub held_by: Claim,
}

/// `claim`: what was granted, and for each path that was not, the claims in its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    pub name: String,
    pub granted: Vec<Claim>,
    pub conflicts: Vec<ClaimConflict>,
}

/// What a restoring client sends with a claim it held before its daemon died, so that the
/// claim keeps its age and its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRestore {
    pub since: String,
    pub expires_at: Option<String>,
}

/// `release`: the paths released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    pub name: String,
    pub released: Vec<String>,
}

/// [`crate::Request::CheckClaims`]: who asked, and each path another session's exclusive claim
/// covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCheck {
    /// The names whose claims did not count (the asker's own), sorted.
    pub names: Vec<String>,
    /// How the asking agent was found: `"session_id"`, `"ancestry"`, `"as"` (named by the
    /// caller), or blank when it was not.
    pub linked_by: String,
    pub blocked: Vec<ClaimConflict>,
}

/// How a claim came or went, as pushed to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimChange {
    /// Granted (or renewed: its reason, kind or expiry changed).
    Granted,
    /// Released by its holder.
    Released,
    /// Its `ttl_s` ran out.
    Expired,
    /// Its name left, or the session holding it ended.
    Departed,
}

impl ClaimChange {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimChange::Granted => "granted",
            ClaimChange::Released => "released",
            ClaimChange::Expired => "expired",
            ClaimChange::Departed => "departed",
        }
    }
}

/// One change to the room's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimEvent {
    pub change: ClaimChange,
    pub claim: Claim,
}

impl ClaimConflict {
    /// The one line a model or a person reads about it: "src/store.rs is claimed by codex for
    /// 'refactoring the store' since 4 min", naming the claimed glob when it is not the path.
    pub fn sentence(&self) -> String {
        let claim = &self.held_by;
        let mut line = format!("{} is claimed by {}", self.path, claim.name);
        if claim.path != self.path {
            line.push_str(&format!(" (as {})", claim.path));
        }
        if !claim.reason.is_empty() {
            line.push_str(&format!(" for '{}'", claim.reason));
        }
        line.push_str(&format!(" since {}", held_for(claim.held_s)));
        line
    }
}

/// A claim's age as a person says it: "12 s", "4 min", "2 h 5 min", "3 d".
pub fn held_for(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86400 => match (seconds % 3600) / 60 {
            0 => format!("{} h", seconds / 3600),
            minutes => format!("{} h {minutes} min", seconds / 3600),
        },
        _ => format!("{} d", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(path: &str, claimed: &str, reason: &str, held_s: u64) -> ClaimConflict {
        ClaimConflict {
            path: path.into(),
            held_by: Claim {
                path: claimed.into(),
                name: "codex".into(),
                exclusive: true,
                reason: reason.into(),
                since: "2026-12-03T07:00:00Z".into(),
                expires_at: None,
                held_s,
            },
        }
    }

    #[test]
    fn a_conflict_reads_as_one_sentence() {
        assert_eq!(
            conflict("src/store.rs", "src/store.rs", "refactoring the store", 245).sentence(),
            "src/store.rs is claimed by codex for 'refactoring the store' since 4 min"
        );
        assert_eq!(
            conflict("src/store.rs", "src/**", "", 7).sentence(),
            "src/store.rs is claimed by codex (as src/**) since 7 s"
        );
    }

    #[test]
    fn ages_read_as_a_person_says_them() {
        let cases = [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min"),
            (3599, "59 min"),
            (3600, "1 h"),
            (3600 + 300, "1 h 5 min"),
            (86400 * 3 + 5, "3 d"),
        ];
        for (seconds, text) in cases {
            assert_eq!(held_for(seconds), text);
        }
    }
}
