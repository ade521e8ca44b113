//! Parallel passes over rows.

use std::ops::Range;

use super::KMeansError;
use crate::pool;

/// Work per block, in rough floating-point operations: about a millisecond, so that
/// `should_stop` is polled often and threads share work evenly.
const BLOCK_WORK: usize = 1 << 21;
const MAX_BLOCK_ROWS: usize = 1 << 14;
/// Rows are reduced in at most this many slots, each with its own partial sums.
const MAX_SLOTS: usize = 32;
const MIN_SLOT_ROWS: usize = 1024;
/// Partial sums of all slots together stay under this many values (32 MiB).
const SLOT_MEMORY_FLOATS: usize = 1 << 22;
/// Below this much work a pass runs on the calling thread: starting threads costs more.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// A fixed cut of the rows into slots (the unit of reduction, so results do not depend
/// on threads) and blocks (the unit between cancellation checks).
pub(in crate::segment) struct Blocks {
    pub(in crate::segment) slots: Vec<Range<usize>>,
    block_rows: usize,
    total_work: usize,
}

impl Blocks {
    /// `row_work`: rough operations per row; `slot_floats`: size of a slot's partial sums.
    pub(in crate::segment) fn new(n_rows: usize, row_work: usize, slot_floats: usize) -> Blocks {
        let row_work = row_work.max(1);
        let block_rows = (BLOCK_WORK / row_work).clamp(1, MAX_BLOCK_ROWS);
        let n_slots = n_rows.div_ceil(MIN_SLOT_ROWS).min(SLOT_MEMORY_FLOATS / slot_floats.max(1)).clamp(1, MAX_SLOTS);
        let slot_rows = n_rows.div_ceil(n_slots).max(1);
        let slots = (0..n_slots).map(|s| (s * slot_rows).min(n_rows)..((s + 1) * slot_rows).min(n_rows)).collect();
        Blocks { slots, block_rows, total_work: n_rows.saturating_mul(row_work) }
    }

    /// Cuts a per-row array into the slots' parts.
    pub(in crate::segment) fn split_mut<'v, T>(&self, mut values: &'v mut [T]) -> Vec<&'v mut [T]> {
        let mut parts = Vec::with_capacity(self.slots.len());
        for range in &self.slots {
            let (part, rest) = values.split_at_mut(range.len().min(values.len()));
            parts.push(part);
            values = rest;
        }
        parts
    }
}

/// Runs `work(state of slot, rows)` over every block of every slot, on up to `threads`
/// threads of which the caller's is one (see `pool::run`): slots are the pool's tasks,
/// and `should_stop` is polled between blocks.
pub(in crate::segment) fn run_parallel<S: Send>(
    blocks: &Blocks,
    states: &mut [S],
    threads: usize,
    should_stop: &dyn Fn() -> bool,
    work: &(dyn Fn(&mut S, Range<usize>) + Sync),
) -> Result<(), KMeansError> {
    let threads = if blocks.total_work < PARALLEL_MIN_WORK { 1 } else { threads };
    let mut slots: Vec<(Range<usize>, &mut S)> = blocks.slots.iter().cloned().zip(states).collect();
    pool::run(&mut slots, threads, should_stop, &|(rows, state), checkpoint| {
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + blocks.block_rows).min(rows.end);
            work(state, start..end);
            start = end;
            if start < rows.end && checkpoint.stop() {
                return;
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_sane, blobs, never, options, FOUR_CORNERS};
    use super::super::{fit, KMeansAlgorithm, KMeansError, KMeansOptions};
    use std::cell::Cell;

    #[test]
    fn same_seed_same_fit_whatever_the_threads() {
        // Large enough for several slots and for the passes to use threads.
        let centres: Vec<f64> = (0..5 * 4).map(|i| (i * 7 % 11) as f64).collect();
        let (data, _) = blobs(&centres, 4, 3_300, 2.0, 11);
        let n = data.len() / 4;
        for algorithm in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::Hamerly] {
            let base = KMeansOptions { seed: 42, n_init: 2, algorithm, ..options(5) };
            let one = fit(&data, n, 4, &base, &never).unwrap();
            let again = fit(&data, n, 4, &base, &never).unwrap();
            let threaded = fit(&data, n, 4, &KMeansOptions { threads: 3, ..base.clone() }, &never).unwrap();
            assert_eq!(one, again);
            assert_eq!(one, threaded);
            assert_sane(&one, n);
        }
    }

    #[test]
    fn cancel_is_honoured_on_one_and_several_threads() {
        let (data, _) = blobs(&FOUR_CORNERS, 2, 20_000, 8.0, 9);
        let n = data.len() / 2;
        for threads in [1, 2] {
            let opts = KMeansOptions { threads, ..options(4) };
            let stop_now = || true;
            assert_eq!(fit(&data, n, 2, &opts, &stop_now), Err(KMeansError::Cancelled));
            // Cancel part-way, after some polls.
            let polls = Cell::new(0usize);
            let later = || {
                polls.set(polls.get() + 1);
                polls.get() > 40
            };
            assert_eq!(fit(&data, n, 2, &opts, &later), Err(KMeansError::Cancelled));
            assert_eq!(polls.get(), 41, "no poll after the one that cancelled");
        }
    }

    #[test]
    fn a_panicking_should_stop_unwinds_without_hanging() {
        let (data, _) = blobs(&FOUR_CORNERS, 2, 20_000, 8.0, 4);
        let polls = Cell::new(0usize);
        let raise = || {
            polls.set(polls.get() + 1);
            if polls.get() > 5 {
                panic!("query cancelled");
            }
            false
        };
        let opts = KMeansOptions { threads: 2, ..options(4) };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fit(&data, 80_000, 2, &opts, &raise)));
        assert!(outcome.is_err());
    }

    #[test]
    fn should_stop_is_polled_throughout_a_fit() {
        let (data, _) = blobs(&FOUR_CORNERS, 2, 10_000, 8.0, 2);
        let polls = Cell::new(0usize);
        let count = || {
            polls.set(polls.get() + 1);
            false
        };
        let fit = fit(&data, 40_000, 2, &KMeansOptions { n_init: 2, ..options(4) }, &count).unwrap();
        // At least one poll per pass: variance (2), k-means++ (2k − 1 per restart), iterations.
        assert!(polls.get() >= 2 + 2 * 7 + fit.n_iter, "{} polls", polls.get());
    }
}
