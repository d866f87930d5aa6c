//! Claim patterns: repository-relative paths and git-wildmatch globs, what they match, and
//! whether two of them could ever match a common file.
//!
//! # Semantics
//! A pattern is git wildmatch with `WM_PATHNAME` (as in `git ls-files ':(glob)pattern'`):
//! `*` is any run of characters but '/', `?` one character but '/', `[...]` a class (ranges
//! `a-z`, negation `[!...]` or `[^...]`, a `]` first is literal, `\` escapes) that never matches
//! '/', and `\x` is a literal `x`. A whole segment of two or more stars is `**`: zero or more
//! whole directories before or between segments (`**/x`, `a/**/x`), one or more segments at the
//! end (`a/**`); `**` alone is everything. Stars inside a segment (`a**b`) are one `*`.
//!
//! A claim covers a directory's contents: `P` matches a path `X` iff `P` wildmatches `X` or a
//! proper segment-prefix of `X` (`src` covers `src/x/y`, `src/*` covers `src/d/f`). Hence a
//! trailing `**` behaves exactly like a trailing `*`, and is compiled as one.
//!
//! Paths are the normalised ones [`normalise_path`] yields: non-empty, '/'-separated, with no
//! empty, `.` or `..` segment. Characters are Unicode scalar values compared exactly: no case
//! folding and no Unicode normalisation (on a case-insensitive file system `Src/a` and `src/a`
//! are one file but do not overlap as claims).
//!
//! # Algorithm
//! A pattern compiles to a list of segments, each `**` or a name pattern: a list of tokens, each
//! a `*` or a set of characters (a literal, `?` or a class, all as sorted disjoint ranges of
//! code points, '/' and surrogates excluded). Matching runs two NFA simulations: over the path's
//! segments (states = pattern segment indices) and, per segment, over its characters (states =
//! token indices). Cost is O(|pattern| * |path|) in the worst case; nothing backtracks.
//!
//! Overlap is decided exactly by reachability in a product automaton. At the segment level the
//! states are pairs of segment indices; each side's accepting state loops on any segment (the
//! directory rule), so reaching (accept, accept) means some path is covered by both. A product
//! step consumes one segment on both sides and is allowed iff the two name patterns share a
//! valid segment name: that is again a reachability search, over (token, token, tracker), where
//! a step consumes one character from the intersection of the two sides' sets and the tracker
//! records whether the name so far is empty, `.`, `..` or anything else (only the last may end
//! a segment). Sets are intersected as range lists, so the alphabet needs no "fresh character"
//! trick and the answer is exact. Cost is O(|P| * |Q|) states.

use std::cmp::Ordering;

/// The longest pattern accepted, in bytes.
const MAX_PATTERN_BYTES: usize = 4096;
/// Every character a path segment may hold: all Unicode scalar values except '/'.
const UNIVERSE: &[(u32, u32)] = &[(0, 0x2E), (0x30, 0xD7FF), (0xE000, 0x10_FFFF)];
const DOT: u32 = '.' as u32;
/// The name pattern of "any segment" (a `**` loop, or what lies below an accepted directory).
const ANY_NAME: &[Tok] = &[Tok::Star];

/// A set of characters, as sorted, disjoint, non-adjacent ranges of code points within
/// [`UNIVERSE`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct CharSet(Vec<(u32, u32)>);

impl CharSet {
    fn single(c: char) -> CharSet {
        CharSet(vec![(c as u32, c as u32)])
    }

    fn universe() -> CharSet {
        CharSet(UNIVERSE.to_vec())
    }

    /// The set a `[...]` class denotes; reversed ranges (`z-a`) are empty, as in git.
    fn class(negated: bool, mut ranges: Vec<(u32, u32)>) -> CharSet {
        ranges.retain(|&(lo, hi)| lo <= hi);
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        if negated {
            let mut complement = Vec::with_capacity(merged.len() + 1);
            let mut next = 0u32;
            for &(lo, hi) in &merged {
                if lo > next {
                    complement.push((next, lo - 1));
                }
                next = hi + 1;
            }
            if next <= 0x10_FFFF {
                complement.push((next, 0x10_FFFF));
            }
            merged = complement;
        }
        let mut out = Vec::with_capacity(merged.len() + 2);
        for_each_common(&merged, UNIVERSE, |lo, hi| out.push((lo, hi)));
        CharSet(out)
    }

    fn contains(&self, c: char) -> bool {
        let c = c as u32;
        self.0
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    Ordering::Less
                } else if lo > c {
                    Ordering::Greater
                } else {
                    Ordering::Equal
                }
            })
            .is_ok()
    }
}

/// Calls `f` on every non-empty intersection of a range of `a` with a range of `b`.
fn for_each_common(a: &[(u32, u32)], b: &[(u32, u32)], mut f: impl FnMut(u32, u32)) {
    let (mut i, mut j) = (0, 0);
    while let (Some(&(alo, ahi)), Some(&(blo, bhi))) = (a.get(i), b.get(j)) {
        let (lo, hi) = (alo.max(blo), ahi.min(bhi));
        if lo <= hi {
            f(lo, hi);
        }
        if ahi < bhi {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// One token of a name pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Tok {
    /// Exactly one character of the set.
    Set(CharSet),
    /// Any run of characters (within a segment).
    Star,
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Seg {
    /// A non-trailing `**`: zero or more whole segments.
    DoubleStar,
    /// Exactly one segment matching the name pattern.
    Name(Vec<Tok>),
}

/// A validated, normalised claim pattern (repository-relative, '/'-separated).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Pattern {
    /// The normalised text; the rest is compiled from it, so ordering is by text.
    text: String,
    segs: Vec<Seg>,
    literal: bool,
}

/// A segment as the tokeniser found it, before normalisation.
#[derive(Default)]
struct RawSeg {
    text: String,
    toks: Vec<Tok>,
    stars: usize,
    /// The literal value, meaningful only when `!glob`.
    lit: String,
    glob: bool,
}

impl Pattern {
    /// Parses and validates a claimed path or glob, normalising it: leading `./` and inner `.`
    /// segments go, repeated and trailing '/' collapse, a segment of stars only becomes `**`.
    /// Refused: empty, longer than 4096 bytes, NUL, absolute (`/x`, `C:/x`, `C:\x`), any `..`
    /// segment, the root itself (`.`, `./`), an unclosed `[`, '/' inside `[...]`, a POSIX
    /// `[:name:]` class (unsupported) and a trailing lone `\`.
    pub(crate) fn parse(input: &str) -> Result<Pattern, String> {
        if input.is_empty() {
            return Err(format!("path {input:?} is empty"));
        }
        if input.len() > MAX_PATTERN_BYTES {
            let head: String = input.chars().take(40).collect();
            return Err(format!(
                "path {head:?}... is longer than {MAX_PATTERN_BYTES} bytes"
            ));
        }
        if input.contains('\0') {
            return Err(format!("path {input:?} contains a NUL character"));
        }
        let b = input.as_bytes();
        let drive = b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && matches!(b[2], b'/' | b'\\');
        if input.starts_with('/') || drive {
            return Err(format!(
                "path {input:?} is absolute; claim a path inside the repository"
            ));
        }
        let mut texts: Vec<String> = Vec::new();
        let mut segs = Vec::new();
        let mut literal = true;
        for raw in split_segments(input)? {
            if raw.toks.is_empty() || (!raw.glob && raw.lit == ".") {
                continue;
            }
            if !raw.glob && raw.lit == ".." {
                return Err(if segs.is_empty() {
                    format!("path {input:?} leaves the repository (\"..\")")
                } else {
                    format!("path {input:?} uses \"..\"; write the path without it")
                });
            }
            literal &= !raw.glob;
            if raw.stars >= 2 && raw.toks.len() == 1 {
                texts.push("**".to_owned());
                segs.push(Seg::DoubleStar);
            } else {
                texts.push(raw.text);
                segs.push(Seg::Name(raw.toks));
            }
        }
        match segs.last_mut() {
            None => Err(format!(
                "path {input:?} names the repository root; claim paths inside it"
            )),
            Some(last) => {
                // Under the directory rule a trailing `**` (one or more segments) is a `*`.
                if *last == Seg::DoubleStar {
                    *last = Seg::Name(vec![Tok::Star]);
                }
                Ok(Pattern {
                    text: texts.join("/"),
                    segs,
                    literal,
                })
            }
        }
    }

    /// The normalised text (what is stored and shown), e.g. "src/store.rs", "src/**/*.rs".
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it has no glob metacharacter (no unescaped `*`, `?` or `[`).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "part of the API; no caller needs it yet")
    )]
    pub(crate) fn is_literal(&self) -> bool {
        self.literal
    }

    /// The text before the first wildcard or escape: every path this pattern matches starts
    /// with it.
    fn literal_prefix(&self) -> &str {
        let end = self
            .text
            .find(['*', '?', '[', '\\'])
            .unwrap_or(self.text.len());
        &self.text[..end]
    }

    /// Does this pattern match, or cover as a directory, the normalised repository-relative
    /// path `path` (from [`normalise_path`])? True iff it wildmatches `path` or a proper
    /// segment-prefix of it.
    pub(crate) fn matches(&self, path: &str) -> bool {
        if path.is_empty() || !path.starts_with(self.literal_prefix()) {
            return false;
        }
        let n = self.segs.len();
        let mut cur = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        cur[0] = true;
        self.segment_closure(&mut cur);
        for name in path.split('/') {
            if cur[n] {
                return true;
            }
            next.fill(false);
            let mut alive = false;
            for (i, seg) in self.segs.iter().enumerate() {
                if !cur[i] {
                    continue;
                }
                let to = match seg {
                    Seg::DoubleStar => i,
                    Seg::Name(toks) if name_matches(toks, name) => i + 1,
                    Seg::Name(_) => continue,
                };
                next[to] = true;
                alive = true;
            }
            if !alive {
                return false;
            }
            self.segment_closure(&mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        cur[n]
    }

    /// Adds the states reachable by a `**` matching zero segments.
    fn segment_closure(&self, states: &mut [bool]) {
        for (i, seg) in self.segs.iter().enumerate() {
            if states[i] && *seg == Seg::DoubleStar {
                states[i + 1] = true;
            }
        }
    }

    /// Whether some normalised path is matched by both patterns (symmetric). Exact: there are
    /// no conservative cases. A pattern that matches no valid path (`[.]` matches only ".",
    /// which is never a path segment) overlaps nothing, not even itself.
    pub(crate) fn overlaps(&self, other: &Pattern) -> bool {
        // Fast paths, exact, for a room of many claims: every path either matches starts with
        // its literal prefix, so two patterns whose prefixes diverge share none; two plain
        // paths overlap when equal or one is a directory of the other.
        let (mine, theirs) = (self.literal_prefix(), other.literal_prefix());
        if !(mine.starts_with(theirs) || theirs.starts_with(mine)) {
            return false;
        }
        if mine.len() == self.text.len() && theirs.len() == other.text.len() {
            let within = |inner: &str, outer: &str| {
                inner
                    .strip_prefix(outer)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            };
            return within(mine, theirs) || within(theirs, mine);
        }
        let (n, m) = (self.segs.len(), other.segs.len());
        let mut seen = Bits::new((n + 1) * (m + 1));
        let mut stack = vec![(0, 0)];
        seen.insert(0);
        let mut visit = |stack: &mut Vec<(usize, usize)>, i: usize, j: usize| {
            if seen.insert(i * (m + 1) + j) {
                stack.push((i, j));
            }
        };
        while let Some((i, j)) = stack.pop() {
            if i == n && j == m {
                return true;
            }
            if self.segs.get(i) == Some(&Seg::DoubleStar) {
                visit(&mut stack, i + 1, j);
            }
            if other.segs.get(j) == Some(&Seg::DoubleStar) {
                visit(&mut stack, i, j + 1);
            }
            let (a, i2) = segment_move(&self.segs, i);
            let (b, j2) = segment_move(&other.segs, j);
            if names_intersect(a, b) {
                visit(&mut stack, i2, j2);
            }
        }
        false
    }
}

/// The one segment-consuming move from segment state `i`: its name pattern and next state.
/// The accepting state and a `**` loop on any segment.
fn segment_move(segs: &[Seg], i: usize) -> (&[Tok], usize) {
    match segs.get(i) {
        None | Some(Seg::DoubleStar) => (ANY_NAME, i),
        Some(Seg::Name(toks)) => (toks, i + 1),
    }
}

/// Splits the raw input into segments at '/' (and `\/`), tokenising each.
fn split_segments(input: &str) -> Result<Vec<RawSeg>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut cur = RawSeg::default();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '/' => out.push(std::mem::take(&mut cur)),
            '\\' => {
                let Some(&d) = chars.get(i) else {
                    return Err(format!(
                        "path {input:?} ends with an unfinished escape '\\'"
                    ));
                };
                i += 1;
                if d == '/' {
                    out.push(std::mem::take(&mut cur));
                } else {
                    cur.text.push('\\');
                    cur.text.push(d);
                    cur.lit.push(d);
                    cur.toks.push(Tok::Set(CharSet::single(d)));
                }
            }
            '*' => {
                cur.text.push('*');
                cur.glob = true;
                cur.stars += 1;
                if cur.toks.last() != Some(&Tok::Star) {
                    cur.toks.push(Tok::Star);
                }
            }
            '?' => {
                cur.text.push('?');
                cur.glob = true;
                cur.toks.push(Tok::Set(CharSet::universe()));
            }
            '[' => {
                let (set, end) = parse_class(input, &chars, i)?;
                cur.text.extend(&chars[i - 1..end]);
                cur.glob = true;
                cur.toks.push(Tok::Set(set));
                i = end;
            }
            _ => {
                cur.text.push(c);
                cur.lit.push(c);
                cur.toks.push(Tok::Set(CharSet::single(c)));
            }
        }
    }
    out.push(cur);
    Ok(out)
}

/// Parses a class whose '[' is just before `start`; returns its set and the index after ']'.
fn parse_class(input: &str, chars: &[char], start: usize) -> Result<(CharSet, usize), String> {
    let unclosed = || format!("path {input:?} has an unclosed '['");
    let slash = || format!("path {input:?} has '/' inside '[...]'; a class never matches '/'");
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut lo = *chars.get(i).ok_or_else(unclosed)?;
        i += 1;
        match lo {
            ']' if !first => break,
            '/' => return Err(slash()),
            '[' if chars.get(i) == Some(&':') => {
                return Err(format!(
                    "path {input:?} uses a POSIX class ('[:name:]'), which claims do not support"
                ));
            }
            '\\' => {
                lo = *chars.get(i).ok_or_else(unclosed)?;
                i += 1;
                if lo == '/' {
                    return Err(slash());
                }
            }
            _ => {}
        }
        first = false;
        let mut hi = lo;
        let range_end = match (chars.get(i), chars.get(i + 1)) {
            (Some('-'), Some(&end)) if end != ']' => Some(end),
            _ => None,
        };
        if let Some(end) = range_end {
            i += 2;
            hi = end;
            if hi == '\\' {
                hi = *chars.get(i).ok_or_else(unclosed)?;
                i += 1;
            }
            if hi == '/' {
                return Err(slash());
            }
        }
        ranges.push((lo as u32, hi as u32));
    }
    Ok((CharSet::class(negated, ranges), i))
}

/// NFA simulation of a name pattern over one segment.
fn name_matches(toks: &[Tok], name: &str) -> bool {
    let mut cur = vec![false; toks.len() + 1];
    let mut next = vec![false; toks.len() + 1];
    cur[0] = true;
    star_closure(toks, &mut cur);
    for c in name.chars() {
        next.fill(false);
        let mut alive = false;
        for (t, tok) in toks.iter().enumerate() {
            if !cur[t] {
                continue;
            }
            match tok {
                Tok::Star => next[t] = true,
                Tok::Set(set) if set.contains(c) => next[t + 1] = true,
                Tok::Set(_) => continue,
            }
            alive = true;
        }
        if !alive {
            return false;
        }
        star_closure(toks, &mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    cur[toks.len()]
}

/// Adds the states reachable by a `*` matching nothing.
fn star_closure(toks: &[Tok], states: &mut [bool]) {
    for (t, tok) in toks.iter().enumerate() {
        if states[t] && *tok == Tok::Star {
            states[t + 1] = true;
        }
    }
}

/// The one character-consuming move from token state `t`: the set and the next state.
fn char_move(toks: &[Tok], t: usize) -> Option<(&[(u32, u32)], usize)> {
    match toks.get(t)? {
        Tok::Star => Some((UNIVERSE, t)),
        Tok::Set(set) => Some((&set.0, t + 1)),
    }
}

/// Whether some valid segment name (non-empty, not "." nor "..") matches both name patterns.
/// The tracker: 0 = nothing read, 1 = ".", 2 = "..", 3 = any other non-empty name.
fn names_intersect(a: &[Tok], b: &[Tok]) -> bool {
    let width = b.len() + 1;
    let index = |s: usize, t: usize, tr: usize| (s * width + t) * 4 + tr;
    let mut seen = Bits::new((a.len() + 1) * width * 4);
    let mut stack = vec![(0, 0, 0)];
    seen.insert(0);
    let mut visit = |stack: &mut Vec<(usize, usize, usize)>, s: usize, t: usize, tr: usize| {
        if seen.insert(index(s, t, tr)) {
            stack.push((s, t, tr));
        }
    };
    while let Some((s, t, tr)) = stack.pop() {
        if s == a.len() && t == b.len() && tr == 3 {
            return true;
        }
        if a.get(s) == Some(&Tok::Star) {
            visit(&mut stack, s + 1, t, tr);
        }
        if b.get(t) == Some(&Tok::Star) {
            visit(&mut stack, s, t + 1, tr);
        }
        let (Some((x, s2)), Some((y, t2))) = (char_move(a, s), char_move(b, t)) else {
            continue;
        };
        let (mut dot, mut other) = (false, false);
        for_each_common(x, y, |lo, hi| {
            dot |= (lo..=hi).contains(&DOT);
            other |= lo != DOT || hi != DOT;
        });
        if dot {
            visit(&mut stack, s2, t2, [1, 2, 3, 3][tr]);
        }
        if other {
            visit(&mut stack, s2, t2, 3);
        }
    }
    false
}

/// A fixed-size bit set of visited search states.
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }

    /// Sets bit `i`; true if it was clear.
    fn insert(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }
}

/// Normalises a path an agent is about to edit to be relative to the repository root. `root`
/// and `cwd` are absolute; `path` is absolute or relative to `cwd`. "." and ".." are resolved
/// lexically (no file system access, so symlinks are not followed; ".." at '/' stays at '/').
/// None if the result is the root itself or outside it: claims never block such edits.
pub(crate) fn normalise_path(root: &str, cwd: &str, path: &str) -> Option<String> {
    let root = resolve(Vec::new(), root);
    let base = if path.starts_with('/') {
        Vec::new()
    } else {
        resolve(Vec::new(), cwd)
    };
    let full = resolve(base, path);
    if full.len() <= root.len() || full[..root.len()] != root[..] {
        return None;
    }
    Some(full[root.len()..].join("/"))
}

/// Pushes `path`'s segments onto `stack`, resolving "." and "..".
fn resolve<'a>(mut stack: Vec<&'a str>, path: &'a str) -> Vec<&'a str> {
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            seg => stack.push(seg),
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        match Pattern::parse(s) {
            Ok(pattern) => pattern,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn refused(s: &str) -> String {
        match Pattern::parse(s) {
            Ok(pattern) => panic!("{s:?} should be refused, got {pattern:?}"),
            Err(e) => e,
        }
    }

    fn overlap(a: &str, b: &str) -> bool {
        let (a, b) = (p(a), p(b));
        let (ab, ba) = (a.overlaps(&b), b.overlaps(&a));
        assert_eq!(ab, ba, "overlap of {a:?} and {b:?} is not symmetric");
        ab
    }

    #[test]
    fn parse_refusals() {
        assert_eq!(refused(""), r#"path "" is empty"#);
        assert_eq!(
            refused("/etc/passwd"),
            r#"path "/etc/passwd" is absolute; claim a path inside the repository"#
        );
        assert!(refused("C:\\x").contains("is absolute"));
        assert!(refused("c:/x").contains("is absolute"));
        assert_eq!(
            refused("../x"),
            r#"path "../x" leaves the repository ("..")"#
        );
        assert!(refused("./..").contains("leaves the repository"));
        assert_eq!(
            refused("a/../b"),
            r#"path "a/../b" uses ".."; write the path without it"#
        );
        assert!(refused("a/\\.\\.").contains("\"..\""));
        for root in [".", "./", ".//.", "./."] {
            assert!(
                refused(root).ends_with("names the repository root; claim paths inside it"),
                "{root}"
            );
        }
        assert_eq!(refused("src/[a"), r#"path "src/[a" has an unclosed '['"#);
        for unclosed in ["[", "[]", "[!]", "[a-", "[\\", "[a\\"] {
            assert!(refused(unclosed).contains("unclosed '['"), "{unclosed}");
        }
        assert!(refused("a\0b").contains("NUL"));
        assert!(refused(&"a".repeat(4097)).contains("is longer than 4096 bytes"));
        assert!(Pattern::parse(&"a".repeat(4096)).is_ok());
        assert!(refused("[a/b]").contains("'/' inside"));
        assert!(refused("[[:alpha:]]").contains("POSIX class"));
        assert!(refused("a\\").contains("unfinished escape"));
        assert!(!refused("bad\nname[").contains('\n'), "errors are one line");
    }

    #[test]
    fn parse_normalises() {
        let cases = [
            ("./src//a.rs/", "src/a.rs"),
            ("src/./a", "src/a"),
            ("././a//b///", "a/b"),
            ("src/", "src"),
            ("**", "**"),
            ("./**/", "**"),
            ("a/***/b", "a/**/b"),
            ("a**b", "a**b"),
            ("a\\/b", "a/b"),
            ("\\*x", "\\*x"),
            ("[]a]/[!]]", "[]a]/[!]]"),
            ("C:x", "C:x"),
        ];
        for (input, want) in cases {
            let pattern = p(input);
            assert_eq!(pattern.as_str(), want, "{input}");
            assert_eq!(
                p(pattern.as_str()),
                pattern,
                "normalising {input} is idempotent"
            );
        }
        assert!(p("src/a.rs").is_literal());
        assert!(p("\\*\\?\\[").is_literal());
        for glob in ["*", "a?", "[a]", "**", "a/**/b"] {
            assert!(!p(glob).is_literal(), "{glob}");
        }
    }

    #[test]
    fn matches_wildmatch() {
        let yes = [
            ("src/a.rs", "src/a.rs"),
            ("*.rs", "a.rs"),
            ("*.rs", ".rs"),
            ("src/*.rs", "src/main.rs"),
            ("?.rs", "a.rs"),
            ("?.rs", "é.rs"),
            ("[a-c]x", "bx"),
            ("[!a-c]x", "dx"),
            ("[^a]x", "bx"),
            ("[]]x", "]x"),
            ("[\\]]x", "]x"),
            ("[a-]", "-"),
            ("\\*", "*"),
            ("\\a", "a"),
            ("**/x", "x"),
            ("**/x", "a/b/x"),
            ("a/**/b", "a/b"),
            ("a/**/b", "a/x/y/b"),
            ("a/**", "a/x"),
            ("a/**", "a/x/y"),
            ("**", "anything/at/all"),
            ("a**b", "axxb"),
            ("*a*a*b", "aaab"),
        ];
        for (pattern, path) in yes {
            assert!(p(pattern).matches(path), "{pattern} should match {path}");
        }
        let no = [
            ("*.rs", "src/a.rs"),
            ("?.rs", "ab.rs"),
            ("?", ""),
            ("[a-c]x", "dx"),
            ("[!a-c]x", "ax"),
            ("[z-a]", "m"),
            ("\\*", "a"),
            ("a/**/b", "a/xb"),
            ("a/**", "a"),
            ("a**b", "a/b"),
            ("**/x", "ax"),
            ("src", "srcx/y"),
            ("src/a.rs", "src/a.rs.bak"),
            ("src/a.rs", "src/a.rsx"),
            ("src/a.rs", "src"),
        ];
        for (pattern, path) in no {
            assert!(
                !p(pattern).matches(path),
                "{pattern} should not match {path}"
            );
        }
    }

    #[test]
    fn matches_directory_rule() {
        assert!(p("src").matches("src/a.rs"));
        assert!(p("src/").matches("src/x/y.rs"));
        assert!(p("src/*").matches("src/a.rs"));
        assert!(p("src/*").matches("src/d/f"));
        assert!(p("*.rs").matches("x.rs/inner/file.md"));
        assert!(p("a/**/b").matches("a/q/b/c"));
        assert!(!p("src/*").matches("src"));
    }

    #[test]
    fn overlaps_cases() {
        let cases = [
            ("src/a.rs", "src/a.rs", true),
            ("src", "src/a.rs", true),
            ("src/a", "src/ab", false),
            ("src/a.rs", "src/*.rs", true),
            ("src/a.rs", "*.md", false),
            ("src/a.rs", "*", true),
            ("src/a.rs", "**", true),
            ("a/**", "a", true),
            // `*.rs` matches top-level names only (covering what is under them); every path of
            // `src/*.rs` starts with the segment "src", which does not end in ".rs".
            ("*.rs", "src/*.rs", false),
            ("src/**/*.rs", "src/store/*.rs", true),
            // `a.rs/b.md` is covered by `*.rs`, but no prefix of it is a top-level `*.md` name.
            ("*.rs", "*.md", false),
            ("*.rs", "*", true),
            ("docs/**", "src/**", false),
            ("[ab].rs", "[bc].rs", true),
            ("[a].rs", "[!a].rs", false),
            // A common path's first segment would need length 1 and 2.
            ("?", "??", false),
            ("?", "*", true),
            ("[!a]", "[!b]", true),
            ("**/x", "a/*/x", true),
            ("**/x", "**/y", true),
            ("*/x", "y/*", true),
            ("a*", "*b", true),
            ("a*", "b*", false),
            // `.?` only shares "..", which is never a path segment, with `[.][.]`.
            (".?", "[.][.]", false),
            (".?", ".a", true),
            ("[.]", "*", false),
            ("[.]", "[.]", false),
            ("*a*a*a*b", "*b*b*b*a*", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlap(a, b), want, "overlap({a}, {b})");
        }
    }

    #[test]
    fn normalises_paths() {
        let root = "/repo";
        assert_eq!(
            normalise_path(root, "/repo", "src/a.rs").as_deref(),
            Some("src/a.rs")
        );
        assert_eq!(
            normalise_path(root, "/repo/src", "./a.rs").as_deref(),
            Some("src/a.rs")
        );
        assert_eq!(
            normalise_path(root, "/repo/src", "../docs//x.md").as_deref(),
            Some("docs/x.md")
        );
        assert_eq!(
            normalise_path("/repo/", "/elsewhere", "/repo/a/./b/../c").as_deref(),
            Some("a/c")
        );
        assert_eq!(normalise_path(root, "/repo", ".."), None);
        assert_eq!(normalise_path(root, "/repo", "."), None);
        assert_eq!(normalise_path(root, "/repo/src", ".."), None);
        assert_eq!(normalise_path(root, "/repo", "/etc/passwd"), None);
        assert_eq!(normalise_path(root, "/repo", "../repox/a"), None);
        assert_eq!(
            normalise_path(root, "/", "/../../repo/a").as_deref(),
            Some("a")
        );
    }

    /// Git-style wildmatch over the whole text (with WM_PATHNAME), by plain backtracking.
    fn reference_wildmatch(p: &[char], pi: usize, t: &[char], ti: usize) -> bool {
        let Some(&c) = p.get(pi) else {
            return ti == t.len();
        };
        let here = t.get(ti).copied();
        match c {
            '\\' => here == Some(p[pi + 1]) && reference_wildmatch(p, pi + 2, t, ti + 1),
            '?' => here.is_some_and(|h| h != '/') && reference_wildmatch(p, pi + 1, t, ti + 1),
            '[' => {
                let Some(h) = here.filter(|&h| h != '/') else {
                    return false;
                };
                let mut i = pi + 1;
                let negated = p[i] == '!' || p[i] == '^';
                i += usize::from(negated);
                let (mut hit, mut first) = (false, true);
                loop {
                    let mut lo = p[i];
                    i += 1;
                    if lo == ']' && !first {
                        break;
                    }
                    first = false;
                    if lo == '\\' {
                        lo = p[i];
                        i += 1;
                    }
                    let mut hi = lo;
                    if p[i] == '-' && p[i + 1] != ']' {
                        hi = p[i + 1];
                        i += 2;
                    }
                    hit |= lo <= h && h <= hi;
                }
                hit != negated && reference_wildmatch(p, i, t, ti + 1)
            }
            '*' => {
                let mut k = pi;
                while p.get(k) == Some(&'*') {
                    k += 1;
                }
                let double = k - pi >= 2
                    && (pi == 0 || p[pi - 1] == '/')
                    && matches!(p.get(k), None | Some('/'));
                if double && k == p.len() {
                    return true;
                }
                if double && reference_wildmatch(p, k + 1, t, ti) {
                    return true;
                }
                for end in ti..=t.len() {
                    if reference_wildmatch(p, k, t, end) {
                        return true;
                    }
                    if !double && t.get(end) == Some(&'/') {
                        break;
                    }
                }
                false
            }
            c => here == Some(c) && reference_wildmatch(p, pi + 1, t, ti + 1),
        }
    }

    /// The directory rule over the reference: the whole path or a segment-prefix of it.
    fn reference_matches(pattern: &str, path: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = path.chars().collect();
        (1..=t.len()).any(|end| {
            (end == t.len() || t[end] == '/') && reference_wildmatch(&p, 0, &t[..end], 0)
        })
    }

    const PATTERNS: &[&str] = &[
        "a", "b", "a/b", "a/a", "b/a", "a.b", "*", "?", "??", "*.a", "*.b", ".*", "a*", "*a",
        "*a*", "a?", "?.?", "[ab]", "[!a]", "[!a]*", "[ab]/*", "*/a", "*/*", "a/*", "b/*.a", "**",
        "**/a", "**/b", "a/**", "b/**", "a/**/b", "**/a/b", "*/**/a", "a**b", "**/*.a", "[.]",
        ".?", "a/[!a]", "?/?", "a/b/*", "**/[!a]", "a*b", "[!b]?", "[!ab.]", "?/**/?/?",
    ];

    /// All valid normalised paths over {a, b, c, '.', '/'} up to `max` characters ('c' appears
    /// in no pattern, so it stands for every character the patterns do not name).
    fn all_paths(max: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut layer = vec![String::new()];
        for _ in 0..max {
            let mut grown = Vec::new();
            for s in &layer {
                for c in ['a', 'b', 'c', '.', '/'] {
                    grown.push(format!("{s}{c}"));
                }
            }
            out.extend(
                grown
                    .iter()
                    .filter(|s| s.split('/').all(|seg| !matches!(seg, "" | "." | "..")))
                    .cloned(),
            );
            layer = grown;
        }
        out
    }

    #[test]
    fn brute_force_cross_check() {
        let paths = all_paths(6);
        let patterns: Vec<Pattern> = PATTERNS.iter().map(|s| p(s)).collect();
        let table: Vec<Vec<bool>> = patterns
            .iter()
            .map(|pattern| {
                paths
                    .iter()
                    .map(|path| {
                        let got = pattern.matches(path);
                        assert_eq!(
                            got,
                            reference_matches(pattern.as_str(), path),
                            "{pattern:?} vs {path}"
                        );
                        got
                    })
                    .collect()
            })
            .collect();
        let (mut overlapping, mut unwitnessed) = (0, Vec::new());
        for (i, a) in patterns.iter().enumerate() {
            for (j, b) in patterns.iter().enumerate() {
                let witness = (0..paths.len()).find(|&k| table[i][k] && table[j][k]);
                let got = a.overlaps(b);
                assert!(
                    got || witness.is_none(),
                    "{a:?} and {b:?} share {:?}",
                    witness.map(|k| &paths[k])
                );
                overlapping += usize::from(got);
                if got && witness.is_none() {
                    unwitnessed.push((a.as_str(), b.as_str()));
                }
            }
        }
        eprintln!(
            "{} paths, {overlapping} overlapping ordered pairs, {} without a witness of <= 6 chars",
            paths.len(),
            unwitnessed.len()
        );
        // Those must have a longer witness (e.g. "a.b" and "**/a/b" share "a.b/a/b"): look for
        // it among the paths of 7 and 8 characters, so the decision is checked to be exact.
        let longer: Vec<String> = all_paths(8)
            .into_iter()
            .filter(|path| path.len() > 6)
            .collect();
        for (a, b) in unwitnessed {
            let (pa, pb) = (p(a), p(b));
            let witness = longer
                .iter()
                .find(|path| pa.matches(path) && pb.matches(path));
            assert!(
                witness.is_some(),
                "{a:?} and {b:?} reported overlapping without a witness"
            );
            eprintln!("  {a} / {b}: {witness:?}");
        }
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let pattern = p("*a*a*a*a*a*a*a*a*b");
        assert!(!pattern.matches(&"a".repeat(4000)));
        assert!(pattern.matches(&format!("{}b", "a".repeat(4000))));
        let deep = vec!["a"; 2000].join("/");
        assert!(!p("**/**/**/**/*a*a*b").matches(&deep));
        let long = p(&"a*".repeat(1000));
        assert!(long.overlaps(&p(&"*a".repeat(1000))));
        assert!(!long.overlaps(&p("b*")));
    }
}
