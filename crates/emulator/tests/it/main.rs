//! The emulator over HTTP, one binary: the token endpoint and its grants (`auth`), client
//! assertions signed with a certificate (`cert`), delta queries (`delta`) and the Graph
//! routes, paging and faults (`http`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test stops at the first thing that is not as expected"
)]

mod auth;
mod cert;
mod delta;
mod http;
mod mail;
