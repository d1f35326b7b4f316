//! The tenant as the emulator serves it: fixture validation and normalisation, and the read
//! queries route handlers need (lookups, id-ordered iteration, direct and transitive members).
//!
//! Objects are kept in id order so a paging cursor is simply "the last id returned": that stays
//! correct when later issues add mutations between pages (an object added behind the cursor is
//! not replayed, one deleted ahead of it is not returned).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Bound;

use serde_json::{Value, json};

use super::access;
use super::error::EmulatorError;
use super::fixture::{Fixture, FixtureApp, JsonObject};
use super::ids::{canonical_guid, derived_guid};
use super::schema::{Entity, Fill};
use model::time::iso;

/// An app registration as the token endpoint needs it.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub client_id: String,
    pub secrets: Vec<String>,
    /// Secrets revoked through the control plane: later use gives 7000215 like any wrong secret.
    pub revoked_secrets: Vec<String>,
    /// Secrets past their end date: 7000222.
    pub expired_secrets: Vec<String>,
    pub permissions: Vec<String>,
    /// "Allow public client flows": ROPC without a secret; sending one is then 700025.
    pub public_client: bool,
    /// SHA-1 and SHA-256 thumbprints with the SPKI of each registered certificate.
    pub certificates: Vec<super::cert::Certificate>,
}

/// What a user's password sign-in does (the emulator-only `_signin` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignInOutcome {
    Ok,
    WrongPassword,
    Mfa,
    MfaRegistration,
    ConditionalAccess,
    Disabled,
    Locked,
    Expired,
    NoPassword,
}

impl SignInOutcome {
    fn parse(s: &str) -> Option<SignInOutcome> {
        Some(match s {
            "ok" => SignInOutcome::Ok,
            "wrong_password" => SignInOutcome::WrongPassword,
            "mfa" => SignInOutcome::Mfa,
            "mfa_registration" => SignInOutcome::MfaRegistration,
            "conditional_access" => SignInOutcome::ConditionalAccess,
            "disabled" => SignInOutcome::Disabled,
            "locked" => SignInOutcome::Locked,
            "expired" => SignInOutcome::Expired,
            "no_password" => SignInOutcome::NoPassword,
            _ => return None,
        })
    }
}

/// A user's emulator-only sign-in script: `_password` and `_signin`.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    pub password: Option<String>,
    pub outcome: SignInOutcome,
}

/// Reads `_password` / `_signin` from a fixture (or control-plane) user object.
pub(crate) fn sign_in_of(raw: &JsonObject, label: &str) -> Result<SignIn, EmulatorError> {
    let password = match raw.get("_password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err(invalid(format!("{label}: _password must be a string"))),
    };
    let outcome = match raw.get("_signin") {
        None | Some(Value::Null) => SignInOutcome::Ok,
        Some(Value::String(s)) => SignInOutcome::parse(s).ok_or_else(|| {
            invalid(format!(
                "{label}: _signin '{s}' is not one of ok, wrong_password, mfa, mfa_registration, conditional_access, disabled, locked, expired, no_password"
            ))
        })?,
        Some(_) => return Err(invalid(format!("{label}: _signin must be a string"))),
    };
    Ok(SignIn { password, outcome })
}

/// Devices, service principals and org contacts: only ever seen as group members.
#[derive(Debug, Clone)]
pub(crate) struct DirObject {
    pub entity: Entity,
    pub props: JsonObject,
}

#[derive(Debug, Clone)]
pub(crate) struct TenantState {
    pub tenant_id: String,
    /// The change log delta rounds read (see `changes.rs`).
    pub(crate) changes: Vec<super::changes::Change>,
    /// Soft-deleted users (restorable), with the groups they were in.
    pub(crate) deleted_users: BTreeMap<String, super::changes::DeletedUser>,
    /// User id → password sign-in script.
    pub(crate) signin: HashMap<String, SignIn>,
    /// Verified domain names (lower case): valid UPN suffixes.
    pub(crate) verified: HashSet<String>,
    /// Change-log sequence number: one per object created from the fixture. Mutations (control
    /// endpoint) will bump it and delta tokens will record it, so a deltaLink means "changes
    /// after seq N".
    pub seq: u64,
    pub(crate) organization: JsonObject,
    pub(crate) domains: Vec<JsonObject>,
    pub(crate) apps: Vec<App>,
    pub(crate) users: BTreeMap<String, JsonObject>,
    pub(crate) groups: BTreeMap<String, JsonObject>,
    pub(crate) others: HashMap<String, DirObject>,
    /// Lower-cased UPN → user id; Graph resolves `/users/{upn}` case-insensitively.
    pub(crate) upn_index: HashMap<String, String>,
    /// Group id → member ids, sorted (the order pages are served in).
    pub(crate) members: HashMap<String, Vec<String>>,
}

fn invalid(msg: impl Into<String>) -> EmulatorError {
    EmulatorError::Invalid(msg.into())
}

/// A deterministic `createdDateTime` for the n-th object of a kind: spread over 2020–2024 so
/// "created first" orderings in tests follow fixture order.
fn derived_created(kind_offset: i64, index: usize) -> String {
    let index = i64::try_from(index).unwrap_or(0);
    // 2020-01-06T08:30:00Z, then roughly every 3 days and a few minutes apart.
    iso(1_578_299_400 + kind_offset * 3_600 + index * 259_200 + (index * 7_919) % 3_600)
}

/// Copies the Graph-visible properties of a fixture object, rejecting keys Graph does not have
/// on that type (a typo would otherwise silently come back as `null`).
pub(crate) fn graph_props(
    entity: Entity,
    obj: &JsonObject,
    label: &str,
    reserved: &[&str],
) -> Result<JsonObject, EmulatorError> {
    let mut out = JsonObject::new();
    for (key, value) in obj {
        if key.starts_with('_') || reserved.contains(&key.as_str()) {
            continue;
        }
        // Directory extensions (`extension_<appid>_<name>`) exist on users and groups once an
        // app registers them; the emulator takes any such name as registered.
        if matches!(entity, Entity::User | Entity::Group)
            && model::graph::is_extension_property(key)
        {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let Some(prop) = entity.prop_exact(key) else {
            let hint = entity
                .prop(key)
                .map(|p| format!(" (did you mean '{}'?)", p.name))
                .unwrap_or_else(|| " (prefix emulator-only fields with '_')".to_string());
            return Err(invalid(format!(
                "{label}: '{key}' is not a property of {}{hint}",
                entity.type_name()
            )));
        };
        let ok = match (prop.fill, value) {
            (_, Value::Null) => true,
            (Fill::EmptyList, v) => v.is_array(),
            (Fill::ExtensionAttributes, v) => v.is_object(),
            (Fill::Null, _) => true,
        };
        if !ok {
            return Err(invalid(format!(
                "{label}: '{key}' must be {}",
                match prop.fill {
                    Fill::EmptyList => "an array",
                    _ => "an object",
                }
            )));
        }
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

fn str_prop<'a>(obj: &'a JsonObject, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn bool_prop(obj: &JsonObject, key: &str) -> Option<bool> {
    obj.get(key).and_then(Value::as_bool)
}

/// Takes the fixture's `id`, or derives one; either way returns Graph's canonical spelling.
fn object_id(
    obj: &JsonObject,
    tenant_id: &str,
    kind: &str,
    index: usize,
    label: &str,
) -> Result<String, EmulatorError> {
    match obj.get("id") {
        None | Some(Value::Null) => Ok(derived_guid(&[tenant_id, kind, &index.to_string()])),
        Some(Value::String(s)) => {
            canonical_guid(s).ok_or_else(|| invalid(format!("{label}: id '{s}' is not a GUID")))
        }
        Some(_) => Err(invalid(format!("{label}: id must be a string"))),
    }
}

/// Graph requires a mailNickname on every group; derive one the way the portal suggests.
fn nickname_from(display_name: &str) -> String {
    let nick: String = display_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if nick.is_empty() {
        "group".to_string()
    } else {
        nick
    }
}

impl TenantState {
    /// Validates a fixture and builds the served state from it.
    pub fn build(f: &Fixture) -> Result<TenantState, EmulatorError> {
        let tenant_id = canonical_guid(&f.tenant_id)
            .ok_or_else(|| invalid(format!("tenant_id '{}' is not a GUID", f.tenant_id)))?;

        let domains = build_domains(&f.domains)?;
        let verified: HashSet<String> = domains
            .iter()
            .filter(|d| bool_prop(d, "isVerified") == Some(true))
            .filter_map(|d| str_prop(d, "id").map(str::to_string))
            .collect();
        let organization = build_organization(&f.organization, &tenant_id, &domains)?;

        let mut seen_ids: HashSet<String> = HashSet::new();
        let mut claim = |id: &str, label: &str| -> Result<(), EmulatorError> {
            if seen_ids.insert(id.to_string()) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{label}: id {id} is used by another object"
                )))
            }
        };

        let mut users = BTreeMap::new();
        let mut upn_index = HashMap::new();
        let mut signin = HashMap::new();
        for (i, raw) in f.users.iter().enumerate() {
            let upn = str_prop(raw, "userPrincipalName")
                .ok_or_else(|| invalid(format!("users[{i}]: userPrincipalName is required")))?;
            let label = format!("users[{i}] ({upn})");
            let mut props = graph_props(Entity::User, raw, &label, &[])?;
            let id = object_id(raw, &tenant_id, "user", i, &label)?;
            claim(&id, &label)?;
            let (local, suffix) = upn
                .rsplit_once('@')
                .ok_or_else(|| invalid(format!("{label}: userPrincipalName has no '@'")))?;
            if local.is_empty() || !verified.contains(&suffix.to_ascii_lowercase()) {
                return Err(invalid(format!(
                    "{label}: the UPN suffix '{suffix}' is not a verified domain of the tenant"
                )));
            }
            if upn_index
                .insert(upn.to_ascii_lowercase(), id.clone())
                .is_some()
            {
                return Err(invalid(format!("{label}: another user has this UPN")));
            }
            let guest = local.contains("#EXT#");
            signin.insert(id.clone(), sign_in_of(raw, &label)?);
            props.insert("id".into(), json!(id));
            props.entry("accountEnabled").or_insert(json!(true));
            props
                .entry("userType")
                .or_insert(json!(if guest { "Guest" } else { "Member" }));
            props
                .entry("createdDateTime")
                .or_insert_with(|| json!(derived_created(0, i)));
            let nick = local.split("#EXT#").next().unwrap_or(local);
            props.entry("mailNickname").or_insert(json!(nick));
            users.insert(id, props);
        }

        let mut groups = BTreeMap::new();
        let mut raw_members: Vec<(String, String, bool, Vec<Value>)> = Vec::new();
        for (i, raw) in f.groups.iter().enumerate() {
            let name = str_prop(raw, "displayName")
                .ok_or_else(|| invalid(format!("groups[{i}]: displayName is required")))?;
            let label = format!("groups[{i}] ({name:?})");
            let mut props = graph_props(Entity::Group, raw, &label, &["members"])?;
            let id = object_id(raw, &tenant_id, "group", i, &label)?;
            claim(&id, &label)?;
            props.insert("id".into(), json!(id));
            props.entry("mailEnabled").or_insert(json!(false));
            props.entry("securityEnabled").or_insert(json!(false));
            props
                .entry("createdDateTime")
                .or_insert_with(|| json!(derived_created(1, i)));
            props
                .entry("mailNickname")
                .or_insert_with(|| json!(nickname_from(name)));
            let unified = props
                .get("groupTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|x| x.as_str() == Some("Unified")));
            let members = match raw.get("members") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list.clone(),
                Some(_) => {
                    return Err(invalid(format!("{label}: members must be an array of ids")));
                }
            };
            raw_members.push((id.clone(), label, unified, members));
            groups.insert(id, props);
        }

        let mut others = HashMap::new();
        let sections = [
            (Entity::Device, &f.devices, 2),
            (Entity::ServicePrincipal, &f.service_principals, 3),
            (Entity::OrgContact, &f.org_contacts, 4),
        ];
        for (entity, list, kind_offset) in sections {
            for (i, raw) in list.iter().enumerate() {
                let name = str_prop(raw, "displayName").unwrap_or("");
                let label = format!("{}s[{i}] ({name:?})", entity.noun());
                let mut props = graph_props(entity, raw, &label, &[])?;
                let id = object_id(raw, &tenant_id, entity.noun(), i, &label)?;
                claim(&id, &label)?;
                props.insert("id".into(), json!(id));
                if entity.prop_exact("createdDateTime").is_some() {
                    props
                        .entry("createdDateTime")
                        .or_insert_with(|| json!(derived_created(kind_offset, i)));
                }
                others.insert(id, DirObject { entity, props });
            }
        }

        let mut members = HashMap::new();
        for (gid, label, unified, list) in raw_members {
            let mut ids = Vec::with_capacity(list.len());
            for entry in list {
                let text = entry
                    .as_str()
                    .ok_or_else(|| invalid(format!("{label}: members must be id strings")))?;
                let id = canonical_guid(text)
                    .ok_or_else(|| invalid(format!("{label}: member '{text}' is not a GUID")))?;
                let entity = if users.contains_key(&id) {
                    Entity::User
                } else if groups.contains_key(&id) {
                    Entity::Group
                } else if let Some(o) = others.get(&id) {
                    o.entity
                } else {
                    return Err(invalid(format!("{label}: member {id} does not exist")));
                };
                if id == gid {
                    return Err(invalid(format!("{label}: a group cannot contain itself")));
                }
                // Microsoft 365 groups hold users only and never nest (docs/graph-behaviour.md §7).
                if unified && entity != Entity::User {
                    return Err(invalid(format!(
                        "{label}: Microsoft 365 groups can only have users as members, not {} {id}",
                        entity.noun()
                    )));
                }
                ids.push(id);
            }
            ids.sort();
            let before = ids.len();
            ids.dedup();
            if ids.len() != before {
                return Err(invalid(format!("{label}: a member is listed twice")));
            }
            members.insert(gid, ids);
        }

        let apps = build_apps(&f.apps)?;
        let seq = u64::try_from(users.len() + groups.len() + others.len()).unwrap_or(u64::MAX);
        Ok(TenantState {
            tenant_id,
            changes: Vec::new(),
            deleted_users: BTreeMap::new(),
            signin,
            verified,
            seq,
            organization,
            domains,
            apps,
            users,
            groups,
            others,
            upn_index,
            members,
        })
    }

    /// Whether `name` (tenant GUID or verified domain, as in a token URL) names this tenant.
    pub fn is_tenant(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.tenant_id)
            || self.domains.iter().any(|d| {
                bool_prop(d, "isVerified") == Some(true)
                    && str_prop(d, "id").is_some_and(|id| id.eq_ignore_ascii_case(name))
            })
    }

    pub fn display_name(&self) -> &str {
        str_prop(&self.organization, "displayName").unwrap_or("")
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    pub fn organization(&self) -> &JsonObject {
        &self.organization
    }

    pub fn domains(&self) -> &[JsonObject] {
        &self.domains
    }

    pub fn domain(&self, name: &str) -> Option<&JsonObject> {
        self.domains
            .iter()
            .find(|d| str_prop(d, "id").is_some_and(|id| id.eq_ignore_ascii_case(name)))
    }

    /// `/users/{key}`: an object id or a UPN, both case-insensitive.
    pub fn user(&self, key: &str) -> Option<&JsonObject> {
        let key = key.to_ascii_lowercase();
        self.users
            .get(&key)
            .or_else(|| self.upn_index.get(&key).and_then(|id| self.users.get(id)))
    }

    pub fn group(&self, id: &str) -> Option<&JsonObject> {
        self.groups.get(&id.to_ascii_lowercase())
    }

    /// Any directory object by id, with its type.
    pub fn object(&self, id: &str) -> Option<(Entity, &JsonObject)> {
        if let Some(u) = self.users.get(id) {
            return Some((Entity::User, u));
        }
        if let Some(g) = self.groups.get(id) {
            return Some((Entity::Group, g));
        }
        self.others.get(id).map(|o| (o.entity, &o.props))
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub fn other_count(&self) -> usize {
        self.others.len()
    }

    /// Users in id order, strictly after the cursor id.
    pub fn users_after<'a>(
        &'a self,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a String, &'a JsonObject)> + 'a {
        range_after(&self.users, after)
    }

    pub fn groups_after<'a>(
        &'a self,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a String, &'a JsonObject)> + 'a {
        range_after(&self.groups, after)
    }

    /// Direct member ids of a group, in id order (`None` for an unknown group).
    pub fn direct_members(&self, group_id: &str) -> Option<&[String]> {
        let gid = group_id.to_ascii_lowercase();
        if !self.groups.contains_key(&gid) {
            return None;
        }
        Some(self.members.get(&gid).map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Every object reachable through nested groups (nested groups included, the group itself
    /// excluded even if nesting loops back to it), in id order.
    pub fn transitive_members(&self, group_id: &str) -> Option<Vec<String>> {
        let gid = group_id.to_ascii_lowercase();
        let direct = self.direct_members(&gid)?;
        let mut seen: HashSet<&str> = HashSet::new();
        let mut queue: VecDeque<&str> = direct.iter().map(String::as_str).collect();
        while let Some(id) = queue.pop_front() {
            if id == gid || !seen.insert(id) {
                continue;
            }
            if let Some(nested) = self.members.get(id) {
                queue.extend(nested.iter().map(String::as_str));
            }
        }
        let mut out: Vec<String> = seen.into_iter().map(str::to_string).collect();
        out.sort();
        Some(out)
    }
}

fn range_after<'a>(
    map: &'a BTreeMap<String, JsonObject>,
    after: Option<&'a str>,
) -> impl Iterator<Item = (&'a String, &'a JsonObject)> + 'a {
    let lower = match after {
        Some(a) => Bound::Excluded(a),
        None => Bound::Unbounded,
    };
    map.range::<str, _>((lower, Bound::Unbounded))
}

fn build_domains(raw: &[JsonObject]) -> Result<Vec<JsonObject>, EmulatorError> {
    if raw.is_empty() {
        return Err(invalid(
            "a tenant needs at least one domain (the initial *.onmicrosoft.com)",
        ));
    }
    let mut out: Vec<JsonObject> = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        let name = str_prop(d, "id")
            .ok_or_else(|| invalid(format!("domains[{i}]: id (the domain name) is required")))?;
        let label = format!("domains[{i}] ({name})");
        let mut props = graph_props(Entity::Domain, d, &label, &[])?;
        let name = name.to_ascii_lowercase();
        if out.iter().any(|o| str_prop(o, "id") == Some(name.as_str())) {
            return Err(invalid(format!("{label}: listed twice")));
        }
        props.insert("id".into(), json!(name));
        props
            .entry("authenticationType")
            .or_insert(json!("Managed"));
        props.entry("availabilityStatus").or_insert(Value::Null);
        props.entry("isAdminManaged").or_insert(json!(true));
        props.entry("isDefault").or_insert(json!(false));
        props.entry("isInitial").or_insert(json!(false));
        props.entry("isVerified").or_insert(json!(true));
        props
            .entry("passwordNotificationWindowInDays")
            .or_insert(json!(14));
        props
            .entry("passwordValidityPeriodInDays")
            .or_insert(json!(2_147_483_647));
        props.entry("state").or_insert(Value::Null);
        out.push(props);
    }
    // isRoot: a verified domain with no verified parent in the tenant (docs/graph-behaviour.md §9),
    // unless the fixture says otherwise.
    let verified: Vec<String> = out
        .iter()
        .filter(|d| bool_prop(d, "isVerified") == Some(true))
        .filter_map(|d| str_prop(d, "id").map(str::to_string))
        .collect();
    for d in &mut out {
        if d.contains_key("isRoot") {
            continue;
        }
        let name = str_prop(d, "id").unwrap_or("").to_string();
        let is_verified = bool_prop(d, "isVerified") == Some(true);
        let has_parent = verified
            .iter()
            .any(|p| name.len() > p.len() && name.ends_with(&format!(".{p}")));
        d.insert("isRoot".into(), json!(is_verified && !has_parent));
    }
    for flag in ["isDefault", "isInitial"] {
        let flagged: Vec<&JsonObject> = out
            .iter()
            .filter(|d| bool_prop(d, flag) == Some(true))
            .collect();
        match flagged.as_slice() {
            [one] if bool_prop(one, "isVerified") == Some(true) => {}
            [one] => {
                return Err(invalid(format!(
                    "domain {} has {flag} but is not verified",
                    str_prop(one, "id").unwrap_or("")
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "exactly one domain must have {flag}: true (found {})",
                    flagged.len()
                )));
            }
        }
    }
    Ok(out)
}

fn build_organization(
    raw: &JsonObject,
    tenant_id: &str,
    domains: &[JsonObject],
) -> Result<JsonObject, EmulatorError> {
    for derived in ["id", "verifiedDomains"] {
        if raw.contains_key(derived) {
            return Err(invalid(format!(
                "organization.{derived} is derived from tenant_id and domains; remove it"
            )));
        }
    }
    let mut org = graph_props(Entity::Organization, raw, "organization", &[])?;
    if str_prop(&org, "displayName").is_none() {
        return Err(invalid("organization.displayName is required"));
    }
    org.insert("id".into(), json!(tenant_id));
    org.entry("tenantType").or_insert(json!("AAD"));
    org.entry("createdDateTime")
        .or_insert_with(|| json!(derived_created(-24, 0)));
    let verified: Vec<Value> = domains
        .iter()
        .filter(|d| bool_prop(d, "isVerified") == Some(true))
        .map(|d| {
            let services: Vec<&str> = d
                .get("supportedServices")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            json!({
                "capabilities": if services.is_empty() { "None".to_string() } else { services.join(", ") },
                "isDefault": bool_prop(d, "isDefault").unwrap_or(false),
                "isInitial": bool_prop(d, "isInitial").unwrap_or(false),
                "name": str_prop(d, "id").unwrap_or(""),
                "type": str_prop(d, "authenticationType").unwrap_or("Managed"),
            })
        })
        .collect();
    org.insert("verifiedDomains".into(), Value::Array(verified));
    Ok(org)
}

fn build_apps(raw: &[FixtureApp]) -> Result<Vec<App>, EmulatorError> {
    let mut apps: Vec<App> = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let client_id = canonical_guid(&a.client_id).ok_or_else(|| {
            invalid(format!(
                "apps[{i}]: client_id '{}' is not a GUID",
                a.client_id
            ))
        })?;
        if apps.iter().any(|o| o.client_id == client_id) {
            return Err(invalid(format!(
                "apps[{i}]: client_id {client_id} listed twice"
            )));
        }
        for p in &a.permissions {
            if !access::is_known_permission(p) {
                return Err(invalid(format!(
                    "apps[{i}]: unknown application permission '{p}' (known: {})",
                    access::KNOWN_PERMISSIONS.join(", ")
                )));
            }
        }
        let mut certificates = Vec::with_capacity(a.certificates.len());
        for (j, pem) in a.certificates.iter().enumerate() {
            certificates.push(
                super::cert::Certificate::from_pem(pem)
                    .map_err(|e| invalid(format!("apps[{i}].certificates[{j}]: {e}")))?,
            );
        }
        apps.push(App {
            client_id,
            secrets: a.secrets.clone(),
            revoked_secrets: Vec::new(),
            expired_secrets: Vec::new(),
            permissions: a.permissions.clone(),
            public_client: a.public_client,
            certificates,
        });
    }
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "11111111-2222-4333-8444-555555555555";

    fn fixture(users: Value, groups: Value) -> Result<TenantState, EmulatorError> {
        let text = json!({
            "tenant_id": TENANT,
            "organization": {"displayName": "T"},
            "domains": [
                {"id": "t.onmicrosoft.com", "isInitial": true},
                {"id": "T.example", "isDefault": true},
                {"id": "sub.t.example"},
                {"id": "nope.example", "isVerified": false}
            ],
            "users": users,
            "groups": groups,
        });
        let f: Fixture = serde_json::from_value(text).map_err(EmulatorError::Parse)?;
        TenantState::build(&f)
    }

    #[test]
    fn fills_ids_defaults_and_roots() {
        let t = fixture(
            json!([{"userPrincipalName": "A@t.example"}]),
            json!([{"displayName": "R&D, Europe", "securityEnabled": true}]),
        );
        let t = match t {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let user = t.user("a@T.EXAMPLE").cloned().unwrap_or_default();
        assert_eq!(user.get("accountEnabled"), Some(&json!(true)));
        assert_eq!(user.get("userType"), Some(&json!("Member")));
        assert_eq!(user.get("mailNickname"), Some(&json!("A")));
        let id = user.get("id").and_then(Value::as_str).unwrap_or("");
        assert!(canonical_guid(id).is_some());
        assert_eq!(t.user(id), Some(&user));
        let roots: Vec<(String, bool)> = t
            .domains()
            .iter()
            .map(|d| {
                (
                    str_prop(d, "id").unwrap_or("").to_string(),
                    bool_prop(d, "isRoot").unwrap_or(true),
                )
            })
            .collect();
        assert_eq!(
            roots,
            [
                ("t.onmicrosoft.com".to_string(), true),
                ("t.example".to_string(), true),
                ("sub.t.example".to_string(), false),
                ("nope.example".to_string(), false)
            ]
        );
        assert!(t.is_tenant("T.EXAMPLE") && t.is_tenant(TENANT) && !t.is_tenant("nope.example"));
    }

    #[test]
    fn rejects_what_graph_would_never_return() {
        let cases = [
            (
                json!([{"userPrincipalName": "a@nope.example"}]),
                json!([]),
                "not a verified",
            ),
            (
                json!([{"userPrincipalName": "a@t.example", "displayname": "x"}]),
                json!([]),
                "did you mean 'displayName'",
            ),
            (
                json!([{"userPrincipalName": "a@t.example"}, {"userPrincipalName": "A@T.example"}]),
                json!([]),
                "another user has this UPN",
            ),
            (
                json!([{"userPrincipalName": "a@t.example", "businessPhones": "1"}]),
                json!([]),
                "must be an array",
            ),
            (
                json!([]),
                json!([{"displayName": "g", "members": ["a1ce0000-0000-4000-8000-000000000001"]}]),
                "does not exist",
            ),
            (
                json!([]),
                json!([{"displayName": "g", "id": "a1ce0000-0000-4000-8000-000000000001", "members": ["a1ce0000-0000-4000-8000-000000000001"]}]),
                "cannot contain itself",
            ),
            (
                json!([]),
                json!([
                    {"displayName": "m365", "groupTypes": ["Unified"], "members": ["a1ce0000-0000-4000-8000-000000000002"]},
                    {"displayName": "nested", "id": "a1ce0000-0000-4000-8000-000000000002"}
                ]),
                "only have users",
            ),
            (
                json!([{"userPrincipalName": "a@t.example", "id": "a1ce0000-0000-4000-8000-000000000002"}]),
                json!([{"displayName": "g", "id": "a1ce0000-0000-4000-8000-000000000002"}]),
                "used by another object",
            ),
        ];
        for (users, groups, needle) in cases {
            match fixture(users, groups) {
                Err(EmulatorError::Invalid(msg)) => {
                    assert!(msg.contains(needle), "{msg} !~ {needle}")
                }
                other => panic!("expected Invalid containing {needle:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn transitive_members_include_nested_groups_and_survive_cycles() {
        let a = "a1ce0000-0000-4000-8000-00000000000a";
        let g1 = "a1ce0000-0000-4000-8000-0000000000a1";
        let g2 = "a1ce0000-0000-4000-8000-0000000000a2";
        let t = fixture(
            json!([{"userPrincipalName": "a@t.example", "id": a}]),
            json!([
                {"displayName": "outer", "id": g1, "members": [g2]},
                {"displayName": "inner", "id": g2, "members": [a, g1]}
            ]),
        );
        let t = match t {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(t.direct_members(g1), Some(&[g2.to_string()][..]));
        assert_eq!(
            t.transitive_members(g1),
            Some(vec![a.to_string(), g2.to_string()])
        );
        assert_eq!(
            t.transitive_members("a1ce0000-0000-4000-8000-0000000000ff"),
            None
        );
    }
}
