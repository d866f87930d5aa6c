//! Which files a pre-tool hook's tool call would edit, read from the call alone (pure, no I/O).
//! Only simple, clearly parseable forms are recognised; anything else yields no paths, so it is allowed.

/// The files an `apply_patch` patch touches: `*** Update File:`, `*** Add File:`, `*** Delete File:`
/// and `*** Move to:` lines, in order, without duplicates.
pub fn patch_paths(patch: &str) -> Vec<String> {
    const HEADS: [&str; 4] = [
        "*** Update File:",
        "*** Add File:",
        "*** Delete File:",
        "*** Move to:",
    ];
    let mut out: Vec<String> = Vec::new();
    for line in patch.lines() {
        // Codex reads a header with its indentation trimmed.
        let line = line.trim();
        for head in HEADS {
            if let Some(rest) = line.strip_prefix(head) {
                let path = rest.trim().to_owned();
                if !path.is_empty() && !out.contains(&path) {
                    out.push(path);
                }
            }
        }
    }
    out
}

/// The files a simple shell command writes: `> F`, `>> F`, `tee F…`, `rm F…`, `mv A B` (both),
/// `cp A B` (the target), `truncate … F`, `sed -i … F`. Pipelines and `&&`/`;` lists are split;
/// quoting, substitutions, globs and variables make a word unparseable and it is skipped.
pub fn shell_paths(command: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |w: &str, out: &mut Vec<String>| {
        if plain(w) && !out.iter().any(|o| o == w) {
            out.push(w.to_owned());
        }
    };
    for part in segments(command) {
        let words: Vec<&str> = part.iter().map(String::as_str).collect();
        let mut args: Vec<&str> = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            if w == ">" || w == ">>" {
                if let Some(t) = words.get(i + 1) {
                    push(t, &mut out);
                }
                i += 2;
                continue;
            }
            if let Some(t) = w.strip_prefix(">>").or_else(|| w.strip_prefix('>')) {
                push(t, &mut out);
                i += 1;
                continue;
            }
            args.push(w);
            i += 1;
        }
        let Some((&cmd, rest)) = args.split_first() else {
            continue;
        };
        let operands: Vec<&str> = rest
            .iter()
            .copied()
            .filter(|a| !a.starts_with('-'))
            .collect();
        match cmd {
            "truncate" => {
                // -s SIZE / -r FILE take a value; only `--size=N` forms keep the operands clean
                let mut skip_next = false;
                for a in rest {
                    if skip_next {
                        skip_next = false;
                    } else if *a == "-s" || *a == "-r" {
                        skip_next = true;
                    } else if !a.starts_with('-') {
                        push(a, &mut out);
                    }
                }
            }
            "tee" | "rm" | "mv" => operands.iter().for_each(|a| push(a, &mut out)),
            "cp" if operands.len() >= 2 => push(operands[operands.len() - 1], &mut out),
            "sed"
                if rest
                    .iter()
                    .any(|a| a.starts_with("-i") || *a == "--in-place") =>
            {
                // the first operand is the script unless -e/-f gave it
                let scripted = rest.iter().any(|a| *a == "-e" || *a == "-f");
                let skip = usize::from(!scripted);
                operands.iter().skip(skip).for_each(|a| push(a, &mut out));
            }
            _ => {}
        }
    }
    out
}

/// The simple commands of `command`: split at `;`, `|`, `&&`, `||` and newlines outside quotes,
/// each into its words. A quoted span stays in its word with its quotes, so that a quoted word is
/// one word (`sed -i 's/a b/c/' f` has three) and never taken for a path ([`plain`]).
fn segments(command: &str) -> Vec<Vec<String>> {
    let mut segments = vec![Vec::new()];
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = command.chars().peekable();
    let end_word = |word: &mut String, segments: &mut Vec<Vec<String>>| {
        if !word.is_empty() {
            let last = segments.len() - 1;
            segments[last].push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(open), _) if c == open => {
                quote = None;
                word.push(c);
            }
            (Some(_), _) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.push(c);
            }
            (None, ';' | '|' | '\n') => {
                end_word(&mut word, &mut segments);
                segments.push(Vec::new());
            }
            (None, '&') if chars.peek() == Some(&'&') => {
                chars.next();
                end_word(&mut word, &mut segments);
                segments.push(Vec::new());
            }
            (None, c) if c.is_whitespace() => end_word(&mut word, &mut segments),
            (None, c) => word.push(c),
        }
    }
    end_word(&mut word, &mut segments);
    segments
}

/// A word taken literally: no quoting, expansion or glob characters.
fn plain(word: &str) -> bool {
    !word.is_empty()
        && !word.contains([
            '\'', '"', '$', '`', '*', '?', '[', '(', ')', '{', '}', '&', '<', '\\',
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_paths_reads_every_header() {
        let patch = "*** Begin Patch\n*** Update File: src/store.rs\n@@\n-a\n+b\n*** Move to: src/new.rs\n*** Add File: a.txt\n+x\n*** Delete File: old.rs\n*** End Patch\n";
        assert_eq!(
            patch_paths(patch),
            ["src/store.rs", "src/new.rs", "a.txt", "old.rs"]
        );
    }

    #[test]
    fn shell_paths_recognises_the_simple_forms() {
        assert_eq!(shell_paths("echo hi > src/store.rs"), ["src/store.rs"]);
        assert_eq!(shell_paths("echo hi >>src/a.rs"), ["src/a.rs"]);
        assert_eq!(shell_paths("cat x | tee -a out.txt"), ["out.txt"]);
        assert_eq!(shell_paths("rm -f a.rs b.rs"), ["a.rs", "b.rs"]);
        assert_eq!(shell_paths("mv a.rs b.rs"), ["a.rs", "b.rs"]);
        assert_eq!(shell_paths("cp a.rs b.rs"), ["b.rs"]);
        assert_eq!(shell_paths("truncate -s 0 log.txt"), ["log.txt"]);
        assert_eq!(shell_paths("sed -i s/a/b/ src/store.rs"), ["src/store.rs"]);
        assert_eq!(shell_paths("cd x && rm y.rs"), ["y.rs"]);
    }

    #[test]
    fn shell_paths_allows_what_it_cannot_parse() {
        assert!(shell_paths("cargo test").is_empty());
        assert!(shell_paths("echo hi > \"$FILE\"").is_empty());
        assert!(shell_paths("rm src/*.rs").is_empty());
        assert!(shell_paths("sed 's/a/b/' src/store.rs").is_empty());
        assert!(shell_paths("python -c 'open(\"a\",\"w\")'").is_empty());
    }
}
