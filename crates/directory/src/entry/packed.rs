//! An entry's attributes packed into one allocation. A served directory holds hundreds of
//! thousands of entries of ~30 values each; as a `Vec` of attributes of boxed strings every
//! value cost a pointer, a length and an allocation of its own, several times its bytes. Packed,
//! a value costs its bytes plus a length byte, and reading an entry is a walk over one buffer.
//!
//! Layout, per attribute in the order they are returned: the attribute type's position in the
//! schema catalogue (`schema::attribute_id`, 2 bytes little-endian), the number of values
//! (LEB128), the length in bytes of what follows (LEB128: finding an attribute after a group's
//! thousands of `member` values is one jump, not a walk), then each value as its length (LEB128)
//! and its UTF-8 bytes.
//!
//! Invariant: every value is UTF-8. A list is only made by `Builder` (from `&str`) or by
//! `Attrs::from_bytes`, which checks every value, so reading one needs no check; values are
//! read on every search and filter, and checking each of a large group's member values per
//! query cost more than the comparison itself.

use super::Attr;
use crate::schema::{self, AttributeType};
use std::fmt;

/// The packed attribute list of one entry. Two lists are equal when they hold the same
/// attributes and values in the same order.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Attrs(Box<[u8]>);

/// One attribute of a packed list: its canonical name and its values.
#[derive(Clone, Copy)]
pub struct AttrRef<'a> {
    /// The attribute type's position in the catalogue (`schema::attribute_by_id`).
    pub id: u16,
    pub at: &'static AttributeType,
    pub name: &'static str,
    pub values: Values<'a>,
}

/// The values of one attribute, in order. Cheap to copy: iterating a copy leaves this one
/// where it was.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    rest: &'a [u8],
    left: usize,
}

impl Attrs {
    /// The attributes in the order they are returned.
    pub fn iter(&self) -> AttrIter<'_> {
        AttrIter { rest: &self.0 }
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attribute whose canonical name is `name`, compared ignoring case (aliases are
    /// resolved by the caller).
    pub fn get(&self, name: &str) -> Option<AttrRef<'_>> {
        self.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The attribute of type `at` (a catalogue entry, so the canonical names compare as
    /// they are).
    pub fn get_type(&self, at: &AttributeType) -> Option<AttrRef<'_>> {
        self.iter().find(|a| a.name == at.name)
    }

    /// The attributes unpacked, for code that edits a list before packing it again.
    pub fn to_vec(&self) -> Vec<Attr> {
        self.iter()
            .map(|a| Attr {
                name: a.name,
                values: a.values.map(Box::from).collect(),
            })
            .collect()
    }

    /// Unpack, edit and pack again: for tests and the rare entry edited after it was built.
    pub fn edit(&mut self, f: impl FnOnce(&mut Vec<Attr>)) {
        let mut all = self.to_vec();
        f(&mut all);
        *self = Attrs::from(all);
    }

    /// Append an attribute (repacking the list: for the few entries built one attribute at
    /// a time, such as the rootDSE).
    pub fn push(&mut self, attr: Attr) {
        let mut all = self.to_vec();
        all.push(attr);
        *self = Attrs::from(all);
    }

    /// The packed bytes, for storing. They name attributes by catalogue position, so they
    /// are only valid for the same catalogue (the store fingerprints it).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A list from bytes `as_bytes` returned; `None` unless every attribute id is in the
    /// catalogue, every length within the buffer and every value UTF-8.
    pub fn from_bytes(b: &[u8]) -> Option<Attrs> {
        let mut rest = b;
        while !rest.is_empty() {
            let (id, r) = rest.split_first_chunk::<2>()?;
            schema::attribute_by_id(u16::from_le_bytes(*id))?;
            rest = r;
            let count = take_len(&mut rest)?;
            let bytes = take_len(&mut rest)?;
            let (mut region, r) = rest.split_at_checked(bytes)?;
            rest = r;
            for _ in 0..count {
                let n = take_len(&mut region)?;
                let (v, r) = region.split_at_checked(n)?;
                std::str::from_utf8(v).ok()?;
                region = r;
            }
            if !region.is_empty() {
                return None;
            }
        }
        Some(Attrs(b.into()))
    }

    /// Bytes held on the heap (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

impl From<Vec<Attr>> for Attrs {
    fn from(attrs: Vec<Attr>) -> Attrs {
        Attrs::from(attrs.as_slice())
    }
}

impl From<&[Attr]> for Attrs {
    fn from(attrs: &[Attr]) -> Attrs {
        let mut b = Builder::with_capacity(
            attrs
                .iter()
                .map(|a| 4 + a.values.iter().map(|v| v.len() + 1).sum::<usize>())
                .sum(),
        );
        for a in attrs {
            b.push(a.name, a.values.iter().map(|v| &**v));
        }
        b.finish()
    }
}

impl FromIterator<Attr> for Attrs {
    fn from_iter<I: IntoIterator<Item = Attr>>(iter: I) -> Attrs {
        Attrs::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = AttrRef<'a>;
    type IntoIter = AttrIter<'a>;

    fn into_iter(self) -> AttrIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|a| (a.name, a.values.collect::<Vec<_>>())))
            .finish()
    }
}

/// Packs attributes one at a time.
#[derive(Default)]
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    pub fn with_capacity(bytes: usize) -> Builder {
        Builder {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Append an attribute with its values. Returns false, appending nothing, when `name` is
    /// not an attribute type of the schema: every served attribute is one.
    pub fn push<'v>(&mut self, name: &str, values: impl ExactSizeIterator<Item = &'v str>) -> bool {
        let Some(id) = schema::attribute_id(name) else {
            return false;
        };
        self.buf.extend_from_slice(&id.to_le_bytes());
        put_len(&mut self.buf, values.len());
        let start = self.buf.len();
        for v in values {
            put_len(&mut self.buf, v.len());
            self.buf.extend_from_slice(v.as_bytes());
        }
        // The region's length goes before it, now that it is known.
        let mut len = Vec::with_capacity(4);
        put_len(&mut len, self.buf.len() - start);
        self.buf.splice(start..start, len);
        true
    }

    pub fn finish(self) -> Attrs {
        Attrs(self.buf.into_boxed_slice())
    }
}

fn put_len(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Reads a LEB128 length; `None` on a buffer that ends inside one (never for a buffer
/// `Builder` made).
fn take_len(b: &mut &[u8]) -> Option<usize> {
    let mut n = 0usize;
    let mut shift = 0u32;
    loop {
        let (&x, rest) = b.split_first()?;
        *b = rest;
        n |= usize::from(x & 0x7f).checked_shl(shift)?;
        if x & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
    }
}

pub struct AttrIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = AttrRef<'a>;

    fn next(&mut self) -> Option<AttrRef<'a>> {
        let (id, rest) = self.rest.split_first_chunk::<2>()?;
        let id = u16::from_le_bytes(*id);
        let at = schema::attribute_by_id(id)?;
        let mut rest = rest;
        let left = take_len(&mut rest)?;
        let bytes = take_len(&mut rest)?;
        let (region, next) = rest.split_at_checked(bytes)?;
        let values = Values { rest: region, left };
        self.rest = next;
        Some(AttrRef {
            id,
            at,
            name: at.name,
            values,
        })
    }
}

impl<'a> Values<'a> {
    /// No values.
    pub const EMPTY: Values<'static> = Values { rest: &[], left: 0 };

    pub fn first(&self) -> Option<&'a str> {
        { *self }.next()
    }

    pub fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// A copy to iterate, leaving this one at its place (as `slice::iter`).
    pub fn iter(&self) -> Values<'a> {
        *self
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        let n = take_len(&mut self.rest)?;
        let (v, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        self.left -= 1;
        // SAFETY: every value of a list is UTF-8 (the invariant at the top of this file: lists
        // come from `Builder`, which packs `&str`, or from `Attrs::from_bytes`, which checks
        // each value), and `v` is exactly one value's bytes.
        Some(unsafe { std::str::from_utf8_unchecked(v) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Values<'_> {}

impl<'a> IntoIterator for &Values<'a> {
    type Item = &'a str;
    type IntoIter = Values<'a>;

    fn into_iter(self) -> Values<'a> {
        *self
    }
}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &'static str, values: &[&str]) -> Attr {
        Attr {
            name,
            values: values.iter().map(|v| Box::from(*v)).collect(),
        }
    }

    #[test]
    fn packs_and_reads_back_in_order() {
        let long = "x".repeat(300);
        let list = vec![
            attr("objectClass", &["top", "inetOrgPerson", "posixAccount"]),
            attr("cn", &["Ünïcødé — ok"]),
            attr("description", &[&long, ""]),
            attr("uid", &[]),
        ];
        let packed = Attrs::from(list.clone());
        assert_eq!(packed.to_vec(), list);
        assert_eq!(Attrs::from_bytes(packed.as_bytes()), Some(packed.clone()));
        let cut = packed.as_bytes().len() - 1;
        assert_eq!(
            packed.as_bytes().get(..cut).and_then(Attrs::from_bytes),
            None
        );
        assert_eq!(packed.len(), 4);
        let d = packed.get("DESCRIPTION").map(|a| a.values);
        assert_eq!(d.map(|v| v.len()), Some(2));
        assert_eq!(d.and_then(|v| v.first()), Some(long.as_str()));
        assert!(packed.get("mail").is_none());
        let cn = schema::attribute("commonName").map(|at| packed.get_type(at).is_some());
        assert_eq!(cn, Some(true));
    }

    #[test]
    fn stored_bytes_are_checked_before_they_are_trusted() {
        let good = Attrs::from(vec![attr("cn", &["ab"]), attr("uid", &["x"])]);
        let b = good.as_bytes();
        // cn's id, 1 value, a region of 3 bytes: length 2, then the value.
        assert_eq!(b.get(2..7), Some(&[1u8, 3, 2, b'a', b'b'][..]));
        let mut not_utf8 = b.to_vec();
        not_utf8[5] = 0xff;
        assert_eq!(Attrs::from_bytes(&not_utf8), None);
        let mut short_region = b.to_vec();
        short_region[3] = 2;
        assert_eq!(Attrs::from_bytes(&short_region), None);
        let mut unknown_id = b.to_vec();
        unknown_id[0] = 0xff;
        unknown_id[1] = 0xff;
        assert_eq!(Attrs::from_bytes(&unknown_id), None);
        assert_eq!(Attrs::from_bytes(b), Some(good.clone()));
        // The second attribute is found by jumping over the first one's region.
        assert_eq!(good.get("uid").and_then(|a| a.values.first()), Some("x"));
    }

    #[test]
    fn unknown_names_are_refused_not_packed() {
        let mut b = Builder::default();
        assert!(!b.push("notAnAttribute", ["x"].into_iter()));
        assert!(b.push("uid", ["alice"].into_iter()));
        assert_eq!(b.finish().to_vec(), vec![attr("uid", &["alice"])]);
    }

    #[test]
    fn equality_is_by_content_and_order() {
        let a = Attrs::from(vec![attr("uid", &["a"]), attr("cn", &["A"])]);
        let b = Attrs::from(vec![attr("uid", &["a"]), attr("cn", &["A"])]);
        let c = Attrs::from(vec![attr("cn", &["A"]), attr("uid", &["a"])]);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
