//! `chatroomd setup`: makes a repository ready for the agent clients a person names (or that it
//! finds): the MCP server entry, the approvals each client asks for before it runs the tools,
//! and the `chatroomd hook` adapters. Each client's module ([`claude`], [`codex`], [`gemini`],
//! [`cursor`]) says which files get which entries; [`plan`] merges them in (or with `--remove`
//! takes them out) through [`json`] and [`toml`], shows the change as a diff, and writes it.
//!
//! Shared files live in the repository and are meant to be committed: they get only what every
//! collaborator wants (the server, the hooks). Personal files live under `$HOME` and hold one
//! person's approvals. Nothing is written until every file has been read and merged, so a file
//! that cannot be merged (JSON with comments, say) changes nothing anywhere.

mod claude;
mod codex;
mod cursor;
mod gemini;
mod git_hook;
mod hooks;
mod json;
mod plan;
mod toml;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::cli::RootArg;
use crate::commands::transcript::write_stdout;

/// Every command line of ours in a client's hooks starts with this; it is how `--remove` and a
/// second run know our hooks from the person's.
pub const HOOK_COMMAND_PREFIX: &str = "chatroomd hook ";

/// The MCP server every client launches (found on `PATH`, like `chatroomd` by the hooks).
pub const SHIM: &str = "chatroom-shim";

/// `chatroomd setup`'s arguments.
#[derive(Debug, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Print each file's change as a unified diff (and whether the file is shared or
    /// personal); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take out what setup added (the server entry, the approvals, the hooks), leaving
    /// everything else; a file left empty is deleted.
    #[arg(long)]
    pub remove: bool,
    /// Leave the personal files under $HOME alone (the approvals); write only the shared
    /// files in the repository.
    #[arg(long)]
    pub no_personal: bool,
    /// Replace (or with --remove take out) a `chatroom` entry that differs from setup's; without
    /// it, such an entry is the person's and is kept.
    #[arg(long)]
    pub force: bool,
    /// Install (or with --remove take out) only the git pre-commit hook that runs
    /// `chatroomd check-claims`, chaining any pre-commit hook already there.
    #[arg(long, conflicts_with = "clients")]
    pub git_hook: bool,
    /// The clients to set up; none: those the repository has configuration for, or whose
    /// command is on PATH.
    #[arg(value_name = "CLIENT", value_enum)]
    pub clients: Vec<Client>,
}

/// An agent client setup knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Client {
    /// Claude Code.
    ClaudeCode,
    /// Codex CLI.
    Codex,
    /// Gemini CLI.
    Gemini,
    /// Cursor.
    Cursor,
}

impl Client {
    const ALL: [Client; 4] = [
        Client::ClaudeCode,
        Client::Codex,
        Client::Gemini,
        Client::Cursor,
    ];

    fn name(self) -> &'static str {
        match self {
            Client::ClaudeCode => claude::NAME,
            Client::Codex => codex::NAME,
            Client::Gemini => gemini::NAME,
            Client::Cursor => cursor::NAME,
        }
    }

    /// Files or directories in a repository that show the client is used there.
    fn markers(self) -> &'static [&'static str] {
        match self {
            Client::ClaudeCode => claude::MARKERS,
            Client::Codex => codex::MARKERS,
            Client::Gemini => gemini::MARKERS,
            Client::Cursor => cursor::MARKERS,
        }
    }

    /// The client's command-line programs.
    fn commands(self) -> &'static [&'static str] {
        match self {
            Client::ClaudeCode => claude::COMMANDS,
            Client::Codex => codex::COMMANDS,
            Client::Gemini => gemini::COMMANDS,
            Client::Cursor => cursor::COMMANDS,
        }
    }

    fn targets(self, context: &Context) -> Vec<Target> {
        match self {
            Client::ClaudeCode => claude::targets(context),
            Client::Codex => codex::targets(context),
            Client::Gemini => gemini::targets(context),
            Client::Cursor => cursor::targets(context),
        }
    }

    fn manual(self, context: &Context) -> Vec<String> {
        match self {
            Client::ClaudeCode => claude::manual(context),
            Client::Codex => codex::manual(context),
            Client::Gemini => gemini::manual(context),
            Client::Cursor => cursor::manual(context),
        }
    }
}

/// Where setup writes: the repository's root and, unless `--no-personal`, the person's home.
#[derive(Debug)]
pub struct Context {
    pub root: PathBuf,
    /// `$HOME`; `None` with `--no-personal`.
    pub home: Option<PathBuf>,
    /// Codex's home: `$CODEX_HOME`, else `~/.codex`; `None` with `--no-personal`.
    pub codex_home: Option<PathBuf>,
}

/// Who a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In the repository: commit it.
    Shared,
    /// Under `$HOME`: this person's only.
    Personal,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::Shared => "shared: commit it",
            Scope::Personal => "personal: yours only",
        }
    }
}

/// One config file and setup's entries in it.
#[derive(Debug)]
pub struct Target {
    pub path: PathBuf,
    pub scope: Scope,
    pub content: Content,
    /// A JSON document that, once our entries are out, counts as empty (the file is deleted).
    pub residue: Option<Value>,
}

/// The entries, in the file's format.
#[derive(Debug)]
pub enum Content {
    Json(Vec<json::Entry>),
    Toml(Vec<toml::Entry>),
}

impl Target {
    fn new(path: PathBuf, scope: Scope, content: Content) -> Self {
        Self {
            path,
            scope,
            content,
            residue: None,
        }
    }

    fn shared_json(path: PathBuf, entries: Vec<json::Entry>) -> Self {
        Self::new(path, Scope::Shared, Content::Json(entries))
    }

    fn personal_json(path: PathBuf, entries: Vec<json::Entry>) -> Self {
        Self::new(path, Scope::Personal, Content::Json(entries))
    }

    fn shared_toml(path: PathBuf, entries: Vec<toml::Entry>) -> Self {
        Self::new(path, Scope::Shared, Content::Toml(entries))
    }

    fn personal_toml(path: PathBuf, entries: Vec<toml::Entry>) -> Self {
        Self::new(path, Scope::Personal, Content::Toml(entries))
    }
}

/// What a merge had to say beyond the change itself (an entry of the person's that was kept).
#[derive(Debug, Default)]
pub struct Outcome {
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Whether `--remove` must leave an entry alone because the person changed the settings
    /// named in `differing` (and did not pass `--force`); the note says so.
    pub fn keeps_yours(&mut self, differing: &[String], force: bool) -> bool {
        let keep = !differing.is_empty() && !force;
        if keep {
            self.note(format!(
                "left your {}: not setup's value (--force removes it)",
                differing.join(", ")
            ));
        }
        keep
    }
}

/// A path of object keys.
fn path(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|key| (*key).to_owned()).collect()
}

/// `path.key`, as a person names a setting in a note.
fn dotted(path: &[String], key: &str) -> String {
    path.iter()
        .map(String::as_str)
        .chain([key])
        .collect::<Vec<_>>()
        .join(".")
}

/// The server entry in a client's JSON `mcpServers`: `command`, `args` and `extra`.
fn server_entry(at: &[&str], extra: &[(&str, Value)]) -> json::Entry {
    let mut keys = vec![
        ("command".to_owned(), Value::from(SHIM)),
        ("args".to_owned(), Value::Array(Vec::new())),
    ];
    keys.extend(
        extra
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone())),
    );
    json::Entry::Keys {
        path: path(at),
        keys,
        keep_on_remove: false,
    }
}

/// The server table in a TOML config: `command` and `args`.
fn server_toml(at: &[&str]) -> toml::Entry {
    toml::Entry {
        path: path(at),
        keys: vec![
            ("command".into(), SHIM.into()),
            (
                "args".into(),
                toml_edit::Value::Array(toml_edit::Array::new()),
            ),
        ],
    }
}

/// Runs `chatroomd setup`; returns the exit status.
pub fn run(args: SetupArgs) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let root = protocol::paths::RoomPaths::discover(&cwd, args.root.root.as_deref())
        .context("cannot resolve the room's root")?
        .root;
    if args.git_hook {
        write_stdout(&git_hook::run(&root, args.dry_run, args.remove)?)?;
        return Ok(0);
    }
    let context = context(root, !args.no_personal)?;
    let mut clients = if args.clients.is_empty() {
        detect(&context.root, std::env::var_os("PATH").as_deref())
    } else {
        args.clients.clone()
    };
    clients.sort();
    clients.dedup();
    if clients.is_empty() {
        bail!(
            "no agent client found in {} or on PATH: name one (claude-code, codex, gemini, cursor)",
            context.root.display()
        );
    }

    let mut changes = Vec::new();
    for client in &clients {
        for target in client.targets(&context) {
            let change = plan::plan(&target, args.remove, args.force).map_err(|problem| {
                anyhow::anyhow!(
                    "cannot set up {}: {} {problem}",
                    client.name(),
                    shown(&target.path, &context)
                )
            })?;
            changes.push((target, change));
        }
    }

    let names: Vec<&str> = clients.iter().map(|client| client.name()).collect();
    let mut out = format!(
        "chatroomd setup{}{}: {} for {}\n",
        if args.remove { " --remove" } else { "" },
        if args.dry_run { " --dry-run" } else { "" },
        context.root.display(),
        names.join(", ")
    );
    for (target, change) in &changes {
        let name = shown(&target.path, &context);
        let verb = change.verb(args.dry_run);
        out.push_str(&format!(
            "  {verb:<12} {name}  ({})\n",
            target.scope.label()
        ));
        for note in &change.notes {
            out.push_str(&format!("    note: {note}\n"));
        }
        if args.dry_run && change.changes() {
            out.push_str(&plan::diff(change, &name));
        }
    }
    if changes.iter().all(|(_, change)| !change.changes()) {
        out.push_str(if args.remove {
            "nothing to remove\n"
        } else {
            "nothing to change: already set up\n"
        });
    }
    if !args.dry_run {
        for (target, change) in &changes {
            plan::apply(&target.path, change)
                .with_context(|| format!("cannot write {}", target.path.display()))?;
        }
    }
    if !args.remove {
        let manual: Vec<String> = clients
            .iter()
            .flat_map(|client| client.manual(&context))
            .collect();
        if !manual.is_empty() {
            out.push_str("still to do by hand:\n");
            for step in manual {
                out.push_str(&format!("  {step}\n"));
            }
        }
    }
    write_stdout(&out)?;
    Ok(0)
}

fn context(root: PathBuf, personal: bool) -> anyhow::Result<Context> {
    if !personal {
        return Ok(Context {
            root,
            home: None,
            codex_home: None,
        });
    }
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set: set it, or pass --no-personal to write only the shared files")?;
    let codex_home = std::env::var_os("CODEX_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".codex"));
    Ok(Context {
        root,
        home: Some(home),
        codex_home: Some(codex_home),
    })
}

/// The clients the repository has configuration for, or whose command is on `path_var`.
fn detect(root: &Path, path_var: Option<&std::ffi::OsStr>) -> Vec<Client> {
    let dirs: Vec<PathBuf> = path_var
        .map(|path| std::env::split_paths(path).collect())
        .unwrap_or_default();
    Client::ALL
        .into_iter()
        .filter(|client| {
            client
                .markers()
                .iter()
                .any(|marker| root.join(marker).exists())
                || client
                    .commands()
                    .iter()
                    .any(|command| dirs.iter().any(|dir| is_executable(&dir.join(command))))
        })
        .collect()
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// A path as the person reads it: relative to the root in the repository, `~/…` at home.
fn shown(path: &Path, context: &Context) -> String {
    if let Ok(relative) = path.strip_prefix(&context.root) {
        return relative.display().to_string();
    }
    if let Some(relative) = context
        .home
        .as_deref()
        .and_then(|home| path.strip_prefix(home).ok())
    {
        return format!("~/{}", relative.display());
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_finds_config_in_the_repository_and_commands_on_path() {
        let repo = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        assert_eq!(detect(repo.path(), Some(bin.path().as_os_str())), []);

        std::fs::create_dir(repo.path().join(".gemini")).unwrap();
        std::fs::write(repo.path().join(".mcp.json"), "{}").unwrap();
        // Not executable: not a command.
        std::fs::write(bin.path().join("codex"), "").unwrap();
        assert_eq!(
            detect(repo.path(), Some(bin.path().as_os_str())),
            [Client::ClaudeCode, Client::Gemini]
        );

        use std::os::unix::fs::PermissionsExt;
        let cursor = bin.path().join("cursor-agent");
        std::fs::write(&cursor, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&cursor, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            detect(repo.path(), Some(bin.path().as_os_str())),
            [Client::ClaudeCode, Client::Gemini, Client::Cursor]
        );
    }
}
