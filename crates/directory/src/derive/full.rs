//! `build_tenant`, the definition of a tenant's directory, as a sequence of phases that each
//! settle what the next one reads: the served users with their names and numbers (`users`),
//! the directory groups with theirs and the primary group (`groups`), the memberships among
//! them (`members`), and last the entries (`entries`). The order is part of the result: names
//! and numbers go to whoever asks first, users before groups.

use super::members::Members;
use super::{BuildError, BuildReport, TenantBuild, TenantInput, base_dn, entries, groups, users};
use crate::dn;
use crate::entry::TenantInfo;
use crate::ids::Allocations;
use crate::policy::{self, Outcome};
use model::time::generalized_time;

/// What every phase reads: the input, the tenant's DNs and the policy outcome.
pub(super) struct Context<'a> {
    pub input: &'a TenantInput<'a>,
    pub base: String,
    pub base_ndn: String,
    pub people: String,
    pub groups_dn: String,
    pub services_dn: String,
    pub outcome: Outcome,
    /// `input.now` as GeneralizedTime, for the entries that have no time of their own.
    pub now: String,
}

impl<'a> Context<'a> {
    fn new(input: &'a TenantInput<'a>) -> Result<Self, BuildError> {
        let cfg = input.cfg;
        let base = base_dn(cfg, input.mirror)?;
        let base_ndn = dn::normalize(&base).map_err(|e| BuildError::BadBaseDn {
            tenant: cfg.name.clone(),
            base_dn: base.clone(),
            message: e.to_string(),
        })?;
        Ok(Context {
            input,
            people: format!("ou=people,{base}"),
            groups_dn: format!("ou=groups,{base}"),
            services_dn: format!("ou=services,{base}"),
            outcome: policy::apply_at(input.mirror, cfg, input.now),
            now: generalized_time(input.now),
            base,
            base_ndn,
        })
    }
}

pub fn build_tenant(
    input: &TenantInput<'_>,
    alloc: &mut Allocations,
) -> Result<TenantBuild, BuildError> {
    let cx = Context::new(input)?;
    let mut report = BuildReport::default();
    let users = users::derive(&cx, alloc, &mut report);
    let groups = groups::derive(&cx, &users, alloc, &mut report);
    let members = Members::derive(&cx, &users, &groups);
    let entries = entries::emit(&cx, &users, &groups, &members);
    Ok(TenantBuild {
        info: TenantInfo {
            name: input.cfg.name.clone(),
            base_dn: cx.base,
            base_ndn: cx.base_ndn,
        },
        entries,
        report,
    })
}
