//! Most popular items: the baseline, and the fallback for customers the model has not seen.

use serde::{Deserialize, Serialize};

use super::interactions::SparseRows;

/// Item popularity = number of distinct customers who interacted with the item. Distinct
/// customers rather than summed weights, so that one customer buying an item a hundred times
/// does not make it popular for everybody.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Popular {
    /// Per item: distinct customers (0 for items without training rows).
    item_scores: Vec<f32>,
    /// Items with a score > 0, most popular first (ties: lower index first).
    ranking: Vec<u32>,
}

impl Popular {
    /// Whether the stored scores and ranking cover `n_items` items.
    pub fn validate(&self, n_items: usize) -> std::result::Result<(), String> {
        let ok = self.item_scores.len() == n_items && self.ranking.iter().all(|&i| (i as usize) < n_items);
        ok.then_some(()).ok_or_else(|| format!("popularity inconsistent with {n_items} items"))
    }

    pub fn fit(user_items: &SparseRows) -> Popular {
        let item_scores: Vec<f32> = user_items.column_counts().into_iter().map(|c| c as f32).collect();
        let mut ranking: Vec<u32> = (0..item_scores.len() as u32).filter(|&i| item_scores[i as usize] > 0.0).collect();
        ranking.sort_by(|&a, &b| item_scores[b as usize].total_cmp(&item_scores[a as usize]).then(a.cmp(&b)));
        Popular { item_scores, ranking }
    }

    pub fn n_items(&self) -> usize {
        self.item_scores.len()
    }

    /// Popularity of `item` (0 when unknown or out of range).
    pub fn score(&self, item: u32) -> f32 {
        self.item_scores.get(item as usize).copied().unwrap_or(0.0)
    }

    /// True when the item had training rows; items without are never recommended.
    pub fn is_known(&self, item: u32) -> bool {
        self.score(item) > 0.0
    }

    /// Number of items with training rows.
    pub fn n_known(&self) -> usize {
        self.ranking.len()
    }

    /// Items by decreasing popularity.
    pub fn ranking(&self) -> &[u32] {
        &self.ranking
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_customers_not_weights() {
        // item 0: one customer with weight 10; item 1: two customers; item 2: nobody.
        let m = SparseRows::from_triples(2, 3, &[(0, 0, 10.0), (0, 1, 1.0), (1, 1, 1.0)]);
        let p = Popular::fit(&m);
        assert_eq!(p.ranking(), [1, 0]);
        assert_eq!(p.score(1), 2.0);
        assert!(!p.is_known(2));
        assert!(!p.is_known(99));
        assert_eq!(p.n_known(), 2);
    }
}
