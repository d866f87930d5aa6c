//! Setup's entries in a JSON config file, and how they are merged in and taken out again. The
//! file is read into a `serde_json::Value` whose objects keep their key order (`preserve_order`),
//! changed, and written back with the indentation it had, so every key, value and order of the
//! user's survives and a file in the usual two-space layout comes back byte for byte after
//! `--remove`. Files with comments (JSONC) are refused, not rewritten without them.

use serde::Serialize as _;
use serde_json::{Map, Value};

use super::{Outcome, dotted};

/// One thing setup wants in a JSON file.
#[derive(Debug, Clone)]
pub enum Entry {
    /// These members in the object at `path` (created when missing). A member the user already
    /// has with another value is the user's: kept (or replaced with `--force`).
    Keys {
        path: Vec<String>,
        keys: Vec<(String, Value)>,
        /// Left in place by `--remove` (Cursor's `version`, which the user's hooks need too).
        keep_on_remove: bool,
    },
    /// `item` in the array at `path` (created when missing).
    Item { path: Vec<String>, item: Value },
    /// Our hooks, per event, in the object at `path`: the whole list of entries for that event
    /// (matcher groups, or for Cursor plain commands). Ours are the handlers whose `command`
    /// starts with [`super::HOOK_COMMAND_PREFIX`]; the user's hooks are never touched.
    Hooks {
        path: Vec<String>,
        events: Vec<(String, Vec<Value>)>,
        /// Claude Code, Codex and Gemini nest handlers in matcher groups; Cursor lists them.
        nested: bool,
    },
}

/// Parses a config file's text: empty text is an empty object; anything else must be a JSON
/// object. The error is one line with the position, for the caller to prefix with the file.
pub fn parse(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("is not a JSON object".into()),
        Err(err) => Err(format!(
            "is not plain JSON (line {}, column {}: {}); comments are not supported, so setup changes nothing",
            err.line(),
            err.column(),
            strip_position(&err.to_string())
        )),
    }
}

/// serde_json's message without its own " at line L column C" suffix.
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// Writes `doc` back as `original` was laid out: its indentation unit (two spaces when it had
/// none to copy), and a final newline when it had one (a new file gets one).
pub fn render(doc: &Map<String, Value>, original: Option<&str>) -> String {
    let indent = original
        .and_then(indent_unit)
        .unwrap_or_else(|| "  ".into());
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    doc.serialize(&mut serializer)
        .expect("a JSON value always serializes");
    let mut text = String::from_utf8(out).expect("serde_json writes UTF-8");
    if original.is_none_or(|original| original.ends_with('\n')) {
        text.push('\n');
    }
    text
}

/// The whitespace that indents the first nested line of a pretty-printed file.
fn indent_unit(text: &str) -> Option<String> {
    text.lines().skip(1).find_map(|line| {
        let unit: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        (!unit.is_empty()).then_some(unit)
    })
}

/// Merges `entry` into `doc`, saying what happened in `outcome`. `force` replaces a member of
/// ours that the user changed.
pub fn install(
    doc: &mut Map<String, Value>,
    entry: &Entry,
    force: bool,
    outcome: &mut Outcome,
) -> Result<(), String> {
    match entry {
        Entry::Keys { path, keys, .. } => {
            let object = object_at(doc, path)?;
            for (key, value) in keys {
                match object.get(key) {
                    None => {
                        object.insert(key.clone(), value.clone());
                    }
                    Some(existing) if existing == value => {}
                    Some(existing) if force => {
                        outcome.note(format!(
                            "replaced {} ({} → {})",
                            dotted(path, key),
                            compact(existing),
                            compact(value)
                        ));
                        object.insert(key.clone(), value.clone());
                    }
                    Some(existing) => outcome.note(format!(
                        "kept your {} = {} (setup's is {}; --force replaces it)",
                        dotted(path, key),
                        compact(existing),
                        compact(value)
                    )),
                }
            }
        }
        Entry::Item { path, item } => {
            let (parent, last) = split(path);
            let object = object_at(doc, parent)?;
            let array = object
                .entry(last.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = array else {
                return Err(format!("`{}` is not an array", path.join(".")));
            };
            if !items.contains(item) {
                items.push(item.clone());
            }
        }
        Entry::Hooks {
            path,
            events,
            nested,
        } => {
            let hooks = object_at(doc, path)?;
            for (event, wanted) in events {
                let list = hooks
                    .entry(event.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = list else {
                    return Err(format!("`{}` is not an array", dotted(path, event)));
                };
                if &ours(list, *nested) != wanted {
                    strip(list, *nested);
                    list.extend(wanted.iter().cloned());
                }
            }
        }
    }
    Ok(())
}

/// Takes `entry` out of `doc` again, leaving everything else, and drops the objects and arrays
/// that only held what was taken out.
pub fn remove(doc: &mut Map<String, Value>, entry: &Entry, force: bool, outcome: &mut Outcome) {
    match entry {
        Entry::Keys {
            keep_on_remove: true,
            ..
        } => {}
        Entry::Keys { path, keys, .. } => {
            let Some(object) = existing_object(doc, path) else {
                return;
            };
            let differing: Vec<String> = keys
                .iter()
                .filter(|(key, value)| object.get(key).is_some_and(|existing| existing != value))
                .map(|(key, _)| dotted(path, key))
                .collect();
            if outcome.keeps_yours(&differing, force) {
                return;
            }
            for (key, _) in keys {
                object.shift_remove(key);
            }
            prune(doc, path);
        }
        Entry::Item { path, item } => {
            let (parent, last) = split(path);
            let Some(object) = existing_object(doc, parent) else {
                return;
            };
            let Some(Value::Array(items)) = object.get_mut(last) else {
                return;
            };
            let before = items.len();
            items.retain(|existing| existing != item);
            if items.is_empty() && before > 0 {
                object.shift_remove(last);
                prune(doc, parent);
            }
        }
        Entry::Hooks {
            path,
            events,
            nested,
        } => {
            let Some(hooks) = existing_object(doc, path) else {
                return;
            };
            for (event, _) in events {
                let Some(Value::Array(list)) = hooks.get_mut(event) else {
                    continue;
                };
                let before = list.len();
                strip(list, *nested);
                if list.is_empty() && before > 0 {
                    hooks.shift_remove(event);
                }
            }
            prune(doc, path);
        }
    }
}

/// Whether a hook handler is one of setup's.
fn is_ours(handler: &Value) -> bool {
    handler
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|command| command.starts_with(super::HOOK_COMMAND_PREFIX))
}

/// Our part of one event's list: each matcher group holding a handler of ours, with only our
/// handlers in it (or, flat, our handlers).
fn ours(list: &[Value], nested: bool) -> Vec<Value> {
    if !nested {
        return list.iter().filter(|item| is_ours(item)).cloned().collect();
    }
    list.iter()
        .filter_map(|group| {
            let handlers = group.get("hooks")?.as_array()?;
            let mine: Vec<Value> = handlers.iter().filter(|h| is_ours(h)).cloned().collect();
            if mine.is_empty() {
                return None;
            }
            let mut group = group.clone();
            group["hooks"] = Value::Array(mine);
            Some(group)
        })
        .collect()
}

/// Removes our handlers from one event's list, and the groups that held only ours.
fn strip(list: &mut Vec<Value>, nested: bool) {
    if !nested {
        list.retain(|item| !is_ours(item));
        return;
    }
    list.retain_mut(|group| {
        let Some(Value::Array(handlers)) = group.get_mut("hooks") else {
            return true;
        };
        let before = handlers.len();
        handlers.retain(|handler| !is_ours(handler));
        !(handlers.is_empty() && before > 0)
    });
}

/// The object at `path`, created (as empty objects) where missing.
fn object_at<'a>(
    doc: &'a mut Map<String, Value>,
    path: &[String],
) -> Result<&'a mut Map<String, Value>, String> {
    let mut object = doc;
    for (depth, key) in path.iter().enumerate() {
        let value = object
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        object = value
            .as_object_mut()
            .ok_or_else(|| format!("`{}` is not an object", path[..=depth].join(".")))?;
    }
    Ok(object)
}

/// The object at `path` if it is there.
fn existing_object<'a>(
    doc: &'a mut Map<String, Value>,
    path: &[String],
) -> Option<&'a mut Map<String, Value>> {
    let mut object = doc;
    for key in path {
        object = object.get_mut(key)?.as_object_mut()?;
    }
    Some(object)
}

/// Drops the object at `path` if it is empty, then its parents that it alone filled. Called
/// only after a removal, so an empty object here is one that removal emptied.
fn prune(doc: &mut Map<String, Value>, path: &[String]) {
    for depth in (1..=path.len()).rev() {
        let (parent, last) = split(&path[..depth]);
        let Some(object) = existing_object(doc, parent) else {
            return;
        };
        match object.get(last) {
            Some(Value::Object(inner)) if inner.is_empty() => {
                object.shift_remove(last);
            }
            _ => return,
        }
    }
}

fn split(path: &[String]) -> (&[String], &str) {
    let (last, parent) = path.split_last().expect("an entry's path is never empty");
    (parent, last)
}

fn compact(value: &Value) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|key| (*key).to_owned()).collect()
    }

    fn server() -> Entry {
        Entry::Keys {
            path: path(&["mcpServers", "chatroom"]),
            keys: vec![
                ("command".into(), json!("chatroom-shim")),
                ("args".into(), json!([])),
            ],
            keep_on_remove: false,
        }
    }

    fn stop_hooks() -> Entry {
        Entry::Hooks {
            path: path(&["hooks"]),
            events: vec![(
                "Stop".into(),
                vec![
                    json!({"hooks": [{"type": "command", "command": "chatroomd hook claude-code stop", "timeout": 10}]}),
                ],
            )],
            nested: true,
        }
    }

    /// Installs `entries` into `text` and renders it; then removes them from that and renders
    /// again. Returns (installed, removed, notes).
    fn check(text: Option<&str>, entries: &[Entry]) -> (String, String, Vec<String>) {
        let mut doc = parse(text.unwrap_or("")).expect("parses");
        let mut outcome = Outcome::default();
        for entry in entries {
            install(&mut doc, entry, false, &mut outcome).expect("installs");
        }
        let installed = render(&doc, text);
        let mut doc = parse(&installed).expect("parses what it wrote");
        for entry in entries {
            remove(&mut doc, entry, false, &mut outcome);
        }
        let removed = if doc.is_empty() {
            String::new()
        } else {
            render(&doc, Some(&installed))
        };
        (installed, removed, outcome.notes)
    }

    #[test]
    fn an_empty_file_gets_the_entries_and_loses_them_again() {
        let (installed, removed, notes) = check(None, &[server(), stop_hooks()]);
        assert_eq!(
            installed,
            "{\n  \"mcpServers\": {\n    \"chatroom\": {\n      \"command\": \"chatroom-shim\",\n      \"args\": []\n    }\n  },\n  \"hooks\": {\n    \"Stop\": [\n      {\n        \"hooks\": [\n          {\n            \"type\": \"command\",\n            \"command\": \"chatroomd hook claude-code stop\",\n            \"timeout\": 10\n          }\n        ]\n      }\n    ]\n  }\n}\n"
        );
        assert_eq!(
            removed, "",
            "nothing of the user's: the file would be deleted"
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn other_keys_their_order_and_the_indentation_survive_and_remove_restores_the_bytes() {
        let original = "{\n    \"zeta\": 1,\n    \"hooks\": {\n        \"Stop\": [\n            {\n                \"hooks\": [\n                    {\n                        \"type\": \"command\",\n                        \"command\": \"say done\"\n                    }\n                ]\n            }\n        ]\n    },\n    \"alpha\": [\n        true\n    ]\n}\n";
        let (installed, removed, _) = check(Some(original), &[server(), stop_hooks()]);
        let doc: Value = serde_json::from_str(&installed).unwrap();
        assert_eq!(
            doc.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["zeta", "hooks", "alpha", "mcpServers"],
            "new keys go after the user's, in order"
        );
        assert_eq!(
            doc["hooks"]["Stop"][0]["hooks"][0]["command"], "say done",
            "the user's hook stays first"
        );
        assert_eq!(
            doc["hooks"]["Stop"][1]["hooks"][0]["command"],
            "chatroomd hook claude-code stop"
        );
        assert!(
            installed.contains("\n    \"zeta\""),
            "four-space indent kept"
        );
        assert_eq!(removed, original);
    }

    #[test]
    fn an_identical_entry_is_left_alone() {
        let (installed, _, _) = check(None, &[server(), stop_hooks()]);
        let mut doc = parse(&installed).unwrap();
        let mut outcome = Outcome::default();
        for entry in [server(), stop_hooks()] {
            install(&mut doc, &entry, false, &mut outcome).unwrap();
        }
        assert_eq!(render(&doc, Some(&installed)), installed);
        assert!(outcome.notes.is_empty());
    }

    #[test]
    fn a_changed_hook_of_ours_is_replaced_not_duplicated() {
        let original = r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "chatroomd hook claude-code stop", "timeout": 99}, {"type": "command", "command": "mine"}]}]}}"#;
        let mut doc = parse(original).unwrap();
        install(&mut doc, &stop_hooks(), false, &mut Outcome::default()).unwrap();
        assert_eq!(
            Value::Object(doc),
            json!({"hooks": {"Stop": [
                {"hooks": [{"type": "command", "command": "mine"}]},
                {"hooks": [{"type": "command", "command": "chatroomd hook claude-code stop", "timeout": 10}]}
            ]}})
        );
    }

    #[test]
    fn the_users_differing_server_entry_is_kept_unless_forced() {
        let original =
            r#"{"mcpServers": {"chatroom": {"command": "/opt/bin/chatroom-shim", "args": []}}}"#;
        let mut doc = parse(original).unwrap();
        let mut outcome = Outcome::default();
        install(&mut doc, &server(), false, &mut outcome).unwrap();
        assert_eq!(
            doc["mcpServers"]["chatroom"]["command"],
            "/opt/bin/chatroom-shim"
        );
        assert_eq!(outcome.notes.len(), 1, "{:?}", outcome.notes);
        assert!(outcome.notes[0].contains("kept your mcpServers.chatroom.command"));

        remove(&mut doc, &server(), false, &mut outcome);
        assert_eq!(
            doc["mcpServers"]["chatroom"]["command"], "/opt/bin/chatroom-shim",
            "remove leaves the user's entry"
        );

        install(&mut doc, &server(), true, &mut outcome).unwrap();
        assert_eq!(doc["mcpServers"]["chatroom"]["command"], "chatroom-shim");
    }

    #[test]
    fn remove_takes_only_our_array_items_and_flat_hooks() {
        let original = r#"{"permissions": {"allow": ["Bash(ls)", "mcp__chatroom__*"]}, "version": 1, "hooks": {"stop": [{"command": "mine"}, {"command": "chatroomd hook cursor stop"}]}}"#;
        let mut doc = parse(original).unwrap();
        let mut outcome = Outcome::default();
        let entries = [
            Entry::Item {
                path: path(&["permissions", "allow"]),
                item: json!("mcp__chatroom__*"),
            },
            Entry::Keys {
                path: vec![],
                keys: vec![("version".into(), json!(1))],
                keep_on_remove: true,
            },
            Entry::Hooks {
                path: path(&["hooks"]),
                events: vec![("stop".into(), vec![])],
                nested: false,
            },
        ];
        for entry in &entries {
            remove(&mut doc, entry, false, &mut outcome);
        }
        assert_eq!(
            Value::Object(doc),
            json!({"permissions": {"allow": ["Bash(ls)"]}, "version": 1, "hooks": {"stop": [{"command": "mine"}]}})
        );
    }

    #[test]
    fn a_compact_file_stays_without_a_final_newline() {
        let (installed, _, _) = check(Some(r#"{"a":1}"#), &[server()]);
        assert!(!installed.ends_with('\n'));
        assert!(installed.starts_with("{\n  \"a\": 1,"));
    }

    #[test]
    fn comments_are_refused_with_the_position() {
        let err = parse("{\n  // mine\n  \"a\": 1\n}\n").unwrap_err();
        assert!(
            err.starts_with("is not plain JSON (line 2, column 3"),
            "{err}"
        );
        assert!(!err.contains('\n'));
        assert_eq!(parse("[1]").unwrap_err(), "is not a JSON object");
    }

    #[test]
    fn a_non_object_on_the_path_is_an_error() {
        let mut doc = parse(r#"{"hooks": []}"#).unwrap();
        let err = install(&mut doc, &stop_hooks(), false, &mut Outcome::default()).unwrap_err();
        assert_eq!(err, "`hooks` is not an object");
    }
}
