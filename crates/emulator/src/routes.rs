//! The HTTP surface: the router and thin handlers that authorise, parse OData options, read the
//! tenant and shape the response. All Graph semantics live in `odata`, `tenant` and `access`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::middleware;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::access::{Caller, Visibility};
use super::ids::canonical_guid;
use super::odata::{QueryOptions, Selection, collection_body, context_url, project, take_page};
use super::reply::{GraphError, GraphJson, graph_envelope};
use super::schema::Entity;
use super::state::Shared;
use super::token::token_endpoint;

type GraphResult = Result<GraphJson, GraphError>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
        .route("/v1.0/users", get(list_users))
        .route("/v1.0/users/delta", get(super::delta::users_delta))
        .route("/v1.0/groups/delta", get(super::delta::groups_delta))
        .route("/v1.0/users/{key}", get(get_user))
        .route("/v1.0/users/{key}/sendMail", post(super::mail::send_mail))
        .route("/v1.0/groups", get(list_groups))
        .route("/v1.0/groups/{id}", get(get_group))
        .route("/v1.0/groups/{id}/members", get(list_members))
        .route(
            "/v1.0/groups/{id}/transitiveMembers",
            get(list_transitive_members),
        )
        .route("/v1.0/domains", get(list_domains))
        .route("/v1.0/domains/{id}", get(get_domain))
        .route("/v1.0/organization", get(list_organization))
        .route("/_emulator/status", get(status))
        .route("/_emulator/mutate", post(super::control::mutate))
        .route(
            "/_emulator/faults",
            get(super::control::get_faults).put(super::control::put_faults),
        )
        .route(
            "/_emulator/stats",
            get(super::control::get_stats).delete(super::control::reset_stats),
        )
        .route(
            "/_emulator/delta/expire",
            post(super::control::expire_delta),
        )
        .fallback(unknown_segment)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            graph_envelope,
        ))
        .with_state(shared)
}

async fn unknown_segment(OriginalUri(uri): OriginalUri) -> GraphError {
    let segment = uri.path().rsplit('/').next().unwrap_or("");
    GraphError::segment_not_found(segment)
}

async fn method_not_allowed() -> GraphError {
    GraphError::method_not_allowed()
}

/// Graph validates directory object ids before looking them up.
fn object_id(raw: &str) -> Result<String, GraphError> {
    canonical_guid(raw)
        .ok_or_else(|| GraphError::bad_request(format!("Invalid object identifier '{raw}'.")))
}

async fn list_users(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(Entity::User)?;
    let q = QueryOptions::parse(raw.as_deref())?;
    let selection = Selection::for_entity(Entity::User, q.select.as_deref(), true)?;
    let after = q.cursor(&shared.skiptokens, "users")?;
    let tenant = shared.tenant.read().await;
    let (page, next) = take_page(
        tenant.users_after(after.as_deref()),
        q.page_size(shared.opts.page_size),
    );
    let items = page
        .into_iter()
        .map(|u| {
            Value::Object(project(
                Entity::User,
                u,
                &selection,
                Visibility::Full,
                false,
            ))
        })
        .collect();
    let count = (q.wants_count(&headers) && after.is_none()).then(|| tenant.user_count());
    Ok(GraphJson {
        body: collection_body(
            context_url(&shared.base_url, "users", &selection, false),
            items,
            next.map(|a| {
                q.next_link(
                    &shared.base_url,
                    "/v1.0/users",
                    &shared.skiptokens.encode("users", &a),
                )
            }),
            count,
        ),
        resource_units: q.resource_units(2),
    })
}

async fn get_user(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> GraphResult {
    caller.require(Entity::User)?;
    let q = QueryOptions::parse(raw.as_deref())?;
    let selection = Selection::for_entity(Entity::User, q.select.as_deref(), false)?;
    let tenant = shared.tenant.read().await;
    let user = tenant
        .user(&key)
        .ok_or_else(|| GraphError::not_found(&key))?;
    single(
        &shared,
        "users",
        Entity::User,
        user,
        &selection,
        Visibility::Full,
        &q,
    )
}

fn single(
    shared: &Shared,
    set: &str,
    entity: Entity,
    obj: &serde_json::Map<String, Value>,
    selection: &Selection,
    visibility: Visibility,
    q: &QueryOptions,
) -> GraphResult {
    let mut body = project(entity, obj, selection, visibility, false);
    body.insert(
        "@odata.context".into(),
        json!(context_url(&shared.base_url, set, selection, true)),
    );
    Ok(GraphJson {
        body: Value::Object(body),
        resource_units: q.resource_units(1),
    })
}

async fn list_groups(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(Entity::Group)?;
    let q = QueryOptions::parse(raw.as_deref())?;
    let selection = Selection::for_entity(Entity::Group, q.select.as_deref(), true)?;
    let after = q.cursor(&shared.skiptokens, "groups")?;
    let tenant = shared.tenant.read().await;
    let (page, next) = take_page(
        tenant.groups_after(after.as_deref()),
        q.page_size(shared.opts.page_size),
    );
    let items = page
        .into_iter()
        .map(|g| {
            Value::Object(project(
                Entity::Group,
                g,
                &selection,
                Visibility::Full,
                false,
            ))
        })
        .collect();
    let count = (q.wants_count(&headers) && after.is_none()).then(|| tenant.group_count());
    Ok(GraphJson {
        body: collection_body(
            context_url(&shared.base_url, "groups", &selection, false),
            items,
            next.map(|a| {
                q.next_link(
                    &shared.base_url,
                    "/v1.0/groups",
                    &shared.skiptokens.encode("groups", &a),
                )
            }),
            count,
        ),
        resource_units: q.resource_units(1),
    })
}

async fn get_group(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> GraphResult {
    caller.require(Entity::Group)?;
    let q = QueryOptions::parse(raw.as_deref())?;
    let selection = Selection::for_entity(Entity::Group, q.select.as_deref(), false)?;
    let gid = object_id(&id)?;
    let tenant = shared.tenant.read().await;
    let group = tenant
        .group(&gid)
        .ok_or_else(|| GraphError::not_found(&id))?;
    single(
        &shared,
        "groups",
        Entity::Group,
        group,
        &selection,
        Visibility::Full,
        &q,
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Membership {
    Direct,
    Transitive,
}

async fn list_members(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> GraphResult {
    members(
        &shared,
        &caller,
        &id,
        raw.as_deref(),
        &headers,
        Membership::Direct,
    )
    .await
}

async fn list_transitive_members(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> GraphResult {
    members(
        &shared,
        &caller,
        &id,
        raw.as_deref(),
        &headers,
        Membership::Transitive,
    )
    .await
}

async fn members(
    shared: &Shared,
    caller: &Caller,
    id: &str,
    raw: Option<&str>,
    headers: &HeaderMap,
    kind: Membership,
) -> GraphResult {
    caller.require(Entity::Group)?;
    let q = QueryOptions::parse(raw)?;
    let selection = Selection::for_members(q.select.as_deref())?;
    let gid = object_id(id)?;
    let (segment, cost) = match kind {
        Membership::Direct => ("members", 3),
        Membership::Transitive => ("transitiveMembers", 5),
    };
    let path = format!("/v1.0/groups/{gid}/{segment}");
    let after = q.cursor(&shared.skiptokens, &path)?;

    let tenant = shared.tenant.read().await;
    let ids: Vec<String> = match kind {
        Membership::Direct => tenant.direct_members(&gid).map(<[String]>::to_vec),
        Membership::Transitive => tenant.transitive_members(&gid),
    }
    .ok_or_else(|| GraphError::not_found(id))?;
    let objects = ids
        .iter()
        .filter_map(|m| tenant.object(m).map(|(e, o)| (m, (e, o))));
    // A documented known issue of v1.0 (docs/graph-behaviour.md §7): /members does not return
    // service principals.
    let visible: Vec<_> = objects
        .filter(|(_, (e, _))| kind == Membership::Transitive || *e != Entity::ServicePrincipal)
        .collect();
    let total = visible.len();
    let start = after
        .as_deref()
        .map(|a| visible.partition_point(|(m, _)| m.as_str() <= a))
        .unwrap_or(0);
    let (page, next) = take_page(
        visible.into_iter().skip(start),
        q.page_size(shared.opts.page_size),
    );
    let items = page
        .into_iter()
        .map(|(entity, obj)| {
            Value::Object(project(
                entity,
                obj,
                &selection,
                caller.visibility(entity),
                true,
            ))
        })
        .collect();
    let count = (q.wants_count(headers) && after.is_none()).then_some(total);
    Ok(GraphJson {
        body: collection_body(
            context_url(&shared.base_url, "directoryObjects", &selection, false),
            items,
            next.map(|a| {
                q.next_link(
                    &shared.base_url,
                    &path,
                    &shared.skiptokens.encode(&path, &a),
                )
            }),
            count,
        ),
        resource_units: q.resource_units(cost),
    })
}

async fn list_domains(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> GraphResult {
    caller.require(Entity::Domain)?;
    let q = QueryOptions::parse(raw.as_deref())?;
    let selection = Selection::for_entity(Entity::Domain, q.select.as_deref(), true)?;
    let tenant = shared.tenant.read().await;
    let items = tenant
        .domains()
        .iter()
        .map(|d| {
            Value::Object(project(
                Entity::Domain,
                d,
                &selection,
                Visibility::Full,
                false,
            ))
        })
        .collect();
    Ok(GraphJson {
        body: collection_body(
            context_url(&shared.base_url, "domains", &selection, false),
            items,
            None,
            None,
        ),
        resource_units: q.resource_units(1),
    })
}

async fn get_domain(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> GraphResult {
    caller.require(Entity::Domain)?;
    let q = QueryOptions::parse(raw.as_deref())?;
    let selection = Selection::for_entity(Entity::Domain, q.select.as_deref(), false)?;
    let tenant = shared.tenant.read().await;
    let domain = tenant
        .domain(&name)
        .ok_or_else(|| GraphError::not_found(&name))?;
    single(
        &shared,
        "domains",
        Entity::Domain,
        domain,
        &selection,
        Visibility::Full,
        &q,
    )
}

async fn list_organization(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> GraphResult {
    let view = caller.organization_view()?;
    let q = QueryOptions::parse(raw.as_deref())?;
    let selection = Selection::for_entity(Entity::Organization, q.select.as_deref(), true)?;
    let tenant = shared.tenant.read().await;
    let mut org = project(
        Entity::Organization,
        tenant.organization(),
        &selection,
        Visibility::Full,
        false,
    );
    if view == Visibility::IdOnly {
        // The limited view keeps id, displayName and verifiedDomains; everything else is null.
        for (key, value) in org.iter_mut() {
            if !matches!(key.as_str(), "id" | "displayName" | "verifiedDomains") {
                *value = Value::Null;
            }
        }
    }
    Ok(GraphJson {
        body: collection_body(
            context_url(&shared.base_url, "organization", &selection, false),
            vec![Value::Object(org)],
            None,
            None,
        ),
        resource_units: q.resource_units(1),
    })
}

async fn status(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    let tenant = shared.tenant.read().await;
    axum::Json(json!({
        "tenant_id": tenant.tenant_id,
        "displayName": tenant.display_name(),
        "seq": tenant.seq,
        "users": tenant.user_count(),
        "groups": tenant.group_count(),
        "otherObjects": tenant.other_count(),
        "base_url": shared.base_url,
        "page_size": shared.opts.page_size,
    }))
}
