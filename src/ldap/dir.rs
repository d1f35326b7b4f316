//! The seam between the LDAP service and the directory: every call the service makes into
//! `crate::directory` goes through here.
//!
//! TEMPORARY: until `directory::{snapshot, dn, schema, filter}` land on main, this file holds
//! minimal stand-ins with the same signatures, so the service compiles and its transport,
//! bind, rootDSE and paging logic can be tested. The merge replaces the stand-ins with
//! re-exports.

use crate::directory::Entry;
use ldap3_proto::proto::{LdapFilter, LdapSearchScope};

pub type EntryId = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: String,
    pub base_dn: String,
    pub base_ndn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    NoSuchObject { matched_dn: String },
}

/// Stand-in for `directory::Snapshot`: tenants and entries, searched by brute force.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub tenants: Vec<TenantInfo>,
    pub generation: u64,
    entries: Vec<Entry>,
}

impl Snapshot {
    pub fn empty() -> Snapshot {
        Snapshot::default()
    }

    pub fn from_parts(tenants: Vec<TenantInfo>, entries: Vec<Entry>) -> Snapshot {
        Snapshot {
            tenants,
            generation: 1,
            entries,
        }
    }

    pub fn entry(&self, id: EntryId) -> &Entry {
        // Ids only come from lookup/search on this snapshot.
        &self.entries[id as usize]
    }

    pub fn lookup(&self, ndn: &str) -> Option<EntryId> {
        self.entries
            .iter()
            .position(|e| &*e.ndn == ndn)
            .map(|i| i as EntryId)
    }

    pub fn search(
        &self,
        base_ndn: &str,
        scope: LdapSearchScope,
        filter: &LdapFilter,
    ) -> Result<Vec<EntryId>, SearchError> {
        if self.lookup(base_ndn).is_none() {
            return Err(SearchError::NoSuchObject {
                matched_dn: String::new(),
            });
        }
        let depth = |ndn: &str| ndn.split(',').count();
        let bd = depth(base_ndn);
        let suffix = format!(",{base_ndn}");
        Ok(self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| match scope {
                LdapSearchScope::Base => &*e.ndn == base_ndn,
                LdapSearchScope::OneLevel => e.ndn.ends_with(&suffix) && depth(&e.ndn) == bd + 1,
                LdapSearchScope::Subtree => &*e.ndn == base_ndn || e.ndn.ends_with(&suffix),
                LdapSearchScope::Children => e.ndn.ends_with(&suffix),
            })
            .filter(|(_, e)| {
                super::synthetic::matches(filter, &|n| entry_values(e, n)) == Some(true)
            })
            .map(|(i, _)| i as EntryId)
            .collect())
    }

    pub fn has_children(&self, id: EntryId) -> bool {
        let suffix = format!(",{}", self.entry(id).ndn);
        self.entries.iter().any(|e| e.ndn.ends_with(&suffix))
    }

    pub fn tenant_of(&self, id: EntryId) -> u16 {
        self.entry(id).tenant
    }
}

fn entry_values(e: &Entry, name: &str) -> Vec<String> {
    e.values(name).iter().map(|v| v.to_string()).collect()
}

/// Normalise a DN for comparison; `None` when it is not a valid DN.
pub fn normalize_dn(dn: &str) -> Option<String> {
    if dn.trim().is_empty() {
        return Some(String::new());
    }
    let parts: Vec<String> = dn
        .split(',')
        .map(|rdn| {
            let (t, v) = rdn.split_once('=')?;
            Some(format!(
                "{}={}",
                t.trim().to_ascii_lowercase(),
                v.trim().to_lowercase()
            ))
        })
        .collect::<Option<_>>()?;
    Some(parts.join(","))
}

/// Escape an attribute value for use in an RDN (RFC 4514 §2.4).
pub fn escape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What the service needs to know about an attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrInfo {
    pub name: &'static str,
    pub operational: bool,
}

const USER_ATTRS: &[&str] = &[
    "objectClass",
    "cn",
    "sn",
    "uid",
    "mail",
    "givenName",
    "displayName",
    "userPrincipalName",
    "uidNumber",
    "gidNumber",
    "homeDirectory",
    "loginShell",
    "gecos",
    "memberOf",
    "member",
    "memberUid",
    "description",
    "dc",
    "o",
    "ou",
    "title",
    "sAMAccountName",
    "entryUUID",
    "userCertificate",
    "nsAccountLock",
    "sshPublicKey",
    "userPassword",
];
const OPERATIONAL_ATTRS: &[&str] = &[
    "entryDN",
    "createTimestamp",
    "modifyTimestamp",
    "structuralObjectClass",
    "subschemaSubentry",
    "hasSubordinates",
    "attributeTypes",
    "objectClasses",
    "ldapSyntaxes",
    "matchingRules",
];

/// Look up an attribute type by name (case-insensitive, without options).
pub fn attribute(name: &str) -> Option<AttrInfo> {
    if let Some(n) = USER_ATTRS.iter().find(|n| n.eq_ignore_ascii_case(name)) {
        return Some(AttrInfo {
            name: n,
            operational: false,
        });
    }
    OPERATIONAL_ATTRS
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map(|n| AttrInfo {
            name: n,
            operational: true,
        })
}

/// Equality of two values under the attribute's equality rule.
pub fn values_equal(attr: &AttrInfo, a: &str, b: &str) -> bool {
    match attr.name {
        "memberUid" => a == b,
        "member" | "memberOf" | "entryDN" => {
            normalize_dn(a).is_some_and(|x| Some(x) == normalize_dn(b))
        }
        _ => a.trim().to_lowercase() == b.trim().to_lowercase(),
    }
}

/// Values of an operational attribute of a directory entry (not `hasSubordinates`, which
/// needs the snapshot).
pub fn operational_value(entry: &Entry, name: &'static str) -> Option<Vec<String>> {
    match name {
        "entryDN" => Some(vec![entry.dn.to_string()]),
        "createTimestamp" => Some(vec![entry.created.to_string()]),
        "modifyTimestamp" => Some(vec![entry.modified.to_string()]),
        "subschemaSubentry" => Some(vec![super::subschema::SUBSCHEMA_DN.to_string()]),
        "structuralObjectClass" => entry.first("objectClass").map(|_| {
            vec![
                match entry.kind {
                    crate::directory::EntryKind::Root => "organization",
                    crate::directory::EntryKind::Container => "organizationalUnit",
                    crate::directory::EntryKind::User => "inetOrgPerson",
                    crate::directory::EntryKind::Group
                    | crate::directory::EntryKind::PrivateGroup => "groupOfNames",
                    crate::directory::EntryKind::ServiceAccount => "applicationProcess",
                }
                .to_string(),
            ]
        }),
        _ => None,
    }
}

/// Reject filters deeper or larger than the configured limits.
pub fn check_filter_limits(
    filter: &LdapFilter,
    max_depth: usize,
    max_elements: usize,
) -> Result<(), String> {
    fn walk(
        f: &LdapFilter,
        depth: usize,
        count: &mut usize,
        max_depth: usize,
        max_elements: usize,
    ) -> Result<(), String> {
        *count += 1;
        if *count > max_elements {
            return Err(format!(
                "filter has more than {max_elements} elements (server.max_filter_elements)"
            ));
        }
        if depth > max_depth {
            return Err(format!(
                "filter is nested deeper than {max_depth} (server.max_filter_depth)"
            ));
        }
        match f {
            LdapFilter::And(v) | LdapFilter::Or(v) => v
                .iter()
                .try_for_each(|c| walk(c, depth + 1, count, max_depth, max_elements)),
            LdapFilter::Not(c) => walk(c, depth + 1, count, max_depth, max_elements),
            _ => Ok(()),
        }
    }
    let mut count = 0;
    walk(filter, 1, &mut count, max_depth, max_elements)
}

/// RFC 4512 attribute type descriptions for the subschema entry.
pub fn attribute_type_descriptions() -> Vec<String> {
    Vec::new()
}

/// RFC 4512 object class descriptions for the subschema entry.
pub fn object_class_descriptions() -> Vec<String> {
    Vec::new()
}
