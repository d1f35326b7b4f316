//! The attribute types the directory serves, one row each, built on a few templates.

use super::super::{AttributeType, Matching, syntax};

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

pub(super) static ATTRIBUTES: &[AttributeType] = &[
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
        // RFC 2307 says IA5 String, but the names it carries here come from Microsoft 365 and
        // are not ASCII (Zoë, Ångström): a Directory String, as 389-DS's rfc2307compat
        // declares it, so the schema and the values agree.
        single_value: true,
        desc: "RFC2307: The GECOS field; the common name (a Directory String, as in 389-DS rfc2307compat)",
        ..TEXT
    },
    AttributeType {
        name: "memberOf",
        oid: "1.2.840.113556.1.2.102",
        desc: "Groups this entry is a member of, directly or through nested groups",
        ..DN_VALUED
    },
    // A user attribute here, so `*` returns it, not an operational one as in OpenLDAP: it
    // carries the Microsoft 365 object id that applications key on.
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
    AttributeType {
        name: "userAccountControl",
        oid: "1.2.840.113556.1.4.8",
        single_value: true,
        desc: "Active Directory: account flags; 512 a normal account, 514 (bit 2 set) a disabled one",
        ..INTEGER
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
pub(in crate::schema) const DSA_OPERATION: &[&str] = &[
    "namingContexts",
    "supportedLDAPVersion",
    "supportedControl",
    "supportedExtension",
    "supportedFeatures",
    "supportedSASLMechanisms",
    "vendorName",
    "vendorVersion",
];
