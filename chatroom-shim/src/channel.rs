//! Claude Code channels, opt-in with `CHATROOM_CHANNELS=1`: the shim declares the
//! `claude/channel` capability and pushes each message for this session's names (not sent by
//! them) as a `notifications/claude/channel`, which Claude Code puts in the session's context even
//! when it is idle.
//!
//! The contract (<https://code.claude.com/docs/en/channels-reference>, "Notification format"):
//! `capabilities.experimental["claude/channel"] = {}`, and params `{"content": text, "meta":
//! {key: value}}` with identifier keys and string values. Claude Code registers a server as a
//! channel only when it negotiated a protocol up to [`NEWEST_PROTOCOL`], and only if the user
//! launched `claude --dangerously-load-development-channels server:chatroom` (otherwise the
//! events are dropped without a word).
//!
//! The messages come from the daemon's event stream, on a connection of their own (a control
//! one, which is no presence in the room), subscribed to every scope each time the agent's
//! session connects; each is filtered by the names the session holds when it arrives.

use std::sync::Arc;

use chatroom_client::{Connection, Reach, Session};
use protocol::{ClientKind, Event, Message, Request};
use rmcp::model::{
    CustomNotification, ExperimentalCapabilities, ProtocolVersion, ServerNotification,
};
use rmcp::{Peer, RoleServer};
use serde_json::json;

/// The variable that turns channels on (`1`).
pub const ENV_CHANNELS: &str = "CHATROOM_CHANNELS";

/// The method of a channel event.
pub const METHOD: &str = "notifications/claude/channel";

/// The newest protocol version with which Claude Code still registers a channel (one that
/// negotiates 2026-07-28 is not registered).
pub const NEWEST_PROTOCOL: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// Whether `CHATROOM_CHANNELS=1` is set.
pub fn enabled() -> bool {
    std::env::var(ENV_CHANNELS).is_ok_and(|value| value.trim() == "1")
}

/// `{"claude/channel": {}}`.
pub fn capability() -> ExperimentalCapabilities {
    ExperimentalCapabilities::from([("claude/channel".to_owned(), serde_json::Map::new())])
}

/// The channel event of `message`: its text, with sender, id and topic (blank in the main
/// room) as meta.
pub fn notification(message: &Message) -> ServerNotification {
    let params = json!({
        "content": message.content,
        "meta": {
            "from": message.from,
            "id": message.id.to_string(),
            "topic_id": message.topic_id.clone().unwrap_or_default(),
        },
    });
    ServerNotification::CustomNotification(CustomNotification::new(METHOD, Some(params)))
}

/// Pushes the messages for `session`'s names to `peer` until the MCP client goes away. Follows
/// the room from each connect of the session on: after the daemon is lost, the session's next
/// connection (to the daemon it restarts) starts the stream again.
pub async fn forward(session: Arc<Session>, peer: Peer<RoleServer>) {
    let Some(paths) = session.paths().cloned() else {
        return;
    };
    let mut connects = session.connects();
    while connects.changed().await.is_ok() {
        let mut connection = match Connection::reach(&paths, ClientKind::Control).await {
            Ok(Reach::Connected(connection)) => connection,
            Ok(_) => continue,
            Err(err) => {
                tracing::info!(cause = %err, "channel: cannot reach chatroomd");
                continue;
            }
        };
        let subscribe = Request::Subscribe {
            participant: String::new(),
            topic_id: "*".to_owned(),
        };
        if let Err(err) = connection.request(subscribe).await {
            tracing::warn!(cause = %err, "channel: cannot follow the room");
            continue;
        }
        if !follow(&mut connection, &session, &peer).await {
            return;
        }
    }
}

/// Sends the events of one connection; false once the MCP client is gone.
async fn follow(connection: &mut Connection, session: &Session, peer: &Peer<RoleServer>) -> bool {
    while let Some(event) = connection.next_event().await {
        let Event::Message(message) = event else {
            continue;
        };
        if !message.is_for(&session.held_names()) {
            continue;
        }
        if let Err(err) = peer.send_notification(notification(&message)).await {
            tracing::info!(cause = %err, "channel: the MCP client is gone");
            return false;
        }
    }
    tracing::info!("channel: lost the connection to chatroomd");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, to: &str, topic_id: Option<&str>) -> Message {
        Message {
            id: 12,
            ts: "2026-01-02T03:04:05Z".into(),
            topic_id: topic_id.map(str::to_owned),
            from: from.into(),
            to: to.into(),
            content: "review #4, please".into(),
            human: false,
        }
    }

    #[test]
    fn messages_for_the_held_names_and_not_from_them() {
        let names = ["ann".to_owned(), "ann-2".to_owned()];
        assert!(message("bob", "all", None).is_for(&names));
        assert!(message("bob", "ann-2", Some("auth")).is_for(&names));
        assert!(!message("bob", "cy", None).is_for(&names), "another's DM");
        assert!(!message("ann", "all", None).is_for(&names), "its own");
        assert!(!message("ann", "ann-2", None).is_for(&names), "to itself");
        assert!(!message("bob", "all", None).is_for(&[]), "no name held");
    }

    /// As <https://code.claude.com/docs/en/channels-reference> ("Notification format") has it:
    /// `content` a string, `meta` identifier keys with string values.
    #[test]
    fn an_event_carries_the_text_and_the_sender_id_and_topic_as_strings() {
        let ServerNotification::CustomNotification(event) =
            notification(&message("bob", "all", Some("auth")))
        else {
            panic!("not a custom notification");
        };
        assert_eq!(event.method, METHOD);
        assert_eq!(
            event.params,
            Some(json!({
                "content": "review #4, please",
                "meta": {"from": "bob", "id": "12", "topic_id": "auth"}
            }))
        );
        let main = notification(&message("bob", "all", None));
        let ServerNotification::CustomNotification(main) = main else {
            unreachable!()
        };
        assert_eq!(main.params.unwrap()["meta"]["topic_id"], "");
        assert_eq!(
            serde_json::to_value(capability()).unwrap(),
            json!({"claude/channel": {}})
        );
    }
}
