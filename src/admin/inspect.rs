//! What the admin socket answers besides sync: `status`, `explain` (a user's Graph facts and
//! the policy's reasoning), `verify` (each credential's token and permissions), and the reply
//! form of a round report (types in `protocol.rs`).

use super::protocol::{
    BindCounts, CollisionNote, CredentialReport, Explanation, LastError, Lockouts, ProbeResult,
    RoundOutcome, RoundResult, RoundSummary, SharedStoreStatus, TenantStatus,
};
use crate::sync::{HistoryOutcome, RoundReport, SyncEngine, SyncError, report};
use graph::{ClientOptions, Credential, GraphClient, GraphError};

fn summary(r: &RoundReport) -> RoundSummary {
    RoundSummary {
        mode: r.mode,
        full_read: r.full_read,
        dry_run: r.dry_run,
        users_read: r.users_read,
        groups_read: r.groups_read,
        credential: r.credential_used,
        duration_ms: r.duration_ms as u64,
        patched: r.patched,
        fetch_ms: r.fetch_ms,
        derive_ms: r.derive_ms,
        changes: r.changes.clone(),
        memberships_changed: r.delta.memberships_changed,
        collisions: r
            .build
            .collisions
            .iter()
            .map(|c| CollisionNote {
                name: c.name.clone(),
                holder: c.holder.clone(),
                loser: c.loser.clone(),
            })
            .collect(),
        would_refuse: r.would_refuse.clone(),
        notices: r.build.notices.clone(),
    }
}

pub(crate) fn round_result(tenant: &str, res: Result<RoundReport, SyncError>) -> RoundResult {
    let (outcome, error, report) = match res {
        Ok(r) => (RoundOutcome::Ok, None, Some(summary(&r))),
        Err(e @ SyncError::Refused { .. }) => {
            let report = match &e {
                SyncError::Refused { report, .. } => Some(summary(report)),
                _ => None,
            };
            (RoundOutcome::Refused, Some(e.to_string()), report)
        }
        Err(e) => (RoundOutcome::Failed, Some(e.to_string()), None),
    };
    RoundResult {
        tenant: tenant.to_string(),
        outcome,
        error,
        report,
    }
}

/// Per tenant: last success, last error, served counts, next scheduled round.
pub(crate) fn status(engine: &SyncEngine) -> Result<Vec<TenantStatus>, SyncError> {
    let snap = engine.snapshot().load_full();
    let mut out = Vec::new();
    // Bind counters are per process, not per tenant: every tenant row carries the same object.
    let counters = crate::auth::audit::counters();
    let binds: std::collections::BTreeMap<String, BindCounts> = crate::auth::audit::Method::ALL
        .iter()
        .map(|m| {
            let c = counters.get(*m);
            (
                m.as_str().to_string(),
                BindCounts {
                    ok: c.ok,
                    failed: c.failed,
                    throttled: c.throttled,
                    unavailable: c.unavailable,
                },
            )
        })
        .collect();
    let l = crate::auth::throttle::lockout_counters();
    let lockouts = Lockouts {
        account: l.account,
        account_unfamiliar: l.account_unfamiliar,
        address: l.address,
    };
    for t in &engine.config().tenant {
        let hist = engine.history(Some(&t.name), crate::sync::HISTORY_KEEP)?;
        let ok = hist
            .iter()
            .find(|h| h.outcome == HistoryOutcome::Ok && h.mode != crate::sync::Mode::DryRun);
        let err = hist.iter().find(|h| h.outcome != HistoryOutcome::Ok);
        let counts = report::diff(&snap, &snap, &t.name);
        out.push(TenantStatus {
            tenant: t.name.clone(),
            served: snap.tenants.iter().any(|x| x.name == t.name),
            last_success: ok.map(|h| h.ended),
            last_success_mode: ok.map(|h| h.mode),
            last_error: err.map(|h| LastError {
                at: h.ended,
                outcome: h.outcome,
                message: h.error.clone(),
            }),
            users_active: counts.users_active,
            users_inactive: counts.users_inactive,
            groups: counts.groups,
            automatic: t.sync.automatic,
            next_run: engine.next_run(&t.name),
            condition: Some(engine.condition(&t.name)),
            max_staleness_secs: t.sync.staleness_limit().as_secs(),
            binds: binds.clone(),
            lockouts,
            store: engine.store().remote().map(|r| SharedStoreStatus {
                unreachable_since: r.unreachable_since(),
                version: engine
                    .store()
                    .cache_version(&t.name)
                    .ok()
                    .flatten()
                    .map(|c| c.version),
            }),
        });
    }
    Ok(out)
}

/// Find a user by UPN, mail, uid or Graph id and explain them.
pub(crate) async fn explain(engine: &SyncEngine, who: &str) -> Result<Explanation, String> {
    let snap = engine.snapshot().load_full();
    let w = who.trim();
    for t in &engine.config().tenant {
        let Some(st) = engine.tenant_state(&t.name).await else {
            continue;
        };
        let m = &st.mirror;
        let eq = |v: &Option<String>| v.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(w));
        // A uid is matched through the served entry, whose entryUUID is the Graph id.
        let by_uid = snap
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e.kind == directory::entry::EntryKind::User)
            .find(|e| e.first("uid").is_some_and(|u| u.eq_ignore_ascii_case(w)))
            .and_then(|e| e.first("entryUUID"))
            .map(str::to_string);
        let found = m
            .users
            .values()
            .find(|u| {
                u.id.eq_ignore_ascii_case(w)
                    || eq(&u.user_principal_name)
                    || eq(&u.mail)
                    || by_uid.as_deref() == Some(u.id.as_str())
            })
            .map(|u| (u.clone(), None))
            .or_else(|| {
                m.deleted_users
                    .values()
                    .find(|d| {
                        d.user.id.eq_ignore_ascii_case(w)
                            || eq(&d.user.user_principal_name)
                            || eq(&d.user.mail)
                    })
                    .map(|d| (d.user.clone(), Some(d.deleted_at)))
            });
        let Some((u, deleted_at)) = found else {
            continue;
        };
        let outcome = directory::policy::apply_at(m, t, engine.clock().now_unix());
        let verdict = outcome.users.get(&u.id);
        let entry = snap.iter().map(|(_, e)| e).find(|e| {
            e.kind == directory::entry::EntryKind::User
                && e.first("entryUUID") == Some(u.id.as_str())
        });
        let domain = u
            .user_principal_name
            .as_deref()
            .and_then(|x| x.rsplit_once('@'))
            .map(|(_, d)| d.to_string());
        let groups: Vec<String> = entry
            .map(|e| e.values("memberOf").iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        let guest = u.is_guest();
        let mut summary = Vec::new();
        if guest {
            summary.push(
                "this user is a guest (an invited external account: userType Guest or #EXT# in the UPN)"
                    .to_string(),
            );
        }
        if deleted_at.is_some() {
            summary.push("this user was deleted in Microsoft 365 and is kept locked for users.keep_deleted_for".to_string());
        }
        let first = |name: &str| entry.and_then(|e| e.first(name)).map(str::to_string);
        return Ok(Explanation {
            tenant: t.name.clone(),
            id: u.id.clone(),
            upn: u.user_principal_name.clone(),
            mail: u.mail.clone(),
            display_name: u.display_name.clone(),
            enabled: u.is_enabled(),
            user_type: u.user_type.clone(),
            guest,
            domain,
            deleted_at,
            status: verdict.map(|v| format!("{:?}", v.status).to_lowercase()),
            trail: verdict.map(|v| v.trail.clone()).unwrap_or_default(),
            summary,
            dn: entry.map(|e| e.dn().to_string()),
            uid: first("uid"),
            uid_number: first("uidNumber"),
            gid_number: first("gidNumber"),
            locked: first("nsAccountLock").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            groups,
        });
    }
    Err(format!(
        "no user {w:?} in any tenant's mirror (searched UPN, mail, uid and Graph id)"
    ))
}

/// For each credential of each (or one) tenant: get a token, then probe the permissions the
/// sync needs. Each failure is a plain sentence.
pub(crate) async fn verify(
    engine: &SyncEngine,
    tenant: Option<&str>,
) -> Result<Vec<CredentialReport>, String> {
    let mut out = Vec::new();
    if let Some(t) = tenant
        && engine.config().tenant(t).is_none()
    {
        return Err(format!("unknown tenant {t:?}"));
    }
    for t in &engine.config().tenant {
        if tenant.is_some_and(|n| n != t.name) {
            continue;
        }
        let options = crate::settings::tenant_options(t);
        for (i, (c, spec)) in t.credential.iter().zip(&options.credentials).enumerate() {
            let mut problems = Vec::new();
            let mut probes = Vec::new();
            let client = Credential::load(i, spec).and_then(|cred| {
                GraphClient::from_parts(
                    &t.name,
                    &t.tenant_id,
                    &t.graph_url,
                    &t.login_url,
                    vec![cred],
                    ClientOptions::default(),
                )
            });
            match client {
                Err(e) => problems.push(sentence(&e, "")),
                Ok(client) => {
                    for (path, perm) in [
                        ("users?$top=1&$select=id", "User.Read.All"),
                        (
                            "groups?$top=1&$select=id",
                            "Group.Read.All (or GroupMember.Read.All)",
                        ),
                        ("domains", "Domain.Read.All"),
                    ] {
                        match client.get_json(path).await {
                            Ok(_) => probes.push(ProbeResult {
                                probe: path.to_string(),
                                ok: true,
                                error: None,
                            }),
                            Err(e) => {
                                let s = sentence(&e, perm);
                                probes.push(ProbeResult {
                                    probe: path.to_string(),
                                    ok: false,
                                    error: Some(s.clone()),
                                });
                                let token_failed = e.token().is_some()
                                    || matches!(e, GraphError::AllCredentialsFailed { .. });
                                problems.push(s);
                                if token_failed {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            out.push(CredentialReport {
                tenant: t.name.clone(),
                credential: i,
                client_id: c.client_id.clone(),
                ok: problems.is_empty(),
                problems,
                probes,
            });
        }
    }
    Ok(out)
}

fn token_sentence(e: &graph::TokenError) -> String {
    let b = &e.body;
    let plain = if b.has_code(7000215) {
        "the client secret is wrong (AADSTS7000215): paste the secret's Value, not its ID"
    } else if b.has_code(7000222) {
        "the client secret has expired (AADSTS7000222): create a new secret in the app registration"
    } else if b.has_code(700016) {
        "the application is unknown in this tenant (AADSTS700016): check client_id and tenant_id, and that the app is consented in this tenant"
    } else if b.has_code(90002) {
        "the tenant does not exist (AADSTS90002): check tenant_id and login_url"
    } else {
        return format!("cannot get a token: {e}");
    };
    format!("cannot get a token for client {}: {plain}", e.client_id)
}

fn sentence(e: &GraphError, perm: &str) -> String {
    match e {
        GraphError::Token(t) => token_sentence(t),
        GraphError::AllCredentialsFailed { errors, .. } => errors
            .first()
            .map(|e| sentence(e, perm))
            .unwrap_or_else(|| e.to_string()),
        GraphError::Api(a)
            if a.code.eq_ignore_ascii_case("Authorization_RequestDenied") || a.status == 403 =>
        {
            format!(
                "the application is missing the Microsoft Graph application permission {perm} (GET {} was denied: {}); add it and grant admin consent",
                a.path, a.code
            )
        }
        other => other.to_string(),
    }
}
