//! `GraphClient`: authenticated GETs against one tenant's Graph with paging, retries, 401 refresh
//! and bounded-concurrency member expansion. Cheap to clone; clones share the token cache and the
//! connection pool.

use super::endpoint::{is_loopback, same_origin, validate_endpoint};
use super::error::{ApiError, GraphError};
use super::http::{self, HttpOptions};
use super::models::{MEMBER_SELECT, RawMember};
use super::options::TenantOptions;
use super::retry::{RawResponse, RetryPolicy, send_with_retry};
use super::token::{Credential, TokenSource};
use futures::stream::{self, StreamExt, TryStreamExt};
use model::graph::{
    Domain, GROUP_SELECT, Group, MemberRef, Organization, USER_SELECT, User, select_with,
};
use model::time::{Clock, SystemClock};
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The Graph API version every path is relative to (never `beta`: docs/graph-behaviour.md §1).
const API_VERSION: &str = "v1.0";
/// Largest page Graph serves for users, groups and members (docs/graph-behaviour.md §7).
const PAGE_SIZE: u32 = 999;

/// Tunables of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    /// Pages followed for one listing before giving up: 300,000 users at 999 a page is ~300 pages
    /// and a delta round at ~200 a page ~1,500, so this only trips on a server that never ends.
    pub max_pages: usize,
    /// Read for `Retry-After` dates and certificate assertions.
    pub clock: Arc<dyn Clock>,
    /// PEM CA files trusted beside the system's store (see [`http::HttpOptions`]).
    pub extra_roots: Vec<std::path::PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            retry: RetryPolicy::default(),
            max_pages: 20_000,
            clock: Arc::new(SystemClock),
            extra_roots: Vec::new(),
        }
    }
}

impl ClientOptions {
    /// Millisecond retries, for tests and the local emulator.
    pub fn fast() -> ClientOptions {
        ClientOptions {
            retry: RetryPolicy::fast(),
            ..ClientOptions::default()
        }
    }
}

/// One page of a Graph collection. Delta rounds end with `delta_link` instead of `next_link`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

/// A Microsoft Graph client for one tenant.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The configured `graph_url`; every request and followed link must have its origin.
    root: Url,
    tokens: TokenSource,
    options: ClientOptions,
    tenant: String,
    /// `$select` lists for users and groups: the fixed lists plus configured extra properties
    /// (`users.ssh_keys_attribute`, `users.uid_number_attribute`,
    /// `groups.gid_number_attribute`).
    user_select: String,
    group_select: String,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("tenant", &self.inner.tenant)
            .field("graph_url", &self.inner.root.as_str())
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// A client for `tenant`; its credentials are loaded now.
    pub fn new(
        tenant: &TenantOptions,
        mut options: ClientOptions,
    ) -> Result<GraphClient, GraphError> {
        options.extra_roots.extend(tenant.ca_files.iter().cloned());
        let credentials = tenant
            .credentials
            .iter()
            .enumerate()
            .map(|(i, c)| Credential::load(i, c))
            .collect::<Result<Vec<_>, _>>()?;
        let users: Vec<&str> = tenant.user_properties.iter().map(String::as_str).collect();
        let groups: Vec<&str> = tenant.group_properties.iter().map(String::as_str).collect();
        GraphClient::from_parts(
            &tenant.name,
            &tenant.tenant_id,
            &tenant.graph_url,
            &tenant.login_url,
            credentials,
            options,
        )
        .map(|c| {
            c.with_user_properties(&users)
                .with_group_properties(&groups)
        })
    }

    /// Also select these user properties (directory extensions, `users.ssh_keys_attribute`,
    /// `users.uid_number_attribute`). Names already in `USER_SELECT` are not repeated. Call it
    /// on a new client: clones made before keep the select they had.
    pub fn with_user_properties(mut self, extra: &[&str]) -> GraphClient {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.user_select = select_with(USER_SELECT, extra);
        }
        self
    }

    /// Also select these group properties (`groups.gid_number_attribute`), as
    /// `with_user_properties` does for users.
    pub fn with_group_properties(mut self, extra: &[&str]) -> GraphClient {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.group_select = select_with(GROUP_SELECT, extra);
        }
        self
    }

    /// The `$select` list for users (list and delta).
    pub fn user_select(&self) -> &str {
        &self.inner.user_select
    }

    /// The `$select` list for groups (list and delta).
    pub fn group_select(&self) -> &str {
        &self.inner.group_select
    }

    /// Build from explicit values and credentials already loaded.
    pub fn from_parts(
        tenant_name: &str,
        tenant_id: &str,
        graph_url: &str,
        login_url: &str,
        credentials: Vec<Credential>,
        options: ClientOptions,
    ) -> Result<GraphClient, GraphError> {
        let root = validate_endpoint("tenant.graph_url", graph_url)?;
        let login = validate_endpoint("tenant.login_url", login_url)?;
        let local = |u: &Url| u.host().is_some_and(|h| is_loopback(&h.to_owned()));
        // Requests get their timeout from the retry policy, one attempt at a time.
        let http = http::client(&HttpOptions {
            timeout: None,
            connect_timeout: options.retry.request_timeout.min(Duration::from_secs(10)),
            loopback_only: local(&root) && local(&login),
            extra_roots: options.extra_roots.clone(),
        })?;
        let tokens = TokenSource::new(
            http.clone(),
            &login,
            tenant_id,
            &root,
            tenant_name,
            credentials,
            options.retry.clone(),
        )?
        .with_clock(Arc::clone(&options.clock));
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                root,
                tokens,
                options,
                tenant: tenant_name.to_owned(),
                user_select: USER_SELECT.to_owned(),
                group_select: GROUP_SELECT.to_owned(),
            }),
        })
    }

    pub fn tenant_name(&self) -> &str {
        &self.inner.tenant
    }

    /// Index of the `[[tenant.credential]]` that produced the current token; `None` before the
    /// first token.
    pub fn credential_used(&self) -> Option<usize> {
        self.inner.tokens.credential_used()
    }

    /// Client id and kind of credential `index` (no secret), e.g. `client 7d2f… (client secret)`.
    pub fn credential_label(&self, index: usize) -> Option<String> {
        self.inner.tokens.credential_label(index)
    }

    /// The token source, for `verify`, which acquires a token before probing.
    pub(super) fn tokens(&self) -> &TokenSource {
        &self.inner.tokens
    }

    /// All users, with `user_select` (disabled users and guests included; soft-deleted not).
    pub async fn list_users(&self) -> Result<Vec<User>, GraphError> {
        self.list_with_extensions("users", self.user_select(), USER_SELECT, "user")
            .await
    }

    /// All groups, with `group_select` (dynamic distribution groups are never returned by Graph).
    pub async fn list_groups(&self) -> Result<Vec<Group>, GraphError> {
        self.list_with_extensions("groups", self.group_select(), GROUP_SELECT, "group")
            .await
    }

    /// All objects of a collection read with `select`. Directory extensions arrive as top-level
    /// properties whose names only the config knows: when `select` adds to the fixed `base`,
    /// raw objects are read and their extensions folded into `extensions`.
    async fn list_with_extensions<T: DeserializeOwned>(
        &self,
        collection: &str,
        select: &str,
        base: &str,
        what: &str,
    ) -> Result<Vec<T>, GraphError> {
        let url = self.api_url(
            &[collection],
            Some(&format!("$select={select}&$top={PAGE_SIZE}")),
        );
        if select == base {
            return self.collect_all(url).await;
        }
        let raw: Vec<serde_json::Value> = self.collect_all(url).await?;
        raw.into_iter()
            .map(|mut v| {
                if let Some(obj) = v.as_object_mut() {
                    model::graph::fold_extensions(obj);
                }
                serde_json::from_value(v).map_err(|e| GraphError::Decode {
                    what: what.into(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// Direct members of one group (nesting is resolved locally, docs/graph-behaviour.md §7).
    pub async fn list_members(&self, group_id: &str) -> Result<Vec<MemberRef>, GraphError> {
        if group_id.is_empty() {
            return Err(GraphError::Config {
                key: "group id".into(),
                message: "is empty".into(),
            });
        }
        let url = self.api_url(
            &["groups", group_id, "members"],
            Some(&format!("$select={MEMBER_SELECT}&$top={PAGE_SIZE}")),
        );
        let raw: Vec<RawMember> = self.collect_all(url).await?;
        Ok(raw.iter().map(RawMember::to_ref).collect())
    }

    /// Direct members of many groups, at most `concurrency` requests in flight. Duplicate ids are
    /// fetched once. The first error ends the whole call (requests still in flight are dropped):
    /// a partial membership picture must not be mirrored.
    pub async fn list_members_many(
        &self,
        ids: &[String],
        concurrency: usize,
    ) -> Result<HashMap<String, Vec<MemberRef>>, GraphError> {
        let mut seen = HashSet::new();
        // Owned ids and a cloned client: futures borrowing from the closure's argument are not
        // `Send` for every lifetime, which a sync round spawned on the runtime needs.
        let unique: Vec<String> = ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .cloned()
            .collect();
        stream::iter(unique)
            .map(|id: String| {
                let client = self.clone();
                async move {
                    let members = client.list_members(&id).await?;
                    Ok::<_, GraphError>((id, members))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await
    }

    pub async fn list_domains(&self) -> Result<Vec<Domain>, GraphError> {
        let url = self.api_url(&["domains"], None);
        self.collect_all(url).await
    }

    /// The tenant's organization object (a one-element collection in practice).
    pub async fn organization(&self) -> Result<Vec<Organization>, GraphError> {
        let url = self.api_url(&["organization"], Some("$select=id,displayName"));
        self.collect_all(url).await
    }

    /// GET any Graph URL or path as JSON. An absolute URL (a stored nextLink or deltaLink) is used
    /// verbatim but must have the configured `graph_url`'s origin. A path starting with `/v1.0/`
    /// or `/beta/` is relative to `graph_url`; any other path is relative to `graph_url/v1.0`.
    pub async fn get_json(&self, url_or_path: &str) -> Result<serde_json::Value, GraphError> {
        let url = self.resolve(url_or_path)?;
        self.get_decoded(&url).await
    }

    /// GET one page of a collection (for delta rounds, which need the `@odata.deltaLink`).
    /// Same URL rules as [`GraphClient::get_json`].
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        url_or_path: &str,
    ) -> Result<Page<T>, GraphError> {
        let url = self.resolve(url_or_path)?;
        self.fetch_page(&url).await
    }

    /// Follow `@odata.nextLink` from `first` to the end. Links are followed verbatim; a page may be
    /// empty and still have a next link.
    async fn collect_all<T: DeserializeOwned>(&self, first: Url) -> Result<Vec<T>, GraphError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        seen.insert(first.as_str().to_owned());
        let mut url = first;
        let mut pages = 0usize;
        loop {
            pages += 1;
            if pages > self.inner.options.max_pages {
                return Err(GraphError::Paging {
                    what: format!("GET {}", url.path()),
                    detail: format!(
                        "more than {} pages; giving up",
                        self.inner.options.max_pages
                    ),
                });
            }
            let page: Page<T> = self.fetch_page(&url).await?;
            out.extend(page.value);
            let Some(link) = page.next_link else {
                return Ok(out);
            };
            if !seen.insert(link.clone()) {
                return Err(GraphError::Paging {
                    what: format!("GET {}", url.path()),
                    detail: "the server returned a nextLink it had already returned (a loop)"
                        .into(),
                });
            }
            url = self.checked_link(&link, "nextLink")?;
        }
    }

    async fn fetch_page<T: DeserializeOwned>(&self, url: &Url) -> Result<Page<T>, GraphError> {
        self.get_decoded(url).await
    }

    /// GET and decode, asking again when a successful answer's body does not parse: a proxy
    /// or load balancer that cuts a body short or answers 200 with an HTML page is usually
    /// gone on the next try. The round still fails (and changes nothing) if it persists.
    async fn get_decoded<T: DeserializeOwned>(&self, url: &Url) -> Result<T, GraphError> {
        let policy = &self.inner.options.retry;
        let attempts = policy.max_server_error_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self.get_raw(url).await?;
            match decode(url, &resp) {
                Ok(v) => return Ok(v),
                Err(e) if attempt >= attempts => return Err(e),
                Err(e) => {
                    let delay = policy.backoff(attempt);
                    tracing::warn!(
                        request = %format!("GET {}", url.path()),
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %e,
                        "Graph answered with a body that does not parse; asking again"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// An absolute link from a response, accepted only on the configured origin so the bearer
    /// token is never sent elsewhere.
    fn checked_link(&self, link: &str, what: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| GraphError::Paging {
            what: what.to_owned(),
            detail: format!("not a valid absolute URL: {e}"),
        })?;
        if !same_origin(&url, &self.inner.root) {
            return Err(GraphError::Paging {
                what: what.to_owned(),
                detail: format!(
                    "points to {}, not the configured graph_url {}; refusing to send the access token there",
                    url.origin().ascii_serialization(),
                    self.inner.root.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    fn resolve(&self, url_or_path: &str) -> Result<Url, GraphError> {
        let s = url_or_path.trim();
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return self.checked_link(s, "link");
        }
        let root = self.inner.root.as_str().trim_end_matches('/');
        let joined = if s.starts_with("/v1.0/") || s.starts_with("/beta/") {
            format!("{root}{s}")
        } else {
            format!("{root}/{API_VERSION}/{}", s.trim_start_matches('/'))
        };
        let url = Url::parse(&joined).map_err(|e| GraphError::Config {
            key: "path".into(),
            message: format!("cannot form a Graph URL from {s:?}: {e}"),
        })?;
        // `..` segments could walk out of the root's path; the origin check still holds.
        if !same_origin(&url, &self.inner.root) {
            return Err(GraphError::Config {
                key: "path".into(),
                message: format!("{s:?} does not stay on graph_url"),
            });
        }
        Ok(url)
    }

    /// `graph_url/v1.0/<segments…>?<query>`, each segment percent-encoded (group ids, UPNs with `#`).
    fn api_url(&self, segments: &[&str], query: Option<&str>) -> Url {
        let mut url = self.inner.root.clone();
        // http(s) URLs always have path segments; validate_endpoint admitted nothing else.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push(API_VERSION).extend(segments);
        }
        url.set_query(query);
        url
    }

    /// Authenticated GET with retries; on 401 the token is refreshed once and the request repeated.
    async fn get_raw(&self, url: &Url) -> Result<RawResponse, GraphError> {
        let what = format!("GET {}", url.path());
        let client_request_id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut refreshed = false;
        loop {
            let token = self.inner.tokens.token().await?;
            let resp = send_with_retry(
                &self.inner.options.retry,
                &*self.inner.options.clock,
                &what,
                |attempt| {
                    let mut rb = self
                        .inner
                        .http
                        .get(url.clone())
                        .bearer_auth(token.expose())
                        .header(ACCEPT, "application/json")
                        .header("client-request-id", client_request_id.to_string());
                    if attempt > 1 {
                        rb = rb.header("retry-attempt", (attempt - 1).to_string());
                    }
                    rb
                },
            )
            .await?;
            let status = resp.status.as_u16();
            if resp.status.is_success() {
                return Ok(resp);
            }
            if status == 401 && !refreshed {
                tracing::warn!(
                    tenant = %self.inner.tenant,
                    request = %what,
                    request_id = resp.header("request-id").unwrap_or(""),
                    "Graph rejected the access token; fetching a new one"
                );
                self.inner.tokens.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            return Err(GraphError::Api(Box::new(ApiError::from_response(
                status,
                url.path(),
                &resp.body,
                resp.header("request-id"),
                resp.header("location"),
            ))));
        }
    }
}

fn decode<T: DeserializeOwned>(url: &Url, resp: &RawResponse) -> Result<T, GraphError> {
    serde_json::from_slice(&resp.body).map_err(|e| GraphError::Decode {
        what: format!("GET {}", url.path()),
        detail: e.to_string(),
    })
}

mod mail;
#[cfg(test)]
mod tests;
