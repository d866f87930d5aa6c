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

mod index;
#[cfg(test)]
mod tests;

use protocol::{Message, Refusal, Response};

use super::index::is_visible_to;
use super::params::{limit_param, optional_name_param};
use super::{Changes, EVERY_SCOPE, Handled, Room};

pub(super) use index::SearchIndex;

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
