//! The directory, pure and without I/O: from a tenant's mirror to the entries LDAP clients read.
//! `policy` decides who and what is served; `derive` builds the entries, in full or as a
//! `derive::patch` on the previous snapshot, with numbers and names from `ids` and `posix` and
//! keys from `ssh_keys`; `snapshot` serves them and `filter` evaluates searches over them.
//! Beneath these: `entry`, `dn` (normalised names), `schema` (the catalogue), `matching` (how
//! values compare under a rule) and `ad` (Active Directory spellings in filters).

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
