//! User binds (`auth.user_bind`): resolving a bind name (DN, UPN, mail) to exactly one served
//! user, the throttle in front of every check, and the order of checks (local password,
//! credential cache, Entra password grant). Returns a decision; the LDAP layer answers and
//! writes the audit event.

use super::audit::Method;
use super::cache::CredentialCache;
use super::throttle::{Ending, Refusal, Subject, Throttle};
use crate::store::Store;
use config::{Config, UserBind};
use directory::entry::EntryKind;
use directory::snapshot::{EntryId, Snapshot};
use graph::ropc::{EntraClient, Verdict};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

pub(crate) const THROTTLED: &str = "too many failed binds; try again later";
const INVALID: &str = "invalid credentials";

/// A served user a bind name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    pub dn: String,
    pub tenant: String,
    /// The Graph object id (`entryUUID`).
    pub id: String,
    pub upn: Option<String>,
    /// `nsAccountLock: TRUE`: served but inactive.
    pub locked: bool,
    /// Changes whenever anything in the served entry changes.
    pub fingerprint: [u8; 32],
}

/// Why a name did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolved {
    Unknown,
    Ambiguous,
}

/// Resolve a DN, UPN or primary mail address (case-insensitive) to one served user.
pub(crate) fn resolve(snapshot: &Snapshot, name: &str) -> Result<ResolvedUser, Unresolved> {
    let mut ids: Vec<EntryId> = Vec::new();
    if let Some(ndn) = directory::dn::normalize(name).ok()
        && let Some(id) = snapshot.lookup(&ndn)
    {
        ids.push(id);
    }
    if ids.is_empty() && name.contains('@') {
        for attr in ["userPrincipalName", "mail"] {
            ids.extend_from_slice(&snapshot.find_eq(attr, name));
        }
    }
    ids.retain(|id| snapshot.entry(*id).kind == EntryKind::User);
    ids.sort_unstable();
    ids.dedup();
    match ids.as_slice() {
        [] => Err(Unresolved::Unknown),
        [id] => Ok(describe(snapshot, *id)),
        _ => Err(Unresolved::Ambiguous),
    }
}

/// Resolve for `ctl set-password`: also by the POSIX `uid`, since admins think in logins.
pub(crate) fn resolve_admin(snapshot: &Snapshot, name: &str) -> Result<ResolvedUser, Unresolved> {
    match resolve(snapshot, name) {
        Err(Unresolved::Unknown) => {
            let ids: Vec<EntryId> = snapshot
                .find_eq("uid", name)
                .iter()
                .copied()
                .filter(|id| snapshot.entry(*id).kind == EntryKind::User)
                .collect();
            match ids.as_slice() {
                [] => Err(Unresolved::Unknown),
                [id] => Ok(describe(snapshot, *id)),
                _ => Err(Unresolved::Ambiguous),
            }
        }
        other => other,
    }
}

fn describe(snapshot: &Snapshot, id: EntryId) -> ResolvedUser {
    let e = snapshot.entry(id);
    let tenant = snapshot
        .tenants
        .get(usize::from(e.tenant))
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [e.ndn(), e.modified()] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    for a in &e.attrs {
        h.update(a.name.as_bytes());
        for v in &a.values {
            h.update(&[1]);
            h.update(v.as_bytes());
        }
        h.update(&[0]);
    }
    let mut fingerprint = [0u8; 32];
    fingerprint.copy_from_slice(h.finish().as_ref());
    ResolvedUser {
        dn: e.dn().to_string(),
        tenant,
        id: e.first("entryUUID").unwrap_or_default().to_owned(),
        upn: e.first("userPrincipalName").map(str::to_owned),
        locked: e
            .first("nsAccountLock")
            .is_some_and(|v| v.eq_ignore_ascii_case("TRUE")),
        fingerprint,
    }
}

/// The result of a user bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Bound {
        dn: String,
        tenant: String,
    },
    /// invalidCredentials (49) with this diagnostic message.
    Invalid(String),
    /// unavailable (52): the password could not be checked.
    Unavailable(String),
    /// other (80): the server is misconfigured.
    Error(String),
}

/// What a bind attempt produced, for the LDAP answer and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserBindResult {
    pub decision: Decision,
    pub method: Method,
    /// The resolved entry's DN, when the name resolved.
    pub dn: Option<String>,
    /// Answered by the throttle without a password check, and why.
    pub refused: Option<Refusal>,
}

/// Everything user binds need besides the snapshot; one per server.
pub struct UserAuth {
    config: Arc<Config>,
    store: Option<Arc<Store>>,
    entra: EntraClient,
    throttle: Throttle,
    cache: Arc<CredentialCache>,
    /// Bounds concurrent argon2/PBKDF2 work so bursts cannot occupy every blocking thread.
    slots: Semaphore,
}

impl std::fmt::Debug for UserAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAuth")
            .field("user_bind", &self.config.auth.user_bind)
            .finish_non_exhaustive()
    }
}

impl UserAuth {
    /// `store` holds local passwords; without it `local` finds none.
    pub fn new(config: Arc<Config>, store: Option<Arc<Store>>) -> UserAuth {
        let a = &config.auth;
        let slots = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        UserAuth {
            entra: EntraClient::with_roots(
                a.entra_timeout.get(),
                crate::settings::all_ca_files(&config),
            ),
            throttle: Throttle::from_config(a),
            cache: Arc::new(CredentialCache::new(a.cache_ttl.get())),
            slots: Semaphore::new(slots),
            store,
            config,
        }
    }

    /// The throttle, shared with service-account binds.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Check a user bind. `name` is what the client sent; the password is never trimmed.
    pub async fn bind(
        &self,
        snapshot: &Snapshot,
        name: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> UserBindResult {
        let mode = self.config.auth.user_bind;
        let fail = |method, dn: Option<String>, msg: &str| UserBindResult {
            decision: Decision::Invalid(msg.to_owned()),
            method,
            dn,
            refused: None,
        };
        if mode == UserBind::None {
            return fail(
                Method::None,
                None,
                "invalid credentials: user binds are disabled (auth.user_bind = \"none\")",
            );
        }
        let resolved = resolve(snapshot, name);
        // The local password is read before the throttle: its hash is part of what a
        // remembered wrong password is tied to (a newly set password is checked afresh).
        let local = match (&resolved, mode) {
            (Ok(u), UserBind::Local | UserBind::EntraOrLocal) => self.local_phc(u),
            _ => Ok(None),
        };
        // Unknown names are throttled by the name itself, so guessing cannot be used to probe.
        let (key, version) = match &resolved {
            Ok(u) => {
                let mut v = u.fingerprint.to_vec();
                if let Ok(Some(phc)) = &local {
                    v.extend_from_slice(phc.as_bytes());
                }
                (format!("user:{}/{}", u.tenant, u.id), v)
            }
            Err(_) => (format!("name:{name}"), Vec::new()),
        };
        let attempt = match self
            .throttle
            .begin(&key, Subject::User, peer, password, &version)
        {
            Ok(a) => a,
            Err(refusal) => {
                let message = match refusal {
                    Refusal::Repeat => INVALID,
                    _ => THROTTLED,
                };
                return UserBindResult {
                    decision: Decision::Invalid(message.into()),
                    method: Method::None,
                    dn: resolved.ok().map(|u| u.dn),
                    refused: Some(refusal),
                };
            }
        };
        let user = match resolved {
            Ok(u) => u,
            Err(why) => {
                self.throttle.finish(attempt, Ending::Failure);
                let msg = match why {
                    Unresolved::Unknown => INVALID,
                    Unresolved::Ambiguous => {
                        "invalid credentials: the name matches several users; bind with the DN"
                    }
                };
                return fail(Method::None, None, msg);
            }
        };
        if user.locked {
            self.throttle.finish(attempt, Ending::Failure);
            return fail(
                Method::None,
                Some(user.dn),
                "invalid credentials: account is locked/inactive",
            );
        }
        let result = self.check(&user, password, mode, local, peer).await;
        let ending = match &result.0 {
            Decision::Bound { .. } => Ending::Success,
            Decision::Invalid(_) => Ending::Failure,
            Decision::Unavailable(_) | Decision::Error(_) => Ending::Neutral,
        };
        self.throttle.finish(attempt, ending);
        UserBindResult {
            decision: result.0,
            method: result.1,
            dn: Some(user.dn),
            refused: None,
        }
    }

    async fn check(
        &self,
        user: &ResolvedUser,
        password: &str,
        mode: UserBind,
        local: Result<Option<String>, crate::store::StoreError>,
        peer: Option<IpAddr>,
    ) -> (Decision, Method) {
        let bound = || Decision::Bound {
            dn: user.dn.clone(),
            tenant: user.tenant.clone(),
        };
        if matches!(mode, UserBind::Local | UserBind::EntraOrLocal) {
            match local {
                Ok(Some(phc)) => {
                    return match self
                        .slow(move |pw| super::password::verify_phc(&phc, &pw), password)
                        .await
                    {
                        Some(true) => (bound(), Method::Local),
                        Some(false) => (Decision::Invalid(INVALID.into()), Method::Local),
                        None => (
                            Decision::Error("internal error verifying the password".into()),
                            Method::Local,
                        ),
                    };
                }
                Ok(None) if mode == UserBind::Local => {
                    return (
                        Decision::Invalid(
                            "invalid credentials: no directory password is set for this user \
                             (o365-ldap ctl set-password)"
                                .into(),
                        ),
                        Method::Local,
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
                    tracing::error!(%peer, error = %e, "reading a local password failed");
                    return (
                        Decision::Error("internal error reading the directory password".into()),
                        Method::Local,
                    );
                }
            }
        }
        self.check_entra(user, password, peer).await
    }

    fn local_phc(&self, user: &ResolvedUser) -> Result<Option<String>, crate::store::StoreError> {
        match &self.store {
            Some(s) => s.local_password(&user.tenant, &user.id),
            None => Ok(None),
        }
    }

    async fn check_entra(
        &self,
        user: &ResolvedUser,
        password: &str,
        peer: Option<IpAddr>,
    ) -> (Decision, Method) {
        let cache_key = format!("{}/{}", user.tenant.to_lowercase(), user.id);
        if self.cache.enabled() {
            let fp = user.fingerprint;
            let key = cache_key.clone();
            let cache = Arc::clone(&self.cache);
            let hit = self
                .slow(move |pw| cache.check(&key, &fp, &pw), password)
                .await;
            if hit == Some(true) {
                return (
                    Decision::Bound {
                        dn: user.dn.clone(),
                        tenant: user.tenant.clone(),
                    },
                    Method::Cache,
                );
            }
        }
        let Some(upn) = user.upn.as_deref() else {
            return (
                Decision::Invalid("invalid credentials: the user has no userPrincipalName".into()),
                Method::Entra,
            );
        };
        let Some(target) = self
            .config
            .tenant(&user.tenant)
            .and_then(crate::settings::grant_target)
        else {
            return (
                Decision::Error(format!(
                    "user binds are misconfigured: tenant '{}' has no client for the password grant",
                    user.tenant
                )),
                Method::Entra,
            );
        };
        match self.entra.check(&target, upn, password).await {
            Verdict::Valid => {
                if self.cache.enabled() {
                    let fp = user.fingerprint;
                    let cache = Arc::clone(&self.cache);
                    self.slow(
                        move |pw| {
                            cache.remember(&cache_key, &fp, &pw);
                            true
                        },
                        password,
                    )
                    .await;
                }
                (
                    Decision::Bound {
                        dn: user.dn.clone(),
                        tenant: user.tenant.clone(),
                    },
                    Method::Entra,
                )
            }
            Verdict::Rejected { message, .. } => {
                self.cache.forget(&cache_key);
                (Decision::Invalid(message), Method::Entra)
            }
            Verdict::Misconfigured { message, .. } => {
                let peer = peer.map(|p| p.to_string()).unwrap_or_default();
                tracing::error!(%peer, tenant = %user.tenant, client_id = %target.client_id, "{message}");
                (Decision::Error(message), Method::Entra)
            }
            Verdict::Unavailable(message) => (Decision::Unavailable(message), Method::Entra),
        }
    }

    /// Run a slow password function on a blocking thread, under the slot limit. `None` when
    /// the task could not run.
    async fn slow(
        &self,
        f: impl FnOnce(String) -> bool + Send + 'static,
        password: &str,
    ) -> Option<bool> {
        let _slot = self.slots.acquire().await.ok()?;
        let pw = password.to_owned();
        tokio::task::spawn_blocking(move || f(pw)).await.ok()
    }
}
