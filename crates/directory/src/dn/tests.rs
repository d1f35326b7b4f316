//! DN normalisation against its definition: escapes, spaces, hex values, multi-valued RDNs,
//! per-attribute matching rules, the allocation-free fast path against the full parse, and random
//! input that must never panic and must round-trip.

use super::*;

fn norm(s: &str) -> String {
    match normalize(s) {
        Ok(n) => n,
        Err(e) => panic!("normalize({s:?}) failed: {e}"),
    }
}

fn slow_norm(s: &str) -> Option<String> {
    parse(s).ok().map(|d| normalized(&d).to_string())
}

const BASE: &str = "ou=groups,dc=contoso,dc=com";

#[test]
fn parses_rdns_and_values() {
    let dn = parse("UID=Alice, OU=People,DC=Contoso,DC=Com");
    assert!(dn.is_ok());
    let dn = dn.unwrap_or_default();
    assert_eq!(dn.len(), 4);
    assert_eq!(dn.rdn().and_then(|r| value_of(r, "uid")), Some("Alice"));
    assert_eq!(dn.rdn().and_then(|r| value_of(r, "userid")), Some("Alice"));
    assert_eq!(dn.rdn().and_then(|r| value_of(r, "cn")), None);
    assert_eq!(dn.rdns().get(1).map(|r| r.avas()[0].attr()), Some("OU"));
    assert_eq!(dn.to_string(), "UID=Alice,OU=People,DC=Contoso,DC=Com");
}

#[test]
fn normalisation_ignores_case_spaces_and_aliases() {
    let want = "uid=alice,ou=people,dc=contoso,dc=com";
    assert_eq!(norm("UID=Alice, OU=People,DC=Contoso,DC=Com"), want);
    assert_eq!(norm("uid=alice,ou=people,dc=contoso,dc=com"), want);
    assert_eq!(
        norm(" userid = ALICE ,  organizationalUnitName=people ; domainComponent=contoso,dc=com "),
        want
    );
    assert_eq!(
        norm("0.9.2342.19200300.100.1.1=alice,2.5.4.11=People,dc=contoso,dc=com"),
        want
    );
    assert_eq!(
        norm("commonName=Engineering   Team,ou=groups"),
        "cn=engineering team,ou=groups"
    );
    assert_eq!(norm("GivenName=Bob"), "givenname=bob");
    assert_eq!(norm("x-Unknown-Attr=Foo"), "x-unknown-attr=foo");
    assert_eq!(norm(""), "");
    assert_eq!(norm("   "), "");
    assert_ne!(norm("uid=alice,dc=com"), norm("uid=alice2,dc=com"));
    assert_ne!(norm("uid=alice,dc=com"), norm("cn=alice,dc=com"));
}

#[test]
fn escaped_specials_round_trip() {
    let name = "R&D, Europe + \"Special\"";
    assert_eq!(escape_value(name), "R&D\\, Europe \\+ \\\"Special\\\"");
    let built = build("cn", name, BASE);
    let parsed = parse(&built);
    assert_eq!(
        parsed
            .as_ref()
            .ok()
            .and_then(|d| d.rdn())
            .and_then(|r| value_of(r, "cn")),
        Some(name)
    );
    // Hex-pair escapes and backslash escapes normalise alike.
    assert_eq!(
        norm(&format!("cn=R\\26D\\2C Europe,{BASE}")),
        norm(&build("cn", "R&D, Europe", BASE))
    );
    assert_eq!(
        norm(&build("cn", "R&D, Europe", BASE)),
        format!("cn=r&d\\, europe,{BASE}")
    );
    for v in [
        " leading",
        "trailing ",
        "  both  ",
        " ",
        "",
        "#hash",
        "##",
        "a#b",
        "a=b",
        "back\\slash\\",
        "semi;colon",
        "<angle>",
        "multi   space",
        "élève 日本",
        "nul\0byte",
        "new\nline\ttab",
        "+,\"\\<>;=",
        "trailing backslash\\ ",
    ] {
        let dn = build("cn", v, BASE);
        let got = rdn_value(&dn, "cn");
        assert_eq!(got.as_deref(), Some(v), "value {v:?} via {dn:?}");
        // The escaped form parses back to the same DN.
        assert_eq!(
            parse(&dn).map(|d| d.to_string()).as_deref(),
            Ok(dn.as_str())
        );
    }
    assert_eq!(escape_value(" "), "\\ ");
    assert_eq!(escape_value("  "), "\\ \\ ");
    assert_eq!(escape_value("a\0"), "a\\00");
    assert_eq!(escape_value("#a#"), "\\#a#");
    assert_eq!(build("dc", "com", ""), "dc=com");
}

#[test]
fn leading_and_trailing_spaces() {
    // Unescaped spaces around values are insignificant; escaped ones belong to the value.
    assert_eq!(
        rdn_value("cn=  Alice Smith  ,dc=x", "cn").as_deref(),
        Some("Alice Smith")
    );
    assert_eq!(
        rdn_value("cn=\\ Alice\\ ,dc=x", "cn").as_deref(),
        Some(" Alice ")
    );
    assert_eq!(
        rdn_value("cn=Alice\\  ,dc=x", "cn").as_deref(),
        Some("Alice ")
    );
    assert_eq!(
        rdn_value("cn=\\20Alice,dc=x", "cn").as_deref(),
        Some(" Alice")
    );
    // ... but caseIgnoreMatch ignores them, so these name the same entry.
    assert_eq!(norm("cn=\\ Alice\\ ,dc=x"), norm("cn=alice,dc=x"));
}

#[test]
fn hex_strings_and_hex_escapes() {
    let dn = parse("cn=#04024869,dc=x");
    let ava = dn
        .as_ref()
        .ok()
        .and_then(|d| d.rdn())
        .map(|r| r.avas()[0].clone());
    assert_eq!(
        ava.as_ref().map(|a| (a.value(), a.is_hex())),
        Some(("#04024869", true))
    );
    assert_eq!(
        dn.map(|d| d.to_string()).as_deref(),
        Ok("cn=#04024869,dc=x")
    );
    assert_eq!(norm("CN=#0402AB ,DC=X"), "cn=#0402ab,dc=x");
    // An escaped '#' is text, not a hex string.
    assert_eq!(norm("cn=\\#Hash,dc=x"), "cn=\\#hash,dc=x");
    assert_ne!(norm("cn=\\#0402,dc=x"), norm("cn=#0402,dc=x"));
    // UTF-8 multibyte sequences as hex pairs, either case.
    assert_eq!(
        rdn_value("cn=\\C3\\A9l\\c3\\a8ve", "cn").as_deref(),
        Some("élève")
    );
    assert_eq!(
        rdn_value("cn=\\E6\\97\\A5\\E6\\9C\\AC", "cn").as_deref(),
        Some("日本")
    );
    assert_eq!(norm("cn=\\C3\\89LODIE,dc=x"), norm("cn=élodie,dc=x"));
    assert_eq!(norm("cn=ÉLODIE,dc=x"), "cn=élodie,dc=x");
    assert_eq!(norm("cn=日本 チーム,dc=x"), "cn=日本 チーム,dc=x");
}

#[test]
fn multi_valued_rdns_sort() {
    let a = norm("cn=Bob+uid=bob2,ou=people,dc=x");
    assert_eq!(a, "cn=bob+uid=bob2,ou=people,dc=x");
    assert_eq!(norm("UID=BOB2 + CN=bob,ou=people,dc=x"), a);
    assert_eq!(norm("uid=bob2+commonName=Bob,ou=people,dc=x"), a);
    let dn = parse("uid=bob2+cn=Bob,dc=x");
    assert_eq!(
        dn.as_ref().map(|d| d.rdn().map(|r| r.avas().len())),
        Ok(Some(2))
    );
    assert_eq!(
        dn.as_ref()
            .ok()
            .and_then(|d| d.rdn())
            .and_then(|r| value_of(r, "cn")),
        Some("Bob")
    );
}

#[test]
fn legacy_forms() {
    assert_eq!(
        rdn_value("cn=\"Smith, John\",ou=people", "cn").as_deref(),
        Some("Smith, John")
    );
    assert_eq!(
        norm("cn=\"Smith, John\" ,ou=people"),
        "cn=smith\\, john,ou=people"
    );
    assert_eq!(norm("cn=a;dc=b"), "cn=a,dc=b");
    // Escapes of non-special characters are taken literally.
    assert_eq!(rdn_value("cn=a\\_b\\é", "cn").as_deref(), Some("a_bé"));
    // Unescaped '=' inside a value is allowed by RFC 4514 and re-escaped canonically.
    assert_eq!(norm("cn=a=b,dc=x"), "cn=a\\=b,dc=x");
}

#[test]
fn invalid_dns_are_errors() {
    let cases: &[(&str, DnError)] = &[
        ("cn=a\\", DnError::TrailingEscape),
        ("cn", DnError::MissingEquals(2)),
        ("cn a=b", DnError::MissingEquals(3)),
        ("=a", DnError::InvalidAttributeType(0)),
        ("cn=a,,dc=b", DnError::EmptyRdn(5)),
        ("cn=a,", DnError::EmptyRdn(5)),
        ("cn=a, ", DnError::EmptyRdn(6)),
        ("cn=a+,dc=b", DnError::EmptyRdn(5)),
        (",cn=a", DnError::EmptyRdn(0)),
        ("cn=\\C3,dc=x", DnError::InvalidUtf8(3)),
        ("cn=\\4g", DnError::InvalidEscape(3)),
        ("cn=\\4", DnError::InvalidEscape(3)),
        ("cn=#zz", DnError::InvalidHexString(3)),
        ("cn=#123", DnError::InvalidHexString(3)),
        ("cn=#", DnError::InvalidHexString(3)),
        ("cn=#0102 x", DnError::InvalidHexString(3)),
        ("cn=\"abc", DnError::UnterminatedQuote(3)),
        ("cn=\"abc\"def", DnError::UnexpectedChar { ch: 'd', pos: 8 }),
        ("2..5=x", DnError::InvalidAttributeType(0)),
        ("2.5.=x", DnError::InvalidAttributeType(0)),
        ("c_n=x", DnError::MissingEquals(1)),
        ("cn=a\0b", DnError::UnexpectedChar { ch: '\0', pos: 4 }),
        ("日本=x", DnError::InvalidAttributeType(0)),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input).as_ref(), Err(want), "{input:?}");
        assert!(normalize(input).is_err(), "{input:?}");
        assert_eq!(rdn_value(input, "cn"), None);
    }
}

#[test]
fn nul_via_hex_escape_is_mapped_to_nothing() {
    // `\00` is a NUL character: valid in the value, and mapped to nothing when the value is
    // prepared for comparison (RFC 4518 §2.2, controls), as every control is.
    assert_eq!(rdn_value("cn=a\\00b", "cn").as_deref(), Some("a\0b"));
    assert_eq!(norm("cn=A\\00B"), "cn=ab");
}

#[test]
fn parent_and_descendants() {
    let dn = parse("uid=alice,ou=people,dc=contoso,dc=com").unwrap_or_default();
    let parent = dn.parent().unwrap_or_default();
    assert_eq!(parent.to_string(), "ou=people,dc=contoso,dc=com");
    assert_eq!(
        parse("dc=com").ok().and_then(|d| d.parent()),
        Some(Dn::root())
    );
    assert_eq!(Dn::root().parent(), None);
    let base = parse("DC=Contoso, DC=Com").unwrap_or_default();
    assert!(is_descendant_of(&dn, &base));
    assert!(is_descendant_of(&base, &base));
    assert!(is_descendant_of(&dn, &Dn::root()));
    assert!(!is_descendant_of(&base, &dn));
    let other = parse("dc=fabrikam,dc=com").unwrap_or_default();
    assert!(!is_descendant_of(&dn, &other));
}

#[test]
fn ndn_helpers_respect_escaped_commas() {
    let g = norm(&build("cn", "R&D, Europe", BASE));
    assert_eq!(parent_ndn(&g), Some(BASE));
    assert!(is_child_ndn(&g, BASE));
    assert!(is_within_ndn(&g, "dc=contoso,dc=com"));
    assert!(is_within_ndn(&g, &g));
    assert!(is_within_ndn(&g, ""));
    assert!(!is_within_ndn(&g, "dc=fabrikam,dc=com"));
    // A value ending in a backslash: `\\` then the separator.
    let b = norm(&build("cn", "back\\", "dc=x"));
    assert_eq!(b, "cn=back\\\\,dc=x");
    assert_eq!(parent_ndn(&b), Some("dc=x"));
    // The ",dc=com" here is inside the value, not a separator.
    let tricky = norm(&build("cn", "x,dc=com", "o=org"));
    assert_eq!(tricky, "cn=x\\,dc\\=com,o=org");
    assert!(!is_within_ndn(&tricky, "dc\\=com,o=org"));
    assert!(!is_within_ndn("cn=a\\,dc=com", "dc=com"));
    assert!(!is_within_ndn("cn=a,xdc=com", "dc=com"));
    assert_eq!(parent_ndn("dc=com"), Some(""));
    assert_eq!(parent_ndn(""), None);
    assert!(!is_child_ndn("", ""));
    assert!(is_child_ndn("dc=com", ""));
}

const CORPUS: &[&str] = &[
    "",
    "dc=com",
    "uid=alice,ou=people,dc=contoso,dc=com",
    "UID=Alice,OU=People,DC=Contoso,DC=Com",
    "cn=Engineering Team,ou=groups,dc=contoso,dc=com",
    "cn=Engineering  Team,ou=groups,dc=contoso,dc=com",
    "cn= Engineering,dc=x",
    "userid=alice,dc=x",
    "uidNumber=0100,dc=x",
    "memberUid=Alice,dc=x",
    "member=x,dc=x",
    "entryUUID=6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60,dc=x",
    "homeDirectory=/home/Alice,dc=x",
    "telephoneNumber=\\+1 555-0100,dc=x",
    "2.5.4.3=x,dc=y",
    "cn=,dc=x",
    "cn=a-b.c_d@e!f,dc=x",
    "x-custom=Foo,dc=x",
    "nsAccountLock=true,dc=x",
    "createTimestamp=20240101000000\\+0100,dc=x",
];

#[test]
fn fast_path_agrees_with_full_parse() {
    for s in CORPUS {
        assert_eq!(normalize(s).ok(), slow_norm(s), "{s:?}");
        let n = norm(s);
        assert_eq!(norm(&n), n, "not idempotent: {s:?}");
        assert!(eq_normalized(s, &n));
    }
    assert!(is_plain("uid=alice,ou=people,dc=contoso,dc=com"));
    assert!(!is_plain("userid=alice"));
    assert!(!is_plain("memberUid=Alice"));
    assert!(!is_plain("uidNumber=0100"));
    assert!(!eq_normalized("uid=alice,dc=x", "uid=bob,dc=x"));
    assert!(eq_normalized("UID=Alice, DC=X", "uid=alice,dc=x"));
    assert!(!eq_normalized("not a dn", "not a dn"));
}

#[test]
fn rdn_values_use_the_attribute_matching_rule() {
    assert_eq!(norm("uidNumber=100,dc=x"), "uidnumber=100,dc=x");
    // Not an INTEGER (RFC 4517 §3.3.16 has no leading zero): compared as text.
    assert_eq!(norm("uidNumber=0100,dc=x"), "uidnumber=0100,dc=x");
    assert_eq!(norm("memberUid=Alice,dc=x"), "memberuid=Alice,dc=x");
    assert_eq!(norm("uidNumber=abc,dc=x"), "uidnumber=abc,dc=x");
    // A DN-valued RDN is compared as text, not normalised recursively.
    assert_eq!(
        norm("member=UID=A\\,DC=B,dc=x"),
        "member=uid\\=a\\,dc\\=b,dc=x"
    );
}

/// xorshift64*: deterministic, dependency-free randomness for the fuzz-style tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_input_never_panics_and_round_trips() {
    const PIECES: &[&str] = &[
        "cn",
        "uid",
        "CN",
        "2.5.4.3",
        "memberUid",
        "uidNumber",
        "=",
        "=",
        ",",
        ",",
        "+",
        ";",
        "\\",
        "\\,",
        "\\2C",
        "\\C3\\A9",
        "\\E6\\97\\A5",
        "\\C3",
        "\\",
        "#",
        "#04",
        "\"",
        " ",
        " ",
        "a",
        "B",
        "é",
        "日本",
        "\0",
        "\n",
        "<",
        ">",
        "1",
        ".",
        "-",
        "\\ ",
        "\\#",
        "ı",
    ];
    const TYPES: &[&str] = &[
        "cn",
        "UID",
        "userid",
        "2.5.4.3",
        "memberUid",
        "uidNumber",
        "member",
        "x-a",
        "dc",
        "telephoneNumber",
        "entryUUID",
        "createTimestamp",
        "nsAccountLock",
        "sshPublicKey",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed_ok = 0;
    for round in 0..20_000 {
        let s = match round % 4 {
            // Arbitrary bytes, made into a &str the way a decoder would.
            0 => {
                let bytes: Vec<u8> = (0..rng.below(24)).map(|_| rng.next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => (0..rng.below(14))
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect(),
            // Mostly well-formed: type=value pairs with random pieces in the values.
            _ => {
                let mut s = String::new();
                for i in 0..rng.below(4) {
                    if i > 0 {
                        s.push_str([",", " , ", "+", ";"][rng.below(4)]);
                    }
                    s.push_str(TYPES[rng.below(TYPES.len())]);
                    s.push_str(["=", " = "][rng.below(2)]);
                    for _ in 0..rng.below(5) {
                        s.push_str(PIECES[rng.below(PIECES.len())]);
                    }
                }
                s
            }
        };
        let _ = parent_ndn(&s);
        let _ = is_within_ndn(&s, "dc=x");
        let _ = rdn_value(&s, "cn");
        let Ok(dn) = parse(&s) else {
            assert!(normalize(&s).is_err(), "{s:?}");
            continue;
        };
        parsed_ok += 1;
        // Display re-escapes canonically and parses back to the same DN.
        assert_eq!(parse(&dn.to_string()).as_ref(), Ok(&dn), "{s:?}");
        let n = normalize(&s);
        assert_eq!(n.as_ref().ok(), slow_norm(&s).as_ref(), "{s:?}");
        let n = n.unwrap_or_default();
        assert_eq!(normalize(&n).as_ref(), Ok(&n), "not idempotent: {s:?}");
        assert!(eq_normalized(&s, &n));
        if let Some(p) = parent_ndn(&n) {
            assert!(is_within_ndn(&n, p), "{n:?} not within its parent {p:?}");
            assert_eq!(normalize(p).as_deref(), Ok(p));
        }
    }
    // The generator must actually exercise the success path.
    assert!(parsed_ok > 5_000, "only {parsed_ok} inputs parsed");
}

#[test]
fn hex_string_values_name_the_string_they_encode() {
    // RFC 4514 §2.4: UTF8String "alice".
    assert_eq!(
        norm("uid=#0C05616C696365,ou=people,dc=x"),
        "uid=alice,ou=people,dc=x"
    );
    assert_eq!(norm("cn=#0403414243,dc=x"), "cn=abc,dc=x");
    // Not a string element (an INTEGER), or a wrong length: kept as written.
    assert_eq!(norm("cn=#020101,dc=x"), "cn=#020101,dc=x");
    assert_eq!(norm("cn=#0C0541,dc=x"), "cn=#0c0541,dc=x");
}

#[test]
fn the_common_plain_types_are_plain_by_the_catalogue_too() {
    for t in COMMON_PLAIN_TYPES {
        let at = schema::attribute(t).expect("in the catalogue");
        assert_eq!(at.name, t, "{t} is the canonical spelling");
        assert!(
            matches!(at.equality, Matching::CaseIgnore | Matching::Dn),
            "{t} compares ignoring case"
        );
    }
}
