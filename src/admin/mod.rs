//! The admin socket: a Unix socket (mode 0600, peer uid root or the server's own) carrying
//! one JSON request per line and JSON lines back (progress while a sync runs, then a result).
//! `o365-ldap ctl` is its client; both speak the types of `protocol.rs`.

pub mod client;
pub(crate) mod inspect;
pub(crate) mod protocol;
pub(crate) mod server;
pub(crate) mod ssh_keys;

pub use protocol::*;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("admin socket {path}: {message}")]
    Protocol { path: String, message: String },
    #[error("{0}")]
    Remote(String),
}
