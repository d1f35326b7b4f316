//! Search (RFC 4511 §4.5): base resolution and access, scopes, size limits, attribute
//! selection, typesOnly and simple paged results. Entries are encoded lazily, one at a time,
//! straight to BER by `encode_entry` (directory entries) and `encode_synthetic` (rootDSE,
//! subschema), both through `ldap::ber`.

use crate::ldap::LdapContext;
use crate::ldap::access::{self, Target};
use crate::ldap::attrs::Selection;
use crate::ldap::ber::{self, Values};
use crate::ldap::dir::{self, EntryId, SearchError, Snapshot};
use crate::ldap::error::OpError;
use crate::ldap::handler::{Reply, Response, result};
use crate::ldap::result_ids::ResultIds;
use crate::ldap::rootdse::root_dse;
use crate::ldap::session::Session;
use crate::ldap::subschema::subschema_entry;
use crate::ldap::synthetic::{SyntheticEntry, Visibility};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapFilter, LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest, LdapSearchScope,
};
use std::ops::Range;
use std::sync::Arc;

/// Operational attributes of directory entries, in the order they are returned.
pub(crate) const OPERATIONAL: &[&str] = &[
    "structuralObjectClass",
    "entryDN",
    "subschemaSubentry",
    "hasSubordinates",
    "createTimestamp",
    "modifyTimestamp",
];

/// The matching entries of one search, on the snapshot it ran on (kept alive, so later pages
/// of a paged search are consistent even after a new snapshot is swapped in).
pub(crate) struct ResultSet {
    snapshot: Arc<Snapshot>,
    ids: ResultIds,
    selection: Arc<Selection>,
    typesonly: bool,
    /// The client's size limit cut the result short.
    truncated: bool,
}

impl std::fmt::Debug for ResultSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultSet")
            .field("generation", &self.snapshot.generation)
            .field("entries", &self.ids.len())
            .field("truncated", &self.truncated)
            .finish_non_exhaustive()
    }
}

/// A run of result entries to send.
#[derive(Debug)]
pub struct EntryBatch {
    msgid: i32,
    set: Arc<ResultSet>,
    range: Range<usize>,
}

impl EntryBatch {
    pub fn len(&self) -> usize {
        self.range.len()
    }

    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// Append encoded entries to `out`, starting at the batch's `start`-th entry, until `out`
    /// holds at least `chunk` bytes or the batch ends. Returns where to continue (`len()` when
    /// done), so a large result is written while it is encoded.
    pub fn encode_from(&self, out: &mut Vec<u8>, start: usize, chunk: usize) -> usize {
        let from = self.range.start.saturating_add(start);
        let mut i = start;
        for id in self.set.ids.range(from..self.range.end) {
            encode_entry(
                out,
                self.msgid,
                &self.set.snapshot,
                id,
                &self.set.selection,
                self.set.typesonly,
            );
            i += 1;
            if out.len() >= chunk {
                break;
            }
        }
        i
    }

    /// The entries as messages, decoded from the bytes `encode_from` writes (tests and simple
    /// transports).
    pub fn messages(&self) -> Vec<LdapMsg> {
        let mut bytes = Vec::new();
        self.encode_from(&mut bytes, 0, usize::MAX);
        crate::ldap::handler::decode_messages(&bytes)
    }
}

/// No values when the client asked for types only.
fn vals(v: Values<'_>, typesonly: bool) -> Values<'_> {
    if typesonly { Values::Str(&[]) } else { v }
}

/// The values of operational attribute `op` of entry `id`; `hasSubordinates` asks the
/// snapshot, which knows the entry's children.
fn operational_values(snapshot: &Snapshot, id: EntryId, op: &str) -> Option<Vec<String>> {
    if op == "hasSubordinates" {
        let has = if snapshot.has_children(id) {
            "TRUE"
        } else {
            "FALSE"
        };
        Some(vec![has.to_owned()])
    } else {
        dir::operational_value(snapshot.entry(id), op)
    }
}

/// Append one directory entry as SearchResultEntry bytes, written without building an
/// `LdapMsg` (tests hold the bytes to ldap3_proto's encoding).
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    msgid: i32,
    snapshot: &Snapshot,
    id: EntryId,
    sel: &Selection,
    typesonly: bool,
) {
    let e = snapshot.entry(id);
    let operational: Vec<(&'static str, Vec<String>)> = OPERATIONAL
        .iter()
        .filter(|op| sel.operational_wanted(op))
        .filter_map(|op| Some((*op, operational_values(snapshot, id, op)?)))
        .collect();
    // Entries have a few dozen attributes; counting them first would walk the entry twice.
    let mut attrs: Vec<ber::Attr<'_>> = Vec::with_capacity(32);
    if sel.all_user || !sel.named.is_empty() {
        for a in &e.attrs {
            if sel.all_user || sel.names_id(a.id) {
                attrs.push(ber::Attr {
                    name: a.name.into(),
                    values: vals(Values::Packed(a.values), typesonly),
                });
            }
        }
    }
    for (op, values) in &operational {
        sel.each_name(op, sel.all_operational, |name| {
            attrs.push(ber::Attr {
                name,
                values: vals(Values::Owned(values), typesonly),
            })
        });
    }
    ber::search_result_entry(out, msgid, e.dn(), &attrs);
}

/// Append a synthetic entry (rootDSE, subschema) as SearchResultEntry bytes, like
/// `encode_entry`; each attribute's `Visibility` decides whether `*` or `+` selects it.
pub(crate) fn encode_synthetic(
    out: &mut Vec<u8>,
    msgid: i32,
    entry: &SyntheticEntry,
    sel: &Selection,
    typesonly: bool,
) {
    let mut attrs: Vec<ber::Attr<'_>> = Vec::new();
    for (a, visibility) in entry.attrs() {
        let all = match visibility {
            Visibility::User => sel.all_user,
            Visibility::Operational => sel.all_operational,
            Visibility::Always => sel.all_user || sel.all_operational,
        };
        sel.each_name(a.name, all, |name| {
            attrs.push(ber::Attr {
                name,
                values: vals(Values::Packed(a.values), typesonly),
            })
        });
    }
    ber::search_result_entry(out, msgid, entry.entry.dn(), &attrs);
}

fn done(msgid: i32, res: LdapResult, ctrl: Vec<LdapControl>) -> LdapMsg {
    LdapMsg::new_with_ctrls(msgid, LdapOp::SearchResultDone(res), ctrl)
}

/// The entries `range` of `set`, then the SearchResultDone with `res` and `ctrl`.
fn entries_then_done(
    msgid: i32,
    set: Arc<ResultSet>,
    range: Range<usize>,
    res: LdapResult,
    ctrl: Vec<LdapControl>,
) -> Response {
    Response {
        replies: vec![
            Reply::Entries(EntryBatch { msgid, set, range }),
            Reply::Msg(done(msgid, res, ctrl)),
        ],
        action: crate::ldap::handler::Action::Continue,
    }
}

fn fail(msgid: i32, error: OpError) -> Response {
    Response::one(done(msgid, error.result(), Vec::new()))
}

fn paged_control(total: usize, cookie: Vec<u8>) -> LdapControl {
    LdapControl::SimplePagedResults {
        size: i64::try_from(total).unwrap_or(i64::MAX),
        cookie,
    }
}

fn size_limit_result(limit: usize) -> LdapResult {
    result(
        LdapResultCode::SizeLimitExceeded,
        format!(
            "size limit of {limit} entries exceeded; narrow the filter or use the paged results control"
        ),
    )
}

/// Where a search looks, once access is settled.
enum Scope {
    /// Below one entry of a tenant (`ndn`), with the request's scope.
    Tenant(String, LdapSearchScope),
    /// Below the rootDSE: the naming contexts (normalised base DNs) with a scope each.
    Tenants(Vec<String>, LdapSearchScope),
}

/// Above this many candidate entries a search runs on a blocking thread, a few at a time, so
/// it cannot hold up the connections served on the runtime's threads meanwhile. Index-answered
/// lookups (`(uid=…)`, base lookups) stay far below it.
const HEAVY_SEARCH: usize = 20_000;

impl Scope {
    fn cost(&self, snapshot: &Snapshot, f: &LdapFilter) -> usize {
        match self {
            Scope::Tenant(ndn, scope) => snapshot.search_cost(ndn, scope, f),
            Scope::Tenants(bases, scope) => bases
                .iter()
                .map(|b| snapshot.search_cost(b, scope, f))
                .sum(),
        }
    }

    /// `find` when it costs at most `HEAVY_SEARCH`, else `Ok(None)`. A search below one
    /// entry asks the indexes once for both the cost and the result.
    fn find_if_cheap(
        &self,
        snapshot: &Snapshot,
        f: &LdapFilter,
    ) -> Result<Option<Vec<EntryId>>, SearchError> {
        match self {
            Scope::Tenant(ndn, scope) if *scope != LdapSearchScope::Children => {
                snapshot.search_if_cheap(ndn, scope.clone(), f, HEAVY_SEARCH)
            }
            _ if self.cost(snapshot, f) <= HEAVY_SEARCH => self.find(snapshot, f).map(Some),
            _ => Ok(None),
        }
    }

    /// The matching entries, in DIT order. The subordinate-subtree scope (`children`) is a
    /// subtree search without the base entry.
    fn find(&self, snapshot: &Snapshot, f: &LdapFilter) -> Result<Vec<EntryId>, SearchError> {
        match self {
            Scope::Tenant(ndn, LdapSearchScope::Children) => {
                let base = snapshot.lookup(ndn);
                let mut ids = snapshot.search(ndn, LdapSearchScope::Subtree, f)?;
                ids.retain(|id| Some(*id) != base);
                Ok(ids)
            }
            Scope::Tenant(ndn, scope) => snapshot.search(ndn, scope.clone(), f),
            Scope::Tenants(bases, scope) => {
                let mut ids = Vec::new();
                for b in bases {
                    if let Ok(found) = snapshot.search(b, scope.clone(), f) {
                        ids.extend(found);
                    }
                }
                Ok(ids)
            }
        }
    }
}

/// `scope.find`, on a blocking thread (under `ctx.heavy_searches`) when it is expensive.
async fn find(
    ctx: &LdapContext,
    snapshot: &Arc<Snapshot>,
    scope: Scope,
    f: &LdapFilter,
) -> Result<Vec<EntryId>, OpError> {
    let not_found = |e: SearchError| match e {
        SearchError::NoSuchObject { matched_dn } => OpError::no_such_object().matched(matched_dn),
    };
    if let Some(ids) = scope.find_if_cheap(snapshot, f).map_err(not_found)? {
        return Ok(ids);
    }
    let _permit =
        ctx.heavy_searches.acquire().await.map_err(|_| {
            OpError::new(LdapResultCode::Unavailable, "the server is shutting down")
        })?;
    let (snapshot, f) = (Arc::clone(snapshot), f.clone());
    tokio::task::spawn_blocking(move || scope.find(&snapshot, &f))
        .await
        .map_err(|_| OpError::new(LdapResultCode::Other, "internal error during the search"))?
        .map_err(not_found)
}

pub(crate) async fn search(
    session: &mut Session,
    ctx: &LdapContext,
    msgid: i32,
    req: LdapSearchRequest,
    ctrl: &[LdapControl],
) -> Response {
    let server = &ctx.config.server;
    let paged = ctrl.iter().find_map(|c| match c {
        LdapControl::SimplePagedResults { size, cookie } => {
            Some((usize::try_from(*size).unwrap_or(0), cookie.as_slice()))
        }
        _ => None,
    });
    // Checked before anything else looks at the list: its length alone bounds the work.
    if req.attrs.len() > server.max_attributes {
        return fail(
            msgid,
            OpError::new(
                LdapResultCode::AdminLimitExceeded,
                format!(
                    "the attribute list holds {} descriptions; at most {} are accepted \
                     (server.max_attributes)",
                    req.attrs.len(),
                    server.max_attributes
                ),
            ),
        );
    }
    if let Err(message) = dir::check_filter_limits(
        &req.filter,
        server.max_filter_depth,
        server.max_filter_elements,
    ) {
        return fail(
            msgid,
            OpError::new(LdapResultCode::AdminLimitExceeded, message),
        );
    }

    // On every search, paged or not: a connection that keeps itself busy with other searches
    // must not hold idle result sets (and its identity's quota) past the timeout.
    session.paging.expire(
        std::time::Instant::now(),
        server.paged_search_idle_timeout.get(),
    );
    // A later page of a paged search: answered from the stored result, not searched again.
    if let Some((size, cookie)) = paged
        && !cookie.is_empty()
    {
        return match session.paging.next_page(cookie, &req, size) {
            Ok((page, set)) => {
                let last = page.cookie.is_empty();
                let res = if last && set.truncated {
                    size_limit_result(set.ids.len())
                } else {
                    result(LdapResultCode::Success, "")
                };
                let total = set.ids.len();
                let ctrl = vec![paged_control(total, page.cookie)];
                entries_then_done(msgid, set, page.range, res, ctrl)
            }
            Err(e) => fail(
                msgid,
                OpError::new(LdapResultCode::UnwillingToPerform, e.to_string()),
            ),
        };
    }

    let Some(ndn) = dir::normalize_dn(&req.base) else {
        return fail(
            msgid,
            OpError::new(
                LdapResultCode::InvalidDNSyntax,
                format!("invalid base DN '{}'", req.base),
            ),
        );
    };
    let snapshot = ctx.snapshot.load_full();
    let selection = session.selections.get(&req.attrs);
    let target = match access::resolve(session, ctx, &snapshot, &ndn, &req.scope) {
        Ok(t) => t,
        Err(e) => return fail(msgid, e),
    };
    let scope = match target {
        Target::RootDse | Target::Subschema => {
            let entry = if target == Target::RootDse {
                root_dse(&snapshot, session.starttls_available)
            } else {
                subschema_entry()
            };
            let in_scope = target == Target::RootDse
                || matches!(req.scope, LdapSearchScope::Base | LdapSearchScope::Subtree);
            let mut replies = Vec::new();
            if in_scope && entry.matches(&req.filter) {
                let mut bytes = Vec::new();
                encode_synthetic(&mut bytes, msgid, &entry, &selection, req.typesonly);
                replies.push(Reply::Encoded(bytes));
            }
            let ctrls = match paged {
                Some(_) => vec![paged_control(replies.len(), Vec::new())],
                None => Vec::new(),
            };
            replies.push(Reply::Msg(done(
                msgid,
                result(LdapResultCode::Success, ""),
                ctrls,
            )));
            return Response {
                replies,
                action: crate::ldap::handler::Action::Continue,
            };
        }
        Target::Tenants(tenants) => {
            // Below the rootDSE: one level down are the naming contexts themselves.
            let scope = match req.scope {
                LdapSearchScope::OneLevel => LdapSearchScope::Base,
                _ => LdapSearchScope::Subtree,
            };
            let bases = tenants
                .into_iter()
                .filter_map(|t| snapshot.tenants.get(usize::from(t)))
                .map(|info| info.base_ndn.clone())
                .collect();
            Scope::Tenants(bases, scope)
        }
        Target::Tenant(_) => Scope::Tenant(ndn, req.scope.clone()),
    };
    let ids = match find(ctx, &snapshot, scope, &req.filter).await {
        Ok(ids) => ids,
        Err(e) => return fail(msgid, e),
    };

    let client_limit = usize::try_from(req.sizelimit).ok().filter(|n| *n > 0);
    match paged {
        Some((size, _)) => {
            let mut ids = ids;
            let truncated = client_limit.is_some_and(|l| ids.len() > l);
            if let Some(l) = client_limit {
                ids.truncate(l);
            }
            let total = ids.len();
            let set = Arc::new(ResultSet {
                snapshot,
                ids: ResultIds::new(ids),
                selection,
                typesonly: req.typesonly,
                truncated,
            });
            // A page size of 0 without a cookie asks only for the size estimate.
            let page = if size == 0 {
                crate::ldap::paging::Page {
                    range: 0..0,
                    cookie: Vec::new(),
                }
            } else {
                let identity = session.quota_identity();
                match session.paging.start(
                    req,
                    Arc::clone(&set),
                    total,
                    size,
                    (&ctx.paged_quota, &identity),
                ) {
                    Ok(page) => page,
                    Err(e) => {
                        return fail(
                            msgid,
                            OpError::new(LdapResultCode::AdminLimitExceeded, e.to_string()),
                        );
                    }
                }
            };
            let res = if page.cookie.is_empty() && truncated {
                size_limit_result(total)
            } else {
                result(LdapResultCode::Success, "")
            };
            let ctrl = vec![paged_control(total, page.cookie)];
            entries_then_done(msgid, set, page.range, res, ctrl)
        }
        None => {
            let server_limit = Some(server.size_limit).filter(|n| *n > 0);
            let limit = match (client_limit, server_limit) {
                (Some(c), Some(s)) => Some(c.min(s)),
                (c, s) => c.or(s),
            };
            let mut ids = ids;
            let res = match limit {
                Some(l) if ids.len() > l => {
                    ids.truncate(l);
                    size_limit_result(l)
                }
                _ => result(LdapResultCode::Success, ""),
            };
            let len = ids.len();
            let set = Arc::new(ResultSet {
                snapshot,
                ids: ResultIds::new(ids),
                selection,
                typesonly: req.typesonly,
                truncated: false,
            });
            entries_then_done(msgid, set, 0..len, res, Vec::new())
        }
    }
}
