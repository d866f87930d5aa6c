//! Claims through the real shims: two agents claiming overlapping paths, the refusals, a claim
//! going with its holder's SIGKILLed shim within one second, a ttl running out, and a daemon
//! SIGKILLed under held claims, which the shim claims again with their age. The pre-tool hooks
//! and the people's commands are `claims_hooks.rs`' and `claims_cli.rs`'.

use std::time::{Duration, Instant};

use chatroom_tests::{Agent, TestRoom, eventually};
use serde_json::{Value, json};

/// The contract's bound: a claim is free as soon as its holder is gone.
const LIVENESS_DEADLINE: Duration = Duration::from_secs(1);

/// Two agents in one room: "codex" and "claude", each joined.
async fn two_agents(room: &TestRoom) -> (Agent, Agent) {
    let (codex, claude) = tokio::join!(room.agent(), room.agent());
    let (codex, claude) = (codex.with_claim_records(), claude.with_claim_records());
    codex
        .ok("join", json!({"name": "codex", "role": "store"}))
        .await;
    claude
        .ok("join", json!({"name": "claude", "role": "docs"}))
        .await;
    (codex, claude)
}

/// `(name, path)` of each claim in a list.
fn held(claims: &Value) -> Vec<(String, String)> {
    claims
        .as_array()
        .expect("a list of claims")
        .iter()
        .map(|claim| {
            (
                claim["name"].as_str().unwrap().to_owned(),
                claim["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, path: &str) -> (String, String) {
    (name.to_owned(), path.to_owned())
}

#[tokio::test]
async fn overlapping_claims_of_two_agents_conflict_and_name_the_holder() {
    let room = TestRoom::new();
    let (codex, claude) = two_agents(&room).await;
    let granted = codex
        .ok(
            "claim",
            json!({"name": "codex", "paths": ["src/store/**", "./Cargo.toml"], "reason": "refactoring the store"}),
        )
        .await;
    assert_eq!(granted["name"], "codex");
    assert_eq!(granted["conflicts"], json!([]));
    assert_eq!(
        held(&granted["granted"]),
        [pair("codex", "src/store/**"), pair("codex", "Cargo.toml")]
    );
    let claim = &granted["granted"][0];
    assert_eq!(claim["exclusive"], true);
    assert_eq!(claim["expires_at"], Value::Null);
    assert!(
        chatroom_tests::is_timestamp(claim["since"].as_str().unwrap()),
        "{claim}"
    );

    // A glob and a file under it overlap; a shared claim conflicts with an exclusive one.
    let refused = claude
        .ok(
            "claim",
            json!({"name": "claude", "paths": ["src/store/*.rs", "README.md"], "exclusive": false}),
        )
        .await;
    assert_eq!(held(&refused["granted"]), [pair("claude", "README.md")]);
    let conflicts = refused["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{refused}");
    assert_eq!(conflicts[0]["path"], "src/store/*.rs");
    assert_eq!(conflicts[0]["held_by"]["name"], "codex");
    assert_eq!(conflicts[0]["held_by"]["path"], "src/store/**");
    assert_eq!(conflicts[0]["held_by"]["reason"], "refactoring the store");

    // Everyone sees who holds what, filtered by overlap, and in the handoff.
    let all = claude.ok("list_claims", json!({})).await;
    assert_eq!(
        held(&all),
        [
            pair("codex", "Cargo.toml"),
            pair("claude", "README.md"),
            pair("codex", "src/store/**")
        ]
    );
    let store = claude
        .ok("list_claims", json!({"path": "src/store/db.rs"}))
        .await;
    assert_eq!(held(&store), [pair("codex", "src/store/**")]);
    let handoff = claude.ok("get_handoff", json!({"name": "claude"})).await;
    assert_eq!(held(&handoff["claims"]).len(), 3, "{handoff}");

    // Released: the other agent gets it.
    let released = codex
        .ok(
            "release",
            json!({"name": "codex", "paths": ["src/store/**"]}),
        )
        .await;
    assert_eq!(
        released,
        json!({"name": "codex", "released": ["src/store/**"]})
    );
    let now_granted = claude
        .ok(
            "claim",
            json!({"name": "claude", "paths": ["src/store/*.rs"]}),
        )
        .await;
    assert_eq!(now_granted["conflicts"], json!([]));
    codex.close().await;
    claude.close().await;
    room.finish();
}

#[tokio::test]
async fn a_room_without_claims_keeps_the_v1_handoff() {
    let room = TestRoom::new();
    // A plain agent admits v1's records only: no `claims` key may appear.
    let agent = room.agent().await;
    agent.ok("join", json!({"name": "ann"})).await;
    let handoff = agent.ok("get_handoff", json!({"name": "ann"})).await;
    assert!(handoff.get("claims").is_none(), "{handoff}");
    agent.close().await;
    room.finish();
}

#[tokio::test]
async fn bad_claims_are_refused_in_one_line_and_change_nothing() {
    let room = TestRoom::new();
    let (codex, claude) = two_agents(&room).await;
    let cases = [
        (
            json!({"name": "codex", "paths": ["/etc/passwd"]}),
            "absolute",
        ),
        (
            json!({"name": "codex", "paths": ["../elsewhere.rs"]}),
            "\"..\"",
        ),
        (
            json!({"name": "codex", "paths": []}),
            "paths must hold at least one",
        ),
        (json!({"name": "codex", "paths": ["src/[a"]}), "unclosed"),
        (
            json!({"name": "codex", "paths": ["a.rs"], "ttl_s": -5}),
            "ttl_s must be between",
        ),
        (
            json!({"name": "nobody", "paths": ["a.rs"]}),
            "has not joined from this session",
        ),
        // Acting under another agent's name.
        (
            json!({"name": "claude", "paths": ["a.rs"]}),
            "held by another session",
        ),
    ];
    for (args, expected) in cases {
        let refusal = codex.err("claim", args.clone()).await;
        assert!(refusal.contains(expected), "{args}: {refusal}");
    }
    let refusal = codex.err("release", json!({"name": "claude"})).await;
    assert!(refusal.contains("held by another session"), "{refusal}");
    assert_eq!(claude.ok("list_claims", json!({})).await, json!([]));
    codex.close().await;
    claude.close().await;
    room.finish();
}

#[tokio::test]
async fn a_sigkilled_holder_frees_its_claims_within_one_second() {
    let room = TestRoom::new();
    let (mut codex, claude) = two_agents(&room).await;
    codex
        .ok(
            "claim",
            json!({"name": "codex", "paths": ["src/store.rs"], "reason": "mine"}),
        )
        .await;
    assert_eq!(held(&claude.ok("list_claims", json!({})).await).len(), 1);
    let killed_at = Instant::now();
    codex.kill();
    let (_, _) = eventually(LIVENESS_DEADLINE, || async {
        let claims = claude.ok("list_claims", json!({})).await;
        claims.as_array().unwrap().is_empty().then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("the claim outlived its holder by {LIVENESS_DEADLINE:?}"));
    let elapsed = killed_at.elapsed();
    assert!(elapsed <= LIVENESS_DEADLINE, "freed after {elapsed:?}");
    let granted = claude
        .ok(
            "claim",
            json!({"name": "claude", "paths": ["src/store.rs"]}),
        )
        .await;
    assert_eq!(granted["conflicts"], json!([]));
    codex.reap().await;
    claude.close().await;
    room.finish();
}

#[tokio::test]
async fn a_ttl_ends_a_claim_on_its_own() {
    let room = TestRoom::new();
    let (codex, claude) = two_agents(&room).await;
    let granted = codex
        .ok(
            "claim",
            json!({"name": "codex", "paths": ["a.rs"], "ttl_s": 1}),
        )
        .await;
    assert!(granted["granted"][0]["expires_at"].is_string(), "{granted}");
    // Never before its ttl, at most a second after it (time is in whole seconds).
    let started = Instant::now();
    eventually(Duration::from_secs(5), || async {
        let claims = claude.ok("list_claims", json!({})).await;
        claims.as_array().unwrap().is_empty().then_some(())
    })
    .await
    .expect("the claim did not expire");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1),
        "ended early, after {elapsed:?}"
    );
    assert!(
        elapsed <= Duration::from_millis(2500),
        "ended late, after {elapsed:?}"
    );
    codex.close().await;
    claude.close().await;
    room.finish();
}

#[tokio::test]
async fn claims_survive_a_daemon_crash_with_their_age() {
    let room = TestRoom::new();
    let (codex, claude) = two_agents(&room).await;
    let granted = codex
        .ok(
            "claim",
            json!({"name": "codex", "paths": ["src/store.rs"], "reason": "refactoring the store", "ttl_s": 3600}),
        )
        .await;
    let before = granted["granted"][0].clone();
    room.kill_daemon();
    // The holder's next call reconnects, joins its name again and claims again; it sees its
    // claim as it was.
    let after = codex.ok("list_claims", json!({})).await;
    assert_eq!(held(&after), [pair("codex", "src/store.rs")]);
    let claim = &after[0];
    for key in ["since", "expires_at", "reason", "exclusive"] {
        assert_eq!(claim[key], before[key], "{key}: {claim} vs {before}");
    }
    // And it still holds against the other agent, on the new daemon.
    let refused = claude
        .ok("claim", json!({"name": "claude", "paths": ["src/*.rs"]}))
        .await;
    assert_eq!(
        refused["conflicts"][0]["held_by"]["name"], "codex",
        "{refused}"
    );
    codex.close().await;
    claude.close().await;
    room.finish();
}
