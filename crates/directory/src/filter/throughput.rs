//! Filter evaluation throughput over synthetic users, for string preparation changes (it sits
//! on the hot path of every search): `cargo test -p o365-directory --release -- --ignored
//! --nocapture filter_throughput`. Prints entries evaluated per second for each filter.

use std::time::Instant;

use ldap3_proto::proto::{LdapFilter, LdapSubstringFilter};

use crate::filter::{NoMembership, compile};
use crate::{Attr, Entry, EntryKind};

fn user(i: usize) -> Entry {
    // One user in eight has a non-ASCII name, some of them decomposed (as Graph may deliver).
    let (given, sn) = match i % 8 {
        0 => ("Zoë".to_string(), format!("Müller{i}")),
        1 => (
            "A\u{30a}sa".to_string(),
            format!("A\u{30a}ngstro\u{308}m{i}"),
        ),
        _ => (format!("User{i}"), format!("Smith{i}")),
    };
    let uid = format!("user{i}");
    let dn = format!("uid={uid},ou=people,dc=bench,dc=example");
    let attr = |name: &'static str, v: String| Attr {
        name,
        values: vec![v.into_boxed_str()],
    };
    Entry::new(
        &dn,
        &dn,
        EntryKind::User,
        0,
        vec![
            Attr {
                name: "objectClass",
                values: [
                    "top",
                    "person",
                    "organizationalPerson",
                    "inetOrgPerson",
                    "posixAccount",
                ]
                .iter()
                .map(|s| (*s).into())
                .collect(),
            },
            attr("uid", uid.clone()),
            attr("cn", format!("{given} {sn}")),
            attr("sn", sn),
            attr("givenName", given),
            attr("mail", format!("{uid}@bench.example")),
            attr("uidNumber", (100_000 + i).to_string()),
        ],
        "20240101000000Z",
        "20240101000000Z",
    )
}

#[test]
#[ignore = "a measurement, not a check: run in release with --ignored --nocapture"]
fn filter_throughput() {
    let entries: Vec<Entry> = (0..100_000).map(user).collect();
    let eq = |a: &str, v: &str| LdapFilter::Equality(a.into(), v.into());
    let filters = [
        ("(uid=user77777)", eq("uid", "user77777")),
        ("(cn=Zoë Müller8)", eq("cn", "Zoë Müller8")),
        (
            "(&(objectClass=posixAccount)(uid=USER5))",
            LdapFilter::And(vec![eq("objectClass", "posixAccount"), eq("uid", "USER5")]),
        ),
        (
            "(cn=*smith*)",
            LdapFilter::Substring(
                "cn".into(),
                LdapSubstringFilter {
                    initial: None,
                    any: vec!["smith".into()],
                    final_: None,
                },
            ),
        ),
        (
            "(uidNumber>=150000)",
            LdapFilter::GreaterOrEqual("uidNumber".into(), "150000".into()),
        ),
    ];
    for (name, f) in &filters {
        let started = Instant::now();
        let mut hits = 0usize;
        let rounds = 5;
        for _ in 0..rounds {
            let c = compile(f);
            hits += entries
                .iter()
                .filter(|e| c.matches(e, &NoMembership))
                .count();
        }
        let secs = started.elapsed().as_secs_f64();
        let per_sec = (rounds * entries.len()) as f64 / secs;
        println!(
            "{name:45} {:>8.1} M entries/s ({} hits)",
            per_sec / 1e6,
            hits / rounds
        );
    }
}
