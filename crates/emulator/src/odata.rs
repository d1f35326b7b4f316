//! OData query options as Graph's directory endpoints interpret them: parsing `$select`, `$top`,
//! `$skiptoken`, `$count`; projecting objects onto default or selected property sets; and building
//! `@odata.context` and absolute `@odata.nextLink` URLs.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::access::Visibility;
use super::fixture::JsonObject;
use super::reply::GraphError;
use super::schema::{Entity, Fill, Returned};
use super::skiptoken::SkipTokenCodec;

/// Graph's page size when `$top` is absent.
pub(crate) const DEFAULT_PAGE: usize = 100;
/// Graph's largest `$top` for users, groups and members.
pub(crate) const MAX_TOP: usize = 999;

#[derive(Debug, Clone, Default)]
pub(crate) struct QueryOptions {
    /// `$select` names as the client spelled them.
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skiptoken: Option<String>,
    pub count: bool,
    /// Every parameter except `$skiptoken`, in request order, for the nextLink.
    carry: Vec<(String, String)>,
}

impl QueryOptions {
    pub fn parse(raw: Option<&str>) -> Result<QueryOptions, GraphError> {
        let mut q = QueryOptions::default();
        let Some(raw) = raw else { return Ok(q) };
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "$select" => {
                    if q.select.is_some() {
                        return Err(GraphError::odata_bad_request(
                            "Query option 'Select' was specified more than once, but it must be specified at most once.",
                        ));
                    }
                    q.select = Some(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                    );
                }
                "$top" => {
                    let n: i64 = value.trim().parse().map_err(|_| {
                        GraphError::odata_bad_request(format!(
                            "Invalid value '{value}' for $top query option found. The $top query option requires a non-negative integer value."
                        ))
                    })?;
                    // Graph's message for an out-of-range page size (docs/graph-behaviour.md §7).
                    let n = usize::try_from(n)
                        .ok()
                        .filter(|n| (1..=MAX_TOP).contains(n))
                        .ok_or_else(|| {
                            GraphError::unsupported_query(format!(
                                "Invalid page size specified: '{n}'. Must be between 1 and {MAX_TOP} inclusive."
                            ))
                        })?;
                    q.top = Some(n);
                }
                "$skiptoken" => {
                    q.skiptoken = Some(value.to_string());
                    continue;
                }
                "$count" => match value.as_ref() {
                    "true" => q.count = true,
                    "false" => q.count = false,
                    other => {
                        return Err(GraphError::odata_bad_request(format!(
                            "Invalid value '{other}' for $count query option found. Valid values are 'true', 'false'."
                        )));
                    }
                },
                "$skip" => {
                    return Err(GraphError::bad_request(
                        "'$skip' is not supported by the service.",
                    ));
                }
                "$filter" | "$search" | "$orderby" | "$expand" | "$apply" | "$compute"
                | "$levels" | "$format" => {
                    return Err(GraphError::unsupported_query(format!(
                        "The Graph emulator does not implement the {lower} query option yet."
                    )));
                }
                other if other.starts_with('$') => {
                    return Err(GraphError::odata_bad_request(format!(
                        "The query parameter '{name}' is not supported."
                    )));
                }
                // Graph ignores parameters that are not system query options.
                _ => {}
            }
            q.carry.push((name.into_owned(), value.into_owned()));
        }
        Ok(q)
    }

    /// `@odata.count` is only honoured with `ConsistencyLevel: eventual`; otherwise `$count=true`
    /// is silently ignored (docs/graph-behaviour.md §7).
    pub fn wants_count(&self, headers: &HeaderMap) -> bool {
        self.count
            && headers
                .get("consistencylevel")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
    }

    /// The cursor carried by `$skiptoken`, checked against the collection it must belong to.
    pub fn cursor(
        &self,
        codec: &SkipTokenCodec,
        scope: &str,
    ) -> Result<Option<String>, GraphError> {
        match &self.skiptoken {
            None => Ok(None),
            Some(t) => codec
                .decode(scope, t)
                .map(Some)
                .ok_or_else(GraphError::invalid_skiptoken),
        }
    }

    /// Items per page: `$top` (or Graph's 100), capped by the emulator's `page_size` option.
    pub fn page_size(&self, cap: usize) -> usize {
        self.top.unwrap_or(DEFAULT_PAGE).min(cap).max(1)
    }

    /// The throttling cost Graph reports: `$select` −1, `$top` < 20 −1, minimum 1
    /// (docs/graph-behaviour.md §10).
    pub fn resource_units(&self, base: u32) -> u32 {
        let mut cost = base;
        if self.select.is_some() {
            cost = cost.saturating_sub(1);
        }
        if self.top.is_some_and(|t| t < 20) {
            cost = cost.saturating_sub(1);
        }
        cost.max(1)
    }

    /// An absolute nextLink on the emulator's own base URL, carrying the original options.
    pub fn next_link(&self, base_url: &str, path: &str, skiptoken: &str) -> String {
        let mut url = format!("{base_url}{path}?");
        for (name, value) in &self.carry {
            url.push_str(&encode_component(name));
            url.push('=');
            url.push_str(&encode_component(value));
            url.push('&');
        }
        url.push_str("$skiptoken=");
        url.push_str(&encode_component(skiptoken));
        url
    }
}

/// Percent-encodes a query component but leaves `$` and `,` readable, as Graph's links do.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$,'()*!:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Which properties to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// No `$select`: each type's default property set.
    Default,
    /// Canonical property names, in the order the client asked for them, then the directory
    /// extension properties asked for (users and groups; returned only where set, as Graph does).
    Names(Vec<&'static str>, Vec<String>),
}

impl Selection {
    /// Resolves `$select` against one entity type. Unknown names are 400s; properties Graph only
    /// returns on a single-object GET are 501s on collections.
    pub fn for_entity(
        entity: Entity,
        select: Option<&[String]>,
        collection: bool,
    ) -> Result<Selection, GraphError> {
        Selection::resolve(&[entity], entity.type_name(), select, collection)
    }

    /// Resolves `$select` for a `directoryObject` collection (members): a name is valid if any
    /// member type has it; types without it simply omit it.
    pub fn for_members(select: Option<&[String]>) -> Result<Selection, GraphError> {
        Selection::resolve(
            &Entity::MEMBER_TYPES,
            "microsoft.graph.directoryObject",
            select,
            true,
        )
    }

    fn resolve(
        types: &[Entity],
        type_name: &str,
        select: Option<&[String]>,
        collection: bool,
    ) -> Result<Selection, GraphError> {
        let Some(names) = select else {
            return Ok(Selection::Default);
        };
        let mut out: Vec<&'static str> = Vec::new();
        let mut extensions: Vec<String> = Vec::new();
        let mut push = |name: &'static str| {
            if !out.contains(&name) {
                out.push(name);
            }
        };
        for name in names {
            if name == "*" {
                for entity in types {
                    for p in entity.props() {
                        if !(collection && p.returned == Returned::SingleOnly) {
                            push(p.name);
                        }
                    }
                }
                continue;
            }
            let found: Vec<_> = types.iter().filter_map(|e| e.prop(name)).collect();
            if found.is_empty()
                && types
                    .iter()
                    .any(|e| matches!(e, Entity::User | Entity::Group))
                && model::graph::is_extension_property(name)
            {
                if !extensions.iter().any(|x| x.eq_ignore_ascii_case(name)) {
                    extensions.push(name.clone());
                }
                continue;
            }
            let Some(first) = found.first() else {
                return Err(GraphError::bad_request(format!(
                    "Could not find a property named '{name}' on type '{type_name}'."
                )));
            };
            if collection && found.iter().all(|p| p.returned == Returned::SingleOnly) {
                return Err(GraphError::not_implemented());
            }
            push(first.name);
        }
        Ok(Selection::Names(out, extensions))
    }

    /// The `(a,b,c)` suffix of `@odata.context`.
    fn context_suffix(&self) -> String {
        match self {
            Selection::Default => String::new(),
            Selection::Names(n, ext) => {
                let all: Vec<&str> = n
                    .iter()
                    .copied()
                    .chain(ext.iter().map(String::as_str))
                    .collect();
                format!("({})", all.join(","))
            }
        }
    }
}

fn fill_value(fill: Fill) -> Value {
    match fill {
        Fill::Null => Value::Null,
        Fill::EmptyList => json!([]),
        Fill::ExtensionAttributes => extension_attributes(None),
    }
}

/// Graph always returns all fifteen extension attributes, `null` where unset.
fn extension_attributes(given: Option<&JsonObject>) -> Value {
    let mut out = JsonObject::new();
    for i in 1..=15 {
        let key = format!("extensionAttribute{i}");
        let v = given
            .and_then(|g| g.get(&key))
            .cloned()
            .unwrap_or(Value::Null);
        out.insert(key, v);
    }
    Value::Object(out)
}

/// Projects a stored object onto the selected (or default) properties of its type.
/// `typed` adds `@odata.type`, as collections of mixed `directoryObject`s carry.
pub(crate) fn project(
    entity: Entity,
    obj: &JsonObject,
    selection: &Selection,
    visibility: Visibility,
    typed: bool,
) -> JsonObject {
    let mut out = JsonObject::new();
    if typed {
        out.insert("@odata.type".into(), json!(entity.odata_type()));
    }
    let mut emit = |prop: &super::schema::Prop| {
        let value = if visibility == Visibility::IdOnly && prop.name != "id" {
            Value::Null
        } else {
            match (prop.fill, obj.get(prop.name)) {
                (Fill::ExtensionAttributes, Some(Value::Object(given))) => {
                    extension_attributes(Some(given))
                }
                (_, Some(v)) => v.clone(),
                (fill, None) => fill_value(fill),
            }
        };
        out.insert(prop.name.to_string(), value);
    };
    match selection {
        Selection::Default => entity.default_props().for_each(&mut emit),
        Selection::Names(names, extensions) => {
            names
                .iter()
                .filter_map(|n| entity.prop_exact(n))
                .for_each(&mut emit);
            for (name, value) in extension_values(obj, extensions) {
                if visibility != Visibility::IdOnly {
                    out.insert(name, value);
                }
            }
        }
    }
    out
}

/// The set directory extension properties of `obj` among `names` (matched case-insensitively),
/// under the name the object stores them with; unset ones are left out, as Graph does.
pub(crate) fn extension_values(obj: &JsonObject, names: &[String]) -> Vec<(String, Value)> {
    names
        .iter()
        .filter_map(|n| {
            obj.iter()
                .find(|(k, v)| k.eq_ignore_ascii_case(n) && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
        })
        .collect()
}

/// `{base}/v1.0/$metadata#users(id,displayName)` (`/$entity` for a single object).
pub(crate) fn context_url(
    base_url: &str,
    set: &str,
    selection: &Selection,
    single: bool,
) -> String {
    format!(
        "{base_url}/v1.0/$metadata#{set}{}{}",
        selection.context_suffix(),
        if single { "/$entity" } else { "" }
    )
}

/// A collection response body; `@odata.count` only on the first page.
pub(crate) fn collection_body(
    context: String,
    items: Vec<Value>,
    next_link: Option<String>,
    count: Option<usize>,
) -> Value {
    let mut body = JsonObject::new();
    body.insert("@odata.context".into(), json!(context));
    if let Some(c) = count {
        body.insert("@odata.count".into(), json!(c));
    }
    if let Some(link) = next_link {
        body.insert("@odata.nextLink".into(), json!(link));
    }
    body.insert("value".into(), Value::Array(items));
    Value::Object(body)
}

/// Takes one page from an id-ordered iterator; the second value is the cursor for the next page
/// (the last id taken) when more items follow.
pub(crate) fn take_page<K, V, I>(mut iter: I, size: usize) -> (Vec<V>, Option<String>)
where
    K: AsRef<str>,
    I: Iterator<Item = (K, V)>,
{
    let mut items = Vec::with_capacity(size.min(1024));
    let mut last: Option<String> = None;
    for (k, v) in iter.by_ref().take(size) {
        last = Some(k.as_ref().to_string());
        items.push(v);
    }
    let next = if iter.next().is_some() { last } else { None };
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<QueryOptions, GraphError> {
        QueryOptions::parse(Some(q))
    }

    #[test]
    fn top_bounds_follow_graph() {
        assert_eq!(parse("$top=999").map(|q| q.top).ok().flatten(), Some(999));
        let err = parse("$top=1000").err();
        assert_eq!(
            err.map(|e| (e.code, e.message)),
            Some((
                "Request_UnsupportedQuery".to_string(),
                "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
                    .to_string()
            ))
        );
        assert!(parse("$top=0").is_err());
        assert_eq!(
            parse("$top=abc").err().map(|e| e.code),
            Some("BadRequest".into())
        );
        assert_eq!(
            parse("$skip=5").err().map(|e| e.code),
            Some("Request_BadRequest".into())
        );
    }

    #[test]
    fn page_size_is_top_capped_by_option() {
        let q = parse("$top=999").unwrap_or_default();
        assert_eq!(q.page_size(5), 5);
        assert_eq!(QueryOptions::default().page_size(999), 100);
        assert_eq!(parse("$top=3").unwrap_or_default().page_size(100), 3);
    }

    #[test]
    fn next_link_keeps_options_and_drops_old_token() {
        let q = parse("$select=id,displayName&$top=5&$skiptoken=OLD&foo=a%20b").unwrap_or_default();
        assert_eq!(
            q.next_link("http://127.0.0.1:1", "/v1.0/users", "NEW"),
            "http://127.0.0.1:1/v1.0/users?$select=id,displayName&$top=5&foo=a%20b&$skiptoken=NEW"
        );
    }

    #[test]
    fn select_resolution() {
        let names = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            Selection::for_entity(
                Entity::User,
                names(&["ID", "displayName", "id"]).as_deref(),
                true
            ),
            Ok(Selection::Names(vec!["id", "displayName"], vec![]))
        );
        assert_eq!(
            Selection::for_entity(
                Entity::User,
                names(&["id", "extension_0a1b_sshKeys"]).as_deref(),
                true
            )
            .ok(),
            Some(Selection::Names(
                vec!["id"],
                vec!["extension_0a1b_sshKeys".into()]
            ))
        );
        assert_eq!(
            Selection::for_entity(Entity::Group, names(&["extension_0a1b_x"]).as_deref(), true)
                .ok(),
            Some(Selection::Names(vec![], vec!["extension_0a1b_x".into()])),
            "groups have directory extensions too"
        );
        assert!(
            Selection::for_entity(
                Entity::Domain,
                names(&["extension_0a1b_x"]).as_deref(),
                true
            )
            .is_err(),
            "domains have no extensions"
        );
        let err = Selection::for_entity(Entity::User, names(&["x"]).as_deref(), true).err();
        assert_eq!(
            err.map(|e| e.message),
            Some("Could not find a property named 'x' on type 'microsoft.graph.user'.".into())
        );
        let skills = Selection::for_entity(Entity::User, names(&["skills"]).as_deref(), true);
        assert_eq!(skills.err().map(|e| e.status.as_u16()), Some(501));
        assert!(Selection::for_entity(Entity::User, names(&["skills"]).as_deref(), false).is_ok());
        // Members: a group-only property is fine; nonsense is not.
        assert!(
            Selection::for_members(names(&["securityEnabled", "userPrincipalName"]).as_deref())
                .is_ok()
        );
        assert!(Selection::for_members(names(&["nope"]).as_deref()).is_err());
    }

    #[test]
    fn projection_fills_nulls_and_limits() {
        let mut user = JsonObject::new();
        user.insert("id".into(), json!("1"));
        user.insert("displayName".into(), json!("A"));
        user.insert(
            "onPremisesExtensionAttributes".into(),
            json!({"extensionAttribute3": "x"}),
        );
        user.insert("extension_0a1b_sshKeys".into(), json!("ssh-ed25519 AAAA"));
        let sel = Selection::Names(
            vec![
                "displayName",
                "mail",
                "proxyAddresses",
                "onPremisesExtensionAttributes",
            ],
            vec![
                "EXTENSION_0a1b_sshkeys".into(),
                "extension_0a1b_unset".into(),
            ],
        );
        let p = project(Entity::User, &user, &sel, Visibility::Full, false);
        // A directory extension comes back under its own name where set, and not at all unset.
        assert_eq!(
            p.get("extension_0a1b_sshKeys"),
            Some(&json!("ssh-ed25519 AAAA"))
        );
        assert!(!p.contains_key("extension_0a1b_unset"));
        assert_eq!(p.get("mail"), Some(&Value::Null));
        assert_eq!(p.get("proxyAddresses"), Some(&json!([])));
        let ext = p
            .get("onPremisesExtensionAttributes")
            .and_then(Value::as_object);
        assert_eq!(ext.map(|e| e.len()), Some(15));
        assert_eq!(
            ext.and_then(|e| e.get("extensionAttribute3")),
            Some(&json!("x"))
        );
        assert!(!p.contains_key("id"));

        let limited = project(
            Entity::User,
            &user,
            &Selection::Default,
            Visibility::IdOnly,
            true,
        );
        assert_eq!(limited.get("id"), Some(&json!("1")));
        assert_eq!(limited.get("displayName"), Some(&Value::Null));
        assert_eq!(
            limited.get("@odata.type"),
            Some(&json!("#microsoft.graph.user"))
        );
        assert_eq!(limited.len(), 12);
    }

    #[test]
    fn take_page_reports_a_cursor_only_when_more_follow() {
        let ids = ["a", "b", "c"];
        let (items, next) = take_page(ids.iter().map(|s| (*s, *s)), 2);
        assert_eq!((items, next.as_deref()), (vec!["a", "b"], Some("b")));
        let (items, next) = take_page(ids.iter().map(|s| (*s, *s)), 3);
        assert_eq!((items.len(), next), (3, None));
    }
}
