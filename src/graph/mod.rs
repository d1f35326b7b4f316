//! Microsoft Graph client: tokens, paging, throttling, typed objects.

pub mod models;
