//! Recommendation algorithms for implicit feedback (purchases, views, ratings taken as
//! "the customer interacted with the item").
//!
//! Pure Rust, no database types: the extension feeds rows into an [`InteractionsBuilder`],
//! trains a [`Model`] (popular items, item–item nearest neighbours, or implicit ALS), stores
//! it with serde, and asks it for recommendations. [`auto`] picks the algorithm on a
//! holdout split and refits the winner on all data.
//!
//! Indices: customers and items are numbered 0.. in the order they were first pushed;
//! `Model::customer_index` / `Model::item_index` map external ids to them.

pub mod als;
pub mod evaluate;
pub mod interactions;
pub mod item_knn;
pub mod model;
pub mod options;
pub mod popular;
pub mod sql;

pub use als::{Als, AlsOptions};
pub use evaluate::{evaluate, ranking_metrics, Metrics};
pub use interactions::{Interactions, InteractionsBuilder, SparseRows, Split, SplitOptions, TestCustomer};
pub use item_knn::{ItemKnn, ItemKnnOptions, Similarity};
pub use model::{auto, default_candidates, Algorithm, AutoOptions, AutoReport, Candidate, CandidateReport, Model, Recommender};
pub use popular::Popular;

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Everything that can go wrong: bad input rows, bad options, or too little data.
#[derive(Clone, Debug, PartialEq)]
pub enum RecommendError {
    /// A pushed row was rejected; `row` is its 0-based position among pushed rows.
    InvalidInteraction { row: usize, message: String },
    /// An option is out of range; the message says what is accepted.
    InvalidOption { option: &'static str, message: String },
    /// Training needs at least one interaction.
    NoInteractions,
}

impl fmt::Display for RecommendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecommendError::InvalidInteraction { row, message } => {
                write!(f, "interaction row {row}: {message}")
            }
            RecommendError::InvalidOption { option, message } => {
                write!(f, "option {option}: {message}")
            }
            RecommendError::NoInteractions => write!(f, "no interactions to train on"),
        }
    }
}

impl std::error::Error for RecommendError {}

pub(crate) fn invalid_option(option: &'static str, message: impl Into<String>) -> RecommendError {
    RecommendError::InvalidOption { option, message: message.into() }
}

/// Number of worker threads to use: `requested`, or every core when it is 0.
pub(crate) fn thread_count(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

/// Runs `work` over `0..n` cut into ranges of `chunk` (dynamic scheduling: a thread takes the
/// next range when done, so uneven rows balance out) and returns the results in range order.
/// The closure is pure computation; with one thread or one chunk it runs inline.
pub(crate) fn parallel_ranges<R, F>(n: usize, chunk: usize, threads: usize, work: F) -> Vec<R>
where
    R: Send,
    F: Fn(Range<usize>) -> R + Sync,
{
    let chunk = chunk.max(1);
    let n_chunks = n.div_ceil(chunk);
    let range_of = |c: usize| c * chunk..((c + 1) * chunk).min(n);
    let threads = thread_count(threads).min(n_chunks);
    if threads <= 1 {
        return (0..n_chunks).map(|c| work(range_of(c))).collect();
    }
    let next_chunk = AtomicUsize::new(0);
    let mut pieces: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let c = next_chunk.fetch_add(1, Ordering::Relaxed);
                        if c >= n_chunks {
                            break done;
                        }
                        done.push((c, work(range_of(c))));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            // A worker only panics if `work` itself panicked: re-raise it on this thread.
            .flat_map(|h| h.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload)))
            .collect()
    });
    pieces.sort_unstable_by_key(|(c, _)| *c);
    pieces.into_iter().map(|(_, r)| r).collect()
}

/// Small deterministic generator (SplitMix64, Steele et al. 2014): seeds the holdout split
/// and ALS initialisation so that a seed gives the same model on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits (all an f32 mantissa holds).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform integer in [0, n) (multiply-shift; bias below 2^-32 for any realistic n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Keeps the best `k` (item, score) pairs seen so far: higher score first, ties broken by
/// the lower item index so that results are deterministic. Non-finite scores are ignored.
pub(crate) struct TopK {
    k: usize,
    heap: std::collections::BinaryHeap<Ranked>,
}

/// Ordered so that the *worst* entry is the heap maximum (cheap to evict).
#[derive(Clone, Copy, Debug)]
struct Ranked {
    item: u32,
    score: f32,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.score.total_cmp(&self.score).then(self.item.cmp(&other.item))
    }
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK { k, heap: std::collections::BinaryHeap::with_capacity(k.min(1 << 16) + 1) }
    }

    /// Score a newcomer must beat to enter (None while not full).
    #[inline]
    pub(crate) fn threshold(&self) -> Option<f32> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|r| r.score)
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, item: u32, score: f32) {
        if self.k == 0 || !score.is_finite() {
            return;
        }
        let entry = Ranked { item, score };
        if self.heap.len() < self.k {
            self.heap.push(entry);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if entry < *worst {
                *worst = entry;
            }
        }
    }

    /// Best first.
    pub(crate) fn into_sorted(self) -> Vec<(u32, f32)> {
        self.heap.into_sorted_vec().into_iter().map(|r| (r.item, r.score)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_score_then_index_and_ignores_nan() {
        let mut top = TopK::new(3);
        for (item, score) in [(5, 1.0), (2, 3.0), (9, 3.0), (1, f32::NAN), (4, 2.0), (0, 1.0)] {
            top.push(item, score);
        }
        assert_eq!(top.into_sorted(), vec![(2, 3.0), (9, 3.0), (4, 2.0)]);
        let mut ties = TopK::new(2);
        for item in [7, 3, 5, 1] {
            ties.push(item, 0.5);
        }
        assert_eq!(ties.into_sorted(), vec![(1, 0.5), (3, 0.5)]);
        let mut empty = TopK::new(0);
        empty.push(1, 1.0);
        assert!(empty.into_sorted().is_empty());
    }

    #[test]
    fn parallel_ranges_keeps_order() {
        let sums = parallel_ranges(1000, 7, 4, |r| r.sum::<usize>());
        assert_eq!(sums.iter().sum::<usize>(), (0..1000).sum::<usize>());
        assert_eq!(sums[0], (0..7).sum::<usize>());
        assert!(parallel_ranges(0, 7, 4, |r| r.len()).is_empty());
    }

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.next_f32();
            assert!((0.0..1.0).contains(&x));
            assert!(a.below(10) < 10);
            b.next_f32();
            b.below(10);
        }
    }
}
