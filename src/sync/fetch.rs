//! Reading one tenant from Microsoft Graph: a full read into a fresh `Mirror` (organization,
//! domains, users, groups and every group's direct members) and a delta read (the raw pages of
//! `/users/delta` and `/groups/delta` from stored links up to the next deltaLinks).

use crate::store::DeltaLinks;
use futures::{StreamExt, TryStreamExt, stream};
use graph::{GraphClient, GraphError};
use model::Mirror;
use model::graph::MemberRef;
use std::collections::{BTreeSet, HashSet};

/// How many `/groups/{id}/members` reads run at once: enough to hide latency, few enough to
/// stay well inside the resource units Graph grants an app per tenant before it throttles.
const MEMBER_CONCURRENCY: usize = 8;

/// A delta read never needs more pages than this; more means a server that loops.
const MAX_DELTA_PAGES: usize = 100_000;

/// The first request of a user delta round (query parameters only go on the first request).
/// `select`: the client's user `$select` (`GraphClient::user_select`), so configured extra
/// properties such as `users.ssh_keys_attribute` come back in delta rounds too.
pub(crate) fn users_delta_start(select: &str) -> String {
    format!("/v1.0/users/delta?$select={select}")
}

/// The first request of a group delta round; `members` gives `members@delta`.
pub(crate) fn groups_delta_start(select: &str) -> String {
    format!("/v1.0/groups/delta?$select={select},members")
}

/// Full read of the tenant. Delta links are taken with `$deltaToken=latest` *before* the lists
/// are read, so a change made while the lists are read is replayed by the next delta round
/// (merging is idempotent) instead of being lost. `None` links: Graph (or a test double) has
/// no delta endpoint, and later rounds stay full.
///
/// Why not a delta round 1 as the full read: its `members@delta` lists may carry stale
/// `@removed` entries (Graph documents them as possible) and one huge group arrives in slices; the list endpoints
/// give exact membership, and `$deltaToken=latest` costs two requests.
pub(crate) async fn full_read(
    client: &GraphClient,
    progress: Option<&super::Progress>,
) -> Result<(Mirror, Option<DeltaLinks>), GraphError> {
    let links = latest_links(client).await?;
    let mut m = Mirror {
        organization: client.organization().await?.into_iter().next(),
        domains: client.list_domains().await?,
        ..Mirror::default()
    };
    for u in client.list_users().await? {
        m.users.insert(u.id.clone(), u.into());
    }
    super::say(progress, format!("{} users read", m.users.len()));
    for g in client.list_groups().await? {
        m.groups.insert(g.id.clone(), g);
    }
    super::say(
        progress,
        format!("{} groups read; reading their members", m.groups.len()),
    );
    let ids: Vec<String> = m.groups.keys().cloned().collect();
    for (gid, list) in members_tolerant(client, ids).await? {
        match list {
            Some(list) => {
                m.members.insert(gid, list.into_iter().collect());
            }
            // Deleted between the group list and its members read: it is gone.
            None => {
                tracing::info!(group = %gid, "group vanished during the round; treated as deleted");
                m.groups.remove(&gid);
            }
        }
    }
    let memberships: usize = m.members.values().map(|l| l.len()).sum();
    super::say(
        progress,
        format!(
            "{memberships} memberships of {} groups read",
            m.members.len()
        ),
    );
    Ok((m, links))
}

/// Members of each group; `None` for a group Graph answers 404 for (deleted meanwhile).
pub(crate) async fn members_tolerant(
    client: &GraphClient,
    ids: Vec<String>,
) -> Result<Vec<(String, Option<Vec<MemberRef>>)>, GraphError> {
    let mut seen = HashSet::new();
    let unique: Vec<String> = ids.into_iter().filter(|i| seen.insert(i.clone())).collect();
    stream::iter(unique)
        .map(|id: String| {
            let client = client.clone();
            async move {
                match client.list_members(&id).await {
                    Ok(m) => Ok((id, Some(m))),
                    Err(e) if e.status() == Some(404) => Ok((id, None)),
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(MEMBER_CONCURRENCY)
        .try_collect()
        .await
}

async fn latest_links(client: &GraphClient) -> Result<Option<DeltaLinks>, GraphError> {
    let users = latest_link(client, &users_delta_start(client.user_select())).await?;
    let groups = latest_link(client, &groups_delta_start(client.group_select())).await?;
    Ok(match (users, groups) {
        (Some(users), Some(groups)) => Some(DeltaLinks {
            users,
            groups,
            user_select: Some(client.user_select().to_string()),
            group_select: Some(client.group_select().to_string()),
        }),
        _ => None,
    })
}

async fn latest_link(client: &GraphClient, start: &str) -> Result<Option<String>, GraphError> {
    let url = format!("{start}&$deltaToken=latest");
    match client.get_page::<serde_json::Value>(&url).await {
        Ok(page) => Ok(page.delta_link),
        // No delta support (404, 400 on the query): full rounds only. Transport errors and
        // throttling that outlived the retries still fail the round.
        Err(e) if matches!(e.status(), Some(400 | 404 | 501)) => {
            tracing::warn!("Graph refused {start}: {e}; every round will be a full read");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Every object of one delta collection from `link` to the next deltaLink.
pub(crate) struct DeltaPages {
    pub objects: Vec<serde_json::Value>,
    pub delta_link: String,
    /// Pages read, the last (with the deltaLink) included.
    pub pages: usize,
}

/// Follow a stored deltaLink and its nextLinks verbatim to the next deltaLink.
pub(crate) async fn read_delta(client: &GraphClient, link: &str) -> Result<DeltaPages, GraphError> {
    let mut objects = Vec::new();
    let mut url = link.to_string();
    let mut seen = BTreeSet::new();
    for pages in 1..=MAX_DELTA_PAGES {
        let page = client.get_page::<serde_json::Value>(&url).await?;
        objects.extend(page.value);
        if let Some(d) = page.delta_link {
            return Ok(DeltaPages {
                objects,
                delta_link: d,
                pages,
            });
        }
        let Some(next) = page.next_link else {
            return Err(GraphError::Decode {
                what: "delta page".into(),
                detail: "neither @odata.nextLink nor @odata.deltaLink".into(),
            });
        };
        if !seen.insert(next.clone()) {
            return Err(GraphError::Paging {
                what: "delta".into(),
                detail: "the server returned a nextLink it had already returned (a loop)".into(),
            });
        }
        url = next;
    }
    Err(GraphError::Paging {
        what: "delta".into(),
        detail: format!("more than {MAX_DELTA_PAGES} pages; giving up"),
    })
}
