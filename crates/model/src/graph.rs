//! Typed Microsoft Graph objects, as the sync reads and the store keeps them.
//!
//! Field names follow Graph's JSON (camelCase). Every field except `id` is optional because
//! Graph returns `null` for unset selected properties in lists and *omits* never-set properties in
//! delta responses; the mirror keeps both as `None`. Unknown fields are ignored so a Graph that
//! grows new properties does not break the sync.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `$select` list the sync sends for users (docs/graph-behaviour.md §7).
pub const USER_SELECT: &str = "id,userPrincipalName,mail,mailNickname,displayName,givenName,surname,\
accountEnabled,proxyAddresses,otherMails,jobTitle,department,employeeId,mobilePhone,businessPhones,\
onPremisesSamAccountName,onPremisesExtensionAttributes,onPremisesSyncEnabled,userType,createdDateTime";

/// The `$select` list the sync sends for groups (docs/graph-behaviour.md §7).
pub const GROUP_SELECT: &str = "id,displayName,description,mail,mailEnabled,mailNickname,\
securityEnabled,groupTypes,onPremisesSyncEnabled,proxyAddresses,membershipRule,createdDateTime";

/// `base` (`USER_SELECT`, `GROUP_SELECT`) plus the `extra` property names it does not already
/// hold (Graph compares names ignoring case); names that are not Graph property names are
/// skipped so a select never carries query syntax.
pub fn select_with(base: &str, extra: &[&str]) -> String {
    let mut out = base.to_string();
    for name in extra {
        let name = name.trim();
        if name.is_empty()
            || out.split(',').any(|p| p.eq_ignore_ascii_case(name))
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        out.push(',');
        out.push_str(name);
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub mail_nickname: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub proxy_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub other_mails: Option<Vec<String>>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub employee_id: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Option<Vec<String>>,
    #[serde(default)]
    pub on_premises_sam_account_name: Option<String>,
    /// Only the set ones: Graph lists all fifteen `extensionAttributeN` of every user, nearly
    /// always `null`, and a tenant's worth of empty entries was a large share of the mirror.
    #[serde(default, deserialize_with = "set_entries")]
    pub on_premises_extension_attributes: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// Directory extension properties (`extension_<appid>_<name>`) the sync selected, by their
    /// Graph name. Graph returns them as top-level properties; `fold_extensions` moves them
    /// here before a user object is deserialized.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// A map of optional strings without its `null` entries (an absent key reads the same).
fn set_entries<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, Option<String>>>, D::Error> {
    let m: Option<BTreeMap<String, Option<String>>> = Deserialize::deserialize(d)?;
    // Collected anew rather than `retain`ed: a map emptied in place keeps its root node, and
    // an empty collected map allocates nothing.
    Ok(m.map(|m| m.into_iter().filter(|(_, v)| v.is_some()).collect()))
}

/// Whether a Graph property name is a directory extension (`extension_<appid>_<name>`).
pub fn is_extension_property(name: &str) -> bool {
    name.len() > "extension_".len()
        && name
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("extension_"))
}

/// The value of a directory extension in an `extensions` map, by name compared ignoring case
/// (as Graph does).
pub fn extension_value<'a>(
    extensions: &'a BTreeMap<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    extensions.get(name).or_else(|| {
        extensions
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Move a user or group object's directory extension properties into its `extensions` member,
/// merging with any `extensions` already there (a property sent as `null` is cleared), so the
/// object deserializes into `User`/`Group` with them kept.
pub fn fold_extensions(obj: &mut serde_json::Map<String, serde_json::Value>) {
    let names: Vec<String> = obj
        .keys()
        .filter(|k| is_extension_property(k))
        .cloned()
        .collect();
    if names.is_empty() {
        return;
    }
    let mut ext = match obj.remove("extensions") {
        Some(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for n in names {
        match obj.remove(&n) {
            Some(serde_json::Value::Null) | None => {
                ext.remove(&n);
            }
            Some(v) => {
                ext.insert(n, v);
            }
        }
    }
    obj.insert("extensions".into(), serde_json::Value::Object(ext));
}

impl User {
    /// Guests are invited external accounts (`userType: "Guest"`, UPN with `#EXT#`).
    pub fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
            || self
                .user_principal_name
                .as_deref()
                .is_some_and(|u| u.contains("#EXT#"))
    }

    /// Graph lists disabled users with `accountEnabled: false`; `None` (not selected) counts as enabled.
    pub fn is_enabled(&self) -> bool {
        self.account_enabled.unwrap_or(true)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub mail_enabled: Option<bool>,
    #[serde(default)]
    pub mail_nickname: Option<String>,
    #[serde(default)]
    pub security_enabled: Option<bool>,
    #[serde(default)]
    pub group_types: Option<Vec<String>>,
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    pub proxy_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub membership_rule: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// Directory extension properties the sync selected (`groups.gid_number_attribute`), as
    /// on `User`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// The four kinds of group Microsoft 365 has (docs/graph-behaviour.md §7, "Group kinds").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Microsoft365,
    Security,
    MailEnabledSecurity,
    Distribution,
}

impl Group {
    pub fn kind(&self) -> GroupKind {
        let unified = self
            .group_types
            .as_ref()
            .is_some_and(|t| t.iter().any(|x| x.eq_ignore_ascii_case("Unified")));
        let mail = self.mail_enabled.unwrap_or(false);
        let security = self.security_enabled.unwrap_or(false);
        match (unified, mail, security) {
            (true, _, _) => GroupKind::Microsoft365,
            (false, true, true) => GroupKind::MailEnabledSecurity,
            (false, true, false) => GroupKind::Distribution,
            (false, false, _) => GroupKind::Security,
        }
    }

    pub fn is_dynamic(&self) -> bool {
        self.group_types.as_ref().is_some_and(|t| {
            t.iter()
                .any(|x| x.eq_ignore_ascii_case("DynamicMembership"))
        })
    }
}

/// What a group member is, from its `@odata.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberKind {
    User,
    Group,
    Device,
    ServicePrincipal,
    OrgContact,
    Other,
}

impl MemberKind {
    pub fn from_odata_type(t: Option<&str>) -> MemberKind {
        match t.unwrap_or("") {
            "#microsoft.graph.user" => MemberKind::User,
            "#microsoft.graph.group" => MemberKind::Group,
            "#microsoft.graph.device" => MemberKind::Device,
            "#microsoft.graph.servicePrincipal" => MemberKind::ServicePrincipal,
            "#microsoft.graph.orgContact" => MemberKind::OrgContact,
            _ => MemberKind::Other,
        }
    }
}

/// One direct member of a group: the member's id and type, nothing else (the mirror joins on id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberRef {
    pub id: String,
    pub kind: MemberKind,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    pub id: String,
    #[serde(default)]
    pub authentication_type: Option<String>,
    #[serde(default)]
    pub is_default: Option<bool>,
    #[serde(default)]
    pub is_initial: Option<bool>,
    #[serde(default)]
    pub is_root: Option<bool>,
    #[serde(default)]
    pub is_verified: Option<bool>,
}

impl Domain {
    pub fn verified(&self) -> bool {
        self.is_verified.unwrap_or(false)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_extension_attributes_are_not_kept() {
        let u: User = serde_json::from_value(json!({
            "id": "u1",
            "onPremisesExtensionAttributes": {
                "extensionAttribute1": null,
                "extensionAttribute2": "vpn-users",
                "extensionAttribute15": null,
            },
        }))
        .expect("user decodes");
        let attrs = u.on_premises_extension_attributes.expect("object kept");
        assert_eq!(attrs.len(), 1);
        assert_eq!(
            attrs.get("extensionAttribute2"),
            Some(&Some("vpn-users".to_string()))
        );
        let none: User = serde_json::from_value(json!({"id": "u2"})).expect("decodes");
        assert_eq!(none.on_premises_extension_attributes, None);
        let null: User =
            serde_json::from_value(json!({"id": "u3", "onPremisesExtensionAttributes": null}))
                .expect("decodes");
        assert_eq!(null.on_premises_extension_attributes, None);
    }

    #[test]
    fn folded_extensions_keep_only_set_directory_extensions_and_round_trip() {
        let mut obj = json!({
            "id": "g1",
            "displayName": "Ops, \"Night\" + Day",
            "@odata.type": "#microsoft.graph.group",
            "officeLocation": "not modelled",
            "extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_gidNumber": 123456,
            "EXTENSION_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_shell": null,
        });
        if let Some(o) = obj.as_object_mut() {
            fold_extensions(o);
        }
        let g: Group = serde_json::from_value(obj).expect("group decodes");
        assert_eq!(g.extensions.len(), 1, "{:?}", g.extensions);
        assert_eq!(
            extension_value(
                &g.extensions,
                "extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_GIDNUMBER"
            ),
            Some(&json!(123456))
        );
        let back: Group =
            serde_json::from_value(serde_json::to_value(&g).expect("encodes")).expect("decodes");
        assert_eq!(back, g);
        assert!(is_extension_property("Extension_x_y"));
        assert!(!is_extension_property("extensionAttribute1"));
        assert!(!is_extension_property("extension_"));
    }

    #[test]
    fn select_adds_each_property_once() {
        assert_eq!(select_with("id,mail", &[]), "id,mail");
        assert_eq!(
            select_with("id,employeeId", &["EmployeeId"]),
            "id,employeeId"
        );
        assert_eq!(
            select_with("id", &["onPremisesExtensionAttributes", "extension_a_b"]),
            "id,onPremisesExtensionAttributes,extension_a_b"
        );
        assert_eq!(
            select_with("id", &["extension_a_b", "EXTENSION_A_B", "x&$top=1"]),
            "id,extension_a_b"
        );
    }
}
