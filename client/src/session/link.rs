//! What links a session to its agent: the agent CLI's pid and the client's session ids, sent
//! as [`Request::Link`] first on every connection so that hooks and waits find their session.

use protocol::Request;

/// What links this session to its agent, sent as [`Request::Link`] on every connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// The pid of the agent CLI that launched the shim (0: none).
    pub agent_pid: u32,
    /// The client session ids given to the MCP server, oldest first (`CLAUDE_CODE_SESSION_ID`,
    /// each new Codex session id); blank ones are never kept.
    pub client_session_ids: Vec<String>,
}

impl Link {
    /// The agent process and, if the client gave one, its session id.
    pub fn new(agent_pid: u32, client_session_id: &str) -> Self {
        let mut link = Self {
            agent_pid,
            client_session_ids: Vec::new(),
        };
        link.add(client_session_id);
        link
    }

    /// Adds `id` unless it is blank or known; returns whether it was new.
    pub fn add(&mut self, id: &str) -> bool {
        let id = id.trim();
        if id.is_empty() || self.client_session_ids.iter().any(|known| known == id) {
            return false;
        }
        self.client_session_ids.push(id.to_owned());
        true
    }

    /// The requests that tell a new connection all of it: one per id (the daemon keeps the
    /// latest few, so the newest goes last), or the pid alone; none when there is nothing.
    pub fn requests(&self) -> Vec<Request> {
        match self.client_session_ids.as_slice() {
            [] if self.agent_pid == 0 => Vec::new(),
            [] => vec![self.request("")],
            ids => ids.iter().map(|id| self.request(id)).collect(),
        }
    }

    /// The link of `client_session_id` (blank: the pid alone) with the agent's pid.
    pub(super) fn request(&self, client_session_id: &str) -> Request {
        Request::Link {
            client_session_id: client_session_id.to_owned(),
            agent_pid: self.agent_pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_sends_every_id_with_the_pid_or_the_pid_alone() {
        assert!(Link::default().requests().is_empty(), "nothing to link");
        let pid_only = Link::new(42, "  ");
        assert_eq!(
            pid_only.requests(),
            [Request::Link {
                client_session_id: String::new(),
                agent_pid: 42
            }]
        );
        let mut link = Link::new(42, "claude-1");
        assert!(link.add(" codex-1 "));
        assert!(!link.add("codex-1"), "a known id is not new");
        assert!(!link.add(""), "a blank id is nothing");
        let ids: Vec<_> = link
            .requests()
            .into_iter()
            .map(|request| match request {
                Request::Link {
                    client_session_id,
                    agent_pid: 42,
                } => client_session_id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["claude-1", "codex-1"]);
    }
}
