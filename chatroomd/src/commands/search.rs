//! `chatroomd search`: a person's `search_messages`. It asks the running daemon, or with none
//! running the room read from its files (never starting one), the same request an agent's tool
//! sends, so the words, scopes, filters and refusals are the room's own.

use anyhow::bail;
use clap::Args;
use protocol::paths::RoomPaths;
use protocol::{ClientKind, Request, Response};

use crate::cli::RootArg;
use crate::commands::control;
use crate::commands::source::room_from_disk;
use crate::commands::transcript::write_stdout;
use crate::commands::view;
use crate::daemon::room::Caller;
use crate::shared::time::unix_now;

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The words to find: a message matches when it holds every one, whole and in any case;
    /// "words in quotes" (or joined by punctuation, like module_5.rs) must appear in a row.
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// Search this topic instead of the main room; `*` searches the main room and every topic.
    #[arg(long, value_name = "ID")]
    pub topic: Option<String>,
    /// Only messages visible to this participant (to "all" or to it).
    #[arg(long, value_name = "NAME")]
    pub participant: Option<String>,
    /// Only messages sent by this name.
    #[arg(long, value_name = "NAME")]
    pub from: Option<String>,
    /// How many messages at most, newest first (1 to 100).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        allow_negative_numbers = true
    )]
    pub limit: i64,
    /// One JSON object per line, in the contract's message shape.
    #[arg(long)]
    pub json: bool,
}

/// Prints the messages matching the query, newest first: one line each (`tail`'s, which names
/// the topic of a message in one), or with `--json` one JSON object each. A refusal is the
/// tool's, in its words.
pub async fn search(paths: &RoomPaths, args: SearchArgs) -> anyhow::Result<()> {
    let request = Request::SearchMessages {
        query: args.query,
        topic_id: args.topic.unwrap_or_default(),
        participant: args.participant.unwrap_or_default(),
        from: args.from.unwrap_or_default(),
        limit: args.limit,
    };
    let reply = match control::connect(paths, ClientKind::Control).await? {
        Some(connection) => connection.request(request).await?,
        None => {
            // The files make the room a daemon would load, searched by the same core.
            let mut room = room_from_disk(&paths.state_dir)?;
            let caller = Caller {
                session: 0,
                human: true,
            };
            match room.handle_as(caller, request, unix_now()).reply {
                Ok(reply) => reply,
                Err(refusal) => bail!("{refusal}"),
            }
        }
    };
    let Response::Messages(messages) = reply else {
        bail!("unexpected reply from chatroomd to search_messages: {reply:?}");
    };
    let mut out = String::new();
    for message in &messages {
        if args.json {
            out.push_str(&serde_json::to_string(message)?);
        } else {
            out.push_str(&view::message_line(message));
        }
        out.push('\n');
    }
    if messages.is_empty() && !args.json {
        out.push_str("no messages match\n");
    }
    write_stdout(&out)
}
