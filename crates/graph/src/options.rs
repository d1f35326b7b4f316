//! What the Graph client needs to know about a tenant, in its own terms: the server turns its
//! configuration into these, so this module never reads the config file's types.

use model::Secret;
use std::path::PathBuf;

/// One tenant as the client sees it. `graph_url` and `login_url` are validated when a client is
/// built from them.
#[derive(Debug, Clone, Default)]
pub struct TenantOptions {
    /// Display name for errors and logs.
    pub name: String,
    pub tenant_id: String,
    pub graph_url: String,
    pub login_url: String,
    /// Tried in order until one gets a token.
    pub credentials: Vec<CredentialSpec>,
    /// User properties selected beside `USER_SELECT`.
    pub user_properties: Vec<String>,
    /// Group properties selected beside `GROUP_SELECT`.
    pub group_properties: Vec<String>,
    /// PEM CA files trusted for this tenant's Graph and login calls beside the system's store.
    pub ca_files: Vec<PathBuf>,
}

/// An app registration's credential before it is loaded.
#[derive(Debug, Clone)]
pub struct CredentialSpec {
    pub client_id: String,
    pub source: CredentialSource,
}

#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// A client secret, `None` when none could be read.
    Secret(Option<Secret>),
    /// A certificate and its private key, read (again) each time the credential is loaded so
    /// a renewed certificate is picked up.
    CertificateFiles { cert: PathBuf, key: PathBuf },
    /// Only one of the two certificate files is named.
    Incomplete,
}
