//! The state every route shares: the tenant behind a lock, issued tokens, the skiptoken key, the
//! options and the emulator's own base URL.
//!
//! The tenant sits behind an async `RwLock` so later control-endpoint mutations (and delta change
//! logs keyed by `TenantState::seq`) can write while readers page through it.

use tokio::sync::RwLock;

use super::EmulatorOptions;
use super::skiptoken::SkipTokenCodec;
use super::tenant::TenantState;
use super::token::TokenStore;

pub(crate) struct Shared {
    pub tenant: RwLock<TenantState>,
    pub tokens: TokenStore,
    pub skiptokens: SkipTokenCodec,
    pub opts: EmulatorOptions,
    /// `http://127.0.0.1:PORT`: the Graph root, the login authority and the host of nextLinks.
    pub base_url: String,
}

impl Shared {
    pub fn new(tenant: TenantState, opts: EmulatorOptions, base_url: String) -> Shared {
        Shared {
            tenant: RwLock::new(tenant),
            tokens: TokenStore::default(),
            skiptokens: SkipTokenCodec::new(),
            opts,
            base_url,
        }
    }
}
