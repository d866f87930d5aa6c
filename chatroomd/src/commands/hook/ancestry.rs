//! The hook's process ancestry: its parent, grandparent, … read from `/proc/<pid>/stat`. The
//! agent's CLI is among them (a hook runs as `sh -c …` whose parent is the CLI, which is also
//! the shim's parent), so the daemon can find the agent session a hook belongs to where no
//! session id links them.

/// How many ancestors are read at most.
pub const MAX_ANCESTORS: usize = 32;

/// The ancestors of process `pid`, its parent first, up to [`MAX_ANCESTORS`], stopping before
/// pid 1 (and wherever `/proc` cannot say: another OS, a process gone meanwhile).
pub fn ancestors(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut current = pid;
    while found.len() < MAX_ANCESTORS {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{current}/stat")) else {
            break;
        };
        match parent_of(&stat) {
            Some(parent) if parent > 1 && !found.contains(&parent) => {
                found.push(parent);
                current = parent;
            }
            _ => break,
        }
    }
    found
}

/// The parent pid in a `/proc/<pid>/stat` line: `pid (comm) state ppid …`. The command name may
/// hold spaces and parentheses, so the fields are read after the last `)`.
pub fn parent_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_the_last_parenthesis() {
        assert_eq!(parent_of("4242 (sh) S 4100 4242 4100 0 -1"), Some(4100));
        assert_eq!(
            parent_of("77 (my (odd) ) name) R 12 77 12 34816 77 4194304"),
            Some(12)
        );
        assert_eq!(parent_of("9 (claude) S"), None);
        assert_eq!(parent_of("no parenthesis 1 2"), None);
        assert_eq!(parent_of("5 (x) S notanumber"), None);
    }

    #[test]
    fn this_process_has_its_parent_first() {
        let ours = ancestors(std::process::id());
        if std::path::Path::new("/proc/self/stat").exists() {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
            let parent = parent_of(&stat).unwrap();
            if parent > 1 {
                assert_eq!(ours.first(), Some(&parent));
            }
            assert!(!ours.contains(&1) && ours.len() <= MAX_ANCESTORS);
        } else {
            assert!(ours.is_empty());
        }
    }
}
