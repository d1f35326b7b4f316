//! Errors the emulator's public API returns (fixture loading and validation, binding the listener).

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read fixture {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("fixture is not valid JSON for the emulator's format: {0}")]
    Parse(#[from] serde_json::Error),

    /// The fixture parsed but describes something Microsoft Graph would never return
    /// (duplicate ids, a member that does not exist, a UPN on an unverified domain, ...).
    #[error("invalid fixture: {0}")]
    Invalid(String),

    #[error("invalid emulator option: {0}")]
    Options(String),

    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
