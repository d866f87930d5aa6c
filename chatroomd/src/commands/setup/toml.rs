//! Setup's entries in a TOML config file (Codex's `config.toml`), merged with `toml_edit` so that
//! every comment, key, blank line and the order of what was there survive, and a table setup
//! added is taken out again without a trace.

use toml_edit::{DocumentMut, Item, Table, Value};

use super::{Outcome, dotted};

/// One thing setup wants in a TOML file: these keys in the table at `path` (created, its
/// parents implicit, when missing). A key the user already has with another value is kept (or
/// replaced with `--force`).
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: Vec<String>,
    pub keys: Vec<(String, Value)>,
}

/// Parses a config file's text; the error is one line with the position.
pub fn parse(text: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>().map_err(|err| {
        let position = err
            .span()
            .map(|span| {
                let (line, column) = line_column(text, span.start);
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        format!(
            "is not valid TOML ({position}{}); setup changes nothing",
            err.message().trim().replace('\n', " ")
        )
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Merges `entry` into `doc`, saying what happened in `outcome`.
pub fn install(
    doc: &mut DocumentMut,
    entry: &Entry,
    force: bool,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let table = table_at(doc.as_table_mut(), &entry.path)?;
    for (key, value) in &entry.keys {
        match table.get(key).and_then(Item::as_value) {
            None if table.contains_key(key) => {
                return Err(format!("`{}` is not a value", dotted(&entry.path, key)));
            }
            None => {
                table.insert(key, toml_edit::value(value.clone()));
            }
            Some(existing) if same(existing, value) => {}
            Some(existing) => {
                let existing = shown(existing);
                if force {
                    outcome.note(format!(
                        "replaced {} ({existing} → {})",
                        dotted(&entry.path, key),
                        shown(value)
                    ));
                    table.insert(key, toml_edit::value(value.clone()));
                } else {
                    outcome.note(format!(
                        "kept your {} = {existing} (setup's is {}; --force replaces it)",
                        dotted(&entry.path, key),
                        shown(value)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Takes `entry` out of `doc` again: its keys (all of them, or with one the user changed none
/// unless `force`), then the tables they alone filled.
pub fn remove(doc: &mut DocumentMut, entry: &Entry, force: bool, outcome: &mut Outcome) {
    let Some(table) = existing_table(doc.as_table_mut(), &entry.path) else {
        return;
    };
    let differing: Vec<String> = entry
        .keys
        .iter()
        .filter(|(key, value)| {
            table.get(key).is_some_and(|item| {
                item.as_value()
                    .is_none_or(|existing| !same(existing, value))
            })
        })
        .map(|(key, _)| dotted(&entry.path, key))
        .collect();
    if outcome.keeps_yours(&differing, force) {
        return;
    }
    for (key, _) in &entry.keys {
        table.remove(key);
    }
    // Drop the tables that are empty now, innermost first, as long as each held nothing else.
    for depth in (1..=entry.path.len()).rev() {
        let (last, parent) = entry.path[..depth]
            .split_last()
            .expect("depth is at least one");
        let Some(parent) = existing_table(doc.as_table_mut(), parent) else {
            return;
        };
        match parent.get(last).and_then(Item::as_table) {
            Some(table) if table.is_empty() => {
                parent.remove(last);
            }
            _ => return,
        }
    }
}

/// The table at `path`, created where missing: the parents implicit (no header of their own),
/// so `[mcp_servers.chatroom]` is written without an empty `[mcp_servers]` above it.
fn table_at<'a>(mut table: &'a mut Table, path: &[String]) -> Result<&'a mut Table, String> {
    for (depth, key) in path.iter().enumerate() {
        let is_last = depth + 1 == path.len();
        let item = table.entry(key).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(!is_last);
            Item::Table(new)
        });
        table = item
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a table", path[..=depth].join(".")))?;
    }
    Ok(table)
}

fn existing_table<'a>(mut table: &'a mut Table, path: &[String]) -> Option<&'a mut Table> {
    for key in path {
        table = table.get_mut(key)?.as_table_mut()?;
    }
    Some(table)
}

/// Two values are the same when they print the same without their decoration (the spaces and
/// comments around them).
fn same(left: &Value, right: &Value) -> bool {
    shown(left) == shown(right)
}

fn shown(value: &Value) -> String {
    let mut value = value.clone();
    value.decor_mut().clear();
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Entry {
        Entry {
            path: vec!["mcp_servers".into(), "chatroom".into()],
            keys: vec![
                ("command".into(), "chatroom-shim".into()),
                ("args".into(), Value::Array(toml_edit::Array::new())),
                ("default_tools_approval_mode".into(), "approve".into()),
            ],
        }
    }

    fn trust() -> Entry {
        Entry {
            path: vec!["projects".into(), "/home/me/src/project".into()],
            keys: vec![("trust_level".into(), "trusted".into())],
        }
    }

    fn check(original: &str, entries: &[Entry]) -> (String, String, Vec<String>) {
        let mut doc = parse(original).unwrap();
        let mut outcome = Outcome::default();
        for entry in entries {
            install(&mut doc, entry, false, &mut outcome).unwrap();
        }
        let installed = doc.to_string();
        let mut doc = parse(&installed).unwrap();
        for entry in entries {
            remove(&mut doc, entry, false, &mut outcome);
        }
        (installed, doc.to_string(), outcome.notes)
    }

    #[test]
    fn an_empty_file_gets_the_tables() {
        let (installed, removed, notes) = check("", &[server(), trust()]);
        assert_eq!(
            installed,
            "[mcp_servers.chatroom]\ncommand = \"chatroom-shim\"\nargs = []\ndefault_tools_approval_mode = \"approve\"\n\n[projects.\"/home/me/src/project\"]\ntrust_level = \"trusted\"\n"
        );
        assert_eq!(removed, "");
        assert!(notes.is_empty());
    }

    #[test]
    fn comments_keys_and_order_survive_and_remove_restores_the_bytes() {
        let original = "# my settings\nmodel = \"o4\"  # the fast one\n\n[mcp_servers.other]\ncommand = \"other\" # keep\n\n[projects.\"/elsewhere\"]\ntrust_level = \"trusted\"\n";
        let (installed, removed, _) = check(original, &[server(), trust()]);
        // Every line of the user's is there, in order; ours join the tables they belong with.
        let mut lines = installed.lines();
        for line in original.lines() {
            assert!(
                lines.any(|other| other == line),
                "lost {line:?}:\n{installed}"
            );
        }
        assert!(installed.contains(
            "command = \"other\" # keep\n\n[mcp_servers.chatroom]\ncommand = \"chatroom-shim\""
        ));
        assert_eq!(removed, original);
    }

    #[test]
    fn an_identical_entry_is_left_alone_and_a_differing_key_is_the_users() {
        let original = "[mcp_servers.chatroom]\ncommand = \"/opt/chatroom-shim\" # mine\nargs = []\ndefault_tools_approval_mode = \"approve\"\n";
        let mut doc = parse(original).unwrap();
        let mut outcome = Outcome::default();
        install(&mut doc, &server(), false, &mut outcome).unwrap();
        assert_eq!(doc.to_string(), original);
        assert_eq!(outcome.notes.len(), 1);
        assert!(outcome.notes[0].contains("kept your mcp_servers.chatroom.command"));

        remove(&mut doc, &server(), false, &mut outcome);
        assert_eq!(doc.to_string(), original, "not ours to remove");

        let mut doc = parse(&original.replace("/opt/chatroom-shim", "chatroom-shim")).unwrap();
        let before = doc.to_string();
        install(&mut doc, &server(), false, &mut Outcome::default()).unwrap();
        assert_eq!(doc.to_string(), before, "identical: untouched");
    }

    #[test]
    fn remove_keeps_the_users_other_keys_in_our_table() {
        let original = "[mcp_servers.chatroom]\ncommand = \"chatroom-shim\"\nargs = []\ndefault_tools_approval_mode = \"approve\"\ntool_timeout_sec = 600\n";
        let mut doc = parse(original).unwrap();
        remove(&mut doc, &server(), false, &mut Outcome::default());
        assert_eq!(
            doc.to_string(),
            "[mcp_servers.chatroom]\ntool_timeout_sec = 600\n"
        );
    }

    #[test]
    fn broken_toml_is_refused_with_the_position() {
        let err = parse("a = 1\nb = \n").unwrap_err();
        assert!(
            err.starts_with("is not valid TOML (line 2, column 5"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
