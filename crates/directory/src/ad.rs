//! Active Directory spellings in search filters, mapped onto this directory's schema: appliances
//! set up for AD ask for `(objectCategory=person)`, `(objectClass=user)` or
//! `(objectClass=group)`. The entries keep their RFC object classes (they are exported to slapd
//! and must stay schema-valid); the filter is what gets translated, before evaluation and
//! before index planning, so both agree and the objectClass index answers these filters.

use std::borrow::Cow;

/// The attribute and value an equality assertion is evaluated as. `objectCategory` (which
/// entries here do not store) becomes `objectClass`; the AD class names `user`/`person` and
/// `group` become the classes users and groups carry. A DN-valued category
/// (`CN=Person,CN=Schema,CN=Configuration,...`, as some clients send) is reduced to its first
/// RDN value. Everything else is returned unchanged.
pub fn equality<'a>(attr: &'a str, value: &'a str) -> (&'a str, Cow<'a, str>) {
    if attr.eq_ignore_ascii_case("objectCategory") {
        let class = category_class(value);
        let mapped = match class.to_ascii_lowercase().as_str() {
            "person" | "user" => "person",
            // Every group carries posixGroup; an empty one is a groupOfEntries, not a
            // groupOfNames.
            "group" => "posixGroup",
            "container" | "organizationalunit" => "organizationalUnit",
            // Any other category (computer, contact...) is an object class no entry has:
            // False, not Undefined, as in AD where every object has a category.
            _ => return ("objectClass", Cow::Owned(class.to_string())),
        };
        return ("objectClass", Cow::Borrowed(mapped));
    }
    if attr.eq_ignore_ascii_case("objectClass") {
        let v = value.trim();
        if v.eq_ignore_ascii_case("user") {
            return (attr, Cow::Borrowed("inetOrgPerson"));
        }
        if v.eq_ignore_ascii_case("group") {
            return (attr, Cow::Borrowed("posixGroup"));
        }
    }
    (attr, Cow::Borrowed(value))
}

/// The attribute a presence test `(attr=*)` is evaluated as: every entry has an AD category.
pub fn presence(attr: &str) -> &str {
    if attr.eq_ignore_ascii_case("objectCategory") {
        "objectClass"
    } else {
        attr
    }
}

fn category_class(value: &str) -> &str {
    let v = value.trim();
    match v.split_once('=') {
        Some((_, rest)) => rest.split(',').next().unwrap_or(rest).trim(),
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_names_map_onto_rfc_classes() {
        let eq = |a, v| {
            let (a, v) = equality(a, v);
            (a.to_string(), v.into_owned())
        };
        let oc = |v: &str| ("objectClass".to_string(), v.to_string());
        assert_eq!(eq("objectCategory", "person"), oc("person"));
        assert_eq!(eq("OBJECTCATEGORY", "User"), oc("person"));
        assert_eq!(
            eq(
                "objectCategory",
                "CN=Person,CN=Schema,CN=Configuration,DC=contoso,DC=com"
            ),
            oc("person")
        );
        assert_eq!(eq("objectCategory", "group"), oc("posixGroup"));
        assert_eq!(eq("objectCategory", "computer"), oc("computer"));
        assert_eq!(eq("objectClass", "user"), oc("inetOrgPerson"));
        assert_eq!(eq("objectClass", "Group"), oc("posixGroup"));
        assert_eq!(eq("objectClass", "posixGroup"), oc("posixGroup"));
        assert_eq!(
            eq("sAMAccountName", "alice"),
            ("sAMAccountName".to_string(), "alice".to_string())
        );
        assert_eq!(presence("objectcategory"), "objectClass");
        assert_eq!(presence("uid"), "uid");
    }
}
