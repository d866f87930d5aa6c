//! The inverted index itself: each word's 32-bit key and its postings (a lone position inline,
//! or an ascending list), the scope and sender keys beside the words, and the newest-first walk
//! that intersects postings, rarest first, handing each candidate to the query to confirm.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use protocol::Message;

use super::{Filter, Key, MAX_POSITION, Query, SearchScope, folded};

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
pub(super) fn word_key(word: &str) -> Key {
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
pub(in crate::daemon::room) struct SearchIndex {
    keys: HashMap<Key, Slot, BuildHasherDefault<KeyHasher>>,
    lists: Vec<Vec<u32>>,
    /// The keys of the message being pushed or popped; kept to save an allocation per message
    /// (always empty between calls).
    scratch: Vec<Key>,
}

impl SearchIndex {
    /// Whether the index holds no key and no list at all (as a new one).
    #[cfg(test)]
    pub(super) fn holds_nothing(&self) -> bool {
        self.keys.is_empty() && self.lists.is_empty()
    }

    /// Indexes `message`, which sits at `position`, above every position indexed so far.
    pub(in crate::daemon::room) fn push(&mut self, message: &Message, position: usize) {
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
    pub(in crate::daemon::room) fn pop(&mut self, message: &Message, position: usize) {
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
    pub(in crate::daemon::room) fn heap_bytes(&self) -> usize {
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
    pub(in crate::daemon::room) fn search(
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
pub(super) fn for_each_word_key(text: &str, mut each: impl FnMut(Key)) {
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
pub(super) struct Newest<'a> {
    lists: Vec<&'a [u32]>,
    /// For each list, how many of its positions are still to be walked (a prefix).
    ends: Vec<usize>,
    /// The highest position still to be considered; `None` once the walk is over.
    bound: Option<u32>,
}

impl<'a> Newest<'a> {
    pub(super) fn new(lists: Vec<&'a [u32]>) -> Self {
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
pub(super) fn seek_down(list: &[u32], end: usize, target: u32) -> usize {
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
