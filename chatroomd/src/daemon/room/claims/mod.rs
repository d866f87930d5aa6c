//! Claims: who is editing what. A name claims repository-relative paths or git-wildmatch globs
//! (`glob`) for as long as the session holding the name lives, and no longer than its `ttl_s`.
//! Claims are presence, not history: they live in memory only, go with their name (a `leave`, the
//! end of the session, however it ended: `departures.rs`), and a client whose daemon died claims
//! them again with their age (`restore`).
//!
//! Two claims conflict when their globs could match a common file and either is exclusive, and
//! they belong to different sessions: an agent's own claims, under any of its names, never get in
//! its way. An edit is blocked only by another session's exclusive claim ([`Room::check_claims`]).

mod glob;

use protocol::{
    Claim, ClaimChange, ClaimCheck, ClaimConflict, ClaimEvent, ClaimRestore, Claimed, Refusal,
    Released, Response,
};

use glob::Pattern;
pub(crate) use glob::normalise_path;

use super::params::holder_name;
use super::undo::{RecordedMap, Undoable};
use super::{Changes, Handled, Room, SessionId};
use crate::shared::time::{format_ts, parse_ts};

/// The most paths one `claim`, `release` or check names.
pub const MAX_CLAIM_PATHS: usize = 1000;
/// The most claims a room holds at once.
pub const MAX_CLAIMS: usize = 100_000;
/// The longest `reason`, in characters.
const MAX_REASON_CHARS: usize = 500;
/// The longest `ttl_s`: a week.
const MAX_TTL_S: i64 = 7 * 24 * 3600;

/// The room's live claims, by (name, normalised path).
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq))]
pub(super) struct Claims {
    held: RecordedMap<(String, String), Held>,
}

/// One claim as the room holds it.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    pattern: Pattern,
    exclusive: bool,
    reason: String,
    /// Unix seconds.
    since: u64,
    expires: Option<u64>,
}

impl Undoable for Claims {
    fn begin(&mut self) {
        self.held.begin();
    }
    fn commit(&mut self) {
        self.held.commit();
    }
    fn roll_back(&mut self) {
        self.held.roll_back();
    }
}

impl Claims {
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    /// Removes every claim of `name`, as events of `change`.
    pub(super) fn remove_name(
        &mut self,
        name: &str,
        change: ClaimChange,
        now: u64,
    ) -> Vec<ClaimEvent> {
        let keys: Vec<(String, String)> = self
            .held
            .iter()
            .filter(|((holder, _), _)| holder == name)
            .map(|(key, _)| key.clone())
            .collect();
        self.remove_keys(keys, change, now)
    }

    fn remove_keys(
        &mut self,
        keys: Vec<(String, String)>,
        change: ClaimChange,
        now: u64,
    ) -> Vec<ClaimEvent> {
        keys.into_iter()
            .filter_map(|key| {
                let held = self.held.remove(&key)?;
                Some(ClaimEvent {
                    change,
                    claim: record(&key.0, &held, now),
                })
            })
            .collect()
    }

    /// Every claim as the surfaces show it, sorted by path, then name.
    fn records(&self, now: u64, keep: impl Fn(&Held) -> bool) -> Vec<Claim> {
        let mut claims: Vec<Claim> = self
            .held
            .iter()
            .filter(|(_, held)| keep(held))
            .map(|((name, _), held)| record(name, held, now))
            .collect();
        claims.sort_by(|a, b| (&a.path, &a.name).cmp(&(&b.path, &b.name)));
        claims
    }
}

/// A held claim as the protocol carries it.
fn record(name: &str, held: &Held, now: u64) -> Claim {
    Claim {
        path: held.pattern.as_str().to_owned(),
        name: name.to_owned(),
        exclusive: held.exclusive,
        reason: held.reason.clone(),
        since: format_ts(held.since),
        expires_at: held.expires.map(format_ts),
        held_s: now.saturating_sub(held.since),
    }
}

/// What one `claim` asks, its parameters checked.
struct Ask<'a> {
    exclusive: bool,
    reason: &'a str,
    since: u64,
    expires: Option<u64>,
}

impl Room {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn claim(
        &mut self,
        session: SessionId,
        name: &str,
        paths: &[String],
        exclusive: bool,
        reason: &str,
        ttl_s: i64,
        restore: Option<&ClaimRestore>,
        now: u64,
    ) -> Handled {
        let name = self.own_name(session, name, "claim paths")?;
        let patterns = path_params(paths)?;
        let reason = reason_param(reason)?;
        if !(0..=MAX_TTL_S).contains(&ttl_s) {
            return Err(Refusal::invalid(format!(
                "ttl_s must be between 0 and {MAX_TTL_S} (a week); 0 holds the claim as long as the name is here"
            )));
        }
        let ask = match restore {
            None => Ask {
                exclusive,
                reason,
                since: now,
                expires: (ttl_s > 0).then(|| now + ttl_s as u64),
            },
            Some(restore) => {
                let since = parse_ts(&restore.since).ok_or_else(|| {
                    Refusal::invalid(format!(
                        "restore.since '{}' is not a timestamp",
                        restore.since
                    ))
                })?;
                let expires = match &restore.expires_at {
                    None => None,
                    Some(ts) => Some(parse_ts(ts).ok_or_else(|| {
                        Refusal::invalid(format!("restore.expires_at '{ts}' is not a timestamp"))
                    })?),
                };
                Ask {
                    exclusive,
                    reason,
                    since: since.min(now),
                    expires,
                }
            }
        };
        let new = patterns
            .iter()
            .filter(|pattern| {
                self.claims
                    .held
                    .get(&(name.to_owned(), pattern.as_str().to_owned()))
                    .is_none()
            })
            .count();
        if self.claims.len() + new > MAX_CLAIMS {
            return Err(Refusal::invalid(format!(
                "the room holds {} claims and keeps at most {MAX_CLAIMS}; release some first",
                self.claims.len()
            )));
        }
        let mut granted = Vec::new();
        let mut conflicts = Vec::new();
        let mut events = Vec::new();
        for pattern in patterns {
            // A restored claim whose time ran out while the daemon was away is simply gone.
            if ask.expires.is_some_and(|expires| expires < now) {
                continue;
            }
            let in_the_way = self.conflicts_with(session, &pattern, ask.exclusive, now);
            if !in_the_way.is_empty() {
                conflicts.extend(in_the_way.into_iter().map(|held_by| ClaimConflict {
                    path: pattern.as_str().to_owned(),
                    held_by,
                }));
                continue;
            }
            let key = (name.to_owned(), pattern.as_str().to_owned());
            let before = self.claims.held.get(&key).cloned();
            let held = Held {
                // A renewal keeps the claim's age.
                since: before
                    .as_ref()
                    .map_or(ask.since, |held| held.since.min(ask.since)),
                pattern,
                exclusive: ask.exclusive,
                reason: ask.reason.to_owned(),
                expires: ask.expires,
            };
            let claim = record(name, &held, now);
            if before.as_ref() != Some(&held) {
                self.claims.held.insert(key, held);
                events.push(ClaimEvent {
                    change: ClaimChange::Granted,
                    claim: claim.clone(),
                });
            }
            granted.push(claim);
        }
        let changes = Changes {
            claims: events,
            ..Changes::default()
        };
        let claimed = Claimed {
            name: name.to_owned(),
            granted,
            conflicts,
        };
        Ok((Response::Claimed(claimed), changes))
    }

    pub(super) fn release(
        &mut self,
        session: SessionId,
        name: &str,
        paths: &[String],
        now: u64,
    ) -> Handled {
        let name = holder_name(name)?;
        self.presence.check_not_held_elsewhere(session, name)?;
        let events = match paths.is_empty() {
            true => self.claims.remove_name(name, ClaimChange::Released, now),
            false => {
                let keys = path_params(paths)?
                    .into_iter()
                    .map(|pattern| (name.to_owned(), pattern.as_str().to_owned()))
                    .collect();
                self.claims.remove_keys(keys, ClaimChange::Released, now)
            }
        };
        let released = Released {
            name: name.to_owned(),
            released: events
                .iter()
                .map(|event| event.claim.path.clone())
                .collect(),
        };
        let changes = Changes {
            claims: events,
            ..Changes::default()
        };
        Ok((Response::Released(released), changes))
    }

    pub(super) fn list_claims(&self, path: &str, now: u64) -> Handled {
        let path = path.trim();
        let claims = match path.is_empty() {
            true => self.claims.records(now, |_| true),
            false => {
                let pattern = Pattern::parse(path).map_err(Refusal::invalid)?;
                self.claims
                    .records(now, |held| held.pattern.overlaps(&pattern))
            }
        };
        Ok((Response::Claims(claims), Changes::default()))
    }

    /// Every live claim, sorted by path, then name (for `get_handoff` and `chatroomd status`).
    pub fn claims(&self, now: u64) -> Vec<Claim> {
        self.claims.records(now, |_| true)
    }

    pub fn has_claims(&self) -> bool {
        self.claims.len() > 0
    }

    /// The exclusive claims of names other than `own` that cover any of `paths` (repository
    /// files, as a hook or `check-claims` resolved them): one entry per (path, claim).
    pub fn check_claims(
        &self,
        own: &[String],
        paths: &[String],
        now: u64,
    ) -> Result<Vec<ClaimConflict>, Refusal> {
        if paths.len() > MAX_CLAIM_PATHS {
            return Err(Refusal::invalid(format!(
                "paths must hold at most {MAX_CLAIM_PATHS} paths"
            )));
        }
        let mut blocked = Vec::new();
        for path in paths {
            let path = file_param(path)?;
            for ((name, _), held) in self.claims.held.iter() {
                if held.exclusive && !own.contains(name) && held.pattern.matches(path) {
                    blocked.push(ClaimConflict {
                        path: path.to_owned(),
                        held_by: record(name, held, now),
                    });
                }
            }
        }
        Ok(blocked)
    }

    /// [`Room::check_claims`] as the reply to a check by the names `own`, found by `linked_by`.
    pub fn claim_check(
        &self,
        own: Vec<String>,
        linked_by: &str,
        paths: &[String],
        now: u64,
    ) -> Result<Response, Refusal> {
        let blocked = self.check_claims(&own, paths, now)?;
        Ok(Response::ClaimCheck(ClaimCheck {
            names: own,
            linked_by: linked_by.to_owned(),
            blocked,
        }))
    }

    /// Ends the claims whose `ttl_s` ran out by `now`. Time is in whole seconds, rounded down, so
    /// a claim ends once `now` is past its `expires_at`: never before its `ttl_s`, at most a
    /// second after.
    pub fn expire_claims(&mut self, now: u64) -> Changes {
        if self.claims.len() == 0 {
            return Changes::default();
        }
        let due: Vec<(String, String)> = self
            .claims
            .held
            .iter()
            .filter(|(_, held)| held.expires.is_some_and(|expires| expires < now))
            .map(|(key, _)| key.clone())
            .collect();
        Changes {
            claims: self.claims.remove_keys(due, ClaimChange::Expired, now),
            ..Changes::default()
        }
    }

    /// The first second at which a claim ends ([`Room::expire_claims`]), if one has a `ttl_s`.
    pub fn next_claim_expiry(&self) -> Option<u64> {
        self.claims
            .held
            .iter()
            .filter_map(|(_, held)| held.expires)
            .min()
            .map(|expires| expires + 1)
    }

    /// The claims of other sessions that a claim of `pattern` by `session` would conflict with.
    fn conflicts_with(
        &self,
        session: SessionId,
        pattern: &Pattern,
        exclusive: bool,
        now: u64,
    ) -> Vec<Claim> {
        self.claims
            .held
            .iter()
            // The overlap first: its literal-prefix fast path turns most claims away before
            // their holder is looked up.
            .filter(|((name, _), held)| {
                (exclusive || held.exclusive)
                    && held.pattern.overlaps(pattern)
                    && self.presence.holder(name) != Some(Some(session))
            })
            .map(|((name, _), held)| record(name, held, now))
            .collect()
    }

    /// `name`, which `session` must hold to `act` under it.
    fn own_name<'a>(
        &self,
        session: SessionId,
        name: &'a str,
        act: &str,
    ) -> Result<&'a str, Refusal> {
        let name = holder_name(name)?;
        match self.presence.holder(name) {
            Some(Some(holder)) if holder == session => Ok(name),
            Some(Some(_)) => Err(Refusal::conflict(format!(
                "name '{name}' is held by another session"
            ))),
            _ => Err(Refusal::invalid(format!(
                "name '{name}' has not joined from this session; join before you {act}"
            ))),
        }
    }
}

/// `paths`: 1..=[`MAX_CLAIM_PATHS`] patterns, each checked, each once.
fn path_params(paths: &[String]) -> Result<Vec<Pattern>, Refusal> {
    if paths.is_empty() {
        return Err(Refusal::invalid(
            "paths must hold at least one repository-relative path or glob",
        ));
    }
    if paths.len() > MAX_CLAIM_PATHS {
        return Err(Refusal::invalid(format!(
            "paths must hold at most {MAX_CLAIM_PATHS} paths"
        )));
    }
    let mut patterns: Vec<Pattern> = Vec::with_capacity(paths.len());
    for path in paths {
        let pattern = Pattern::parse(path.trim()).map_err(Refusal::invalid)?;
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

fn reason_param(reason: &str) -> Result<&str, Refusal> {
    let reason = reason.trim();
    if reason.chars().nth(MAX_REASON_CHARS).is_some() {
        return Err(Refusal::invalid(format!(
            "reason must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    if reason.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            "reason must not contain control characters",
        ));
    }
    Ok(reason)
}

/// A file a check asks about: repository-relative, as the asker resolved it.
fn file_param(path: &str) -> Result<&str, Refusal> {
    let path = path.trim();
    let escapes = path.split('/').any(|segment| segment == "..");
    if path.is_empty() || path.starts_with('/') || escapes || path.contains('\0') {
        return Err(Refusal::invalid(format!(
            "path \"{path}\" is not a file inside the repository"
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests;
