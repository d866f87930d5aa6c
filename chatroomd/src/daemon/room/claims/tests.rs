//! The room's claims: grants and conflicts between sessions, releases, and every way a claim
//! ends (release, leave, the session's end, expiry), each seen as an event; the overlap rules
//! themselves are `glob.rs`'s tests.

use protocol::{
    Claim, ClaimChange, ClaimConflict, ClaimRestore, Claimed, Refusal, RefusalKind, Request,
    Response,
};

use crate::daemon::room::Room;
use crate::daemon::room::testkit::*;
use crate::shared::time::format_ts;

fn claim(name: &str, paths: &[&str], exclusive: bool, reason: &str, ttl_s: i64) -> Request {
    Request::Claim {
        name: name.into(),
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
        exclusive,
        reason: reason.into(),
        ttl_s,
        restore: None,
    }
}

fn release(name: &str, paths: &[&str]) -> Request {
    Request::Release {
        name: name.into(),
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
    }
}

fn claimed(room: &mut Room, session: u64, request: Request, now: u64) -> Claimed {
    match accept_at(room, session, request, now).0 {
        Response::Claimed(claimed) => claimed,
        other => panic!("not claimed: {other:?}"),
    }
}

fn listed(room: &mut Room, path: &str, now: u64) -> Vec<Claim> {
    match accept_at(room, OTHER, Request::ListClaims { path: path.into() }, now).0 {
        Response::Claims(claims) => claims,
        other => panic!("not claims: {other:?}"),
    }
}

fn paths(claims: &[Claim]) -> Vec<(&str, &str)> {
    claims
        .iter()
        .map(|claim| (claim.name.as_str(), claim.path.as_str()))
        .collect()
}

/// alice (ALICE) and bob (BOB) joined, nothing claimed.
fn room() -> Room {
    let mut room = Room::new();
    accept(&mut room, ALICE, join("alice", "dev"));
    accept(&mut room, BOB, join("bob", "dev"));
    room
}

#[test]
fn a_claim_is_granted_normalised_and_listed_with_its_age() {
    let mut room = room();
    let got = claimed(
        &mut room,
        ALICE,
        claim(
            "alice",
            &["./src//store.rs", "docs/**"],
            true,
            " refactoring the store ",
            0,
        ),
        T0,
    );
    assert!(got.conflicts.is_empty());
    let store = Claim {
        path: "src/store.rs".into(),
        name: "alice".into(),
        exclusive: true,
        reason: "refactoring the store".into(),
        since: TS0.into(),
        expires_at: None,
        held_s: 0,
    };
    assert_eq!(got.granted[0], store);
    assert_eq!(got.granted[1].path, "docs/**");
    let later = listed(&mut room, "", T0 + 245);
    assert_eq!(
        paths(&later),
        [("alice", "docs/**"), ("alice", "src/store.rs")]
    );
    assert_eq!(later[1].held_s, 245);
    // Filtered by overlap: a file under docs/, a glob over src.
    assert_eq!(
        paths(&listed(&mut room, "docs/a/b.md", T0)),
        [("alice", "docs/**")]
    );
    assert_eq!(
        paths(&listed(&mut room, "src/*.rs", T0)),
        [("alice", "src/store.rs")]
    );
    assert!(listed(&mut room, "tests/x.rs", T0).is_empty());
}

#[test]
fn overlapping_claims_of_another_session_conflict_as_the_contract_says() {
    let mut room = room();
    claimed(
        &mut room,
        ALICE,
        claim("alice", &["src/**"], true, "big refactor", 0),
        T0,
    );
    // Exclusive against exclusive, and shared against exclusive: refused, with the holder.
    for exclusive in [true, false] {
        let got = claimed(
            &mut room,
            BOB,
            claim("bob", &["src/store.rs", "README.md"], exclusive, "", 0),
            T0 + 240,
        );
        assert_eq!(paths(&got.granted), [("bob", "README.md")]);
        assert_eq!(got.conflicts.len(), 1);
        let conflict = &got.conflicts[0];
        assert_eq!(conflict.path, "src/store.rs");
        assert_eq!(
            (
                conflict.held_by.name.as_str(),
                conflict.held_by.path.as_str()
            ),
            ("alice", "src/**")
        );
        assert_eq!(conflict.held_by.reason, "big refactor");
        assert_eq!(conflict.held_by.held_s, 240);
        accept(&mut room, BOB, release("bob", &[]));
    }
    // Shared against shared is no conflict.
    let mut room = self::room();
    claimed(
        &mut room,
        ALICE,
        claim("alice", &["src/*.rs"], false, "reading", 0),
        T0,
    );
    let got = claimed(
        &mut room,
        BOB,
        claim("bob", &["src/store.rs"], false, "", 0),
        T0,
    );
    assert!(got.conflicts.is_empty());
    // Exclusive against shared is.
    let got = claimed(
        &mut room,
        BOB,
        claim("bob", &["src/lib.rs"], true, "", 0),
        T0,
    );
    assert_eq!(got.conflicts.len(), 1);
    assert!(got.granted.is_empty());
}

#[test]
fn a_sessions_own_claims_never_conflict_under_any_of_its_names() {
    let mut room = room();
    accept(&mut room, ALICE, join("alice-2", "dev"));
    claimed(
        &mut room,
        ALICE,
        claim("alice", &["src/**"], true, "", 0),
        T0,
    );
    let got = claimed(
        &mut room,
        ALICE,
        claim("alice-2", &["src/a.rs"], true, "", 0),
        T0,
    );
    assert!(got.conflicts.is_empty());
    assert_eq!(got.granted.len(), 1);
    let check = room
        .check_claims(
            &["alice".to_owned(), "alice-2".to_owned()],
            &["src/a.rs".to_owned()],
            T0,
        )
        .unwrap();
    assert!(check.is_empty());
}

#[test]
fn claiming_again_renews_and_keeps_the_age() {
    let mut room = room();
    let (_, changes) = accept_at(
        &mut room,
        ALICE,
        claim("alice", &["a.rs"], true, "one", 0),
        T0,
    );
    assert_eq!(changes.claims.len(), 1);
    assert_eq!(changes.claims[0].change, ClaimChange::Granted);
    // The same again: granted, nothing changed, no event.
    let (_, changes) = accept_at(
        &mut room,
        ALICE,
        claim("alice", &["a.rs"], true, "one", 0),
        T0 + 5,
    );
    assert!(changes.is_empty());
    let got = claimed(
        &mut room,
        ALICE,
        claim("alice", &["a.rs"], false, "two", 0),
        T0 + 9,
    );
    assert_eq!(got.granted[0].since, TS0);
    assert_eq!(got.granted[0].held_s, 9);
    assert_eq!(
        (got.granted[0].exclusive, got.granted[0].reason.as_str()),
        (false, "two")
    );
    assert_eq!(listed(&mut room, "", T0 + 9).len(), 1);
}

#[test]
fn bad_claims_are_refused_and_change_nothing() {
    let mut room = room();
    let cases: Vec<(Request, &str)> = vec![
        (
            claim("alice", &[], true, "", 0),
            "paths must hold at least one repository-relative path or glob",
        ),
        (claim("alice", &["/etc/passwd"], true, "", 0), "absolute"),
        (claim("alice", &["../x"], true, "", 0), "\"..\""),
        (claim("alice", &["src/../../x"], true, "", 0), "\"..\""),
        (claim("alice", &["src/[a"], true, "", 0), "unclosed"),
        (
            claim("alice", &["a.rs"], true, "", -1),
            "ttl_s must be between 0 and 604800",
        ),
        (
            claim("alice", &["a.rs"], true, "bad\u{7}", 0),
            "reason must not contain control characters",
        ),
        (
            claim("carol", &["a.rs"], true, "", 0),
            "name 'carol' has not joined from this session",
        ),
        (
            claim("system", &["a.rs"], true, "", 0),
            "name 'system' is reserved",
        ),
    ];
    for (request, expected) in cases {
        let refusal = refuse(&mut room, ALICE, request);
        assert!(
            refusal.message.contains(expected),
            "{refusal} lacks {expected}"
        );
        assert!(!refusal.message.contains('\n'), "{refusal}");
    }
    // Acting under another session's name.
    let refusal = refuse(&mut room, ALICE, claim("bob", &["a.rs"], true, "", 0));
    assert_eq!(
        refusal,
        Refusal::conflict("name 'bob' is held by another session")
    );
    let refusal = refuse(&mut room, ALICE, release("bob", &[]));
    assert_eq!(refusal.kind, RefusalKind::Conflict);
    let refusal = refuse(
        &mut room,
        OTHER,
        Request::ListClaims {
            path: "/abs".into(),
        },
    );
    assert!(refusal.message.contains("absolute"), "{refusal}");
}

#[test]
fn release_ends_the_given_claims_or_all() {
    let mut room = room();
    claimed(
        &mut room,
        ALICE,
        claim("alice", &["a.rs", "b.rs", "c/**"], true, "", 0),
        T0,
    );
    let (reply, changes) = accept(&mut room, ALICE, release("alice", &["./a.rs", "nope.rs"]));
    let Response::Released(released) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(released.released, ["a.rs"]);
    assert_eq!(changes.claims.len(), 1);
    assert_eq!(changes.claims[0].change, ClaimChange::Released);
    let (reply, _) = accept(&mut room, ALICE, release("alice", &[]));
    let Response::Released(released) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(released.released, ["b.rs", "c/**"]);
    assert!(listed(&mut room, "", T0).is_empty());
    // Bob may now claim what alice held.
    let got = claimed(&mut room, BOB, claim("bob", &["c/x"], true, "", 0), T0);
    assert!(got.conflicts.is_empty());
}

#[test]
fn claims_go_with_their_name_however_it_leaves() {
    // leave
    let mut room = room();
    claimed(&mut room, ALICE, claim("alice", &["a.rs"], true, "", 0), T0);
    let (_, changes) = accept(&mut room, ALICE, leave("alice"));
    assert_eq!(changes.claims.len(), 1);
    assert_eq!(changes.claims[0].change, ClaimChange::Departed);
    assert_eq!(changes.claims[0].claim.path, "a.rs");
    assert!(listed(&mut room, "", T0).is_empty());
    // the session's end
    let mut room = self::room();
    accept(&mut room, ALICE, join("alice-2", "dev"));
    claimed(&mut room, ALICE, claim("alice", &["a.rs"], true, "", 0), T0);
    claimed(
        &mut room,
        ALICE,
        claim("alice-2", &["b.rs"], true, "", 0),
        T0,
    );
    claimed(&mut room, BOB, claim("bob", &["c.rs"], true, "", 0), T0);
    let changes = room.end_session(ALICE, T0 + 1);
    let gone: Vec<&str> = changes
        .claims
        .iter()
        .map(|event| event.claim.path.as_str())
        .collect();
    assert_eq!(gone, ["a.rs", "b.rs"]);
    assert!(
        changes
            .claims
            .iter()
            .all(|event| event.change == ClaimChange::Departed)
    );
    assert_eq!(paths(&listed(&mut room, "", T0)), [("bob", "c.rs")]);
}

#[test]
fn a_ttl_ends_a_claim_on_its_own() {
    let mut room = room();
    let got = claimed(
        &mut room,
        ALICE,
        claim("alice", &["a.rs"], true, "", 30),
        T0,
    );
    assert_eq!(got.granted[0].expires_at, Some(format_ts(T0 + 30)));
    claimed(&mut room, ALICE, claim("alice", &["b.rs"], true, "", 0), T0);
    assert_eq!(room.next_claim_expiry(), Some(T0 + 31));
    // Whole seconds, rounded down: at T0 + 30 the claim may be younger than 30 s.
    assert!(room.expire_claims(T0 + 30).is_empty());
    let changes = room.expire_claims(T0 + 31);
    assert_eq!(changes.claims.len(), 1);
    assert_eq!(changes.claims[0].change, ClaimChange::Expired);
    assert_eq!(changes.claims[0].claim.path, "a.rs");
    assert_eq!(room.next_claim_expiry(), None);
    assert_eq!(paths(&listed(&mut room, "", T0 + 31)), [("alice", "b.rs")]);
}

#[test]
fn a_restored_claim_keeps_its_age_and_expiry_unless_it_ran_out() {
    let mut room = room();
    let restore = |since: u64, expires: Option<u64>| Request::Claim {
        name: "alice".into(),
        paths: vec!["a.rs".into()],
        exclusive: true,
        reason: "kept".into(),
        ttl_s: 0,
        restore: Some(ClaimRestore {
            since: format_ts(since),
            expires_at: expires.map(format_ts),
        }),
    };
    let got = claimed(&mut room, ALICE, restore(T0 - 600, Some(T0 + 60)), T0);
    assert_eq!(got.granted[0].since, format_ts(T0 - 600));
    assert_eq!(got.granted[0].held_s, 600);
    assert_eq!(room.next_claim_expiry(), Some(T0 + 61));
    // Expired while the daemon was away: neither granted nor in conflict, simply gone.
    let mut room = self::room();
    let got = claimed(&mut room, ALICE, restore(T0 - 600, Some(T0 - 1)), T0);
    assert!(got.granted.is_empty() && got.conflicts.is_empty());
    // Taken by another session meanwhile: a conflict like any other.
    claimed(&mut room, BOB, claim("bob", &["a.rs"], true, "", 0), T0);
    let got = claimed(&mut room, ALICE, restore(T0 - 600, None), T0);
    assert_eq!(got.conflicts.len(), 1);
}

#[test]
fn an_edit_is_blocked_only_by_another_sessions_exclusive_claim() {
    let mut room = room();
    claimed(
        &mut room,
        ALICE,
        claim("alice", &["src/**"], true, "refactor", 0),
        T0,
    );
    claimed(
        &mut room,
        BOB,
        claim("bob", &["docs/*.md"], false, "reading", 0),
        T0,
    );
    let check = |room: &Room, own: &[&str], path: &str| -> Vec<ClaimConflict> {
        let own: Vec<String> = own.iter().map(|name| (*name).to_owned()).collect();
        room.check_claims(&own, &[path.to_owned()], T0 + 120)
            .unwrap()
    };
    let blocked = check(&room, &["bob"], "src/store.rs");
    assert_eq!(blocked.len(), 1);
    assert_eq!(
        blocked[0].sentence(),
        "src/store.rs is claimed by alice (as src/**) for 'refactor' since 2 min"
    );
    assert!(
        check(&room, &["alice"], "src/store.rs").is_empty(),
        "own claim"
    );
    assert!(
        check(&room, &[], "docs/a.md").is_empty(),
        "a shared claim blocks no edit"
    );
    assert!(check(&room, &[], "srcx/a.rs").is_empty());
    assert_eq!(
        check(&room, &[], "src/a/b/c.rs").len(),
        1,
        "nobody's own: blocked"
    );
    let refusal = room
        .check_claims(&[], &["../x".to_owned()], T0)
        .unwrap_err();
    assert!(
        refusal.message.contains("not a file inside the repository"),
        "{refusal}"
    );
}

#[test]
fn a_rolled_back_batch_takes_its_claims_back() {
    let mut room = room();
    claimed(&mut room, ALICE, claim("alice", &["a.rs"], true, "", 0), T0);
    let before = room.clone();
    room.begin();
    accept(&mut room, ALICE, claim("alice", &["b.rs"], true, "", 0));
    accept(&mut room, ALICE, release("alice", &["a.rs"]));
    accept(&mut room, BOB, leave("bob"));
    room.roll_back();
    assert!(room == before);
}

#[test]
fn the_handoff_shows_claims_only_once_the_room_has_any() {
    let mut room = room();
    assert_eq!(handoff_of(&mut room, handoff("", 5)).claims, None);
    claimed(&mut room, ALICE, claim("alice", &["a.rs"], true, "", 0), T0);
    let claims = handoff_of(&mut room, handoff("", 5)).claims.unwrap();
    assert_eq!(paths(&claims), [("alice", "a.rs")]);
}
