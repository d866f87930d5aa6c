//! Abuse of the daemon and the shim beyond single bad frames (those are in `hostile.rs`):
//! connections cut mid-frame, frames of the wrong direction, peers that never speak or never
//! read, thousands of connections, and tool arguments an agent should never send. Each costs the
//! offender its own connection or a one-line error, and the daemon's memory and descriptors come
//! back to where they were.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chatroom_tests::{
    Agent, DEFAULT_TIMEOUT, TestRoom, eventually, ids, open_fds, process_running, raw, rss_kib,
    text_of,
};
use interprocess::local_socket::tokio::Stream;
use protocol::frame::{MAX_CLIENT_FRAME, MAX_SERVER_FRAME, encode, write_frame};
use protocol::{
    ClientKind, ClientMessage, Event, HelloReply, Message, PROTOCOL_VERSION, Refusal, Request,
    Response, ServerMessage,
};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The daemon's hello timeout (`server::HELLO_TIMEOUT`).
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// A generous bound on what abuse may add to the daemon's resident memory.
const RSS_GROWTH_KIB: u64 = 50 * 1024;

async fn connect(room: &TestRoom) -> Stream {
    raw::connect(room, DEFAULT_TIMEOUT).await
}

fn hello(kind: ClientKind) -> ClientMessage {
    raw::hello(PROTOCOL_VERSION, kind)
}

async fn receive(stream: &mut Stream) -> ServerMessage {
    raw::receive(stream, DEFAULT_TIMEOUT).await
}

/// Connects and completes the handshake as `kind`.
async fn session(room: &TestRoom, kind: ClientKind) -> Stream {
    raw::session(room, kind, DEFAULT_TIMEOUT).await
}

async fn read_until_closed(stream: &mut Stream, deadline: Duration, case: &str) -> Vec<u8> {
    raw::read_until_closed(stream, deadline, case).await
}

/// Whether the daemon has closed its end of `stream`, checked without reading from it.
fn peer_closed(stream: &Stream) -> bool {
    use std::os::fd::{AsFd, AsRawFd};
    let Stream::UdSocket(socket) = stream;
    let mut poll = libc::pollfd {
        fd: socket.as_fd().as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: poll(2) on one valid descriptor that `stream` keeps open, without waiting.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready == 1 && poll.revents & (libc::POLLRDHUP | libc::POLLHUP) != 0
}

/// The sessions `chatroomd status` lists (agents and people; control connections are not).
fn sessions(room: &TestRoom) -> usize {
    room.status()["daemon"]["sessions"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Waits until the daemon's descriptors are back to `baseline` and only `expected` sessions
/// remain; returns how long that took.
async fn settles(room: &TestRoom, pid: u32, baseline: usize, expected: usize) -> Duration {
    let (_, took) = eventually(DEFAULT_TIMEOUT, || async {
        (open_fds(pid) == baseline && sessions(room) == expected).then_some(())
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the daemon kept {} descriptors (baseline {baseline}) and {} sessions",
            open_fds(pid),
            sessions(room)
        )
    });
    took
}

async fn send(agent: &Agent, content: &str) -> u64 {
    agent
        .ok("send_message", json!({"name": "alice", "content": content}))
        .await["id"]
        .as_u64()
        .expect("an id")
}

/// The median and the largest of `count` sequential sends.
async fn send_latency(agent: &Agent, count: usize, label: &str) -> (Duration, Duration) {
    let mut latencies = Vec::with_capacity(count);
    for index in 0..count {
        let started = Instant::now();
        send(agent, &format!("{label} {index}")).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    (latencies[count / 2], latencies[count - 1])
}

#[tokio::test]
async fn cut_frames_and_server_frames_cost_only_their_connection() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    send(&agent, "before").await;
    let pid = room.daemon_pid().expect("a daemon");
    let baseline = open_fds(pid);

    // Frames a daemon sends, sent to it by a client: each decodes as garbage or with bytes to
    // spare, never as a request.
    let message = Message {
        topic_id: None,
        id: 1,
        ts: "2026-01-02T03:04:05Z".into(),
        from: "mallory".into(),
        to: "all".into(),
        content: "pretending to be the daemon".into(),
        human: false,
    };
    let server_frames = [
        ServerMessage::HelloReply(HelloReply::Welcome {
            version: PROTOCOL_VERSION,
            session_id: 1,
            daemon_pid: 1,
        }),
        ServerMessage::HelloReply(HelloReply::Refused {
            daemon_version: PROTOCOL_VERSION,
            daemon_pid: 1,
            message: "no".into(),
        }),
        ServerMessage::Reply {
            id: 7,
            outcome: Ok(Response::Id(42)),
        },
        ServerMessage::Reply {
            id: 7,
            outcome: Ok(Response::Left(true)),
        },
        ServerMessage::Reply {
            id: 7,
            outcome: Err(Refusal::storage("no space left on device")),
        },
        ServerMessage::Event(Event::Message(message)),
    ];
    for say_hello in [false, true] {
        let when = if say_hello {
            "after hello"
        } else {
            "before hello"
        };
        for frame in &server_frames {
            let case = format!("{frame:?} {when}");
            let mut stream = if say_hello {
                session(&room, ClientKind::Agent).await
            } else {
                connect(&room).await
            };
            let bytes = encode(frame, MAX_SERVER_FRAME).unwrap();
            let _ = stream.write_all(&bytes).await;
            let answer = read_until_closed(&mut stream, DEFAULT_TIMEOUT, &case).await;
            assert!(answer.is_empty(), "{case}: unexpected bytes {answer:?}");
        }

        // Cut off in the prefix or in the payload, then the whole connection closed.
        let hello_bytes = encode(&hello(ClientKind::Agent), MAX_CLIENT_FRAME).unwrap();
        let call = encode(
            &ClientMessage::Call {
                id: 1,
                request: Request::SendMessage {
                    topic_id: String::new(),
                    name: "alice".into(),
                    content: "never complete".into(),
                    to: "all".into(),
                },
            },
            MAX_CLIENT_FRAME,
        )
        .unwrap();
        let first = if say_hello { &call } else { &hello_bytes };
        for cut in [1, 3, 5, first.len() - 1] {
            let mut stream = if say_hello {
                session(&room, ClientKind::Agent).await
            } else {
                connect(&room).await
            };
            stream.write_all(&first[..cut]).await.unwrap();
            drop(stream);
        }
    }

    let took = settles(&room, pid, baseline, 1).await;
    eprintln!(
        "cut and server frames: the daemon was back to {baseline} descriptors after {took:?}"
    );
    assert!(process_running(pid));
    assert_eq!(room.daemon_pid(), Some(pid), "the same daemon");
    // No cut call was applied: the room holds only what the agent sent.
    let messages = agent.ok("read_messages", json!({})).await;
    assert_eq!(ids(&messages), [1]);
    assert_eq!(send(&agent, "after").await, 2);
}

#[tokio::test]
async fn a_client_that_never_speaks_is_closed_by_the_hello_timeout() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    let pid = room.daemon_pid().expect("a daemon");
    let baseline = open_fds(pid);

    let mut silent = connect(&room).await;
    let mut halting = connect(&room).await;
    // Two bytes of a length prefix, then nothing: still no hello.
    halting.write_all(&[8, 0]).await.unwrap();
    let connected = Instant::now();
    let closed = Arc::new(AtomicBool::new(false));

    // The agent keeps being served while the two wait out their timeout.
    let work = async {
        let mut calls = 0;
        let mut slowest = Duration::ZERO;
        while !closed.load(Ordering::Relaxed) {
            let started = Instant::now();
            agent.ok("get_handoff", json!({"name": "alice"})).await;
            slowest = slowest.max(started.elapsed());
            calls += 1;
        }
        (calls, slowest)
    };
    let timeouts = async {
        let deadline = HELLO_TIMEOUT + Duration::from_secs(3);
        let silent_bytes = read_until_closed(&mut silent, deadline, "a silent client").await;
        let silent_after = connected.elapsed();
        let halting_bytes = read_until_closed(&mut halting, deadline, "half a prefix").await;
        let halting_after = connected.elapsed();
        closed.store(true, Ordering::Relaxed);
        assert!(silent_bytes.is_empty() && halting_bytes.is_empty());
        (silent_after, halting_after)
    };
    let ((calls, slowest), (silent_after, halting_after)) = tokio::join!(work, timeouts);
    eprintln!(
        "hello timeout: closed after {silent_after:?} (silent) and {halting_after:?} (half a prefix); {calls} calls served meanwhile, slowest {slowest:?}"
    );
    for after in [silent_after, halting_after] {
        assert!(
            after >= HELLO_TIMEOUT - Duration::from_millis(500),
            "closed by the timeout, not before: {after:?}"
        );
    }
    assert!(calls > 0, "the agent was served while they waited");
    settles(&room, pid, baseline, 1).await;
    assert_eq!(send(&agent, "after").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_dropped_and_costs_nothing() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    let pid = room.daemon_pid().expect("a daemon");
    let (before_median, _) = send_latency(&agent, 20, "warm-up").await;
    let baseline_fds = open_fds(pid);
    let baseline_rss = rss_kib(pid);

    let mut subscriber = session(&room, ClientKind::Human).await;
    write_frame(
        &mut subscriber,
        &ClientMessage::Call {
            id: 1,
            request: Request::Subscribe {
                topic_id: String::new(),
                participant: String::new(),
            },
        },
        MAX_CLIENT_FRAME,
    )
    .await
    .unwrap();
    match receive(&mut subscriber).await {
        ServerMessage::Reply {
            id: 1,
            outcome: Ok(Response::Subscribed),
        } => {}
        other => panic!("expected the subscription, got {other:?}"),
    }
    assert_eq!(sessions(&room), 2);
    let first_id = send(&agent, "first event").await;

    // From here the subscriber reads nothing while the agent sends 2,000 messages of 1 KiB, 16
    // at a time: a few hundred fill the socket and the outbox, and the daemon drops it.
    const FLOOD: usize = 2_000;
    let filler = "y".repeat(1024);
    let mut tasks = tokio::task::JoinSet::new();
    let flood_started = Instant::now();
    for worker in 0..16 {
        let peer = agent.peer().clone();
        let filler = filler.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            for index in (worker..FLOOD).step_by(16) {
                let arguments =
                    json!({"name": "alice", "content": format!("flood {index} {filler}")});
                let Value::Object(arguments) = arguments else {
                    unreachable!()
                };
                let params = CallToolRequestParams::new("send_message").with_arguments(arguments);
                let started = Instant::now();
                let result = tokio::time::timeout(DEFAULT_TIMEOUT, peer.call_tool(params))
                    .await
                    .expect("a send timed out")
                    .expect("send_message answered");
                assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
                latencies.push(started.elapsed());
            }
            latencies
        });
    }
    let mut latencies: Vec<Duration> = tasks.join_all().await.into_iter().flatten().collect();
    let flood_took = flood_started.elapsed();
    latencies.sort();
    let (flood_median, flood_max) = (
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );

    // The daemon closed its end without our reading a byte, and let go of the connection.
    eventually(DEFAULT_TIMEOUT, || async {
        peer_closed(&subscriber).then_some(())
    })
    .await
    .expect("the daemon dropped the subscriber that does not read");
    settles(&room, pid, baseline_fds, 1).await;
    let rss_growth = rss_kib(pid).saturating_sub(baseline_rss);
    let (after_median, after_max) = send_latency(&agent, 20, "after").await;

    // What was already in the socket is a gapless run of the first events; the rest were
    // dropped, not queued.
    let bytes = read_until_closed(&mut subscriber, DEFAULT_TIMEOUT, "the subscriber").await;
    let mut received = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 4 {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        if rest.len() < 4 + len {
            break;
        }
        match protocol::frame::decode::<ServerMessage>(&rest[4..4 + len]).expect("a frame") {
            ServerMessage::Event(Event::Message(message)) => received.push(message.id),
            ServerMessage::Event(_) => {}
            other => panic!("unexpected {other:?}"),
        }
        rest = &rest[4 + len..];
    }
    assert!(
        !received.is_empty() && received.len() < FLOOD,
        "some events arrived before the drop, most did not: {}",
        received.len()
    );
    let expected: Vec<u64> = (first_id..first_id + received.len() as u64).collect();
    assert_eq!(received, expected, "events arrive in order without gaps");
    assert!(
        room.log().contains("subscriber outbox full"),
        "{}",
        room.log()
    );

    eprintln!(
        "slow subscriber: {} events delivered of {}; flood of {FLOOD} sends took {flood_took:?} (median {flood_median:?}, max {flood_max:?}); \
         sequential send median {before_median:?} before, {after_median:?} after (max {after_max:?}); RSS +{rss_growth} KiB",
        received.len(),
        FLOOD + 1
    );
    assert!(
        rss_growth < RSS_GROWTH_KIB,
        "the daemon grew by {rss_growth} KiB"
    );
    assert!(
        after_median < before_median * 10 + Duration::from_millis(20),
        "sends slowed down: median {before_median:?} before, {after_median:?} after"
    );
    assert_eq!(
        agent.ok("get_status", json!({})).await["message_count"],
        20 + 1 + FLOOD + 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_dropped_connections_leave_nothing_behind() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    let pid = room.daemon_pid().expect("a daemon");
    let room = Arc::new(room);

    // One way to give up per connection, in turn: before a byte, mid-prefix, after a hello not
    // waited for, after the welcome, and with a request in flight.
    async fn abandon(room: Arc<TestRoom>, index: usize) {
        let mut stream = connect(&room).await;
        match index % 5 {
            0 => {}
            1 => {
                let _ = stream.write_all(&[20, 0]).await;
            }
            2 => {
                let bytes = encode(&hello(ClientKind::Agent), MAX_CLIENT_FRAME).unwrap();
                let _ = stream.write_all(&bytes).await;
            }
            3 => {
                write_frame(&mut stream, &hello(ClientKind::Agent), MAX_CLIENT_FRAME)
                    .await
                    .unwrap();
                receive(&mut stream).await;
            }
            _ => {
                write_frame(&mut stream, &hello(ClientKind::Control), MAX_CLIENT_FRAME)
                    .await
                    .unwrap();
                receive(&mut stream).await;
                let call = ClientMessage::Call {
                    id: 1,
                    request: Request::GetStatus,
                };
                write_frame(&mut stream, &call, MAX_CLIENT_FRAME)
                    .await
                    .unwrap();
            }
        }
    }
    let batch = |start: usize, count: usize| {
        let room = room.clone();
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for index in start..start + count {
                tasks.spawn(abandon(room.clone(), index));
            }
            tasks.join_all().await;
        }
    };

    let baseline_fds = open_fds(pid);
    // A first round lets the runtime reach its working size before the memory baseline.
    batch(0, 250).await;
    settles(&room, pid, baseline_fds, 1).await;
    let baseline_rss = rss_kib(pid);

    const CONNECTIONS: usize = 5_000;
    let started = Instant::now();
    for start in (0..CONNECTIONS).step_by(250) {
        batch(start, 250).await;
    }
    let opened = started.elapsed();
    let took = settles(&room, pid, baseline_fds, 1).await;
    let rss_growth = rss_kib(pid).saturating_sub(baseline_rss);
    eprintln!(
        "{CONNECTIONS} abandoned connections in {opened:?}; back to {baseline_fds} descriptors {took:?} later; RSS +{rss_growth} KiB"
    );
    assert!(
        rss_growth < RSS_GROWTH_KIB,
        "the daemon grew by {rss_growth} KiB"
    );
    assert_eq!(send(&agent, "still here").await, 1);
    assert_eq!(room.daemon_pid(), Some(pid));
}

#[tokio::test]
async fn arguments_of_the_wrong_type_or_size_get_one_line_errors() {
    let room = TestRoom::new();
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "alice"})).await;
    send(&agent, "one").await;

    let huge = "z".repeat(2 * 1024 * 1024);
    // (tool, arguments, what the agent reads: exactly, or the start of rmcp's own message)
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "join",
            json!({}),
            "failed to deserialize parameters: missing field `name`",
        ),
        (
            "join",
            json!({"name": 42}),
            "failed to deserialize parameters: invalid type: integer `42`, expected a string",
        ),
        (
            "join",
            json!({"name": null}),
            "failed to deserialize parameters: invalid type: null, expected a string",
        ),
        (
            "send_message",
            json!({"name": "alice", "content": ["x"]}),
            "failed to deserialize parameters: invalid type: sequence, expected a string",
        ),
        (
            "read_messages",
            json!({"limit": "ten"}),
            "failed to deserialize parameters: invalid type: string \"ten\", expected i64",
        ),
        (
            "read_messages",
            json!({"limit": 1.5}),
            "failed to deserialize parameters: invalid type: floating point `1.5`, expected i64",
        ),
        (
            "read_messages",
            json!({"limit": 1e30}),
            "failed to deserialize parameters: invalid type: floating point `1e+30`, expected i64",
        ),
        (
            "read_messages",
            json!({"limit": i64::MAX}),
            "limit must be between 1 and 100",
        ),
        (
            "read_messages",
            json!({"limit": i64::MIN}),
            "limit must be between 1 and 100",
        ),
        (
            "read_messages",
            json!({"since_id": -1}),
            "since_id must be >= 0",
        ),
        (
            "set_cursor",
            json!({"name": "alice", "message_id": u64::MAX}),
            "failed to deserialize parameters: invalid value: integer `18446744073709551615`, expected i64",
        ),
        (
            "set_cursor",
            json!({"name": "alice", "message_id": i64::MAX}),
            "message_id cannot exceed the latest message id (1)",
        ),
        (
            "set_cursor",
            json!({"name": "alice", "message_id": -1}),
            "message_id must be >= 0",
        ),
        (
            "set_cursor",
            json!({"name": "alice", "message_id": 1e30}),
            "failed to deserialize parameters: invalid type: floating point `1e+30`, expected i64",
        ),
        (
            "read_unread",
            json!({"name": "alice", "mark_read": "yes"}),
            "failed to deserialize parameters: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "get_handoff",
            json!({"recent_limit": -1}),
            "recent_limit must be between 1 and 100",
        ),
        (
            "send_message",
            json!({"name": "alice", "content": huge}),
            "content must be at most 64 KiB (65536 bytes)",
        ),
        (
            "send_message",
            json!({"name": huge, "content": "x"}),
            "name must be at most 64 characters",
        ),
        (
            "send_message",
            json!({"name": "alice", "content": "x", "to": huge}),
            "to must be at most 64 characters",
        ),
        (
            "join",
            json!({"name": "alice", "role": huge}),
            "role must be at most 256 characters",
        ),
        (
            "write_summary",
            json!({"name": "alice", "content": "x", "scope": huge}),
            "scope must be at most 64 characters",
        ),
        (
            "send_message",
            json!({"name": "al\u{0}ice", "content": "x"}),
            "name must not contain control characters",
        ),
    ];
    for (tool, args, expected) in cases {
        let shown = args.to_string().chars().take(80).collect::<String>();
        let text = agent.err(tool, args).await;
        assert!(
            text.starts_with(expected),
            "{tool} {shown}: the agent read {text:?}, expected {expected:?}"
        );
        eprintln!("{tool} {shown} -> {text}");
    }
    // None of that changed the room.
    assert_eq!(ids(&agent.ok("read_messages", json!({})).await), [1]);
    assert_eq!(
        agent.ok("get_cursor", json!({"name": "alice"})).await["last_read_id"],
        0
    );
}

/// One shim driven by hand, for what rmcp's client cannot send: JSON that is not valid UTF-8 or
/// holds a lone surrogate, and arguments that are not an object.
struct RawShim {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: BufReader<tokio::process::ChildStdout>,
}

impl RawShim {
    async fn start(room: &TestRoom) -> Self {
        let mut command = room.shim_command();
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawning chatroom-shim");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut shim = Self {
            child,
            stdin,
            stdout,
        };
        shim.send_line(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#).await;
        assert_eq!(shim.next_reply().await["id"], 1);
        shim.send_line(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        shim
    }

    async fn send_line(&mut self, line: &[u8]) {
        self.stdin.write_all(line).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn next_reply(&mut self) -> Value {
        let mut line = String::new();
        tokio::time::timeout(DEFAULT_TIMEOUT, self.stdout.read_line(&mut line))
            .await
            .expect("no reply from the shim in time")
            .expect("reading the shim's stdout");
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("not JSON ({err}): {line:?}"))
    }
}

fn tools_call(id: u64, arguments: &str) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"send_message","arguments":{arguments}}}}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn text_that_is_not_json_or_not_unicode_does_not_break_the_shim() {
    let room = TestRoom::new();
    let mut shim = RawShim::start(&room).await;

    // A lone surrogate is valid JSON text to Python's and JavaScript's encoders, but not a
    // Unicode string; raw 0xFF is not UTF-8 at all. rmcp's stdio transport would ignore such a
    // line (rust-sdk#938) and leave the call unanswered; the shim repairs the line on the way in
    // and refuses the call with one line naming the problem.
    shim.send_line(&tools_call(2, r#"{"name":"alice","content":"\ud800"}"#))
        .await;
    let mut invalid_utf8 = tools_call(3, r#"{"name":"alice","content":"XX"}"#);
    let at = invalid_utf8
        .windows(2)
        .position(|pair| pair == b"XX")
        .unwrap();
    invalid_utf8[at] = 0xff;
    invalid_utf8[at + 1] = 0xfe;
    shim.send_line(&invalid_utf8).await;
    // Valid JSON of the wrong shape gets an answer.
    shim.send_line(&tools_call(4, r#"["alice","x"]"#)).await;
    shim.send_line(&tools_call(
        5,
        r#"{"name":"alice","content":"\ud83d\ude80 fine"}"#,
    ))
    .await;

    // Calls are served concurrently: take the four replies in whatever order they come.
    let mut replies = std::collections::BTreeMap::new();
    for _ in 0..4 {
        let reply = shim.next_reply().await;
        replies.insert(reply["id"].as_u64().expect("an id"), reply);
    }
    for id in [2, 3] {
        let reply = &replies[&id];
        assert_eq!(reply["result"]["isError"], true, "{reply}");
        assert_eq!(
            reply["result"]["content"][0]["text"],
            "an argument is not valid unicode text (a lone surrogate escape or bytes that are not utf-8)",
            "{reply}"
        );
    }
    let wrong_shape = &replies[&4];
    eprintln!("arguments as a list -> {wrong_shape}");
    let error = &wrong_shape["error"];
    let result = &wrong_shape["result"];
    let text = if error.is_object() {
        error["message"].as_str().unwrap_or_default().to_owned()
    } else {
        assert_eq!(result["isError"], true, "{wrong_shape}");
        result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(!text.is_empty() && !text.contains('\n'), "{wrong_shape}");

    let fine = &replies[&5];
    assert_eq!(fine["result"]["isError"], false, "{fine}");
    assert_eq!(
        fine["result"]["structuredContent"],
        json!({"id": 1}),
        "the refused calls stored nothing"
    );
    assert!(shim.child.id().is_some_and(process_running));
    drop(shim);
}
