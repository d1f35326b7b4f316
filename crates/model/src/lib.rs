//! The data the rest of the server is built on: Microsoft Graph's objects, the tenant mirror
//! they are kept in, time and the clock it is read from, secrets, and the RFC 4514 DN grammar.
//! It depends on no other crate of the server.

pub mod dn;
pub mod graph;
pub mod mirror;
pub mod secret;
pub mod time;

pub use self::time::Clock;
pub use mirror::{DeletedUser, Mirror};
pub use secret::Secret;
