//! Top-k ranking metrics on a holdout.
//!
//! Evaluation knows recommenders only through [`Recommends`], which `Model` implements
//! (in `model.rs`), so this module does not depend on the model.

use serde::{Deserialize, Serialize};

use super::interactions::Split;
use crate::pool::Cancelled;

/// What evaluation needs of a recommender trained on a holdout's train part.
pub trait Recommends {
    /// Top `k` item indices for each of `customers` (in that order), best first, never an
    /// item the customer has in train; spread over `threads` (0 = as many as
    /// `pool::max_threads` allows). `should_stop` is polled on this thread.
    fn recommend_top_k(&self, customers: &[u32], k: usize, threads: usize, should_stop: &dyn Fn() -> bool) -> Result<Vec<Vec<u32>>, Cancelled>;

    /// The number of items that could be recommended (for coverage).
    fn catalogue_size(&self) -> usize;
}

/// Averages over the evaluated customers (binary relevance).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// hits in the top k / k (k even when fewer items were recommended).
    pub precision: f64,
    /// hits in the top k / relevant items.
    pub recall: f64,
    /// DCG / ideal DCG, gains 1/log2(rank + 1); the ideal puts min(k, relevant) hits first.
    pub ndcg: f64,
    /// Share of customers with at least one hit.
    pub hit_rate: f64,
    /// Distinct items recommended to anyone / catalogue size.
    pub coverage: f64,
    /// Customers evaluated.
    pub customers: usize,
}

/// Metrics of `recommended[n]` (best first; only the first k count) against `relevant[n]`
/// for each customer n. Customers with no relevant item are skipped (they have no defined
/// recall or NDCG). `catalogue_size` is the number of items that could be recommended.
pub fn ranking_metrics(recommended: &[Vec<u32>], relevant: &[Vec<u32>], k: usize, catalogue_size: usize) -> Metrics {
    let mut m = Metrics::default();
    if k == 0 {
        return m;
    }
    let mut distinct: Vec<u32> = Vec::new();
    for (recs, rel) in recommended.iter().zip(relevant) {
        if rel.is_empty() {
            continue;
        }
        let mut rel = rel.clone();
        rel.sort_unstable();
        rel.dedup();
        let recs = &recs[..recs.len().min(k)];
        distinct.extend_from_slice(recs);
        let mut hits = 0usize;
        let mut dcg = 0f64;
        for (rank, item) in recs.iter().enumerate() {
            if rel.binary_search(item).is_ok() {
                hits += 1;
                dcg += 1.0 / (rank as f64 + 2.0).log2();
            }
        }
        let ideal: f64 = (0..k.min(rel.len())).map(|rank| 1.0 / (rank as f64 + 2.0).log2()).sum();
        m.precision += hits as f64 / k as f64;
        m.recall += hits as f64 / rel.len() as f64;
        m.ndcg += dcg / ideal;
        m.hit_rate += if hits > 0 { 1.0 } else { 0.0 };
        m.customers += 1;
    }
    if m.customers > 0 {
        let n = m.customers as f64;
        m.precision /= n;
        m.recall /= n;
        m.ndcg /= n;
        m.hit_rate /= n;
    }
    distinct.sort_unstable();
    distinct.dedup();
    m.coverage = if catalogue_size > 0 { distinct.len() as f64 / catalogue_size as f64 } else { 0.0 };
    m
}

/// Evaluates a model trained on `split.train`: top `k` items (never one the customer has in
/// train) for every test customer. Catalogue = [`Recommends::catalogue_size`] (for
/// `Model`, items with at least one train row). `should_stop` as for
/// [`Recommends::recommend_top_k`].
pub fn evaluate<R: Recommends + ?Sized>(model: &R, split: &Split, k: usize, threads: usize, should_stop: &dyn Fn() -> bool) -> Result<Metrics, Cancelled> {
    let customers: Vec<u32> = split.test.iter().map(|t| t.customer).collect();
    let recommended = model.recommend_top_k(&customers, k, threads, should_stop)?;
    let relevant: Vec<Vec<u32>> = split.test.iter().map(|t| t.items.clone()).collect();
    Ok(ranking_metrics(&recommended, &relevant, k, model.catalogue_size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_example() {
        // Customer A: relevant {1, 2, 3}, recommended [1, 9, 3, 8] → hits at ranks 1 and 3.
        // Customer B: relevant {5}, recommended [6, 7] → no hit.
        let recommended = vec![vec![1, 9, 3, 8], vec![6, 7]];
        let relevant = vec![vec![3, 2, 1], vec![5]];
        let m = ranking_metrics(&recommended, &relevant, 4, 10);
        assert!(close(m.precision, (2.0 / 4.0 + 0.0) / 2.0));
        assert!(close(m.recall, (2.0 / 3.0 + 0.0) / 2.0));
        let dcg_a = 1.0 + 1.0 / 4f64.log2();
        let idcg_a = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!(close(m.ndcg, (dcg_a / idcg_a) / 2.0));
        assert!(close(m.hit_rate, 0.5));
        assert!(close(m.coverage, 6.0 / 10.0));
        assert_eq!(m.customers, 2);
    }

    #[test]
    fn ideal_dcg_is_capped_at_k_and_only_top_k_counts() {
        // 5 relevant items, k = 2, both top-2 hits: NDCG 1, recall 2/5. The third
        // recommendation is beyond k and ignored (also for coverage).
        let m = ranking_metrics(&[vec![1, 2, 3]], &[vec![1, 2, 3, 4, 5]], 2, 4);
        assert!(close(m.ndcg, 1.0));
        assert!(close(m.recall, 0.4));
        assert!(close(m.precision, 1.0));
        assert!(close(m.coverage, 0.5));
    }

    /// Recommends fixed lists, whatever `k`, and records what it was asked.
    struct Fixed {
        lists: Vec<Vec<u32>>,
        asked: std::cell::RefCell<Vec<(Vec<u32>, usize)>>,
    }

    impl Recommends for Fixed {
        fn recommend_top_k(&self, customers: &[u32], k: usize, _threads: usize, should_stop: &dyn Fn() -> bool) -> Result<Vec<Vec<u32>>, Cancelled> {
            if should_stop() {
                return Err(Cancelled);
            }
            self.asked.borrow_mut().push((customers.to_vec(), k));
            Ok(customers.iter().map(|&c| self.lists[c as usize].clone()).collect())
        }

        fn catalogue_size(&self) -> usize {
            10
        }
    }

    #[test]
    fn evaluate_scores_the_recommender_on_the_test_customers() {
        use super::super::interactions::{InteractionsBuilder, TestCustomer};
        let split = Split {
            train: InteractionsBuilder::new().finish(),
            test: vec![TestCustomer { customer: 2, items: vec![3, 2, 1] }, TestCustomer { customer: 0, items: vec![5] }],
            test_rows: 4,
        };
        let fixed = Fixed { lists: vec![vec![6, 7], vec![], vec![1, 9, 3, 8]], asked: Default::default() };
        let m = evaluate(&fixed, &split, 4, 1, &|| false).unwrap();
        assert_eq!(m, ranking_metrics(&[vec![1, 9, 3, 8], vec![6, 7]], &[vec![3, 2, 1], vec![5]], 4, 10));
        assert_eq!(*fixed.asked.borrow(), vec![(vec![2, 0], 4)]);
        assert_eq!(evaluate(&fixed, &split, 4, 1, &|| true), Err(Cancelled));
    }

    #[test]
    fn empty_inputs_give_zeros() {
        let m = ranking_metrics(&[vec![1]], &[vec![]], 10, 0);
        assert_eq!(m, Metrics::default());
        assert_eq!(ranking_metrics(&[], &[], 0, 5), Metrics::default());
    }
}
