//! The directory: DNs, schema and matching, entries, filters, ID allocation, entry building and
//! the immutable `Snapshot` served to LDAP clients.

pub mod build;
pub mod entry;
pub mod ids;
pub mod snapshot;

pub use entry::{Attr, Entry, EntryKind};
pub use snapshot::{EntryId, SearchError, Snapshot, TenantInfo};
