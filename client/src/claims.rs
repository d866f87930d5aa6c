//! The claims this session holds, as the daemon granted them: what a new connection claims again
//! after the daemon died, with each claim's age and expiry, so that to everyone else the agent's
//! claims simply stay. Claims live in the daemon's memory only; this is their second home.

use std::collections::BTreeMap;

use protocol::{ClaimRestore, Request, Response};

use crate::connection::Outcome;

/// One held claim, keyed by (name, path).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    exclusive: bool,
    reason: String,
    restore: ClaimRestore,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldClaims {
    held: BTreeMap<(String, String), Held>,
}

impl HeldClaims {
    /// Whether `request` changes what this session holds, so that its answer must be seen.
    pub fn concerns(request: &Request) -> bool {
        matches!(
            request,
            Request::Claim { .. } | Request::Release { .. } | Request::Leave { .. }
        )
    }

    /// Records the effect of `request`, which the daemon answered with `outcome`; refusals
    /// change nothing.
    pub fn apply(&mut self, request: &Request, outcome: &Outcome) {
        match (request, outcome) {
            (
                Request::Claim {
                    exclusive, reason, ..
                },
                Ok(Response::Claimed(claimed)),
            ) => {
                for claim in &claimed.granted {
                    let held = Held {
                        exclusive: *exclusive,
                        reason: reason.trim().to_owned(),
                        restore: ClaimRestore {
                            since: claim.since.clone(),
                            expires_at: claim.expires_at.clone(),
                        },
                    };
                    self.held
                        .insert((claimed.name.clone(), claim.path.clone()), held);
                }
            }
            (Request::Release { .. }, Ok(Response::Released(released))) => {
                for path in &released.released {
                    self.held.remove(&(released.name.clone(), path.clone()));
                }
            }
            (Request::Leave { name }, Ok(Response::Left(_))) => self.forget_name(name.trim()),
            _ => {}
        }
    }

    /// Drops every claim of `name` (it left, or another session took it).
    pub fn forget_name(&mut self, name: &str) {
        self.held.retain(|(holder, _), _| holder != name);
    }

    /// The requests that claim everything again on a new connection, one per claim.
    pub fn for_reconnect(&self) -> Vec<Request> {
        self.held
            .iter()
            .map(|((name, path), held)| Request::Claim {
                name: name.clone(),
                paths: vec![path.clone()],
                exclusive: held.exclusive,
                reason: held.reason.clone(),
                ttl_s: 0,
                restore: Some(held.restore.clone()),
            })
            .collect()
    }

    /// A re-claim was answered: kept if granted, else forgotten (it expired meanwhile, or
    /// another session claimed it while the daemon was away).
    pub fn restored(&mut self, request: &Request, outcome: &Outcome) -> bool {
        let Request::Claim { name, paths, .. } = request else {
            return false;
        };
        let granted =
            matches!(outcome, Ok(Response::Claimed(claimed)) if !claimed.granted.is_empty());
        if !granted {
            for path in paths {
                self.held.remove(&(name.clone(), path.clone()));
            }
        }
        granted
    }

    /// The held claims as (name, path), in order.
    pub fn paths(&self) -> Vec<(String, String)> {
        self.held.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Claim, Claimed, Refusal, Released};

    fn claim_request(name: &str, paths: &[&str]) -> Request {
        Request::Claim {
            name: name.into(),
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            exclusive: true,
            reason: " refactor ".into(),
            ttl_s: 60,
            restore: None,
        }
    }

    fn granted(name: &str, paths: &[&str]) -> Outcome {
        Ok(Response::Claimed(Claimed {
            name: name.into(),
            granted: paths
                .iter()
                .map(|path| Claim {
                    path: (*path).into(),
                    name: name.into(),
                    exclusive: true,
                    reason: "refactor".into(),
                    since: "2026-12-03T07:00:00Z".into(),
                    expires_at: Some("2026-12-03T07:01:00Z".into()),
                    held_s: 0,
                })
                .collect(),
            conflicts: vec![],
        }))
    }

    #[test]
    fn granted_claims_are_claimed_again_with_their_age_and_expiry() {
        let mut held = HeldClaims::default();
        // Only what was granted is held (b.rs was in conflict), normalised as granted.
        held.apply(
            &claim_request("ann", &["./a.rs", "b.rs"]),
            &granted("ann", &["a.rs"]),
        );
        held.apply(
            &claim_request("ann", &["c.rs"]),
            &Err(Refusal::invalid("refused")),
        );
        let again = held.for_reconnect();
        assert_eq!(
            again,
            [Request::Claim {
                name: "ann".into(),
                paths: vec!["a.rs".into()],
                exclusive: true,
                reason: "refactor".into(),
                ttl_s: 0,
                restore: Some(ClaimRestore {
                    since: "2026-12-03T07:00:00Z".into(),
                    expires_at: Some("2026-12-03T07:01:00Z".into()),
                }),
            }]
        );
        // Not granted again: forgotten.
        let refused = Ok(Response::Claimed(Claimed {
            name: "ann".into(),
            granted: vec![],
            conflicts: vec![],
        }));
        assert!(!held.restored(&again[0], &refused));
        assert!(held.paths().is_empty());
    }

    #[test]
    fn release_and_leave_forget_claims() {
        let mut held = HeldClaims::default();
        held.apply(
            &claim_request("ann", &["a.rs", "b.rs"]),
            &granted("ann", &["a.rs", "b.rs"]),
        );
        held.apply(&claim_request("bob", &["c.rs"]), &granted("bob", &["c.rs"]));
        let release = Request::Release {
            name: "ann".into(),
            paths: vec!["a.rs".into()],
        };
        let released = Ok(Response::Released(Released {
            name: "ann".into(),
            released: vec!["a.rs".into()],
        }));
        held.apply(&release, &released);
        assert_eq!(
            held.paths(),
            [("ann".into(), "b.rs".into()), ("bob".into(), "c.rs".into())]
        );
        held.apply(
            &Request::Leave {
                name: " bob ".into(),
            },
            &Ok(Response::Left(true)),
        );
        assert_eq!(held.paths(), [("ann".to_owned(), "b.rs".to_owned())]);
    }
}
