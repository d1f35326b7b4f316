//! The served directory, persisted: every entry of the last committed snapshot, so a restart
//! serves it without re-deriving 100k users from the mirror (cold start), and the mirror is
//! loaded afterwards, before the first sync round needs it.
//!
//! Rows are keyed by tenant and the entry's RDNs in reverse (root first, joined by `\u{1}`,
//! which sorts below every character a normalised RDN can hold), so a range scan returns each
//! subtree contiguously after its root: the order `Snapshot::new` requires. A round writes only
//! the entries that changed. The rows are used only when the stored fingerprint (format,
//! version and every setting the entries depend on) matches the running configuration;
//! otherwise the server derives the directory from the mirror as before and rewrites them.

use super::{StoreError, TENANT_META};
use directory::TenantInfo;
use directory::dn;
use directory::entry::{Attrs, Entry, EntryKind};
use redb::{TableDefinition, WriteTransaction};

pub(super) const DIRECTORY: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("directory");

/// Bumped whenever the encoding below or what entries hold changes.
const FORMAT: u8 = 3;

/// What a round changes in a tenant's persisted directory.
pub struct DirectoryWrite<'a> {
    pub fingerprint: &'a str,
    pub info: &'a TenantInfo,
    /// When set, every stored row of the tenant is dropped first (a full rewrite).
    pub replace_all: bool,
    pub upserts: Vec<&'a Entry>,
    /// Normalised DNs of entries no longer served.
    pub removals: Vec<&'a str>,
    /// How these entries were derived (see `sync::patch::Basis`), for the first round to patch
    /// after a restart; `None` forgets what was stored.
    pub basis: Option<serde_json::Value>,
}

pub(super) fn write(
    tx: &WriteTransaction,
    tenant: &str,
    w: &DirectoryWrite<'_>,
) -> Result<(), StoreError> {
    let mut t = tx.open_table(DIRECTORY)?;
    if w.replace_all {
        t.retain_in((tenant, "")..=(tenant, "\u{10ffff}"), |_, _| false)?;
    }
    for ndn in &w.removals {
        t.remove((tenant, dn::dit_order_key(ndn).as_str()))?;
    }
    let mut buf = Vec::new();
    for e in &w.upserts {
        buf.clear();
        encode(e, &mut buf);
        t.insert(
            (tenant, dn::dit_order_key(e.ndn()).as_str()),
            buf.as_slice(),
        )?;
    }
    let mut meta = tx.open_table(TENANT_META)?;
    for r in meta_rows(w) {
        match &r.value {
            Some(v) => {
                meta.insert((tenant, r.key.as_str()), v.as_slice())?;
            }
            None => {
                meta.remove((tenant, r.key.as_str()))?;
            }
        }
    }
    Ok(())
}

/// The tenant meta rows stored beside the entries: the fingerprint they were derived under,
/// the tenant's base DN and the derivation record. Tenant meta values are JSON (`load_tenant`
/// reads them all as such).
pub(crate) fn meta_rows(w: &DirectoryWrite<'_>) -> Vec<super::rows::Row> {
    use super::rows::{Kind, Row};
    let fp = serde_json::Value::from(w.fingerprint).to_string();
    let info = serde_json::json!({"base_dn": w.info.base_dn, "base_ndn": w.info.base_ndn});
    vec![
        Row::put(Kind::Meta, "directory_fingerprint", fp.into_bytes()),
        Row::put(Kind::Meta, "directory_info", info.to_string().into_bytes()),
        match &w.basis {
            Some(b) => Row::put(Kind::Meta, "directory_basis", b.to_string().into_bytes()),
            None => Row::gone(Kind::Meta, "directory_basis"),
        },
    ]
}

/// The fingerprint the tenant's stored entries were derived under, if any.
pub(super) fn read_fingerprint(
    tx: &redb::ReadTransaction,
    tenant: &str,
) -> Result<Option<String>, StoreError> {
    let meta = tx.open_table(TENANT_META)?;
    let Some(v) = meta.get((tenant, "directory_fingerprint"))? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<String>(v.value()).ok())
}

/// The derivation record stored with the tenant's entries, if any.
pub(super) fn read_basis(
    tx: &redb::ReadTransaction,
    tenant: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let meta = tx.open_table(TENANT_META)?;
    let Some(v) = meta.get((tenant, "directory_basis"))? else {
        return Ok(None);
    };
    serde_json::from_slice(v.value())
        .map(Some)
        .map_err(|e| corrupt(tenant, format!("directory_basis: {e}")))
}

/// The tenant's persisted entries in DIT order, if they were written under `fingerprint`
/// (`None`: whatever they were written under).
pub(super) fn read(
    tx: &redb::ReadTransaction,
    tenant: &str,
    index: u16,
    fingerprint: Option<&str>,
) -> Result<Option<(TenantInfo, Vec<Entry>)>, StoreError> {
    let meta = tx.open_table(TENANT_META)?;
    if let Some(fingerprint) = fingerprint {
        let stored = meta
            .get((tenant, "directory_fingerprint"))?
            .map(|v| v.value().to_vec());
        let wanted = serde_json::Value::from(fingerprint).to_string();
        if stored.as_deref() != Some(wanted.as_bytes()) {
            return Ok(None);
        }
    }
    let Some(info) = meta.get((tenant, "directory_info"))? else {
        return Ok(None);
    };
    let info: serde_json::Value =
        serde_json::from_slice(info.value()).map_err(|e| corrupt(tenant, e.to_string()))?;
    let field = |k: &str| info.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (Some(base_dn), Some(base_ndn)) = (field("base_dn"), field("base_ndn")) else {
        return Err(corrupt(tenant, "directory_info lacks base_dn".into()));
    };
    let t = tx.open_table(DIRECTORY)?;
    let mut entries = Vec::new();
    for row in t.range((tenant, "")..=(tenant, "\u{10ffff}"))? {
        let (_, v) = row?;
        entries.push(decode(v.value(), index).ok_or_else(|| corrupt(tenant, "bad entry".into()))?);
    }
    if entries.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        TenantInfo {
            name: tenant.to_string(),
            base_dn,
            base_ndn,
        },
        entries,
    )))
}

fn corrupt(tenant: &str, what: String) -> StoreError {
    StoreError::Corrupt {
        table: "directory",
        message: format!("tenant {tenant}: {what}"),
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn kind_code(k: EntryKind) -> u8 {
    match k {
        EntryKind::Root => 0,
        EntryKind::Container => 1,
        EntryKind::User => 2,
        EntryKind::Group => 3,
        EntryKind::PrivateGroup => 4,
        EntryKind::ServiceAccount => 5,
        // Made up by the LDAP service per request, never derived or stored; the code is not
        // read back.
        EntryKind::Dse => 6,
    }
}

/// Length-prefixed fields: format, kind, dn, ndn, created, modified, then the packed
/// attributes as they are held in memory (`Attrs::as_bytes`), so a start copies them whole.
pub(crate) fn encode(e: &Entry, buf: &mut Vec<u8>) {
    buf.push(FORMAT);
    buf.push(kind_code(e.kind));
    put_str(buf, e.dn());
    put_str(buf, e.ndn());
    put_str(buf, e.created());
    put_str(buf, e.modified());
    let attrs = e.attrs.as_bytes();
    buf.extend_from_slice(&(attrs.len() as u32).to_le_bytes());
    buf.extend_from_slice(attrs);
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&x, rest) = self.b.split_first()?;
        self.b = rest;
        Some(x)
    }
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.b.split_at_checked(4)?;
        self.b = rest;
        Some(u32::from_le_bytes(head.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        let (head, rest) = self.b.split_at_checked(n)?;
        self.b = rest;
        Some(head)
    }
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

/// The inverse of `encode`; `None` on anything malformed (a corrupt row).
pub(crate) fn decode(b: &[u8], tenant: u16) -> Option<Entry> {
    let mut r = Reader { b };
    if r.u8()? != FORMAT {
        return None;
    }
    let kind = match r.u8()? {
        0 => EntryKind::Root,
        1 => EntryKind::Container,
        2 => EntryKind::User,
        3 => EntryKind::Group,
        4 => EntryKind::PrivateGroup,
        5 => EntryKind::ServiceAccount,
        _ => return None,
    };
    let dn = r.str()?;
    let ndn = r.str()?;
    let created = r.str()?;
    let modified = r.str()?;
    let attrs = Attrs::from_bytes(r.bytes()?)?;
    if !r.b.is_empty() {
        return None;
    }
    Some(Entry::new(dn, ndn, kind, tenant, attrs, created, modified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory::entry::Attr;

    fn sample() -> Entry {
        Entry::new(
            r#"cn=R&D\, Europe + \"Special\",ou=groups,dc=contoso,dc=com"#,
            r#"cn=r&d\, europe + \"special\",ou=groups,dc=contoso,dc=com"#,
            EntryKind::Group,
            3,
            Attrs::from(vec![
                Attr {
                    name: "objectClass",
                    values: vec!["top".into(), "groupOfNames".into(), "posixGroup".into()],
                },
                Attr {
                    name: "cn",
                    values: vec![r#"R&D, Europe + "Special""#.into()],
                },
                Attr {
                    name: "description",
                    values: vec!["Ünïcødé — ok".into()],
                },
            ]),
            "20240101000000Z",
            "20260101000000Z",
        )
    }

    #[test]
    fn entries_round_trip() {
        let e = sample();
        let mut buf = Vec::new();
        encode(&e, &mut buf);
        let d = decode(&buf, 3).expect("decodes");
        assert_eq!(d, e);
    }

    #[test]
    fn truncated_or_padded_rows_are_refused_not_panicked_on() {
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut], 0).is_none(), "cut at {cut}");
        }
        buf.push(0);
        assert!(decode(&buf, 0).is_none());
        // A huge attribute length with no data behind it.
        let mut evil = vec![FORMAT, 2];
        for _ in 0..4 {
            evil.extend_from_slice(&0u32.to_le_bytes());
        }
        evil.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&evil, 0).is_none());
    }

    #[test]
    fn sort_keys_keep_subtrees_contiguous() {
        // `ou=groups!` would sort between `ou=groups` and its children with `,` as separator.
        let mut ndns = vec![
            "ou=groups!,dc=x",
            "cn=a,ou=groups,dc=x",
            "dc=x",
            "ou=groups,dc=x",
            r"cn=b\,c,ou=groups,dc=x",
            "uid=z,ou=people,dc=x",
            "ou=people,dc=x",
        ];
        ndns.sort_by_key(|n| dn::dit_order_key(n));
        assert_eq!(
            ndns,
            vec![
                "dc=x",
                "ou=groups,dc=x",
                "cn=a,ou=groups,dc=x",
                r"cn=b\,c,ou=groups,dc=x",
                "ou=groups!,dc=x",
                "ou=people,dc=x",
                "uid=z,ou=people,dc=x",
            ]
        );
    }
}
