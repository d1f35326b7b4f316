//! `sync.max_deletions`: refuse a round that would remove too many served users.

use config::MaxDeletions;

/// `Some(limit)` when removing `removed` of `served` users exceeds `max`.
pub(crate) fn exceeded(max: MaxDeletions, served: usize, removed: usize) -> Option<u64> {
    let limit = max.limit(served);
    (removed as u64 > limit).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentages() {
        assert_eq!(exceeded(MaxDeletions::Percent(10.0), 45, 4), None);
        assert_eq!(exceeded(MaxDeletions::Percent(10.0), 45, 5), Some(4));
        assert_eq!(exceeded(MaxDeletions::Count(500), 10_000, 500), None);
        assert_eq!(exceeded(MaxDeletions::Count(0), 10, 1), Some(0));
        assert_eq!(exceeded(MaxDeletions::Percent(10.0), 0, 0), None);
    }
}
