//! Wire types only the Graph client reads; the object types live in the model.

use model::graph::{MemberKind, MemberRef};
use serde::Deserialize;

/// The `$select` list for `/groups/{id}/members`.
pub const MEMBER_SELECT: &str = "id";

/// A directory object as it appears in a `members` collection.
#[derive(Debug, Clone, Deserialize)]
pub struct RawMember {
    pub id: String,
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
}

impl RawMember {
    pub fn to_ref(&self) -> MemberRef {
        MemberRef {
            id: self.id.clone(),
            kind: MemberKind::from_odata_type(self.odata_type.as_deref()),
        }
    }
}
