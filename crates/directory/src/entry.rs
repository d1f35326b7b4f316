//! One directory entry as served: its DN (display and normalised), its user attributes and the
//! facts operational attributes are computed from. Entries are immutable once in a `Snapshot`.

mod packed;

pub use packed::{AttrRef, Attrs, Builder as AttrsBuilder, Values};

/// What an entry represents; decides ACLs, operational attributes and which builder made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A tenant's naming context (`dcObject`, `organization`).
    Root,
    /// `ou=people`, `ou=groups`, `ou=services`.
    Container,
    User,
    Group,
    /// A user-private group (gid = uid), served as a posixGroup.
    PrivateGroup,
    ServiceAccount,
    /// An entry the LDAP service makes up (the rootDSE, the subschema subentry): it holds all
    /// its attributes, operational ones included, and none is computed for it.
    Dse,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("dn", &self.dn())
            .field("ndn", &self.ndn())
            .field("kind", &self.kind)
            .field("tenant", &self.tenant)
            .field("attrs", &self.attrs)
            .field("created", &self.created())
            .field("modified", &self.modified())
            .finish()
    }
}

/// An attribute with its canonical name (as the schema spells it) and its values, as builders
/// make them before packing (`Attrs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub name: &'static str,
    pub values: Vec<Box<str>>,
}

/// A tenant's naming context as served: the tenant's configured name and its base DN, as
/// built and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: String,
    pub base_dn: String,
    pub base_ndn: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The DN, the normalised DN, createTimestamp and modifyTimestamp back to back: one
    /// allocation per entry instead of four (see `dn`, `ndn`, `created`, `modified`).
    text: Box<str>,
    /// Where the DN, the normalised DN and createTimestamp end in `text`.
    ends: [u32; 3],
    pub kind: EntryKind,
    /// Index of the tenant (naming context) this entry belongs to, in `Snapshot::tenants`.
    pub tenant: u16,
    /// User attributes in the order they are returned, packed.
    pub attrs: Attrs,
}

impl Entry {
    pub fn new(
        dn: impl AsRef<str>,
        ndn: impl AsRef<str>,
        kind: EntryKind,
        tenant: u16,
        attrs: impl Into<Attrs>,
        created: impl AsRef<str>,
        modified: impl AsRef<str>,
    ) -> Entry {
        let (dn, ndn) = (dn.as_ref(), ndn.as_ref());
        let (created, modified) = (created.as_ref(), modified.as_ref());
        let mut text = String::with_capacity(dn.len() + ndn.len() + created.len() + modified.len());
        let mut ends = [0u32; 3];
        for (part, end) in [dn, ndn, created].into_iter().zip(ends.iter_mut()) {
            text.push_str(part);
            *end = text.len() as u32;
        }
        text.push_str(modified);
        Entry {
            text: text.into_boxed_str(),
            ends,
            kind,
            tenant,
            attrs: attrs.into(),
        }
    }

    fn part(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        let end = self.ends.get(i).map_or(self.text.len(), |e| *e as usize);
        self.text.get(start..end).unwrap_or("")
    }

    /// The DN as built, RFC 4514 escaped (what clients see).
    pub fn dn(&self) -> &str {
        self.part(0)
    }

    /// The normalised DN (see `dn::normalize`), the key for lookups and comparisons.
    pub fn ndn(&self) -> &str {
        self.part(1)
    }

    /// GeneralizedTime (`YYYYMMDDHHMMSSZ`) for `createTimestamp`.
    pub fn created(&self) -> &str {
        self.part(2)
    }

    /// GeneralizedTime for `modifyTimestamp`.
    pub fn modified(&self) -> &str {
        self.part(3)
    }

    /// The same entry with another DN and normalised DN.
    pub fn with_dn(&self, dn: &str, ndn: &str) -> Entry {
        Entry::new(
            dn,
            ndn,
            self.kind,
            self.tenant,
            self.attrs.clone(),
            self.created(),
            self.modified(),
        )
    }

    /// An attribute by its canonical name, compared ignoring case (aliases are resolved by
    /// the caller).
    pub fn get(&self, name: &str) -> Option<AttrRef<'_>> {
        self.attrs.get(name)
    }

    pub fn values(&self, name: &str) -> Values<'_> {
        self.get(name).map_or(Values::EMPTY, |a| a.values)
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).first()
    }
}
