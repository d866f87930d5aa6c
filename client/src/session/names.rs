//! The names a session holds, read off its join and leave requests and their answers: what a
//! reconnect joins again, and which names it must not because a leave of them is in flight.

use std::collections::BTreeMap;

use protocol::{Request, Response};

use crate::connection::Outcome;

/// A change to the names this session holds, read off a request before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameChange {
    Join { name: String, role: String },
    Leave { name: String },
}

impl NameChange {
    pub fn of(request: &Request) -> Option<Self> {
        // The daemon stores names trimmed; keying by the trimmed value keeps " ann" and "ann"
        // one name here too.
        match request {
            Request::Join { name, role } => Some(Self::Join {
                name: name.trim().to_owned(),
                role: role.trim().to_owned(),
            }),
            Request::Leave { name } => Some(Self::Leave {
                name: name.trim().to_owned(),
            }),
            _ => None,
        }
    }
}

/// The names this session holds and their roles: what to join again after a reconnect.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldNames {
    roles: BTreeMap<String, String>,
    /// Names with a leave in flight, with how many: not joined again by a reconnect.
    leaving: BTreeMap<String, usize>,
}

impl HeldNames {
    /// Notes a request about to be sent; returns whether the name it concerns is held now.
    pub fn begin(&mut self, change: &NameChange) -> bool {
        match change {
            NameChange::Join { name, .. } => self.roles.contains_key(name),
            NameChange::Leave { name } => {
                *self.leaving.entry(name.clone()).or_default() += 1;
                self.roles.contains_key(name)
            }
        }
    }

    /// Undoes [`HeldNames::begin`] once the request is answered or has failed.
    pub fn end(&mut self, change: &NameChange) {
        if let NameChange::Leave { name } = change
            && let Some(count) = self.leaving.get_mut(name)
        {
            *count -= 1;
            if *count == 0 {
                self.leaving.remove(name);
            }
        }
    }

    /// Records the effect of a request the daemon answered; refusals change nothing.
    pub fn apply(&mut self, change: NameChange, outcome: &Outcome) {
        match (change, outcome) {
            (NameChange::Join { name, role }, Ok(Response::Participants(_))) => {
                self.roles.insert(name, role);
            }
            // After a successful leave this session holds the name no more, whether it held it
            // before (`true`) or nobody did (`false`).
            (NameChange::Leave { name }, Ok(Response::Left(_))) => {
                self.roles.remove(&name);
            }
            _ => {}
        }
    }

    pub fn forget(&mut self, name: &str) {
        self.roles.remove(name);
    }

    /// Every held name with its role, in name order.
    pub fn names(&self) -> Vec<(String, String)> {
        self.roles
            .iter()
            .map(|(name, role)| (name.clone(), role.clone()))
            .collect()
    }

    /// What a new connection joins again: every held name but those being left, which went with
    /// the old connection and stay gone (the repeated leave then answers for them).
    pub fn for_reconnect(&mut self) -> Vec<(String, String)> {
        let leaving = &self.leaving;
        self.roles.retain(|name, _| !leaving.contains_key(name));
        self.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Refusal;

    fn join(name: &str, role: &str) -> NameChange {
        NameChange::of(&Request::Join {
            name: name.into(),
            role: role.into(),
        })
        .unwrap()
    }

    fn leave(name: &str) -> NameChange {
        NameChange::of(&Request::Leave { name: name.into() }).unwrap()
    }

    fn joined() -> Outcome {
        Ok(Response::Participants(vec![]))
    }

    fn pairs(held: &HeldNames) -> Vec<(&str, &str)> {
        held.roles
            .iter()
            .map(|(name, role)| (name.as_str(), role.as_str()))
            .collect()
    }

    #[test]
    fn joins_are_held_trimmed_with_their_latest_role() {
        let mut held = HeldNames::default();
        held.apply(join("  ann ", "general"), &joined());
        held.apply(join("bob", "review"), &joined());
        held.apply(join("ann", " lead "), &joined());
        assert_eq!(pairs(&held), [("ann", "lead"), ("bob", "review")]);
        assert_eq!(
            held.names(),
            [
                ("ann".to_owned(), "lead".to_owned()),
                ("bob".to_owned(), "review".to_owned())
            ]
        );
    }

    #[test]
    fn refusals_and_odd_replies_change_nothing() {
        let mut held = HeldNames::default();
        held.apply(
            join("ann", "general"),
            &Err(Refusal::conflict(
                "name 'ann' is already active in another session",
            )),
        );
        held.apply(join("ann", "general"), &Ok(Response::Id(1)));
        assert!(held.names().is_empty());

        held.apply(join("ann", "general"), &joined());
        held.apply(
            leave("ann"),
            &Err(Refusal::conflict("name 'ann' is held by another session")),
        );
        assert_eq!(pairs(&held), [("ann", "general")]);
    }

    #[test]
    fn leaving_releases_the_name() {
        let mut held = HeldNames::default();
        held.apply(join("ann", "general"), &joined());
        held.apply(join("bob", "general"), &joined());
        held.apply(leave(" ann"), &Ok(Response::Left(true)));
        assert_eq!(pairs(&held), [("bob", "general")]);
        held.apply(leave("bob"), &Ok(Response::Left(false)));
        assert!(held.names().is_empty());
    }

    #[test]
    fn a_reconnect_drops_the_names_being_left() {
        let mut held = HeldNames::default();
        held.apply(join("ann", "general"), &joined());
        held.apply(join("bob", "general"), &joined());
        assert!(held.begin(&leave("ann")), "ann was held");
        assert_eq!(
            held.for_reconnect(),
            [("bob".to_owned(), "general".to_owned())]
        );
        held.end(&leave("ann"));
        assert_eq!(
            held.for_reconnect(),
            [("bob".to_owned(), "general".to_owned())]
        );
        assert!(
            !held.begin(&leave("ann")),
            "ann is gone even if the leave failed"
        );
    }

    #[test]
    fn forgetting_a_name_taken_elsewhere() {
        let mut held = HeldNames::default();
        held.apply(join("ann", "general"), &joined());
        held.forget("ann");
        assert!(held.names().is_empty());
    }

    #[test]
    fn only_join_and_leave_change_names() {
        assert_eq!(NameChange::of(&Request::ListParticipants), None);
        assert_eq!(
            NameChange::of(&Request::SendMessage {
                topic_id: String::new(),
                name: "ann".into(),
                content: "hi".into(),
                to: "all".into(),
            }),
            None
        );
    }
}
