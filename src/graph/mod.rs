//! Microsoft Graph client: tokens, paging, throttling, typed objects.

pub mod certificate;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod models;
pub mod retry;
pub mod token;
pub mod verify;

#[cfg(test)]
mod test_server;

pub use certificate::{CertificateError, CertificateKey};
pub use client::{ClientOptions, GraphClient, Page};
pub use error::{ApiError, GraphError, GraphErrorBody, TokenError, TokenErrorBody};
pub use retry::{RetryPolicy, parse_retry_after};
pub use token::{AccessToken, Credential, TokenSource};
pub use verify::{CredentialCheck, Probe, ProbeOutcome, verify_tenant, verify_tenant_with};
