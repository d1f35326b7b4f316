//! Microsoft Graph client: tokens, paging, throttling, typed objects.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod models;
pub mod retry;
pub mod token;

#[cfg(test)]
mod test_server;

pub use client::{ClientOptions, GraphClient, Page};
pub use error::{ApiError, GraphError, GraphErrorBody, TokenError, TokenErrorBody};
pub use retry::{RetryPolicy, parse_retry_after};
pub use token::{AccessToken, Credential, TokenSource};
