//! Property tests of the frame codec: no input makes the decoder or `read_frame` panic, ask a
//! reader for more than the limit, or accept what is not exactly one frame; every message round
//! trips.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use protocol::frame::{
    FrameError, MAX_CLIENT_FRAME, MAX_SERVER_FRAME, PREFIX_LEN, decode, encode, payload_len,
    read_frame, write_frame,
};
use protocol::{
    Claim, ClientKind, ClientMessage, Cursor, DaemonStatus, Event, Handoff, Hello, HelloReply,
    Message, Participant, Refusal, RefusalKind, Request, Response, RoomStatus, ServerMessage,
    SessionInfo, Summary, Unread,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, ReadBuf};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(512)
}

// Strategies for every wire type. Strings draw from all of Unicode, control characters included,
// and are sometimes long enough to need a multi-byte length; integers favour their extremes.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => vec(any::<char>(), 0..12).prop_map(String::from_iter),
        1 => Just(String::new()),
        1 => "[a-z \t\n]{0,8}",
        1 => vec(any::<char>(), 100..300).prop_map(String::from_iter),
    ]
}

fn signed() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        Just(-1),
        any::<i64>()
    ]
}

fn unsigned() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(u64::MAX), Just(127), Just(128), any::<u64>()]
}

fn unsigned32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(u32::MAX), any::<u32>()]
}

fn kind() -> impl Strategy<Value = ClientKind> {
    prop_oneof![
        Just(ClientKind::Agent),
        Just(ClientKind::Control),
        Just(ClientKind::Human)
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (text(), text()).prop_map(|(name, role)| Request::Join { name, role }),
        text().prop_map(|name| Request::Leave { name }),
        (text(), text(), text()).prop_map(|(name, content, to)| Request::SendMessage {
            topic_id: String::new(),
            name,
            content,
            to
        }),
        (signed(), signed(), text()).prop_map(|(since_id, limit, participant)| {
            Request::ReadMessages {
                topic_id: String::new(),
                since_id,
                limit,
                participant,
            }
        }),
        Just(Request::ListParticipants),
        Just(Request::GetStatus),
        text().prop_map(|name| Request::GetCursor {
            topic_id: String::new(),
            name
        }),
        (text(), signed()).prop_map(|(name, message_id)| Request::SetCursor {
            topic_id: String::new(),
            name,
            message_id
        }),
        (text(), signed(), any::<bool>()).prop_map(|(name, limit, mark_read)| {
            Request::ReadUnread {
                topic_id: String::new(),
                name,
                limit,
                mark_read,
            }
        }),
        (text(), text(), text()).prop_map(|(name, content, scope)| Request::WriteSummary {
            topic_id: String::new(),
            name,
            content,
            scope
        }),
        text().prop_map(|scope| Request::ReadLatestSummary {
            topic_id: String::new(),
            scope
        }),
        (text(), signed()).prop_map(|(name, recent_limit)| Request::GetHandoff {
            topic_id: String::new(),
            name,
            recent_limit
        }),
        Just(Request::DaemonStatus),
        Just(Request::Shutdown),
        text().prop_map(|participant| Request::Subscribe {
            topic_id: String::new(),
            participant
        }),
        (signed(), signed())
            .prop_map(|(since_id, limit)| Request::ReadSummaries { since_id, limit }),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        1 => (unsigned32(), unsigned32(), kind()).prop_map(|(version, client_pid, kind)| {
            ClientMessage::Hello(Hello {
                version,
                client_pid,
                kind,
            })
        }),
        4 => (unsigned(), request()).prop_map(|(id, request)| ClientMessage::Call { id, request }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (unsigned(), text(), text(), text(), text(), any::<bool>()).prop_map(
        |(id, ts, from, to, content, human)| Message {
            topic_id: None,
            id,
            ts,
            from,
            to,
            content,
            human,
        },
    )
}

fn participant() -> impl Strategy<Value = Participant> {
    (text(), text(), text(), text()).prop_map(|(name, role, joined_at, last_seen)| Participant {
        name,
        role,
        joined_at,
        last_seen,
    })
}

fn summary() -> impl Strategy<Value = Summary> {
    (unsigned(), text(), text(), text(), text()).prop_map(|(id, ts, from, scope, content)| {
        Summary {
            topic_id: None,
            id,
            ts,
            from,
            scope,
            content,
        }
    })
}

fn session_info() -> impl Strategy<Value = SessionInfo> {
    (unsigned(), unsigned32(), vec(text(), 0..3), kind()).prop_map(
        |(session_id, client_pid, names, kind)| SessionInfo {
            session_id,
            client_pid,
            names,
            kind,
        },
    )
}

fn claim() -> impl Strategy<Value = Claim> {
    (
        (text(), text(), any::<bool>()),
        (text(), text(), proptest::option::of(text()), unsigned()),
    )
        .prop_map(
            |((path, name, exclusive), (reason, since, expires_at, held_s))| Claim {
                path,
                name,
                exclusive,
                reason,
                since,
                expires_at,
                held_s,
            },
        )
}

fn handoff() -> impl Strategy<Value = Handoff> {
    (
        proptest::option::of(vec(claim(), 0..3)),
        vec(participant(), 0..3),
        unsigned(),
        proptest::option::of(unsigned()),
        proptest::option::of(unsigned()),
        proptest::option::of(summary()),
        vec(message(), 0..3),
    )
        .prop_map(
            |(
                claims,
                participants,
                latest_message_id,
                cursor,
                unread_count,
                latest_summary,
                recent,
            )| {
                Handoff {
                    claims,
                    topic: None,
                    participants,
                    latest_message_id,
                    cursor,
                    unread_count,
                    latest_summary,
                    recent_messages: recent,
                }
            },
        )
}

fn daemon_status() -> impl Strategy<Value = DaemonStatus> {
    (
        (unsigned32(), text(), unsigned32(), unsigned()),
        (text(), text(), text()),
        (vec(session_info(), 0..3), vec(participant(), 0..3)),
        (unsigned(), unsigned(), proptest::option::of(text())),
        vec(claim(), 0..3),
    )
        .prop_map(
            |(
                (pid, package_version, protocol_version, uptime_secs),
                (root, socket, log),
                (sessions, participants),
                (message_count, summary_count, last_activity_ts),
                claims,
            )| DaemonStatus {
                claims,
                pid,
                package_version,
                protocol_version,
                uptime_secs,
                root,
                socket,
                log,
                sessions,
                participants,
                message_count,
                summary_count,
                last_activity_ts,
                topic_count: message_count / 2,
                open_topic_count: summary_count / 2,
                import_hint: None,
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        vec(participant(), 0..4).prop_map(Response::Participants),
        any::<bool>().prop_map(Response::Left),
        unsigned().prop_map(Response::Id),
        vec(message(), 0..4).prop_map(Response::Messages),
        (unsigned(), unsigned(), proptest::option::of(text())).prop_map(
            |(participant_count, message_count, last_activity_ts)| {
                Response::Status(RoomStatus {
                    topics: None,
                    participant_count,
                    message_count,
                    last_activity_ts,
                })
            }
        ),
        (text(), unsigned()).prop_map(|(name, last_read_id)| Response::Cursor(Cursor {
            topic_id: None,
            name,
            last_read_id
        })),
        (text(), unsigned(), vec(message(), 0..4)).prop_map(|(name, last_read_id, messages)| {
            Response::Unread(Unread {
                topic_id: None,
                name,
                last_read_id,
                messages,
            })
        }),
        proptest::option::of(summary()).prop_map(Response::Summary),
        handoff().prop_map(Response::Handoff),
        daemon_status().prop_map(Response::DaemonStatus),
        Just(Response::ShuttingDown),
        Just(Response::Subscribed),
        vec(summary(), 0..4).prop_map(Response::Summaries),
    ]
}

fn refusal() -> impl Strategy<Value = Refusal> {
    let kind = prop_oneof![
        Just(RefusalKind::Invalid),
        Just(RefusalKind::Conflict),
        Just(RefusalKind::NotAllowed),
        Just(RefusalKind::Storage),
    ];
    (kind, text()).prop_map(|(kind, message)| Refusal { kind, message })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        message().prop_map(Event::Message),
        summary().prop_map(Event::Summary),
        (vec(participant(), 0..3), vec(session_info(), 0..3)).prop_map(
            |(participants, sessions)| Event::Presence {
                participants,
                sessions
            }
        ),
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let hello_reply = prop_oneof![
        (unsigned32(), unsigned(), unsigned32()).prop_map(|(version, session_id, daemon_pid)| {
            HelloReply::Welcome {
                version,
                session_id,
                daemon_pid,
            }
        }),
        (unsigned32(), unsigned32(), text()).prop_map(|(daemon_version, daemon_pid, message)| {
            HelloReply::Refused {
                daemon_version,
                daemon_pid,
                message,
            }
        }),
    ];
    let outcome = prop_oneof![
        3 => response().prop_map(Ok),
        1 => refusal().prop_map(Err),
    ];
    prop_oneof![
        1 => hello_reply.prop_map(ServerMessage::HelloReply),
        4 => (unsigned(), outcome).prop_map(|(id, outcome)| ServerMessage::Reply { id, outcome }),
        2 => event().prop_map(ServerMessage::Event),
    ]
}

/// Bytes with no structure, or with small values that postcard reads as early enum variants and
/// short lengths, so that decoding gets past the first byte.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        vec(0u8..8, 0..256),
        vec(prop_oneof![0u8..4, Just(0x80), Just(0xff)], 0..64),
    ]
}

fn prefix(len: u32) -> Vec<u8> {
    len.to_le_bytes().to_vec()
}

// An in-memory reader that hands out its bytes in chunks of chosen sizes and refuses (with an
// I/O error, which `read_frame` passes on) any read that offers room for more than `max_request`
// bytes: that is what allocating beyond the limit would look like from the reader's side.

struct Stream {
    bytes: Vec<u8>,
    position: usize,
    chunks: Vec<usize>,
    reads: usize,
    max_request: usize,
}

impl Stream {
    fn new(bytes: Vec<u8>, chunks: Vec<usize>, max_request: usize) -> Self {
        Self {
            bytes,
            position: 0,
            chunks,
            reads: 0,
            max_request,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = self.get_mut();
        if buf.remaining() > stream.max_request {
            return Poll::Ready(Err(io::Error::other(format!(
                "asked for {} bytes, more than {}",
                buf.remaining(),
                stream.max_request
            ))));
        }
        let chunk = stream
            .chunks
            .get(stream.reads % stream.chunks.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .max(1);
        let count = chunk
            .min(buf.remaining())
            .min(stream.bytes.len() - stream.position);
        buf.put_slice(&stream.bytes[stream.position..stream.position + count]);
        stream.position += count;
        stream.reads += 1;
        Poll::Ready(Ok(()))
    }
}

/// Runs a future that never waits (every reader and writer here is in memory) to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-memory read or write waited"),
    }
}

/// What one `read_frame` call should do at `position` of `bytes`: the frame codec's rules
/// written out plainly, to compare the real reader against.
#[derive(Debug, PartialEq)]
enum Expected<T> {
    End,
    Truncated,
    TooLarge { len: usize },
    Frame { value: T, end: usize },
    Undecodable { end: usize },
}

fn expected<T: DeserializeOwned>(bytes: &[u8], position: usize, max: usize) -> Expected<T> {
    let rest = &bytes[position..];
    if rest.is_empty() {
        return Expected::End;
    }
    if rest.len() < PREFIX_LEN {
        return Expected::Truncated;
    }
    let len = u32::from_le_bytes(rest[..PREFIX_LEN].try_into().unwrap()) as usize;
    if len > max {
        return Expected::TooLarge { len };
    }
    let Some(payload) = rest[PREFIX_LEN..].get(..len) else {
        return Expected::Truncated;
    };
    let end = position + PREFIX_LEN + len;
    match decode(payload) {
        Ok(value) => Expected::Frame { value, end },
        Err(_) => Expected::Undecodable { end },
    }
}

/// Reads frames from `bytes` (served in `chunks`) until the end or an error, checking every call
/// against [`expected`]: values, errors, and how far the reader was advanced.
fn check_stream<T>(bytes: Vec<u8>, chunks: Vec<usize>, max: usize) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut stream = Stream::new(bytes, chunks, max.max(PREFIX_LEN));
    let mut buf = Vec::new();
    loop {
        let position = stream.position;
        let want = expected::<T>(&stream.bytes, position, max);
        let got = ready(read_frame::<T, _>(&mut stream, &mut buf, max));
        prop_assert!(buf.len() <= max, "a buffer of {} bytes", buf.len());
        // `Vec` may round a reused buffer's capacity up, but never past twice what was asked.
        prop_assert!(
            buf.capacity() <= 2 * max.max(8),
            "capacity {}",
            buf.capacity()
        );
        match (got, want) {
            (Ok(Some(value)), Expected::Frame { value: want, end }) => {
                prop_assert_eq!(value, want);
                prop_assert_eq!(stream.position, end);
            }
            (Ok(None), Expected::End) => {
                prop_assert_eq!(stream.position, stream.bytes.len());
                return Ok(());
            }
            (Err(FrameError::Truncated), Expected::Truncated) => {
                prop_assert_eq!(stream.position, stream.bytes.len());
                return Ok(());
            }
            (Err(FrameError::TooLarge { len, max: limit }), Expected::TooLarge { len: want }) => {
                prop_assert_eq!((len, limit), (want, max));
                // Refused on the prefix alone: not a byte of the body was read.
                prop_assert_eq!(stream.position, position + PREFIX_LEN);
                return Ok(());
            }
            (Err(FrameError::Decode(_)), Expected::Undecodable { end }) => {
                prop_assert_eq!(stream.position, end);
                return Ok(());
            }
            (got, want) => {
                return Err(TestCaseError::fail(format!(
                    "at byte {position} read_frame gave {got:?}, expected {want:?}"
                )));
            }
        }
    }
}

/// One piece of a byte stream: a valid frame, a frame cut short, a bare prefix of any length,
/// or garbage.
fn piece<T: Serialize + std::fmt::Debug>(
    values: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Vec<u8>> {
    let frame = values.prop_map(|value| encode(&value, MAX_SERVER_FRAME).unwrap());
    prop_oneof![
        4 => frame.clone(),
        1 => (frame, any::<Index>()).prop_map(|(bytes, cut)| bytes[..cut.index(bytes.len())].to_vec()),
        1 => (any::<u32>(), vec(any::<u8>(), 0..8)).prop_map(|(len, mut tail)| {
            let mut bytes = prefix(len);
            bytes.append(&mut tail);
            bytes
        }),
        1 => garbage(),
    ]
}

fn stream_of<T: Serialize + std::fmt::Debug>(
    values: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Vec<u8>> {
    vec(piece(values), 0..5).prop_map(|pieces| pieces.concat())
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![usize::MAX]),
        vec(1usize..8, 1..6),
        vec(
            prop_oneof![Just(1usize), Just(3), Just(4), Just(5), Just(1000)],
            1..6
        ),
    ]
}

/// The limit a reader enforces: the real ones, or small ones that many frames exceed.
fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(MAX_CLIENT_FRAME),
        Just(MAX_SERVER_FRAME),
        0usize..8,
        8usize..200,
    ]
}

/// A change to a valid frame.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: Index, bit: u8 },
    Set { at: Index, byte: u8 },
    Insert { at: Index, byte: u8 },
    Remove { at: Index },
    Truncate { at: Index },
    Extend(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        1 => any::<Index>().prop_map(|at| Mutation::Remove { at }),
        1 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => vec(any::<u8>(), 1..8).prop_map(Mutation::Extend),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match mutation {
        Mutation::Flip { at, bit } if len > 0 => bytes[at.index(len)] ^= 1 << bit,
        Mutation::Set { at, byte } if len > 0 => bytes[at.index(len)] = *byte,
        Mutation::Insert { at, byte } => bytes.insert(at.index(len + 1), *byte),
        Mutation::Remove { at } if len > 0 => {
            bytes.remove(at.index(len));
        }
        Mutation::Truncate { at } => bytes.truncate(at.index(len + 1)),
        Mutation::Extend(tail) => bytes.extend_from_slice(tail),
        _ => {}
    }
}

/// `value` encodes to a frame whose prefix is its payload's length and which decodes to
/// `value`; the limit is enforced exactly at that length.
fn check_round_trip<T>(value: &T, max: usize) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(value, max).map_err(|err| TestCaseError::fail(err.to_string()))?;
    let len = bytes.len() - PREFIX_LEN;
    let prefix: [u8; PREFIX_LEN] = bytes[..PREFIX_LEN].try_into().unwrap();
    prop_assert_eq!(u32::from_le_bytes(prefix) as usize, len);
    prop_assert_eq!(payload_len(prefix, max).ok(), Some(len));
    let decoded = decode::<T>(&bytes[PREFIX_LEN..]).ok();
    prop_assert_eq!(decoded.as_ref(), Some(value));
    prop_assert!(encode(value, len).is_ok());
    if len > 0 {
        let refused = encode(value, len - 1);
        prop_assert!(
            matches!(refused, Err(FrameError::TooLarge { len: l, max: m }) if l == len && m == len - 1),
            "{refused:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// (a) Any bytes decode to a value or an error, never a panic.
    #[test]
    fn decoding_any_bytes_never_panics(bytes in garbage()) {
        let _ = decode::<ClientMessage>(&bytes);
        let _ = decode::<ServerMessage>(&bytes);
    }

    /// (b) `read_frame` over any stream of frames, cut frames, bare prefixes and garbage does
    /// exactly what the codec's rules say, served in any chunk sizes.
    #[test]
    fn reading_a_client_stream_follows_the_rules(
        bytes in stream_of(client_message().boxed()),
        chunks in chunks(),
        max in limit(),
    ) {
        check_stream::<ClientMessage>(bytes, chunks, max)?;
    }

    #[test]
    fn reading_a_server_stream_follows_the_rules(
        bytes in stream_of(server_message().boxed()),
        chunks in chunks(),
        max in limit(),
    ) {
        check_stream::<ServerMessage>(bytes, chunks, max)?;
    }

    #[test]
    fn reading_garbage_follows_the_rules(bytes in garbage(), chunks in chunks(), max in limit()) {
        check_stream::<ClientMessage>(bytes.clone(), chunks.clone(), max)?;
        check_stream::<ServerMessage>(bytes, chunks, max)?;
    }

    /// (b) A prefix over the limit is refused before anything else is read: this reader fails
    /// any read that offers room for more than a prefix.
    #[test]
    fn an_oversized_prefix_is_refused_before_its_body(
        max in prop_oneof![0usize..1024, Just(MAX_CLIENT_FRAME), Just(MAX_SERVER_FRAME)],
        over in prop_oneof![Just(1u64), 1u64..1024, Just(u64::MAX)],
        body in vec(any::<u8>(), 0..64),
        chunks in chunks(),
    ) {
        let len = (max as u64).saturating_add(over).min(u64::from(u32::MAX)) as u32;
        let mut bytes = prefix(len);
        bytes.extend_from_slice(&body);
        let mut stream = Stream::new(bytes, chunks, PREFIX_LEN);
        let mut buf = Vec::new();
        let got = ready(read_frame::<ClientMessage, _>(&mut stream, &mut buf, max));
        prop_assert!(
            matches!(got, Err(FrameError::TooLarge { len: l, max: m }) if l == len as usize && m == max),
            "{got:?}"
        );
        prop_assert_eq!(stream.position, PREFIX_LEN);
        prop_assert_eq!(buf.capacity(), 0);
    }

    /// (b) A stream that ends between frames is a clean end; one that ends anywhere inside a
    /// frame, prefix included, is a truncation.
    #[test]
    fn the_end_of_a_stream_is_clean_only_between_frames(
        messages in vec(client_message(), 1..4),
        cut in any::<Index>(),
        chunks in chunks(),
    ) {
        let frames: Vec<Vec<u8>> = messages
            .iter()
            .map(|message| encode(message, MAX_CLIENT_FRAME).unwrap())
            .collect();
        let bytes = frames.concat();
        let boundaries: Vec<usize> = frames
            .iter()
            .scan(0, |end, frame| {
                *end += frame.len();
                Some(*end)
            })
            .collect();
        let cut = cut.index(bytes.len() + 1);
        let mut stream = Stream::new(bytes[..cut].to_vec(), chunks, MAX_CLIENT_FRAME);
        let mut buf = Vec::new();
        let mut read = Vec::new();
        let end = loop {
            match ready(read_frame::<ClientMessage, _>(&mut stream, &mut buf, MAX_CLIENT_FRAME)) {
                Ok(Some(message)) => read.push(message),
                other => break other,
            }
        };
        let whole = boundaries.iter().filter(|&&boundary| boundary <= cut).count();
        prop_assert_eq!(&read[..], &messages[..whole]);
        if cut == 0 || boundaries.contains(&cut) {
            prop_assert!(matches!(end, Ok(None)), "{end:?}");
        } else {
            prop_assert!(matches!(end, Err(FrameError::Truncated)), "{end:?}");
        }
    }

    /// (c) Every client message round trips, and its prefix is its payload's length.
    #[test]
    fn client_messages_round_trip(message in client_message()) {
        check_round_trip(&message, MAX_CLIENT_FRAME)?;
    }

    /// (c) Every server message round trips, and its prefix is its payload's length.
    #[test]
    fn server_messages_round_trip(message in server_message()) {
        check_round_trip(&message, MAX_SERVER_FRAME)?;
    }

    /// (c) Frames written one after another by `write_frame` are read back in order by
    /// `read_frame`, whatever the chunking, followed by a clean end.
    #[test]
    fn written_frames_read_back_in_order(
        messages in vec(server_message(), 0..6),
        chunks in chunks(),
    ) {
        let mut bytes = Vec::new();
        for message in &messages {
            ready(write_frame(&mut bytes, message, MAX_SERVER_FRAME))
                .map_err(|err| TestCaseError::fail(err.to_string()))?;
        }
        let mut stream = Stream::new(bytes, chunks, MAX_SERVER_FRAME);
        let mut buf = Vec::new();
        for message in &messages {
            let got = ready(read_frame::<ServerMessage, _>(&mut stream, &mut buf, MAX_SERVER_FRAME));
            let got = got.ok().flatten();
            prop_assert_eq!(got.as_ref(), Some(message));
        }
        let end = ready(read_frame::<ServerMessage, _>(&mut stream, &mut buf, MAX_SERVER_FRAME));
        prop_assert!(matches!(end, Ok(None)), "{end:?}");
    }

    /// (d) A valid payload followed by anything more is not one frame: a decode error, whether
    /// decoded directly or read with a prefix that covers the extra bytes.
    #[test]
    fn trailing_bytes_after_a_client_message_are_refused(
        message in client_message(),
        trailing in vec(any::<u8>(), 1..16),
    ) {
        let mut bytes = encode(&message, MAX_CLIENT_FRAME).unwrap();
        bytes.extend_from_slice(&trailing);
        let got = decode::<ClientMessage>(&bytes[PREFIX_LEN..]);
        prop_assert!(matches!(got, Err(FrameError::Decode(_))), "{got:?}");
        let len = (bytes.len() - PREFIX_LEN) as u32;
        bytes[..PREFIX_LEN].copy_from_slice(&len.to_le_bytes());
        let mut stream = Stream::new(bytes, vec![usize::MAX], MAX_CLIENT_FRAME);
        let got = ready(read_frame::<ClientMessage, _>(&mut stream, &mut Vec::new(), MAX_CLIENT_FRAME));
        prop_assert!(matches!(got, Err(FrameError::Decode(_))), "{got:?}");
    }

    #[test]
    fn trailing_bytes_after_a_server_message_are_refused(
        message in server_message(),
        trailing in vec(any::<u8>(), 1..16),
    ) {
        let mut payload = encode(&message, MAX_SERVER_FRAME).unwrap().split_off(PREFIX_LEN);
        payload.extend_from_slice(&trailing);
        let got = decode::<ServerMessage>(&payload);
        prop_assert!(matches!(got, Err(FrameError::Decode(_))), "{got:?}");
    }

    /// (e) Valid frames with bytes flipped, overwritten, inserted, removed, cut or appended
    /// never make decoding panic, and reading them still follows the codec's rules.
    #[test]
    fn mutated_client_frames_follow_the_rules(
        message in client_message(),
        mutations in vec(mutation(), 1..6),
        chunks in chunks(),
        max in limit(),
    ) {
        let mut bytes = encode(&message, MAX_CLIENT_FRAME).unwrap();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        if let Some(payload) = bytes.get(PREFIX_LEN..) {
            let _ = decode::<ClientMessage>(payload);
            let _ = decode::<ServerMessage>(payload);
        }
        check_stream::<ClientMessage>(bytes, chunks, max)?;
    }

    #[test]
    fn mutated_server_frames_follow_the_rules(
        message in server_message(),
        mutations in vec(mutation(), 1..6),
        chunks in chunks(),
        max in limit(),
    ) {
        let mut bytes = encode(&message, MAX_SERVER_FRAME).unwrap();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        if let Some(payload) = bytes.get(PREFIX_LEN..) {
            let _ = decode::<ServerMessage>(payload);
            let _ = decode::<ClientMessage>(payload);
        }
        check_stream::<ServerMessage>(bytes, chunks, max)?;
    }
}
