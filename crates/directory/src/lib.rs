//! The directory: DNs, schema and matching, entries, filters, ID allocation, entry building and
//! the immutable `Snapshot` served to LDAP clients.

pub mod ad;
pub mod derive;
pub mod dn;
pub mod entry;
pub mod filter;
pub mod ids;
pub mod matching;
pub mod policy;
pub mod posix;
pub mod schema;
pub mod snapshot;
pub mod ssh_keys;

pub use entry::{Attr, Entry, EntryKind, TenantInfo};
pub use filter::{CompiledFilter, FilterLimitError, Membership, Tri};
pub use model::dn::{Dn, DnError};
pub use snapshot::{EntryId, SearchError, Snapshot};
