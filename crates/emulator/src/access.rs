//! Who may read what: the bearer-token check every Graph route starts with, and the application
//! permissions each entity type needs (docs/graph-behaviour.md §6).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::reply::GraphError;
use super::schema::Entity;
use super::state::Shared;
use super::token::TokenCheck;

/// Application permissions a fixture app may be granted. Unknown names are fixture errors so a
/// typo does not silently turn into a 403.
pub(crate) const KNOWN_PERMISSIONS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "User.ReadBasic.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Member.Read.Hidden",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Domain.Read.All",
    "Domain.ReadWrite.All",
    "Device.Read.All",
    "Device.ReadWrite.All",
    "Application.Read.All",
    "Application.ReadWrite.All",
    "OrgContact.Read.All",
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "AuditLog.Read.All",
    "Mail.Send",
];

pub(crate) fn is_known_permission(name: &str) -> bool {
    KNOWN_PERMISSIONS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(name))
}

/// Permissions that grant full read access to objects of a type.
fn readers(entity: Entity) -> &'static [&'static str] {
    match entity {
        Entity::User => &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        Entity::Group => &[
            "GroupMember.Read.All",
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        Entity::Device => &[
            "Device.Read.All",
            "Device.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        Entity::ServicePrincipal => &[
            "Application.Read.All",
            "Application.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        Entity::OrgContact => &[
            "OrgContact.Read.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        Entity::Domain => &[
            "Domain.Read.All",
            "Domain.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        Entity::Organization => &[
            "Organization.Read.All",
            "Organization.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    }
}

/// What a caller may see of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    Full,
    /// docs/graph-behaviour.md §6, "limited information": `@odata.type` and `id`, everything else
    /// `null`.
    IdOnly,
}

/// The app behind a valid bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub permissions: Arc<[String]>,
}

impl Caller {
    fn has_any(&self, wanted: &[&str]) -> bool {
        self.permissions
            .iter()
            .any(|p| wanted.iter().any(|w| w.eq_ignore_ascii_case(p)))
    }

    /// Whether the token carries the application permission `name`.
    pub fn has_permission(&self, name: &str) -> bool {
        self.has_any(&[name])
    }

    pub fn can_read(&self, entity: Entity) -> bool {
        self.has_any(readers(entity))
    }

    /// 403 `Authorization_RequestDenied` unless the caller can read `entity`.
    pub fn require(&self, entity: Entity) -> Result<(), GraphError> {
        if self.can_read(entity) {
            Ok(())
        } else {
            Err(GraphError::denied())
        }
    }

    pub fn visibility(&self, entity: Entity) -> Visibility {
        if self.can_read(entity) {
            Visibility::Full
        } else {
            Visibility::IdOnly
        }
    }

    /// `/organization` is readable in part with a user-reading permission: the documented
    /// limited view (`id`, `displayName`, `verifiedDomains`) that `User.Read` gets. Applying it
    /// to app-only `User.Read.All` is an inference [U].
    pub fn organization_view(&self) -> Result<Visibility, GraphError> {
        if self.can_read(Entity::Organization) {
            Ok(Visibility::Full)
        } else if self.can_read(Entity::User) {
            Ok(Visibility::IdOnly)
        } else {
            Err(GraphError::denied())
        }
    }
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => "",
        };
        if token.is_empty() {
            return Err(GraphError::unauthenticated("Access token is empty."));
        }
        match state.tokens.check(token) {
            TokenCheck::Valid { permissions } => Ok(Caller { permissions }),
            TokenCheck::Expired => Err(GraphError::unauthenticated(
                "Lifetime validation failed, the token is expired.",
            )),
            // What Graph says about a bearer value that is not a token it issued.
            TokenCheck::Unknown => Err(GraphError::unauthenticated(
                "CompactToken parsing failed with error code: 80049217",
            )),
        }
    }
}
