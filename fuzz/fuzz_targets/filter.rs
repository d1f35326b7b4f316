//! A filter string (RFC 4515) → ldap3_proto's parser → the limits check, then a search with it
//! at every scope over a small directory (compilation, index planning and evaluation).
#![no_main]

use ldap3_proto::proto::LdapSearchScope;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn snapshot() -> &'static directory::Snapshot {
    static S: OnceLock<directory::Snapshot> = OnceLock::new();
    S.get_or_init(o365_ldap_fuzz::snapshot)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = ldap3_proto::parse_ldap_filter_str(text) else {
        return;
    };
    if directory::filter::check_limits(&filter, 32, 512).is_err() {
        return;
    }
    for (base, scope) in [
        ("dc=contoso,dc=com", LdapSearchScope::Subtree),
        ("ou=people,dc=contoso,dc=com", LdapSearchScope::OneLevel),
        (
            "uid=alice,ou=people,dc=contoso,dc=com",
            LdapSearchScope::Base,
        ),
    ] {
        let _ = snapshot().search(base, scope, &filter);
    }
});
