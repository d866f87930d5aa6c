//! What the MCP client writes to our stdin, made readable for rmcp without losing a request.
//!
//! rmcp drops a line it cannot parse without answering, so a tool call whose JSON carries a lone
//! UTF-16 surrogate escape (`"\ud800"`, which some clients' encoders produce) or bytes that are not
//! UTF-8 would hang the agent until its client times out. Each line is therefore repaired on the
//! way in: such a piece becomes [`INVALID_TEXT`], and the tool then refuses the call with a
//! one-line error naming the problem ([`has_invalid_text`]).

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, DuplexStream};

/// Stands where the client sent text that is not valid Unicode. A noncharacter: it never occurs
/// in text that was meant, so finding it in an argument means the client's text was broken.
pub const INVALID_TEXT: char = '\u{FDD0}';

/// The one-line refusal for a call carrying [`INVALID_TEXT`].
pub const INVALID_TEXT_REFUSAL: &str =
    "an argument is not valid unicode text (a lone surrogate escape or bytes that are not utf-8)";

/// Whether any of `values` carries text the client could not encode.
pub fn has_invalid_text<'a>(values: impl IntoIterator<Item = &'a String>) -> bool {
    values.into_iter().any(|value| value.contains(INVALID_TEXT))
}

/// Copies `input` to the returned stream line by line, repairing each line with [`repair_line`].
/// The copy ends (and rmcp sees end of input) when `input` does.
pub fn repaired<R: AsyncRead + Unpin + Send + 'static>(input: R) -> DuplexStream {
    let (mut inner, outer) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        let mut line = Vec::new();
        loop {
            line.clear();
            match input.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let repaired = repair_line(&line);
            if inner.write_all(repaired.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = inner.shutdown().await;
    });
    outer
}

/// `line` with bytes that are not UTF-8 and JSON escapes of lone surrogates replaced by
/// [`INVALID_TEXT`]. A valid line comes back unchanged.
pub fn repair_line(line: &[u8]) -> String {
    let text = match std::str::from_utf8(line) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => {
            let mut text = String::with_capacity(line.len());
            for chunk in line.utf8_chunks() {
                text.push_str(chunk.valid());
                // One marker for a run of bad bytes, however the decoder splits it.
                let run_continues = chunk.valid().is_empty() && text.ends_with(INVALID_TEXT);
                if !chunk.invalid().is_empty() && !run_continues {
                    text.push(INVALID_TEXT);
                }
            }
            std::borrow::Cow::Owned(text)
        }
    };
    if !text.contains("\\u") && !text.contains("\\U") {
        return text.into_owned();
    }
    replace_lone_surrogates(&text)
}

/// Replaces `\uD800`–`\uDFFF` escapes that are not a high-low pair with the JSON escape of
/// [`INVALID_TEXT`]. Escaped backslashes (`\\ud800` is text, not an escape) are respected.
fn replace_lone_surrogates(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    let surrogate = |at: usize| -> Option<u16> {
        let digits = text.get(at + 2..at + 6)?;
        if bytes.get(at) != Some(&b'\\') || !matches!(bytes.get(at + 1), Some(b'u' | b'U')) {
            return None;
        }
        let value = u16::from_str_radix(digits, 16).ok()?;
        (0xD800..=0xDFFF).contains(&value).then_some(value)
    };
    while index < bytes.len() {
        if bytes[index] == b'\\' {
            if let Some(value) = surrogate(index) {
                let paired = (0xD800..0xDC00).contains(&value)
                    && surrogate(index + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low));
                if paired {
                    out.push_str(&text[index..index + 12]);
                    index += 12;
                } else {
                    out.push_str("\\ufdd0");
                    index += 6;
                }
                continue;
            }
            // Any other escape (including `\\`) is copied whole, so its second character is
            // never taken for the start of another escape.
            let end = (index + 2).min(bytes.len());
            out.push_str(&text[index..end]);
            index = end;
            continue;
        }
        let next = text[index..]
            .find('\\')
            .map_or(bytes.len(), |offset| index + offset);
        out.push_str(&text[index..next]);
        index = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_lines_pass_unchanged() {
        for line in [
            "{\"a\":\"plain\"}\n",
            "{\"a\":\"\\ud83d\\ude00 paired\"}\n",
            "{\"a\":\"\\\\ud800 is text\"}\n",
            "{\"a\":\"caf\\u00e9 \\n\\\"\"}\n",
            "{\"a\":\"é 😀\"}",
        ] {
            assert_eq!(repair_line(line.as_bytes()), line, "{line}");
        }
    }

    #[test]
    fn lone_surrogates_and_bad_bytes_become_the_marker() {
        let repaired =
            repair_line(b"{\"a\":\"x\\ud800y\",\"b\":\"\\udc00\",\"c\":\"\\ud800\\u0041\"}\n");
        assert_eq!(
            repaired,
            "{\"a\":\"x\\ufdd0y\",\"b\":\"\\ufdd0\",\"c\":\"\\ufdd0\\u0041\"}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&repaired).expect("now valid JSON");
        assert!(value["a"].as_str().unwrap().contains(INVALID_TEXT));

        let repaired = repair_line(b"{\"a\":\"bad \xff\xfe bytes\"}\n");
        let value: serde_json::Value = serde_json::from_str(&repaired).expect("valid JSON");
        assert_eq!(
            value["a"].as_str().unwrap(),
            format!("bad {INVALID_TEXT} bytes")
        );
        assert!(has_invalid_text([&value["a"].as_str().unwrap().to_owned()]));
    }
}
