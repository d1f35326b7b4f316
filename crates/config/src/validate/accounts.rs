//! `[[service_account]]` and the POSIX id ranges: names, password hashes, the tenants an
//! account may read.

use super::{MAX_ID_NUMBER, MIN_ID_NUMBER, Problems, account_key, is_rdn_name};
use crate::{ServiceAccount, TenantConfig};
use std::collections::HashMap;

/// Inclusive `[first, last]` inside the allowed band; says whether the range is usable so the
/// overlap check does not pile a second message on a broken range.
pub(super) fn id_range(key: &str, [first, last]: [u32; 2], p: &mut Problems) -> bool {
    if first > last {
        p.push(
            key,
            format!("[{first}, {last}] is backwards; write [first, last] with first <= last"),
        );
        return false;
    }
    if first < MIN_ID_NUMBER || last > MAX_ID_NUMBER {
        p.push(
            key,
            format!(
                "[{first}, {last}] must lie within [{MIN_ID_NUMBER}, {MAX_ID_NUMBER}]: numbers \
                 below 1000 belong to system accounts, and some tools store ids as signed 32-bit"
            ),
        );
        return false;
    }
    true
}

pub(super) fn service_accounts(
    list: &[ServiceAccount],
    tenants: &[TenantConfig],
    p: &mut Problems,
) {
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, a) in list.iter().enumerate() {
        let key = account_key(i, &a.name);
        if !is_rdn_name(&a.name) {
            p.push(
                format!("{key}.name"),
                "must be 1-64 letters, digits, `.`, `-` or `_` (it becomes \
                 cn=<name>,ou=services,<base_dn>); e.g. \"vpn\"",
            );
        } else if let Some(first) = names.insert(a.name.to_ascii_lowercase(), i) {
            p.push(
                format!("{key}.name"),
                format!(
                    "is also the name of service account number {first} (bind names ignore \
                     case); give each account its own name"
                ),
            );
        }
        if !is_argon2id_phc(&a.password_hash) {
            // The value is never echoed: it may be a plain password pasted by mistake.
            p.push(
                format!("{key}.password_hash"),
                "is not an argon2id hash; run `o365-ldap hash-password` and paste its output",
            );
        }
        for (ti, name) in a.tenants.iter().enumerate() {
            if !tenants.iter().any(|t| t.name.eq_ignore_ascii_case(name)) {
                let known: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
                p.push(
                    format!("{key}.tenants[{ti}]"),
                    format!(
                        "no [[tenant]] is named `{name}`; known tenants: {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
        }
    }
}

/// A complete argon2id PHC string: algorithm, usable parameters, salt and hash output.
pub(super) fn is_argon2id_phc(s: &str) -> bool {
    if !s.starts_with("$argon2id$") {
        return false;
    }
    match argon2::PasswordHash::new(s) {
        Ok(h) => h.salt.is_some() && h.hash.is_some() && argon2::Params::try_from(&h).is_ok(),
        Err(_) => false,
    }
}
