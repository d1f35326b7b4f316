//! The tenant mirror: Microsoft Graph's users, groups, direct memberships and domains as Graph
//! returned them. The directory is derived from it (policy is a pure function), so a config
//! change is re-applied without refetching and `explain` can reason over the raw facts.

use crate::graph::models::{Domain, Group, MemberRef, Organization, User};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The mirror's maps are persistent (structure-sharing) B-trees: a delta round works on a copy
/// of the committed mirror, and copying or comparing a 100k-user tenant must cost what the
/// round changed, not the tenant.
pub type Map<K, V> = imbl::OrdMap<K, V>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mirror {
    pub users: Map<String, User>,
    pub groups: Map<String, Group>,
    /// Direct members per group id (users, groups and other directory objects).
    pub members: Map<String, BTreeSet<MemberRef>>,
    pub domains: Vec<Domain>,
    pub organization: Option<Organization>,
    /// When each object (user or group id) last changed in the mirror, as GeneralizedTime;
    /// served as `modifyTimestamp`.
    pub changed: Map<String, String>,
    /// Users Graph no longer lists (soft- or hard-deleted), kept while `users.keep_deleted_for`
    /// says so; policy serves them locked and never lets them bind.
    #[serde(default)]
    pub deleted_users: Map<String, DeletedUser>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedUser {
    pub user: User,
    /// Unix time the sync first saw the user gone.
    pub deleted_at: i64,
}

impl Mirror {
    /// The tenant's default verified domain (`isDefault`), else its initial domain.
    pub fn default_domain(&self) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.is_default == Some(true) && d.verified())
            .or_else(|| self.domains.iter().find(|d| d.is_initial == Some(true)))
    }

    /// Stamp objects whose content differs from `previous` (or is new) with `now`, and carry
    /// the stamps of unchanged objects over, so `modifyTimestamp` moves only on real change.
    pub fn stamp_changes(&mut self, previous: &Mirror, now: &str) {
        let mut changed = Map::new();
        for (id, u) in &self.users {
            let same = previous.users.get(id) == Some(u);
            changed.insert(id.clone(), stamp(previous, id, same, now));
        }
        for (id, g) in &self.groups {
            let same = previous.groups.get(id) == Some(g)
                && previous.members.get(id) == self.members.get(id);
            changed.insert(id.clone(), stamp(previous, id, same, now));
        }
        self.changed = changed;
    }
}

fn stamp(previous: &Mirror, id: &str, same: bool, now: &str) -> String {
    match previous.changed.get(id) {
        Some(t) if same => t.clone(),
        _ => now.to_string(),
    }
}

/// GeneralizedTime (`YYYYMMDDHHMMSSZ`) for a Unix time in seconds.
pub fn generalized_time(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// GeneralizedTime from Graph's ISO 8601 timestamps (`2021-03-04T10:11:12Z`, optionally with
/// fractional seconds). Anything unparseable yields `None`.
pub fn generalized_from_iso(iso: &str) -> Option<String> {
    let b = iso.as_bytes();
    if b.len() < 19 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<&str> {
        let s = iso.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then_some(s)
    };
    Some(format!(
        "{}{}{}{}{}{}Z",
        digits(0..4)?,
        digits(5..7)?,
        digits(8..10)?,
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?
    ))
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// Howard Hinnant's days-to-civil algorithm; avoids a date crate for one conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_formats() {
        assert_eq!(generalized_time(0), "19700101000000Z");
        assert_eq!(generalized_time(1_700_000_000), "20231114221320Z");
        assert_eq!(
            generalized_from_iso("2021-03-04T10:11:12Z").as_deref(),
            Some("20210304101112Z")
        );
        assert_eq!(
            generalized_from_iso("2021-03-04T10:11:12.123Z").as_deref(),
            Some("20210304101112Z")
        );
        assert_eq!(generalized_from_iso("yesterday"), None);
    }

    #[test]
    fn stamps_move_only_on_change() {
        let mut old = Mirror::default();
        old.users.insert(
            "1".into(),
            User {
                id: "1".into(),
                ..Default::default()
            },
        );
        old.changed.insert("1".into(), "20200101000000Z".into());
        let mut new = old.clone();
        new.users.insert(
            "2".into(),
            User {
                id: "2".into(),
                ..Default::default()
            },
        );
        new.stamp_changes(&old, "20250101000000Z");
        assert_eq!(new.changed["1"], "20200101000000Z");
        assert_eq!(new.changed["2"], "20250101000000Z");
        let mut changed = new.clone();
        if let Some(u) = changed.users.get_mut("1") {
            u.display_name = Some("X".into());
        }
        changed.stamp_changes(&new, "20260101000000Z");
        assert_eq!(changed.changed["1"], "20260101000000Z");
    }
}
