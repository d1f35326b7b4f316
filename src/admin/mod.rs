//! The admin socket: a Unix socket (mode 0600, peer uid root or the server's own) carrying
//! one JSON request per line and JSON lines back (progress while a sync runs, then a result).
//! `o365-ldap ctl` is its client.

pub mod client;
pub mod inspect;
pub mod server;
pub mod ssh_keys;

use serde::{Deserialize, Serialize};

/// One request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Sync {
        #[serde(default)]
        tenant: Option<String>,
        #[serde(default)]
        full: bool,
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        force: bool,
    },
    History {
        #[serde(default)]
        tenant: Option<String>,
    },
    Explain {
        who: String,
    },
    Verify {
        #[serde(default)]
        tenant: Option<String>,
    },
    /// Set (or with `password: null`, remove) a user's local password.
    SetPassword {
        user: String,
        #[serde(default)]
        password: Option<String>,
    },
    /// Admin-managed SSH keys of a user (`ctl ssh-key add|remove|list`). `key`: the key line to
    /// add, or the line or SHA256 fingerprint to remove.
    SshKey {
        action: SshKeyAction,
        user: String,
        #[serde(default)]
        key: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SshKeyAction {
    Add,
    Remove,
    List,
}

/// One response line; a request gets any number of `Progress` lines, then exactly one
/// `Result` or `Error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Progress { message: String },
    Result { data: serde_json::Value },
    Error { message: String },
}

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
