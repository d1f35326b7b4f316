//! The data the rest of the server is built on: Microsoft Graph's objects, the tenant mirror
//! they are kept in, time, and secrets. It imports nothing else from the server.

pub mod dn;
pub mod graph;
pub mod mirror;
pub mod secret;
pub mod time;

pub use mirror::{DeletedUser, Mirror};
pub use secret::Secret;
