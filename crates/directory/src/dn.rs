//! Normalised distinguished names (`ndn`): the key for lookups and for every DN comparison in
//! the directory. RDN values compare by their attribute's matching rule, which is why this half
//! of RFC 4514 lives here and the grammar in the model.

pub use model::dn::{Ava, Dn, DnError, Rdn, escape_value, parse};

use crate::matching;
use crate::schema::{self, AttributeType, Matching};

fn normalize_ava(ava: &Ava) -> Ava {
    let at = schema::attribute(ava.attr());
    let attr = match at {
        Some(at) => at.name.to_ascii_lowercase(),
        None => ava.attr().to_ascii_lowercase(),
    };
    if ava.is_hex() {
        // RFC 4514 §2.4: `#` and hex is the BER encoding of the value. A string type's
        // encoding names the same entry as the string (`uid=#0C05616C696365` is alice).
        return match ber_string(ava.value()) {
            Some(s) => Ava::new(attr, normalize_rdn_value(at, &s), false),
            None => Ava::new(attr, ava.value().to_ascii_lowercase(), true),
        };
    }
    Ava::new(attr, normalize_rdn_value(at, ava.value()), false)
}

/// The string a hex-string RDN value (`#0C05616C696365`) encodes, when it is one BER element
/// of a string type (UTF8String, PrintableString, IA5String, OCTET STRING) holding UTF-8.
fn ber_string(hex: &str) -> Option<String> {
    let digits = hex.strip_prefix('#').unwrap_or(hex).as_bytes();
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect::<Option<_>>()?;
    let (&tag, rest) = bytes.split_first()?;
    let (&len, content) = rest.split_first()?;
    // Short definite lengths only: an RDN value longer than 127 octets is not a name.
    if !matches!(tag, 0x04 | 0x0c | 0x13 | 0x16) || usize::from(len) != content.len() {
        return None;
    }
    String::from_utf8(content.to_vec()).ok()
}

/// RDN values compare by their attribute's equality rule, falling back to caseIgnore for
/// unknown attributes and values invalid for the syntax. DN-valued attributes also use
/// caseIgnore: normalising a DN inside a DN would recurse once per nesting level of the input.
fn normalize_rdn_value(at: Option<&AttributeType>, v: &str) -> String {
    match at.map(|a| a.equality) {
        None | Some(Matching::CaseIgnore | Matching::Dn) => matching::fold(v, true).collect(),
        Some(m) => matching::normalize(m, v).unwrap_or_else(|| matching::fold(v, true).collect()),
    }
}

/// Whether two attribute types name the same attribute (aliases and OIDs included).
fn same_attribute(a: &str, b: &str) -> bool {
    match (schema::attribute(a), schema::attribute(b)) {
        (Some(x), Some(y)) => std::ptr::eq(x, y),
        (None, None) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// The unescaped value of the AVA for `attr` (any spelling), if `rdn` has one that is not
/// a hex string.
pub fn value_of<'r>(rdn: &'r Rdn, attr: &str) -> Option<&'r str> {
    rdn.avas()
        .iter()
        .find(|a| !a.is_hex() && same_attribute(a.attr(), attr))
        .map(Ava::value)
}

/// The canonical form: attribute types lower-cased and aliases resolved, values prepared
/// per their matching rule, multi-valued RDNs sorted. `to_string()` of it is the `ndn`.
pub fn normalized(dn: &Dn) -> Dn {
    let rdns = dn
        .rdns()
        .iter()
        .map(|r| {
            let mut avas: Vec<Ava> = r.avas().iter().map(normalize_ava).collect();
            avas.sort();
            avas.dedup();
            Rdn::new(avas)
        })
        .collect();
    Dn::from_rdns(rdns)
}

/// Whether `dn` is `base` or below it (the subtree-scope test).
pub fn is_descendant_of(dn: &Dn, base: &Dn) -> bool {
    normalized(dn).rdns().ends_with(normalized(base).rdns())
}

/// Whether `normalize(s)` is just `s` lower-cased: ASCII, no escapes, quotes, `+`, `#`, `=`
/// inside values or insignificant spaces, and every attribute type already in its canonical
/// spelling with a caseIgnore value. Nearly every DN the directory builds and clients send
/// qualifies, and this check costs a fraction of a full parse.
fn is_plain(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    s.split(',').all(|rdn| {
        let Some((t, v)) = rdn.split_once('=') else {
            return false;
        };
        plain_type(t) && plain_value(v)
    })
}

/// The types nearly every DN is made of, spelled as the catalogue spells them, all caseIgnore:
/// answered without a catalogue lookup, which was most of the cost of indexing a group's
/// thousands of `member` values (a test checks each against the catalogue).
const COMMON_PLAIN_TYPES: [&str; 4] = ["uid", "cn", "ou", "dc"];

fn plain_type(t: &str) -> bool {
    if COMMON_PLAIN_TYPES.contains(&t) {
        return true;
    }
    let b = t.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        && match schema::attribute(t) {
            None => true,
            Some(at) => {
                at.name.eq_ignore_ascii_case(t)
                    && matches!(at.equality, Matching::CaseIgnore | Matching::Dn)
            }
        }
}

fn plain_value(v: &str) -> bool {
    let b = v.as_bytes();
    b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && !v.contains("  ")
        && b.iter().all(|&c| {
            (0x20..0x7f).contains(&c)
                && !matches!(c, b'\\' | b'"' | b'+' | b';' | b'<' | b'>' | b'#' | b'=')
        })
}

/// Whether `s` is already its own normalised form by the fast path: a plain DN (see
/// `is_plain`) with no upper case, so `normalize` would return it unchanged.
pub fn is_plain_lowercase(s: &str) -> bool {
    !s.bytes().any(|c| c.is_ascii_uppercase()) && is_plain(s)
}

/// The normalised DN string, the key for lookups: e.g. `UID=Alice, OU=People,DC=Contoso,DC=Com`
/// and `userid=alice,ou=people,dc=contoso,dc=com` both give `uid=alice,ou=people,dc=contoso,dc=com`.
pub fn normalize(s: &str) -> Result<String, DnError> {
    if is_plain(s) {
        return Ok(s.to_ascii_lowercase());
    }
    Ok(normalized(&parse(s)?).to_string())
}

/// Whether the DN string `stored` normalises to `ndn` (which must already be normalised).
/// Allocation-free for plain DNs, which matters when comparing against long `member` lists.
pub fn eq_normalized(stored: &str, ndn: &str) -> bool {
    if is_plain(stored) {
        stored.eq_ignore_ascii_case(ndn)
    } else {
        normalize(stored).is_ok_and(|n| n == ndn)
    }
}

/// Byte offsets of the commas separating RDNs in a normalised DN (escaped commas skipped).
fn separators(ndn: &str) -> impl Iterator<Item = usize> + '_ {
    let b = ndn.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(&c) = b.get(i) {
            match c {
                b'\\' => i += 2,
                b',' => {
                    i += 1;
                    return Some(i - 1);
                }
                _ => i += 1,
            }
        }
        None
    })
}

/// The RDNs of a normalised DN, leaf first (escaped commas stay inside their RDN).
pub fn split_ndn(ndn: &str) -> Vec<&str> {
    if ndn.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    for i in separators(ndn) {
        out.push(ndn.get(start..i).unwrap_or_default());
        start = i + 1;
    }
    out.push(ndn.get(start..).unwrap_or_default());
    out
}

/// The key that puts normalised DNs in DIT order: RDNs root first, joined by `\u{1}` (below
/// every character an RDN can hold), so each subtree sorts contiguously right after its root.
/// Snapshots and the persisted directory both use this order, so a restart serves entries in
/// the order they were served before.
pub fn dit_order_key(ndn: &str) -> String {
    let mut parts = split_ndn(ndn);
    parts.reverse();
    parts.join("\u{1}")
}

/// The parent of a normalised DN: `cn=r&d\, europe,ou=groups,dc=x` → `ou=groups,dc=x`; a
/// one-RDN DN's parent is `""` (the root); the root has none.
pub fn parent_ndn(ndn: &str) -> Option<&str> {
    if ndn.is_empty() {
        return None;
    }
    match separators(ndn).next() {
        Some(i) => ndn.get(i + 1..),
        None => Some(""),
    }
}

/// Whether normalised `ndn` is `base_ndn` or below it (subtree scope). Every DN is within the
/// root `""`.
pub fn is_within_ndn(ndn: &str, base_ndn: &str) -> bool {
    base_ndn.is_empty()
        || ndn == base_ndn
        || (ndn.len() > base_ndn.len()
            && ndn.ends_with(base_ndn)
            && separators(ndn).any(|i| ndn.get(i + 1..) == Some(base_ndn)))
}

/// Whether normalised `ndn` is an immediate child of `parent` (one-level scope).
pub fn is_child_ndn(ndn: &str, parent: &str) -> bool {
    parent_ndn(ndn) == Some(parent)
}

/// The unescaped value of `attr` (any spelling) in the first RDN of `dn`:
/// `rdn_value("uid=alice,ou=people,dc=x", "uid")` is `Some("alice")`.
pub fn rdn_value(dn: &str, attr: &str) -> Option<String> {
    let dn = parse(dn).ok()?;
    value_of(dn.rdn()?, attr).map(str::to_string)
}

/// Builds `rdn_attr=<escaped rdn_value>,parent_dn` (just the RDN when `parent_dn` is empty).
pub fn build(rdn_attr: &str, rdn_value: &str, parent_dn: &str) -> String {
    let value = escape_value(rdn_value);
    if parent_dn.is_empty() {
        format!("{rdn_attr}={value}")
    } else {
        format!("{rdn_attr}={value},{parent_dn}")
    }
}

#[cfg(test)]
mod tests;
