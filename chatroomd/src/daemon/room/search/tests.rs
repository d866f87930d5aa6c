//! The search index and `search_messages`: words, phrases, case, filters, scopes, the
//! newest-first limit, roll back, refusals, and a property test against a scan.

use super::index::{Newest, for_each_word_key, seek_down, word_key};
use super::*;

fn message(id: u64, from: &str, to: &str, topic: Option<&str>, content: &str) -> Message {
    Message {
        id,
        ts: "2020-01-01T00:00:00Z".into(),
        topic_id: topic.map(str::to_owned),
        from: from.into(),
        to: to.into(),
        content: content.into(),
        human: false,
    }
}

/// Messages and their index, built the way the room builds them.
#[derive(Default, Clone, PartialEq, Debug)]
struct Indexed {
    messages: Vec<Message>,
    index: SearchIndex,
}

impl Indexed {
    fn of(messages: Vec<Message>) -> Self {
        let mut indexed = Self::default();
        messages
            .into_iter()
            .for_each(|message| indexed.push(message));
        indexed
    }

    fn push(&mut self, message: Message) {
        self.index.push(&message, self.messages.len());
        self.messages.push(message);
    }

    fn pop(&mut self) {
        let message = self.messages.pop().unwrap();
        self.index.pop(&message, self.messages.len());
    }

    fn ids(&self, query: &str, filter: Filter<'_>, limit: usize) -> Vec<u64> {
        let query = Query::parse(query).unwrap();
        self.index
            .search(&self.messages, &query, &filter, limit)
            .into_iter()
            .map(|position| self.messages[position].id)
            .collect()
    }

    /// Ids in every scope, visible to anyone, from anyone.
    fn find(&self, query: &str) -> Vec<u64> {
        self.ids(query, EVERYWHERE, 100)
    }
}

const EVERYWHERE: Filter<'static> = Filter {
    scope: SearchScope::Every,
    participant: None,
    from: None,
};

fn main_room() -> Filter<'static> {
    Filter {
        scope: SearchScope::Main,
        ..EVERYWHERE
    }
}

fn clauses(query: &str) -> Vec<Vec<String>> {
    Query::parse(query).unwrap().clauses
}

#[test]
fn words_are_runs_of_letters_and_digits_in_any_script() {
    let check = |text: &str, expected: &[&str]| {
        assert_eq!(words(text).collect::<Vec<_>>(), expected, "{text:?}");
    };
    check("", &[]);
    check("  ,;  ", &[]);
    check("hello", &["hello"]);
    check("Hello, world!", &["Hello", "world"]);
    check("src/module_42.rs", &["src", "module", "42", "rs"]);
    check("don't stop-gap", &["don", "t", "stop", "gap"]);
    check("issue #42 (v2.1)", &["issue", "42", "v2", "1"]);
    check("naïve café Straße", &["naïve", "café", "Straße"]);
    check("日本語のテスト", &["日本語のテスト"]);
    check("Ωmega σ² x1\ty2\nz3", &["Ωmega", "σ²", "x1", "y2", "z3"]);
    check("emoji🎉party", &["emoji", "party"]);
}

#[test]
fn the_fast_word_keys_are_the_words_keys() {
    for text in [
        "",
        "plain ascii words, and_some-punctuation 42x",
        "naïve café Straße ΟΔΟΣ",
        "abcé end",
        "é",
        "xé",
        "éx y",
        "a🎉b c🎉 🎉d",
        "日本語のテスト and ascii",
        "tab\tnew\nline\u{0}nul",
        "x\u{300}y combining, İstanbul",
        "trailing ascii é",
    ] {
        let mut fast = Vec::new();
        for_each_word_key(text, |key| fast.push(key));
        let slow: Vec<Key> = words(text).map(word_key).collect();
        assert_eq!(fast, slow, "{text:?}");
    }
}

#[test]
fn folding_ignores_case_in_every_script() {
    let fold = |word: &str| folded(word).collect::<String>();
    assert_eq!(fold("SOCKET"), "socket");
    assert_eq!(fold("Straße"), "straße");
    assert_eq!(fold("ÉCOLE"), "école");
    assert_eq!(fold("ΟΔΟΣ"), fold("οδος"));
    assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
    for (a, b) in [("Socket", "sOCKET"), ("ÉCOLE", "école"), ("ΟΔΟΣ", "Οδος")] {
        assert_eq!(word_key(a), word_key(b), "{a} {b}");
    }
    // A message's word keys are the keys of the query's folded words.
    for word in ["Hello", "İstanbul", "ΟΔΟΣ", "Ǆemal", "x1"] {
        let query_word: String = folded(word).collect();
        assert_eq!(word_key(word), word_key(&query_word), "{word}");
    }
}

#[test]
fn queries_parse_into_words_and_phrases() {
    let owned = |clauses: &[&[&str]]| -> Vec<Vec<String>> {
        clauses
            .iter()
            .map(|clause| clause.iter().map(|word| (*word).to_owned()).collect())
            .collect()
    };
    assert_eq!(clauses("flaky"), owned(&[&["flaky"]]));
    assert_eq!(
        clauses("  Flaky   SOCKET "),
        owned(&[&["flaky"], &["socket"]])
    );
    assert_eq!(
        clauses(r#"the "release notes" now"#),
        owned(&[&["the"], &["release", "notes"], &["now"]])
    );
    // Punctuation inside a word makes a phrase of its parts.
    assert_eq!(
        clauses("module_5.rs passed"),
        owned(&[&["module", "5", "rs"], &["passed"]])
    );
    // An unclosed quote runs to the end; empty quotes and bare punctuation add nothing.
    assert_eq!(clauses(r#"a "" , "b c"#), owned(&[&["a"], &["b", "c"]]));
    assert_eq!(clauses("x x X"), owned(&[&["x"]]), "repeats are one clause");
    assert_eq!(clauses("naïve CAFÉ"), owned(&[&["naïve"], &["café"]]));
}

#[test]
fn bad_queries_are_refused() {
    let refused = |query: &str| Query::parse(query).unwrap_err().message;
    assert_eq!(refused(""), "query must not be blank");
    assert_eq!(refused(" \t\n "), "query must not be blank");
    for no_word in [r#""""#, "!!! ...", r#"" ""#, "🎉", "- _ -"] {
        assert_eq!(
            refused(no_word),
            "query must contain a word (a letter or digit)",
            "{no_word:?}"
        );
    }
    assert_eq!(
        refused(&"x".repeat(1025)),
        "query must be at most 1024 characters"
    );
    assert!(Query::parse(&format!("  {}  ", "é".repeat(1024))).is_ok());
}

#[test]
fn every_word_must_match_whole_and_in_any_case() {
    let indexed = Indexed::of(vec![
        message(1, "ana", "all", None, "The flaky Socket test failed"),
        message(2, "bo", "all", None, "sockets are flaky; websocket too"),
        message(3, "ana", "all", None, "FLAKY SOCKET again."),
        message(4, "bo", "all", None, "a socket, not flaky"),
        message(5, "ana", "all", None, "Straße naïve ΟΔΟΣ"),
    ]);
    assert_eq!(indexed.find("flaky socket"), [4, 3, 1]);
    assert_eq!(indexed.find("SOCKET"), [4, 3, 1]);
    assert_eq!(indexed.find("sockets"), [2]);
    assert_eq!(indexed.find("sock"), Vec::<u64>::new());
    assert_eq!(indexed.find("flaky failed"), [1]);
    assert_eq!(indexed.find("flaky missing"), Vec::<u64>::new());
    assert_eq!(indexed.find("straße NAÏVE οδος"), [5]);
    assert_eq!(indexed.find("STRASSE"), Vec::<u64>::new(), "no expansions");
}

#[test]
fn phrases_match_words_in_a_row() {
    let indexed = Indexed::of(vec![
        message(1, "ana", "all", None, "release notes are done"),
        message(2, "ana", "all", None, "notes on the release"),
        message(3, "ana", "all", None, "The Release-Notes: drafted"),
        message(4, "ana", "all", None, "updated src/module_5.rs"),
        message(5, "ana", "all", None, "rs: module 5 (and src)"),
        message(6, "ana", "all", None, "release, notes"),
    ]);
    assert_eq!(indexed.find(r#""release notes""#), [6, 3, 1]);
    assert_eq!(indexed.find("release notes"), [6, 3, 2, 1]);
    assert_eq!(indexed.find(r#""notes release""#), Vec::<u64>::new());
    assert_eq!(indexed.find("release-notes"), [6, 3, 1]);
    assert_eq!(indexed.find(r#"drafted "the release"#), [3]);
    assert_eq!(indexed.find("module_5.rs"), [4]);
    // Any separator between a phrase's words will do.
    assert_eq!(indexed.find("module-5"), [5, 4]);
    assert_eq!(indexed.find("module 5 rs"), [5, 4]);
    assert_eq!(indexed.find(r#""on the release" notes"#), [2]);
}

/// ana→all, bo→ana, ana→bo, cy→all in the main room; the same in topic "t1"; one in "t2".
fn scoped() -> Indexed {
    let mut messages = Vec::new();
    let mut id = 0;
    for topic in [None, Some("t1")] {
        for (from, to) in [("ana", "all"), ("bo", "ana"), ("ana", "bo"), ("cy", "all")] {
            id += 1;
            messages.push(message(id, from, to, topic, "deploy the build"));
        }
    }
    messages.push(message(9, "cy", "all", Some("t2"), "deploy it"));
    Indexed::of(messages)
}

#[test]
fn the_scope_is_the_main_room_one_topic_or_every_one() {
    let indexed = scoped();
    let scope = |scope: SearchScope<'static>| Filter {
        scope,
        ..EVERYWHERE
    };
    assert_eq!(indexed.ids("deploy", main_room(), 100), [4, 3, 2, 1]);
    assert_eq!(
        indexed.ids("deploy", scope(SearchScope::Topic("t1")), 100),
        [8, 7, 6, 5]
    );
    assert_eq!(
        indexed.ids("deploy", scope(SearchScope::Topic("t2")), 100),
        [9]
    );
    assert_eq!(
        indexed.ids("deploy build", scope(SearchScope::Topic("t2")), 100),
        Vec::<u64>::new()
    );
    assert_eq!(
        indexed.ids("deploy", scope(SearchScope::Topic("t3")), 100),
        Vec::<u64>::new()
    );
    assert_eq!(
        indexed.ids("deploy", EVERYWHERE, 100),
        [9, 8, 7, 6, 5, 4, 3, 2, 1]
    );
    // A topic whose id is a word of the content is not confused with it.
    assert_eq!(indexed.ids("t1", EVERYWHERE, 100), Vec::<u64>::new());
}

#[test]
fn visibility_and_sender_filter_like_read_messages() {
    let indexed = scoped();
    let filter = |participant: Option<&'static str>, from: Option<&'static str>| Filter {
        scope: SearchScope::Main,
        participant,
        from,
    };
    assert_eq!(
        indexed.ids("deploy", filter(Some("ana"), None), 100),
        [4, 2, 1]
    );
    assert_eq!(
        indexed.ids("deploy", filter(Some("bo"), None), 100),
        [4, 3, 1]
    );
    assert_eq!(
        indexed.ids("deploy", filter(Some("zed"), None), 100),
        [4, 1]
    );
    assert_eq!(
        indexed.ids("deploy", filter(Some("all"), None), 100),
        [4, 1]
    );
    assert_eq!(
        indexed.ids("deploy", filter(None, Some("ana")), 100),
        [3, 1]
    );
    assert_eq!(
        indexed.ids("deploy", filter(None, Some("ANA")), 100),
        Vec::<u64>::new()
    );
    assert_eq!(
        indexed.ids("deploy", filter(Some("bo"), Some("ana")), 100),
        [3, 1]
    );
    assert_eq!(
        indexed.ids("deploy", filter(Some("ana"), Some("bo")), 100),
        [2]
    );
    assert_eq!(
        indexed.ids("deploy", filter(None, Some("nobody")), 100),
        Vec::<u64>::new()
    );
    let everywhere_from_cy = Filter {
        from: Some("cy"),
        ..EVERYWHERE
    };
    assert_eq!(indexed.ids("deploy", everywhere_from_cy, 100), [9, 8, 4]);
}

#[test]
fn hits_come_newest_first_and_stop_at_the_limit() {
    let mut messages = Vec::new();
    for id in 1..=1_000 {
        let content = match id % 10 {
            0 => "alpha beta",
            3 => "beta gamma alpha",
            _ => "alpha only",
        };
        messages.push(message(id, "ana", "all", None, content));
    }
    let indexed = Indexed::of(messages);
    assert_eq!(
        indexed.ids("beta alpha", main_room(), 5),
        [1000, 993, 990, 983, 980]
    );
    assert_eq!(indexed.ids("gamma", main_room(), 3), [993, 983, 973]);
    assert_eq!(indexed.ids("alpha", main_room(), 1), [1000]);
    assert_eq!(indexed.ids("beta", main_room(), 100).len(), 100);
    let all_betas = indexed.ids("beta", main_room(), usize::MAX);
    assert_eq!(all_betas.len(), 200);
    assert!(all_betas.windows(2).all(|pair| pair[0] > pair[1]));
    assert_eq!(*all_betas.last().unwrap(), 3);
}

#[test]
fn pop_puts_the_index_back_as_it_was() {
    let before = scoped();
    let mut indexed = before.clone();
    indexed.push(message(
        10,
        "dee",
        "all",
        None,
        "deploy brand-new words deploy",
    ));
    indexed.push(message(11, "ana", "bo", Some("t3"), "deploy the build now"));
    indexed.push(message(12, "ana", "all", None, "words"));
    assert_eq!(indexed.find("words"), [12, 10]);
    assert_eq!(indexed.find("deploy build"), [11, 8, 7, 6, 5, 4, 3, 2, 1]);
    indexed.pop();
    indexed.pop();
    indexed.pop();
    assert_eq!(
        indexed, before,
        "keys and lists made by the pushes are gone"
    );
    assert_eq!(indexed.find("words"), Vec::<u64>::new());
    // And it keeps working after the roll back.
    indexed.push(message(10, "dee", "all", None, "words again"));
    assert_eq!(indexed.find("words"), [10]);
}

#[test]
fn pop_back_to_empty_leaves_nothing() {
    let mut indexed = Indexed::default();
    indexed.push(message(1, "a", "all", None, "one two two"));
    indexed.push(message(2, "a", "all", None, "two three"));
    indexed.pop();
    indexed.pop();
    assert_eq!(indexed, Indexed::default());
    assert!(indexed.index.holds_nothing());
}

#[test]
fn the_heap_grows_with_the_postings() {
    let empty = SearchIndex::default();
    assert_eq!(empty.heap_bytes(), 0);
    let mut messages = Vec::new();
    for id in 1..=1_000 {
        messages.push(message(
            id,
            "ana",
            "all",
            None,
            &format!("common words {id}"),
        ));
    }
    let indexed = Indexed::of(messages);
    let bytes = indexed.index.heap_bytes();
    // Three shared lists (two words and the scope, and the sender) of 1,000 positions,
    // and 1,000 lone keys (the numbers) in the table.
    assert!(bytes >= 4 * 1_000 * 4 + 1_000 * 9, "{bytes}");
    assert!(bytes <= 4 * 1_024 * 4 * 2 + 2_048 * 9 + 1_024, "{bytes}");
}

#[test]
fn the_leapfrog_finds_the_common_positions_newest_first() {
    let check = |lists: &[&[u32]], expected: &[u32]| {
        let found: Vec<u32> = Newest::new(lists.to_vec()).collect();
        assert_eq!(found, expected, "{lists:?}");
    };
    check(&[], &[]);
    check(&[&[]], &[]);
    check(&[&[1, 4, 9]], &[9, 4, 1]);
    check(&[&[1, 4, 9], &[0, 1, 2, 3, 4, 5]], &[4, 1]);
    check(&[&[0, 2, 4, 6], &[1, 3, 5, 7]], &[]);
    check(&[&[7], &[0, 1, 2, 3, 4, 5, 6, 7]], &[7]);
    check(&[&[0], &[0, 1, 2, 3, 4, 5, 6, 7]], &[0]);
    let evens: Vec<u32> = (0..1000).step_by(2).collect();
    let threes: Vec<u32> = (0..1000).step_by(3).collect();
    let sixes: Vec<u32> = (0..1000).step_by(6).rev().collect();
    check(&[&evens, &threes], &sixes);
    check(&[&threes, &evens, &evens], &sixes);
}

#[test]
fn seek_down_finds_the_largest_position_at_or_below_the_target() {
    let list = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20];
    for end in 0..=list.len() {
        for target in 0..=22 {
            let expected = list[..end].iter().filter(|&&p| p <= target).count();
            assert_eq!(seek_down(&list, end, target), expected, "{end} {target}");
        }
    }
}

mod against_a_scan {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;

    const WORDS: [&str; 8] = ["alpha", "Beta", "GAMMA", "delta", "é", "Ωmega", "x1", "42"];
    const SEPARATORS: [&str; 5] = [" ", ", ", "-", "_", "\n"];
    const NAMES: [&str; 3] = ["ana", "bo", "all"];
    const TOPICS: [Option<&str>; 3] = [None, Some("t1"), Some("t2")];

    fn content() -> impl Strategy<Value = String> {
        vec((select(&WORDS[..]), select(&SEPARATORS[..])), 1..8).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(word, separator)| format!("{word}{separator}"))
                .collect()
        })
    }

    fn messages() -> impl Strategy<Value = Vec<Message>> {
        vec(
            (
                content(),
                select(&NAMES[..2]),
                select(&NAMES[..]),
                select(&TOPICS[..]),
            ),
            0..60,
        )
        .prop_map(|specs| {
            (1..)
                .zip(specs)
                .map(|(id, (content, from, to, topic))| Message {
                    id,
                    ts: "2020-01-01T00:00:00Z".into(),
                    topic_id: topic.map(str::to_owned),
                    from: from.into(),
                    to: to.into(),
                    content,
                    human: false,
                })
                .collect()
        })
    }

    fn query() -> impl Strategy<Value = String> {
        prop_oneof![
            vec(select(&WORDS[..]), 1..3).prop_map(|words| words.join(" ")),
            vec(select(&WORDS[..]), 2..3).prop_map(|words| format!("\"{}\"", words.join(" "))),
            (select(&WORDS[..]), select(&WORDS[..])).prop_map(|(a, b)| format!("{a}-{b}")),
        ]
    }

    fn filter() -> impl Strategy<Value = Filter<'static>> {
        (
            select(vec![
                SearchScope::Main,
                SearchScope::Topic("t1"),
                SearchScope::Every,
            ]),
            select(vec![None, Some("ana"), Some("bo")]),
            select(vec![None, Some("ana"), Some("bo")]),
        )
            .prop_map(|(scope, participant, from)| Filter {
                scope,
                participant,
                from,
            })
    }

    /// What a search must answer: every message, newest first, checked one by one.
    fn scanned(
        messages: &[Message],
        query: &Query,
        filter: &Filter<'_>,
        limit: usize,
    ) -> Vec<usize> {
        (0..messages.len())
            .rev()
            .filter(|&position| {
                filter.admits(&messages[position]) && query.matches(&messages[position].content)
            })
            .take(limit)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_index_answers_what_a_scan_would_even_after_a_roll_back(
            messages in messages(),
            popped in 0..10usize,
            query in query(),
            filter in filter(),
            limit in 1..30usize,
        ) {
            let mut index = SearchIndex::default();
            for (position, message) in messages.iter().enumerate() {
                index.push(message, position);
            }
            let query = Query::parse(&query).unwrap();
            prop_assert_eq!(
                index.search(&messages, &query, &filter, limit),
                scanned(&messages, &query, &filter, limit)
            );
            // Roll the newest back, then compare with an index that never held them.
            let kept = messages.len().saturating_sub(popped);
            for position in (kept..messages.len()).rev() {
                index.pop(&messages[position], position);
            }
            let mut fresh = SearchIndex::default();
            for (position, message) in messages[..kept].iter().enumerate() {
                fresh.push(message, position);
            }
            prop_assert_eq!(&index, &fresh);
            prop_assert_eq!(
                index.search(&messages[..kept], &query, &filter, limit),
                scanned(&messages[..kept], &query, &filter, limit)
            );
        }
    }
}

mod room {
    use protocol::{Refusal, Request, Response};

    use crate::daemon::room::testkit::*;

    fn search(query: &str, topic_id: &str, participant: &str, from: &str, limit: i64) -> Request {
        Request::SearchMessages {
            query: query.into(),
            topic_id: topic_id.into(),
            participant: participant.into(),
            from: from.into(),
            limit,
        }
    }

    fn found(room: &mut crate::daemon::room::Room, request: Request) -> Vec<u64> {
        read_ids(room, request)
    }

    #[test]
    fn search_messages_answers_from_the_room() {
        // 1 alice→all "hello", 2 bob→alice "hi alice", 3 alice→bob "hi bob",
        // 4 carol→all "hello all", 5 bob→carol "hi carol".
        let mut room = populated_room();
        let check = |room: &mut crate::daemon::room::Room, request: Request, expected: &[u64]| {
            assert_eq!(found(room, request.clone()), expected, "{request:?}");
        };
        check(&mut room, search("hello", "", "", "", 20), &[4, 1]);
        check(&mut room, search("  HI ", "", "", "", 20), &[5, 3, 2]);
        check(&mut room, search("hi", " ", " alice ", "", 20), &[2]);
        check(&mut room, search("hi", "", "nobody", "", 20), &[]);
        check(&mut room, search("hi", "", "", " bob ", 20), &[5, 2]);
        check(&mut room, search("hi", "*", "carol", "bob", 20), &[5]);
        check(&mut room, search("hi", " * ", "", "", 2), &[5, 3]);
        check(&mut room, search(r#""hello all""#, "", "", "", 20), &[4]);
        check(&mut room, search("hello all", "", "", "", 1), &[4]);
        check(&mut room, search("hi", "", "", "system", 20), &[]);
        accept(&mut room, ALICE, leave("alice"));
        check(
            &mut room,
            search("left chatroom", "", "", "system", 20),
            &[6],
        );
    }

    #[test]
    fn search_messages_refuses_bad_arguments_and_changes_nothing() {
        let long = "x".repeat(65);
        let cases: Vec<(Request, &str)> = vec![
            (search("", "", "", "", 20), "query must not be blank"),
            (search(" \n\t", "", "", "", 20), "query must not be blank"),
            (
                search("?! --", "", "", "", 20),
                "query must contain a word (a letter or digit)",
            ),
            (
                search(r#""""#, "", "", "", 20),
                "query must contain a word (a letter or digit)",
            ),
            (
                search(&"q".repeat(1025), "", "", "", 20),
                "query must be at most 1024 characters",
            ),
            (
                search("hi", "", &long, "", 20),
                "participant must be at most 64 characters",
            ),
            (
                search("hi", "", "b\u{7}ob", "", 20),
                "participant must not contain control characters",
            ),
            (
                search("hi", "", "", &long, 20),
                "from must be at most 64 characters",
            ),
            (
                search("hi", "", "", "b\u{0}ob", 20),
                "from must not contain control characters",
            ),
            (
                search("hi", "", "", "", 0),
                "limit must be between 1 and 100",
            ),
            (
                search("hi", "", "", "", 101),
                "limit must be between 1 and 100",
            ),
            (
                search("hi", "", "", "", -1),
                "limit must be between 1 and 100",
            ),
            // The first bad parameter, in the tool's order, is the one named.
            (search("", "", &long, "", 0), "query must not be blank"),
            (
                search("hi", "", &long, &long, 0),
                "participant must be at most 64 characters",
            ),
        ];
        for (request, expected) in cases {
            let mut room = populated_room();
            let refusal = refuse(&mut room, ALICE, request.clone());
            assert_eq!(refusal, Refusal::invalid(expected), "{request:?}");
        }
        for limit in [1, 100] {
            accept(
                &mut populated_room(),
                OTHER,
                search("hi", "", "", "", limit),
            );
        }
    }

    #[test]
    fn the_scope_is_the_main_room_a_topic_or_every_scope() {
        // 1..5 in the main room (populated_room); then topics "parser" and "docs".
        let mut room = populated_room();
        accept(
            &mut room,
            OTHER,
            open_topic("parser", "The parser", "carol"),
        );
        accept(&mut room, OTHER, open_topic("docs", "Docs", ""));
        accept(
            &mut room,
            OTHER,
            in_topic(send("carol", "hello parser", "all"), "parser"),
        );
        accept(
            &mut room,
            OTHER,
            in_topic(send("dave", "hi from docs", "alice"), "docs"),
        );
        accept(
            &mut room,
            OTHER,
            in_topic(send("dave", "hello docs", "bob"), "docs"),
        );
        accept(&mut room, OTHER, close_topic("docs"));
        let check = |room: &mut crate::daemon::room::Room, request: Request, expected: &[u64]| {
            assert_eq!(found(room, request.clone()), expected, "{request:?}");
        };
        check(&mut room, search("hello", "", "", "", 20), &[4, 1]);
        check(&mut room, search("hello", " parser ", "", "", 20), &[6]);
        // A closed topic is still searched.
        check(&mut room, search("hello", "docs", "", "", 20), &[8]);
        check(&mut room, search("hello", "*", "", "", 20), &[8, 6, 4, 1]);
        check(&mut room, search("hi", "*", "alice", "", 20), &[7, 2]);
        check(&mut room, search("hello", "*", "", "dave", 20), &[8]);
        check(&mut room, search("hello", "*", "", "", 3), &[8, 6, 4]);
        // The topic's id is not a word of its messages.
        check(&mut room, search("parser", "*", "", "", 20), &[6]);
        check(&mut room, search("docs", "parser", "", "", 20), &[]);
        for (topic_id, expected) in [
            ("nope", "unknown topic_id: nope"),
            (" nope ", "unknown topic_id: nope"),
            ("Parser", "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$"),
            ("**", "topic_id must match ^[a-z0-9][a-z0-9._-]{0,63}$"),
        ] {
            let refusal = refuse(&mut room, OTHER, search("hello", topic_id, "", "", 20));
            assert_eq!(refusal, Refusal::invalid(expected), "{topic_id:?}");
        }
    }

    #[test]
    fn a_rolled_back_batch_leaves_nothing_to_find() {
        let mut room = populated_room();
        let before = room.clone();
        room.begin();
        accept(&mut room, OTHER, send("dave", "brand new words", "all"));
        accept(&mut room, OTHER, send("dave", "hello again", "all"));
        assert_eq!(found(&mut room, search("hello", "", "", "", 20)), [7, 4, 1]);
        room.roll_back();
        assert!(room == before, "the index is back as it was");
        assert_eq!(found(&mut room, search("hello", "", "", "", 20)), [4, 1]);
        assert_eq!(
            found(&mut room, search("words", "*", "", "", 20)),
            Vec::<u64>::new()
        );
        let (reply, changes) = accept(&mut room, OTHER, search("hello", "", "", "", 20));
        assert!(changes.is_empty());
        assert!(matches!(reply, Response::Messages(_)));
    }
}
