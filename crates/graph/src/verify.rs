//! `ctl verify`: for each credential of a tenant, acquire a token with that credential alone and
//! probe each Graph permission the sync needs (docs/graph-behaviour.md §6), turning every failure
//! into a plain sentence an administrator can act on. The result is serde-serializable for the
//! admin socket.

use super::client::{ClientOptions, GraphClient};
use super::error::GraphError;
use super::options::TenantOptions;
use super::token::Credential;
use serde::{Deserialize, Serialize};

/// The outcome of one step (the token request or a permission probe).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProbeOutcome {
    Ok,
    Failed {
        /// `AADSTS7000215`, `Authorization_RequestDenied`, … when the server gave one.
        code: Option<String>,
        /// What is wrong and what to do, in one sentence.
        message: String,
        /// The full technical error, for support.
        detail: String,
    },
    /// Not attempted, e.g. the member probe when the tenant has no groups.
    Skipped {
        reason: String,
    },
}

impl ProbeOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, ProbeOutcome::Ok)
    }

    pub fn is_failed(&self) -> bool {
        matches!(self, ProbeOutcome::Failed { .. })
    }
}

/// One Graph request made to test one permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// `users`, `groups`, `group_members` or `domains`.
    pub name: String,
    /// The request, e.g. `GET /v1.0/users?$top=1&$select=id`.
    pub request: String,
    /// The least-privileged application permission it needs.
    pub permission: String,
    pub outcome: ProbeOutcome,
}

/// Everything `verify` found out about one `[[tenant.credential]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialCheck {
    pub tenant: String,
    /// Position in the tenant's credential list (0-based, config order).
    pub index: usize,
    pub client_id: String,
    /// `client_secret` or `certificate`; empty when the credential could not even be loaded.
    pub kind: String,
    /// Client id and kind, no secret.
    pub label: String,
    pub token: ProbeOutcome,
    /// Empty when no token was obtained.
    pub probes: Vec<Probe>,
}

impl CredentialCheck {
    /// A token was issued and no probe failed (a skipped probe is not a failure).
    pub fn ok(&self) -> bool {
        self.token.is_ok() && !self.probes.iter().any(|p| p.outcome.is_failed())
    }
}

/// Check every credential of `tenant`, in config order, with the default retry policy.
pub async fn verify_tenant(tenant: &TenantOptions) -> Vec<CredentialCheck> {
    verify_tenant_with(tenant, ClientOptions::default()).await
}

/// [`verify_tenant`] with explicit client options (tests use fast retries).
pub async fn verify_tenant_with(
    tenant: &TenantOptions,
    options: ClientOptions,
) -> Vec<CredentialCheck> {
    let mut out = Vec::with_capacity(tenant.credentials.len());
    for (index, cfg) in tenant.credentials.iter().enumerate() {
        let mut check = CredentialCheck {
            tenant: tenant.name.clone(),
            index,
            client_id: cfg.client_id.trim().to_owned(),
            kind: String::new(),
            label: format!("client {}", cfg.client_id.trim()),
            token: ProbeOutcome::Ok,
            probes: Vec::new(),
        };
        let credential = match Credential::load(index, cfg) {
            Ok(c) => c,
            Err(e) => {
                check.token = failed(tenant, None, &e);
                out.push(check);
                continue;
            }
        };
        check.kind = credential.kind().to_owned();
        check.label = credential.label();
        let client = match GraphClient::from_parts(
            &tenant.name,
            &tenant.tenant_id,
            &tenant.graph_url,
            &tenant.login_url,
            vec![credential.clone()],
            options.clone(),
        ) {
            Ok(c) => c,
            Err(e) => {
                check.token = failed(tenant, Some(&credential), &e);
                out.push(check);
                continue;
            }
        };
        if let Err(e) = client.tokens().token().await {
            check.token = failed(tenant, Some(&credential), &e);
            out.push(check);
            continue;
        }
        check.probes = probe_permissions(tenant, &client).await;
        out.push(check);
    }
    out
}

async fn probe_permissions(tenant: &TenantOptions, client: &GraphClient) -> Vec<Probe> {
    let mut probes = Vec::with_capacity(4);
    let (users, _) = probe(
        tenant,
        client,
        "users",
        "users?$top=1&$select=id",
        "User.Read.All",
    )
    .await;
    probes.push(users);
    let (groups, body) = probe(
        tenant,
        client,
        "groups",
        "groups?$top=1&$select=id",
        "GroupMember.Read.All",
    )
    .await;
    let groups_ok = groups.outcome.is_ok();
    probes.push(groups);
    let first_group = body.as_ref().and_then(|b| {
        b.get("value")?
            .as_array()?
            .first()?
            .get("id")?
            .as_str()
            .map(str::to_owned)
    });
    let members_path = "groups/{id}/members?$top=1&$select=id";
    match first_group {
        // Group ids are GUIDs; anything else is not put into a URL path unescaped.
        Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => {
            let path = format!("groups/{id}/members?$top=1&$select=id");
            let (members, _) = probe(
                tenant,
                client,
                "group_members",
                &path,
                "GroupMember.Read.All",
            )
            .await;
            probes.push(members);
        }
        other => probes.push(Probe {
            name: "group_members".into(),
            request: format!("GET /v1.0/{members_path}"),
            permission: "GroupMember.Read.All".into(),
            outcome: ProbeOutcome::Skipped {
                reason: if !groups_ok {
                    "needs the groups probe to succeed first".into()
                } else if other.is_none() {
                    "the tenant has no groups to read members of".into()
                } else {
                    "the first group's id is not a GUID".into()
                },
            },
        }),
    }
    let (domains, _) = probe(tenant, client, "domains", "domains", "Domain.Read.All").await;
    probes.push(domains);
    probes
}

async fn probe(
    tenant: &TenantOptions,
    client: &GraphClient,
    name: &str,
    path: &str,
    permission: &str,
) -> (Probe, Option<serde_json::Value>) {
    let result = client.get_json(path).await;
    let (outcome, body) = match result {
        Ok(body) => (ProbeOutcome::Ok, Some(body)),
        Err(e) => (failed_probe(tenant, permission, &e), None),
    };
    (
        Probe {
            name: name.to_owned(),
            request: format!("GET /v1.0/{path}"),
            permission: permission.to_owned(),
            outcome,
        },
        body,
    )
}

fn failed_probe(tenant: &TenantOptions, permission: &str, e: &GraphError) -> ProbeOutcome {
    if let Some(api) = e.api() {
        let code = (!api.code.is_empty()).then(|| api.code.clone());
        let message = if api.status == 403
            || api.code.eq_ignore_ascii_case("Authorization_RequestDenied")
        {
            format!(
                "missing permission {permission} (application) or admin consent not granted — add it under API permissions and grant admin consent"
            )
        } else if api.status == 401 {
            "Graph rejected the access token — graph_url and login_url must belong to the same cloud".into()
        } else {
            format!("Graph answered HTTP {}", api.status)
        };
        return ProbeOutcome::Failed {
            code,
            message,
            detail: e.to_string(),
        };
    }
    // A token error here means the token expired mid-verify and could not be renewed.
    failed(tenant, None, e)
}

/// The sentence for a failure to get a token (or to set the credential up).
fn failed(tenant: &TenantOptions, credential: Option<&Credential>, e: &GraphError) -> ProbeOutcome {
    let tid = tenant.tenant_id.trim();
    let detail = e.to_string();
    let (code, message) = match e {
        GraphError::Token(t) => {
            let code = t.body.primary_code();
            let known = t
                .body
                .error_codes
                .iter()
                .find_map(|c| token_sentence(*c, tid, tenant, credential).map(|s| (*c, s)));
            match known {
                Some((c, s)) => (Some(format!("AADSTS{c}")), s),
                None => (
                    code.map(|c| format!("AADSTS{c}")),
                    format!(
                        "the token endpoint refused the credential (HTTP {}): {}",
                        t.status,
                        t.body.summary()
                    ),
                ),
            }
        }
        GraphError::Transport { what, detail, .. } => {
            (None, format!("cannot reach the server ({what}): {detail}"))
        }
        GraphError::Config { key, message } => (None, format!("{key}: {message}")),
        other => (None, other.to_string()),
    };
    ProbeOutcome::Failed {
        code,
        message,
        detail,
    }
}

fn token_sentence(
    code: u64,
    tenant_id: &str,
    tenant: &TenantOptions,
    credential: Option<&Credential>,
) -> Option<String> {
    Some(match code {
        7000215 => {
            "the client secret is wrong — paste the secret's Value, not its Secret ID".into()
        }
        7000222 => {
            "the client secret has expired — create a new one in Certificates & secrets".into()
        }
        700016 => format!(
            "no application with this client id in tenant {tenant_id} — check client_id and tenant_id"
        ),
        90002 => format!("tenant {tenant_id} does not exist — check tenant_id"),
        700027 | 50012 | 700030 => match credential {
            Some(Credential::Certificate { cert, .. }) => format!(
                "the certificate was not accepted — upload the certificate with thumbprint {} to the app registration's Certificates & secrets, or check it has not expired",
                cert.thumbprint_hex()
            ),
            _ => "the client assertion was not accepted — check the certificate registered on the app registration".into(),
        },
        7000218 => {
            "no secret or certificate was sent — the app registration needs one".into()
        }
        7000112 => format!("the application is disabled in tenant {tenant_id}"),
        65001 => "admin consent is missing — grant admin consent for the application's permissions".into(),
        70011 => format!(
            "the scope {}/.default is not valid here — graph_url and login_url must belong to the same cloud",
            tenant.graph_url.trim().trim_end_matches('/')
        ),
        _ => return None,
    })
}
