//! The caseIgnore/caseExact prepared form of a string (RFC 4518, simplified): white space trimmed
//! and collapsed, optionally lower-cased, streamed so comparisons need not allocate.

/// The caseIgnore/caseExact prepared form of a value, as a stream of chars: whitespace (any
/// Unicode white space, RFC 4518 maps them to SPACE) trimmed at both ends and collapsed to one
/// space inside, optionally lower-cased. Streaming lets equality compare without allocating.
pub struct Folded<'a> {
    chars: std::str::Chars<'a>,
    lower: bool,
    started: bool,
    pending_space: bool,
    held: Option<char>,
    lowered: Option<std::char::ToLowercase>,
}

impl Iterator for Folded<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        if let Some(l) = &mut self.lowered {
            if let Some(c) = l.next() {
                return Some(c);
            }
            self.lowered = None;
        }
        if let Some(c) = self.held.take() {
            return Some(self.emit(c));
        }
        loop {
            let c = self.chars.next()?;
            if c.is_whitespace() {
                self.pending_space = self.started;
                continue;
            }
            if self.pending_space {
                self.pending_space = false;
                self.held = Some(c);
                return Some(' ');
            }
            self.started = true;
            return Some(self.emit(c));
        }
    }
}

impl Folded<'_> {
    fn emit(&mut self, c: char) -> char {
        if !self.lower {
            return c;
        }
        let mut l = c.to_lowercase();
        match l.next() {
            Some(first) => {
                self.lowered = Some(l);
                first
            }
            None => c,
        }
    }
}

/// Streams the prepared form of `v` (see [`Folded`]).
pub fn fold(v: &str, lower: bool) -> Folded<'_> {
    Folded {
        chars: v.chars(),
        lower,
        started: false,
        pending_space: false,
        held: None,
        lowered: None,
    }
}

/// Whether ASCII `v` is unchanged by `fold`: no leading, trailing or doubled spaces, no other
/// whitespace, and (when folding case) no upper case. A byte scan, much cheaper than `fold`.
pub(super) fn plain_folded(v: &str, lower: bool) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && b.windows(2).all(|w| w != b"  ")
        && b.iter().all(|&c| {
            c.is_ascii()
                && (c == b' ' || !c.is_ascii_whitespace())
                && !(lower && c.is_ascii_uppercase())
        })
}

#[cfg(test)]
mod tests {
    use super::super::{normalize, value_matches};
    use crate::schema::Matching;

    #[test]
    fn case_ignore_normalisation() {
        assert_eq!(
            normalize(Matching::CaseIgnore, "  Alice   Smith \t").as_deref(),
            Some("alice smith")
        );
        assert_eq!(
            normalize(Matching::CaseIgnore, "ÉLODIE Ñoño").as_deref(),
            Some("élodie ñoño")
        );
        assert_eq!(
            normalize(Matching::CaseIgnore, "日本 語").as_deref(),
            Some("日本 語")
        );
        // Non-breaking space is white space too.
        assert_eq!(
            normalize(Matching::CaseIgnore, "a\u{a0}\u{a0}b").as_deref(),
            Some("a b")
        );
        assert_eq!(normalize(Matching::CaseIgnore, "   ").as_deref(), Some(""));
        assert_eq!(
            normalize(Matching::CaseExact, " Alice  B ").as_deref(),
            Some("Alice B")
        );
        assert!(value_matches(Matching::CaseIgnore, " ALICE ", "alice"));
        assert!(!value_matches(Matching::CaseIgnore, "alicex", "alice"));
        assert!(!value_matches(Matching::CaseIgnore, "alic", "alice"));
        assert!(value_matches(Matching::CaseExact, "alice", "alice"));
        assert!(!value_matches(Matching::CaseExact, "Alice", "alice"));
        // Multi-char lowercase mappings stream correctly.
        let key = normalize(Matching::CaseIgnore, "İstanbul").unwrap_or_default();
        assert!(value_matches(Matching::CaseIgnore, "İSTANBUL", &key));
    }
}
