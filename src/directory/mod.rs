//! The directory: DNs, schema and matching, entries, filters, and the immutable `Snapshot`
//! served to LDAP clients.

pub mod entry;

pub use entry::{Attr, Entry, EntryKind};
