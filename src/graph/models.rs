//! Typed Microsoft Graph objects, as the sync reads and the store keeps them.
//!
//! Field names follow Graph's JSON (camelCase). Every field except `id` is optional because
//! Graph returns `null` for unset selected properties in lists and *omits* never-set properties in
//! delta responses; the mirror keeps both as `None`. Unknown fields are ignored so a Graph that
//! grows new properties does not break the sync.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `$select` list the sync sends for users (graph.md §3).
pub const USER_SELECT: &str = "id,userPrincipalName,mail,mailNickname,displayName,givenName,surname,\
accountEnabled,proxyAddresses,otherMails,jobTitle,department,employeeId,mobilePhone,businessPhones,\
onPremisesSamAccountName,onPremisesExtensionAttributes,onPremisesSyncEnabled,userType,createdDateTime";

/// The `$select` list the sync sends for groups (graph.md §4).
pub const GROUP_SELECT: &str = "id,displayName,description,mail,mailEnabled,mailNickname,\
securityEnabled,groupTypes,onPremisesSyncEnabled,proxyAddresses,membershipRule,createdDateTime";

/// `base` plus the top-level property a configured attribute path reads (its first dotted
/// segment), unless `base` already names it (Graph compares names ignoring case).
pub fn select_with(base: &str, attribute: Option<&str>) -> String {
    let Some(top) = attribute
        .and_then(|a| a.split('.').next())
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return base.to_string();
    };
    if base.split(',').any(|p| p.eq_ignore_ascii_case(top)) {
        base.to_string()
    } else {
        format!("{base},{top}")
    }
}

/// The `$select` list for `/groups/{id}/members`.
pub const MEMBER_SELECT: &str = "id";

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
    #[serde(default)]
    pub on_premises_extension_attributes: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// Directory extension properties (`extension_<appid>_<name>`) the sync selected.
    #[serde(flatten)]
    pub extensions: Extensions,
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
    /// Directory extension properties (`extension_<appid>_<name>`) the sync selected.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// Directory extension properties: Graph returns `extension_<appid>_<name>` as top-level
/// properties of the object when `$select`ed. Only those keys are kept from the properties the
/// typed fields do not name, so annotations and properties this build does not model are not
/// stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Extensions(pub BTreeMap<String, serde_json::Value>);

impl Extensions {
    /// The value of a directory extension, by name compared ignoring case (as Graph does).
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Whether a property name is a directory extension (`extension_<appid>_<name>`).
pub fn is_extension_name(name: &str) -> bool {
    name.get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("extension_"))
}

impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Extensions;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Extensions, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    if is_extension_name(&k) {
                        let v: serde_json::Value = map.next_value()?;
                        // Unset extensions carry no value; keep the mirror free of nulls.
                        if !v.is_null() {
                            out.insert(k, v);
                        }
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Extensions(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The four kinds of group Microsoft 365 has (graph.md §4, "Classification").
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

/// A directory object as it appears in a `members` collection.
#[derive(Debug, Clone, Deserialize)]
pub struct RawMember {
    pub id: String,
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
}

impl RawMember {
    pub fn to_ref(&self) -> MemberRef {
        MemberRef {
            id: self.id.clone(),
            kind: MemberKind::from_odata_type(self.odata_type.as_deref()),
        }
    }
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
    fn extensions_keep_only_set_directory_extensions_and_round_trip() {
        let u: User = serde_json::from_value(json!({
            "id": "u1",
            "displayName": "Ann",
            "@odata.type": "#microsoft.graph.user",
            "officeLocation": "not modelled",
            "extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_uidNumber": 123456,
            "EXTENSION_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_shell": null,
        }))
        .expect("user decodes");
        assert_eq!(u.extensions.0.len(), 1, "{:?}", u.extensions);
        assert_eq!(
            u.extensions
                .get("extension_0c1e2a3b4d5e4f608a7b9c0d1e2f3a4b_UIDNUMBER"),
            Some(&json!(123456))
        );
        let back: User =
            serde_json::from_value(serde_json::to_value(&u).expect("encodes")).expect("decodes");
        assert_eq!(back, u);
        assert!(is_extension_name("Extension_x_y"));
        assert!(!is_extension_name("extensionAttribute1"));
    }

    #[test]
    fn select_adds_the_attribute_property_once() {
        assert_eq!(select_with("id,mail", None), "id,mail");
        assert_eq!(
            select_with("id,employeeId", Some("EmployeeId")),
            "id,employeeId"
        );
        assert_eq!(
            select_with(
                "id",
                Some("onPremisesExtensionAttributes.extensionAttribute1")
            ),
            "id,onPremisesExtensionAttributes"
        );
        assert_eq!(select_with("id", Some("extension_a_b")), "id,extension_a_b");
    }
}
