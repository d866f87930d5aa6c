//! Search: an inverted index from each word to the positions of the messages holding it
//! ([`SearchIndex`]), the query language ([`Query`]), and `search_messages`, which answers newest
//! first by intersecting the postings of the query's words, rarest first, and confirming each
//! candidate against the message itself, stopping at the limit.
//!
//! What a word is: a maximal run of letters and digits (Unicode alphanumerics); everything else
//! separates words. Words match whole and case-insensitively (Unicode lowercase, with the final
//! sigma folded): `socket` matches `Socket,` and `SOCKET` but not `sockets` or `websocket`. A
//! message matches when its content holds every word of the query; a quoted phrase, or a query
//! word with punctuation inside (`module_5.rs`, `issue-42`), must appear as those words in a row.
//!
//! The index is a candidate generator and the message is the truth: words are kept as 32-bit
//! hashes, not strings, so two words may share a key, and every candidate is checked against the
//! message's own words (and phrases, scope, sender and visibility) before it is returned. The
//! message's scope and sender are indexed beside its words, so a search in a small topic of a
//! large room, or for one sender's messages, walks only that topic's or sender's positions.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use protocol::{Message, Refusal, Response};

use super::index::is_visible_to;
use super::params::{limit_param, optional_name_param};
use super::{Changes, EVERY_SCOPE, Handled, Room};

/// The longest query accepted, in characters.
const MAX_QUERY_CHARS: usize = 1024;

/// Positions are kept in 31 bits (the top bit of a [`Slot`] tells a lone position from a list).
/// A room that large would need hundreds of gigabytes for its messages alone.
const MAX_POSITION: usize = (1 << 31) - 1;

/// A word's key in the index: 32 bits of the hash of its lowercase form.
type Key = u32;

/// Where a search looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SearchScope<'a> {
    /// The main room: messages in no topic.
    Main,
    /// One topic.
    Topic(&'a str),
    /// Every scope: the main room and every topic.
    Every,
}

/// What a hit must be besides a match: in the scope, visible to the participant (when one is
/// given) and sent by `from` (when given).
#[derive(Debug, Clone, Copy)]
pub(super) struct Filter<'a> {
    pub(super) scope: SearchScope<'a>,
    pub(super) participant: Option<&'a str>,
    pub(super) from: Option<&'a str>,
}

impl Filter<'_> {
    fn admits(&self, message: &Message) -> bool {
        let in_scope = match self.scope {
            SearchScope::Main => message.topic_id.is_none(),
            SearchScope::Topic(topic) => message.topic_id.as_deref() == Some(topic),
            SearchScope::Every => true,
        };
        in_scope
            && self
                .participant
                .is_none_or(|participant| is_visible_to(message, participant))
            && self.from.is_none_or(|from| message.from == from)
    }
}

/// A parsed query: the clauses every hit must satisfy, each a run of lowercase words that must
/// appear in this order, one right after the other (a clause of one word: anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Query {
    clauses: Vec<Vec<String>>,
}

impl Query {
    /// Parses `text`, trimmed: `"..."` is a phrase (an unclosed quote runs to the end), and
    /// everything else splits on whitespace into words, each of which may hold several (a
    /// phrase of its own). Refuses a blank query, one over 1024 characters, and one without a
    /// word (a letter or digit) in it.
    pub(super) fn parse(text: &str) -> Result<Self, Refusal> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Refusal::invalid("query must not be blank"));
        }
        if text.chars().nth(MAX_QUERY_CHARS).is_some() {
            return Err(Refusal::invalid(format!(
                "query must be at most {MAX_QUERY_CHARS} characters"
            )));
        }
        let mut clauses: Vec<Vec<String>> = Vec::new();
        let mut add = |clause: Vec<String>| {
            if !clause.is_empty() && !clauses.contains(&clause) {
                clauses.push(clause);
            }
        };
        // Splitting on quotes alternates outside and inside, so the odd parts are phrases.
        for (index, part) in text.split('"').enumerate() {
            if index % 2 == 1 {
                add(lowercase_words(part));
            } else {
                part.split_whitespace()
                    .for_each(|chunk| add(lowercase_words(chunk)));
            }
        }
        if clauses.is_empty() {
            return Err(Refusal::invalid(
                "query must contain a word (a letter or digit)",
            ));
        }
        Ok(Self { clauses })
    }

    /// Every word of every clause, with repeats.
    fn words(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().flatten().map(String::as_str)
    }

    /// Whether `content` holds every clause: each word, and each phrase's words in a row.
    fn matches(&self, content: &str) -> bool {
        let tokens: Vec<&str> = words(content).collect();
        self.clauses.iter().all(|clause| {
            tokens.windows(clause.len()).any(|window| {
                window
                    .iter()
                    .zip(clause)
                    .all(|(token, word)| folded(token).eq(word.chars()))
            })
        })
    }
}

/// The words of `text`, as slices of it: maximal runs of alphanumeric characters.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
}

/// The characters of `word` in lowercase, with the final sigma folded into sigma, so that a
/// word's case never matters (`ΟΔΟΣ`, `οδος` and `Οδοσ` are one word).
fn folded(word: &str) -> impl Iterator<Item = char> + '_ {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
}

/// The words of `text`, each as its [`folded`] string.
fn lowercase_words(text: &str) -> Vec<String> {
    words(text).map(|word| folded(word).collect()).collect()
}

/// FNV-1a over bytes, then a finalizer that spreads every input bit over the high half, which
/// is what the key keeps. Fast on short words, and good enough: a shared key only costs a look.
#[derive(Clone, Copy)]
struct WordHash(u64);

impl WordHash {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn byte(&mut self, byte: u8) {
        self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn char(&mut self, c: char) {
        let mut buffer = [0; 4];
        c.encode_utf8(&mut buffer)
            .bytes()
            .for_each(|byte| self.byte(byte));
    }

    fn key(self) -> Key {
        // MurmurHash3's fmix64.
        let mut hash = self.0;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        hash ^= hash >> 33;
        (hash >> 32) as Key
    }
}

/// The key of a word of a message, as it appears there (any case).
fn word_key(word: &str) -> Key {
    let mut hash = WordHash::new();
    if word.is_ascii() {
        word.bytes()
            .for_each(|byte| hash.byte(byte.to_ascii_lowercase()));
    } else {
        folded(word).for_each(|c| hash.char(c));
    }
    hash.key()
}

/// The key under which a field of a message (its scope, its sender) is indexed: the field's
/// tag, a byte no UTF-8 text holds, then its exact text, so that it never shares a key with a
/// word on purpose.
fn field_key(tag: u8, value: &str) -> Key {
    let mut hash = WordHash::new();
    hash.byte(tag);
    value.bytes().for_each(|byte| hash.byte(byte));
    hash.key()
}

/// The key of the messages in a scope: `None` is the main room.
fn scope_key(topic_id: Option<&str>) -> Key {
    match topic_id {
        Some(topic) => field_key(0xFF, topic),
        None => field_key(0xFE, ""),
    }
}

fn sender_key(from: &str) -> Key {
    field_key(0xFD, from)
}

/// Keys are hashes already: the map uses them as they are, spread over 64 bits (the table
/// takes its control bits from the top).
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|byte| {
            self.0 = (self.0 << 8 | u64::from(*byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
    }

    fn write_u32(&mut self, key: u32) {
        self.0 = u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A key's postings: one position held in place (the top bit set), or the index of a list.
/// Most keys of a real history (an id, a hash, a typo) occur once, so most cost no list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot(u32);

const LONE: u32 = 1 << 31;

impl Slot {
    fn lone(position: u32) -> Self {
        Self(position | LONE)
    }

    fn list(index: usize) -> Self {
        Self(index as u32)
    }

    fn as_lone(self) -> Option<u32> {
        (self.0 & LONE != 0).then_some(self.0 & !LONE)
    }

    fn list_index(self) -> usize {
        self.0 as usize
    }
}

/// The postings of one key, ascending.
#[derive(Clone, Copy)]
enum Postings<'a> {
    Lone([u32; 1]),
    List(&'a [u32]),
}

impl Postings<'_> {
    fn as_slice(&self) -> &[u32] {
        match self {
            Postings::Lone(position) => position,
            Postings::List(positions) => positions,
        }
    }
}

/// The inverted index over the messages: for each key (a word, a scope, a sender), the
/// ascending positions of the messages holding it, once per message however often it occurs.
///
/// It only ever grows at the end and shrinks from the end ([`SearchIndex::pop`], the room's roll
/// back), so a key's list is made when it gets its second position and lists sit in the order
/// they were made; a pop that takes a list back to one position is the undoing of the newest
/// list, which goes, leaving the index exactly as it was before the push.
#[derive(Default)]
#[cfg_attr(test, derive(Clone, PartialEq, Debug))]
pub(super) struct SearchIndex {
    keys: HashMap<Key, Slot, BuildHasherDefault<KeyHasher>>,
    lists: Vec<Vec<u32>>,
    /// The keys of the message being pushed or popped; kept to save an allocation per message
    /// (always empty between calls).
    scratch: Vec<Key>,
}

impl SearchIndex {
    /// Indexes `message`, which sits at `position`, above every position indexed so far.
    pub(super) fn push(&mut self, message: &Message, position: usize) {
        let Some(position) = indexable(position) else {
            return;
        };
        // A word the message holds twice finds `position` already there and adds nothing.
        let mut keys = std::mem::take(&mut self.scratch);
        keys_of(message, &mut keys);
        for &key in &keys {
            self.add(key, position);
        }
        keys.clear();
        self.scratch = keys;
    }

    /// Forgets `message` at `position`, which must be the last one indexed.
    pub(super) fn pop(&mut self, message: &Message, position: usize) {
        let Some(position) = indexable(position) else {
            return;
        };
        let mut keys = Vec::new();
        keys_of(message, &mut keys);
        // The reverse of the push, each key where the push first met it, so that the lists
        // the push made go newest first. Only a roll back pops: this need not be fast.
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        keys.retain(|key| seen.insert(*key));
        for &key in keys.iter().rev() {
            self.remove(key, position);
        }
    }

    /// The heap the index holds, in bytes: the table (its buckets and control bytes, as
    /// hashbrown lays them out), the list headers and the positions, by capacity.
    pub(super) fn heap_bytes(&self) -> usize {
        let buckets = match self.keys.capacity() {
            0 => 0,
            capacity if capacity < 8 => (capacity + 1).next_power_of_two(),
            capacity => (capacity * 8 / 7).next_power_of_two(),
        };
        let table = buckets * (size_of::<(Key, Slot)>() + 1);
        let headers = self.lists.capacity() * size_of::<Vec<u32>>();
        let positions: usize = self
            .lists
            .iter()
            .map(|list| list.capacity() * size_of::<u32>())
            .sum();
        table + headers + positions + self.scratch.capacity() * size_of::<Key>()
    }

    /// The positions of the messages that match `query` and pass `filter`, newest first, at most
    /// `limit`. `messages` are the indexed messages, by position.
    pub(super) fn search(
        &self,
        messages: &[Message],
        query: &Query,
        filter: &Filter<'_>,
        limit: usize,
    ) -> Vec<usize> {
        let mut keys: Vec<Key> = query.words().map(word_key).collect();
        match filter.scope {
            SearchScope::Main => keys.push(scope_key(None)),
            SearchScope::Topic(topic) => keys.push(scope_key(Some(topic))),
            SearchScope::Every => {}
        }
        if let Some(from) = filter.from {
            keys.push(sender_key(from));
        }
        keys.sort_unstable();
        keys.dedup();
        let Some(postings) = keys
            .iter()
            .map(|key| self.postings(*key))
            .collect::<Option<Vec<_>>>()
        else {
            return Vec::new();
        };
        // A key every message holds (the main room's in a room without topics) filters
        // nothing: walking it would only slow the others down.
        let mut lists: Vec<&[u32]> = postings
            .iter()
            .map(Postings::as_slice)
            .filter(|list| list.len() < messages.len())
            .collect();
        if lists.is_empty() {
            lists.push(postings[0].as_slice());
        }
        lists.sort_by_key(|list| list.len());
        let mut hits = Vec::new();
        for position in Newest::new(lists) {
            let position = position as usize;
            let Some(message) = messages.get(position) else {
                continue;
            };
            if filter.admits(message) && query.matches(&message.content) {
                hits.push(position);
                if hits.len() == limit {
                    break;
                }
            }
        }
        hits
    }

    fn add(&mut self, key: Key, position: u32) {
        match self.keys.entry(key) {
            Entry::Vacant(entry) => {
                entry.insert(Slot::lone(position));
            }
            Entry::Occupied(mut entry) => match entry.get().as_lone() {
                Some(lone) if lone == position => {}
                Some(first) => {
                    entry.insert(Slot::list(self.lists.len()));
                    self.lists.push(vec![first, position]);
                }
                None => {
                    let list = &mut self.lists[entry.get().list_index()];
                    if list.last() == Some(&position) {
                        return;
                    }
                    // Grown by a quarter, not doubled: the postings are most of the index, and
                    // doubling would leave a third of it unused on average.
                    if list.len() == list.capacity() {
                        list.reserve_exact(list.len() / 4 + 2);
                    }
                    list.push(position);
                }
            },
        }
    }

    fn remove(&mut self, key: Key, position: u32) {
        let Some(slot) = self.keys.get_mut(&key) else {
            debug_assert!(false, "search index out of step: no key for {position}");
            return;
        };
        if let Some(lone) = slot.as_lone() {
            debug_assert_eq!(lone, position, "search index out of step");
            self.keys.remove(&key);
            return;
        }
        let index = slot.list_index();
        let newest = index + 1 == self.lists.len();
        let list = &mut self.lists[index];
        let popped = list.pop();
        debug_assert_eq!(popped, Some(position), "search index out of step");
        // Only the newest list can go without moving another; pops come in the reverse order
        // of pushes, so a list back to one position is always the newest. Were it not, it
        // would stay a list of one, still correct.
        if list.len() == 1 && newest {
            *slot = Slot::lone(list[0]);
            self.lists.pop();
        }
    }

    fn postings(&self, key: Key) -> Option<Postings<'_>> {
        let slot = *self.keys.get(&key)?;
        Some(match slot.as_lone() {
            Some(position) => Postings::Lone([position]),
            None => Postings::List(&self.lists[slot.list_index()]),
        })
    }
}

/// The keys of `message` in the order met, repeats included: its words', its scope's and its
/// sender's.
fn keys_of(message: &Message, keys: &mut Vec<Key>) {
    for_each_word_key(&message.content, |key| keys.push(key));
    keys.push(scope_key(message.topic_id.as_deref()));
    keys.push(sender_key(&message.from));
}

/// Calls `each` with the key of every word of `text`, in order: `words(text).map(word_key)`,
/// a byte at a time while the text is ASCII (most of it, in a coding room), and a character at
/// a time in a word that is not, which is what keeps a large history's load fast.
fn for_each_word_key(text: &str, mut each: impl FnMut(Key)) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at].is_ascii() {
            if !bytes[at].is_ascii_alphanumeric() {
                at += 1;
                continue;
            }
            let start = at;
            let mut hash = WordHash::new();
            while at < bytes.len() && bytes[at].is_ascii_alphanumeric() {
                hash.byte(bytes[at].to_ascii_lowercase());
                at += 1;
            }
            if bytes.get(at).is_none_or(u8::is_ascii) {
                each(hash.key());
                continue;
            }
            // A character beyond ASCII follows: the word may go on, so it is read again as
            // characters.
            at = start;
        }
        // `at` is on a character boundary: it only ever moves over whole characters.
        let rest = &text[at..];
        let end = rest
            .char_indices()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(rest.len(), |(index, _)| index);
        if end == 0 {
            at += rest.chars().next().map_or(1, char::len_utf8);
        } else {
            each(word_key(&rest[..end]));
            at += end;
        }
    }
}

fn indexable(position: usize) -> Option<u32> {
    (position <= MAX_POSITION).then_some(position as u32)
}

/// The positions in every one of several ascending lists, newest first: a leapfrog join
/// walking down. Each list in turn jumps to its largest position at or below the current
/// target (galloping, so a long list costs the log of what it skips); a position all lists
/// agree on is a hit. With the rarest list first, the work is bounded by the rarest list.
struct Newest<'a> {
    lists: Vec<&'a [u32]>,
    /// For each list, how many of its positions are still to be walked (a prefix).
    ends: Vec<usize>,
    /// The highest position still to be considered; `None` once the walk is over.
    bound: Option<u32>,
}

impl<'a> Newest<'a> {
    fn new(lists: Vec<&'a [u32]>) -> Self {
        Self {
            ends: lists.iter().map(|list| list.len()).collect(),
            bound: (!lists.is_empty()).then_some(u32::MAX),
            lists,
        }
    }
}

impl Iterator for Newest<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let mut target = self.bound?;
        let count = self.lists.len();
        let (mut agreed, mut turn) = (0, 0);
        loop {
            let list = self.lists[turn];
            let end = seek_down(list, self.ends[turn], target);
            self.ends[turn] = end;
            if end == 0 {
                self.bound = None;
                return None;
            }
            let position = list[end - 1];
            if position == target {
                agreed += 1;
            } else {
                (target, agreed) = (position, 1);
            }
            if agreed == count {
                self.bound = target.checked_sub(1);
                return Some(target);
            }
            turn = (turn + 1) % count;
        }
    }
}

/// How many of `list[..end]` (ascending) are at most `target`: the largest such position is
/// at the result minus one. Gallops down from `end`, then searches the last stride.
fn seek_down(list: &[u32], end: usize, target: u32) -> usize {
    if end == 0 || list[end - 1] <= target {
        return end;
    }
    // Invariant: list[high] > target.
    let (mut high, mut stride) = (end - 1, 1);
    loop {
        let low = high.saturating_sub(stride);
        if low == 0 || list[low] <= target {
            return low + list[low..high].partition_point(|&position| position <= target);
        }
        high = low;
        stride *= 2;
    }
}

impl Room {
    /// `search_messages`: the messages matching `query`, newest first, at most `limit`, in the
    /// scope `topic_id` names (blank: the main room; `"*"`: every scope), visible to
    /// `participant` and sent by `from` when those are set. Parameters are checked in the
    /// tool's order.
    pub(super) fn search_messages(
        &self,
        query: &str,
        topic_id: &str,
        participant: &str,
        from: &str,
        limit: i64,
    ) -> Handled {
        let query = Query::parse(query)?;
        let scope = self.search_scope(topic_id)?;
        let participant = optional_name_param("participant", participant)?;
        let from = optional_name_param("from", from)?;
        let limit = limit_param("limit", limit)?;
        let filter = Filter {
            scope,
            participant,
            from,
        };
        let messages = self.messages.search(&query, &filter, limit);
        Ok((Response::Messages(messages), Changes::default()))
    }

    /// The heap the search index holds, in bytes (the daemon logs it at load; the bench
    /// reports it).
    pub fn search_index_bytes(&self) -> usize {
        self.messages.search_index_bytes()
    }

    /// `"*"` is every scope; anything else is a read's scope (blank: the main room; else a
    /// topic that exists, open or closed).
    fn search_scope<'a>(&self, topic_id: &'a str) -> Result<SearchScope<'a>, Refusal> {
        if topic_id.trim() == EVERY_SCOPE {
            return Ok(SearchScope::Every);
        }
        Ok(match self.read_scope(topic_id)? {
            None => SearchScope::Main,
            Some(topic) => SearchScope::Topic(topic),
        })
    }
}

#[cfg(test)]
mod tests {
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
        assert!(indexed.index.keys.is_empty() && indexed.index.lists.is_empty());
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

        fn search(
            query: &str,
            topic_id: &str,
            participant: &str,
            from: &str,
            limit: i64,
        ) -> Request {
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
            let check =
                |room: &mut crate::daemon::room::Room, request: Request, expected: &[u64]| {
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
            let check =
                |room: &mut crate::daemon::room::Room, request: Request, expected: &[u64]| {
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
}
