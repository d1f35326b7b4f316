//! A full read of one tenant from Microsoft Graph into a fresh `Mirror`: organization, domains,
//! users, groups and every group's direct members.

use super::mirror::Mirror;
use crate::graph::{GraphClient, GraphError};
use std::collections::BTreeSet;

/// How many `/groups/{id}/members` reads run at once: enough to hide latency, few enough to
/// stay well inside Graph's per-app resource-unit budget (graph.md §7).
const MEMBER_CONCURRENCY: usize = 8;

pub async fn full_read(client: &GraphClient) -> Result<Mirror, GraphError> {
    let mut m = Mirror {
        organization: client.organization().await?.into_iter().next(),
        domains: client.list_domains().await?,
        ..Mirror::default()
    };
    for u in client.list_users().await? {
        m.users.insert(u.id.clone(), u);
    }
    for g in client.list_groups().await? {
        m.groups.insert(g.id.clone(), g);
    }
    let ids: Vec<String> = m.groups.keys().cloned().collect();
    let members = client.list_members_many(&ids, MEMBER_CONCURRENCY).await?;
    for (gid, list) in members {
        if m.groups.contains_key(&gid) {
            m.members
                .insert(gid, list.into_iter().collect::<BTreeSet<_>>());
        }
    }
    Ok(m)
}
