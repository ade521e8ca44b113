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
pub use evaluate::{evaluate, ranking_metrics, Metrics, Recommends};
pub use interactions::{Interactions, InteractionsBuilder, SparseRows, Split, SplitOptions, TestCustomer};
pub use item_knn::{ItemKnn, ItemKnnOptions, Similarity};
pub use model::{auto, default_candidates, Algorithm, AutoOptions, AutoReport, Candidate, CandidateReport, Model, Recommender};
pub use popular::Popular;

use std::fmt;

/// Everything that can go wrong: bad input rows, bad options, too little data, or a cancel.
#[derive(Clone, Debug, PartialEq)]
pub enum RecommendError {
    /// A pushed row was rejected; `row` is its 0-based position among pushed rows.
    InvalidInteraction { row: usize, message: String },
    /// An option is out of range; the message says what is accepted.
    InvalidOption { option: &'static str, message: String },
    /// Training needs at least one interaction.
    NoInteractions,
    /// The caller's `should_stop` answered true; nothing was trained.
    Cancelled,
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
            RecommendError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for RecommendError {}

impl From<crate::pool::Cancelled> for RecommendError {
    fn from(_: crate::pool::Cancelled) -> Self {
        RecommendError::Cancelled
    }
}

pub(crate) fn invalid_option(option: &'static str, message: impl Into<String>) -> RecommendError {
    RecommendError::InvalidOption { option, message: message.into() }
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

/// `n` customers with 30 random items each (weight 1) out of `n / 10`: enough rows for
/// fits that take a while.
#[cfg(test)]
pub(crate) fn random_rows(n: usize, seed: u64) -> SparseRows {
    let mut rng = crate::rng::SplitMix64::new(seed);
    let items = n / 10;
    let mut triples = Vec::with_capacity(n * 30);
    for customer in 0..n as u32 {
        for _ in 0..30 {
            triples.push((customer, rng.below(items) as u32, 1.0));
        }
    }
    SparseRows::from_triples(n, items, &triples)
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
}
