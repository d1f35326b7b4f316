//! The schema the directory serves: attribute types, object classes, matching rules and syntaxes
//! (with their real OIDs), value normalisation per matching rule, and the RFC 4512 descriptions
//! published in `cn=Subschema`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::LazyLock;

use super::dn;
use model::time::{generalized_time, unix_days};

/// How values of an attribute compare for equality (and, where the type allows, ordering and
/// substrings). One variant per family of matching rules we evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matching {
    /// caseIgnoreMatch / caseIgnoreIA5Match / objectIdentifierMatch on names.
    CaseIgnore,
    /// caseExactMatch / caseExactIA5Match (memberUid per RFC 2307, homeDirectory, loginShell).
    CaseExact,
    Integer,
    /// distinguishedNameMatch: both sides go through `dn::normalize`.
    Dn,
    Boolean,
    GeneralizedTime,
    /// uuidMatch (RFC 4530); the hex digits compare case-insensitively.
    Uuid,
    OctetString,
    /// telephoneNumberMatch: case, spaces and hyphens are insignificant.
    TelephoneNumber,
}

impl Matching {
    /// Rules that compare text (as opposed to numbers, DNs, times...): a text matching rule named
    /// in an extensible filter may be applied to any attribute of this family.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Matching::CaseIgnore
                | Matching::CaseExact
                | Matching::OctetString
                | Matching::TelephoneNumber
        )
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct AttributeType {
    /// Canonical spelling, as returned to clients and stored in `Attr::name`.
    pub name: &'static str,
    pub oid: &'static str,
    pub aliases: &'static [&'static str],
    pub syntax: &'static str,
    pub equality: Matching,
    /// Whether `>=`/`<=` are defined; otherwise they evaluate to Undefined.
    pub ordering: bool,
    /// Whether substring filters are defined; otherwise they evaluate to Undefined.
    pub substrings: bool,
    pub single_value: bool,
    /// Operational: returned only when asked for by name or with `+`.
    pub operational: bool,
    pub desc: &'static str,
}

pub mod syntax {
    //! LDAP syntax OIDs (RFC 4517, RFC 4530).
    pub const ATTRIBUTE_TYPE_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.3";
    pub const BOOLEAN: &str = "1.3.6.1.4.1.1466.115.121.1.7";
    pub const DN: &str = "1.3.6.1.4.1.1466.115.121.1.12";
    pub const DIRECTORY_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.15";
    pub const GENERALIZED_TIME: &str = "1.3.6.1.4.1.1466.115.121.1.24";
    pub const IA5_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.26";
    pub const INTEGER: &str = "1.3.6.1.4.1.1466.115.121.1.27";
    pub const MATCHING_RULE_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.30";
    pub const OBJECT_CLASS_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.37";
    pub const OID: &str = "1.3.6.1.4.1.1466.115.121.1.38";
    pub const OCTET_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.40";
    pub const TELEPHONE_NUMBER: &str = "1.3.6.1.4.1.1466.115.121.1.50";
    pub const LDAP_SYNTAX_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.54";
    pub const SUBSTRING_ASSERTION: &str = "1.3.6.1.4.1.1466.115.121.1.58";
    pub const UUID: &str = "1.3.6.1.1.16.1";
}

/// Syntaxes published in `ldapSyntaxes`: (OID, description).
const SYNTAXES: &[(&str, &str)] = &[
    (
        syntax::ATTRIBUTE_TYPE_DESCRIPTION,
        "Attribute Type Description",
    ),
    (syntax::BOOLEAN, "Boolean"),
    (syntax::DN, "DN"),
    (syntax::DIRECTORY_STRING, "Directory String"),
    (syntax::GENERALIZED_TIME, "Generalized Time"),
    (syntax::IA5_STRING, "IA5 String"),
    (syntax::INTEGER, "INTEGER"),
    (
        syntax::MATCHING_RULE_DESCRIPTION,
        "Matching Rule Description",
    ),
    (syntax::OBJECT_CLASS_DESCRIPTION, "Object Class Description"),
    (syntax::OID, "OID"),
    (syntax::OCTET_STRING, "Octet String"),
    (syntax::TELEPHONE_NUMBER, "Telephone Number"),
    (syntax::LDAP_SYNTAX_DESCRIPTION, "LDAP Syntax Description"),
    (syntax::SUBSTRING_ASSERTION, "Substring Assertion"),
    (syntax::UUID, "UUID"),
];

// Templates for the table below (struct update syntax keeps each row to what differs).
const TEXT: AttributeType = AttributeType {
    name: "",
    oid: "",
    aliases: &[],
    syntax: syntax::DIRECTORY_STRING,
    equality: Matching::CaseIgnore,
    ordering: true,
    substrings: true,
    single_value: false,
    operational: false,
    desc: "",
};
const IA5_EXACT: AttributeType = AttributeType {
    syntax: syntax::IA5_STRING,
    equality: Matching::CaseExact,
    ordering: false,
    ..TEXT
};
const INTEGER: AttributeType = AttributeType {
    syntax: syntax::INTEGER,
    equality: Matching::Integer,
    substrings: false,
    single_value: true,
    ..TEXT
};
const DN_VALUED: AttributeType = AttributeType {
    syntax: syntax::DN,
    equality: Matching::Dn,
    ordering: false,
    substrings: false,
    ..TEXT
};
const OID_VALUED: AttributeType = AttributeType {
    syntax: syntax::OID,
    ordering: false,
    substrings: false,
    ..TEXT
};
const TELEPHONE: AttributeType = AttributeType {
    syntax: syntax::TELEPHONE_NUMBER,
    equality: Matching::TelephoneNumber,
    ordering: false,
    ..TEXT
};
const TIMESTAMP: AttributeType = AttributeType {
    syntax: syntax::GENERALIZED_TIME,
    equality: Matching::GeneralizedTime,
    substrings: false,
    single_value: true,
    operational: true,
    ..TEXT
};
const BOOLEAN: AttributeType = AttributeType {
    syntax: syntax::BOOLEAN,
    equality: Matching::Boolean,
    ordering: false,
    substrings: false,
    single_value: true,
    ..TEXT
};
/// rootDSE / subschema attributes: operational, DSA-specific, not for filtering on.
const DSA: AttributeType = AttributeType {
    ordering: false,
    substrings: false,
    operational: true,
    ..TEXT
};

static ATTRIBUTES: &[AttributeType] = &[
    // Users (RFC 4519, RFC 2798, RFC 2307bis, Active Directory, OpenSSH-LPK, 389-DS).
    AttributeType {
        name: "uid",
        oid: "0.9.2342.19200300.100.1.1",
        aliases: &["userid"],
        desc: "RFC4519: user identifier",
        ..TEXT
    },
    AttributeType {
        name: "cn",
        oid: "2.5.4.3",
        aliases: &["commonName"],
        desc: "RFC4519: common name(s) for which the entity is known by",
        ..TEXT
    },
    AttributeType {
        name: "sn",
        oid: "2.5.4.4",
        aliases: &["surname"],
        desc: "RFC4519: last (family) name(s) for which the entity is known by",
        ..TEXT
    },
    AttributeType {
        name: "givenName",
        oid: "2.5.4.42",
        aliases: &["gn"],
        desc: "RFC4519: first name(s) for which the entity is known by",
        ..TEXT
    },
    AttributeType {
        name: "displayName",
        oid: "2.16.840.1.113730.3.1.241",
        single_value: true,
        desc: "RFC2798: preferred name to be used when displaying entries",
        ..TEXT
    },
    AttributeType {
        name: "mail",
        oid: "0.9.2342.19200300.100.1.3",
        aliases: &["rfc822Mailbox"],
        syntax: syntax::IA5_STRING,
        desc: "RFC4524: RFC822 Mailbox",
        ..TEXT
    },
    AttributeType {
        name: "userPrincipalName",
        oid: "1.2.840.113556.1.4.656",
        single_value: true,
        desc: "Active Directory: user principal name (the Microsoft 365 sign-in name)",
        ..TEXT
    },
    AttributeType {
        name: "uidNumber",
        oid: "1.3.6.1.1.1.1.0",
        desc: "RFC2307: An integer uniquely identifying a user in an administrative domain",
        ..INTEGER
    },
    AttributeType {
        name: "gidNumber",
        oid: "1.3.6.1.1.1.1.1",
        desc: "RFC2307: An integer uniquely identifying a group in an administrative domain",
        ..INTEGER
    },
    AttributeType {
        name: "homeDirectory",
        oid: "1.3.6.1.1.1.1.3",
        single_value: true,
        desc: "RFC2307: The absolute path to the home directory",
        ..IA5_EXACT
    },
    AttributeType {
        name: "loginShell",
        oid: "1.3.6.1.1.1.1.4",
        single_value: true,
        desc: "RFC2307: The path to the login shell",
        ..IA5_EXACT
    },
    AttributeType {
        name: "gecos",
        oid: "1.3.6.1.1.1.1.2",
        syntax: syntax::IA5_STRING,
        single_value: true,
        desc: "RFC2307: The GECOS field; the common name",
        ..TEXT
    },
    AttributeType {
        name: "memberOf",
        oid: "1.2.840.113556.1.2.102",
        desc: "Groups this entry is a member of, directly or through nested groups",
        ..DN_VALUED
    },
    // A user attribute here (DESIGN §3 returns it with `*`), not an operational one as in
    // OpenLDAP: it carries the Microsoft 365 object id that applications key on.
    AttributeType {
        name: "entryUUID",
        oid: "1.3.6.1.1.16.4",
        syntax: syntax::UUID,
        equality: Matching::Uuid,
        substrings: false,
        single_value: true,
        desc: "RFC4530: UUID of the entry (the Microsoft 365 object id)",
        ..TEXT
    },
    AttributeType {
        name: "title",
        oid: "2.5.4.12",
        desc: "RFC4519: title associated with the entity",
        ..TEXT
    },
    AttributeType {
        name: "departmentNumber",
        oid: "2.16.840.1.113730.3.1.2",
        desc: "RFC2798: identifies a department within an organization",
        ..TEXT
    },
    AttributeType {
        name: "employeeNumber",
        oid: "2.16.840.1.113730.3.1.3",
        single_value: true,
        desc: "RFC2798: numerically identifies an employee within an organization",
        ..TEXT
    },
    AttributeType {
        name: "telephoneNumber",
        oid: "2.5.4.20",
        desc: "RFC4519: Telephone Number",
        ..TELEPHONE
    },
    AttributeType {
        name: "mobile",
        oid: "0.9.2342.19200300.100.1.41",
        aliases: &["mobileTelephoneNumber"],
        desc: "RFC4524: mobile telephone number",
        ..TELEPHONE
    },
    AttributeType {
        name: "sAMAccountName",
        oid: "1.2.840.113556.1.4.221",
        single_value: true,
        desc: "Active Directory: logon name (same as uid here)",
        ..TEXT
    },
    AttributeType {
        name: "sshPublicKey",
        oid: "1.3.6.1.4.1.24552.500.1.1.1.13",
        syntax: syntax::OCTET_STRING,
        equality: Matching::OctetString,
        ordering: false,
        substrings: false,
        desc: "OpenSSH-LPK: OpenSSH public key",
        ..TEXT
    },
    AttributeType {
        name: "nsAccountLock",
        oid: "2.16.840.1.113730.3.1.610",
        desc: "389-DS: TRUE when the account is inactive and may not bind",
        ..BOOLEAN
    },
    // Groups (RFC 4519, RFC 2307bis).
    AttributeType {
        name: "member",
        oid: "2.5.4.31",
        desc: "RFC4519: member of a group",
        ..DN_VALUED
    },
    AttributeType {
        name: "memberUid",
        oid: "1.3.6.1.1.1.1.12",
        substrings: true,
        desc: "RFC2307: uid of a member of the group",
        ..IA5_EXACT
    },
    AttributeType {
        name: "description",
        oid: "2.5.4.13",
        desc: "RFC4519: descriptive information",
        ..TEXT
    },
    // Structure.
    AttributeType {
        name: "objectClass",
        oid: "2.5.4.0",
        desc: "RFC4512: object classes of the entity",
        ..OID_VALUED
    },
    AttributeType {
        name: "dc",
        oid: "0.9.2342.19200300.100.1.25",
        aliases: &["domainComponent"],
        syntax: syntax::IA5_STRING,
        single_value: true,
        desc: "RFC4519: domain component",
        ..TEXT
    },
    AttributeType {
        name: "o",
        oid: "2.5.4.10",
        aliases: &["organizationName"],
        desc: "RFC4519: organization this object belongs to",
        ..TEXT
    },
    AttributeType {
        name: "ou",
        oid: "2.5.4.11",
        aliases: &["organizationalUnitName"],
        desc: "RFC4519: organizational unit this object belongs to",
        ..TEXT
    },
    // Operational attributes computed per entry (see `filter::operational_value`).
    AttributeType {
        name: "entryDN",
        oid: "1.3.6.1.1.20",
        single_value: true,
        operational: true,
        desc: "RFC5020: DN of the entry",
        ..DN_VALUED
    },
    AttributeType {
        name: "createTimestamp",
        oid: "2.5.18.1",
        desc: "RFC4512: time which object was created",
        ..TIMESTAMP
    },
    AttributeType {
        name: "modifyTimestamp",
        oid: "2.5.18.2",
        desc: "RFC4512: time which object was last modified",
        ..TIMESTAMP
    },
    AttributeType {
        name: "structuralObjectClass",
        oid: "2.5.21.9",
        single_value: true,
        operational: true,
        desc: "X.500(93): structural object class of entry",
        ..OID_VALUED
    },
    AttributeType {
        name: "subschemaSubentry",
        oid: "2.5.18.10",
        single_value: true,
        operational: true,
        desc: "RFC4512: name of controlling subschema entry",
        ..DN_VALUED
    },
    AttributeType {
        name: "hasSubordinates",
        oid: "2.5.18.9",
        operational: true,
        desc: "X.501: entry has children",
        ..BOOLEAN
    },
    // rootDSE (RFC 4512, RFC 3045, RFC 3674).
    AttributeType {
        name: "namingContexts",
        oid: "1.3.6.1.4.1.1466.101.120.5",
        syntax: syntax::DN,
        equality: Matching::Dn,
        desc: "RFC4512: naming contexts",
        ..DSA
    },
    AttributeType {
        name: "supportedLDAPVersion",
        oid: "1.3.6.1.4.1.1466.101.120.15",
        syntax: syntax::INTEGER,
        equality: Matching::Integer,
        ordering: true,
        desc: "RFC4512: supported LDAP versions",
        ..DSA
    },
    AttributeType {
        name: "supportedControl",
        oid: "1.3.6.1.4.1.1466.101.120.13",
        syntax: syntax::OID,
        desc: "RFC4512: supported controls",
        ..DSA
    },
    AttributeType {
        name: "supportedExtension",
        oid: "1.3.6.1.4.1.1466.101.120.7",
        syntax: syntax::OID,
        desc: "RFC4512: supported extended operations",
        ..DSA
    },
    AttributeType {
        name: "supportedFeatures",
        oid: "1.3.6.1.4.1.4203.1.3.5",
        syntax: syntax::OID,
        desc: "RFC4512: features supported by the server",
        ..DSA
    },
    AttributeType {
        name: "supportedSASLMechanisms",
        oid: "1.3.6.1.4.1.1466.101.120.14",
        desc: "RFC4512: supported SASL mechanisms",
        ..DSA
    },
    AttributeType {
        name: "vendorName",
        oid: "1.3.6.1.1.4",
        equality: Matching::CaseExact,
        single_value: true,
        // Substring filters on the rootDSE (`(vendorName=o365*)`) are answered, as they were
        // before the rootDSE was matched on the schema.
        substrings: true,
        desc: "RFC3045: name of implementation vendor",
        ..DSA
    },
    AttributeType {
        name: "vendorVersion",
        oid: "1.3.6.1.1.5",
        equality: Matching::CaseExact,
        single_value: true,
        substrings: true,
        desc: "RFC3045: version of implementation",
        ..DSA
    },
    // Subschema (RFC 4512).
    AttributeType {
        name: "attributeTypes",
        oid: "2.5.21.5",
        syntax: syntax::ATTRIBUTE_TYPE_DESCRIPTION,
        desc: "RFC4512: attribute types",
        ..DSA
    },
    AttributeType {
        name: "objectClasses",
        oid: "2.5.21.6",
        syntax: syntax::OBJECT_CLASS_DESCRIPTION,
        desc: "RFC4512: object classes",
        ..DSA
    },
    AttributeType {
        name: "ldapSyntaxes",
        oid: "1.3.6.1.4.1.1466.101.120.16",
        syntax: syntax::LDAP_SYNTAX_DESCRIPTION,
        desc: "RFC4512: LDAP syntaxes",
        ..DSA
    },
    AttributeType {
        name: "matchingRules",
        oid: "2.5.21.4",
        syntax: syntax::MATCHING_RULE_DESCRIPTION,
        desc: "RFC4512: matching rules",
        ..DSA
    },
];

/// rootDSE attributes are `USAGE dSAOperation`; the other operational ones `directoryOperation`.
const DSA_OPERATION: &[&str] = &[
    "namingContexts",
    "supportedLDAPVersion",
    "supportedControl",
    "supportedExtension",
    "supportedFeatures",
    "supportedSASLMechanisms",
    "vendorName",
    "vendorVersion",
];

/// Every attribute type the directory knows, in table order.
pub fn attributes() -> &'static [AttributeType] {
    ATTRIBUTES
}

/// Lower-cased names, aliases and OIDs → index into `ATTRIBUTES`.
static ATTRIBUTE_INDEX: LazyLock<HashMap<String, usize>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for (i, at) in ATTRIBUTES.iter().enumerate() {
        map.insert(at.name.to_ascii_lowercase(), i);
        map.insert(at.oid.to_string(), i);
        for alias in at.aliases {
            map.insert(alias.to_ascii_lowercase(), i);
        }
    }
    map
});

/// The attribute description without its options: `userCertificate;binary` → `userCertificate`.
pub fn base_name(attr_desc: &str) -> &str {
    attr_desc.split(';').next().unwrap_or(attr_desc)
}

/// Looks an attribute type up by name, alias or OID, case-insensitively, ignoring options.
/// Called per RDN by the DN fast path, so it avoids allocating for the usual short names.
pub fn attribute(name: &str) -> Option<&'static AttributeType> {
    let name = base_name(name).trim();
    let mut buf = [0u8; 64];
    let index = if let Some(slot) = buf.get_mut(..name.len()) {
        slot.copy_from_slice(name.as_bytes());
        slot.make_ascii_lowercase();
        // Lower-casing ASCII bytes of a UTF-8 string leaves it valid UTF-8.
        let lower = std::str::from_utf8(slot).ok()?;
        ATTRIBUTE_INDEX.get(lower)
    } else {
        ATTRIBUTE_INDEX.get(&name.to_ascii_lowercase())
    };
    index.and_then(|&i| ATTRIBUTES.get(i))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassKind {
    Abstract,
    Structural,
    Auxiliary,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ObjectClass {
    pub name: &'static str,
    pub oid: &'static str,
    pub sup: Option<&'static str>,
    pub kind: ClassKind,
    /// Only attributes this schema knows are listed, so the published descriptions are
    /// self-consistent.
    pub must: &'static [&'static str],
    pub may: &'static [&'static str],
    pub desc: &'static str,
}

static OBJECT_CLASSES: &[ObjectClass] = &[
    ObjectClass {
        name: "top",
        oid: "2.5.6.0",
        sup: None,
        kind: ClassKind::Abstract,
        must: &["objectClass"],
        may: &[],
        desc: "RFC4512: top of the superclass chain",
    },
    ObjectClass {
        name: "dcObject",
        oid: "1.3.6.1.4.1.1466.344",
        sup: Some("top"),
        kind: ClassKind::Auxiliary,
        must: &["dc"],
        may: &[],
        desc: "RFC4519: domain component object",
    },
    ObjectClass {
        name: "organization",
        oid: "2.5.6.4",
        sup: Some("top"),
        kind: ClassKind::Structural,
        must: &["o"],
        may: &["description", "telephoneNumber"],
        desc: "RFC4519: an organization",
    },
    ObjectClass {
        name: "organizationalUnit",
        oid: "2.5.6.5",
        sup: Some("top"),
        kind: ClassKind::Structural,
        must: &["ou"],
        may: &["description", "telephoneNumber"],
        desc: "RFC4519: an organizational unit",
    },
    ObjectClass {
        name: "person",
        oid: "2.5.6.6",
        sup: Some("top"),
        kind: ClassKind::Structural,
        must: &["sn", "cn"],
        may: &["telephoneNumber", "description"],
        desc: "RFC4519: a person",
    },
    ObjectClass {
        name: "organizationalPerson",
        oid: "2.5.6.7",
        sup: Some("person"),
        kind: ClassKind::Structural,
        must: &[],
        may: &["title", "telephoneNumber", "ou"],
        desc: "RFC4519: an organizational person",
    },
    ObjectClass {
        name: "inetOrgPerson",
        oid: "2.16.840.1.113730.3.2.2",
        sup: Some("organizationalPerson"),
        kind: ClassKind::Structural,
        must: &[],
        may: &[
            "departmentNumber",
            "displayName",
            "employeeNumber",
            "givenName",
            "mail",
            "mobile",
            "o",
            "uid",
        ],
        desc: "RFC2798: Internet Organizational Person",
    },
    ObjectClass {
        name: "posixAccount",
        oid: "1.3.6.1.1.1.2.0",
        sup: Some("top"),
        kind: ClassKind::Auxiliary,
        must: &["cn", "uid", "uidNumber", "gidNumber", "homeDirectory"],
        may: &["loginShell", "gecos", "description"],
        desc: "RFC2307bis: Abstraction of an account with POSIX attributes",
    },
    ObjectClass {
        name: "ldapPublicKey",
        oid: "1.3.6.1.4.1.24552.500.1.1.2.0",
        sup: Some("top"),
        kind: ClassKind::Auxiliary,
        must: &["sshPublicKey", "uid"],
        may: &[],
        desc: "OpenSSH-LPK: MANDATORY: OpenSSH LPK objectclass",
    },
    ObjectClass {
        name: "groupOfNames",
        oid: "2.5.6.9",
        sup: Some("top"),
        kind: ClassKind::Structural,
        must: &["member", "cn"],
        may: &["o", "ou", "description"],
        desc: "RFC4519: a group of names (DNs)",
    },
    ObjectClass {
        name: "posixGroup",
        oid: "1.3.6.1.1.1.2.2",
        sup: Some("top"),
        kind: ClassKind::Auxiliary,
        must: &["gidNumber"],
        may: &["memberUid", "description"],
        desc: "RFC2307bis: A group of accounts",
    },
    ObjectClass {
        name: "applicationProcess",
        oid: "2.5.6.11",
        sup: Some("top"),
        kind: ClassKind::Structural,
        must: &["cn"],
        may: &["ou", "description"],
        desc: "RFC4519: an application process (service accounts that bind to the directory)",
    },
    ObjectClass {
        name: "subschema",
        oid: "2.5.20.1",
        sup: None,
        kind: ClassKind::Auxiliary,
        must: &[],
        may: &["objectClasses", "attributeTypes", "matchingRules"],
        desc: "RFC4512: controlling subschema (sub)entry",
    },
    ObjectClass {
        name: "extensibleObject",
        oid: "1.3.6.1.4.1.1466.101.120.111",
        sup: Some("top"),
        kind: ClassKind::Auxiliary,
        must: &[],
        may: &[],
        desc: "RFC4512: extensible object",
    },
];

pub fn object_classes() -> &'static [ObjectClass] {
    OBJECT_CLASSES
}

/// Looks an object class up by name or OID, case-insensitively.
pub fn object_class(name_or_oid: &str) -> Option<&'static ObjectClass> {
    let key = name_or_oid.trim();
    OBJECT_CLASSES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(key) || c.oid == key)
}

/// What a matching rule does when named in an extensible-match filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Equality(Matching),
    /// TRUE when the attribute value is less than the assertion value (RFC 4517 §4.1).
    Ordering(Matching),
    Substrings(Matching),
    /// 1.2.840.113556.1.4.803: every bit of the assertion is set in the value.
    BitAnd,
    /// 1.2.840.113556.1.4.804: at least one bit of the assertion is set in the value.
    BitOr,
    /// 1.2.840.113556.1.4.1941 (LDAP_MATCHING_RULE_IN_CHAIN): transitive DN membership.
    InChain,
    /// Published for completeness (referenced by descriptions) but not evaluated.
    Unsupported,
}

#[derive(Debug, PartialEq, Eq)]
pub struct MatchingRule {
    pub oid: &'static str,
    /// In-chain has no registered descriptor; it is known by its OID only.
    pub name: Option<&'static str>,
    pub syntax: &'static str,
    pub kind: RuleKind,
}

pub const IN_CHAIN_OID: &str = "1.2.840.113556.1.4.1941";

// One rule per line reads as the table it is.
#[rustfmt::skip]
static MATCHING_RULES: &[MatchingRule] = {
    use Matching::*;
    use RuleKind::*;
    const fn rule(oid: &'static str, name: &'static str, syntax: &'static str, kind: RuleKind) -> MatchingRule {
        MatchingRule { oid, name: Some(name), syntax, kind }
    }
    &[
        rule("2.5.13.0", "objectIdentifierMatch", syntax::OID, Equality(CaseIgnore)),
        rule("2.5.13.1", "distinguishedNameMatch", syntax::DN, Equality(Dn)),
        rule("2.5.13.2", "caseIgnoreMatch", syntax::DIRECTORY_STRING, Equality(CaseIgnore)),
        rule("2.5.13.3", "caseIgnoreOrderingMatch", syntax::DIRECTORY_STRING, Ordering(CaseIgnore)),
        rule("2.5.13.4", "caseIgnoreSubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(CaseIgnore)),
        rule("2.5.13.5", "caseExactMatch", syntax::DIRECTORY_STRING, Equality(CaseExact)),
        rule("2.5.13.6", "caseExactOrderingMatch", syntax::DIRECTORY_STRING, Ordering(CaseExact)),
        rule("2.5.13.7", "caseExactSubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(CaseExact)),
        rule("2.5.13.13", "booleanMatch", syntax::BOOLEAN, Equality(Boolean)),
        rule("2.5.13.14", "integerMatch", syntax::INTEGER, Equality(Integer)),
        rule("2.5.13.15", "integerOrderingMatch", syntax::INTEGER, Ordering(Integer)),
        rule("2.5.13.17", "octetStringMatch", syntax::OCTET_STRING, Equality(OctetString)),
        rule("2.5.13.18", "octetStringOrderingMatch", syntax::OCTET_STRING, Ordering(OctetString)),
        rule("2.5.13.20", "telephoneNumberMatch", syntax::TELEPHONE_NUMBER, Equality(TelephoneNumber)),
        rule("2.5.13.21", "telephoneNumberSubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(TelephoneNumber)),
        rule("2.5.13.27", "generalizedTimeMatch", syntax::GENERALIZED_TIME, Equality(GeneralizedTime)),
        rule("2.5.13.28", "generalizedTimeOrderingMatch", syntax::GENERALIZED_TIME, Ordering(GeneralizedTime)),
        rule("2.5.13.30", "objectIdentifierFirstComponentMatch", syntax::OID, Unsupported),
        rule("1.3.6.1.4.1.1466.109.114.1", "caseExactIA5Match", syntax::IA5_STRING, Equality(CaseExact)),
        rule("1.3.6.1.4.1.1466.109.114.2", "caseIgnoreIA5Match", syntax::IA5_STRING, Equality(CaseIgnore)),
        rule("1.3.6.1.4.1.1466.109.114.3", "caseIgnoreIA5SubstringsMatch", syntax::SUBSTRING_ASSERTION, Substrings(CaseIgnore)),
        rule("1.3.6.1.1.16.2", "uuidMatch", syntax::UUID, Equality(Uuid)),
        rule("1.3.6.1.1.16.3", "uuidOrderingMatch", syntax::UUID, Ordering(Uuid)),
        rule("1.2.840.113556.1.4.803", "integerBitAndMatch", syntax::INTEGER, BitAnd),
        rule("1.2.840.113556.1.4.804", "integerBitOrMatch", syntax::INTEGER, BitOr),
        MatchingRule { oid: IN_CHAIN_OID, name: None, syntax: syntax::DN, kind: InChain },
    ]
};

pub fn matching_rules() -> &'static [MatchingRule] {
    MATCHING_RULES
}

/// Looks a matching rule up by OID or (case-insensitively) by name.
pub fn matching_rule(name_or_oid: &str) -> Option<&'static MatchingRule> {
    let key = name_or_oid.trim();
    MATCHING_RULES
        .iter()
        .find(|r| r.oid == key || r.name.is_some_and(|n| n.eq_ignore_ascii_case(key)))
}

fn is_description_syntax(syntax: &str) -> bool {
    matches!(
        syntax,
        syntax::ATTRIBUTE_TYPE_DESCRIPTION
            | syntax::OBJECT_CLASS_DESCRIPTION
            | syntax::MATCHING_RULE_DESCRIPTION
            | syntax::LDAP_SYNTAX_DESCRIPTION
    )
}

/// The EQUALITY rule published for an attribute (IA5 and OID syntaxes have their own rules).
pub fn equality_rule_name(at: &AttributeType) -> &'static str {
    let ia5 = at.syntax == syntax::IA5_STRING;
    match at.equality {
        Matching::CaseIgnore if ia5 => "caseIgnoreIA5Match",
        Matching::CaseIgnore if at.syntax == syntax::OID => "objectIdentifierMatch",
        Matching::CaseIgnore if is_description_syntax(at.syntax) => {
            "objectIdentifierFirstComponentMatch"
        }
        Matching::CaseIgnore => "caseIgnoreMatch",
        Matching::CaseExact if ia5 => "caseExactIA5Match",
        Matching::CaseExact => "caseExactMatch",
        Matching::Integer => "integerMatch",
        Matching::Dn => "distinguishedNameMatch",
        Matching::Boolean => "booleanMatch",
        Matching::GeneralizedTime => "generalizedTimeMatch",
        Matching::Uuid => "uuidMatch",
        Matching::OctetString => "octetStringMatch",
        Matching::TelephoneNumber => "telephoneNumberMatch",
    }
}

fn ordering_rule_name(at: &AttributeType) -> Option<&'static str> {
    if !at.ordering {
        return None;
    }
    match at.equality {
        Matching::CaseIgnore => Some("caseIgnoreOrderingMatch"),
        Matching::CaseExact => Some("caseExactOrderingMatch"),
        Matching::Integer => Some("integerOrderingMatch"),
        Matching::GeneralizedTime => Some("generalizedTimeOrderingMatch"),
        Matching::Uuid => Some("uuidOrderingMatch"),
        Matching::OctetString => Some("octetStringOrderingMatch"),
        Matching::Dn | Matching::Boolean | Matching::TelephoneNumber => None,
    }
}

fn substrings_rule_name(at: &AttributeType) -> Option<&'static str> {
    if !at.substrings {
        return None;
    }
    match at.equality {
        Matching::CaseIgnore if at.syntax == syntax::IA5_STRING => {
            Some("caseIgnoreIA5SubstringsMatch")
        }
        Matching::CaseIgnore => Some("caseIgnoreSubstringsMatch"),
        Matching::CaseExact => Some("caseExactSubstringsMatch"),
        Matching::TelephoneNumber => Some("telephoneNumberSubstringsMatch"),
        _ => None,
    }
}

/// RFC 4512 `qdstring`: `'` and `\` are escaped as `\27` and `\5C`.
fn qdstring(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\27"),
            '\\' => out.push_str("\\5C"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn qdescrs(names: &[&str]) -> String {
    match names {
        [one] => format!("'{one}'"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            format!("( {} )", quoted.join(" "))
        }
    }
}

fn oids(names: &[&str]) -> String {
    match names {
        [one] => (*one).to_string(),
        _ => format!("( {} )", names.join(" $ ")),
    }
}

/// The values of `attributeTypes` in `cn=Subschema`.
pub fn attribute_type_descriptions() -> Vec<String> {
    ATTRIBUTES
        .iter()
        .map(|at| {
            let mut names = vec![at.name];
            names.extend_from_slice(at.aliases);
            let mut d = format!("( {} NAME {}", at.oid, qdescrs(&names));
            if !at.desc.is_empty() {
                d.push_str(" DESC ");
                d.push_str(&qdstring(at.desc));
            }
            d.push_str(" EQUALITY ");
            d.push_str(equality_rule_name(at));
            if let Some(r) = ordering_rule_name(at) {
                d.push_str(" ORDERING ");
                d.push_str(r);
            }
            if let Some(r) = substrings_rule_name(at) {
                d.push_str(" SUBSTR ");
                d.push_str(r);
            }
            d.push_str(" SYNTAX ");
            d.push_str(at.syntax);
            if at.single_value {
                d.push_str(" SINGLE-VALUE");
            }
            if at.operational {
                let usage = if DSA_OPERATION.contains(&at.name) {
                    "dSAOperation"
                } else {
                    "directoryOperation"
                };
                d.push_str(" NO-USER-MODIFICATION USAGE ");
                d.push_str(usage);
            }
            d.push_str(" )");
            d
        })
        .collect()
}

/// The values of `objectClasses` in `cn=Subschema`.
pub fn object_class_descriptions() -> Vec<String> {
    OBJECT_CLASSES
        .iter()
        .map(|oc| {
            let mut d = format!("( {} NAME '{}'", oc.oid, oc.name);
            if !oc.desc.is_empty() {
                d.push_str(" DESC ");
                d.push_str(&qdstring(oc.desc));
            }
            if let Some(sup) = oc.sup {
                d.push_str(" SUP ");
                d.push_str(sup);
            }
            d.push_str(match oc.kind {
                ClassKind::Abstract => " ABSTRACT",
                ClassKind::Structural => " STRUCTURAL",
                ClassKind::Auxiliary => " AUXILIARY",
            });
            if !oc.must.is_empty() {
                d.push_str(" MUST ");
                d.push_str(&oids(oc.must));
            }
            if !oc.may.is_empty() {
                d.push_str(" MAY ");
                d.push_str(&oids(oc.may));
            }
            d.push_str(" )");
            d
        })
        .collect()
}

/// The values of `matchingRules` in `cn=Subschema`.
pub fn matching_rule_descriptions() -> Vec<String> {
    MATCHING_RULES
        .iter()
        .map(|r| match r.name {
            Some(name) => format!("( {} NAME '{}' SYNTAX {} )", r.oid, name, r.syntax),
            None => format!("( {} SYNTAX {} )", r.oid, r.syntax),
        })
        .collect()
}

/// The values of `ldapSyntaxes` in `cn=Subschema`.
pub fn ldap_syntax_descriptions() -> Vec<String> {
    SYNTAXES
        .iter()
        .map(|(oid, desc)| format!("( {oid} DESC {} )", qdstring(desc)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Value normalisation.

/// The caseIgnore/caseExact prepared form of a value, as a stream of chars: whitespace (any
/// Unicode white space, RFC 4518 maps them to SPACE) trimmed at both ends and collapsed to one
/// space inside, optionally lower-cased. Streaming lets equality compare without allocating.
pub struct Folded<'a> {
    chars: std::str::Chars<'a>,
    lower: bool,
    started: bool,
    pending_space: bool,
    held: Option<char>,
    lowered: Option<std::char::ToLowercase>,
}

impl Iterator for Folded<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        if let Some(l) = &mut self.lowered {
            if let Some(c) = l.next() {
                return Some(c);
            }
            self.lowered = None;
        }
        if let Some(c) = self.held.take() {
            return Some(self.emit(c));
        }
        loop {
            let c = self.chars.next()?;
            if c.is_whitespace() {
                self.pending_space = self.started;
                continue;
            }
            if self.pending_space {
                self.pending_space = false;
                self.held = Some(c);
                return Some(' ');
            }
            self.started = true;
            return Some(self.emit(c));
        }
    }
}

impl Folded<'_> {
    fn emit(&mut self, c: char) -> char {
        if !self.lower {
            return c;
        }
        let mut l = c.to_lowercase();
        match l.next() {
            Some(first) => {
                self.lowered = Some(l);
                first
            }
            None => c,
        }
    }
}

/// Streams the prepared form of `v` (see [`Folded`]).
pub fn fold(v: &str, lower: bool) -> Folded<'_> {
    Folded {
        chars: v.chars(),
        lower,
        started: false,
        pending_space: false,
        held: None,
        lowered: None,
    }
}

/// An integer per RFC 4517, leniently: surrounding spaces, a leading `+` and leading zeros are
/// accepted. Values beyond i64 are rejected (no directory number comes near).
pub fn parse_integer(v: &str) -> Option<i64> {
    let t = v.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.strip_prefix('+').unwrap_or(t).parse().ok()
}

/// Boolean per RFC 4517 (`TRUE`/`FALSE`), case-insensitively because clients write `true`.
pub fn parse_boolean(v: &str) -> Option<bool> {
    let t = v.trim();
    if t.eq_ignore_ascii_case("TRUE") {
        Some(true)
    } else if t.eq_ignore_ascii_case("FALSE") {
        Some(false)
    } else {
        None
    }
}

const NANOS: i128 = 1_000_000_000;

/// GeneralizedTime (RFC 4517 §3.3.13) → nanoseconds since the Unix epoch, UTC.
/// `YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HH[MM])`; the fraction applies to the last unit given.
pub fn parse_generalized_time(v: &str) -> Option<i128> {
    let b = v.trim().as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let year = num(b.get(0..4)?)?;
    let month = num(b.get(4..6)?)?;
    let day = num(b.get(6..8)?)?;
    let hour = num(b.get(8..10)?)?;
    let mut pos = 10;
    let mut minute = 0;
    let mut second = 0;
    // Seconds in the last unit given, for the fraction.
    let mut unit: i128 = 3600;
    if b.get(pos).is_some_and(u8::is_ascii_digit) {
        minute = num(b.get(pos..pos + 2)?)?;
        pos += 2;
        unit = 60;
        if b.get(pos).is_some_and(u8::is_ascii_digit) {
            second = num(b.get(pos..pos + 2)?)?;
            pos += 2;
            unit = 1;
        }
    }
    let days = unix_days(year, month, day)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut frac_nanos: i128 = 0;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = b.get(start..pos)?;
        if digits.is_empty() {
            return None;
        }
        // Nine significant digits are more than any clock we compare with.
        let mut value: i128 = 0;
        let mut scale: i128 = 1;
        for &d in digits.iter().take(9) {
            value = value * 10 + i128::from(d - b'0');
            scale *= 10;
        }
        frac_nanos = value * unit * NANOS / scale;
    }
    let offset_secs: i64 = match b.get(pos) {
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = b.get(pos + 1..)?;
            let (hh, mm) = match rest.len() {
                2 => (num(rest)?, 0),
                4 => (num(rest.get(0..2)?)?, num(rest.get(2..4)?)?),
                _ => return None,
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            let secs = hh * 3600 + mm * 60;
            if sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * NANOS + frac_nanos)
}

/// Nanoseconds since the epoch → canonical GeneralizedTime `YYYYMMDDHHMMSS[.f]Z`.
fn format_generalized_time(nanos: i128) -> Option<String> {
    let secs = i64::try_from(nanos.div_euclid(NANOS)).ok()?;
    let frac = nanos.rem_euclid(NANOS);
    // Years 0000 to 9999: what GeneralizedTime's four year digits can spell.
    if !(-62_167_219_200..=253_402_300_799).contains(&secs) {
        return None;
    }
    let mut out = generalized_time(secs);
    out.pop();
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    Some(out)
}

fn telephone(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The equality key of a value under a matching rule; `None` when the value is not valid for
/// the rule's syntax (a filter asserting it evaluates to Undefined).
pub fn normalize(m: Matching, v: &str) -> Option<String> {
    match m {
        Matching::CaseIgnore => Some(fold(v, true).collect()),
        Matching::CaseExact => Some(fold(v, false).collect()),
        Matching::TelephoneNumber => Some(telephone(v)),
        Matching::Integer => parse_integer(v).map(|i| i.to_string()),
        Matching::Dn => dn::normalize(v).ok(),
        Matching::Boolean => parse_boolean(v).map(|b| if b { "TRUE" } else { "FALSE" }.into()),
        Matching::GeneralizedTime => parse_generalized_time(v).and_then(format_generalized_time),
        Matching::Uuid => uuid::Uuid::try_parse(v.trim())
            .ok()
            .map(|u| u.hyphenated().to_string()),
        Matching::OctetString => Some(v.to_string()),
    }
}

/// Whether ASCII `v` is unchanged by `fold`: no leading, trailing or doubled spaces, no other
/// whitespace, and (when folding case) no upper case. A byte scan, much cheaper than `fold`.
fn plain_folded(v: &str, lower: bool) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && b.windows(2).all(|w| w != b"  ")
        && b.iter().all(|&c| {
            c.is_ascii()
                && (c == b' ' || !c.is_ascii_whitespace())
                && !(lower && c.is_ascii_uppercase())
        })
}

/// `normalize_value`, borrowing `v` when it already is its own key (the usual case for the
/// values this server builds: lower-case uids, plain DNs, canonical numbers), so building the
/// indexes of 100k entries does not allocate a key per value.
pub fn normalize_value_cow<'a>(
    at: &AttributeType,
    v: &'a str,
) -> Option<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    let unchanged = match at.equality {
        Matching::CaseIgnore if at.syntax != syntax::OID => {
            plain_folded(v, true) || fold(v, true).eq(v.chars())
        }
        Matching::CaseExact => plain_folded(v, false) || fold(v, false).eq(v.chars()),
        Matching::OctetString => true,
        Matching::Dn => dn::is_plain_lowercase(v),
        Matching::Integer => {
            let b = v.as_bytes();
            !b.is_empty()
                && b.iter().all(u8::is_ascii_digit)
                && (b.len() == 1 || b.first() != Some(&b'0'))
        }
        Matching::Uuid => {
            v.len() == 36
                && v.bytes().enumerate().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == b'-',
                    _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
                })
        }
        _ => false,
    };
    if unchanged {
        return Some(Cow::Borrowed(v));
    }
    let n = normalize_value(at, v)?;
    Some(if n == v {
        Cow::Borrowed(v)
    } else {
        Cow::Owned(n)
    })
}

/// The equality key of a value of a given attribute: `normalize` with the attribute's rule, and
/// object class OIDs mapped to names so `(objectClass=2.5.6.6)` finds persons.
pub fn normalize_value(at: &AttributeType, v: &str) -> Option<String> {
    if at.syntax == syntax::OID
        && let Some(oc) = object_class(v)
    {
        return Some(oc.name.to_lowercase());
    }
    normalize(at.equality, v)
}

/// Whether a stored value equals an already normalised assertion value. Avoids allocating for
/// the common text and DN cases (this runs per value per candidate entry).
pub fn value_matches(m: Matching, stored: &str, key: &str) -> bool {
    match m {
        Matching::CaseIgnore => fold(stored, true).eq(key.chars()),
        Matching::CaseExact => fold(stored, false).eq(key.chars()),
        Matching::OctetString => stored == key,
        Matching::Dn => dn::eq_normalized(stored, key),
        _ => normalize(m, stored).is_some_and(|n| n == key),
    }
}

/// A value prepared for ordering comparisons; only keys of one matching rule are compared.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrderKey {
    Int(i64),
    /// Nanoseconds since the Unix epoch.
    Time(i128),
    Text(String),
}

/// The ordering key of a value, `None` when the rule has no ordering or the value is invalid.
pub fn order_key(m: Matching, v: &str) -> Option<OrderKey> {
    match m {
        Matching::Integer => parse_integer(v).map(OrderKey::Int),
        Matching::GeneralizedTime => parse_generalized_time(v).map(OrderKey::Time),
        Matching::CaseIgnore | Matching::CaseExact | Matching::Uuid | Matching::OctetString => {
            normalize(m, v).map(OrderKey::Text)
        }
        Matching::Dn | Matching::Boolean | Matching::TelephoneNumber => None,
    }
}

/// Compares two values under a matching rule's ordering; `None` if either is invalid.
pub fn compare(m: Matching, a: &str, b: &str) -> Option<Ordering> {
    Some(order_key(m, a)?.cmp(&order_key(m, b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_keys_agree_with_normalised_ones() {
        let cases = [
            ("uid", "alice"),
            ("uid", " Alice  Smith "),
            ("cn", "R&D, Europe + \"Special\""),
            ("objectClass", "inetOrgPerson"),
            ("objectClass", "top"),
            ("objectClass", "2.5.6.6"),
            ("member", "uid=alice,ou=people,dc=contoso,dc=com"),
            ("member", "UID=Alice, OU=People,DC=Contoso,DC=Com"),
            ("uidNumber", "0042"),
            ("uidNumber", "42"),
            ("memberUid", "Alice"),
            ("entryUUID", "A1CE0000-0000-4000-8000-000000000001"),
            ("nsAccountLock", "true"),
            ("entryUUID", "a1ce0000-0000-4000-8000-000000000001"),
            ("uidNumber", "0"),
            ("uidNumber", "-5"),
            ("uid", "tab\there"),
            ("uid", "ünïcode"),
            ("memberOf", r"cn=r&d\, europe,ou=groups,dc=x"),
            ("memberOf", "cn=a  b,ou=groups,dc=x"),
        ];
        for (attr, v) in cases {
            let at = attribute(attr).expect("known attribute");
            assert_eq!(
                normalize_value_cow(at, v).map(|c| c.into_owned()),
                normalize_value(at, v),
                "{attr}: {v:?}"
            );
        }
    }

    #[test]
    fn lookup_by_name_alias_oid_and_options() {
        let uid = attribute("uid").map(|a| a.name);
        assert_eq!(uid, Some("uid"));
        assert_eq!(attribute("USERID").map(|a| a.name), Some("uid"));
        assert_eq!(
            attribute("0.9.2342.19200300.100.1.1").map(|a| a.name),
            Some("uid")
        );
        assert_eq!(attribute("commonName;lang-en").map(|a| a.name), Some("cn"));
        assert_eq!(
            attribute("MobileTelephoneNumber").map(|a| a.name),
            Some("mobile")
        );
        assert_eq!(
            attribute("SAMACCOUNTNAME").map(|a| a.name),
            Some("sAMAccountName")
        );
        assert_eq!(attribute("userCertificate;binary"), None);
        assert_eq!(attribute("sudoHost"), None);
        assert_eq!(attribute(""), None);
        // Longer than the stack buffer: still looked up, just not found.
        assert_eq!(attribute(&"x".repeat(200)), None);
        assert_eq!(base_name("userCertificate;binary"), "userCertificate");
        assert_eq!(base_name("cn"), "cn");
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for at in attributes() {
            assert!(
                seen.insert(at.name.to_ascii_lowercase()),
                "duplicate {}",
                at.name
            );
            assert!(seen.insert(at.oid.to_string()), "duplicate OID {}", at.oid);
            for a in at.aliases {
                assert!(seen.insert(a.to_ascii_lowercase()), "duplicate alias {a}");
            }
            assert!(!at.desc.is_empty(), "{} has no description", at.name);
            assert!(
                SYNTAXES.iter().any(|(o, _)| *o == at.syntax),
                "{} syntax",
                at.name
            );
        }
        for oc in object_classes() {
            for a in oc.must.iter().chain(oc.may) {
                assert!(attribute(a).is_some(), "{} names unknown {a}", oc.name);
            }
            if let Some(sup) = oc.sup {
                assert!(object_class(sup).is_some(), "{} has unknown SUP", oc.name);
            }
        }
        for at in attributes() {
            let eq = equality_rule_name(at);
            assert!(
                matching_rule(eq).is_some(),
                "{} uses unpublished {eq}",
                at.name
            );
            for r in [ordering_rule_name(at), substrings_rule_name(at)]
                .into_iter()
                .flatten()
            {
                assert!(
                    matching_rule(r).is_some(),
                    "{} uses unpublished {r}",
                    at.name
                );
            }
        }
    }

    #[test]
    fn attribute_descriptions_follow_rfc4512() {
        let all = attribute_type_descriptions();
        assert_eq!(all.len(), attributes().len());
        assert!(all.contains(
            &"( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) DESC 'RFC4519: user identifier' \
              EQUALITY caseIgnoreMatch ORDERING caseIgnoreOrderingMatch SUBSTR \
              caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )"
                .to_string()
        ));
        let member_uid = all.iter().find(|d| d.contains("'memberUid'"));
        assert!(member_uid.is_some_and(|d| d.contains("EQUALITY caseExactIA5Match")));
        let uid_number = all.iter().find(|d| d.contains("'uidNumber'"));
        assert!(uid_number.is_some_and(
            |d| d.contains("ORDERING integerOrderingMatch") && d.contains("SINGLE-VALUE")
        ));
        let entry_dn = all.iter().find(|d| d.contains("'entryDN'"));
        assert!(
            entry_dn
                .is_some_and(|d| d.ends_with("NO-USER-MODIFICATION USAGE directoryOperation )"))
        );
        let naming = all.iter().find(|d| d.contains("'namingContexts'"));
        assert!(naming.is_some_and(|d| d.contains("USAGE dSAOperation")));
        for d in &all {
            assert!(d.starts_with("( ") && d.ends_with(" )"), "{d}");
            assert_eq!(d.matches('\'').count() % 2, 0, "unbalanced quotes in {d}");
        }
    }

    #[test]
    fn object_class_descriptions_follow_rfc4512() {
        let all = object_class_descriptions();
        assert!(all.contains(
            &"( 1.3.6.1.1.1.2.2 NAME 'posixGroup' DESC 'RFC2307bis: A group of accounts' SUP top \
              AUXILIARY MUST gidNumber MAY ( memberUid $ description ) )"
                .to_string()
        ));
        let person = all.iter().find(|d| d.contains("NAME 'inetOrgPerson'"));
        assert!(person.is_some_and(|d| d.contains("SUP organizationalPerson STRUCTURAL")));
        let rules = matching_rule_descriptions();
        assert!(rules.contains(
            &"( 2.5.13.2 NAME 'caseIgnoreMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )".to_string()
        ));
        assert!(rules.contains(
            &"( 1.2.840.113556.1.4.1941 SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )".to_string()
        ));
        assert!(ldap_syntax_descriptions().contains(&"( 1.3.6.1.1.16.1 DESC 'UUID' )".to_string()));
        assert_eq!(qdstring("it's a\\b"), "'it\\27s a\\5Cb'");
    }

    #[test]
    fn case_ignore_normalisation() {
        assert_eq!(
            normalize(Matching::CaseIgnore, "  Alice   Smith \t").as_deref(),
            Some("alice smith")
        );
        assert_eq!(
            normalize(Matching::CaseIgnore, "ÉLODIE Ñoño").as_deref(),
            Some("élodie ñoño")
        );
        assert_eq!(
            normalize(Matching::CaseIgnore, "日本 語").as_deref(),
            Some("日本 語")
        );
        // Non-breaking space is white space too.
        assert_eq!(
            normalize(Matching::CaseIgnore, "a\u{a0}\u{a0}b").as_deref(),
            Some("a b")
        );
        assert_eq!(normalize(Matching::CaseIgnore, "   ").as_deref(), Some(""));
        assert_eq!(
            normalize(Matching::CaseExact, " Alice  B ").as_deref(),
            Some("Alice B")
        );
        assert!(value_matches(Matching::CaseIgnore, " ALICE ", "alice"));
        assert!(!value_matches(Matching::CaseIgnore, "alicex", "alice"));
        assert!(!value_matches(Matching::CaseIgnore, "alic", "alice"));
        assert!(value_matches(Matching::CaseExact, "alice", "alice"));
        assert!(!value_matches(Matching::CaseExact, "Alice", "alice"));
        // Multi-char lowercase mappings stream correctly.
        let key = normalize(Matching::CaseIgnore, "İstanbul").unwrap_or_default();
        assert!(value_matches(Matching::CaseIgnore, "İSTANBUL", &key));
    }

    #[test]
    fn integer_boolean_uuid_telephone() {
        assert_eq!(
            normalize(Matching::Integer, " 0100 ").as_deref(),
            Some("100")
        );
        assert_eq!(normalize(Matching::Integer, "+7").as_deref(), Some("7"));
        assert_eq!(normalize(Matching::Integer, "-0").as_deref(), Some("0"));
        assert_eq!(normalize(Matching::Integer, "-42").as_deref(), Some("-42"));
        for bad in [
            "abc",
            "",
            "1e3",
            "12 3",
            "+",
            "-",
            "--1",
            "99999999999999999999",
            "0x10",
        ] {
            assert_eq!(normalize(Matching::Integer, bad), None, "{bad}");
        }
        assert_eq!(
            normalize(Matching::Boolean, "true").as_deref(),
            Some("TRUE")
        );
        assert_eq!(
            normalize(Matching::Boolean, "FALSE").as_deref(),
            Some("FALSE")
        );
        assert_eq!(normalize(Matching::Boolean, "yes"), None);
        let id = "6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60";
        assert_eq!(
            normalize(Matching::Uuid, id).as_deref(),
            Some("6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60")
        );
        assert_eq!(normalize(Matching::Uuid, "not-a-uuid"), None);
        assert_eq!(
            normalize(Matching::TelephoneNumber, "+1 555-0100"),
            normalize(Matching::TelephoneNumber, "+15550100")
        );
        assert_eq!(
            compare(Matching::Integer, "1000", "999"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(Matching::CaseIgnore, "B", "a"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(Matching::Integer, "x", "1"), None);
        assert_eq!(compare(Matching::Dn, "cn=a", "cn=b"), None);
    }

    #[test]
    fn generalized_time() {
        let n = |s| normalize(Matching::GeneralizedTime, s);
        assert_eq!(n("20240229123456Z").as_deref(), Some("20240229123456Z"));
        assert_eq!(n("202402291234Z").as_deref(), Some("20240229123400Z"));
        assert_eq!(n("2024022912Z").as_deref(), Some("20240229120000Z"));
        assert_eq!(
            n("20240229123456.500Z").as_deref(),
            Some("20240229123456.5Z")
        );
        assert_eq!(n("2024022912,5Z").as_deref(), Some("20240229123000Z"));
        assert_eq!(n("20240101003000+0100").as_deref(), Some("20231231233000Z"));
        assert_eq!(n("20231231233000-05").as_deref(), Some("20240101043000Z"));
        for bad in [
            "20230229000000Z",
            "20241301000000Z",
            "20240101250000Z",
            "20240101000000",
            "20240101000000Zjunk",
            "2024",
            "20240101000000.Z",
            "2024010100000+01000",
            "",
            "日本日本日本日本日本Z",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
        assert_eq!(
            compare(
                Matching::GeneralizedTime,
                "20240101000000Z",
                "20231231235959-0100"
            ),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn object_class_oids_map_to_names() {
        let oc = attribute("objectClass");
        assert!(oc.is_some());
        if let Some(oc) = oc {
            assert_eq!(normalize_value(oc, "2.5.6.6").as_deref(), Some("person"));
            assert_eq!(
                normalize_value(oc, "PosixAccount").as_deref(),
                Some("posixaccount")
            );
            assert_eq!(normalize_value(oc, "sudoRole").as_deref(), Some("sudorole"));
        }
        assert_eq!(
            object_class("INETORGPERSON").map(|c| c.oid),
            Some("2.16.840.1.113730.3.2.2")
        );
        assert_eq!(
            matching_rule("CASEIGNOREMATCH").map(|r| r.oid),
            Some("2.5.13.2")
        );
        assert_eq!(
            matching_rule(IN_CHAIN_OID).map(|r| r.kind),
            Some(RuleKind::InChain)
        );
        assert_eq!(matching_rule("1.2.3.4"), None);
        assert_eq!(
            matching_rule("2.5.13.14").and_then(|r| r.name),
            Some("integerMatch")
        );
    }
}
