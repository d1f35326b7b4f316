//! `GET /v1.0/users/delta` and `GET /v1.0/groups/delta` (docs/graph-behaviour.md §8): full-state
//! first rounds, change-log later rounds, sealed `$skiptoken`/`$deltatoken`s, `@removed`,
//! `members@delta` split across items, optional replays, and expiring sync state.
//!
//! A round is fixed when it starts: "changes with seq in (since, upto]" (or "everything" for a
//! first round) and the `$select`; both travel inside the sealed page tokens, as Graph encodes
//! query options into its links. Objects are rendered from the *current* state when each page is
//! served, so a change made mid-round may show up early and again next round (a replay, which
//! clients must tolerate anyway).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access::Caller;
use super::changes::ChangeKind;
use super::fixture::JsonObject;
use super::odata::{Selection, context_url};
use super::reply::{GraphError, GraphJson};
use super::schema::{Entity, Returned};
use super::state::Shared;
use super::tenant::TenantState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Users,
    Groups,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Users => "users",
            Set::Groups => "groups",
        }
    }
    fn entity(self) -> Entity {
        match self {
            Set::Users => Entity::User,
            Set::Groups => Entity::Group,
        }
    }
    fn kind(self) -> ChangeKind {
        match self {
            Set::Users => ChangeKind::User,
            Set::Groups => ChangeKind::Group,
        }
    }
}

pub(crate) async fn users_delta(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Response {
    match delta(&shared, &caller, Set::Users, raw.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn groups_delta(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Response {
    match delta(&shared, &caller, Set::Groups, raw.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[derive(Default)]
struct Params {
    select: Option<Vec<String>>,
    deltatoken: Option<String>,
    skiptoken: Option<String>,
}

fn parse_params(raw: Option<&str>) -> Result<Params, GraphError> {
    let mut p = Params::default();
    let Some(raw) = raw else { return Ok(p) };
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match name.to_ascii_lowercase().as_str() {
            "$select" => {
                p.select = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
            }
            "$deltatoken" => p.deltatoken = Some(value.into_owned()),
            "$skiptoken" => p.skiptoken = Some(value.into_owned()),
            // Graph ignores $top on delta (docs/graph-behaviour.md §8).
            "$top" => {}
            "$filter" | "$expand" | "$orderby" | "$search" | "$count" => {
                return Err(GraphError::unsupported_query(format!(
                    "The query option '{name}' is not supported by the Graph emulator's delta query."
                )));
            }
            other if other.starts_with('$') => {
                return Err(GraphError::odata_bad_request(format!(
                    "The query parameter '{name}' is not supported."
                )));
            }
            _ => {}
        }
    }
    Ok(p)
}

/// The resolved `$select` of a round: the projection, whether `members@delta` is wanted, and
/// the canonical text sealed into tokens (`""` = no `$select`).
struct Select {
    selection: Selection,
    members: bool,
    sealed: String,
}

fn resolve_select(set: Set, names: Option<&[String]>) -> Result<Select, GraphError> {
    let entity = set.entity();
    let Some(names) = names else {
        return Ok(Select {
            selection: Selection::Default,
            members: set == Set::Groups,
            sealed: String::new(),
        });
    };
    let refused: Vec<&str> = names
        .iter()
        .filter_map(|n| entity.prop(n))
        .filter(|p| p.returned == Returned::SingleOnly)
        .map(|p| p.name)
        .collect();
    if !refused.is_empty() {
        return Err(GraphError::odata_bad_request(format!(
            "Invalid request for delta query: for this entity set, $expand/$select is not supported for the following properties: {}",
            refused.join(",")
        )));
    }
    let mut members = false;
    let mut rest: Vec<String> = Vec::new();
    for n in names {
        if set == Set::Groups && n.eq_ignore_ascii_case("members") {
            members = true;
        } else {
            rest.push(n.clone());
        }
    }
    let selection = Selection::for_entity(entity, Some(&rest), true)?;
    let mut canonical: Vec<String> = match &selection {
        Selection::Default => Vec::new(),
        Selection::Names(n, ext) => n
            .iter()
            .map(|x| x.to_string())
            .chain(ext.iter().cloned())
            .collect(),
    };
    if members {
        canonical.push("members".into());
    }
    Ok(Select {
        selection,
        members,
        sealed: format!("={}", canonical.join(",")),
    })
}

fn unseal_select(set: Set, sealed: &str) -> Result<Select, GraphError> {
    match sealed.strip_prefix('=') {
        None => resolve_select(set, None),
        Some(list) => {
            let names: Vec<String> = list
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            resolve_select(set, Some(&names))
        }
    }
}

struct Round {
    since: u64,
    upto: u64,
    initial: bool,
    select: Select,
}

fn expired(shared: &Shared, set: Set) -> Response {
    if shared.opts.delta_expired_gone {
        let mut resp = GraphError::new(
            StatusCode::GONE,
            "resyncRequired",
            "Resync required. Replace any local cached copies of the directory data with the results of a full synchronization.",
        )
        .into_response();
        let location = format!("{}/v1.0/{}/delta?$deltatoken=", shared.base_url, set.name());
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(LOCATION, v);
        }
        resp
    } else {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )
        .into_response()
    }
}

fn deltatoken(shared: &Shared, set: Set, seq: u64, select: &str) -> String {
    shared.skiptokens.encode(
        &format!("delta:{}", set.name()),
        &format!("{}|{seq}|{}|{select}", shared.epoch(), shared.now_ms()),
    )
}

/// `Some(Ok((seq, select)))` for a live token, `Some(Err(()))`-like `None` for expired/unknown.
fn open_deltatoken(shared: &Shared, set: Set, token: &str) -> Option<(u64, String)> {
    let raw = shared
        .skiptokens
        .decode(&format!("delta:{}", set.name()), token)?;
    let mut parts = raw.splitn(4, '|');
    let epoch: u64 = parts.next()?.parse().ok()?;
    let seq: u64 = parts.next()?.parse().ok()?;
    let issued: u64 = parts.next()?.parse().ok()?;
    let select = parts.next()?.to_string();
    let lifetime = u64::try_from(shared.opts.delta_token_lifetime.as_millis()).unwrap_or(u64::MAX);
    if epoch != shared.epoch() || shared.now_ms().saturating_sub(issued) > lifetime {
        return None;
    }
    Some((seq, select))
}

fn page_token(shared: &Shared, set: Set, round: &Round, id: &str, chunk: usize) -> String {
    shared.skiptokens.encode(
        &format!("deltapage:{}", set.name()),
        &format!(
            "{}|{}|{}|{}|{id}|{chunk}|{}",
            shared.epoch(),
            round.since,
            round.upto,
            u8::from(round.initial),
            round.select.sealed
        ),
    )
}

enum PageToken {
    Live(Round, String, usize),
    Expired,
}

fn open_page_token(shared: &Shared, set: Set, token: &str) -> Result<PageToken, GraphError> {
    let raw = shared
        .skiptokens
        .decode(&format!("deltapage:{}", set.name()), token)
        .ok_or_else(GraphError::invalid_skiptoken)?;
    let parts: Vec<&str> = raw.splitn(7, '|').collect();
    let [epoch, since, upto, initial, id, chunk, select] = parts.as_slice() else {
        return Err(GraphError::invalid_skiptoken());
    };
    let num = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| GraphError::invalid_skiptoken())
    };
    if num(epoch)? != shared.epoch() {
        return Ok(PageToken::Expired);
    }
    let round = Round {
        since: num(since)?,
        upto: num(upto)?,
        initial: *initial == "1",
        select: unseal_select(set, select)?,
    };
    let chunk = usize::try_from(num(chunk)?).map_err(|_| GraphError::invalid_skiptoken())?;
    Ok(PageToken::Live(round, (*id).to_string(), chunk))
}

async fn delta(
    shared: &Shared,
    caller: &Caller,
    set: Set,
    raw: Option<&str>,
) -> Result<Response, GraphError> {
    caller.require(set.entity())?;
    let params = parse_params(raw)?;
    let tenant = shared.tenant.read().await;

    let (round, cursor) = if let Some(token) = params.skiptoken.as_deref() {
        match open_page_token(shared, set, token)? {
            PageToken::Live(round, id, chunk) => (round, Some((id, chunk))),
            PageToken::Expired => return Ok(expired(shared, set)),
        }
    } else {
        match params.deltatoken.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if t.eq_ignore_ascii_case("latest") => {
                let select = resolve_select(set, params.select.as_deref())?;
                let body = json!({
                    "@odata.context": context_url(&shared.base_url, set.name(), &select.selection, false),
                    "@odata.deltaLink": delta_link(shared, set, &deltatoken(shared, set, tenant.seq, &select.sealed)),
                    "value": [],
                });
                return Ok(GraphJson {
                    body,
                    resource_units: 1,
                }
                .into_response());
            }
            Some(t) => {
                // A token from another emulator instance is as good as expired: the client
                // must start over (docs/graph-behaviour.md §8, "Expired state").
                let Some((since, sealed)) = open_deltatoken(shared, set, t) else {
                    return Ok(expired(shared, set));
                };
                let round = Round {
                    since,
                    upto: tenant.seq,
                    initial: false,
                    select: unseal_select(set, &sealed)?,
                };
                (round, None)
            }
            None => {
                let round = Round {
                    since: 0,
                    upto: tenant.seq,
                    initial: true,
                    select: resolve_select(set, params.select.as_deref())?,
                };
                (round, None)
            }
        }
    };

    let page_size = shared.opts.page_size;
    // Replays repeat the previous page's last item; with one-item pages that would never end.
    let replay = shared.opts.delta_replays && page_size >= 2;
    let (start_id, start_chunk) = match &cursor {
        Some((id, chunk)) => (Some(id.as_str()), if replay { *chunk } else { chunk + 1 }),
        None => (None, 0),
    };
    let ids = candidate_ids(&tenant, set, &round, start_id);
    let mut items: Vec<Value> = Vec::new();
    let mut last: Option<(String, usize)> = None;
    let mut more = false;
    'outer: for id in ids {
        let pieces = render(&tenant, set, &round, &id, shared.opts.members_per_page);
        let skip = if Some(id.as_str()) == start_id {
            start_chunk
        } else {
            0
        };
        for (i, piece) in pieces.into_iter().enumerate().skip(skip) {
            if items.len() == page_size {
                more = true;
                break 'outer;
            }
            items.push(piece);
            last = Some((id.clone(), i));
        }
    }

    let mut body = JsonObject::new();
    body.insert(
        "@odata.context".into(),
        json!(context_url(
            &shared.base_url,
            set.name(),
            &round.select.selection,
            false
        )),
    );
    match (more, last) {
        (true, Some((id, chunk))) => {
            let token = page_token(shared, set, &round, &id, chunk);
            body.insert(
                "@odata.nextLink".into(),
                json!(format!(
                    "{}/v1.0/{}/delta?$skiptoken={token}",
                    shared.base_url,
                    set.name()
                )),
            );
        }
        _ => {
            let token = deltatoken(shared, set, round.upto, &round.select.sealed);
            body.insert(
                "@odata.deltaLink".into(),
                json!(delta_link(shared, set, &token)),
            );
        }
    }
    body.insert("value".into(), Value::Array(items));
    Ok(GraphJson {
        body: Value::Object(body),
        resource_units: 1,
    }
    .into_response())
}

fn delta_link(shared: &Shared, set: Set, token: &str) -> String {
    format!(
        "{}/v1.0/{}/delta?$deltatoken={token}",
        shared.base_url,
        set.name()
    )
}

/// Ids a round reports, in id order, from `start` (inclusive: its remaining slices may follow).
fn candidate_ids(
    tenant: &TenantState,
    set: Set,
    round: &Round,
    start: Option<&str>,
) -> Vec<String> {
    let lower = match start {
        Some(s) => Bound::Included(s),
        None => Bound::Unbounded,
    };
    if round.initial {
        let map = match set {
            Set::Users => &tenant.users,
            Set::Groups => &tenant.groups,
        };
        // Bounded so a page costs O(page), not O(tenant): a page never needs more ids than
        // items, and each id yields at least one item.
        return map
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(k, _)| k.clone())
            .take(1 + super::odata::MAX_TOP)
            .collect();
    }
    let ids: BTreeSet<&str> = window(tenant, round)
        .filter(|c| c.kind == set.kind())
        .map(|c| c.id.as_str())
        .collect();
    ids.range::<str, _>((lower, Bound::Unbounded))
        .map(|s| (*s).to_string())
        .collect()
}

fn window<'a>(
    tenant: &'a TenantState,
    round: &Round,
) -> impl Iterator<Item = &'a super::changes::Change> + 'a {
    let start = tenant.changes.partition_point(|c| c.seq <= round.since);
    let upto = round.upto;
    tenant
        .changes
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(move |c| c.seq <= upto)
}

fn removed(id: &str, reason: &str) -> Value {
    json!({"id": id, "@removed": {"reason": reason}})
}

/// Delta omits properties that were never set (docs/graph-behaviour.md §8), unlike list endpoints.
fn delta_project(entity: Entity, obj: &JsonObject, selection: &Selection) -> JsonObject {
    let mut out = JsonObject::new();
    if let Some(id) = obj.get("id") {
        out.insert("id".into(), id.clone());
    }
    let (names, extensions): (Vec<&str>, &[String]) = match selection {
        Selection::Default => (entity.default_props().map(|p| p.name).collect(), &[]),
        Selection::Names(n, ext) => (n.clone(), ext.as_slice()),
    };
    out.extend(super::odata::extension_values(obj, extensions));
    for name in names {
        if name == "id" {
            continue;
        }
        if let Some(v) = obj.get(name).filter(|v| !v.is_null()) {
            out.insert(name.to_string(), v.clone());
        }
    }
    out
}

/// The items one object contributes to a round: one, or several for a group whose
/// `members@delta` is longer than a slice.
fn render(tenant: &TenantState, set: Set, round: &Round, id: &str, per_item: usize) -> Vec<Value> {
    match set {
        Set::Users => {
            let item = if let Some(u) = tenant.users.get(id) {
                Value::Object(delta_project(Entity::User, u, &round.select.selection))
            } else if tenant.deleted_users.contains_key(id) {
                removed(id, "changed")
            } else {
                removed(id, "deleted")
            };
            vec![item]
        }
        Set::Groups => {
            let Some(g) = tenant.groups.get(id) else {
                return vec![removed(id, "deleted")];
            };
            let base = delta_project(Entity::Group, g, &round.select.selection);
            let entries = if round.select.members {
                member_entries(tenant, round, id)
            } else {
                Vec::new()
            };
            if entries.is_empty() {
                return vec![Value::Object(base)];
            }
            entries
                .chunks(per_item.max(1))
                .map(|slice| {
                    let mut item = base.clone();
                    item.insert("members@delta".into(), Value::Array(slice.to_vec()));
                    Value::Object(item)
                })
                .collect()
        }
    }
}

fn member_entries(tenant: &TenantState, round: &Round, gid: &str) -> Vec<Value> {
    let current: &[String] = tenant.members.get(gid).map(Vec::as_slice).unwrap_or(&[]);
    let type_of = |m: &str| tenant.object(m).map(|(e, _)| e.odata_type());
    if round.initial {
        return current
            .iter()
            .filter_map(|m| type_of(m).map(|t| json!({"@odata.type": t, "id": m})))
            .collect();
    }
    // The net effect per member over the window, judged against current membership.
    let mut touched: BTreeMap<&str, &str> = BTreeMap::new();
    for c in window(tenant, round) {
        if c.kind == ChangeKind::Group
            && c.id == gid
            && let Some((m, t, _)) = &c.member
        {
            touched.insert(m.as_str(), t.as_str());
        }
    }
    touched
        .into_iter()
        .map(|(m, t)| {
            if current.binary_search_by(|x| x.as_str().cmp(m)).is_ok() {
                json!({"@odata.type": t, "id": m})
            } else {
                json!({"@odata.type": t, "id": m, "@removed": {"reason": "deleted"}})
            }
        })
        .collect()
}
