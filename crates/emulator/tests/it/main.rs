//! The emulator over HTTP, one binary: the token endpoint and its grants (`auth`), client
//! assertions signed with a certificate (`cert`), delta queries (`delta`) and the Graph
//! routes, paging and faults (`http`).

mod auth;
mod cert;
mod delta;
mod http;
