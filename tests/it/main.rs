//! The server's integration tests, one binary: each module drives the public API, the
//! `o365-ldap` binary (`CARGO_BIN_EXE_o365-ldap`) or both, against the Graph emulator
//! (`o365-emulator`) and real LDAP clients. Shared support is in `tests/common`.
//!
//! Run one file's tests with `cargo test --test it <module>::`, for example
//! `cargo test --test it e2e_ldap::`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test stops at the first thing that is not as expected"
)]

#[path = "../common/mod.rs"]
mod common;

mod admin_ctl;
#[cfg(feature = "demo")]
mod cli;
mod conformance;
mod directory_build;
mod e2e_ldap;
mod graph_verify;
mod hostile;
mod ldap_service;
mod ops_backup;
mod ops_metrics;
mod ops_network;
mod ops_notify;
mod ops_signals;
mod policy_build;
mod policy_combined;
mod posix;
mod scale_out;
mod ssh_keys;
mod sync_credentials;
mod sync_delta;
mod sync_emulator;
mod user_binds;
