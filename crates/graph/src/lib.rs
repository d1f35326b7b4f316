//! Microsoft Graph client: tokens, paging, throttling, typed objects.
//!
//! National clouds (docs/graph-behaviour.md §1) need no special casing: everything derives from the
//! two configured roots. Requests go to `{graph_url}/v1.0/…`, the app-only scope is
//! `{graph_url}/.default` (so `https://graph.microsoft.us` asks for
//! `https://graph.microsoft.us/.default`), and tokens (and the `aud` of certificate assertions)
//! come from `{login_url}/{tenant_id}/oauth2/v2.0/token`. Tokens do not cross clouds, which is why
//! both roots are separate settings that must name the same cloud.

pub mod certificate;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod http;
mod models;
pub mod options;
pub mod retry;
pub mod ropc;
pub mod stats;
pub mod token;
pub mod verify;

#[cfg(test)]
mod test_server;

pub use certificate::{CertificateError, CertificateKey};
pub use client::{ClientOptions, GraphClient, Page};
pub use error::{ApiError, GraphError, GraphErrorBody, TokenError, TokenErrorBody};
pub use options::{CredentialSource, CredentialSpec, TenantOptions};
pub use retry::{RetryNotify, RetryPolicy, parse_retry_after};
pub use token::{AccessToken, Credential, TokenSource};
pub use verify::{CredentialCheck, Probe, ProbeOutcome, verify_tenant, verify_tenant_with};
