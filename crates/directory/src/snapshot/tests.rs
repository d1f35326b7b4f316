//! Property tests for `Snapshot::patch`: a snapshot patched round after round answers exactly
//! like one built whole (`Snapshot::new`) over the same final entries.

use super::*;
use crate::derive::BuildReport;
use crate::entry::{Attr, EntryKind};
use crate::schema::IN_CHAIN_OID;
use ldap3_proto::parse_ldap_filter_str;
use ldap3_proto::proto::{LdapFilter, LdapMatchingRuleAssertion, LdapSearchScope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

const TENANTS: [&str; 2] = ["dc=contoso,dc=com", "dc=fabrikam,dc=com"];

fn attr(name: &'static str, values: Vec<String>) -> Attr {
    Attr {
        name,
        values: values.into_iter().map(Box::from).collect(),
    }
}

fn mk(dn_s: &str, kind: EntryKind, tenant: u16, attrs: Vec<Attr>) -> Entry {
    Entry::new(
        dn_s,
        dn::normalize(dn_s).unwrap_or_default(),
        kind,
        tenant,
        attrs,
        "20250101000000Z",
        "20250202000000Z",
    )
}

/// How a group DN is spelled in a `memberOf`: sometimes upper-cased with spaces, as a
/// hand-edited or foreign value would be, so the closure has to normalise it.
fn spelled(rng: &mut StdRng, dn_s: &str) -> String {
    if rng.random_bool(0.2) {
        dn_s.replace("cn=", "CN=").replace(",ou=", ", OU=")
    } else {
        dn_s.to_string()
    }
}

/// The directory the snapshots should serve, kept in DIT order, and the generator of changes.
struct World {
    rng: StdRng,
    model: BTreeMap<(u16, String), Entry>,
    next: u32,
    /// Entries removed at some point (their DNs must not be found again unless re-added).
    gone: Vec<Entry>,
    generation: u64,
}

impl World {
    fn new(seed: u64, users: u32, groups: u32) -> World {
        let mut w = World {
            rng: StdRng::seed_from_u64(seed),
            model: BTreeMap::new(),
            next: 0,
            gone: Vec::new(),
            generation: 1,
        };
        for (t, base) in TENANTS.iter().enumerate() {
            let t = t as u16;
            let dc = base.split(['=', ',']).nth(1).unwrap_or("x");
            w.put(mk(
                base,
                EntryKind::Root,
                t,
                vec![
                    attr("objectClass", vec!["top".into(), "dcObject".into()]),
                    attr("dc", vec![dc.into()]),
                ],
            ));
            for ou in ["people", "groups", "services"] {
                w.put(mk(
                    &format!("ou={ou},{base}"),
                    EntryKind::Container,
                    t,
                    vec![
                        attr(
                            "objectClass",
                            vec!["top".into(), "organizationalUnit".into()],
                        ),
                        attr("ou", vec![ou.into()]),
                    ],
                ));
            }
            w.put(mk(
                &format!("cn=vpn appliance,ou=services,{base}"),
                EntryKind::ServiceAccount,
                t,
                vec![
                    attr(
                        "objectClass",
                        vec!["top".into(), "applicationProcess".into()],
                    ),
                    attr("cn", vec!["vpn appliance".into()]),
                ],
            ));
            let (nu, ng) = if t == 0 { (users, groups) } else { (20, 4) };
            // Nested groups: each may sit in earlier ones; memberOf is transitive, as built.
            let mut ancestors: Vec<Vec<String>> = Vec::new();
            let mut group_dns: Vec<String> = Vec::new();
            for _ in 0..ng {
                let mut anc: Vec<String> = Vec::new();
                if !group_dns.is_empty() {
                    for _ in 0..w.rng.random_range(0..3) {
                        let j = w.rng.random_range(0..group_dns.len());
                        anc.push(group_dns[j].clone());
                        anc.extend(ancestors[j].iter().cloned());
                    }
                }
                anc.sort();
                anc.dedup();
                let mut g = w.group(t, Vec::new(), anc.clone());
                if w.rng.random_bool(0.1) || group_dns.len() == 1 {
                    // In a membership cycle: the builder lists the group in its own memberOf.
                    let own = g.dn().to_string();
                    push_value(&mut g, "memberOf", &own);
                }
                group_dns.push(g.dn().to_string());
                ancestors.push(anc);
                w.put(g);
            }
            for _ in 0..nu {
                let mut member_of: Vec<String> = Vec::new();
                for _ in 0..w.rng.random_range(0..4) {
                    if group_dns.is_empty() {
                        break;
                    }
                    let j = w.rng.random_range(0..group_dns.len());
                    member_of.push(group_dns[j].clone());
                    member_of.extend(ancestors[j].iter().cloned());
                }
                member_of.sort();
                member_of.dedup();
                let u = w.user(t, member_of);
                w.put(u);
            }
            // Direct members, from the users' and groups' memberOf (all listed, as flattened).
            let members: Vec<(String, String, String)> = w
                .model
                .values()
                .filter(|e| e.tenant == t)
                .flat_map(|e| {
                    let uid = e.first("uid").unwrap_or("").to_string();
                    e.values("memberOf")
                        .iter()
                        .map(move |g| (g.to_string(), e.dn().to_string(), uid.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            for (g, m, uid) in members {
                let Ok(gn) = dn::normalize(&g) else { continue };
                if let Some(ge) = w.model.get_mut(&(t, dn::dit_order_key(&gn))) {
                    push_value(ge, "member", &m);
                    if !uid.is_empty() {
                        push_value(ge, "memberUid", &uid);
                    }
                }
            }
        }
        w
    }

    fn put(&mut self, e: Entry) {
        self.model.insert((e.tenant, dn::dit_order_key(e.ndn())), e);
    }

    fn fresh(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    fn user(&mut self, t: u16, member_of: Vec<String>) -> Entry {
        let n = self.fresh();
        // Plus signs, quotes and commas in names, as Graph hands them over.
        let (uid, cn) = match n % 5 {
            0 => (format!("j.smith+{n}"), format!("Smith, John {n}")),
            1 => (format!("o'brien{n}"), format!("Conan O'Brien {n}")),
            2 => (format!("ann-{n}"), format!("Ann \"Annie\" Lee {n}")),
            _ => (format!("user{n}"), format!("User {n}")),
        };
        let base = TENANTS[usize::from(t)];
        let member_of: Vec<String> = member_of
            .iter()
            .map(|g| spelled(&mut self.rng, g))
            .collect();
        mk(
            &dn::build("uid", &uid, &format!("ou=people,{base}")),
            EntryKind::User,
            t,
            vec![
                attr(
                    "objectClass",
                    ["top", "person", "inetOrgPerson", "posixAccount"]
                        .map(String::from)
                        .to_vec(),
                ),
                attr("uid", vec![uid.clone()]),
                attr("cn", vec![cn]),
                attr("mail", vec![format!("{uid}@contoso.com")]),
                attr("uidNumber", vec![(10_000 + n).to_string()]),
                attr("gidNumber", vec![(10_000 + n % 7).to_string()]),
                attr(
                    "entryUUID",
                    vec![format!("00000000-0000-4000-8000-{n:012}")],
                ),
                attr("memberOf", member_of),
            ],
        )
    }

    fn group(&mut self, t: u16, member: Vec<String>, member_of: Vec<String>) -> Entry {
        let n = self.fresh();
        let cn = match n % 4 {
            0 => format!("R&D, Europe {n}"),
            1 => format!("C++ Devs {n}"),
            2 => format!("Sales (EMEA) {n}"),
            _ => format!("staff{n}"),
        };
        let base = TENANTS[usize::from(t)];
        let member_of: Vec<String> = member_of
            .iter()
            .map(|g| spelled(&mut self.rng, g))
            .collect();
        mk(
            &dn::build("cn", &cn, &format!("ou=groups,{base}")),
            EntryKind::Group,
            t,
            vec![
                attr(
                    "objectClass",
                    ["top", "groupOfNames", "posixGroup"]
                        .map(String::from)
                        .to_vec(),
                ),
                attr("cn", vec![cn]),
                attr("gidNumber", vec![(50_000 + n).to_string()]),
                attr("member", member),
                attr(
                    "entryUUID",
                    vec![format!("10000000-0000-4000-8000-{n:012}")],
                ),
                attr("memberOf", member_of),
            ],
        )
    }

    fn pick(&mut self, kind: EntryKind) -> Option<Entry> {
        let all: Vec<&Entry> = self.model.values().filter(|e| e.kind == kind).collect();
        if all.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..all.len());
        Some(all[i].clone())
    }

    fn some_dns(&mut self, kind: EntryKind, t: u16, max: usize) -> Vec<String> {
        let all: Vec<String> = self
            .model
            .values()
            .filter(|e| e.kind == kind && e.tenant == t)
            .map(|e| e.dn().to_string())
            .collect();
        let mut out = Vec::new();
        if all.is_empty() {
            return out;
        }
        for _ in 0..self.rng.random_range(0..=max) {
            out.push(all[self.rng.random_range(0..all.len())].clone());
        }
        out.sort();
        out.dedup();
        out
    }

    fn tenant(&mut self) -> u16 {
        u16::from(self.rng.random_bool(0.2))
    }

    /// One random sync patch: (upserts, removals). `structural` adds changes only a
    /// compaction can take (a container with children, an entry under a new container).
    fn random_patch(&mut self, ops: usize, structural: bool) -> (Vec<Entry>, Vec<Box<str>>) {
        let mut up: Vec<Entry> = Vec::new();
        let mut rm: Vec<Box<str>> = Vec::new();
        for _ in 0..ops {
            match self.rng.random_range(0..11) {
                0 | 1 => {
                    let t = self.tenant();
                    let groups = self.some_dns(EntryKind::Group, t, 3);
                    let u = self.user(t, groups);
                    up.push(u);
                }
                2 | 3 => {
                    if let Some(mut u) = self.pick(EntryKind::User) {
                        let groups = self.some_dns(EntryKind::Group, u.tenant, 4);
                        let n = self.fresh();
                        u.attrs.edit(|attrs| {
                            for a in attrs {
                                match a.name {
                                    "memberOf" => {
                                        a.values =
                                            groups.iter().map(|g| g.as_str().into()).collect()
                                    }
                                    "mail" => {
                                        a.values = vec![format!("renamed{n}@contoso.com").into()]
                                    }
                                    "cn" => a.values.push(format!("Alias, {n}").into()),
                                    _ => {}
                                }
                            }
                        });
                        up.push(u);
                    }
                }
                4 => {
                    if let Some(u) = self.pick(EntryKind::User) {
                        rm.push(u.ndn().into());
                    }
                }
                5 => {
                    let t = self.tenant();
                    let members = self.some_dns(EntryKind::User, t, 5);
                    let parents = self.some_dns(EntryKind::Group, t, 2);
                    let g = self.group(t, members, parents);
                    up.push(g);
                }
                6 => {
                    if let Some(mut g) = self.pick(EntryKind::Group) {
                        let members = self.some_dns(EntryKind::User, g.tenant, 6);
                        let parents = self.some_dns(EntryKind::Group, g.tenant, 2);
                        g.attrs.edit(|attrs| {
                            for a in attrs {
                                match a.name {
                                    "member" => {
                                        a.values =
                                            members.iter().map(|m| m.as_str().into()).collect()
                                    }
                                    "memberOf" => {
                                        a.values =
                                            parents.iter().map(|m| m.as_str().into()).collect()
                                    }
                                    _ => {}
                                }
                            }
                        });
                        up.push(g);
                    }
                }
                7 => {
                    if let Some(g) = self.pick(EntryKind::Group) {
                        rm.push(g.ndn().into());
                    }
                }
                8 => {
                    // Stale removals: never served, or already removed.
                    rm.push("uid=nobody,ou=people,dc=contoso,dc=com".into());
                    if let Some(e) = self.gone.first() {
                        rm.push(e.ndn().into());
                    }
                }
                9 => {
                    // The only child of ou=services (or of a user, below): its parent loses
                    // its last child.
                    if let Some(e) = self.pick(EntryKind::ServiceAccount) {
                        rm.push(e.ndn().into());
                    }
                }
                _ => {
                    // The same DN twice in one patch (the last wins), and removed-then-upserted.
                    if let Some(u) = self.pick(EntryKind::User) {
                        let mut a = u.clone();
                        a.attrs.edit(|l| l.retain(|x| x.name != "mail"));
                        up.push(a);
                        let mut b = u.clone();
                        push_value(&mut b, "mail", "second@contoso.com");
                        up.push(b);
                        rm.push(u.ndn().into());
                    }
                }
            }
        }
        if structural {
            match self.rng.random_range(0..3) {
                0 => {
                    // A new container with a user below it.
                    let n = self.fresh();
                    let ou = format!("ou=extra {n},{}", TENANTS[0]);
                    up.push(mk(
                        &ou,
                        EntryKind::Container,
                        0,
                        vec![attr("objectClass", vec!["organizationalUnit".into()])],
                    ));
                    let mut u = self.user(0, Vec::new());
                    let dn_s = format!("uid=under{n},{ou}");
                    u = u.with_dn(&dn_s, &dn::normalize(&dn_s).unwrap_or_default());
                    up.push(u);
                }
                1 => {
                    // A container and everything below it.
                    let t = self.tenant();
                    let base: Box<str> = format!("ou=services,{}", TENANTS[usize::from(t)]).into();
                    for e in self.model.values() {
                        if dn::is_within_ndn(e.ndn(), &base) {
                            rm.push(e.ndn().into());
                        }
                    }
                }
                _ => {
                    // A child below a user (a leaf until now).
                    if let Some(u) = self.pick(EntryKind::User) {
                        let n = self.fresh();
                        up.push(mk(
                            &format!("cn=device {n},{}", u.dn()),
                            EntryKind::ServiceAccount,
                            u.tenant,
                            vec![attr("cn", vec![format!("device {n}")])],
                        ));
                    }
                }
            }
        }
        (up, rm)
    }

    /// Apply a patch to the model the way `patch` documents it: removals, then upserts.
    fn apply(&mut self, up: &[Entry], rm: &[Box<str>]) {
        for ndn in rm {
            let key = self
                .model
                .iter()
                .find(|(_, e)| e.ndn() == &**ndn)
                .map(|(k, _)| k.clone());
            if let Some(k) = key
                && let Some(e) = self.model.remove(&k)
            {
                self.gone.push(e);
            }
        }
        for e in up {
            self.put(e.clone());
        }
        self.generation += 1;
    }

    fn flat(&self) -> Snapshot {
        Snapshot::new(self.generation, self.builds())
    }

    fn builds(&self) -> Vec<TenantBuild> {
        TENANTS
            .iter()
            .enumerate()
            .map(|(t, base)| TenantBuild {
                info: TenantInfo {
                    name: format!("t{t}"),
                    base_dn: base.to_string(),
                    base_ndn: base.to_string(),
                },
                entries: self
                    .model
                    .values()
                    .filter(|e| usize::from(e.tenant) == t)
                    .cloned()
                    .collect(),
                report: BuildReport::default(),
            })
            .collect()
    }
}

fn push_value(e: &mut Entry, name: &'static str, v: &str) {
    e.attrs
        .edit(|attrs| match attrs.iter_mut().find(|a| a.name == name) {
            Some(a) => a.values.push(v.into()),
            None => attrs.push(attr(name, vec![v.to_string()])),
        });
}

/// A filter assertion value with everything but letters and digits hex-escaped (RFC 4515
/// allows it; ldap3_proto's parser needs it for spaces, `=` and `&`).
fn fv(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\{b:02x}"));
        }
    }
    out
}

fn in_chain(attr: &str, value: &str) -> LdapFilter {
    LdapFilter::Extensible(LdapMatchingRuleAssertion {
        matching_rule: Some(IN_CHAIN_OID.into()),
        type_: Some(attr.into()),
        match_value: value.into(),
        dn_attributes: false,
    })
}

fn dns(s: &Snapshot, ids: &[EntryId]) -> Vec<String> {
    ids.iter().map(|id| s.entry(*id).dn().to_string()).collect()
}

/// Every observable answer of `got` equals that of `want` (a flat snapshot of the model).
fn assert_same(got: &Snapshot, want: &Snapshot, w: &mut World, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: len");
    assert_eq!(got.is_empty(), want.is_empty(), "{ctx}: is_empty");
    assert_eq!(got.tenants, want.tenants, "{ctx}: tenants");
    let g: Vec<&Entry> = got.iter().map(|(_, e)| e).collect();
    let f: Vec<&Entry> = want.iter().map(|(_, e)| e).collect();
    assert_eq!(g, f, "{ctx}: iter");
    for (id, e) in got.iter() {
        assert_eq!(got.entry(id), e, "{ctx}: entry(id) of iter");
    }
    for (wid, e) in want.iter() {
        let id = got.lookup(e.ndn());
        assert!(id.is_some(), "{ctx}: lookup {}", e.dn());
        let id = id.unwrap_or_default();
        assert_eq!(got.entry(id), e, "{ctx}: lookup {}", e.dn());
        assert_eq!(
            got.has_children(id),
            want.has_children(wid),
            "{ctx}: has_children {}",
            e.dn()
        );
        assert_eq!(got.tenant_of(id), want.tenant_of(wid), "{ctx}: tenant_of");
    }
    for e in &w.gone {
        assert_eq!(
            got.lookup(e.ndn()).is_some(),
            want.lookup(e.ndn()).is_some(),
            "{ctx}: lookup of removed {}",
            e.dn()
        );
    }

    // Sampled values of every indexed attribute, from served and removed entries.
    let mut samples: Vec<Entry> = Vec::new();
    for _ in 0..12 {
        let i = w.rng.random_range(0..f.len());
        samples.push(f[i].clone());
    }
    for e in w.gone.iter().rev().take(4) {
        samples.push(e.clone());
    }
    for a in INDEXED {
        for e in &samples {
            for v in e.values(a) {
                assert_eq!(
                    dns(got, &got.find_eq(a, v)),
                    dns(want, &want.find_eq(a, v)),
                    "{ctx}: find_eq {a}={v}"
                );
            }
        }
        assert!(got.find_eq(a, "no such value").is_empty());
    }

    let user = |w: &mut World| w.pick(EntryKind::User);
    let group = |w: &mut World| w.pick(EntryKind::Group);
    let (Some(u1), Some(u2), Some(g1), Some(g2)) = (user(w), user(w), group(w), group(w)) else {
        panic!("{ctx}: the model lost all its users or groups");
    };
    let uid = |e: &Entry| fv(e.first("uid").unwrap_or(""));
    let cn = |e: &Entry| fv(e.first("cn").unwrap_or(""));
    let texts = [
        "(objectClass=*)".to_string(),
        "(objectClass=posixAccount)".into(),
        "(!(objectClass=posixGroup))".into(),
        format!("(uid={})", uid(&u1)),
        format!(
            "(mail={})",
            fv(&u2.first("mail").unwrap_or("").to_uppercase())
        ),
        format!("(cn={}*)", cn(&u1).chars().take(4).collect::<String>()),
        r"(cn=*,\20*)".into(),
        format!("(&(objectClass=person)(memberOf={}))", fv(g1.dn())),
        format!("(|(uid={})(uid={})(cn={}))", uid(&u1), uid(&u2), cn(&g2)),
        format!("(member={})", fv(u2.dn())),
        format!("(memberUid={})", uid(&u1)),
        format!("(gidNumber={})", fv(g2.first("gidNumber").unwrap_or(""))),
        "(uidNumber>=10100)".into(),
        format!("(entryDN={})", fv(u1.dn())),
        format!("(&(objectClass=*)(!(uid={})))", uid(&u2)),
        "(hasSubordinates=TRUE)".into(),
        format!(
            "(&(|(objectClass=groupOfNames)(uid={}))(!(memberOf={})))",
            uid(&u1),
            fv(g2.dn())
        ),
    ];
    let mut filters: Vec<(String, LdapFilter)> = texts
        .iter()
        .map(|t| match parse_ldap_filter_str(t) {
            Ok(f) => (t.clone(), f),
            Err(e) => panic!("{t}: {e:?}"),
        })
        .collect();
    filters.push(("in-chain memberOf g1".into(), in_chain("memberOf", g1.dn())));
    filters.push(("in-chain memberOf g2".into(), in_chain("memberOf", g2.dn())));
    filters.push(("in-chain member u1".into(), in_chain("member", u1.dn())));
    filters.push(("in-chain member g1".into(), in_chain("member", g1.dn())));
    filters.push((
        "not in-chain memberOf g1".into(),
        LdapFilter::Not(Box::new(in_chain("memberOf", g1.dn()))),
    ));
    // A group in a cycle is not its own member, whichever way it is asked.
    let cyclic = f
        .iter()
        .find(|e| e.values("memberOf").iter().any(|v| v == e.dn()))
        .map(|e| e.dn().to_string());
    // (Patches may have replaced or removed every group in a cycle.)
    if let Some(c) = cyclic {
        filters.push(("in-chain member cyclic".into(), in_chain("member", &c)));
        filters.push(("in-chain memberOf cyclic".into(), in_chain("memberOf", &c)));
        filters.push((
            "not in-chain memberOf cyclic".into(),
            LdapFilter::Not(Box::new(in_chain("memberOf", &c))),
        ));
    }
    filters.push((
        "in-chain and objectClass".into(),
        LdapFilter::And(vec![
            in_chain("memberOf", g2.dn()),
            LdapFilter::Equality("objectClass".into(), "posixAccount".into()),
        ]),
    ));

    let mut bases: Vec<String> = TENANTS.iter().map(|t| t.to_string()).collect();
    bases.push(format!("ou=people,{}", TENANTS[0]));
    bases.push(format!("ou=groups,{}", TENANTS[0]));
    bases.push(format!("ou=services,{}", TENANTS[1]));
    bases.push(u1.ndn().to_string());
    bases.push(g2.ndn().to_string());
    bases.push(format!("uid=nobody,ou=people,{}", TENANTS[0]));
    if let Some(e) = w.gone.last() {
        bases.push(e.ndn().to_string());
    }
    for (text, filter) in &filters {
        for base in &bases {
            for scope in [
                LdapSearchScope::Base,
                LdapSearchScope::OneLevel,
                LdapSearchScope::Subtree,
            ] {
                // The cost estimate bounds what the search finds, overlaid or not.
                if let Ok(ids) = got.search(base, scope.clone(), filter) {
                    let cost = got.search_cost(base, &scope, filter);
                    assert!(
                        ids.len() <= cost,
                        "{ctx}: cost {cost} < {} found",
                        ids.len()
                    );
                }
                let a = got
                    .search(base, scope.clone(), filter)
                    .map(|ids| dns(got, &ids));
                let b = want
                    .search(base, scope.clone(), filter)
                    .map(|ids| dns(want, &ids));
                assert_eq!(a, b, "{ctx}: search {text} under {base} ({scope:?})");
            }
        }
    }
}

fn is_overlaid(s: &Snapshot) -> bool {
    s.overlay.is_some()
}

#[test]
fn successive_patches_answer_like_a_snapshot_built_whole() {
    for seed in [1, 2, 3] {
        let mut w = World::new(seed, 300, 40);
        let mut snap = w.flat();
        let base = Arc::clone(&snap.base);
        let mut overlaid = 0;
        for round in 0..8 {
            let ops = w.rng.random_range(1..25);
            let (up, rm) = w.random_patch(ops, false);
            w.apply(&up, &rm);
            snap = snap.patch(w.generation, up, rm);
            assert_eq!(snap.generation, w.generation);
            let want = w.flat();
            assert_same(&snap, &want, &mut w, &format!("seed {seed} round {round}"));
            if is_overlaid(&snap) {
                overlaid += 1;
                assert!(Arc::ptr_eq(&snap.base, &base), "a patch shares its base");
            }
        }
        assert_eq!(overlaid, 8, "leaf changes stay in the overlay");
    }
}

#[test]
fn patching_a_patched_snapshot_keeps_the_base_and_merges_overlays() {
    let mut w = World::new(11, 200, 30);
    let s0 = w.flat();
    let (up, rm) = w.random_patch(20, false);
    w.apply(&up, &rm);
    let s1 = s0.patch(w.generation, up, rm);
    // Replace what the first patch added, remove part of it, and add more.
    let added: Vec<Entry> = s1
        .overlay
        .as_ref()
        .map(|ov| ov.entries.iter().map(|e| (**e).clone()).collect())
        .unwrap_or_default();
    assert!(!added.is_empty());
    let mut up: Vec<Entry> = Vec::new();
    let mut rm: Vec<Box<str>> = Vec::new();
    for (i, mut e) in added.into_iter().enumerate() {
        if i % 3 == 0 {
            rm.push(e.ndn().into());
        } else {
            push_value(&mut e, "cn", "Changed, again");
            up.push(e);
        }
    }
    let (more_up, more_rm) = w.random_patch(10, false);
    up.extend(more_up);
    rm.extend(more_rm);
    w.apply(&up, &rm);
    let s2 = s1.patch(w.generation, up, rm);
    assert!(is_overlaid(&s2));
    assert!(Arc::ptr_eq(&s2.base, &s0.base), "the base is shared");
    let want = w.flat();
    assert_same(&s2, &want, &mut w, "second patch");
    // The earlier snapshots still answer as they did.
    assert_eq!(s0.len(), 200 + 30 + 20 + 4 + 8 + 2);
}

#[test]
fn changes_an_overlay_cannot_hold_compact_to_an_equal_flat_snapshot() {
    let (mut compacted, mut overlaid) = (0, 0);
    for seed in [21, 22, 23, 24, 25, 26] {
        let mut w = World::new(seed, 150, 20);
        let mut snap = w.flat();
        for round in 0..4 {
            let (up, rm) = w.random_patch(5, round % 2 == 1);
            w.apply(&up, &rm);
            snap = snap.patch(w.generation, up, rm);
            if is_overlaid(&snap) {
                overlaid += 1;
            } else {
                compacted += 1;
            }
            let want = w.flat();
            assert_same(&snap, &want, &mut w, &format!("seed {seed} round {round}"));
        }
    }
    assert!(compacted > 0 && overlaid > 0, "{compacted} {overlaid}");
}

#[test]
fn crossing_the_overlay_limit_compacts() {
    let mut w = World::new(31, 1500, 50);
    let s0 = w.flat();
    // Below the limit: overlaid.
    let (up, rm) = w.random_patch(200, false);
    w.apply(&up, &rm);
    let s1 = s0.patch(w.generation, up, rm);
    assert!(is_overlaid(&s1));
    // Over it (1024 overlay entries plus shadowed ids): a new flat base, still equal.
    let mut up = Vec::new();
    for _ in 0..1100 {
        let groups = w.some_dns(EntryKind::Group, 0, 2);
        up.push(w.user(0, groups));
    }
    w.apply(&up, &[]);
    let s2 = s1.patch(w.generation, up, Vec::new());
    assert!(!is_overlaid(&s2), "compacted");
    assert!(!Arc::ptr_eq(&s2.base, &s0.base));
    let want = w.flat();
    assert_same(&s2, &want, &mut w, "after compaction");
    // And patching resumes on the new base.
    let (up, rm) = w.random_patch(10, false);
    w.apply(&up, &rm);
    let s3 = s2.patch(w.generation, up, rm);
    assert!(is_overlaid(&s3));
    assert!(Arc::ptr_eq(&s3.base, &s2.base));
    let want = w.flat();
    assert_same(&s3, &want, &mut w, "after compaction, patched");
}

#[test]
fn an_empty_patch_changes_nothing_but_the_generation() {
    let mut w = World::new(41, 50, 5);
    let s0 = w.flat();
    let s1 = s0.patch(9, Vec::new(), Vec::new());
    assert_eq!(s1.generation, 9);
    assert_same(&s1, &s0, &mut w, "empty patch");
}

#[test]
fn a_patched_lazily_indexed_snapshot_answers_like_a_built_one() {
    // A start from the stored directory serves a lazily indexed snapshot; the first patched
    // round patches it before any index is built.
    let mut w = World::new(51, 200, 25);
    let lazy = Snapshot::new_lazy(w.generation, w.builds());
    let (up, rm) = w.random_patch(15, false);
    w.apply(&up, &rm);
    let patched = lazy.patch(w.generation, up, rm);
    assert!(is_overlaid(&patched));
    let want = w.flat();
    assert_same(&patched, &want, &mut w, "patched lazy snapshot");
    patched.warm();
    assert_same(&patched, &want, &mut w, "patched lazy snapshot, warmed");
}
