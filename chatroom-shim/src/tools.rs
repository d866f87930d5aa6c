//! The MCP face of the shim: the contract's eighteen tools and the three of claims, each
//! forwarding one request.
//!
//! Nothing here knows the room's rules. Parameters reach the daemon exactly as the agent gave
//! them (untrimmed strings, signed integers) so that it alone validates, and every client gets
//! the same refusals.

use std::borrow::Cow;
use std::sync::Arc;

use protocol::Request;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ProtocolVersion,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};

use crate::params::*;
use crate::{channel, input, link};

use crate::render::{Shape, failure, render};
use chatroom_client::{CallError, Session};

/// Sent to the client at `initialize`; many clients put it in the model's context.
pub const INSTRUCTIONS: &str = "\
A chatroom shared by every coding agent working in this repository (one room per repository, \
shared across its worktrees). Use it to coordinate: say what you are doing, ask, answer, hand off.

1. At the start, call join(name, role) with a name that is unique in the room (e.g. \
\"backend-1\") and a short role. Use the same name in every later call that takes `name`.
2. When starting or resuming work, call get_handoff(name): who is here, the latest summary and \
the recent messages.
3. Call read_unread(name) regularly, and before acting on shared work: it returns the messages \
you have not read yet and marks them read.
4. send_message(name, content) talks to everyone (to=\"all\"); set `to` to one participant's name \
for a direct message that only that participant receives.
5. Before handing off or stopping, call write_summary(name, content): what you did, what is in \
progress, what is left.
6. At the end, call leave(name). Your presence also ends automatically when your agent exits.

Topics: the main room (the default) is for what everyone needs: who does what, announcements, \
questions to all, handoffs. When one workstream would otherwise fill everyone's unread (a feature, \
an investigation, a review), call open_topic(topic_id, title) and pass that topic_id to \
send_message, read_unread, get_handoff, write_summary and the reads: a topic has its own \
messages, cursors and summaries, unseen from the main room. topic_id is optional; without it \
every call works in the main room as before. list_topics(name) shows the open topics with your \
unread_count in each; close_topic when the work is done. search_messages(query) finds messages \
containing every word, whole (a \"quoted phrase\" as a phrase), newest first; topic_id=\"*\" searches \
the main room and every topic.

Instead of polling read_unread, call wait_for_messages(name): it returns at once when you have \
unread messages, else blocks until one arrives for you (or its timeout_s passes), and marks them \
read. read_receipts(message_id) tells you who has read a message you sent.

Before editing files another agent might touch, claim(name, paths, reason) them (paths or globs \
like \"src/store/**\"): while you hold a claim, other agents' edits of those files are stopped and \
they are told to ask you. list_claims() shows who holds what; release(name) when you are done \
(leaving releases your claims too).

Failed calls return an error result with a one-line reason; fix the argument it names, or \
retry if it says so.";

/// The MCP server: a router of tools over one shared daemon session.
#[derive(Clone)]
pub struct Chatroom {
    session: Arc<Session>,
    tool_router: ToolRouter<Self>,
    /// Claude Code channels are on (`CHATROOM_CHANNELS=1`): the capability is declared and the
    /// protocol kept to one Claude Code registers channels for.
    channels: bool,
}

impl Chatroom {
    pub fn new(session: Session) -> Self {
        Self {
            session: Arc::new(session),
            tool_router: Self::tool_router(),
            channels: false,
        }
    }

    /// The same server declaring the `claude/channel` capability ([`channel`]).
    pub fn with_channels(mut self) -> Self {
        self.channels = true;
        self
    }

    /// The daemon session the tools share (the channel follows the room beside it).
    pub fn session(&self) -> Arc<Session> {
        Arc::clone(&self.session)
    }

    /// Every tool this server offers, as `tools/list` shows them.
    pub fn tools(&self) -> Vec<rmcp::model::Tool> {
        self.tool_router.list_all()
    }

    async fn forward(&self, shape: Shape, mut request: Request) -> CallToolResult {
        if input::has_invalid_text(request.strings_mut().into_iter().map(|value| &*value)) {
            return failure(input::INVALID_TEXT_REFUSAL.to_owned());
        }
        rendered(shape, self.session.call(request).await)
    }

    /// A `wait_for_messages`: like [`Chatroom::forward`], for as long as the wait takes, and
    /// given up when the client cancels the call (`notifications/cancelled`): dropping the wait
    /// cancels it in the daemon, which then marks nothing read. rmcp runs each `tools/call` in
    /// a task of its own, so the agent's other calls go on meanwhile.
    async fn forward_wait(
        &self,
        mut request: Request,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        if input::has_invalid_text(request.strings_mut().into_iter().map(|value| &*value)) {
            return failure(input::INVALID_TEXT_REFUSAL.to_owned());
        }
        tokio::select! {
            outcome = self.session.wait(request) => rendered(Shape::Waited, outcome),
            // rmcp sends no answer to a cancelled request; this result goes nowhere.
            () = context.ct.cancelled() => failure("the client cancelled the wait"),
        }
    }
}

/// The tool result of a call's outcome, or of why it failed.
fn rendered(shape: Shape, result: Result<chatroom_client::Outcome, CallError>) -> CallToolResult {
    match result {
        Ok(outcome) => render(shape, outcome),
        Err(err) => {
            tracing::warn!(cause = %err, "tool call failed");
            failure(err.to_string())
        }
    }
}

#[tool_router]
impl Chatroom {
    #[tool(
        description = "Join the chatroom as `name` with a `role` (default \"general\"). Call it first, once. The name must be unique among the agents present: if another live agent holds it the call fails and you should pick another. Joining again with a name you hold just updates your role. Posts no message. Returns the list of all participants, sorted by name, each {name, role, joined_at, last_seen}.",
        title = "Join the chatroom",
        annotations(
            title = "Join the chatroom",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn join(&self, Parameters(params): Parameters<JoinParams>) -> CallToolResult {
        let JoinParams { name, role } = params;
        self.forward(Shape::Participants, Request::Join { name, role })
            .await
    }

    #[tool(
        description = "Leave the chatroom: release `name` and post \"<name> left the chatroom\" to everyone. Returns {\"left\": true}, or {\"left\": false} if nobody held the name. A name held by another live agent cannot be released. Your names are also released automatically when your agent exits.",
        title = "Leave the chatroom",
        annotations(
            title = "Leave the chatroom",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn leave(&self, Parameters(params): Parameters<NameParams>) -> CallToolResult {
        let NameParams { name } = params;
        self.forward(Shape::Left, Request::Leave { name }).await
    }

    #[tool(
        description = "Post a message from `name`. `to` is \"all\" (default) for everyone, or one participant's name for a direct message: it then appears only in that participant's read_unread and get_handoff, not in anyone else's (it is not secret: an unfiltered read_messages lists every message). Neither sender nor recipient has to be joined. With `topic_id` the message goes to that open topic only; without, to the main room. Returns {\"id\": N}, the new message's id.",
        title = "Send a message",
        annotations(
            title = "Send a message",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn send_message(
        &self,
        Parameters(params): Parameters<SendMessageParams>,
    ) -> CallToolResult {
        let SendMessageParams {
            name,
            content,
            to,
            topic_id,
        } = params;
        let request = Request::SendMessage {
            name,
            content,
            to,
            topic_id,
        };
        self.forward(Shape::Id, request).await
    }

    #[tool(
        description = "Read the history of the main room, or of one topic with `topic_id`: messages with id greater than `since_id` (default 0), oldest first, at most `limit` (1-100, default 50). With `participant` set, only messages visible to that participant (sent to \"all\" or to it); by default every message, direct ones included. Marks nothing read (read_unread does). Returns a list of {id, ts, from, to, content} (with topic_id after ts in a topic); to page on, pass the last id you got as since_id.",
        title = "Read the message history",
        annotations(
            title = "Read the message history",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn read_messages(
        &self,
        Parameters(params): Parameters<ReadMessagesParams>,
    ) -> CallToolResult {
        let ReadMessagesParams {
            since_id,
            limit,
            participant,
            topic_id,
        } = params;
        let request = Request::ReadMessages {
            since_id,
            limit,
            participant,
            topic_id,
        };
        self.forward(Shape::Messages, request).await
    }

    #[tool(
        description = "List who is in the room now, sorted by name: a list of {name, role, joined_at, last_seen}. Agents that exit leave automatically, so everyone listed is live.",
        title = "List the participants",
        annotations(
            title = "List the participants",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_participants(&self) -> CallToolResult {
        self.forward(Shape::Participants, Request::ListParticipants)
            .await
    }

    #[tool(
        description = "Room totals: {participant_count, message_count, last_activity_ts}, where last_activity_ts is the newest message's time (UTC, YYYY-MM-DDTHH:MM:SSZ) or null when there are no messages; both count the whole room, topics included. Once a topic was opened it also has {topic_count, open_topic_count, summary_count}.",
        title = "Get the room's status",
        annotations(
            title = "Get the room's status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_status(&self) -> CallToolResult {
        self.forward(Shape::Status, Request::GetStatus).await
    }

    #[tool(
        description = "Return `name`'s read cursor {name, last_read_id}: the id of the last message it marked read, 0 if none. read_unread returns the visible messages after it. Each topic has its own cursor: with `topic_id`, that topic's ({name, topic_id, last_read_id}).",
        title = "Get a read cursor",
        annotations(
            title = "Get a read cursor",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_cursor(&self, Parameters(params): Parameters<GetCursorParams>) -> CallToolResult {
        let GetCursorParams { name, topic_id } = params;
        self.forward(Shape::Cursor, Request::GetCursor { name, topic_id })
            .await
    }

    #[tool(
        description = "Mark every message up to `message_id` as read for `name`, in the main room or, with `topic_id`, in that topic. Cursors only move forward: an id at or below the current cursor changes nothing, and an id above the latest message of the main room (or of the topic) is refused. Returns {name, last_read_id} as it is after the call (with topic_id after name in a topic).",
        title = "Set a read cursor",
        annotations(
            title = "Set a read cursor",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_cursor(&self, Parameters(params): Parameters<SetCursorParams>) -> CallToolResult {
        let SetCursorParams {
            name,
            message_id,
            topic_id,
        } = params;
        let request = Request::SetCursor {
            name,
            message_id,
            topic_id,
        };
        self.forward(Shape::Cursor, request).await
    }

    #[tool(
        description = "Your inbox: messages visible to `name` (sent to \"all\" or directly to it) that are newer than its cursor, oldest first, at most `limit` (1-100, default 50). With mark_read=true (the default) the cursor moves to the last message returned, so the same messages are not returned again; pass mark_read=false to peek without marking. Without `topic_id` this is the main room's inbox; a topic's is read with its `topic_id` (list_topics(name) shows where you have unread). Returns {name, last_read_id, messages} (with topic_id after name in a topic), last_read_id being the cursor after the call; if `limit` messages came back, call again for more.",
        title = "Read unread messages",
        annotations(
            title = "Read unread messages",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn read_unread(
        &self,
        Parameters(params): Parameters<ReadUnreadParams>,
    ) -> CallToolResult {
        let ReadUnreadParams {
            name,
            limit,
            mark_read,
            topic_id,
        } = params;
        let request = Request::ReadUnread {
            name,
            limit,
            mark_read,
            topic_id,
        };
        self.forward(Shape::Unread, request).await
    }

    #[tool(
        description = "Record a handoff summary from `name` for whoever continues the work: what was done, what is in progress, what is left. `scope` is \"all\" (default) or the name of the participant it is meant for. With `topic_id` it belongs to that open topic (and shows in its handoff), else to the main room. Write one before handing off or stopping. Returns {\"id\": N}, the summary's id.",
        title = "Write a handoff summary",
        annotations(
            title = "Write a handoff summary",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn write_summary(
        &self,
        Parameters(params): Parameters<WriteSummaryParams>,
    ) -> CallToolResult {
        let WriteSummaryParams {
            name,
            content,
            scope,
            topic_id,
        } = params;
        let request = Request::WriteSummary {
            name,
            content,
            scope,
            topic_id,
        };
        self.forward(Shape::Id, request).await
    }

    #[tool(
        description = "Return the newest summary whose scope is exactly `scope` (default \"all\") as {id, ts, from, scope, content}, or null when there is none; in the main room, or with `topic_id` in that topic (the summary then has topic_id after ts).",
        title = "Read the latest summary",
        annotations(
            title = "Read the latest summary",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn read_latest_summary(
        &self,
        Parameters(params): Parameters<ReadLatestSummaryParams>,
    ) -> CallToolResult {
        let ReadLatestSummaryParams { scope, topic_id } = params;
        self.forward(
            Shape::Summary,
            Request::ReadLatestSummary { scope, topic_id },
        )
        .await
    }

    #[tool(
        description = "Everything needed to start or resume, in one call: {participants, latest_message_id, cursor, unread_count, latest_summary, recent_messages}. With your `name`: your cursor and unread count, the newest summary scoped to \"all\" or to you, and the newest `recent_limit` (1-100, default 10) messages visible to you, oldest first. Without a name: cursor and unread_count are null, the summary is the newest scoped to \"all\", and recent_messages covers every message. With `topic_id` all of it is that topic's, and `topic` (its record) follows participants; without, the main room's. Marks nothing read.",
        title = "Get the handoff",
        annotations(
            title = "Get the handoff",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_handoff(
        &self,
        Parameters(params): Parameters<GetHandoffParams>,
    ) -> CallToolResult {
        let GetHandoffParams {
            name,
            recent_limit,
            topic_id,
        } = params;
        let request = Request::GetHandoff {
            name,
            recent_limit,
            topic_id,
        };
        self.forward(Shape::Handoff, request).await
    }

    #[tool(
        description = "Open a topic: a thread of its own for one workstream that would otherwise fill everyone's unread in the main room (a feature, an investigation, a review). Coordination everyone needs stays in the main room. Its messages, cursors and summaries are separate: pass its `topic_id` to send_message, read_unread, get_handoff, write_summary and the reads. `topic_id` is 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit; `title` says what it is for; `name` is recorded as its creator. An existing id is refused. Returns the topic {id, title, status, created_by, created_at, closed_at, last_activity_ts}.",
        title = "Open a topic",
        annotations(
            title = "Open a topic",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn open_topic(&self, Parameters(params): Parameters<OpenTopicParams>) -> CallToolResult {
        let OpenTopicParams {
            topic_id,
            title,
            name,
        } = params;
        let request = Request::OpenTopic {
            topic_id,
            title,
            name,
        };
        self.forward(Shape::Topic, request).await
    }

    #[tool(
        description = "Close a topic when its work is done: it takes no more messages or summaries, and stays readable. Returns {\"closed\": true}, or {\"closed\": false} if it was already closed.",
        title = "Close a topic",
        annotations(
            title = "Close a topic",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn close_topic(
        &self,
        Parameters(params): Parameters<CloseTopicParams>,
    ) -> CallToolResult {
        let CloseTopicParams { topic_id } = params;
        self.forward(Shape::Closed, Request::CloseTopic { topic_id })
            .await
    }

    #[tool(
        description = "List the topics (the main room is not one), most recently active first: `status` \"open\" (default), \"closed\" or \"all\". Each is {id, title, status, created_by, created_at, closed_at, last_activity_ts}. With your `name`, each also has latest_message_id, cursor, unread_count and latest_summary for you in it: where your unread is.",
        title = "List the topics",
        annotations(
            title = "List the topics",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_topics(
        &self,
        Parameters(params): Parameters<ListTopicsParams>,
    ) -> CallToolResult {
        let ListTopicsParams { name, status } = params;
        self.forward(Shape::Topics, Request::ListTopics { name, status })
            .await
    }

    #[tool(
        description = "Find messages whose content contains every word of `query` (whole words, case-insensitive: \"socket\" matches \"Socket,\" but not \"sockets\"; a \"quoted phrase\" matches only as a phrase), newest first, at most `limit` (1-100, default 20). `topic_id`: empty for the main room, a topic's id, or \"*\" for the main room and every topic. `participant`: only messages visible to it; `from`: only messages it sent. Marks nothing read. Returns a list of messages (with topic_id after ts for those in a topic).",
        title = "Search the messages",
        annotations(
            title = "Search the messages",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn search_messages(
        &self,
        Parameters(params): Parameters<SearchMessagesParams>,
    ) -> CallToolResult {
        let SearchMessagesParams {
            query,
            topic_id,
            participant,
            from,
            limit,
        } = params;
        let request = Request::SearchMessages {
            query,
            topic_id,
            participant,
            from,
            limit,
        };
        self.forward(Shape::Messages, request).await
    }

    #[tool(
        description = "Wait for messages instead of polling: returns at once if `name` has unread messages (sent to \"all\" or to it, not by it) in the scope, else blocks until one arrives or `timeout_s` (1-600, default 50) passes. Scope: the main room by default, a topic with `topic_id`, or topic_id=\"*\" for the main room and every open topic. Returns read_unread's {name, last_read_id, messages} plus \"timed_out\" (true when nothing came); with mark_read=true (the default) the returned messages are marked read. Your other tool calls go on while it waits. Keep timeout_s under your client's tool-call limit: Codex abandons a call after tool_timeout_sec (300 s by default, 60 s in older versions); Claude Code moves a call still running after 2 minutes to a background task whose result arrives later as a notification.",
        title = "Wait for messages",
        annotations(
            title = "Wait for messages",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn wait_for_messages(
        &self,
        Parameters(params): Parameters<WaitForMessagesParams>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let WaitForMessagesParams {
            name,
            topic_id,
            timeout_s,
            limit,
            mark_read,
        } = params;
        let request = Request::WaitForMessages {
            name,
            topic_id,
            timeout_s,
            limit,
            mark_read,
        };
        self.forward_wait(request, context).await
    }

    #[tool(
        description = "Who has message `message_id`: for a direct message whether its recipient has read it (its cursor passed it) or had it put in its context by a hook, and when; for a message to \"all\", the same for every participant present but the sender. Returns {message_id, from, to, topic_id, receipts: [{name, present, read, read_at, delivered_at}]} (times are UTC, null when unknown). Marks nothing read.",
        title = "Read receipts",
        annotations(
            title = "Read receipts",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn read_receipts(
        &self,
        Parameters(params): Parameters<ReadReceiptsParams>,
    ) -> CallToolResult {
        let ReadReceiptsParams { message_id } = params;
        self.forward(Shape::Receipts, Request::ReadReceipts { message_id })
            .await
    }

    #[tool(
        description = "Claim files before editing them, so that other agents know and their edits of them are stopped: `paths` are repository-relative paths or git wildmatch globs (a directory covers everything under it). A claim is held by your name while it is in the room (leave, or your session ending, releases it), and for ttl_s seconds at most if you give one. Exclusive (the default) conflicts with any overlapping claim of another agent, shared only with exclusive ones; your own claims never block you. Returns {name, granted: [claim], conflicts: [{path, held_by: claim}]}, each claim {path, name, exclusive, reason, since, expires_at, held_s}; a conflicting path is not granted: ask its holder in the chatroom.",
        title = "Claim files",
        annotations(
            title = "Claim files",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn claim(&self, Parameters(params): Parameters<ClaimParams>) -> CallToolResult {
        let ClaimParams {
            name,
            paths,
            exclusive,
            reason,
            ttl_s,
        } = params;
        let request = Request::Claim {
            name,
            paths,
            exclusive,
            reason,
            ttl_s,
            restore: None,
        };
        self.forward(Shape::Claimed, request).await
    }

    #[tool(
        description = "Release claims of yours: the given paths or globs (as you claimed them), or every claim of `name` when `paths` is empty. Returns {name, released: [path]}.",
        title = "Release claims",
        annotations(
            title = "Release claims",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn release(&self, Parameters(params): Parameters<ReleaseParams>) -> CallToolResult {
        let ReleaseParams { name, paths } = params;
        self.forward(Shape::Released, Request::Release { name, paths })
            .await
    }

    #[tool(
        description = "Who is editing what: every live claim, or with `path` (a path or glob) only those overlapping it. Returns a list of {path, name, exclusive, reason, since, expires_at, held_s}, sorted by path.",
        title = "List claims",
        annotations(
            title = "List claims",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_claims(
        &self,
        Parameters(params): Parameters<ListClaimsParams>,
    ) -> CallToolResult {
        let ListClaimsParams { path } = params;
        self.forward(Shape::Claims, Request::ListClaims { path })
            .await
    }
}

// The router built once in `new`; a bare `#[tool_handler]` would rebuild it on every request.
#[tool_handler(router = self.tool_router)]
impl ServerHandler for Chatroom {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.clone();
        // Codex names its session on every call; the first call of each links it.
        // Boxed: the link (which may open the connection) is a large future, and inline it would
        // make every call's task that much bigger to build and move, Codex or not.
        if let Some(session_id) = link::codex_session_id(&context.meta.0.0) {
            Box::pin(self.session.link(&session_id)).await;
        }
        let context = ToolCallContext::new(self, request, context);
        let result = self.tool_router.call(context).await;
        if let Err(error) = &result {
            // rmcp answers these itself (an unknown tool, arguments that are not an object) with
            // a JSON-RPC error; the client's mistake, said in words.
            tracing::info!(
                %tool,
                code = error.code.0,
                reason = %error.message,
                "refused a tool call"
            );
        }
        result
    }

    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder().enable_tools().build();
        if self.channels {
            capabilities.experimental = Some(channel::capability());
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("chatroom", protocol::PACKAGE_VERSION))
            .with_instructions(INSTRUCTIONS)
    }

    /// With channels on, none newer than Claude Code registers channels for
    /// ([`channel::NEWEST_PROTOCOL`]); otherwise every version rmcp knows.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        match self.channels {
            true => Cow::Borrowed(ProtocolVersion::known_up_to(&channel::NEWEST_PROTOCOL)),
            false => Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn server() -> Chatroom {
        Chatroom::new(Session::new(Err("no room in unit tests".into())))
    }

    /// The input schema of `tool` as JSON.
    fn schema(tool: &str) -> Value {
        let tools = server().tools();
        let tool = tools
            .iter()
            .find(|candidate| candidate.name == tool)
            .unwrap_or_else(|| panic!("no tool named {tool}"));
        Value::Object(tool.input_schema.as_ref().clone())
    }

    /// Checks a tool's parameters: each `(name, type, default)`, and which are required.
    fn check(tool: &str, params: &[(&str, &str, Option<Value>)], required: &[&str]) {
        let schema = schema(tool);
        assert_eq!(schema["type"], "object", "{tool}: {schema}");
        let empty = serde_json::Map::new();
        let properties = schema["properties"].as_object().unwrap_or(&empty);
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut expected: Vec<&str> = params.iter().map(|(name, ..)| *name).collect();
        expected.sort_unstable();
        assert_eq!(names, expected, "{tool}: {schema}");
        for (name, kind, default) in params {
            let property = &properties[*name];
            assert_eq!(property["type"], *kind, "{tool}.{name}: {property}");
            assert_eq!(property.get("default"), default.as_ref(), "{tool}.{name}");
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "{tool}.{name} has no description"
            );
        }
        let mut got_required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        got_required.sort_unstable();
        assert_eq!(got_required, required, "{tool}: required");
    }

    #[test]
    fn the_eighteen_tools_of_the_contract_and_the_three_of_claims() {
        let mut names: Vec<String> = server()
            .tools()
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "claim",
                "close_topic",
                "get_cursor",
                "get_handoff",
                "get_status",
                "join",
                "leave",
                "list_claims",
                "list_participants",
                "list_topics",
                "open_topic",
                "read_latest_summary",
                "read_messages",
                "read_receipts",
                "read_unread",
                "release",
                "search_messages",
                "send_message",
                "set_cursor",
                "wait_for_messages",
                "write_summary",
            ]
        );
        for tool in server().tools() {
            let description = tool.description.as_deref().unwrap_or_default();
            assert!(description.len() > 80, "{} is undocumented", tool.name);
            assert!(tool.output_schema.is_none(), "{}", tool.name);
        }
    }

    #[test]
    fn parameter_names_types_and_defaults() {
        let topic = ("topic_id", "string", Some(json!("")));
        check(
            "join",
            &[
                ("name", "string", None),
                ("role", "string", Some(json!("general"))),
            ],
            &["name"],
        );
        check("leave", &[("name", "string", None)], &["name"]);
        check(
            "send_message",
            &[
                ("name", "string", None),
                ("content", "string", None),
                ("to", "string", Some(json!("all"))),
                topic.clone(),
            ],
            &["content", "name"],
        );
        check(
            "read_messages",
            &[
                ("since_id", "integer", Some(json!(0))),
                ("limit", "integer", Some(json!(50))),
                ("participant", "string", Some(json!(""))),
                topic.clone(),
            ],
            &[],
        );
        check("list_participants", &[], &[]);
        check("get_status", &[], &[]);
        check(
            "get_cursor",
            &[("name", "string", None), topic.clone()],
            &["name"],
        );
        check(
            "set_cursor",
            &[
                ("name", "string", None),
                ("message_id", "integer", None),
                topic.clone(),
            ],
            &["message_id", "name"],
        );
        check(
            "read_unread",
            &[
                ("name", "string", None),
                ("limit", "integer", Some(json!(50))),
                ("mark_read", "boolean", Some(json!(true))),
                topic.clone(),
            ],
            &["name"],
        );
        check(
            "write_summary",
            &[
                ("name", "string", None),
                ("content", "string", None),
                ("scope", "string", Some(json!("all"))),
                topic.clone(),
            ],
            &["content", "name"],
        );
        check(
            "read_latest_summary",
            &[("scope", "string", Some(json!("all"))), topic.clone()],
            &[],
        );
        check(
            "get_handoff",
            &[
                ("name", "string", Some(json!(""))),
                ("recent_limit", "integer", Some(json!(10))),
                topic.clone(),
            ],
            &[],
        );
        check(
            "open_topic",
            &[
                ("topic_id", "string", None),
                ("title", "string", None),
                ("name", "string", Some(json!(""))),
            ],
            &["title", "topic_id"],
        );
        check(
            "close_topic",
            &[("topic_id", "string", None)],
            &["topic_id"],
        );
        check(
            "list_topics",
            &[
                ("name", "string", Some(json!(""))),
                ("status", "string", Some(json!("open"))),
            ],
            &[],
        );
        check(
            "wait_for_messages",
            &[
                ("name", "string", None),
                topic.clone(),
                ("timeout_s", "integer", Some(json!(50))),
                ("limit", "integer", Some(json!(50))),
                ("mark_read", "boolean", Some(json!(true))),
            ],
            &["name"],
        );
        check(
            "read_receipts",
            &[("message_id", "integer", None)],
            &["message_id"],
        );
        check(
            "claim",
            &[
                ("name", "string", None),
                ("paths", "array", None),
                ("exclusive", "boolean", Some(json!(true))),
                ("reason", "string", Some(json!(""))),
                ("ttl_s", "integer", Some(json!(0))),
            ],
            &["name", "paths"],
        );
        check(
            "release",
            &[
                ("name", "string", None),
                ("paths", "array", Some(json!([]))),
            ],
            &["name"],
        );
        check("list_claims", &[("path", "string", Some(json!("")))], &[]);
        check(
            "search_messages",
            &[
                ("query", "string", None),
                topic,
                ("participant", "string", Some(json!(""))),
                ("from", "string", Some(json!(""))),
                ("limit", "integer", Some(json!(20))),
            ],
            &["query"],
        );
    }

    #[test]
    fn reads_are_marked_read_only_and_writes_are_not() {
        let read_only: Vec<String> = server()
            .tools()
            .into_iter()
            .filter(|tool| {
                tool.annotations
                    .as_ref()
                    .and_then(|annotations| annotations.read_only_hint)
                    .expect("every tool says whether it is read-only")
            })
            .map(|tool| tool.name.to_string())
            .collect();
        let mut read_only: Vec<&str> = read_only.iter().map(String::as_str).collect();
        read_only.sort_unstable();
        assert_eq!(
            read_only,
            [
                "get_cursor",
                "get_handoff",
                "get_status",
                "list_claims",
                "list_participants",
                "list_topics",
                "read_latest_summary",
                "read_messages",
                "read_receipts",
                "search_messages",
            ]
        );
    }

    /// A v2 caller passes `topic_id` by name beside the v1 arguments, in any order; a v1 caller
    /// leaves it out and gets the main room.
    #[test]
    fn v2_calls_deserialize_with_their_topic_and_v1_calls_without_one() {
        let send: SendMessageParams = serde_json::from_value(
            json!({"name": "ann", "topic_id": "auth", "content": "hi", "to": "bob"}),
        )
        .unwrap();
        assert_eq!((send.topic_id.as_str(), send.to.as_str()), ("auth", "bob"));
        let read: ReadMessagesParams =
            serde_json::from_value(json!({"topic_id": "auth", "since_id": 3})).unwrap();
        assert_eq!((read.topic_id.as_str(), read.since_id), ("auth", 3));
        let cursor: SetCursorParams =
            serde_json::from_value(json!({"name": "ann", "topic_id": "auth", "message_id": 4}))
                .unwrap();
        assert_eq!(cursor.topic_id, "auth");
        let handoff: GetHandoffParams =
            serde_json::from_value(json!({"name": "ann", "topic_id": "auth", "recent_limit": 5}))
                .unwrap();
        assert_eq!(
            (handoff.topic_id.as_str(), handoff.recent_limit),
            ("auth", 5)
        );
        let unread: ReadUnreadParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
        assert_eq!(unread.topic_id, "");
        let latest: ReadLatestSummaryParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!(latest.topic_id, "");
        // Untrimmed, for the daemon to judge.
        let get: GetCursorParams =
            serde_json::from_value(json!({"name": "ann", "topic_id": " Auth "})).unwrap();
        assert_eq!(get.topic_id, " Auth ");
    }

    #[test]
    fn omitted_parameters_take_the_contract_defaults() {
        let join: JoinParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
        assert_eq!(join.role, "general");
        let send: SendMessageParams =
            serde_json::from_value(json!({"name": "ann", "content": "hi"})).unwrap();
        assert_eq!(send.to, "all");
        let read: ReadMessagesParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            (read.since_id, read.limit, read.participant.as_str()),
            (0, 50, "")
        );
        let unread: ReadUnreadParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
        assert_eq!((unread.limit, unread.mark_read), (50, true));
        let summary: WriteSummaryParams =
            serde_json::from_value(json!({"name": "ann", "content": "done"})).unwrap();
        assert_eq!(summary.scope, "all");
        let latest: ReadLatestSummaryParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!(latest.scope, "all");
        let handoff: GetHandoffParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!((handoff.name.as_str(), handoff.recent_limit), ("", 10));
        let open: OpenTopicParams =
            serde_json::from_value(json!({"topic_id": "auth", "title": "Auth"})).unwrap();
        assert_eq!(open.name, "");
        let topics: ListTopicsParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!((topics.name.as_str(), topics.status.as_str()), ("", "open"));
        let search: SearchMessagesParams =
            serde_json::from_value(json!({"query": "fsync"})).unwrap();
        assert_eq!(
            (
                search.topic_id.as_str(),
                search.participant.as_str(),
                search.from.as_str(),
                search.limit
            ),
            ("", "", "", 20)
        );
    }

    #[test]
    fn values_pass_through_untouched_for_the_daemon_to_judge() {
        let read: ReadMessagesParams =
            serde_json::from_value(json!({"since_id": -1, "limit": 1000, "participant": " bob "}))
                .unwrap();
        assert_eq!(
            (read.since_id, read.limit, read.participant.as_str()),
            (-1, 1000, " bob ")
        );
        let join: JoinParams = serde_json::from_value(json!({"name": "  ", "role": ""})).unwrap();
        assert_eq!((join.name.as_str(), join.role.as_str()), ("  ", ""));
    }

    #[test]
    fn server_identity_and_capabilities() {
        let info = server().get_info();
        assert_eq!(info.server_info.name, "chatroom");
        assert_eq!(info.server_info.version, protocol::PACKAGE_VERSION);
        assert!(info.capabilities.tools.is_some());
        assert!(info.capabilities.prompts.is_none());
        assert!(info.capabilities.resources.is_none());
        let instructions = info.instructions.unwrap_or_default();
        for tool in [
            "join",
            "get_handoff",
            "read_unread",
            "send_message",
            "write_summary",
            "leave",
            "open_topic",
            "list_topics",
            "close_topic",
            "search_messages",
            "topic_id",
            "wait_for_messages",
            "read_receipts",
        ] {
            assert!(instructions.contains(tool), "instructions omit {tool}");
        }
        assert!(
            info.capabilities.experimental.is_none(),
            "no channel unless asked"
        );
        assert_eq!(
            server().supported_protocol_versions(),
            ProtocolVersion::KNOWN_VERSIONS
        );
    }

    /// clients.md and <https://code.claude.com/docs/en/channels-reference>: the capability, and
    /// no protocol newer than one Claude Code registers channels for.
    #[test]
    fn channels_declare_their_capability_and_an_older_protocol() {
        let server = server().with_channels();
        let experimental = server.get_info().capabilities.experimental.unwrap();
        assert_eq!(
            serde_json::to_value(experimental).unwrap(),
            json!({"claude/channel": {}})
        );
        let versions = server.supported_protocol_versions();
        assert!(versions.contains(&ProtocolVersion::V_2025_11_25));
        assert!(!versions.contains(&ProtocolVersion::V_2026_07_28));
    }

    #[test]
    fn a_wait_takes_the_contract_defaults_and_passes_values_through() {
        let wait: WaitForMessagesParams = serde_json::from_value(json!({"name": "ann"})).unwrap();
        assert_eq!(
            (
                wait.topic_id.as_str(),
                wait.timeout_s,
                wait.limit,
                wait.mark_read
            ),
            ("", 50, 50, true)
        );
        let wait: WaitForMessagesParams = serde_json::from_value(
            json!({"name": " ann ", "topic_id": "*", "timeout_s": 0, "limit": 500, "mark_read": false}),
        )
        .unwrap();
        assert_eq!(
            (
                wait.name.as_str(),
                wait.topic_id.as_str(),
                wait.timeout_s,
                wait.limit,
                wait.mark_read
            ),
            (" ann ", "*", 0, 500, false)
        );
    }

    #[tokio::test]
    async fn without_a_room_calls_fail_as_error_results() {
        let result = server().forward(Shape::Status, Request::GetStatus).await;
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            result.content[0].as_text().map(|text| text.text.as_str()),
            Some("no room in unit tests")
        );
    }
}
