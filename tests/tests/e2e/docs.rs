//! The documentation cannot silently fall behind the code or point out of the repository: every
//! tool the real shim lists in `tools/list` has its section in `docs/tools.md`, with one table row
//! per parameter giving its default (or saying it is required), and no section documents a tool
//! that does not exist; every relative link in `README.md` and `docs/*.md` names a file or
//! directory inside the repository, and every `#anchor` in them names a heading of its file.

use std::path::{Path, PathBuf};

use chatroom_tests::TestRoom;
use serde_json::Value;

/// The workspace root (this crate is `tests/` in it).
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .canonicalize()
        .expect("canonical workspace root")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The section of `doc` under the heading line `heading`, up to the next heading of any level.
fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let start = doc.find(&format!("\n{heading}\n"))? + heading.len() + 2;
    let rest = &doc[start..];
    let end = rest.find("\n#").map_or(rest.len(), |end| end + 1);
    Some(&rest[..end])
}

#[tokio::test]
async fn every_listed_tool_and_parameter_is_in_the_reference() {
    let reference = read(&repository().join("docs/tools.md"));
    let room = TestRoom::new();
    let agent = room.agent().await;
    let tools = agent.peer().list_all_tools().await.expect("tools/list");
    assert!(!tools.is_empty(), "the shim lists no tools");

    for tool in &tools {
        let name = tool.name.as_ref();
        let heading = format!("### `{name}`");
        let text = section(&reference, &heading)
            .unwrap_or_else(|| panic!("docs/tools.md has no `{heading}` section"));
        let schema = Value::Object(tool.input_schema.as_ref().clone());
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (param, property) in &properties {
            let row = text
                .lines()
                .find(|line| line.starts_with(&format!("| `{param}` |")))
                .unwrap_or_else(|| {
                    panic!("docs/tools.md, {heading}: no table row for parameter `{param}`")
                });
            let default = match property.get("default") {
                Some(default) => format!("`{default}`"),
                None => "required".to_owned(),
            };
            assert!(
                row.contains(&default),
                "docs/tools.md, {heading}: the row of `{param}` should give {default}: {row}"
            );
        }
    }

    // And nothing documented as a tool is missing from the shim.
    let listed: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    for line in reference.lines() {
        if let Some(name) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            assert!(
                listed.contains(&name),
                "docs/tools.md documents `{name}`, which the shim does not list"
            );
        }
    }
    agent.close().await;
    room.finish();
}

/// The targets of the inline links `[text](target)` in `markdown`.
fn link_targets(markdown: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        targets.push(&rest[..end]);
        rest = &rest[end..];
    }
    targets
}

/// The anchors GitHub gives the headings of `markdown`: lowercased, punctuation but `-` and `_`
/// dropped, spaces turned into `-`, a repeated one suffixed `-1`, `-2`, ….
fn anchors(markdown: &str) -> Vec<String> {
    let mut slugs: Vec<String> = Vec::new();
    let mut anchors = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        let Some(title) = line.strip_prefix('#').filter(|_| !in_code) else {
            continue;
        };
        let slug: String = title
            .trim_start_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let seen = slugs.iter().filter(|earlier| **earlier == slug).count();
        anchors.push(match seen {
            0 => slug.clone(),
            _ => format!("{slug}-{seen}"),
        });
        slugs.push(slug);
    }
    anchors
}

#[test]
fn relative_links_stay_inside_the_repository() {
    let repository = repository();
    let mut docs = vec![repository.join("README.md")];
    for entry in std::fs::read_dir(repository.join("docs")).expect("docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|ext| ext == "md") {
            docs.push(path);
        }
    }
    for doc in docs {
        let dir = doc.parent().expect("the document's directory");
        for target in link_targets(&read(&doc)) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let linked = if path.is_empty() {
                doc.clone()
            } else {
                let resolved = dir.join(path).canonicalize();
                assert!(
                    resolved
                        .as_ref()
                        .is_ok_and(|resolved| resolved.starts_with(&repository)),
                    "{} links to {target}, which is not a file in the repository",
                    doc.display()
                );
                resolved.unwrap()
            };
            if !anchor.is_empty() {
                assert!(
                    anchors(&read(&linked)).iter().any(|known| known == anchor),
                    "{} links to {target}, but {} has no heading with that anchor",
                    doc.display(),
                    linked.display()
                );
            }
        }
    }
}
