//! Patching: re-deriving only the entries the changed Graph objects can affect, as a patch on
//! the previous snapshot, so a round's local work grows with the changes and not with the
//! tenant. `build_tenant` stays the definition of the directory: a patch must produce exactly
//! the entries it would (`tests` compares the two over random change sequences), and
//! `derive_patch` declines — returning [`Derivation::Full`] with the reason — where following
//! one object's consequences would need the whole tenant:
//!
//! - the domains or the organization changed (every DN and the root depend on them);
//! - numbers come from a Graph attribute (`uid_number_attribute`/`gid_number_attribute`: values
//!   compete across objects), or users share a primary group;
//! - a changed group feeds a merged group (`groups.map`, `[[tenant.local_group]]`), or is
//!   nested while groups are merged;
//! - the previous round left objects unnumbered or reported notices;
//! - more than a quarter of the tenant's users changed (a full derivation is then cheaper).
//!
//! What is followed: users created, changed, renamed, disabled, deleted and restored (their
//! entries, private groups and every member list showing them); groups created, changed,
//! renamed and deleted; membership changes, nesting included (the entries above and below a
//! changed group); changes in `users.*_members_of` groups (the users whose standing changed
//! are judged again). `prepare` decides what a patch re-derives, `apply` derives it, reading
//! the directory through `view`.

mod apply;
mod prepare;
mod view;

#[cfg(test)]
mod tests;

use super::{BuildError, BuildReport, TenantInput};
use crate::entry::Entry;
use crate::ids::Allocations;
use crate::snapshot::Snapshot;
use model::Mirror;
use model::mirror::MemberIndex;
use prepare::Scope;
use std::collections::BTreeSet;

/// What the previous round left: the snapshot being served, the mirror it was derived from,
/// that derivation's report and the membership index of that mirror.
pub struct Prior<'a> {
    pub snapshot: &'a Snapshot,
    pub mirror: &'a Mirror,
    pub report: &'a BuildReport,
    pub members: &'a MemberIndex,
}

/// Entries to add or replace and normalised DNs to remove, plus the tenant's new report.
#[derive(Debug, Default)]
pub struct Patch {
    pub upserts: Vec<Entry>,
    pub removals: Vec<Box<str>>,
    pub report: BuildReport,
    /// Graph groups whose membership the round changed (for `MemberIndex::update`).
    pub groups_changed: Vec<String>,
}

/// What `derive_patch` answers.
#[derive(Debug)]
pub enum Derivation {
    Patch(Patch),
    /// Derive everything instead, for this reason.
    Full(String),
}

/// Derive the patch turning the tenant's entries in `prior.snapshot` into what `build_tenant`
/// would derive from `input.mirror`, given that only the objects in `touched` (users and
/// groups whose Graph content or membership changed) differ from `prior.mirror`. `alloc` is
/// extended as `build_tenant` would extend it; it is untouched when the answer is `Full`.
pub fn derive_patch(
    input: &TenantInput<'_>,
    prior: &Prior<'_>,
    touched: &BTreeSet<String>,
    alloc: &mut Allocations,
) -> Result<Derivation, BuildError> {
    let scope = match Scope::prepare(input, prior, touched)? {
        Ok(scope) => scope,
        Err(reason) => return Ok(Derivation::Full(reason)),
    };
    Ok(Derivation::Patch(scope.apply(alloc)))
}
