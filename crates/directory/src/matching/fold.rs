//! The string preparation of RFC 4518 for caseIgnore/caseExact values and assertions: map
//! (controls and format characters to nothing, white space to SPACE), case fold (RFC 3454 B.2:
//! full Unicode case folding, so ß and SS match), normalise (NFKC), then trim and collapse the
//! insignificant spaces. The indexes key stored values with it and the filter evaluator
//! prepares assertions and compares with it, so the two always agree.
//!
//! Pure ASCII (nearly every value a directory holds) needs none of the Unicode steps: NFKC
//! leaves it alone and its case folding is `to_ascii_lowercase`. Other text that is already in
//! NFKC once folded (composed Latin, Greek, Cyrillic, CJK names: NFKC's quick check says so) is
//! streamed through the mapping and folding without allocating; only the rest (decomposed or
//! compatibility forms) is normalised into a new string. Comparisons on the hot path therefore
//! allocate only for values that need NFKC's reordering or composition.

use std::iter::FilterMap;
use std::str::Chars;

use caseless::{CaseFold, Caseless};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

type Mapped<'a> = FilterMap<Chars<'a>, fn(char) -> Option<char>>;

/// Where the prepared characters come from (white space handling aside).
enum Source<'a> {
    /// ASCII, lower-cased on the way when folding case.
    Ascii { chars: Chars<'a>, lower: bool },
    /// Mapped and case folded on the way: the result is NFKC already.
    Folded(CaseFold<Mapped<'a>>),
    /// Mapped on the way (caseExact): the result is NFKC already.
    Mapped(Mapped<'a>),
    /// Mapped, folded and normalised into a new string.
    Owned { text: String, pos: usize },
}

impl Source<'_> {
    fn next(&mut self) -> Option<char> {
        match self {
            Source::Ascii { chars, lower } => chars
                .next()
                .map(|c| if *lower { c.to_ascii_lowercase() } else { c }),
            Source::Folded(it) => it.next(),
            Source::Mapped(it) => it.next(),
            Source::Owned { text, pos } => {
                let c = text.get(*pos..)?.chars().next()?;
                *pos += c.len_utf8();
                Some(c)
            }
        }
    }
}

/// The prepared form of a value, as a stream of chars: mapped, folded and normalised as above,
/// white space trimmed at both ends and collapsed to one space inside.
pub struct Folded<'a> {
    src: Source<'a>,
    started: bool,
    pending_space: bool,
    held: Option<char>,
}

impl Iterator for Folded<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        if let Some(c) = self.held.take() {
            return Some(c);
        }
        loop {
            let c = self.src.next()?;
            if c.is_whitespace() {
                self.pending_space = self.started;
                continue;
            }
            // ASCII controls other than white space map to nothing (RFC 4518 §2.2); the
            // other sources went through `map_char` already.
            if c.is_ascii_control() {
                continue;
            }
            self.started = true;
            if self.pending_space {
                self.pending_space = false;
                self.held = Some(c);
                return Some(' ');
            }
            return Some(c);
        }
    }
}

fn mapped(v: &str) -> Mapped<'_> {
    v.chars().filter_map(map_char as fn(char) -> Option<char>)
}

/// Streams the prepared form of `v` (see [`Folded`]); `lower` selects caseIgnore over
/// caseExact. Equal to `map_normalize` whenever the streamed form is NFKC: case folding is
/// idempotent, so folding and normalising again would change nothing.
pub fn fold(v: &str, lower: bool) -> Folded<'_> {
    let src = if v.is_ascii() {
        Source::Ascii {
            chars: v.chars(),
            lower,
        }
    } else if lower && is_nfkc_quick(mapped(v).default_case_fold()) == IsNormalized::Yes {
        Source::Folded(mapped(v).default_case_fold())
    } else if !lower && is_nfkc_quick(mapped(v)) == IsNormalized::Yes {
        Source::Mapped(mapped(v))
    } else {
        Source::Owned {
            text: map_normalize(v, lower),
            pos: 0,
        }
    };
    Folded {
        src,
        started: false,
        pending_space: false,
        held: None,
    }
}

/// The prepared form of `v` as a string: `fold(v, lower).collect()`, with pure ASCII (every
/// assertion of an exact `uid` or DN search) prepared byte by byte instead of through the
/// char stream, which costs ten times as much for a short value.
pub fn prepare(v: &str, lower: bool) -> String {
    if !v.is_ascii() {
        return fold(v, lower).collect();
    }
    let mut out: Vec<u8> = Vec::with_capacity(v.len());
    let mut pending_space = false;
    for b in v.bytes() {
        // ASCII's white space under `char::is_whitespace`: TAB, LF, VT, FF, CR and SPACE.
        if matches!(b, b'\t'..=b'\r' | b' ') {
            pending_space = !out.is_empty();
        } else if !b.is_ascii_control() {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(if lower { b.to_ascii_lowercase() } else { b });
        }
    }
    // ASCII bytes in, ASCII bytes out: always valid.
    String::from_utf8(out).unwrap_or_default()
}

/// A substring component prepared like the values it is matched against, except that its
/// spaces are not trimmed (the space in `(cn=John *)` is significant), only collapsed.
pub fn fold_component(v: &str, lower: bool) -> String {
    let src = if v.is_ascii() {
        std::borrow::Cow::Borrowed(v)
    } else {
        std::borrow::Cow::Owned(map_normalize(v, lower))
    };
    let mut out = String::with_capacity(src.len());
    let mut in_space = false;
    for c in src.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
            continue;
        }
        if c.is_ascii_control() {
            continue;
        }
        in_space = false;
        out.push(if lower { c.to_ascii_lowercase() } else { c });
    }
    out
}

/// RFC 4518 §2.2 and §2.3 for a value that is not pure ASCII: map, case fold (caseIgnore),
/// NFKC. Folding and NFKC are applied twice, as RFC 3454's B.2 table is closed under NFKC
/// (NFKC can turn a folded character into an upper-case one, e.g. U+3386 ㎆ into "MB").
fn map_normalize(v: &str, lower: bool) -> String {
    let mapped: String = mapped(v).collect();
    if !lower {
        return mapped.nfkc().collect();
    }
    let once: String = caseless::default_case_fold_str(&mapped).nfkc().collect();
    if once.is_ascii() {
        return once.to_ascii_lowercase();
    }
    caseless::default_case_fold_str(&once).nfkc().collect()
}

/// RFC 4518 §2.2 (Map): characters mapped to nothing, and those mapped to SPACE. Format
/// characters are those of Unicode's Cf category that occur in text (soft hyphen, zero-width
/// and directional marks, the byte order mark); the variation selectors and the object
/// replacement character are listed by the RFC.
fn map_char(c: char) -> Option<char> {
    match c {
        '\u{09}'..='\u{0d}' | '\u{85}' => Some(' '),
        c if c.is_control() => None,
        '\u{ad}'
        | '\u{34f}'
        | '\u{61c}'
        | '\u{1806}'
        | '\u{180b}'..='\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{fe00}'..='\u{fe0f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffc}' => None,
        c if c.is_whitespace() => Some(' '),
        c => Some(c),
    }
}

/// Whether ASCII `v` is unchanged by `fold`: no leading, trailing or doubled spaces, no other
/// white space or controls, and (when folding case) no upper case. A byte scan, much cheaper
/// than `fold`.
pub(super) fn plain_folded(v: &str, lower: bool) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && b.windows(2).all(|w| w != b"  ")
        && b.iter().all(|&c| {
            c.is_ascii()
                && (c == b' ' || !c.is_ascii_control())
                && !(lower && c.is_ascii_uppercase())
        })
}

#[cfg(test)]
mod tests {
    use super::super::{normalize, value_matches};
    use crate::schema::Matching;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_ascii_byte_loop_prepares_as_the_char_stream_does() {
        // Letters of both cases, digits, every kind of ASCII white space, controls, and one
        // non-ASCII letter now and then (which takes the char stream itself).
        const ALPHABET: &[char] = &[
            'a', 'Z', 'q', 'M', '0', '9', '-', '.', ' ', ' ', '\t', '\n', '\u{0b}', '\u{0c}', '\r',
            '\u{01}', '\u{1f}', '\u{7f}', 'É',
        ];
        let mut rng = StdRng::seed_from_u64(4518);
        for _ in 0..20_000 {
            let len = rng.random_range(0..12);
            let v: String = (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            for lower in [true, false] {
                let stream: String = super::fold(&v, lower).collect();
                assert_eq!(super::prepare(&v, lower), stream, "{v:?} lower={lower}");
            }
        }
    }

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

    #[test]
    fn streamed_preparation_equals_the_normalised_one() {
        use super::{Folded, Source, fold, map_normalize};
        let owned = |v: &str, lower: bool| -> String {
            Folded {
                src: Source::Owned {
                    text: map_normalize(v, lower),
                    pos: 0,
                },
                started: false,
                pending_space: false,
                held: None,
            }
            .collect()
        };
        for v in [
            "Zo\u{eb} M\u{fc}ller",
            "Zoe\u{308} Mu\u{308}ller",
            "\u{3a3}\u{399}\u{3a3}\u{3a5}\u{3a6}\u{39f}\u{3a3} \u{3c3}\u{3c2}",
            "Stra\u{df}e \u{1e9e}",
            "\u{130}lker Y\u{131}ld\u{131}z",
            "\u{3386} \u{ff21}\u{ff42} \u{fb01} \u{212b} \u{2126}",
            "\u{d55c}\u{ad6d}\u{c5b4} \u{65e5}\u{672c}",
            "\u{1100}\u{1161}\u{11a8}",
            "  A\u{ad}b\u{200b}\u{a0}\u{a0}c\t ",
            "\u{1f600} emoji",
        ] {
            for lower in [true, false] {
                assert_eq!(
                    fold(v, lower).collect::<String>(),
                    owned(v, lower),
                    "{v:?} {lower}"
                );
            }
        }
    }

    #[test]
    fn unicode_is_normalised_on_both_sides() {
        let key = |v| normalize(Matching::CaseIgnore, v).unwrap_or_default();
        // NFD and NFC spellings of the same name (macOS input, Graph values) prepare alike.
        let nfc = "\u{c5}sa \u{c5}ngstr\u{f6}m";
        let nfd = "A\u{30a}sa A\u{30a}ngstro\u{308}m";
        assert_eq!(key(nfc), key(nfd));
        assert!(value_matches(Matching::CaseIgnore, nfd, &key(nfc)));
        assert!(value_matches(Matching::CaseIgnore, nfc, &key(nfd)));
        assert!(value_matches(
            Matching::CaseExact,
            nfd,
            &normalize(Matching::CaseExact, nfc).unwrap_or_default()
        ));
        // Compatibility forms: fullwidth letters, the Angstrom sign, ligatures.
        assert_eq!(key("\u{ff41}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}"), "alice");
        assert_eq!(key("\u{212b}ngstr\u{f6}m"), key("\u{c5}ngstr\u{f6}m"));
        assert_eq!(key("\u{fb01}le"), "file");
        // Full case folding (RFC 3454 B.2): ß and SS are the same under caseIgnore.
        assert_eq!(key("Stra\u{df}e"), key("STRASSE"));
        assert!(value_matches(
            Matching::CaseIgnore,
            "GRO\u{df}MANN",
            &key("grossmann")
        ));
        // Mapped to nothing: soft hyphen, zero-width space; tabs and line breaks are spaces.
        assert_eq!(key("Al\u{ad}i\u{200b}ce\tSmith"), "alice smith");
    }
}
