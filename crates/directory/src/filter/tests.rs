//! Filter evaluation: RFC 4511 three-valued logic, the matching rule of each attribute, the
//! filters sssd, nslcd and sudo send, in-chain and extensible rules, limits, and random filters,
//! which must never panic and whose negation must always give the opposite answer.

use super::*;
use crate::entry::{Attr, Attrs};
use ldap3_proto::parse_ldap_filter_str;
use std::collections::HashMap;

const ALICE: &str = "uid=alice,ou=people,dc=contoso,dc=com";
const ENGINEERING: &str = "cn=Engineering,ou=groups,dc=contoso,dc=com";
const ALL_STAFF: &str = "cn=All Staff,ou=groups,dc=contoso,dc=com";
const RND_NAME: &str = "R&D, Europe + \"Special\"";

fn rnd_dn() -> String {
    dn::build("cn", RND_NAME, "ou=groups,dc=contoso,dc=com")
}

fn entry(kind: EntryKind, dn_str: &str, attrs: &[(&'static str, &[&str])]) -> Entry {
    Entry::new(
        dn_str,
        dn::normalize(dn_str).unwrap_or_default(),
        kind,
        0,
        attrs
            .iter()
            .map(|(name, values)| Attr {
                name,
                values: values.iter().map(|v| (*v).into()).collect(),
            })
            .collect::<Attrs>(),
        "20240115093000Z",
        "20250301120000Z",
    )
}

fn alice() -> Entry {
    let rnd = rnd_dn();
    entry(
        EntryKind::User,
        ALICE,
        &[
            (
                "objectClass",
                &[
                    "top",
                    "person",
                    "organizationalPerson",
                    "inetOrgPerson",
                    "posixAccount",
                ],
            ),
            ("uid", &["alice"]),
            ("cn", &["Alice Smith"]),
            ("sn", &["Smith"]),
            ("givenName", &["Alice"]),
            ("displayName", &["Alice Smith"]),
            ("mail", &["Alice.Smith@contoso.com"]),
            ("userPrincipalName", &["alice@contoso.com"]),
            ("uidNumber", &["10001"]),
            ("gidNumber", &["10001"]),
            ("homeDirectory", &["/home/alice"]),
            ("loginShell", &["/bin/bash"]),
            ("memberOf", &[rnd.as_str(), ENGINEERING]),
            ("entryUUID", &["6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60"]),
            ("telephoneNumber", &["+1 555-0100"]),
            ("sAMAccountName", &["alice"]),
        ],
    )
}

fn disabled_guest() -> Entry {
    entry(
        EntryKind::User,
        "uid=guest_fabrikam.com#ext#,ou=people,dc=contoso,dc=com",
        &[
            (
                "objectClass",
                &[
                    "top",
                    "person",
                    "organizationalPerson",
                    "inetOrgPerson",
                    "posixAccount",
                ],
            ),
            ("uid", &["guest_fabrikam.com#ext#"]),
            ("cn", &["Guest User"]),
            ("sn", &["User"]),
            ("uidNumber", &["0"]),
            ("gidNumber", &["0"]),
            ("homeDirectory", &["/home/guest"]),
            ("nsAccountLock", &["TRUE"]),
        ],
    )
}

fn rnd_group() -> Entry {
    let rnd = rnd_dn();
    entry(
        EntryKind::Group,
        &rnd,
        &[
            ("objectClass", &["top", "groupOfNames", "posixGroup"]),
            ("cn", &[RND_NAME]),
            ("gidNumber", &["20001"]),
            // Same DN as ENGINEERING, spelled differently: still one member.
            (
                "member",
                &[
                    "UID=Alice, OU=People, DC=Contoso, DC=Com",
                    "CN=engineering,OU=Groups,dc=contoso,dc=com",
                ],
            ),
            ("memberUid", &["alice", "Bob"]),
            ("description", &["Research; and development"]),
        ],
    )
}

fn people() -> Entry {
    entry(
        EntryKind::Container,
        "ou=people,dc=contoso,dc=com",
        &[
            ("objectClass", &["top", "organizationalUnit"]),
            ("ou", &["people"]),
        ],
    )
}

fn defaults_group() -> Entry {
    entry(
        EntryKind::Group,
        "cn=defaults,ou=groups,dc=contoso,dc=com",
        &[
            ("objectClass", &["top", "groupOfNames", "posixGroup"]),
            ("cn", &["defaults"]),
            ("gidNumber", &["20002"]),
        ],
    )
}

/// Transitive membership from explicit closure tables, keyed by normalised DNs.
struct Graph {
    groups_of: HashMap<String, Vec<String>>,
    members_of: HashMap<String, Vec<String>>,
}

impl Graph {
    fn new() -> Graph {
        let n = |s: &str| dn::normalize(s).unwrap_or_default();
        let rnd = n(&rnd_dn());
        // alice ∈ R&D ⊂ Engineering ⊂ All Staff
        Graph {
            groups_of: HashMap::from([
                (n(ALICE), vec![rnd.clone(), n(ENGINEERING), n(ALL_STAFF)]),
                (rnd.clone(), vec![n(ENGINEERING), n(ALL_STAFF)]),
            ]),
            members_of: HashMap::from([
                (n(ALL_STAFF), vec![n(ENGINEERING), rnd.clone(), n(ALICE)]),
                (n(ENGINEERING), vec![rnd.clone(), n(ALICE)]),
                (rnd, vec![n(ALICE)]),
            ]),
        }
    }
}

impl Membership for Graph {
    fn in_chain_member_of(&self, entry: &Entry, group_ndn: &str) -> bool {
        self.groups_of
            .get(entry.ndn())
            .is_some_and(|g| g.iter().any(|x| x == group_ndn))
    }

    fn in_chain_member(&self, group: &Entry, member_ndn: &str) -> bool {
        self.members_of
            .get(group.ndn())
            .is_some_and(|m| m.iter().any(|x| x == member_ndn))
    }
}

fn eq(a: &str, v: &str) -> LdapFilter {
    LdapFilter::Equality(a.into(), v.into())
}

fn present(a: &str) -> LdapFilter {
    LdapFilter::Present(a.into())
}

fn not(f: LdapFilter) -> LdapFilter {
    LdapFilter::Not(Box::new(f))
}

fn sub(a: &str, initial: Option<&str>, any: &[&str], final_: Option<&str>) -> LdapFilter {
    LdapFilter::Substring(
        a.into(),
        LdapSubstringFilter {
            initial: initial.map(Into::into),
            any: any.iter().map(|s| (*s).into()).collect(),
            final_: final_.map(Into::into),
        },
    )
}

fn ext(rule: Option<&str>, attr: Option<&str>, value: &str, dn_attributes: bool) -> LdapFilter {
    LdapFilter::Extensible(LdapMatchingRuleAssertion {
        matching_rule: rule.map(Into::into),
        type_: attr.map(Into::into),
        match_value: value.into(),
        dn_attributes,
    })
}

fn parsed(s: &str) -> LdapFilter {
    match parse_ldap_filter_str(s) {
        Ok(f) => f,
        Err(e) => panic!("test filter {s} does not parse: {e}"),
    }
}

fn ev(f: &LdapFilter, e: &Entry) -> Tri {
    evaluate(f, e, &Graph::new())
}

use Tri::{False as F, True as T, Undefined as U};

#[test]
fn three_valued_logic() {
    let e = alice();
    let t = present("objectClass");
    let f = eq("uid", "nobody");
    let u = eq("sudoHost", "ALL");
    assert_eq!(ev(&t, &e), T);
    assert_eq!(ev(&f, &e), F);
    assert_eq!(ev(&u, &e), U);
    assert_eq!(ev(&not(t.clone()), &e), F);
    assert_eq!(ev(&not(f.clone()), &e), T);
    assert_eq!(ev(&not(u.clone()), &e), U);
    let and = |v: Vec<LdapFilter>| LdapFilter::And(v);
    let or = |v: Vec<LdapFilter>| LdapFilter::Or(v);
    assert_eq!(ev(&and(vec![t.clone(), t.clone()]), &e), T);
    assert_eq!(ev(&and(vec![t.clone(), u.clone()]), &e), U);
    assert_eq!(ev(&and(vec![u.clone(), f.clone()]), &e), F);
    assert_eq!(ev(&and(vec![f.clone(), u.clone()]), &e), F);
    assert_eq!(ev(&or(vec![u.clone(), t.clone()]), &e), T);
    assert_eq!(ev(&or(vec![f.clone(), u.clone()]), &e), U);
    assert_eq!(ev(&or(vec![f.clone(), f.clone()]), &e), F);
    assert_eq!(ev(&and(vec![]), &e), T);
    assert_eq!(ev(&or(vec![]), &e), F);
    assert_eq!(ev(&not(and(vec![u.clone(), t.clone()])), &e), U);
    assert_eq!(ev(&not(or(vec![u, f])), &e), U);
}

#[test]
fn unknown_attributes_are_undefined() {
    let e = alice();
    for f in [
        eq("sudoHost", "ALL"),
        present("sudoHost"),
        not(present("sudoHost")),
        present("userCertificate;binary"),
        sub("sudoUser", Some("a"), &[], None),
        LdapFilter::GreaterOrEqual("x-unknown".into(), "1".into()),
        ext(None, Some("sudoHost"), "ALL", false),
        ext(Some("1.2.3.4.5"), Some("uid"), "alice", false),
        ext(
            Some("objectIdentifierFirstComponentMatch"),
            Some("uid"),
            "alice",
            false,
        ),
    ] {
        assert_eq!(ev(&f, &e), U, "{f:?}");
    }
}

#[test]
fn sssd_sudo_filter_never_matches() {
    let f = parsed(
        "(&(objectClass=sudoRole)(|(&(!(sudoHost=*))(cn=defaults))(sudoHost=ALL)\
         (sudoHost=web01)(sudoHost=web01.contoso.com)(sudoHost=192.168.1.10)\
         (sudoHost=192.168.1.0/24)(sudoHost=+*)))",
    );
    for e in [
        alice(),
        disabled_guest(),
        rnd_group(),
        people(),
        defaults_group(),
    ] {
        assert_ne!(ev(&f, &e), T, "{}", e.dn());
    }
    // The inner disjunction alone is Undefined, even for an entry named cn=defaults.
    if let LdapFilter::And(parts) = &f {
        assert_eq!(parts.get(1).map(|p| ev(p, &defaults_group())), Some(U));
    }
}

#[test]
fn sssd_and_nslcd_lookups() {
    let user =
        parsed("(&(uid=alice)(objectClass=posixAccount)(uid=*)(&(uidNumber=*)(!(uidNumber=0))))");
    assert_eq!(ev(&user, &alice()), T);
    assert_eq!(ev(&user, &disabled_guest()), F);
    assert_eq!(ev(&user, &rnd_group()), F);
    let by_gid = parsed(
        "(&(gidNumber=20001)(objectClass=posixGroup)(cn=*)(&(gidNumber=*)(!(gidNumber=0))))",
    );
    assert_eq!(ev(&by_gid, &rnd_group()), T);
    assert_eq!(ev(&by_gid, &alice()), F);
    let base = parsed("(objectClass=posixAccount)");
    assert_eq!(ev(&base, &alice()), T);
    assert_eq!(ev(&base, &people()), F);
    // initgroups, with the member DN spelled differently from the stored value.
    let initgroups = LdapFilter::And(vec![
        eq("member", "uid=ALICE,ou=people, dc=contoso,dc=com"),
        eq("objectClass", "posixGroup"),
        present("cn"),
    ]);
    assert_eq!(ev(&initgroups, &rnd_group()), T);
    let nslcd = LdapFilter::And(vec![
        eq("objectClass", "posixGroup"),
        LdapFilter::Or(vec![eq("memberUid", "alice"), eq("member", ALICE)]),
    ]);
    assert_eq!(ev(&nslcd, &rnd_group()), T);
    assert_eq!(ev(&nslcd, &defaults_group()), F);
    // pfSense browsing containers.
    let pfsense = parsed("(|(ou=*)(cn=Users))");
    assert_eq!(ev(&pfsense, &people()), T);
    assert_eq!(ev(&pfsense, &alice()), F);
}

#[test]
fn attribute_names_any_spelling() {
    let e = alice();
    for a in [
        "uid",
        "UID",
        "userid",
        "UserID",
        "0.9.2342.19200300.100.1.1",
    ] {
        assert_eq!(ev(&eq(a, "alice"), &e), T, "{a}");
    }
    // A description with an option is unrecognised (RFC 4512 §2.5): Undefined, and so is
    // its negation.
    for a in ["uid;x-tag", "uid;binary", "cn;lang-en"] {
        assert_eq!(ev(&eq(a, "alice"), &e), U, "{a}");
        assert_eq!(ev(&not(eq(a, "alice")), &e), U, "{a}");
        assert_eq!(ev(&present(a), &e), U, "{a}");
    }
    assert_eq!(ev(&eq("commonName", "ALICE   SMITH"), &e), T);
    assert_eq!(ev(&eq("surname", "smith"), &e), T);
    assert_eq!(ev(&eq("samaccountname", "Alice"), &e), T);
    assert_eq!(ev(&eq("mail", "alice.smith@CONTOSO.com"), &e), T);
    assert_eq!(ev(&eq("objectClass", "INETORGPERSON"), &e), T);
    assert_eq!(ev(&eq("objectClass", "2.5.6.6"), &e), T);
    assert_eq!(ev(&eq("objectClass", "groupOfNames"), &e), F);
    assert_eq!(
        ev(&LdapFilter::Approx("cn".into(), "alice smith".into()), &e),
        T
    );
}

#[test]
fn case_rules_per_attribute() {
    let g = rnd_group();
    assert_eq!(ev(&eq("memberUid", "alice"), &g), T);
    assert_eq!(ev(&eq("memberUid", "ALICE"), &g), F);
    assert_eq!(ev(&eq("memberUid", "Bob"), &g), T);
    // Without a type, a rule looks only at the attributes of its syntax: memberUid is an IA5
    // String, so caseIgnoreMatch (Directory String) does not see it.
    assert_eq!(ev(&ext(Some("caseIgnoreMatch"), None, "bob", false), &g), F);
    assert_eq!(
        ev(&ext(Some("caseExactIA5Match"), None, "Bob", false), &g),
        T
    );
    assert_eq!(ev(&eq("memberUid", "bob"), &g), F);
    assert_eq!(ev(&eq("cn", "r&d, europe + \"special\""), &g), T);
    assert_eq!(ev(&eq("homeDirectory", "/home/ALICE"), &alice()), F);
    assert_eq!(ev(&eq("homeDirectory", "/home/alice"), &alice()), T);
    // A known attribute the entry lacks is False, not Undefined.
    assert_eq!(ev(&eq("mail", "x@y"), &g), F);
    assert_eq!(ev(&present("mail"), &g), F);
    assert_eq!(ev(&not(present("mail")), &g), T);
}

#[test]
fn integers_compare_numerically() {
    let e = alice();
    let ge = |v: &str| LdapFilter::GreaterOrEqual("uidNumber".into(), v.into());
    let le = |v: &str| LdapFilter::LessOrEqual("uidNumber".into(), v.into());
    assert_eq!(ev(&ge("1000"), &e), T);
    assert_eq!(ev(&ge("10001"), &e), T);
    assert_eq!(ev(&ge("10002"), &e), F);
    assert_eq!(ev(&le("9999"), &e), F); // lexically "10001" < "9999"
    assert_eq!(ev(&le("10001"), &e), T);
    assert_eq!(ev(&ge("abc"), &e), U);
    assert_eq!(ev(&eq("uidNumber", "abc"), &e), U);
    assert_eq!(ev(&not(eq("uidNumber", "abc")), &e), U);
    // RFC 4517 §3.3.16: no leading zero, plus sign or spaces; such assertions are Undefined.
    for bad in ["010001", "+10001", " 10001", "10001 ", "-0"] {
        assert_eq!(ev(&eq("uidNumber", bad), &e), U, "{bad}");
        assert_eq!(ev(&not(eq("uidNumber", bad)), &e), U, "{bad}");
        assert_eq!(ev(&ge(bad), &e), U, "{bad}");
        assert_eq!(ev(&le(bad), &e), U, "{bad}");
    }
    // INTEGER is unbounded: compared by sign and length beyond 64 bits.
    assert_eq!(ev(&le("99999999999999999999"), &e), T);
    assert_eq!(ev(&ge("-99999999999999999999"), &e), T);
    assert_eq!(ev(&ge("99999999999999999999"), &e), F);
    assert_eq!(ev(&eq("uidNumber", "99999999999999999999"), &e), F);
    assert_eq!(ev(&not(eq("uidNumber", "99999999999999999999")), &e), T);
    assert_eq!(ev(&eq("gidNumber", "10002"), &e), F);
    // Text ordering for strings; none for DNs.
    assert_eq!(
        ev(&LdapFilter::GreaterOrEqual("cn".into(), "B".into()), &e),
        F
    );
    assert_eq!(ev(&LdapFilter::LessOrEqual("cn".into(), "b".into()), &e), T);
    assert_eq!(
        ev(
            &LdapFilter::GreaterOrEqual("member".into(), "cn=a".into()),
            &rnd_group()
        ),
        U
    );
}

#[test]
fn substrings() {
    let e = alice();
    assert_eq!(ev(&sub("cn", None, &[], Some("SMITH")), &e), T);
    assert_eq!(ev(&sub("cn", Some("al"), &["sm"], None), &e), T);
    assert_eq!(ev(&sub("cn", Some("al"), &["ice", "sm"], Some("h")), &e), T);
    // Components may not overlap: "alice smith" has one 'h' at the end.
    assert_eq!(ev(&sub("cn", None, &["smith"], Some("h")), &e), F);
    assert_eq!(ev(&sub("cn", Some("alice "), &[], None), &e), T);
    assert_eq!(ev(&sub("cn", Some("alices"), &[], None), &e), F);
    assert_eq!(ev(&sub("cn", None, &["ALICE   SMITH"], None), &e), T);
    assert_eq!(ev(&sub("cn", None, &[], Some("Jones")), &e), F);
    assert_eq!(ev(&sub("mail", None, &[], Some("@contoso.com")), &e), T);
    assert_eq!(ev(&sub("telephoneNumber", None, &[], Some("0100")), &e), T);
    assert_eq!(ev(&sub("telephoneNumber", Some("+1555"), &[], None), &e), T);
    let g = rnd_group();
    assert_eq!(ev(&sub("memberUid", None, &[], Some("ob")), &g), T);
    assert_eq!(ev(&sub("memberUid", None, &[], Some("OB")), &g), F);
    assert_eq!(ev(&sub("memberUid", Some("b"), &[], None), &g), F);
    // No substring rule for DNs, integers or object classes.
    assert_eq!(ev(&sub("member", Some("uid="), &[], None), &g), U);
    assert_eq!(ev(&sub("uidNumber", Some("1"), &[], None), &e), U);
    assert_eq!(ev(&sub("objectClass", Some("posix"), &[], None), &e), U);
    assert_eq!(ev(&sub("sn", None, &[], None), &e), T);
}

#[test]
fn dn_valued_attributes() {
    let e = alice();
    assert_eq!(
        ev(
            &eq("memberOf", "CN=Engineering, OU=Groups, DC=Contoso, DC=Com"),
            &e
        ),
        T
    );
    assert_eq!(
        ev(
            &eq(
                "memberOf",
                "cn=R\\26D\\2C Europe \\2B \\22Special\\22,ou=groups,dc=contoso,dc=com"
            ),
            &e
        ),
        T
    );
    assert_eq!(
        ev(&eq("memberOf", "cn=R&D,ou=groups,dc=contoso,dc=com"), &e),
        F
    );
    assert_eq!(ev(&eq("memberOf", "not a dn"), &e), U);
    assert_eq!(ev(&eq("member", ENGINEERING), &rnd_group()), T);
}

#[test]
fn operational_attributes_in_filters() {
    let e = alice();
    assert_eq!(
        ev(&eq("entryDN", "UID=Alice,OU=People,DC=Contoso,DC=Com"), &e),
        T
    );
    assert_eq!(
        ev(&eq("entrydn", "uid=bob,ou=people,dc=contoso,dc=com"), &e),
        F
    );
    assert_eq!(ev(&present("entryDN"), &e), T);
    assert_eq!(ev(&eq("structuralObjectClass", "inetOrgPerson"), &e), T);
    assert_eq!(
        ev(
            &eq("structuralObjectClass", "organizationalUnit"),
            &people()
        ),
        T
    );
    assert_eq!(ev(&eq("hasSubordinates", "TRUE"), &people()), T);
    assert_eq!(ev(&eq("hasSubordinates", "true"), &people()), U);
    assert_eq!(ev(&eq("hasSubordinates", "TRUE"), &e), F);
    assert_eq!(ev(&eq("subschemaSubentry", "CN=SUBSCHEMA"), &e), T);
    let ts = |a: &str, ge: bool, v: &str| {
        if ge {
            LdapFilter::GreaterOrEqual(a.into(), v.into())
        } else {
            LdapFilter::LessOrEqual(a.into(), v.into())
        }
    };
    assert_eq!(ev(&ts("createTimestamp", true, "20240101000000Z"), &e), T);
    assert_eq!(
        ev(&ts("createTimestamp", true, "20240115103000+0100"), &e),
        T
    );
    assert_eq!(
        ev(&ts("createTimestamp", true, "20240115103001+0100"), &e),
        F
    );
    assert_eq!(ev(&ts("modifyTimestamp", false, "20200101000000Z"), &e), F);
    assert_eq!(ev(&ts("modifyTimestamp", false, "yesterday"), &e), U);
    assert_eq!(ev(&eq("modifyTimestamp", "202503011200Z"), &e), T);

    assert_eq!(
        operational_value(&e, "entryDN"),
        Some(vec![ALICE.to_string()])
    );
    assert_eq!(
        operational_value(&e, "HASSUBORDINATES"),
        Some(vec!["FALSE".to_string()])
    );
    assert_eq!(
        operational_value(&people(), "hasSubordinates"),
        Some(vec!["TRUE".to_string()])
    );
    assert_eq!(
        operational_value(&e, "subschemaSubentry"),
        Some(vec![SUBSCHEMA_DN.to_string()])
    );
    assert_eq!(operational_value(&e, "uid"), None);
    assert_eq!(operational_value(&e, "namingContexts"), None);
    assert_eq!(structural_object_class(&rnd_group()), "groupOfNames");
    // groupOfNames requires a member: a group without one is a groupOfEntries.
    let empty = entry(
        EntryKind::Group,
        "cn=empty,ou=groups,dc=contoso,dc=com",
        &[
            ("objectClass", &["top", "groupOfEntries", "posixGroup"]),
            ("cn", &["empty"]),
        ],
    );
    assert_eq!(structural_object_class(&empty), "groupOfEntries");
    assert_eq!(structural_object_class(&people()), "organizationalUnit");
}

#[test]
fn other_syntaxes() {
    let e = alice();
    let guest = disabled_guest();
    assert_eq!(ev(&eq("nsAccountLock", "TRUE"), &guest), T);
    // Boolean is exactly TRUE or FALSE (RFC 4517 §3.3.3).
    assert_eq!(ev(&eq("nsAccountLock", "true"), &guest), U);
    assert_eq!(ev(&eq("nsAccountLock", "TRUE"), &e), F);
    assert_eq!(ev(&not(eq("nsAccountLock", "TRUE")), &e), T);
    assert_eq!(ev(&eq("nsAccountLock", "1"), &guest), U);
    assert_eq!(
        ev(&eq("entryUUID", "6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60"), &e),
        T
    );
    // Only the 36-character form is a UUID (RFC 4530 §2.1).
    for bad in [
        "6f2c1b6e8a3d4c599e072b1d3c4e5f60",
        "{6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60}",
        " 6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60",
    ] {
        assert_eq!(ev(&eq("entryUUID", bad), &e), U, "{bad}");
        assert_eq!(ev(&not(eq("entryUUID", bad)), &e), U, "{bad}");
    }
    // An OID has no insignificant spaces (RFC 4517 §3.3.26).
    assert_eq!(ev(&eq("objectClass", "person"), &e), T);
    assert_eq!(ev(&eq("objectClass", " person "), &e), U);
    assert_eq!(ev(&not(eq("objectClass", "person ")), &e), U);
    // A Directory String has at least one character (RFC 4517 §3.3.6).
    assert_eq!(ev(&eq("description", ""), &e), U);
    assert_eq!(ev(&not(eq("uid", "")), &e), U);
    // An IA5 String is ASCII: a non-ASCII assertion is invalid.
    assert_eq!(ev(&eq("mail", "alice.smith@contoso.com"), &e), T);
    assert_eq!(ev(&not(eq("mail", "zo\u{eb}@contoso.com")), &e), U);
    assert_eq!(ev(&eq("entryUUID", "alice"), &e), U);
    assert_eq!(ev(&eq("telephoneNumber", "+15550100"), &e), T);
    assert_eq!(ev(&eq("mobile", "+15550100"), &e), F);
}

#[test]
fn in_chain_membership() {
    let g = Graph::new();
    let e = alice();
    let chain = |attr: &str, v: &str| ext(Some(IN_CHAIN), Some(attr), v, false);
    const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
    // All Staff is reached only through nesting: not among alice's memberOf values.
    assert_eq!(evaluate(&chain("memberOf", ALL_STAFF), &e, &g), T);
    assert_eq!(
        evaluate(
            &chain("memberOf", "CN=ALL STAFF,OU=GROUPS,DC=CONTOSO,DC=COM"),
            &e,
            &g
        ),
        T
    );
    assert_eq!(evaluate(&eq("memberOf", ALL_STAFF), &e, &g), F);
    assert_eq!(
        evaluate(&chain("memberOf", ALL_STAFF), &disabled_guest(), &g),
        F
    );
    // Without a group graph, direct values still match.
    assert_eq!(
        evaluate(&chain("memberOf", ENGINEERING), &e, &NoMembership),
        T
    );
    assert_eq!(
        evaluate(&chain("memberOf", ALL_STAFF), &e, &NoMembership),
        F
    );
    // The member side: alice is (directly) in R&D; is she in Engineering via R&D?
    let engineering = entry(
        EntryKind::Group,
        ENGINEERING,
        &[
            ("objectClass", &["top", "groupOfNames", "posixGroup"]),
            ("member", &[rnd_dn().as_str()]),
        ],
    );
    assert_eq!(evaluate(&chain("member", ALICE), &engineering, &g), T);
    assert_eq!(evaluate(&eq("member", ALICE), &engineering, &g), F);
    assert_eq!(
        evaluate(
            &chain("member", "uid=bob,ou=people,dc=contoso,dc=com"),
            &engineering,
            &g
        ),
        F
    );
    // Misuse is Undefined, never an error.
    assert_eq!(evaluate(&chain("memberOf", "garbage"), &e, &g), U);
    assert_eq!(evaluate(&chain("uid", "uid=alice"), &e, &g), U);
    assert_eq!(
        evaluate(&ext(Some(IN_CHAIN), None, ALL_STAFF, false), &e, &g),
        U
    );
    assert_eq!(evaluate(&chain("sudoUser", ALL_STAFF), &e, &g), U);
}

#[test]
fn extensible_rules() {
    let e = alice();
    let x = |rule: Option<&str>, attr: Option<&str>, v: &str| ev(&ext(rule, attr, v, false), &e);
    assert_eq!(x(Some("caseExactMatch"), Some("uid"), "alice"), T);
    assert_eq!(x(Some("2.5.13.5"), Some("uid"), "Alice"), F);
    assert_eq!(x(Some("2.5.13.2"), Some("cn"), "ALICE SMITH"), T);
    assert_eq!(x(None, Some("cn"), "alice smith"), T);
    assert_eq!(x(None, Some("objectClass"), "2.5.6.6"), T);
    assert_eq!(x(Some("integerMatch"), Some("uidNumber"), "10001"), T);
    assert_eq!(
        x(Some("integerOrderingMatch"), Some("uidNumber"), "10002"),
        T
    );
    assert_eq!(
        x(Some("integerOrderingMatch"), Some("uidNumber"), "10001"),
        F
    );
    assert_eq!(x(Some("integerMatch"), Some("cn"), "5"), U);
    assert_eq!(x(Some("integerMatch"), Some("uidNumber"), "five"), U);
    assert_eq!(
        x(
            Some("distinguishedNameMatch"),
            Some("memberOf"),
            "cn=engineering,ou=groups,dc=contoso,dc=com"
        ),
        T
    );
    // 10001 = 0b10_0111_0001_0001
    assert_eq!(
        x(Some("1.2.840.113556.1.4.803"), Some("uidNumber"), "17"),
        T
    );
    assert_eq!(x(Some("1.2.840.113556.1.4.803"), Some("uidNumber"), "2"), F);
    assert_eq!(x(Some("1.2.840.113556.1.4.804"), Some("uidNumber"), "6"), F);
    assert_eq!(x(Some("1.2.840.113556.1.4.804"), Some("uidNumber"), "3"), T);
    assert_eq!(x(Some("1.2.840.113556.1.4.803"), Some("uid"), "3"), U);
    assert_eq!(
        x(Some("caseIgnoreSubstringsMatch"), Some("cn"), "AL*SM*H"),
        T
    );
    assert_eq!(
        x(Some("caseIgnoreSubstringsMatch"), Some("cn"), "*jones"),
        F
    );
    assert_eq!(
        x(Some("caseIgnoreSubstringsMatch"), Some("cn"), "no star"),
        U
    );
    // No attribute type: every attribute the rule applies to.
    assert_eq!(x(Some("caseIgnoreMatch"), None, "SMITH"), T);
    assert_eq!(x(Some("caseExactMatch"), None, "smith"), F);
    assert_eq!(x(Some("integerMatch"), None, "10001"), T);
    assert_eq!(x(None, None, "alice"), U);
    // dnAttributes: the entry's own DN takes part.
    let d = |rule: Option<&str>, attr: Option<&str>, v: &str| ev(&ext(rule, attr, v, true), &e);
    assert_eq!(x(None, Some("ou"), "people"), F);
    assert_eq!(d(None, Some("ou"), "People"), T);
    assert_eq!(d(None, Some("ou"), "groups"), F);
    assert_eq!(d(Some("caseExactMatch"), None, "people"), T);
    assert_eq!(d(Some("caseExactMatch"), None, "People"), F);
    assert_eq!(d(Some("caseIgnoreIA5Match"), Some("dc"), "CONTOSO"), T);
    // A rule applies only to the syntax it is for (RFC 4512 matchingRuleUse): dc is an IA5
    // String, cn a Directory String.
    assert_eq!(d(Some("caseIgnoreMatch"), Some("dc"), "CONTOSO"), U);
    assert_eq!(x(Some("caseIgnoreIA5Match"), Some("cn"), "Alice Smith"), U);
    assert_eq!(x(Some("caseIgnoreMatch"), Some("cn"), "Alice Smith"), T);
    // objectIdentifierMatch, named or by OID, matches a class by name or OID alike.
    for rule in ["objectIdentifierMatch", "2.5.13.0"] {
        assert_eq!(x(Some(rule), Some("objectClass"), "2.5.6.6"), T, "{rule}");
        assert_eq!(x(Some(rule), Some("objectClass"), "PERSON"), T, "{rule}");
        assert_eq!(x(Some(rule), Some("objectClass"), "2.5.6.9"), F, "{rule}");
    }
    let parsed_ext = parsed("(ou:dn:=people)");
    assert_eq!(ev(&parsed_ext, &e), T);
}

#[test]
fn limits() {
    let leaf = eq("uid", "a");
    assert_eq!(check_limits(&leaf, 1, 1), Ok(()));
    let mut deep = leaf.clone();
    for _ in 0..9 {
        deep = not(deep);
    }
    assert_eq!(check_limits(&deep, 10, 100), Ok(()));
    assert_eq!(
        check_limits(&deep, 9, 100),
        Err(FilterLimitError::TooDeep { max: 9 })
    );
    let wide = LdapFilter::Or(vec![leaf.clone(); 100]);
    assert_eq!(check_limits(&wide, 2, 101), Ok(()));
    assert_eq!(
        check_limits(&wide, 2, 100),
        Err(FilterLimitError::TooManyElements { max: 100 })
    );
    assert_eq!(
        check_limits(&wide, 1, 1000),
        Err(FilterLimitError::TooDeep { max: 1 })
    );
    // Very deep input is rejected without recursion.
    let mut very_deep = leaf;
    for _ in 0..10_000 {
        very_deep = not(very_deep);
    }
    assert_eq!(
        check_limits(&very_deep, 64, 1_000_000),
        Err(FilterLimitError::TooDeep { max: 64 })
    );
    // Unwind the chain iteratively so dropping it does not recurse 10k frames either.
    while let LdapFilter::Not(inner) = very_deep {
        very_deep = *inner;
    }
}

#[test]
fn equality_keys_agree_with_evaluation() {
    assert_eq!(
        equality_key("UID", " ALICE "),
        Some(("uid", "alice".to_string()))
    );
    assert_eq!(
        equality_key("member", "UID=Alice, OU=People,DC=Contoso,DC=Com"),
        Some(("member", ALICE.to_string()))
    );
    assert_eq!(
        equality_key("objectClass", "2.5.6.6"),
        Some(("objectClass", "person".to_string()))
    );
    assert_eq!(equality_key("uidNumber", "0100"), None);
    assert_eq!(
        equality_key("uidNumber", "100"),
        Some(("uidNumber", "100".to_string()))
    );
    assert_eq!(
        equality_key("memberUid", "Bob"),
        Some(("memberUid", "Bob".to_string()))
    );
    assert_eq!(equality_key("uidNumber", "abc"), None);
    assert_eq!(equality_key("sudoHost", "ALL"), None);
    // Indexing each stored value with equality_key finds what the evaluator matches.
    let m = Graph::new();
    for e in [alice(), disabled_guest(), rnd_group(), people()] {
        for a in &e.attrs {
            for v in &a.values {
                let Some((name, key)) = equality_key(a.name, v) else {
                    continue;
                };
                assert_eq!(name, a.name);
                // Asserting the normalised key finds the entry.
                assert_eq!(evaluate(&eq(name, &key), &e, &m), T, "{name}={key}");
                assert_eq!(equality_key(name, &key).map(|k| k.1), Some(key));
            }
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn random_filter(rng: &mut Rng, depth: usize) -> LdapFilter {
    const ATTRS: &[&str] = &[
        "uid",
        "CN",
        "memberUid",
        "uidNumber",
        "member",
        "memberOf",
        "objectClass",
        "entryDN",
        "sudoHost",
        "mail;x",
        "nsAccountLock",
        "createTimestamp",
        "hasSubordinates",
    ];
    const VALUES: &[&str] = &[
        "alice",
        "Bob",
        "10001",
        "abc",
        "",
        "*",
        "TRUE",
        ALICE,
        ENGINEERING,
        "cn=\\",
        "é",
        "20240101000000Z",
        "posixAccount",
        " ",
        "\\2A",
        "R&D",
    ];
    const RULES: &[&str] = &[
        "2.5.13.2",
        "caseExactMatch",
        "1.2.840.113556.1.4.1941",
        "1.2.840.113556.1.4.803",
        "caseIgnoreSubstringsMatch",
        "bogus",
        "integerOrderingMatch",
    ];
    let a = rng.pick(ATTRS).to_string();
    let v = rng.pick(VALUES).to_string();
    let choice = if depth == 0 {
        3 + rng.next() % 7
    } else {
        rng.next() % 10
    };
    match choice {
        0 => LdapFilter::And(
            (0..rng.next() % 4)
                .map(|_| random_filter(rng, depth - 1))
                .collect(),
        ),
        1 => LdapFilter::Or(
            (0..rng.next() % 4)
                .map(|_| random_filter(rng, depth - 1))
                .collect(),
        ),
        2 => not(random_filter(rng, depth - 1)),
        3 => LdapFilter::Equality(a, v),
        4 => sub(&a, Some(&v), &[rng.pick(VALUES)], Some(rng.pick(VALUES))),
        5 => LdapFilter::GreaterOrEqual(a, v),
        6 => LdapFilter::LessOrEqual(a, v),
        7 => LdapFilter::Present(a),
        8 => LdapFilter::Approx(a, v),
        _ => ext(
            (!rng.next().is_multiple_of(3)).then(|| rng.pick(RULES)),
            (!rng.next().is_multiple_of(3)).then_some(a.as_str()),
            &v,
            rng.next().is_multiple_of(2),
        ),
    }
}

#[test]
fn random_filters_never_panic_and_negate_consistently() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let g = Graph::new();
    let entries = [
        alice(),
        disabled_guest(),
        rnd_group(),
        people(),
        defaults_group(),
    ];
    let mut seen = [0usize; 3];
    for _ in 0..3_000 {
        let f = random_filter(&mut rng, 3);
        let compiled = compile(&f);
        let negated = compile(&not(f.clone()));
        for e in &entries {
            let r = compiled.evaluate(e, &g);
            assert_eq!(negated.evaluate(e, &g), !r, "{f:?} on {}", e.dn());
            assert_eq!(evaluate(&f, e, &g), r);
            seen[match r {
                T => 0,
                F => 1,
                U => 2,
            }] += 1;
        }
    }
    // All three outcomes were exercised.
    assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
}

#[test]
fn compiled_filter_reuse() {
    let f = compile(&parsed("(&(objectClass=posixAccount)(uidNumber>=1000))"));
    let matched: Vec<_> = [alice(), disabled_guest(), rnd_group(), people()]
        .iter()
        .filter(|e| f.matches(e, &NoMembership))
        .map(|e| e.dn().to_string())
        .collect();
    assert_eq!(matched, vec![ALICE.to_string()]);
}
