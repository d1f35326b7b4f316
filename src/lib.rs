//! o365-ldap: an LDAP directory server whose contents come from a Microsoft 365 tenant.
//! See DESIGN.md (in the shared folder) for the architecture; each module owns one concern.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod ldap;
pub mod settings;
pub mod store;
pub mod sync;

// The lower crates under the paths the server's modules and tests have always used.
pub use config;
pub use directory;
pub use directory::policy;
pub use graph;
pub use model;
