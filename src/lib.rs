//! o365-ldap: an LDAP directory server whose contents come from a Microsoft 365 tenant.
//!
//! This crate is the server: LDAP listeners and operations, authentication, the sync engine,
//! the store, the admin socket and the command line. What it serves is built in the crates
//! under `crates/`, each of which only uses the ones below it: `model` (Graph objects, the
//! mirror, time), `config`, `graph` (the Graph client) and `directory` (policy, derivation,
//! schema, filters, the snapshot). The Graph emulator (`crates/emulator`) is linked only with
//! the `demo` feature.

#![warn(unreachable_pub)]

pub mod admin;
pub mod auth;
pub mod cli;
pub mod ldap;
pub(crate) mod logging;
pub mod ops;
pub(crate) mod peer;
pub mod settings;
pub mod store;
pub mod sync;
