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
mod tests;
