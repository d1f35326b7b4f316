//! One attribute's equality index over a flat base, laid out compactly: a directory of 100k
//! users has over a million distinct indexed values (uid, mail, entryUUID, uidNumber, cn and
//! the AD names are unique per entry), and as a hash map of boxed keys to vectors each cost
//! three allocations and ~180 bytes. Here every key lives in one string arena and every
//! posting list in one id array; the hash table holds only key numbers. A key costs its bytes
//! plus about 16.

use super::EntryId;
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;

/// normalised value → sorted ids of the entries holding it, for one attribute.
#[derive(Default)]
pub(super) struct AttrIndex {
    /// Key numbers, found by the key's hash and compared against `keys`.
    table: HashTable<u32>,
    /// Every key's bytes, back to back; key `k` ends at `key_end[k]`.
    keys: String,
    key_end: Vec<u32>,
    /// Every key's posting list, back to back; key `k`'s ends at `id_end[k]`.
    ids: Vec<EntryId>,
    id_end: Vec<u32>,
}

fn hash(key: &str) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl AttrIndex {
    /// The index of `postings` (each key once; every id list sorted).
    pub(super) fn build<'k>(
        postings: impl ExactSizeIterator<Item = (&'k str, &'k [EntryId])>,
    ) -> AttrIndex {
        let n = postings.len();
        let mut ix = AttrIndex {
            table: HashTable::with_capacity(n),
            keys: String::new(),
            key_end: Vec::with_capacity(n),
            ids: Vec::new(),
            id_end: Vec::with_capacity(n),
        };
        let mut hashes = Vec::with_capacity(n);
        for (key, ids) in postings {
            let k = ix.key_end.len() as u32;
            let h = hash(key);
            hashes.push(h);
            ix.keys.push_str(key);
            ix.key_end.push(ix.keys.len() as u32);
            ix.ids.extend_from_slice(ids);
            ix.id_end.push(ix.ids.len() as u32);
            // Sized for every key up front, so the table never grows (the hasher is only
            // asked on growth).
            ix.table
                .insert_unique(h, k, |k| hashes.get(*k as usize).copied().unwrap_or(0));
        }
        ix.keys.shrink_to_fit();
        ix.ids.shrink_to_fit();
        ix
    }

    fn key(&self, k: u32) -> &str {
        let k = k as usize;
        let start = k.checked_sub(1).map_or(0, |p| self.key_end[p] as usize);
        self.keys.get(start..self.key_end[k] as usize).unwrap_or("")
    }

    /// The sorted ids of the entries holding `key`, if any.
    pub(super) fn get(&self, key: &str) -> Option<&[EntryId]> {
        let k = *self.table.find(hash(key), |k| self.key(*k) == key)? as usize;
        let start = k.checked_sub(1).map_or(0, |p| self.id_end[p] as usize);
        self.ids.get(start..self.id_end[k] as usize)
    }

    /// The number of distinct keys.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.key_end.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let keys: Vec<String> = (0..5000).map(|i| format!("user{i}")).collect();
        let lists: Vec<Vec<EntryId>> = (0..5000u32).map(|i| vec![i, i + 7, i * 3 + 9]).collect();
        let ix = AttrIndex::build(
            keys.iter()
                .zip(&lists)
                .map(|(k, l)| (k.as_str(), l.as_slice())),
        );
        assert_eq!(ix.len(), 5000);
        for (k, l) in keys.iter().zip(&lists) {
            assert_eq!(ix.get(k), Some(l.as_slice()), "{k}");
        }
        assert_eq!(ix.get("user5000"), None);
        assert_eq!(ix.get(""), None);
        assert_eq!(ix.get("user1 "), None);
    }

    #[test]
    fn an_empty_key_is_a_key() {
        let ix = AttrIndex::build([("", &[1u32][..]), ("a", &[2][..])].into_iter());
        assert_eq!(ix.get(""), Some(&[1u32][..]));
        assert_eq!(ix.get("a"), Some(&[2u32][..]));
        assert_eq!(AttrIndex::default().get(""), None);
    }
}
