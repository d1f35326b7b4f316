//! The admin socket's protocol, shared by the server (`server.rs`, `inspect.rs`,
//! `ssh_keys.rs`) and its client (`client.rs`, `cli/ctl.rs`): one JSON `Request` per line, JSON
//! `Response` lines back, and the typed reply each request's `Result` carries.

use crate::sync::{Changes, HistoryOutcome, Mode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Sync {
        #[serde(default)]
        tenant: Option<String>,
        #[serde(default)]
        full: bool,
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        force: bool,
        /// Send a dry run's report to the notification targets.
        #[serde(default)]
        notify: bool,
    },
    History {
        #[serde(default)]
        tenant: Option<String>,
    },
    Explain {
        who: String,
    },
    Verify {
        #[serde(default)]
        tenant: Option<String>,
    },
    /// Set (or with `password: null`, remove) a user's local password.
    SetPassword {
        user: String,
        #[serde(default)]
        password: Option<String>,
    },
    /// Admin-managed SSH keys of a user (`ctl ssh-key add|remove|list`). `key`: the key line to
    /// add, or the line or SHA256 fingerprint to remove.
    SshKey {
        action: SshKeyAction,
        user: String,
        #[serde(default)]
        key: Option<String>,
    },
    /// The served directory as LDIF.
    ExportLdif {
        #[serde(default)]
        tenant: Option<String>,
    },
    /// Write a consistent copy of the store to `path` (absolute; written by the server).
    Backup {
        path: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SshKeyAction {
    Add,
    Remove,
    List,
}

/// One response line; a request gets any number of `Progress` lines, then exactly one
/// `Result` or `Error`. `data` is the reply type of the request (below), which `ctl` reads
/// back as that type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Progress { message: String },
    Result { data: serde_json::Value },
    Error { message: String },
}

impl Response {
    /// The `Result` line carrying `reply`.
    pub fn result(reply: &impl Serialize) -> Response {
        match serde_json::to_value(reply) {
            Ok(data) => Response::Result { data },
            Err(e) => Response::Error {
                message: format!("internal error: the reply cannot be encoded: {e}"),
            },
        }
    }
}

/// `status`: one row per tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantStatus {
    pub tenant: String,
    pub served: bool,
    /// Unix time the last successful (not dry) round ended.
    pub last_success: Option<i64>,
    pub last_success_mode: Option<Mode>,
    pub last_error: Option<LastError>,
    pub users_active: usize,
    pub users_inactive: usize,
    pub groups: usize,
    pub automatic: bool,
    pub next_run: Option<i64>,
    /// `ok`, `failing` (the last round failed or was refused) or `stale` (no successful round
    /// within `sync.max_staleness`, or none yet); absent from servers before it existed.
    #[serde(default)]
    pub condition: Option<crate::sync::Condition>,
    /// The tenant's `sync.max_staleness` in seconds.
    #[serde(default)]
    pub max_staleness_secs: u64,
    /// Bind counters per method since the process started: per process, not per tenant, so
    /// every row carries the same ones.
    pub binds: BTreeMap<String, BindCounts>,
    pub lockouts: Lockouts,
    /// With a shared PostgreSQL store: whether it answers and which version this replica
    /// serves (absent with the redb backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<SharedStoreStatus>,
}

/// A replica's view of the shared store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedStoreStatus {
    /// Unix time since which PostgreSQL has not answered (`None`: it answers).
    pub unreachable_since: Option<i64>,
    /// The tenant's version in the database this replica's cache holds.
    pub version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    pub at: i64,
    pub outcome: HistoryOutcome,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindCounts {
    pub ok: u64,
    pub failed: u64,
    pub throttled: u64,
    pub unavailable: u64,
}

/// Locks started since the process started, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockouts {
    pub account: u64,
    pub account_unfamiliar: u64,
    pub address: u64,
}

/// `sync`: one per tenant synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundResult {
    pub tenant: String,
    pub outcome: RoundOutcome,
    pub error: Option<String>,
    /// What the round did or would have done; none when it failed before deriving.
    pub report: Option<RoundSummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundOutcome {
    Ok,
    Refused,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundSummary {
    pub mode: Mode,
    pub full_read: bool,
    pub dry_run: bool,
    pub users_read: usize,
    pub groups_read: usize,
    pub credential: Option<usize>,
    pub duration_ms: u64,
    /// The directory was patched from the changed objects rather than derived in full.
    pub patched: bool,
    pub fetch_ms: u64,
    pub derive_ms: u64,
    pub changes: Changes,
    pub memberships_changed: usize,
    pub collisions: Vec<CollisionNote>,
    pub would_refuse: Option<String>,
    pub notices: Vec<String>,
}

/// Two objects wanted one name: the holder keeps it, the loser gets a suffixed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollisionNote {
    pub name: String,
    pub holder: String,
    pub loser: String,
}

/// `explain`: a user's Graph facts, the policy's reasoning and what is served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub tenant: String,
    pub id: String,
    pub upn: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub enabled: bool,
    pub user_type: Option<String>,
    pub guest: bool,
    /// The UPN's domain.
    pub domain: Option<String>,
    /// Unix time Microsoft 365 deleted the user, for one kept after deletion.
    pub deleted_at: Option<i64>,
    /// The policy's verdict (`active`, `inactive`, `excluded`...).
    pub status: Option<String>,
    pub trail: Vec<String>,
    pub summary: Vec<String>,
    pub dn: Option<String>,
    pub uid: Option<String>,
    pub uid_number: Option<String>,
    pub gid_number: Option<String>,
    pub locked: bool,
    pub groups: Vec<String>,
}

/// `verify`: one per credential of each tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialReport {
    pub tenant: String,
    pub credential: usize,
    pub client_id: String,
    pub ok: bool,
    pub problems: Vec<String>,
    pub probes: Vec<ProbeResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The Graph path requested.
    pub probe: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `export-ldif`: the served entries as RFC 2849 LDIF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ldif {
    pub entries: usize,
    pub ldif: String,
}

/// `set-password`, and anything else that only says what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub message: String,
}

/// `ssh-key add|remove|list`: what changed and the keys served afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeys {
    pub message: Option<String>,
    pub dn: String,
    pub tenant: String,
    pub keys: Vec<SshKeyInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeyInfo {
    #[serde(rename = "type")]
    pub key_type: String,
    pub fingerprint: String,
    pub comment: Option<String>,
    /// `admin` (added with `ctl ssh-key`) or `microsoft365`.
    pub source: String,
    pub key: String,
}
