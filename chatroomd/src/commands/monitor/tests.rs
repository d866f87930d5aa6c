//! The monitor's pure halves: the events applied, the disk view, the frames rendered.

use super::disk::*;
use super::live::*;
use super::render::*;
use super::*;
use crate::commands::source;
use crate::daemon::store;
use crate::shared::time::parse_ts;
use protocol::{Event, TopicStatus};

fn message_line_json(id: u64, to: &str) -> String {
    format!(
        "{{\"id\":{id},\"ts\":\"2026-11-24T09:15:{:02}Z\",\"from\":\"bo\",\"to\":\"{to}\",\"content\":\"m{id}\"}}\n",
        id % 60
    )
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[test]
fn with_no_daemon_each_look_reads_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let messages = dir.path().join(store::MESSAGES_FILE);
    let history: String = (1..=3000)
        .map(|id| message_line_json(id, if id % 2 == 0 { "ana" } else { "all" }))
        .chain(std::iter::once(message_line_json(3001, "cy")))
        .collect();
    append(&messages, &history);
    append(
        &dir.path().join(store::SUMMARIES_FILE),
        "{\"id\":1,\"ts\":\"t\",\"from\":\"bo\",\"scope\":\"ana\",\"content\":\"s1\"}\n\
         {\"id\":2,\"ts\":\"t\",\"from\":\"bo\",\"scope\":\"cy\",\"content\":\"s2\"}\n",
    );
    std::fs::write(
        dir.path().join(store::PARTICIPANTS_FILE),
        r#"{"bo":{"name":"bo","role":"dev","joined_at":"t","last_seen":"t"}}"#,
    )
    .unwrap();
    let options = Options {
        limit: 3,
        participant: Some("ana".into()),
        interval: Duration::from_secs(2),
        once: false,
        topic: None,
    };
    let mut disk = DiskRoom::new("/repo".into(), dir.path());
    let ids = |frame: &Frame| frame.messages.iter().map(|m| m.id).collect::<Vec<_>>();

    let frame = disk.frame(&options);
    assert_eq!(ids(&frame), [2998, 2999, 3000], "what ana sees");
    assert_eq!((frame.message_count, frame.summary_count), (3001, 2));
    assert_eq!(frame.latest_summary.unwrap().content, "s1");
    assert_eq!(frame.participants.len(), 1);
    assert_eq!(frame.notice, None);
    assert_eq!(disk.messages_file.bytes_read(), history.len() as u64);

    // One message more: only its line is read (and one byte to see the file is the same);
    // participants.json, unchanged, is not read again.
    let line = message_line_json(3002, "all");
    append(&messages, &line);
    let before = disk.messages_file.bytes_read();
    let frame = disk.frame(&options);
    assert_eq!(
        disk.messages_file.bytes_read() - before,
        1 + line.len() as u64
    );
    assert_eq!(ids(&frame), [2999, 3000, 3002]);
    assert_eq!(frame.message_count, 3002);
    assert_eq!(
        frame.last_activity_ts.as_deref(),
        Some("2026-11-24T09:15:02Z")
    );
    assert_eq!(disk.participants_file.reads(), 1);

    // A last record lacking its newline is shown, and counted once.
    append(&messages, message_line_json(3003, "ana").trim_end());
    for _ in 0..2 {
        let frame = disk.frame(&options);
        assert_eq!(
            (ids(&frame), frame.message_count),
            (vec![3000, 3002, 3003], 3003)
        );
    }
    append(&messages, "\n");
    let frame = disk.frame(&options);
    assert_eq!(
        (ids(&frame), frame.message_count),
        (vec![3000, 3002, 3003], 3003)
    );

    // The file replaced by a shorter one: counted again from its start.
    std::fs::write(&messages, message_line_json(1, "all")).unwrap();
    let frame = disk.frame(&options);
    assert_eq!((ids(&frame), frame.message_count), (vec![1], 1));

    // A corrupt line is named; what was shown stays.
    append(&messages, "not json\n");
    let frame = disk.frame(&options);
    assert_eq!(ids(&frame), [1]);
    let notice = frame.notice.unwrap();
    assert!(notice.contains("messages.jsonl:2: "), "{notice}");
}

fn options(participant: Option<&str>, topic: Option<&str>) -> Options {
    Options {
        limit: 3,
        participant: participant.map(str::to_owned),
        interval: Duration::from_secs(2),
        once: false,
        topic: topic.map(str::to_owned),
    }
}

fn topic_json(id: &str, status: &str, last_activity: &str) -> String {
    let closed_at = if status == "closed" {
        format!("\"{last_activity}\"")
    } else {
        "null".to_owned()
    };
    format!(
        "\"{id}\":{{\"id\":\"{id}\",\"title\":\"about {id}\",\"status\":\"{status}\",\"created_by\":\"ana\",\"created_at\":\"2026-11-24T09:00:00Z\",\"closed_at\":{closed_at},\"last_activity_ts\":\"{last_activity}\"}}"
    )
}

fn in_topic(id: u64, topic: &str, to: &str) -> String {
    format!(
        "{{\"id\":{id},\"ts\":\"2026-11-24T09:15:{:02}Z\",\"topic_id\":\"{topic}\",\"from\":\"bo\",\"to\":\"{to}\",\"content\":\"m{id}\"}}\n",
        id % 60
    )
}

#[test]
fn with_no_daemon_the_topics_come_from_their_files_beside_the_main_room() {
    let dir = tempfile::tempdir().unwrap();
    let messages = dir.path().join(store::MESSAGES_FILE);
    append(&messages, &message_line_json(1, "all"));
    append(&messages, &in_topic(2, "auth", "all"));
    append(&messages, &in_topic(3, "auth", "cy"));
    append(&messages, &in_topic(4, "auth", "ana"));
    append(&messages, &message_line_json(5, "all"));
    append(&messages, &in_topic(6, "db", "all"));
    append(
        &dir.path().join(store::SUMMARIES_FILE),
        "{\"id\":1,\"ts\":\"2026-11-24T09:15:08Z\",\"topic_id\":\"auth\",\"from\":\"bo\",\"scope\":\"all\",\"content\":\"auth: half done\\nmore\"}\n\
         {\"id\":2,\"ts\":\"2026-11-24T09:15:07Z\",\"from\":\"bo\",\"scope\":\"all\",\"content\":\"main summary\"}\n\
         {\"id\":3,\"ts\":\"2026-11-24T09:15:08Z\",\"topic_id\":\"auth\",\"from\":\"bo\",\"scope\":\"cy\",\"content\":\"for cy\"}\n",
    );
    // The daemon writes a topic's activity lazily: the files' records say more.
    let topics = format!(
        "{{{},{},{}}}",
        topic_json("auth", "open", "2026-11-24T09:00:00Z"),
        topic_json("db", "open", "2026-11-24T09:00:00Z"),
        topic_json("old", "closed", "2026-11-24T09:15:00Z")
    );
    std::fs::write(dir.path().join(source::TOPICS_FILE), topics).unwrap();
    std::fs::write(
        dir.path().join(source::TOPIC_CURSORS_FILE),
        r#"{"ana":{"auth":2}}"#,
    )
    .unwrap();

    // The main room, what ana sees: main messages only; the overview in list_topics' order
    // with her unread counts (auth: 4 is unread, 3 is not hers; db: 6) and the summaries
    // she reads.
    let ana = options(Some("ana"), None);
    let mut disk = DiskRoom::new("/repo".into(), dir.path());
    let frame = disk.frame(&ana);
    let ids = |frame: &Frame| frame.messages.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(&frame), [1, 5]);
    assert_eq!(frame.message_count, 6, "the whole room's count");
    assert_eq!(
        frame.latest_summary.as_ref().unwrap().content,
        "main summary"
    );
    assert_eq!(frame.topic_counts, Some((3, 2)));
    let rows = frame.topics.clone().unwrap();
    let overview: Vec<(&str, Option<u64>, Option<&str>)> = rows
        .iter()
        .map(|row| {
            (
                row.topic.id.as_str(),
                row.unread,
                row.latest_summary.as_ref().map(|s| s.content.as_str()),
            )
        })
        .collect();
    assert_eq!(
        overview,
        [
            ("auth", Some(1), Some("auth: half done\nmore")),
            ("db", Some(1), None),
        ]
    );
    let text = render(
        &frame,
        &ana,
        parse_ts("2026-11-24T09:15:10Z").unwrap(),
        false,
    );
    for expected in [
        "messages: 6  summaries: 3  sessions: 0  last activity: 4s ago  topics: 2 open of 3",
        "open topics (2)\n  ID    LAST ACTIVITY  UNREAD  TITLE       LATEST SUMMARY\n  auth  2s ago         1       about auth  bo: auth: half done…\n  db    4s ago         1       about db    -\n",
        "latest messages in the main room (2 shown)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }

    // Her cursor moves: the count follows, reading only the cursors file again.
    std::fs::write(
        dir.path().join(source::TOPIC_CURSORS_FILE),
        r#"{"ana":{"auth":4,"db":6}}"#,
    )
    .unwrap();
    let frame = disk.frame(&ana);
    let unread: Vec<_> = frame.topics.unwrap().iter().map(|row| row.unread).collect();
    assert_eq!(unread, [Some(0), Some(0)]);

    // Without a participant: no unread counts, every message of the scope.
    let everyone = options(None, None);
    let frame = DiskRoom::new("/repo".into(), dir.path()).frame(&everyone);
    assert!(frame.topics.unwrap().iter().all(|row| row.unread.is_none()));

    // One topic: its record, its messages, its latest summary for cy, cy's unread count.
    let cy = options(Some("cy"), Some("auth"));
    let frame = DiskRoom::new("/repo".into(), dir.path()).frame(&cy);
    assert_eq!(ids(&frame), [2, 3]);
    assert_eq!(frame.topic.as_ref().unwrap().title, "about auth");
    assert_eq!(frame.latest_summary.as_ref().unwrap().content, "for cy");
    assert_eq!(frame.unread, Some(2));
    assert!(frame.topics.is_none());
    let text = render(
        &frame,
        &cy,
        parse_ts("2026-11-24T09:15:10Z").unwrap(),
        false,
    );
    for expected in [
        "topic: auth — about auth (open, opened by ana at 2026-11-24T09:00:00Z), last activity 2s ago",
        "view: what cy sees (2 unread here)",
        "latest messages in topic auth (2 shown)",
        "  #3 [auth] 2026-11-24T09:15:03Z bo → cy [direct]: m3",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let unknown = DiskRoom::new("/repo".into(), dir.path()).frame(&options(None, Some("x")));
    assert!(unknown.topic.is_none());
}

#[test]
fn a_room_without_topics_shows_no_trace_of_them() {
    let dir = tempfile::tempdir().unwrap();
    append(
        &dir.path().join(store::MESSAGES_FILE),
        &message_line_json(1, "all"),
    );
    let everyone = options(None, None);
    let frame = DiskRoom::new("/repo".into(), dir.path()).frame(&everyone);
    assert_eq!((frame.topic_counts, frame.topics.is_none()), (None, true));
    let text = render(&frame, &everyone, 0, false);
    assert!(!text.contains("topic"), "{text}");
    assert!(text.contains("\nlatest messages (1 shown)\n"), "{text}");
}

fn event_message(id: u64, topic: Option<&str>) -> Event {
    Event::Message(Message {
        topic_id: topic.map(str::to_owned),
        id,
        ts: "2026-11-24T09:15:00Z".into(),
        from: "bo".into(),
        to: "all".into(),
        content: format!("m{id}"),
        human: false,
    })
}

fn event_summary(id: u64, topic: Option<&str>, scope: &str) -> Event {
    Event::Summary(Summary {
        topic_id: topic.map(str::to_owned),
        id,
        ts: "2026-11-24T09:15:00Z".into(),
        from: "bo".into(),
        scope: scope.into(),
        content: format!("s{id}"),
    })
}

fn topic_record(id: &str, status: TopicStatus) -> Topic {
    Topic {
        id: id.into(),
        title: "t".into(),
        status,
        created_by: "system".into(),
        created_at: "2026-11-24T09:00:00Z".into(),
        closed_at: None,
        last_activity_ts: "2026-11-24T09:00:00Z".into(),
    }
}

#[test]
fn live_events_keep_the_main_room_apart_from_the_topics_beside_it() {
    let ana = options(Some("ana"), None);
    let mut followed = Followed::default();
    followed.apply(event_message(1, None), &ana);
    followed.apply(event_message(2, Some("auth")), &ana);
    let ids: Vec<u64> = followed.frame.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [1], "a topic's message is not the main room's");
    assert_eq!(followed.frame.message_count, 2);
    assert!(followed.topics_stale, "the overview asks again");

    followed.topics_stale = false;
    followed.apply(event_summary(1, Some("auth"), "all"), &ana);
    followed.apply(event_summary(2, Some("auth"), "cy"), &ana);
    followed.apply(event_summary(3, None, "ana"), &ana);
    assert_eq!(followed.topic_summaries["auth"].id, 1, "not cy's summary");
    assert_eq!(followed.frame.latest_summary.as_ref().unwrap().id, 3);
    assert!(followed.topics_stale);

    followed.apply(Event::Topic(topic_record("db", TopicStatus::Open)), &ana);
    assert_eq!(followed.frame.topic_counts, Some((1, 1)));

    // One topic's view: only its records, and its record as events bring it.
    let auth = options(None, Some("auth"));
    let mut followed = Followed::default();
    followed.apply(event_message(4, Some("auth")), &auth);
    followed.apply(event_message(5, None), &auth);
    followed.apply(event_summary(4, Some("auth"), "all"), &auth);
    followed.apply(event_summary(5, Some("db"), "all"), &auth);
    let ids: Vec<u64> = followed.frame.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [4]);
    assert_eq!(followed.frame.latest_summary.as_ref().unwrap().id, 4);
    followed.apply(Event::Topic(topic_record("db", TopicStatus::Closed)), &auth);
    assert_eq!(followed.frame.topic, None, "another topic's record");
    followed.apply(
        Event::Topic(topic_record("auth", TopicStatus::Closed)),
        &auth,
    );
    assert_eq!(
        followed.frame.topic.as_ref().map(|topic| topic.status),
        Some(TopicStatus::Closed)
    );
    assert!(!followed.topics_stale, "no overview in a topic's view");
}

#[test]
fn the_interval_is_a_bounded_number_of_seconds() {
    assert_eq!(interval(0.1).unwrap(), Duration::from_millis(100));
    assert_eq!(interval(3600.0).unwrap(), Duration::from_secs(3600));
    for secs in [1e20, f64::INFINITY, f64::NAN, 0.0, -1.0, 0.09, 3600.5] {
        let err = interval(secs).unwrap_err().to_string();
        assert!(
            err.starts_with("--interval must be between 0.1 and 3600 seconds, not "),
            "{err}"
        );
    }
}

#[test]
fn a_plain_frame_has_every_section_and_no_control_codes() {
    let now = parse_ts("2026-11-24T09:15:10Z").unwrap();
    let frame = Frame {
        root: "/repo".into(),
        participants: vec![Participant {
            name: "ana".into(),
            role: "reviewer".into(),
            joined_at: "2026-11-24T09:00:00Z".into(),
            last_seen: "2026-11-24T09:15:00Z".into(),
        }],
        messages: vec![Message {
            topic_id: None,
            id: 1,
            ts: "2026-11-24T09:15:00Z".into(),
            from: "bo".into(),
            to: "ana".into(),
            content: "look".into(),
            human: true,
        }]
        .into(),
        message_count: 1,
        last_activity_ts: Some("2026-11-24T09:15:00Z".into()),
        ..Frame::default()
    };
    let options = Options {
        limit: 20,
        participant: Some("ana".into()),
        interval: Duration::from_secs(2),
        once: true,
        topic: None,
    };
    let text = render(&frame, &options, now, false);
    assert!(!text.contains('\x1b'));
    for expected in [
        "chatroom · /repo",
        "daemon: down",
        "view: what ana sees",
        "messages: 1  summaries: 0  sessions: 0  last activity: 10s ago",
        "participants recorded on disk (1)",
        "  ana   reviewer  -        10s ago",
        "latest summary\n  none yet",
        "  #1 2026-11-24T09:15:00Z bo (person) → ana [direct]: look",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(render(&frame, &options, now, true).contains("\x1b[1m"));
}

#[test]
fn a_frame_shows_what_agents_wrote_without_letting_it_act() {
    let hostile = "\x1b]52;c;aGk=\x07\u{9b}2J\u{202e}";
    let frame = Frame {
        root: "/re\rpo".into(),
        participants: vec![Participant {
            name: format!("ana{hostile}"),
            role: hostile.into(),
            joined_at: hostile.into(),
            last_seen: hostile.into(),
        }],
        messages: vec![Message {
            topic_id: None,
            id: 1,
            ts: hostile.into(),
            from: hostile.into(),
            to: hostile.into(),
            content: format!("{hostile}\n{hostile}"),
            human: false,
        }]
        .into(),
        latest_summary: Some(Summary {
            topic_id: None,
            id: 1,
            ts: hostile.into(),
            from: hostile.into(),
            scope: hostile.into(),
            content: hostile.into(),
        }),
        last_activity_ts: Some(hostile.into()),
        notice: Some(format!("cannot read the room: {hostile}")),
        ..Frame::default()
    };
    let options = Options {
        limit: 20,
        participant: Some(hostile.into()),
        interval: Duration::from_secs(2),
        once: true,
        topic: None,
    };
    for styled in [false, true] {
        let text = render(&frame, &options, 0, styled);
        // Only our own bold headings may use ESC.
        let unstyled = text.replace("\x1b[1m", "").replace("\x1b[0m", "");
        assert!(
            !unstyled
                .chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
            "{text}"
        );
        assert!(
            text.contains("\\u{1b}]52;c;aGk=\\u{7}\\u{9b}2J\\u{202e}"),
            "{text}"
        );
        assert!(text.contains("chatroom · /re\\u{d}po"), "{text}");
    }

    // The topics a file or an agent named: the overview, and one topic's view.
    let topic = Topic {
        id: format!("t{hostile}"),
        title: format!("{hostile}\n{hostile}"),
        status: TopicStatus::Open,
        created_by: hostile.into(),
        created_at: hostile.into(),
        closed_at: Some(hostile.into()),
        last_activity_ts: hostile.into(),
    };
    let mut in_topic = frame.clone();
    in_topic.topics = Some(vec![TopicRow {
        topic: topic.clone(),
        unread: Some(1),
        latest_summary: frame.latest_summary.clone(),
    }]);
    let mut one_topic = frame.clone();
    one_topic.topic = Some(topic);
    for (frame, topic) in [(in_topic, None), (one_topic, Some(format!("t{hostile}")))] {
        let options = Options {
            topic,
            ..options.clone()
        };
        let text = render(&frame, &options, 0, false);
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
            "{text}"
        );
        assert!(text.contains("t\\u{1b}]52;c;aGk="), "{text}");
    }
}

#[test]
fn claims_show_in_their_own_section_and_follow_their_events() {
    use protocol::{Claim, ClaimChange, ClaimEvent};
    let claim = |path: &str, reason: &str| Claim {
        path: path.into(),
        name: "codex".into(),
        exclusive: true,
        reason: reason.into(),
        since: "2026-11-24T09:00:00Z".into(),
        expires_at: None,
        held_s: 300,
    };
    let mut claims = Vec::new();
    let event = |change, claim| ClaimEvent { change, claim };
    super::live::apply_claim(
        &mut claims,
        event(ClaimChange::Granted, claim("src/b.rs", "one")),
    );
    super::live::apply_claim(
        &mut claims,
        event(ClaimChange::Granted, claim("src/a.rs", "")),
    );
    super::live::apply_claim(
        &mut claims,
        event(ClaimChange::Granted, claim("src/b.rs", "two")),
    );
    assert_eq!(claims.len(), 2);
    assert_eq!(
        (claims[0].path.as_str(), claims[1].reason.as_str()),
        ("src/a.rs", "two")
    );
    let frame = Frame {
        root: "/repo".into(),
        claims: claims.clone(),
        ..Frame::default()
    };
    let options = Options {
        limit: 20,
        participant: None,
        interval: Duration::from_secs(2),
        once: true,
        topic: None,
    };
    let text = render(&frame, &options, 0, false);
    assert!(text.contains("\nclaims (2)\n  PATH"), "{text}");
    assert!(
        text.contains("src/b.rs") && text.contains("5 min") && text.contains("two"),
        "{text}"
    );
    for change in [
        ClaimChange::Released,
        ClaimChange::Expired,
        ClaimChange::Departed,
    ] {
        let mut left = claims.clone();
        super::live::apply_claim(&mut left, event(change, claim("src/a.rs", "")));
        assert_eq!(left.len(), 1);
    }
    let empty = Frame {
        root: "/repo".into(),
        ..Frame::default()
    };
    assert!(!render(&empty, &options, 0, false).contains("claims ("));
}
