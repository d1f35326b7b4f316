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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The DN as built, RFC 4514 escaped (what clients see).
    pub dn: Box<str>,
    /// The normalised DN (see `dn::normalize`), the key for lookups and comparisons.
    pub ndn: Box<str>,
    pub kind: EntryKind,
    /// Index of the tenant (naming context) this entry belongs to, in `Snapshot::tenants`.
    pub tenant: u16,
    /// User attributes in the order they are returned, packed.
    pub attrs: Attrs,
    /// GeneralizedTime (`YYYYMMDDHHMMSSZ`) for `createTimestamp`.
    pub created: Box<str>,
    /// GeneralizedTime for `modifyTimestamp`.
    pub modified: Box<str>,
}

impl Entry {
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
