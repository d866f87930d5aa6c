//! The compact text a hook puts before an agent: the session-start greeting and the digest of
//! the messages just delivered. Pure functions of a [`HookReach`] and the limits, so that every
//! bound is unit-tested without a daemon.

use protocol::{HookReach, Message};

/// Characters of one message's text before it is cut with "…".
pub const TEXT_CHARS: usize = 500;
/// Characters of a whole digest: well below Claude Code's ~10,000-character threshold, past which
/// a hook's output is shown to the model as a file preview instead of in full.
pub const TOTAL_CHARS: usize = 4_000;
/// Characters kept back for the "… and K more" line.
const TAIL_CHARS: usize = 400;

/// The session-start context: who the agent is, who is here, the latest summary and how many
/// messages wait. `None` when the hook found no agent.
pub fn greeting(reach: &HookReach) -> Option<String> {
    if reach.names.is_empty() {
        return None;
    }
    let here = reach
        .participants
        .iter()
        .map(|participant| match participant.role.trim() {
            "" => participant.name.clone(),
            role => format!("{} ({role})", participant.name),
        })
        .collect::<Vec<_>>();
    let here = if here.is_empty() {
        "nobody".to_owned()
    } else {
        here.join(", ")
    };
    let summary = match &reach.latest_summary {
        Some(summary) => format!(
            "{} (by {})",
            cut(&one_line(&summary.content), TEXT_CHARS),
            summary.from
        ),
        None => "none".to_owned(),
    };
    Some(format!(
        "chatroom: you are {}; here now: {here}; latest summary: {summary}; {} wait ({})",
        reach.names.join(", "),
        count(reach.unread_count, "message"),
        read_unread_calls(&reach.names),
    ))
}

/// The digest of the messages the reach delivered, `None` when there are none (the hook then
/// prints nothing at all).
pub fn digest(reach: &HookReach) -> Option<String> {
    digest_within(reach, TEXT_CHARS, TOTAL_CHARS)
}

/// [`digest`] with explicit limits: each text cut to `text_chars`, the whole kept within
/// `total_chars` (counted in characters), the messages that do not fit named by id and sender
/// on the last line, with the undelivered count beyond them.
pub fn digest_within(reach: &HookReach, text_chars: usize, total_chars: usize) -> Option<String> {
    if reach.names.is_empty() || reach.messages.is_empty() {
        return None;
    }
    let total = reach.messages.len() as u64 + reach.more;
    let mut text = format!(
        "chatroom: {} for {} (delivered, still unread: call {} to mark them read):",
        count(total, "new message"),
        reach.names.join(", "),
        read_unread_calls(&reach.names),
    );
    let mut used = text.chars().count();
    let budget = total_chars.saturating_sub(TAIL_CHARS);
    let mut shown = 0;
    for message in &reach.messages {
        let line = line(message, text_chars);
        let len = 1 + line.chars().count();
        if used + len > budget {
            break;
        }
        text.push('\n');
        text.push_str(&line);
        used += len;
        shown += 1;
    }
    let left_out = &reach.messages[shown..];
    if !left_out.is_empty() || reach.more > 0 {
        text.push('\n');
        text.push_str(&tail(
            left_out,
            reach.more,
            total_chars.saturating_sub(used + 1),
        ));
    }
    Some(text)
}

/// `#id from → to [topic]: text`, a person's name marked, the text on one line and cut.
fn line(message: &Message, text_chars: usize) -> String {
    let from = if message.human {
        format!("{} (person)", message.from)
    } else {
        message.from.clone()
    };
    let topic = match &message.topic_id {
        Some(topic) => format!(" [{topic}]"),
        None => String::new(),
    };
    format!(
        "#{} {from} → {}{topic}: {}",
        message.id,
        message.to,
        cut(&one_line(&message.content), text_chars)
    )
}

/// "… and K more: #12 from a, #13 from b …", within `room` characters.
fn tail(left_out: &[Message], more: u64, room: usize) -> String {
    let others = left_out.len() as u64 + more;
    let mut text = format!("… and {others} more");
    let mut separator = ": ";
    let mut complete = true;
    for message in left_out {
        let item = format!("{separator}#{} from {}", message.id, message.from);
        // Keep room for the closing " …".
        if text.chars().count() + item.chars().count() + 2 > room {
            complete = false;
            break;
        }
        text.push_str(&item);
        separator = ", ";
    }
    if !complete || more > 0 {
        text.push_str(" …");
    }
    text
}

/// How the agent marks them read: `read_unread(name="a")`, or one call per name.
fn read_unread_calls(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("read_unread(name=\"{name}\")"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The text with its line breaks as spaces: one message, one line.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max` characters, the last of them "…" when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Participant, Summary};

    fn message(id: u64, from: &str, content: &str) -> Message {
        Message {
            id,
            ts: "2026-12-02T16:00:00Z".into(),
            topic_id: None,
            from: from.into(),
            to: "alice".into(),
            content: content.into(),
            human: false,
        }
    }

    fn reach(messages: Vec<Message>, more: u64) -> HookReach {
        HookReach {
            names: vec!["alice".into()],
            linked_by: "session_id".into(),
            participants: vec![
                Participant {
                    name: "alice".into(),
                    role: "reviewer".into(),
                    joined_at: String::new(),
                    last_seen: String::new(),
                },
                Participant {
                    name: "bob".into(),
                    role: String::new(),
                    joined_at: String::new(),
                    last_seen: String::new(),
                },
            ],
            latest_summary: None,
            unread_count: 3,
            messages,
            more,
        }
    }

    #[test]
    fn nothing_to_deliver_is_no_digest() {
        assert_eq!(digest(&reach(Vec::new(), 0)), None);
        let mut nobody = reach(vec![message(1, "bob", "hi")], 0);
        nobody.names.clear();
        assert_eq!(digest(&nobody), None);
        assert_eq!(greeting(&nobody), None);
    }

    #[test]
    fn a_digest_has_its_header_and_one_line_per_message() {
        let mut person = message(8, "carol", "stop\nthe build");
        person.human = true;
        person.to = "all".into();
        let mut topical = message(9, "bob", "look at store.rs");
        topical.topic_id = Some("store".into());
        let text = digest(&reach(vec![person, topical], 0)).unwrap();
        assert_eq!(
            text,
            "chatroom: 2 new messages for alice (delivered, still unread: call \
             read_unread(name=\"alice\") to mark them read):\n\
             #8 carol (person) → all: stop the build\n\
             #9 bob → alice [store]: look at store.rs"
        );
    }

    #[test]
    fn each_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(2_000);
        let text = digest(&reach(vec![message(1, "bob", &long)], 0)).unwrap();
        let line = text.lines().nth(1).unwrap();
        let body = line.strip_prefix("#1 bob → alice: ").unwrap();
        assert_eq!(body.chars().count(), TEXT_CHARS);
        assert!(body.ends_with('…'));
    }

    #[test]
    fn the_whole_stays_within_its_limit_and_names_the_rest() {
        let long = "y".repeat(2_000);
        let messages: Vec<_> = (1..=20).map(|id| message(id, "bob", &long)).collect();
        let text = digest(&reach(messages, 7)).unwrap();
        assert!(
            text.chars().count() <= TOTAL_CHARS,
            "{}",
            text.chars().count()
        );
        assert!(text.starts_with("chatroom: 27 new messages for alice"));
        let last = text.lines().last().unwrap();
        // Lines of ~520 characters: 6 fit in 3,600 after the header.
        let shown = text.lines().count() - 2;
        assert!((5..=7).contains(&shown), "{shown} shown");
        assert!(
            last.starts_with(&format!(
                "… and {} more: #{} from bob",
                27 - shown,
                shown + 1
            )),
            "{last}"
        );
        assert!(last.ends_with(" …"), "{last}");
    }

    #[test]
    fn the_more_count_alone_gets_a_tail() {
        let text = digest(&reach(vec![message(1, "bob", "hi")], 4)).unwrap();
        assert_eq!(text.lines().last(), Some("… and 4 more …"));
    }

    #[test]
    fn a_long_tail_is_itself_bounded() {
        let messages: Vec<_> = (1..=100)
            .map(|id| message(id, "bob", &"z".repeat(300)))
            .collect();
        let text = digest_within(&reach(messages, 0), 300, 1_000).unwrap();
        assert!(text.chars().count() <= 1_000, "{}", text.chars().count());
        assert!(text.lines().last().unwrap().ends_with(" …"));
    }

    #[test]
    fn a_greeting_says_who_where_and_how_many() {
        let mut reach = reach(Vec::new(), 0);
        assert_eq!(
            greeting(&reach).unwrap(),
            "chatroom: you are alice; here now: alice (reviewer), bob; latest summary: none; \
             3 messages wait (read_unread(name=\"alice\"))"
        );
        reach.latest_summary = Some(Summary {
            id: 4,
            ts: String::new(),
            topic_id: None,
            from: "bob".into(),
            scope: "all".into(),
            content: "store done;\nsearch next".into(),
        });
        reach.unread_count = 1;
        let text = greeting(&reach).unwrap();
        assert!(
            text.contains("latest summary: store done; search next (by bob); 1 message wait"),
            "{text}"
        );
    }
}
