//! RFC 4514 distinguished names: the grammar (parsing, value escaping, canonical writing).
//! Comparing DNs needs the schema's matching rules, so normalisation lives with the directory.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DnError {
    #[error("invalid attribute type at byte {0}")]
    InvalidAttributeType(usize),
    #[error("missing '=' after the attribute type at byte {0}")]
    MissingEquals(usize),
    #[error("empty RDN at byte {0}")]
    EmptyRdn(usize),
    #[error("the DN ends inside an escape sequence")]
    TrailingEscape,
    #[error("invalid escape sequence at byte {0}")]
    InvalidEscape(usize),
    #[error("invalid hex-string value at byte {0}")]
    InvalidHexString(usize),
    #[error("unexpected {ch:?} at byte {pos}")]
    UnexpectedChar { ch: char, pos: usize },
    #[error("unterminated quoted value starting at byte {0}")]
    UnterminatedQuote(usize),
    #[error("escaped bytes of the value starting at byte {0} are not UTF-8")]
    InvalidUtf8(usize),
}

/// One `type=value` assertion of an RDN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ava {
    attr: String,
    value: String,
    hex: bool,
}

impl Ava {
    pub fn new(attr: impl Into<String>, value: impl Into<String>, hex: bool) -> Ava {
        Ava {
            attr: attr.into(),
            value: value.into(),
            hex,
        }
    }

    /// The attribute type as written (descriptor or numeric OID).
    pub fn attr(&self) -> &str {
        &self.attr
    }

    /// The unescaped value; for a hex-string value (`#04...`), the string as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the value was given as a BER hex string (`cn=#0403414243`).
    pub fn is_hex(&self) -> bool {
        self.hex
    }
}

/// A relative distinguished name: one or more AVAs joined by `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdn {
    avas: Vec<Ava>,
}

impl Rdn {
    pub fn new(avas: Vec<Ava>) -> Rdn {
        Rdn { avas }
    }

    pub fn avas(&self) -> &[Ava] {
        &self.avas
    }
}

/// A parsed DN, most specific RDN first. `Display` writes it with canonical RFC 4514 escaping,
/// keeping the case and attribute spellings it was parsed with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn {
    rdns: Vec<Rdn>,
}

impl Dn {
    pub fn from_rdns(rdns: Vec<Rdn>) -> Dn {
        Dn { rdns }
    }

    pub fn parse(s: &str) -> Result<Dn, DnError> {
        parse(s)
    }

    /// The empty DN (the rootDSE).
    pub fn root() -> Dn {
        Dn::default()
    }

    pub fn rdns(&self) -> &[Rdn] {
        &self.rdns
    }

    /// The most specific RDN (`uid=alice` of `uid=alice,ou=people,...`).
    pub fn rdn(&self) -> Option<&Rdn> {
        self.rdns.first()
    }

    pub fn is_root(&self) -> bool {
        self.rdns.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rdns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The DN one level up; the parent of a one-RDN DN is the root; the root has none.
    pub fn parent(&self) -> Option<Dn> {
        let rest = self.rdns.get(1..)?;
        Some(Dn {
            rdns: rest.to_vec(),
        })
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in rdn.avas.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                f.write_str(&ava.attr)?;
                f.write_str("=")?;
                if ava.hex {
                    f.write_str(&ava.value)?;
                } else {
                    f.write_str(&escape_value(&ava.value))?;
                }
            }
        }
        Ok(())
    }
}

impl FromStr for Dn {
    type Err = DnError;

    fn from_str(s: &str) -> Result<Dn, DnError> {
        parse(s)
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.s.as_bytes().get(self.pos + offset).copied()
    }

    fn current_char(&self) -> char {
        self.s
            .get(self.pos..)
            .and_then(|r| r.chars().next())
            .unwrap_or('\u{fffd}')
    }

    fn unexpected(&self) -> DnError {
        DnError::UnexpectedChar {
            ch: self.current_char(),
            pos: self.pos,
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn dn(mut self) -> Result<Dn, DnError> {
        self.skip_spaces();
        let mut rdns = Vec::new();
        if self.peek().is_none() {
            return Ok(Dn { rdns });
        }
        loop {
            rdns.push(self.rdn()?);
            match self.peek() {
                None => return Ok(Dn { rdns }),
                // `;` separates RDNs in the RFC 1779/2253 forms older clients still send.
                Some(b',' | b';') => self.pos += 1,
                Some(_) => return Err(self.unexpected()),
            }
        }
    }

    fn rdn(&mut self) -> Result<Rdn, DnError> {
        let mut avas = vec![self.ava()?];
        while self.peek() == Some(b'+') {
            self.pos += 1;
            avas.push(self.ava()?);
        }
        Ok(Rdn { avas })
    }

    fn ava(&mut self) -> Result<Ava, DnError> {
        self.skip_spaces();
        if matches!(self.peek(), None | Some(b',' | b';' | b'+')) {
            return Err(DnError::EmptyRdn(self.pos));
        }
        let attr = self.attr_type()?;
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return Err(DnError::MissingEquals(self.pos));
        }
        self.pos += 1;
        self.skip_spaces();
        let (value, hex) = match self.peek() {
            Some(b'#') => (self.hex_string()?, true),
            Some(b'"') => (self.quoted()?, false),
            _ => (self.string()?, false),
        };
        Ok(Ava { attr, value, hex })
    }

    /// `descr` (ALPHA *(ALPHA / DIGIT / "-")) or `numericoid`.
    fn attr_type(&mut self) -> Result<String, DnError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-')
                {
                    self.pos += 1;
                }
            }
            Some(c) if c.is_ascii_digit() => {
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
                    self.pos += 1;
                }
            }
            _ => return Err(DnError::InvalidAttributeType(start)),
        }
        let t = self
            .s
            .get(start..self.pos)
            .ok_or(DnError::InvalidAttributeType(start))?;
        if t.starts_with(|c: char| c.is_ascii_digit()) && t.split('.').any(str::is_empty) {
            return Err(DnError::InvalidAttributeType(start));
        }
        Ok(t.to_string())
    }

    /// After a quoted or hex value only spaces may come before the next separator.
    fn end_of_value(&mut self) -> Result<(), DnError> {
        self.skip_spaces();
        match self.peek() {
            None | Some(b',' | b';' | b'+') => Ok(()),
            Some(_) => Err(self.unexpected()),
        }
    }

    fn hex_string(&mut self) -> Result<String, DnError> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let digits = self.pos - start - 1;
        if digits == 0 || !digits.is_multiple_of(2) {
            return Err(DnError::InvalidHexString(start));
        }
        let value = self
            .s
            .get(start..self.pos)
            .ok_or(DnError::InvalidHexString(start))?
            .to_string();
        self.end_of_value()
            .map_err(|_| DnError::InvalidHexString(start))?;
        Ok(value)
    }

    /// Consumes one `\`-escape (the cursor is on the backslash) and appends what it stands for.
    fn escape(&mut self, buf: &mut Vec<u8>) -> Result<(), DnError> {
        let at = self.pos;
        self.pos += 1;
        match self.peek() {
            None => Err(DnError::TrailingEscape),
            Some(hi) if hi.is_ascii_hexdigit() => {
                // A hex digit is not a `special`, so it must start a hex pair.
                let lo = self.peek_at(1).and_then(hex_value);
                match (hex_value(hi), lo) {
                    (Some(hi), Some(lo)) => {
                        buf.push(hi * 16 + lo);
                        self.pos += 2;
                        Ok(())
                    }
                    _ => Err(DnError::InvalidEscape(at)),
                }
            }
            Some(0) => Err(DnError::InvalidEscape(at)),
            Some(_) => {
                // RFC 4514 only defines escapes of specials; any other escaped character is
                // taken literally, as OpenLDAP's and Active Directory's parsers do.
                let ch = self.current_char();
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                self.pos += ch.len_utf8();
                Ok(())
            }
        }
    }

    fn string(&mut self) -> Result<String, DnError> {
        let start = self.pos;
        let mut buf = Vec::new();
        // Unescaped trailing spaces are insignificant; escaped ones are kept.
        let mut keep = 0;
        loop {
            match self.peek() {
                None | Some(b',' | b';' | b'+') => break,
                Some(b'\\') => {
                    self.escape(&mut buf)?;
                    keep = buf.len();
                }
                Some(0) => return Err(self.unexpected()),
                Some(b' ') => {
                    buf.push(b' ');
                    self.pos += 1;
                }
                Some(c) => {
                    buf.push(c);
                    self.pos += 1;
                    keep = buf.len();
                }
            }
        }
        buf.truncate(keep);
        String::from_utf8(buf).map_err(|_| DnError::InvalidUtf8(start))
    }

    /// RFC 2253 quoted values (`cn="Smith, John"`), still produced by some tools.
    fn quoted(&mut self) -> Result<String, DnError> {
        let start = self.pos;
        self.pos += 1;
        let mut buf = Vec::new();
        loop {
            match self.peek() {
                None => return Err(DnError::UnterminatedQuote(start)),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(&mut buf)?,
                Some(0) => return Err(self.unexpected()),
                Some(c) => {
                    buf.push(c);
                    self.pos += 1;
                }
            }
        }
        self.end_of_value()?;
        String::from_utf8(buf).map_err(|_| DnError::InvalidUtf8(start))
    }
}

/// Parses an RFC 4514 DN string. Lenient where real clients are: spaces around `,` `+` `=`,
/// `;` as an RDN separator, RFC 2253 quoted values, escapes of non-special characters.
pub fn parse(s: &str) -> Result<Dn, DnError> {
    Parser { s, pos: 0 }.dn()
}

/// Escapes an attribute value for use in a DN string (RFC 4514 §2.4): `, + " \ < > ; =` with a
/// backslash, a leading space or `#` and a trailing space, and control characters as hex pairs.
pub fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    for (i, c) in v.char_indices() {
        let first = i == 0;
        let last = i + c.len_utf8() == v.len();
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if first || last => out.push_str("\\ "),
            '#' if first => out.push_str("\\#"),
            '\0'..='\x1f' | '\x7f' => out.push_str(&format!("\\{:02X}", u32::from(c))),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back_canonically() {
        let dn = parse("UID=Alice, OU=People;DC=Contoso").unwrap_or_default();
        assert_eq!(dn.len(), 3);
        assert_eq!(dn.rdns()[1].avas()[0].attr(), "OU");
        assert_eq!(dn.rdn().map(|r| r.avas()[0].value()), Some("Alice"));
        assert_eq!(dn.to_string(), "UID=Alice,OU=People,DC=Contoso");
        assert_eq!(
            dn.parent().map(|p| p.to_string()).as_deref(),
            Some("OU=People,DC=Contoso")
        );
        assert!(Dn::root().is_root());
        assert_eq!(Dn::root().parent(), None);
    }

    #[test]
    fn values_are_unescaped_and_escaped() {
        let dn = parse(r"cn=Smith\, Alice\+\22x\22,o=\#1").unwrap_or_default();
        assert_eq!(
            dn.rdn().map(|r| r.avas()[0].value()),
            Some("Smith, Alice+\"x\"")
        );
        assert_eq!(escape_value(" #a,b "), r"\ #a\,b\ ");
        assert_eq!(escape_value("#x"), r"\#x");
        let hex = parse("cn=#0403414243").unwrap_or_default();
        assert!(hex.rdn().is_some_and(|r| r.avas()[0].is_hex()));
        let built = Dn::from_rdns(vec![Rdn::new(vec![Ava::new("cn", "a,b", false)])]);
        assert_eq!(built.to_string(), r"cn=a\,b");
    }

    #[test]
    fn malformed_dns_are_errors() {
        assert_eq!(parse("cn"), Err(DnError::MissingEquals(2)));
        assert!(parse("cn=a,,dc=b").is_err());
        assert!(parse(r"cn=a\").is_err());
        assert!(parse("cn=\"open").is_err());
    }
}
