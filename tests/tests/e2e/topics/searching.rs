//! `search_messages`: every word (or a quoted phrase) as a whole word, newest first, within its
//! filters (one topic, every scope, visibility, sender, limit), closed topics included, and its
//! refusals.

use chatroom_tests::{TestRoom, ids};
use serde_json::{Value, json};

use super::{PATTERN, open, send, topical};

#[tokio::test]
async fn search_messages_matches_every_word_newest_first_within_its_filters() {
    let room = TestRoom::new();
    let agent = topical(&room).await;
    open(&agent, "perf", "performance", None).await;
    let path = send(
        &agent,
        "",
        "ann",
        "all",
        "Storage layer: the fsync path is in",
    )
    .await;
    let group = send(
        &agent,
        "",
        "bob",
        "all",
        "the group commit batches fsync calls",
    )
    .await;
    let direct = send(&agent, "", "ann", "carol", "FSYNC again, only for carol").await;
    let in_topic = send(&agent, "perf", "ann", "all", "fsync in the perf topic").await;
    let reversed = send(&agent, "", "bob", "all", "commit the group now").await;

    let search = async |args: Value| {
        let found = agent.ok("search_messages", args.clone()).await;
        (ids(&found), found)
    };
    // Every word, case-insensitive, newest first; the main room by default.
    assert_eq!(
        search(json!({"query": "fsync"})).await.0,
        [direct, group, path]
    );
    assert_eq!(search(json!({"query": "Fsync PATH"})).await.0, [path]);
    assert_eq!(
        search(json!({"query": "group commit"})).await.0,
        [reversed, group]
    );
    // A quoted phrase matches only as a phrase.
    assert_eq!(
        search(json!({"query": "\"group commit\""})).await.0,
        [group]
    );
    assert_eq!(
        search(json!({"query": "\"commit the group\" now"})).await.0,
        [reversed]
    );
    assert_eq!(
        search(json!({"query": "fsync elephant"})).await.0,
        Vec::<u64>::new()
    );
    // Whole words: "sync" is not in "fsync", nor "call" in "calls".
    assert_eq!(search(json!({"query": "sync"})).await.0, Vec::<u64>::new());
    assert_eq!(search(json!({"query": "call"})).await.0, Vec::<u64>::new());
    assert_eq!(search(json!({"query": "calls"})).await.0, [group]);
    // Scopes: one topic, or "*" for all of them and the main room.
    let (found, records) = search(json!({"query": "fsync", "topic_id": " perf "})).await;
    assert_eq!(found, [in_topic]);
    assert_eq!(records[0]["topic_id"], "perf");
    let (found, records) = search(json!({"query": "fsync", "topic_id": "*"})).await;
    assert_eq!(found, [in_topic, direct, group, path]);
    assert_eq!(records[0]["topic_id"], "perf");
    assert!(records[1].get("topic_id").is_none(), "{records}");
    // Visibility as read_messages, the sender, the limit.
    assert_eq!(
        search(json!({"query": "fsync", "participant": "bob"}))
            .await
            .0,
        [group, path]
    );
    assert_eq!(
        search(json!({"query": "fsync", "participant": "carol"}))
            .await
            .0,
        [direct, group, path]
    );
    assert_eq!(
        search(json!({"query": "fsync", "from": " bob "})).await.0,
        [group]
    );
    assert_eq!(
        search(json!({"query": "fsync", "from": "ann", "topic_id": "*"}))
            .await
            .0,
        [in_topic, direct, path]
    );
    assert_eq!(
        search(json!({"query": "fsync", "limit": 2})).await.0,
        [direct, group]
    );
    assert_eq!(
        search(json!({"query": "fsync", "limit": 100}))
            .await
            .0
            .len(),
        3
    );
    // A closed topic stays searchable.
    agent.ok("close_topic", json!({"topic_id": "perf"})).await;
    assert_eq!(
        search(json!({"query": "perf", "topic_id": "perf"})).await.0,
        [in_topic]
    );

    for (args, refusal) in [
        (json!({"query": "  "}), "query must not be blank"),
        (
            json!({"query": "fsync", "limit": 0}),
            "limit must be between 1 and 100",
        ),
        (
            json!({"query": "fsync", "limit": 101}),
            "limit must be between 1 and 100",
        ),
        (
            json!({"query": "fsync", "topic_id": "nope"}),
            "unknown topic_id: nope",
        ),
        (json!({"query": "fsync", "topic_id": "Perf"}), PATTERN),
        (json!({"query": "fsync", "topic_id": "_perf"}), PATTERN),
        (
            json!({"query": "fsync", "topic_id": "  nope\t"}),
            "unknown topic_id: nope",
        ),
    ] {
        assert_eq!(
            agent.err("search_messages", args.clone()).await,
            refusal,
            "{args}"
        );
    }
    room.finish();
}
