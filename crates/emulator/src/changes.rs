//! Tenant mutations (the control plane's write side) and the change log delta queries read.
//!
//! Every mutation bumps `TenantState::seq` and appends one [`Change`] per touched object, so a
//! delta token is just "changes after seq N". As Graph is observed to do
//! (docs/graph-behaviour.md §8), deleting or restoring a user changes group memberships
//! server-side *without* logging a `members@delta` entry: clients must drop a removed user from
//! their groups themselves.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::EmulatorError;
use super::fixture::JsonObject;
use super::ids::{canonical_guid, random_guid};
use super::schema::Entity;
use super::tenant::{TenantState, sign_in_of};
use model::time::{Clock, SystemClock, iso};

/// A change to the tenant, applied with [`super::RunningEmulator::mutate`] or
/// `POST /_emulator/mutate` (JSON: `{"op":"create_user","user":{...}}`, snake_case op names).
/// User keys accept an object id or a UPN (case-insensitive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mutation {
    /// Graph user properties plus the emulator-only `_password` / `_signin`; `id` is optional.
    CreateUser {
        user: JsonObject,
    },
    /// Sets (or, with `null`, clears) properties; `_password` / `_signin` may be patched too.
    UpdateUser {
        id: String,
        patch: JsonObject,
    },
    /// Moves the user to deleted items: delta reports `@removed: changed`.
    SoftDeleteUser {
        id: String,
    },
    /// Deletes permanently (from live or deleted items): delta reports `@removed: deleted`.
    HardDeleteUser {
        id: String,
    },
    /// Restores a soft-deleted user with its group memberships.
    RestoreUser {
        id: String,
    },
    /// Graph group properties plus optional `"members": [ids]`.
    CreateGroup {
        group: JsonObject,
    },
    UpdateGroup {
        id: String,
        patch: JsonObject,
    },
    DeleteGroup {
        id: String,
    },
    AddMember {
        group: String,
        member: String,
    },
    RemoveMember {
        group: String,
        member: String,
    },
    /// Later token requests with this secret fail with 7000215 (as an unknown secret).
    RevokeSecret {
        client_id: String,
        secret: String,
    },
    /// Later token requests with this secret fail with 7000222 (expired).
    ExpireSecret {
        client_id: String,
        secret: String,
    },
}

/// What a mutation did: the object it touched and the tenant's sequence number after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationOutcome {
    pub id: String,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    User,
    Group,
}

/// One change-log record. `member` is set for membership changes: (member id, its
/// `@odata.type`, added?).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub seq: u64,
    pub kind: ChangeKind,
    pub id: String,
    pub member: Option<(String, String, bool)>,
}

#[derive(Debug, Clone)]
pub(crate) struct DeletedUser {
    pub props: JsonObject,
    pub groups: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> EmulatorError {
    EmulatorError::Invalid(msg.into())
}

impl TenantState {
    fn log(&mut self, kind: ChangeKind, id: &str, member: Option<(String, String, bool)>) {
        self.changes.push(Change {
            seq: self.seq,
            kind,
            id: id.to_string(),
            member,
        });
    }

    /// Applies one mutation atomically (validation first, then the change and its log entry).
    pub fn apply(&mut self, m: Mutation) -> Result<MutationOutcome, EmulatorError> {
        let id = match m {
            Mutation::CreateUser { user } => self.create_user(user)?,
            Mutation::UpdateUser { id, patch } => self.update_user(&id, patch)?,
            Mutation::SoftDeleteUser { id } => self.soft_delete_user(&id)?,
            Mutation::HardDeleteUser { id } => self.hard_delete_user(&id)?,
            Mutation::RestoreUser { id } => self.restore_user(&id)?,
            Mutation::CreateGroup { group } => self.create_group(group)?,
            Mutation::UpdateGroup { id, patch } => self.update_group(&id, patch)?,
            Mutation::DeleteGroup { id } => self.delete_group(&id)?,
            Mutation::AddMember { group, member } => self.set_member(&group, &member, true)?,
            Mutation::RemoveMember { group, member } => self.set_member(&group, &member, false)?,
            Mutation::RevokeSecret { client_id, secret } => {
                self.retire_secret(&client_id, &secret, false)?
            }
            Mutation::ExpireSecret { client_id, secret } => {
                self.retire_secret(&client_id, &secret, true)?
            }
        };
        Ok(MutationOutcome { id, seq: self.seq })
    }

    fn live_user_id(&self, key: &str) -> Result<String, EmulatorError> {
        self.user(key)
            .and_then(|u| u.get("id").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| invalid(format!("no user '{key}'")))
    }

    fn group_id(&self, key: &str) -> Result<String, EmulatorError> {
        let id = canonical_guid(key).ok_or_else(|| invalid(format!("'{key}' is not a GUID")))?;
        if self.groups.contains_key(&id) {
            Ok(id)
        } else {
            Err(invalid(format!("no group {id}")))
        }
    }

    fn check_upn(&self, upn: &str, except: Option<&str>) -> Result<(), EmulatorError> {
        let (local, suffix) = upn
            .rsplit_once('@')
            .ok_or_else(|| invalid(format!("userPrincipalName '{upn}' has no '@'")))?;
        if local.is_empty() || !self.verified.contains(&suffix.to_ascii_lowercase()) {
            return Err(invalid(format!(
                "the UPN suffix '{suffix}' is not a verified domain of the tenant"
            )));
        }
        match self.upn_index.get(&upn.to_ascii_lowercase()) {
            Some(other) if Some(other.as_str()) != except => {
                Err(invalid(format!("another user has the UPN {upn}")))
            }
            _ => Ok(()),
        }
    }

    fn create_user(&mut self, raw: JsonObject) -> Result<String, EmulatorError> {
        let upn = raw
            .get("userPrincipalName")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("userPrincipalName is required"))?
            .to_string();
        self.check_upn(&upn, None)?;
        let label = format!("user {upn}");
        let mut props = super::tenant::graph_props(Entity::User, &raw, &label, &[])?;
        let id = match raw.get("id").and_then(Value::as_str) {
            Some(s) => {
                canonical_guid(s).ok_or_else(|| invalid(format!("id '{s}' is not a GUID")))?
            }
            None => random_guid(),
        };
        if self.object(&id).is_some() || self.deleted_users.contains_key(&id) {
            return Err(invalid(format!("id {id} is already used")));
        }
        let signin = sign_in_of(&raw, &label)?;
        let local = upn.rsplit_once('@').map(|(l, _)| l).unwrap_or_default();
        props.insert("id".into(), json!(id));
        props.entry("accountEnabled").or_insert(json!(true));
        props
            .entry("userType")
            .or_insert(json!(if local.contains("#EXT#") {
                "Guest"
            } else {
                "Member"
            }));
        props
            .entry("createdDateTime")
            .or_insert_with(|| json!(iso(SystemClock.now_unix())));
        let nick = local.split("#EXT#").next().unwrap_or(local).to_string();
        props.entry("mailNickname").or_insert(json!(nick));
        self.seq += 1;
        self.upn_index.insert(upn.to_ascii_lowercase(), id.clone());
        self.signin.insert(id.clone(), signin);
        self.users.insert(id.clone(), props);
        self.log(ChangeKind::User, &id, None);
        Ok(id)
    }

    fn update_user(&mut self, key: &str, patch: JsonObject) -> Result<String, EmulatorError> {
        let id = self.live_user_id(key)?;
        let label = format!("user {id}");
        let graph = super::tenant::graph_props(Entity::User, &patch, &label, &[])?;
        if graph.contains_key("id") {
            return Err(invalid("id cannot be changed"));
        }
        let new_upn = match graph.get("userPrincipalName") {
            Some(Value::String(u)) => {
                self.check_upn(u, Some(&id))?;
                Some(u.clone())
            }
            Some(_) => return Err(invalid("userPrincipalName must be a string")),
            None => None,
        };
        let mut signin = self.signin.get(&id).cloned();
        if patch.contains_key("_password") || patch.contains_key("_signin") {
            let mut merged = JsonObject::new();
            if let Some(p) = signin.as_ref().and_then(|s| s.password.as_ref()) {
                merged.insert("_password".into(), json!(p));
            }
            for k in ["_password", "_signin"] {
                if let Some(v) = patch.get(k) {
                    merged.insert(k.into(), v.clone());
                }
            }
            signin = Some(sign_in_of(&merged, &label)?);
        }
        let Some(user) = self.users.get_mut(&id) else {
            return Err(invalid(format!("no user '{key}'")));
        };
        if let Some(upn) = new_upn {
            let old = user
                .get("userPrincipalName")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            if let Some(old) = old {
                self.upn_index.remove(&old);
            }
            self.upn_index.insert(upn.to_ascii_lowercase(), id.clone());
        }
        for (k, v) in graph {
            user.insert(k, v);
        }
        if let Some(s) = signin {
            self.signin.insert(id.clone(), s);
        }
        self.seq += 1;
        self.log(ChangeKind::User, &id, None);
        Ok(id)
    }

    /// Removes a live user from the directory and (silently, see the module docs) from groups.
    fn unlink_user(&mut self, id: &str) -> Option<DeletedUser> {
        let props = self.users.remove(id)?;
        if let Some(upn) = props.get("userPrincipalName").and_then(Value::as_str) {
            self.upn_index.remove(&upn.to_ascii_lowercase());
        }
        let mut groups = Vec::new();
        for (gid, list) in self.members.iter_mut() {
            if let Ok(pos) = list.binary_search_by(|m| m.as_str().cmp(id)) {
                list.remove(pos);
                groups.push(gid.clone());
            }
        }
        Some(DeletedUser { props, groups })
    }

    fn soft_delete_user(&mut self, key: &str) -> Result<String, EmulatorError> {
        let id = self.live_user_id(key)?;
        let deleted = self
            .unlink_user(&id)
            .ok_or_else(|| invalid(format!("no user '{key}'")))?;
        self.deleted_users.insert(id.clone(), deleted);
        self.seq += 1;
        self.log(ChangeKind::User, &id, None);
        Ok(id)
    }

    fn hard_delete_user(&mut self, key: &str) -> Result<String, EmulatorError> {
        let id = match self.live_user_id(key) {
            Ok(id) => {
                self.unlink_user(&id);
                id
            }
            Err(e) => {
                let id = canonical_guid(key).ok_or(e)?;
                self.deleted_users
                    .remove(&id)
                    .ok_or_else(|| invalid(format!("no user '{key}'")))?;
                id
            }
        };
        self.signin.remove(&id);
        self.seq += 1;
        self.log(ChangeKind::User, &id, None);
        Ok(id)
    }

    fn restore_user(&mut self, key: &str) -> Result<String, EmulatorError> {
        let id = canonical_guid(key).ok_or_else(|| invalid(format!("'{key}' is not a GUID")))?;
        let deleted = self
            .deleted_users
            .get(&id)
            .ok_or_else(|| invalid(format!("no deleted user {id}")))?;
        if let Some(upn) = deleted
            .props
            .get("userPrincipalName")
            .and_then(Value::as_str)
        {
            self.check_upn(upn, None)?;
        }
        let Some(deleted) = self.deleted_users.remove(&id) else {
            return Err(invalid(format!("no deleted user {id}")));
        };
        if let Some(upn) = deleted
            .props
            .get("userPrincipalName")
            .and_then(Value::as_str)
        {
            self.upn_index.insert(upn.to_ascii_lowercase(), id.clone());
        }
        for gid in deleted.groups {
            if let Some(list) = self.members.get_mut(&gid)
                && let Err(pos) = list.binary_search(&id)
            {
                list.insert(pos, id.clone());
            }
        }
        self.users.insert(id.clone(), deleted.props);
        self.seq += 1;
        self.log(ChangeKind::User, &id, None);
        Ok(id)
    }

    fn create_group(&mut self, mut raw: JsonObject) -> Result<String, EmulatorError> {
        let members = raw.remove("members");
        let name = raw
            .get("displayName")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("displayName is required"))?
            .to_string();
        let label = format!("group {name:?}");
        let mut props = super::tenant::graph_props(Entity::Group, &raw, &label, &[])?;
        let id = match raw.get("id").and_then(Value::as_str) {
            Some(s) => {
                canonical_guid(s).ok_or_else(|| invalid(format!("id '{s}' is not a GUID")))?
            }
            None => random_guid(),
        };
        if self.object(&id).is_some() || self.deleted_users.contains_key(&id) {
            return Err(invalid(format!("id {id} is already used")));
        }
        let member_ids: Vec<String> = match members {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| {
                    v.as_str()
                        .and_then(canonical_guid)
                        .filter(|m| self.object(m).is_some())
                        .ok_or_else(|| invalid(format!("{label}: member {v} does not exist")))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(format!("{label}: members must be an array"))),
        };
        props.insert("id".into(), json!(id));
        props.entry("mailEnabled").or_insert(json!(false));
        props.entry("securityEnabled").or_insert(json!(false));
        props
            .entry("createdDateTime")
            .or_insert_with(|| json!(iso(SystemClock.now_unix())));
        props.entry("mailNickname").or_insert(json!(
            name.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
        ));
        self.seq += 1;
        self.groups.insert(id.clone(), props);
        self.members.insert(id.clone(), Vec::new());
        self.log(ChangeKind::Group, &id, None);
        for m in member_ids {
            self.set_member(&id, &m, true)?;
        }
        Ok(id)
    }

    fn update_group(&mut self, key: &str, patch: JsonObject) -> Result<String, EmulatorError> {
        let id = self.group_id(key)?;
        let graph = super::tenant::graph_props(Entity::Group, &patch, &id, &[])?;
        if graph.contains_key("id") {
            return Err(invalid("id cannot be changed"));
        }
        if let Some(g) = self.groups.get_mut(&id) {
            for (k, v) in graph {
                g.insert(k, v);
            }
        }
        self.seq += 1;
        self.log(ChangeKind::Group, &id, None);
        Ok(id)
    }

    fn delete_group(&mut self, key: &str) -> Result<String, EmulatorError> {
        let id = self.group_id(key)?;
        self.groups.remove(&id);
        self.members.remove(&id);
        for list in self.members.values_mut() {
            list.retain(|m| m != &id);
        }
        for d in self.deleted_users.values_mut() {
            d.groups.retain(|g| g != &id);
        }
        self.seq += 1;
        self.log(ChangeKind::Group, &id, None);
        Ok(id)
    }

    fn set_member(
        &mut self,
        group: &str,
        member: &str,
        add: bool,
    ) -> Result<String, EmulatorError> {
        let gid = self.group_id(group)?;
        let mid = canonical_guid(member)
            .or_else(|| self.live_user_id(member).ok())
            .ok_or_else(|| invalid(format!("'{member}' is not a GUID or a UPN")))?;
        let entity = self
            .object(&mid)
            .map(|(e, _)| e)
            .ok_or_else(|| invalid(format!("no object {mid}")))?;
        if mid == gid {
            return Err(invalid("a group cannot contain itself"));
        }
        let list = self.members.entry(gid.clone()).or_default();
        match (list.binary_search(&mid), add) {
            (Err(pos), true) => list.insert(pos, mid.clone()),
            (Ok(pos), false) => {
                list.remove(pos);
            }
            (Ok(_), true) => return Err(invalid(format!("{mid} is already a member of {gid}"))),
            (Err(_), false) => return Err(invalid(format!("{mid} is not a member of {gid}"))),
        }
        self.seq += 1;
        self.log(
            ChangeKind::Group,
            &gid,
            Some((mid, entity.odata_type(), add)),
        );
        Ok(gid)
    }

    fn retire_secret(
        &mut self,
        client_id: &str,
        secret: &str,
        expired: bool,
    ) -> Result<String, EmulatorError> {
        let app = self
            .apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .ok_or_else(|| invalid(format!("no app {client_id}")))?;
        let pos = app
            .secrets
            .iter()
            .position(|s| s == secret)
            .ok_or_else(|| invalid(format!("app {client_id} has no such secret")))?;
        let s = app.secrets.remove(pos);
        if expired {
            app.expired_secrets.push(s);
        } else {
            app.revoked_secrets.push(s);
        }
        Ok(app.client_id.clone())
    }
}
