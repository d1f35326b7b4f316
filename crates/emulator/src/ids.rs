//! GUIDs: random ones for request/trace ids, deterministic ones for fixture objects without an id.

use sha2::{Digest, Sha256};

/// A fresh random (v4) GUID in Graph's lower-case hyphenated spelling.
pub(crate) fn random_guid() -> String {
    uuid::Builder::from_random_bytes(rand::random::<[u8; 16]>())
        .into_uuid()
        .to_string()
}

/// A v4-shaped GUID derived from `parts`, so a fixture that omits ids still gets the same ids on
/// every load (tests and replicas can then refer to them).
pub(crate) fn derived_guid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        // A separator keeps ("ab","c") and ("a","bc") apart.
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    for (dst, src) in bytes.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The canonical spelling of a GUID, or `None` when `text` is not one.
pub(crate) fn canonical_guid(text: &str) -> Option<String> {
    uuid::Uuid::try_parse(text).ok().map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_guids_are_stable_and_distinct() {
        let a = derived_guid(&["t", "user", "3"]);
        assert_eq!(a, derived_guid(&["t", "user", "3"]));
        assert_ne!(a, derived_guid(&["t", "user", "4"]));
        assert_ne!(derived_guid(&["ab", "c"]), derived_guid(&["a", "bc"]));
        assert_eq!(canonical_guid(&a).as_deref(), Some(a.as_str()));
    }

    #[test]
    fn canonical_guid_lowercases_and_rejects_garbage() {
        assert_eq!(
            canonical_guid("A1CE0000-0000-4000-8000-000000000001").as_deref(),
            Some("a1ce0000-0000-4000-8000-000000000001")
        );
        assert_eq!(canonical_guid("alice@contoso.com"), None);
        assert_ne!(random_guid(), random_guid());
    }
}
