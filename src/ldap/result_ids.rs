//! The entry ids of one search result, in order, kept as compactly as their shape allows.
//!
//! A paged search keeps its result between pages. Results are in DIT order, and a listing of
//! users or groups is a run of consecutive ids (each container's children are contiguous), so
//! most results collapse to a handful of `(first, count)` runs: a paged enumeration of 100,000
//! users holds 12 bytes, not 400 KB. Scattered results keep the plain list when that is
//! smaller; either way the size is what `bytes` reports.

use directory::snapshot::EntryId;
use std::ops::Range;

/// The runs of a `ResultIds::Runs` and where each starts.
type RunsView<'a> = (&'a [(EntryId, u32)], &'a [u32]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResultIds {
    Plain(Box<[EntryId]>),
    Runs {
        /// `(first id, ids in the run)`.
        runs: Box<[(EntryId, u32)]>,
        /// Where each run starts in the result: `starts[i]` = sum of the earlier runs' counts.
        starts: Box<[u32]>,
        len: usize,
    },
}

impl ResultIds {
    pub(crate) fn new(ids: Vec<EntryId>) -> ResultIds {
        let mut runs: Vec<(EntryId, u32)> = Vec::new();
        for id in &ids {
            match runs.last_mut() {
                Some((first, n)) if first.checked_add(*n) == Some(*id) => *n += 1,
                _ => runs.push((*id, 1)),
            }
        }
        // A run costs three u32s (with its start), a plain id one.
        if runs.len() * 3 >= ids.len() {
            return ResultIds::Plain(ids.into_boxed_slice());
        }
        let mut starts = Vec::with_capacity(runs.len());
        let mut at = 0u32;
        for (_, n) in &runs {
            starts.push(at);
            at = at.saturating_add(*n);
        }
        ResultIds::Runs {
            runs: runs.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
            len: ids.len(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ResultIds::Plain(ids) => ids.len(),
            ResultIds::Runs { len, .. } => *len,
        }
    }

    /// Heap bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        match self {
            ResultIds::Plain(ids) => std::mem::size_of_val(&**ids),
            ResultIds::Runs { runs, starts, .. } => {
                std::mem::size_of_val(&**runs) + std::mem::size_of_val(&**starts)
            }
        }
    }

    /// The ids at positions `range` (clipped to the result), in order.
    pub(crate) fn range(&self, range: Range<usize>) -> impl Iterator<Item = EntryId> + '_ {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let (plain, runs): (&[EntryId], Option<RunsView<'_>>) = match self {
            ResultIds::Plain(ids) => (ids.get(start..end).unwrap_or(&[]), None),
            ResultIds::Runs { runs, starts, .. } => (&[], Some((runs, starts))),
        };
        let mut run = runs.map_or(0, |(_, starts)| {
            starts
                .partition_point(|s| (*s as usize) <= start)
                .saturating_sub(1)
        });
        let mut pos = start;
        let from_runs = std::iter::from_fn(move || {
            let (runs, starts) = runs?;
            if pos >= end {
                return None;
            }
            loop {
                let (first, n) = *runs.get(run)?;
                let offset = pos - *starts.get(run)? as usize;
                if offset < n as usize {
                    pos += 1;
                    return Some(first + offset as EntryId);
                }
                run += 1;
            }
        });
        plain.iter().copied().chain(from_runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_back_what_went_in_whatever_the_shape() {
        let shapes: Vec<Vec<EntryId>> = vec![
            vec![],
            (10..100_010).collect(),
            (0..50).map(|i| i * 3).collect(),
            [
                (5..900).collect::<Vec<_>>(),
                (2000..2003).collect(),
                vec![4000],
                (5000..9000).collect(),
            ]
            .concat(),
        ];
        for ids in shapes {
            let r = ResultIds::new(ids.clone());
            assert_eq!(r.len(), ids.len());
            for (a, b) in [
                (0, ids.len()),
                (0, 1),
                (7, 13),
                (890, 900),
                (893, 4000),
                (3, 3),
            ] {
                let want: Vec<EntryId> = ids
                    .iter()
                    .copied()
                    .skip(a)
                    .take(b.saturating_sub(a))
                    .collect();
                assert_eq!(r.range(a..b).collect::<Vec<_>>(), want, "{a}..{b}");
            }
            assert_eq!(r.range(0..usize::MAX).count(), ids.len());
        }
    }

    #[test]
    fn a_contiguous_listing_costs_a_few_bytes() {
        let r = ResultIds::new((10..100_010).collect());
        assert!(matches!(r, ResultIds::Runs { .. }));
        assert!(r.bytes() <= 16, "{}", r.bytes());
        let scattered = ResultIds::new((0..1000).map(|i| i * 2).collect());
        assert_eq!(scattered.bytes(), 4000);
    }
}
