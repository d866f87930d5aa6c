//! The people's surfaces in a room with topics, run as processes against a real daemon (and
//! against the files it left): `topic open|close`, `topics`, `send`/`tail`/`export --topic`,
//! `monitor`'s overview of open topics and its `--topic` view, the topic on pushed events, and
//! which refused command leaves no daemon behind. A room that never opened a topic must look
//! exactly as before; `human::` pins that, and the last test here checks it beside a topic room.
//!
//! Agents act on topics through a session of their own on the wire (`Wire`), so that these tests
//! depend on the daemon alone.

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::sync::mpsc;

use chatroom_client::{Connection, Reach};
use chatroom_tests::{DEFAULT_TIMEOUT, TestRoom};
use protocol::{ClientKind, Event, Request, Response};
use serde_json::{Value, json};

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "chatroomd failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

/// Runs a command the room must refuse: it fails, prints nothing on stdout and exactly
/// `chatroomd: <refusal>` on stderr.
fn refused(room: &TestRoom, args: &[&str], refusal: &str) {
    let output = room.chatroomd(args);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("chatroomd: {refusal}\n"),
        "{args:?}"
    );
    assert!(output.stdout.is_empty(), "{args:?} printed on stdout");
}

/// An agent's session on the wire, to the daemon already serving the room.
struct Wire(Connection);

impl Wire {
    async fn reach(room: &TestRoom, kind: ClientKind) -> Self {
        match Connection::reach(&room.paths(), kind).await.unwrap() {
            Reach::Connected(connection) => Self(connection),
            _ => panic!("no daemon serves the room"),
        }
    }

    async fn ok(&self, request: Request) -> Response {
        self.0.request(request).await.expect("the daemon's answer")
    }

    async fn join(&self, name: &str) {
        self.ok(Request::Join {
            name: name.into(),
            role: "dev".into(),
        })
        .await;
    }

    async fn send(&self, name: &str, to: &str, topic: &str, content: &str) -> u64 {
        let Response::Id(id) = self
            .ok(Request::SendMessage {
                name: name.into(),
                content: content.into(),
                to: to.into(),
                topic_id: topic.into(),
            })
            .await
        else {
            panic!("send_message answers an id")
        };
        id
    }

    async fn summary(&self, name: &str, topic: &str, content: &str) {
        self.ok(Request::WriteSummary {
            name: name.into(),
            content: content.into(),
            scope: "all".into(),
            topic_id: topic.into(),
        })
        .await;
    }

    /// `list_topics` as its JSON records.
    async fn list_topics(&self, name: &str, status: &str) -> String {
        let Response::Topics(topics) = self
            .ok(Request::ListTopics {
                name: name.into(),
                status: status.into(),
            })
            .await
        else {
            panic!("list_topics answers topics")
        };
        serde_json::to_string(&topics).unwrap()
    }
}

/// A room whose daemon runs, with topics `auth` (two messages, one of them to codex, and a
/// summary) and `db` (closed), and a main-room message around them.
async fn room_with_topics() -> (TestRoom, Wire) {
    let room = TestRoom::new();
    stdout(&room.chatroomd(&["send", "--as", "maria", "welcome to the main room"]));
    let opened = stdout(&room.chatroomd(&[
        "topic",
        "open",
        "auth",
        "Fix the login flow",
        "--as",
        "maria",
    ]));
    assert_eq!(opened, "opened topic auth: Fix the login flow\n");
    stdout(&room.chatroomd(&["topic", "open", "db", "Schema migration"]));
    let claude = Wire::reach(&room, ClientKind::Agent).await;
    claude.join("claude").await;
    claude
        .send("claude", "all", "auth", "token refresh is broken")
        .await;
    claude
        .send("claude", "codex", "auth", "codex: look at refresh.rs")
        .await;
    claude
        .summary(
            "claude",
            "auth",
            "Refresh fixed; left: the logout path\nand its tests",
        )
        .await;
    claude
        .send("claude", "all", "", "back in the main room")
        .await;
    assert_eq!(
        stdout(&room.chatroomd(&["topic", "close", "db"])),
        "closed topic db\n"
    );
    (room, claude)
}

#[tokio::test]
async fn a_person_opens_and_closes_topics_validated_like_an_agent() {
    let room = TestRoom::new();
    let opened = stdout(&room.chatroomd(&[
        "topic",
        "open",
        " auth-fix ",
        "  Fix the login flow ",
        "--as",
        "maria",
    ]));
    assert_eq!(opened, "opened topic auth-fix: Fix the login flow\n");
    stdout(&room.chatroomd(&["topic", "open", "db", "Schema migration"]));
    let claude = Wire::reach(&room, ClientKind::Agent).await;
    claude.join("claude").await;
    let listed: Value = serde_json::from_str(&claude.list_topics("", "all").await).unwrap();
    let creators: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|topic| {
            (
                topic["id"].as_str().unwrap(),
                topic["created_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(creators, [("db", "system"), ("auth-fix", "maria")]);

    // Every refusal is the daemon's line, and changes nothing.
    let before = (
        claude.list_topics("", "all").await,
        room.read_state("topics.json"),
    );
    let long_title = "t".repeat(257);
    for (args, refusal) in [
        (
            vec!["topic", "open", "auth-fix", "again"],
            "topic 'auth-fix' already exists",
        ),
        (
            vec!["topic", "open", "Auth", "x"],
            "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$",
        ),
        (
            vec!["topic", "open", "*", "x"],
            "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$",
        ),
        (
            vec!["topic", "open", " ", "x"],
            "topic_id must not be blank",
        ),
        (
            vec!["topic", "open", "new", "  "],
            "title must not be blank",
        ),
        (
            vec!["topic", "open", "new", &long_title],
            "title must be at most 256 characters",
        ),
        (
            vec!["topic", "open", "new", "x", "--as", "system"],
            "name 'system' is reserved",
        ),
        (
            vec!["topic", "open", "new", "x", "--as", "claude"],
            "name 'claude' is held by another session",
        ),
        (vec!["topic", "close", "nope"], "unknown topic_id: nope"),
        (vec!["topic", "close", "  "], "topic_id must not be blank"),
        (
            vec!["topic", "close", "a b"],
            "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$",
        ),
    ] {
        refused(&room, &args, refusal);
    }
    let after = (
        claude.list_topics("", "all").await,
        room.read_state("topics.json"),
    );
    assert_eq!(before, after, "refused calls change nothing");

    assert_eq!(
        stdout(&room.chatroomd(&["topic", "close", "db"])),
        "closed topic db\n"
    );
    assert_eq!(
        stdout(&room.chatroomd(&["topic", "close", "db"])),
        "topic db was already closed\n"
    );
    let closed: Value = serde_json::from_str(&claude.list_topics("", "closed").await).unwrap();
    assert_eq!(closed[0]["id"], "db");
    assert!(closed[0]["closed_at"].is_string(), "{closed}");
    // A closed topic takes no more messages, from a person either.
    refused(
        &room,
        &["send", "--as", "maria", "--topic", "db", "late"],
        "topic 'db' is closed",
    );
    room.finish();
}

#[tokio::test]
async fn pushed_events_carry_the_topic() {
    let room = TestRoom::new();
    stdout(&room.chatroomd(&["send", "--as", "maria", "start"]));
    let mut watcher = Wire::reach(&room, ClientKind::Human).await;
    watcher
        .ok(Request::Subscribe {
            participant: String::new(),
            topic_id: "*".into(),
        })
        .await;
    stdout(&room.chatroomd(&["topic", "open", "auth", "Fix the login flow"]));
    let sent = stdout(&room.chatroomd(&["send", "--as", "maria", "--topic", "auth", "in auth"]));
    assert_eq!(sent, "sent message #2\n");
    stdout(&room.chatroomd(&["topic", "close", "auth"]));
    let mut events = Vec::new();
    while events.len() < 3 {
        let event = tokio::time::timeout(DEFAULT_TIMEOUT, watcher.0.next_event())
            .await
            .expect("an event in time")
            .expect("the connection stands");
        if !matches!(event, Event::Presence { .. }) {
            events.push(event);
        }
    }
    let Event::Topic(opened) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (opened.id.as_str(), opened.status.as_str()),
        ("auth", "open")
    );
    let Event::Message(message) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (message.id, message.topic_id.as_deref(), message.human),
        (2, Some("auth"), true)
    );
    let Event::Topic(closed) = &events[2] else {
        panic!("{events:?}")
    };
    assert_eq!(closed.status.as_str(), "closed");
    room.finish();
}

#[tokio::test]
async fn topics_lists_them_as_text_and_as_the_tools_records_live_and_from_disk() {
    let (room, claude) = room_with_topics().await;
    let codex = Wire::reach(&room, ClientKind::Agent).await;
    codex.join("codex").await;

    let open = stdout(&room.chatroomd(&["topics"]));
    let lines: Vec<&str> = open.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one line per topic:\n{open}");
    assert!(
        lines[0].starts_with("  ID    STATUS  LAST ACTIVITY"),
        "{open}"
    );
    assert!(
        lines[1].starts_with("  auth  open    ") && lines[1].ends_with("  Fix the login flow"),
        "{open}"
    );
    let all = stdout(&room.chatroomd(&["topics", "--status", "all"]));
    assert_eq!(all.lines().count(), 3, "{all}");
    assert!(all.contains("  db    closed  "), "{all}");
    let closed = stdout(&room.chatroomd(&["topics", "--status", "closed"]));
    assert!(
        closed.contains("  db  ") && !closed.contains("auth"),
        "{closed}"
    );

    // What codex has not read: both auth messages are visible to it.
    let theirs = stdout(&room.chatroomd(&["topics", "--participant", "codex"]));
    assert!(theirs.contains("UNREAD"), "{theirs}");
    let auth_line = theirs.lines().find(|line| line.contains("auth")).unwrap();
    assert!(auth_line.contains("  2  "), "{theirs}");
    codex
        .ok(Request::ReadUnread {
            name: "codex".into(),
            limit: 1,
            mark_read: true,
            topic_id: "auth".into(),
        })
        .await;
    let theirs = stdout(&room.chatroomd(&["topics", "--participant", "codex"]));
    let auth_line = theirs.lines().find(|line| line.contains("auth")).unwrap();
    assert!(auth_line.contains("  1  "), "{theirs}");

    // --json is list_topics' records exactly, with and without a participant.
    for (args, name, status) in [
        (vec!["topics", "--json"], "", "open"),
        (vec!["topics", "--json", "--status", "all"], "", "all"),
        (
            vec![
                "topics",
                "--json",
                "--status",
                "closed",
                "--participant",
                "codex",
            ],
            "codex",
            "closed",
        ),
        (
            vec![
                "topics",
                "--json",
                "--status",
                "all",
                "--participant",
                "codex",
            ],
            "codex",
            "all",
        ),
    ] {
        let printed = stdout(&room.chatroomd(&args));
        assert_eq!(
            printed,
            claude.list_topics(name, status).await + "\n",
            "{args:?}"
        );
    }
    let live = stdout(&room.chatroomd(&[
        "topics",
        "--json",
        "--status",
        "all",
        "--participant",
        "codex",
    ]));
    let live_text = stdout(&room.chatroomd(&["topics", "--status", "all"]));
    drop((claude, codex));

    // With no daemon the files answer the same, and none is started.
    room.stop_daemon();
    let from_disk = stdout(&room.chatroomd(&[
        "topics",
        "--json",
        "--status",
        "all",
        "--participant",
        "codex",
    ]));
    assert_eq!(from_disk, live);
    let text_from_disk = stdout(&room.chatroomd(&["topics", "--status", "all"]));
    let ids = |text: &str| {
        text.lines()
            .skip(1)
            .map(|line| line.split_whitespace().next().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&text_from_disk), ids(&live_text));
    assert_eq!(room.daemon_pid(), None, "topics started a daemon");

    let bad = room.chatroomd(&["topics", "--status", "bogus"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid value 'bogus' for '--status"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    refused(
        &room,
        &["topics", "--participant", "a\u{7}b"],
        "name must not contain control characters",
    );
    room.finish();
}

#[tokio::test]
async fn send_tail_and_export_take_a_topic() {
    let (room, claude) = room_with_topics().await;
    let sent = stdout(&room.chatroomd(&[
        "send",
        "--as",
        "maria",
        "--topic",
        " auth ",
        "--to",
        "claude",
        "is logout next?",
    ]));
    assert_eq!(sent, "sent message #5\n");
    let Response::Messages(stored) = claude
        .ok(Request::ReadMessages {
            since_id: 4,
            limit: 10,
            participant: String::new(),
            topic_id: "auth".into(),
        })
        .await
    else {
        panic!()
    };
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        json!([{"id": 5, "ts": stored[0].ts, "topic_id": "auth", "from": "maria",
                "to": "claude", "content": "is logout next?", "human": true}])
    );

    // The main room alone, as in a v1 room; one topic; every scope, each topic's lines tagged.
    let main = stdout(&room.chatroomd(&["tail"]));
    let contents = |text: &str| {
        text.lines()
            .map(|line| line.split_once(": ").unwrap().1.to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        contents(&main),
        ["welcome to the main room", "back in the main room"]
    );
    assert!(!main.contains('['), "{main}");
    let auth = stdout(&room.chatroomd(&["tail", "--topic", "auth"]));
    let lines: Vec<&str> = auth.lines().collect();
    assert_eq!(lines.len(), 3, "{auth}");
    assert!(lines.iter().all(|line| line.contains(" [auth] ")), "{auth}");
    assert!(lines[0].starts_with("#2 [auth] "), "{auth}");
    let every = stdout(&room.chatroomd(&["tail", "--topic", "*"]));
    let ids: Vec<&str> = every
        .lines()
        .map(|line| line.split(' ').next().unwrap())
        .collect();
    assert_eq!(ids, ["#1", "#2", "#3", "#4", "#5"], "{every}");
    assert!(every.lines().nth(1).unwrap().starts_with("#2 [auth] "));
    assert!(
        every.lines().nth(3).unwrap().starts_with("#4 20"),
        "{every}"
    );
    let last_two = stdout(&room.chatroomd(&["tail", "--topic", "*", "-n", "2"]));
    assert!(
        last_two.starts_with("#4 ") && last_two.contains("\n#5 [auth] "),
        "{last_two}"
    );
    let json_lines = stdout(&room.chatroomd(&[
        "tail",
        "--topic",
        "auth",
        "--json",
        "--since",
        "2",
        "--participant",
        "codex",
    ]));
    let records: Vec<Value> = json_lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "maria's note to claude is not codex's");
    assert_eq!(
        (records[0]["id"].clone(), records[0]["topic_id"].clone()),
        (json!(3), json!("auth"))
    );
    refused(
        &room,
        &["tail", "--topic", "nope"],
        "unknown topic_id: nope",
    );
    refused(
        &room,
        &["tail", "--topic", "No"],
        "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$",
    );

    // export: the whole room with its topics, or one topic; Markdown tags topics' records.
    let whole: Value = serde_json::from_str(&stdout(&room.chatroomd(&["export"]))).unwrap();
    assert_eq!(
        chatroom_tests::keys_in_order(&whole),
        [
            "root",
            "exported_at",
            "live",
            "participants",
            "messages",
            "summaries",
            "topics"
        ]
    );
    assert_eq!(chatroom_tests::ids(&whole["messages"]), [1, 2, 3, 4, 5]);
    let topic_ids: Vec<&str> = whole["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|topic| topic["id"].as_str().unwrap())
        .collect();
    assert_eq!(topic_ids, ["auth", "db"]);
    assert_eq!(whole["summaries"][0]["topic_id"], "auth");
    let one: Value =
        serde_json::from_str(&stdout(&room.chatroomd(&["export", "--topic", "auth"]))).unwrap();
    assert_eq!(
        chatroom_tests::keys_in_order(&one),
        [
            "root",
            "exported_at",
            "live",
            "topic",
            "participants",
            "messages",
            "summaries"
        ]
    );
    assert_eq!(one["topic"]["title"], "Fix the login flow");
    assert_eq!(chatroom_tests::ids(&one["messages"]), [2, 3, 5]);
    assert_eq!(one["summaries"].as_array().unwrap().len(), 1);
    let markdown = stdout(&room.chatroomd(&["export", "--markdown"]));
    for expected in [
        "## Topics\n\n| id | title | status |",
        "| auth | Fix the login flow | open | maria |",
        "| db | Schema migration | closed | system |",
        "**#2 [auth] · ",
        "**#4 · ",
        "### #1 [auth] · ",
    ] {
        assert!(markdown.contains(expected), "{expected:?} in\n{markdown}");
    }
    let one_markdown = stdout(&room.chatroomd(&["export", "--markdown", "--topic", "auth"]));
    assert!(
        one_markdown.contains(
            ", topic `auth`\n\nTopic auth — Fix the login flow (open, opened by maria at "
        ),
        "{one_markdown}"
    );
    assert!(!one_markdown.contains("back in the main room"));
    refused(
        &room,
        &["export", "--topic", "nope"],
        "unknown topic_id: nope",
    );

    // From the files, the same. Claude leaves first (its reply comes once the departure is
    // stored), so that the session's end adds nothing the live view lacked.
    let live_one = one;
    claude
        .ok(Request::Leave {
            name: "claude".into(),
        })
        .await;
    drop(claude);
    let live_every = stdout(&room.chatroomd(&["tail", "--topic", "*"]));
    assert!(
        live_every.starts_with(&every) && live_every.ends_with("claude left the chatroom\n"),
        "{live_every}"
    );
    room.stop_daemon();
    let mut offline: Value =
        serde_json::from_str(&stdout(&room.chatroomd(&["export", "--topic", "auth"]))).unwrap();
    let mut expected = live_one;
    for export in [&mut offline, &mut expected] {
        let object = export.as_object_mut().unwrap();
        for volatile in ["exported_at", "live", "participants"] {
            object.remove(volatile);
        }
    }
    assert_eq!(offline, expected);
    assert_eq!(
        stdout(&room.chatroomd(&["tail", "--topic", "*"])),
        live_every
    );
    assert_eq!(room.daemon_pid(), None);
    room.finish();
}

#[test]
fn refused_topic_commands_start_no_daemon() {
    let room = TestRoom::new();
    stdout(&room.chatroomd(&["topic", "open", "auth", "Fix the login flow"]));
    stdout(&room.chatroomd(&["topic", "open", "db", "Schema migration"]));
    stdout(&room.chatroomd(&["topic", "close", "db"]));
    room.stop_daemon();
    for (args, refusal) in [
        (
            vec!["send", "--as", "maria", "--topic", "nope", "hi"],
            "unknown topic_id: nope",
        ),
        (
            vec!["send", "--as", "maria", "--topic", "db", "hi"],
            "topic 'db' is closed",
        ),
        (
            vec!["send", "--as", "maria", "--topic", "*", "hi"],
            "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$",
        ),
        (
            vec!["send", "--as", "maria", "--topic", "auth", " "],
            "content must not be blank",
        ),
        (
            vec!["topic", "open", "auth", "again"],
            "topic 'auth' already exists",
        ),
        (vec!["topic", "open", "x", ""], "title must not be blank"),
        (vec!["topic", "close", "nope"], "unknown topic_id: nope"),
        (
            vec!["tail", "--follow", "--topic", "nope"],
            "unknown topic_id: nope",
        ),
        (
            vec!["monitor", "--topic", "nope", "--once"],
            "unknown topic_id: nope",
        ),
        (
            vec!["monitor", "--topic", "*", "--once"],
            "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$",
        ),
    ] {
        refused(&room, &args, refusal);
        assert_eq!(room.daemon_pid(), None, "{args:?} started a daemon");
    }
    // One the room takes does start it, and is stored.
    let sent = stdout(&room.chatroomd(&["send", "--as", "maria", "--topic", "auth", "hi"]));
    assert_eq!(sent, "sent message #1\n");
    assert!(room.daemon_pid().is_some());
    refused(
        &room,
        &["monitor", "--topic", "nope", "--once"],
        "unknown topic_id: nope",
    );
    room.finish();
}

/// The lines `child` prints on its piped stdout, as they come.
fn stdout_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (lines, received) = mpsc::channel();
    let reader = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    received
}

/// Waits (each line within the default timeout) for a line holding `text`; returns it.
fn line_with(received: &mpsc::Receiver<String>, text: &str) -> String {
    loop {
        let line = received
            .recv_timeout(DEFAULT_TIMEOUT)
            .unwrap_or_else(|_| panic!("no line with {text:?}"));
        if line.contains(text) {
            return line;
        }
    }
}

#[tokio::test]
async fn monitor_shows_the_open_topics_beside_the_main_room_and_one_topic_alone() {
    let (room, claude) = room_with_topics().await;
    let once = stdout(&room.chatroomd(&["monitor", "--once"]));
    assert!(once.contains("  topics: 1 open of 2\n"), "{once}");
    assert!(
        once.contains(
            "\nopen topics (1)\n  ID    LAST ACTIVITY  TITLE               LATEST SUMMARY\n  auth  "
        ),
        "{once}"
    );
    assert!(
        once.contains("  Fix the login flow  claude: Refresh fixed; left: the logout path…\n"),
        "{once}"
    );
    let main = once
        .split("latest messages in the main room (2 shown)\n")
        .nth(1);
    assert_eq!(
        main.map(|rest| rest.lines().filter(|line| !line.is_empty()).count()),
        Some(2),
        "only the main room's messages:\n{once}"
    );
    assert!(!once.contains("token refresh"), "{once}");

    // With a participant: its unread count per topic.
    let codex = stdout(&room.chatroomd(&["monitor", "--once", "--participant", "codex"]));
    let row = codex
        .lines()
        .find(|line| line.starts_with("  auth  "))
        .unwrap();
    assert!(row.contains("  2       Fix the login flow"), "{codex}");

    // One topic: its record, summary and messages, and codex's unread count there.
    let topic = stdout(&room.chatroomd(&[
        "monitor",
        "--once",
        "--topic",
        "auth",
        "--participant",
        "codex",
    ]));
    for expected in [
        "topic: auth — Fix the login flow (open, opened by maria at ",
        "view: what codex sees (2 unread here)",
        "latest summary\n  #1 [auth] by claude (scope all) at ",
        "latest messages in topic auth (2 shown)\n  #2 [auth] ",
        "claude → codex [direct]: codex: look at refresh.rs",
    ] {
        assert!(topic.contains(expected), "{expected:?} in\n{topic}");
    }
    assert!(!topic.contains("open topics"), "{topic}");
    assert!(!topic.contains("back in the main room"), "{topic}");

    // Live: a topic opened, a message in it and a topic closed show in later frames.
    let mut child = room
        .chatroomd_command(&["monitor", "--interval", "60", "--participant", "codex"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let received = stdout_lines(&mut child);
    line_with(&received, "open topics (1)");
    stdout(&room.chatroomd(&["topic", "open", "ui", "The settings page"]));
    line_with(&received, "open topics (2)");
    claude.send("claude", "all", "ui", "mockups attached").await;
    claude
        .summary("claude", "ui", "Mockups done, waiting for review")
        .await;
    let row = line_with(&received, "claude: Mockups done, waiting for review");
    assert!(
        row.starts_with("  ui  ") && row.contains("  1       The settings page"),
        "{row}"
    );
    stdout(&room.chatroomd(&["topic", "close", "ui"]));
    line_with(&received, "topics: 1 open of 3");
    child.kill().unwrap();
    child.wait().unwrap();

    // The same overview from the files.
    drop(claude);
    room.stop_daemon();
    let offline = stdout(&room.chatroomd(&["monitor", "--once", "--participant", "codex"]));
    assert!(offline.contains("daemon: down"), "{offline}");
    assert!(offline.contains("open topics (1)\n"), "{offline}");
    let row = offline
        .lines()
        .find(|line| line.starts_with("  auth  "))
        .unwrap();
    assert!(
        row.contains("  2       Fix the login flow  claude: Refresh fixed"),
        "{offline}"
    );
    let offline_topic = stdout(&room.chatroomd(&["monitor", "--once", "--topic", "ui"]));
    assert!(
        offline_topic.contains("topic: ui — The settings page (closed, opened by system at "),
        "{offline_topic}"
    );
    assert!(
        offline_topic.contains("  #5 [ui] ") && offline_topic.contains("mockups attached"),
        "{offline_topic}"
    );
    room.finish();
}

#[tokio::test]
async fn tail_follow_of_a_topic_or_of_every_scope_prints_what_belongs_there() {
    let (room, claude) = room_with_topics().await;
    let mut auth = room
        .chatroomd_command(&["tail", "--follow", "--topic", "auth", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut every = room
        .chatroomd_command(&["tail", "--follow", "--topic", "*", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let auth_lines = stdout_lines(&mut auth);
    let every_lines = stdout_lines(&mut every);
    // The history line proves each has subscribed (they subscribe before reading it).
    assert!(line_with(&auth_lines, "#3 [auth] ").contains("look at refresh.rs"));
    assert!(line_with(&every_lines, "#4 ").contains("back in the main room"));

    claude.send("claude", "all", "", "main room news").await;
    claude.send("claude", "all", "auth", "logout done").await;
    // Every scope: both, in order, the topic's tagged.
    assert!(line_with(&every_lines, "#5 ").ends_with("claude → all: main room news"));
    let tagged = line_with(&every_lines, "#6 ");
    assert!(tagged.starts_with("#6 [auth] "), "{tagged}");
    // The topic: only its own; the main room's #5 never comes.
    let next = auth_lines.recv_timeout(DEFAULT_TIMEOUT).unwrap();
    assert!(next.starts_with("#6 [auth] "), "{next}");
    for child in [&mut auth, &mut every] {
        assert_eq!(child.try_wait().unwrap(), None, "still following");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    room.finish();
}

#[tokio::test]
async fn status_counts_topics_and_a_room_without_any_shows_none() {
    let (room, _claude) = room_with_topics().await;
    let text = stdout(&room.chatroomd(&["status"]));
    assert!(
        text.contains("messages: 4  summaries: 1  last activity: ")
            && text.contains("  topics: 1 open of 2\n"),
        "{text}"
    );
    assert_eq!(room.status()["daemon"]["topic_count"], 2);
    drop(_claude);
    room.stop_daemon();
    let offline = room.status();
    assert_eq!(
        (
            offline["on_disk"]["topic_count"].clone(),
            offline["on_disk"]["open_topic_count"].clone()
        ),
        (json!(2), json!(1))
    );
    assert!(stdout(&room.chatroomd(&["status"])).contains("  topics: 1 open of 2\n"));
    room.finish();

    // A v1 room: no word of topics anywhere a person looks, and v1's keys.
    let v1 = TestRoom::new();
    stdout(&v1.chatroomd(&["send", "--as", "maria", "just the main room"]));
    for args in [
        vec!["monitor", "--once"],
        vec!["status"],
        vec!["tail"],
        vec!["export", "--markdown"],
    ] {
        let text = stdout(&v1.chatroomd(&args));
        assert!(!text.to_lowercase().contains("topic"), "{args:?}:\n{text}");
    }
    let export: Value = serde_json::from_str(&stdout(&v1.chatroomd(&["export"]))).unwrap();
    assert_eq!(
        chatroom_tests::keys_in_order(&export),
        [
            "root",
            "exported_at",
            "live",
            "participants",
            "messages",
            "summaries"
        ]
    );
    assert_eq!(stdout(&v1.chatroomd(&["topics"])), "no open topics\n");
    v1.stop_daemon();
    let offline = v1.status();
    assert_eq!(
        chatroom_tests::keys(&offline["on_disk"]),
        [
            "last_activity_ts",
            "message_count",
            "participants",
            "summary_count"
        ]
    );
    assert!(
        !v1.state_file("topics.json").exists(),
        "a v1 room has no topics file"
    );
    v1.finish();
}

#[test]
fn the_topic_commands_explain_themselves() {
    let room = TestRoom::new();
    for (command, options) in [
        (
            &["topics", "--help"][..],
            &[
                "--status",
                "--participant",
                "--json",
                "--root",
                "list_topics",
            ][..],
        ),
        (&["topic", "--help"], &["open", "close"]),
        (
            &["topic", "open", "--help"],
            &["--as", "ID", "TITLE", "--root"],
        ),
        (&["topic", "close", "--help"], &["ID", "--root"]),
        (&["--help"], &["topics", "topic"]),
    ] {
        let help = room.chatroomd_command(command).output().unwrap();
        assert!(help.status.success(), "{command:?}");
        let text = String::from_utf8_lossy(&help.stdout);
        for option in options {
            assert!(text.contains(option), "{command:?} lacks {option}:\n{text}");
        }
    }
}

#[tokio::test]
async fn after_a_crash_the_files_list_the_topics_as_the_daemon_did() {
    // The daemon writes a topic's activity to topics.json lazily, and a SIGKILL may leave the
    // journal unreplayed: a reader of the files must still answer what the daemon answered
    // (the monitor's unit tests hold the activity derived from records older files lack).
    let (room, claude) = room_with_topics().await;
    stdout(&room.chatroomd(&["topic", "open", "ui", "The settings page"]));
    claude
        .send("claude", "all", "auth", "the newest word")
        .await;
    let live = claude.list_topics("", "all").await;
    // The open topics in list_topics' order (within one second, ties go by id).
    let open: Vec<String> = serde_json::from_str::<Value>(&live)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|topic| topic["status"] == "open")
        .map(|topic| topic["id"].as_str().unwrap().to_owned())
        .collect();
    drop(claude);
    room.kill_daemon();
    let from_disk = stdout(&room.chatroomd(&["topics", "--json", "--status", "all"]));
    assert_eq!(from_disk, live + "\n");
    let monitor = stdout(&room.chatroomd(&["monitor", "--once"]));
    let first_row = monitor
        .split("open topics (2)\n")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .unwrap_or_default();
    assert!(
        first_row.starts_with(&format!("  {}  ", open[0])),
        "{monitor}"
    );
    room.finish();
}
