//! The store's load, repair, persist, roll back and checkpoint rules, on real temp dirs.

use std::path::{Path, PathBuf};

use super::*;
use crate::daemon::dedupe::KeyRecord;
use crate::daemon::journal::JOURNAL_FILE;
use crate::daemon::room::{Changes, Room};

const PY_MESSAGES: &str = concat!(
    "{\"id\": 1, \"ts\": \"2026-01-02T03:04:05Z\", \"from\": \"alice\", \"to\": \"all\", \"content\": \"hi\"}\n",
    "{\"id\": 2, \"ts\": \"2026-01-02T03:04:06Z\", \"from\": \"bob\", \"to\": \"alice\", \"content\": \"caf\\u00e9\"}\n",
);

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn missing_files_are_an_empty_room() {
    let dir = dir_with(&[]);
    let loaded = load(dir.path(), Mode::Repair).unwrap();
    assert!(loaded.messages.is_empty() && loaded.summaries.is_empty());
    assert!(
        loaded.participants.is_empty() && loaded.cursors.is_empty() && loaded.warnings.is_empty()
    );
}

#[test]
fn python_formatted_files_load() {
    let dir = dir_with(&[
        (MESSAGES_FILE, PY_MESSAGES),
        (
            SUMMARIES_FILE,
            "{\"id\": 1, \"ts\": \"2026-01-02T03:04:07Z\", \"from\": \"alice\", \"scope\": \"all\", \"content\": \"done\"}\n",
        ),
        (
            PARTICIPANTS_FILE,
            "{\n  \"alice\": {\n    \"name\": \"alice\",\n    \"role\": \"general\",\n    \"joined_at\": \"2026-01-02T03:04:00Z\",\n    \"last_seen\": \"2026-01-02T03:04:05Z\"\n  }\n}",
        ),
        (CURSORS_FILE, "{\"alice\": 2, \"bob\": 1}"),
    ]);
    let loaded = load(dir.path(), Mode::Repair).unwrap();
    assert_eq!(loaded.messages.len(), 2);
    assert_eq!(loaded.messages[1].content, "café");
    assert_eq!(loaded.summaries[0].content, "done");
    assert_eq!(loaded.participants[0].joined_at, "2026-01-02T03:04:00Z");
    assert_eq!(
        loaded.cursors,
        vec![("alice".to_owned(), 2), ("bob".to_owned(), 1)]
    );
}

#[test]
fn torn_last_line_is_dropped_and_cut_only_in_repair_mode() {
    let torn = format!("{PY_MESSAGES}{{\"id\": 3, \"ts\": \"2026-01");
    let dir = dir_with(&[(MESSAGES_FILE, &torn)]);
    let path = dir.path().join(MESSAGES_FILE);

    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    assert_eq!(loaded.messages.len(), 2);
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].contains("messages.jsonl:3"),
        "{}",
        loaded.warnings[0]
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        torn,
        "read-only mode must not touch the file"
    );

    let loaded = load(dir.path(), Mode::Repair).unwrap();
    assert_eq!(loaded.messages.len(), 2);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), PY_MESSAGES);
}

#[test]
fn complete_unterminated_last_line_is_kept_and_terminated() {
    let text = PY_MESSAGES.trim_end();
    let dir = dir_with(&[(MESSAGES_FILE, text)]);
    let loaded = load(dir.path(), Mode::Repair).unwrap();
    assert_eq!(loaded.messages.len(), 2);
    assert!(loaded.warnings.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap(),
        PY_MESSAGES
    );
}

#[test]
fn corruption_before_the_end_names_file_and_line() {
    let text = format!("{{\"id\": 1, broken\n{PY_MESSAGES}");
    let dir = dir_with(&[(MESSAGES_FILE, &text)]);
    let err = load(dir.path(), Mode::Repair).unwrap_err().to_string();
    assert!(err.contains("messages.jsonl:1:"), "{err}");
}

#[test]
fn a_corrupt_object_is_reported_set_aside_and_read_as_empty() {
    let participants = "{\n  \"alice\": {\"name\": \"alice\",";
    let cursors = "{\n \"alice\": \"x\"\n}";
    let dir = dir_with(&[
        (MESSAGES_FILE, PY_MESSAGES),
        (PARTICIPANTS_FILE, participants),
        (CURSORS_FILE, cursors),
    ]);

    // Looking changes nothing.
    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    assert!(loaded.participants.is_empty() && loaded.cursors.is_empty());
    assert_eq!(loaded.messages.len(), 2);
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(CURSORS_FILE)).unwrap(),
        cursors
    );

    let loaded = load(dir.path(), Mode::Repair).unwrap();
    assert!(loaded.participants.is_empty() && loaded.cursors.is_empty());
    assert_eq!(loaded.messages.len(), 2, "the history is untouched");
    let [participants_warning, cursors_warning] = &loaded.warnings[..] else {
        panic!("two warnings: {:?}", loaded.warnings);
    };
    assert!(
        participants_warning.contains("participants.json:2:")
            && participants_warning.contains("no participants"),
        "{participants_warning}"
    );
    assert!(
        cursors_warning.contains(
            "cursors.json:2:13: not a valid JSON object (invalid type: string \"x\", expected u64);"
        ) && cursors_warning.contains("reset"),
        "{cursors_warning}"
    );
    // Each is kept aside, byte for byte, under a name the warning gives.
    for (name, text, warning) in [
        (PARTICIPANTS_FILE, participants, participants_warning),
        (CURSORS_FILE, cursors, cursors_warning),
    ] {
        assert!(!dir.path().join(name).exists(), "{name} was set aside");
        let aside: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{name}.corrupt-"))
            })
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), text);
        assert!(
            warning.contains(&aside[0].display().to_string()),
            "{warning}"
        );
    }
    // Loading again finds nothing wrong.
    let loaded = load(dir.path(), Mode::Repair).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// A room with one message appended to it, and the changes to persist.
/// A store opened on `dir` and a room where alice has joined, her join stored.
fn store_with_alice(dir: &Path) -> (Store, Room) {
    let mut store = Store::open(dir).unwrap();
    let mut room = Room::new();
    let join = protocol::Request::Join {
        name: "alice".into(),
        role: "general".into(),
    };
    let changes = one_change(&mut room, join);
    store.persist(&[], &changes, &room).unwrap();
    (store, room)
}

fn one_change(room: &mut Room, request: protocol::Request) -> Changes {
    let outcome = room.handle(1, request, 1_700_000_000);
    assert!(outcome.reply.is_ok(), "{:?}", outcome.reply);
    outcome.changes
}

fn send(content: &str) -> protocol::Request {
    protocol::Request::SendMessage {
        topic_id: String::new(),
        name: "alice".into(),
        content: content.into(),
        to: "all".into(),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_v1_room_keeps_the_v1_files_and_a_topic_adds_the_v2_objects() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let mut room = Room::new();
    let changes = one_change(&mut room, send("one"));
    store.persist(&[], &changes, &room).unwrap();
    store.checkpoint().unwrap();
    let v1 = [
        "cursors.json",
        "idempotency.jsonl",
        "journal",
        "messages.jsonl",
        "participants.json",
        "summaries.jsonl",
    ];
    assert_eq!(files_in(dir.path()), v1);

    let open = protocol::Request::OpenTopic {
        topic_id: "auth".into(),
        title: "Auth".into(),
        name: String::new(),
    };
    let changes = one_change(&mut room, open);
    store.persist(&[], &changes, &room).unwrap();
    let mut changes = one_change(
        &mut room,
        protocol::Request::SendMessage {
            topic_id: "auth".into(),
            name: "alice".into(),
            content: "in auth".into(),
            to: "all".into(),
        },
    );
    changes.merge(one_change(
        &mut room,
        protocol::Request::ReadUnread {
            topic_id: "auth".into(),
            name: "bob".into(),
            limit: 10,
            mark_read: true,
        },
    ));
    store.persist(&[], &changes, &room).unwrap();
    let topics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(TOPICS_FILE)).unwrap())
            .unwrap();
    assert_eq!(topics["auth"]["title"], "Auth");
    assert_eq!(topics["auth"]["status"], "open");
    assert_eq!(topics["auth"]["closed_at"], serde_json::Value::Null);
    let cursors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(TOPIC_CURSORS_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(cursors, serde_json::json!({"bob": {"auth": 2}}));
    let lines = std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert!(lines[0].starts_with(r#"{"id":1,"ts":"#) && !lines[0].contains("topic_id"));
    assert!(
        lines[1].contains(r#","topic_id":"auth","from":"alice""#),
        "{}",
        lines[1]
    );
    assert!(!dir.path().join(IMPORTS_FILE).exists());
    // And it all loads back.
    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    assert_eq!(loaded.topics, room.topics());
    assert_eq!(loaded.topic_cursors, room.topic_cursors());
    assert_eq!(loaded.messages[1].topic_id.as_deref(), Some("auth"));
}

#[test]
fn a_corrupt_topic_object_is_set_aside_and_read_as_empty() {
    let dir = dir_with(&[(TOPICS_FILE, "{not json"), (TOPIC_CURSORS_FILE, "[1]")]);
    let loaded = load(dir.path(), Mode::Repair).unwrap();
    assert!(loaded.topics.is_empty() && loaded.topic_cursors.is_empty());
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("topics.json:1:2"),
        "{:?}",
        loaded.warnings
    );
    assert!(!dir.path().join(TOPICS_FILE).exists(), "set aside");
}

#[test]
fn a_failed_persist_leaves_every_file_as_it_was() {
    let dir = dir_with(&[]);
    let (mut store, mut room) = store_with_alice(dir.path());
    let changes = one_change(&mut room, send("kept"));
    store.persist(&[], &changes, &room).unwrap();
    let messages = std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap();
    let participants = std::fs::read_to_string(dir.path().join(PARTICIPANTS_FILE)).unwrap();

    // The temp file cannot be created: nothing is written at all.
    let temp = dir.path().join(temp_name(PARTICIPANTS_FILE));
    std::fs::create_dir(&temp).unwrap();
    room.begin();
    let mut changes = one_change(&mut room, send("refused"));
    changes.membership = true;
    let err = store.persist(&[], &changes, &room).unwrap_err();
    assert_eq!(err.file, ".participants.json.tmp", "{err}");
    assert!(err.condition().starts_with("is a directory"), "{err}");
    room.roll_back();
    std::fs::remove_dir(&temp).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap(),
        messages
    );

    // The rename fails after the message was appended and synced: the append is cut off.
    std::fs::remove_file(dir.path().join(PARTICIPANTS_FILE)).unwrap();
    std::fs::create_dir_all(dir.path().join(PARTICIPANTS_FILE).join("blocker")).unwrap();
    room.begin();
    let mut changes = one_change(&mut room, send("refused again"));
    changes.membership = true;
    let err = store.persist(&[], &changes, &room).unwrap_err();
    assert_eq!(err.file, PARTICIPANTS_FILE, "{err}");
    room.roll_back();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(MESSAGES_FILE)).unwrap(),
        messages
    );
    assert!(!temp.exists(), "no temp file is left behind");
    std::fs::remove_dir_all(dir.path().join(PARTICIPANTS_FILE)).unwrap();

    // The next batch writes clean lines after the kept ones and, since the objects may be
    // out of step, rewrites them too.
    let changes = one_change(&mut room, send("after"));
    store.persist(&[], &changes, &room).unwrap();
    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let contents: Vec<&str> = loaded
        .messages
        .iter()
        .map(|message| message.content.as_str())
        .collect();
    assert_eq!(contents, ["kept", "after"]);
    assert_eq!(
        loaded.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(PARTICIPANTS_FILE)).unwrap(),
        participants
    );
}

#[test]
fn a_batch_is_one_journal_record_until_a_checkpoint_and_a_refused_one_leaves_none() {
    let dir = dir_with(&[]);
    let journal_bytes = || std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let (mut store, mut room) = store_with_alice(dir.path());
    let changes = one_change(&mut room, send("journalled"));
    store.persist(&[], &changes, &room).unwrap();
    let (records, whole) = crate::daemon::journal::decode(&journal_bytes());
    assert_eq!(records.len(), 2);
    assert_eq!(journal_bytes().len() as u64, JOURNAL_PREALLOC);
    assert_eq!(
        crate::daemon::journal::torn_bytes(&journal_bytes(), whole),
        0,
        "zero padding after the records"
    );
    assert!(records[0].participants.is_some() && records[1].participants.is_none());
    assert_eq!(
        records[1].messages,
        std::fs::read(dir.path().join(MESSAGES_FILE)).unwrap()[records[0].messages.len()..],
        "the file gets the journal's very bytes"
    );

    // A batch the files refuse is cut off the journal too.
    let before = journal_bytes();
    std::fs::create_dir(dir.path().join(temp_name(CURSORS_FILE))).unwrap();
    room.begin();
    let mut changes = one_change(&mut room, send("refused"));
    changes.cursors = true;
    assert!(store.persist(&[], &changes, &room).is_err());
    room.roll_back();
    std::fs::remove_dir(dir.path().join(temp_name(CURSORS_FILE))).unwrap();
    // Cut back to the kept records (the next record pads the file again).
    let after = journal_bytes();
    assert_eq!(after[..], before[..after.len()]);
    assert_eq!(after.len(), whole);

    let stored = std::time::Instant::now();
    assert_eq!(
        store.checkpoint_due_at(stored),
        Some(stored + CHECKPOINT_QUIET),
        "two records wait for a quiet room"
    );
    store.checkpoint().unwrap();
    assert_eq!(
        store.checkpoint_due_at(stored),
        None,
        "nothing left to sync"
    );
    assert!(
        journal_bytes().iter().all(|byte| *byte == 0),
        "a checkpoint empties the journal: zeros"
    );
    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    assert_eq!(loaded.messages.len(), 1);
    assert_eq!(loaded.participants.len(), 1);
    // A store does not open over a journal nobody replayed.
    std::fs::write(dir.path().join(JOURNAL_FILE), before).unwrap();
    assert!(Store::open(dir.path()).is_err());
}

#[test]
fn compacting_the_keys_keeps_the_live_ones_and_later_appends_land_in_the_new_file() {
    use crate::daemon::dedupe::Recorded;
    let key = |key: u128| KeyRecord {
        key,
        at: 1,
        recorded: Recorded::Left,
    };
    let dir = dir_with(&[]);
    let mut store = Store::open(dir.path()).unwrap();
    let room = Room::new();
    store
        .persist(&[key(1), key(2), key(3)], &Changes::default(), &room)
        .unwrap();
    assert_eq!(store.key_lines(), 3);
    store.rewrite_keys(&[key(3)]).unwrap();
    assert_eq!(store.key_lines(), 1);
    store
        .persist(&[key(4)], &Changes::default(), &room)
        .unwrap();
    assert_eq!(store.key_lines(), 2);
    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    let keys: Vec<u128> = loaded.keys.iter().map(|record| record.key).collect();
    assert_eq!(keys, [3, 4]);
    assert!(!dir.path().join(temp_name(KEYS_FILE)).exists());
}

#[test]
fn leftover_temp_files_are_removed_at_open() {
    let dir = dir_with(&[
        (".cursors.json.tmp", "{\"half\": "),
        (".idempotency.jsonl.tmp", "{\"key\":"),
    ]);
    Store::open(dir.path()).unwrap();
    assert!(!dir.path().join(".cursors.json.tmp").exists());
    assert!(!dir.path().join(".idempotency.jsonl.tmp").exists());
}

#[test]
fn gitignore_gets_one_line_once() {
    let dir = dir_with(&[(".gitignore", "target")]);
    ensure_gitignored(dir.path()).unwrap();
    ensure_gitignored(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
        "target\n.chatroom/\n"
    );
    let fresh = dir_with(&[]);
    ensure_gitignored(fresh.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(fresh.path().join(".gitignore")).unwrap(),
        ".chatroom/\n"
    );
}

#[test]
fn a_checkpoint_waits_for_quiet_unless_the_journal_grows_large() {
    let dir = dir_with(&[]);
    let (mut store, mut room) = store_with_alice(dir.path());
    let stored = std::time::Instant::now();
    let mut records = 1;
    let mut send_until = |store: &mut Store, count: usize| {
        while records < count {
            let changes = one_change(&mut room, send("x"));
            store.persist(&[], &changes, &room).unwrap();
            records += 1;
        }
    };
    assert_eq!(
        store.checkpoint_due_at(stored),
        Some(stored + CHECKPOINT_QUIET)
    );
    send_until(&mut store, IDLE_CHECKPOINT_RECORDS - 1);
    assert_eq!(
        store.checkpoint_due_at(stored),
        Some(stored + CHECKPOINT_QUIET)
    );
    send_until(&mut store, IDLE_CHECKPOINT_RECORDS);
    assert_eq!(
        store.checkpoint_due_at(stored),
        Some(stored + CHECKPOINT_IDLE),
        "enough records to share its syncs: a second of quiet"
    );
    send_until(&mut store, CHECKPOINT_RECORDS - 1);
    assert_eq!(
        store.checkpoint_due_at(stored),
        Some(stored + CHECKPOINT_IDLE)
    );
    send_until(&mut store, CHECKPOINT_RECORDS);
    assert_eq!(
        store.checkpoint_due_at(stored),
        Some(stored),
        "a journal this long is checkpointed however busy the room"
    );
    store.checkpoint().unwrap();
    assert_eq!(store.checkpoint_due_at(stored), None);
    assert!(
        std::fs::read(dir.path().join(JOURNAL_FILE))
            .unwrap()
            .iter()
            .all(|byte| *byte == 0)
    );
    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    // Every record but the join's holds one message.
    assert_eq!(loaded.messages.len(), CHECKPOINT_RECORDS - 1);
}

fn journal_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len()
}

fn journal_records(dir: &Path) -> Vec<crate::daemon::journal::Record> {
    crate::daemon::journal::decode(&std::fs::read(dir.join(JOURNAL_FILE)).unwrap()).0
}

/// A record of `len` framed bytes (header included), its messages section `fill`.
fn record_of_len(len: usize, fill: u8) -> crate::daemon::journal::Record {
    // Header 8, three sections' lengths 12, five absent objects 20.
    crate::daemon::journal::Record {
        messages: vec![fill; len - 40],
        ..Default::default()
    }
}

#[test]
fn the_preallocated_journal_keeps_its_size_over_many_small_batches() {
    let dir = dir_with(&[]);
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(journal_len(dir.path()), JOURNAL_PREALLOC, "padded at open");
    let mut room = Room::new();
    for at in 0..200 {
        let changes = one_change(&mut room, send(&format!("small {at}")));
        store.persist(&[], &changes, &room).unwrap();
        assert_eq!(journal_len(dir.path()), JOURNAL_PREALLOC, "batch {at}");
    }
    assert_eq!(journal_records(dir.path()).len(), 200);
    let loaded = load(dir.path(), Mode::ReadOnly).unwrap();
    assert_eq!(loaded.messages.len(), 200);
}

#[test]
fn records_past_the_padding_extend_it_and_decode_whole() {
    let dir = dir_with(&[]);
    let mut store = Store::open(dir.path()).unwrap();
    let records: Vec<_> = (0..30u8).map(|at| record_of_len(100_000, at)).collect();
    for record in &records {
        store.store(record, Durability::Now).unwrap();
    }
    let size = journal_len(dir.path());
    assert!(size > 3_000_000, "grown past the records: {size}");
    assert_eq!(size % JOURNAL_PREALLOC, 0, "{size}");
    assert_eq!(journal_records(dir.path()), records);
    let bytes = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    let (_, whole) = crate::daemon::journal::decode(&bytes);
    assert_eq!(whole, 3_000_000);
    assert_eq!(crate::daemon::journal::torn_bytes(&bytes, whole), 0);
}

#[test]
fn a_checkpoint_zeroes_the_journal_so_no_older_record_comes_back() {
    let dir = dir_with(&[]);
    let mut store = Store::open(dir.path()).unwrap();
    let (a, b, c) = (
        record_of_len(100, b'a'),
        record_of_len(100, b'b'),
        record_of_len(100, b'c'),
    );
    store.store(&a, Durability::Now).unwrap();
    store.store(&b, Durability::Now).unwrap();
    assert_eq!(journal_records(dir.path()), [a, b.clone()]);
    store.checkpoint().unwrap();
    assert!(journal_records(dir.path()).is_empty());
    store.store(&c, Durability::Now).unwrap();
    // C took A's place, of the same length: B after it must not be readable again.
    assert_eq!(journal_records(dir.path()), [c]);
    let bytes = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
    assert!(bytes[100..].iter().all(|byte| *byte == 0));
}

#[test]
fn open_accepts_zero_padding_and_refuses_a_journal_with_records() {
    let dir = dir_with(&[]);
    std::fs::write(dir.path().join(JOURNAL_FILE), vec![0; 3000]).unwrap();
    drop(Store::open(dir.path()).unwrap());
    let mut bytes = Vec::new();
    record_of_len(100, b'a').encode(&mut bytes);
    bytes.resize(5000, 0);
    std::fs::write(dir.path().join(JOURNAL_FILE), &bytes).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("not yet replayed"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap(),
        bytes,
        "a refused journal is left alone"
    );
}

#[test]
fn a_clean_close_or_drop_leaves_a_journal_of_0_bytes() {
    let dir = dir_with(&[]);
    let mut store = Store::open(dir.path()).unwrap();
    let mut room = Room::new();
    let changes = one_change(&mut room, send("kept"));
    store.persist(&[], &changes, &room).unwrap();
    store.close().unwrap();
    assert_eq!(journal_len(dir.path()), 0);
    drop(store);
    assert_eq!(journal_len(dir.path()), 0);
    assert_eq!(load(dir.path(), Mode::ReadOnly).unwrap().messages.len(), 1);

    // A store dropped after its checkpoint (the owner's clean stop) cuts the padding too.
    let mut store = Store::open(dir.path()).unwrap();
    let changes = one_change(&mut room, send("second"));
    store.persist(&[], &changes, &room).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    assert_eq!(journal_len(dir.path()), 0);

    // One dropped with records left keeps them for a start to replay.
    let mut store = Store::open(dir.path()).unwrap();
    let changes = one_change(&mut room, send("third"));
    store.persist(&[], &changes, &room).unwrap();
    drop(store);
    assert_eq!(journal_len(dir.path()), JOURNAL_PREALLOC);
    assert_eq!(journal_records(dir.path()).len(), 1);
}

#[test]
fn a_refused_record_is_cut_off_and_the_next_one_pads_the_file_again() {
    let dir = dir_with(&[]);
    let mut store = Store::open(dir.path()).unwrap();
    let mut room = Room::new();
    let changes = one_change(&mut room, send("kept"));
    store.persist(&[], &changes, &room).unwrap();
    let kept = journal_records(dir.path());
    std::fs::create_dir(dir.path().join(temp_name(CURSORS_FILE))).unwrap();
    room.begin();
    let mut changes = one_change(&mut room, send("refused"));
    changes.cursors = true;
    assert!(store.persist(&[], &changes, &room).is_err());
    room.roll_back();
    std::fs::remove_dir(dir.path().join(temp_name(CURSORS_FILE))).unwrap();
    assert_eq!(journal_records(dir.path()), kept);
    let changes = one_change(&mut room, send("after"));
    store.persist(&[], &changes, &room).unwrap();
    assert_eq!(journal_records(dir.path()).len(), 2);
    assert_eq!(journal_len(dir.path()) % JOURNAL_PREALLOC, 0);
}
