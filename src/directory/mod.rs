//! The directory: DNs, schema and matching, entries, filters, and the immutable `Snapshot`
//! served to LDAP clients.

pub mod dn;
pub mod entry;
pub mod filter;
pub mod schema;

pub use dn::{Dn, DnError};
pub use entry::{Attr, Entry, EntryKind};
pub use filter::{CompiledFilter, FilterLimitError, Membership, Tri};
